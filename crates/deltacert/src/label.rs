//! Label properties of a classifier pair: can the label change anywhere in
//! the set?
//!
//! - **top-1 agreement**: `argmax f(x) = argmax g(x)` for every `x` in `X`
//!   (ties go to the first index, as ONNX `ArgMax`);
//! - **with a confidence `D` in `[0.5, 1)`**: the same, only where `f` is
//!   confident, `softmax(f(x))_{argmax f(x)} >= D`;
//! - **with a quantised or independent input** ([`LabelRequest::coupling`]):
//!   `argmax f(x) = argmax g(x')` for every `x` of `X` and every `x'` of `X`
//!   the coupling allows (within the steps of `x`, or anywhere in `X`).
//!
//! The answer is proven, a counterexample, or unknown (with the fraction of
//! the set's box that was proven). The proof splits the box into pieces and
//! bounds label margins on each (docs/method.md §12):
//!
//! - the margins `m^f_{cj} = f_c - f_j` are the outputs of `f` followed by the
//!   exact linear layer `C` with rows `e_c - e_j`; linear propagation through
//!   that extended network gives `lower(m^f_{cj})`, and differential
//!   propagation through the extended pair bounds `m^f_{cj} - m^g_{cj} =
//!   (C Delta y)_{cj}` directly, so `lower(m^g_{cj}) >= lower(m^f_{cj}) -
//!   upper((C Delta y)_{cj})`; linear propagation through `g` extended gives a
//!   second lower bound and the larger is used;
//! - a piece is proven for top-1 agreement when for one label `c` every
//!   `lower(m^f_{cj}) > 0` and every `lower(m^g_{cj}) > 0`: both networks
//!   pick `c` strictly everywhere on it;
//! - with a confidence `D`, for every label `c` either `softmax(f)_c < D` on
//!   the whole piece, from `softmax(f)_c <= 1 / (1 + sum_j exp(-upper(m^f_{cj})))`,
//!   or `lower(m^g_{cj}) > 0` for every `j`. (Where `softmax(f)_c >= D >=
//!   1/2`, `c` is `f`'s label: a tie at 1/2 with `j` would make `j` a label
//!   with `softmax(f)_j >= D` too, whose own condition `m^g_{jc} > 0`
//!   contradicts `m^g_{cj} > 0`; so a proven piece has no such tie.)
//!
//! A counterexample is an input where enclosures of both networks' outputs,
//! computed in interval arithmetic with outward rounding, prove the two
//! labels differ (and, with `D`, prove `softmax(f)_c >= D`): a theorem, not a
//! float comparison.
//!
//! A network whose output ends in a softmax ([`Network::output_softmax`]) is
//! decided on its logits, exactly: `softmax` is strictly increasing in each
//! coordinate's margin (`softmax(y)_c > softmax(y)_j` iff `y_c > y_j`), so
//! the argmax, its ties and their first-index rule are the logits' own, and
//! the confidence `softmax(f)_c` is computed from the logits anyway.

use crate::bound::{output_enclosure, WitnessSaturation};
use crate::branch_and_bound::{Branching, Piece, SplitProblem};
use crate::error::{invalid_option, shape, Result};
use crate::input_set::InputSet;
use crate::limits::{default_memory_bytes, Budget};
use crate::network::{Layer, Matrix, Network};
use crate::problem::{InputCoupling, Norm};
use crate::rounding::{add_down, add_up, div_down, div_up, exp_enclosure, sub_down};
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::Instant;

/// What to decide.
#[derive(Debug, Clone)]
pub struct LabelRequest {
    /// The input set in raw units.
    pub set: InputSet,
    /// `Some(D)`: only where `f`'s softmax probability of its label is at least `D`.
    pub confidence: Option<f64>,
    /// Seconds for the whole call (None: [`DEFAULT_LABEL_SECONDS`]).
    pub time_limit: Option<f64>,
    /// Memory budget in bytes (None: the library default).
    pub memory_limit: Option<u64>,
    /// Random samples of the counterexample search.
    pub samples: usize,
    /// Seed of the counterexample search.
    pub seed: u64,
    /// How `g` sees the input: the same `x`, a quantised `x'` with
    /// `|x'_k - x_k| <= step_k` (raw units), or any `x'` of the set.
    pub coupling: InputCoupling,
    /// The quantisation steps as written, rounded inward (a counterexample
    /// pair keeps them); None: the steps of `coupling`.
    pub written_steps: Option<Vec<f64>>,
}

/// Default number of random samples of the counterexample search.
pub const DEFAULT_LABEL_SAMPLES: usize = 1000;

/// Default time budget of a label decision.
pub const DEFAULT_LABEL_SECONDS: f64 = 10.0;

impl LabelRequest {
    /// Top-1 agreement over `set` with default settings.
    pub fn top1(set: InputSet) -> Self {
        LabelRequest { set, confidence: None, time_limit: None, memory_limit: None, samples: DEFAULT_LABEL_SAMPLES, seed: 0, coupling: InputCoupling::Same, written_steps: None }
    }
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelAnswer {
    /// The labels agree on the whole set (within the confidence condition).
    Proven,
    /// An input where they differ was found and re-checked.
    Counterexample,
    /// Neither within the budget.
    Unknown,
}

/// An input where the labels differ, re-checked in interval arithmetic.
#[derive(Debug, Clone, Serialize)]
pub struct LabelCounterexample {
    /// The input `x` of `f` (raw units), inside the set.
    pub input: Vec<f64>,
    /// The input `x'` of `g` with a quantised or independent input (within
    /// the steps of `x`, inside the set); None when `g` sees `x`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compressed_input: Option<Vec<f64>>,
    /// `argmax f(x)`.
    pub reference_label: usize,
    /// `argmax g(x')`.
    pub compressed_label: usize,
    /// `f(x)` (floating-point evaluation).
    pub reference_outputs: Vec<f64>,
    /// `g(x')` (floating-point evaluation).
    pub compressed_outputs: Vec<f64>,
    /// A certified lower bound on `softmax(f(x))` at `f`'s label.
    pub reference_confidence_lower: f64,
    /// Quantiser layers clamping at the input (a quantised output held at
    /// its cap can be why the labels differ).
    #[serde(skip_serializing_if = "WitnessSaturation::is_empty")]
    pub saturation: WitnessSaturation,
}

/// Why the proof search stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelStop {
    /// Every piece was proven.
    Proven,
    /// A counterexample was found.
    Counterexample,
    /// The time budget ran out.
    TimeLimit,
    /// The piece queue reached the memory budget.
    MemoryLimit,
    /// Pieces too narrow to split remain unproven.
    Exhausted,
}

/// The report of a label decision.
#[derive(Debug, Clone, Serialize)]
pub struct LabelReport {
    /// Proven, counterexample or unknown.
    pub answer: LabelAnswer,
    /// `D`, when given.
    pub confidence: Option<f64>,
    /// Fraction of the set's bounding box covered by proven pieces.
    pub proven_fraction: f64,
    /// The re-checked counterexample.
    pub counterexample: Option<LabelCounterexample>,
    /// Pieces bounded.
    pub pieces_bounded: usize,
    /// Pieces left open.
    pub pieces_open: usize,
    /// Deepest split.
    pub max_depth: usize,
    /// Linear programs solved by the branch and bound on neuron phases
    /// (top-1 on many inputs, where the set's box is left open).
    pub phase_programs: usize,
    /// Inputs evaluated by the counterexample search.
    pub evaluations: usize,
    /// Why the search stopped.
    pub stop: LabelStop,
    /// Wall time.
    pub seconds: f64,
    /// Remarks (why the answer is unknown).
    pub note: Option<String>,
}

/// `argmax` with ties to the first index (ONNX `ArgMax`); NaN never wins.
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (j, v) in values.iter().enumerate() {
        if *v > values[best] || values[best].is_nan() {
            best = j;
        }
    }
    best
}

/// The label proven by output enclosures `[lower_j, upper_j]`: the `c` with
/// `lower_c > upper_j` for every other `j` (None when no label is proven).
pub fn certified_label(lower: &[f64], upper: &[f64]) -> Option<usize> {
    let c = argmax(lower);
    (0..lower.len()).all(|j| j == c || lower[c] > upper[j]).then_some(c)
}

/// A lower bound on `softmax(y)_c` from lower bounds `margin_lower[j] <= y_c - y_j`
/// (the entry `j = c` is ignored): `1 / (1 + sum_j exp(-margin_lower[j]))`,
/// rounded down.
pub fn softmax_lower(c: usize, margin_lower: &[f64]) -> f64 {
    let mut sum = 0.0;
    for (j, m) in margin_lower.iter().enumerate() {
        if j != c {
            sum = add_up(sum, exp_enclosure(-m).1);
        }
    }
    let p = div_down(1.0, add_up(1.0, sum));
    if p.is_nan() { 0.0 } else { p.max(0.0) }
}

/// An upper bound on `softmax(y)_c` from upper bounds `margin_upper[j] >= y_c - y_j`:
/// `1 / (1 + sum_j exp(-margin_upper[j]))`, rounded up.
pub fn softmax_upper(c: usize, margin_upper: &[f64]) -> f64 {
    let mut sum = 0.0;
    for (j, m) in margin_upper.iter().enumerate() {
        if j != c {
            sum = add_down(sum, exp_enclosure(-m).0.max(0.0));
        }
    }
    let p = div_up(1.0, add_down(1.0, sum));
    if p.is_nan() { 1.0 } else { p.min(1.0) }
}

/// `network` followed by the exact linear layer whose rows are `e_c - e_j`
/// for every ordered pair `(c, j)`, `c != j` in `labels x all`: its outputs
/// are the label margins. Row `(c, j)` is at `row_of(c_index, j)`.
fn with_margins(network: &Network, labels: &[usize]) -> Network {
    let n = network.output_dim();
    let mut weights = Matrix::zeros(labels.len() * n, n);
    for (index, &c) in labels.iter().enumerate() {
        for j in 0..n {
            if j != c {
                *weights.get_mut(index * n + j, c) = 1.0;
                *weights.get_mut(index * n + j, j) = -1.0;
            }
        }
    }
    let mut extended = network.clone();
    let last = extended.layers.len();
    extended.layers.push(Layer::dense(last, weights, vec![0.0; labels.len() * n], crate::activation::Activation::Identity));
    extended.kept_neurons = extended.kept_neurons.map(|mut kept| {
        kept.push((0..n).collect());
        kept
    });
    extended
}

/// Rigorous facts at one raw input `x` of `f` and `xg` of `g`: both
/// certified labels and `f`'s certified confidence, once the pair is moved
/// into the set as written and checked against the coupling as written
/// ([`crate::bound::inside_pair`]; with [`InputCoupling::Same`], `xg` is `x`).
fn check_point(f: &Network, g: &Network, set: &InputSet, written_coupling: &InputCoupling, x: &[f64], xg: &[f64], confidence: Option<f64>) -> Option<LabelCounterexample> {
    // a counterexample is a pair of inputs of the set the user wrote
    let (x, xg) = crate::bound::inside_pair(set, written_coupling, x.to_vec(), xg.to_vec())?;
    let (x, xg) = (&x[..], &xg[..]);
    let (f_lower, f_upper) = output_enclosure(f, x);
    let (g_lower, g_upper) = output_enclosure(g, xg);
    let c = certified_label(&f_lower, &f_upper)?;
    let d = certified_label(&g_lower, &g_upper)?;
    if c == d {
        return None;
    }
    let margins: Vec<f64> = (0..f_lower.len()).map(|j| sub_down(f_lower[c], f_upper[j])).collect();
    let p = softmax_lower(c, &margins);
    if confidence.is_some_and(|threshold| p < threshold) {
        return None;
    }
    let compressed_input = (!matches!(written_coupling, InputCoupling::Same)).then(|| xg.to_vec());
    Some(LabelCounterexample { input: x.to_vec(), compressed_input, reference_label: c, compressed_label: d, reference_outputs: f.eval(x), compressed_outputs: g.eval(xg), reference_confidence_lower: p, saturation: WitnessSaturation::at(f, g, x, xg) })
}

/// Samples drawn and evaluated together by [`search_counterexample`].
const SAMPLE_BATCH: usize = 4096;

/// Sampling and sign-gradient steps on `g`'s margin against `f`'s label,
/// in raw units; every candidate is re-checked by [`check_point`].
fn search_counterexample(f: &Network, g: &Network, request: &LabelRequest, deadline: Instant) -> (Option<LabelCounterexample>, usize) {
    let set = &request.set;
    let written = request.coupling.as_written(request.written_steps.as_deref());
    let check_point = |f: &Network, g: &Network, set: &InputSet, x: &[f64], confidence: Option<f64>| check_point(f, g, set, &written, x, x, confidence);
    let n = set.dim();
    let mut rng = rand::rngs::StdRng::seed_from_u64(request.seed ^ 0x70B1);
    let mut centre: Vec<f64> = set.lower().iter().zip(set.upper()).map(|(l, u)| 0.5 * (l + u)).collect();
    set.project(&mut centre);
    // sampling in batches until the samples or half of the time are used
    // (memory stays one batch, the clock is read between batches); the rest
    // of the time goes to the gradient steps below
    let now = Instant::now();
    let sampling_deadline = now + deadline.saturating_duration_since(now) / 2;
    let (mut pending, mut left, mut evaluations) = (vec![centre], request.samples, 0usize);
    // the 8 points where g came closest to leaving f's label; the first
    // point (the centre) and up to two points of the set per label of f, for
    // the search between f's labels below
    let mut best: Vec<(f64, usize, Vec<f64>)> = Vec::new();
    // with a coupling and a confidence: the 8 such points where f is also
    // confident (near f's boundary it is not; a quantised x' can still
    // cross it from a confident x)
    let mut best_confident: Vec<(f64, usize, Vec<f64>)> = Vec::new();
    let confident_starts = !matches!(request.coupling, InputCoupling::Same) && request.confidence.is_some();
    let mut first: Option<(f64, usize, Vec<f64>)> = None;
    let mut by_label: Vec<Vec<Vec<f64>>> = vec![Vec::new(); f.output_dim()];
    loop {
        while pending.len() < SAMPLE_BATCH && left > 0 {
            pending.push(set.sample(&mut rng));
            left -= 1;
        }
        if pending.is_empty() {
            break;
        }
        // score: how close g is to leaving f's label (larger is closer)
        // (the clock is read per point too: one evaluation of a wide pair
        // takes tens of milliseconds)
        let centre_batch = first.is_none();
        // (and, for the confident starts, whether f's softmax probability of
        // its label reaches the confidence, in floating point)
        let (scored, confident): (Vec<(f64, usize, Vec<f64>)>, Vec<bool>) = std::mem::take(&mut pending)
            .into_par_iter()
            .enumerate()
            // the centre (the first point) is always evaluated
            .filter(|(i, _)| (centre_batch && *i == 0) || Instant::now() < sampling_deadline)
            .map(|(_, x)| {
                let (yf, yg) = (f.eval(&x), g.eval(&x));
                let c = argmax(&yf);
                let gap = (0..yg.len()).filter(|&j| j != c).map(|j| yg[j] - yg[c]).fold(f64::NEG_INFINITY, f64::max);
                let confident = confident_starts && request.confidence.is_some_and(|threshold| 1.0 / yf.iter().map(|v| (v - yf[c]).exp()).sum::<f64>() >= threshold);
                ((gap, c, x), confident)
            })
            .unzip();
        if scored.is_empty() {
            break;
        }
        evaluations += scored.len();
        // only points inside the set count (sampling and projection respect the box and ball, not a polytope)
        if let Some(found) = scored.iter().filter(|s| s.0 >= 0.0 && set.contains(&s.2, 0.0)).find_map(|(_, _, x)| check_point(f, g, set, x, request.confidence)) {
            return (Some(found), evaluations);
        }
        if first.is_none() {
            first = scored.first().cloned();
        }
        for (_, label, x) in &scored {
            if by_label[*label].len() < 2 && set.contains(x, 0.0) {
                by_label[*label].push(x.clone());
            }
        }
        if confident_starts {
            best_confident.extend(scored.iter().zip(&confident).filter(|(s, confident)| **confident && s.0.is_finite()).map(|(s, _)| s.clone()));
            best_confident.sort_by(|a, b| b.0.total_cmp(&a.0));
            best_confident.truncate(8);
        }
        best.extend(scored.into_iter().filter(|s| s.0.is_finite()));
        best.sort_by(|a, b| b.0.total_cmp(&a.0));
        best.truncate(8);
        if Instant::now() >= sampling_deadline {
            break;
        }
    }
    let width: Vec<f64> = set.lower().iter().zip(set.upper()).map(|(l, u)| u - l).collect();
    let starts: Vec<(usize, Vec<f64>)> = best.iter().chain(&best_confident).map(|(_, c, x)| (*c, x.clone())).collect();
    // half of what is left goes to gradient steps on g, the rest to f's label boundary
    let now = Instant::now();
    let gradient_deadline = now + deadline.saturating_duration_since(now) / 2;
    // with the same input both networks move; otherwise f's input stays
    // (f's label there is c) and g's moves within what the coupling allows
    let same_input = matches!(request.coupling, InputCoupling::Same);
    let move_width: Vec<f64> = match &request.coupling {
        InputCoupling::Quantised(steps) => width.iter().zip(steps).map(|(w, s)| w.min(2.0 * s)).collect(),
        _ => width.clone(),
    };
    let results: Vec<(Option<LabelCounterexample>, usize)> = starts
        .into_par_iter()
        .map(|(c, x)| {
            let mut xg = x.clone();
            let mut steps = 0;
            let outputs = f.output_dim();
            for step in 0..50 {
                if Instant::now() >= gradient_deadline {
                    break;
                }
                steps += 1;
                let yg = g.eval(&xg);
                let j = (0..outputs).filter(|&j| j != c).max_by(|&a, &b| yg[a].total_cmp(&yg[b])).unwrap_or(c);
                // ascend g_j - g_c
                let mut weights_g = vec![0.0; outputs];
                weights_g[j] += 1.0;
                weights_g[c] -= 1.0;
                let gradient = g.gradient(&xg, &weights_g);
                let size = 0.25 * 0.8f64.powi(step / 10);
                for i in 0..n {
                    xg[i] += size * move_width[i] * gradient[i].signum() * (gradient[i] != 0.0) as u8 as f64;
                }
                set.project(&mut xg);
                if let InputCoupling::Quantised(steps) = &request.coupling {
                    for i in 0..n {
                        xg[i] = xg[i].clamp(x[i] - steps[i], x[i] + steps[i]);
                    }
                }
                if !set.contains(&xg, 0.0) {
                    continue;
                }
                let found = if same_input { check_point(f, g, set, &xg, request.confidence) } else { self::check_point(f, g, set, &written, &x, &xg, request.confidence) };
                if found.is_some() {
                    return (found, steps);
                }
            }
            (None, steps)
        })
        .collect();
    let steps: usize = results.iter().map(|r| r.1).sum();
    if let Some(found) = results.into_iter().find_map(|r| r.0) {
        return (Some(found), evaluations + steps);
    }
    // f itself changes label in the set: look between its two labels
    let mut used = evaluations + steps;
    // the segment starts inside the set: the centre (projected into the box,
    // which a polytope may still exclude), else the best point inside
    let Some(centre) = first.iter().chain(&best).find(|s| set.contains(&s.2, 0.0)) else {
        return (None, used);
    };
    // up to two ends per other label of f (each label pair has its own boundary)
    let mut ends: Vec<Vec<f64>> = by_label.iter().enumerate().filter(|(label, _)| *label != centre.1).flat_map(|(_, points)| points.iter().cloned()).collect();
    if ends.is_empty() && Instant::now() < deadline {
        let (end, spent) = cross_reference_boundary(f, &centre.2, centre.1, set, deadline);
        used += spent;
        ends.extend(end);
    }
    for end in ends {
        if Instant::now() >= deadline {
            break;
        }
        let (found, spent) = between_boundaries(f, g, set, &written, &centre.2, &end, request.confidence);
        used += spent;
        if found.is_some() {
            return (found, used);
        }
    }
    (None, used)
}

/// Sign-gradient steps from `start` (where `f`'s label is `c`) on `f`'s
/// largest other logit minus `f_c`, until `f`'s label changes inside the
/// set: the point reached, or None (and the evaluations spent).
fn cross_reference_boundary(f: &Network, start: &[f64], c: usize, set: &InputSet, deadline: Instant) -> (Option<Vec<f64>>, usize) {
    let width: Vec<f64> = set.lower().iter().zip(set.upper()).map(|(l, u)| u - l).collect();
    let mut x = start.to_vec();
    for step in 0..60 {
        if Instant::now() >= deadline {
            return (None, step);
        }
        let y = f.eval(&x);
        if argmax(&y) != c && set.contains(&x, 0.0) {
            return (Some(x), step);
        }
        let j = (0..y.len()).filter(|&j| j != c).max_by(|&a, &b| y[a].total_cmp(&y[b])).unwrap_or(c);
        let mut weights = vec![0.0; y.len()];
        weights[j] += 1.0;
        weights[c] -= 1.0;
        let gradient = f.gradient(&x, &weights);
        let size = 0.25 * 0.85f64.powi(step as i32 / 10);
        for i in 0..x.len() {
            x[i] += size * width[i] * gradient[i].signum() * (gradient[i] != 0.0) as u8 as f64;
        }
        set.project(&mut x);
    }
    (None, 60)
}

/// Where `f`'s label changes between `a` and `b` (points of the convex set
/// with different labels of `f`), `g`'s generally changes nearby but not at
/// the same point: bisection finds the first change of each network's label
/// along the segment, and between the two changes the labels differ. Points
/// between them that lie in `set` are re-checked by [`check_point`] (a
/// theorem, not a float comparison), so only a separation wide enough for
/// certified labels counts. Returns the counterexample (if any) and the
/// evaluations spent.
fn between_boundaries(f: &Network, g: &Network, set: &InputSet, written_coupling: &InputCoupling, a: &[f64], b: &[f64], confidence: Option<f64>) -> (Option<LabelCounterexample>, usize) {
    let point = |t: f64| -> Vec<f64> { a.iter().zip(b).map(|(p, q)| p + t * (q - p)).collect() };
    let c = argmax(&f.eval(a));
    let mut evaluations = 1;
    // the first change of `network`'s label from c along [0, 1] (bisection to 2^-50)
    let mut first_change = |network: &Network| -> Option<f64> {
        if argmax(&network.eval(&point(0.0))) != c {
            return Some(0.0);
        }
        if argmax(&network.eval(&point(1.0))) == c {
            return None;
        }
        let (mut same, mut changed) = (0.0, 1.0);
        for _ in 0..50 {
            let middle = 0.5 * (same + changed);
            evaluations += 1;
            if argmax(&network.eval(&point(middle))) == c { same = middle } else { changed = middle }
        }
        Some(changed)
    };
    let (Some(t_f), t_g) = (first_change(f), first_change(g)) else { return (None, evaluations) };
    let t_g = t_g.unwrap_or(1.0);
    let (low, high) = (t_f.min(t_g), t_f.max(t_g));
    for fraction in [0.5, 0.25, 0.75, 0.1, 0.9] {
        let x = point(low + fraction * (high - low));
        // the segment lies in the convex set, but its rounded points may not
        if !set.contains(&x, 0.0) {
            continue;
        }
        if let Some(found) = check_point(f, g, set, written_coupling, &x, &x, confidence) {
            return (Some(found), evaluations);
        }
    }
    (None, evaluations)
}

/// Decides top-1 agreement (with an optional confidence) of `reference` and
/// `compressed` over the request's set.
pub fn decide_labels(reference: &Network, compressed: &Network, request: &LabelRequest) -> Result<LabelReport> {
    let start = Instant::now();
    // the argmax of the probabilities is the argmax of the logits (module doc)
    let (reference, compressed) = (&reference.logits(), &compressed.logits());
    if reference.input_dim != compressed.input_dim || reference.output_dim() != compressed.output_dim() {
        return Err(shape(format!("the networks do not fit together: {} -> {} versus {} -> {}", reference.input_dim, reference.output_dim(), compressed.input_dim, compressed.output_dim())));
    }
    if request.set.dim() != reference.input_dim {
        return Err(shape(format!("the input set has {} coordinates but the networks take {}", request.set.dim(), reference.input_dim)));
    }
    if let Some(d) = request.confidence {
        if !(0.5..1.0).contains(&d) {
            return Err(invalid_option(format!("--confidence {d}: must be in [0.5, 1)")));
        }
    }
    if let Some(t) = request.time_limit {
        if !(t > 0.0) || !t.is_finite() {
            return Err(invalid_option(format!("time limit {t}: must be a finite number of seconds > 0")));
        }
    }
    let seconds = request.time_limit.unwrap_or(DEFAULT_LABEL_SECONDS);
    let budget = Budget::new(Some(seconds), request.memory_limit.unwrap_or_else(default_memory_bytes));
    let deadline = start + crate::limits::duration(seconds);
    let outputs = reference.output_dim();
    let mut report = LabelReport { answer: LabelAnswer::Unknown, confidence: request.confidence, proven_fraction: 0.0, counterexample: None, pieces_bounded: 0, pieces_open: 0, max_depth: 0, phase_programs: 0, evaluations: 0, stop: LabelStop::TimeLimit, seconds: 0.0, note: None };
    if let InputCoupling::Quantised(steps) = &request.coupling {
        let written_ok = request.written_steps.as_ref().is_none_or(|w| w.len() == steps.len() && w.iter().zip(steps).all(|(w, s)| *w >= 0.0 && w <= s));
        if steps.len() != reference.input_dim || steps.iter().any(|s| !(*s >= 0.0) || !s.is_finite()) || !written_ok {
            return Err(invalid_option("input quantisation needs one finite step >= 0 per input"));
        }
    }
    // identical networks on the same input agree everywhere; on a quantised
    // or independent input they need not
    let identical = matches!(request.coupling, InputCoupling::Same) && crate::bound::same_function(reference, compressed, &InputCoupling::Same);
    if outputs < 2 || identical {
        // one output: both labels are 0 everywhere; identical layers: the
        // same function, so the same argmax (and tie rule) everywhere
        if identical && outputs >= 2 {
            report.note = Some("the two networks have identical layers: their labels agree everywhere".into());
        }
        report.answer = LabelAnswer::Proven;
        report.proven_fraction = 1.0;
        report.stop = LabelStop::Proven;
        report.seconds = start.elapsed().as_secs_f64();
        return Ok(report);
    }
    let prepared = crate::problem::prepare(reference, compressed, &request.set, &request.coupling)?;
    let labels: Vec<usize> = (0..outputs).collect();
    // top-1: one extended pair per label (the piece's centre picks it);
    // with a confidence: one pair with every label's margins
    let per_label = request.confidence.is_none();
    // built the first time a piece needs them (a wide network's ten copies
    // would otherwise take seconds and gigabytes before the first bound)
    let pairs = if per_label { outputs } else { 1 };
    let extended: Vec<OnceLock<(Network, Network)>> = (0..pairs).map(|_| OnceLock::new()).collect();
    // one pass per piece, cut at the deadline (a wide network's pass would
    // otherwise run past it: the layers not reached keep interval bounds)
    let cut_at_deadline = crate::propagation::SlopeOptimisation { stop: Some(deadline), ..crate::propagation::SlopeOptimisation::NONE };
    let problems: Vec<OnceLock<SplitProblem>> = (0..pairs).map(|_| OnceLock::new()).collect();
    let problem = |index: usize| {
        problems[index].get_or_init(|| {
            let margins: &[usize] = if per_label { &labels[index..=index] } else { &labels };
            let (f, g) = extended[index].get_or_init(|| (with_margins(&prepared.reference, margins), with_margins(&prepared.compressed, margins)));
            SplitProblem { reference: f, compressed: g, set: &prepared.set, coupling: &prepared.coupling, norm: Norm::Linf, pair: crate::propagation::DifferentialPair::new(f, g), piece_slopes: cut_at_deadline, stuck_slopes: cut_at_deadline, phase_multiplier_steps: 0, admits: None }
        })
    };
    // each pair copies both networks twice (with the margins, then aligned);
    // a pair is built only for a label some piece's centre has, so the
    // budget is checked for the pairs in use, before each batch that needs
    // a new one (all 1,000 of a 1,000-class network would be 15 GiB, where
    // deciding one box took 100 MB)
    let weights: f64 = [&prepared.reference, &prepared.compressed].iter().flat_map(|n| n.layers.iter()).map(|l| l.terms.iter().map(|t| (t.weights.rows * t.weights.cols) as f64).sum::<f64>() + l.width() as f64).sum();
    // the margin layer: one row per (label, other output), each of `outputs`
    // entries, for one label (top-1) or all of them (with a confidence);
    // its entries are held by both extended networks, their aligned copies
    // and the back-substitution's matrices, about 12 times (measured: 300
    // classes with a confidence, 27 million entries, 2.18 GB resident)
    let margin_entries = (if per_label { 1 } else { outputs }) as f64 * (outputs * outputs) as f64;
    let pair_bytes = 2.0 * 8.0 * weights + 12.0 * 8.0 * margin_entries;
    let mut pairs_in_use: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
    let mut admit_pairs = |needed: &[usize], report: &mut LabelReport| -> bool {
        let count = pairs_in_use.iter().chain(needed).collect::<std::collections::BTreeSet<_>>().len();
        if count == pairs_in_use.len() {
            return true;
        }
        match budget.admit(&format!("{count} {} of the pair with label margins", if count == 1 { "copy" } else { "copies" }), count as f64 * pair_bytes) {
            Ok(()) => {
                pairs_in_use.extend(needed);
                true
            }
            Err(reason) => {
                report.note = Some(reason);
                false
            }
        }
    };
    let first_label = if per_label { centre_label(&prepared.reference, prepared.set.lower(), prepared.set.upper()) } else { 0 };
    if !admit_pairs(&[first_label], &mut report) {
        report.stop = LabelStop::MemoryLimit;
        report.seconds = start.elapsed().as_secs_f64();
        return Ok(report);
    }
    let root_width: Vec<f64> = prepared.set.lower().iter().zip(prepared.set.upper()).map(|(l, u)| u - l).collect();
    // a piece: its corners, and the bounds of every neuron of both extended networks it keeps for its children
    let margin_rows = if per_label { outputs } else { outputs * outputs };
    let neurons: usize = [&prepared.reference, &prepared.compressed].iter().map(|n| n.layers.iter().map(|l| l.width()).sum::<usize>()).sum::<usize>() + 2 * margin_rows;
    let piece_bytes = 16.0 * prepared.set.dim() as f64 + 64.0 * neurons as f64 + 256.0;
    let max_open = ((budget.memory_bytes() as f64 / 4.0) / piece_bytes).max(16.0) as usize;
    let mut open: VecDeque<(Vec<f64>, Vec<f64>, usize, Option<(usize, Piece)>)> = VecDeque::new();
    open.push_back((prepared.set.lower().to_vec(), prepared.set.upper().to_vec(), 0, None));
    let mut proven = 0.0;
    let mut stop = LabelStop::Proven;
    let mut exhausted = false;
    let batch = rayon::current_num_threads().max(1) * 2;
    // the whole set is bounded first (an easy pair is proven at once); the
    // counterexample search runs only when that bound does not decide
    let mut searched = false;
    // top-1 on many inputs with both networks on one input: the set's box,
    // when its bounds leave it open, goes to the phase programs after the
    // counterexample search (input halvings barely shrink such a box)
    let by_phases = per_label && matches!(request.coupling, InputCoupling::Same) && prepared.set.ball_constraint().is_none() && Branching::Auto.resolved(prepared.set.dim()) == Branching::Neuron;
    let mut root_open: Option<((usize, Piece), Vec<(bool, usize)>)> = None;
    while !open.is_empty() {
        if report.pieces_bounded > 0 && !searched {
            searched = true;
            let search_deadline = Instant::now() + crate::limits::duration(0.2 * seconds).min(deadline.saturating_duration_since(Instant::now()));
            let (found, evaluations) = search_counterexample(reference, compressed, request, search_deadline);
            report.evaluations = evaluations;
            // every search path checks both inputs against the set and the
            // steps as written (`check_point`); x is checked once more here
            if let Some(found) = found.filter(|c| request.set.contains(&c.input, 0.0) && c.compressed_input.as_ref().is_none_or(|xg| request.set.contains(xg, 0.0))) {
                report.answer = LabelAnswer::Counterexample;
                report.counterexample = Some(found);
                report.stop = LabelStop::Counterexample;
                report.seconds = start.elapsed().as_secs_f64();
                return Ok(report);
            }
        }
        if let Some(((index, root), rows)) = root_open.take() {
            // each of the parallel programs holds both networks' weights
            // (rows, columns and HiGHS's copy: about 80 bytes an entry),
            // beside the root's pair; its tree's nodes hold their phases
            // (16 bytes a neuron), within a quarter of the budget
            let threads = rayon::current_num_threads().max(1) as f64;
            let program_bytes = threads * 80.0 * weights + pair_bytes;
            let max_nodes = (budget.memory_bytes() as f64 / 4.0 / threads / (64.0 + 16.0 * root.unstable_neurons as f64)) as usize;
            match budget.admit("the linear programs on neuron phases", program_bytes) {
                Ok(()) => {
                    let (closed, programs) = margins_by_phase_programs(problem(index), &root, &rows, deadline, max_nodes.max(1));
                    report.phase_programs = programs;
                    if closed {
                        open.clear();
                        proven = 1.0;
                        break;
                    }
                }
                Err(reason) => report.note = Some(reason),
            }
        }
        if Instant::now() >= deadline {
            stop = LabelStop::TimeLimit;
            break;
        }
        if open.len() > max_open {
            stop = LabelStop::MemoryLimit;
            break;
        }
        let take = open.len().min(batch);
        // the pairs this batch's pieces use (f's label at each centre)
        let needed: Vec<usize> = if per_label { open.iter().take(take).map(|(lower, upper, _, _)| centre_label(&prepared.reference, lower, upper)).collect() } else { vec![0] };
        if !admit_pairs(&needed, &mut report) {
            stop = LabelStop::MemoryLimit;
            break;
        }
        let work: Vec<_> = open.drain(..take).collect();
        let verdicts: Vec<(Verdict, Vec<f64>, Vec<f64>, usize, Option<(usize, Piece)>)> = work
            .into_par_iter()
            .map(|(lower, upper, depth, parent)| {
                let (verdict, piece) = judge(&problem, &prepared.reference, request, reference, compressed, &lower, &upper, parent.as_ref());
                (verdict, lower, upper, depth, piece)
            })
            .collect();
        report.pieces_bounded += verdicts.len();
        for (verdict, lower, upper, depth, piece) in verdicts {
            report.max_depth = report.max_depth.max(depth);
            match verdict {
                Verdict::Proven => proven += 0.5f64.powi(depth as i32),
                Verdict::Counterexample(found) => {
                    report.answer = LabelAnswer::Counterexample;
                    report.counterexample = Some(*found);
                    report.stop = LabelStop::Counterexample;
                    report.seconds = start.elapsed().as_secs_f64();
                    return Ok(report);
                }
                Verdict::Open(rows) => {
                    if by_phases && depth == 0 && !rows.is_empty() {
                        root_open = piece.clone().map(|p| (p, rows));
                    }
                    let piece_for_split = piece.as_ref().map(|(_, p)| p);
                    match split_dimension(&lower, &upper, &root_width, piece_for_split) {
                        Some(i) => {
                            let middle = 0.5 * (lower[i] + upper[i]);
                            let (mut left_upper, mut right_lower) = (upper.clone(), lower.clone());
                            left_upper[i] = middle;
                            right_lower[i] = middle;
                            open.push_back((lower, left_upper, depth + 1, piece.clone()));
                            open.push_back((right_lower, upper, depth + 1, piece));
                        }
                        None => exhausted = true,
                    }
                }
            }
        }
    }
    report.proven_fraction = proven.min(1.0);
    report.pieces_open = open.len();
    if open.is_empty() && !exhausted {
        report.answer = LabelAnswer::Proven;
        report.proven_fraction = 1.0;
        report.stop = LabelStop::Proven;
    } else {
        report.stop = if open.is_empty() { LabelStop::Exhausted } else { stop };
        // rounded down: an unfinished proof never reads 100.0000%
        let percent = ((100.0 * report.proven_fraction) * 1e4).floor() / 1e4;
        // a refused pair's reason goes with it
        let reason = report.note.take().map(|r| format!(": {r}")).unwrap_or_default();
        // programs that ran without closing the set (a closed one ends the search proven)
        let phases = if report.phase_programs > 0 { format!(" after {} linear programs on neuron phases left a margin unproven", report.phase_programs) } else { String::new() };
        report.note = Some(format!("{percent:.4}% of the set's box proven; {} pieces left open ({:?}{reason}){phases}", report.pieces_open, report.stop));
    }
    // the open pieces (up to a quarter of the memory budget, millions of
    // vectors) are freed on a thread of their own: freeing them here took
    // 0.2 s past a 3 s limit
    // (where the system refuses a thread, `spawn` drops them here instead
    // of panicking)
    let _ = std::thread::Builder::new().name("label-pieces-free".into()).spawn(move || drop(open));
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

enum Verdict {
    Proven,
    Counterexample(Box<LabelCounterexample>),
    /// Not decided; top-1: the margin rows left unproven, `(true, r)` for
    /// `m^f_r`, `(false, r)` for `m^g_r`.
    Open(Vec<(bool, usize)>),
}

/// Whether the certified branch and bound on neuron phases
/// ([`crate::phase_lp`]) proves the top-1 margin `rows` of `piece` positive
/// (rows as in [`Verdict::Open`]; docs/method.md §12), with the number of
/// linear programs it solved. For each row `r`, the
/// linear program over the piece's box with its propagation's facts
/// maximises `-m^f_r`; a checked bound `B < 0` proves `m^f_r >= -B > 0` on
/// the whole box, and `m^g_r >= -B - upper(Delta m_r) > 0` when that is
/// positive; while `g`'s margin is open too, `f`'s search aims at that. A
/// margin of `g` this leaves unproven gets its own program, maximising
/// `-m^g_r`, on the time left (none where `f`'s search ran to the
/// deadline: its target is out of reach only where `f`'s margin lies
/// within `upper(Delta m_r)` of 0, and `g`'s there too). The rows run in
/// parallel, the easiest first, until `deadline`, each tree with at most
/// `max_nodes` nodes.
#[cfg(feature = "milp")]
fn margins_by_phase_programs(problem: &SplitProblem, piece: &Piece, rows: &[(bool, usize)], deadline: Instant, max_nodes: usize) -> (bool, usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let Some(bounds) = piece.bounds.as_deref() else { return (false, 0) };
    let Some(facts) = crate::milp::DifferentialFacts::new(&problem.pair, bounds) else { return (false, 0) };
    let Some(f_margins) = bounds.reference_bounds.layers.last() else { return (false, 0) };
    let programs = AtomicUsize::new(0);
    let mut margin_rows: Vec<usize> = rows.iter().map(|&(_, r)| r).collect();
    margin_rows.sort_unstable();
    margin_rows.dedup();
    // the easiest first: the largest lower bound of f's margin
    margin_rows.sort_by(|&a, &b| f_margins.pre_lower[b].total_cmp(&f_margins.pre_lower[a]));
    let search = |row: usize, on_reference: bool, target: f64| {
        let seconds = deadline.saturating_duration_since(Instant::now()).as_secs_f64();
        if seconds <= 0.0 {
            return None;
        }
        let program = crate::phase_lp::PhaseProgram::new(facts.reference, facts.compressed, bounds, &piece.lower, &piece.upper, problem.set.polytope(), row, 1.0)?;
        let program = if on_reference { program.with_output_costs(-1.0, 0.0) } else { program.with_output_costs(0.0, -1.0) };
        let search = crate::phase_lp::branch_and_bound(&program, target, max_nodes, seconds);
        programs.fetch_add(search.nodes, Ordering::Relaxed);
        Some(search.bound)
    };
    let proven = margin_rows.par_iter().all(|&row| {
        let needs = |on_reference: bool| rows.contains(&(on_reference, row));
        let delta_upper = piece.plus[row];
        // m^f above upper(Delta m) settles g's margin as well (the search
        // stops at its target; the margins are checked below as proven)
        let aims_at_g = needs(false) && delta_upper.is_finite();
        let target = if aims_at_g { -(delta_upper.max(0.0) * (1.0 + 1e-9)) - f64::MIN_POSITIVE } else { -f64::MIN_POSITIVE };
        let Some(f_bound) = search(row, true, target) else { return false };
        let f_holds = !needs(true) || f_bound < 0.0;
        f_holds && (!needs(false) || sub_down(-f_bound, delta_upper) > 0.0 || search(row, false, -f64::MIN_POSITIVE).is_some_and(|g_bound| g_bound < 0.0))
    });
    (proven, programs.into_inner())
}

#[cfg(not(feature = "milp"))]
fn margins_by_phase_programs(_problem: &SplitProblem, _piece: &Piece, _rows: &[(bool, usize)], _deadline: Instant, _max_nodes: usize) -> (bool, usize) {
    (false, 0)
}

/// The coordinate to bisect: the most influential (from the last bound), or
/// the widest relative to the set; None when every coordinate is too narrow.
fn split_dimension(lower: &[f64], upper: &[f64], root_width: &[f64], piece: Option<&Piece>) -> Option<usize> {
    let splittable = |i: usize| {
        let middle = 0.5 * (lower[i] + upper[i]);
        upper[i] - lower[i] > 1e-12 * root_width[i].max(f64::MIN_POSITIVE) && middle > lower[i] && middle < upper[i]
    };
    let n = lower.len();
    if let Some(piece) = piece {
        let best = (0..n).filter(|&i| splittable(i)).max_by(|&a, &b| piece.influence[a].total_cmp(&piece.influence[b]));
        if let Some(i) = best.filter(|&i| piece.influence[i] > 0.0) {
            return Some(i);
        }
    }
    (0..n).filter(|&i| splittable(i)).max_by(|&a, &b| ((upper[a] - lower[a]) / root_width[a]).total_cmp(&((upper[b] - lower[b]) / root_width[b])))
}

/// `f`'s label at the centre of the piece `[lower, upper]` (first-layer
/// coordinates, `f` without its input transform): the label whose margins
/// bound the piece in top-1 mode.
fn centre_label(prepared_reference: &Network, lower: &[f64], upper: &[f64]) -> usize {
    let centre: Vec<f64> = lower.iter().zip(upper).map(|(l, u)| 0.5 * (l + u)).collect();
    argmax(prepared_reference.activations_from(centre).last().expect("outputs"))
}

/// Bounds one piece (first-layer coordinates) and decides it.
fn judge<'p>(problem_for: &(dyn Fn(usize) -> &'p SplitProblem<'p> + Sync), prepared_reference: &Network, request: &LabelRequest, reference: &Network, compressed: &Network, lower: &[f64], upper: &[f64], parent: Option<&(usize, Piece)>) -> (Verdict, Option<(usize, Piece)>) {
    let outputs = reference.output_dim();
    let centre: Vec<f64> = lower.iter().zip(upper).map(|(l, u)| 0.5 * (l + u)).collect();
    // the centre may be a counterexample itself
    let mut raw_centre = crate::bound::to_raw(reference, &centre);
    request.set.project(&mut raw_centre);
    if request.set.contains(&raw_centre, 0.0) {
        let written = request.coupling.as_written(request.written_steps.as_deref());
        if let Some(found) = check_point(reference, compressed, &request.set, &written, &raw_centre, &raw_centre, request.confidence) {
            return (Verdict::Counterexample(Box::new(found)), None);
        }
    }
    let per_label = request.confidence.is_none();
    let problem_index = if per_label { centre_label(prepared_reference, lower, upper) } else { 0 };
    let problem = problem_for(problem_index);
    let inherited = parent.filter(|(index, _)| *index == problem_index).map(|(_, p)| p);
    // a half of the parent piece as input splitting bounds it (afresh every few halvings)
    let (piece, _) = match inherited {
        Some(parent) => problem.bound_half(parent, lower.to_vec(), upper.to_vec()),
        None => problem.bound_piece_with_slopes(lower.to_vec(), upper.to_vec(), None, &problem.piece_slopes),
    };
    // a piece that a polytope row leaves no point of holds no input
    let Some(bounds) = piece.bounds.as_deref() else { return (Verdict::Proven, None) };
    let margins_f = bounds.reference_bounds.layers.last().expect("layers");
    // direct bounds of g's margins
    // (over the box g's input ranges over: the piece itself for the same input)
    let region = problem.region(lower, upper);
    let compressed_bounds = crate::propagation::linear_bounds_optimised(problem.compressed, &region.compressed_lower, &region.compressed_upper, &problem.piece_slopes);
    let margins_g_direct = compressed_bounds.layers.last().expect("layers");
    let labels: Vec<usize> = if per_label { vec![problem_index] } else { (0..outputs).collect() };
    let mut proven = true;
    // top-1: the margin rows not proven, f's (true) and g's (false)
    let mut failing: Vec<(bool, usize)> = Vec::new();
    for (index, &c) in labels.iter().enumerate() {
        let rows = index * outputs..(index + 1) * outputs;
        let f_lower: Vec<f64> = rows.clone().map(|r| margins_f.pre_lower[r]).collect();
        let f_upper: Vec<f64> = rows.clone().map(|r| margins_f.pre_upper[r]).collect();
        // lower(m^g) >= max(direct, lower(m^f) - upper(C Delta y))
        let g_lower: Vec<f64> = rows.clone().map(|r| margins_g_direct.pre_lower[r].max(sub_down(margins_f.pre_lower[r], piece.plus[r]))).collect();
        let g_agrees = (0..outputs).all(|j| j == c || g_lower[j] > 0.0);
        let f_agrees = (0..outputs).all(|j| j == c || f_lower[j] > 0.0);
        if per_label {
            let others = (0..outputs).filter(|&j| j != c);
            failing = others.clone().filter(|&j| !(f_lower[j] > 0.0)).map(|j| (true, rows.start + j)).chain(others.filter(|&j| !(g_lower[j] > 0.0)).map(|j| (false, rows.start + j))).collect();
        }
        let label_holds = match request.confidence {
            None => f_agrees && g_agrees,
            Some(threshold) => g_agrees || softmax_upper(c, &f_upper) < threshold,
        };
        if !label_holds {
            proven = false;
            break;
        }
    }
    let verdict = if proven { Verdict::Proven } else { Verdict::Open(failing) };
    (verdict, Some((problem_index, piece)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[f64::NAN, 0.0]), 1);
        assert_eq!(certified_label(&[1.0, 2.0], &[1.5, 2.5]), Some(1));
        assert_eq!(certified_label(&[1.0, 1.4], &[1.5, 2.5]), None);
    }

    #[test]
    fn softmax_bounds_enclose_the_value() {
        let y: [f64; 3] = [2.0, -1.0, 0.5];
        let exact = y[0].exp() / y.iter().map(|v: &f64| v.exp()).sum::<f64>();
        let margins: Vec<f64> = y.iter().map(|v| y[0] - v).collect();
        assert!(softmax_lower(0, &margins) <= exact && exact <= softmax_upper(0, &margins));
        assert!(softmax_upper(0, &margins) - softmax_lower(0, &margins) < 1e-14);
    }

    /// Margins beyond `exp`'s range (about 709.78): a label 720 below
    /// another has a confidence below the smallest normal double, and one
    /// 720 above every other a confidence of 1 to a double.
    #[test]
    fn softmax_bounds_past_the_range_of_exp() {
        for m in [709.0, 710.0, 720.0, 1e6, f64::MAX] {
            let upper = softmax_upper(1, &[-m, 0.0]);
            assert!(upper > 0.0 && upper < 1e-300, "margin {m}: {upper}");
            // above the value itself, 1 / (1 + e^m) < e^-m (a subnormal or 0 as a double)
            assert!(upper >= (-m).exp(), "margin {m}: {upper} below e^-m");
            let lower = softmax_lower(0, &[0.0, m]);
            assert!(lower >= 1.0 - 1e-15 && lower < 1.0, "margin {m}: {lower}");
        }
    }

    /// The phase programs prove the top-1 margins of the set's box positive
    /// only where they are: on random ReLU pairs with 9 to 12 inputs, given
    /// every margin row of both networks, they never succeed where a sample
    /// or corner of the box has a margin at or below 0, and they succeed on
    /// some pairs (and fail on others).
    #[cfg(feature = "milp")]
    #[test]
    fn phase_programs_prove_only_margins_positive_at_every_sample() {
        use crate::network::random::{partner, random_mlp, Relation};
        use rand::Rng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(2026_12_07);
        let (mut proven, mut refused) = (0, 0);
        for case in 0..40 {
            let inputs = rng.gen_range(9..=12);
            let hidden = [rng.gen_range(4..=10)];
            let f = random_mlp(&mut rng, inputs, &hidden, 3, crate::activation::Activation::Relu);
            let g = partner(&mut rng, &f, Relation::Quantised, crate::activation::Activation::Relu);
            let radius = [0.1, 0.3, 0.6][case % 3];
            let centre: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let set = InputSet::from_box(centre.iter().map(|v| v - radius).collect(), centre.iter().map(|v| v + radius).collect()).unwrap();
            let prepared = crate::problem::prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
            let c = argmax(&f.eval(&centre));
            let (fm, gm) = (with_margins(&prepared.reference, &[c]), with_margins(&prepared.compressed, &[c]));
            let none = crate::propagation::SlopeOptimisation::NONE;
            let problem = SplitProblem { reference: &fm, compressed: &gm, set: &prepared.set, coupling: &prepared.coupling, norm: Norm::Linf, pair: crate::propagation::DifferentialPair::new(&fm, &gm), piece_slopes: none, stuck_slopes: none, phase_multiplier_steps: 0, admits: None };
            let (piece, _) = problem.bound_piece_with_slopes(set.lower().to_vec(), set.upper().to_vec(), None, &none);
            let rows: Vec<(bool, usize)> = (0..3).filter(|&j| j != c).flat_map(|j| [(true, j), (false, j)]).collect();
            let (closed, programs) = margins_by_phase_programs(&problem, &piece, &rows, Instant::now() + std::time::Duration::from_secs(2), 100_000);
            let mut points: Vec<Vec<f64>> = (0..5000).map(|_| set.sample(&mut rng)).collect();
            points.extend((0..1000).map(|_| centre.iter().map(|v| if rng.gen_bool(0.5) { v - radius } else { v + radius }).collect::<Vec<f64>>()));
            let smallest = points.iter().flat_map(|x| [f.eval(x), g.eval(x)]).map(|y| lead(&y, c)).fold(f64::INFINITY, f64::min);
            if closed {
                assert!(smallest > 0.0, "case {case}: proven by {programs} programs, yet a margin of {smallest:e} was sampled");
                proven += 1;
            } else {
                refused += usize::from(smallest <= 0.0);
            }
        }
        assert!(proven >= 5 && refused >= 5, "proven {proven}, refused with a sampled flip {refused}");
    }

    /// How far `y`'s entry at `label` leads the largest other entry.
    fn lead(y: &[f64], label: usize) -> f64 {
        y[label] - y.iter().enumerate().filter(|(j, _)| *j != label).map(|(_, v)| *v).fold(f64::NEG_INFINITY, f64::max)
    }
}
