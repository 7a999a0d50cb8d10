//! The report of a bound: what the headline number is, the lower bound and
//! its witness, and the evidence each method recorded; and figures of it
//! (feature `plot`).

#[cfg(feature = "plot")]
pub mod plot;

use crate::attack::AttackSettings;
use crate::methods::Method;
use crate::problem::Norm;
use serde::ser::SerializeMap;
use serde::Serialize;
use std::any::Any;
use std::sync::Arc;

/// What the headline number of a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The bound passed a re-check with outward rounding.
    Certified,
    /// The headline number is a solver's bound that was not re-checked
    /// (`--method milp`); `certified_bound` still holds a checked bound.
    SolverBound,
    /// No bound could be certified (solver failure, refused check, time or
    /// memory limit).
    NoCertificate,
}

/// The result, shaped like the `--json` output of `deltacert bound`.
#[derive(Debug, Clone, Serialize)]
pub struct BoundReport {
    /// What the headline number is: `certified`, `solver_bound` or `no_certificate`.
    pub status: Status,
    /// Norm of the output difference.
    pub norm: Norm,
    /// The certified bound (None without certificate).
    pub certified_bound: Option<f64>,
    /// `linf`: the certified bound of each output.
    pub per_output_bound: Vec<Option<f64>>,
    /// `--method milp`: HiGHS's bound, NOT re-checked (None for other methods).
    pub solver_bound: Option<f64>,
    /// `--method milp`, `linf`: HiGHS's bound of each output, not re-checked.
    pub per_output_solver_bound: Vec<Option<f64>>,
    /// The largest error actually observed (0 when no input was evaluated).
    pub lower_bound: f64,
    /// The input where it was observed (None when no feasible input was found).
    pub witness: Option<Vec<f64>>,
    /// The compressed network's input at the witness (quantised/independent inputs).
    pub witness_compressed: Option<Vec<f64>>,
    /// `linf`: the largest observed `|f_j - g_j|` per output.
    pub per_output_lower: Vec<f64>,
    /// Quantiser layers clamping at the witness, per network (a saturated
    /// quantised output caps the network's outputs there).
    #[serde(skip_serializing_if = "WitnessSaturation::is_empty")]
    pub witness_saturation: WitnessSaturation,
    /// `certified_bound / lower_bound`.
    pub ratio: Option<f64>,
    /// Method used.
    pub method: Method,
    /// Wall time.
    pub seconds: f64,
    /// Why there is no certificate, or why a step was skipped (time, memory).
    pub note: Option<String>,
    /// What each method did: its bounds, sizes, solver statuses and checks.
    pub details: Evidence,
}

/// Quantiser layers clamping at a witness ([`crate::network::Network::saturated_quantisers`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct WitnessSaturation {
    /// In the reference network `f`, at `x`.
    pub reference: Vec<crate::network::Saturation>,
    /// In the compressed network `g`, at its input.
    pub compressed: Vec<crate::network::Saturation>,
}

impl WitnessSaturation {
    /// At the witness `x` (`f`'s input) and `x_g` (`g`'s input).
    pub fn at(reference: &crate::network::Network, compressed: &crate::network::Network, x: &[f64], x_g: &[f64]) -> Self {
        WitnessSaturation { reference: reference.saturated_quantisers(x), compressed: compressed.saturated_quantisers(x_g) }
    }
    /// No quantiser clamps.
    pub fn is_empty(&self) -> bool {
        self.reference.is_empty() && self.compressed.is_empty()
    }
}

/// What one bound method did, in its own typed form (the SDP's sizes and
/// solves, the split search's pieces, the MILP's statuses, ...).
///
/// It is serialised under the method's name in the report's `details`, and
/// [`MethodEvidence::summary`] is the line the human report prints. Library
/// users get the typed value back with [`Evidence::get`].
pub trait MethodEvidence: erased_serde::Serialize + std::fmt::Debug + Send + Sync + 'static {
    /// One line for the human report (without the name).
    fn summary(&self) -> String;
    /// The value as [`Any`] (for [`Evidence::get`]).
    fn as_any(&self) -> &dyn Any;
}
erased_serde::serialize_trait_object!(MethodEvidence);

/// The evidence behind a report: the baseline every method is capped by,
/// each method's own evidence under its name, and the lower-bound search.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The two networks have identical layers and see the same input.
    pub identical_networks: bool,
    /// The baseline bounds every method is capped by.
    pub propagate: Option<PropagateEvidence>,
    /// What each method that ran recorded, in the order they ran
    /// (`("sdp", ...)`, `("split", ...)`, `("milp", ...)`).
    pub methods: Vec<(&'static str, Arc<dyn MethodEvidence>)>,
    /// The lower-bound search.
    pub lower_bound_search: Option<AttackEvidence>,
    /// How the networks saw the input.
    pub coupling: Option<&'static str>,
    /// A union of boxes: each member's result.
    pub union: Vec<UnionMember>,
}

impl Evidence {
    /// The evidence recorded under `name`, as its type `T`
    /// (for example `get::<SdpResult>("sdp")`).
    pub fn get<T: 'static>(&self, name: &str) -> Option<&T> {
        self.methods.iter().find(|(n, _)| *n == name).and_then(|(_, e)| e.as_any().downcast_ref::<T>())
    }
}

/// `details` in JSON: one key per part that is present, each method's
/// evidence under its name.
impl Serialize for Evidence {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if self.identical_networks {
            map.serialize_entry("identical_networks", &true)?;
        }
        if let Some(p) = &self.propagate {
            map.serialize_entry("propagate", p)?;
        }
        for (name, evidence) in &self.methods {
            map.serialize_entry(name, evidence.as_ref())?;
        }
        if let Some(a) = &self.lower_bound_search {
            map.serialize_entry("lower_bound_search", a)?;
        }
        if let Some(c) = &self.coupling {
            map.serialize_entry("coupling", c)?;
        }
        if !self.union.is_empty() {
            map.serialize_entry("union", &self.union)?;
        }
        map.end()
    }
}

/// The cheap certified bounds computed first.
#[derive(Debug, Clone, Serialize)]
pub struct PropagateEvidence {
    /// One pass of differential propagation (fixed relaxation slopes).
    pub one_pass_bound: f64,
    /// The propagation with optimised slopes, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimised_slopes: Option<SlopeEvidence>,
    /// The interval bound of the difference `[l_f - u_g, u_f - l_g]`.
    pub interval_bound: f64,
    /// Unstable neurons of both networks over the whole set (one pass).
    pub unstable_neurons: usize,
    /// The SDP's lifted dimension estimated from them.
    pub estimated_sdp_dim: usize,
}

/// Differential propagation with optimised relaxation slopes
/// ([`crate::propagation::SlopeOptimisation`]) over the whole set.
#[derive(Debug, Clone, Serialize)]
pub struct SlopeEvidence {
    /// Its certified bound (before the one-pass and interval caps).
    pub bound: f64,
    /// Projected-gradient iterations per optimised layer (at most: steps stop
    /// at the time share of [`crate::bound::SLOPE_TIME_SHARE`]).
    pub iterations: usize,
    /// Which bounds were optimised.
    pub scope: crate::propagation::SlopeScope,
    /// Unstable neurons of both networks with the optimised neuron bounds.
    pub unstable_neurons: usize,
    /// Seconds it took.
    pub seconds: f64,
}

/// What the lower-bound search did.
#[derive(Debug, Clone, Serialize)]
pub struct AttackEvidence {
    /// Input pairs evaluated.
    pub evaluations: usize,
    /// Its settings.
    pub settings: AttackSettings,
}

/// One box of a union.
#[derive(Debug, Clone, Serialize)]
pub struct UnionMember {
    /// 1-based index of the box.
    #[serde(rename = "box")]
    pub index: usize,
    /// Its status.
    pub status: Status,
    /// Its certified bound.
    pub certified_bound: Option<f64>,
    /// Its observed error.
    pub lower_bound: f64,
}

impl BoundReport {
    /// Decide mode: `proven` only for a certified bound `<= eps`,
    /// `counterexample` for an observed error `> eps`, otherwise `unknown`.
    pub fn decision(&self, eps: f64) -> Decision {
        match (self.certified_bound, self.lower_bound > eps) {
            (_, true) => Decision::Counterexample,
            (Some(b), false) if b <= eps => Decision::Proven,
            _ => Decision::Unknown,
        }
    }
}

/// The answer of decide mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// A certified bound is at most `eps`.
    Proven,
    /// An input with error above `eps` was evaluated.
    Counterexample,
    /// Neither.
    Unknown,
}

/// `x` in scientific notation with `decimals` digits after the point (as
/// `{:.9e}` writes it), rounded towards +infinity: a printed upper bound is
/// never below the number it stands for (rounding to nearest printed a
/// certified 0.50000000004 as `5.000000000e-1`).
pub fn above(x: f64, decimals: usize) -> String {
    directed(x, decimals, true)
}

/// [`above`] rounded towards -infinity: a printed lower bound (an observed
/// error) is never above the number it stands for.
pub fn below(x: f64, decimals: usize) -> String {
    directed(x, decimals, false)
}

/// `x` rounded in the direction `up` to `decimals` digits after the point,
/// from its exact decimal expansion (a double has at most 767 significant
/// digits, so `{:.800e}` writes it exactly).
fn directed(x: f64, decimals: usize, up: bool) -> String {
    if !x.is_finite() || x == 0.0 {
        return format!("{x:.decimals$e}");
    }
    let exact = format!("{:.800e}", x.abs());
    let (mantissa, exponent) = exact.split_once('e').expect("scientific notation");
    let mut exponent: i32 = exponent.parse().expect("an integer exponent");
    let digits: Vec<u8> = mantissa.bytes().filter(|b| b.is_ascii_digit()).map(|b| b - b'0').collect();
    let mut kept = digits[..=decimals].to_vec();
    let inexact = digits[decimals + 1..].iter().any(|&d| d != 0);
    // the magnitude moves away from 0 when rounding up a positive number or
    // down a negative one; otherwise the cut digits are dropped
    if inexact && up == (x > 0.0) {
        let mut position = kept.len();
        loop {
            position -= 1;
            if kept[position] < 9 {
                kept[position] += 1;
                break;
            }
            kept[position] = 0;
            if position == 0 {
                // 9.99..9 -> 10.00..0
                kept.insert(0, 1);
                kept.pop();
                exponent += 1;
                break;
            }
        }
    }
    let rest: String = kept[1..].iter().map(|d| char::from(b'0' + d)).collect();
    let sign = if x < 0.0 { "-" } else { "" };
    let point = if decimals > 0 { "." } else { "" };
    format!("{sign}{}{point}{rest}e{exponent}", kept[0])
}

#[cfg(test)]
mod printing_tests {
    use super::{above, below};

    /// Directed printing: the printed decimal is on the promised side of the
    /// double, and equal to `{:e}`'s digits where that is already so.
    #[test]
    fn printed_bounds_round_in_their_direction() {
        assert_eq!(above(0.5, 9), "5.000000000e-1");
        assert_eq!(above(0.5f64.next_up(), 9), "5.000000001e-1");
        assert_eq!(below(0.5f64.next_up(), 9), "5.000000000e-1");
        assert_eq!(below(0.5f64.next_down(), 9), "4.999999999e-1");
        assert_eq!(above(0.5f64.next_down(), 9), "5.000000000e-1");
        assert_eq!(above(9.9999999999e-3, 9), "1.000000000e-2");
        assert_eq!(above((-0.5f64).next_down(), 2), "-5.00e-1");
        assert_eq!(below((-0.5f64).next_down(), 2), "-5.01e-1");
        assert_eq!(above((-0.5f64).next_up(), 2), "-4.99e-1");
        assert_eq!(above(0.0, 3), format!("{:.3e}", 0.0));
        assert_eq!(above(f64::INFINITY, 3), "inf");
        // 0.1 is a little above 1/10: its nearest print is already below it
        assert_eq!(below(0.1, 9), "1.000000000e-1");
        assert_eq!(above(0.1, 9), "1.000000001e-1");
        assert_eq!(above(3.0, 0), "3e0");
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..20_000 {
            let x = f64::from_bits(rng.gen::<u64>() >> 2);
            if !x.is_finite() || x == 0.0 {
                continue;
            }
            let (hi, lo): (f64, f64) = (above(x, 9).parse().unwrap(), below(x, 9).parse().unwrap());
            assert!(hi >= x && lo <= x, "{x:e}: {hi:e} {lo:e}");
            assert_eq!(format!("{x:.9e}"), if format!("{x:.9e}").parse::<f64>().unwrap() >= x { above(x, 9) } else { below(x, 9) });
        }
    }
}
