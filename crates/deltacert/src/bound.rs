//! The main job: a certified upper bound, a lower bound with its witness, and
//! the evidence, for `f` versus `g` over an input set.

use crate::error::{shape, Result};
use crate::input_set::InputSet;
use crate::network::Network;
use crate::sdp::lift::InputCoupling;
use crate::sdp::{self, Norm, SdpSettings};
use crate::search::{attack, AttackSettings, Witness};
use serde::Serialize;
use std::time::Instant;

/// Whether a number was certified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The bound passed the certificate check.
    Certified,
    /// No bound could be certified (solver failure, refused check, timeout).
    NoCertificate,
}

/// The bounding method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The S-procedure SDP of the seed paper.
    Sdp,
    /// The exact worst case of ReLU networks by mixed-integer programming.
    Milp,
}

/// Everything needed to bound one pair.
#[derive(Debug, Clone)]
pub struct BoundRequest {
    /// Input set in raw units.
    pub set: InputSet,
    /// How the networks see the input (steps in raw units).
    pub coupling: InputCoupling,
    /// Output norm.
    pub norm: Norm,
    /// Method.
    pub method: Method,
    /// SDP settings.
    pub sdp: SdpSettings,
    /// Lower-bound search settings.
    pub attack: AttackSettings,
}

/// The result, shaped like the `--json` output of `deltacert bound`.
#[derive(Debug, Clone, Serialize)]
pub struct BoundReport {
    /// `certified` or `no_certificate`.
    pub status: Status,
    /// Norm of the output difference.
    pub norm: Norm,
    /// The certified bound (None without certificate).
    pub certified_bound: Option<f64>,
    /// `linf`: the certified bound of each output.
    pub per_output_bound: Vec<Option<f64>>,
    /// The largest error actually observed.
    pub lower_bound: f64,
    /// The input where it was observed.
    pub witness: Vec<f64>,
    /// The compressed network's input at the witness (quantised/independent inputs).
    pub witness_compressed: Option<Vec<f64>>,
    /// `linf`: the largest observed `|f_j - g_j|` per output.
    pub per_output_lower: Vec<f64>,
    /// `certified_bound / lower_bound`.
    pub ratio: Option<f64>,
    /// Method used.
    pub method: Method,
    /// Wall time.
    pub seconds: f64,
    /// Solver status, sizes, checks.
    pub details: serde_json::Value,
}

/// Checks the pair, the set and the coupling fit together (bad input: `Err`).
pub fn check_shapes(f: &Network, g: &Network, request: &BoundRequest) -> Result<()> {
    if f.input_dim != g.input_dim || f.output_dim() != g.output_dim() {
        return Err(shape(format!(
            "the networks do not fit together: {} -> {} versus {} -> {}",
            f.input_dim,
            f.output_dim(),
            g.input_dim,
            g.output_dim()
        )));
    }
    if request.set.dim() != f.input_dim {
        return Err(shape(format!("the input set has {} coordinates but the networks take {}", request.set.dim(), f.input_dim)));
    }
    if request.method == Method::Milp {
        if request.norm != Norm::Linf {
            return Err(crate::error::invalid_option("--method milp bounds the linf norm (per output, both signs); use --norm linf"));
        }
        crate::milp::check_relu(f, "the reference network")?;
        crate::milp::check_relu(g, "the compressed network")?;
    }
    if let InputCoupling::Quantised(steps) = &request.coupling {
        if steps.len() != f.input_dim || steps.iter().any(|s| !(*s >= 0.0) || !s.is_finite()) {
            return Err(crate::error::invalid_option("--input-quant needs a finite step >= 0"));
        }
    }
    Ok(())
}

/// Certifies `||f - g||` over the request's set and searches for a witness.
pub fn bound(reference: &Network, compressed: &Network, request: &BoundRequest) -> Result<BoundReport> {
    let start = Instant::now();
    check_shapes(reference, compressed, request)?;
    let prepared = sdp::prepare(reference, compressed, &request.set, &request.coupling)?;
    if request.method == Method::Milp {
        return bound_milp(reference, &prepared, request, start);
    }
    let (sdp_result, witness): (sdp::SdpResult, Witness) = rayon::join(
        || sdp::certify(&prepared, request.norm, &request.sdp),
        || attack(reference, compressed, &request.set, &request.coupling, request.norm, &request.attack),
    );
    let status = if sdp_result.bound.is_some() { Status::Certified } else { Status::NoCertificate };
    let ratio = sdp_result.bound.filter(|_| witness.error > 0.0).map(|b| b / witness.error);
    let details = serde_json::json!({
        "sdp": sdp_result,
        "lower_bound_search": { "evaluations": witness.evaluations, "settings": request.attack },
        "coupling": match &request.coupling {
            InputCoupling::Same => "same_input".to_string(),
            InputCoupling::Quantised(_) => "quantised_input".to_string(),
            InputCoupling::Independent => "independent_inputs".to_string(),
        },
    });
    Ok(BoundReport {
        status,
        norm: request.norm,
        certified_bound: sdp_result.bound,
        per_output_bound: sdp_result.per_output.clone(),
        lower_bound: witness.error,
        witness: witness.input,
        witness_compressed: witness.compressed_input,
        per_output_lower: witness.per_output,
        ratio,
        method: request.method,
        seconds: start.elapsed().as_secs_f64(),
        details,
    })
}

/// Maps a point in first-layer coordinates back to raw units (inverse of
/// the `.nnet` normalisation; identity without one).
fn to_raw(network: &Network, point: &[f64]) -> Vec<f64> {
    match &network.input_transform {
        Some(t) => point.iter().enumerate().map(|(i, z)| (t.mean[i] + t.range[i] * z).clamp(t.min[i].max(f64::MIN), t.max[i].min(f64::MAX))).collect(),
        None => point.to_vec(),
    }
}

/// `--method milp`: HiGHS's dual bound as the certified bound, the incumbent
/// (re-evaluated in f64) as the lower bound.
fn bound_milp(reference: &Network, prepared: &sdp::Prepared, request: &BoundRequest, start: Instant) -> Result<BoundReport> {
    let result = crate::milp::solve(prepared, request.sdp.time_limit)?;
    let status = if result.upper.is_some() { Status::Certified } else { Status::NoCertificate };
    let ratio = result.upper.filter(|_| result.lower > 0.0).map(|u| u / result.lower);
    let independent_or_quantised = !matches!(request.coupling, InputCoupling::Same);
    Ok(BoundReport {
        status,
        norm: request.norm,
        certified_bound: result.upper,
        per_output_bound: result.per_output.iter().map(|p| p.1).collect(),
        lower_bound: result.lower,
        witness: to_raw(reference, &result.witness),
        witness_compressed: independent_or_quantised.then(|| to_raw(reference, &result.witness_compressed)),
        per_output_lower: result.per_output.iter().map(|p| p.0).collect(),
        ratio,
        method: Method::Milp,
        seconds: start.elapsed().as_secs_f64(),
        details: serde_json::json!({ "milp": result }),
    })
}
