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

use crate::propagation::{interval_bounds, round_down as down, round_up as up, SlopeOptimisation};
use crate::error::{shape, Result};
use crate::input_set::InputSet;
use crate::limits::{default_memory_bytes, Budget};
use crate::network::Network;
use crate::problem::{InputCoupling, Norm, Prepared};
use crate::sdp::SdpSettings;
use crate::branch_and_bound::{Branching, Progress, SplitProblem};
use crate::attack::AttackSettings;
use crate::methods::{MethodContext, MethodOption, MethodOutcome};
use std::time::Instant;

pub use crate::methods::auto::{AUTO_SDP_MAX_DIM, DEFAULT_AUTO_SECONDS};
pub use crate::methods::Method;
pub use crate::report::{AttackEvidence, BoundReport, Decision, Evidence, PropagateEvidence, SlopeEvidence, Status, UnionMember, WitnessSaturation};

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
    /// Optimised relaxation slopes ([`crate::propagation::SlopeOptimisation`])
    /// of the propagation over the whole set, for the methods that read them
    /// (`propagate`, `auto`; default [`SlopeOptimisation::STANDARD`]). Skipped
    /// in decide mode when one pass already proves `eps`; the bound is never
    /// above one pass with fixed slopes.
    pub slopes: SlopeOptimisation,
    /// The slope setting of the pieces of `auto`'s input splitting (default
    /// none: measured on ACAS Xu property 1, optimising every piece made the
    /// decisions 4 to 7 times slower).
    pub piece_slopes: SlopeOptimisation,
    /// What `auto`'s splitting splits on (default [`Branching::Auto`]).
    pub branching: Branching,
    /// Whether `auto`'s splitting in decide mode gives pieces near `eps`
    /// phase programs (docs/method.md §10b; default true).
    pub phase_programs: bool,
    /// Steps choosing the Lagrange multipliers of a piece's phase
    /// constraints after neuron splits (0: none).
    pub phase_multiplier_steps: usize,
    /// With [`InputCoupling::Quantised`]: the steps as written, rounded
    /// inward (the largest doubles at most the decimals), which a witness
    /// pair must keep; the coupling's own steps are the upper ends, which
    /// the bounds cover (a decimal step such as 0.1 has no double). None:
    /// the coupling's steps are exact.
    pub written_steps: Option<Vec<f64>>,
}

/// The share of the time left that optimised slopes may take over the whole
/// set (steps stop at that point with the best bound so far).
pub const SLOPE_TIME_SHARE: f64 = 0.25;

/// Default [`BoundRequest::target_ratio`].
pub const DEFAULT_TARGET_RATIO: f64 = 1.01;

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
            slopes: SlopeOptimisation::STANDARD,
            piece_slopes: SlopeOptimisation::NONE,
            branching: Branching::Auto,
            phase_programs: true,
            phase_multiplier_steps: crate::branch_and_bound::DEFAULT_PHASE_MULTIPLIER_STEPS,
            written_steps: None,
        }
    }

    /// Seconds the whole call may take: the request's limit, else the method's default.
    pub fn total_seconds(&self) -> Option<f64> {
        self.time_limit.or_else(|| self.method.implementation().default_time_limit())
    }

    fn budget(&self) -> Budget {
        Budget::new(self.total_seconds(), self.memory_limit.unwrap_or_else(default_memory_bytes))
    }
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
    if f.output_softmax != g.output_softmax {
        return Err(one_softmax());
    }
    request.method.implementation().check(f, g, request)?;
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

/// Refuses a union of several sets that [`bound_union`] cannot bound member
/// by member: with separate inputs (`--input-quant`, `--independent-inputs`)
/// `x'` may lie in another member than `x`, and bounding each member alone
/// would miss those pairs.
pub fn check_union(sets: &[InputSet], request: &BoundRequest) -> Result<()> {
    if sets.len() > 1 && !matches!(request.coupling, InputCoupling::Same) {
        return Err(crate::error::unsupported(format!(
            "{} over a union of {} boxes: the compressed network's input may lie in another box than the reference's, which bounding box by box misses; bound one box (or the box that holds them all) at a time",
            if matches!(request.coupling, InputCoupling::Independent) { "--independent-inputs" } else { "--input-quant" },
            sets.len()
        )));
    }
    Ok(())
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
    check_union(sets, request)?;
    let total = request.total_seconds();
    let mut combined: Option<BoundReport> = None;
    let mut members = Vec::with_capacity(sets.len());
    let mut stopped_early = false;
    let mut out_of_time = false;
    for (index, set) in sets.iter().enumerate() {
        // the time limit holds for the union: boxes left when it is reached are not bounded
        if index > 0 && total.is_some_and(|t| start.elapsed().as_secs_f64() >= t) {
            out_of_time = true;
            break;
        }
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
    if stopped_early || out_of_time {
        // the boxes not bounded are not covered: no bound over the union
        report.certified_bound = None;
        report.per_output_bound.iter_mut().for_each(|b| *b = None);
        report.solver_bound = None;
        report.per_output_solver_bound.iter_mut().for_each(|b| *b = None);
        report.status = Status::NoCertificate;
        report.ratio = None;
        report.note = Some(if stopped_early {
            format!("stopped after box {} of {}: it holds a counterexample", members.len(), sets.len())
        } else {
            format!("the time limit was reached after box {} of {}: the others are not bounded", members.len(), sets.len())
        });
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
    let (lower_bound, witness, witness_compressed, witness_saturation) = if b.lower_bound > a.lower_bound { (b.lower_bound, b.witness, b.witness_compressed, b.witness_saturation) } else { (a.lower_bound, a.witness, a.witness_compressed, a.witness_saturation) };
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
        witness_saturation,
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
    // interval_bounds reads the box in first-layer coordinates (no transform)
    let bounds = interval_bounds(network, &lower, &upper);
    let last = bounds.layers.last().expect("layers");
    (last.post_lower.clone(), last.post_upper.clone())
}

/// A rigorous lower bound on `||f(x) - g(x')||` (the exact real value is at
/// least this): the smallest gap between the two output enclosures.
pub fn error_lower_bound(f: &Network, g: &Network, x: &[f64], compressed_input: &[f64], norm: Norm) -> f64 {
    norm_of_gaps(&output_gaps(f, g, x, compressed_input), norm)
}

/// Rigorous lower bounds on `|f_j(x) - g_j(x')|`, output by output: the
/// gaps between the two output enclosures. Where a gap is below half the
/// difference of the enclosures' midpoints or half an enclosure's width
/// (an error below the outputs' rounding), or an enclosure is not finite, and
/// both networks can be evaluated exactly
/// ([`crate::network::exact::exact_outputs`], at most
/// [`EXACT_EVALUATION_MAX_WEIGHTS`] weights each), the exact differences,
/// rounded down, are taken where larger.
pub(crate) fn output_gaps(f: &Network, g: &Network, x: &[f64], compressed_input: &[f64]) -> Vec<f64> {
    let (f_lower, f_upper) = output_enclosure(f, x);
    let (g_lower, g_upper) = output_enclosure(g, compressed_input);
    let mut gaps = enclosure_gaps(&f_lower, &f_upper, &g_lower, &g_upper);
    let lost = (0..gaps.len()).any(|j| {
        let bounds = [f_lower[j], f_upper[j], g_lower[j], g_upper[j]];
        let difference = (0.5 * (f_lower[j] + f_upper[j]) - 0.5 * (g_lower[j] + g_upper[j])).abs();
        let width = (f_upper[j] - f_lower[j]).max(g_upper[j] - g_lower[j]);
        !bounds.iter().all(|b| b.is_finite()) || gaps[j] < 0.5 * difference.max(width)
    });
    let affordable = |n: &Network| n.layers.iter().flat_map(|l| &l.terms).map(|t| t.weights.rows * t.weights.cols).sum::<usize>() <= EXACT_EVALUATION_MAX_WEIGHTS;
    if lost && affordable(f) && affordable(g) {
        use crate::network::exact::exact_outputs;
        if let (Some(exact_f), Some(exact_g)) = (exact_outputs(f, x), exact_outputs(g, compressed_input)) {
            for ((gap, yf), yg) in gaps.iter_mut().zip(&exact_f).zip(&exact_g) {
                *gap = gap.max(yf.sub(yg).magnitude_down());
            }
        }
    }
    gaps
}

/// Networks with more weights than this are not evaluated exactly by
/// [`output_gaps`] (an exact pass over 100,000 weights takes milliseconds;
/// the enclosures lose an error only on deep or badly scaled networks).
pub const EXACT_EVALUATION_MAX_WEIGHTS: usize = 200_000;

/// [`output_gaps`] of what [`Network::eval`] gives: the probabilities when
/// both networks end in softmax (the enclosures of the logits mapped
/// through [`crate::network::softmax_enclosure`]), the outputs otherwise.
pub(crate) fn evaluated_gaps(f: &Network, g: &Network, x: &[f64], compressed_input: &[f64]) -> Vec<f64> {
    if !(f.output_softmax && g.output_softmax) {
        return output_gaps(f, g, x, compressed_input);
    }
    let (f_lower, f_upper) = output_enclosure(f, x);
    let (g_lower, g_upper) = output_enclosure(g, compressed_input);
    let (p_lower, p_upper) = crate::network::softmax_enclosure(&f_lower, &f_upper);
    let (q_lower, q_upper) = crate::network::softmax_enclosure(&g_lower, &g_upper);
    enclosure_gaps(&p_lower, &p_upper, &q_lower, &q_upper)
}

/// The smallest gap between the enclosures `[f_lower_j, f_upper_j]` and
/// `[g_lower_j, g_upper_j]` per output, rounded down (0 when they meet).
fn enclosure_gaps(f_lower: &[f64], f_upper: &[f64], g_lower: &[f64], g_upper: &[f64]) -> Vec<f64> {
    (0..f_lower.len())
        .map(|j| {
            let gap = down(f_lower[j] - g_upper[j]).max(down(g_lower[j] - f_upper[j])).max(0.0);
            if gap.is_nan() {
                0.0
            } else {
                gap
            }
        })
        .collect()
}

/// A lower bound on the norm of a vector whose entries are at least `gaps` in magnitude.
pub(crate) fn norm_of_gaps(gaps: &[f64], norm: Norm) -> f64 {
    match norm {
        Norm::Linf => gaps.iter().fold(0.0, |m, g| m.max(*g)),
        Norm::L2 => {
            // scaled by the largest gap, so that squares near 1e200 do not
            // overflow: m sqrt(sum (g / m)^2), every step rounded down
            let largest = gaps.iter().fold(0.0f64, |m, g| m.max(*g));
            if largest == 0.0 || !largest.is_finite() {
                return largest;
            }
            let sum: f64 = gaps.iter().map(|g| {
                let scaled = down(g / largest).max(0.0);
                down(scaled * scaled)
            }).sum();
            let root = down(down(sum * (1.0 - 2.0 * crate::propagation::rounding_gamma(gaps.len() + 2))).max(0.0).sqrt());
            down(largest * root).max(largest)
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
///
/// The steps every method shares: the checks, the identical-network case,
/// the prepared problem, the interval bound of the difference and one pass of
/// differential propagation (the root every method starts from and is capped
/// by); then the method ([`crate::methods`]); then the report, with the
/// lower bound re-evaluated at the best witness whichever method found it.
///
/// Networks whose output ends in a softmax are bounded on their logits and
/// the bounds mapped to the probabilities (`bound_probabilities`).
pub fn bound_with_progress(reference: &Network, compressed: &Network, request: &BoundRequest, progress: &(dyn Fn(&Progress) + Sync)) -> Result<BoundReport> {
    let mut report = match (reference.output_softmax, compressed.output_softmax) {
        (false, false) => bound_outputs(reference, compressed, request, progress),
        (true, true) => bound_probabilities(reference, compressed, request, progress),
        _ => Err(one_softmax()),
    }?;
    let overflows: Vec<String> = [("the reference network", reference), ("the compressed network", compressed)].iter().filter_map(|(name, network)| float_overflow(network, request).map(|why| format!("{name} {why}"))).collect();
    if !overflows.is_empty() {
        let warning = format!("warning: {}; the bound holds for the networks in exact arithmetic, not for an execution whose values overflow to inf", overflows.join("; "));
        report.note = Some(match report.note.take() {
            Some(note) => format!("{warning}; {note}"),
            None => warning,
        });
    }
    Ok(report)
}

/// The largest finite value of the floating-point format a model read from
/// `dtype` (its [`Network::source_dtype`]) is executed in: float16 65504,
/// float32 (and models whose float parts are float32, such as QDQ ones)
/// 3.4e38; None for float64 and text formats (no narrower execution).
fn execution_float_max(dtype: &str) -> Option<(f64, &'static str)> {
    if dtype.contains("float16") {
        Some((65504.0, "float16"))
    } else if dtype.contains("float32") || dtype.contains("mixed") {
        Some((f32::MAX as f64, "float32"))
    } else {
        None
    }
}

/// Why `network`, executed in its file's float format, may overflow on the
/// request's set, if it may: the set's box itself, or some layer's
/// pre-activations or activations (their linear bounds over the box) pass
/// the format's largest finite value. The certified numbers are about the
/// networks in exact arithmetic (docs/method.md §11); an execution that
/// overflows computes inf or NaN instead. (A partial sum inside a layer can
/// pass it while the layer's values do not; bounding those by `sum_j |w_ij|
/// max |a_j|` warned on a float16 ACAS Xu copy whose sampled values stay
/// below 4e3: not checked.)
fn float_overflow(network: &Network, request: &BoundRequest) -> Option<String> {
    let (largest, format) = execution_float_max(&network.source_dtype)?;
    let widest_input = request.set.lower().iter().chain(request.set.upper()).fold(0.0f64, |m, v| m.max(v.abs()));
    if !(widest_input <= largest) {
        return Some(format!("may overflow {format} at its input: the set reaches {widest_input:.3e}, above {format}'s largest {largest:.4e}"));
    }
    let prepared = crate::problem::prepare(network, network, &request.set, &InputCoupling::Same).ok()?;
    let (net, lower, upper) = (&prepared.reference, prepared.set.lower(), prepared.set.upper());
    // intervals first (a pass over the weights); linear bounds (a
    // back-substitution per layer) only where those may pass the value
    let first_beyond = |bounds: &crate::propagation::NetworkBounds| {
        bounds.layers.iter().enumerate().find_map(|(k, layer)| {
            let worst = [&layer.pre_lower, &layer.pre_upper, &layer.post_lower, &layer.post_upper].iter().flat_map(|v| v.iter()).fold(0.0f64, |m, v| if v.is_nan() { f64::INFINITY } else { m.max(v.abs()) });
            (!(worst <= largest)).then_some((k, worst))
        })
    };
    first_beyond(&interval_bounds(net, lower, upper))?;
    let (k, worst) = first_beyond(&crate::propagation::linear_bounds(net, lower, upper))?;
    Some(format!("may overflow {format} in layer {}: its values can reach {worst:.3e} on this set, above {format}'s largest {largest:.4e}", k + 1))
}

/// The error for a pair where only one network ends in a softmax.
fn one_softmax() -> crate::error::Error {
    crate::error::unsupported("only one network ends in Softmax: probabilities cannot be compared with logits")
}

/// The largest distance between two probability vectors in `norm`: 1 in
/// l-infinity, `sqrt(2)` (rounded up) in l2 (`||p - q||_2^2 <= ||p - q||_1
/// max_i |p_i - q_i| <= 2`).
fn probability_diameter(norm: Norm) -> f64 {
    match norm {
        Norm::Linf => 1.0,
        Norm::L2 => crate::rounding::sqrt_up(2.0),
    }
}

/// `v / 2` rounded up (exact unless `v / 2` is subnormal).
fn half_up(v: f64) -> f64 {
    let h = 0.5 * v;
    if 2.0 * h == v { h } else { h.next_up() }
}

/// A certified bound on the difference of the logits mapped to one on the
/// difference of the probabilities: `min(diameter, bound / 2)` (docs/method.md §13).
fn probability_bound(logit_bound: f64, norm: Norm) -> f64 {
    half_up(logit_bound).min(probability_diameter(norm))
}

/// [`bound_with_progress`] for two networks ending in `softmax`: the logits
/// `z = f(x)` and `z' = g(x')` are bounded by the chosen method, and for any
/// two logit vectors `||softmax(z) - softmax(z')|| <= ||z - z'|| / 2` in
/// both norms (docs/method.md §13: the softmax Jacobian `diag(p) - p p^T`
/// has rows of l1 norm `2 p_i (1 - p_i) <= 1/2` and spectral norm at most
/// `1/2`; the mean value theorem along the segment from `z` to `z'`), and
/// at most the diameter of the probability simplex. The lower bound and the
/// per-output lower bounds are re-evaluated at the witness on rigorous
/// enclosures of the probabilities. A decision threshold `eps` on the
/// probabilities is a threshold `2 eps` on the logits.
fn bound_probabilities(reference: &Network, compressed: &Network, request: &BoundRequest, progress: &(dyn Fn(&Progress) + Sync)) -> Result<BoundReport> {
    let budget = request.budget();
    let (f, g) = (reference.logits(), compressed.logits());
    let norm = request.norm;
    let diameter = probability_diameter(norm);
    let mut logit_request = request.clone();
    // min(diameter, B / 2) <= eps iff B <= 2 eps, or always when eps >= diameter
    logit_request.eps = request.eps.map(|eps| if eps >= diameter { f64::MAX } else { 2.0 * eps });
    let mut report = bound_outputs(&f, &g, &logit_request, progress)?;
    let logit_bound = report.certified_bound;
    report.certified_bound = logit_bound.map(|b| probability_bound(b, norm));
    if norm == Norm::Linf {
        // each probability moves by at most half the largest logit change
        report.per_output_bound = vec![report.certified_bound; f.output_dim()];
    }
    let logit_solver_bound = report.solver_bound;
    report.solver_bound = logit_solver_bound.map(|b| probability_bound(b, norm));
    if !report.per_output_solver_bound.is_empty() {
        // a missing per-output bound leaves every probability without one
        let largest = report.per_output_solver_bound.iter().try_fold(0.0f64, |m, b| b.map(|b| m.max(b)));
        report.per_output_solver_bound = vec![largest.map(|b| probability_bound(b, norm)); f.output_dim()];
    }
    // the error of the probabilities at a witness pair, from rigorous enclosures
    let probability_gaps = |x: &[f64], xg: &[f64]| {
        let gaps = evaluated_gaps(reference, compressed, x, xg);
        (norm_of_gaps(&gaps, norm), gaps)
    };
    let (mut lower, mut per_output_lower) = match &report.witness {
        Some(x) => probability_gaps(x, report.witness_compressed.as_deref().unwrap_or(x)),
        None => (0.0, vec![0.0; f.output_dim()]),
    };
    // the largest logit error is seldom where the probabilities differ most:
    // unless the answer is already "proven", the attack also climbs the
    // probabilities' error (the networks with their softmax), within the time left
    let proven = request.eps.is_some_and(|eps| report.certified_bound.is_some_and(|b| b <= eps));
    if !proven {
        let seconds = budget.remaining().unwrap_or(f64::INFINITY).max(crate::methods::attack_floor_seconds(request.total_seconds()));
        let deadline = (seconds < 1e9).then(|| Instant::now() + crate::limits::duration(seconds));
        let found = crate::attack::attack_until(reference, compressed, &request.set, &request.coupling, norm, &request.attack, &[], deadline);
        if let Some((x, xg)) = found.input.clone().and_then(|x| inside_witness(request, x.clone(), found.compressed_input.clone().unwrap_or(x))) {
            let (value, gaps) = probability_gaps(&x, &xg);
            if value > lower {
                let separate = !matches!(request.coupling, InputCoupling::Same);
                (lower, per_output_lower) = (value, gaps);
                report.witness_saturation = WitnessSaturation::at(&f, &g, &x, &xg);
                report.witness_compressed = separate.then_some(xg);
                report.witness = Some(x);
            }
        }
    }
    report.lower_bound = lower;
    report.per_output_lower = per_output_lower;
    report.ratio = report.certified_bound.filter(|_| lower > 0.0).map(|b| b / lower);
    let mapped = match (logit_bound, logit_solver_bound) {
        (Some(b), _) => format!("certified bound on the logits {}", crate::report::above(b, 6)),
        (None, Some(b)) => format!("solver bound on the logits {}", crate::report::above(b, 6)),
        (None, None) => "no bound on the logits".to_string(),
    };
    let explanation = format!("the outputs are softmax probabilities: bound = min({}, 1/2 x the bound on the logits), {mapped}", if norm == Norm::Linf { "1" } else { "sqrt 2" });
    report.note = Some(match report.note.take() {
        Some(note) => format!("{note}; {explanation}"),
        None => explanation,
    });
    Ok(report)
}

/// [`bound_with_progress`] on the networks' last layers (no softmax).
fn bound_outputs(reference: &Network, compressed: &Network, request: &BoundRequest, progress: &(dyn Fn(&Progress) + Sync)) -> Result<BoundReport> {
    let start = Instant::now();
    check_shapes(reference, compressed, request)?;
    let budget = request.budget();
    // a set without outputs is refused even for one network against itself
    crate::problem::check_normalised_set(reference, &request.set)?;
    if same_function(reference, compressed, &request.coupling) {
        return Ok(identical_report(reference, request, start));
    }
    let prepared = crate::problem::prepare(reference, compressed, &request.set, &request.coupling)?;
    if let Err(reason) = budget.admit("differential propagation", propagation_bytes(&prepared.reference, &prepared.compressed)) {
        return Ok(refused_report(reference, request, start, reason));
    }
    let baseline = interval_difference(&prepared);
    // optimised slopes only for the methods that read them
    let reads_slopes = request.method.implementation().reads(MethodOption::Slopes);
    let (slopes, piece_slopes) = if reads_slopes { (request.slopes, request.piece_slopes) } else { (SlopeOptimisation::NONE, SlopeOptimisation::NONE) };
    let pair = crate::propagation::DifferentialPair::new(&prepared.reference, &prepared.compressed);
    // the pieces' passes are cut at the deadline too: a half bounded past
    // it keeps interval bounds where its pass stopped, and never more than
    // its parent's bound (SplitProblem::bound_piece)
    let piece_slopes = SlopeOptimisation { stop: budget.deadline(), ..piece_slopes };
    let stuck_slopes = SlopeOptimisation { deadline: None, stop: budget.deadline(), ..slopes };
    // a ball or polytope rows mapped through an input normalisation give a
    // larger set (problem.rs): before the search's points count as errors
    // they are mapped to raw units, moved into the user's box, ball and
    // rows, checked to lie in the set as written, and mapped back as the
    // network computes them
    let from_user_set = |z: &[f64]| {
        let mut x = to_raw(reference, z);
        request.set.project(&mut x);
        request.set.project_inside(&mut x);
        request.set.holds(&x).then(|| to_first_layer(reference, &x))
    };
    let mapped_larger = reference.input_transform.is_some() && (request.set.ball_constraint().is_some() || !request.set.polytope().is_empty());
    let admits: Option<&(dyn Fn(&[f64]) -> Option<Vec<f64>> + Sync)> = if mapped_larger { Some(&from_user_set) } else { None };
    let problem = SplitProblem { reference: &prepared.reference, compressed: &prepared.compressed, set: &prepared.set, coupling: &prepared.coupling, norm: request.norm, pair, piece_slopes, stuck_slopes, phase_multiplier_steps: request.phase_multiplier_steps, admits };
    let (set_lower, set_upper) = (prepared.set.lower().to_vec(), prepared.set.upper().to_vec());
    // the root pass stops substituting back at the deadline (the layers left
    // get interval bounds), so a very deep or wide pair still ends on time
    let root_slopes = SlopeOptimisation { stop: budget.deadline(), ..problem.pair.slopes() };
    let (mut root, _) = problem.bound_piece_with_slopes(set_lower.clone(), set_upper.clone(), None, &root_slopes);
    // sound bounds over a set with a point never cross: the rows leave none
    if root.empty {
        return Err(crate::error::invalid_set("the input set is empty: a polytope row leaves no point of the box, or the bounds propagated over the box cut by the rows cross (lower above upper)"));
    }
    let mut pass_cut_short = budget.expired();
    let one_pass = root.value;
    // the SDP builds its own neuron bounds: its size is estimated from one pass
    let one_pass_unstable = root.unstable_neurons;
    // never above the interval bound of the difference
    crate::methods::tighten(&problem, &mut root, &baseline.interval_plus, &baseline.interval_minus);
    // optimised slopes where they can pay: not when one pass already decides
    let mut optimised = None;
    if slopes.enabled() && !request.eps.is_some_and(|eps| root.value <= eps) && root.value > 0.0 {
        let start = Instant::now();
        // at most a share of the time left (auto splits with the rest)
        let deadline = budget.remaining().map(|r| start + crate::limits::duration(SLOPE_TIME_SHARE * r));
        let slopes = SlopeOptimisation { deadline: slopes.deadline.or(deadline), stop: budget.deadline(), ..slopes };
        let (mut tighter, _) = problem.bound_piece_with_slopes(set_lower, set_upper, None, &slopes);
        pass_cut_short |= budget.expired();
        optimised = Some(SlopeEvidence { bound: tighter.value, iterations: slopes.iterations, scope: slopes.scope, unstable_neurons: tighter.unstable_neurons, seconds: start.elapsed().as_secs_f64() });
        // never looser than one pass or the interval bound, output by output;
        // the optimised piece's neuron bounds are what the pieces of a split inherit
        crate::methods::tighten(&problem, &mut tighter, &root.plus, &root.minus);
        root = tighter;
    }
    let separate_inputs = !matches!(request.coupling, InputCoupling::Same);
    let estimated_sdp_dim = prepared.set.dim() * if separate_inputs { 2 } else { 1 } + one_pass_unstable + 1;
    let propagate = PropagateEvidence { one_pass_bound: one_pass, optimised_slopes: optimised, interval_bound: problem.norm_bound(&baseline.interval_plus, &baseline.interval_minus), unstable_neurons: one_pass_unstable, estimated_sdp_dim };
    let context = MethodContext::new(reference, compressed, &prepared, request, &budget, problem, root, estimated_sdp_dim, progress);
    let mut outcome = request.method.implementation().run(&context)?;
    if pass_cut_short {
        let cut = "the time limit was reached by the end of the propagation passes over the whole set: layers a pass reached after it have interval bounds only (a larger --timeout gives a tighter bound)".to_string();
        outcome.note = Some(match outcome.note.take() {
            Some(note) => format!("{cut}; {note}"),
            None => cut,
        });
    }
    if outcome.uses_attack {
        if request.eps.is_some_and(|eps| outcome.certified <= eps) {
            context.token_attack();
        } else {
            context.attack();
        }
    }
    Ok(report(&context, outcome, propagate, start))
}

/// The report of a method's outcome: the status from what the outcome holds,
/// the lower bound from the best witness (the attack's or the method's own),
/// re-evaluated with outward rounding.
fn report(context: &MethodContext, outcome: MethodOutcome, propagate: PropagateEvidence, start: Instant) -> BoundReport {
    let (reference, compressed, request) = (context.reference, context.compressed, context.request);
    let outputs = reference.output_dim();
    let separate_inputs = !matches!(request.coupling, InputCoupling::Same);
    let (witness, attack_settings) = match context.attack_if_run().filter(|_| outcome.uses_attack) {
        Some((w, s)) => (Some(w), Some(s)),
        None => (None, None),
    };
    // the reported lower bound is rigorous: the exact error at the witness is
    // at least this
    let rigorous = |x: &[f64], xg: Option<&[f64]>| error_lower_bound(reference, compressed, x, xg.unwrap_or(x), request.norm);
    // the attack's witness, moved into the set the user wrote
    let attack_pair = witness.and_then(|w| w.input.clone().map(|x| (x.clone(), w.compressed_input.clone().unwrap_or(x)))).and_then(|(x, xg)| inside_witness(request, x, xg));
    let mut raw_witness = attack_pair.as_ref().map(|p| p.0.clone());
    let mut witness_compressed = attack_pair.filter(|_| separate_inputs).map(|p| p.1);
    let mut lower = raw_witness.as_deref().map_or(0.0, |x| rigorous(x, witness_compressed.as_deref()));
    let mut per_output_lower = witness.map_or_else(|| vec![0.0; outputs], |w| w.per_output.clone());
    if let Some(found) = &outcome.found {
        // the method's per-output errors were seen at its own points, in
        // the coordinates of the set it bounds (rounded outward, and for a
        // ball or rows through a normalisation with room for its rounding
        // and clamp): not
        // points of the set as written, so not reported; its witness is
        // moved into that set and re-evaluated, and gives each output its
        // gap below
        let feasible = (!found.point.is_empty()).then(|| feasible_witness(reference, request, &found.point, &found.compressed_point)).flatten();
        if let Some((x, xg)) = feasible {
            // keep the witness whose error is *provably* larger: a float
            // error can sit on a quantiser's rounding tie, where the
            // enclosure holds both levels and proves less
            let xg = separate_inputs.then_some(xg);
            let value = rigorous(&x, xg.as_deref());
            if value > lower || raw_witness.is_none() {
                (lower, raw_witness, witness_compressed) = (value, Some(x), xg);
            }
        }
    }
    // each output's lower bound is at least its gap at the kept witness (the
    // method's witness carries none of its own, and a MILP stopped by the
    // time limit leaves its outputs at 0)
    if let Some(x) = &raw_witness {
        let gaps = output_gaps(reference, compressed, x, witness_compressed.as_deref().unwrap_or(x));
        per_output_lower.iter_mut().zip(gaps).for_each(|(a, gap)| *a = a.max(gap));
    }
    let witness_saturation = raw_witness.as_ref().map(|x| WitnessSaturation::at(reference, compressed, x, witness_compressed.as_deref().unwrap_or(x))).unwrap_or_default();
    // a solver bound below an error evaluated with outward rounding is wrong
    // (the solver's numerics failed): it is dropped, with a note
    let mut outcome = outcome;
    if let Some(solver) = &outcome.solver_bound {
        let refuted = (0..outputs).find(|&j| solver.per_output.get(j).copied().flatten().is_some_and(|u| u < per_output_lower[j]));
        if refuted.is_some() || solver.bound < lower {
            let which = refuted.map_or_else(|| "the norm".to_string(), |j| format!("output {j}"));
            let dropped = format!("the solver bound was dropped: on {which} it lies below an error evaluated with outward rounding");
            outcome.note = Some(outcome.note.map_or(dropped.clone(), |before| format!("{before}; {dropped}")));
            outcome.solver_bound = None;
        }
    }
    let finite = outcome.certified.is_finite();
    let certified_bound = finite.then_some(outcome.certified);
    let status = if outcome.solver_bound.is_some() {
        Status::SolverBound
    } else if finite {
        Status::Certified
    } else {
        Status::NoCertificate
    };
    let note = if finite || outcome.solver_bound.is_some() { outcome.note } else { Some(outcome.note.unwrap_or_else(|| "no finite bound (non-finite intermediate values)".into())) };
    let details = Evidence {
        propagate: Some(propagate),
        methods: outcome.evidence,
        lower_bound_search: witness.zip(attack_settings).map(|(w, s)| AttackEvidence { evaluations: w.evaluations, settings: s.clone() }),
        coupling: Some(coupling_name(&request.coupling)),
        ..Evidence::default()
    };
    BoundReport {
        status,
        norm: request.norm,
        certified_bound,
        per_output_bound: if request.norm == Norm::Linf { outcome.per_output.iter().map(|b| b.is_finite().then_some(*b)).collect() } else { Vec::new() },
        solver_bound: outcome.solver_bound.as_ref().map(|s| s.bound),
        per_output_solver_bound: outcome.solver_bound.map(|s| s.per_output).unwrap_or_default(),
        lower_bound: lower,
        witness: raw_witness,
        witness_compressed,
        witness_saturation,
        per_output_lower,
        ratio: certified_bound.filter(|_| lower > 0.0).map(|b| b / lower),
        method: request.method,
        seconds: start.elapsed().as_secs_f64(),
        note,
        details,
    }
}

/// `f` and `g` compute the same function on the same input: the error is 0.
pub(crate) fn same_function(f: &Network, g: &Network, coupling: &InputCoupling) -> bool {
    *coupling == InputCoupling::Same && f.input_dim == g.input_dim && f.input_transform == g.input_transform && f.layers == g.layers
}

fn identical_report(reference: &Network, request: &BoundRequest, start: Instant) -> BoundReport {
    let outputs = reference.output_dim();
    let mut witness = request.set.lower().to_vec();
    request.set.project_inside(&mut witness);
    BoundReport {
        status: Status::Certified,
        norm: request.norm,
        certified_bound: Some(0.0),
        per_output_bound: if request.norm == Norm::Linf { vec![Some(0.0); outputs] } else { Vec::new() },
        solver_bound: None,
        per_output_solver_bound: Vec::new(),
        lower_bound: 0.0,
        witness: request.set.holds(&witness).then_some(witness),
        witness_compressed: None,
        witness_saturation: WitnessSaturation::default(),
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
        witness_saturation: WitnessSaturation::default(),
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

/// A witness pair found in first-layer coordinates, back in raw units and
/// inside the set ([`inside_witness`]): mapping back through the `.nnet`
/// normalisation rounds.
fn feasible_witness(reference: &Network, request: &BoundRequest, point: &[f64], compressed_point: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    inside_witness(request, to_raw(reference, point), to_raw(reference, compressed_point))
}

/// A witness pair in raw units moved into the set the user wrote (its box
/// and ball, [`InputSet::project_inside`]), `x'` kept within the
/// quantisation step of `x`, then checked rigorously ([`InputSet::holds`],
/// the step with outward rounding). None when a point still fails (a
/// polytope cuts it off, or the written set holds no double there).
pub(crate) fn inside_witness(request: &BoundRequest, x: Vec<f64>, xg: Vec<f64>) -> Option<(Vec<f64>, Vec<f64>)> {
    // a pair keeps the steps as written
    inside_pair(&request.set, &request.coupling.as_written(request.written_steps.as_deref()), x, xg)
}

/// [`inside_witness`] for the set and the coupling as written (the steps
/// rounded inward).
pub(crate) fn inside_pair(set: &InputSet, written_coupling: &InputCoupling, mut x: Vec<f64>, mut xg: Vec<f64>) -> Option<(Vec<f64>, Vec<f64>)> {
    set.project(&mut x);
    set.project_inside(&mut x);
    set.project(&mut xg);
    set.project_inside(&mut xg);
    match written_coupling {
        InputCoupling::Same => xg = x.clone(),
        InputCoupling::Quantised(steps) => {
            for k in 0..xg.len() {
                // |x' - x| <= step, rounded inward
                let (lo, hi) = (crate::rounding::add_up_tight(x[k], -steps[k]), crate::rounding::add_down_tight(x[k], steps[k]));
                // no double may lie there (a point box whose decimal has
                // none): the pair then fails the check below
                let (lo, hi) = (lo.max(set.written_lower()[k]), hi.min(set.written_upper()[k]));
                if lo <= hi {
                    xg[k] = xg[k].clamp(lo, hi);
                }
            }
        }
        InputCoupling::Independent => {}
    }
    let within_step = match written_coupling {
        InputCoupling::Quantised(steps) => x.iter().zip(&xg).zip(steps).all(|((a, b), s)| crate::rounding::add_up_tight(*a, -*b).max(-crate::rounding::add_down_tight(*a, -*b)) <= *s),
        _ => true,
    };
    (within_step && set.holds(&x) && set.holds(&xg)).then_some((x, xg))
}

/// Maps a point in first-layer coordinates back to raw units (inverse of
/// the `.nnet` normalisation; identity without one).
pub(crate) fn to_raw(network: &Network, point: &[f64]) -> Vec<f64> {
    match &network.input_transform {
        Some(t) => point.iter().enumerate().map(|(i, z)| (t.mean[i] + t.range[i] * z).clamp(t.min[i].max(f64::MIN), t.max[i].min(f64::MAX))).collect(),
        None => point.to_vec(),
    }
}

/// A raw-unit point as `network`'s first layer sees it (its input
/// normalisation applied as the network computes it); the empty point stays
/// empty.
pub(crate) fn to_first_layer(network: &Network, point: &[f64]) -> Vec<f64> {
    match &network.input_transform {
        Some(t) if !point.is_empty() => t.apply(point),
        _ => point.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The L2 lower bound of gaps is at most their exact norm (here exactly
    /// 5 times a power of ten's scale) and close to it, also where the
    /// squares overflow (gaps near 1e200 gave 0 before: NaN from `inf - inf`).
    #[test]
    fn the_l2_norm_of_gaps_is_a_close_lower_bound_at_every_scale() {
        for scale in [1e-300, 1e-10, 1.0, 1e10, 1e200, 1e300] {
            let lower = norm_of_gaps(&[3.0 * scale, 4.0 * scale, 0.0], Norm::L2);
            // 3^2 + 4^2 = 5^2: the exact norm is 5 scale (up to the rounding of 3 scale and 4 scale)
            let exact = 5.0 * scale;
            // (near the underflow threshold the rounding's absolute term, 2.2e-308, dominates)
            let slack = if scale < 1e-290 { 1e-7 } else { 1e-13 };
            assert!(lower <= exact * (1.0 + 1e-15) && lower >= exact * (1.0 - slack), "scale {scale}: {lower}");
        }
        assert_eq!(norm_of_gaps(&[0.0, 0.0], Norm::L2), 0.0);
        assert_eq!(norm_of_gaps(&[f64::MAX, f64::MAX], Norm::L2), f64::MAX);
    }
}
