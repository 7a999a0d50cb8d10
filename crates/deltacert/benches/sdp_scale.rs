//! The SDP at real sizes (not a test: prints a table). For every case:
//! lifted dimension, QC set, solver, seconds, the SDP's own checked bound,
//! one propagation pass, the observed lower bound.
//!
//! Sections (first argument, default all): `paper` (the seed paper's pairs,
//! interior point and first order), `random` (2 -> w -> w -> 1 ReLU networks
//! against their `fixed:4` copies on [-1, 1]^2, w = 20, 50, 100, 200),
//! `acas` (ACAS Xu 1_1 against its float16 copy, properties 3 and 4),
//! `mnist` (MNIST 3x100 against float16 on test images 0..4, +-3/255 and
//! +-8/255). Second argument: the time limit per case in seconds (default 60;
//! MNIST gets twice it).
//!
//! `DELTACERT_SPLIT=1` adds a row per case: `auto` (propagation and input
//! splitting) with the same time limit, to show where the SDP pays.
//! `DELTACERT_SOLVES=1` prints every solve (objective, steps, seconds,
//! checked value) to standard error.
//! `DELTACERT_QCS` fixes the QC set (as `--qcs`: `default`,
//! `default+neighbours:4`, ...; default: `auto`).
//! `DELTACERT_NORM=l2` bounds `||Delta||_2` instead of `max_j |Delta_j|`
//! (every column: SDP, one pass, lower bound).
//!
//! Run: `cargo bench -p deltacert --bench sdp_scale -- [SECTION] [SECONDS]`.

use deltacert::activation::Activation;
use deltacert::attack::{attack, AttackSettings};
use deltacert::compress::{quantize, QuantScheme};
use deltacert::input_set::InputSet;
use deltacert::io::read_model;
use deltacert::network::random::random_mlp;
use deltacert::network::Network;
use deltacert::problem::{prepare, InputCoupling, Norm};
use deltacert::bound::{bound, BoundRequest, Method};
use deltacert::sdp::qc::QcOptions;
use deltacert::sdp::{certify, QcChoice, SdpSettings, SdpSolver};
use rand::SeedableRng;
use std::path::Path;
use std::time::Instant;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The norm of every row: `DELTACERT_NORM` (`linf` or `l2`, default `linf`).
fn norm() -> Norm {
    match std::env::var("DELTACERT_NORM").as_deref() {
        Ok("l2") => Norm::L2,
        Ok("linf") | Err(_) => Norm::Linf,
        Ok(other) => panic!("DELTACERT_NORM must be linf or l2, not {other}"),
    }
}

fn row(case: &str, f: &Network, g: &Network, set: &InputSet, solvers: &[SdpSolver], seconds: f64) {
    let norm = norm();
    let prepared = prepare(f, g, set, &InputCoupling::Same).expect("valid pair");
    let witness = attack(f, g, set, &InputCoupling::Same, norm, &AttackSettings::default());
    let propagation = bound(f, g, &BoundRequest::new(set.clone(), InputCoupling::Same, norm, Method::PROPAGATE)).expect("valid pair").certified_bound.unwrap_or(f64::INFINITY);
    // where the SDP pays: splitting (auto) with the same time, for comparison
    if std::env::var("DELTACERT_SPLIT").is_ok_and(|v| v == "1") {
        let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, norm, Method::AUTO);
        request.time_limit = Some(seconds);
        let start = Instant::now();
        let split = bound(f, g, &request).expect("valid pair").certified_bound.unwrap_or(f64::INFINITY);
        println!("| {case} | - | - | auto (propagation, splitting) | {:.1} | {split:.5} | {propagation:.5} | {:.2} | - |", start.elapsed().as_secs_f64(), propagation / split);
    }
    for &solver in solvers {
        let start = Instant::now();
        let qcs = std::env::var("DELTACERT_QCS").ok().filter(|t| t != "auto").map(|t| QcChoice::Fixed(QcOptions::parse(&t).expect("DELTACERT_QCS"))).unwrap_or(QcChoice::Auto);
        let result = certify(&prepared, norm, &SdpSettings { qcs, solver, time_limit: Some(seconds), max_dimension: 100, ..SdpSettings::default() });
        let elapsed = start.elapsed().as_secs_f64();
        let qcs = format!("{:?}", result.qc_options).replace("QcOptions ", "");
        let (certified, versus) = match result.bound {
            Some(b) => (format!("{b:.5}"), format!("{:.2}", propagation / b)),
            None => (format!("none ({})", result.solves.iter().find_map(|s| s.refusal.clone()).unwrap_or_default()), "-".into()),
        };
        println!("| {case} | {} | {qcs} | {:?} | {elapsed:.1} | {certified} | {propagation:.5} | {versus} | {:.5} |", result.dim, result.solver, witness.error);
        if std::env::var("DELTACERT_SOLVES").is_ok_and(|v| v == "1") {
            for solve in &result.solves {
                eprintln!("  {}: {} steps, {:.1} s, checked {:?}, solver {:.5e}{}", solve.objective, solve.iterations, solve.seconds, solve.checked.as_ref().map(|c| c.value), solve.solver_gamma, solve.refusal.as_ref().map(|r| format!(", refused: {r}")).unwrap_or_default());
            }
        }
    }
}

fn main() {
    deltacert::sdp::solve::set_blas_threads(1);
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let section = args.first().cloned().unwrap_or_else(|| "all".into());
    let seconds: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(60.0);
    let wanted = |name: &str| section == "all" || section == name;
    println!("| case | d | QC set | solver | s | SDP bound | one pass | one pass / SDP | lower |");
    println!("|---|---|---|---|---|---|---|---|---|");
    if wanted("paper") {
        let paper = fixtures().join("paper");
        for (a, b) in [("paper_quant_orig", "paper_quant_q"), ("paper_prune_orig", "paper_prune_pruned"), ("paper_quant3d_orig", "paper_quant3d_q"), ("paper_cmp_nn1", "paper_cmp_nn2")] {
            let f = read_model(&paper.join(format!("{a}.onnx"))).expect("paper pair");
            let g = read_model(&paper.join(format!("{b}.onnx"))).expect("paper pair");
            let set = InputSet::uniform_box(f.input_dim, -1.0, 1.0).expect("box");
            row(&format!("paper {a}"), &f, &g, &set, &[SdpSolver::InteriorPoint, SdpSolver::FirstOrder], seconds);
        }
    }
    if wanted("random") {
        for width in [20usize, 50, 100, 200] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(width as u64);
            let f = random_mlp(&mut rng, 2, &[width, width], 1, Activation::Relu);
            let (g, _) = quantize(&f, QuantScheme::FixedTruncate { fraction_bits: 4 }).expect("quantise");
            let set = InputSet::uniform_box(2, -1.0, 1.0).expect("box");
            let solvers: &[SdpSolver] = if width <= 20 { &[SdpSolver::InteriorPoint, SdpSolver::FirstOrder] } else { &[SdpSolver::FirstOrder] };
            row(&format!("random 2-{width}-{width}-1, fixed:4"), &f, &g, &set, solvers, seconds);
        }
    }
    if wanted("acas") {
        let dir = std::env::var("DELTACERT_ACAS_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| fixtures().join("acasxu"));
        let f = read_model(&dir.join("ACASXU_run2a_1_1_batch_2000.nnet")).expect("ACAS Xu 1_1");
        let g = read_model(&dir.join("ACASXU_run2a_1_1_batch_2000_16bit.nnet")).expect("ACAS Xu 1_1 float16");
        for (property, lower, upper) in [(3, [1500.0, -0.06, 3.10, 980.0, 960.0], [1800.0, 0.06, 3.141592, 1200.0, 1200.0]), (4, [1500.0, -0.06, 0.0, 1000.0, 700.0], [1800.0, 0.06, 0.0, 1200.0, 800.0])] {
            let set = InputSet::from_box(lower.to_vec(), upper.to_vec()).expect("box");
            row(&format!("ACAS Xu 1_1 property {property}"), &f, &g, &set, &[SdpSolver::FirstOrder], seconds);
        }
    }
    if wanted("mnist") {
        let dir = fixtures().join("mnist");
        let f = read_model(&dir.join("mnist_relu_3_100.nnet")).expect("MNIST network");
        let g = read_model(&dir.join("mnist_relu_3_100_16bit.nnet")).expect("MNIST float16 copy");
        let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("test_images_100.json")).expect("images")).expect("JSON");
        for p in [3.0, 8.0] {
            for (index, image) in data["images"].as_array().expect("images").iter().take(5).enumerate() {
                let pixels: Vec<f64> = image.as_array().expect("row").iter().map(|v| v.as_f64().expect("pixel") / 255.0).collect();
                let lower: Vec<f64> = pixels.iter().map(|v| (v - p / 255.0).max(0.0)).collect();
                let upper: Vec<f64> = pixels.iter().map(|v| (v + p / 255.0).min(1.0)).collect();
                let set = InputSet::from_box(lower, upper).expect("box");
                row(&format!("MNIST image {index}, +-{p}/255"), &f, &g, &set, &[SdpSolver::FirstOrder], 2.0 * seconds);
            }
        }
    }
}
