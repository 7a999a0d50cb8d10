//! Interval arithmetic, with outward rounding.
//!
//! For `v_i = b_i + sum_j W_ij a_j` with `a_j in [l_j, u_j]` the exact range is
//! `[b_i + sum_j min(W_ij l_j, W_ij u_j), b_i + sum_j max(...)]`. Floating-point
//! evaluation of either sum is off by at most `gamma_{n+1} (|b_i| + sum_j |W_ij|
//! max(|l_j|, |u_j|))` with `gamma_n = n u / (1 - n u)` (Higham, Thm 3.5), so
//! each bound is moved outward by that amount ([`crate::rounding::accumulated_error`],
//! which also covers the rounding of the magnitude itself): the bounds hold
//! for the exact real-arithmetic network. An undefined (NaN) bound becomes
//! an infinite one.

use super::{LayerBounds, NetworkBounds};
use crate::network::Network;

pub use crate::rounding::{round_down, round_up, rounding_gamma};
use crate::rounding::{accumulated_error, lower_or_infinity, sub_down, add_up, upper_or_infinity};

/// Bounds of `sigma([lower, upper])` in exact arithmetic: the lower end of
/// the enclosure of `sigma(lower)` and the upper end of that of
/// `sigma(upper)` (exact for ReLU and identity; library functions and the
/// leaky slope are rounded, see [`crate::rounding`]). A NaN end gives an
/// infinite one.
pub fn activation_image(activation: crate::activation::Activation, lower: f64, upper: f64) -> (f64, f64) {
    let (lo, hi) = activation.with_rule(|rule| rule.interval(lower, upper));
    (lower_or_infinity(lo), upper_or_infinity(hi))
}

/// Interval bounds of every layer of `network` (no input transform: the box is
/// in first-layer coordinates) over `[input_lower, input_upper]`.
pub fn interval_bounds(network: &Network, input_lower: &[f64], input_upper: &[f64]) -> NetworkBounds {
    let mut bounds = NetworkBounds { input_lower: input_lower.to_vec(), input_upper: input_upper.to_vec(), layers: Vec::new() };
    for layer in &network.layers {
        let step = layer_interval_bounds(layer, |source| bounds.activation(source));
        bounds.layers.push(step);
    }
    bounds
}

/// Interval bounds of one layer whose term reading `source` sees activations
/// in `activation(source)`.
pub(crate) fn layer_interval_bounds<'a>(layer: &crate::network::Layer, activation: impl Fn(usize) -> (&'a [f64], &'a [f64])) -> LayerBounds {
    // independent partial sums per accumulation (the rounding bound of a
    // sum holds for any order of its terms: crate::rounding item 2)
    use super::linear::{lane_sums, LANES};
    let width = layer.width();
    let mut lower = layer.bias.clone();
    let mut upper = layer.bias.clone();
    let mut magnitude: Vec<f64> = layer.bias.iter().map(|b| b.abs()).collect();
    let mut terms = 1;
    for term in &layer.terms {
        let (al, au) = activation(term.source);
        terms += term.weights.cols;
        let n = term.weights.cols;
        assert!(al.len() == n && au.len() == n, "activation bounds of another width");
        let largest: Vec<f64> = al.iter().zip(au).map(|(l, u)| l.abs().max(u.abs())).collect();
        for i in 0..width {
            let row = term.weights.row(i);
            let [lo, hi, mag] = lane_sums(n, |m: usize, lane: usize, sums: &mut [[f64; LANES]; 3]| {
                let w = row[m];
                let (p, q) = (w * al[m], w * au[m]);
                sums[0][lane] += p.min(q);
                sums[1][lane] += p.max(q);
                sums[2][lane] += w.abs() * largest[m];
            });
            lower[i] += lo;
            upper[i] += hi;
            magnitude[i] += mag;
        }
    }
    for i in 0..width {
        let slack = accumulated_error(terms + 1, magnitude[i]);
        lower[i] = lower_or_infinity(sub_down(lower[i], slack));
        upper[i] = upper_or_infinity(add_up(upper[i], slack));
    }
    let (post_lower, post_upper): (Vec<f64>, Vec<f64>) = (0..width).map(|i| activation_image(layer.activation, lower[i], upper[i])).unzip();
    LayerBounds { pre_lower: lower, pre_upper: upper, post_lower, post_upper }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tests::small_residual;
    use rand::{Rng, SeedableRng};

    /// Bounds must enclose dense samples of the true values.
    #[test]
    fn interval_bounds_enclose_samples() {
        let net = small_residual();
        let (lo, hi) = (vec![-1.0, -0.5], vec![0.5, 2.0]);
        let b = interval_bounds(&net, &lo, &hi);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..5000 {
            let x: Vec<f64> = (0..2).map(|i| rng.gen_range(lo[i]..=hi[i])).collect();
            let acts = net.activations_from(x);
            for (k, layer) in net.layers.iter().enumerate() {
                let pre = net.pre_activation(layer, &acts);
                for i in 0..layer.width() {
                    assert!(pre[i] >= b.layers[k].pre_lower[i] && pre[i] <= b.layers[k].pre_upper[i]);
                    assert!(acts[k + 1][i] >= b.layers[k].post_lower[i] && acts[k + 1][i] <= b.layers[k].post_upper[i]);
                }
            }
        }
    }
}
