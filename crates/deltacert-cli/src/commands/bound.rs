//! `deltacert bound REFERENCE COMPRESSED [input set] [options]`.

use super::input;
use crate::args::BoundArgs;
use deltacert::bound::{bound_with_progress, check_shapes, BoundReport, BoundRequest, Method, Status, DEFAULT_SPLIT_SECONDS};
use deltacert::error::{Error, ErrorKind};
use deltacert::io::read_model;
use deltacert::report::plot::{plot_bound, BoundFigure};
use deltacert::sdp::qc::QcOptions;
use deltacert::sdp::{QcChoice, SdpSettings};
use deltacert::search::AttackSettings;
use std::process::ExitCode;

pub fn run(args: BoundArgs) -> deltacert::Result<ExitCode> {
    if let Some(threads) = args.threads {
        if threads == 0 {
            return Err(Error::new(ErrorKind::InvalidOption, "--threads must be at least 1"));
        }
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    }
    if let Some(t) = args.timeout {
        if !(t > 0.0) {
            return Err(Error::new(ErrorKind::InvalidOption, format!("--timeout {t}: must be positive")));
        }
    }
    if let Some(e) = args.eps {
        if !(e >= 0.0) || !e.is_finite() {
            return Err(Error::new(ErrorKind::InvalidOption, format!("--eps {e}: must be a finite number >= 0")));
        }
    }
    if !(args.target_ratio >= 1.0) || !args.target_ratio.is_finite() {
        return Err(Error::new(ErrorKind::InvalidOption, format!("--target-ratio {}: must be a finite number >= 1", args.target_ratio)));
    }
    let reference = read_model(&args.pair.reference)?;
    let compressed = read_model(&args.pair.compressed)?;
    let set = input::input_set(&args.pair.set, &reference)?;
    let qcs = if args.qcs == "auto" { QcChoice::Auto } else { QcChoice::Fixed(QcOptions::parse(&args.qcs)?) };
    let request = BoundRequest {
        set,
        coupling: input::coupling(&args.pair.coupling, reference.input_dim)?,
        norm: input::norm(&args.pair.norm),
        method: method(&args.method),
        sdp: SdpSettings { qcs, time_limit: args.timeout, max_dimension: args.sdp_max_dim },
        attack: AttackSettings { samples: args.pair.samples, seed: args.pair.seed, ..AttackSettings::default() },
        eps: args.eps,
        split_seconds: args.timeout.unwrap_or(DEFAULT_SPLIT_SECONDS),
        target_ratio: args.target_ratio,
    };
    check_shapes(&reference, &compressed, &request)?;
    if let Some(path) = &args.plot {
        if path.exists() && !args.force {
            return Err(Error::new(ErrorKind::InvalidOption, format!("{} already exists (pass --force to overwrite it)", path.display())));
        }
        let extension = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
        if !matches!(extension.as_deref(), Some("svg" | "png")) {
            return Err(Error::new(ErrorKind::InvalidOption, format!("{}: plots are written as .svg or .png", path.display())));
        }
    }
    if !args.quiet && !args.pair.json {
        let method = match request.method {
            Method::Milp => "the MILP",
            Method::Sdp => "the SDP",
            Method::Propagate => "differential propagation",
            Method::Auto => "differential propagation and input splitting",
        };
        eprintln!("deltacert: bounding {} vs {} with {method} ...", args.pair.reference.display(), args.pair.compressed.display());
    }
    let quiet = args.quiet;
    let report = bound_with_progress(&reference, &compressed, &request, &|p| {
        if !quiet && p.seconds >= 1.0 {
            eprintln!("deltacert: {:.0} s: {} pieces bounded, {} open; certified <= {:.6e}, observed {:.6e}", p.seconds, p.pieces_done, p.pieces_open, p.upper, p.lower);
        }
    })?;
    if let Some(path) = &args.plot {
        let figure = BoundFigure {
            certified: report.certified_bound,
            lower: report.lower_bound,
            witness: report.witness.clone(),
            per_output_certified: report.per_output_bound.clone(),
            per_output_lower: report.per_output_lower.clone(),
            l2: args.pair.norm == "l2",
            note: format!("({})", args.method),
        };
        plot_bound(path, &reference, &compressed, &request.set, &figure)?;
    }
    if args.pair.json {
        let mut value = serde_json::to_value(&report).expect("report serialises");
        value["reference"] = args.pair.reference.display().to_string().into();
        value["compressed"] = args.pair.compressed.display().to_string().into();
        if let Some(eps) = args.eps {
            value["eps"] = eps.into();
            value["decision"] = decision_name(&report, eps).into();
        }
        println!("{value}");
    } else {
        print_human(&report, &args);
    }
    Ok(exit_code(&report, args.eps))
}

/// The library's method for a `--method` value.
pub fn method(name: &str) -> Method {
    match name {
        "milp" => Method::Milp,
        "sdp" => Method::Sdp,
        "propagate" => Method::Propagate,
        _ => Method::Auto,
    }
}

fn decision_name(report: &BoundReport, eps: f64) -> &'static str {
    match (report.certified_bound, report.lower_bound > eps) {
        (Some(b), _) if b <= eps => "proven",
        (_, true) => "counterexample",
        _ => "unknown",
    }
}

fn exit_code(report: &BoundReport, eps: Option<f64>) -> ExitCode {
    match eps {
        Some(eps) => match decision_name(report, eps) {
            "proven" => ExitCode::SUCCESS,
            "counterexample" => ExitCode::from(1),
            _ => ExitCode::from(3),
        },
        None if report.status == Status::Certified => ExitCode::SUCCESS,
        None => ExitCode::from(3),
    }
}

fn print_human(report: &BoundReport, args: &BoundArgs) {
    let norm = if args.pair.norm == "l2" { "||f(x) - g(x)||_2" } else { "max_j |f_j(x) - g_j(x)|" };
    match report.certified_bound {
        Some(b) => println!("certified: {norm} <= {b:.9e} for every x in the set"),
        None => {
            let reason = report.details.get("sdp").filter(|s| !s.is_null()).or(report.details.get("milp")).unwrap_or(&report.details)["solves"]
                .as_array()
                .and_then(|s| s.iter().find_map(|s| s["refusal"].as_str().or(s["status"].as_str().filter(|st| *st != "Optimal")).map(String::from)))
                .unwrap_or_else(|| "unknown".into());
            println!("no certificate ({reason})");
        }
    }
    println!("observed:  {:.9e} at x = {:?}", report.lower_bound, report.witness);
    if let Some(xg) = &report.witness_compressed {
        println!("           (compressed network's input x' = {xg:?})");
    }
    if let Some(r) = report.ratio {
        println!("ratio:     certified / observed = {r:.4}");
    }
    if report.per_output_bound.len() > 1 {
        for (j, (b, l)) in report.per_output_bound.iter().zip(&report.per_output_lower).enumerate() {
            let b = b.map_or("no certificate".to_string(), |b| format!("{b:.6e}"));
            println!("output {j}:  certified {b}, observed {l:.6e}");
        }
    }
    if let Some(p) = report.details.get("propagate") {
        println!("propagate: one pass {:.6e}, {} unstable neurons", p["one_pass_bound"].as_f64().unwrap_or(f64::NAN), p["unstable_neurons"]);
    }
    if let Some(split) = report.details.get("split").filter(|s| !s.is_null()) {
        println!("split:     {} pieces bounded, {} open, depth {}, stopped: {}, {:.2} s", split["pieces_bounded"], split["pieces_open"], split["max_depth"], split["stop"].as_str().unwrap_or("?"), split["seconds"].as_f64().unwrap_or(0.0));
    }
    if let Some(sdp) = report.details.get("sdp").filter(|s| !s.is_null()) {
        println!("sdp:       dimension {}, {} unstable + {} stable neurons, {} matched pairs, {:.2} s", sdp["dim"], sdp["variable_neurons"], sdp["stable_neurons"], sdp["matched_pairs"], report.seconds);
    }
    if let Some(milp) = report.details.get("milp") {
        let statuses: Vec<String> = milp["solves"].as_array().map(|s| s.iter().map(|s| format!("{}", s["status"].as_str().unwrap_or("?"))).collect()).unwrap_or_default();
        println!("milp:      {} binaries per solve, statuses {}, {:.2} s", milp["binaries"], statuses.join("/"), report.seconds);
    }
    if let Some(path) = &args.plot {
        println!("figure:    {}", path.display());
    }
    if let Some(eps) = args.eps {
        println!("decision:  {} (eps = {eps})", decision_name(report, eps));
    }
}
