//! Leaky ReLU, `sigma(v) = max(v, alpha v)` for `0 <= alpha < 1`:
//! slope-restricted in `[alpha, 1]`.
use super::ActivationRule;

pub(super) struct LeakyRelu {
    pub alpha: f64,
}

impl ActivationRule for LeakyRelu {
    fn eval(&self, v: f64) -> f64 {
        if v >= 0.0 { v } else { self.alpha * v }
    }
    fn derivative(&self, v: f64) -> f64 {
        if v > 0.0 { 1.0 } else { self.alpha }
    }
    fn slope_bounds(&self) -> (f64, f64) {
        (self.alpha.min(1.0), self.alpha.max(1.0))
    }
}
