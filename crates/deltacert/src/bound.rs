//! The main job: a certified upper bound, a lower bound with its witness, and
//! the evidence, for `f` versus `g` over an input set.

use crate::error::{shape, Result};
use crate::input_set::InputSet;
use crate::network::Network;
use crate::sdp::lift::InputCoupling;
use crate::sdp::{self, Norm, SdpSettings};
use crate::search::split::{branch_and_bound, Progress, SplitOutcome, SplitProblem, SplitSettings};
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
    /// Differential propagation, input splitting, and the SDP where it is
    /// small enough to pay (on the whole set).
    Auto,
    /// One pass of differential bound propagation.
    Propagate,
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
    /// Decide mode: stop as soon as `bound <= eps` is proven or an error
    /// above `eps` is seen.
    pub eps: Option<f64>,
    /// Seconds for the input-splitting search of `auto` (anytime: the bound
    /// reached when it runs out is reported).
    pub split_seconds: f64,
    /// `auto` stops splitting when `bound <= target_ratio * lower bound`.
    pub target_ratio: f64,
}

/// Default [`BoundRequest::split_seconds`] when no `--timeout` is given.
pub const DEFAULT_SPLIT_SECONDS: f64 = 10.0;
/// Default [`BoundRequest::target_ratio`].
pub const DEFAULT_TARGET_RATIO: f64 = 1.01;
/// `auto` runs the SDP on the whole set when its estimated lifted dimension
/// is at most this (measured: d = 43 takes about 1.4 s, d = 83 about 35 s).
pub const AUTO_SDP_MAX_DIM: usize = 48;

impl BoundRequest {
    /// A request with default settings for `set`, `coupling`, `norm` and `method`.
    pub fn new(set: InputSet, coupling: InputCoupling, norm: Norm, method: Method) -> Self {
        BoundRequest {
            set,
            coupling,
            norm,
            method,
            sdp: SdpSettings::default(),
            attack: AttackSettings::default(),
            eps: None,
            split_seconds: DEFAULT_SPLIT_SECONDS,
            target_ratio: DEFAULT_TARGET_RATIO,
        }
    }
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
    bound_with_progress(reference, compressed, request, &|_| {})
}

/// [`bound`], reporting the splitting search's progress about once a second.
pub fn bound_with_progress(reference: &Network, compressed: &Network, request: &BoundRequest, progress: &(dyn Fn(&Progress) + Sync)) -> Result<BoundReport> {
    let start = Instant::now();
    check_shapes(reference, compressed, request)?;
    let prepared = sdp::prepare(reference, compressed, &request.set, &request.coupling)?;
    match request.method {
        Method::Milp => return bound_milp(reference, &prepared, request, start),
        Method::Propagate | Method::Auto => return bound_propagate(reference, compressed, &prepared, request, start, progress),
        Method::Sdp => {}
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
        "coupling": coupling_name(&request.coupling),
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

fn coupling_name(coupling: &InputCoupling) -> &'static str {
    match coupling {
        InputCoupling::Same => "same_input",
        InputCoupling::Quantised(_) => "quantised_input",
        InputCoupling::Independent => "independent_inputs",
    }
}

/// `--method propagate` (one pass) and `--method auto` (the pass, the SDP on
/// the whole set when small, then input splitting within the time budget).
fn bound_propagate(reference: &Network, compressed: &Network, prepared: &sdp::Prepared, request: &BoundRequest, start: Instant, progress: &(dyn Fn(&Progress) + Sync)) -> Result<BoundReport> {
    let pair = crate::bounds::DifferentialPair::new(&prepared.reference, &prepared.compressed);
    let problem = SplitProblem { reference: &prepared.reference, compressed: &prepared.compressed, set: &prepared.set, coupling: &prepared.coupling, norm: request.norm, pair };
    let (mut root, _) = problem.bound_piece(prepared.set.lower.clone(), prepared.set.upper.clone(), None);
    let one_pass = root.value;
    let auto = request.method == Method::Auto;
    let separate_inputs = !matches!(request.coupling, InputCoupling::Same);
    let estimated_dim = prepared.set.dim() * if separate_inputs { 2 } else { 1 } + root.unstable_neurons + 1;
    let already_decided = request.eps.is_some_and(|eps| root.value <= eps);
    let run_sdp = auto && !already_decided && estimated_dim <= AUTO_SDP_MAX_DIM.min(request.sdp.max_dimension);
    let (sdp_result, witness): (Option<sdp::SdpResult>, Witness) = rayon::join(
        || run_sdp.then(|| sdp::certify(prepared, request.norm, &request.sdp)),
        || attack(reference, compressed, &request.set, &request.coupling, request.norm, &request.attack),
    );
    // the SDP's bounds are certified too: keep the smaller of the two
    if let Some(result) = sdp_result.as_ref() {
        for (j, b) in result.per_output.iter().enumerate() {
            if let Some(b) = b {
                root.plus[j] = root.plus[j].min(*b);
                root.minus[j] = root.minus[j].min(*b);
            }
        }
        let combined = problem.norm_bound(&root.plus, &root.minus);
        root.value = match result.bound {
            Some(b) => combined.min(b),
            None => combined,
        };
    }
    let split: Option<SplitOutcome> = auto.then(|| {
        let remaining = (request.split_seconds - start.elapsed().as_secs_f64()).max(0.0);
        // The SDP is not run on pieces: measured on ACAS Xu 1_1, a piece with
        // lifted dimension <= 20 costs 1-2 s of SDP against milliseconds per
        // split, and 10 s budgets ended looser with it (property 1: 8.9e-5
        // versus 5.2e-5; property 4: 2.11e-3 versus 2.05e-3).
        let settings = SplitSettings { time_limit: remaining, eps: request.eps, target_ratio: request.target_ratio, ..SplitSettings::default() };
        branch_and_bound(&problem, root.clone(), (witness.error, Vec::new()), &settings, progress)
    });
    let (certified, per_output, lower, raw_witness, per_output_lower) = match &split {
        Some(outcome) => {
            let per_output_lower: Vec<f64> = outcome.per_output_lower.iter().zip(&witness.per_output).map(|(a, b)| a.max(*b)).collect();
            if outcome.lower > witness.error && !outcome.witness.is_empty() {
                (outcome.bound, outcome.per_output.clone(), outcome.lower, to_raw(reference, &outcome.witness), per_output_lower)
            } else {
                (outcome.bound, outcome.per_output.clone(), witness.error, witness.input.clone(), per_output_lower)
            }
        }
        None => {
            let per_output = root.plus.iter().zip(&root.minus).map(|(p, m)| p.max(*m).max(0.0)).collect();
            (root.value, per_output, witness.error, witness.input.clone(), witness.per_output.clone())
        }
    };
    let witness_compressed = if lower > witness.error { separate_inputs.then(|| raw_witness.clone()) } else { witness.compressed_input.clone() };
    let finite = certified.is_finite();
    let status = if finite { Status::Certified } else { Status::NoCertificate };
    let certified_bound = finite.then_some(certified);
    let details = serde_json::json!({
        "propagate": { "one_pass_bound": one_pass, "unstable_neurons": root.unstable_neurons, "estimated_sdp_dim": estimated_dim },
        "sdp": sdp_result,
        "split": split,
        "lower_bound_search": { "evaluations": witness.evaluations, "settings": request.attack },
        "coupling": coupling_name(&request.coupling),
    });
    Ok(BoundReport {
        status,
        norm: request.norm,
        certified_bound,
        per_output_bound: if request.norm == Norm::Linf { per_output.iter().map(|b| b.is_finite().then_some(*b)).collect() } else { Vec::new() },
        lower_bound: lower,
        witness: raw_witness,
        witness_compressed,
        per_output_lower,
        ratio: certified_bound.filter(|_| lower > 0.0).map(|b| b / lower),
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
