//! The main job: a certified upper bound, a lower bound with its witness, and
//! the evidence, for `f` versus `g` over an input set.
//!
//! Words mean what they say here:
//! - **certified**: a number whose proof was re-checked in floating point
//!   with outward rounding (interval and linear propagation, the SDP's
//!   certificate check, input splitting over such bounds). Only a certified
//!   number turns into "proven" in decide mode.
//! - **solver bound**: a number a solver returned without such a check
//!   (HiGHS's dual bound for `--method milp`). It is reported beside the
//!   certified bound, never in its place.
//!
//! Whatever the method, the certified bound of every output is at most the
//! cheap ones that are always computed: the interval bound of the difference,
//! `[l_f - u_g, u_f - l_g]`, and one pass of differential propagation. Two
//! identical networks seeing the same input get exactly 0 at once.

use crate::propagation::{interval_bounds, round_down as down, round_up as up};
use crate::error::{shape, Result};
use crate::input_set::InputSet;
use crate::limits::{default_memory_bytes, Budget};
use crate::network::Network;
use crate::problem::{InputCoupling, Norm, Prepared};
use crate::sdp::{self, SdpSettings};
use crate::branch_and_bound::{branch_and_bound, Progress, SplitOutcome, SplitProblem, SplitSettings};
use crate::attack::{attack, AttackSettings, Witness};
use serde::Serialize;
use std::time::Instant;

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

/// The bounding method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Differential propagation, input splitting, and the SDP where it is small enough to pay.
    Auto,
    /// One pass of differential bound propagation.
    Propagate,
    /// The S-procedure semidefinite program of Li, Drummond and Duncan.
    Sdp,
    /// The exact worst case of piecewise-linear (ReLU, leaky ReLU) networks by mixed-integer programming (HiGHS; its upper bound is not re-checked).
    Milp,
}

impl Method {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Propagate => "propagate",
            Method::Sdp => "sdp",
            Method::Milp => "milp",
        }
    }
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
    /// SDP settings (its time limit is taken from [`BoundRequest::time_limit`]).
    pub sdp: SdpSettings,
    /// Lower-bound search settings.
    pub attack: AttackSettings,
    /// Decide mode: stop as soon as `bound <= eps` is proven or an error
    /// above `eps` is seen.
    pub eps: Option<f64>,
    /// Seconds for the whole call, every method included (None: `auto` uses
    /// [`DEFAULT_AUTO_SECONDS`], the other methods run to completion). The
    /// bound reached when it runs out is reported.
    pub time_limit: Option<f64>,
    /// Memory budget in bytes (None: [`default_memory_bytes`]). A method whose
    /// estimated memory exceeds it does not start (no certificate, with the reason).
    pub memory_limit: Option<u64>,
    /// `auto` stops splitting when `bound <= target_ratio * lower bound`.
    pub target_ratio: f64,
}

/// Default time budget of `auto` when no time limit is given.
pub const DEFAULT_AUTO_SECONDS: f64 = 10.0;
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
            time_limit: None,
            memory_limit: None,
            target_ratio: DEFAULT_TARGET_RATIO,
        }
    }

    fn budget(&self) -> Budget {
        let seconds = match self.method {
            Method::Auto => Some(self.time_limit.unwrap_or(DEFAULT_AUTO_SECONDS)),
            _ => self.time_limit,
        };
        Budget::new(seconds, self.memory_limit.unwrap_or_else(default_memory_bytes))
    }
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

/// The evidence behind a report, one optional part per method that ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence {
    /// The two networks have identical layers and see the same input.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub identical_networks: bool,
    /// The baseline bounds every method is capped by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagate: Option<PropagateEvidence>,
    /// The SDP, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdp: Option<sdp::SdpResult>,
    /// Input splitting, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitOutcome>,
    /// The MILP, when it ran.
    #[cfg(feature = "milp")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub milp: Option<crate::milp::MilpResult>,
    /// The lower-bound search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_bound_search: Option<AttackEvidence>,
    /// How the networks saw the input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupling: Option<&'static str>,
    /// A union of boxes: each member's result.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub union: Vec<UnionMember>,
}

/// The cheap certified bounds computed first.
#[derive(Debug, Clone, Serialize)]
pub struct PropagateEvidence {
    /// One pass of differential propagation.
    pub one_pass_bound: f64,
    /// The interval bound of the difference `[l_f - u_g, u_f - l_g]`.
    pub interval_bound: f64,
    /// Unstable neurons of both networks over the whole set.
    pub unstable_neurons: usize,
    /// The SDP's lifted dimension estimated from them.
    pub estimated_sdp_dim: usize,
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
        #[cfg(not(feature = "milp"))]
        return Err(crate::error::unsupported("--method milp needs deltacert built with its `milp` feature (HiGHS)"));
        #[cfg(feature = "milp")]
        {
            crate::milp::check_piecewise_linear(f, "the reference network")?;
            crate::milp::check_piecewise_linear(g, "the compressed network")?;
            if request.set.ball_constraint().is_some() {
                return Err(crate::error::unsupported("--method milp supports boxes and polytopes, not L2 balls"));
            }
        }
    }
    if let InputCoupling::Quantised(steps) = &request.coupling {
        if steps.len() != f.input_dim || steps.iter().any(|s| !(*s >= 0.0) || !s.is_finite()) {
            return Err(crate::error::invalid_option("--input-quant needs a finite step >= 0"));
        }
    }
    if let Some(eps) = request.eps {
        if !(eps >= 0.0) || !eps.is_finite() {
            return Err(crate::error::invalid_option(format!("eps {eps}: must be a finite number >= 0")));
        }
    }
    if let Some(t) = request.time_limit {
        if !(t > 0.0) || !t.is_finite() {
            return Err(crate::error::invalid_option(format!("time limit {t}: must be a finite number of seconds > 0")));
        }
    }
    if !(request.target_ratio >= 1.0) || !request.target_ratio.is_finite() {
        return Err(crate::error::invalid_option(format!("target ratio {}: must be a finite number >= 1", request.target_ratio)));
    }
    Ok(())
}

/// Certifies `||f - g||` over the request's set and searches for a witness.
pub fn bound(reference: &Network, compressed: &Network, request: &BoundRequest) -> Result<BoundReport> {
    bound_with_progress(reference, compressed, request, &|_| {})
}

/// [`bound`] over a union of sets (a VNN-LIB `or` of boxes): each set is
/// bounded and the worst is reported (the error over a union is the maximum
/// over its members). The request's own set is ignored; its time limit is
/// shared out evenly among the members.
pub fn bound_union(reference: &Network, compressed: &Network, sets: &[InputSet], request: &BoundRequest, progress: &(dyn Fn(&Progress) + Sync)) -> Result<BoundReport> {
    let start = Instant::now();
    match sets {
        [] => return Err(crate::error::invalid_set("the union of input sets is empty (no box)")),
        [only] => return bound_with_progress(reference, compressed, &BoundRequest { set: only.clone(), ..request.clone() }, progress),
        _ => {}
    }
    let total = match request.method {
        Method::Auto => Some(request.time_limit.unwrap_or(DEFAULT_AUTO_SECONDS)),
        _ => request.time_limit,
    };
    let mut combined: Option<BoundReport> = None;
    let mut members = Vec::with_capacity(sets.len());
    let mut stopped_early = false;
    for (index, set) in sets.iter().enumerate() {
        let mut member_request = request.clone();
        member_request.set = set.clone();
        member_request.time_limit = total.map(|t| ((t - start.elapsed().as_secs_f64()) / (sets.len() - index) as f64).max(1e-3));
        let report = bound_with_progress(reference, compressed, &member_request, progress).map_err(|e| e.within(format!("box {} of the union", index + 1)))?;
        members.push(UnionMember { index: index + 1, status: report.status, certified_bound: report.certified_bound, lower_bound: report.lower_bound });
        let merged = match combined.take() {
            None => report,
            Some(acc) => merge_reports(acc, report),
        };
        let counterexample = request.eps.is_some_and(|eps| merged.lower_bound > eps);
        combined = Some(merged);
        if counterexample && index + 1 < sets.len() {
            stopped_early = true;
            break;
        }
    }
    let mut report = combined.expect("at least one member");
    if stopped_early {
        // the boxes not bounded are not covered: no bound over the union
        report.certified_bound = None;
        report.per_output_bound.iter_mut().for_each(|b| *b = None);
        report.solver_bound = None;
        report.per_output_solver_bound.iter_mut().for_each(|b| *b = None);
        report.status = Status::NoCertificate;
        report.ratio = None;
        report.note = Some(format!("stopped after box {} of {}: it holds a counterexample", members.len(), sets.len()));
    }
    report.seconds = start.elapsed().as_secs_f64();
    report.details = Evidence { union: members, ..Evidence::default() };
    Ok(report)
}

/// The report over the union of the two reports' sets.
fn merge_reports(a: BoundReport, b: BoundReport) -> BoundReport {
    let max_option = |x: Option<f64>, y: Option<f64>| x.zip(y).map(|(x, y)| x.max(y));
    let per_output_bound = a.per_output_bound.iter().zip(&b.per_output_bound).map(|(x, y)| max_option(*x, *y)).collect();
    let per_output_solver_bound = a.per_output_solver_bound.iter().zip(&b.per_output_solver_bound).map(|(x, y)| max_option(*x, *y)).collect();
    let per_output_lower = a.per_output_lower.iter().zip(&b.per_output_lower).map(|(x, y)| x.max(*y)).collect();
    let certified_bound = max_option(a.certified_bound, b.certified_bound);
    let solver_bound = max_option(a.solver_bound, b.solver_bound);
    let status = match (a.status, b.status) {
        (Status::NoCertificate, _) | (_, Status::NoCertificate) if certified_bound.is_none() && solver_bound.is_none() => Status::NoCertificate,
        (Status::SolverBound, _) | (_, Status::SolverBound) if solver_bound.is_some() => Status::SolverBound,
        _ if certified_bound.is_some() => Status::Certified,
        _ => Status::NoCertificate,
    };
    let (lower_bound, witness, witness_compressed) = if b.lower_bound > a.lower_bound { (b.lower_bound, b.witness, b.witness_compressed) } else { (a.lower_bound, a.witness, a.witness_compressed) };
    BoundReport {
        status,
        norm: a.norm,
        certified_bound,
        per_output_bound,
        solver_bound,
        per_output_solver_bound,
        lower_bound,
        witness,
        witness_compressed,
        per_output_lower,
        ratio: certified_bound.filter(|_| lower_bound > 0.0).map(|c| c / lower_bound),
        method: a.method,
        seconds: a.seconds + b.seconds,
        note: a.note.or(b.note),
        details: Evidence::default(),
    }
}

/// The bounds always computed first: the interval bound of the difference
/// and one pass of differential propagation, per output (`plus` bounds
/// `Delta y_j`, `minus` bounds `-Delta y_j`).
struct Baseline {
    interval_plus: Vec<f64>,
    interval_minus: Vec<f64>,
}

/// `[l_f - u_g, u_f - l_g]` from interval propagation of each network over
/// the box its input ranges over, outward rounded.
fn interval_difference(prepared: &Prepared) -> Baseline {
    let set = &prepared.set;
    let (lower, upper) = (set.lower(), set.upper());
    let (compressed_lower, compressed_upper): (Vec<f64>, Vec<f64>) = match &prepared.coupling {
        InputCoupling::Quantised(steps) => (
            lower.iter().zip(steps).map(|(l, s)| down(l - s)).zip(lower).map(|(v, l)| v.max(*l)).collect(),
            upper.iter().zip(steps).map(|(u, s)| up(u + s)).zip(upper).map(|(v, u)| v.min(*u)).collect(),
        ),
        _ => (lower.to_vec(), upper.to_vec()),
    };
    let bounds_f = interval_bounds(&prepared.reference, lower, upper);
    let bounds_g = interval_bounds(&prepared.compressed, &compressed_lower, &compressed_upper);
    let (output_f, output_g) = (bounds_f.layers.last().expect("layers"), bounds_g.layers.last().expect("layers"));
    let plus = output_f.post_upper.iter().zip(&output_g.post_lower).map(|(u, l)| non_nan_up(up(u - l))).collect();
    let minus = output_g.post_upper.iter().zip(&output_f.post_lower).map(|(u, l)| non_nan_up(up(u - l))).collect();
    Baseline { interval_plus: plus, interval_minus: minus }
}

/// Rigorous enclosures `[lo_j, hi_j]` of the exact outputs of `network` at
/// the raw input `x`: the input transform and every layer are evaluated in
/// interval arithmetic with outward rounding (a degenerate box).
pub fn output_enclosure(network: &Network, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (lower, upper): (Vec<f64>, Vec<f64>) = match &network.input_transform {
        Some(t) => (0..x.len())
            .map(|i| {
                let clipped = x[i].clamp(t.min[i], t.max[i]);
                let z = (clipped - t.mean[i]) / t.range[i];
                (down(z), up(z))
            })
            .unzip(),
        None => (x.to_vec(), x.to_vec()),
    };
    let mut plain = network.clone();
    plain.input_transform = None;
    let bounds = interval_bounds(&plain, &lower, &upper);
    let last = bounds.layers.last().expect("layers");
    (last.post_lower.clone(), last.post_upper.clone())
}

/// A rigorous lower bound on `||f(x) - g(x')||` (the exact real value is at
/// least this): the smallest gap between the two output enclosures.
pub fn error_lower_bound(f: &Network, g: &Network, x: &[f64], compressed_input: &[f64], norm: Norm) -> f64 {
    let (f_lower, f_upper) = output_enclosure(f, x);
    let (g_lower, g_upper) = output_enclosure(g, compressed_input);
    let gaps: Vec<f64> = (0..f_lower.len())
        .map(|j| {
            let gap = down(f_lower[j] - g_upper[j]).max(down(g_lower[j] - f_upper[j])).max(0.0);
            if gap.is_nan() {
                0.0
            } else {
                gap
            }
        })
        .collect();
    match norm {
        Norm::Linf => gaps.iter().fold(0.0, |m, g| m.max(*g)),
        Norm::L2 => {
            let sum: f64 = gaps.iter().map(|g| down(g * g)).sum();
            down(down(sum * (1.0 - 2.0 * crate::propagation::rounding_gamma(gaps.len() + 2))).sqrt()).max(0.0)
        }
    }
}

/// NaN (from `inf - inf`) becomes `+inf`: an unknown bound, never a small one.
fn non_nan_up(v: f64) -> f64 {
    if v.is_nan() {
        f64::INFINITY
    } else {
        v
    }
}

/// Estimated bytes of one differential propagation (back-substitution keeps
/// a coefficient row per neuron over every earlier layer, for both networks
/// and the difference).
fn propagation_bytes(f: &Network, g: &Network) -> f64 {
    let widths = |n: &Network| -> Vec<f64> { std::iter::once(n.input_dim as f64).chain(n.layers.iter().map(|l| l.width() as f64)).collect() };
    let per_network = |w: &[f64]| -> f64 {
        let mut total = 0.0;
        for k in 1..w.len() {
            // one back-substitution from layer k: a dense row block of width w[j] per earlier layer j
            let earlier: f64 = w[..k].iter().sum();
            total = f64::max(total, w[k] * earlier);
        }
        total
    };
    let (wf, wg) = (widths(f), widths(g));
    // f, g, and the difference (twice f's size), each with lower and upper
    // rows, 8 bytes per entry, plus the network copies themselves
    let parameters: f64 = f.parameter_count() as f64 + g.parameter_count() as f64;
    8.0 * (2.0 * (per_network(&wf) + per_network(&wg)) + 4.0 * per_network(&wf)) + 8.0 * 4.0 * parameters
}

/// [`bound`], reporting the splitting search's progress about once a second.
pub fn bound_with_progress(reference: &Network, compressed: &Network, request: &BoundRequest, progress: &(dyn Fn(&Progress) + Sync)) -> Result<BoundReport> {
    let start = Instant::now();
    check_shapes(reference, compressed, request)?;
    let budget = request.budget();
    if same_function(reference, compressed, &request.coupling) {
        return Ok(identical_report(reference, request, start));
    }
    let prepared = crate::problem::prepare(reference, compressed, &request.set, &request.coupling)?;
    if let Err(reason) = budget.admit("differential propagation", propagation_bytes(&prepared.reference, &prepared.compressed)) {
        return Ok(refused_report(reference, request, start, reason));
    }
    let baseline = interval_difference(&prepared);
    match request.method {
        #[cfg(feature = "milp")]
        Method::Milp => bound_milp(reference, compressed, &prepared, &baseline, request, &budget, start),
        #[cfg(not(feature = "milp"))]
        Method::Milp => Err(crate::error::unsupported("--method milp needs deltacert built with its `milp` feature (HiGHS)")),
        _ => bound_certified(reference, compressed, &prepared, &baseline, request, &budget, start, progress),
    }
}

/// `f` and `g` compute the same function on the same input: the error is 0.
fn same_function(f: &Network, g: &Network, coupling: &InputCoupling) -> bool {
    *coupling == InputCoupling::Same && f.input_dim == g.input_dim && f.input_transform == g.input_transform && f.layers == g.layers
}

fn identical_report(reference: &Network, request: &BoundRequest, start: Instant) -> BoundReport {
    let outputs = reference.output_dim();
    let mut witness = request.set.lower().to_vec();
    request.set.project(&mut witness);
    BoundReport {
        status: Status::Certified,
        norm: request.norm,
        certified_bound: Some(0.0),
        per_output_bound: if request.norm == Norm::Linf { vec![Some(0.0); outputs] } else { Vec::new() },
        solver_bound: None,
        per_output_solver_bound: Vec::new(),
        lower_bound: 0.0,
        witness: request.set.contains(&witness, 0.0).then_some(witness),
        witness_compressed: None,
        per_output_lower: vec![0.0; outputs],
        ratio: None,
        method: request.method,
        seconds: start.elapsed().as_secs_f64(),
        note: Some("the two networks have identical layers and see the same input: the error is exactly 0".into()),
        details: Evidence { identical_networks: true, ..Evidence::default() },
    }
}

fn refused_report(reference: &Network, request: &BoundRequest, start: Instant, reason: String) -> BoundReport {
    let outputs = reference.output_dim();
    BoundReport {
        status: Status::NoCertificate,
        norm: request.norm,
        certified_bound: None,
        per_output_bound: if request.norm == Norm::Linf { vec![None; outputs] } else { Vec::new() },
        solver_bound: None,
        per_output_solver_bound: Vec::new(),
        lower_bound: 0.0,
        witness: None,
        witness_compressed: None,
        per_output_lower: vec![0.0; outputs],
        ratio: None,
        method: request.method,
        seconds: start.elapsed().as_secs_f64(),
        note: Some(reason),
        details: Evidence::default(),
    }
}

fn coupling_name(coupling: &InputCoupling) -> &'static str {
    match coupling {
        InputCoupling::Same => "same_input",
        InputCoupling::Quantised(_) => "quantised_input",
        InputCoupling::Independent => "independent_inputs",
    }
}

/// Runs the attack with the time that is left (at most half of it when a
/// bound still has to be computed) and the sample count requested.
fn run_attack(reference: &Network, compressed: &Network, request: &BoundRequest) -> Witness {
    attack(reference, compressed, &request.set, &request.coupling, request.norm, &request.attack)
}

/// `propagate`, `sdp` and `auto`: the certified methods.
#[allow(clippy::too_many_arguments)]
fn bound_certified(reference: &Network, compressed: &Network, prepared: &Prepared, baseline: &Baseline, request: &BoundRequest, budget: &Budget, start: Instant, progress: &(dyn Fn(&Progress) + Sync)) -> Result<BoundReport> {
    let pair = crate::propagation::DifferentialPair::new(&prepared.reference, &prepared.compressed);
    let problem = SplitProblem { reference: &prepared.reference, compressed: &prepared.compressed, set: &prepared.set, coupling: &prepared.coupling, norm: request.norm, pair };
    let (mut root, _) = problem.bound_piece(prepared.set.lower().to_vec(), prepared.set.upper().to_vec(), None);
    let one_pass = root.value;
    // never above the interval bound of the difference
    tighten(&problem, &mut root, &baseline.interval_plus, &baseline.interval_minus);
    let auto = request.method == Method::Auto;
    let separate_inputs = !matches!(request.coupling, InputCoupling::Same);
    let estimated_dim = prepared.set.dim() * if separate_inputs { 2 } else { 1 } + root.unstable_neurons + 1;
    let already_decided = request.eps.is_some_and(|eps| root.value <= eps);
    let run_sdp = request.method == Method::Sdp || (auto && !already_decided && estimated_dim <= AUTO_SDP_MAX_DIM.min(request.sdp.max_dimension));
    let (sdp_result, witness): (Option<sdp::SdpResult>, Witness) = rayon::join(
        || run_sdp.then(|| sdp::certify_within(prepared, request.norm, &request.sdp, budget)),
        || run_attack(reference, compressed, request),
    );
    // the SDP's bounds are certified too: keep the smaller per output
    if let Some(result) = sdp_result.as_ref() {
        let per_output: Vec<f64> = result.per_output.iter().map(|b| b.unwrap_or(f64::INFINITY)).collect();
        if request.norm == Norm::Linf {
            tighten(&problem, &mut root, &per_output, &per_output);
        }
        if let Some(b) = result.bound {
            root.value = root.value.min(b);
        }
    }
    let split: Option<SplitOutcome> = auto.then(|| {
        let remaining = budget.remaining().unwrap_or(f64::INFINITY);
        // The SDP is not run on pieces: measured on ACAS Xu 1_1, a piece with
        // lifted dimension <= 20 costs 1-2 s of SDP against milliseconds per
        // split, and 10 s budgets ended looser with it (property 1: 8.9e-5
        // versus 5.2e-5; property 4: 2.11e-3 versus 2.05e-3).
        let settings = SplitSettings { time_limit: remaining, eps: request.eps, target_ratio: request.target_ratio, memory_bytes: budget.memory_bytes(), ..SplitSettings::default() };
        branch_and_bound(&problem, root.clone(), (witness.error, witness.input.clone().unwrap_or_default()), &settings, progress)
    });
    let (certified, per_output) = match &split {
        Some(outcome) => (outcome.bound, outcome.per_output.clone()),
        None => (root.value, root.plus.iter().zip(&root.minus).map(|(p, m)| p.max(*m).max(0.0)).collect()),
    };
    let mut lower = witness.error;
    let mut raw_witness = witness.input.clone();
    let mut witness_compressed = witness.compressed_input.clone();
    let mut per_output_lower = witness.per_output.clone();
    if let Some(outcome) = &split {
        per_output_lower.iter_mut().zip(&outcome.per_output_lower).for_each(|(a, b)| *a = a.max(*b));
        if outcome.lower > lower && !outcome.witness.is_empty() {
            // a piece's corner: both networks see it
            if let Some((x, xg)) = feasible_witness(reference, request, &outcome.witness, &outcome.witness) {
                lower = outcome.lower;
                witness_compressed = separate_inputs.then_some(xg);
                raw_witness = Some(x);
            }
        }
    }
    // the reported lower bound is rigorous: the exact error at the witness is at least this
    if let Some(x) = &raw_witness {
        lower = error_lower_bound(reference, compressed, x, witness_compressed.as_deref().unwrap_or(x), request.norm);
    }
    let finite = certified.is_finite();
    let certified_bound = finite.then_some(certified);
    let note = sdp_result.as_ref().and_then(|r| r.bound.is_none().then(|| sdp_refusal(r))).flatten().map(|reason| format!("the SDP gave no certificate ({reason}); the bound is propagation's"));
    let details = Evidence {
        propagate: Some(PropagateEvidence { one_pass_bound: one_pass, interval_bound: problem.norm_bound(&baseline.interval_plus, &baseline.interval_minus), unstable_neurons: root.unstable_neurons, estimated_sdp_dim: estimated_dim }),
        sdp: sdp_result,
        split,
        lower_bound_search: Some(AttackEvidence { evaluations: witness.evaluations, settings: request.attack.clone() }),
        coupling: Some(coupling_name(&request.coupling)),
        ..Evidence::default()
    };
    Ok(BoundReport {
        status: if finite { Status::Certified } else { Status::NoCertificate },
        norm: request.norm,
        certified_bound,
        per_output_bound: if request.norm == Norm::Linf { per_output.iter().map(|b| b.is_finite().then_some(*b)).collect() } else { Vec::new() },
        solver_bound: None,
        per_output_solver_bound: Vec::new(),
        lower_bound: lower,
        witness: raw_witness,
        witness_compressed,
        per_output_lower,
        ratio: certified_bound.filter(|_| lower > 0.0).map(|b| b / lower),
        method: request.method,
        seconds: start.elapsed().as_secs_f64(),
        note: if finite { note } else { Some(note.unwrap_or_else(|| "no finite bound (non-finite intermediate values)".into())) },
        details,
    })
}

/// The first refusal reason among the SDP's solves.
fn sdp_refusal(result: &sdp::SdpResult) -> Option<String> {
    result.solves.iter().find_map(|s| s.refusal.clone())
}

/// Lowers a piece's per-output bounds to `plus`/`minus` where those are smaller.
fn tighten(problem: &SplitProblem, piece: &mut crate::branch_and_bound::Piece, plus: &[f64], minus: &[f64]) {
    piece.plus.iter_mut().zip(plus).for_each(|(a, b)| *a = a.min(*b));
    piece.minus.iter_mut().zip(minus).for_each(|(a, b)| *a = a.min(*b));
    piece.value = piece.value.min(problem.norm_bound(&piece.plus, &piece.minus));
}

/// A witness pair found in first-layer coordinates, back in raw units and
/// inside the set: mapping back through the `.nnet` normalisation rounds, so
/// both points are projected onto the set's box and ball, and `x'` is kept
/// within the quantisation step of `x`. None when a point still lies outside
/// the set (a polytope cuts it off).
fn feasible_witness(reference: &Network, request: &BoundRequest, point: &[f64], compressed_point: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let set = &request.set;
    let mut x = to_raw(reference, point);
    set.project(&mut x);
    let mut xg = to_raw(reference, compressed_point);
    set.project(&mut xg);
    match &request.coupling {
        InputCoupling::Same => xg = x.clone(),
        InputCoupling::Quantised(steps) => {
            for k in 0..xg.len() {
                // |x' - x| <= step, rounded inward
                let (lo, hi) = (crate::rounding::add_up_tight(x[k], -steps[k]), crate::rounding::add_down_tight(x[k], steps[k]));
                xg[k] = xg[k].clamp(lo.max(set.lower()[k]), hi.min(set.upper()[k]));
            }
        }
        InputCoupling::Independent => {}
    }
    (set.contains(&x, 0.0) && set.contains(&xg, 0.0)).then_some((x, xg))
}

/// Maps a point in first-layer coordinates back to raw units (inverse of
/// the `.nnet` normalisation; identity without one).
fn to_raw(network: &Network, point: &[f64]) -> Vec<f64> {
    match &network.input_transform {
        Some(t) => point.iter().enumerate().map(|(i, z)| (t.mean[i] + t.range[i] * z).clamp(t.min[i].max(f64::MIN), t.max[i].min(f64::MAX))).collect(),
        None => point.to_vec(),
    }
}

/// `--method milp`: HiGHS's dual bound as the solver bound (not re-checked),
/// the incumbent (re-evaluated in f64) as the lower bound, and the baseline
/// (interval and one propagation pass) as the certified bound.
#[cfg(feature = "milp")]
#[allow(clippy::too_many_arguments)]
fn bound_milp(reference: &Network, compressed: &Network, prepared: &Prepared, baseline: &Baseline, request: &BoundRequest, budget: &Budget, start: Instant) -> Result<BoundReport> {
    let pair = crate::propagation::DifferentialPair::new(&prepared.reference, &prepared.compressed);
    let problem = SplitProblem { reference: &prepared.reference, compressed: &prepared.compressed, set: &prepared.set, coupling: &prepared.coupling, norm: request.norm, pair };
    let (mut root, _) = problem.bound_piece(prepared.set.lower().to_vec(), prepared.set.upper().to_vec(), None);
    tighten(&problem, &mut root, &baseline.interval_plus, &baseline.interval_minus);
    let certified_per_output: Vec<f64> = root.plus.iter().zip(&root.minus).map(|(p, m)| p.max(*m).max(0.0)).collect();
    let certified = root.value.is_finite().then_some(root.value);
    let result = match crate::milp::solve(prepared, budget) {
        Ok(result) => result,
        Err(refusal) => {
            let mut report = refused_report(reference, request, start, refusal.context);
            report.certified_bound = certified;
            report.per_output_bound = certified_per_output.iter().map(|b| b.is_finite().then_some(*b)).collect();
            report.status = if certified.is_some() { Status::Certified } else { Status::NoCertificate };
            return Ok(report);
        }
    };
    let independent_or_quantised = !matches!(request.coupling, InputCoupling::Same);
    let pair = if result.found_incumbent { feasible_witness(reference, request, &result.witness, &result.witness_compressed) } else { None };
    let witness = pair.as_ref().map(|(x, _)| x.clone());
    let witness_compressed = pair.filter(|_| independent_or_quantised).map(|(_, xg)| xg);
    // the reported lower bound is rigorous: the exact error at the witness is at least this
    let lower = match &witness {
        Some(x) => error_lower_bound(reference, compressed, x, witness_compressed.as_deref().unwrap_or(x), request.norm),
        None => 0.0,
    };
    let status = if result.upper.is_some() {
        Status::SolverBound
    } else if certified.is_some() {
        Status::Certified
    } else {
        Status::NoCertificate
    };
    Ok(BoundReport {
        status,
        norm: request.norm,
        certified_bound: certified,
        per_output_bound: certified_per_output.iter().map(|b| b.is_finite().then_some(*b)).collect(),
        solver_bound: result.upper,
        per_output_solver_bound: result.per_output.iter().map(|p| p.1).collect(),
        lower_bound: lower,
        witness_compressed,
        witness,
        per_output_lower: result.per_output.iter().map(|p| p.0).collect(),
        ratio: certified.filter(|_| lower > 0.0).map(|u| u / lower),
        method: Method::Milp,
        seconds: start.elapsed().as_secs_f64(),
        note: result.note.clone(),
        details: Evidence { milp: Some(result), coupling: Some(coupling_name(&request.coupling)), ..Evidence::default() },
    })
}
