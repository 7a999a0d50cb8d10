//! ReLU, `sigma(v) = max(v, 0)`: slope-restricted in `[0, 1]`, and exactly
//! described by `a >= 0`, `a >= v`, `a (a - v) = 0` (method.md §3).
use super::ActivationRule;

pub(super) struct Relu;

impl ActivationRule for Relu {
    fn eval(&self, v: f64) -> f64 {
        v.max(0.0)
    }
    fn derivative(&self, v: f64) -> f64 {
        if v > 0.0 { 1.0 } else { 0.0 }
    }
    fn slope_bounds(&self) -> (f64, f64) {
        (0.0, 1.0)
    }
}
