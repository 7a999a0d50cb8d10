//! Every fact the SDP may use holds at the exact lifted point of every
//! sampled input, whether or not a solve ever puts weight on it.
//!
//! The bound tests (`sdp_soundness.rs`, `sdp_first_order.rs`) check the
//! certified number against sampled errors; a wrong constraint whose
//! multiplier happens to be 0 there passes them. Here every constraint is
//! evaluated on its own: for random pairs, sets and couplings (the cases of
//! the random-pair property tests, plus narrow and far boxes) and for ReLU
//! networks against copies with quantised activations, at box
//! corners, face points and points inside the set, the lifted vector
//! `zeta = [x; x'; a_f; a_g; 1]` is computed from the networks in
//! 1,024-bit arithmetic (ReLU, leaky ReLU and quantiser values are then
//! exact; tanh and sigmoid are correct to far below any slack), and
//!
//! - each constraint's form, as the certificate check assembles it
//!   ([`Constraint::for_each_entry`]: the rounded entries), is `>= -slack`
//!   (inequalities) or within `+-slack` (equalities): every family of
//!   [`qc::build`] (input set, input quantisation, per-neuron facts,
//!   intervals, matched, all-pairs, neighbours, products), the magnitude
//!   facts, the propagation start's facts and the L2 output-interval
//!   products;
//! - every neuron's pre-activation and activation forms and every output
//!   difference form are within their `error` of the exact values, inside
//!   the proven neuron intervals, and every coordinate within its proven
//!   magnitude.
//!
//! The only allowance is `2^-900` times the magnitude of the terms, far
//! above what 1,024-bit arithmetic loses and far below any rounding slack.

mod common;

use dashu_float::FBig;
use deltacert::activation::Activation;
use deltacert::input_set::InputSet;
use deltacert::network::Network;
use deltacert::problem::{prepare, InputCoupling, Prepared};
use deltacert::sdp::form::LinearForm;
use deltacert::sdp::lift::{Lifted, Side};
use deltacert::sdp::qc::{self, Constraint, Family, QcOptions, Sense};
use deltacert::sdp::{constraints_for, PropagationStart};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

type Big = FBig;

const PRECISION: usize = 1024;

fn big(x: f64) -> Big {
    Big::try_from(x).expect("finite").with_precision(PRECISION).value()
}

fn zero() -> Big {
    big(0.0)
}

fn abs(x: &Big) -> Big {
    if *x < zero() { -x.clone() } else { x.clone() }
}

/// `2^-900`: the relative allowance of an evaluated sum.
fn allowance() -> Big {
    big(2f64.powi(-900))
}

/// `sigma(v)` in 1,024-bit arithmetic.
fn exact_activation(activation: Activation, v: &Big) -> Big {
    match activation {
        Activation::Identity => v.clone(),
        Activation::Relu => {
            if *v >= zero() { v.clone() } else { zero() }
        }
        Activation::LeakyRelu { alpha } => {
            if *v >= zero() { v.clone() } else { big(alpha) * v.clone() }
        }
        Activation::Tanh => {
            // (e^{2v} - 1) / (e^{2v} + 1) with exp_m1: no cancellation near 0
            let m = (v.clone() * big(2.0)).exp_m1();
            m.clone() / (m + big(2.0))
        }
        Activation::Sigmoid => big(1.0) / (big(1.0) + (-v.clone()).exp()),
        Activation::Quantize { scale, zero_point, qmin, qmax } => common::exact_quantize(v, scale, zero_point, qmin, qmax, big),
    }
}

/// Every layer's pre-activations and activations of `network` at `x`.
fn exact_forward(network: &Network, x: &[f64]) -> Vec<(Vec<Big>, Vec<Big>)> {
    let mut activations: Vec<Vec<Big>> = vec![x.iter().map(|&v| big(v)).collect()];
    let mut layers = Vec::new();
    for layer in &network.layers {
        let pre: Vec<Big> = (0..layer.width())
            .map(|i| {
                let mut sum = big(layer.bias[i]);
                for term in &layer.terms {
                    for (w, a) in term.weights.row(i).iter().zip(&activations[term.source]) {
                        if *w != 0.0 {
                            sum += big(*w) * a.clone();
                        }
                    }
                }
                sum
            })
            .collect();
        let post: Vec<Big> = pre.iter().map(|v| exact_activation(layer.activation, v)).collect();
        activations.push(post.clone());
        layers.push((pre, post));
    }
    layers
}

/// `sum_t c_t zeta_t` and `sum_t |c_t zeta_t|`.
fn form_value(form: &LinearForm, zeta: &[Big]) -> (Big, Big) {
    let (mut value, mut magnitude) = (zero(), zero());
    for &(t, c) in &form.terms {
        let term = big(c) * zeta[t].clone();
        magnitude += abs(&term);
        value += term;
    }
    (value, magnitude)
}

/// `zeta^T Q zeta` over the entries the certificate check assembles, and
/// the magnitude of its terms (`gram[r][c] = zeta_r zeta_c`, `r <= c`).
fn constraint_value(constraint: &Constraint, gram: &[Vec<Big>]) -> (Big, Big) {
    let (mut value, mut magnitude) = (zero(), zero());
    constraint.for_each_entry(|r, c, v| {
        if v == 0.0 {
            return;
        }
        let weight = if r == c { big(v) } else { big(2.0 * v) };
        let term = weight * gram[r][c - r].clone();
        magnitude += abs(&term);
        value += term;
    });
    (value, magnitude)
}

/// Whether `x` lies in `set` (first-layer coordinates), decided exactly:
/// the box, the L2 ball or ellipsoid `sum_k (s_k (x_k - c_k))^2 <= r^2`,
/// and the polytope rows.
fn exactly_inside(set: &InputSet, x: &[f64]) -> bool {
    if !x.iter().zip(set.lower()).zip(set.upper()).all(|((v, l), u)| v >= l && v <= u) {
        return false;
    }
    if let Some((center, radius)) = set.ball_constraint() {
        let scales = set.ball_scales();
        let mut sum = zero();
        for (k, (v, c)) in x.iter().zip(center).enumerate() {
            let scale = scales.map_or(1.0, |s| s[k]);
            let d = big(scale) * (big(*v) - big(*c));
            sum += d.clone() * d;
        }
        if sum > big(*radius) * big(*radius) {
            return false;
        }
    }
    set.polytope().iter().all(|(a, b)| {
        let mut sum = zero();
        for (w, v) in a.iter().zip(x) {
            sum += big(*w) * big(*v);
        }
        sum <= big(*b)
    })
}

/// Points of `set`: for a plain box its corners (all of them up to 16,
/// otherwise 12 random ones), points on its faces and inside; for a ball or
/// rows, random points of the set pulled towards the centre by at most
/// `1e-9` (so that rounding leaves them inside). Only points exactly
/// inside are kept.
fn points_of(set: &InputSet, rng: &mut impl Rng) -> Vec<Vec<f64>> {
    let (lower, upper) = (set.lower(), set.upper());
    let n = set.dim();
    let mut points = Vec::new();
    let plain_box = set.ball_constraint().is_none() && set.polytope().is_empty();
    if plain_box {
        let corner = |bits: u64| -> Vec<f64> { (0..n).map(|k| if bits >> k & 1 == 1 { upper[k] } else { lower[k] }).collect() };
        if n <= 4 {
            points.extend((0..1u64 << n).map(corner));
        } else {
            points.extend((0..12).map(|_| corner(rng.gen())));
        }
        for _ in 0..6 {
            // on a face: some coordinates at an end, the rest inside
            points.push((0..n).map(|k| match rng.gen_range(0..3) { 0 => lower[k], 1 => upper[k], _ => rng.gen_range(lower[k]..=upper[k]) }).collect());
        }
        for _ in 0..4 {
            points.push(set.sample(rng));
        }
    } else {
        let centre: Vec<f64> = match set.ball_constraint() {
            Some((c, _)) => c.clone(),
            None => lower.iter().zip(upper).map(|(l, u)| 0.5 * (l + u)).collect(),
        };
        for _ in 0..60 {
            let mut x = set.sample(rng);
            let pull = rng.gen_range(0.0..1e-9);
            for (v, c) in x.iter_mut().zip(&centre) {
                *v += pull * (c - *v);
            }
            set.project(&mut x);
            if exactly_inside(set, &x) {
                points.push(x);
            }
            if points.len() >= 14 {
                break;
            }
        }
    }
    points.retain(|x| exactly_inside(set, x));
    points
}

/// The input `g` sees with `x` under `coupling`, exactly as the coupling
/// allows it (None if no such point was drawn).
fn compressed_input(prepared: &Prepared, x: &[f64], others: &[Vec<f64>], rng: &mut impl Rng) -> Option<Vec<f64>> {
    match &prepared.coupling {
        InputCoupling::Same => Some(x.to_vec()),
        InputCoupling::Independent => Some(others[rng.gen_range(0..others.len())].clone()),
        InputCoupling::Quantised(steps) => {
            for _ in 0..20 {
                // every coordinate moved by up to its step, some by all of it
                let candidate: Vec<f64> = x.iter().zip(steps).map(|(v, s)| v + s * [-1.0, 1.0, rng.gen_range(-1.0..1.0)][rng.gen_range(0..3)]).collect();
                let within = candidate.iter().zip(x).zip(steps).all(|((c, v), s)| abs(&(big(*c) - big(*v))) <= big(*s));
                if within && exactly_inside(&prepared.set, &candidate) {
                    return Some(candidate);
                }
            }
            None
        }
    }
}

/// `zeta` at `(x, x')`, with the exact values of `f`'s and `g`'s layers.
fn lifted_point(lifted: &Lifted, x: &[f64], x_compressed: &[f64], layers_f: &[(Vec<Big>, Vec<Big>)], layers_g: &[(Vec<Big>, Vec<Big>)]) -> Vec<Big> {
    let mut zeta = vec![zero(); lifted.dim];
    for (k, &t) in lifted.input_g.iter().enumerate() {
        zeta[t] = big(x_compressed[k]);
    }
    for (k, &t) in lifted.input_f.iter().enumerate() {
        zeta[t] = big(x[k]);
    }
    zeta[lifted.constant] = big(1.0);
    for neuron in lifted.neurons.iter().filter(|n| n.variable) {
        let layers = if neuron.side == Side::Reference { layers_f } else { layers_g };
        let [(t, c)] = neuron.post.terms[..] else { panic!("a variable neuron's activation is its coordinate") };
        assert_eq!(c, 1.0);
        zeta[t] = layers[neuron.layer - 1].1[neuron.index].clone();
    }
    zeta
}

/// Checks everything at one lifted point; returns the constraints checked.
fn check_point(description: &str, lifted: &Lifted, constraints: &[Constraint], zeta: &[Big], layers_f: &[(Vec<Big>, Vec<Big>)], layers_g: &[(Vec<Big>, Vec<Big>)]) -> usize {
    let within = |value: &Big, exact: &Big, magnitude: &Big, error: f64| abs(&(value.clone() - exact.clone())) <= big(error) + magnitude.clone() * allowance();
    for (t, magnitude) in lifted.coordinate_magnitude.iter().enumerate() {
        assert!(abs(&zeta[t]) <= big(*magnitude), "{description}: coordinate {t} = {} beyond its magnitude {magnitude}", zeta[t].to_f64().value());
    }
    for neuron in &lifted.neurons {
        let layers = if neuron.side == Side::Reference { layers_f } else { layers_g };
        let (pre, post) = (&layers[neuron.layer - 1].0[neuron.index], &layers[neuron.layer - 1].1[neuron.index]);
        let name = format!("{description}: {:?} neuron {} of layer {}", neuron.side, neuron.index, neuron.layer);
        let (l, u) = neuron.pre_bounds;
        assert!(big(l) <= *pre && *pre <= big(u), "{name}: pre-activation {} outside its interval [{l}, {u}]", pre.to_f64().value());
        let (al, au) = neuron.post_bounds;
        assert!(big(al) <= *post && *post <= big(au), "{name}: activation {} outside its interval [{al}, {au}]", post.to_f64().value());
        let (value, magnitude) = form_value(&neuron.pre, zeta);
        assert!(within(&value, pre, &magnitude, neuron.pre.error), "{name}: pre-activation form {} off the exact {} by more than its error {:e}", value.to_f64().value(), pre.to_f64().value(), neuron.pre.error);
        let (value, magnitude) = form_value(&neuron.post, zeta);
        assert!(within(&value, post, &magnitude, neuron.post.error), "{name}: activation form {} off the exact {} by more than its error {:e}", value.to_f64().value(), post.to_f64().value(), neuron.post.error);
    }
    let (outputs_f, outputs_g) = (&layers_f.last().unwrap().1, &layers_g.last().unwrap().1);
    for (j, form) in lifted.difference.iter().enumerate() {
        let exact = outputs_f[j].clone() - outputs_g[j].clone();
        let (value, magnitude) = form_value(form, zeta);
        assert!(within(&value, &exact, &magnitude, form.error), "{description}: output {j}'s difference form {} off the exact {} by more than {:e}", value.to_f64().value(), exact.to_f64().value(), form.error);
    }
    let gram: Vec<Vec<Big>> = (0..lifted.dim).map(|r| (r..lifted.dim).map(|c| zeta[r].clone() * zeta[c].clone()).collect()).collect();
    for (k, constraint) in constraints.iter().enumerate() {
        let (value, magnitude) = constraint_value(constraint, &gram);
        let room = big(constraint.slack) + magnitude * allowance();
        let holds = match constraint.sense {
            Sense::NonNegative => value.clone() + room >= zero(),
            Sense::Zero => abs(&value) <= room,
        };
        assert!(holds, "{description}: constraint {k} ({:?}, {:?}) is {:e} at an exact lifted point, slack {:e}", constraint.family, constraint.sense, value.to_f64().value(), constraint.slack);
    }
    constraints.len()
}

/// The constraints of every family for case `case`: [`qc::build`] with the
/// full set (every third case, up to the lifted dimension where `auto`
/// adds all pairs), the default set with 3 neighbours, or the default set
/// with all pairs; the magnitude facts; and for a plain or structurally
/// pruned pair propagation's facts and the output-interval products on its
/// output bounds.
fn every_constraint(prepared: &Prepared, case: usize) -> (Lifted, Vec<Constraint>) {
    let (lifted, _) = constraints_for(prepared, QcOptions::DEFAULT);
    let neighbours = QcOptions { neighbours: 3, ..QcOptions::DEFAULT };
    let options = match case % 3 {
        0 if lifted.dim <= deltacert::sdp::ALL_PAIRS_MAX_DIM => QcOptions::FULL,
        2 => QcOptions { all_pairs: true, ..QcOptions::DEFAULT },
        _ => neighbours,
    };
    let (lifted, mut constraints) = constraints_for(prepared, options);
    constraints.extend(qc::magnitude_constraints(&lifted));
    if let Some(start) = PropagationStart::new(prepared, &lifted, None) {
        constraints.extend(start.constraints.iter().cloned());
        let (lower, upper) = start.output_bounds();
        constraints.extend(qc::output_interval_products(&lifted, &lower, &upper).into_iter().flatten());
    }
    (lifted, constraints)
}

/// A quantiser: folded ReLUs (uint8 z = 0, int8 z = -128), a symmetric
/// int8 and two uint8 ones; scales from 0.004 (saturating near 1) to 0.25.
fn random_quantiser(rng: &mut impl Rng) -> Activation {
    let scale = [0.004f32, 0.0173, 0.05, 0.125, 0.25][rng.gen_range(0..5)] as f64;
    let (zero_point, qmin, qmax) = [(0.0, 0.0, 255.0), (-128.0, -128.0, 127.0), (0.0, -128.0, 127.0), (128.0, 0.0, 255.0), (37.0, 0.0, 255.0)][rng.gen_range(0..5)];
    Activation::Quantize { scale, zero_point, qmin, qmax }
}

/// A ReLU network `f` and `g`: `f` with a quantiser after each hidden layer
/// (and on the input for odd cases), or (every third case) `f` with its
/// hidden ReLUs replaced by quantisers.
fn quantised_case<R: Rng>(rng: &mut R, case: usize) -> common::RandomCase {
    use deltacert::network::{Layer, Matrix};
    let inputs = rng.gen_range(1..=4);
    let hidden: Vec<usize> = (0..rng.gen_range(1..=2)).map(|_| rng.gen_range(2..=8)).collect();
    let outputs = rng.gen_range(1..=2);
    let f = deltacert::network::random::random_mlp(rng, inputs, &hidden, outputs, Activation::Relu);
    let last = f.layers.len() - 1;
    let g = if case % 3 == 2 {
        let mut g = f.clone();
        g.layers[..last].iter_mut().for_each(|layer| layer.activation = random_quantiser(rng));
        g
    } else {
        let quantiser = |source: usize, width: usize, rng: &mut R| Layer::dense(source, Matrix::identity(width), vec![0.0; width], random_quantiser(rng));
        let mut layers = Vec::new();
        if case % 2 == 1 {
            layers.push(quantiser(0, inputs, rng));
        }
        for (k, layer) in f.layers.iter().enumerate() {
            layers.push(Layer::dense(layers.len(), layer.terms[0].weights.clone(), layer.bias.clone(), layer.activation));
            if k < last {
                layers.push(quantiser(layers.len(), layer.width(), rng));
            }
        }
        Network { layers, kept_neurons: None, ..f.clone() }
    };
    let lo: f64 = rng.gen_range(-1.0..0.5);
    let set = InputSet::uniform_box(inputs, lo, lo + rng.gen_range(0.05..1.5)).unwrap();
    let description = format!("quantised case {case} (hidden {hidden:?})");
    common::RandomCase { f, g, set, coupling: InputCoupling::Same, norm: deltacert::problem::Norm::Linf, description }
}

/// One case: its description, the families seen, the points and
/// constraints checked, the quantisers lifted. Cases from 1,000 on are
/// [`quantised_case`]s.
fn run_case(case: usize) -> (String, Vec<Family>, usize, usize, usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7_000 + case as u64);
    let mut random = if case >= 1_000 { quantised_case(&mut rng, case) } else { common::random_case(&mut rng, case) };
    // every seventh box made narrow (width 1e-7) or far (around 100)
    if random.set.ball_constraint().is_none() && random.set.polytope().is_empty() {
        let n = random.set.dim();
        match case % 14 {
            6 => random.set = InputSet::uniform_box(n, 0.3, 0.3 + 1e-7).unwrap(),
            13 => random.set = InputSet::uniform_box(n, 100.0, 100.5).unwrap(),
            _ => {}
        }
    }
    let description = format!("{} (seed {})", random.description, 7_000 + case);
    let prepared = prepare(&random.f, &random.g, &random.set, &random.coupling).unwrap_or_else(|e| panic!("{description}: {e}"));
    let (lifted, constraints) = every_constraint(&prepared, case);
    let points = points_of(&prepared.set, &mut rng);
    assert!(!points.is_empty(), "{description}: no point of the set was drawn");
    let mut checked = 0;
    for (p, x) in points.iter().enumerate() {
        let Some(x_compressed) = compressed_input(&prepared, x, &points, &mut rng) else { continue };
        let layers_f = exact_forward(&prepared.reference, x);
        let layers_g = exact_forward(&prepared.compressed, &x_compressed);
        let zeta = lifted_point(&lifted, x, &x_compressed, &layers_f, &layers_g);
        checked += check_point(&format!("{description}, point {p} {x:?} / {x_compressed:?}"), &lifted, &constraints, &zeta, &layers_f, &layers_g);
    }
    let mut families: Vec<Family> = constraints.iter().map(|c| c.family).collect();
    families.sort();
    families.dedup();
    let quantisers = lifted.neurons.iter().filter(|n| n.variable && matches!(n.activation, Activation::Quantize { .. })).count();
    (description, families, points.len(), checked, quantisers)
}

#[test]
fn every_constraint_holds_at_exact_lifted_points_of_random_pairs() {
    common::single_threaded_blas();
    let results: Vec<(String, Vec<Family>, usize, usize, usize)> = (0..160).into_par_iter().map(run_case).collect();
    let mut families: Vec<Family> = results.iter().flat_map(|r| r.1.iter().copied()).collect();
    families.sort();
    families.dedup();
    let points: usize = results.iter().map(|r| r.2).sum();
    let checked: usize = results.iter().map(|r| r.3).sum();
    println!("{} cases, {points} points, {checked} constraint evaluations; families {families:?}", results.len());
    // every family the SDP can use was exercised
    for family in [Family::Input, Family::InputQuantisation, Family::Activation, Family::Interval, Family::Matched, Family::AllPairs, Family::Neighbours, Family::Products, Family::Magnitude, Family::Propagation] {
        assert!(families.contains(&family), "no case built a {family:?} constraint");
    }
}

/// The same for pairs with quantised activations (the quantiser layers the
/// ONNX reader makes of QuantizeLinear/DequantizeLinear pairs, tie to even
/// as ONNX rounds): a ReLU network against itself with quantisers after its
/// hidden layers (and on the input), or with its ReLUs replaced by
/// quantisers.
#[test]
fn every_constraint_holds_at_exact_lifted_points_of_pairs_with_quantised_activations() {
    common::single_threaded_blas();
    let results: Vec<(String, Vec<Family>, usize, usize, usize)> = (1_000..1_060).into_par_iter().map(run_case).collect();
    let points: usize = results.iter().map(|r| r.2).sum();
    let checked: usize = results.iter().map(|r| r.3).sum();
    let quantisers: usize = results.iter().map(|r| r.4).sum();
    println!("{} cases, {points} points, {checked} constraint evaluations, {quantisers} lifted quantisers", results.len());
    assert!(checked > 10_000, "only {checked} constraint evaluations");
    assert!(quantisers > 100, "only {quantisers} quantisers were lifted");
}
