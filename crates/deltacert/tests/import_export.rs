//! Import, evaluation, export and compression against independent reference values.

mod common;

use common::{close, fixture, model};
use deltacert::activation::Activation;
use deltacert::compress::{prune_structured, prune_unstructured, quantize, PruneScope, QuantScheme};
use deltacert::io::onnx::{read, write, ExportFormat};
use deltacert::network::{Layer, Matrix, Network, Term};
use rand::{Rng, SeedableRng};
use serde_json::Value;

#[test]
fn nnet_evaluation_matches_the_independent_reader() {
    let text = std::fs::read_to_string(fixture("nnet_reference_outputs.json")).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for (file, cases) in reference.as_object().unwrap() {
        let net = model(file);
        for case in cases.as_array().unwrap() {
            let input: Vec<f64> = case["input"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let expected: Vec<f64> = case["output"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let got = net.eval(&input);
            assert_eq!(got.len(), expected.len(), "{file}");
            for (g, e) in got.iter().zip(&expected) {
                assert!((g - e).abs() <= 1e-9, "{file}: {g} vs {e}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 26);
}

#[test]
fn paper_networks_match_their_reference_outputs() {
    let text = std::fs::read_to_string(fixture("paper/reference_outputs.json")).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    for (file, case) in reference.as_object().unwrap() {
        let inputs = case["inputs"].as_array().unwrap();
        let outputs = case["outputs"].as_array().unwrap();
        let f64_net = model(&format!("paper/{file}"));
        let f32_net = model(&format!("paper/f32/{file}"));
        assert_eq!(f64_net.source_dtype, "float64");
        assert_eq!(f32_net.source_dtype, "float32");
        for (x, y) in inputs.iter().zip(outputs) {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(close(f64_net.eval(&[x])[0], y, 1e-12, 1e-12), "{file} at {x}");
            assert!(close(f32_net.eval(&[x])[0], y, 1e-5, 1e-5), "{file} (f32) at {x}");
        }
    }
}

#[test]
fn paper_fixed_point_rule_reproduces_the_quantised_network_exactly() {
    let original = model("paper/paper_quant_orig.onnx");
    let expected = model("paper/paper_quant_q.onnx");
    let (quantised, _) = quantize(&original, QuantScheme::FixedTruncate { fraction_bits: 2 }).unwrap();
    for i in 0..=2000 {
        let x = -1.0 + i as f64 * 1e-3;
        assert_eq!(quantised.eval(&[x]), expected.eval(&[x]), "x = {x}");
    }
    // and after writing and re-reading the ONNX file
    let reread = read(&write(&quantised, &ExportFormat::Float64).unwrap()).unwrap();
    assert_eq!(reread.eval(&[0.77]), expected.eval(&[0.77]));
}

/// A random network exercising every activation and a residual term.
fn random_network(seed: u64) -> Network {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut dense = |rows: usize, cols: usize| Matrix::from_rows(rows, cols, (0..rows * cols).map(|_| rng.gen_range(-1.0..1.0)).collect());
    let layers = vec![
        Layer::dense(0, dense(6, 3), vec![0.1; 6], Activation::Relu),
        Layer::dense(1, dense(5, 6), vec![-0.2; 5], Activation::Tanh),
        Layer { terms: vec![Term { source: 2, weights: dense(4, 5) }, Term { source: 1, weights: dense(4, 6) }], bias: vec![0.3; 4], activation: Activation::Sigmoid },
        Layer::dense(3, dense(4, 4), vec![0.0; 4], Activation::LeakyRelu { alpha: 0.125 }),
        Layer::dense(4, dense(2, 4), vec![0.05, -0.05], Activation::Identity),
    ];
    let net = Network { input_dim: 3, input_transform: None, layers, kept_neurons: None, source_dtype: "float64".into(), output_softmax: false };
    net.validate().unwrap();
    net
}

#[test]
fn onnx_round_trip_is_exact_in_f64_and_within_f32_rounding() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut nets: Vec<Network> = (0..3).map(random_network).collect();
    nets.push(model("paper/paper_cmp_nn1.onnx"));
    nets.push(model("acasxu/ACASXU_run2a_1_1_batch_2000.nnet"));
    for net in &nets {
        let exact = read(&write(net, &ExportFormat::Float64).unwrap()).unwrap();
        assert_eq!(exact.layers, net.layers);
        assert_eq!(exact.input_transform, net.input_transform);
        let single = read(&write(net, &ExportFormat::Float32).unwrap()).unwrap();
        assert_eq!(single.source_dtype, "float32");
        for (a, b) in single.layers.iter().flat_map(|l| &l.terms).zip(net.layers.iter().flat_map(|l| &l.terms)) {
            for (x, y) in a.weights.data.iter().zip(&b.weights.data) {
                assert_eq!(*x, (*y as f32) as f64);
            }
        }
        for _ in 0..50 {
            let x: Vec<f64> = (0..net.input_dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let (y, y32) = (net.eval(&x), single.eval(&x));
            let scale = y.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            for (a, b) in y.iter().zip(&y32) {
                assert!((a - b).abs() <= 1e-4 * scale, "{a} vs {b}");
            }
        }
    }
}

/// A `.nnet` network written as a float32 or int8 ONNX model keeps its input
/// normalisation exactly (written in float64 between two Casts: 3.141592 and
/// 19791.091 are not float32 numbers), so a compressed copy normalises its
/// inputs as its original does and the pair can be compared.
#[test]
fn a_written_nnet_keeps_its_normalisation_exactly() {
    let net = model("acasxu/ACASXU_run2a_1_1_batch_2000.nnet");
    let transform = net.input_transform.clone().expect("a .nnet normalises its inputs");
    assert!(transform.min.iter().chain(&transform.mean).any(|v| (*v as f32) as f64 != *v), "the test needs values that float32 rounds");
    let (q, report) = quantize(&net, QuantScheme::Integer { bits: 8, per_channel: false }).unwrap();
    for (written, format) in [(&net, ExportFormat::Float32), (&q, ExportFormat::QdqInt8 { scales: report.scales.clone().unwrap() })] {
        let back = read(&write(written, &format).unwrap()).unwrap();
        assert_eq!(back.input_transform.as_ref(), Some(&transform), "{format:?}");
        assert_eq!(back.source_dtype, if matches!(format, ExportFormat::Float32) { "float32" } else { "int8-qdq (+float32)" });
        let set = deltacert::input_set::InputSet::from_box(vec![1500.0, -0.06, 3.1, 980.0, 960.0], vec![1800.0, 0.06, 3.141592, 1200.0, 1200.0]).unwrap();
        deltacert::problem::prepare(&net, &back, &set, &deltacert::problem::InputCoupling::Same).unwrap_or_else(|e| panic!("{format:?}: {e}"));
    }
}

/// Quantiser layers (on the input, folding a ReLU, after a ReLU, on the
/// output; uint8 and int8, zero points at the bottom and in the middle) are
/// written as QuantizeLinear/DequantizeLinear pairs and read back as the same
/// layers; a float64 model with quantisers is refused (QuantizeLinear reads
/// float32).
#[test]
fn quantiser_layers_round_trip_through_qdq() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let mut dense = |rows: usize, cols: usize| Matrix::from_rows(rows, cols, (0..rows * cols).map(|_| rng.gen_range(-1.0f32..1.0) as f64).collect());
    let quantiser = |scale: f32, zero_point: f64, unsigned: bool| {
        let (qmin, qmax) = if unsigned { (0.0, 255.0) } else { (-128.0, 127.0) };
        Activation::Quantize { scale: scale as f64, zero_point, qmin, qmax }
    };
    let layers = vec![
        Layer::dense(0, Matrix::identity(3), vec![0.0; 3], quantiser(0.0625, 0.0, false)),
        Layer::dense(1, dense(4, 3), vec![0.25; 4], quantiser(0.05, 0.0, true)),
        Layer::dense(2, dense(4, 4), vec![-0.125; 4], Activation::Relu),
        Layer::dense(3, Matrix::identity(4), vec![0.0; 4], quantiser(0.1, -128.0, false)),
        Layer::dense(4, dense(2, 4), vec![0.5, -0.5], quantiser(0.02, 128.0, true)),
        Layer::dense(5, Matrix::identity(2), vec![0.0; 2], Activation::Identity),
    ];
    let net = Network { input_dim: 3, input_transform: None, layers, kept_neurons: None, source_dtype: "float32".into(), output_softmax: false };
    net.validate().unwrap();
    let back = read(&write(&net, &ExportFormat::Float32).unwrap()).unwrap();
    assert_eq!(back.layers, net.layers);
    for _ in 0..200 {
        let x: Vec<f64> = (0..3).map(|_| rng.gen_range(-4.0..4.0)).collect();
        assert_eq!(back.eval(&x), net.eval(&x));
    }
    let err = write(&net, &ExportFormat::Float64).unwrap_err();
    assert!(err.context.contains("quantiser is written only in a float32 model"), "{}", err.context);
}

#[test]
fn int8_qdq_export_round_trips_exactly() {
    let net = model("paper/paper_quant3d_orig.onnx");
    for per_channel in [false, true] {
        for bits in [8, 4] {
            let (q, report) = quantize(&net, QuantScheme::Integer { bits, per_channel }).unwrap();
            let bytes = write(&q, &ExportFormat::QdqInt8 { scales: report.scales.unwrap() }).unwrap();
            let back = read(&bytes).unwrap();
            assert!(back.source_dtype.starts_with("int8-qdq"));
            assert_eq!(back.layers, q.layers, "bits {bits} per_channel {per_channel}");
            assert!(report.max_weight_change > 0.0);
        }
    }
}

/// What a file cannot hold is refused, not written as something else: a
/// float64 weight beyond float32's range (it became an infinity), a zero or
/// non-float32 int8 scale (a zero scale stored every weight of its row as 0).
#[test]
fn values_a_file_cannot_hold_are_refused() {
    let net = model("paper/paper_quant3d_orig.onnx");
    let mut huge = net.clone();
    huge.layers[0].terms[0].weights.data[0] = 1e50;
    assert!(write(&huge, &ExportFormat::Float64).is_ok());
    let err = write(&huge, &ExportFormat::Float32).unwrap_err();
    assert!(err.context == "layer 1: a weight: 1e50 is beyond the range of float32 (write float64)", "{}", err.context);
    let (q, report) = quantize(&net, QuantScheme::Integer { bits: 8, per_channel: false }).unwrap();
    let scales = report.scales.unwrap();
    for bad in [0.0, 1e-300, 0.1] {
        let mut wrong = scales.clone();
        wrong[0][0][0] = bad;
        let err = write(&q, &ExportFormat::QdqInt8 { scales: wrong }).unwrap_err();
        assert!(err.context.contains("is not a positive float32 value"), "{bad}: {}", err.context);
    }
    // int8 levels times a float32 scale beyond float32's range (DequantizeLinear computes in float32)
    let mut big = net.clone();
    big.layers[0].terms[0].weights.data.iter_mut().for_each(|w| *w *= 1e38);
    let (q, report) = quantize(&big, QuantScheme::Integer { bits: 8, per_channel: false }).unwrap();
    let err = write(&q, &ExportFormat::QdqInt8 { scales: report.scales.unwrap() }).unwrap_err();
    assert!(err.context.contains("is beyond the range of float32, in which DequantizeLinear computes it"), "{}", err.context);
}

#[test]
fn structured_pruning_shrinks_the_network_and_matches_zeroed_neurons() {
    let net = model("acasxu/ACASXU_run2a_1_1_batch_2000.nnet");
    let (pruned, report) = prune_structured(&net, 0.3).unwrap();
    assert_eq!(report.widths[..6], [35; 6]);
    assert!(pruned.parameter_count() < net.parameter_count());
    // the same network with the removed neurons' rows, biases and columns zeroed
    let kept = pruned.kept_neurons.clone().unwrap();
    let mut zeroed = net.clone();
    for (k, kept_here) in kept.iter().enumerate() {
        for neuron in (0..50).filter(|n| !kept_here.contains(n)) {
            let w = &mut zeroed.layers[k].terms[0].weights;
            let cols = w.cols;
            w.data[neuron * cols..(neuron + 1) * cols].fill(0.0);
            zeroed.layers[k].bias[neuron] = 0.0;
            let next = &mut zeroed.layers[k + 1].terms[0].weights;
            for r in 0..next.rows {
                *next.get_mut(r, neuron) = 0.0;
            }
        }
    }
    let reread = read(&write(&pruned, &ExportFormat::Float64).unwrap()).unwrap();
    assert_eq!(reread.kept_neurons, pruned.kept_neurons);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for _ in 0..100 {
        let x = [rng.gen_range(0.0..60000.0), rng.gen_range(-3.0..3.0), rng.gen_range(-3.0..3.0), rng.gen_range(100.0..1200.0), rng.gen_range(0.0..1200.0)];
        let (a, b) = (reread.eval(&x), zeroed.eval(&x));
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() <= 1e-12 * (1.0 + u.abs()), "{u} vs {v}");
        }
    }
}

#[test]
fn unstructured_global_pruning_reaches_the_fraction() {
    let net = model("mnist/mnist_relu_3_100.nnet");
    let (pruned, report) = prune_unstructured(&net, 0.6, PruneScope::Global).unwrap();
    assert!(report.sparsity_after >= 0.6 && report.sparsity_after < 0.6 + 1e-3, "{}", report.sparsity_after);
    assert_eq!(pruned.parameter_count(), net.parameter_count());
}
