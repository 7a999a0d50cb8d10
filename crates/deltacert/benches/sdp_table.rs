//! SDP cost and tightness by network width (not a test: prints a table).
//!
//! Reference: a seeded random 2 -> w -> w -> 1 ReLU network on [-1, 1]^2;
//! compressed: its fixed-point copy (`fixed:4`, weights and biases truncated to
//! multiples of 1/16). For each width and QC set: lifted dimension, number of
//! constraints, wall time of the two linear-objective solves (run in
//! parallel), certified bound, observed lower bound, ratio.
//!
//! Run: `cargo bench -p deltacert --bench sdp_table` (add `-- 10 20` to pick
//! widths; `DELTACERT_BENCH_TIMEOUT` sets the per-solve limit in seconds,
//! default 600).

use deltacert::activation::Activation;
use deltacert::compress::{quantize, QuantScheme};
use deltacert::input_set::InputSet;
use deltacert::network::random::random_mlp;
use deltacert::problem::InputCoupling;
use deltacert::sdp::qc::QcOptions;
use deltacert::sdp::{certify, QcChoice, SdpSettings, ALL_PAIRS_MAX_DIM};
use deltacert::problem::{prepare, Norm};
use deltacert::attack::{attack, AttackSettings};
use rand::SeedableRng;
use std::time::Instant;

fn main() {
    deltacert::sdp::solve::set_blas_threads(1);
    let widths: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let widths = if widths.is_empty() { vec![10, 20, 50, 100] } else { widths };
    let timeout: f64 = std::env::var("DELTACERT_BENCH_TIMEOUT").ok().and_then(|v| v.parse().ok()).unwrap_or(600.0);
    println!("| width | QC set | d | constraints | unstable | seconds | certified | lower | ratio |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for &width in &widths {
        let mut rng = rand::rngs::StdRng::seed_from_u64(width as u64);
        let f = random_mlp(&mut rng, 2, &[width, width], 1, Activation::Relu);
        let (g, _) = quantize(&f, QuantScheme::FixedTruncate { fraction_bits: 4 }).unwrap();
        let set = InputSet::uniform_box(2, -1.0, 1.0).unwrap();
        let witness = attack(&f, &g, &set, &InputCoupling::Same, Norm::Linf, &AttackSettings::default());
        let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
        let mut default_run = None;
        for (name, qcs) in [("per-neuron", QcChoice::Fixed(QcOptions::PER_NEURON)), ("default", QcChoice::Fixed(QcOptions::DEFAULT)), ("auto", QcChoice::Auto)] {
            // above ALL_PAIRS_MAX_DIM `auto` is the default set: do not solve it twice
            let (result, seconds) = match default_run.take() {
                Some((result, seconds)) if name == "auto" => (result, seconds),
                _ => {
                    let start = Instant::now();
                    let result = certify(&prepared, Norm::Linf, &SdpSettings { qcs, time_limit: Some(timeout), ..SdpSettings::default() });
                    (result, start.elapsed().as_secs_f64())
                }
            };
            if name == "default" && result.dim > ALL_PAIRS_MAX_DIM {
                default_run = Some((result.clone(), seconds));
            }
            let name = if name == "auto" && result.qc_options == QcOptions::DEFAULT { "auto (= default)" } else { name };
            let constraints: usize = result.constraints.values().sum();
            let (certified, ratio) = match result.bound {
                Some(b) => (format!("{b:.6}"), format!("{:.3}", b / witness.error)),
                None => {
                    let status = result.solves.iter().map(|s| s.solver_status.clone()).collect::<Vec<_>>().join("/");
                    (format!("none ({status})"), "-".into())
                }
            };
            println!(
                "| {width} | {name} | {} | {constraints} | {} | {seconds:.2} | {certified} | {:.6} | {ratio} |",
                result.dim, result.variable_neurons, witness.error
            );
        }
    }
}
