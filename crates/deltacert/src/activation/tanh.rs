//! Hyperbolic tangent: slope-restricted in `[0, 1]` (`tanh' = 1 - tanh^2`,
//! evaluated as `4 e^{-2|v|} / (1 + e^{-2|v|})^2`, see
//! [`crate::rounding::tanh_derivative_enclosure`]).
//! `tanh'` is unimodal with its peak at 0, so on `[l, u]` every difference
//! quotient lies in `[min(tanh'(l), tanh'(u)), tanh'(clamp(0, l, u))]`; the
//! neuron is described by the sector constraint with these local slopes around
//! the midpoint of `[l, u]`, and by `tanh(l) <= a <= tanh(u)`.
//!
//! Linear relaxation: chords and tangents on either side of the inflection
//! point at 0, sector lines across it, or the constant bounds `tanh(l) <= a
//! <= tanh(u)` where tighter ([`super::relaxation::s_shaped_relaxation_family`]);
//! the difference of two neurons: the generic relaxation from the
//! local slope bounds; not piecewise linear, so no mixed-integer encoding.
//! ONNX operator `Tanh`.
use super::{peaked_slope_bounds, sector, Activation, ActivationRule, NeuronAffine, NeuronFact, OnnxActivation};

#[derive(Clone)]
pub(super) struct Tanh;

impl ActivationRule for Tanh {
    fn name(&self) -> &'static str {
        "tanh"
    }
    fn shape(&self) -> super::Shape {
        super::Shape { monotone: true, derivative_peaked_at_zero: true, slope_restricted: true }
    }
    fn eval(&self, v: f64) -> f64 {
        v.tanh()
    }
    #[cfg(test)]
    fn exact_eval(&self, v: &dashu_float::FBig) -> dashu_float::FBig {
        use crate::rounding::exact::big;
        let m = (v.clone() * big(2.0)).exp_m1();
        m.clone() / (m + big(2.0))
    }
    fn derivative(&self, v: f64) -> f64 {
        // 4 e^{-2|v|} / (1 + e^{-2|v|})^2: no cancellation where tanh' is tiny
        let e = (-2.0 * v.abs()).exp();
        4.0 * e / ((1.0 + e) * (1.0 + e))
    }
    fn value_enclosure(&self, v: f64) -> (f64, f64) {
        crate::rounding::tanh_enclosure(v)
    }
    fn derivative_enclosure(&self, v: f64) -> (f64, f64) {
        crate::rounding::tanh_derivative_enclosure(v)
    }
    fn slope_bounds(&self) -> (f64, f64) {
        (0.0, 1.0)
    }
    fn linear_relaxation_family(&self, lower: f64, upper: f64, post_lower: f64, post_upper: f64) -> super::RelaxationFamily {
        super::relaxation::s_shaped_relaxation_family(self, lower, upper, post_lower, post_upper)
    }
    fn local_slope_bounds(&self, lower: f64, upper: f64) -> (f64, f64) {
        peaked_slope_bounds(self, lower, upper, 1.0)
    }
    fn neuron_facts(&self, lower: f64, upper: f64, a_lower: f64, a_upper: f64) -> Vec<NeuronFact> {
        let (alpha, beta) = self.local_slope_bounds(lower, upper);
        let mid = 0.5 * (lower + upper);
        let s0 = mid.tanh();
        vec![
            sector(mid, s0, self.value_enclosure(mid), alpha, beta),
            NeuronFact::NonNegative(NeuronAffine::new(0.0, 1.0, -a_lower)),
            NeuronFact::NonNegative(NeuronAffine::new(0.0, -1.0, a_upper)),
        ]
    }
    fn onnx_op(&self) -> Option<OnnxActivation> {
        Some(OnnxActivation { op_type: "Tanh", float_attributes: Vec::new() })
    }
    fn read_onnx(&self, _float_attribute: &dyn Fn(&str) -> Option<f64>) -> Result<Activation, String> {
        Ok(Activation::Tanh)
    }
}
