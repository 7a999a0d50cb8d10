//! Networks with quantised activations (the quantiser layers that the ONNX
//! reader makes of QuantizeLinear/DequantizeLinear pairs) are bounded soundly.
//!
//! Random ReLU MLPs `f` are paired with `g` = `f` with a quantiser after each
//! hidden layer (sometimes on the input too), or `g` = `f` with every hidden
//! ReLU replaced by a folded-ReLU quantiser (zero point at the bottom of the
//! range, as onnxruntime writes a ReLU fused into its quantiser), or `g`
//! laid out as onnxruntime's static quantisation writes it (input and
//! output quantised too, weights moved). Scales
//! range from steps that saturate inside the sampled range to coarse ones;
//! zero points sit at the bottom (uint8 0, int8 -128) and in the middle. For
//! `propagate` with fixed and with optimised relaxation slopes (every bound
//! optimised: the quantisers' band-or-range lines and the ReLUs' lower
//! slopes move), `auto` (optimised slopes on the whole set and on every
//! piece) and (small pairs) `sdp`, the certified bound must be at
//! least the error at dense grid and random samples of the box (both the
//! computed error and an exact lower bound of it, from outward-rounded
//! enclosures) and at the reported witness, which must lie in the set.

mod common;

use common::{assert_sound, exact_error_lower_bound};
use deltacert::activation::Activation;
use deltacert::attack::AttackSettings;
use deltacert::branch_and_bound::Branching;
use deltacert::bound::{bound, BoundRequest, Method};
use deltacert::input_set::InputSet;
use deltacert::network::random::random_mlp;
use deltacert::network::{Layer, Matrix, Network};
use deltacert::problem::{InputCoupling, Norm};
use deltacert::propagation::DifferentialPair;
use deltacert::propagation::{SlopeOptimisation, SlopeScope};
use rand::{Rng, SeedableRng};

/// A quantiser: folded ReLUs (uint8 z = 0, int8 z = -128), a symmetric int8
/// and a mid-range uint8 one; scales from 0.004 (saturating near 1) to 0.25.
fn random_quantiser(rng: &mut impl Rng) -> Activation {
    let scale = [0.004f32, 0.0173, 0.05, 0.125, 0.25][rng.gen_range(0..5)] as f64;
    let (zero_point, qmin, qmax) = [(0.0, 0.0, 255.0), (-128.0, -128.0, 127.0), (0.0, -128.0, 127.0), (128.0, 0.0, 255.0), (37.0, 0.0, 255.0)][rng.gen_range(0..5)];
    Activation::Quantize { scale, zero_point, qmin, qmax }
}

/// A folded-ReLU quantiser (zero point at the bottom of the range).
fn folded_relu(rng: &mut impl Rng) -> Activation {
    let scale = [0.004f32, 0.0173, 0.05, 0.125][rng.gen_range(0..4)] as f64;
    if rng.gen_bool(0.5) { Activation::Quantize { scale, zero_point: 0.0, qmin: 0.0, qmax: 255.0 } } else { Activation::Quantize { scale, zero_point: -128.0, qmin: -128.0, qmax: 127.0 } }
}

fn identity_layer(source: usize, width: usize, activation: Activation) -> Layer {
    Layer::dense(source, Matrix::identity(width), vec![0.0; width], activation)
}

/// `f` with a quantiser layer after each hidden layer and, with
/// `input_quantiser`, one on the input.
fn with_quantisers(f: &Network, rng: &mut impl Rng, input_quantiser: bool) -> Network {
    let mut layers = Vec::new();
    if input_quantiser {
        layers.push(identity_layer(0, f.input_dim, random_quantiser(rng)));
    }
    let last = f.layers.len() - 1;
    for (k, layer) in f.layers.iter().enumerate() {
        let term = &layer.terms[0];
        layers.push(Layer::dense(layers.len(), term.weights.clone(), layer.bias.clone(), layer.activation));
        if k < last {
            layers.push(identity_layer(layers.len(), layer.width(), random_quantiser(rng)));
        }
    }
    Network { layers, kept_neurons: None, ..f.clone() }
}

/// `f` with every hidden ReLU replaced by a folded-ReLU quantiser.
fn folded(f: &Network, rng: &mut impl Rng) -> Network {
    let mut g = f.clone();
    let last = g.layers.len() - 1;
    for layer in &mut g.layers[..last] {
        layer.activation = folded_relu(rng);
    }
    g
}

/// `q` with every weight and bias of its non-quantiser layers moved by up to
/// 2% (the same quantisers: the pair aligns neuron by neuron, so the
/// differential propagation and the SDP's matched pairs see two quantisers).
fn perturbed(q: &Network, rng: &mut impl Rng) -> Network {
    let mut g = q.clone();
    for layer in &mut g.layers {
        if matches!(layer.activation, Activation::Quantize { .. }) && layer.terms[0].weights.rows == layer.terms[0].weights.cols {
            continue;
        }
        for w in layer.terms[0].weights.data.iter_mut().chain(layer.bias.iter_mut()) {
            *w += rng.gen_range(-0.02..0.02) * w.abs().max(0.1);
        }
    }
    g
}

/// `f` as onnxruntime's static quantisation lays it out: a quantiser on the
/// input (identity weights), every hidden ReLU folded into a quantiser, the
/// output layer quantised and read by an identity output layer, and the
/// weights moved by up to 2% (their int8 rounding). The differential
/// propagation must pair it with `f` neuron by neuron.
fn onnxruntime_layout(f: &Network, rng: &mut impl Rng) -> Network {
    let mut layers = vec![identity_layer(0, f.input_dim, random_quantiser(rng))];
    let last = f.layers.len() - 1;
    for (k, layer) in f.layers.iter().enumerate() {
        let mut moved = Layer::dense(layers.len(), layer.terms[0].weights.clone(), layer.bias.clone(), if k < last { folded_relu(rng) } else { random_quantiser(rng) });
        for w in moved.terms[0].weights.data.iter_mut().chain(moved.bias.iter_mut()) {
            *w += rng.gen_range(-0.02..0.02) * w.abs().max(0.1);
        }
        layers.push(moved);
    }
    layers.push(identity_layer(layers.len(), f.output_dim(), Activation::Identity));
    Network { layers, kept_neurons: None, ..f.clone() }
}

/// Dense grid and random points of the box `[lo, hi]^n`.
fn samples(rng: &mut impl Rng, n: usize, lo: f64, hi: f64) -> Vec<Vec<f64>> {
    let per_axis = match n {
        1 => 2001,
        2 => 61,
        _ => 13,
    };
    let mut points = Vec::new();
    let total = (per_axis as usize).pow(n as u32);
    for index in 0..total {
        let mut rest = index;
        let point = (0..n)
            .map(|_| {
                let i = rest % per_axis;
                rest /= per_axis;
                if i + 1 == per_axis { hi } else { lo + (hi - lo) * i as f64 / (per_axis - 1) as f64 }
            })
            .collect();
        points.push(point);
    }
    points.extend((0..3000).map(|_| (0..n).map(|_| rng.gen_range(lo..=hi)).collect()));
    points
}

#[test]
fn certified_bounds_cover_every_sampled_error_of_quantised_pairs() {
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261203);
    let (mut checked, mut sdp_runs, mut nonzero) = (0usize, 0usize, 0usize);
    let mut ratios: Vec<(usize, String, f64)> = Vec::new();
    for case in 0..64 {
        let inputs = rng.gen_range(1..=3);
        let depth = rng.gen_range(1..=2);
        let hidden: Vec<usize> = (0..depth).map(|_| rng.gen_range(2..=4)).collect();
        let outputs = rng.gen_range(1..=2);
        let relu = random_mlp(&mut rng, inputs, &hidden, outputs, Activation::Relu);
        let (f, g) = match case % 4 {
            0 => (relu.clone(), with_quantisers(&relu, &mut rng, case % 2 == 0)),
            1 => (relu.clone(), folded(&relu, &mut rng)),
            3 => (relu.clone(), onnxruntime_layout(&relu, &mut rng)),
            _ => {
                let q = if case % 2 == 0 { with_quantisers(&relu, &mut rng, case % 4 == 0) } else { folded(&relu, &mut rng) };
                (q.clone(), perturbed(&q, &mut rng))
            }
        };
        g.validate().unwrap();
        if case % 4 == 3 {
            assert!(DifferentialPair::new(&f, &g).is_differential(), "case {case}: the onnxruntime layout does not pair with f");
        }
        let lo: f64 = rng.gen_range(-1.0..0.5);
        let hi = lo + rng.gen_range(0.05..1.5);
        let set = InputSet::uniform_box(inputs, lo, hi).unwrap();
        let points = samples(&mut rng, inputs, lo, hi);
        let (mut observed, mut exact_observed) = (0.0f64, 0.0f64);
        for x in &points {
            let (yf, yg) = (f.eval(x), g.eval(x));
            observed = observed.max(yf.iter().zip(&yg).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max));
            exact_observed = exact_observed.max(exact_error_lower_bound(&f, &g, x, x, Norm::Linf).0);
        }
        nonzero += usize::from(exact_observed > 0.0);
        let small = hidden.iter().sum::<usize>() <= 6;
        // propagate with fixed and with optimised slopes (every bound), auto
        // with optimised slopes on the whole set and on every piece
        let all_slopes = SlopeOptimisation::new(10, SlopeScope::All);
        let mut methods = vec![(Method::PROPAGATE, SlopeOptimisation::NONE, Branching::Auto), (Method::PROPAGATE, all_slopes, Branching::Auto), (Method::AUTO, SlopeOptimisation::STANDARD, Branching::Auto), (Method::AUTO, SlopeOptimisation::STANDARD, Branching::Neuron)];
        if small && case % 2 == 0 {
            methods.push((Method::SDP, SlopeOptimisation::NONE, Branching::Auto));
        }
        for (method, slopes, branching) in methods {
            let description = format!("case {case} ({} inputs, hidden {hidden:?}, box [{lo}, {hi}], {}, {} slope steps, {branching:?} branching)", inputs, ["quantisers inserted", "folded ReLUs", "perturbed quantised pair", "onnxruntime layout"][case % 4], slopes.iterations);
            let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, method);
            request.attack = AttackSettings { samples: 2000, sample_work: None, starts: 4, steps: 30, seed: case as u64 };
            request.slopes = slopes;
            // neuron splits with Lagrange terms over the region g's input quantiser widens
            request.branching = branching;
            if method == Method::AUTO {
                request.time_limit = Some(0.3);
                request.target_ratio = 1.0;
                request.piece_slopes = SlopeOptimisation::new(3, SlopeScope::Networks);
            }
            let report = bound(&f, &g, &request).unwrap_or_else(|e| panic!("{description}: {method:?} failed: {e}"));
            let certified = report.certified_bound.unwrap_or_else(|| panic!("{description}: {method:?} gave no bound"));
            assert!(certified.is_finite(), "{description}: {method:?} bound {certified}");
            assert!(observed <= certified, "{description}: {method:?} certified {certified} < sampled error {observed}");
            assert!(exact_observed <= certified, "{description}: {method:?} certified {certified} < exact sampled error {exact_observed}");
            assert!(report.lower_bound <= certified, "{description}: {method:?} lower bound {} above the certified {certified}", report.lower_bound);
            assert_sound(&f, &g, &report, &set, &description);
            if let Some(w) = &report.witness {
                assert!(set.contains(w, 0.0), "{description}: witness {w:?} outside the box");
                let (yf, yg) = (f.eval(w), g.eval(w));
                let at_witness = yf.iter().zip(&yg).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                assert!(at_witness <= certified, "{description}: {method:?} error {at_witness} at the witness above the certified {certified}");
            }
            if exact_observed > 0.0 {
                let name = if slopes.enabled() && method == Method::PROPAGATE { "OPTIMISED".to_string() } else if branching == Branching::Neuron { "NEURON".to_string() } else { format!("{method:?}") };
                ratios.push((case % 4, name, certified / exact_observed));
            }
            sdp_runs += usize::from(method == Method::SDP);
            checked += 1;
        }
    }
    println!("{checked} bounds checked ({sdp_runs} sdp); {nonzero} of 64 pairs with a nonzero sampled error");
    for kind in 0..4 {
        for method in ["PROPAGATE", "OPTIMISED", "AUTO", "NEURON", "SDP"] {
            let mut r: Vec<f64> = ratios.iter().filter(|(k, m, _)| *k == kind && m.to_uppercase() == method).map(|(_, _, r)| *r).collect();
            r.sort_by(f64::total_cmp);
            if !r.is_empty() {
                println!("{}: {method} certified / sampled error, median {:.2}, max {:.2} ({} pairs)", ["inserted", "folded", "perturbed", "onnxruntime"][kind], r[r.len() / 2], r[r.len() - 1], r.len());
            }
        }
    }
    assert!(sdp_runs >= 5, "only {sdp_runs} SDP runs");
    assert!(nonzero >= 54, "only {nonzero} pairs differ: the quantisers barely act");
}

/// The SDP does not build slope constraints for quantisers: two identical
/// quantised networks (matched neurons with the same quantiser) still get a
/// valid bound, 0 up to rounding, and a pair that differs by a weight gets a
/// bound at least the sampled error.
#[test]
fn matched_quantiser_neurons_get_no_slope_constraints() {
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let f = random_mlp(&mut rng, 2, &[3], 1, Activation::Relu);
    let q = with_quantisers(&f, &mut rng, false);
    let mut g = q.clone();
    g.layers[0].bias[0] += 0.3;
    let set = InputSet::uniform_box(2, -0.5, 0.5).unwrap();
    let request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, Method::SDP);
    let report = bound(&q, &g, &request).unwrap();
    let certified = report.certified_bound.expect("a bound");
    let observed = samples(&mut rng, 2, -0.5, 0.5).iter().map(|x| (q.eval(x)[0] - g.eval(x)[0]).abs()).fold(0.0, f64::max);
    assert!(observed <= certified && certified.is_finite(), "certified {certified}, observed {observed}");
    assert_sound(&q, &g, &report, &set, "matched quantisers");
}

/// Where an activation changes pattern as `v` goes from `va` to `vb`
/// (strictly between): 0 for ReLU, the ties `s (n + 1/2)` between two
/// levels for a quantiser (none inside a saturation).
#[cfg(feature = "milp")]
fn thresholds(activation: Activation, va: f64, vb: f64) -> Vec<f64> {
    let (low, high) = (va.min(vb), va.max(vb));
    match activation {
        Activation::Relu => if low < 0.0 && high > 0.0 { vec![0.0] } else { Vec::new() },
        Activation::Quantize { scale, zero_point, qmin, qmax } => {
            let first = ((low / scale - 0.5).ceil()).max(qmin - zero_point);
            let last = ((high / scale - 0.5).floor()).min(qmax - zero_point - 1.0);
            let mut ties = Vec::new();
            let mut n = first;
            while n <= last {
                let tie = scale * (n + 0.5);
                if tie > low && tie < high {
                    ties.push(tie);
                }
                n += 1.0;
            }
            ties
        }
        Activation::Identity => Vec::new(),
        other => panic!("no thresholds for {other:?}"),
    }
}

/// The points of `[lo, hi]` where a neuron of the 1-input `net` changes
/// pattern, layer by layer: between consecutive points of the earlier
/// layers every pre-activation is affine, so it is read off at a quarter
/// and three quarters of the piece (away from the jumps at its ends) and
/// each threshold it crosses is one linear solve.
#[cfg(feature = "milp")]
fn breakpoints(net: &Network, lo: f64, hi: f64) -> Vec<f64> {
    let mut points = vec![lo, hi];
    for k in 0..net.layers.len() {
        let pre = |x: f64| net.pre_activation(&net.layers[k], &net.activations(&[x]));
        let mut found = Vec::new();
        for pair in points.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b <= a {
                continue;
            }
            let (p, q) = (a + 0.25 * (b - a), a + 0.75 * (b - a));
            let (vp, vq) = (pre(p), pre(q));
            for i in 0..vp.len() {
                let slope = (vq[i] - vp[i]) / (q - p);
                if slope == 0.0 {
                    continue;
                }
                let (va, vb) = (vp[i] - slope * (p - a), vq[i] + slope * (b - q));
                for t in thresholds(net.layers[k].activation, va, vb) {
                    let x = p + (t - vp[i]) / slope;
                    if x > a && x < b {
                        found.push(x);
                    }
                }
            }
        }
        points.extend(found);
        points.sort_by(f64::total_cmp);
        points.dedup();
    }
    points
}

/// The exact `sup |f(x) - g(x)|` over `[lo, hi]` for 1-input pairs of ReLU
/// and quantiser networks: between consecutive breakpoints of both networks
/// the difference is affine, so the supremum is the largest one-sided limit
/// at a piece's ends (extrapolated from its quarter points; a piece
/// narrower than 1e-9 is read at its middle) or value at a breakpoint.
/// Also returns the number of pieces.
#[cfg(feature = "milp")]
fn exact_supremum_1d(f: &Network, g: &Network, lo: f64, hi: f64) -> (f64, usize) {
    let mut points = breakpoints(f, lo, hi);
    points.extend(breakpoints(g, lo, hi));
    points.sort_by(f64::total_cmp);
    points.dedup();
    let delta = |x: f64| f.eval(&[x])[0] - g.eval(&[x])[0];
    let mut best = points.iter().map(|&x| delta(x).abs()).fold(0.0, f64::max);
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let width = b - a;
        if width < 1e-9 * (1.0 + a.abs()) {
            best = best.max(delta(0.5 * (a + b)).abs());
            continue;
        }
        let (p, q) = (a + 0.25 * width, a + 0.75 * width);
        let (dp, dq) = (delta(p), delta(q));
        let slope = (dq - dp) / (q - p);
        best = best.max((dp - slope * (p - a)).abs()).max((dq + slope * (b - q)).abs());
    }
    (best, points.len() - 1)
}

/// Whether some quantiser neuron of `net` saturates at `x`, above (`top`)
/// or below its range by more than a step.
#[cfg(feature = "milp")]
fn saturates(net: &Network, x: &[f64], top: bool) -> bool {
    let acts = net.activations(x);
    net.layers.iter().any(|layer| {
        let Activation::Quantize { scale, zero_point, qmin, qmax } = layer.activation else { return false };
        net.pre_activation(layer, &acts).iter().any(|&v| if top { v > scale * (qmax - zero_point + 1.0) } else { v < scale * (qmin - zero_point - 1.0) })
    })
}

/// A pair for the MILP tests: `f` a ReLU MLP (`inputs`-w-w-1, w <= 6) and
/// `g` with quantisers inserted, its ReLUs folded into quantisers, or both
/// quantised with `g` perturbed.
#[cfg(feature = "milp")]
fn quantised_pair(rng: &mut impl Rng, case: usize, inputs: usize) -> (Network, Network) {
    let hidden: Vec<usize> = (0..2).map(|_| rng.gen_range(2..=6)).collect();
    let relu = random_mlp(rng, inputs, &hidden, 1, Activation::Relu);
    match case % 3 {
        0 => {
            let g = with_quantisers(&relu, rng, case % 2 == 0);
            (relu, g)
        }
        1 => {
            let g = folded(&relu, rng);
            (relu, g)
        }
        _ => {
            let q = if case % 2 == 0 { with_quantisers(&relu, rng, case % 4 == 0) } else { folded(&relu, rng) };
            let g = perturbed(&q, rng);
            (q, g)
        }
    }
}

#[cfg(feature = "milp")]
fn milp_report(f: &Network, g: &Network, set: &InputSet) -> deltacert::bound::BoundReport {
    let request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, Method::MILP);
    bound(f, g, &request).unwrap_or_else(|e| panic!("milp failed: {e}"))
}

/// On 1-input pairs with quantisers (inserted, folded ReLUs, both networks
/// quantised; zero points at the bottom and in the middle; scales that
/// saturate inside the box), the MILP's solver bound is the exact supremum
/// of `|f - g|` found by enumerating every breakpoint: never below it nor
/// below a dense sample, and above it by at most the solver's padding; its
/// rigorous lower bound (the placed incumbent) is within 1e-7 of it.
#[cfg(feature = "milp")]
#[test]
fn milp_equals_the_exact_supremum_on_one_input_quantised_pairs() {
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261204);
    let (mut top, mut bottom, mut integers, mut placed) = (0, 0, 0, 0);
    let mut gaps = Vec::new();
    let start = std::time::Instant::now();
    let cases = 30;
    for case in 0..cases {
        let (f, g) = quantised_pair(&mut rng, case, 1);
        let lo: f64 = rng.gen_range(-2.0..0.0);
        let hi = lo + rng.gen_range(0.5..3.0);
        let set = InputSet::uniform_box(1, lo, hi).unwrap();
        let (exact, pieces) = exact_supremum_1d(&f, &g, lo, hi);
        let grid: Vec<f64> = (0..=20000).map(|i| lo + (hi - lo) * i as f64 / 20000.0).collect();
        let sampled = grid.iter().map(|&x| (f.eval(&[x])[0] - g.eval(&[x])[0]).abs()).fold(0.0, f64::max);
        top += usize::from(grid.iter().any(|&x| saturates(&g, &[x], true)));
        bottom += usize::from(grid.iter().any(|&x| saturates(&g, &[x], false)));
        let report = milp_report(&f, &g, &set);
        let description = format!("case {case} (box [{lo}, {hi}], {pieces} pieces, {})", ["quantisers inserted", "folded ReLUs", "perturbed quantised pair", "onnxruntime layout"][case % 4]);
        let solver = report.solver_bound.unwrap_or_else(|| panic!("{description}: no solver bound"));
        assert!(sampled <= exact + 1e-12 * (1.0 + exact), "{description}: a sample {sampled} above the enumerated supremum {exact}");
        assert!(solver >= exact && solver >= sampled, "{description}: solver bound {solver} below the supremum {exact} (sampled {sampled})");
        assert!(solver <= exact + 2e-6 * (1.0 + exact), "{description}: solver bound {solver} above the supremum {exact}");
        assert!(report.lower_bound <= exact + 1e-12 * (1.0 + exact), "{description}: rigorous lower bound {} above the supremum {exact}", report.lower_bound);
        assert!(report.lower_bound >= exact - 1e-7 * (1.0 + exact), "{description}: lower bound {} far below the supremum {exact}", report.lower_bound);
        assert!(report.certified_bound.unwrap() >= exact, "{description}: certified {:?} below the supremum {exact}", report.certified_bound);
        let milp = report.details.get::<deltacert::milp::MilpResult>("milp").expect("milp evidence");
        integers += milp.integers;
        placed += milp.solves.iter().filter(|s| s.placed).count();
        gaps.push((solver - exact, exact - report.lower_bound));
    }
    let seconds = start.elapsed().as_secs_f64();
    let worst_upper = gaps.iter().map(|g| g.0).fold(0.0, f64::max);
    let worst_lower = gaps.iter().map(|g| g.1).fold(0.0, f64::max);
    println!("{cases} pairs in {seconds:.1} s: solver bound - supremum <= {worst_upper:.2e}, supremum - lower bound <= {worst_lower:.2e}; {integers} level columns, {placed} placed incumbents; saturation above in {top}, below in {bottom} pairs");
    assert!(top >= 5 && bottom >= 5, "saturation exercised above in {top}, below in {bottom} pairs only");
    assert!(integers >= 3 * cases, "only {integers} level columns");
}

/// On 2-input pairs (2-w-w-1, w <= 6) with quantisers, no grid or random
/// sample beats the MILP's solver bound, and the rigorous lower bound at its
/// placed incumbent meets it up to the solver's padding `1e-6 (1 + bound)`:
/// the MILP's value is the worst case.
#[cfg(feature = "milp")]
#[test]
fn milp_is_sound_and_exact_on_two_input_quantised_pairs() {
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261205);
    let mut worst = 0.0f64;
    let start = std::time::Instant::now();
    let cases = 15;
    for case in 0..cases {
        let (f, g) = quantised_pair(&mut rng, case, 2);
        let lo: f64 = rng.gen_range(-1.5..0.0);
        let hi = lo + rng.gen_range(0.5..2.0);
        let set = InputSet::uniform_box(2, lo, hi).unwrap();
        let report = milp_report(&f, &g, &set);
        let description = format!("case {case} (box [{lo}, {hi}]^2, {})", ["quantisers inserted", "folded ReLUs", "perturbed quantised pair", "onnxruntime layout"][case % 4]);
        let solver = report.solver_bound.unwrap_or_else(|| panic!("{description}: no solver bound"));
        let sampled = samples(&mut rng, 2, lo, hi).iter().chain(&(0..=300).flat_map(|i| (0..=300).map(move |j| vec![lo + (hi - lo) * i as f64 / 300.0, lo + (hi - lo) * j as f64 / 300.0])).collect::<Vec<_>>()).map(|x| (f.eval(x)[0] - g.eval(x)[0]).abs()).fold(0.0, f64::max);
        assert!(sampled <= solver, "{description}: sampled {sampled} above the solver bound {solver}");
        assert!(report.lower_bound <= solver && report.lower_bound >= solver - 1.5e-6 * (1.0 + solver), "{description}: lower bound {} vs solver bound {solver}", report.lower_bound);
        assert!(report.certified_bound.unwrap() >= report.lower_bound);
        worst = worst.max((solver - report.lower_bound) / (1.0 + solver));
    }
    println!("{cases} pairs in {:.1} s: (solver bound - lower bound) / (1 + bound) <= {worst:.2e}", start.elapsed().as_secs_f64());
}

/// A quantised output that saturates caps `g`: `f(x) = 2x` against `g(x) =
/// Q(2x)` with top level 25.5 over `x in [0, 15]` errs by up to `30 - 25.5 =
/// 4.5` at `x = 15`. The lower-bound search climbs to the cap, the report
/// says which output is held at which level, and the bound covers it.
#[test]
fn a_saturated_output_is_found_and_reported() {
    let f = Network { input_dim: 1, input_transform: None, layers: vec![Layer::dense(0, Matrix::from_rows(1, 1, vec![2.0]), vec![0.0], Activation::Identity)], kept_neurons: None, source_dtype: "float64".into(), output_softmax: false };
    let quantiser = Activation::Quantize { scale: 0.1f32 as f64, zero_point: 0.0, qmin: 0.0, qmax: 255.0 };
    let g = Network { layers: vec![Layer::dense(0, Matrix::from_rows(1, 1, vec![2.0]), vec![0.0], quantiser), identity_layer(1, 1, Activation::Identity)], ..f.clone() };
    g.validate().unwrap();
    let set = InputSet::uniform_box(1, 0.0, 15.0).unwrap();
    let report = bound(&f, &g, &BoundRequest::new(set, InputCoupling::Same, Norm::Linf, Method::PROPAGATE)).unwrap();
    let cap = 255.0 * (0.1f32 as f64);
    assert!(report.lower_bound >= 30.0 - cap - 1e-9, "lower bound {} below the saturation error", report.lower_bound);
    assert!(report.certified_bound.unwrap() >= report.lower_bound);
    let saturated = &report.witness_saturation.compressed;
    assert_eq!(saturated.len(), 1, "{saturated:?}");
    assert!(saturated[0].outputs && saturated[0].at_top == vec![0] && saturated[0].layer == 1, "{saturated:?}");
    assert_eq!(saturated[0].top_level, cap);
    assert!(report.witness_saturation.reference.is_empty());
}

/// On 1-input pairs in onnxruntime's layout (input and output quantised,
/// ReLUs folded, weights moved), the paired differential propagation's bound
/// (fixed and optimised slopes) is never below the exact supremum of `|f -
/// g|` from breakpoint enumeration, and the pairs do pair.
#[test]
fn onnxruntime_layout_bounds_cover_the_exact_supremum() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(611);
    let mut compared = 0;
    for case in 0..30 {
        let hidden: Vec<usize> = (0..rng.gen_range(1..=2)).map(|_| rng.gen_range(2..=5)).collect();
        let f = random_mlp(&mut rng, 1, &hidden, 1, Activation::Relu);
        let g = onnxruntime_layout(&f, &mut rng);
        assert!(DifferentialPair::new(&f, &g).is_differential(), "case {case}: does not pair");
        let lo: f64 = rng.gen_range(-1.0..0.5);
        let hi = lo + rng.gen_range(0.05..1.5);
        let (exact, _) = exact_supremum_1d(&f, &g, lo, hi);
        let set = InputSet::uniform_box(1, lo, hi).unwrap();
        for slopes in [SlopeOptimisation::NONE, SlopeOptimisation::new(10, SlopeScope::All)] {
            let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, Method::PROPAGATE);
            request.slopes = slopes;
            let certified = bound(&f, &g, &request).unwrap().certified_bound.expect("a bound");
            assert!(exact <= certified, "case {case} [{lo}, {hi}]: exact supremum {exact} above the certified {certified}");
            compared += 1;
        }
    }
    assert!(compared == 60);
}
