//! Tight and fast at scale (not a test: prints tables).
//!
//! Sections (pick with arguments; default all):
//! - `decide`: all 45 ACAS Xu pairs (original vs `_16bit`), properties 1, 3
//!   and 4, `--method auto --eps 0.05`: the decision and its time.
//! - `anytime`: ACAS 1_1, properties 1, 3, 4, no `--eps`: the certified bound
//!   reached with a 10 s and a 60 s budget, next to the lower bound.
//! - `mnist`: MNIST 3x100 vs its 16-bit copy, L-inf balls of radius 0.01 and
//!   0.05 around 5 seeded points of [0, 1]^784: one propagation pass and
//!   `auto` with a 10 s budget.
//! - `branching`: MNIST 3x100 vs its 16-bit copy, boxes +-p/255 (p = 3, 8, 13)
//!   around test images (`DELTACERT_IMAGES`, default `0..10`), `auto` with
//!   each splitting rule (input, neuron, mixed) and a budget of
//!   `DELTACERT_BUDGET` seconds (default 10): medians of the certified bound,
//!   the lower bound (the best of all runs on the image), their ratio, the
//!   seconds and the splits (`DELTACERT_RULES=neuron` picks rules,
//!   `DELTACERT_RADII=8,13` the values of `p`; a rule written `neuron:off`
//!   runs without phase programs, the baseline of the trees on the whole
//!   set's objectives); every image's row goes to stderr.
//! - `milp`: MNIST 3x100 vs its 16-bit copy, boxes +-p/255 around test images
//!   (`DELTACERT_IMAGES`, default `0..3`; `DELTACERT_RADII`, default `3`):
//!   the MILP of the objective with the largest propagation bound, solved
//!   with and without the differential propagation's rows, each with a
//!   limit of `DELTACERT_BUDGET` seconds (default 60): status, seconds,
//!   HiGHS's bound and the incumbent's value, beside propagation's bound.
//! - `lower`: MNIST 3x100 vs its 16-bit copy, boxes +-p/255 around test
//!   images (`DELTACERT_IMAGES`, default `0..10`; `DELTACERT_RADII`, default
//!   `8`): the lower-bound search (`attack`) with its default effort (16
//!   starts of 100 steps, two seeds), 16 times the starts, 64 starts of 1,000
//!   steps, and 1,024 starts of 300 steps: the error found and the seconds,
//!   to see whether the lower bound is still climbing with effort.
//! - `terms`: MNIST 3x100 against copies of it with one layer's weights and
//!   biases taken from the 16-bit copy, and against the whole 16-bit copy,
//!   boxes +-p/255 around test images (`DELTACERT_IMAGES`, default `0..10`;
//!   `DELTACERT_RADII`, default `8,13`), `auto` with the neuron rule and a
//!   budget of `DELTACERT_BUDGET` seconds (default 10): medians of the
//!   certified bound, the lower bound and their ratio per pair, to see which
//!   layer's rounding the bound is loose on.
//!
//! - `inputs`: random ReLU pairs (`n` inputs, hidden widths 16-16, 32-32 and
//!   24-24-24, two outputs, seeds 1 and 2) against their `fixed:4` copies on
//!   `[-0.5, 0.5]^n`, `n` = 5, 8, 10, 20, 50, 100: `auto` with a budget of
//!   `DELTACERT_BUDGET` seconds (default 10), and `auto` without the
//!   first-order SDP (the interior-point solver asked for, which `auto`
//!   runs only up to lifted dimension 48), each row's certified bound over
//!   the larger lower bound of the two runs.
//!
//! `decide` reads `DELTACERT_EPS` (default 0.05), `DELTACERT_BRANCHING`
//! (input, neuron, mixed, auto; default auto) and `DELTACERT_PHASE_PROGRAMS`
//! (`0`: splitting without phase programs, the baseline; default on).
//!
//! Every row runs the library's full `bound` pipeline (attack included), as
//! `deltacert bound` does. Run: `cargo bench -p deltacert --bench scale_table
//! [-- decide anytime mnist]`. The 45 ACAS pairs are read from
//! `DELTACERT_ACAS_DIR` (a directory holding `ACASXU_run2a_I_J_batch_2000.nnet`
//! and `..._16bit.nnet` for all 45 networks; default `tests/fixtures/acasxu`,
//! which ships two of them, so the others are skipped with a message);
//! `DELTACERT_BENCH_LIMIT` caps each decision (seconds, default 120).
//! `DELTACERT_ACAS_PAIRS` (e.g. `2_5,4_9`) and `DELTACERT_ACAS_PROPERTIES`
//! (e.g. `1`) restrict `decide` to a subset for quick comparisons.

use deltacert::bound::{bound, BoundReport, BoundRequest, Method};
use deltacert::branch_and_bound::{Branching, SplitOutcome};
use deltacert::input_set::InputSet;
use deltacert::io::read_model;
use deltacert::network::Network;
use deltacert::problem::InputCoupling;
use deltacert::problem::Norm;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The standard ACAS Xu property boxes (physical units).
const PROPERTIES: [(usize, [f64; 5], [f64; 5]); 3] = [
    (1, [55947.691, -3.141592, -3.141592, 1145.0, 0.0], [60760.0, 3.141592, 3.141592, 1200.0, 60.0]),
    (3, [1500.0, -0.06, 3.10, 980.0, 960.0], [1800.0, 0.06, 3.141592, 1200.0, 1200.0]),
    (4, [1500.0, -0.06, 0.0, 1000.0, 700.0], [1800.0, 0.06, 0.0, 1200.0, 800.0]),
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn acas_pair(dir: &Path, name: &str) -> Option<(Network, Network)> {
    let f = read_model(&dir.join(format!("ACASXU_run2a_{name}_batch_2000.nnet"))).ok()?;
    let g = read_model(&dir.join(format!("ACASXU_run2a_{name}_batch_2000_16bit.nnet"))).ok()?;
    Some((f, g))
}

fn run(f: &Network, g: &Network, set: InputSet, method: Method, eps: Option<f64>, seconds: f64) -> BoundReport {
    run_with(f, g, set, method, eps, seconds, branching_from_env())
}

/// `DELTACERT_BRANCHING`, default auto.
fn branching_from_env() -> Branching {
    std::env::var("DELTACERT_BRANCHING").ok().map(|v| Branching::parse(&v).expect("DELTACERT_BRANCHING")).unwrap_or_default()
}

fn run_with(f: &Network, g: &Network, set: InputSet, method: Method, eps: Option<f64>, seconds: f64, branching: Branching) -> BoundReport {
    run_with_programs(f, g, set, method, eps, seconds, branching, std::env::var("DELTACERT_PHASE_PROGRAMS").map_or(true, |v| v != "0"))
}

#[allow(clippy::too_many_arguments)]
fn run_with_programs(f: &Network, g: &Network, set: InputSet, method: Method, eps: Option<f64>, seconds: f64, branching: Branching, phase_programs: bool) -> BoundReport {
    let mut request = BoundRequest::new(set, InputCoupling::Same, Norm::Linf, method);
    request.branching = branching;
    request.phase_programs = phase_programs;
    if method == Method::PROPAGATE {
        // the tables' "one pass": fixed relaxation slopes (benches/slopes_table.rs compares)
        request.slopes = deltacert::propagation::SlopeOptimisation::NONE;
    }
    request.eps = eps;
    request.time_limit = Some(seconds);
    bound(f, g, &request).expect("valid benchmark input")
}

fn decision(report: &BoundReport, eps: f64) -> &'static str {
    match report.certified_bound {
        Some(b) if b <= eps => "proven",
        _ if report.lower_bound > eps => "counterexample",
        _ => "timeout",
    }
}

fn decide_section(limit: f64) {
    let eps: f64 = std::env::var("DELTACERT_EPS").ok().and_then(|v| v.parse().ok()).unwrap_or(0.05);
    let dir = std::env::var("DELTACERT_ACAS_DIR").map(PathBuf::from).unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/acasxu"));
    let phase_programs = std::env::var("DELTACERT_PHASE_PROGRAMS").map_or("on", |v| if v == "0" { "off" } else { "on" });
    println!("\n## ACAS Xu, original vs 16-bit, --eps {eps} (limit {limit} s per decision, branching {:?}, phase programs {phase_programs})\n", branching_from_env());
    println!("| pair | property 1 | s | property 3 | s | property 4 | s |");
    println!("|---|---|---|---|---|---|---|");
    let list = |name: &str| std::env::var(name).ok().map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>());
    let only_pairs = list("DELTACERT_ACAS_PAIRS");
    let only_properties = list("DELTACERT_ACAS_PROPERTIES");
    let mut totals = [0.0f64; 3];
    let mut proven = [0usize; 3];
    let mut pairs = 0;
    let start = Instant::now();
    for i in 1..=5 {
        for j in 1..=9 {
            let name = format!("{i}_{j}");
            if only_pairs.as_ref().is_some_and(|p| !p.contains(&name)) {
                continue;
            }
            let Some((f, g)) = acas_pair(&dir, &name) else {
                println!("| {name} | missing in {} | | | | | |", dir.display());
                continue;
            };
            pairs += 1;
            let mut row = format!("| {name} |");
            for (p, (number, lower, upper)) in PROPERTIES.iter().enumerate() {
                if only_properties.as_ref().is_some_and(|l| !l.contains(&number.to_string())) {
                    row += " skipped | |";
                    continue;
                }
                let set = InputSet::from_box(lower.to_vec(), upper.to_vec()).expect("valid box");
                let report = run(&f, &g, set, Method::AUTO, Some(eps), limit);
                totals[p] += report.seconds;
                let d = decision(&report, eps);
                proven[p] += usize::from(d == "proven");
                row += &format!(" {d} | {:.2} |", report.seconds);
                let pieces = report.details.get::<deltacert::branch_and_bound::SplitOutcome>("split").map_or(0, |s| s.pieces_bounded);
                eprintln!("{name} property {number}: {:.2} s, {pieces} pieces", report.seconds);
            }
            println!("{row}");
        }
    }
    println!("| **total** | {}/{pairs} proven | {:.1} | {}/{pairs} proven | {:.1} | {}/{pairs} proven | {:.1} |", proven[0], totals[0], proven[1], totals[1], proven[2], totals[2]);
    println!("\nall {} decisions: {:.1} s wall time", 3 * pairs, start.elapsed().as_secs_f64());
}

fn anytime_section() {
    let (f, g) = acas_pair(&fixtures().join("acasxu"), "1_1").expect("fixtures");
    println!("\n## ACAS Xu 1_1 vs 16-bit: certified bound reached by time budget\n");
    println!("| property | one pass | certified 10 s | certified 60 s | lower bound | ratio at 60 s | pieces at 60 s |");
    println!("|---|---|---|---|---|---|---|");
    for (number, lower, upper) in PROPERTIES {
        let set = InputSet::from_box(lower.to_vec(), upper.to_vec()).expect("valid box");
        let one = run(&f, &g, set.clone(), Method::PROPAGATE, None, 0.0);
        let ten = run(&f, &g, set.clone(), Method::AUTO, None, 10.0);
        let sixty = run(&f, &g, set, Method::AUTO, None, 60.0);
        let lower_bound = one.lower_bound.max(ten.lower_bound).max(sixty.lower_bound);
        let c = |r: &BoundReport| r.certified_bound.map_or("none".into(), |b| format!("{b:.3e}"));
        println!(
            "| {number} | {} | {} | {} | {lower_bound:.3e} | {:.2} | {} |",
            c(&one),
            c(&ten),
            c(&sixty),
            sixty.certified_bound.unwrap_or(f64::NAN) / lower_bound,
            sixty.details.get::<deltacert::branch_and_bound::SplitOutcome>("split").map_or(0, |s| s.pieces_bounded)
        );
    }
}

fn mnist_section() {
    let dir = fixtures().join("mnist");
    let f = read_model(&dir.join("mnist_relu_3_100.nnet")).expect("fixture");
    let g = read_model(&dir.join("mnist_relu_3_100_16bit.nnet")).expect("fixture");
    let mut rng = rand::rngs::StdRng::seed_from_u64(784);
    let centers: Vec<Vec<f64>> = (0..5).map(|_| (0..784).map(|_| rng.gen_range(0.0..1.0)).collect()).collect();
    println!("\n## MNIST 3x100 vs 16-bit, L-inf balls around 5 seeded points\n");
    println!("| radius | point | one pass | s | auto (10 s) | s | lower bound | ratio one pass | ratio auto |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for radius in [0.01, 0.05] {
        let mut ratios = Vec::new();
        for (k, center) in centers.iter().enumerate() {
            let set = InputSet::ball(center.clone(), radius, false).expect("valid ball");
            // the ball is clipped to the valid pixel range [0, 1]
            let set = InputSet::from_box(set.lower().iter().map(|v| v.max(0.0)).collect(), set.upper().iter().map(|v| v.min(1.0)).collect()).expect("valid box");
            let one = run(&f, &g, set.clone(), Method::PROPAGATE, None, 0.0);
            let auto = run(&f, &g, set, Method::AUTO, None, 10.0);
            let lower_bound = one.lower_bound.max(auto.lower_bound);
            let (a, b) = (one.certified_bound.unwrap_or(f64::NAN), auto.certified_bound.unwrap_or(f64::NAN));
            ratios.push(b / lower_bound);
            println!("| {radius} | {k} | {a:.3e} | {:.2} | {b:.3e} | {:.2} | {lower_bound:.3e} | {:.2} | {:.2} |", one.seconds, auto.seconds, a / lower_bound, b / lower_bound);
        }
        ratios.sort_by(f64::total_cmp);
        println!("| {radius} | median | | | | | | | {:.2} |", ratios[ratios.len() / 2]);
    }
}

/// `auto` on random pairs with many inputs, with and without the
/// first-order SDP on the whole set (see the module's doc).
fn inputs_section() {
    use deltacert::activation::Activation;
    use deltacert::compress::{quantize, QuantScheme};
    use deltacert::network::random::random_mlp;
    use deltacert::sdp::SdpSolver;
    let budget: f64 = std::env::var("DELTACERT_BUDGET").ok().and_then(|v| v.parse().ok()).unwrap_or(10.0);
    println!("\n## Random ReLU pairs against fixed:4 copies on [-0.5, 0.5]^n: auto with and without the first-order SDP ({budget} s)\n");
    println!("| n | hidden | seed | lifted d (est.) | one pass | auto | s | auto, no first-order SDP | s | lower | auto / lower | without / lower |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for n in [5usize, 8, 10, 20, 50, 100] {
        for hidden in [&[16usize, 16][..], &[32, 32], &[24, 24, 24]] {
            for seed in [1u64, 2] {
                let mut rng = rand::rngs::StdRng::seed_from_u64(1000 * n as u64 + 10 * hidden.len() as u64 + hidden[0] as u64 + seed);
                let f = random_mlp(&mut rng, n, hidden, 2, Activation::Relu);
                let (g, _) = quantize(&f, QuantScheme::FixedTruncate { fraction_bits: 4 }).expect("quantise");
                let set = InputSet::uniform_box(n, -0.5, 0.5).expect("box");
                let with = run(&f, &g, set.clone(), Method::AUTO, None, budget);
                let mut request = BoundRequest::new(set, InputCoupling::Same, Norm::Linf, Method::AUTO);
                request.time_limit = Some(budget);
                request.sdp.solver = SdpSolver::InteriorPoint;
                let without = bound(&f, &g, &request).expect("valid benchmark input");
                let lower = with.lower_bound.max(without.lower_bound);
                let (a, b) = (with.certified_bound.unwrap_or(f64::NAN), without.certified_bound.unwrap_or(f64::NAN));
                let propagate = with.details.propagate.as_ref();
                let widths: Vec<String> = hidden.iter().map(|w| w.to_string()).collect();
                println!(
                    "| {n} | {} | {seed} | {} | {:.4} | {a:.4} | {:.1} | {b:.4} | {:.1} | {lower:.4} | {:.2} | {:.2} |",
                    widths.join("-"),
                    propagate.map_or(0, |p| p.estimated_sdp_dim),
                    propagate.map_or(f64::NAN, |p| p.one_pass_bound),
                    with.seconds,
                    without.seconds,
                    a / lower,
                    b / lower
                );
                ratios.push((n, a / b));
            }
        }
    }
    for n in [5usize, 8, 10, 20, 50, 100] {
        let mut of_n: Vec<f64> = ratios.iter().filter(|(m, _)| *m == n).map(|(_, r)| *r).collect();
        println!("n = {n}: median auto / without {:.3}", median(&mut of_n));
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { values[n / 2] } else { 0.5 * (values[n / 2 - 1] + values[n / 2]) }
}

/// The MNIST 3x100 pair, the test images `DELTACERT_IMAGES` selects
/// (`first..last`, pixels scaled to [0, 1]; default `images`) and the radii
/// `p` of `DELTACERT_RADII` (default `radii`).
struct MnistBench {
    f: Network,
    g: Network,
    first: usize,
    images: Vec<Vec<f64>>,
    radii: Vec<f64>,
}

fn mnist_bench(images: (usize, usize), radii: &[f64]) -> MnistBench {
    let dir = fixtures().join("mnist");
    let f = read_model(&dir.join("mnist_relu_3_100.nnet")).expect("fixture");
    let g = read_model(&dir.join("mnist_relu_3_100_16bit.nnet")).expect("fixture");
    let (first, last) = std::env::var("DELTACERT_IMAGES").ok().and_then(|v| v.split_once("..").and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))).unwrap_or(images);
    let radii: Vec<f64> = std::env::var("DELTACERT_RADII").map(|v| v.split(',').map(|r| r.trim().parse().expect("DELTACERT_RADII")).collect()).unwrap_or_else(|_| radii.to_vec());
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("test_images_100.json")).expect("images")).expect("JSON");
    let images = data["images"].as_array().expect("images")[first..last].iter().map(|row| row.as_array().expect("row").iter().map(|v| v.as_f64().expect("pixel") / 255.0).collect()).collect();
    MnistBench { f, g, first, images, radii }
}

/// The box `+-p/255` around the image `x`, within [0, 1].
fn pixel_box(x: &[f64], p: f64) -> InputSet {
    InputSet::from_box(x.iter().map(|v| (v - p / 255.0).max(0.0)).collect(), x.iter().map(|v| (v + p / 255.0).min(1.0)).collect()).expect("box")
}

fn branching_section() {
    let MnistBench { f, g, first, images, radii } = mnist_bench((0, 10), &[3.0, 8.0, 13.0]);
    let last = first + images.len();
    let budget: f64 = std::env::var("DELTACERT_BUDGET").ok().and_then(|v| v.parse().ok()).unwrap_or(10.0);
    // a rule written `neuron:off` runs without phase programs (the baseline
    // of the trees on the whole set's objectives)
    let rules: Vec<(Branching, bool)> = std::env::var("DELTACERT_RULES")
        .map(|v| v.split(',').map(|r| (Branching::parse(r.trim().trim_end_matches(":off")).expect("DELTACERT_RULES"), !r.trim().ends_with(":off"))).collect())
        .unwrap_or_else(|_| vec![(Branching::Input, true), (Branching::Neuron, true), (Branching::Mixed, true)]);
    println!("\n## MNIST 3x100 vs float16, boxes +-p/255 around test images {first}..{last}, auto with {budget} s, by splitting rule (medians over the images)\n");
    println!("| p | rule | certified | lower bound | ratio | seconds | input splits | neuron splits | empty halves | programs on the set's objectives |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for p in radii {
        // per image: every rule's report
        let reports: Vec<Vec<BoundReport>> = images
            .iter()
            .map(|x| {
                let set = pixel_box(x, p);
                rules.iter().map(|&(rule, programs)| run_with_programs(&f, &g, set.clone(), Method::AUTO, None, budget, rule, programs)).collect()
            })
            .collect();
        let lower: Vec<f64> = reports.iter().map(|runs| runs.iter().map(|r| r.lower_bound).fold(0.0, f64::max)).collect();
        // every image's row on stderr (the medians below go to stdout)
        for (index, (runs, l)) in reports.iter().zip(&lower).enumerate() {
            for ((rule, programs), r) in rules.iter().zip(runs) {
                let rule = format!("{rule:?}{}", if *programs { "" } else { ", no programs" });
                eprintln!("image {} p {p} {rule}: certified {:.4e} lower {:.4e} ratio {:.2} seconds {:.1}", first + index, r.certified_bound.unwrap_or(f64::NAN), l, r.certified_bound.unwrap_or(f64::NAN) / l, r.seconds);
            }
        }
        for (k, (rule, programs)) in rules.iter().enumerate() {
            let rule = format!("{rule:?}{}", if *programs { "" } else { ", no programs" });
            let column = |value: &dyn Fn(&BoundReport, f64) -> f64| median(&mut reports.iter().zip(&lower).map(|(runs, l)| value(&runs[k], *l)).collect::<Vec<_>>());
            let split = |r: &BoundReport, which: usize| r.details.get::<SplitOutcome>("split").map_or(0.0, |s| [s.input_splits, s.neuron_splits, s.empty_pieces, s.objective_tree_programs][which] as f64);
            println!(
                "| {p} | {rule} | {:.4e} | {:.4e} | {:.2} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} |",
                column(&|r, _| r.certified_bound.unwrap_or(f64::NAN)),
                median(&mut lower.clone()),
                column(&|r, l| r.certified_bound.unwrap_or(f64::NAN) / l),
                column(&|r, _| r.seconds),
                column(&|r, _| split(r, 0)),
                column(&|r, _| split(r, 1)),
                column(&|r, _| split(r, 2)),
                column(&|r, _| split(r, 3)),
            );
        }
    }
}

/// Where the bound is loose (`terms`): the pair of MNIST 3x100 with only
/// one layer of the float16 copy taken over (the others the reference's),
/// next to the whole copy, each bounded like the `branching` table (auto,
/// neuron rule). With only the last hidden layer rounded the difference is
/// that layer's `ReLU(W' a + b') - ReLU(W a + b)` on the reference's own
/// activations of the layer before, so it passes through no unstable
/// neuron but the last layer's; with only the first rounded, it passes
/// through the unstable neurons of every hidden layer.
fn terms_section() {
    let MnistBench { f, g, first, images, radii } = mnist_bench((0, 10), &[8.0, 13.0]);
    let last = first + images.len();
    let budget: f64 = std::env::var("DELTACERT_BUDGET").ok().and_then(|v| v.parse().ok()).unwrap_or(10.0);
    let depth = f.layers.len();
    let mut pairs: Vec<(String, Network)> = Vec::new();
    for k in 0..depth {
        if f.layers[k].terms != g.layers[k].terms || f.layers[k].bias != g.layers[k].bias {
            let mut partial = f.clone();
            partial.layers[k] = g.layers[k].clone();
            pairs.push((format!("layer {} rounded", k + 1), partial));
        }
    }
    pairs.push(("all rounded".into(), g.clone()));
    println!("\n## MNIST 3x100 vs float16 one layer at a time, boxes +-p/255 around test images {first}..{last}, auto (neuron rule) with {budget} s (medians over the images)\n");
    println!("| p | pair | certified | lower bound | ratio | min ratio | max ratio |");
    println!("|---|---|---|---|---|---|---|");
    for &p in &radii {
        for (name, partner) in &pairs {
            let reports: Vec<BoundReport> = images.iter().map(|x| run_with_programs(&f, partner, pixel_box(x, p), Method::AUTO, None, budget, Branching::Neuron, true)).collect();
            let ratios: Vec<f64> = reports.iter().map(|r| r.certified_bound.unwrap_or(f64::NAN) / r.lower_bound).collect();
            for (index, (r, ratio)) in reports.iter().zip(&ratios).enumerate() {
                eprintln!("image {} p {p} {name}: certified {:.4e} lower {:.4e} ratio {ratio:.2}", first + index, r.certified_bound.unwrap_or(f64::NAN), r.lower_bound);
            }
            println!(
                "| {p} | {name} | {:.4e} | {:.4e} | {:.2} | {:.2} | {:.2} |",
                median(&mut reports.iter().map(|r| r.certified_bound.unwrap_or(f64::NAN)).collect::<Vec<_>>()),
                median(&mut reports.iter().map(|r| r.lower_bound).collect::<Vec<_>>()),
                median(&mut ratios.clone()),
                ratios.iter().copied().fold(f64::INFINITY, f64::min),
                ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            );
        }
    }
}

fn milp_section() {
    use deltacert::branch_and_bound::coupled_region;
    use deltacert::milp::{solve_objective, DifferentialFacts};
    use deltacert::propagation::{DifferentialPair, SlopeOptimisation};
    let MnistBench { f, g, first, images, radii } = mnist_bench((0, 3), &[3.0]);
    let budget: f64 = std::env::var("DELTACERT_BUDGET").ok().and_then(|v| v.parse().ok()).unwrap_or(60.0);
    println!("\n## MNIST 3x100 vs float16, boxes +-p/255: the MILP of the worst objective with and without the differential rows ({budget} s each)\n");
    println!("| image | p | objective | propagation | rows | status | seconds | HiGHS bound | incumbent |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (image, x) in (first..).zip(&images) {
        for &p in &radii {
            let set = pixel_box(x, p);
            let prepared = deltacert::problem::prepare(&f, &g, &set, &InputCoupling::Same).expect("prepare");
            let pair = DifferentialPair::new(&prepared.reference, &prepared.compressed).with_slopes(SlopeOptimisation::STANDARD);
            let start = Instant::now();
            let bounds = pair.bounds_within(&coupled_region(&prepared.set, &prepared.coupling, prepared.set.lower(), prepared.set.upper()), None);
            let propagation_seconds = start.elapsed().as_secs_f64();
            // the objective with the largest bound
            let (mut output, mut sign, mut worst) = (0, 1.0, f64::NEG_INFINITY);
            for j in 0..bounds.output_upper.len() {
                for (s, v) in [(1.0, bounds.output_upper[j]), (-1.0, -bounds.output_lower[j])] {
                    if v > worst {
                        (output, sign, worst) = (j, s, v);
                    }
                }
            }
            for with_rows in [false, true] {
                let facts = if with_rows { DifferentialFacts::new(&pair, &bounds) } else { None };
                let solve = solve_objective(&prepared, facts, output, sign, Some(budget)).expect("MILP");
                println!(
                    "| {image} | {p} | {}{output} | {worst:.4e} ({propagation_seconds:.1} s) | {} | {} | {:.1} | {} | {} |",
                    if sign > 0.0 { "+" } else { "-" },
                    if facts.is_some() { "yes" } else { "no" },
                    solve.status,
                    solve.seconds,
                    solve.upper.map_or("-".into(), |u| format!("{u:.4e}")),
                    solve.incumbent.map_or("-".into(), |v| format!("{v:.4e}")),
                );
            }
        }
    }
}

/// The lower-bound search against its effort on MNIST boxes (`lower`).
fn lower_section() {
    use deltacert::attack::{attack, AttackSettings};
    let MnistBench { f, g, first, images, radii } = mnist_bench((0, 10), &[8.0]);
    // (starts, steps, seed)
    let efforts = [(16, 100, 0), (16, 100, 1), (256, 100, 0), (64, 1000, 0), (1024, 300, 0)];
    println!("\n## MNIST 3x100 vs float16, boxes +-p/255: the lower-bound search against its effort (error found, seconds)\n");
    println!("| image | p | 16 x 100, seed 0 | 16 x 100, seed 1 | 256 x 100 | 64 x 1,000 | 1,024 x 300 | best / default |");
    println!("|---|---|---|---|---|---|---|---|");
    for (image, x) in (first..).zip(&images) {
        for &p in &radii {
            let set = pixel_box(x, p);
            let mut row = format!("| {image} | {p} |");
            let (mut default_error, mut best) = (0.0, 0.0f64);
            for (k, &(starts, steps, seed)) in efforts.iter().enumerate() {
                let start = Instant::now();
                let found = attack(&f, &g, &set, &InputCoupling::Same, Norm::Linf, &AttackSettings { starts, steps, seed, ..AttackSettings::default() });
                row += &format!(" {:.4e} ({:.1} s) |", found.error, start.elapsed().as_secs_f64());
                if k == 0 {
                    default_error = found.error;
                }
                best = best.max(found.error);
            }
            println!("{row} {:.3} |", best / default_error);
        }
    }
}

fn main() {
    deltacert::sdp::solve::set_blas_threads(1);
    let sections: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wants = |name: &str| sections.is_empty() || sections.iter().any(|s| s == name);
    let limit: f64 = std::env::var("DELTACERT_BENCH_LIMIT").ok().and_then(|v| v.parse().ok()).unwrap_or(120.0);
    println!("threads: {}", rayon::current_num_threads());
    if wants("mnist") {
        mnist_section();
    }
    if sections.iter().any(|s| s == "branching") {
        branching_section();
    }
    if sections.iter().any(|s| s == "terms") {
        terms_section();
    }
    if sections.iter().any(|s| s == "milp") {
        milp_section();
    }
    if sections.iter().any(|s| s == "lower") {
        lower_section();
    }
    if sections.iter().any(|s| s == "inputs") {
        inputs_section();
    }
    if wants("anytime") {
        anytime_section();
    }
    if wants("decide") {
        decide_section(limit);
    }
}
