//! The problem every method shares: two networks, an input set, how the
//! networks see it (the coupling), and the norm of their output difference;
//! the same problem in first-layer coordinates ([`prepare`]), and the pairing
//! of the compressed network's neurons with the reference's ([`neuron_map`]).
//!
//! Every bound method takes a [`Prepared`] problem; nothing it needs lives in
//! another method's module.

use crate::activation::Activation;
use crate::input_set::InputSet;
use crate::network::Network;
use serde::Serialize;

/// Output norm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    /// max_j |f_j - g_j|, with a bound per output.
    Linf,
    /// ||f - g||_2.
    L2,
}

/// How the two networks see the input.
#[derive(Debug, Clone, PartialEq)]
pub enum InputCoupling {
    /// `f(x)` versus `g(x)`.
    Same,
    /// `g` sees `x'` with `|x'_k - x_k| <= step_k` (both in the input set).
    Quantised(Vec<f64>),
    /// `f(x1)` versus `g(x2)`, independent points of the input set.
    Independent,
}

/// The problem in first-layer coordinates: networks without input transform,
/// the input set and the coupling mapped through the shared normalisation.
pub struct Prepared {
    /// `f` without input transform.
    pub reference: Network,
    /// `g` without input transform.
    pub compressed: Network,
    /// The input set in first-layer coordinates.
    pub set: InputSet,
    /// The coupling in first-layer coordinates.
    pub coupling: InputCoupling,
}


/// Maps the raw-unit problem into first-layer coordinates. Both networks must
/// share their input normalisation; clipping is exact for boxes (the clipped
/// box is the clamped box), so ball and polytope sets require networks without
/// normalisation.
pub fn prepare(reference: &Network, compressed: &Network, set: &InputSet, coupling: &InputCoupling) -> crate::Result<Prepared> {
    use crate::error::{shape, unsupported};
    use crate::propagation::{round_down as widen_down, round_up as widen_up};
    if reference.input_dim != compressed.input_dim {
        return Err(shape(format!("the networks take {} and {} inputs", reference.input_dim, compressed.input_dim)));
    }
    if reference.output_dim() != compressed.output_dim() {
        return Err(shape(format!("the networks have {} and {} outputs", reference.output_dim(), compressed.output_dim())));
    }
    if set.dim() != reference.input_dim {
        return Err(shape(format!("the input set has {} coordinates but the networks take {}", set.dim(), reference.input_dim)));
    }
    if reference.input_transform != compressed.input_transform {
        return Err(unsupported("the two networks normalise their inputs differently"));
    }
    let mut f = reference.clone();
    let mut g = compressed.clone();
    let Some(t) = f.input_transform.take() else {
        return Ok(Prepared { reference: f, compressed: g, set: set.clone(), coupling: coupling.clone() });
    };
    g.input_transform = None;
    if set.ball_constraint().is_some() || !set.polytope().is_empty() {
        return Err(unsupported("L2-ball and polytope input sets are supported only for networks without input normalisation (use a box)"));
    }
    let n = set.dim();
    let mut lower = Vec::with_capacity(n);
    let mut upper = Vec::with_capacity(n);
    for i in 0..n {
        let lo = set.lower()[i].clamp(t.min[i], t.max[i]);
        let hi = set.upper()[i].clamp(t.min[i], t.max[i]);
        lower.push(widen_down((lo - t.mean[i]) / t.range[i]));
        upper.push(widen_up((hi - t.mean[i]) / t.range[i]));
    }
    let coupling = match coupling {
        InputCoupling::Quantised(steps) => InputCoupling::Quantised(steps.iter().zip(&t.range).map(|(s, r)| widen_up(s / r)).collect()),
        other => other.clone(),
    };
    Ok(Prepared { reference: f, compressed: g, set: InputSet::from_box(lower, upper)?, coupling })
}

/// For each layer `k`, the index in `f`'s layer `k` of each neuron `j` of
/// `g`'s layer `k` (`map[k][j]`), or None where layer `k` cannot be paired.
/// Neurons pair index by index when the widths agree, and through `g`'s
/// kept-neuron map after structured pruning; a layer pairs only when both use
/// the same activation and the map is one-to-one into `f`'s layer. None
/// overall when the depths differ.
pub fn neuron_map(f: &Network, g: &Network) -> Option<Vec<Option<Vec<usize>>>> {
    neuron_map_with(f, g, &|a, b| a == b)
}

/// [`neuron_map`] with another rule for which activations may pair
/// (`pairs(f's, g's)`): differential propagation also pairs a ReLU with a
/// quantiser whose clamp is a ReLU ([`Activation::pairs_with`]).
pub fn neuron_map_with(f: &Network, g: &Network, pairs: &dyn Fn(Activation, Activation) -> bool) -> Option<Vec<Option<Vec<usize>>>> {
    if f.layers.len() != g.layers.len() {
        return None;
    }
    let maps = (0..f.layers.len())
        .map(|k| {
            let (lf, lg) = (&f.layers[k], &g.layers[k]);
            if !pairs(lf.activation, lg.activation) {
                return None;
            }
            let map: Vec<usize> = match &g.kept_neurons {
                Some(kept) if k < kept.len() => kept[k].clone(),
                _ if lf.width() == lg.width() => (0..lg.width()).collect(),
                _ => return None,
            };
            if map.len() != lg.width() {
                return None;
            }
            let mut seen = vec![false; lf.width()];
            for &i in &map {
                if i >= lf.width() || std::mem::replace(&mut seen[i], true) {
                    return None;
                }
            }
            Some(map)
        })
        .collect();
    Some(maps)
}

/// Whether a layer's neurons carry an activation worth pairing (identity
/// layers have no activation facts).
pub fn has_activation(activation: Activation) -> bool {
    activation != Activation::Identity
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::random::{partner, random_mlp, Relation};
    use rand::SeedableRng;

    #[test]
    fn structured_pruning_pairs_through_the_kept_map_and_bad_maps_do_not_pair() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let f = random_mlp(&mut rng, 3, &[6, 5], 2, Activation::Relu);
        let g = partner(&mut rng, &f, Relation::StructurallyPruned, Activation::Relu);
        let maps = neuron_map(&f, &g).unwrap();
        let kept = g.kept_neurons.clone().unwrap();
        assert_eq!(maps[0].as_ref().unwrap(), &kept[0]);
        // a map that sends two neurons to one is not a pairing
        let mut bad = g.clone();
        if bad.layers[0].width() >= 2 {
            let first = kept[0][0];
            bad.kept_neurons.as_mut().unwrap()[0][1] = first;
            assert!(neuron_map(&f, &bad).unwrap()[0].is_none());
        }
        // different depths do not pair at all
        let h = random_mlp(&mut rng, 3, &[6], 2, Activation::Relu);
        assert!(neuron_map(&f, &h).is_none());
    }
}
