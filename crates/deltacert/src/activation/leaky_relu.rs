//! Leaky ReLU, `sigma(v) = max(v, alpha v)` for `0 <= alpha < 1` (ReLU is
//! `alpha = 0`): slope-restricted in `[alpha, 1]`, and exactly described by
//! `a - v >= 0`, `a - alpha v >= 0`, `(a - v)(a - alpha v) = 0`. With
//! `l < 0 < u` the chord through `(l, alpha l)` and `(u, u)` bounds `a` above:
//! `a <= alpha l + (u - alpha l)(v - l) / (u - l)`.
//!
//! Piecewise linear: a stable neuron is exact (`a = v` or `a = alpha v`); an
//! unstable one gets that chord as its upper line and `a >= v` or `a >=
//! alpha v` below ([`super::relaxation::kinked_linear_relaxation`]), and the
//! big-M encoding of [`super::mixed_integer::kinked_mixed_integer_encoding`].
//! ONNX operator `LeakyRelu` with attribute `alpha` (default the float32
//! 0.01, as ONNX specifies; `0 <= alpha < 1` is read).
use super::mixed_integer::{kinked_mixed_integer_encoding, MixedIntegerEncoding};
use super::relaxation::{kinked_relaxation_family, RelaxationFamily};
use super::{Activation, ActivationRule, NeuronAffine, NeuronFact, OnnxActivation};

#[derive(Clone)]
pub(super) struct LeakyRelu {
    pub alpha: f64,
}

impl ActivationRule for LeakyRelu {
    fn name(&self) -> &'static str {
        "leaky_relu"
    }
    fn shape(&self) -> super::Shape {
        super::Shape { monotone: true, derivative_peaked_at_zero: false, slope_restricted: true }
    }
    fn eval(&self, v: f64) -> f64 {
        if v >= 0.0 { v } else { self.alpha * v }
    }
    #[cfg(test)]
    fn exact_eval(&self, v: &dashu_float::FBig) -> dashu_float::FBig {
        use crate::rounding::exact::big;
        if *v >= big(0.0) { v.clone() } else { big(self.alpha) * v.clone() }
    }
    fn negative_side_slope(&self) -> Option<f64> {
        Some(self.alpha)
    }
    fn derivative(&self, v: f64) -> f64 {
        if v > 0.0 { 1.0 } else { self.alpha }
    }
    fn value_enclosure(&self, v: f64) -> (f64, f64) {
        // alpha v is one rounded product (exact for ReLU's alpha = 0)
        if v >= 0.0 || self.alpha == 0.0 {
            let y = self.eval(v);
            (y, y)
        } else {
            (crate::rounding::mul_down(self.alpha, v), crate::rounding::mul_up(self.alpha, v))
        }
    }
    fn slope_bounds(&self) -> (f64, f64) {
        (self.alpha.min(1.0), self.alpha.max(1.0))
    }
    fn local_slope_bounds(&self, lower: f64, upper: f64) -> (f64, f64) {
        if lower >= 0.0 {
            (1.0, 1.0)
        } else if upper <= 0.0 {
            (self.alpha, self.alpha)
        } else {
            self.slope_bounds()
        }
    }
    fn neuron_facts(&self, lower: f64, upper: f64, _a_lower: f64, _a_upper: f64) -> Vec<NeuronFact> {
        let above_identity = NeuronAffine::new(-1.0, 1.0, 0.0); // a - v
        let above_leak = NeuronAffine::new(-self.alpha, 1.0, 0.0); // a - alpha v
        let mut facts = vec![
            NeuronFact::NonNegative(above_identity),
            NeuronFact::NonNegative(above_leak),
            NeuronFact::ProductZero(above_identity, above_leak),
        ];
        if lower < 0.0 && upper > 0.0 {
            // chord through (l, alpha l) and (u, u), outward rounded: it lies
            // above the convex activation on [l, u] in exact arithmetic
            let (slope, constant) = crate::rounding::upper_chord(lower, self.value_enclosure(lower).1, upper, upper);
            let error = 0.0;
            facts.push(NeuronFact::NonNegative(NeuronAffine { v_coef: slope, a_coef: -1.0, constant, constant_error: error }));
        }
        facts
    }
    fn linear_relaxation_family(&self, lower: f64, upper: f64, _post_lower: f64, _post_upper: f64) -> RelaxationFamily {
        kinked_relaxation_family(self.alpha, lower, upper)
    }
    fn mixed_integer_encoding(&self, lower: f64, upper: f64) -> Option<MixedIntegerEncoding> {
        Some(kinked_mixed_integer_encoding(self.alpha, lower, upper))
    }
    fn onnx_op(&self) -> Option<OnnxActivation> {
        Some(OnnxActivation { op_type: "LeakyRelu", float_attributes: vec![("alpha", self.alpha)] })
    }
    fn read_onnx(&self, float_attribute: &dyn Fn(&str) -> Option<f64>) -> Result<Activation, String> {
        // ONNX's default alpha is the float32 0.01
        let alpha = float_attribute("alpha").unwrap_or(0.01f32 as f64);
        if !(0.0..1.0).contains(&alpha) {
            return Err(format!("LeakyRelu alpha {alpha} outside [0, 1)"));
        }
        Ok(Activation::LeakyRelu { alpha })
    }
}
