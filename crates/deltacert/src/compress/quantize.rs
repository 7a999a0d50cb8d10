//! Quantisation of weights (and, for fixed point, biases).
//!
//! - `fixed:Q` (the seed paper's rule): `trunc(w 2^Q) / 2^Q`, toward zero.
//! - `round:Q`: `round(w 2^Q) / 2^Q`, to the nearest multiple.
//! - `int8` / `int4`: symmetric, zero point 0, `w = s q` with
//!   `q = clamp(round(w / s), -m, m)`, `m = 127` (resp. 7), `s = max|w| / m`
//!   per tensor or per output channel, rounded to float32 so the QDQ file stores
//!   it exactly. Biases stay in floating point, rounded to float32 as the QDQ
//!   file stores them, so the network in memory is exactly the one written.

use super::max_parameter_change;
use crate::error::{invalid_option, Result};
use crate::network::Network;
use serde::Serialize;

/// A quantisation rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum QuantScheme {
    /// Truncation toward zero to a multiple of `2^-fraction_bits`.
    FixedTruncate {
        /// `Q`: number of fractional bits.
        fraction_bits: u32,
    },
    /// Rounding to the nearest multiple of `2^-fraction_bits`.
    FixedRound {
        /// `Q`: number of fractional bits.
        fraction_bits: u32,
    },
    /// Symmetric integer quantisation of the weights.
    Integer {
        /// 8 or 4.
        bits: u32,
        /// One scale per output channel instead of one per tensor.
        per_channel: bool,
    },
}

impl QuantScheme {
    /// Parses `fixed:Q`, `round:Q`, `int8`, `int4`.
    pub fn parse(text: &str, per_channel: bool) -> Result<Self> {
        let bits = |s: &str| -> Result<u32> {
            s.parse::<u32>().ok().filter(|q| *q <= 52).ok_or_else(|| invalid_option(format!("'{s}' is not a number of fractional bits in 0..=52")))
        };
        match text {
            "int8" => Ok(QuantScheme::Integer { bits: 8, per_channel }),
            "int4" => Ok(QuantScheme::Integer { bits: 4, per_channel }),
            _ if text.starts_with("fixed:") => Ok(QuantScheme::FixedTruncate { fraction_bits: bits(&text[6..])? }),
            _ if text.starts_with("round:") => Ok(QuantScheme::FixedRound { fraction_bits: bits(&text[6..])? }),
            _ => Err(invalid_option(format!("unknown quantisation '{text}' (expected int8, int4, fixed:Q or round:Q)"))),
        }
    }
}

/// What a quantisation run did.
#[derive(Debug, Clone, Serialize)]
pub struct QuantReport {
    /// The rule applied.
    pub scheme: QuantScheme,
    /// Bits per weight (integer schemes) or fractional bits (fixed point).
    pub bits: u32,
    /// Largest absolute change of any parameter.
    pub max_weight_change: f64,
    /// Integer schemes: scales per layer, per term, per channel (or one per tensor).
    pub scales: Option<Vec<Vec<Vec<f64>>>>,
}

/// Applies `scheme` to a copy of `network`.
pub fn quantize(network: &Network, scheme: QuantScheme) -> Result<(Network, QuantReport)> {
    let mut q = network.clone();
    let mut scales = None;
    let bits = match scheme {
        QuantScheme::FixedTruncate { fraction_bits } | QuantScheme::FixedRound { fraction_bits } => {
            let step = 2f64.powi(fraction_bits as i32);
            let rule = |w: f64| -> f64 {
                if matches!(scheme, QuantScheme::FixedTruncate { .. }) { (w * step).trunc() / step } else { (w * step).round() / step }
            };
            for layer in &mut q.layers {
                for term in &mut layer.terms {
                    term.weights.data.iter_mut().for_each(|w| *w = rule(*w));
                }
                layer.bias.iter_mut().for_each(|b| *b = rule(*b));
            }
            fraction_bits
        }
        QuantScheme::Integer { bits, per_channel } => {
            let levels = ((1u32 << (bits - 1)) - 1) as f64; // 127 or 7
            let mut all = Vec::new();
            for (k, layer) in q.layers.iter_mut().enumerate() {
                let mut layer_scales = Vec::new();
                for term in &mut layer.terms {
                    let w = &mut term.weights;
                    // a layer of width 0 has no channels: one scale for its (empty) tensor
                    let groups: Vec<(usize, usize)> = if per_channel && w.rows > 0 { (0..w.rows).map(|r| (r * w.cols, (r + 1) * w.cols)).collect() } else { vec![(0, w.data.len())] };
                    let mut term_scales = Vec::new();
                    for (start, end) in groups {
                        let max_abs = w.data[start..end].iter().fold(0.0f64, |m, v| m.max(v.abs()));
                        let scale = if max_abs > 0.0 { ((max_abs / levels) as f32) as f64 } else { 1.0 };
                        // weights too small or too large for a float32 scale: a zero scale would
                        // write every weight as 0 (and 0 / 0 as NaN), an infinite one NaN
                        if !(scale > 0.0) || !scale.is_finite() {
                            return Err(crate::error::unsupported(format!("layer {}: weights up to {max_abs:e} in magnitude have no float32 int{bits} scale (it would be {:e})", k + 1, max_abs / levels)));
                        }
                        for v in &mut w.data[start..end] {
                            *v = (*v / scale).round().clamp(-levels, levels) * scale;
                        }
                        term_scales.push(scale);
                    }
                    layer_scales.push(term_scales);
                }
                layer.bias.iter_mut().for_each(|b| *b = (*b as f32) as f64);
                all.push(layer_scales);
            }
            scales = Some(all);
            bits
        }
    };
    let report = QuantReport { scheme, bits, max_weight_change: max_parameter_change(network, &q), scales };
    q.source_dtype = match scheme {
        QuantScheme::Integer { bits, .. } => format!("int{bits}-qdq"),
        _ => network.source_dtype.clone(),
    };
    Ok((q, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tests::small_residual;

    #[test]
    fn fixed_point_truncates_toward_zero() {
        let (q, report) = quantize(&small_residual(), QuantScheme::FixedTruncate { fraction_bits: 2 }).unwrap();
        // 0.3 -> 0.25, -0.2 -> 0 (toward zero), 0.05 -> 0
        assert_eq!(q.layers[0].bias, vec![0.0, 0.0, 0.25]);
        assert_eq!(q.layers[1].bias, vec![0.0]);
        assert!(report.max_weight_change < 0.25);
    }

    #[test]
    fn int8_weights_are_integer_multiples_of_float32_scales() {
        for per_channel in [false, true] {
            let (q, report) = quantize(&small_residual(), QuantScheme::Integer { bits: 8, per_channel }).unwrap();
            let scales = report.scales.unwrap();
            for (k, layer) in q.layers.iter().enumerate() {
                for (t, term) in layer.terms.iter().enumerate() {
                    for r in 0..term.weights.rows {
                        let s = if per_channel { scales[k][t][r] } else { scales[k][t][0] };
                        assert_eq!((s as f32) as f64, s);
                        for &w in term.weights.row(r) {
                            let level = w / s;
                            assert_eq!(level, level.round());
                            assert!(level.abs() <= 127.0);
                        }
                    }
                }
            }
        }
    }

    /// Weights whose int8 scale is no positive finite float32 are refused (a
    /// zero scale wrote every weight as 0, and 0 / 0 as NaN).
    #[test]
    fn weights_without_a_float32_scale_are_refused() {
        for factor in [1e-300, 1e300] {
            let mut tiny = small_residual();
            tiny.layers[0].terms[0].weights.data.iter_mut().for_each(|w| *w *= factor);
            let error = quantize(&tiny, QuantScheme::Integer { bits: 8, per_channel: false }).unwrap_err();
            assert!(error.context.starts_with("layer 1: weights up to") && error.context.contains("no float32 int8 scale"), "{}", error.context);
        }
    }

    /// A hidden layer of width 0 has no channels: per-channel quantisation
    /// gives its tensor one scale, and the file written reads back (an empty
    /// list of scales was written as an invalid tensor).
    #[test]
    fn a_layer_of_width_zero_is_quantised_per_channel_into_a_valid_file() {
        use crate::activation::Activation;
        use crate::network::{Layer, Matrix, Network};
        let network = Network {
            input_dim: 2,
            input_transform: None,
            layers: vec![
                Layer::dense(0, Matrix::from_rows(0, 2, vec![]), vec![], Activation::Relu),
                Layer::dense(1, Matrix::from_rows(1, 0, vec![]), vec![0.5], Activation::Identity),
            ],
            kept_neurons: None,
            source_dtype: "float64".into(),
            output_softmax: false,
        };
        for bits in [8, 4] {
            let (q, report) = quantize(&network, QuantScheme::Integer { bits, per_channel: true }).unwrap();
            let scales = report.scales.clone().unwrap();
            assert_eq!((scales[0][0].len(), scales[1][0].len()), (1, 1));
            let bytes = crate::io::onnx::write(&q, &crate::io::onnx::ExportFormat::QdqInt8 { scales }).unwrap();
            let back = crate::io::onnx::read(&bytes).unwrap();
            assert_eq!(back.eval(&[0.3, -2.0]), vec![0.5]);
        }
    }

    #[test]
    fn parses_schemes_and_rejects_garbage() {
        assert_eq!(QuantScheme::parse("fixed:2", false).unwrap(), QuantScheme::FixedTruncate { fraction_bits: 2 });
        assert!(QuantScheme::parse("int7", false).is_err());
        assert!(QuantScheme::parse("fixed:x", false).is_err());
    }
}
