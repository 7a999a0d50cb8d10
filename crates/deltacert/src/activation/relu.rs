//! ReLU, `sigma(v) = max(v, 0)`: slope-restricted in `[0, 1]`, and exactly
//! described by `a >= 0`, `a >= v`, `a (a - v) = 0` (docs/method.md §3); with
//! `l <= v <= u` also the triangle `a <= u (v - l) / (u - l)`.
//!
//! Piecewise linear: stable neurons are exact, unstable ones get the chord
//! relaxation and the big-M encoding of the leaky family with slope 0
//! ([`super::relaxation::kinked_linear_relaxation`],
//! [`super::mixed_integer::kinked_mixed_integer_encoding`]). ONNX operator `Relu`.
use super::mixed_integer::{kinked_mixed_integer_encoding, MixedIntegerEncoding};
use super::relaxation::{kinked_relaxation_family, RelaxationFamily};
use super::{Activation, ActivationRule, NeuronFact, OnnxActivation};

#[derive(Clone)]
pub(super) struct Relu;

impl ActivationRule for Relu {
    fn name(&self) -> &'static str {
        "relu"
    }
    fn shape(&self) -> super::Shape {
        super::Shape { monotone: true, derivative_peaked_at_zero: false, slope_restricted: true }
    }
    fn eval(&self, v: f64) -> f64 {
        // NaN stays NaN (`f64::max` would turn it into 0): an overflowed
        // evaluation must not look finite
        if v.is_nan() { v } else { v.max(0.0) }
    }
    #[cfg(test)]
    fn exact_eval(&self, v: &dashu_float::FBig) -> dashu_float::FBig {
        use crate::rounding::exact::big;
        if *v >= big(0.0) { v.clone() } else { big(0.0) }
    }
    fn negative_side_slope(&self) -> Option<f64> {
        Some(0.0)
    }
    fn derivative(&self, v: f64) -> f64 {
        if v > 0.0 { 1.0 } else { 0.0 }
    }
    fn slope_bounds(&self) -> (f64, f64) {
        (0.0, 1.0)
    }
    fn local_slope_bounds(&self, lower: f64, upper: f64) -> (f64, f64) {
        super::leaky_relu::LeakyRelu { alpha: 0.0 }.local_slope_bounds(lower, upper)
    }
    fn neuron_facts(&self, lower: f64, upper: f64, a_lower: f64, a_upper: f64) -> Vec<NeuronFact> {
        // with alpha = 0 the leaky-ReLU facts are exactly a - v >= 0, a >= 0,
        // a (a - v) = 0 and the triangle u (v - l) / (u - l) - a >= 0
        super::leaky_relu::LeakyRelu { alpha: 0.0 }.neuron_facts(lower, upper, a_lower, a_upper)
    }
    fn linear_relaxation_family(&self, lower: f64, upper: f64, _post_lower: f64, _post_upper: f64) -> RelaxationFamily {
        kinked_relaxation_family(0.0, lower, upper)
    }
    fn mixed_integer_encoding(&self, lower: f64, upper: f64) -> Option<MixedIntegerEncoding> {
        Some(kinked_mixed_integer_encoding(0.0, lower, upper))
    }
    fn onnx_op(&self) -> Option<OnnxActivation> {
        Some(OnnxActivation { op_type: "Relu", float_attributes: Vec::new() })
    }
    fn read_onnx(&self, _float_attribute: &dyn Fn(&str) -> Option<f64>) -> Result<Activation, String> {
        Ok(Activation::Relu)
    }
}
