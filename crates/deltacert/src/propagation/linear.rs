//! Linear (symbolic) bound propagation, DeepPoly/CROWN style.
//!
//! For layer `k` every pre-activation `v^k_i` is bounded by back-substitution:
//! starting from `v^k = W^k a^(k-1) + b^k`, each activation of an earlier
//! layer is replaced by a linear relaxation valid on its pre-activation
//! interval (`a <= alpha_u v + beta_u` where the coefficient is positive,
//! `a >= alpha_l v + beta_l` where it is negative, for an upper bound), then
//! `v^j = W^j a^(j-1) + b^j`, down to the input, where the remaining linear
//! function is maximised over the box. The result is intersected with the
//! interval bound, so it is never looser.
//!
//! Each activation gives its own relaxation
//! ([`crate::activation::ActivationRule::linear_relaxation`], described in
//! [`crate::activation::relaxation`]): chords for ReLU / leaky ReLU, constant
//! bounds for tanh and sigmoid, exact for stable piecewise-linear neurons and
//! identity layers.
//!
//! Rounding: the back-substitution is repeated on absolute values, giving a
//! bound `S` on the sum of magnitudes of every term; the computed bound is
//! moved outward by `gamma_N S` with `N` the length of the longest chain of
//! operations, as in [`super::interval`] ([`crate::rounding::accumulated_error`]).
//! A computed coefficient `c` may differ from the exact one by `e`, and the
//! sign of `c` chooses the relaxation, so the exact term `(c + e) a` is bounded
//! by the chosen line plus `|e| |a|`; the magnitude therefore carries `|a| <=
//! max(|lower slope|, |upper slope|) |v| + max(|lower intercept|, |upper
//! intercept|)` through every relaxation, whichever line was chosen (also
//! when it is a constant). Chords are built by [`crate::rounding::upper_chord`]:
//! the rounded chord lies above the activation in exact arithmetic.
//!
//! Only plain chains (each layer reads the previous one) are propagated
//! symbolically; other graphs fall back to interval bounds.
//!
//! **Optimised slopes** ([`linear_bounds_optimised`], alpha-CROWN style):
//! an unstable ReLU's lower line may be `a >= alpha v` for any `alpha in
//! [0, 1]` (leaky ReLU: `[s, 1]`; a quantiser's band or range, per side),
//! each row of a back-substitution may use its own, and every choice gives a
//! certified bound; projected gradient steps choose them per row and the
//! best bound seen is kept ([`super::slopes`]).

use super::interval::{activation_image, layer_interval_bounds};
use super::{interval_bounds, LayerBounds, NetworkBounds};
use crate::rounding::{accumulated_error, add_up, upper_or_infinity};
use super::slopes::{affine_rows, in_stop_blocks, optimise_rows, selected_line_value, weight_derivatives, Evaluation, Lines, NeuronFamily, SlopeOptimisation, ROW_BLOCK};
use crate::activation::LinearBounds;
use crate::network::{Matrix, Network};

/// Replaces every coefficient `c` of `row` (on activations) by `c * slope` of
/// its relaxation, the upper one where `c >= 0` (this bounds from above), and
/// returns the constant `sum c * intercept` this adds with its magnitude.
/// `magnitude` holds bounds `m >= |c|`; it becomes `m * max(|slopes|)` and
/// adds `m * max(|intercepts|)` to the constant's magnitude, over *both*
/// lines: the rounding error of `c` multiplies `|a|`, which the chosen line
/// alone does not bound (module docs). A slope of 0 keeps the term.
#[cfg(test)]
#[inline]
pub(super) fn relax_row(row: &mut [f64], magnitude: &mut [f64], relax: &[LinearBounds]) -> (f64, f64) {
    let [constant, constant_magnitude, _, _] = relax_row_with_bias(row, magnitude, relax, None);
    (constant, constant_magnitude)
}

/// Independent partial sums per accumulation in the row kernels below: they
/// break the chain of dependent additions (the rounding bound of a sum holds
/// for any order of its terms, crate::rounding item 2, so the order is free).
pub(super) const LANES: usize = 4;

/// `K` sums over `i in 0..n`, each in [`LANES`] independent partial sums:
/// `step(i, lane, sums)` adds item `i`'s terms to `sums[k][lane]`.
#[inline]
pub(super) fn lane_sums<const K: usize>(n: usize, mut step: impl FnMut(usize, usize, &mut [[f64; LANES]; K])) -> [f64; K] {
    let mut sums = [[0.0f64; LANES]; K];
    let full = n / LANES * LANES;
    for start in (0..full).step_by(LANES) {
        for lane in 0..LANES {
            step(start + lane, lane, &mut sums);
        }
    }
    for i in full..n {
        step(i, 0, &mut sums);
    }
    sums.map(|lanes| lanes.iter().sum())
}

/// `if take_first { first } else { second }`, bit for bit, without a
/// branch: the signs of a row's coefficients follow no pattern, and a
/// mispredicted branch per coefficient cost more than its arithmetic.
#[inline(always)]
pub(super) fn select(take_first: bool, first: f64, second: f64) -> f64 {
    let mask = (take_first as u64).wrapping_neg();
    f64::from_bits((first.to_bits() & mask) | (second.to_bits() & !mask))
}

/// [`relax_row`], and with `bias = Some((b, |b|))` also the dot products of
/// the relaxed row with `b` and of the relaxed magnitude with `|b|` (the next
/// layer's bias), in one pass: `[constant, its magnitude, row . b, magnitude . |b|]`.
#[inline]
pub(super) fn relax_row_with_bias(row: &mut [f64], magnitude: &mut [f64], relax: &[LinearBounds], bias: Option<(&[f64], &[f64])>) -> [f64; 4] {
    let n = row.len();
    assert!(magnitude.len() == n && relax.len() == n, "relaxation of a row of another width");
    if let Some((b, abs_b)) = bias {
        assert!(b.len() == n && abs_b.len() == n, "bias of another width");
    }
    lane_sums(n, |i: usize, lane: usize, sums: &mut [[f64; LANES]; 4]| {
        let (c, m, rel) = (row[i], magnitude[i], &relax[i]);
        let positive = c >= 0.0;
        let slope = select(positive, rel.upper_slope, rel.lower_slope);
        let intercept = select(positive, rel.upper_intercept, rel.lower_intercept);
        sums[0][lane] += c * intercept;
        sums[1][lane] += m * rel.lower_intercept.abs().max(rel.upper_intercept.abs());
        let (c, m) = (c * slope, m * rel.lower_slope.abs().max(rel.upper_slope.abs()));
        row[i] = c;
        magnitude[i] = m;
        if let Some((b, abs_b)) = bias {
            sums[2][lane] += c * b[i];
            sums[3][lane] += m * abs_b[i];
        }
    })
}

/// [`relax_row_with_bias`] without the magnitude row (its magnitude is
/// accounted for elsewhere, once for all rows): `[sum c * intercept, relaxed row . bias]`.
#[inline]
pub(super) fn relax_row_lean(row: &mut [f64], relax: &[LinearBounds], bias: &[f64]) -> [f64; 2] {
    let n = row.len();
    assert!(relax.len() == n && bias.len() == n, "relaxation or bias of another width");
    lane_sums(n, |i: usize, lane: usize, sums: &mut [[f64; LANES]; 2]| {
        let (c, rel) = (row[i], &relax[i]);
        let positive = c >= 0.0;
        let slope = select(positive, rel.upper_slope, rel.lower_slope);
        let intercept = select(positive, rel.upper_intercept, rel.lower_intercept);
        sums[0][lane] += c * intercept;
        let c = c * slope;
        row[i] = c;
        sums[1][lane] += c * bias[i];
    })
}

/// Bounds of `max_x (sign * (Lambda x + c))` over the box for every row, with
/// back-substitution through `layers_below` (their relaxations), outward
/// rounded. The relaxations are shared by every row, so the rounding
/// magnitudes of all rows come from `levels` ([`RoundingLevels`]) rather than
/// from a second back-substitution in absolute values. With `input_rows`
/// (polytope rows `a . x <= b` the input satisfies), each row's maximum is
/// also bounded over the box cut by them ([`super::polytope`]) and the
/// smaller bound kept.
#[allow(clippy::too_many_arguments)]
fn back_substitute(
    network: &Network,
    k: usize,
    rows: &[usize],
    sign: f64,
    relaxations: &[Vec<LinearBounds>],
    levels: &RoundingLevels,
    input_lower: &[f64],
    input_upper: &[f64],
    input_rows: &[(Vec<f64>, f64)],
) -> Vec<f64> {
    let layer = &network.layers[k];
    let mut lambda = layer.terms[0].weights.select_rows(rows);
    lambda.data.iter_mut().for_each(|v| *v *= sign);
    let mut constant: Vec<f64> = rows.iter().map(|&i| sign * layer.bias[i]).collect();
    let mut chain = layer.terms[0].weights.cols + 3;
    for j in (0..k).rev() {
        let below = &network.layers[j];
        let cols = lambda.cols;
        for r in 0..lambda.rows {
            let [added, bias] = relax_row_lean(&mut lambda.data[r * cols..(r + 1) * cols], &relaxations[j], &below.bias);
            constant[r] += added + bias;
        }
        lambda = lambda.matmul(&below.terms[0].weights);
        chain += below.terms[0].weights.cols + 3;
    }
    let totals = levels.row_totals(network, k, rows);
    (0..lambda.rows)
        .map(|r| {
            let mut value = constant[r];
            for m in 0..lambda.cols {
                let c = lambda.get(r, m);
                value += (c * input_lower[m]).max(c * input_upper[m]);
            }
            // bound on sign * v, moved outward; undefined (NaN) means no bound
            let error = accumulated_error(chain + 4, totals[r]);
            let mut bound = upper_or_infinity(add_up(value, error));
            if !input_rows.is_empty() {
                // the coefficients' own rounding is in the box's magnitude
                // term (x stays in the box); the cut box's maximum of the
                // computed row is bounded outward by the dual
                let row = lambda.row(r);
                let multipliers = super::polytope::multipliers(row, input_lower, input_upper, input_rows);
                if multipliers.iter().any(|l| *l > 0.0) {
                    let cut = add_up(add_up(constant[r], super::polytope::dual_bound(row, input_lower, input_upper, input_rows, &multipliers)), error);
                    if cut < bound {
                        bound = cut;
                    }
                }
            }
            bound
        })
        .collect()
}

/// The rounding magnitudes of back-substitutions through one network with
/// relaxations shared by every row, for all rows at once. A row's
/// magnitudes propagate linearly (through `|W|` and the largest `|slope|` of
/// each relaxation, adding the largest `|intercept|` and `|b|` to the
/// constant's), so the total a row `m` on `a^j` reaches at the input is `m .
/// z^j`, `z^j = i^j + s^j * (|b^j| + |W^j| z^(j-1))` (`s`, `i`: the largest
/// `|slope|`, `|intercept|` per neuron), from `z = max(|l|, |u|)` on the input
/// box: the same sum of the same non-negative terms as the per-row
/// magnitudes of [`back_substitute_with`], in another order, padded the same
/// way ([`accumulated_error`]).
pub(super) struct RoundingLevels {
    /// `z` per level: the input, then after each layer's relaxation.
    levels: Vec<Vec<f64>>,
}

impl RoundingLevels {
    pub(super) fn new(input_lower: &[f64], input_upper: &[f64]) -> Self {
        RoundingLevels { levels: vec![input_lower.iter().zip(input_upper).map(|(l, u)| l.abs().max(u.abs())).collect()] }
    }

    /// Adds the level after layer `j` (relaxed by `relaxation`).
    pub(super) fn push(&mut self, layer: &crate::network::Layer, relaxation: &[LinearBounds]) {
        let below = self.levels.last().expect("the input level");
        let weights = &layer.terms[0].weights;
        let level = (0..layer.width())
            .map(|i| {
                let rel = &relaxation[i];
                let through: f64 = layer.bias[i].abs() + weights.row(i).iter().zip(below).map(|(w, z)| w.abs() * z).sum::<f64>();
                rel.lower_intercept.abs().max(rel.upper_intercept.abs()) + rel.lower_slope.abs().max(rel.upper_slope.abs()) * through
            })
            .collect();
        self.levels.push(level);
    }

    /// The magnitude totals of rows `rows` of layer `k` taken through every layer below.
    fn row_totals(&self, network: &Network, k: usize, rows: &[usize]) -> Vec<f64> {
        let layer = &network.layers[k];
        let below = &self.levels[k];
        rows.iter().map(|&i| layer.bias[i].abs() + layer.terms[0].weights.row(i).iter().zip(below).map(|(w, z)| w.abs() * z).sum::<f64>()).collect()
    }
}

/// [`back_substitute`] with the lines of each layer given per row or shared
/// (`lines[j]` relaxes the output of layer `j`), returning with each bound
/// the box corner where it is attained; with `record`, the coefficients on
/// each relaxed activation before relaxation (`record[j]` for layer `j`).
#[allow(clippy::too_many_arguments)]
fn back_substitute_with(
    network: &Network,
    k: usize,
    rows: &[usize],
    sign: f64,
    lines: &[Lines],
    input_lower: &[f64],
    input_upper: &[f64],
    mut record: Option<&mut Vec<Matrix>>,
) -> Vec<(f64, Vec<f64>)> {
    let layer = &network.layers[k];
    // rows of sign * v^k (only the listed neurons)
    let mut lambda = layer.terms[0].weights.select_rows(rows);
    lambda.data.iter_mut().for_each(|v| *v *= sign);
    let mut constant: Vec<f64> = rows.iter().map(|&i| sign * layer.bias[i]).collect();
    let mut magnitude = Matrix { rows: lambda.rows, cols: lambda.cols, data: lambda.data.iter().map(|v| v.abs()).collect() };
    let mut constant_magnitude: Vec<f64> = rows.iter().map(|&i| layer.bias[i].abs()).collect();
    let mut chain = layer.terms[0].weights.cols + 3;
    for j in (0..k).rev() {
        // replace a^(j+1) (the output of layer index j) by its relaxation
        if let Some(record) = record.as_deref_mut() {
            record.push(lambda.clone());
        }
        let cols = lambda.cols;
        // then a^(j) -> v^(j) = W^j a^(j-1) + b^j (the bias in the same pass)
        let below = &network.layers[j];
        let weights = &below.terms[0].weights;
        let abs_bias: Vec<f64> = below.bias.iter().map(|b| b.abs()).collect();
        for r in 0..lambda.rows {
            let [added, added_magnitude, bias, bias_magnitude] = relax_row_with_bias(&mut lambda.data[r * cols..(r + 1) * cols], &mut magnitude.data[r * cols..(r + 1) * cols], lines[j].row(r), Some((&below.bias, &abs_bias)));
            constant[r] += added + bias;
            constant_magnitude[r] += added_magnitude + bias_magnitude;
        }
        lambda = lambda.matmul(weights);
        let abs_weights = Matrix { rows: weights.rows, cols: weights.cols, data: weights.data.iter().map(|v| v.abs()).collect() };
        magnitude = magnitude.matmul(&abs_weights);
        chain += weights.cols + 3;
    }
    if let Some(record) = record {
        record.reverse();
    }
    (0..lambda.rows)
        .map(|r| {
            let mut value = constant[r];
            let mut total = constant_magnitude[r];
            let mut corner = Vec::with_capacity(lambda.cols);
            for m in 0..lambda.cols {
                let c = lambda.get(r, m);
                let (at_lower, at_upper) = (c * input_lower[m], c * input_upper[m]);
                value += at_lower.max(at_upper);
                corner.push(if at_upper >= at_lower { input_upper[m] } else { input_lower[m] });
                total += magnitude.get(r, m) * input_lower[m].abs().max(input_upper[m].abs());
            }
            // bound on sign * v, moved outward; undefined (NaN) means no bound
            (upper_or_infinity(add_up(value, accumulated_error(chain + 4, total))), corner)
        })
        .collect()
}

/// Bounds of `sign * v^k` for the neurons `rows` of layer `k` with
/// optimised slopes ([`super::slopes`]): per row, the smallest bound seen
/// over the projected-gradient iterations, each computed by
/// [`back_substitute_with`] with that row's lines.
#[allow(clippy::too_many_arguments)]
fn optimise_layer(network: &Network, k: usize, rows: &[usize], sign: f64, families: &[Vec<NeuronFamily>], input_lower: &[f64], input_upper: &[f64], slopes: &SlopeOptimisation) -> Vec<f64> {
    use rayon::prelude::*;
    let problem = LayerSlopes::new(network, k, families, input_lower, input_upper);
    let blocks: Vec<&[usize]> = rows.chunks(ROW_BLOCK).collect();
    let results: Vec<Vec<f64>> = blocks.par_iter().map(|block| optimise_rows(block.len(), problem.parameters, slopes, |weights, gradient| problem.evaluate(block, sign, weights, gradient))).collect();
    results.concat()
}

/// The rows of layer `k` as functions of their slope weights: per row and
/// layer `j < k`, the weights `[lower, upper] x width_j` of its lines.
struct LayerSlopes<'a> {
    network: &'a Network,
    k: usize,
    families: &'a [Vec<NeuronFamily>],
    input_lower: &'a [f64],
    input_upper: &'a [f64],
    /// Where layer `j`'s weights start in a row's.
    offsets: Vec<usize>,
    /// Weights per row.
    parameters: usize,
    /// `W^T` of the layers below `k` (forward passes of many points).
    transposed: Vec<Matrix>,
}

impl<'a> LayerSlopes<'a> {
    fn new(network: &'a Network, k: usize, families: &'a [Vec<NeuronFamily>], input_lower: &'a [f64], input_upper: &'a [f64]) -> Self {
        let offsets = (0..k).map(|j| 2 * families[..j].iter().map(|l| l.len()).sum::<usize>()).collect();
        let parameters = 2 * families[..k].iter().map(|l| l.len()).sum::<usize>();
        let transposed = network.layers[..k].iter().map(|l| l.terms[0].weights.transpose()).collect();
        LayerSlopes { network, k, families, input_lower, input_upper, offsets, parameters, transposed }
    }

    /// Every row's certified bound of `sign * v^k` with its lines at
    /// `weights` and, with `want_gradient`, the derivatives in the weights
    /// (a forward pass of each row's maximising corner, slopes.rs).
    fn evaluate(&self, block: &[usize], sign: f64, weights: &[f64], want_gradient: bool) -> Evaluation {
        let (k, families, parameters) = (self.k, self.families, self.parameters);
        let count = block.len();
        let per_row: Vec<Vec<LinearBounds>> = (0..k)
            .map(|j| {
                let width = families[j].len();
                let mut lines = Vec::with_capacity(count * width);
                for r in 0..count {
                    let w = &weights[r * parameters + self.offsets[j]..r * parameters + self.offsets[j] + 2 * width];
                    lines.extend((0..width).map(|i| families[j][i].line(w[i], w[width + i])));
                }
                lines
            })
            .collect();
        let lines: Vec<Lines> = (0..k).map(|j| Lines::PerRow(&per_row[j], families[j].len())).collect();
        let mut record = Vec::new();
        let results = back_substitute_with(self.network, k, block, sign, &lines, self.input_lower, self.input_upper, want_gradient.then_some(&mut record));
        let values: Vec<f64> = results.iter().map(|(value, _)| *value).collect();
        if !want_gradient {
            return Evaluation { values, gradient: Vec::new() };
        }
        // all rows' corners at once through their lines
        let mut gradient = vec![0.0; count * parameters];
        let mut activation = Matrix::from_rows(count, self.input_lower.len(), results.iter().flat_map(|(_, corner)| corner.iter().copied()).collect());
        for j in 0..k {
            let width = families[j].len();
            let pre = affine_rows(&activation, &self.transposed[j], &self.network.layers[j].bias);
            let mut next = Matrix::zeros(count, width);
            for r in 0..count {
                let (coefficients, pre_row) = (record[j].row(r), pre.row(r));
                let at = r * parameters + self.offsets[j];
                for i in 0..width {
                    let (lower, upper) = weight_derivatives(&families[j][i], coefficients[i], pre_row[i]);
                    gradient[at + i] = lower;
                    gradient[at + width + i] = upper;
                    next.data[r * width + i] = selected_line_value(&per_row[j][r * width + i], coefficients[i], pre_row[i]);
                }
            }
            activation = next;
        }
        Evaluation { values, gradient }
    }
}

/// Linear-propagation bounds of every layer (intersected with interval bounds).
pub fn linear_bounds(network: &Network, input_lower: &[f64], input_upper: &[f64]) -> NetworkBounds {
    linear_bounds_within(network, input_lower, input_upper, None, &|_, _| false)
}

/// [`linear_bounds`] with optimised relaxation slopes ([`super::slopes`]):
/// on the last layer's bounds for [`super::SlopeScope::Output`], on every
/// layer's otherwise (`slopes` with no iterations is one pass).
pub fn linear_bounds_optimised(network: &Network, input_lower: &[f64], input_upper: &[f64], slopes: &SlopeOptimisation) -> NetworkBounds {
    let slopes = if slopes.scope == super::SlopeScope::Output { *slopes } else { slopes.network_bounds() };
    linear_bounds_with(network, input_lower, input_upper, None, &|_, _| false, &slopes)
}

/// [`linear_bounds`] over a sub-box of the box that `parent` was computed
/// on: the parent's bounds stay valid there and are intersected in. Neuron
/// `i` of layer `k` keeps the parent's bounds without new work when
/// `keep(k, i)` (the caller knows its relaxation is exact whatever the width).
pub fn linear_bounds_within(network: &Network, input_lower: &[f64], input_upper: &[f64], parent: Option<&NetworkBounds>, keep: &dyn Fn(usize, usize) -> bool) -> NetworkBounds {
    linear_bounds_with(network, input_lower, input_upper, parent, keep, &SlopeOptimisation::NONE)
}

/// [`linear_bounds_within`] with optimised slopes on the layers `slopes`
/// covers (every layer for [`super::SlopeScope::All`], the last one
/// for [`super::SlopeScope::Output`]).
pub(super) fn linear_bounds_with(network: &Network, input_lower: &[f64], input_upper: &[f64], parent: Option<&NetworkBounds>, keep: &dyn Fn(usize, usize) -> bool, slopes: &SlopeOptimisation) -> NetworkBounds {
    linear_bounds_cut(network, input_lower, input_upper, &[], parent, keep, slopes)
}

/// [`linear_bounds_with`] for inputs that also satisfy the polytope rows
/// `input_rows`: the fixed-slope pass bounds each row over the box cut by
/// them too ([`back_substitute`]); the optimised slopes are steered and
/// bounded on the box.
pub(super) fn linear_bounds_cut(network: &Network, input_lower: &[f64], input_upper: &[f64], input_rows: &[(Vec<f64>, f64)], parent: Option<&NetworkBounds>, keep: &dyn Fn(usize, usize) -> bool, slopes: &SlopeOptimisation) -> NetworkBounds {
    if !network.is_chain() {
        return interval_bounds(network, input_lower, input_upper);
    }
    let mut bounds = NetworkBounds { input_lower: input_lower.to_vec(), input_upper: input_upper.to_vec(), layers: Vec::new() };
    let mut relaxations: Vec<Vec<LinearBounds>> = Vec::new();
    let mut families: Vec<Vec<NeuronFamily>> = Vec::new();
    let mut levels = RoundingLevels::new(input_lower, input_upper);
    let depth = network.layers.len();
    for (k, layer) in network.layers.iter().enumerate() {
        let width = layer.width();
        let parent_layer = parent.map(|p| &p.layers[k]);
        // A kept neuron's interval is the parent's: its relaxation may be
        // exact, but the interval step of the next layer reads it, so a
        // caller keeping neurons trades tightness for time
        // (DifferentialPair::bounds_reusing has the measurements).
        let rows: Vec<usize> = match parent_layer {
            Some(_) => (0..width).filter(|&i| !keep(k, i)).collect(),
            None => (0..width).collect(),
        };
        let (mut pre_lower, mut pre_upper) = match parent_layer {
            Some(p) => (p.pre_lower.clone(), p.pre_upper.clone()),
            None => (vec![f64::NEG_INFINITY; width], vec![f64::INFINITY; width]),
        };
        // past the pass's stop, the interval step below is the layer's bound
        if !rows.is_empty() && !slopes.stopped() {
            let [upper, lower] = [1.0, -1.0].map(|sign| in_stop_blocks(&rows, slopes, |count| vec![f64::INFINITY; count], |block| back_substitute(network, k, block, sign, &relaxations, &levels, input_lower, input_upper, input_rows)));
            for (r, &i) in rows.iter().enumerate() {
                pre_upper[i] = pre_upper[i].min(upper[r]);
                pre_lower[i] = pre_lower[i].max(-lower[r]);
            }
            if slopes.optimises(k + 1 == depth) && families.iter().flatten().any(|n| n.free()) {
                // certified too (slopes.rs): the best bound seen per row
                let (upper, lower) = rayon::join(
                    || optimise_layer(network, k, &rows, 1.0, &families, input_lower, input_upper, slopes),
                    || optimise_layer(network, k, &rows, -1.0, &families, input_lower, input_upper, slopes),
                );
                for (r, &i) in rows.iter().enumerate() {
                    pre_upper[i] = pre_upper[i].min(upper[r]);
                    pre_lower[i] = pre_lower[i].max(-lower[r]);
                }
            }
        }
        // intersect with interval propagation from the (already tightened) previous layer
        // (a chain: the layer's one term reads the previous layer)
        let step = &layer_interval_bounds(layer, |_| bounds.activation(k));
        for i in 0..width {
            pre_lower[i] = pre_lower[i].max(step.pre_lower[i]);
            pre_upper[i] = pre_upper[i].min(step.pre_upper[i]);
        }
        let (post_lower, post_upper): (Vec<f64>, Vec<f64>) = (0..width).map(|i| activation_image(layer.activation, pre_lower[i], pre_upper[i])).unzip();
        let layer_families: Vec<NeuronFamily> = layer.activation.with_rule(|rule| (0..width).map(|i| NeuronFamily::new(rule.linear_relaxation_family(pre_lower[i], pre_upper[i], post_lower[i], post_upper[i]), pre_lower[i], pre_upper[i])).collect());
        relaxations.push(layer_families.iter().map(|n| n.family.chosen).collect());
        levels.push(layer, relaxations.last().expect("just pushed"));
        families.push(layer_families);
        bounds.layers.push(LayerBounds { pre_lower, pre_upper, post_lower, post_upper });
    }
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Activation;
    use crate::rounding::exact::big;

    /// Back-substitution with the magnitudes of all rows at once
    /// ([`RoundingLevels`]) gives the bounds of the per-row magnitudes, up to
    /// the rounding of the padding itself.
    #[test]
    fn shared_rounding_levels_give_the_per_row_bounds() {
        use crate::network::random::random_mlp;
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(29);
        for case in 0..8 {
            let activation = [Activation::Relu, Activation::Tanh][case % 2];
            let network = random_mlp(&mut rng, 3, &[7, 6, 5], 2, activation);
            let lower: Vec<f64> = (0..3).map(|_| rng.gen_range(-3.0..0.0)).collect();
            let upper: Vec<f64> = lower.iter().map(|l| l + rng.gen_range(0.1..3.0)).collect();
            let bounds = linear_bounds(&network, &lower, &upper);
            let relaxations: Vec<Vec<LinearBounds>> = bounds.layers[..3]
                .iter()
                .zip(&network.layers)
                .map(|(b, layer)| (0..layer.width()).map(|i| layer.activation.rule().linear_relaxation(b.pre_lower[i], b.pre_upper[i], b.post_lower[i], b.post_upper[i])).collect())
                .collect();
            let mut levels = RoundingLevels::new(&lower, &upper);
            for (j, r) in relaxations.iter().enumerate() {
                levels.push(&network.layers[j], r);
            }
            for k in 0..4 {
                let rows: Vec<usize> = (0..network.layers[k].width()).collect();
                for sign in [1.0, -1.0] {
                    let lean = back_substitute(&network, k, &rows, sign, &relaxations[..k], &levels, &lower, &upper, &[]);
                    let lines: Vec<Lines> = relaxations[..k].iter().map(|r| Lines::Shared(r)).collect();
                    let per_row = back_substitute_with(&network, k, &rows, sign, &lines, &lower, &upper, None);
                    for (a, (b, _)) in lean.iter().zip(&per_row) {
                        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "case {case} layer {k}: {a} vs {b}");
                    }
                }
            }
        }
    }

    /// The rounding term of a coefficient survives a relaxation of slope 0:
    /// for every coefficient within the magnitude of the computed one and
    /// every activation value the relaxation allows, the relaxed row plus its
    /// magnitude bounds the exact term.
    #[test]
    fn relax_row_keeps_the_rounding_term_through_flat_relaxations() {
        // the constant relaxation [tanh(-10), tanh(-0.001)] of tanh on
        // [-10, -0.001] (its chord is tighter; the constants are valid too):
        // lines with slope 0
        let (l, u) = (-10.0, -0.001);
        let (pl, pu) = activation_image(Activation::Tanh, l, u);
        let r = crate::activation::LinearBounds::constant(pl, pu);
        assert_eq!(r.upper_slope, 0.0);
        let (computed, magnitude) = (1e-30, 1e-20);
        let mut row = [computed];
        let mut row_magnitude = [magnitude];
        let (constant, constant_magnitude) = relax_row(&mut row, &mut row_magnitude, &[r]);
        for coefficient in [computed - magnitude, computed + magnitude] {
            for a in [pl, pu] {
                for v in [l, u] {
                    let exact_term = big(coefficient) * big(a);
                    let bound = big(constant) + big(row[0]) * big(v) + big(row_magnitude[0]) * big(v.abs()) + big(constant_magnitude);
                    assert!(exact_term <= bound, "coefficient {coefficient}, a = {a}: {exact_term} above {bound}");
                }
            }
        }
    }
    use crate::network::random::random_mlp;
    use rand::{Rng, SeedableRng};

    /// The derivatives of a row's bound in its slope weights match central
    /// finite differences of the bound (ReLU and leaky ReLU, two and three
    /// hidden layers), and optimised bounds enclose dense samples.
    #[test]
    fn optimised_linear_bounds_have_the_right_derivatives_and_enclose_samples() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(43);
        let mut checked = 0;
        for case in 0..12 {
            let activation = [Activation::Relu, Activation::LeakyRelu { alpha: 0.2 }][case % 2];
            let hidden: &[usize] = if case % 3 == 0 { &[6, 5, 4] } else { &[7, 6] };
            let network = random_mlp(&mut rng, 3, hidden, 2, activation);
            let lower: Vec<f64> = (0..3).map(|_| rng.gen_range(-1.0..0.0)).collect();
            let upper: Vec<f64> = lower.iter().map(|l| l + 1.0).collect();
            let bounds = linear_bounds(&network, &lower, &upper);
            let families: Vec<Vec<NeuronFamily>> = bounds
                .layers
                .iter()
                .map(|b| (0..b.pre_lower.len()).map(|i| NeuronFamily::new(activation.rule().linear_relaxation_family(b.pre_lower[i], b.pre_upper[i], b.post_lower[i], b.post_upper[i]), b.pre_lower[i], b.pre_upper[i])).collect())
                .collect();
            let k = hidden.len();
            let problem = LayerSlopes::new(&network, k, &families, &lower, &upper);
            let rows = [0, 1];
            for sign in [1.0, -1.0] {
                let weights: Vec<f64> = (0..2 * problem.parameters).map(|_| rng.gen_range(0.05..0.95)).collect();
                let at = problem.evaluate(&rows, sign, &weights, true);
                for p in 0..weights.len() {
                    let h = 1e-6;
                    let mut moved = weights.clone();
                    moved[p] += h;
                    let plus = problem.evaluate(&rows, sign, &moved, false).values[p / problem.parameters];
                    moved[p] -= 2.0 * h;
                    let minus = problem.evaluate(&rows, sign, &moved, false).values[p / problem.parameters];
                    let difference = (plus - minus) / (2.0 * h);
                    let scale = 1.0 + at.values[p / problem.parameters].abs();
                    assert!((difference - at.gradient[p]).abs() <= 1e-4 * scale, "case {case} weight {p}: derivative {} but finite difference {difference}", at.gradient[p]);
                    checked += usize::from(at.gradient[p] != 0.0);
                }
            }
            let optimised = linear_bounds_optimised(&network, &lower, &upper, &SlopeOptimisation::new(10, crate::propagation::SlopeScope::All));
            for _ in 0..2000 {
                let x: Vec<f64> = (0..3).map(|i| rng.gen_range(lower[i]..=upper[i])).collect();
                let acts = network.activations_from(x);
                for (k, layer) in network.layers.iter().enumerate() {
                    let pre = network.pre_activation(layer, &acts);
                    let b = &optimised.layers[k];
                    for i in 0..layer.width() {
                        assert!(pre[i] >= b.pre_lower[i] && pre[i] <= b.pre_upper[i], "case {case} layer {k} neuron {i}: {} not in [{}, {}]", pre[i], b.pre_lower[i], b.pre_upper[i]);
                    }
                }
            }
        }
        assert!(checked >= 200, "only {checked} nonzero derivatives checked");
    }

    /// Linear bounds enclose dense samples and are never looser than intervals.
    #[test]
    fn linear_bounds_enclose_samples_and_beat_intervals() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut tighter = 0;
        for (case, activation) in [Activation::Relu, Activation::LeakyRelu { alpha: 0.2 }, Activation::Tanh, Activation::Sigmoid].into_iter().cycle().take(24).enumerate() {
            let inputs = 1 + case % 4;
            let net = random_mlp(&mut rng, inputs, &[8, 7, 6], 2, activation);
            let lo: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-1.0..0.0)).collect();
            let hi: Vec<f64> = lo.iter().map(|l| l + rng.gen_range(0.01..1.0)).collect();
            let linear = linear_bounds(&net, &lo, &hi);
            let interval = interval_bounds(&net, &lo, &hi);
            for (a, b) in linear.layers.iter().zip(&interval.layers) {
                for i in 0..a.pre_lower.len() {
                    assert!(a.pre_lower[i] >= b.pre_lower[i] && a.pre_upper[i] <= b.pre_upper[i]);
                    if a.pre_upper[i] - a.pre_lower[i] < 0.999 * (b.pre_upper[i] - b.pre_lower[i]) {
                        tighter += 1;
                    }
                }
            }
            for _ in 0..3000 {
                let x: Vec<f64> = (0..inputs).map(|i| rng.gen_range(lo[i]..=hi[i])).collect();
                let acts = net.activations_from(x);
                for (k, layer) in net.layers.iter().enumerate() {
                    let pre = net.pre_activation(layer, &acts);
                    for i in 0..layer.width() {
                        let b = &linear.layers[k];
                        assert!(pre[i] >= b.pre_lower[i] && pre[i] <= b.pre_upper[i], "case {case} layer {k} neuron {i}: {} not in [{}, {}]", pre[i], b.pre_lower[i], b.pre_upper[i]);
                        assert!(acts[k + 1][i] >= b.post_lower[i] && acts[k + 1][i] <= b.post_upper[i]);
                    }
                }
            }
        }
        assert!(tighter > 50, "linear propagation tightened only {tighter} neurons");
    }
}
