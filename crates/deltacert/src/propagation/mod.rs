//! Pre-activation bounds: `l <= v <= u` for every neuron over the input box.
//! They feed the interval QCs, the ReLU triangle and stable-neuron
//! elimination of the SDP (docs/method.md §3), and the radius `R` of the
//! certificate check (§5).

mod differential;
mod interval;
mod linear;
pub mod polytope;
pub mod slopes;

pub use interval::{interval_bounds, round_down, round_up, rounding_gamma};
pub use differential::{align, differential_bounds, Alignment, DifferentialBounds, DifferentialPair, DifferentialRegion, OutputCertificate, Phase, PhaseSplit, Side};
pub use linear::{linear_bounds, linear_bounds_optimised, linear_bounds_within};
pub use slopes::{SlopeOptimisation, SlopeScope, DEFAULT_SLOPE_ITERATIONS};

use serde::Serialize;

/// Bounds of one layer.
#[derive(Debug, Clone, Serialize)]
pub struct LayerBounds {
    /// Lower bounds of the pre-activations `v`.
    pub pre_lower: Vec<f64>,
    /// Upper bounds of the pre-activations `v`.
    pub pre_upper: Vec<f64>,
    /// Lower bounds of the activations `a = sigma(v)`.
    pub post_lower: Vec<f64>,
    /// Upper bounds of the activations.
    pub post_upper: Vec<f64>,
}

/// Bounds of every layer of a network; `layers[k - 1]` is layer `k`.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkBounds {
    /// The input box (in the network's first-layer coordinates).
    pub input_lower: Vec<f64>,
    /// Upper corner of the input box.
    pub input_upper: Vec<f64>,
    /// Per-layer bounds.
    pub layers: Vec<LayerBounds>,
}

impl NetworkBounds {
    /// Bounds `(lower, upper)` of activation vector `j` (0 = input).
    pub fn activation(&self, j: usize) -> (&[f64], &[f64]) {
        if j == 0 {
            (&self.input_lower, &self.input_upper)
        } else {
            (&self.layers[j - 1].post_lower, &self.layers[j - 1].post_upper)
        }
    }
    /// Number of neurons whose pre-activation keeps one sign over the box,
    /// among layers with a piecewise-linear activation.
    pub fn stable_count(&self, network: &crate::network::Network) -> usize {
        self.layers
            .iter()
            .zip(&network.layers)
            .filter(|(_, l)| l.activation.piecewise_linear_slope().is_some())
            .map(|(b, _)| b.pre_lower.iter().zip(&b.pre_upper).filter(|(l, u)| **l >= 0.0 || **u <= 0.0).count())
            .sum()
    }
}
