//! Differential bound propagation: bounds on `Delta v = v_f - v_g` for
//! matched neurons and on the output difference `Delta y = y_f - y_g`,
//! without forgetting that `f` and `g` are nearly the same function.
//!
//! Write `Delta a = a_f - a_g`. For layer `k` (weights `W_f`, `W_g`, biases
//! `b_f`, `b_g`)
//!
//! ```text
//! Delta v^k = W_g^k Delta a^(k-1) + (W_f^k - W_g^k) a_f^(k-1) + (b_f^k - b_g^k),
//! v_f^k     = W_f^k a_f^(k-1) + b_f^k,
//! ```
//!
//! and at the input `Delta a^(-1) = x - x'` (zero when both networks see the
//! same input, bounded by the quantisation step otherwise). The weight
//! difference is small for a compressed copy, so the `a_f` path carries little
//! and the `Delta a` path stays at the scale of the difference: this is what a
//! bound on the merged network `f - g` loses.
//!
//! Bounds on a linear function of `Delta v^K` (or `Delta y`) come from
//! back-substitution, as in [`super::linear`] (CROWN/DeepPoly), through the
//! pair of states `(Delta a^j, a_f^j)`: `a_f` is replaced by the relaxation of
//! `f`'s activation on its pre-activation interval, `Delta a` by a linear
//! relaxation in `Delta v` (below), then both by the affine maps above, down
//! to the input, where the linear function is maximised over the box (and the
//! L2 ball when there is one).
//!
//! **Relaxation of `Delta a = sigma(v_f) - sigma(v_g)`.** Each activation
//! gives lines `L(Delta v) <= Delta a <= U(Delta v)` on the neuron's box
//! ([`crate::activation::ActivationRule::difference_relaxation`]; the
//! generic one from local slope bounds by the mean value theorem, with the
//! ReLU cases of ReluDiff and NeuroDiff, is described in
//! [`crate::activation::relaxation`]). Neuron intervals are tightened by
//! `v_g = v_f - Delta v` before use.
//!
//! **Optimised slopes.** Each relaxation above comes with a second valid
//! one ([`crate::activation::RelaxationFamily`]: `f`'s ReLU lower slope, the
//! line or the constant bound of `Delta a`), every weighted mean of the two
//! is valid, so each row of a back-substitution may use its own weights and
//! still give a certified bound. With a [`SlopeOptimisation`]
//! ([`DifferentialPair::with_slopes`]) the weights are chosen by projected
//! gradient steps per row, on the output rows, each network's own neuron
//! bounds, or every layer's rows; the best bound seen per row is kept
//! ([`super::slopes`] has the argument and the derivatives).
//!
//! **Rounding.** Every coefficient is tracked together with the same
//! expression in absolute values (through both lines of every relaxation, see
//! [`super::linear`]); the computed bound is moved outward by `gamma_N` times
//! that magnitude (Higham, Thm 3.5; [`crate::rounding::accumulated_error`];
//! with lines shared by every row, the magnitudes of all rows come from one
//! pass of vectors up the layers, [`RoundingLevels`], instead of a second
//! back-substitution in absolute values),
//! and chords are built by [`crate::rounding::upper_chord`] and
//! [`crate::rounding::lower_chord`], so the bounds hold for the exact
//! networks. An undefined (NaN) bound becomes an infinite one.
//!
//! **Pairing.** Neuron `i` of `f` is paired with neuron `i` of `g`; a
//! structurally pruned `g` is first padded back to `f`'s widths through its
//! kept-neuron map ([`align`]), which does not change its function. A
//! quantiser of `g` pairs with an identity or ReLU neuron of `f` through
//! its gap ([`crate::activation::Activation::gap_to`]), and onnxruntime's
//! int8 layout (an input quantiser, a quantised output read by an identity
//! layer) is brought to `f`'s structure first ([`Alignment`]). Pairs that
//! cannot be aligned (different depths, activations or graphs) fall back to
//! separate linear bounds, `Delta y in [l_f - u_g, u_f - l_g]`.

use super::interval::activation_image;
use super::linear::{relax_row_lean, relax_row_with_bias};
use super::linear::linear_bounds_cut;
use super::{interval_bounds, linear_bounds_optimised, round_down as down, round_up as up, NetworkBounds};
use crate::rounding::{accumulated_error, add_up, mul_up, upper_or_infinity};
use crate::activation::{Activation, LinearBounds};
use super::slopes::{affine_rows, optimise_rows, selected_line_value, weight_derivatives, Evaluation, Lines, NeuronFamily, SlopeOptimisation, ROW_BLOCK};
use crate::network::{dot, Layer, Matrix, Network};
use serde::Serialize;

/// The inputs of both networks for one propagation (first-layer coordinates).
#[derive(Debug, Clone)]
pub struct DifferentialRegion {
    /// Lower corner of the box of `f`'s input `x`.
    pub lower: Vec<f64>,
    /// Upper corner of the box of `x`.
    pub upper: Vec<f64>,
    /// Lower corner of the box of `g`'s input `x'`.
    pub compressed_lower: Vec<f64>,
    /// Upper corner of the box of `x'`.
    pub compressed_upper: Vec<f64>,
    /// Lower bounds of `x - x'` (all 0 when both see the same input).
    pub shift_lower: Vec<f64>,
    /// Upper bounds of `x - x'`.
    pub shift_upper: Vec<f64>,
    /// An L2 ball `(center, radius)` containing `x` (and `x'`), if any.
    pub ball: Option<(Vec<f64>, f64)>,
    /// Scales `s_i >= 1` of the ball: `x` lies in the ellipsoid
    /// `||diag(s) (x - c)|| <= r` ([`crate::InputSet::ball_scales`]).
    pub ball_scales: Option<Vec<f64>>,
    /// Polytope rows `a . x <= b` that `x` satisfies, if any: each row's
    /// maximum over the box is also bounded over the box cut by them
    /// ([`super::polytope`]), and the smaller bound kept.
    pub polytope: Option<std::sync::Arc<Vec<(Vec<f64>, f64)>>>,
}

impl DifferentialRegion {
    /// Both networks see the same `x` in the box.
    pub fn same_input(lower: Vec<f64>, upper: Vec<f64>) -> Self {
        let zeros = vec![0.0; lower.len()];
        DifferentialRegion { compressed_lower: lower.clone(), compressed_upper: upper.clone(), shift_lower: zeros.clone(), shift_upper: zeros, lower, upper, ball: None, ball_scales: None, polytope: None }
    }
}

/// The result of one differential propagation.
#[derive(Debug, Clone, Serialize)]
pub struct DifferentialBounds {
    /// Lower bounds of `Delta y_j = f_j - g_j`.
    pub output_lower: Vec<f64>,
    /// Upper bounds of `Delta y_j`.
    pub output_upper: Vec<f64>,
    /// Bounds `(lower, upper)` of `Delta v` per hidden layer (empty on fallback).
    pub hidden: Vec<(Vec<f64>, Vec<f64>)>,
    /// Bounds `(lower, upper)` of `g`'s pre-activations per hidden layer (empty on fallback).
    #[serde(skip)]
    pub compressed_hidden: Vec<(Vec<f64>, Vec<f64>)>,
    /// `f`'s own bounds.
    #[serde(skip)]
    pub reference_bounds: NetworkBounds,
    /// The corner of the box that maximises the linear bound of the worst
    /// output objective: a candidate witness.
    pub candidate: Vec<f64>,
    /// The maximising corner of every output objective (`+-Delta y_j`),
    /// worst bound first: starting points for the lower-bound search.
    #[serde(skip)]
    pub corners: Vec<Vec<f64>>,
    /// The objective of each corner: output `j` and sign `+1` (`Delta y_j`)
    /// or `-1` (`-Delta y_j`).
    #[serde(skip)]
    pub corner_objectives: Vec<(usize, f64)>,
    /// Per input coordinate, `|coefficient| * width` of the worst output
    /// objective's final linear bound: a hint for splitting.
    pub influence: Vec<f64>,
    /// Unstable neurons of `f` and of `g` (they set the size of an SDP here).
    pub unstable_neurons: usize,
    /// Whether the differential propagation ran (false: separate bounds).
    pub differential: bool,
    /// The fixed relaxation lines of every hidden layer: `(Delta a in
    /// Delta v, a_f in v_f)` per neuron (empty on fallback); what
    /// [`DifferentialPair::output_certificate`] substitutes through.
    #[serde(skip)]
    pub lines: Vec<(Vec<LinearBounds>, Vec<LinearBounds>)>,
    /// Whether some neuron's interval, tightened through `v_g = v_f - Delta
    /// v` (resp. `v_f = v_g + Delta v`), came out empty: every bound it was
    /// built from holds at each input of the region, so no input reaches
    /// it ([`DifferentialBounds::is_empty`]; the looser interval is used on).
    #[serde(skip)]
    pub crossed: bool,
}

impl DifferentialBounds {
    /// `max(upper_j, -lower_j)`: the bound on `|Delta y_j|`.
    /// An undefined (NaN) end gives `+inf`: no bound.
    pub fn per_output_abs(&self) -> Vec<f64> {
        self.output_lower.iter().zip(&self.output_upper).map(|(l, u)| if l.is_nan() || u.is_nan() { f64::INFINITY } else { u.max(-l).max(0.0) }).collect()
    }
}

/// `g` padded to `f`'s hidden widths (through `g`'s kept-neuron map, or
/// index by index when the widths agree), so neuron `i` of `f` pairs with
/// neuron `i` of the result; the padded neurons have no weights in or out, so
/// the function is unchanged. `None` when the two cannot be paired (not plain
/// chains, different depths, activations, input or output widths, or a map
/// that is not one-to-one).
pub fn align(f: &Network, g: &Network) -> Option<Network> {
    if !f.is_chain() || !g.is_chain() || f.layers.len() != g.layers.len() || f.input_dim != g.input_dim || f.output_dim() != g.output_dim() {
        return None;
    }
    let depth = f.layers.len();
    // maps[k][j]: the index in f's layer k of g's neuron j (the one pairing
    // every method uses); every layer must pair, the output one to one
    let maps: Vec<Vec<usize>> = crate::problem::neuron_map_with(f, g, &|a, b| a.pairs_with(b))?.into_iter().collect::<Option<_>>()?;
    if maps[depth - 1].iter().enumerate().any(|(j, &i)| i != j) || maps[depth - 1].len() != f.layers[depth - 1].width() {
        return None;
    }
    let mut aligned = g.clone();
    aligned.kept_neurons = None;
    for k in 0..depth {
        let rows = f.layers[k].width();
        let cols = f.width_of(k);
        let source = &g.layers[k];
        let mut weights = Matrix::zeros(rows, cols);
        let mut bias = vec![0.0; rows];
        for (j, &i) in maps[k].iter().enumerate() {
            bias[i] = source.bias[j];
            for c in 0..source.terms[0].weights.cols {
                let column = if k == 0 { c } else { maps[k - 1][c] };
                *weights.get_mut(i, column) = source.terms[0].weights.get(j, c);
            }
        }
        aligned.layers[k] = Layer::dense(k, weights, bias, source.activation);
    }
    Some(aligned)
}

/// The pair brought to one structure for differential propagation, as
/// onnxruntime's int8 models need: their graphs quantise the float input
/// and the output, which the float network does not.
///
/// - A hidden layer that computes nothing (identity weights, zero bias,
///   identity activation) is dropped from either network: the next layer
///   reads the same vector.
/// - A first layer of `g` that only quantises the input (identity weights,
///   zero bias, a quantiser) becomes [`Alignment::input_quantiser`]: `g`'s
///   next layer reads `x'' = Q(x')`, which the region carries
///   (`quantised_input_region`).
/// - When `g` then ends in one extra identity layer (a quantised output
///   read by an identity map), `f` gets one too, so `f`'s output neurons
///   pair with `g`'s quantised ones ([`Activation::gap_to`]).
///
/// Each step leaves both functions unchanged; [`align`] then pads `g` to
/// `f`'s widths.
pub struct Alignment {
    /// `f`, possibly with a trailing identity layer.
    pub reference: Network,
    /// `g` aligned to `f`.
    pub compressed: Network,
    /// `g`'s input quantiser, now applied to the region.
    pub input_quantiser: Option<Activation>,
}

impl Alignment {
    /// `f` and `g` in one structure, or None when they do not pair.
    pub fn new(f: &Network, g: &Network) -> Option<Alignment> {
        if !f.is_chain() || !g.is_chain() {
            return None;
        }
        let mut reference = without_empty_layers(f);
        let mut compressed = without_empty_layers(g);
        let mut input_quantiser = None;
        let quantises_input = |n: &Network| n.layers.len() > 1 && is_pass_through(&n.layers[0]) && matches!(n.layers[0].activation, Activation::Quantize { .. });
        if quantises_input(&compressed) && !quantises_input(&reference) && compressed.kept_neurons.is_none() {
            input_quantiser = Some(compressed.layers[0].activation);
            compressed.layers.remove(0);
            renumber_chain(&mut compressed);
        }
        if compressed.layers.len() == reference.layers.len() + 1 && compressed.kept_neurons.is_none() {
            let last = compressed.layers.last().expect("layers");
            if is_pass_through(last) && last.activation == Activation::Identity {
                let width = reference.output_dim();
                let depth = reference.layers.len();
                reference.layers.push(Layer::dense(depth, Matrix::identity(width), vec![0.0; width], Activation::Identity));
            }
        }
        let compressed = align(&reference, &compressed)?;
        Some(Alignment { reference, compressed, input_quantiser })
    }
}

/// Whether a layer passes its input on unchanged before its activation: one
/// term reading the previous layer with the identity matrix, zero bias.
fn is_pass_through(layer: &Layer) -> bool {
    let weights = &layer.terms[0].weights;
    layer.terms.len() == 1
        && weights.rows == weights.cols
        && layer.bias.iter().all(|b| *b == 0.0)
        && (0..weights.rows).all(|i| (0..weights.cols).all(|j| weights.get(i, j) == if i == j { 1.0 } else { 0.0 }))
}

/// `network` without hidden layers that compute nothing (pass-through with
/// the identity activation); a pruned network (with a kept-neuron map) is
/// left as it is.
fn without_empty_layers(network: &Network) -> Network {
    let mut out = network.clone();
    if out.kept_neurons.is_some() {
        return out;
    }
    let depth = out.layers.len();
    let mut k = 0;
    let mut removed = 0;
    out.layers.retain(|layer| {
        k += 1;
        let empty = k < depth && is_pass_through(layer) && layer.activation == Activation::Identity;
        removed += usize::from(empty);
        !empty
    });
    if removed > 0 {
        renumber_chain(&mut out);
    }
    out
}

/// Makes every layer of a chain read the one before it again (after layers
/// were removed).
fn renumber_chain(network: &mut Network) {
    for (k, layer) in network.layers.iter_mut().enumerate() {
        layer.terms[0].source = k;
    }
}

/// Per-layer data of the pair: weights, their difference and magnitudes.
struct LayerPair {
    weights_f: Matrix,
    weights_g: Matrix,
    weights_difference: Matrix,
    abs_f: Matrix,
    abs_g: Matrix,
    /// `|W_f - W_g|` as computed.
    abs_difference: Matrix,
    bias_f: Vec<f64>,
    /// `g`'s bias as it is (for the pre-activation of a phase constraint on `g`).
    bias_g: Vec<f64>,
    bias_difference: Vec<f64>,
    abs_bias_f: Vec<f64>,
    abs_bias_difference: Vec<f64>,
    /// `g`'s activation (`f`'s, or a quantiser paired with `f`'s ReLU).
    compressed_activation: Activation,
}

fn abs_matrix(m: &Matrix) -> Matrix {
    Matrix { rows: m.rows, cols: m.cols, data: m.data.iter().map(|v| v.abs()).collect() }
}

impl LayerPair {
    fn new(f: &Layer, g: &Layer) -> Self {
        let (wf, wg) = (&f.terms[0].weights, &g.terms[0].weights);
        let difference = Matrix { rows: wf.rows, cols: wf.cols, data: wf.data.iter().zip(&wg.data).map(|(a, b)| a - b).collect() };
        // |fl(a - b) - (a - b)| <= u |fl(a - b)| / (1 - u): the computed
        // difference's magnitude covers its own rounding (one more operation
        // in the chain)
        let abs_difference = abs_matrix(&difference);
        LayerPair {
            abs_f: abs_matrix(wf),
            abs_g: abs_matrix(wg),
            weights_f: wf.clone(),
            weights_g: wg.clone(),
            weights_difference: difference,
            abs_difference,
            abs_bias_f: f.bias.iter().map(|b| b.abs()).collect(),
            abs_bias_difference: f.bias.iter().zip(&g.bias).map(|(a, b)| (a - b).abs()).collect(),
            bias_difference: f.bias.iter().zip(&g.bias).map(|(a, b)| a - b).collect(),
            bias_f: f.bias.clone(),
            bias_g: g.bias.clone(),
            compressed_activation: g.activation,
        }
    }
}


/// One row maximised over the region.
struct Concrete {
    /// The certified bound of the row.
    value: f64,
    /// The box corner maximising the row's coefficients on `x`.
    corner: Vec<f64>,
    /// `|coefficient| * width` per input coordinate.
    influence: Vec<f64>,
    /// Where the bound is attained: `x` (the corner, or the ball's point).
    maximiser: Vec<f64>,
    /// And `x - x'`.
    shift: Vec<f64>,
}

/// A linear bound being back-substituted: rows of `Lambda_D Delta a + Lambda_F a_f + c`
/// and, for the rounding slack, the same expression in absolute values
/// (per row, or for all rows at once from [`RoundingLevels`] when every row
/// uses the same lines).
struct Backward {
    on_delta: Matrix,
    on_reference: Matrix,
    constant: Vec<f64>,
    /// The magnitudes per row; `None` when they come from [`RoundingLevels`].
    magnitude: Option<Magnitude>,
    chain: usize,
}

/// `|Lambda_D|`, `|Lambda_F|` and `|c|` as propagated (bounds on the
/// magnitudes of every term of the computation, docs/method.md §11).
struct Magnitude {
    delta: Matrix,
    reference: Matrix,
    constant: Vec<f64>,
}

impl Backward {
    /// `sign * Delta v^k` for every neuron of layer `k`, already substituted
    /// through layer `k`'s affine maps (so in terms of `Delta a^(k-1)`, `a_f^(k-1)`).
    fn start(pair: &LayerPair, rows: &[usize], sign: f64) -> Self {
        let mut backward = Self::start_lean(pair, rows, sign);
        backward.magnitude = Some(Magnitude {
            delta: pair.abs_g.select_rows(rows),
            reference: pair.abs_difference.select_rows(rows),
            constant: rows.iter().map(|&i| pair.abs_bias_difference[i]).collect(),
        });
        backward
    }

    /// [`Backward::start`] without per-row magnitudes: for lines shared by
    /// every row, whose magnitudes [`RoundingLevels::row_totals`] gives.
    fn start_lean(pair: &LayerPair, rows: &[usize], sign: f64) -> Self {
        let scale = |m: &Matrix| {
            let mut m = m.select_rows(rows);
            m.data.iter_mut().for_each(|v| *v *= sign);
            m
        };
        Backward {
            on_delta: scale(&pair.weights_g),
            on_reference: scale(&pair.weights_difference),
            constant: rows.iter().map(|&i| sign * pair.bias_difference[i]).collect(),
            magnitude: None,
            chain: 2 * pair.weights_f.cols + 4,
        }
    }

    /// Replaces `Delta a^j` and `a_f^j` by their relaxations (chosen per
    /// coefficient sign: this bounds from above), then by layer `j`'s maps.
    /// With `record`, the coefficients on `(Delta a^j, a_f^j)` before the
    /// relaxation are pushed there (for the derivatives of optimised slopes).
    fn through(&mut self, delta_relax: Lines, reference_relax: Lines, pair: &LayerPair, record: Option<&mut Vec<(Matrix, Matrix)>>) {
        if let Some(record) = record {
            record.push((self.on_delta.clone(), self.on_reference.clone()));
        }
        let cols = self.on_delta.cols;
        match self.magnitude.as_mut() {
            Some(magnitude) => {
                for r in 0..self.on_delta.rows {
                    let span = r * cols..(r + 1) * cols;
                    // relaxed, then the next layer's bias, in one pass per row
                    let [a, am, ab, abm] = relax_row_with_bias(&mut self.on_delta.data[span.clone()], &mut magnitude.delta.data[span.clone()], delta_relax.row(r), Some((&pair.bias_difference, &pair.abs_bias_difference)));
                    let [b, bm, bb, bbm] = relax_row_with_bias(&mut self.on_reference.data[span.clone()], &mut magnitude.reference.data[span], reference_relax.row(r), Some((&pair.bias_f, &pair.abs_bias_f)));
                    self.constant[r] += a + b;
                    magnitude.constant[r] += am + bm;
                    self.constant[r] += ab + bb;
                    magnitude.constant[r] += abm + bbm;
                }
                let delta = magnitude.delta.matmul(&pair.abs_g);
                let mut reference = magnitude.delta.matmul(&pair.abs_difference);
                magnitude.reference.matmul_into(&pair.abs_f, &mut reference, true);
                magnitude.delta = delta;
                magnitude.reference = reference;
            }
            None => {
                for r in 0..self.on_delta.rows {
                    let span = r * cols..(r + 1) * cols;
                    let [a, ab] = relax_row_lean(&mut self.on_delta.data[span.clone()], delta_relax.row(r), &pair.bias_difference);
                    let [b, bb] = relax_row_lean(&mut self.on_reference.data[span], reference_relax.row(r), &pair.bias_f);
                    self.constant[r] += a + b;
                    self.constant[r] += ab + bb;
                }
            }
        }
        let on_delta = self.on_delta.matmul(&pair.weights_g);
        let mut on_reference = self.on_delta.matmul(&pair.weights_difference);
        self.on_reference.matmul_into(&pair.weights_f, &mut on_reference, true);
        self.on_delta = on_delta;
        self.on_reference = on_reference;
        self.chain += 2 * pair.weights_f.cols + 6;
    }

    /// Adds `beta_p s_p v_p` for every phase constraint `s_p v_p >= 0` of
    /// layer `j` (`v_p` that layer's pre-activation of `f`'s or `g`'s neuron,
    /// `s_p = +1` active, `-1` inactive) to each row, which [`Backward::through`]
    /// has just brought to `(Delta a^(j-1), a_f^(j-1))`: `v_f = W_f a_f + b_f`,
    /// `v_g = W_g (a_f - Delta a) + b_g`. With `beta_p >= 0` the row's
    /// expression only grows where the constraints hold (docs/method.md §9b).
    /// `multipliers` holds `beta` row-major, `parameters` per row; the terms'
    /// magnitudes join the rows' and the chain grows by a multiply and an add
    /// per constraint.
    fn add_phase_terms(&mut self, pair: &LayerPair, constraints: &[(usize, Side, f64, usize)], multipliers: &[f64], parameters: usize) {
        if constraints.is_empty() {
            return;
        }
        let cols = self.on_delta.cols;
        let magnitude = self.magnitude.as_mut().expect("phase terms need per-row magnitudes");
        for r in 0..self.on_delta.rows {
            for &(neuron, side, phase_sign, p) in constraints {
                let beta = multipliers[r * parameters + p];
                if beta <= 0.0 || !beta.is_finite() {
                    continue;
                }
                let weight = beta * phase_sign;
                let (weights, bias) = match side {
                    Side::Reference => (pair.weights_f.row(neuron), pair.bias_f[neuron]),
                    Side::Compressed => (pair.weights_g.row(neuron), pair.bias_g[neuron]),
                };
                let span = r * cols..(r + 1) * cols;
                for ((c, m), w) in self.on_reference.data[span.clone()].iter_mut().zip(&mut magnitude.reference.data[span.clone()]).zip(weights) {
                    *c += weight * w;
                    *m += beta * w.abs();
                }
                if side == Side::Compressed {
                    for ((c, m), w) in self.on_delta.data[span.clone()].iter_mut().zip(&mut magnitude.delta.data[span.clone()]).zip(weights) {
                        *c -= weight * w;
                        *m += beta * w.abs();
                    }
                }
                self.constant[r] += weight * bias;
                magnitude.constant[r] += beta * bias.abs();
            }
        }
        // each coefficient takes one product and one sum per constraint
        self.chain += 2 * constraints.len();
    }

    /// Maximises each row over the region: the bound, the maximising corner
    /// and the per-coordinate influence. `totals` gives each row's magnitude
    /// (box, ball) when the rows carry none.
    fn concretize(&self, region: &DifferentialRegion, totals: Option<&[(f64, f64)]>) -> Vec<(f64, Vec<f64>, Vec<f64>)> {
        self.concretize_with_maximisers(region, totals).into_iter().map(|c| (c.value, c.corner, c.influence)).collect()
    }

    /// Per row, the magnitude of every term of its bound (box-maximised, and
    /// with the ball's `|c| + radius` on `x`), when the rows carry magnitudes.
    fn magnitude_totals(&self, region: &DifferentialRegion) -> Option<Vec<(f64, f64)>> {
        let magnitude = self.magnitude.as_ref()?;
        let n = region.lower.len();
        let totals = (0..self.on_delta.rows)
            .map(|r| {
                let (mf, md) = (magnitude.reference.row(r), magnitude.delta.row(r));
                let mut shift_magnitude = 0.0;
                let mut box_magnitude = 0.0;
                for i in 0..n {
                    shift_magnitude += md[i] * region.shift_lower[i].abs().max(region.shift_upper[i].abs());
                    box_magnitude += mf[i] * region.lower[i].abs().max(region.upper[i].abs());
                }
                let base_magnitude = magnitude.constant[r] + shift_magnitude;
                let ball_magnitude: f64 = region.ball.as_ref().map_or(box_magnitude, |ball| mf.iter().zip(ball_magnitudes(ball, region.ball_scales.as_deref())).map(|(m, c)| m * c).sum());
                (base_magnitude + box_magnitude, base_magnitude + ball_magnitude)
            })
            .collect();
        Some(totals)
    }

    /// [`Backward::concretize`] with the point where each row's bound is
    /// attained: `x` (the box corner, or the L2 ball's point when the ball
    /// gave the bound) and `x - x'` (a corner of its box).
    fn concretize_with_maximisers(&self, region: &DifferentialRegion, totals: Option<&[(f64, f64)]>) -> Vec<Concrete> {
        let n = region.lower.len();
        let chain = self.chain + 2 * n + 8;
        let own_totals = self.magnitude_totals(region);
        (0..self.on_delta.rows)
            .map(|r| {
                let (lf, ld) = (self.on_reference.row(r), self.on_delta.row(r));
                let mut shift_part = 0.0;
                let mut influence = vec![0.0; n];
                for i in 0..n {
                    shift_part += (ld[i] * region.shift_lower[i]).max(ld[i] * region.shift_upper[i]);
                    influence[i] = lf[i].abs() * (region.upper[i] - region.lower[i]) + ld[i].abs() * (region.shift_upper[i] - region.shift_lower[i]);
                }
                let mut box_part = 0.0;
                let mut corner = Vec::with_capacity(n);
                for i in 0..n {
                    let (a, b) = (lf[i] * region.lower[i], lf[i] * region.upper[i]);
                    box_part += a.max(b);
                    corner.push(if b >= a { region.upper[i] } else { region.lower[i] });
                }
                let (box_total, ball_total) = match (&own_totals, totals) {
                    (Some(own), _) => own[r],
                    (None, Some(totals)) => totals[r],
                    (None, None) => unreachable!("rows without magnitudes are concretised with their totals"),
                };
                let base = self.constant[r] + shift_part;
                let mut value = add_up(base + box_part, accumulated_error(chain, box_total));
                let mut maximiser = None;
                // the coefficients' own rounding is in the box's magnitude
                // term (x stays in the box); the cut box's maximum of the
                // computed row is bounded outward by the dual
                if let Some(rows) = region.polytope.as_deref().filter(|_| value > f64::NEG_INFINITY) {
                    let lambda = super::polytope::multipliers(lf, &region.lower, &region.upper, rows);
                    if lambda.iter().any(|l| *l > 0.0) {
                        let cut_value = add_up(add_up(base, super::polytope::dual_bound(lf, &region.lower, &region.upper, rows, &lambda)), accumulated_error(chain, box_total));
                        if cut_value < value {
                            value = cut_value;
                        }
                    }
                }
                if let Some((center, radius)) = &region.ball {
                    // the maximum of lf . x over ||S (x - c)|| <= r is lf . c +
                    // r ||S^-1 lf||, at c + r S^-2 lf / ||S^-1 lf|| (S = I
                    // without scales); ||S^-1 lf|| of the computed
                    // coefficients rounded up (their own error is in the
                    // magnitude term)
                    let scaled: Vec<f64> = match region.ball_scales.as_deref() {
                        Some(scales) => lf.iter().zip(scales).map(|(c, s)| crate::rounding::div_up(c.abs(), *s)).collect(),
                        None => lf.iter().map(|c| c.abs()).collect(),
                    };
                    let norm = crate::rounding::sum_up(scaled.iter().map(|c| mul_up(*c, *c))).sqrt().next_up();
                    let ball_part = dot(lf, center) + mul_up(*radius, norm);
                    let ball_value = add_up(base + ball_part, accumulated_error(chain, ball_total));
                    if !ball_value.is_nan() && (value.is_nan() || ball_value < value) {
                        value = ball_value;
                        if norm > 0.0 && norm.is_finite() {
                            let scales = region.ball_scales.as_deref();
                            maximiser = Some((0..n).map(|i| center[i] + radius * lf[i] / scales.map_or(1.0, |s| s[i] * s[i]) / norm).collect());
                        }
                    }
                }
                let shift = (0..n).map(|i| if ld[i] >= 0.0 { region.shift_upper[i] } else { region.shift_lower[i] }).collect();
                Concrete { value: upper_or_infinity(value), maximiser: maximiser.unwrap_or_else(|| corner.clone()), corner, influence, shift }
            })
            .collect()
    }
}

/// Bounds on `|x_i|` over the ball `(c, r)`, or the ellipsoid its `scales`
/// make of it: `|c_i| + r / s_i` (rounded up).
fn ball_magnitudes((center, radius): &(Vec<f64>, f64), scales: Option<&[f64]>) -> Vec<f64> {
    (0..center.len()).map(|i| add_up(center[i].abs(), scales.map_or(*radius, |s| crate::rounding::div_up(*radius, s[i])))).collect()
}

/// The rounding magnitudes of back-substitutions with lines shared by every
/// row, for all rows at once. A row's magnitudes propagate linearly (through
/// `|W|` and the largest `|slope|` of each relaxation, adding the largest
/// `|intercept|` and `|bias|` to the constant's), so the total a row
/// `(m_D, m_F)` on `(Delta a^j, a_f^j)` reaches at the input is `m_D . z_D^j
/// + m_F . z_F^j`, with
///
/// ```text
/// z_D^j = i_D^j + s_D^j * (|b_f^j - b_g^j| + |W_g^j| z_D^(j-1) + |W_f^j - W_g^j| z_F^(j-1)),
/// z_F^j = i_F^j + s_F^j * (|b_f^j| + |W_f^j| z_F^(j-1)),
/// ```
///
/// (`s`, `i`: the largest `|slope|`, `|intercept|` of each neuron's lines),
/// starting at the input from `max |x - x'|` and `max |x|` over the box (or
/// `|centre| + radius` for the ball). This is the same sum of the same
/// non-negative terms as the per-row magnitudes, in another order, and is
/// padded the same way ([`crate::rounding::accumulated_error`]).
struct RoundingLevels {
    /// `(z_D, z_F)` per level: the input, then after each hidden layer.
    boxed: Vec<(Vec<f64>, Vec<f64>)>,
    /// The same from the ball's `|centre| + radius` on `x`, when there is a ball.
    ball: Option<Vec<(Vec<f64>, Vec<f64>)>>,
}

impl RoundingLevels {
    fn new(region: &DifferentialRegion) -> Self {
        let shift: Vec<f64> = region.shift_lower.iter().zip(&region.shift_upper).map(|(l, u)| l.abs().max(u.abs())).collect();
        let input: Vec<f64> = region.lower.iter().zip(&region.upper).map(|(l, u)| l.abs().max(u.abs())).collect();
        let ball = region.ball.as_ref().map(|ball| vec![(shift.clone(), ball_magnitudes(ball, region.ball_scales.as_deref()))]);
        RoundingLevels { boxed: vec![(shift, input)], ball }
    }

    /// Adds the level after hidden layer `j` (its pair and its relaxations).
    fn push(&mut self, pair: &LayerPair, delta_relax: &[LinearBounds], reference_relax: &[LinearBounds]) {
        fn next(below: &(Vec<f64>, Vec<f64>), pair: &LayerPair, delta_relax: &[LinearBounds], reference_relax: &[LinearBounds]) -> (Vec<f64>, Vec<f64>) {
            let (zd, zr) = below;
            let width = pair.weights_f.rows;
            let mut delta = Vec::with_capacity(width);
            let mut reference = Vec::with_capacity(width);
            for i in 0..width {
                let (d, f) = (&delta_relax[i], &reference_relax[i]);
                let through_delta = pair.abs_bias_difference[i] + dot(pair.abs_g.row(i), zd) + dot(pair.abs_difference.row(i), zr);
                let through_reference = pair.abs_bias_f[i] + dot(pair.abs_f.row(i), zr);
                delta.push(d.lower_intercept.abs().max(d.upper_intercept.abs()) + d.lower_slope.abs().max(d.upper_slope.abs()) * through_delta);
                reference.push(f.lower_intercept.abs().max(f.upper_intercept.abs()) + f.lower_slope.abs().max(f.upper_slope.abs()) * through_reference);
            }
            (delta, reference)
        }
        let boxed = next(self.boxed.last().expect("the input level"), pair, delta_relax, reference_relax);
        self.boxed.push(boxed);
        if let Some(ball) = self.ball.as_mut() {
            let level = next(ball.last().expect("the input level"), pair, delta_relax, reference_relax);
            ball.push(level);
        }
    }

    /// The magnitude totals (box, ball) of the rows `rows` of layer `k`
    /// started by [`Backward::start_lean`] and taken through every layer below.
    fn row_totals(&self, pair: &LayerPair, k: usize, rows: &[usize]) -> Vec<(f64, f64)> {
        let total = |(zd, zr): &(Vec<f64>, Vec<f64>), i: usize| pair.abs_bias_difference[i] + dot(pair.abs_g.row(i), zd) + dot(pair.abs_difference.row(i), zr);
        rows.iter()
            .map(|&i| {
                let boxed = total(&self.boxed[k], i);
                (boxed, self.ball.as_ref().map_or(boxed, |ball| total(&ball[k], i)))
            })
            .collect()
    }
}

/// Differential bounds of `f` versus `g` over `region` (first-layer
/// coordinates; neither network has an input transform).
pub fn differential_bounds(f: &Network, g: &Network, region: &DifferentialRegion) -> DifferentialBounds {
    DifferentialPair::new(f, g).bounds_within(region, None)
}

/// A pair prepared once for many propagations (input splitting): `g`
/// aligned to `f`, the weight differences and magnitudes per layer, and
/// whether the pair is close.
pub struct DifferentialPair<'a> {
    reference: &'a Network,
    compressed: &'a Network,
    /// The pair brought to one structure, its layer pairs, and whether it is close.
    aligned: Option<(Alignment, Vec<LayerPair>, bool)>,
    /// How the free lines of the relaxations are chosen.
    slopes: SlopeOptimisation,
}

impl<'a> DifferentialPair<'a> {
    /// Prepares `f` versus `g`.
    pub fn new(reference: &'a Network, compressed: &'a Network) -> Self {
        let aligned = Alignment::new(reference, compressed).map(|alignment| {
            let pairs = alignment.reference.layers.iter().zip(&alignment.compressed.layers).map(|(a, b)| LayerPair::new(a, b)).collect();
            let close = is_close_pair(&alignment.reference, &alignment.compressed);
            (alignment, pairs, close)
        });
        DifferentialPair { reference, compressed, aligned, slopes: SlopeOptimisation::NONE }
    }

    /// Whether the two networks pair neuron by neuron (otherwise every bound
    /// is the fallback of separate linear bounds).
    pub fn is_differential(&self) -> bool {
        self.aligned.is_some()
    }

    /// The same pair with optimised relaxation slopes ([`super::slopes`]) in
    /// every propagation.
    pub fn with_slopes(mut self, slopes: SlopeOptimisation) -> Self {
        self.slopes = slopes;
        self
    }

    /// The slope setting of its propagations.
    pub fn slopes(&self) -> SlopeOptimisation {
        self.slopes
    }

    /// The pair in the one structure its propagations use, `(f, g)` with
    /// neuron `i` of `f`'s hidden layer `k` paired with neuron `i` of `g`'s
    /// (both functions unchanged, [`Alignment`]), when that structure reads
    /// the region as it is: None for unpaired networks and for a `g` whose
    /// input quantiser was moved into the region.
    pub fn aligned_networks(&self) -> Option<(&Network, &Network)> {
        self.aligned.as_ref().filter(|(alignment, _, _)| alignment.input_quantiser.is_none()).map(|(alignment, _, _)| (&alignment.reference, &alignment.compressed))
    }

    /// Differential bounds over `region`; with `parent` (bounds over a region
    /// containing this one, as in input splitting) the parent's bounds stay
    /// valid, are intersected in, and neurons that are linear there are not
    /// bounded again.
    pub fn bounds_within(&self, region: &DifferentialRegion, parent: Option<&DifferentialBounds>) -> DifferentialBounds {
        self.bounds_with_slopes(region, parent, &self.slopes)
    }

    /// [`DifferentialPair::bounds_within`] with the slope setting `slopes`
    /// instead of the pair's.
    pub fn bounds_with_slopes(&self, region: &DifferentialRegion, parent: Option<&DifferentialBounds>, slopes: &SlopeOptimisation) -> DifferentialBounds {
        self.bounds_reusing(region, parent, slopes, true)
    }

    /// [`DifferentialPair::bounds_with_slopes`]; with `keep_linear` false,
    /// `f`'s neurons on one linear piece of both networks over the parent's
    /// region are bounded again too instead of keeping the parent's interval
    /// (the difference's rows of such neurons are skipped either way: their
    /// lines are exact, and bounding them again measured slower on ACAS Xu,
    /// property 1, with no piece fewer).
    ///
    /// Keeping them saves about a third of a piece's time (ACAS Xu, eps 0.05:
    /// 2.0 ms against 2.9 ms a piece), and their lines are exact either way,
    /// but their intervals feed the next layer's interval step: an interval
    /// kept from an ancestor many halvings up can leave a neuron of the next
    /// layer unstable that a fresh interval makes stable. Measured on ACAS
    /// Xu 2_6, property 1: a piece 62 halvings deep bounded at 1.3e-2 where
    /// the same box bounded afresh gives 8e-6. Input splitting therefore
    /// bounds afresh every few halvings and where no split gains
    /// ([`crate::branch_and_bound::REFRESH_DEPTH`]).
    pub fn bounds_reusing(&self, region: &DifferentialRegion, parent: Option<&DifferentialBounds>, slopes: &SlopeOptimisation, keep_linear: bool) -> DifferentialBounds {
        let parent = parent.filter(|p| p.differential);
        // f's (and g's) own bounds, optimised on every layer for the scopes that ask
        let own = slopes.network_bounds();
        match &self.aligned {
            Some((alignment, pairs, close)) => {
                let f = &alignment.reference;
                let depth = f.layers.len();
                let keep = |k: usize, i: usize| keep_linear && k + 1 < depth && parent.is_some_and(|p| one_linear_piece(p, f.layers[k].activation, pairs[k].compressed_activation, k, i));
                let input_rows = region.polytope.as_deref().map_or(&[][..], |rows| rows.as_slice());
                let bounds_f = linear_bounds_cut(f, &region.lower, &region.upper, input_rows, parent.map(|p| &p.reference_bounds), &keep, &own);
                let moved = alignment.propagation_region(region);
                let region = moved.as_ref();
                let aligned = &alignment.compressed;
                let bounds_g = if *close {
                    interval_bounds(aligned, &region.compressed_lower, &region.compressed_upper)
                } else {
                    linear_bounds_optimised(aligned, &region.compressed_lower, &region.compressed_upper, &own)
                };
                propagate(f, pairs, bounds_f, &bounds_g, region, parent, slopes)
            }
            None => {
                let f = self.reference;
                let input_rows = region.polytope.as_deref().map_or(&[][..], |rows| rows.as_slice());
                let bounds_f = linear_bounds_cut(f, &region.lower, &region.upper, input_rows, None, &|_, _| false, &own);
                let bounds_g = linear_bounds_optimised(self.compressed, &region.compressed_lower, &region.compressed_upper, &own);
                separate(f, self.compressed, bounds_f, &bounds_g, region)
            }
        }
    }
}

/// The multipliers behind one output bound of a propagation: substituting
/// back from `sign * Delta y_j`, the coefficient each hidden neuron's
/// `Delta a` and `a_f` had when its relaxation line replaced it, and the
/// final coefficients on the input. With them,
///
/// ```text
/// sign * Delta y_j + sum_i |c_i| (line_i - activation_i) = constant + c . x + d . (x - x')
/// ```
///
/// holds identically (each `|c_i| (line - activation)` is a nonnegative
/// fact on the set: the upper line's gap where `c_i >= 0`, the lower
/// line's where `c_i < 0`), and the input's terms are closed by the set
/// (the box's sides, an L2 constraint or polytope rows; the bounds on `x -
/// x'`): the propagation's bound as a Lagrangian certificate, which the SDP
/// takes as its first-order solver's start.
#[derive(Debug, Clone)]
pub struct OutputCertificate {
    /// Per hidden layer, the coefficients on `Delta a` and on `a_f` of every neuron.
    pub layers: Vec<(Vec<f64>, Vec<f64>)>,
    /// The coefficients on the input `x`.
    pub input: Vec<f64>,
    /// The coefficients on `x - x'` where `g` sees its own input `x'`.
    pub shift: Vec<f64>,
    /// The constant the back-substitution collected (biases and the lines'
    /// intercepts): the bound is `constant + max c . x + max d . (x - x')`
    /// over the region (`c` = [`OutputCertificate::input`], `d` = `shift`).
    pub constant: f64,
}

impl DifferentialPair<'_> {
    /// Whether the pair propagates as it is (the same layers and widths and
    /// activations, no quantiser moved into the region, no padding): then
    /// layer `k`, neuron `i` of the propagation is that neuron of `f` and `g`.
    pub fn is_plain(&self) -> bool {
        let Some((alignment, _, _)) = &self.aligned else { return false };
        alignment.input_quantiser.is_none()
            && self.compressed.kept_neurons.is_none()
            && alignment.reference.layers.len() == self.reference.layers.len()
            && alignment.compressed.layers.len() == self.compressed.layers.len()
            && self.reference.layers.iter().zip(&self.compressed.layers).all(|(a, b)| a.activation == b.activation && a.width() == b.width())
    }

    /// Whether the pair propagates as it is up to padding: plain
    /// ([`DifferentialPair::is_plain`]), or `g` structurally pruned, its
    /// neurons paired with `f`'s through its kept-neuron map and the
    /// others padded with neurons that have no weights in or out (`v_g = 0`,
    /// `a_g = sigma(0)`). Then layer `k`, neuron `i` of the propagation is
    /// that neuron of `f`, and of `g` its counterpart or a padded one.
    pub fn is_plain_or_pruned(&self) -> bool {
        let Some((alignment, _, _)) = &self.aligned else { return false };
        alignment.input_quantiser.is_none()
            && alignment.reference.layers.len() == self.reference.layers.len()
            && alignment.compressed.layers.len() == self.compressed.layers.len()
            && self.reference.layers.iter().zip(&self.compressed.layers).all(|(a, b)| a.activation == b.activation && a.width() >= b.width())
    }

    /// The certificate of `sign * Delta y_output`'s bound through the fixed
    /// lines of `bounds` (a propagation of this pair over its region, its
    /// intervals tightened by whatever slopes it used; the coefficients are
    /// per neuron of `f`, [`DifferentialPair::is_plain_or_pruned`]):
    /// None when the pair is neither plain nor pruned or the bounds are a
    /// fallback.
    pub fn output_certificate(&self, bounds: &DifferentialBounds, output: usize, sign: f64) -> Option<OutputCertificate> {
        if !self.is_plain_or_pruned() || !bounds.differential {
            return None;
        }
        let (_, pairs, _) = self.aligned.as_ref()?;
        let depth = pairs.len();
        if bounds.lines.len() + 1 != depth || output >= self.reference.output_dim() {
            return None;
        }
        let (backward, record) = substitute_with_record(pairs, bounds, output, sign);
        Some(OutputCertificate { layers: record.into_iter().map(|(delta, reference)| (delta.row(0).to_vec(), reference.row(0).to_vec())).collect(), input: backward.on_reference.row(0).to_vec(), shift: backward.on_delta.row(0).to_vec(), constant: backward.constant[0] })
    }
}

/// `sign * Delta y_output` back-substituted through the fixed lines of
/// `bounds` (one row): the result, and per hidden layer (in layer order) the
/// coefficients on `(Delta a, a_f)` where the lines replaced them.
fn substitute_with_record(pairs: &[LayerPair], bounds: &DifferentialBounds, output: usize, sign: f64) -> (Backward, Vec<(Matrix, Matrix)>) {
    let depth = pairs.len();
    let mut backward = Backward::start(&pairs[depth - 1], &[output], sign);
    let mut record = Vec::new();
    for j in (0..depth - 1).rev() {
        backward.through(Lines::Shared(&bounds.lines[j].0), Lines::Shared(&bounds.lines[j].1), &pairs[j], Some(&mut record));
    }
    record.reverse();
    (backward, record)
}

/// Which network's neuron a phase split fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// `f`'s neuron.
    Reference,
    /// `g`'s neuron.
    Compressed,
}

/// A split of a region on the phase of one neuron whose activation has its
/// kink at 0 (ReLU, LeakyReLU): the halves are the inputs where its
/// pre-activation `v >= 0` and where `v <= 0`. Together they cover the
/// region, so the larger of the halves' bounds bounds it (docs/method.md §9b).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PhaseSplit {
    /// Whose neuron.
    pub side: Side,
    /// Hidden layer (of the pair as propagated).
    pub layer: usize,
    /// Neuron index in the layer.
    pub neuron: usize,
    /// How much the bound it was chosen for owes to this neuron's
    /// relaxations: `|c_D| gap_D + |c_F| gap_F`, the back-substitution
    /// coefficients on the neuron's `Delta a` and `a_f` times the largest
    /// gap between the upper and lower line over the neuron's range.
    pub score: f64,
}

/// The largest vertical gap between `lines`' upper and lower line over
/// `[lower, upper]` (at an end: the gap is affine).
fn line_gap(lines: &LinearBounds, lower: f64, upper: f64) -> f64 {
    let gap = |x: f64| (lines.upper_slope - lines.lower_slope) * x + (lines.upper_intercept - lines.lower_intercept);
    let g = gap(lower).max(gap(upper));
    if g.is_finite() { g.max(0.0) } else { f64::INFINITY }
}

impl DifferentialPair<'_> {
    /// The unstable kinked neurons of the propagation in `bounds`, best
    /// phase split first for the bound of `sign * Delta y_output`: `f`'s
    /// neurons that cross 0, and `g`'s that cross 0 where `f`'s does not.
    /// Empty when the bounds are a fallback.
    pub fn phase_split_candidates(&self, bounds: &DifferentialBounds, output: usize, sign: f64) -> Vec<PhaseSplit> {
        let Some((alignment, pairs, _)) = &self.aligned else { return Vec::new() };
        let depth = pairs.len();
        if !bounds.differential || bounds.lines.len() + 1 != depth || output >= alignment.reference.output_dim() {
            return Vec::new();
        }
        let (_, record) = substitute_with_record(pairs, bounds, output, sign);
        let crosses = |l: f64, u: f64| l < 0.0 && u > 0.0;
        let mut candidates = Vec::new();
        for (k, (on_delta, on_reference)) in record.iter().enumerate() {
            let activation = alignment.reference.layers[k].activation;
            if activation == Activation::Identity || activation.piecewise_linear_slope().is_none() {
                continue;
            }
            let g_kinked = pairs[k].compressed_activation == activation;
            let f_pre = &bounds.reference_bounds.layers[k];
            let (g_lower, g_upper) = &bounds.compressed_hidden[k];
            let (delta_lower, delta_upper) = &bounds.hidden[k];
            for i in 0..on_delta.cols {
                let side = if crosses(f_pre.pre_lower[i], f_pre.pre_upper[i]) {
                    Side::Reference
                } else if g_kinked && crosses(g_lower[i], g_upper[i]) {
                    Side::Compressed
                } else {
                    continue;
                };
                let score = on_delta.data[i].abs() * line_gap(&bounds.lines[k].0[i], delta_lower[i], delta_upper[i]) + on_reference.data[i].abs() * line_gap(&bounds.lines[k].1[i], f_pre.pre_lower[i], f_pre.pre_upper[i]);
                if score > 0.0 {
                    candidates.push(PhaseSplit { side, layer: k, neuron: i, score });
                }
            }
        }
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        candidates
    }
}

/// A phase constraint of a piece: `split`'s neuron is active (`true`,
/// `v >= 0`) or inactive (`v <= 0`) at every input of the piece.
pub type Phase = (PhaseSplit, bool);

/// Output rows whose bound is at least this share of the piece's largest
/// get Lagrange multipliers for its phase constraints (the others rarely
/// set the maximum).
const MULTIPLIED_ROW_SHARE: f64 = 0.5;

impl DifferentialPair<'_> {
    /// Tightens the output bounds of `bounds`, a propagation over `region`
    /// restricted to the inputs satisfying `phases`, with one Lagrange
    /// multiplier `beta_p >= 0` per constraint `s_p v_p >= 0` (beta-CROWN
    /// style, on the difference): `sign * Delta y_j <= sign * Delta y_j +
    /// sum_p beta_p s_p v_p` wherever the constraints hold, and the right side
    /// is back-substituted through the piece's own lines like any row
    /// (docs/method.md §9b). Every `beta >= 0` gives a certified bound, so the
    /// search (projected Adam from `beta = 0`, `iterations` steps, each row
    /// its own multipliers; the derivative in `beta_p` is `s_p v_p` at the
    /// row's maximising input, forward through the row's lines) keeps the
    /// smallest bound seen per row. `region` is the piece's region as given
    /// to [`DifferentialPair::bounds_within`] (an input quantiser of `g` is
    /// moved into it here as there). Returns how many rows it tightened.
    pub fn tighten_with_phases(&self, bounds: &mut DifferentialBounds, region: &DifferentialRegion, phases: &[Phase], iterations: usize) -> usize {
        let Some((alignment, pairs, _)) = &self.aligned else { return 0 };
        let depth = pairs.len();
        if phases.is_empty() || iterations == 0 || !bounds.differential || bounds.lines.len() + 1 != depth {
            return 0;
        }
        // the region the propagation ran over (g's input quantiser moved into it)
        let moved = alignment.propagation_region(region);
        let region = moved.as_ref();
        let parameters = phases.len();
        // per hidden layer: (neuron, side, s_p, p)
        let mut by_layer: Vec<Vec<(usize, Side, f64, usize)>> = vec![Vec::new(); depth - 1];
        for (p, (split, active)) in phases.iter().enumerate() {
            if split.layer + 1 < depth {
                by_layer[split.layer].push((split.neuron, split.side, if *active { 1.0 } else { -1.0 }, p));
            }
        }
        let largest = bounds.output_upper.iter().copied().chain(bounds.output_lower.iter().map(|l| -l)).filter(|v| !v.is_nan()).fold(f64::NEG_INFINITY, f64::max);
        if !largest.is_finite() {
            return 0;
        }
        let transposed = transposed_weights(&pairs[..depth - 1]);
        let mut tightened = 0;
        for sign in [1.0, -1.0] {
            let current = |j: usize| if sign > 0.0 { bounds.output_upper[j] } else { -bounds.output_lower[j] };
            let rows: Vec<usize> = (0..bounds.output_upper.len()).filter(|&j| current(j) >= MULTIPLIED_ROW_SHARE * largest && current(j) > 0.0).collect();
            if rows.is_empty() {
                continue;
            }
            let evaluate = |multipliers: &[f64], want_gradient: bool| {
                let mut backward = Backward::start(&pairs[depth - 1], &rows, sign);
                let mut record = Vec::new();
                for j in (0..depth - 1).rev() {
                    backward.through(Lines::Shared(&bounds.lines[j].0), Lines::Shared(&bounds.lines[j].1), &pairs[j], want_gradient.then_some(&mut record));
                    backward.add_phase_terms(&pairs[j], &by_layer[j], multipliers, parameters);
                }
                record.reverse();
                let concrete = backward.concretize_with_maximisers(region, None);
                let values: Vec<f64> = concrete.iter().map(|c| c.value).collect();
                if !want_gradient {
                    return Evaluation { values, gradient: Vec::new() };
                }
                // d bound / d beta_p = s_p v_p at the row's maximiser, forward through its lines
                let mut gradient = vec![0.0; rows.len() * parameters];
                forward_maximisers(pairs, &transposed, depth - 1, &concrete, &record, |j, _, i| (&bounds.lines[j].0[i], &bounds.lines[j].1[i]), |j, reference_pre, delta_pre| {
                    for r in 0..reference_pre.rows {
                        for &(neuron, side, phase_sign, p) in &by_layer[j] {
                            let v = match side {
                                Side::Reference => reference_pre.row(r)[neuron],
                                Side::Compressed => reference_pre.row(r)[neuron] - delta_pre.row(r)[neuron],
                            };
                            gradient[r * parameters + p] = phase_sign * v;
                        }
                    }
                });
                Evaluation { values, gradient }
            };
            let best = optimise_multipliers(rows.len(), parameters, iterations, evaluate);
            let before: Vec<f64> = rows.iter().map(|&j| current(j)).collect();
            for (r, &j) in rows.iter().enumerate() {
                if best[r] < before[r] {
                    tightened += 1;
                    if sign > 0.0 {
                        bounds.output_upper[j] = best[r];
                    } else {
                        bounds.output_lower[j] = -best[r];
                    }
                }
            }
        }
        tightened
    }
}

/// Projected Adam on nonnegative multipliers, `rows` independent rows of
/// `parameters` each, from 0 (the bound without them). The step is relative
/// to the multipliers' natural size, the bound's derivative over the
/// constraint's value: `step * |bound| / (|derivative| + tiny)` at the
/// first evaluation. Returns the smallest bound seen per row (every
/// evaluation is certified).
fn optimise_multipliers(rows: usize, parameters: usize, iterations: usize, mut evaluate: impl FnMut(&[f64], bool) -> Evaluation) -> Vec<f64> {
    const FIRST_MOMENT: f64 = 0.9;
    const SECOND_MOMENT: f64 = 0.999;
    const STEP: f64 = 0.2;
    let size = rows * parameters;
    let mut multipliers = vec![0.0; size];
    let (mut first, mut second) = (vec![0.0; size], vec![0.0; size]);
    let mut scale = vec![0.0; size];
    let mut best = vec![f64::INFINITY; rows];
    for iteration in 0..=iterations {
        let last = iteration == iterations;
        let evaluation = evaluate(&multipliers, !last);
        for (b, v) in best.iter_mut().zip(&evaluation.values) {
            if *v < *b {
                *b = *v;
            }
        }
        if last {
            break;
        }
        if iteration == 0 {
            for r in 0..rows {
                let value = evaluation.values[r].abs();
                for p in 0..parameters {
                    let g = evaluation.gradient[r * parameters + p].abs();
                    scale[r * parameters + p] = if g > 0.0 && value.is_finite() { value / g } else { 0.0 };
                }
            }
        }
        let t = (iteration + 1) as i32;
        let (correct_first, correct_second) = (1.0 - FIRST_MOMENT.powi(t), 1.0 - SECOND_MOMENT.powi(t));
        for k in 0..size {
            let g = evaluation.gradient[k];
            if !g.is_finite() || scale[k] == 0.0 {
                continue;
            }
            first[k] = FIRST_MOMENT * first[k] + (1.0 - FIRST_MOMENT) * g;
            second[k] = SECOND_MOMENT * second[k] + (1.0 - SECOND_MOMENT) * g * g;
            if second[k] > 0.0 {
                let moved = multipliers[k] - STEP * scale[k] * (first[k] / correct_first) / (second[k] / correct_second).sqrt();
                multipliers[k] = moved.max(0.0);
            }
        }
    }
    best
}

impl DifferentialBounds {
    /// These bounds on the half of their region where `split`'s neuron is
    /// active (`v >= 0`) or inactive (`v <= 0`): its pre-activation bounds
    /// clamped at 0. Every bound here holds on the half (it holds on the
    /// whole region); inherited by a propagation over the half, the clamp
    /// makes the neuron stable there and is intersected into every bound
    /// computed below it.
    pub fn with_phase(&self, split: &PhaseSplit, active: bool) -> DifferentialBounds {
        let mut half = self.clone();
        let (k, i) = (split.layer, split.neuron);
        let clamp = |lower: &mut f64, upper: &mut f64| {
            if active {
                *lower = lower.max(0.0);
            } else {
                *upper = upper.min(0.0);
            }
        };
        match split.side {
            Side::Reference => {
                let layer = &mut half.reference_bounds.layers[k];
                clamp(&mut layer.pre_lower[i], &mut layer.pre_upper[i]);
                if !active {
                    // a kinked activation at v <= 0 is at most its value at 0, which is 0
                    layer.post_upper[i] = layer.post_upper[i].min(0.0);
                } else {
                    layer.post_lower[i] = layer.post_lower[i].max(0.0);
                }
            }
            Side::Compressed => {
                let (lower, upper) = &mut half.compressed_hidden[k];
                clamp(&mut lower[i], &mut upper[i]);
            }
        }
        half
    }

    /// Whether some neuron's bounds cross (lower above upper): every bound
    /// here holds for each input of the region, so the region holds none
    /// (a phase split's half that no input reaches).
    pub fn is_empty(&self) -> bool {
        let crossed = |lower: &[f64], upper: &[f64]| lower.iter().zip(upper).any(|(l, u)| l > u);
        self.differential
            && (self.crossed
                || self.reference_bounds.layers.iter().any(|l| crossed(&l.pre_lower, &l.pre_upper))
                || self.compressed_hidden.iter().chain(&self.hidden).any(|(l, u)| crossed(l, u)))
    }
}

impl Alignment {
    /// The region the aligned pair is propagated over: `region` itself, or
    /// with `g`'s input quantiser moved into it ([`quantised_input_region`]).
    fn propagation_region<'r>(&self, region: &'r DifferentialRegion) -> std::borrow::Cow<'r, DifferentialRegion> {
        match self.input_quantiser {
            Some(quantiser) => std::borrow::Cow::Owned(quantised_input_region(quantiser, region)),
            None => std::borrow::Cow::Borrowed(region),
        }
    }
}

/// The region of `g` after its input quantiser `Q` moved into it: `g`'s
/// first layer now reads `x'' = Q(x')`, so its box is the image of `x'`'s
/// box (`Q` is monotone, ends enclosed outward) and the shift `x - x'' = (x
/// - x') + (x' - Q(x'))` adds the quantiser's gap to the identity
/// ([`Activation::gap_to`]; unbounded where it has none).
fn quantised_input_region(quantiser: Activation, region: &DifferentialRegion) -> DifferentialRegion {
    let mut moved = region.clone();
    for i in 0..region.lower.len() {
        let (lower, upper) = (region.compressed_lower[i], region.compressed_upper[i]);
        let (image_lower, image_upper) = activation_image(quantiser, lower, upper);
        let (gap_lower, gap_upper) = quantiser.gap_to(Activation::Identity, lower, upper).unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
        moved.compressed_lower[i] = image_lower;
        moved.compressed_upper[i] = image_upper;
        moved.shift_lower[i] = down(region.shift_lower[i] + gap_lower);
        moved.shift_upper[i] = up(region.shift_upper[i] + gap_upper);
    }
    moved
}

/// Relative size of the weight difference above which `g` gets its own
/// linear bounds (a close pair gets them from `v_g = v_f - Delta v`, which is
/// as tight and a third cheaper).
const CLOSE_PAIR_RELATIVE_DIFFERENCE: f64 = 0.05;

fn is_close_pair(f: &Network, g: &Network) -> bool {
    f.layers.iter().zip(&g.layers).all(|(a, b)| {
        let (wa, wb) = (&a.terms[0].weights.data, &b.terms[0].weights.data);
        let difference: f64 = wa.iter().zip(wb).map(|(x, y)| (x - y).abs()).sum();
        let size: f64 = wa.iter().map(|x| x.abs()).sum();
        difference <= CLOSE_PAIR_RELATIVE_DIFFERENCE * size
    })
}

/// Whether neuron `i` of hidden layer `k` has `f` and `g` on one linear
/// piece over the region of `parent` (so `Delta a = slope Delta v` exactly
/// there and on every sub-region).
fn one_linear_piece(parent: &DifferentialBounds, activation: Activation, compressed_activation: Activation, k: usize, i: usize) -> bool {
    if activation != compressed_activation {
        // a quantiser paired with f's neuron is never linear
        return false;
    }
    if activation == Activation::Identity {
        return true;
    }
    if activation.piecewise_linear_slope().is_none() {
        return false;
    }
    let piece = |l: f64, u: f64| if l >= 0.0 { Some(1) } else if u <= 0.0 { Some(0) } else { None };
    let f_pre = &parent.reference_bounds.layers[k];
    let g_pre = &parent.compressed_hidden[k];
    let f_piece = piece(f_pre.pre_lower[i], f_pre.pre_upper[i]);
    f_piece.is_some() && f_piece == piece(g_pre.0[i], g_pre.1[i])
}

fn unstable_count(network: &Network, bounds: &NetworkBounds) -> usize {
    let hidden = network.layers.len().saturating_sub(1);
    let all: usize = network.layers[..hidden].iter().filter(|l| l.activation != Activation::Identity).map(|l| l.width()).sum();
    all - bounds.stable_count(network).min(all)
}

/// Fallback: `Delta y in [l_f - u_g, u_f - l_g]`.
fn separate(f: &Network, g: &Network, bounds_f: NetworkBounds, bounds_g: &NetworkBounds, region: &DifferentialRegion) -> DifferentialBounds {
    let (last_f, last_g) = (bounds_f.layers.last().expect("layers"), bounds_g.layers.last().expect("layers"));
    let output_upper: Vec<f64> = last_f.post_upper.iter().zip(&last_g.post_lower).map(|(a, b)| up(a - b)).collect();
    let output_lower: Vec<f64> = last_f.post_lower.iter().zip(&last_g.post_upper).map(|(a, b)| down(a - b)).collect();
    let n = region.lower.len();
    DifferentialBounds {
        output_lower,
        output_upper,
        hidden: Vec::new(),
        candidate: region.lower.iter().zip(&region.upper).map(|(l, u)| 0.5 * (l + u)).collect(),
        corners: Vec::new(),
        corner_objectives: Vec::new(),
        influence: (0..n).map(|i| region.upper[i] - region.lower[i]).collect(),
        unstable_neurons: unstable_count(f, &bounds_f) + unstable_count(g, bounds_g),
        differential: false,
        lines: Vec::new(),
        compressed_hidden: Vec::new(),
        reference_bounds: bounds_f,
        crossed: false,
    }
}

/// The differential propagation proper (`g` aligned to `f`).
fn propagate(f: &Network, pairs: &[LayerPair], bounds_f: NetworkBounds, bounds_g: &NetworkBounds, region: &DifferentialRegion, parent: Option<&DifferentialBounds>, slopes: &SlopeOptimisation) -> DifferentialBounds {
    let depth = pairs.len();
    let mut delta_relax: Vec<Vec<LinearBounds>> = Vec::new();
    let mut reference_relax: Vec<Vec<LinearBounds>> = Vec::new();
    // per layer, the free lines of every neuron's relaxations (f's and the difference's)
    let mut families: Vec<LayerFamilies> = Vec::new();
    let mut hidden = Vec::new();
    let mut compressed_hidden = Vec::new();
    let mut unstable = 0;
    let mut crossed = false;
    // the rounding magnitudes of every row, for all rows at once (lines shared by the rows)
    let mut levels = RoundingLevels::new(region);
    let substitute = |k: usize, rows: &[usize], sign: f64, delta_relax: &[Vec<LinearBounds>], reference_relax: &[Vec<LinearBounds>], levels: &RoundingLevels| {
        let mut backward = Backward::start_lean(&pairs[k], rows, sign);
        for j in (0..k).rev() {
            backward.through(Lines::Shared(&delta_relax[j]), Lines::Shared(&reference_relax[j]), &pairs[j], None);
        }
        backward.concretize(region, Some(&levels.row_totals(&pairs[k], k, rows)))
    };
    let centre: Vec<f64> = region.lower.iter().zip(&region.upper).map(|(l, u)| 0.5 * (l + u)).collect();
    // rows not substituted back (past the stop): no bound, the centre as corner
    let unbounded = |count: usize| (0..count).map(|_| (f64::INFINITY, centre.clone(), vec![0.0; centre.len()])).collect::<Vec<_>>();
    // with a stop, wide layers go in blocks of rows, none started past it
    let run = |k: usize, rows: &[usize], sign: f64, delta_relax: &[Vec<LinearBounds>], reference_relax: &[Vec<LinearBounds>], levels: &RoundingLevels| {
        super::slopes::in_stop_blocks(rows, slopes, &unbounded, |block| substitute(k, block, sign, delta_relax, reference_relax, levels))
    };
    for k in 0..depth {
        let width = f.layers[k].width();
        let activation = f.layers[k].activation;
        // neurons where both networks are on one linear piece need no new bounds
        let rows: Vec<usize> = match parent.filter(|_| k + 1 < depth) {
            Some(p) => (0..width).filter(|&i| !one_linear_piece(p, activation, pairs[k].compressed_activation, k, i)).collect(),
            None => (0..width).collect(),
        };
        // past the pass's stop no row is substituted back: the interval
        // relation below bounds the layer (sound, looser)
        let stopped = slopes.stopped();
        let (upper_rows, lower_rows) = if stopped {
            (unbounded(rows.len()), unbounded(rows.len()))
        } else {
            rayon::join(|| run(k, &rows, 1.0, &delta_relax, &reference_relax, &levels), || run(k, &rows, -1.0, &delta_relax, &reference_relax, &levels))
        };
        let (bf, bg) = (&bounds_f.layers[k], &bounds_g.layers[k]);
        let (mut delta_lower, mut delta_upper) = match parent.filter(|_| k + 1 < depth) {
            Some(p) => p.hidden[k].clone(),
            None => (vec![f64::NEG_INFINITY; width], vec![f64::INFINITY; width]),
        };
        for (r, &i) in rows.iter().enumerate() {
            delta_upper[i] = delta_upper[i].min(upper_rows[r].0);
            delta_lower[i] = delta_lower[i].max(-lower_rows[r].0);
        }
        if !stopped && slopes.optimises(k + 1 == depth) && families.iter().any(|layer| layer.any_free()) {
            // the optimised bounds are certified too (slopes.rs); the best per row is kept
            let (upper, lower) = rayon::join(|| optimise_layer(pairs, k, &rows, 1.0, &families, region, slopes), || optimise_layer(pairs, k, &rows, -1.0, &families, region, slopes));
            for (r, &i) in rows.iter().enumerate() {
                delta_upper[i] = delta_upper[i].min(upper[r]);
                delta_lower[i] = delta_lower[i].max(-lower[r]);
            }
        }
        for i in 0..width {
            // Delta v = v_f - v_g also lies in [l_f - u_g, u_f - l_g]
            delta_upper[i] = delta_upper[i].min(up(bf.pre_upper[i] - bg.pre_lower[i]));
            delta_lower[i] = delta_lower[i].max(down(bf.pre_lower[i] - bg.pre_upper[i]));
        }
        if k + 1 == depth {
            // every output objective +-Delta y_j with its row
            let mut objectives: Vec<(&(f64, Vec<f64>, Vec<f64>), usize, f64)> = upper_rows.iter().enumerate().map(|(j, o)| (o, j, 1.0)).chain(lower_rows.iter().enumerate().map(|(j, o)| (o, j, -1.0))).collect();
            objectives.sort_by(|a, b| b.0 .0.total_cmp(&a.0 .0));
            let corners = objectives.iter().map(|o| o.0 .1.clone()).collect();
            let corner_objectives = objectives.iter().map(|o| (o.1, o.2)).collect();
            let objectives: Vec<&(f64, Vec<f64>, Vec<f64>)> = objectives.iter().map(|o| o.0).collect();
            // an output layer of width 0 has no objective: the box centre and
            // no influence stand in
            let (candidate, influence) = match objectives.iter().max_by(|a, b| a.0.total_cmp(&b.0)) {
                Some(worst) => (worst.1.clone(), worst.2.clone()),
                None => (region.lower.iter().zip(&region.upper).map(|(l, u)| 0.5 * (l + u)).collect(), vec![0.0; region.lower.len()]),
            };
            return DifferentialBounds {
                output_lower: delta_lower,
                output_upper: delta_upper,
                hidden,
                candidate,
                corners,
                corner_objectives,
                influence,
                unstable_neurons: unstable,
                differential: true,
                lines: delta_relax.into_iter().zip(reference_relax).collect(),
                compressed_hidden,
                reference_bounds: bounds_f,
                crossed,
            };
        }
        let mut compressed_pre = (Vec::with_capacity(width), Vec::with_capacity(width));
        let mut layer_delta = Vec::with_capacity(width);
        let mut layer_reference = Vec::with_capacity(width);
        let mut layer_families = LayerFamilies { delta: Vec::with_capacity(width), reference: Vec::with_capacity(width) };
        for i in 0..width {
            let (dl, du) = (delta_lower[i], delta_upper[i]);
            // v_f = v_g + Delta v, v_g = v_f - Delta v
            let fl = bf.pre_lower[i].max(down(bg.pre_lower[i] + dl));
            let fu = bf.pre_upper[i].min(up(bg.pre_upper[i] + du));
            let gl = bg.pre_lower[i].max(down(bf.pre_lower[i] - du));
            let gu = bg.pre_upper[i].min(up(bf.pre_upper[i] - dl));
            crossed |= fl > fu || gl > gu;
            let (fl, fu) = if fl <= fu { (fl, fu) } else { (bf.pre_lower[i], bf.pre_upper[i]) };
            let (gl, gu) = if gl <= gu { (gl, gu) } else { (bg.pre_lower[i], bg.pre_upper[i]) };
            // the parent's bounds of g hold on this sub-region too
            let (gl, gu) = match parent {
                Some(p) if p.compressed_hidden[k].0[i].max(gl) <= p.compressed_hidden[k].1[i].min(gu) => (p.compressed_hidden[k].0[i].max(gl), p.compressed_hidden[k].1[i].min(gu)),
                // disjoint: both hold on the region, so no input reaches it
                Some(p) if p.compressed_hidden[k].0[i].max(gl) > p.compressed_hidden[k].1[i].min(gu) => {
                    crossed = true;
                    (gl, gu)
                }
                _ => (gl, gu),
            };
            compressed_pre.0.push(gl);
            compressed_pre.1.push(gu);
            let (afl, afu) = activation_image(activation, fl, fu);
            // a quantiser paired with f's identity or ReLU sigma: Delta a = (sigma(v_f) - sigma(v_g)) +
            // (sigma(v_g) - Q(v_g)), the second term bounded by the quantiser's gap, the first relaxed as for sigma
            let gap = (pairs[k].compressed_activation != activation).then(|| pairs[k].compressed_activation.gap_to(activation, gl, gu).unwrap_or((f64::NEG_INFINITY, f64::INFINITY)));
            let (agl, agu) = activation_image(activation, gl, gu);
            if activation.piecewise_linear_slope().is_some() {
                unstable += usize::from(fl < 0.0 && fu > 0.0) + usize::from(gl < 0.0 && gu > 0.0);
            } else if activation != Activation::Identity {
                unstable += 2;
            }
            let (reference, mut delta) = activation.with_rule(|rule| (rule.linear_relaxation_family(fl, fu, afl, afu), rule.difference_relaxation_family((fl, fu), (gl, gu), (dl, du), (down(afl - agu), up(afu - agl)))));
            if let Some((gap_lower, gap_upper)) = gap {
                // both lines of the family move by the gap, so their weighted means do
                for lines in [&mut delta.chosen, &mut delta.alternative] {
                    lines.lower_intercept = down(lines.lower_intercept + gap_lower);
                    lines.upper_intercept = up(lines.upper_intercept + gap_upper);
                }
            }
            layer_reference.push(reference.chosen);
            layer_delta.push(delta.chosen);
            layer_families.reference.push(NeuronFamily::new(reference, fl, fu));
            layer_families.delta.push(NeuronFamily::new(delta, dl, du));
        }
        levels.push(&pairs[k], &layer_delta, &layer_reference);
        delta_relax.push(layer_delta);
        reference_relax.push(layer_reference);
        families.push(layer_families);
        hidden.push((delta_lower, delta_upper));
        compressed_hidden.push(compressed_pre);
    }
    unreachable!("the loop returns at the output layer")
}

/// The relaxation families of one hidden layer of the pair.
struct LayerFamilies {
    /// `Delta a` in `Delta v`, per neuron.
    delta: Vec<NeuronFamily>,
    /// `a_f` in `v_f`, per neuron.
    reference: Vec<NeuronFamily>,
}

impl LayerFamilies {
    fn any_free(&self) -> bool {
        self.delta.iter().chain(&self.reference).any(|n| n.free())
    }
    fn width(&self) -> usize {
        self.delta.len()
    }
}

/// Bounds of `sign * Delta v^k` for the neurons `rows` of layer `k` with
/// optimised slopes ([`super::slopes`]): per row, the smallest bound seen
/// over the projected-gradient iterations, each computed by the same
/// outward-rounded back-substitution as one pass with that row's lines.
fn optimise_layer(pairs: &[LayerPair], k: usize, rows: &[usize], sign: f64, families: &[LayerFamilies], region: &DifferentialRegion, slopes: &SlopeOptimisation) -> Vec<f64> {
    use rayon::prelude::*;
    // weights of one row: per layer j < k, [f lower, f upper, Delta lower, Delta upper] x width_j
    let offsets: Vec<usize> = families[..k].iter().scan(0, |at, layer| {
        let start = *at;
        *at += 4 * layer.width();
        Some(start)
    }).collect();
    let parameters: usize = families[..k].iter().map(|l| 4 * l.width()).sum();
    let blocks: Vec<&[usize]> = rows.chunks(ROW_BLOCK).collect();
    let transposed = transposed_weights(&pairs[..k]);
    let results: Vec<Vec<f64>> = blocks
        .par_iter()
        .map(|block| optimise_rows(block.len(), parameters, slopes, |weights, gradient| evaluate_rows(pairs, &transposed, k, block, sign, families, &offsets, parameters, weights, gradient, region)))
        .collect();
    results.concat()
}

/// `(W_f^T, W_g^T, (W_f - W_g)^T)` per layer, for forward passes of many points.
fn transposed_weights(pairs: &[LayerPair]) -> Vec<(Matrix, Matrix, Matrix)> {
    pairs.iter().map(|p| (p.weights_f.transpose(), p.weights_g.transpose(), p.weights_difference.transpose())).collect()
}

/// The forward pass behind the derivatives of a back-substituted bound: each
/// row's maximising input (`concrete`: `x` and `x - x'`) through layers
/// `0..k`, every neuron through the line its row's coefficient selected
/// (`record[j]`: the coefficients on `(Delta a^j, a_f^j)`; `lines(j, r, i)`:
/// the row's `(Delta a, a_f)` lines). `visit(j, v_f, Delta v)` sees each
/// layer's pre-activations, one row per row.
fn forward_maximisers<'l>(pairs: &[LayerPair], transposed: &[(Matrix, Matrix, Matrix)], k: usize, concrete: &[Concrete], record: &[(Matrix, Matrix)], lines: impl Fn(usize, usize, usize) -> (&'l LinearBounds, &'l LinearBounds), mut visit: impl FnMut(usize, &Matrix, &Matrix)) {
    let count = concrete.len();
    let n = concrete.first().map_or(0, |c| c.maximiser.len());
    let mut reference_activation = Matrix::from_rows(count, n, concrete.iter().flat_map(|c| c.maximiser.iter().copied()).collect());
    let mut delta_activation = Matrix::from_rows(count, n, concrete.iter().flat_map(|c| c.shift.iter().copied()).collect());
    for j in 0..k {
        let (weights_f, weights_g, weights_difference) = &transposed[j];
        let reference_pre = affine_rows(&reference_activation, weights_f, &pairs[j].bias_f);
        let mut delta_pre = affine_rows(&delta_activation, weights_g, &pairs[j].bias_difference);
        reference_activation.matmul_into(weights_difference, &mut delta_pre, true);
        visit(j, &reference_pre, &delta_pre);
        let width = record[j].0.cols;
        let mut next_reference = Matrix::zeros(count, width);
        let mut next_delta = Matrix::zeros(count, width);
        for r in 0..count {
            let (on_delta, on_reference) = (record[j].0.row(r), record[j].1.row(r));
            for i in 0..width {
                let (delta_line, reference_line) = lines(j, r, i);
                next_reference.data[r * width + i] = selected_line_value(reference_line, on_reference[i], reference_pre.row(r)[i]);
                next_delta.data[r * width + i] = selected_line_value(delta_line, on_delta[i], delta_pre.row(r)[i]);
            }
        }
        reference_activation = next_reference;
        delta_activation = next_delta;
    }
}

/// One evaluation for [`optimise_layer`]: every row's bound with its own
/// lines at `weights`, and (with `want_gradient`) the derivatives.
#[allow(clippy::too_many_arguments)]
fn evaluate_rows(pairs: &[LayerPair], transposed: &[(Matrix, Matrix, Matrix)], k: usize, rows: &[usize], sign: f64, families: &[LayerFamilies], offsets: &[usize], parameters: usize, weights: &[f64], want_gradient: bool, region: &DifferentialRegion) -> Evaluation {
    let count = rows.len();
    // each row's lines, per layer j < k (row-major)
    let mut delta_lines: Vec<Vec<LinearBounds>> = Vec::with_capacity(k);
    let mut reference_lines: Vec<Vec<LinearBounds>> = Vec::with_capacity(k);
    for (j, layer) in families[..k].iter().enumerate() {
        let width = layer.width();
        let mut delta = Vec::with_capacity(count * width);
        let mut reference = Vec::with_capacity(count * width);
        for r in 0..count {
            let w = &weights[r * parameters + offsets[j]..r * parameters + offsets[j] + 4 * width];
            for i in 0..width {
                reference.push(layer.reference[i].line(w[i], w[width + i]));
                delta.push(layer.delta[i].line(w[2 * width + i], w[3 * width + i]));
            }
        }
        delta_lines.push(delta);
        reference_lines.push(reference);
    }
    let mut backward = Backward::start(&pairs[k], rows, sign);
    let mut record = Vec::new();
    for j in (0..k).rev() {
        let width = families[j].width();
        backward.through(Lines::PerRow(&delta_lines[j], width), Lines::PerRow(&reference_lines[j], width), &pairs[j], want_gradient.then_some(&mut record));
    }
    record.reverse(); // record[j]: the coefficients on (Delta a^j, a_f^j)
    let concrete = backward.concretize_with_maximisers(region, None);
    let values: Vec<f64> = concrete.iter().map(|c| c.value).collect();
    if !want_gradient {
        return Evaluation { values, gradient: Vec::new() };
    }
    // forward pass of each row's maximiser through its lines (slopes.rs), all rows at once
    let mut gradient = vec![0.0; count * parameters];
    let width_of = |j: usize| families[j].width();
    forward_maximisers(pairs, transposed, k, &concrete, &record, |j, r, i| (&delta_lines[j][r * width_of(j) + i], &reference_lines[j][r * width_of(j) + i]), |j, reference_pre, delta_pre| {
        let width = width_of(j);
        for r in 0..count {
            let (on_delta, on_reference) = (record[j].0.row(r), record[j].1.row(r));
            let (reference_row, delta_row) = (reference_pre.row(r), delta_pre.row(r));
            let at = r * parameters + offsets[j];
            for i in 0..width {
                let (lower, upper) = weight_derivatives(&families[j].reference[i], on_reference[i], reference_row[i]);
                gradient[at + i] = lower;
                gradient[at + width + i] = upper;
                let (lower, upper) = weight_derivatives(&families[j].delta[i], on_delta[i], delta_row[i]);
                gradient[at + 2 * width + i] = lower;
                gradient[at + 3 * width + i] = upper;
            }
        }
    });
    Evaluation { values, gradient }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::random::{partner, random_mlp, Relation};
    use crate::propagation::linear_bounds;
    use rand::{Rng, SeedableRng};

    /// The magnitudes of all rows at once ([`RoundingLevels`]) are those of
    /// the per-row propagation (box and ball, shifted inputs, every layer).
    #[test]
    fn shared_rounding_levels_match_per_row_magnitudes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        for case in 0..6 {
            let f = random_mlp(&mut rng, 3, &[6, 5, 4], 2, Activation::Relu);
            let g = partner(&mut rng, &f, Relation::Quantised, Activation::Relu);
            let pairs: Vec<LayerPair> = f.layers.iter().zip(&g.layers).map(|(a, b)| LayerPair::new(a, b)).collect();
            let lower: Vec<f64> = (0..3).map(|_| rng.gen_range(-2.0..0.5)).collect();
            let upper: Vec<f64> = lower.iter().map(|l| l + rng.gen_range(0.1..2.0)).collect();
            let mut region = DifferentialRegion::same_input(lower.clone(), upper.clone());
            if case % 2 == 1 {
                region.shift_lower = (0..3).map(|_| -rng.gen_range(0.0..0.1)).collect();
                region.shift_upper = (0..3).map(|_| rng.gen_range(0.0..0.1)).collect();
                region.ball = Some((lower.iter().zip(&upper).map(|(l, u)| 0.5 * (l + u)).collect(), 0.3));
            }
            let mut line = || LinearBounds { lower_slope: rng.gen_range(-1.0..1.0), lower_intercept: rng.gen_range(-1.0..1.0), upper_slope: rng.gen_range(-1.0..1.0), upper_intercept: rng.gen_range(-1.0..1.0) };
            let relax: Vec<(Vec<LinearBounds>, Vec<LinearBounds>)> = f.layers[..3].iter().map(|l| ((0..l.width()).map(|_| line()).collect(), (0..l.width()).map(|_| line()).collect())).collect();
            let mut levels = RoundingLevels::new(&region);
            for (j, (d, r)) in relax.iter().enumerate() {
                levels.push(&pairs[j], d, r);
            }
            for k in 0..pairs.len() {
                let rows: Vec<usize> = (0..f.layers[k].width()).filter(|i| i % 2 == 0 || k == 3).collect();
                let mut backward = Backward::start(&pairs[k], &rows, -1.0);
                for j in (0..k).rev() {
                    backward.through(Lines::Shared(&relax[j].0), Lines::Shared(&relax[j].1), &pairs[j], None);
                }
                let per_row = backward.magnitude_totals(&region).expect("rows with magnitudes");
                let shared = levels.row_totals(&pairs[k], k, &rows);
                for ((a, b), (c, d)) in per_row.iter().zip(&shared) {
                    assert!((a - c).abs() <= 1e-12 * a.abs().max(1.0) && (b - d).abs() <= 1e-12 * b.abs().max(1.0), "case {case} layer {k}: {a} {b} vs {c} {d}");
                }
            }
        }
    }

    /// An output layer of width 0 gives empty bounds, not a panic.
    #[test]
    fn zero_width_output_gives_empty_bounds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut f = random_mlp(&mut rng, 2, &[3], 1, Activation::Relu);
        let last = f.layers.last_mut().unwrap();
        last.bias.clear();
        last.terms[0].weights = Matrix::zeros(0, 3);
        let d = differential_bounds(&f, &f, &DifferentialRegion::same_input(vec![-1.0; 2], vec![1.0; 2]));
        assert!(d.output_lower.is_empty() && d.output_upper.is_empty() && d.per_output_abs().is_empty());
    }

    /// Weights near 1e200 pass validation and overflow in the bounds: the
    /// result is "no bound" (infinite), never a finite number from NaN.
    #[test]
    fn overflowing_weights_give_no_finite_bound() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        for activation in [Activation::Relu, Activation::Tanh] {
            let f = random_mlp(&mut rng, 2, &[4, 4], 2, activation);
            let mut g = f.clone();
            for layer in g.layers.iter_mut() {
                layer.terms[0].weights.data.iter_mut().enumerate().for_each(|(i, w)| *w = if i % 2 == 0 { 1e200 } else { -1e200 });
            }
            let d = differential_bounds(&f, &g, &DifferentialRegion::same_input(vec![-1.0; 2], vec![1.0; 2]));
            for (l, u) in d.output_lower.iter().zip(&d.output_upper) {
                assert!(!l.is_nan() && !u.is_nan(), "{activation:?}: NaN bound");
            }
            assert!(d.per_output_abs().iter().all(|b| !b.is_finite() || *b >= 1e150), "{activation:?}: {:?}", d.per_output_abs());
        }
    }

    /// A pass with a stop far ahead goes in blocks of rows and gives the
    /// whole pass's bounds (up to the order of rounding); one whose stop has
    /// passed gives sound bounds, looser than the whole pass's.
    #[test]
    fn a_pass_with_a_stop_is_blocked_without_change_and_cut_to_sound_intervals_past_it() {
        use std::time::{Duration, Instant};
        let mut rng = rand::rngs::StdRng::seed_from_u64(47);
        // hidden layers wider than one block of rows
        let f = random_mlp(&mut rng, 3, &[300, 200], 4, Activation::Relu);
        let g = partner(&mut rng, &f, Relation::Quantised, Activation::Relu);
        let lower = vec![-0.5, 0.0, 0.2];
        let upper = vec![0.5, 0.3, 0.4];
        let region = DifferentialRegion::same_input(lower.clone(), upper.clone());
        let pair = DifferentialPair::new(&f, &g);
        let whole = pair.bounds_with_slopes(&region, None, &SlopeOptimisation::NONE);
        let later = SlopeOptimisation { stop: Some(Instant::now() + Duration::from_secs(3600)), ..SlopeOptimisation::NONE };
        let blocked = pair.bounds_with_slopes(&region, None, &later);
        for j in 0..4 {
            // the same bounds up to the order of rounding
            for (a, b) in [(whole.output_upper[j], blocked.output_upper[j]), (whole.output_lower[j], blocked.output_lower[j])] {
                assert!((a - b).abs() <= 1e-9 * (1.0 + a.abs()), "output {j}: {a} whole, {b} in blocks");
            }
        }
        let past = SlopeOptimisation { stop: Some(Instant::now()), ..SlopeOptimisation::NONE };
        let cut = pair.bounds_with_slopes(&region, None, &past);
        let (yf, yg) = (crate::propagation::interval_bounds(&f, &lower, &upper), crate::propagation::interval_bounds(&g, &lower, &upper));
        let (last_f, last_g) = (yf.layers.last().unwrap(), yg.layers.last().unwrap());
        for j in 0..4 {
            // no looser than the interval bound of the difference, no tighter than the full pass
            assert!(cut.output_upper[j] <= up(last_f.post_upper[j] - last_g.post_lower[j]), "output {j}");
            assert!(cut.output_upper[j] >= whole.output_upper[j] && cut.output_lower[j] <= whole.output_lower[j], "output {j}");
        }
        // the stop acted: intervals are looser than back-substitution here
        assert!((0..4).any(|j| cut.output_upper[j] > 1.5 * whole.output_upper[j].abs()), "{:?} against {:?}", cut.output_upper, whole.output_upper);
        for _ in 0..2000 {
            let x: Vec<f64> = (0..3).map(|i| rng.gen_range(lower[i]..=upper[i])).collect();
            let (a, b) = (f.eval(&x), g.eval(&x));
            for j in 0..4 {
                let diff = a[j] - b[j];
                assert!(diff <= cut.output_upper[j] && diff >= cut.output_lower[j], "output {j}: {diff} outside the cut pass's bounds");
                assert!(diff <= blocked.output_upper[j] && diff >= blocked.output_lower[j], "output {j}: {diff} outside the blocked pass's bounds");
            }
        }
    }

    /// Output-difference bounds enclose sampled differences for every
    /// activation and relation, and beat separate bounds on close pairs.
    #[test]
    fn differential_bounds_enclose_samples() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut tighter = 0;
        let relations = [Relation::Quantised, Relation::Pruned, Relation::StructurallyPruned, Relation::Unrelated];
        for case in 0..32 {
            let activation = [Activation::Relu, Activation::LeakyRelu { alpha: 0.2 }, Activation::Tanh, Activation::Sigmoid][case % 4];
            let relation = relations[(case / 4) % 4];
            let inputs = 1 + case % 3;
            let f = random_mlp(&mut rng, inputs, &[8, 6], 2, activation);
            let g = partner(&mut rng, &f, relation, activation);
            let lower: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-1.0..0.0)).collect();
            let upper: Vec<f64> = lower.iter().map(|l| l + rng.gen_range(0.05..1.0)).collect();
            let region = DifferentialRegion::same_input(lower.clone(), upper.clone());
            let d = differential_bounds(&f, &g, &region);
            let separate_bounds = separate(&f, &g, linear_bounds(&f, &lower, &upper), &linear_bounds(&g, &lower, &upper), &region);
            for j in 0..2 {
                if d.output_upper[j] - d.output_lower[j] < 0.9 * (separate_bounds.output_upper[j] - separate_bounds.output_lower[j]) {
                    tighter += 1;
                }
            }
            for _ in 0..2000 {
                let x: Vec<f64> = (0..inputs).map(|i| rng.gen_range(lower[i]..=upper[i])).collect();
                let (yf, yg) = (f.eval(&x), g.eval(&x));
                for j in 0..2 {
                    let diff = yf[j] - yg[j];
                    assert!(diff <= d.output_upper[j] && diff >= d.output_lower[j], "case {case} ({relation:?}, {activation:?}) output {j}: {diff} not in [{}, {}]", d.output_lower[j], d.output_upper[j]);
                }
            }
        }
        assert!(tighter >= 20, "differential propagation beat separate bounds on only {tighter} outputs");
    }

    /// A network compared with itself has a zero difference bound.
    #[test]
    fn identical_networks_give_zero() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let f = random_mlp(&mut rng, 3, &[10, 10], 3, Activation::Relu);
        let d = differential_bounds(&f, &f, &DifferentialRegion::same_input(vec![-1.0; 3], vec![1.0; 3]));
        assert!(d.per_output_abs().iter().all(|b| *b < 1e-300), "{:?}", d.per_output_abs());
    }

    /// The alignment of onnxruntime's layout (input quantiser, folded
    /// ReLUs, quantised output read by an identity layer, and a
    /// pass-through identity layer anywhere) keeps both functions exactly:
    /// `f` as aligned is `f`, and `g` as aligned, fed `Q(x)`, is `g(x)`.
    #[test]
    fn alignment_keeps_both_functions() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(77);
        let pass = |source: usize, width: usize, activation: Activation| Layer::dense(source, Matrix::identity(width), vec![0.0; width], activation);
        for case in 0..20 {
            let f = random_mlp(&mut rng, 3, &[5, 4], 2, Activation::Relu);
            let input = Activation::Quantize { scale: [0.05, 0.01][case % 2], zero_point: [0.0, 128.0][case % 2], qmin: 0.0, qmax: 255.0 };
            let mut layers = vec![pass(0, 3, input)];
            for (k, layer) in f.layers.iter().enumerate() {
                let activation = if k < 2 { Activation::Quantize { scale: 0.03, zero_point: 0.0, qmin: 0.0, qmax: 255.0 } } else { Activation::Quantize { scale: 0.02, zero_point: -3.0, qmin: -128.0, qmax: 127.0 } };
                layers.push(Layer::dense(layers.len(), layer.terms[0].weights.clone(), layer.bias.clone(), activation));
                if k == 0 && case % 3 == 0 {
                    layers.push(pass(layers.len(), 5, Activation::Identity));
                }
            }
            layers.push(pass(layers.len(), 2, Activation::Identity));
            let g = Network { layers, ..f.clone() };
            g.validate().unwrap();
            let alignment = Alignment::new(&f, &g).expect("pairs");
            assert_eq!(alignment.input_quantiser, Some(input));
            assert_eq!(alignment.reference.layers.len(), alignment.compressed.layers.len());
            for _ in 0..200 {
                let x: Vec<f64> = (0..3).map(|_| rng.gen_range(-2.0..2.0)).collect();
                let quantised: Vec<f64> = x.iter().map(|v| input.eval(*v)).collect();
                assert_eq!(alignment.reference.eval(&x), f.eval(&x), "case {case}");
                assert_eq!(alignment.compressed.eval(&quantised), g.eval(&x), "case {case}");
            }
            // and the propagation pairs them, soundly at the points
            let region = DifferentialRegion::same_input(vec![-1.0; 3], vec![1.0; 3]);
            let pair = DifferentialPair::new(&f, &g);
            assert!(pair.is_differential());
            let bounds = pair.bounds_within(&region, None);
            for _ in 0..500 {
                let x: Vec<f64> = (0..3).map(|_| rng.gen_range(-1.0..=1.0)).collect();
                for (j, (a, b)) in f.eval(&x).iter().zip(g.eval(&x)).enumerate() {
                    assert!(bounds.output_lower[j] <= a - b && a - b <= bounds.output_upper[j], "case {case}: {} outside [{}, {}]", a - b, bounds.output_lower[j], bounds.output_upper[j]);
                }
            }
        }
    }
}

#[cfg(test)]
mod mixed_slope_tests {
    use super::*;
    use crate::network::random::{partner, random_mlp, Relation};
    use rand::{Rng, SeedableRng};

    /// Leaky ReLUs of different slopes (a ReLU against a leaky ReLU, or a
    /// slope rounded to float32) pair neuron by neuron through their gap:
    /// the bounds enclose sampled differences (the network's exact values
    /// are within float noise of these: the check leaves that much room),
    /// and on the same weights with slopes one float32 step apart they are
    /// of the size of the difference, not of the networks' outputs.
    #[test]
    fn leaky_relus_of_different_slopes_pair_soundly() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(41);
        let slope = |alpha: f64| if alpha == 0.0 { Activation::Relu } else { Activation::LeakyRelu { alpha } };
        for case in 0..24 {
            let (alpha_f, alpha_g) = [(0.0, 0.01), (0.1, 0.1f32 as f64), (0.3, 0.0), (0.2, 0.25)][case % 4];
            let f = random_mlp(&mut rng, 3, &[8, 6], 2, slope(alpha_f));
            let relation = [Relation::Quantised, Relation::Pruned, Relation::Unrelated][(case / 4) % 3];
            let mut g = partner(&mut rng, &f, relation, slope(alpha_f));
            for layer in g.layers.iter_mut().take(2) {
                layer.activation = slope(alpha_g);
            }
            let pair = DifferentialPair::new(&f, &g);
            assert!(pair.is_differential(), "case {case}");
            let region = DifferentialRegion::same_input(vec![-1.0; 3], vec![1.0; 3]);
            let bounds = pair.bounds_within(&region, None);
            for _ in 0..400 {
                let x: Vec<f64> = (0..3).map(|_| rng.gen_range(-1.0..=1.0)).collect();
                for (j, (a, b)) in f.eval(&x).iter().zip(g.eval(&x)).enumerate() {
                    let noise = 1e-12 * (1.0 + a.abs() + b.abs());
                    assert!(bounds.output_lower[j] - noise <= a - b && a - b <= bounds.output_upper[j] + noise, "case {case}: {} outside [{}, {}]", a - b, bounds.output_lower[j], bounds.output_upper[j]);
                }
            }
        }
        // same weights, slopes 0.1 and its float32 rounding: a gap of 1.5e-9 |v|
        let f = random_mlp(&mut rng, 3, &[8, 6], 2, slope(0.1));
        let mut g = f.clone();
        for layer in g.layers.iter_mut().take(2) {
            layer.activation = slope(0.1f32 as f64);
        }
        let bounds = DifferentialPair::new(&f, &g).bounds_within(&DifferentialRegion::same_input(vec![-1.0; 3], vec![1.0; 3]), None);
        let widest = bounds.per_output_abs().into_iter().fold(0.0, f64::max);
        assert!(widest < 1e-6, "{widest}");
    }
}

#[cfg(test)]
mod slope_tests {
    use super::*;
    use crate::network::random::{partner, random_mlp, Relation};
    use crate::propagation::SlopeScope;
    use rand::{Rng, SeedableRng};

    /// Optimised slopes enclose sampled differences in every scope; on the
    /// output alone they are never looser than one pass (the first
    /// evaluation is one pass, bit for bit); with each network's neuron
    /// bounds optimised they tighten most pairs. (Tighter neuron bounds
    /// change which relaxations are chosen, so that scope is not monotone
    /// by construction: `crate::bound` caps it by one pass.)
    #[test]
    fn optimised_slopes_are_never_looser_and_enclose_samples() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut tightened = 0;
        for case in 0..36 {
            let activation = [Activation::Relu, Activation::LeakyRelu { alpha: 0.1 }, Activation::Tanh][case % 3];
            let relation = [Relation::Quantised, Relation::Pruned, Relation::Unrelated][(case / 3) % 3];
            let f = random_mlp(&mut rng, 4, &[12, 12, 12], 2, activation);
            let g = partner(&mut rng, &f, relation, activation);
            let lower: Vec<f64> = (0..4).map(|_| rng.gen_range(-1.0..0.0)).collect();
            let upper: Vec<f64> = lower.iter().map(|l| l + 1.0).collect();
            let region = DifferentialRegion::same_input(lower.clone(), upper.clone());
            let one = DifferentialPair::new(&f, &g).bounds_within(&region, None);
            for scope in [SlopeScope::Output, SlopeScope::Networks, SlopeScope::All] {
                let optimised = DifferentialPair::new(&f, &g).with_slopes(SlopeOptimisation::new(10, scope)).bounds_within(&region, None);
                if scope == SlopeScope::Output {
                    for j in 0..2 {
                        assert!(optimised.output_upper[j] <= one.output_upper[j] && optimised.output_lower[j] >= one.output_lower[j], "case {case} output {j}: optimised [{}, {}] looser than one pass [{}, {}]", optimised.output_lower[j], optimised.output_upper[j], one.output_lower[j], one.output_upper[j]);
                    }
                }
                if scope == SlopeScope::Networks && optimised.per_output_abs()[0] < 0.99 * one.per_output_abs()[0] {
                    tightened += 1;
                }
                for _ in 0..500 {
                    let x: Vec<f64> = (0..4).map(|i| rng.gen_range(lower[i]..=upper[i])).collect();
                    let (yf, yg) = (f.eval(&x), g.eval(&x));
                    for j in 0..2 {
                        let difference = yf[j] - yg[j];
                        assert!(difference <= optimised.output_upper[j] && difference >= optimised.output_lower[j], "case {case} {scope:?} output {j}: {difference} outside [{}, {}]", optimised.output_lower[j], optimised.output_upper[j]);
                    }
                }
            }
        }
        assert!(tightened >= 18, "optimised slopes tightened only {tightened} of 36 pairs by 1%");
    }

    /// The derivatives of a row's bound in its slope weights (forward pass
    /// of the maximiser, slopes.rs) match central finite differences of the
    /// bound itself, on random pairs with two and three hidden layers.
    #[test]
    fn slope_derivatives_match_finite_differences() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(41);
        let mut checked = 0;
        for case in 0..12 {
            let activation = [Activation::Relu, Activation::LeakyRelu { alpha: 0.2 }][case % 2];
            let hidden: &[usize] = if case % 3 == 0 { &[6, 5, 4] } else { &[7, 6] };
            let f = random_mlp(&mut rng, 3, hidden, 2, activation);
            let g = partner(&mut rng, &f, [Relation::Quantised, Relation::Pruned][case % 2], activation);
            let g = align(&f, &g).expect("pairs");
            let pairs: Vec<LayerPair> = f.layers.iter().zip(&g.layers).map(|(a, b)| LayerPair::new(a, b)).collect();
            let lower: Vec<f64> = (0..3).map(|_| rng.gen_range(-1.0..0.0)).collect();
            let upper: Vec<f64> = lower.iter().map(|l| l + 1.0).collect();
            let region = DifferentialRegion::same_input(lower.clone(), upper.clone());
            // any valid families will do: interval bounds of f, crude bounds of Delta v
            let bounds_f = interval_bounds(&f, &lower, &upper);
            let bounds_g = interval_bounds(&g, &lower, &upper);
            let families: Vec<LayerFamilies> = (0..hidden.len())
                .map(|k| {
                    let (bf, bg) = (&bounds_f.layers[k], &bounds_g.layers[k]);
                    let mut layer = LayerFamilies { delta: Vec::new(), reference: Vec::new() };
                    for i in 0..hidden[k] {
                        let (fl, fu, gl, gu) = (bf.pre_lower[i], bf.pre_upper[i], bg.pre_lower[i], bg.pre_upper[i]);
                        let (dl, du) = (down(fl - gu), up(fu - gl));
                        let (afl, afu) = activation_image(activation, fl, fu);
                        let (agl, agu) = activation_image(activation, gl, gu);
                        let (reference, delta) = activation.with_rule(|rule| (rule.linear_relaxation_family(fl, fu, afl, afu), rule.difference_relaxation_family((fl, fu), (gl, gu), (dl, du), (down(afl - agu), up(afu - agl)))));
                        layer.reference.push(NeuronFamily::new(reference, fl, fu));
                        layer.delta.push(NeuronFamily::new(delta, dl, du));
                    }
                    layer
                })
                .collect();
            let k = hidden.len();
            let transposed = transposed_weights(&pairs[..k]);
            let rows: Vec<usize> = (0..2).collect();
            let offsets: Vec<usize> = (0..k).map(|j| 4 * hidden[..j].iter().sum::<usize>()).collect();
            let parameters = 4 * hidden.iter().sum::<usize>();
            for sign in [1.0, -1.0] {
                let weights: Vec<f64> = (0..rows.len() * parameters).map(|_| rng.gen_range(0.05..0.95)).collect();
                let at = evaluate_rows(&pairs, &transposed, k, &rows, sign, &families, &offsets, parameters, &weights, true, &region);
                for p in 0..weights.len() {
                    let h = 1e-6;
                    let mut moved = weights.clone();
                    moved[p] += h;
                    let plus = evaluate_rows(&pairs, &transposed, k, &rows, sign, &families, &offsets, parameters, &moved, false, &region).values[p / parameters];
                    moved[p] -= 2.0 * h;
                    let minus = evaluate_rows(&pairs, &transposed, k, &rows, sign, &families, &offsets, parameters, &moved, false, &region).values[p / parameters];
                    let difference = (plus - minus) / (2.0 * h);
                    let scale = 1.0 + at.values[p / parameters].abs();
                    assert!((difference - at.gradient[p]).abs() <= 1e-4 * scale, "case {case} weight {p}: derivative {} but finite difference {difference}", at.gradient[p]);
                    checked += usize::from(at.gradient[p] != 0.0);
                }
            }
        }
        assert!(checked >= 200, "only {checked} nonzero derivatives checked");
    }
}
