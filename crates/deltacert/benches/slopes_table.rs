//! Optimised relaxation slopes against one pass (not a test: prints tables).
//!
//! Differential propagation with the fixed relaxations (one pass) and with
//! optimised slopes (docs/method.md §8, "Optimised slopes") in each scope
//! (`output`, `networks`, `all`), on
//! - `mnist`: MNIST 3x100 vs its float16 copy (`tests/fixtures/mnist`), boxes
//!   of `+-p/255` around test images 0..9 (clipped to [0, 1]), p = 3, 8, 13:
//!   medians over the images of the certified `max_j |f_j - g_j|`, its ratio
//!   to one pass, its ratio to the observed error (the lower bound of
//!   `bound --method propagate`), and the seconds of the propagation alone;
//! - `int8`: the same against the int8 copy (`compress --quantize int8`,
//!   per tensor);
//! - `acas`: ACAS Xu 1_1 and 3_7 vs their float16 copies, properties 1, 3
//!   and 4, the same propagation over the whole property box;
//! - `decide`: `auto --eps 0.05` on those pairs (full pipeline, attack
//!   included): fixed slopes, optimised slopes on the whole set (the
//!   default), and optimised slopes on every piece of the split too.
//!
//! ACAS networks come from `tests/fixtures/acasxu` or the directory in
//! `DELTACERT_ACAS_DIR` (`--pairs 1_1,2_4` picks pairs there). Run: `cargo
//! bench -p deltacert --bench slopes_table [-- mnist int8 acas decide]
//! [--iterations N,M] [--pairs I_J,...]`.

use deltacert::input_set::InputSet;
use deltacert::io::read_model;
use deltacert::network::Network;
use deltacert::problem::{prepare, InputCoupling};
use deltacert::propagation::{DifferentialPair, DifferentialRegion, SlopeOptimisation, SlopeScope};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { values[n / 2] } else { 0.5 * (values[n / 2 - 1] + values[n / 2]) }
}

/// The certified linf bound of one propagation and its seconds.
fn one(f: &Network, g: &Network, set: &InputSet, slopes: SlopeOptimisation) -> (f64, f64) {
    let prepared = prepare(f, g, set, &InputCoupling::Same).expect("valid problem");
    let start = Instant::now();
    let pair = DifferentialPair::new(&prepared.reference, &prepared.compressed).with_slopes(slopes);
    let region = DifferentialRegion::same_input(prepared.set.lower().to_vec(), prepared.set.upper().to_vec());
    let bounds = pair.bounds_within(&region, None);
    let seconds = start.elapsed().as_secs_f64();
    (bounds.per_output_abs().into_iter().fold(0.0, f64::max), seconds)
}

fn settings(iterations: &[usize]) -> Vec<(String, SlopeOptimisation)> {
    let mut all = vec![("one pass".to_string(), SlopeOptimisation::NONE)];
    for scope in [SlopeScope::Output, SlopeScope::Networks, SlopeScope::All] {
        for &n in iterations {
            all.push((format!("{scope:?}, {n} steps").to_lowercase(), SlopeOptimisation::new(n, scope)));
        }
    }
    all
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn mnist_section(iterations: &[usize], int8: bool) {
    use deltacert::bound::{bound, BoundRequest, Method};
    use deltacert::compress::{quantize, QuantScheme};
    use deltacert::problem::Norm;
    let dir = fixtures().join("mnist");
    let f = read_model(&dir.join("mnist_relu_3_100.nnet")).expect("fixture");
    let (g, copy) = if int8 {
        (quantize(&f, QuantScheme::parse("int8", false).expect("scheme")).expect("quantise").0, "its int8 copy (compress --quantize int8, per tensor)")
    } else {
        (read_model(&dir.join("mnist_relu_3_100_16bit.nnet")).expect("fixture"), "float16")
    };
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("test_images_100.json")).expect("images")).expect("JSON");
    let images: Vec<Vec<f64>> = data["images"].as_array().expect("images").iter().take(10).map(|row| row.as_array().expect("row").iter().map(|v| v.as_f64().expect("pixel") / 255.0).collect()).collect();
    println!("\n## MNIST 3x100 vs {copy}, boxes +-p/255 around test images 0..9 (medians over the 10 images)\n");
    println!("| p | setting | certified | ratio to one pass | certified / observed | seconds (propagation) |");
    println!("|---|---|---|---|---|---|");
    for p in [3.0, 8.0, 13.0] {
        let sets: Vec<InputSet> = images
            .iter()
            .map(|x| InputSet::from_box(x.iter().map(|v| (v - p / 255.0).max(0.0)).collect(), x.iter().map(|v| (v + p / 255.0).min(1.0)).collect()).expect("box"))
            .collect();
        // the observed error (10,000 samples and gradient ascent, re-evaluated rigorously) per image
        let observed: Vec<f64> = sets
            .iter()
            .map(|set| {
                let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, Method::PROPAGATE);
                request.slopes = SlopeOptimisation::NONE;
                bound(&f, &g, &request).expect("valid").lower_bound
            })
            .collect();
        let mut baseline = Vec::new();
        for (name, slopes) in settings(iterations) {
            let runs: Vec<(f64, f64)> = sets.iter().map(|set| one(&f, &g, set, slopes)).collect();
            if baseline.is_empty() {
                baseline = runs.iter().map(|r| r.0).collect();
            }
            let mut bounds: Vec<f64> = runs.iter().map(|r| r.0).collect();
            let mut ratios: Vec<f64> = runs.iter().zip(&baseline).map(|(r, b)| r.0 / b).collect();
            let mut tightness: Vec<f64> = runs.iter().zip(&observed).map(|(r, o)| r.0 / o).collect();
            let mut seconds: Vec<f64> = runs.iter().map(|r| r.1).collect();
            println!("| {p} | {name} | {:.4e} | {:.4} | {:.2} | {:.3} |", median(&mut bounds), median(&mut ratios), median(&mut tightness), median(&mut seconds));
        }
    }
}

/// The standard ACAS Xu property boxes (physical units).
const PROPERTIES: [(usize, [f64; 5], [f64; 5]); 3] = [
    (1, [55947.691, -3.141592, -3.141592, 1145.0, 0.0], [60760.0, 3.141592, 3.141592, 1200.0, 60.0]),
    (3, [1500.0, -0.06, 3.10, 980.0, 960.0], [1800.0, 0.06, 3.141592, 1200.0, 1200.0]),
    (4, [1500.0, -0.06, 0.0, 1000.0, 700.0], [1800.0, 0.06, 0.0, 1200.0, 800.0]),
];

fn acas_section(iterations: &[usize], pairs: &[String]) {
    let dir = std::env::var("DELTACERT_ACAS_DIR").map(PathBuf::from).unwrap_or_else(|_| fixtures().join("acasxu"));
    println!("\n## ACAS Xu vs float16, one propagation over the property box (no --eps)\n");
    println!("| pair | property | setting | certified | ratio to one pass | seconds |");
    println!("|---|---|---|---|---|---|");
    for name in pairs {
        let read = |suffix: &str| read_model(&dir.join(format!("ACASXU_run2a_{name}_batch_2000{suffix}.nnet")));
        let (Ok(f), Ok(g)) = (read(""), read("_16bit")) else {
            println!("| {name} | missing in {} | | | | |", dir.display());
            continue;
        };
        for (number, lower, upper) in PROPERTIES {
            let set = InputSet::from_box(lower.to_vec(), upper.to_vec()).expect("box");
            let mut baseline = None;
            for (setting, slopes) in settings(iterations) {
                let (bound, seconds) = one(&f, &g, &set, slopes);
                let base = *baseline.get_or_insert(bound);
                println!("| {name} | {number} | {setting} | {bound:.4e} | {:.3} | {seconds:.3} |", bound / base);
            }
        }
    }
}

/// `auto` in decide mode (`--eps 0.05`) on ACAS Xu pairs: fixed slopes,
/// optimised slopes on the whole set only, and on every piece too.
fn decide_section(iterations: usize, pairs: &[String]) {
    use deltacert::bound::{bound, BoundRequest, Method};
    use deltacert::problem::Norm;
    let dir = std::env::var("DELTACERT_ACAS_DIR").map(PathBuf::from).unwrap_or_else(|_| fixtures().join("acasxu"));
    println!("\n## ACAS Xu vs float16, `auto --eps 0.05` (seconds; library call, attack included)\n");
    let variants = [
        ("fixed", SlopeOptimisation::NONE, SlopeOptimisation::NONE),
        ("root", SlopeOptimisation::new(iterations, SlopeScope::Networks), SlopeOptimisation::NONE),
        ("root + pieces", SlopeOptimisation::new(iterations, SlopeScope::Networks), SlopeOptimisation::new(iterations, SlopeScope::Networks)),
    ];
    println!("| pair | property | {} |", variants.iter().map(|v| v.0).collect::<Vec<_>>().join(" | "));
    println!("|---|---|{}", "---|".repeat(variants.len()));
    for name in pairs {
        let read = |suffix: &str| read_model(&dir.join(format!("ACASXU_run2a_{name}_batch_2000{suffix}.nnet")));
        let (Ok(f), Ok(g)) = (read(""), read("_16bit")) else {
            println!("| {name} | missing in {} | |", dir.display());
            continue;
        };
        for (number, lower, upper) in PROPERTIES {
            let set = InputSet::from_box(lower.to_vec(), upper.to_vec()).expect("box");
            let mut row = format!("| {name} | {number} |");
            for (_, root, pieces) in variants {
                let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, Method::AUTO);
                request.eps = Some(0.05);
                request.time_limit = Some(120.0);
                request.slopes = root;
                request.piece_slopes = pieces;
                let report = bound(&f, &g, &request).expect("valid");
                let proven = report.certified_bound.is_some_and(|b| b <= 0.05);
                row += &format!(" {}{:.2} |", if proven { "" } else { "not proven " }, report.seconds);
            }
            println!("{row}");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let iterations: Vec<usize> = args
        .iter()
        .position(|a| a == "--iterations")
        .and_then(|k| args.get(k + 1))
        .map(|list| list.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![deltacert::propagation::DEFAULT_SLOPE_ITERATIONS]);
    let sections: Vec<&String> = args.iter().filter(|a| ["mnist", "int8", "acas", "decide"].contains(&a.as_str())).collect();
    let pairs: Vec<String> = args.iter().position(|a| a == "--pairs").and_then(|k| args.get(k + 1)).map(|list| list.split(',').map(String::from).collect()).unwrap_or_else(|| vec!["1_1".into(), "3_7".into()]);
    let wants = |name: &str| sections.is_empty() || sections.iter().any(|s| s.as_str() == name);
    println!("threads: {}", rayon::current_num_threads());
    if wants("mnist") {
        mnist_section(&iterations, false);
    }
    if wants("int8") {
        mnist_section(&iterations, true);
    }
    if wants("acas") {
        acas_section(&iterations, &pairs);
    }
    if wants("decide") {
        decide_section(iterations.last().copied().unwrap_or(10), &pairs);
    }
}
