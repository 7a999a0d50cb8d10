//! The soundness sweep: random network pairs against every bounding method,
//! counting certified bounds below a rigorously observed error.
//!
//! ```text
//! cargo bench -p deltacert --bench soundness_sweep -- --pairs 10000 --seed 1 --threads 2
//! cargo bench -p deltacert --bench soundness_sweep -- --seed 1 --only 123 [--dump DIR]
//! ```
//!
//! Prints a markdown table (per category and method: pairs, refusals,
//! unsound answers, certified fraction, median and worst ratio of the bound to
//! the observed error, and the flags described in `docs/soundness_sweep.md`),
//! then every unsound answer with the command that reproduces it. Exits with
//! status 1 when any certified method was unsound.

#[path = "sweep/mod.rs"]
mod sweep;

use std::time::Instant;

fn main() {
    let mut options = sweep::SweepOptions { pairs: 10_000, seed: 1, threads: 0, only: Vec::new(), dump: None, progress: true };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let value = |i: usize, name: &str| -> String { args.get(i + 1).cloned().unwrap_or_else(|| panic!("{name} needs a value")) };
    while i < args.len() {
        match args[i].as_str() {
            "--pairs" => options.pairs = value(i, "--pairs").parse().expect("--pairs N"),
            "--seed" => options.seed = value(i, "--seed").parse().expect("--seed S"),
            "--threads" => options.threads = value(i, "--threads").parse().expect("--threads T"),
            "--only" => options.only.extend(value(i, "--only").split(',').map(|v| v.trim().parse::<usize>().expect("--only I[,J...]"))),
            "--dump" => options.dump = Some(value(i, "--dump").into()),
            "--quiet" => {
                options.progress = false;
                i += 1;
                continue;
            }
            // cargo bench passes --bench; other harness flags are ignored too
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    let command = "cargo bench -p deltacert --bench soundness_sweep --";
    let start = Instant::now();
    if let Some(dir) = &options.dump {
        for &index in &options.only {
            match sweep::dump_pair(options.seed, index, dir) {
                Ok(paths) => paths.iter().for_each(|p| println!("wrote {}", p.display())),
                Err(e) => println!("pair {index}: {e}"),
            }
        }
    }
    let records = sweep::run(&options);
    let seconds = start.elapsed().as_secs_f64();
    if !options.only.is_empty() {
        for r in &records {
            println!("{}", sweep::details(r));
        }
    }
    let summary = sweep::summarise(&records);
    println!(
        "soundness sweep: {} pairs, seed {}, {} threads, {:.0} s ({:.3} s of pair time per pair)\n",
        summary.pairs,
        options.seed,
        if options.threads == 0 { rayon::current_num_threads() } else { options.threads },
        seconds,
        summary.seconds_per_pair
    );
    println!("{}", sweep::table(&records));
    println!(
        "unsound answers: {} of certified methods (propagate, auto, sdp), {} MILP solver bounds; {} pairs failed (generation error or panic)",
        summary.unsound_certified, summary.unsound_milp, summary.failures
    );
    let unsound = sweep::unsound_report(&records, options.seed, command);
    if !unsound.is_empty() {
        println!("\n{unsound}");
    }
    if summary.unsound_certified > 0 {
        std::process::exit(1);
    }
}
