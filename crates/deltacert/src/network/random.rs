//! Seeded random networks and compressed copies, for property tests and
//! benchmarks. Weights are drawn with variance `2 / fan_in` (He), so signals
//! neither vanish nor explode with depth.

use super::{Layer, Matrix, Network};
use crate::activation::Activation;
use crate::compress::{prune_structured, prune_unstructured, quantize, PruneScope, QuantScheme};
use rand::Rng;

/// A random MLP `input_dim -> hidden... -> output_dim` with `activation` on the hidden layers.
pub fn random_mlp(rng: &mut impl Rng, input_dim: usize, hidden: &[usize], output_dim: usize, activation: Activation) -> Network {
    let mut widths = vec![input_dim];
    widths.extend_from_slice(hidden);
    widths.push(output_dim);
    let layers = (0..widths.len() - 1)
        .map(|k| {
            let (fan_in, fan_out) = (widths[k], widths[k + 1]);
            let scale = (6.0 / fan_in as f64).sqrt();
            let weights = Matrix::from_rows(fan_out, fan_in, (0..fan_in * fan_out).map(|_| rng.gen_range(-scale..scale)).collect());
            let bias = (0..fan_out).map(|_| rng.gen_range(-0.5..0.5)).collect();
            let act = if k + 2 == widths.len() { Activation::Identity } else { activation };
            Layer::dense(k, weights, bias, act)
        })
        .collect();
    Network { input_dim, input_transform: None, layers, kept_neurons: None, source_dtype: "float64".into(), output_softmax: false }
}

/// How the second network of a random pair relates to the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Unstructured magnitude pruning.
    Pruned,
    /// Whole hidden neurons removed.
    StructurallyPruned,
    /// Fixed-point or integer quantisation.
    Quantised,
    /// An independent random network of the same shape.
    Unrelated,
}

/// A compressed (or unrelated) partner for `reference`.
pub fn partner(rng: &mut impl Rng, reference: &Network, relation: Relation, activation: Activation) -> Network {
    match relation {
        Relation::Pruned => prune_unstructured(reference, rng.gen_range(0.2..0.7), PruneScope::PerLayer).expect("valid fraction").0,
        Relation::StructurallyPruned => prune_structured(reference, rng.gen_range(0.2..0.5)).expect("valid fraction").0,
        Relation::Quantised => {
            let scheme = match rng.gen_range(0..3) {
                0 => QuantScheme::FixedTruncate { fraction_bits: rng.gen_range(2..7) },
                1 => QuantScheme::FixedRound { fraction_bits: rng.gen_range(2..7) },
                _ => QuantScheme::Integer { bits: if rng.gen_bool(0.5) { 8 } else { 4 }, per_channel: rng.gen_bool(0.5) },
            };
            quantize(reference, scheme).expect("valid scheme").0
        }
        Relation::Unrelated => {
            let hidden: Vec<usize> = reference.layers[..reference.layers.len() - 1].iter().map(|l| l.width()).collect();
            random_mlp(rng, reference.input_dim, &hidden, reference.output_dim(), activation)
        }
    }
}
