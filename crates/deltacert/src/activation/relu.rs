//! ReLU, `sigma(v) = max(v, 0)`: slope-restricted in `[0, 1]`, and exactly
//! described by `a >= 0`, `a >= v`, `a (a - v) = 0` (docs/method.md §3); with
//! `l <= v <= u` also the triangle `a <= u (v - l) / (u - l)`.
use super::{ActivationRule, NeuronFact};

pub(super) struct Relu;

impl ActivationRule for Relu {
    fn shape(&self) -> super::Shape {
        super::Shape { monotone: true, derivative_peaked_at_zero: false }
    }
    fn eval(&self, v: f64) -> f64 {
        v.max(0.0)
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
}
