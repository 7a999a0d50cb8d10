//! `deltacert compress MODEL (--prune F [--structured|--global] | --quantize S [--per-channel]) -o OUT`.

use crate::args::CompressArgs;
use deltacert::compress::{prune_structured, prune_unstructured, quantize, quantize_activations, PruneScope, QuantScheme};
use deltacert::error::{Error, ErrorKind};
use deltacert::io::json::read_inputs;
use deltacert::io::onnx::{write, ExportFormat};
use deltacert::io::{read_model_and_convolutions, write_new_file};
use serde_json::json;

pub fn run(args: CompressArgs) -> deltacert::Result<u8> {
    let invalid = |message: &str| Err(Error::new(ErrorKind::InvalidOption, message.to_string()));
    // the scheme first: an unknown one is named as such, not as a flag that does not fit it
    let scheme = args.quantize.as_deref().map(|text| QuantScheme::parse(text, args.per_channel)).transpose()?;
    if args.per_channel && !matches!(scheme, Some(QuantScheme::Integer { .. })) {
        return invalid("--per-channel goes with --quantize int8|int4");
    }
    if (args.structured || args.global) && args.prune.is_none() {
        return invalid(if args.structured { "--structured goes with --prune" } else { "--global goes with --prune" });
    }
    if args.activations && !matches!(scheme, Some(QuantScheme::Integer { bits: 8, .. })) {
        return invalid("--activations goes with --quantize int8");
    }
    // the file written is ONNX whatever its name; a name that says otherwise
    // (.nnet) would be read back as what it is not
    if !args.output.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        return Err(Error::new(ErrorKind::InvalidOption, format!("{}: compress writes ONNX; name the output .onnx", args.output.display())));
    }
    let (net, convolutions) = read_model_and_convolutions(&args.model)?;
    if args.prune.is_some() || args.per_channel {
        refuse_pruning_a_convolution(&args.model, &convolutions, if args.prune.is_some() { "--prune" } else { "--per-channel" })?;
    }
    let float_format = if args.dtype == "float32" { ExportFormat::Float32 } else { ExportFormat::Float64 };
    let (compressed, format, report, summary) = if let Some(fraction) = args.prune {
        let (pruned, report) = if args.structured {
            prune_structured(&net, fraction)?
        } else {
            prune_unstructured(&net, fraction, if args.global { PruneScope::Global } else { PruneScope::PerLayer })?
        };
        let summary = if args.structured {
            format!(
                "structured pruning: removed {:?} hidden neurons, widths now {:?}, {} parameters (was {})",
                report.removed_neurons,
                report.widths,
                report.parameters,
                net.parameter_count()
            )
        } else {
            format!(
                "pruned a fraction {} of the weights: sparsity {:.2}% -> {:.2}%, max weight change {:.6}",
                // as given (0.999999 is not 1.0), and -0 as 0
                fraction + 0.0,
                100.0 * report.sparsity_before,
                100.0 * report.sparsity_after,
                report.max_weight_change
            )
        };
        (pruned, float_format, serde_json::to_value(&report).expect("plain data"), summary)
    } else if let Some(scheme) = scheme {
        let (mut quantised, report) = quantize(&net, scheme)?;
        let mut activation_summary = String::new();
        if let Some(path) = args.calibration.as_ref().filter(|_| args.activations) {
            let (calibration, _) = read_inputs(path)?;
            let (with_activations, activation_report) = quantize_activations(&quantised, &calibration)?;
            quantised = with_activations;
            let scales: Vec<String> = activation_report.layers.iter().map(|(_, s)| format!("{s:.6e}")).collect();
            activation_summary = format!("; hidden ReLU activations to uint8 from {} calibration inputs, scales [{}]", activation_report.calibration_inputs, scales.join(", "));
        }
        let format = match &report.scales {
            Some(scales) => ExportFormat::QdqInt8 { scales: scales.clone() },
            None => float_format,
        };
        let summary = match scheme {
            QuantScheme::Integer { bits, per_channel } => format!(
                "quantised weights to int{bits} (symmetric, {}), max weight change {:.6}{activation_summary}",
                if per_channel { "per channel" } else { "per tensor" },
                report.max_weight_change
            ),
            QuantScheme::FixedTruncate { fraction_bits } | QuantScheme::FixedRound { fraction_bits } => format!(
                "quantised weights and biases to fixed point with {fraction_bits} fractional bits (step {}), {}, max weight change {:.6}",
                2f64.powi(-(fraction_bits as i32)),
                if matches!(scheme, QuantScheme::FixedTruncate { .. }) { "truncated toward zero" } else { "rounded to nearest" },
                report.max_weight_change
            ),
        };
        (quantised, format, serde_json::to_value(&report).expect("plain data"), summary)
    } else {
        return invalid("compress needs --prune F or --quantize S");
    };
    let bytes = write(&compressed, &format).map_err(|e| e.within(args.output.display()))?;
    write_new_file(&args.output, &bytes, args.force)?;
    // a valid ONNX file that onnxruntime cannot run: say so, and how to get one it runs
    let leaky = compressed.layers.iter().any(|l| matches!(l.activation, deltacert::activation::Activation::LeakyRelu { .. }));
    let note = (leaky && format == ExportFormat::Float64).then_some("onnxruntime has no float64 LeakyRelu kernel; --dtype float32 writes a file it runs");
    if args.json {
        println!("{}", json!({"output": args.output.display().to_string(), "report": report, "sparsity": compressed.sparsity(), "parameters": compressed.parameter_count(), "note": note}));
    } else {
        println!("{summary}");
        println!("wrote {}", args.output.display());
        if let Some(note) = note {
            println!("note: {note}");
        }
    }
    Ok(0)
}

/// Refuses `option` (pruning, or per-channel scales) on an ONNX model with a
/// Conv: a convolution is held as the dense matrix it applies, so pruning
/// that matrix would count its structural zeros and break the kernel's
/// weight sharing, and per-channel scales would be per output position.
pub(crate) fn refuse_pruning_a_convolution(model: &std::path::Path, convolutions: &[String], option: &str) -> deltacert::Result<()> {
    match convolutions.first() {
        Some(first) => Err(Error::new(ErrorKind::Unsupported, format!("{}: {first} is a Conv, which deltacert holds as a dense matrix; {option} would treat that matrix, not the kernel (prune or quantise per channel in your framework, or use per-tensor --quantize)", model.display()))),
        None => Ok(()),
    }
}
