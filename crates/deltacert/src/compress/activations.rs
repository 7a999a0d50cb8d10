//! Static quantisation of activations, as onnxruntime's `quantize_static`
//! does it in the QDQ format: every hidden ReLU layer's output becomes a
//! uint8 quantiser `Q(v) = s clamp(rne(v / s), 0, 255)` (the ReLU folded into
//! the quantiser's lower clamp, zero point 0), with the per-tensor scale `s`
//! from the calibration inputs' largest activation of that layer:
//! `s = fl32(max / 255)` (a float32 value, as QDQ files store it). The input
//! and the output layer stay in floating point.

use crate::activation::Activation;
use crate::error::{invalid_option, unsupported, Result};
use crate::network::Network;
use serde::Serialize;

/// What [`quantize_activations`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ActivationQuantReport {
    /// Calibration inputs evaluated.
    pub calibration_inputs: usize,
    /// Per hidden layer: the largest activation seen and the scale chosen.
    pub layers: Vec<(f64, f64)>,
}

/// Replaces every hidden ReLU of `network` by a uint8 quantiser calibrated on
/// `calibration` (raw inputs). Errors on an empty or ill-shaped calibration
/// set, non-finite values, and hidden activations other than ReLU (their
/// quantiser would need a layer of its own).
pub fn quantize_activations(network: &Network, calibration: &[Vec<f64>]) -> Result<(Network, ActivationQuantReport)> {
    if calibration.is_empty() {
        return Err(invalid_option("the calibration set is empty"));
    }
    for (k, x) in calibration.iter().enumerate() {
        if x.len() != network.input_dim {
            return Err(invalid_option(format!("calibration input {k} has {} values, the network takes {}", x.len(), network.input_dim)));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(invalid_option(format!("calibration input {k} has a non-finite value")));
        }
    }
    let hidden = network.hidden_count();
    for (k, layer) in network.layers[..hidden].iter().enumerate() {
        if layer.activation != Activation::Relu {
            return Err(unsupported(format!("activation quantisation folds the quantiser into a ReLU; layer {} uses {}", k + 1, layer.activation.name())));
        }
    }
    let mut largest = vec![0.0f64; hidden];
    for x in calibration {
        let activations = network.activations(x);
        for (k, top) in largest.iter_mut().enumerate() {
            // activations[0] is the input; layer k's output is activations[k + 1]
            *top = activations[k + 1].iter().fold(*top, |m, v| m.max(*v));
        }
    }
    let mut quantised = network.clone();
    let mut layers = Vec::with_capacity(hidden);
    for (k, top) in largest.iter().enumerate() {
        // a layer that is never positive keeps a unit scale: every level is 0 anyway below 127.5
        if !top.is_finite() {
            return Err(unsupported(format!("layer {}: the calibration inputs drive its activations to {top:e}: no float32 scale", k + 1)));
        }
        let scale = if *top > 0.0 { (top / 255.0) as f32 as f64 } else { 1.0 };
        if !(scale > 0.0) || !scale.is_finite() {
            return Err(unsupported(format!("layer {}: no float32 scale for activations up to {top}", k + 1)));
        }
        quantised.layers[k].activation = Activation::Quantize { scale, zero_point: 0.0, qmin: 0.0, qmax: 255.0 };
        layers.push((*top, scale));
    }
    Ok((quantised, ActivationQuantReport { calibration_inputs: calibration.len(), layers }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::random::random_mlp;
    use rand::SeedableRng;

    /// Calibrated scales cover the calibration activations; only ReLU hidden layers are taken.
    #[test]
    fn scales_cover_the_calibration_and_other_activations_are_refused() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let f = random_mlp(&mut rng, 3, &[6, 5], 2, Activation::Relu);
        let calibration: Vec<Vec<f64>> = (0..20).map(|i| vec![0.1 * i as f64 - 1.0, 0.5, -0.3]).collect();
        let (g, report) = quantize_activations(&f, &calibration).unwrap();
        for (k, (top, scale)) in report.layers.iter().enumerate() {
            assert!((255.0 * scale - top).abs() <= 1e-6 * top.max(1.0), "layer {k}: 255 s = {} for a largest activation {top}", 255.0 * scale);
            assert!(matches!(g.layers[k].activation, Activation::Quantize { zero_point: 0.0, qmin: 0.0, qmax: 255.0, .. }));
        }
        // the first quantised layer sees the same pre-activations: within half a step (plus rounding)
        for x in &calibration {
            let (a, b) = (f.activations(x), g.activations(x));
            let scale = report.layers[0].1;
            for (u, v) in a[1].iter().zip(&b[1]) {
                assert!((u - v).abs() <= 0.5 * scale * (1.0 + 1e-12), "{u} vs {v} (step {scale})");
            }
        }
        let t = random_mlp(&mut rng, 3, &[4], 2, Activation::Tanh);
        assert!(quantize_activations(&t, &calibration).unwrap_err().context.contains("layer 1 uses tanh"));
        assert!(quantize_activations(&f, &[]).is_err());
        assert!(quantize_activations(&f, &[vec![f64::NAN, 0.0, 0.0]]).is_err());
        // finite inputs whose activations overflow: no scale (it was 1 before)
        let huge = vec![vec![f64::MAX; 3], vec![-f64::MAX; 3], vec![f64::MAX, -f64::MAX, f64::MAX], vec![-f64::MAX, f64::MAX, -f64::MAX]];
        let error = quantize_activations(&f, &huge).unwrap_err();
        assert!(error.context.contains("activations to inf: no float32 scale"), "{}", error.context);
    }
}
