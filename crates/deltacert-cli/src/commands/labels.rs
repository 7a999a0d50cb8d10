//! `deltacert bound REFERENCE COMPRESSED [input set] --top1 [--confidence D]`:
//! can the label change anywhere in the set?

use super::input;
use crate::args::BoundArgs;
use deltacert::bound::Method;
use deltacert::error::{Error, ErrorKind};
use deltacert::io::read_model;
use deltacert::label::{decide_labels, LabelAnswer, LabelReport, LabelRequest, LabelStop, DEFAULT_LABEL_SAMPLES, DEFAULT_LABEL_SECONDS};
use deltacert::problem::{InputCoupling, Norm};

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOption, message)
}

/// Flags of `bound` that a label decision does not read are errors.
fn check_applicable(args: &BoundArgs) -> deltacert::Result<()> {
    let refused = [
        (args.method != Method::AUTO, "--method"),
        (args.pair.norm != Norm::Linf, "--norm"),
        (args.eps.is_some(), "--eps"),
        (args.qcs.is_some(), "--qcs"),
        (args.sdp_max_dim.is_some(), "--sdp-max-dim"),
        (args.sdp_solver.is_some(), "--sdp-solver"),
        (args.target_ratio.is_some(), "--target-ratio"),
        (args.optimise_slopes.is_some(), "--optimise-slopes"),
        (args.slope_scope.is_some(), "--slope-scope"),
        (args.branching.is_some(), "--branching"),
        (args.plot.is_some(), "--plot"),
        (args.force, "--force"),
        (args.outputs.is_some(), "--outputs"),
    ];
    match refused.iter().find(|(given, _)| *given) {
        Some((_, flag)) => Err(invalid(format!("{flag} does not apply to --top1 (it decides labels on the same input by its own splitting)"))),
        None => Ok(()),
    }
}

pub fn run(args: BoundArgs) -> deltacert::Result<u8> {
    check_applicable(&args)?;
    super::bound::set_threads(&args)?;
    if let Some(d) = args.confidence {
        if d == 1.0 {
            // 0.99999999999999999 is 1 as a double: say so rather than quote "1"
            return Err(invalid("--confidence: must be in [0.5, 1), and the decimal given is 1 as a double (decimals within 2^-54 of 1 round to it)".to_string()));
        }
        if !(0.5..1.0).contains(&d) {
            return Err(invalid(format!("--confidence {d}: must be in [0.5, 1)")));
        }
    }
    let memory_limit = super::bound::memory_limit(args.max_memory.as_deref())?;
    // a --json run that ends without a report still writes its one object
    let unknown = |stop: Option<LabelStop>, note: &str, seconds: Option<f64>| {
        serde_json::json!({
            "answer": LabelAnswer::Unknown, "confidence": args.confidence, "proven_fraction": null, "counterexample": null, "stop": stop, "seconds": seconds, "note": note,
            "status": "no_certificate", "decision": LabelAnswer::Unknown, "method": "top1", "witness": null,
            "reference": args.pair.reference.display().to_string(), "compressed": args.pair.compressed.display().to_string(),
            "property": if args.confidence.is_some() { "top1_confident" } else { "top1" },
        })
        .to_string()
    };
    if args.pair.json {
        crate::watchdog::set_over_budget_report(unknown(Some(LabelStop::MemoryLimit), "the memory budget (--max-memory) was exceeded", None) + "\n");
    }
    crate::watchdog::set_memory_budget(memory_limit.unwrap_or_else(deltacert::limits::default_memory_bytes));
    // --timeout covers reading the files; a read that blocks ends at the
    // watchdog's ceiling
    let started = std::time::Instant::now();
    let reading = crate::watchdog::reading_deadline(args.timeout, args.pair.json.then_some(|note: &str| unknown(Some(LabelStop::TimeLimit), note, None)));
    let reference = read_model(&args.pair.reference)?;
    let compressed = read_model(&args.pair.compressed)?;
    input::check_input_space(&args.pair.set, &reference)?;
    let set = input::input_set(&args.pair.set, &reference)?;
    let coupling = input::coupling(&args.pair.coupling, reference.input_dim)?;
    reading.finished();
    // the property in words, and the coupling's name in the JSON (as `bound --json` names it)
    let (pair_text, coupling_name) = match &coupling.bounded {
        InputCoupling::Same => ("argmax f(x) = argmax g(x) for every x in the set", "same_input"),
        InputCoupling::Quantised(_) => ("argmax f(x) = argmax g(x') for every x in the set and every x' in it within the step of x", "quantised_input"),
        InputCoupling::Independent => ("argmax f(x) = argmax g(x') for any two inputs x, x' of the set", "independent_inputs"),
    };
    let request = LabelRequest {
        set,
        confidence: args.confidence,
        time_limit: args.timeout.map(|t| (t - started.elapsed().as_secs_f64()).max(super::bound::MIN_SECONDS_AFTER_READING)),
        memory_limit,
        samples: args.pair.samples.unwrap_or(DEFAULT_LABEL_SAMPLES),
        seed: args.pair.seed,
        coupling: coupling.bounded,
        written_steps: coupling.written_steps,
    };
    let verbose = !args.quiet && !args.pair.json;
    if verbose {
        stderr_line!("deltacert: deciding whether the label of {} can differ from {}'s ...", args.pair.compressed.display(), args.pair.reference.display());
    }
    let limit = args.timeout.unwrap_or(DEFAULT_LABEL_SECONDS);
    let outcome = crate::watchdog::run_within(Some(2.0 * limit + 5.0), move || decide_labels(&reference, &compressed, &request));
    let report = match outcome {
        Ok(result) => result.map_err(|e| e.within(format!("{} vs {}", args.pair.reference.display(), args.pair.compressed.display())))?,
        Err(stopped) => {
            let (stop, message) = match stopped {
                crate::watchdog::Stopped::TimeLimit => (Some(LabelStop::TimeLimit), format!("the time limit of {limit} s was exceeded by more than twice (a step did not stop on time)")),
                crate::watchdog::Stopped::Failed => (None, "internal error: the decision step failed (a defect of deltacert, please report it with the command)".to_string()),
            };
            crate::watchdog::finish_run();
            if args.pair.json {
                println!("{}", unknown(stop, &message, Some(started.elapsed().as_secs_f64())));
            }
            stderr_line!("error: {message}; unknown");
            return Ok(3);
        }
    };
    crate::watchdog::finish_run();
    if args.pair.json {
        let mut value = serde_json::to_value(&report).expect("report serialises");
        value["reference"] = args.pair.reference.display().to_string().into();
        value["compressed"] = args.pair.compressed.display().to_string().into();
        value["property"] = if args.confidence.is_some() { "top1_confident" } else { "top1" }.into();
        // the keys every `bound --json` object has: a proof or a re-checked
        // counterexample is certified, the decision is the answer
        value["status"] = if report.answer == LabelAnswer::Unknown { "no_certificate" } else { "certified" }.into();
        value["decision"] = value["answer"].clone();
        value["method"] = "top1".into();
        // how g's input relates to f's: a pair's `witness` is x, `witness_compressed` x'
        value["coupling"] = coupling_name.into();
        if let Some(step) = &args.pair.coupling.input_quant {
            value["input_quant"] = step.trim().into();
        }
        value["witness"] = report.counterexample.as_ref().map(|c| c.input.clone()).into();
        if let Some(xg) = report.counterexample.as_ref().and_then(|c| c.compressed_input.clone()) {
            value["witness_compressed"] = xg.into();
        }
        println!("{value}");
    } else if args.quiet {
        println!("{}", headline(&report, pair_text));
    } else {
        print_human(&report, pair_text);
    }
    Ok(match report.answer {
        LabelAnswer::Proven => 0,
        LabelAnswer::Counterexample => 1,
        LabelAnswer::Unknown => 3,
    })
}

/// The property decided: `pair_text` (how g's input relates to f's) and the
/// confidence condition.
fn property(report: &LabelReport, pair_text: &str) -> String {
    match report.confidence {
        Some(d) => format!("{pair_text} wherever softmax(f(x)) >= {d} at f's label"),
        None => pair_text.to_string(),
    }
}

/// The share of the box proven, in percent with 4 decimals, rounded down
/// (an unfinished proof never reads 100.0000%).
fn proven_percent(fraction: f64) -> String {
    format!("{:.4}", ((100.0 * fraction) * 1e4).floor() / 1e4)
}

fn headline(report: &LabelReport, pair_text: &str) -> String {
    match report.answer {
        LabelAnswer::Proven => format!("decision: proven ({})", property(report, pair_text)),
        LabelAnswer::Counterexample => {
            let c = report.counterexample.as_ref().expect("a counterexample");
            format!("decision: counterexample (f picks {}, g picks {}; re-checked in interval arithmetic)", c.reference_label, c.compressed_label)
        }
        LabelAnswer::Unknown => format!("decision: unknown ({}% of the set's box proven, {:?})", proven_percent(report.proven_fraction), report.stop),
    }
}

fn print_human(report: &LabelReport, pair_text: &str) {
    println!("{}", headline(report, pair_text));
    if let Some(c) = &report.counterexample {
        println!("input:     x = {:?}", c.input);
        println!("f(x):      {:?}", c.reference_outputs);
        match &c.compressed_input {
            Some(xg) => {
                println!("g's input: x' = {xg:?}");
                println!("g(x'):     {:?}", c.compressed_outputs);
            }
            None => println!("g(x):      {:?}", c.compressed_outputs),
        }
        println!("f's confidence at its label >= {}", super::below(c.reference_confidence_lower, 6));
        for line in super::bound::saturation_lines(&c.saturation) {
            println!("saturated: {line}");
        }
    }
    println!("search:    {} pieces bounded, {} open, depth {}, {} inputs evaluated, {:.2} s", report.pieces_bounded, report.pieces_open, report.max_depth, report.evaluations, report.seconds);
    if report.phase_programs > 0 {
        println!("phases:    {} linear programs on neuron phases (branch and bound over the whole set)", report.phase_programs);
    }
    if let Some(note) = &report.note {
        println!("note:      {note}");
    }
}
