//! Logistic sigmoid `1 / (1 + e^-v)`: slope-restricted in `[0, 1/4]`
//! (`sigma' = sigma (1 - sigma) <= 1/4`).
use super::ActivationRule;

pub(super) struct Sigmoid;

impl ActivationRule for Sigmoid {
    fn eval(&self, v: f64) -> f64 {
        if v >= 0.0 {
            1.0 / (1.0 + (-v).exp())
        } else {
            let e = v.exp();
            e / (1.0 + e)
        }
    }
    fn derivative(&self, v: f64) -> f64 {
        let s = self.eval(v);
        s * (1.0 - s)
    }
    fn slope_bounds(&self) -> (f64, f64) {
        (0.0, 0.25)
    }
}
