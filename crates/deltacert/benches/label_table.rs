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
//! Copies: the float16 copy shipped with the network, and deltacert's own
//! int8 weight quantisation (per tensor and per channel). Every row runs the
//! library's full pipeline (reading, attack, bound), as the command line does.
//!
//! Run: `cargo bench -p deltacert --bench label_table [-- IMAGES [LIMIT]]`
//! (default: images 0..50 and 10 s). Images 0..49 are the tuning set.

use deltacert::bound::{bound, BoundRequest, Method};
use deltacert::compress::{quantize, QuantScheme};
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let images: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(50).min(50);
    let limit: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/mnist");
    let f = read_model(&fixtures.join("mnist_relu_3_100.nnet")).expect("MNIST network");
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures.join("test_images_100.json")).expect("images")).expect("JSON");
    let pixels: Vec<Vec<f64>> = data["images"].as_array().expect("images").iter().take(images).map(|row| row.as_array().expect("row").iter().map(|v| v.as_f64().expect("pixel") / 255.0).collect()).collect();
    let copies: Vec<(&str, Network)> = vec![
        ("float16", read_model(&fixtures.join("mnist_relu_3_100_16bit.nnet")).expect("float16 copy")),
        ("int8 weights, per tensor", quantize(&f, QuantScheme::parse("int8", false).expect("scheme")).expect("quantise").0),
        ("int8 weights, per channel", quantize(&f, QuantScheme::parse("int8", true).expect("scheme")).expect("quantise").0),
    ];
    println!("MNIST 3x100, images 0..{images}, top-1 capped at {limit} s per image\n");
    println!("| copy | p | certified (median) | lower (median) | ratio (median) | s (median) | top-1 proven / cex / unknown | top-1 s (median) |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, g) in &copies {
        for p in [1.0, 2.0, 3.0, 5.0, 8.0] {
            let (mut certified, mut lower, mut ratio, mut seconds, mut top1_seconds) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut answers = [0usize; 3];
            for x in &pixels {
                let lo: Vec<f64> = x.iter().map(|v| (v - p / 255.0).max(0.0)).collect();
                let hi: Vec<f64> = x.iter().map(|v| (v + p / 255.0).min(1.0)).collect();
                let set = InputSet::from_box(lo, hi).expect("box");
                let start = Instant::now();
                let report = bound(&f, g, &BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, Method::PROPAGATE)).expect("bound");
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
                let labels = decide_labels(&f, g, &request).expect("labels");
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
