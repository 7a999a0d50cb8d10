//! Real classifiers and their compressed copies (not a test: prints a table).
//!
//! MNIST 3x100 (`tests/fixtures/mnist`) against compressed copies, on boxes of
//! `+-p/255` around test images (clipped to [0, 1]) for p = 1, 2, 3, 5, 8:
//! - the certified `max_j |f_j - g_j|` of one propagation pass, the lower
//!   bound (re-evaluated witness), their ratio and the seconds (medians over
//!   the images);
//! - `--top1` (does the label change?): proven / counterexample / unknown
//!   counts and the median seconds, each decision capped at `LIMIT` seconds.
//!
//! Copies: the float16 copy shipped with the network, deltacert's own int8
//! weight quantisation (per tensor and per channel; and per tensor with the
//! hidden activations quantised to uint8 by `compress --activations`,
//! calibrated on test images 0..49), and onnxruntime's static
//! int8 quantisation (QDQ: uint8 activations, int8 weights, per tensor and per
//! channel), made at run time by `benches/ort_quantize.py` from the network
//! with its input normalisation folded into the first layer, calibrated on
//! test images 0..49 (needs `DELTACERT_PYTHON` or a `python3` with onnx and
//! onnxruntime; otherwise those rows are skipped with a message). Every row
//! runs the library's full pipeline (reading, attack, bound), as the command
//! line does.
//!
//! Run: `cargo bench -p deltacert --bench label_table [-- IMAGES [LIMIT [NAME]]]`
//! (`NAME`: only the copies whose name contains it, e.g. `onnxruntime`)
//! (default: images 0..50 and 10 s). Images 0..49 are the tuning set.

use deltacert::bound::{bound, BoundRequest, Method};
use deltacert::compress::{quantize, quantize_activations, QuantScheme};
use deltacert::input_set::InputSet;
use deltacert::io::read_model;
use deltacert::label::{decide_labels, LabelAnswer, LabelRequest};
use deltacert::network::Network;
use deltacert::problem::{InputCoupling, Norm};
use std::path::Path;
use std::time::Instant;

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { 0.5 * (values[n / 2 - 1] + values[n / 2]) }
}

/// onnxruntime's static int8 copies of `f` (per tensor, per channel), or
/// none with a message when Python or onnxruntime is missing.
fn onnxruntime_copies(f: &Network, data: &serde_json::Value) -> Vec<(&'static str, Network, Network)> {
    let python = std::env::var("DELTACERT_PYTHON").unwrap_or_else(|_| "python3".into());
    let dir = std::env::temp_dir().join(format!("deltacert-label-table-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let folded = f.with_transform_folded();
    let bytes = deltacert::io::onnx::write(&folded, &deltacert::io::onnx::ExportFormat::Float32).expect("float ONNX");
    std::fs::write(dir.join("float.onnx"), bytes).expect("write float model");
    let calibration: Vec<Vec<f64>> = data["images"].as_array().expect("images").iter().take(50).map(|row| row.as_array().expect("row").iter().map(|v| v.as_f64().expect("pixel") / 255.0).collect()).collect();
    std::fs::write(dir.join("calibration.json"), serde_json::to_string(&calibration).expect("JSON")).expect("write calibration");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ort_quantize.py");
    let (per_tensor, per_channel) = (dir.join("static_per_tensor.onnx"), dir.join("static_per_channel.onnx"));
    let status = std::process::Command::new(&python).arg(&script).arg(dir.join("float.onnx")).arg(dir.join("calibration.json")).arg(&per_tensor).arg(&per_channel).status();
    if !status.is_ok_and(|s| s.success()) {
        println!("(onnxruntime static int8 rows skipped: {python} with onnx and onnxruntime is needed)\n");
        return Vec::new();
    }
    let mut copies = Vec::new();
    for (name, path) in [("onnxruntime static int8, per tensor", per_tensor), ("onnxruntime static int8, per channel", per_channel)] {
        match read_model(&path) {
            // the reference is the float model onnxruntime quantised: f with its normalisation folded in
            Ok(g) => copies.push((name, folded.clone(), g)),
            Err(e) => println!("({name} skipped: {e})\n"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    copies
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let images: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(50).min(50);
    let limit: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/mnist");
    let f = read_model(&fixtures.join("mnist_relu_3_100.nnet")).expect("MNIST network");
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures.join("test_images_100.json")).expect("images")).expect("JSON");
    let pixels: Vec<Vec<f64>> = data["images"].as_array().expect("images").iter().take(images).map(|row| row.as_array().expect("row").iter().map(|v| v.as_f64().expect("pixel") / 255.0).collect()).collect();
    // an optional third argument keeps only the copies whose name contains it
    let filter = args.get(2).cloned().unwrap_or_default();
    let calibration: Vec<Vec<f64>> = data["images"].as_array().expect("images").iter().take(50).map(|row| row.as_array().expect("row").iter().map(|v| v.as_f64().expect("pixel") / 255.0).collect()).collect();
    let int8 = quantize(&f, QuantScheme::parse("int8", false).expect("scheme")).expect("quantise").0;
    let mut copies: Vec<(&str, Network, Network)> = vec![
        ("float16", f.clone(), read_model(&fixtures.join("mnist_relu_3_100_16bit.nnet")).expect("float16 copy")),
        ("int8 weights, per tensor", f.clone(), int8.clone()),
        ("int8 weights, per channel", f.clone(), quantize(&f, QuantScheme::parse("int8", true).expect("scheme")).expect("quantise").0),
        ("deltacert int8 weights + uint8 activations (compress --activations)", f.clone(), quantize_activations(&int8, &calibration).expect("activations").0),
    ];
    if "onnxruntime".contains(filter.as_str()) || filter.contains("onnxruntime") {
        copies.extend(onnxruntime_copies(&f, &data));
    }
    copies.retain(|(name, _, _)| name.contains(filter.as_str()));
    println!("MNIST 3x100, images 0..{images}, top-1 capped at {limit} s per image\n");
    println!("| copy | p | certified (median) | lower (median) | ratio (median) | s (median) | top-1 proven / cex / unknown | top-1 s (median) |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, f, g) in &copies {
        for p in [1.0, 2.0, 3.0, 5.0, 8.0] {
            let (mut certified, mut lower, mut ratio, mut seconds, mut top1_seconds) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut answers = [0usize; 3];
            for x in &pixels {
                let lo: Vec<f64> = x.iter().map(|v| (v - p / 255.0).max(0.0)).collect();
                let hi: Vec<f64> = x.iter().map(|v| (v + p / 255.0).min(1.0)).collect();
                let set = InputSet::from_box(lo, hi).expect("box");
                let start = Instant::now();
                // one pass: fixed relaxation slopes (benches/slopes_table.rs compares optimised ones)
                let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, Method::PROPAGATE);
                request.slopes = deltacert::propagation::SlopeOptimisation::NONE;
                let report = bound(f, g, &request).expect("bound");
                seconds.push(start.elapsed().as_secs_f64());
                let c = report.certified_bound.unwrap_or(f64::INFINITY);
                certified.push(c);
                lower.push(report.lower_bound);
                if report.lower_bound > 0.0 {
                    ratio.push(c / report.lower_bound);
                }
                let mut request = LabelRequest::top1(set);
                request.time_limit = Some(limit);
                let start = Instant::now();
                let labels = decide_labels(f, g, &request).expect("labels");
                top1_seconds.push(start.elapsed().as_secs_f64());
                answers[match labels.answer {
                    LabelAnswer::Proven => 0,
                    LabelAnswer::Counterexample => 1,
                    LabelAnswer::Unknown => 2,
                }] += 1;
            }
            println!(
                "| {name} | {p} | {:.3e} | {:.3e} | {:.2} | {:.2} | {} / {} / {} | {:.2} |",
                median(&mut certified),
                median(&mut lower),
                median(&mut ratio),
                median(&mut seconds),
                answers[0],
                answers[1],
                answers[2],
                median(&mut top1_seconds)
            );
        }
    }
}
