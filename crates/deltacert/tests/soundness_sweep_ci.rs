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
