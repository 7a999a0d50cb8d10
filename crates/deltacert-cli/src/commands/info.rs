//! `deltacert info MODEL`.

use crate::args::InfoArgs;
use deltacert::activation::Activation;
use deltacert::io::read_model_and_convolutions;
use serde_json::json;

pub fn run(args: InfoArgs) -> deltacert::Result<u8> {
    // a Conv is held (and its parameters counted) as the dense matrix it applies
    let (net, convolutions) = read_model_and_convolutions(&args.model)?;
    let convolutions = convolutions.len();
    // a graph without weight tensors (Identity, Relu, Add of the input to
    // itself) is held as layers with identity-like matrices: the file has no
    // parameters, and those matrices' zeros are no sparsity of it
    let weightless = net.source_dtype == "none";
    let parameters = if weightless { 0 } else { net.parameter_count() };
    let layers: Vec<_> = net
        .layers
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let mut layer = json!({
                "layer": k + 1,
                "width": l.width(),
                "activation": l.activation.name(),
                "reads": l.terms.iter().map(|t| t.source).collect::<Vec<_>>(),
                "parameters": if weightless { 0 } else { l.bias.len() + l.terms.iter().map(|t| t.weights.data.len()).sum::<usize>() },
            });
            if let Activation::Quantize { scale, zero_point, qmin, qmax } = l.activation {
                layer["quantizer"] = json!({ "scale": scale, "zero_point": zero_point, "qmin": qmin, "qmax": qmax });
            }
            layer
        })
        .collect();
    let report = json!({
        "model": args.model.display().to_string(),
        "inputs": net.input_dim,
        "outputs": net.output_dim(),
        "layers": layers,
        "parameters": parameters,
        "convolutions_as_dense_matrices": convolutions,
        "sparsity": if weightless { serde_json::Value::Null } else { json!(net.sparsity()) },
        "dtype": net.source_dtype,
        "input_normalisation": net.input_transform.is_some(),
        "structured_pruning_map": net.kept_neurons.is_some(),
        "output_softmax": net.output_softmax,
    });
    if args.json {
        println!("{report}");
    } else {
        println!("model:       {}", args.model.display());
        println!("inputs:      {}", net.input_dim);
        println!("outputs:     {}", net.output_dim());
        println!("dtype:       {}", net.source_dtype);
        match convolutions {
            _ if weightless => println!("parameters:  0 (the graph has no weight tensors)"),
            0 => println!("parameters:  {parameters}"),
            1 => println!("parameters:  {parameters} (its Conv node counted as the dense matrix it applies)"),
            n => println!("parameters:  {parameters} (its {n} Conv nodes counted as the dense matrices they apply)"),
        }
        if !weightless {
            println!("sparsity:    {:.2}% of weights are zero", 100.0 * net.sparsity());
        }
        if net.input_transform.is_some() {
            println!("input:       clipped to [min, max] and normalised (x - mean) / range");
        }
        for (k, l) in net.layers.iter().enumerate() {
            let kind = if k + 1 == net.layers.len() { "output" } else { "hidden" };
            let reads: Vec<String> = l.terms.iter().map(|t| if t.source == 0 { "input".into() } else { format!("layer {}", t.source) }).collect();
            let quantizer = match l.activation {
                Activation::Quantize { scale, zero_point, qmin, qmax } => format!("  (scale {scale}, zero point {zero_point}, levels [{qmin}, {qmax}])"),
                _ => String::new(),
            };
            println!("layer {:>2}:    {kind} width {:>4}  {:<10} reads {}{quantizer}", k + 1, l.width(), l.activation.name(), reads.join(" + "));
        }
        if net.output_softmax {
            println!("output:      softmax of layer {} (eval gives probabilities; bounds are on the probabilities)", net.layers.len());
        }
    }
    Ok(0)
}
