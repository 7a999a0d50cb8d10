//! The network IR: feed-forward graphs of affine layers and element-wise
//! activations.
//!
//! Layer `k` (1-based) computes
//!
//! ```text
//! v^k = sum_{(j, W) in terms} W a^j + b^k,      a^k = sigma_k(v^k),
//! ```
//!
//! where `a^0` is the (normalised) input and each term reads the output of an
//! *earlier* layer `j < k`. A plain MLP has the single term `(k-1, W^k)`; a
//! residual connection adds a term reading an older layer; convolutions are
//! lowered to dense affine maps by the importer. The last layer is the output
//! (usually with the identity activation). Because every pre-activation is
//! affine in the stacked activations, this is exactly the class of networks
//! that the lifting of docs/method.md §2 handles.

pub mod exact;
mod matrix;
pub mod random;

pub use matrix::{dot, Matrix};

use crate::activation::Activation;
use crate::error::{shape, Error, ErrorKind, Result};
use serde::Serialize;

/// One affine term `W a^source` of a layer's pre-activation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Term {
    /// Which activation vector this term reads: 0 is the input, `k` the output of layer `k`.
    pub source: usize,
    /// The weight matrix, `width(layer) x width(source)`.
    pub weights: Matrix,
}

/// One layer: an affine map of earlier activations followed by an activation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    /// The affine terms of the pre-activation.
    pub terms: Vec<Term>,
    /// The bias `b^k`.
    pub bias: Vec<f64>,
    /// The element-wise activation `sigma_k`.
    pub activation: Activation,
}

impl Layer {
    /// Number of neurons.
    pub fn width(&self) -> usize {
        self.bias.len()
    }
    /// A plain dense layer reading the previous layer `k - 1` (given as `source`).
    pub fn dense(source: usize, weights: Matrix, bias: Vec<f64>, activation: Activation) -> Self {
        Layer { terms: vec![Term { source, weights }], bias, activation }
    }
}

/// Per-coordinate preprocessing of the raw input (the `.nnet` convention):
/// clip to `[min, max]`, then normalise `(x - mean) / range`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputTransform {
    /// Lower clipping bound per input.
    pub min: Vec<f64>,
    /// Upper clipping bound per input.
    pub max: Vec<f64>,
    /// Mean subtracted after clipping.
    pub mean: Vec<f64>,
    /// Range divided by after centring (positive).
    pub range: Vec<f64>,
}

impl InputTransform {
    /// Clips and normalises one raw input.
    pub fn apply(&self, raw: &[f64]) -> Vec<f64> {
        raw.iter()
            .enumerate()
            .map(|(i, &x)| (x.clamp(self.min[i], self.max[i]) - self.mean[i]) / self.range[i])
            .collect()
    }
}

/// A quantiser layer clamping at some input ([`Network::saturated_quantisers`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Saturation {
    /// The layer (1-based).
    pub layer: usize,
    /// Whether its neurons are the network's outputs (read by an identity output layer).
    pub outputs: bool,
    /// Neurons held at the top level.
    pub at_top: Vec<usize>,
    /// Neurons held at the bottom level.
    pub at_bottom: Vec<usize>,
    /// The top level `s (qmax - z)`.
    pub top_level: f64,
    /// The bottom level `s (qmin - z)`.
    pub bottom_level: f64,
}

/// Largest parameter magnitude [`Network::validate`] accepts: beyond it,
/// products of weights and bounds overflow f64 in a few layers.
pub const MAX_PARAMETER_MAGNITUDE: f64 = 1e100;

/// A feed-forward network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    /// Number of inputs.
    pub input_dim: usize,
    /// Optional clipping + normalisation applied before the first layer.
    pub input_transform: Option<InputTransform>,
    /// The layers; the last one is the output layer.
    pub layers: Vec<Layer>,
    /// For each hidden layer, the index in the *original* network of each kept
    /// neuron (set by structured pruning, `None` when widths are the original's).
    /// Used to match neurons of a pruned network with those of its reference.
    pub kept_neurons: Option<Vec<Vec<usize>>>,
    /// How the parameters were stored in the source file (`float32`, `float64`,
    /// `int8-qdq`, `nnet-text`, ...), for `info`.
    pub source_dtype: String,
    /// Whether the model's output is `softmax` (over the last axis) of the
    /// last layer: [`Network::eval`] returns probabilities, while the layers,
    /// and every propagation, bound and label decision, work on the logits
    /// (the last layer's outputs). See [`Network::logits`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub output_softmax: bool,
}

impl Network {
    /// Number of outputs.
    pub fn output_dim(&self) -> usize {
        self.layers.last().map_or(self.input_dim, |l| l.width())
    }
    /// Width of activation vector `j` (0 = input).
    pub fn width_of(&self, j: usize) -> usize {
        if j == 0 { self.input_dim } else { self.layers[j - 1].width() }
    }
    /// Number of hidden layers (all but the output layer).
    pub fn hidden_count(&self) -> usize {
        self.layers.len().saturating_sub(1)
    }
    /// Whether every layer reads only the previous one (a plain MLP).
    pub fn is_chain(&self) -> bool {
        self.layers
            .iter()
            .enumerate()
            .all(|(k, l)| l.terms.len() == 1 && l.terms[0].source == k)
    }

    /// Checks shapes, sources, finiteness, parameter magnitudes (at most
    /// [`MAX_PARAMETER_MAGNITUDE`]), activation parameters, and that the output
    /// layer is affine. Importers call this; the error
    /// names the layer.
    pub fn validate(&self) -> Result<()> {
        if self.layers.is_empty() {
            return Err(Error::new(ErrorKind::Malformed, "network has no layers"));
        }
        if self.input_dim == 0 {
            return Err(Error::new(ErrorKind::Malformed, "network has no inputs"));
        }
        if self.layers.last().is_some_and(|layer| layer.width() == 0) {
            return Err(Error::new(ErrorKind::Malformed, "network has no outputs (the last layer has width 0)"));
        }
        if let Some(t) = &self.input_transform {
            let n = self.input_dim;
            if t.min.len() != n || t.max.len() != n || t.mean.len() != n || t.range.len() != n {
                return Err(shape("input normalisation has the wrong number of entries"));
            }
            for i in 0..n {
                let vals = [t.min[i], t.max[i], t.mean[i], t.range[i]];
                if vals.iter().any(|v| v.is_nan()) || !t.mean[i].is_finite() || !t.range[i].is_finite() {
                    return Err(Error::new(ErrorKind::NonFiniteWeight, format!("input normalisation entry {i} is not finite")));
                }
                if t.range[i] <= 0.0 {
                    return Err(Error::new(ErrorKind::Malformed, format!("input range {i} is not positive ({})", t.range[i])));
                }
                if t.min[i] > t.max[i] {
                    return Err(Error::new(ErrorKind::Malformed, format!("input {i}: min {} > max {}", t.min[i], t.max[i])));
                }
            }
        }
        for (index, layer) in self.layers.iter().enumerate() {
            let k = index + 1;
            if layer.terms.is_empty() {
                return Err(Error::new(ErrorKind::Malformed, format!("layer {k} reads no input")));
            }
            for term in &layer.terms {
                if term.source >= k {
                    return Err(Error::new(ErrorKind::Malformed, format!("layer {k} reads layer {} which is not earlier", term.source)));
                }
                let expected = (layer.width(), self.width_of(term.source));
                if (term.weights.rows, term.weights.cols) != expected {
                    return Err(shape(format!(
                        "layer {k}: weight matrix is {}x{} but must be {}x{}",
                        term.weights.rows, term.weights.cols, expected.0, expected.1
                    )));
                }
                if let Some(pos) = term.weights.data.iter().position(|w| !w.is_finite()) {
                    return Err(Error::new(
                        ErrorKind::NonFiniteWeight,
                        format!("layer {k}: weight ({}, {}) is {}", pos / term.weights.cols, pos % term.weights.cols, term.weights.data[pos]),
                    ));
                }
            }
            if let Some(pos) = layer.bias.iter().position(|b| !b.is_finite()) {
                return Err(Error::new(ErrorKind::NonFiniteWeight, format!("layer {k}: bias {pos} is {}", layer.bias[pos])));
            }
            let largest = layer.terms.iter().flat_map(|t| t.weights.data.iter()).chain(&layer.bias).fold(0.0f64, |m, w| m.max(w.abs()));
            if largest > MAX_PARAMETER_MAGNITUDE {
                return Err(Error::new(ErrorKind::Unsupported, format!("layer {k}: a parameter of magnitude {largest:e} is beyond {MAX_PARAMETER_MAGNITUDE:e}, where bounds would overflow")));
            }
            if let crate::activation::Activation::LeakyRelu { alpha } = layer.activation {
                // its facts (monotone, slopes in [alpha, 1]) need 0 <= alpha <= 1
                if !(0.0..=1.0).contains(&alpha) {
                    return Err(Error::new(ErrorKind::Unsupported, format!("layer {k}: leaky ReLU with alpha {alpha}; only 0 <= alpha <= 1 is supported")));
                }
            }
            if let crate::activation::Activation::Quantize { scale, zero_point, qmin, qmax } = layer.activation {
                // its rules need a normal positive scale (no underflow in the
                // enclosures of v / s and s (k - z)) and integer levels
                // qmin <= z <= qmax of at most 16 bits
                let integer = |v: f64| v.fract() == 0.0 && v.abs() <= 65536.0;
                if !(scale >= f32::MIN_POSITIVE as f64 && scale <= 1e30) || ![zero_point, qmin, qmax].into_iter().all(integer) || !(qmin < qmax && qmin <= zero_point && zero_point <= qmax) {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        format!("layer {k}: quantiser with scale {scale}, zero point {zero_point}, range [{qmin}, {qmax}]; a scale in [2^-126, 1e30] and integers qmin <= zero point <= qmax, qmin < qmax, of at most 16 bits are supported"),
                    ));
                }
            }
        }
        // the output is the last layer's affine map: bounds on the last
        // pre-activation are bounds on the output only without an activation there
        let last = self.layers.len();
        if self.layers[last - 1].activation != crate::activation::Activation::Identity {
            return Err(Error::new(ErrorKind::Malformed, format!("layer {last} (the output) has activation {}; the output layer must be affine", self.layers[last - 1].activation.name())));
        }
        if let Some(kept) = &self.kept_neurons {
            if kept.len() != self.hidden_count() || kept.iter().zip(&self.layers).any(|(m, l)| m.len() != l.width()) {
                return Err(Error::new(ErrorKind::Malformed, "kept-neuron map does not match the hidden layer widths"));
            }
            if let Some(k) = kept.iter().position(|m| m.windows(2).any(|w| w[0] >= w[1])) {
                return Err(Error::new(ErrorKind::Malformed, format!("kept-neuron map of hidden layer {}: indices must increase strictly (one-to-one)", k + 1)));
            }
        }
        Ok(())
    }

    /// Checks that `input` has the network's input length.
    pub fn check_input(&self, input: &[f64]) -> Result<()> {
        if input.len() != self.input_dim {
            return Err(shape(format!("input has {} values but the network takes {}", input.len(), self.input_dim)));
        }
        if input.iter().any(|v| !v.is_finite()) {
            return Err(Error::new(ErrorKind::InvalidOption, "input contains NaN or infinity"));
        }
        Ok(())
    }

    /// All activation vectors `[a^0, a^1, ..., a^L]` at a raw input (`a^0` is
    /// the input after the optional transform). The last entry is the output.
    pub fn activations(&self, raw_input: &[f64]) -> Vec<Vec<f64>> {
        let first = match &self.input_transform {
            Some(t) => t.apply(raw_input),
            None => raw_input.to_vec(),
        };
        self.activations_from(first)
    }

    /// Like [`Network::activations`] starting from an already transformed input.
    pub fn activations_from(&self, input: Vec<f64>) -> Vec<Vec<f64>> {
        let mut acts = Vec::with_capacity(self.layers.len() + 1);
        acts.push(input);
        for layer in &self.layers {
            let pre = self.pre_activation(layer, &acts);
            acts.push(pre.into_iter().map(|v| layer.activation.eval(v)).collect());
        }
        acts
    }

    /// The quantiser layers whose clamp is active at a raw input: neurons
    /// held at the top level `s (qmax - z)` (their rounded quotient lies
    /// above `qmax`), and at the bottom level where the bottom clamp is not
    /// a folded ReLU (zero point above `qmin`) or the layer feeds the
    /// outputs. A quantised output that saturates caps `g`'s outputs: the
    /// error at a witness is often that cap, which the report says plainly.
    pub fn saturated_quantisers(&self, raw_input: &[f64]) -> Vec<Saturation> {
        let first = match &self.input_transform {
            Some(t) => t.apply(raw_input),
            None => raw_input.to_vec(),
        };
        let mut acts = vec![first];
        let mut found = Vec::new();
        let depth = self.layers.len();
        for (index, layer) in self.layers.iter().enumerate() {
            let pre = self.pre_activation(layer, &acts);
            if let crate::activation::Activation::Quantize { scale, zero_point, qmin, qmax } = layer.activation {
                // the layer's neurons are the outputs when an identity output layer only reads them
                let feeds_outputs = index + 2 == depth && {
                    let last = &self.layers[depth - 1];
                    last.activation == crate::activation::Activation::Identity && last.terms.len() == 1 && last.terms[0].weights.rows == last.terms[0].weights.cols && last.terms[0].weights == Matrix::identity(last.width()) && last.bias.iter().all(|b| *b == 0.0)
                };
                let level = |v: f64| (v / scale).round_ties_even() + zero_point;
                let at_top: Vec<usize> = (0..pre.len()).filter(|&i| level(pre[i]) > qmax).collect();
                let at_bottom: Vec<usize> = if zero_point > qmin || feeds_outputs { (0..pre.len()).filter(|&i| level(pre[i]) < qmin).collect() } else { Vec::new() };
                if !at_top.is_empty() || !at_bottom.is_empty() {
                    found.push(Saturation { layer: index + 1, outputs: feeds_outputs, at_top, at_bottom, top_level: scale * (qmax - zero_point), bottom_level: scale * (qmin - zero_point) });
                }
            }
            acts.push(pre.into_iter().map(|v| layer.activation.eval(v)).collect());
        }
        found
    }

    /// The pre-activation of `layer` given the earlier activation vectors.
    pub fn pre_activation(&self, layer: &Layer, acts: &[Vec<f64>]) -> Vec<f64> {
        let mut pre = layer.bias.clone();
        for term in &layer.terms {
            term.weights.mul_vec_add(&acts[term.source], &mut pre);
        }
        pre
    }

    /// `f(x)` at a raw input (length must be `input_dim`; see [`Network::check_input`]):
    /// the probabilities when the output ends in a softmax, else the last layer.
    pub fn eval(&self, raw_input: &[f64]) -> Vec<f64> {
        let last = self.activations(raw_input).pop().unwrap_or_default();
        if self.output_softmax { softmax(&last) } else { last }
    }

    /// The same network without its output softmax: its outputs are the
    /// logits. Bounds and label decisions are computed on this network.
    pub fn logits(&self) -> Network {
        Network { output_softmax: false, ..self.clone() }
    }

    /// Evaluates a batch of inputs, checking each one's length.
    pub fn eval_batch(&self, inputs: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
        inputs
            .iter()
            .enumerate()
            .map(|(i, x)| {
                self.check_input(x).map_err(|e| e.within(format!("input {i}")))?;
                Ok(self.eval(x))
            })
            .collect()
    }

    /// Gradient of `c^T f(x)` with respect to the raw input `x` (reverse mode;
    /// clipping contributes zero derivative outside `[min, max]`).
    pub fn gradient(&self, raw_input: &[f64], output_weights: &[f64]) -> Vec<f64> {
        self.gradient_with_leak(raw_input, output_weights, 0.0)
    }

    /// [`Network::gradient`] with every activation's derivative raised to at
    /// least `leak` times its largest slope (capped at 1): a search direction
    /// through inactive ReLUs and flat quantiser steps, where the true
    /// gradient is 0 (the attack's way out of a dead region). Not a
    /// derivative of `f`; `leak = 0` gives the gradient.
    pub fn gradient_with_leak(&self, raw_input: &[f64], output_weights: &[f64], leak: f64) -> Vec<f64> {
        let first = match &self.input_transform {
            Some(t) => t.apply(raw_input),
            None => raw_input.to_vec(),
        };
        let mut acts = Vec::with_capacity(self.layers.len() + 1);
        let mut pres = Vec::with_capacity(self.layers.len());
        acts.push(first);
        for layer in &self.layers {
            let pre = self.pre_activation(layer, &acts);
            acts.push(pre.iter().map(|&v| layer.activation.eval(v)).collect());
            pres.push(pre);
        }
        // adjoints of every activation vector
        let mut adjoint: Vec<Vec<f64>> = acts.iter().map(|a| vec![0.0; a.len()]).collect();
        adjoint[self.layers.len()].copy_from_slice(output_weights);
        for k in (1..=self.layers.len()).rev() {
            let layer = &self.layers[k - 1];
            let pre_adj: Vec<f64> = adjoint[k]
                .iter()
                .zip(&pres[k - 1])
                .map(|(g, &v)| {
                    let derivative = layer.activation.derivative(v);
                    g * if leak > 0.0 { derivative.max(leak * layer.activation.slope_bounds().1.min(1.0)) } else { derivative }
                })
                .collect();
            for term in &layer.terms {
                let (before, after) = adjoint.split_at_mut(term.source + 1);
                let _ = after;
                term.weights.mul_transpose_vec_add(&pre_adj, &mut before[term.source]);
            }
        }
        let mut grad = adjoint.swap_remove(0);
        if let Some(t) = &self.input_transform {
            for i in 0..grad.len() {
                let inside = raw_input[i] >= t.min[i] && raw_input[i] <= t.max[i];
                grad[i] = if inside { grad[i] / t.range[i] } else { 0.0 };
            }
        }
        grad
    }

    /// Number of weights (all terms) and biases.
    pub fn parameter_count(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.bias.len() + l.terms.iter().map(|t| t.weights.data.len()).sum::<usize>())
            .sum()
    }

    /// The network restricted to the outputs `indices` (in that order): the
    /// output layer keeps only those rows, so every bound and witness is
    /// about them alone. Indices must be distinct and in range.
    pub fn select_outputs(&self, indices: &[usize]) -> Result<Network> {
        let outputs = self.output_dim();
        if self.output_softmax {
            return Err(Error::new(ErrorKind::Unsupported, "the output ends in Softmax, where every probability depends on every logit: outputs cannot be selected"));
        }
        if indices.is_empty() {
            return Err(Error::new(ErrorKind::InvalidOption, "the list of outputs is empty"));
        }
        for (k, &j) in indices.iter().enumerate() {
            if j >= outputs {
                return Err(Error::new(ErrorKind::InvalidOption, format!("output {j} does not exist (the network has {outputs} outputs, numbered from 0)")));
            }
            if indices[..k].contains(&j) {
                return Err(Error::new(ErrorKind::InvalidOption, format!("output {j} is listed twice")));
            }
        }
        let mut selected = self.clone();
        let last = selected.layers.last_mut().ok_or_else(|| Error::new(ErrorKind::InvalidOption, "the network has no layers"))?;
        for term in &mut last.terms {
            term.weights = term.weights.select_rows(indices);
        }
        last.bias = indices.iter().map(|&j| last.bias[j]).collect();
        Ok(selected)
    }

    /// Fraction of weights (not biases) that are exactly zero.
    pub fn sparsity(&self) -> f64 {
        let (zeros, total) = self.layers.iter().flat_map(|l| &l.terms).fold((0usize, 0usize), |(z, t), term| {
            (z + term.weights.data.iter().filter(|w| **w == 0.0).count(), t + term.weights.data.len())
        });
        if total == 0 { 0.0 } else { zeros as f64 / total as f64 }
    }

    /// A copy with the input normalisation folded into the layers that read
    /// the input, so that the copy maps a raw input *already inside* `[min, max]`
    /// to the same output with no transform. Clipping is not representable by an
    /// affine map; callers clamp their input set to `[min, max]` first
    /// (the set of clipped inputs of a box is the clamped box).
    pub fn with_transform_folded(&self) -> Network {
        let mut net = self.clone();
        if let Some(t) = net.input_transform.take() {
            for layer in &mut net.layers {
                for term in layer.terms.iter_mut().filter(|t| t.source == 0) {
                    // W ((x - mean) / range) = (W diag(1/range)) x - W (mean / range)
                    let shift: Vec<f64> = (0..t.mean.len()).map(|i| t.mean[i] / t.range[i]).collect();
                    let mut offset = vec![0.0; layer.bias.len()];
                    term.weights.mul_vec_add(&shift, &mut offset);
                    for r in 0..term.weights.rows {
                        for c in 0..term.weights.cols {
                            *term.weights.get_mut(r, c) /= t.range[c];
                        }
                    }
                    for (b, o) in layer.bias.iter_mut().zip(offset) {
                        *b -= o;
                    }
                }
            }
        }
        net
    }
}

/// `softmax(z)_i = exp(z_i - max z) / sum_j exp(z_j - max z)` (subtracting
/// the maximum keeps every exponential in `(0, 1]`: no overflow).
pub fn softmax(z: &[f64]) -> Vec<f64> {
    let top = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = z.iter().map(|&v| (v - top).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Rigorous enclosures of `softmax(z)` for every `z` in the box
/// `[lower, upper]`: `softmax(z)_i = 1 / (1 + sum_{j != i} exp(z_j - z_i))`
/// is decreasing in each `z_j` (`j != i`) and increasing in `z_i`, so it lies in
/// `[1 / (1 + sum_{j != i} exp(upper_j - lower_i)), 1 / (1 + sum_{j != i} exp(lower_j - upper_i))]`,
/// evaluated with outward rounding.
pub fn softmax_enclosure(lower: &[f64], upper: &[f64]) -> (Vec<f64>, Vec<f64>) {
    use crate::rounding::{sub_down, sub_up};
    let n = lower.len();
    (0..n)
        .map(|i| {
            // margins z_i - z_j: at least lower_i - upper_j, at most upper_i - lower_j
            let margin_lower: Vec<f64> = (0..n).map(|j| sub_down(lower[i], upper[j])).collect();
            let margin_upper: Vec<f64> = (0..n).map(|j| sub_up(upper[i], lower[j])).collect();
            (crate::label::softmax_lower(i, &margin_lower), crate::label::softmax_upper(i, &margin_upper))
        })
        .unzip()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 2-3-1 ReLU network with a residual term, for unit tests.
    pub fn small_residual() -> Network {
        Network {
            input_dim: 2,
            input_transform: None,
            layers: vec![
                Layer::dense(0, Matrix::from_rows(3, 2, vec![1.0, -1.0, 0.5, 2.0, -1.0, 0.0]), vec![0.1, -0.2, 0.3], Activation::Relu),
                Layer {
                    terms: vec![
                        Term { source: 1, weights: Matrix::from_rows(1, 3, vec![1.0, -2.0, 0.5]) },
                        Term { source: 0, weights: Matrix::from_rows(1, 2, vec![0.25, 0.75]) },
                    ],
                    bias: vec![0.05],
                    activation: Activation::Identity,
                },
            ],
            kept_neurons: None,
            source_dtype: "float64".into(),
            output_softmax: false,
        }
    }

    #[test]
    fn evaluates_residual_network_by_hand() {
        let net = small_residual();
        net.validate().unwrap();
        let x = [0.4, -0.3];
        // v1 = [0.7+0.1, 0.2-0.6-0.2, -0.4+0.3] = [0.8, -0.6, -0.1]; a1 = [0.8, 0, 0]
        let y = net.eval(&x);
        let expected = 0.8 + 0.25 * 0.4 + 0.75 * -0.3 + 0.05;
        assert!((y[0] - expected).abs() < 1e-15);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let net = small_residual();
        let x = [0.4, -0.3];
        let g = net.gradient(&x, &[1.0]);
        for i in 0..2 {
            let h = 1e-7;
            let mut xp = x;
            xp[i] += h;
            let mut xm = x;
            xm[i] -= h;
            let fd = (net.eval(&xp)[0] - net.eval(&xm)[0]) / (2.0 * h);
            assert!((fd - g[i]).abs() < 1e-6, "{fd} {}", g[i]);
        }
    }

    #[test]
    fn folding_the_transform_preserves_outputs_inside_the_clip_box() {
        let mut net = small_residual();
        net.input_transform = Some(InputTransform { min: vec![-5.0, 0.0], max: vec![5.0, 10.0], mean: vec![1.0, 2.0], range: vec![4.0, 8.0] });
        let folded = net.with_transform_folded();
        for x in [[0.3, 1.0], [-4.0, 9.0], [2.0, 5.5]] {
            let a = net.eval(&x)[0];
            let b = folded.eval(&x)[0];
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn softmax_output_evaluates_to_probabilities_within_the_enclosure() {
        let mut net = small_residual();
        net.layers[1] = Layer::dense(1, Matrix::from_rows(2, 3, vec![1.0, -2.0, 0.5, 0.0, 1.0, -1.0]), vec![0.05, 800.0], Activation::Identity);
        net.output_softmax = true;
        let x = [0.4, -0.3];
        let logits = net.logits().eval(&x);
        let p = net.eval(&x);
        // a logit of about 800 would overflow exp without the shift
        let top = logits[0].max(logits[1]);
        let expected: Vec<f64> = logits.iter().map(|z| (z - top).exp() / ((logits[0] - top).exp() + (logits[1] - top).exp())).collect();
        assert_eq!(p, expected);
        assert!(p.iter().all(|v| v.is_finite()) && (p[0] + p[1] - 1.0).abs() < 1e-15);
        let (lo, hi) = softmax_enclosure(&[-1.0, 0.5], &[-0.5, 1.0]);
        for (a, b) in [(-1.0, 0.5), (-0.5, 1.0), (-0.75, 0.75), (-1.0, 1.0), (-0.5, 0.5)] {
            let q = softmax(&[a, b]);
            assert!((0..2).all(|i| lo[i] <= q[i] && q[i] <= hi[i]), "{q:?} {lo:?} {hi:?}");
        }
        assert!(net.select_outputs(&[0]).is_err());
    }

    #[test]
    fn validate_names_the_layer_with_a_nan_weight() {
        let mut net = small_residual();
        net.layers[1].terms[0].weights.data[1] = f64::NAN;
        let err = net.validate().unwrap_err();
        assert_eq!(err.kind, ErrorKind::NonFiniteWeight);
        assert!(err.context.contains("layer 2"), "{}", err.context);
    }

    #[test]
    fn a_network_without_outputs_is_refused() {
        let mut net = small_residual();
        let last = net.layers.last_mut().expect("layers");
        for term in &mut last.terms {
            term.weights = Matrix::from_rows(0, term.weights.cols, Vec::new());
        }
        last.bias.clear();
        let err = net.validate().unwrap_err();
        assert_eq!(err.kind, ErrorKind::Malformed);
        assert!(err.context.contains("no outputs"), "{}", err.context);
    }
}
