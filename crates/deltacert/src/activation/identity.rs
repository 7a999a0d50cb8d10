//! Identity `sigma(v) = v` (output layers): slope exactly 1, described by
//! `a = v` in every rule (linear relaxation, relaxation of a difference
//! `Delta a = Delta v`, mixed-integer encoding); written to ONNX as no node.
use super::mixed_integer::MixedIntegerEncoding;
use super::relaxation::{LinearBounds, RelaxationFamily};
use super::{Activation, ActivationRule, NeuronAffine, NeuronFact, OnnxActivation};

#[derive(Clone)]
pub(super) struct Identity;

impl ActivationRule for Identity {
    fn name(&self) -> &'static str {
        "identity"
    }
    fn shape(&self) -> super::Shape {
        super::Shape { monotone: true, derivative_peaked_at_zero: false, slope_restricted: true }
    }
    fn eval(&self, v: f64) -> f64 {
        v
    }
    #[cfg(test)]
    fn exact_eval(&self, v: &dashu_float::FBig) -> dashu_float::FBig {
        v.clone()
    }
    fn derivative(&self, _v: f64) -> f64 {
        1.0
    }
    fn slope_bounds(&self) -> (f64, f64) {
        (1.0, 1.0)
    }
    fn local_slope_bounds(&self, _lower: f64, _upper: f64) -> (f64, f64) {
        (1.0, 1.0)
    }
    fn neuron_facts(&self, _lower: f64, _upper: f64, _a_lower: f64, _a_upper: f64) -> Vec<NeuronFact> {
        let difference = NeuronAffine::new(-1.0, 1.0, 0.0);
        vec![NeuronFact::ProductZero(difference, NeuronAffine::new(0.0, 0.0, 1.0))]
    }
    fn linear_relaxation_family(&self, _lower: f64, _upper: f64, _post_lower: f64, _post_upper: f64) -> RelaxationFamily {
        RelaxationFamily::fixed(LinearBounds::exact(1.0))
    }
    fn difference_relaxation_family(&self, _f: (f64, f64), _g: (f64, f64), _delta: (f64, f64), _post: (f64, f64)) -> RelaxationFamily {
        RelaxationFamily::fixed(LinearBounds::exact(1.0))
    }
    fn mixed_integer_encoding(&self, _lower: f64, _upper: f64) -> Option<MixedIntegerEncoding> {
        Some(MixedIntegerEncoding::Affine { slope: 1.0, intercept: 0.0 })
    }
    fn onnx_op(&self) -> Option<OnnxActivation> {
        None
    }
    fn read_onnx(&self, _float_attribute: &dyn Fn(&str) -> Option<f64>) -> Result<Activation, String> {
        Ok(Activation::Identity)
    }
}
