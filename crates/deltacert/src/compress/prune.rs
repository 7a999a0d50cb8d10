//! Magnitude pruning.
//!
//! *Unstructured*: zero the `floor(fraction * n)` weights of smallest `|w|`,
//! per layer or over the whole network. *Structured*: remove whole hidden
//! neurons, those whose incoming weights have the smallest L2 norm; their row
//! (and bias) disappears from the layer and their column from every layer that
//! reads it, so the output network is smaller. The indices of the kept neurons
//! are recorded so a bound can match each kept neuron with its original.

use super::max_parameter_change;
use crate::error::{invalid_option, Result};
use crate::network::Network;
use serde::Serialize;

/// Where the fraction of weights to prune is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneScope {
    /// The fraction is applied to each layer separately.
    PerLayer,
    /// The fraction is applied to all weights of the network together.
    Global,
}

/// What a pruning run did.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// Fraction of zero weights before.
    pub sparsity_before: f64,
    /// Fraction of zero weights after.
    pub sparsity_after: f64,
    /// Hidden widths after pruning.
    pub widths: Vec<usize>,
    /// Neurons removed per hidden layer (structured pruning).
    pub removed_neurons: Vec<usize>,
    /// Parameter count after.
    pub parameters: usize,
    /// Largest absolute weight change (unstructured pruning; 0 for structured).
    pub max_weight_change: f64,
}

fn check_fraction(fraction: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&fraction) || fraction.is_nan() {
        return Err(invalid_option(format!("prune fraction {fraction} is not in [0, 1]")));
    }
    Ok(())
}

/// Zeroes the `floor(fraction * n)` smallest-magnitude weights (ties by position).
pub fn prune_unstructured(network: &Network, fraction: f64, scope: PruneScope) -> Result<(Network, PruneReport)> {
    check_fraction(fraction)?;
    let mut pruned = network.clone();
    // every weight position: (layer, term, index)
    let groups: Vec<Vec<(usize, usize, usize)>> = match scope {
        PruneScope::PerLayer => (0..network.layers.len())
            .map(|k| network.layers[k].terms.iter().enumerate().flat_map(|(t, term)| (0..term.weights.data.len()).map(move |i| (k, t, i))).collect())
            .collect(),
        PruneScope::Global => vec![network
            .layers
            .iter()
            .enumerate()
            .flat_map(|(k, l)| l.terms.iter().enumerate().flat_map(move |(t, term)| (0..term.weights.data.len()).map(move |i| (k, t, i))))
            .collect()],
    };
    for mut group in groups {
        let count = (fraction * group.len() as f64).floor() as usize;
        let magnitude = |&(k, t, i): &(usize, usize, usize)| network.layers[k].terms[t].weights.data[i].abs();
        group.sort_by(|a, b| magnitude(a).total_cmp(&magnitude(b)));
        for &(k, t, i) in &group[..count] {
            pruned.layers[k].terms[t].weights.data[i] = 0.0;
        }
    }
    let report = PruneReport {
        sparsity_before: network.sparsity(),
        sparsity_after: pruned.sparsity(),
        widths: pruned.layers.iter().map(|l| l.width()).collect(),
        removed_neurons: vec![0; network.hidden_count()],
        parameters: pruned.parameter_count(),
        max_weight_change: max_parameter_change(network, &pruned),
    };
    Ok((pruned, report))
}

/// Removes `floor(fraction * width)` neurons of each hidden layer (at least one
/// neuron is kept), those with the smallest L2 norm of incoming weights.
pub fn prune_structured(network: &Network, fraction: f64) -> Result<(Network, PruneReport)> {
    check_fraction(fraction)?;
    let mut pruned = network.clone();
    let hidden = network.hidden_count();
    let mut kept_all: Vec<Vec<usize>> = Vec::with_capacity(hidden);
    let mut removed = Vec::with_capacity(hidden);
    for k in 0..hidden {
        let layer = &pruned.layers[k];
        let width = layer.width();
        let remove = ((fraction * width as f64).floor() as usize).min(width - 1);
        let norm = |r: usize| layer.terms.iter().map(|t| t.weights.row(r).iter().map(|w| w * w).sum::<f64>()).sum::<f64>();
        let mut order: Vec<usize> = (0..width).collect();
        order.sort_by(|&a, &b| norm(a).total_cmp(&norm(b)));
        let mut kept: Vec<usize> = order[remove..].to_vec();
        kept.sort_unstable();
        // drop rows of layer k+1 (1-based) ...
        let layer = &mut pruned.layers[k];
        for term in &mut layer.terms {
            term.weights = term.weights.select_rows(&kept);
        }
        layer.bias = kept.iter().map(|&r| layer.bias[r]).collect();
        // ... and the matching columns wherever its output is read
        for later in pruned.layers.iter_mut().skip(k + 1) {
            for term in later.terms.iter_mut().filter(|t| t.source == k + 1) {
                term.weights = term.weights.select_cols(&kept);
            }
        }
        removed.push(remove);
        kept_all.push(kept);
    }
    // compose with an earlier structured pruning, so indices refer to the original
    if let Some(previous) = &network.kept_neurons {
        for (kept, before) in kept_all.iter_mut().zip(previous) {
            for index in kept.iter_mut() {
                *index = before[*index];
            }
        }
    }
    pruned.kept_neurons = Some(kept_all);
    let report = PruneReport {
        sparsity_before: network.sparsity(),
        sparsity_after: pruned.sparsity(),
        widths: pruned.layers.iter().map(|l| l.width()).collect(),
        removed_neurons: removed,
        parameters: pruned.parameter_count(),
        max_weight_change: 0.0,
    };
    Ok((pruned, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tests::small_residual;

    #[test]
    fn unstructured_pruning_reaches_the_requested_sparsity() {
        let net = small_residual();
        let (pruned, report) = prune_unstructured(&net, 0.5, PruneScope::PerLayer).unwrap();
        // layer 1: 6 weights, one already zero -> 3 zeroed (the zero among them)
        assert_eq!(pruned.layers[0].terms[0].weights.data.iter().filter(|w| **w == 0.0).count(), 3);
        assert!(report.sparsity_after > report.sparsity_before);
    }

    #[test]
    fn structured_pruning_equals_zeroing_the_removed_neurons() {
        let net = small_residual();
        let (pruned, report) = prune_structured(&net, 0.4).unwrap();
        assert_eq!(report.widths[0], 2);
        let kept = &pruned.kept_neurons.as_ref().unwrap()[0];
        let removed: Vec<usize> = (0..3).filter(|i| !kept.contains(i)).collect();
        let mut zeroed = net.clone();
        for &r in &removed {
            zeroed.layers[0].terms[0].weights.data[r * 2..r * 2 + 2].fill(0.0);
            zeroed.layers[0].bias[r] = 0.0;
            zeroed.layers[1].terms[0].weights.data[r] = 0.0;
        }
        for x in [[0.3, -0.2], [1.0, 1.0], [-0.7, 0.4]] {
            assert_eq!(pruned.eval(&x), zeroed.eval(&x));
        }
    }

    #[test]
    fn fraction_outside_unit_interval_is_rejected() {
        assert!(prune_unstructured(&small_residual(), 1.5, PruneScope::Global).is_err());
    }
}
