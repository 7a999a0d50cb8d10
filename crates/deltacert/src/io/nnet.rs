//! The `.nnet` text format (Kyle Julian, Stanford; ACAS Xu).
//!
//! Layout after `//` comment lines, comma-separated:
//! `numLayers, inputSize, outputSize, maxLayerSize`; the `numLayers + 1` layer
//! sizes; a (deprecated) symmetric flag; input minimums, maximums, means and
//! ranges (files may list more entries than inputs, e.g. ACAS Xu lists 7 and an
//! output mean/range: the first `inputSize` are used); then for every layer its
//! weight rows followed by its biases, one neuron per line.
//!
//! Semantics: inputs clipped to `[min, max]`, normalised `(x - mean) / range`;
//! ReLU on hidden layers, identity on the output; outputs are not de-normalised.

use crate::activation::Activation;
use crate::error::{malformed, Result};
use crate::network::{InputTransform, Layer, Matrix, Network};

/// Parses `.nnet` text into a network.
pub fn parse(text: &str) -> Result<Network> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//") && !l.trim().is_empty());
    let mut next_numbers = |what: &str| -> Result<(usize, Vec<f64>)> {
        let (index, line) = lines.next().ok_or_else(|| malformed(format!("file ends before {what}")))?;
        let numbers = line
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<f64>().map_err(|_| malformed(format!("line {}: '{s}' is not a number ({what})", index + 1))))
            .collect::<Result<Vec<f64>>>()?;
        Ok((index + 1, numbers))
    };
    let as_count = |v: f64, what: &str| -> Result<usize> {
        if v >= 0.0 && v.fract() == 0.0 && v < 1e8 { Ok(v as usize) } else { Err(malformed(format!("{what} is {v}, not a count"))) }
    };

    let (line, header) = next_numbers("the header")?;
    if header.len() < 3 {
        return Err(malformed(format!("line {line}: header needs numLayers, inputSize, outputSize")));
    }
    let num_layers = as_count(header[0], "numLayers")?;
    let input_size = as_count(header[1], "inputSize")?;
    let output_size = as_count(header[2], "outputSize")?;
    if num_layers == 0 || input_size == 0 {
        return Err(malformed("header declares no layers or no inputs"));
    }
    let (line, sizes) = next_numbers("the layer sizes")?;
    if sizes.len() < num_layers + 1 {
        return Err(malformed(format!("line {line}: expected {} layer sizes, found {}", num_layers + 1, sizes.len())));
    }
    let sizes: Vec<usize> = sizes[..=num_layers].iter().map(|&s| as_count(s, "a layer size")).collect::<Result<_>>()?;
    if sizes[0] != input_size || sizes[num_layers] != output_size {
        return Err(malformed("layer sizes disagree with inputSize/outputSize in the header"));
    }
    next_numbers("the symmetric flag")?;
    let mut read_vector = |what: &str| -> Result<Vec<f64>> {
        let (line, values) = next_numbers(what)?;
        if values.len() < input_size {
            return Err(malformed(format!("line {line}: {what} has {} entries, need {input_size}", values.len())));
        }
        Ok(values[..input_size].to_vec())
    };
    let min = read_vector("input minimums")?;
    let max = read_vector("input maximums")?;
    let mean = read_vector("input means")?;
    let range = read_vector("input ranges")?;

    let mut layers = Vec::with_capacity(num_layers);
    for k in 0..num_layers {
        let (rows, cols) = (sizes[k + 1], sizes[k]);
        let mut data = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            let (line, row) = next_numbers(&format!("layer {} weight row {r}", k + 1))?;
            if row.len() != cols {
                return Err(malformed(format!("line {line}: layer {} weight row {r} has {} values, expected {cols}", k + 1, row.len())));
            }
            data.extend(row);
        }
        let mut bias = Vec::with_capacity(rows);
        for r in 0..rows {
            let (line, b) = next_numbers(&format!("layer {} bias {r}", k + 1))?;
            if b.len() != 1 {
                return Err(malformed(format!("line {line}: layer {} bias {r} should be one value", k + 1)));
            }
            bias.push(b[0]);
        }
        let activation = if k + 1 == num_layers { Activation::Identity } else { Activation::Relu };
        layers.push(Layer::dense(k, Matrix::from_rows(rows, cols, data), bias, activation));
    }
    Ok(Network {
        input_dim: input_size,
        input_transform: Some(InputTransform { min, max, mean, range }),
        layers,
        kept_neurons: None,
        source_dtype: "nnet-text".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const TINY: &str = "// tiny\n2,2,1,3,\n2,3,1,\n0,\n-1,-1,\n1,1,\n0,0,0,\n1,1,1,\n1,0,\n0,1,\n1,1,\n0.5,\n0,\n-1,\n1,-1,1,\n0.25,\n";

    #[test]
    fn parses_a_tiny_network_and_evaluates_it() {
        let net = parse(TINY).unwrap();
        net.validate().unwrap();
        assert_eq!(net.layers.len(), 2);
        // x = (0.5, 2.0) is clipped to (0.5, 1.0)
        // v1 = [0.5+0.5, 1.0, 1.5-1] = [1, 1, 0.5]; y = 1 - 1 + 0.5 + 0.25
        let y = net.eval(&[0.5, 2.0]);
        assert!((y[0] - 0.75).abs() < 1e-15);
    }

    #[test]
    fn truncated_file_is_malformed() {
        let cut = &TINY[..TINY.len() - 8];
        let err = parse(cut).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Malformed);
    }

    #[test]
    fn garbage_number_names_the_line() {
        let bad = TINY.replace("0.5,\n", "abc,\n");
        let err = parse(&bad).unwrap_err();
        assert!(err.context.contains("'abc'"), "{}", err.context);
    }
}
