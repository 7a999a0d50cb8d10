//! Optimised relaxation slopes (alpha-CROWN style) for linear and
//! differential back-substitution.
//!
//! **What is free.** Each neuron's relaxation comes with a second valid one
//! ([`crate::activation::RelaxationFamily`]): an unstable ReLU's lower line
//! may be `a >= alpha v` for any `alpha in [0, 1]` (leaky ReLU: `[s, 1]`), a
//! difference `Delta a` may be bounded by any weighted mean of its line and
//! its constant bound, a quantiser by any mean of its band and its range.
//! A weight `w in [0, 1]` per neuron and side picks the line; weight 1 is the
//! fixed relaxation of one pass.
//!
//! **Why every weight is sound.** Back-substitution is valid for *any*
//! relaxation whose lines hold on the neuron's range: the bound it computes
//! is an upper bound of the objective over the input set whatever lines are
//! used (each replacement `c a <= c (s v + t)`, upper line for `c >= 0`,
//! lower for `c < 0`, only moves the expression up). A weighted mean of two
//! valid lower (upper) lines is a valid lower (upper) line, and the rounded
//! line of [`crate::activation::RelaxationFamily::at`] lies on the safe side
//! of the exact mean. So each row may even use its own weights (the bound
//! of row `r` only uses row `r`'s lines), every evaluated bound is computed
//! by the same outward-rounded back-substitution as one pass, and the best
//! one seen per row is a certified bound: the search is anytime, and its
//! first evaluation (all weights 1) is exactly the one-pass bound.
//!
//! **How the weights are chosen.** Projected gradient steps (Adam, then
//! clamped to `[0, 1]`) on each row's bound, a fixed number of iterations.
//! With the lines fixed, the back-substituted bound of a row is the linear
//! map it built evaluated at its maximising input (the box corner, or the
//! L2 ball's point), so its derivative in the weight of neuron `i` of layer
//! `j` is `c_i (C_i(v_i) - A_i(v_i))`: the coefficient `c_i` of that neuron's
//! activation when it was relaxed, times the gap between the chosen (`C`)
//! and alternative (`A`) lines of the side used, at the pre-activation
//! `v_i` that a forward pass of the maximising input through the row's
//! lines reaches. One forward pass per evaluation gives every derivative
//! (about the cost of the backward pass itself). The derivative only steers
//! the search; soundness never depends on it.

use crate::activation::{LinearBounds, RelaxationFamily};
use crate::network::Matrix;
use serde::Serialize;

/// Which bounds get optimised slopes. Each layer's rows are optimised in
/// turn, so tighter neuron bounds give tighter relaxations further up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum SlopeScope {
    /// Only the bounds on the outputs (`Delta y`, or a single network's
    /// last layer).
    Output,
    /// The output bounds and each network's own neuron bounds (the linear
    /// bounds of `f`, and of `g` when it gets its own): fewer unstable
    /// neurons, so tighter relaxations of the difference.
    Networks,
    /// Also the differential bounds `Delta v` of every hidden layer.
    All,
}

/// How the free lines of the relaxations are chosen (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlopeOptimisation {
    /// Projected-gradient steps on each optimised layer's rows (0: the
    /// fixed relaxations of one pass).
    pub iterations: usize,
    /// Which bounds are optimised.
    pub scope: SlopeScope,
    /// Adam's step on the weights (which lie in `[0, 1]`), decayed by
    /// [`SlopeOptimisation::decay`] per step.
    pub step: f64,
    /// Factor on the step per iteration.
    pub decay: f64,
    /// No further steps after this instant (the best bound so far is kept;
    /// layers reached later keep their fixed slopes). None: no limit.
    #[serde(skip)]
    pub deadline: Option<std::time::Instant>,
    /// Past this instant a propagation pass starts no further
    /// back-substitution: the layers it has not reached get the interval step
    /// from the layer below (sound, and looser), so a pass through a very deep
    /// or wide network ends near the time limit with a certified bound
    /// instead of overrunning it. None: no limit.
    #[serde(skip)]
    pub stop: Option<std::time::Instant>,
}

/// Iterations of [`SlopeOptimisation::STANDARD`] (measured on ACAS Xu 1_1
/// and 3_7 with step 0.5: 10 steps end within 3% of 40; with step 0.05, 40
/// steps end looser than 10 steps of 0.5).
pub const DEFAULT_SLOPE_ITERATIONS: usize = 10;

impl SlopeOptimisation {
    /// The fixed relaxations (one pass).
    pub const NONE: SlopeOptimisation = SlopeOptimisation { iterations: 0, scope: SlopeScope::Networks, step: 0.5, decay: 0.95, deadline: None, stop: None };
    /// What `propagate` and `auto` use on the whole set by default:
    /// [`DEFAULT_SLOPE_ITERATIONS`] steps on the output bounds and each
    /// network's neuron bounds ([`SlopeScope::Networks`]).
    pub const STANDARD: SlopeOptimisation = SlopeOptimisation { iterations: DEFAULT_SLOPE_ITERATIONS, ..SlopeOptimisation::NONE };

    /// `iterations` steps on the bounds of `scope`, default step sizes.
    pub fn new(iterations: usize, scope: SlopeScope) -> Self {
        SlopeOptimisation { iterations, scope, ..SlopeOptimisation::NONE }
    }
    /// Whether any optimisation runs (iterations, and time left).
    pub fn enabled(&self) -> bool {
        self.iterations > 0 && !self.expired()
    }
    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| std::time::Instant::now() >= d)
    }
    /// Whether a pass must start no further back-substitution
    /// ([`SlopeOptimisation::stop`]).
    pub fn stopped(&self) -> bool {
        self.stop.is_some_and(|s| std::time::Instant::now() >= s)
    }
    /// Whether the bounds of a layer (`output`: the last one) are optimised,
    /// in the back-substitution this setting is given to.
    pub fn optimises(&self, output: bool) -> bool {
        self.enabled() && (output || self.scope == SlopeScope::All)
    }
    /// The setting for each network's own linear bounds inside differential
    /// propagation: every layer for [`SlopeScope::Networks`] and
    /// [`SlopeScope::All`], none otherwise.
    pub fn network_bounds(&self) -> SlopeOptimisation {
        match self.scope {
            SlopeScope::Output => SlopeOptimisation { stop: self.stop, ..SlopeOptimisation::NONE },
            SlopeScope::Networks | SlopeScope::All => SlopeOptimisation { scope: SlopeScope::All, ..*self },
        }
    }
}

/// Rows per block of a back-substitution in a pass with a stop
/// ([`SlopeOptimisation::stop`]).
pub(super) const STOP_BLOCK: usize = 128;

/// The rows' results of `substitute`, in blocks of [`STOP_BLOCK`] rows when
/// the pass has a stop: a block that would start after it is not computed
/// and its rows get `skipped(count)` (no bound; the interval step bounds
/// them), so one wide layer cannot hold the pass long past the limit. Rows
/// are independent, so the blocks' bounds are those of the rows substituted
/// together, up to the order of rounding, which the rounding bound covers in
/// any order.
pub(super) fn in_stop_blocks<T>(rows: &[usize], slopes: &SlopeOptimisation, skipped: impl Fn(usize) -> Vec<T>, substitute: impl Fn(&[usize]) -> Vec<T>) -> Vec<T> {
    if slopes.stop.is_none() || rows.len() <= STOP_BLOCK {
        return substitute(rows);
    }
    rows.chunks(STOP_BLOCK).flat_map(|block| if slopes.stopped() { skipped(block.len()) } else { substitute(block) }).collect()
}

impl Default for SlopeOptimisation {
    fn default() -> Self {
        SlopeOptimisation::NONE
    }
}

/// The lines of one layer's relaxations in a back-substitution: the same for
/// every row, or one set per row (optimised slopes; row-major, `width` per row).
#[derive(Clone, Copy)]
pub(super) enum Lines<'a> {
    Shared(&'a [LinearBounds]),
    PerRow(&'a [LinearBounds], usize),
}

impl<'a> Lines<'a> {
    /// The lines of row `r`.
    #[inline]
    pub fn row(&self, r: usize) -> &'a [LinearBounds] {
        match *self {
            Lines::Shared(lines) => lines,
            Lines::PerRow(lines, width) => &lines[r * width..(r + 1) * width],
        }
    }
}

/// Rows optimised together (their weights and per-row lines held at once;
/// blocks run in parallel).
pub(super) const ROW_BLOCK: usize = 16;

/// One neuron's relaxation family with the range it holds on.
#[derive(Debug, Clone, Copy)]
pub(super) struct NeuronFamily {
    pub family: RelaxationFamily,
    pub lower: f64,
    pub upper: f64,
}

impl NeuronFamily {
    pub fn new(family: RelaxationFamily, lower: f64, upper: f64) -> Self {
        NeuronFamily { family, lower, upper }
    }
    /// Whether either side can move.
    pub fn free(&self) -> bool {
        self.family.lower_free() || self.family.upper_free()
    }
    /// The lines at weights `(lower, upper)`.
    #[inline]
    pub fn line(&self, lower_weight: f64, upper_weight: f64) -> LinearBounds {
        if lower_weight == 1.0 && upper_weight == 1.0 {
            return self.family.chosen;
        }
        self.family.at(lower_weight, upper_weight, self.lower, self.upper)
    }
    /// `C(x) - A(x)` of the lower and upper sides (0 where a side is fixed):
    /// the derivative of each side's line at `x` in its weight.
    #[inline]
    pub fn gaps(&self, x: f64) -> (f64, f64) {
        let (c, a) = (&self.family.chosen, &self.family.alternative);
        let lower = if self.family.lower_free() { (c.lower_slope - a.lower_slope) * x + (c.lower_intercept - a.lower_intercept) } else { 0.0 };
        let upper = if self.family.upper_free() { (c.upper_slope - a.upper_slope) * x + (c.upper_intercept - a.upper_intercept) } else { 0.0 };
        (if lower.is_finite() { lower } else { 0.0 }, if upper.is_finite() { upper } else { 0.0 })
    }
}

/// The value of the line a coefficient `c` selects (upper for `c >= 0`, as
/// in back-substitution) at `x`.
#[inline]
pub(super) fn selected_line_value(line: &LinearBounds, coefficient: f64, x: f64) -> f64 {
    if coefficient >= 0.0 {
        line.upper_slope * x + line.upper_intercept
    } else {
        line.lower_slope * x + line.lower_intercept
    }
}

/// The derivative of a row's bound in the lower and upper weight of one
/// neuron: `c * gap` on the side `c` selects.
#[inline]
pub(super) fn weight_derivatives(neuron: &NeuronFamily, coefficient: f64, x: f64) -> (f64, f64) {
    if coefficient == 0.0 {
        return (0.0, 0.0);
    }
    let (lower_gap, upper_gap) = neuron.gaps(x);
    if coefficient > 0.0 { (0.0, coefficient * upper_gap) } else { (coefficient * lower_gap, 0.0) }
}

/// `points W^T + bias` for a block of points (one per row): the
/// pre-activations a forward pass reaches, all rows in one product.
pub(super) fn affine_rows(points: &Matrix, transposed_weights: &Matrix, bias: &[f64]) -> Matrix {
    let mut out = points.matmul(transposed_weights);
    for row in out.data.chunks_mut(bias.len().max(1)) {
        row.iter_mut().zip(bias).for_each(|(o, b)| *o += b);
    }
    out
}

/// One evaluation of a block of rows: each row's certified bound and, when
/// asked for, the derivative of each row's bound in each of its weights.
pub(super) struct Evaluation {
    pub values: Vec<f64>,
    pub gradient: Vec<f64>,
}

/// Projected Adam on `rows` independent rows of `parameters` weights each
/// (row-major), starting at weight 1 (the fixed relaxation). `evaluate(w,
/// gradient)` returns every row's certified bound at weights `w` (and the
/// derivatives when `gradient`). Returns the smallest bound seen per row:
/// every evaluated bound is certified, so the smallest is too, and the first
/// evaluation is the one-pass bound.
pub(super) fn optimise_rows(rows: usize, parameters: usize, settings: &SlopeOptimisation, mut evaluate: impl FnMut(&[f64], bool) -> Evaluation) -> Vec<f64> {
    const FIRST_MOMENT: f64 = 0.9;
    const SECOND_MOMENT: f64 = 0.999;
    let size = rows * parameters;
    let mut weights = vec![1.0; size];
    let mut first = vec![0.0; size];
    let mut second = vec![0.0; size];
    let mut best = vec![f64::INFINITY; rows];
    let mut step = settings.step;
    for iteration in 0..=settings.iterations {
        // the last evaluation needs no derivatives; past the deadline, it is this one
        let last = iteration == settings.iterations || settings.expired();
        let evaluation = evaluate(&weights, !last);
        for (b, v) in best.iter_mut().zip(&evaluation.values) {
            if *v < *b {
                *b = *v;
            }
        }
        if last {
            break;
        }
        let t = (iteration + 1) as i32;
        let (correct_first, correct_second) = (1.0 - FIRST_MOMENT.powi(t), 1.0 - SECOND_MOMENT.powi(t));
        for k in 0..size {
            let g = evaluation.gradient[k];
            if !g.is_finite() {
                continue;
            }
            first[k] = FIRST_MOMENT * first[k] + (1.0 - FIRST_MOMENT) * g;
            second[k] = SECOND_MOMENT * second[k] + (1.0 - SECOND_MOMENT) * g * g;
            if second[k] > 0.0 {
                let moved = weights[k] - step * (first[k] / correct_first) / (second[k] / correct_second).sqrt();
                weights[k] = moved.clamp(0.0, 1.0);
            }
        }
        step *= settings.decay;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On toy rows whose bound is piecewise linear in the weights (sums of
    /// `|w - target|`) the search never returns more than its first
    /// evaluation and moves towards the minimum; past its deadline it stops
    /// after the first evaluation.
    #[test]
    fn projected_adam_keeps_the_best_and_descends() {
        let targets = [0.0, 0.3, 1.0];
        let settings = SlopeOptimisation::new(40, SlopeScope::Output);
        let best = optimise_rows(3, 2, &settings, |w, _| {
            let mut values = Vec::new();
            let mut gradient = Vec::new();
            for (r, target) in targets.iter().enumerate() {
                let (a, b) = (w[2 * r], w[2 * r + 1]);
                values.push((a - target).abs() + 2.0 * (b - 0.5).abs());
                gradient.push((a - target).signum());
                gradient.push(2.0 * (b - 0.5).signum());
            }
            Evaluation { values, gradient }
        });
        let first = [1.0 + 1.0, 0.7 + 1.0, 0.0 + 1.0];
        // past its deadline the search evaluates once (the fixed slopes) and stops
        let mut evaluations = 0;
        let expired = SlopeOptimisation { deadline: Some(std::time::Instant::now()), ..settings };
        let at_once = optimise_rows(1, 1, &expired, |w, gradient| {
            evaluations += 1;
            assert!(!gradient && w == [1.0]);
            Evaluation { values: vec![w[0] + 1.0], gradient: Vec::new() }
        });
        assert_eq!((evaluations, at_once), (1, vec![2.0]));
        assert!(!expired.enabled());
        for r in 0..3 {
            assert!(best[r] <= first[r], "row {r}: {} above the first evaluation", best[r]);
            assert!(best[r] < 0.15, "row {r}: {} far from the minimum 0", best[r]);
        }
    }
}
