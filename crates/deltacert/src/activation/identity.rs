//! Identity `sigma(v) = v` (output layers): slope exactly 1, described by `a = v`.
use super::{ActivationRule, NeuronAffine, NeuronFact};

pub(super) struct Identity;

impl ActivationRule for Identity {
    fn shape(&self) -> super::Shape {
        super::Shape { monotone: true, derivative_peaked_at_zero: false }
    }
    fn eval(&self, v: f64) -> f64 {
        v
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
}
