//! `deltacert plan MODEL [input set] --tolerance T --quantize fixed:A..B | --prune A..B[:STEP]`:
//! compress at each setting, certify each, name the most aggressive setting
//! whose certified error is within the tolerance. Each setting is decided
//! against the tolerance (decide mode with `eps = tolerance`): proven within
//! it, a counterexample above it, or unknown. Exit 0 when a setting is
//! chosen, 1 when every setting has a counterexample, 3 otherwise.

use super::input;
use crate::args::PlanArgs;
use deltacert::bound::{bound, BoundRequest, Decision, DEFAULT_TARGET_RATIO};
use deltacert::compress::{prune_structured, prune_unstructured, quantize, PruneScope, QuantScheme};
use deltacert::error::{Error, ErrorKind};
use deltacert::io::read_model_and_convolutions;
use deltacert::network::Network;
use deltacert::report::plot::{plot_plan, PlanPoint};
use deltacert::sdp::SdpSettings;
use deltacert::attack::AttackSettings;
use serde_json::json;

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOption, msg)
}

/// One setting to try: its label, its numeric value for the figure, and how to compress.
struct Setting {
    label: String,
    value: f64,
    kind: SettingKind,
}

enum SettingKind {
    Quantise(QuantScheme),
    Prune { fraction: f64, structured: bool },
}

fn parse_settings(args: &PlanArgs) -> deltacert::Result<(Vec<Setting>, bool)> {
    if let Some(text) = &args.quantize {
        let (kind, range) = text.split_once(':').ok_or_else(|| invalid(format!("--quantize {text}: expected fixed:A..B or round:A..B")))?;
        let (a, b) = range.split_once("..").ok_or_else(|| invalid(format!("--quantize {text}: expected a range A..B")))?;
        let parse = |s: &str| s.trim().parse::<u32>().ok().filter(|v| *v <= 52).ok_or_else(|| invalid(format!("--quantize {text}: '{s}' is not a number of bits")));
        let (a, b) = (parse(a)?, parse(b)?);
        if a > b {
            return Err(invalid(format!("--quantize {text}: empty range")));
        }
        let settings = (a..=b)
            .map(|bits| {
                let scheme = match kind {
                    "fixed" => Ok(QuantScheme::FixedTruncate { fraction_bits: bits }),
                    "round" => Ok(QuantScheme::FixedRound { fraction_bits: bits }),
                    _ => Err(invalid(format!("--quantize {text}: use fixed:A..B or round:A..B"))),
                }?;
                Ok(Setting { label: format!("{kind}:{bits}"), value: bits as f64, kind: SettingKind::Quantise(scheme) })
            })
            .collect::<deltacert::Result<_>>()?;
        return Ok((settings, true));
    }
    let text = args.prune.as_deref().unwrap_or_default();
    let (range, step) = match text.split_once(':') {
        Some((r, s)) => (r, s.parse::<f64>().map_err(|_| invalid(format!("--prune {text}: bad step")))?),
        None => (text, 0.1),
    };
    let (a, b) = range.split_once("..").ok_or_else(|| invalid(format!("--prune {text}: expected A..B[:STEP]")))?;
    let parse = |s: &str| s.trim().parse::<f64>().ok().filter(|v| (0.0..=1.0).contains(v)).ok_or_else(|| invalid(format!("--prune {text}: '{s}' is not a fraction in [0, 1]")));
    let (a, b) = (parse(a)?, parse(b)?);
    if a > b || !(step > 0.0) || !step.is_finite() {
        return Err(invalid(format!("--prune {text}: empty range, or a step that is not a finite number > 0")));
    }
    let count = ((b - a) / step + 1e-9).floor();
    if !(count < MAX_SETTINGS as f64) {
        return Err(invalid(format!("--prune {text}: {} settings; at most {MAX_SETTINGS} are tried (use a larger step)", count + 1.0)));
    }
    if [a, b, step].iter().any(|&x| decimals_of(x) > MAX_DECIMALS) {
        return Err(invalid(format!("--prune {text}: at most {MAX_DECIMALS} decimals in A, B and the step")));
    }
    let settings = prune_grid(a, b, step, count as usize)
        .into_iter()
        .map(|(label, fraction)| Setting { label: format!("prune {label}"), value: fraction, kind: SettingKind::Prune { fraction, structured: args.structured } })
        .collect();
    Ok((settings, false))
}

/// Most decimals of a pruning range's numbers.
const MAX_DECIMALS: usize = 12;

/// The decimals of `x` as Rust writes it (shortest round trip).
fn decimals_of(x: f64) -> usize {
    format!("{x}").split_once('.').map_or(0, |(_, digits)| digits.len())
}

/// The `count + 1` settings of `--prune A..B:STEP`, each a label and the
/// fraction pruned: the number the label reads as. Labels have two decimals
/// or as many as `A`, `B` and the step have as written (`0.101`, `0.102` for
/// a step of 0.001; `0.0005`, `0.0015` from 0.0005; at most
/// [`MAX_DECIMALS`]). `A + i * step` in f64 is not always that decimal
/// (`6 * 0.15` is 0.8999999999999999, which prunes fewer weights than 0.9
/// where 0.9 of a layer is a whole count), and `compress --prune` with the
/// label must give the model the plan certified.
fn prune_grid(a: f64, b: f64, step: f64, count: usize) -> Vec<(String, f64)> {
    let decimals = decimals_of(a).max(decimals_of(b)).max(decimals_of(step)).clamp(2, MAX_DECIMALS);
    (0..=count)
        .map(|i| {
            // never past B (the tolerance of `count` may round the last step above it)
            let fraction = (a + step * i as f64).min(b);
            let label = format!("{fraction:.decimals$}");
            let read: f64 = label.parse().expect("a formatted number reads back");
            (label, read)
        })
        .collect()
}

/// Most settings `plan` tries in one run.
pub const MAX_SETTINGS: usize = 1000;

fn compress(model: &Network, kind: &SettingKind) -> deltacert::Result<Network> {
    Ok(match *kind {
        SettingKind::Quantise(scheme) => quantize(model, scheme)?.0,
        SettingKind::Prune { fraction, structured: true } => prune_structured(model, fraction)?.0,
        SettingKind::Prune { fraction, structured: false } => prune_unstructured(model, fraction, PruneScope::PerLayer)?.0,
    })
}

pub fn run(args: PlanArgs) -> deltacert::Result<u8> {
    if let Some(path) = &args.plot {
        super::check_plot_path(path, args.force)?;
    }
    let method = args.method;
    if method == deltacert::bound::Method::MILP {
        return Err(invalid("plan certifies every setting; --method milp gives a solver bound that is not re-checked".into()));
    }
    if args.qcs.is_some() && !method.implementation().reads(deltacert::methods::MethodOption::SdpSettings) {
        return Err(invalid("--qcs applies to --method sdp or auto, not propagate".into()));
    }
    let memory_limit = super::bound::memory_limit(args.max_memory.as_deref())?;
    if args.json {
        // stopped over the memory budget, the run still writes one object
        // (the rows done are in it only in the human table, printed as it goes)
        let over = json!({"tolerance": args.tolerance.value, "rows": [], "chosen": null, "status": "memory_limit", "note": "the memory budget (--max-memory) was exceeded: no setting's row is given"});
        crate::watchdog::set_over_budget_report(over.to_string() + "\n");
    }
    crate::watchdog::set_memory_budget(memory_limit.unwrap_or_else(deltacert::limits::default_memory_bytes));
    let (settings, quantising) = parse_settings(&args)?;
    // a read that blocks (a named pipe without a writer) ends at twice the
    // limit plus 5 s, as in `bound`
    let reading = crate::watchdog::reading_deadline(args.timeout, args.json.then_some(|note: &str| json!({"tolerance": args.tolerance.value, "rows": [], "chosen": null, "status": "time_limit", "note": note}).to_string()));
    let (model, convolutions) = read_model_and_convolutions(&args.model)?;
    if !quantising {
        super::compress::refuse_pruning_a_convolution(&args.model, &convolutions, "--prune")?;
    }
    input::check_input_space(&args.set, &model)?;
    let set = input::input_set(&args.set, &model)?;
    reading.finished();
    let coupling = input::coupling(&args.coupling, model.input_dim)?;
    let request = BoundRequest {
        set,
        coupling: coupling.bounded,
        norm: args.norm,
        method,
        sdp: SdpSettings { qcs: super::bound::qc_choice(args.qcs.as_deref())?, ..SdpSettings::default() },
        attack: AttackSettings::default(),
        eps: Some(args.tolerance.lower),
        time_limit: args.timeout,
        memory_limit,
        target_ratio: DEFAULT_TARGET_RATIO,
        slopes: deltacert::propagation::SlopeOptimisation::STANDARD,
        piece_slopes: deltacert::propagation::SlopeOptimisation::NONE,
        branching: deltacert::branch_and_bound::Branching::Auto,
        phase_programs: true,
        phase_multiplier_steps: deltacert::branch_and_bound::DEFAULT_PHASE_MULTIPLIER_STEPS,
        written_steps: coupling.written_steps,
    };
    let mut rows = Vec::new();
    if !args.json {
        println!("{:<12} {:>10} {:>10} {:>14} {:>14} {:>8}", "setting", "nonzeros", "bits", "certified", "observed", "seconds");
    }
    for (i, setting) in settings.iter().enumerate() {
        let compressed = compress(&model, &setting.kind)?;
        let report = bound(&model, &compressed, &request)?;
        // each row printed is an answer: from a run within its budget
        crate::watchdog::check_peak_memory();
        let nonzeros = compressed.layers.iter().flat_map(|l| l.terms.iter().flat_map(|t| t.weights.data.iter()).chain(l.bias.iter())).filter(|w| **w != 0.0).count();
        let bits = match setting.kind {
            SettingKind::Quantise(QuantScheme::FixedTruncate { fraction_bits } | QuantScheme::FixedRound { fraction_bits }) => format!("Q{fraction_bits}"),
            _ => "float".into(),
        };
        if !args.json {
            let certified = report.certified_bound.map_or("none".to_string(), |b| super::above(b, 6));
            println!("{:<12} {:>10} {:>10} {:>14} {:>14} {:>8.2}", setting.label, nonzeros, bits, certified, super::below(report.lower_bound, 6), report.seconds);
            stderr_line!("deltacert: {}/{} settings done", i + 1, settings.len());
        }
        rows.push((setting, nonzeros, report));
    }
    // most aggressive: fewest bits, or the largest pruned fraction
    let within: Vec<&(&Setting, usize, _)> = rows.iter().filter(|(_, _, r)| super::decide(r, &args.tolerance) == Decision::Proven).collect();
    let all_refuted = rows.iter().all(|(_, _, r)| super::decide(r, &args.tolerance) == Decision::Counterexample);
    let chosen = if quantising {
        within.iter().min_by(|a, b| a.0.value.total_cmp(&b.0.value))
    } else {
        within.iter().max_by(|a, b| a.0.value.total_cmp(&b.0.value))
    };
    crate::watchdog::finish_run();
    if args.json {
        let table: Vec<_> = rows
            .iter()
            .map(|(s, nz, r)| json!({"setting": s.label, "value": s.value, "nonzeros": nz, "certified_bound": r.certified_bound, "lower_bound": r.lower_bound, "decision": super::decide(r, &args.tolerance), "seconds": r.seconds}))
            .collect();
        println!("{}", json!({"tolerance": args.tolerance.value, "rows": table, "chosen": chosen.map(|c| c.0.label.clone())}));
    } else {
        match chosen {
            Some((s, _, r)) => println!("chosen: {} (certified {} <= tolerance {})", s.label, super::at_most(r.certified_bound.unwrap_or_default(), &args.tolerance), args.tolerance),
            None => println!("chosen: none: no setting has a certified error <= {}", args.tolerance),
        }
    }
    // drawn once the result is out: a figure that cannot be written does not lose it
    if let Some(path) = &args.plot {
        let points: Vec<PlanPoint> = rows.iter().map(|(s, _, r)| PlanPoint { setting: s.value, certified: r.certified_bound, lower: r.lower_bound }).collect();
        let label = if quantising { "fractional bits Q" } else { "pruned fraction" };
        if let Err(error) = super::write_figure(path, args.force, |partial| plot_plan(partial, &points, label, args.tolerance.value, quantising)) {
            return Ok(super::figure_failed(&error));
        }
        if !args.json {
            println!("figure: {}", path.display());
        }
    }
    Ok(match chosen {
        Some(_) => 0,
        None if all_refuted => 1,
        None => 3,
    })
}

#[cfg(test)]
mod tests {
    use super::prune_grid;

    /// Every fraction pruned is the decimal its label shows, inside the
    /// range, so that `compress --prune LABEL` reproduces the certified
    /// model; the steps are those of the range.
    #[test]
    fn fractions_are_the_decimals_their_labels_show() {
        for (a, b, step) in [(0.0, 0.9, 0.15), (0.0, 1.0, 0.1), (0.05, 0.95, 0.05), (0.0005, 0.0205, 0.001), (0.1, 0.8, 0.07), (0.0, 0.899999999999, 0.15)] {
            let count = ((b - a) / step + 1e-9f64).floor() as usize;
            let grid = prune_grid(a, b, step, count);
            assert_eq!(grid.len(), count + 1);
            for (i, (label, fraction)) in grid.iter().enumerate() {
                assert_eq!(*fraction, label.parse::<f64>().unwrap(), "{label}");
                assert!(*fraction >= a && *fraction <= b, "{label} outside [{a}, {b}]");
                assert!((fraction - (a + step * i as f64)).abs() < 1e-9, "{label} is not step {i}");
            }
        }
        // 0 + 6 * 0.15 is 0.8999999999999999 in f64; the setting is 0.90
        assert_eq!(prune_grid(0.0, 0.9, 0.15, 6)[6], ("0.90".to_string(), 0.9));
        assert_eq!(prune_grid(0.0, 0.899999999999, 0.15, 5)[5].0, "0.750000000000");
    }
}
