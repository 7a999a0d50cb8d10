//! A few hundred pairs of the soundness sweep (the `soundness_sweep` bench
//! runs 10,000): no certified bound may lie below a rigorously observed error.
//! Run with `cargo test --release -p deltacert --test soundness_sweep_ci -- --nocapture`
//! to see the table.

#[path = "../benches/sweep/mod.rs"]
mod sweep;

/// Pairs in the test (the bench's generator, the same seed).
const CI_PAIRS: usize = 300;

#[test]
fn no_certified_bound_is_below_an_observed_error() {
    let options = sweep::SweepOptions { pairs: CI_PAIRS, seed: 1, threads: 0, only: Vec::new(), dump: None, progress: false };
    let records = sweep::run(&options);
    let summary = sweep::summarise(&records);
    println!("{}", sweep::table(&records));
    let unsound = sweep::unsound_report(&records, options.seed, "cargo bench -p deltacert --bench soundness_sweep --");
    println!("{unsound}");
    assert_eq!(summary.failures, 0, "pairs that failed:\n{unsound}");
    assert_eq!(summary.unsound_certified, 0, "certified bounds below an observed error:\n{unsound}");
    assert_eq!(summary.unsound_milp, 0, "MILP solver bounds below an observed error:\n{unsound}");
}

/// The interval evaluation behind the check agrees with the library's own
/// float64 evaluation (which rounds in its own summation order, hence the
/// small tolerance): a broken enclosure would hide unsound answers. The
/// enclosures must also stay narrow at points.
#[test]
fn interval_evaluation_encloses_the_float64_evaluation() {
    use rand::Rng;
    for index in 0..200 {
        let case = sweep::generate(3, index).expect("pair");
        let mut rng = sweep::case_rng(3, index);
        for _ in 0..20 {
            let x: Vec<f64> = case.spec.lower.iter().zip(&case.spec.upper).map(|(l, u)| if u > l { rng.gen_range(*l..=*u) } else { *l }).collect();
            for network in [&case.f, &case.g] {
                let values = network.eval(&x);
                let points: Vec<sweep::Interval> = x.iter().map(|v| sweep::Interval::point(*v)).collect();
                for (v, e) in values.iter().zip(sweep::enclose_outputs(network, &points)) {
                    let tolerance = 1e-7 * (1.0 + v.abs());
                    assert!(e.lo - tolerance <= *v && *v <= e.hi + tolerance, "pair {index}: {v} not in [{}, {}]", e.lo, e.hi);
                    assert!(e.hi - e.lo <= tolerance, "pair {index}: enclosure [{}, {}] of {v} is wide", e.lo, e.hi);
                }
            }
        }
    }
}
