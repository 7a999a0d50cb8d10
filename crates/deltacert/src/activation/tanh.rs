//! Hyperbolic tangent: slope-restricted in `[0, 1]` (`tanh' = 1 - tanh^2`).
use super::ActivationRule;

pub(super) struct Tanh;

impl ActivationRule for Tanh {
    fn eval(&self, v: f64) -> f64 {
        v.tanh()
    }
    fn derivative(&self, v: f64) -> f64 {
        let t = v.tanh();
        1.0 - t * t
    }
    fn slope_bounds(&self) -> (f64, f64) {
        (0.0, 1.0)
    }
}
