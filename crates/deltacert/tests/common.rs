//! Shared helpers for the integration tests.
#![allow(dead_code)]

use deltacert::network::Network;
use std::path::PathBuf;

/// Path of a file under `tests/fixtures`.
pub fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(relative)
}

/// Reads a fixture model.
pub fn model(relative: &str) -> Network {
    deltacert::io::read_model(&fixture(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The box `+-p/255` around MNIST test image `index` (pixels in [0, 1]),
/// clipped to [0, 1].
#[allow(dead_code)]
pub fn mnist_box(index: usize, p: f64) -> deltacert::input_set::InputSet {
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture("mnist/test_images_100.json")).unwrap()).unwrap();
    let pixels: Vec<f64> = data["images"][index].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() / 255.0).collect();
    deltacert::input_set::InputSet::from_box(pixels.iter().map(|v| (v - p / 255.0).max(0.0)).collect(), pixels.iter().map(|v| (v + p / 255.0).min(1.0)).collect()).unwrap()
}

/// `|a - b| <= abs + rel * max(|a|, |b|)`.
pub fn close(a: f64, b: f64, abs: f64, rel: f64) -> bool {
    (a - b).abs() <= abs + rel * a.abs().max(b.abs())
}

/// One random soundness case: a pair, a set, a coupling and a norm.
pub struct RandomCase {
    pub f: Network,
    pub g: Network,
    pub set: deltacert::input_set::InputSet,
    pub coupling: deltacert::problem::InputCoupling,
    pub norm: deltacert::problem::Norm,
    pub description: String,
}

/// Case `case` of the random-pair property tests: 4 activations, 1–8
/// inputs, 1–3 hidden layers up to width 16, pruned / structurally pruned /
/// quantised / unrelated partners, boxes, L2 balls and polytopes, same,
/// quantised and independent inputs, linf and l2.
pub fn random_case(rng: &mut impl rand::Rng, case: usize) -> RandomCase {
    use deltacert::activation::Activation;
    use deltacert::input_set::InputSet;
    use deltacert::network::random::{partner, random_mlp, Relation};
    use deltacert::problem::InputCoupling;
    use deltacert::problem::Norm;
    let activations = [Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::LeakyRelu { alpha: 0.1 }];
    let relations = [Relation::Pruned, Relation::StructurallyPruned, Relation::Quantised, Relation::Unrelated];
    let activation = activations[case % 4];
    let relation = relations[(case / 4) % 4];
    let inputs = rng.gen_range(1..=8);
    let depth = rng.gen_range(1..=3);
    let max_width = [16, 8, 5][depth - 1];
    let hidden: Vec<usize> = (0..depth).map(|_| rng.gen_range(2..=max_width)).collect();
    let outputs = rng.gen_range(1..=2);
    let f = random_mlp(rng, inputs, &hidden, outputs, activation);
    let g = partner(rng, &f, relation, activation);
    let lo: f64 = rng.gen_range(-1.0..0.5);
    let width = rng.gen_range(0.05..1.5);
    let mut set = InputSet::uniform_box(inputs, lo, lo + width).unwrap();
    let center: Vec<f64> = vec![lo + width / 2.0; inputs];
    match case % 10 {
        // an L2 ball
        3 => set = InputSet::ball(center, width / 2.0, true).unwrap(),
        // a box cut by two half-spaces through points near the centre
        5 => {
            let mut rows = Vec::new();
            for _ in 0..2 {
                let a: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let b = a.iter().zip(&center).map(|(x, c)| x * c).sum::<f64>() + 0.1 * width;
                rows.push((a, b));
            }
            set = set.with_polytope(rows).unwrap();
        }
        _ => {}
    }
    let coupling = match case % 10 {
        7 => InputCoupling::Quantised(vec![rng.gen_range(0.01..0.2); inputs]),
        9 => InputCoupling::Independent,
        _ => InputCoupling::Same,
    };
    let norm = if case % 3 == 0 { Norm::L2 } else { Norm::Linf };
    // half of the balls and polytopes are read through an input
    // normalisation (as a `.nnet` file has), drawn last so that the other
    // cases stay as they were
    let (mut f, mut g) = (f, g);
    let normalised = matches!(case % 20, 3 | 5);
    if normalised {
        let mean: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-3.0..3.0)).collect();
        // ranges 0.1 to 100 apart: a ball is an elongated ellipsoid there
        let range: Vec<f64> = (0..inputs).map(|_| 10f64.powf(rng.gen_range(-1.0..2.0))).collect();
        let transform = deltacert::network::InputTransform { min: vec![-1e3; inputs], max: vec![1e3; inputs], mean, range };
        f.input_transform = Some(transform.clone());
        g.input_transform = Some(transform);
    }
    let description = format!("case {case} ({activation:?}, {relation:?}, {coupling:?}, {norm:?}, hidden {hidden:?}{})", if normalised { ", normalised input" } else { "" });
    RandomCase { f, g, set, coupling, norm, description }
}

/// An enclosure `(lower, upper)` of every output of `network` at the raw
/// input `x` in exact real arithmetic: the network is evaluated in interval
/// arithmetic, every operation rounded outward (`next_down` / `next_up` of a
/// correctly rounded result), library functions through the enclosures of
/// [`deltacert::rounding`] (themselves checked against an arbitrary-precision
/// evaluation in `rounding_exact.rs`).
pub fn enclose_outputs(network: &Network, x: &[f64]) -> Vec<(f64, f64)> {
    use deltacert::activation::Activation;
    let input: Vec<(f64, f64)> = match &network.input_transform {
        Some(t) => x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let centred = v.clamp(t.min[i], t.max[i]) - t.mean[i];
                let (lo, hi) = (centred.next_down(), centred.next_up());
                ((lo / t.range[i]).next_down().min((hi / t.range[i]).next_down()), (lo / t.range[i]).next_up().max((hi / t.range[i]).next_up()))
            })
            .collect(),
        None => x.iter().map(|&v| (v, v)).collect(),
    };
    let mut acts: Vec<Vec<(f64, f64)>> = vec![input];
    for layer in &network.layers {
        let mut pre: Vec<(f64, f64)> = layer.bias.iter().map(|&b| (b, b)).collect();
        for term in &layer.terms {
            let source = &acts[term.source];
            for (i, p) in pre.iter_mut().enumerate() {
                for (&w, &(l, u)) in term.weights.row(i).iter().zip(source) {
                    let products = [w * l, w * u];
                    let lo = products[0].min(products[1]).next_down();
                    let hi = products[0].max(products[1]).next_up();
                    *p = ((p.0 + lo).next_down(), (p.1 + hi).next_up());
                }
            }
        }
        let post = pre
            .into_iter()
            .map(|(l, u)| match layer.activation {
                Activation::Identity => (l, u),
                Activation::Relu => (l.max(0.0), u.max(0.0)),
                Activation::LeakyRelu { alpha } => {
                    let low = if l >= 0.0 { l } else { (alpha * l).next_down() };
                    let high = if u >= 0.0 { u } else { (alpha * u).next_up() };
                    (low, high)
                }
                Activation::Tanh => (deltacert::rounding::tanh_enclosure(l).0, deltacert::rounding::tanh_enclosure(u).1),
                Activation::Sigmoid => (deltacert::rounding::sigmoid_enclosure(l).0, deltacert::rounding::sigmoid_enclosure(u).1),
                Activation::Quantize { scale, zero_point, qmin, qmax } => {
                    // monotone: the levels of the quotients rounded outward, times s rounded outward
                    let level = |t: f64| (t.round_ties_even() + zero_point).clamp(qmin, qmax) - zero_point;
                    ((level((l / scale).next_down()) * scale).next_down(), (level((u / scale).next_up()) * scale).next_up())
                }
            })
            .collect();
        acts.push(post);
    }
    acts.pop().unwrap_or_default()
}

/// A lower bound, in exact arithmetic, of `||f(x) - g(x')||` in `norm` and of
/// each `|f_j(x) - g_j(x')|`, from the enclosures of [`enclose_outputs`].
pub fn exact_error_lower_bound(f: &Network, g: &Network, x: &[f64], x_compressed: &[f64], norm: deltacert::problem::Norm) -> (f64, Vec<f64>) {
    let (yf, yg) = (enclose_outputs(f, x), enclose_outputs(g, x_compressed));
    let per_output: Vec<f64> = yf.iter().zip(&yg).map(|(a, b)| (a.0 - b.1).next_down().max((b.0 - a.1).next_down()).max(0.0)).collect();
    let overall = match norm {
        deltacert::problem::Norm::Linf => per_output.iter().copied().fold(0.0, f64::max),
        deltacert::problem::Norm::L2 => per_output.iter().fold(0.0, |s: f64, a| (s + (a * a).next_down()).next_down()).max(0.0).sqrt().next_down().max(0.0),
    };
    (overall, per_output)
}

/// Asserts that the certified bound (overall and per output) is at least a
/// rigorous lower bound of the true error at the attack's witness (no
/// tolerance: the error at the witness is enclosed in exact arithmetic), and
/// that the witness lies in the set.
pub fn assert_sound(f: &Network, g: &Network, report: &deltacert::bound::BoundReport, set: &deltacert::input_set::InputSet, description: &str) {
    assert!(report.lower_bound == 0.0 || report.witness.as_ref().is_some_and(|w| set.contains(w, 1e-12)), "{description}: witness outside the set");
    let Some(certified) = report.certified_bound else { return };
    let Some(witness) = &report.witness else { return };
    let x_compressed = report.witness_compressed.clone().unwrap_or_else(|| witness.clone());
    let (exact_lower, per_output) = exact_error_lower_bound(f, g, witness, &x_compressed, report.norm);
    assert!(exact_lower <= certified, "{description}: the error at the witness is at least {exact_lower} > certified {certified} ({:?})", report.method);
    for (j, b) in report.per_output_bound.iter().enumerate() {
        if let Some(b) = b {
            assert!(per_output[j] <= *b, "{description} output {j}: the error at the witness is at least {} > certified {b} ({:?})", per_output[j], report.method);
        }
    }
}

/// One OpenBLAS thread: the SDP's solves run in parallel and its BLAS blocks
/// are small (the library leaves this process-wide setting to its callers).
pub fn single_threaded_blas() {
    deltacert::sdp::solve::set_blas_threads(1);
}

/// `outer relu(inner x)`, one input, one hidden neuron, read as if from a
/// file of type `dtype`.
pub fn relu_chain(inner: f64, outer: f64, dtype: &str) -> Network {
    use deltacert::activation::Activation;
    use deltacert::network::{Layer, Matrix};
    Network {
        input_dim: 1,
        input_transform: None,
        layers: vec![
            Layer::dense(0, Matrix::from_rows(1, 1, vec![inner]), vec![0.0], Activation::Relu),
            Layer::dense(1, Matrix::from_rows(1, 1, vec![outer]), vec![0.0], Activation::Identity),
        ],
        kept_neurons: None,
        source_dtype: dtype.into(),
        output_softmax: false,
    }
}

/// `relu(x_1) + relu(x_2)` against the zero network, both read through an
/// input normalisation with ranges 1 and 1000 (as a `.nnet` file has): an
/// L2 ball in raw units is the ellipsoid `||diag(1, 1000) z|| <= r` in the
/// networks' coordinates.
pub fn relu_sum_through_unequal_ranges() -> (Network, Network) {
    use deltacert::activation::Activation;
    use deltacert::network::{InputTransform, Layer, Matrix};
    let network = |w: [f64; 2]| Network {
        input_dim: 2,
        input_transform: Some(InputTransform { min: vec![-10.0; 2], max: vec![10.0; 2], mean: vec![0.0; 2], range: vec![1.0, 1000.0] }),
        layers: vec![
            Layer::dense(0, Matrix::from_rows(2, 2, vec![1.0, 0.0, 0.0, 1000.0]), vec![0.0; 2], Activation::Relu),
            Layer::dense(1, Matrix::from_rows(1, 2, w.to_vec()), vec![0.0], Activation::Identity),
        ],
        kept_neurons: None,
        source_dtype: "float64".into(),
        output_softmax: false,
    };
    (network([1.0, 1.0]), network([0.0, 0.0]))
}

/// A quantiser's value `s (clamp(n + z, qmin, qmax) - z)` at `v` in exact
/// arithmetic, `n` the integer nearest `v / s` with ties to even (ONNX's
/// rounding): the `n` with `s (n - 1/2) <= v <= s (n + 1/2)`, found by
/// exact comparisons from a floating-point guess. `big` converts an f64 at
/// the caller's precision.
pub fn exact_quantize(v: &dashu_float::FBig, scale: f64, zero_point: f64, qmin: f64, qmax: f64, big: impl Fn(f64) -> dashu_float::FBig) -> dashu_float::FBig {
    let s = big(scale);
    let mut n = (v.to_f64().value() / scale).floor().clamp(-1e12, 1e12);
    while s.clone() * big(n + 0.5) < *v {
        n += 1.0;
    }
    while s.clone() * big(n - 0.5) > *v {
        n -= 1.0;
    }
    let odd = n.rem_euclid(2.0) == 1.0;
    if odd && s.clone() * big(n + 0.5) == *v {
        n += 1.0;
    } else if odd && s.clone() * big(n - 0.5) == *v {
        n -= 1.0;
    }
    s * big((n + zero_point).clamp(qmin, qmax) - zero_point)
}
