//! Identity `sigma(v) = v` (output layers): slope exactly 1.
use super::ActivationRule;

pub(super) struct Identity;

impl ActivationRule for Identity {
    fn eval(&self, v: f64) -> f64 {
        v
    }
    fn derivative(&self, _v: f64) -> f64 {
        1.0
    }
    fn slope_bounds(&self) -> (f64, f64) {
        (1.0, 1.0)
    }
}
