//! Logistic sigmoid `1 / (1 + e^-v)`: slope-restricted in `[0, 1/4]`
//! (`sigma' = sigma (1 - sigma) = e^{-|v|} / (1 + e^{-|v|})^2 <= 1/4`,
//! unimodal with its peak at 0), so on
//! `[l, u]` difference quotients lie in `[min(sigma'(l), sigma'(u)),
//! sigma'(clamp(0, l, u))]`; described like tanh by a local sector constraint
//! and `sigma(l) <= a <= sigma(u)`.
//!
//! Linear relaxation: chords and tangents on either side of the inflection
//! point at 0, sector lines across it, or the constant bounds `sigma(l) <= a
//! <= sigma(u)` where tighter ([`super::relaxation::s_shaped_relaxation_family`]);
//! the difference of two neurons: the generic relaxation from the
//! local slope bounds; not piecewise linear, so no mixed-integer encoding.
//! ONNX operator `Sigmoid`.
use super::{peaked_slope_bounds, sector, Activation, ActivationRule, NeuronAffine, NeuronFact, OnnxActivation};

#[derive(Clone)]
pub(super) struct Sigmoid;

impl ActivationRule for Sigmoid {
    fn name(&self) -> &'static str {
        "sigmoid"
    }
    fn shape(&self) -> super::Shape {
        super::Shape { monotone: true, derivative_peaked_at_zero: true, slope_restricted: true }
    }
    fn eval(&self, v: f64) -> f64 {
        if v >= 0.0 {
            1.0 / (1.0 + (-v).exp())
        } else {
            let e = v.exp();
            e / (1.0 + e)
        }
    }
    #[cfg(test)]
    fn exact_eval(&self, v: &dashu_float::FBig) -> dashu_float::FBig {
        use crate::rounding::exact::big;
        big(1.0) / (big(1.0) + (-v.clone()).exp())
    }
    fn derivative(&self, v: f64) -> f64 {
        // e^{-|v|} / (1 + e^{-|v|})^2: no cancellation where sigma' is tiny
        let e = (-v.abs()).exp();
        e / ((1.0 + e) * (1.0 + e))
    }
    fn value_enclosure(&self, v: f64) -> (f64, f64) {
        crate::rounding::sigmoid_enclosure(v)
    }
    fn derivative_enclosure(&self, v: f64) -> (f64, f64) {
        crate::rounding::sigmoid_derivative_enclosure(v)
    }
    fn slope_bounds(&self) -> (f64, f64) {
        (0.0, 0.25)
    }
    fn linear_relaxation_family(&self, lower: f64, upper: f64, post_lower: f64, post_upper: f64) -> super::RelaxationFamily {
        super::relaxation::s_shaped_relaxation_family(self, lower, upper, post_lower, post_upper)
    }
    fn local_slope_bounds(&self, lower: f64, upper: f64) -> (f64, f64) {
        peaked_slope_bounds(self, lower, upper, 0.25)
    }
    fn neuron_facts(&self, lower: f64, upper: f64, a_lower: f64, a_upper: f64) -> Vec<NeuronFact> {
        let (alpha, beta) = self.local_slope_bounds(lower, upper);
        let mid = 0.5 * (lower + upper);
        let s0 = self.eval(mid);
        vec![
            sector(mid, s0, self.value_enclosure(mid), alpha, beta),
            NeuronFact::NonNegative(NeuronAffine::new(0.0, 1.0, -a_lower)),
            NeuronFact::NonNegative(NeuronAffine::new(0.0, -1.0, a_upper)),
        ]
    }
    fn onnx_op(&self) -> Option<OnnxActivation> {
        Some(OnnxActivation { op_type: "Sigmoid", float_attributes: Vec::new() })
    }
    fn read_onnx(&self, _float_attribute: &dyn Fn(&str) -> Option<f64>) -> Result<Activation, String> {
        Ok(Activation::Sigmoid)
    }
}
