//! Compression: magnitude pruning (unstructured and structured) and
//! quantisation (fixed point by truncation or rounding, symmetric int8/int4)
//! of weights, and static uint8 quantisation of ReLU activations.
//! Every function returns the new network and a report of what it did.

mod activations;
mod prune;
mod quantize;

pub use activations::{quantize_activations, ActivationQuantReport};
pub use prune::{prune_structured, prune_unstructured, PruneReport, PruneScope};
pub use quantize::{quantize, QuantReport, QuantScheme};

use crate::network::Network;

/// Largest absolute change of any weight or bias between two networks of the
/// same shape.
pub fn max_parameter_change(before: &Network, after: &Network) -> f64 {
    let mut worst: f64 = 0.0;
    for (a, b) in before.layers.iter().zip(&after.layers) {
        for (ta, tb) in a.terms.iter().zip(&b.terms) {
            for (x, y) in ta.weights.data.iter().zip(&tb.weights.data) {
                worst = worst.max((x - y).abs());
            }
        }
        for (x, y) in a.bias.iter().zip(&b.bias) {
            worst = worst.max((x - y).abs());
        }
    }
    worst
}
