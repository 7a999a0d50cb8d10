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
use crate::error::{malformed, Error, ErrorKind, Result};
use crate::network::{InputTransform, Layer, Matrix, Network};

/// Most layers a file may declare.
pub const MAX_LAYERS: usize = 100_000;
/// Largest layer (inputs, neurons or outputs) a file may declare.
pub const MAX_LAYER_SIZE: usize = 1 << 24;
/// Most weights a file may declare, over all layers.
pub const MAX_PARAMETERS: usize = 1 << 28;

/// The data lines of the file (comments and blank lines skipped), with their
/// 1-based line numbers.
struct Lines<'a> {
    lines: Vec<(usize, &'a str)>,
    next: usize,
}

impl<'a> Lines<'a> {
    fn remaining(&self) -> usize {
        self.lines.len() - self.next
    }
    /// The numbers on the next data line (a trailing comma is allowed).
    fn numbers(&mut self, what: &str) -> Result<(usize, Vec<f64>)> {
        let &(line, text) = self.lines.get(self.next).ok_or_else(|| malformed(format!("the file ends before {what}")))?;
        self.next += 1;
        let mut fields: Vec<&str> = text.split(',').map(str::trim).collect();
        if fields.len() > 1 && fields.last() == Some(&"") {
            fields.pop();
        }
        // an empty field inside the line would shift the values after it
        if fields.len() > 1 && fields.contains(&"") {
            return Err(malformed(format!("line {line}: an empty field between commas ({what})")));
        }
        let numbers = fields
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<f64>().map_err(|_| malformed(format!("line {line}: '{}' is not a number ({what})", shorten(s)))))
            .collect::<Result<Vec<f64>>>()?;
        if numbers.is_empty() {
            return Err(malformed(format!("line {line}: no numbers ({what})")));
        }
        Ok((line, numbers))
    }
}

/// `s`, cut to at most 40 characters and on one line, for a message.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(40).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if s.chars().nth(40).is_some() {
        out.push_str("...");
    }
    out
}

/// `v` as a count in `[min, cap]`, or an error naming the line and `what`.
fn count(v: f64, min: usize, cap: usize, line: usize, what: &str) -> Result<usize> {
    if v.fract() == 0.0 && v >= min as f64 && v <= cap as f64 {
        Ok(v as usize)
    } else if v.fract() == 0.0 && v > cap as f64 {
        Err(Error::new(ErrorKind::Unsupported, format!("line {line}: {what} is {v}, more than the {cap} deltacert reads")))
    } else {
        Err(malformed(format!("line {line}: {what} is {v}, not a count of at least {min}")))
    }
}

fn non_finite(line: usize, message: String) -> Error {
    Error::new(ErrorKind::NonFiniteWeight, format!("line {line}: {message}"))
}

/// Parses `.nnet` text into a network. Every size the file declares is
/// checked against [`MAX_LAYERS`], [`MAX_LAYER_SIZE`] and [`MAX_PARAMETERS`]
/// and against the number of lines present before anything is allocated for
/// it; errors name the line.
pub fn parse(text: &str) -> Result<Network> {
    let lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//") && !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
        .collect();
    let mut lines = Lines { lines, next: 0 };

    let (line, header) = lines.numbers("the header")?;
    if header.len() != 4 {
        return Err(malformed(format!("line {line}: the header holds {} numbers, not the 4 of numLayers, inputSize, outputSize, maxLayerSize", header.len())));
    }
    let num_layers = count(header[0], 1, MAX_LAYERS, line, "numLayers")?;
    let input_size = count(header[1], 1, MAX_LAYER_SIZE, line, "inputSize")?;
    let output_size = count(header[2], 1, MAX_LAYER_SIZE, line, "outputSize")?;
    let header_line = line;
    let (line, sizes) = lines.numbers("the layer sizes")?;
    if sizes.len() != num_layers + 1 {
        return Err(malformed(format!("line {line}: expected {} layer sizes (numLayers + 1), found {}", num_layers + 1, sizes.len())));
    }
    let sizes: Vec<usize> = sizes.iter().map(|&s| count(s, 1, MAX_LAYER_SIZE, line, "a layer size")).collect::<Result<_>>()?;
    let largest = sizes.iter().copied().max().unwrap_or(0);
    if header[3] != largest as f64 {
        return Err(malformed(format!("line {header_line}: maxLayerSize {} in the header is not the largest layer size {largest}", header[3])));
    }
    if sizes[0] != input_size || sizes[num_layers] != output_size {
        return Err(malformed(format!(
            "line {line}: layer sizes {} ... {} disagree with inputSize {input_size} and outputSize {output_size} in the header",
            sizes[0], sizes[num_layers]
        )));
    }
    // weight rows and bias lines the sizes call for, and the weights
    let mut needed_lines = 0usize;
    let mut parameters = 0usize;
    for k in 0..num_layers {
        needed_lines = sizes[k + 1].checked_mul(2).and_then(|n| n.checked_add(needed_lines)).ok_or_else(|| too_large(line))?;
        parameters = sizes[k].checked_mul(sizes[k + 1]).and_then(|n| n.checked_add(parameters)).ok_or_else(|| too_large(line))?;
    }
    if parameters > MAX_PARAMETERS {
        return Err(too_large(line));
    }
    let sizes_line = line;

    lines.numbers("the symmetric flag")?;
    let mut read_vector = |what: &str| -> Result<(usize, Vec<f64>)> {
        let (line, values) = lines.numbers(what)?;
        if values.len() < input_size {
            return Err(malformed(format!("line {line}: {what} has {} entries, need {input_size}", values.len())));
        }
        if let Some(i) = values[..input_size].iter().position(|v| v.is_nan()) {
            return Err(non_finite(line, format!("{what}: entry {i} is NaN")));
        }
        Ok((line, values[..input_size].to_vec()))
    };
    let (_, min) = read_vector("input minimums")?;
    let (max_line, max) = read_vector("input maximums")?;
    let (mean_line, mean) = read_vector("input means")?;
    let (range_line, range) = read_vector("input ranges")?;
    if let Some(i) = (0..input_size).find(|&i| min[i] > max[i]) {
        return Err(malformed(format!("line {max_line}: input {i} has minimum {} > maximum {}", min[i], max[i])));
    }
    if let Some(i) = mean.iter().position(|v| !v.is_finite()) {
        return Err(non_finite(mean_line, format!("input mean {i} is {}", mean[i])));
    }
    if let Some(i) = range.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(malformed(format!("line {range_line}: input range {i} is {}, not a finite positive number", range[i])));
    }
    if lines.remaining() < needed_lines {
        // name the first missing line
        let mut missing = lines.remaining();
        let mut first = String::new();
        for k in 0..num_layers {
            let rows = sizes[k + 1];
            if missing < rows {
                first = format!("layer {} weight row {missing}", k + 1);
                break;
            } else if missing < 2 * rows {
                first = format!("layer {} bias {}", k + 1, missing - rows);
                break;
            }
            missing -= 2 * rows;
        }
        return Err(malformed(format!(
            "the file ends before {first} (the layer sizes on line {sizes_line} need {needed_lines} weight-row and bias lines, the file has {})",
            lines.remaining()
        )));
    }

    let mut layers = Vec::with_capacity(num_layers);
    for k in 0..num_layers {
        let (rows, cols) = (sizes[k + 1], sizes[k]);
        // sizes agree with the lines present; the values still grow with the data read
        let mut data = Vec::with_capacity((rows * cols).min(text.len()));
        for r in 0..rows {
            let what = format!("layer {} weight row {r}", k + 1);
            let (line, row) = lines.numbers(&what)?;
            if row.len() != cols {
                return Err(malformed(format!("line {line}: {what} has {} values, expected {cols}", row.len())));
            }
            if let Some(c) = row.iter().position(|w| !w.is_finite()) {
                return Err(non_finite(line, format!("layer {} weight ({r}, {c}) is {}", k + 1, row[c])));
            }
            data.extend(row);
        }
        let mut bias = Vec::with_capacity(rows);
        for r in 0..rows {
            let what = format!("layer {} bias {r}", k + 1);
            let (line, b) = lines.numbers(&what)?;
            if b.len() != 1 {
                return Err(malformed(format!("line {line}: {what} should be one value, found {}", b.len())));
            }
            if !b[0].is_finite() {
                return Err(non_finite(line, format!("{what} is {}", b[0])));
            }
            bias.push(b[0]);
        }
        let activation = if k + 1 == num_layers { Activation::Identity } else { Activation::Relu };
        layers.push(Layer::dense(k, Matrix::from_rows(rows, cols, data), bias, activation));
    }
    if let Some(&(line, _)) = lines.lines.get(lines.next) {
        return Err(malformed(format!("line {line}: data after the last layer (the layer sizes on line {sizes_line} are used up)")));
    }
    Ok(Network {
        input_dim: input_size,
        input_transform: Some(InputTransform { min, max, mean, range }),
        layers,
        kept_neurons: None,
        source_dtype: "nnet-text".into(),
        output_softmax: false,
    })
}

fn too_large(line: usize) -> Error {
    Error::new(ErrorKind::Unsupported, format!("line {line}: the layer sizes declare more than {MAX_PARAMETERS} weights"))
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

    fn message(text: &str) -> (ErrorKind, String) {
        let e = parse(text).unwrap_err();
        (e.kind, e.context)
    }

    #[test]
    fn huge_declared_sizes_are_refused_before_allocating() {
        // 2^20 x 2^20 weights declared in a tiny file
        let big = "3,1,1,1048576,\n1,1048576,1048576,1,\n0,\n0,\n1,\n0,\n1,\n1,\n1,\n";
        assert_eq!(message(big), (ErrorKind::Unsupported, format!("line 2: the layer sizes declare more than {MAX_PARAMETERS} weights")));
        // within the caps, but far more lines needed than present
        let lines = "2,1,1,4096,\n1,4096,1,\n0,\n0,\n1,\n0,\n1,\n1,\n1,\n";
        assert_eq!(message(lines), (ErrorKind::Malformed, "the file ends before layer 1 weight row 2 (the layer sizes on line 2 need 8194 weight-row and bias lines, the file has 2)".into()));
        let layers = "1000000000,1,1,1,\n";
        assert_eq!(message(layers), (ErrorKind::Unsupported, format!("line 1: numLayers is 1000000000, more than the {MAX_LAYERS} deltacert reads")));
        let overflow = "1,1,1,1,\n1,1e300,\n";
        assert_eq!(message(overflow).0, ErrorKind::Unsupported);
    }

    #[test]
    fn bad_counts_and_values_name_the_line() {
        let cases: Vec<(String, ErrorKind, &str)> = vec![
            (TINY.replace("2,2,1,3,", "-2,2,1,3,"), ErrorKind::Malformed, "line 2: numLayers is -2, not a count of at least 1"),
            (TINY.replace("2,2,1,3,", "2,2.5,1,3,"), ErrorKind::Malformed, "line 2: inputSize is 2.5, not a count of at least 1"),
            (TINY.replace("2,3,1,\n", "2,3,\n"), ErrorKind::Malformed, "line 3: expected 3 layer sizes (numLayers + 1), found 2"),
            (TINY.replace("2,3,1,\n", "2,0,1,\n"), ErrorKind::Malformed, "line 3: a layer size is 0, not a count of at least 1"),
            (TINY.replace("2,3,1,\n", "3,3,1,\n"), ErrorKind::Malformed, "line 3: layer sizes 3 ... 1 disagree with inputSize 2 and outputSize 1 in the header"),
            (TINY.replace("1,1,\n1,0,", "1,1,\n1,nan,"), ErrorKind::NonFiniteWeight, "line 9: layer 1 weight (0, 1) is NaN"),
            (TINY.replace("0.5,\n", "inf,\n"), ErrorKind::NonFiniteWeight, "line 12: layer 1 bias 0 is inf"),
            (TINY.replace("1,0,\n", "1,0,7,\n"), ErrorKind::Malformed, "line 9: layer 1 weight row 0 has 3 values, expected 2"),
            (TINY.replace("-1,-1,\n", "NaN,-1,\n"), ErrorKind::NonFiniteWeight, "line 5: input minimums: entry 0 is NaN"),
            (TINY.replace("1,1,1,\n", "1,0,1,\n"), ErrorKind::Malformed, "line 8: input range 1 is 0, not a finite positive number"),
            (TINY.replace("1,1,\n0,0,0,", "1,-2,\n0,0,0,"), ErrorKind::Malformed, "line 6: input 1 has minimum -1 > maximum -2"),
            (format!("{TINY}0.5,\n"), ErrorKind::Malformed, "line 17: data after the last layer (the layer sizes on line 3 are used up)"),
            (TINY.replace("0.25,\n", ""), ErrorKind::Malformed, "the file ends before layer 2 bias 0 (the layer sizes on line 3 need 8 weight-row and bias lines, the file has 7)"),
            (TINY.replace("0,\n-1,-1", ",\n-1,-1"), ErrorKind::Malformed, "line 4: no numbers (the symmetric flag)"),
            // an empty field would shift the values after it into the next columns
            (TINY.replace("1,1,\n1,0,", "1,1,\n1,,0,"), ErrorKind::Malformed, "line 9: an empty field between commas (layer 1 weight row 0)"),
            (TINY.replace("2,2,1,3,", "2,2,1,"), ErrorKind::Malformed, "line 2: the header holds 3 numbers, not the 4 of numLayers, inputSize, outputSize, maxLayerSize"),
            (TINY.replace("2,2,1,3,", "2,2,1,3,7,"), ErrorKind::Malformed, "line 2: the header holds 5 numbers, not the 4 of numLayers, inputSize, outputSize, maxLayerSize"),
            (TINY.replace("2,2,1,3,", "2,2,1,4,"), ErrorKind::Malformed, "line 2: maxLayerSize 4 in the header is not the largest layer size 3"),
            (TINY.replace("0,\n-1,-1", "0\r1,\n-1,-1"), ErrorKind::Malformed, "line 4: '0 1' is not a number (the symmetric flag)"),
        ];
        for (text, kind, expected) in cases {
            assert_eq!(message(&text), (kind, expected.to_string()), "{text}");
        }
    }

    #[test]
    fn the_fixture_networks_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        for (file, widths) in [("acasxu/ACASXU_run2a_1_1_batch_2000.nnet", vec![50, 50, 50, 50, 50, 50, 5]), ("mnist/mnist_relu_3_100.nnet", vec![100, 100, 10, 10])] {
            let net = parse(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
            net.validate().unwrap();
            assert_eq!(net.layers.iter().map(|l| l.width()).collect::<Vec<_>>(), widths, "{file}");
        }
    }
}
