//! `deltacert bound REFERENCE COMPRESSED [input set] [options]`.

use super::{above, below, input};
use crate::args::{BoundArgs, Threshold};
use deltacert::bound::{bound_union, check_shapes, check_union, BoundReport, BoundRequest, Decision, Method, Status, AUTO_SDP_MAX_DIM, DEFAULT_TARGET_RATIO};
use deltacert::methods::MethodOption;
use deltacert::error::{Error, ErrorKind};
use deltacert::io::read_model;
use deltacert::limits::parse_bytes;
use deltacert::report::plot::{plot_bound, BoundFigure};
use deltacert::sdp::qc::QcOptions;
use deltacert::sdp::{QcChoice, SdpSettings, SdpSolver, DEFAULT_MAX_DIMENSION};
use deltacert::problem::Norm;
use deltacert::propagation::SlopeOptimisation;
use deltacert::attack::AttackSettings;
use deltacert::branch_and_bound::Branching;

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOption, message)
}

/// The memory budget of `--max-memory` (None: the library's default).
pub fn memory_limit(text: Option<&str>) -> deltacert::Result<Option<u64>> {
    text.map(|t| parse_bytes(t).ok_or_else(|| invalid(format!("--max-memory {t}: expected a size such as 8G, 512M or a number of bytes"))))
        .transpose()
}

/// The `--qcs` choice.
pub fn qc_choice(text: Option<&str>) -> deltacert::Result<QcChoice> {
    Ok(match text {
        None | Some("auto") => QcChoice::Auto,
        Some(t) => QcChoice::Fixed(QcOptions::parse(t)?),
    })
}

/// Flags that do not apply to the chosen method are errors, not silently ignored.
fn check_applicable(args: &BoundArgs, method: Method) -> deltacert::Result<()> {
    let reads = |option| method.implementation().reads(option);
    let sdp_used = reads(MethodOption::SdpSettings);
    if args.qcs.is_some() && !sdp_used {
        return Err(invalid(format!("--qcs applies to --method sdp or auto, not {}", method.name())));
    }
    if args.sdp_max_dim.is_some() && !sdp_used {
        return Err(invalid(format!("--sdp-max-dim applies to --method sdp or auto, not {}", method.name())));
    }
    if args.sdp_solver.is_some() && !sdp_used {
        return Err(invalid(format!("--sdp-solver applies to --method sdp or auto, not {}", method.name())));
    }
    if args.target_ratio.is_some() && !reads(MethodOption::TargetRatio) {
        return Err(invalid(format!("--target-ratio applies to --method auto only, not {method} (it does not split)")));
    }
    if args.branching.is_some() && !reads(MethodOption::TargetRatio) {
        return Err(invalid(format!("--branching applies to --method auto only, not {method} (it does not split)")));
    }
    if (args.optimise_slopes.is_some() || args.slope_scope.is_some()) && !reads(MethodOption::Slopes) {
        let flag = if args.optimise_slopes.is_some() { "--optimise-slopes" } else { "--slope-scope" };
        return Err(invalid(format!("{flag} applies to --method propagate or auto, not {method}")));
    }
    if args.pair.samples.is_some() && !reads(MethodOption::AttackSamples) {
        return Err(invalid(format!("--samples does not apply to --method {method} (it finds its lower bound by itself)")));
    }
    if args.plot.is_none() && args.force {
        return Err(invalid("--force applies to --plot only"));
    }
    Ok(())
}

/// `--optimise-slopes` and `--slope-scope` over the library's default.
fn slope_setting(args: &BoundArgs) -> SlopeOptimisation {
    let standard = SlopeOptimisation::STANDARD;
    SlopeOptimisation { iterations: args.optimise_slopes.unwrap_or(standard.iterations), scope: args.slope_scope.unwrap_or(standard.scope), ..standard }
}

/// The most worker threads per core `--threads` accepts.
pub const MAX_THREADS_PER_CORE: usize = 8;

/// `--threads` (sets the worker pool), shared by `bound` and `bound --top1`.
pub fn set_threads(args: &BoundArgs) -> deltacert::Result<()> {
    if let Some(threads) = args.threads {
        if threads == 0 {
            return Err(invalid("--threads must be at least 1"));
        }
        // every thread is started before the clock starts, and more threads
        // than cores only share them: a cap keeps the time limit's promise
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads > MAX_THREADS_PER_CORE * cores {
            return Err(invalid(format!("--threads {threads}: at most {} on this machine ({MAX_THREADS_PER_CORE} per core)", MAX_THREADS_PER_CORE * cores)));
        }
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    }
    Ok(())
}

/// The time limit passed on when reading the files used up `--timeout`
/// (the library refuses 0): bounding stops at once, after its first pass.
pub const MIN_SECONDS_AFTER_READING: f64 = 1e-9;

pub fn run(args: BoundArgs) -> deltacert::Result<u8> {
    if args.top1 {
        return super::labels::run(args);
    }
    set_threads(&args)?;
    // --timeout covers reading the models and the set too
    let started = std::time::Instant::now();
    let target_ratio = args.target_ratio.unwrap_or(DEFAULT_TARGET_RATIO);
    if !(target_ratio >= 1.0) || !target_ratio.is_finite() {
        return Err(invalid(format!("--target-ratio {target_ratio}: must be a finite number >= 1")));
    }
    let method = args.method;
    check_applicable(&args, method)?;
    let memory_limit = memory_limit(args.max_memory.as_deref())?;
    let pair_names = (args.pair.reference.display().to_string(), args.pair.compressed.display().to_string());
    // a --json run that ends without a report still writes its one object
    let no_certificate = |note: &str, seconds: Option<f64>| {
        let mut value = serde_json::json!({
            "status": "no_certificate", "norm": args.pair.norm, "certified_bound": null, "per_output_bound": [], "lower_bound": null, "witness": null, "ratio": null,
            "method": method.name(), "seconds": seconds, "reference": pair_names.0, "compressed": pair_names.1, "note": note, "details": {},
        });
        if let Some(eps) = &args.eps {
            value["eps"] = eps.value.into();
            value["decision"] = serde_json::to_value(deltacert::bound::Decision::Unknown).expect("decision serialises");
        }
        value.to_string()
    };
    if args.pair.json {
        crate::watchdog::set_over_budget_report(no_certificate("the memory budget (--max-memory) was exceeded", None) + "\n");
    }
    crate::watchdog::set_memory_budget(memory_limit.unwrap_or_else(deltacert::limits::default_memory_bytes));
    let qcs = qc_choice(args.qcs.as_deref())?;
    if let Some(path) = &args.plot {
        super::check_plot_path(path, args.force)?;
    }
    // a read that blocks (a named pipe without a writer) ends at the
    // watchdog's ceiling for the run, twice the limit plus 5 s
    let reading = crate::watchdog::reading_deadline(args.timeout, args.pair.json.then_some(|note: &str| no_certificate(note, None)));
    let mut reference = read_model(&args.pair.reference)?;
    let mut compressed = read_model(&args.pair.compressed)?;
    if let Some(outputs) = &args.outputs {
        let within = |e: Error, path: &std::path::Path| Error::new(ErrorKind::InvalidOption, format!("--outputs: {}: {}", path.display(), e.context));
        reference = reference.select_outputs(outputs).map_err(|e| within(e, &args.pair.reference))?;
        compressed = compressed.select_outputs(outputs).map_err(|e| within(e, &args.pair.compressed))?;
    }
    input::check_input_space(&args.pair.set, &reference)?;
    let sets = input::input_sets(&args.pair.set, &reference)?;
    // no witness can exist: said in the report's note
    let holds_no_double = sets.iter().all(|s| s.written_holds_no_double());
    reading.finished();
    let read_seconds = started.elapsed().as_secs_f64();
    // the set a figure draws (the files are read once)
    let plotted_set = args.plot.as_ref().and_then(|_| sets.first().cloned());
    let max_dimension = match args.sdp_max_dim {
        Some(d) => d,
        None if method == Method::AUTO => AUTO_SDP_MAX_DIM,
        None => DEFAULT_MAX_DIMENSION,
    };
    let coupling = input::coupling(&args.pair.coupling, reference.input_dim)?;
    let request = BoundRequest {
        set: sets[0].clone(),
        coupling: coupling.bounded,
        norm: args.pair.norm,
        method,
        sdp: SdpSettings { qcs, solver: args.sdp_solver.as_deref().map(SdpSolver::parse).transpose()?.unwrap_or(SdpSolver::Auto), time_limit: None, max_dimension, first_order_iterations: None, decide_eps: None },
        attack: AttackSettings { samples: args.pair.samples.unwrap_or(AttackSettings::default().samples), sample_work: if args.pair.samples.is_some() { None } else { AttackSettings::default().sample_work }, seed: args.pair.seed, ..AttackSettings::default() },
        // proven against a double at most the decimal written
        eps: args.eps.as_ref().map(|eps| eps.lower),
        // what reading the files left of it; when reading used it all, the
        // least the library accepts: one pass, as for any expired limit
        time_limit: args.timeout.map(|t| (t - started.elapsed().as_secs_f64()).max(MIN_SECONDS_AFTER_READING)),
        memory_limit,
        target_ratio,
        slopes: slope_setting(&args),
        piece_slopes: SlopeOptimisation::NONE,
        branching: args.branching.as_deref().map(Branching::parse).transpose().map_err(invalid)?.unwrap_or_default(),
        phase_programs: true,
        phase_multiplier_steps: deltacert::branch_and_bound::DEFAULT_PHASE_MULTIPLIER_STEPS,
        written_steps: coupling.written_steps,
    };
    for set in &sets {
        check_shapes(&reference, &compressed, &BoundRequest { set: set.clone(), ..request.clone() }).map_err(|e| e.within(format!("{} vs {}", args.pair.reference.display(), args.pair.compressed.display())))?;
    }
    check_union(&sets, &request)?;
    if args.plot.is_some() && sets.len() > 1 {
        return Err(invalid("--plot draws one input set; this VNN-LIB file is a union of several boxes"));
    }
    let verbose = !args.quiet && !args.pair.json;
    if verbose {
        let what = method.implementation().description();
        let boxes = if sets.len() > 1 { format!(" over a union of {} boxes", sets.len()) } else { String::new() };
        stderr_line!("deltacert: bounding {} vs {} with {what}{boxes} ...", args.pair.reference.display(), args.pair.compressed.display());
    }
    // The library stops on time by itself; this watchdog is the promise that
    // holds even if one step overruns: twice the limit plus 5 s, then exit 3.
    let limit = request.time_limit.or(method.implementation().default_time_limit());
    let report = crate::watchdog::run_within(limit.map(|t| 2.0 * t + 5.0), move || {
        bound_union(&reference, &compressed, &sets, &request, &|p| {
            if verbose && p.seconds >= 1.0 {
                stderr_line!("deltacert: {:.0} s: {} pieces bounded, {} open; certified <= {}, observed {}", p.seconds, p.pieces_done, p.pieces_open, above(p.upper, 6), below(p.lower, 6));
            }
        })
        .map(|report| (report, reference, compressed))
    });
    let (mut report, reference, compressed) = match report {
        // name the pair in a message about the two networks that names no file
        Ok(result) => result.map_err(|e| if e.context.contains(".onnx") || e.context.contains(".nnet") || e.context.contains(".json") || e.context.contains(".vnnlib") { e } else { e.within(format!("{} vs {}", pair_names.0, pair_names.1)) })?,
        Err(stopped) => {
            let message = match stopped {
                crate::watchdog::Stopped::TimeLimit => format!("the time limit of {} s was exceeded by more than twice (a step did not stop on time)", args.timeout.or(method.implementation().default_time_limit()).unwrap_or_default()),
                crate::watchdog::Stopped::Failed => "internal error: the bounding step failed (a defect of deltacert, please report it with the command)".to_string(),
            };
            crate::watchdog::finish_run();
            if args.pair.json {
                println!("{}", no_certificate(&message, Some(started.elapsed().as_secs_f64())));
            }
            stderr_line!("error: {message}; no certificate");
            return Ok(3);
        }
    };
    if let Some(t) = args.timeout.filter(|t| read_seconds >= *t) {
        let spent = format!("reading the models and the input set took {read_seconds:.2} s of the {t} s time limit: the bound is one pass's");
        report.note = Some(report.note.take().map_or(spent.clone(), |note| format!("{spent}; {note}")));
    }
    if holds_no_double && report.witness.is_none() {
        let none = "no input was observed: no double lies provably in the set as written (a zero-width interval, or a radius of 0 or below the rounding of a decimal centre, around a decimal that no double equals; or bounds that meet within one rounding)".to_string();
        report.note = Some(report.note.take().map_or(none.clone(), |note| format!("{none}; {note}")));
    }
    crate::watchdog::finish_run();
    if args.pair.json {
        let mut value = serde_json::to_value(&report).expect("report serialises");
        value["reference"] = args.pair.reference.display().to_string().into();
        value["compressed"] = args.pair.compressed.display().to_string().into();
        if let Some(outputs) = &args.outputs {
            value["outputs"] = serde_json::json!(outputs);
        }
        if let Some(eps) = &args.eps {
            value["eps"] = eps.value.into();
            value["decision"] = serde_json::to_value(super::decide(&report, eps)).expect("decision serialises");
        }
        println!("{value}");
    } else if args.quiet {
        println!("{}", headline(&report, &args));
    } else {
        print_human(&report, &args);
    }
    // drawn once the result is out: a figure that cannot be written does not lose it
    if let (Some(path), Some(set)) = (&args.plot, plotted_set.as_ref()) {
        let figure = BoundFigure {
            certified: report.certified_bound,
            lower: report.lower_bound,
            witness: report.witness.clone().unwrap_or_default(),
            per_output_certified: report.per_output_bound.clone(),
            per_output_lower: report.per_output_lower.clone(),
            l2: args.pair.norm == Norm::L2,
            note: format!("({})", method.name()),
        };
        if let Err(error) = super::write_figure(path, args.force, |partial| plot_bound(partial, &reference, &compressed, set, &figure)) {
            return Ok(super::figure_failed(&error));
        }
        if !args.pair.json && !args.quiet {
            println!("figure:    {}", path.display());
        }
    }
    Ok(exit_code(&report, args.eps.as_ref()))
}

fn decision_name(decision: Decision) -> &'static str {
    match decision {
        Decision::Proven => "proven",
        Decision::Counterexample => "counterexample",
        Decision::Unknown => "unknown",
    }
}

fn exit_code(report: &BoundReport, eps: Option<&Threshold>) -> u8 {
    match eps {
        Some(eps) => match super::decide(report, eps) {
            Decision::Proven => 0,
            Decision::Counterexample => 1,
            Decision::Unknown => 3,
        },
        None if report.status == Status::Certified => 0,
        // a solver bound is not a certificate, but a checked bound came with it
        None if report.certified_bound.is_some() => 0,
        None => 3,
    }
}

/// The quantity bounded: `g` sees `x'` under `--input-quant` (within the
/// step of `x`) and `--independent-inputs` (anywhere in the set).
fn norm_text(args: &BoundArgs) -> String {
    let coupled = args.pair.coupling.input_quant.is_some() || args.pair.coupling.independent_inputs;
    let x_g = if coupled { "x'" } else { "x" };
    // with --outputs the statement is about those outputs only, and says so
    match (&args.outputs, args.pair.norm == Norm::L2) {
        (None, true) => format!("||f(x) - g({x_g})||_2"),
        (None, false) => format!("max_j |f_j(x) - g_j({x_g})|"),
        (Some(outputs), l2) => {
            let list = outputs.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
            if l2 {
                format!("||f_J(x) - g_J({x_g})||_2 (J = {{{list}}})")
            } else {
                format!("max_(j in {{{list}}}) |f_j(x) - g_j({x_g})|")
            }
        }
    }
}

/// The first line: what kind of number this is, plainly.
fn headline(report: &BoundReport, args: &BoundArgs) -> String {
    let norm = norm_text(args);
    if let Some(eps) = &args.eps {
        let decision = super::decide(report, eps);
        let detail = match decision {
            Decision::Proven => format!("certified {norm} <= {} <= eps {eps}", super::at_most(report.certified_bound.unwrap_or(f64::NAN), eps)),
            Decision::Counterexample => format!("observed {} > eps {eps}", super::beyond(report.lower_bound, eps)),
            Decision::Unknown => match (report.certified_bound, report.solver_bound) {
                (_, Some(s)) => format!("no re-checked bound <= eps {eps} (HiGHS's bound {} is not re-checked)", above(s, 9)),
                (Some(c), None) => format!("certified {}, not proven <= eps {eps}; observed {}", above(c, 9), below(report.lower_bound, 9)),
                (None, None) => format!("no certificate{}", report.note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()),
            },
        };
        return format!("decision: {} ({detail})", decision_name(decision));
    }
    match report.status {
        Status::Certified => format!("certified: {norm} <= {} for every x in the set", above(report.certified_bound.unwrap_or(f64::NAN), 9)),
        Status::SolverBound => format!("solver bound (HiGHS, NOT re-checked): {norm} <= {}", above(report.solver_bound.unwrap_or(f64::NAN), 9)),
        Status::NoCertificate => format!("no certificate ({})", report.note.clone().unwrap_or_else(|| "unknown reason".into())),
    }
}

/// Plain lines on the quantisers clamping at the witness: which outputs a
/// quantised output holds at its top or bottom level, and how many hidden
/// neurons clamp (a folded ReLU's bottom clamp is not counted).
pub fn saturation_lines(saturation: &deltacert::bound::WitnessSaturation) -> Vec<String> {
    let list = |v: &[usize]| v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    let mut lines = Vec::new();
    for (name, layers) in [("f", &saturation.reference), ("g", &saturation.compressed)] {
        for s in layers.iter() {
            for (neurons, side, level) in [(&s.at_top, "top", s.top_level), (&s.at_bottom, "bottom", s.bottom_level)] {
                if neurons.is_empty() {
                    continue;
                }
                lines.push(if s.outputs {
                    format!("{name}'s quantised output (layer {}) holds output{} {} at its {side} level {level:.6e} at the witness", s.layer, if neurons.len() > 1 { "s" } else { "" }, list(neurons))
                } else {
                    format!("{name}'s quantiser at layer {}: {} neuron{} at the {side} level {level:.6e} at the witness", s.layer, neurons.len(), if neurons.len() > 1 { "s" } else { "" })
                });
            }
        }
    }
    lines
}

fn print_human(report: &BoundReport, args: &BoundArgs) {
    println!("{}", headline(report, args));
    let norm = norm_text(args);
    if args.eps.is_some() || report.status == Status::SolverBound {
        match report.certified_bound {
            Some(b) => println!("certified: {norm} <= {} (re-checked with outward rounding)", above(b, 9)),
            None => println!("certified: none"),
        }
    }
    if let Some(s) = report.solver_bound.filter(|_| args.eps.is_some()) {
        println!("solver:    {} (HiGHS's bound, NOT re-checked)", above(s, 9));
    }
    match &report.witness {
        Some(w) => println!("observed:  {} at x = {w:?}", below(report.lower_bound, 9)),
        None => println!("observed:  none (no input of the set was evaluated)"),
    }
    if let Some(xg) = &report.witness_compressed {
        println!("           (compressed network's input x' = {xg:?})");
    }
    for line in saturation_lines(&report.witness_saturation) {
        println!("saturated: {line}");
    }
    if let Some(r) = report.ratio {
        println!("ratio:     certified / observed = {r:.4}");
    }
    if report.per_output_bound.len() > 1 {
        for (j, (b, l)) in report.per_output_bound.iter().zip(&report.per_output_lower).enumerate() {
            let b = b.map_or("none".to_string(), |b| above(b, 6));
            let solver = report.per_output_solver_bound.get(j).copied().flatten().map(|s| format!(", solver {}", above(s, 6))).unwrap_or_default();
            // with --outputs, the network's own numbering
            let number = args.outputs.as_ref().map_or(j, |list| list[j]);
            println!("output {number}:  certified {b}{solver}, observed {}", below(*l, 6));
        }
    }
    if let Some(note) = report.note.as_ref().filter(|_| report.status != Status::NoCertificate) {
        println!("note:      {note}");
    }
    let details = &report.details;
    if let Some(p) = &details.propagate {
        println!("propagate: one pass {}, interval {}, {} unstable neurons", above(p.one_pass_bound, 6), above(p.interval_bound, 6), p.unstable_neurons);
        if let Some(o) = &p.optimised_slopes {
            println!("slopes:    optimised {} ({} steps, {} unstable neurons, {:.2} s)", above(o.bound, 6), o.iterations, o.unstable_neurons, o.seconds);
        }
    }
    for (name, evidence) in &details.methods {
        println!("{:<11}{}", format!("{name}:"), evidence.summary());
    }
    for member in &details.union {
        let bound = member.certified_bound.map_or("none".to_string(), |b| above(b, 6));
        println!("box {}:     certified {bound}, observed {}", member.index, below(member.lower_bound, 6));
    }
}
