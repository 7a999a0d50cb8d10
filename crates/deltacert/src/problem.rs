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

impl InputCoupling {
    /// The coupling a reported pair keeps: [`InputCoupling::Quantised`] with
    /// the steps as written (`written`, rounded inward) where they are given.
    pub fn as_written(&self, written: Option<&[f64]>) -> InputCoupling {
        match (self, written) {
            (InputCoupling::Quantised(_), Some(steps)) => InputCoupling::Quantised(steps.to_vec()),
            (coupling, _) => coupling.clone(),
        }
    }
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
/// share their input normalisation `z = (clamp(x, min, max) - mean) / range`
/// ([`crate::network::InputTransform`]).
///
/// A box maps to the box of its clamped ends, rounded outward: the computed
/// normalisation is monotone in `x`, so every computed `z` of the box lies
/// in it. A ball or polytope maps through the exact affine map `phi(x) = (x -
/// mean) / range` with room `e_i` for the rounding of the computed `z`
/// ([`normalisation_errors`]) and, where the set's box reaches past `[min,
/// max]`, for the clamp, which moves `phi_i` by at most the overshoot over
/// `range_i`:
///
/// - a polytope row `a x <= b` holds for `x = mean + range phi(x)`, so
///   `sum_i a_i range_i phi_i <= b - a . mean`, and with `|z_i - phi_i| <=
///   e_i`, `sum_i (a_i range_i) z_i <= b - a . mean + sum_i |a_i range_i|
///   e_i` (products enclosed, sums rounded up);
/// - a ball `||x - c|| <= r` gives the ellipsoid `||R (z - c_z)|| <= r +
///   ||R e|| + ||R (phi(clamp c) - c_z)||`, `R = diag(range)`, around the
///   computed centre `c_z` of the clamped `c` (the clamp moves no two points
///   further apart, so no overshoot term; [`InputSet::ball_scales`] keeps
///   it, and the ball of radius that over `min range` holding it);
/// - a quantisation step `|x'_i - x_i| <= s_i` gives `|z'_i - z_i| <= s_i /
///   range_i + 2 e_i` (both points lie in the set, as the coupling
///   requires, so `e_i` bounds the rounding of each; the clamp is
///   1-Lipschitz).
///
/// A normalisation that is the identity on the set (mean 0, range 1, the box
/// inside `[min, max]`) is dropped and the set kept exactly.
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
    check_normalised_set(reference, set)?;
    let mut f = reference.clone();
    let mut g = compressed.clone();
    let Some(t) = f.input_transform.take() else {
        return Ok(Prepared { reference: f, compressed: g, set: set.clone(), coupling: coupling.clone() });
    };
    g.input_transform = None;
    let n = set.dim();
    let clamp_inactive = (0..n).all(|i| set.lower()[i] >= t.min[i] && set.upper()[i] <= t.max[i]);
    if clamp_inactive && (0..n).all(|i| t.mean[i] == 0.0 && t.range[i] == 1.0) {
        return Ok(Prepared { reference: f, compressed: g, set: set.clone(), coupling: coupling.clone() });
    }
    let cut = set.ball_constraint().is_some() || !set.polytope().is_empty();
    let mut lower = Vec::with_capacity(n);
    let mut upper = Vec::with_capacity(n);
    for i in 0..n {
        let lo = set.lower()[i].clamp(t.min[i], t.max[i]);
        let hi = set.upper()[i].clamp(t.min[i], t.max[i]);
        lower.push(widen_down((lo - t.mean[i]) / t.range[i]));
        upper.push(widen_up((hi - t.mean[i]) / t.range[i]));
    }
    let errors = normalisation_errors(&t, &lower, &upper);
    let coupling = match coupling {
        InputCoupling::Quantised(steps) => InputCoupling::Quantised(steps.iter().zip(&t.range).zip(&errors).map(|((s, r), e)| crate::rounding::add_up(widen_up(s / r), crate::rounding::mul_up(2.0, *e))).collect()),
        other => other.clone(),
    };
    let mut mapped = InputSet::from_box(lower, upper)?;
    if cut {
        // where the box reaches past [min, max] the clamp moves a point by
        // at most the overshoot: |phi(clamp(x)) - phi(x)| <= overshoot / range
        let moved: Vec<f64> = (0..n)
            .map(|i| {
                let overshoot = crate::rounding::sub_up(set.upper()[i], t.max[i]).max(crate::rounding::sub_up(t.min[i], set.lower()[i])).max(0.0);
                if overshoot == 0.0 { errors[i] } else { crate::rounding::add_up(errors[i], crate::rounding::div_up(overshoot, t.range[i])) }
            })
            .collect();
        mapped = map_ball_and_polytope(set, mapped, &t, &errors, &moved)?;
    }
    Ok(Prepared { reference: f, compressed: g, set: mapped, coupling })
}

/// Refuses a set that `network`'s input normalisation maps outside the
/// finite numbers (a range of `1e-320` turns `[0, 1]` into `[-inf, inf]`):
/// no output is defined there, so neither a bound nor a search has a
/// meaning. The check of [`prepare`], also made by the search alone.
pub fn check_normalised_set(network: &Network, set: &InputSet) -> crate::Result<()> {
    let Some(t) = &network.input_transform else {
        return Ok(());
    };
    for i in 0..set.dim().min(t.mean.len()) {
        for x in [set.lower()[i], set.upper()[i]] {
            let z = (x.clamp(t.min[i], t.max[i]) - t.mean[i]) / t.range[i];
            if !z.is_finite() {
                return Err(crate::error::invalid_set(format!("the input normalisation maps coordinate {i} = {x} to {z} (mean {}, range {:e}): no output is defined there", t.mean[i], t.range[i])));
            }
        }
    }
    Ok(())
}

/// Per coordinate, a bound `e_i` on `|z_i - phi_i(x)|`, the rounding of the
/// computed normalisation `z_i = fl(fl(x_i - mean_i) / range_i)` against the
/// exact `phi_i(x) = (x_i - mean_i) / range_i`, for `x` whose `z_i` lies in
/// `[lower_i, upper_i]`: two roundings, `|z - phi| <= gamma_3 |z| + eta`
/// (`eta` covers an underflowing quotient). Zero where both operations are
/// exact for every `x` (mean 0, range 1).
fn normalisation_errors(t: &crate::network::InputTransform, lower: &[f64], upper: &[f64]) -> Vec<f64> {
    use crate::rounding::{add_up, mul_up};
    (0..lower.len())
        .map(|i| if t.mean[i] == 0.0 && t.range[i] == 1.0 { 0.0 } else { add_up(mul_up(crate::propagation::rounding_gamma(3), lower[i].abs().max(upper[i].abs())), f64::MIN_POSITIVE) })
        .collect()
}

/// The raw set's L2 ball and polytope rows in first-layer coordinates, on the
/// mapped box `mapped`, with `rounding_errors[i]` bounding the rounding of
/// `z_i` against `phi_i(clamp(x))` and `errors[i]` bounding `|z_i -
/// phi_i(x)|` (the rounding and the clamp; [`prepare`] has the argument).
fn map_ball_and_polytope(set: &InputSet, mut mapped: InputSet, t: &crate::network::InputTransform, rounding_errors: &[f64], errors: &[f64]) -> crate::Result<InputSet> {
    use crate::rounding::{add_up, mul_up, mul_up_tight, sqrt_up, sum_up};
    let n = set.dim();
    if let Some((center, radius)) = set.ball_constraint() {
        // The ball ||x - c|| <= r becomes the ellipsoid ||R (z - c_z)|| <= rho,
        // R = diag(range), c_z the computed phi(clamp(c)): with phi exact,
        //   R (z - c_z) = R (z - phi(clamp x)) + (clamp x - clamp c) + R (phi(clamp c) - c_z),
        // and the clamp onto [min, max] moves two points no further apart
        // (a projection onto a box), so rho = r + ||R e|| + ||R d||, with
        // e_i the rounding of z_i (`rounding`, no overshoot term: the centre
        // is clamped too) and d_i that of c_z.
        let center_z: Vec<f64> = (0..n).map(|i| (center[i].clamp(t.min[i], t.max[i]) - t.mean[i]) / t.range[i]).collect();
        // |c_z - phi(clamp c)| <= the short-expression allowance of each coordinate
        let center_error = sqrt_up(sum_up(center_z.iter().zip(&t.range).map(|(c, range)| {
            let d = mul_up(crate::propagation::round_up(*c) - c, *range);
            mul_up(d, d)
        })));
        let rounding_norm = sqrt_up(sum_up(rounding_errors.iter().zip(&t.range).map(|(e, range)| {
            let e = mul_up(*e, *range);
            mul_up(e, e)
        })));
        let rho = sum_up([*radius, rounding_norm, center_error]);
        mapped = mapped.with_ellipsoid_constraint(center_z, rho, &t.range)?;
    }
    if !set.polytope().is_empty() {
        let rows: Vec<(Vec<(f64, f64)>, (f64, f64))> = set
            .polytope()
            .iter()
            .map(|(a, b)| {
                // a_i range_i, enclosed
                let coefficients: Vec<(f64, f64)> = (0..n).map(|i| (-mul_up_tight(-a[i], t.range[i]), mul_up_tight(a[i], t.range[i]))).collect();
                let shift = sum_up((0..n).map(|i| mul_up_tight(-a[i], t.mean[i])));
                let rounding = sum_up(coefficients.iter().zip(errors).map(|(c, e)| mul_up(c.0.abs().max(c.1.abs()), *e)));
                let right = add_up(add_up(*b, shift), rounding);
                (coefficients, (right, right))
            })
            .collect();
        if let Some(k) = rows.iter().position(|(a, b)| !b.0.is_finite() || a.iter().any(|c| !c.0.is_finite() || !c.1.is_finite())) {
            return Err(crate::error::invalid_set(format!("polytope row {k} overflows in the networks' normalised coordinates (a coefficient times its input's range, or the right side less the row at the means, is beyond the largest double)")));
        }
        mapped = mapped.with_enclosed_polytope(rows)?;
    }
    Ok(mapped)
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

    /// `sum_i a_i x_i` exactly (320 bits hold every such sum of doubles here).
    fn exact_dot(a: &[f64], x: &[f64]) -> crate::rounding::exact::Big {
        use crate::rounding::exact::big;
        a.iter().zip(x).fold(big(0.0), |sum, (ai, xi)| sum + big(*ai) * big(*xi))
    }

    /// `||x - c||^2` exactly.
    fn exact_distance_squared(x: &[f64], c: &[f64]) -> crate::rounding::exact::Big {
        use crate::rounding::exact::big;
        x.iter().zip(c).fold(big(0.0), |sum, (xi, ci)| {
            let d = big(*xi) - big(*ci);
            sum + d.clone() * d
        })
    }

    /// Raw points of a ball or polytope, many on its boundary, checked
    /// exactly, normalised as the network computes it (clipped first, in a
    /// third of the cases inside the set's box), must lie in the mapped set,
    /// checked exactly; and points within a quantisation step must stay
    /// within the mapped step. Means up to 1e4 and ranges from 0.01 to 1e3
    /// make the normalisation's rounding visible.
    #[test]
    fn balls_polytopes_and_steps_map_through_the_normalisation_with_room_for_its_rounding() {
        use crate::network::InputTransform;
        use crate::rounding::exact::big;
        use rand::Rng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let (mut checked_ball, mut checked_rows, mut checked_steps, mut checked_ellipsoid) = (0, 0, 0, 0);
        for case in 0..300 {
            let n = rng.gen_range(1..5);
            let mut f = random_mlp(&mut rng, n, &[3], 2, Activation::Relu);
            let mean: Vec<f64> = (0..n).map(|_| if rng.gen_bool(0.2) { 0.0 } else { rng.gen_range(-1e4..1e4) }).collect();
            let range: Vec<f64> = (0..n).map(|_| if rng.gen_bool(0.2) { 1.0 } else { 10f64.powf(rng.gen_range(-2.0..3.0)) }).collect();
            let center: Vec<f64> = (0..n).map(|i| mean[i] + rng.gen_range(-2.0..2.0) * range[i]).collect();
            let radius = range.iter().copied().fold(f64::INFINITY, f64::min) * 10f64.powf(rng.gen_range(-9.0..0.0));
            // a third of the cases clip inside the set's box
            let clip = case % 3 == 0;
            // and in a sixth the clip range leaves the centre out
            let (below, above) = if case % 6 == 3 { (-0.2, 0.6) } else { (0.5, 0.3) };
            let min: Vec<f64> = center.iter().map(|c| if clip { c - below * radius } else { c - 1e6 }).collect();
            let max: Vec<f64> = center.iter().map(|c| if clip { c + above * radius } else { c + 1e6 }).collect();
            f.input_transform = Some(InputTransform { min, max, mean: mean.clone(), range: range.clone() });
            let t = f.input_transform.clone().unwrap();
            let g = f.clone();
            let l2 = case % 2 == 0;
            let mut set = InputSet::ball(center.clone(), radius, l2).unwrap();
            let mut rows = Vec::new();
            if !l2 {
                for _ in 0..rng.gen_range(1..3) {
                    let a: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
                    let b = crate::network::dot(&a, &center) + rng.gen_range(0.0..0.5) * radius;
                    rows.push((a, b));
                }
                set = set.with_polytope(rows.clone()).unwrap();
            }
            let steps: Vec<f64> = (0..n).map(|_| radius * rng.gen_range(0.0..0.5)).collect();
            let prepared = prepare(&f, &g, &set, &InputCoupling::Quantised(steps.clone())).unwrap();
            let InputCoupling::Quantised(mapped_steps) = &prepared.coupling else { panic!("the coupling stays quantised") };
            let mapped = &prepared.set;
            for _ in 0..200 {
                let mut x = set.sample(&mut rng);
                if !l2 && rng.gen_bool(0.5) {
                    // onto the first row's boundary through one coordinate
                    let (a, b) = &rows[0];
                    let j = rng.gen_range(0..n);
                    let rest: f64 = (0..n).filter(|&i| i != j).map(|i| a[i] * x[i]).sum();
                    x[j] = (b - rest) / a[j];
                }
                let in_box = (0..n).all(|i| x[i] >= set.lower()[i] && x[i] <= set.upper()[i]);
                let in_ball = !l2 || exact_distance_squared(&x, &center) <= big(radius) * big(radius);
                let in_rows = rows.iter().all(|(a, b)| exact_dot(a, &x) <= big(*b));
                if !(in_box && in_ball && in_rows) {
                    continue;
                }
                let z = t.apply(&x);
                assert!((0..n).all(|i| z[i] >= mapped.lower()[i] && z[i] <= mapped.upper()[i]), "case {case}: {z:?} outside the mapped box");
                if let Some((cz, rz)) = mapped.ball_constraint() {
                    assert!(exact_distance_squared(&z, cz) <= big(*rz) * big(*rz), "case {case}: {z:?} outside the mapped ball");
                    // and inside the ellipsoid the scales make of it (a
                    // set no normalisation moves is kept as it is)
                    if let Some(scales) = mapped.ball_scales() {
                        assert!(scales.iter().all(|s| *s >= 1.0));
                        let scaled = z.iter().zip(cz).zip(scales).fold(big(0.0), |sum, ((zi, ci), si)| {
                            let d = big(*si) * (big(*zi) - big(*ci));
                            sum + d.clone() * d
                        });
                        assert!(scaled <= big(*rz) * big(*rz), "case {case}: {z:?} outside the mapped ellipsoid");
                        checked_ellipsoid += 1;
                    }
                    checked_ball += 1;
                }
                for (a, b) in mapped.polytope() {
                    assert!(exact_dot(a, &z) <= big(*b), "case {case}: {z:?} violates a mapped row");
                    checked_rows += 1;
                }
                // a partner within the step, as far as it can go
                let partner: Vec<f64> = (0..n).map(|i| x[i] + if rng.gen_bool(0.5) { steps[i] } else { -steps[i] }).collect();
                if (0..n).all(|i| (big(partner[i]) - big(x[i])) <= big(steps[i]) && (big(x[i]) - big(partner[i])) <= big(steps[i])) {
                    let zp = t.apply(&partner);
                    for i in 0..n {
                        let gap = if zp[i] >= z[i] { big(zp[i]) - big(z[i]) } else { big(z[i]) - big(zp[i]) };
                        assert!(gap <= big(mapped_steps[i]), "case {case}: |z' - z| exceeds the mapped step");
                    }
                    checked_steps += 1;
                }
            }
        }
        assert!(checked_ball > 1000 && checked_rows > 1000 && checked_steps > 1000 && checked_ellipsoid > 1000, "{checked_ball} {checked_rows} {checked_steps} {checked_ellipsoid}");
    }

    /// A normalisation that is the identity keeps the set; a box alone past
    /// the clipping range is clamped.
    #[test]
    fn an_identity_normalisation_is_dropped_and_a_box_past_the_clipping_range_clamped() {
        use crate::network::InputTransform;
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut f = random_mlp(&mut rng, 2, &[3], 1, Activation::Relu);
        f.input_transform = Some(InputTransform { min: vec![0.0, 0.0], max: vec![1.0, 1.0], mean: vec![0.0, 0.0], range: vec![1.0, 1.0] });
        let g = f.clone();
        let inside = InputSet::from_box(vec![0.1, 0.2], vec![0.3, 0.4]).unwrap().with_polytope(vec![(vec![1.0, 1.0], 0.6)]).unwrap();
        let prepared = prepare(&f, &g, &inside, &InputCoupling::Same).unwrap();
        assert_eq!(prepared.set, inside);
        // a box alone past the range is clamped as before
        let wide = InputSet::from_box(vec![-1.0, 0.5], vec![2.0, 0.6]).unwrap();
        let prepared = prepare(&f, &g, &wide, &InputCoupling::Same).unwrap();
        assert!(prepared.set.lower()[0] <= 0.0 && prepared.set.upper()[0] >= 1.0 && prepared.set.upper()[0] < 1.0 + 1e-12);
    }

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
