//! `deltacert attack REFERENCE COMPRESSED [input set]`: lower bound only.

use super::input;
use crate::args::AttackArgs;
use deltacert::io::read_model;
use deltacert::attack::{attack_until, AttackSettings};

pub fn run(args: AttackArgs) -> deltacert::Result<u8> {
    let memory_limit = super::bound::memory_limit(args.max_memory.as_deref())?;
    if args.pair.json {
        crate::watchdog::set_over_budget_report(serde_json::json!({"status": "memory_limit", "note": "the memory budget (--max-memory) was exceeded", "input": null}).to_string() + "\n");
    }
    crate::watchdog::set_memory_budget(memory_limit.unwrap_or_else(deltacert::limits::default_memory_bytes));
    // --timeout covers reading the files; a read that blocks ends at twice
    // the limit plus 5 s
    let started = std::time::Instant::now();
    let reading = crate::watchdog::reading_deadline(args.timeout, args.pair.json.then_some(|note: &str| serde_json::json!({"status": "time_limit", "note": note, "input": null}).to_string()));
    let reference = read_model(&args.pair.reference)?;
    let compressed = read_model(&args.pair.compressed)?;
    if reference.input_dim != compressed.input_dim || reference.output_dim() != compressed.output_dim() {
        return Err(deltacert::Error::new(deltacert::ErrorKind::ShapeMismatch, "the two networks have different input or output sizes"));
    }
    // the search compares `eval` outputs: probabilities with probabilities
    if reference.output_softmax != compressed.output_softmax {
        return Err(deltacert::Error::new(deltacert::ErrorKind::Unsupported, "only one network ends in Softmax: probabilities cannot be compared with logits"));
    }
    let set = input::input_set(&args.pair.set, &reference)?;
    // the search keeps the step as written: its pairs are reported as they are
    let coupling = input::coupling(&args.pair.coupling, reference.input_dim)?.written();
    // a set the normalisation maps past the finite numbers: refused as `bound` refuses it
    for (network, path) in [(&reference, &args.pair.reference), (&compressed, &args.pair.compressed)] {
        deltacert::problem::check_normalised_set(network, &set).map_err(|e| e.within(path.display().to_string()))?;
    }
    reading.finished();
    let read_seconds = started.elapsed().as_secs_f64();
    let settings = AttackSettings { samples: args.pair.samples.unwrap_or(AttackSettings::default().samples), sample_work: if args.pair.samples.is_some() { None } else { AttackSettings::default().sample_work }, seed: args.pair.seed, ..AttackSettings::default() };
    let deadline = args.timeout.map(|t| started + deltacert::limits::duration(t));
    let witness = attack_until(&reference, &compressed, &set, &coupling, args.pair.norm, &settings, &[], deadline);
    crate::watchdog::finish_run();
    if args.pair.json {
        println!("{}", serde_json::to_string(&witness).expect("witness serialises"));
    } else {
        match &witness.input {
            Some(x) => println!("largest observed error: {} at x = {x:?}", super::below(witness.error, 9)),
            None if deadline.is_some_and(|d| std::time::Instant::now() >= d) && witness.evaluations == 0 => println!("no input was evaluated within the time limit of {} s (reading the files took {:.2} s)", args.timeout.unwrap_or_default(), read_seconds),
            None => println!("no input of the set was evaluated (none of the samples satisfied every constraint)"),
        }
        if let Some(xg) = &witness.compressed_input {
            println!("compressed network's input x' = {xg:?}");
        }
        println!("({} input pairs evaluated)", witness.evaluations);
    }
    Ok(0)
}
