//! Element-wise activation functions, one file per family.
//!
//! Each family declares everything the rest of the crate needs about it:
//! evaluation, derivative (for gradient ascent), its slope restriction
//! `alpha <= (sigma(s) - sigma(t)) / (s - t) <= beta` (which yields the sector
//! and incremental quadratic constraints of docs/method.md §3) and whether
//! it is piecewise linear with a kink at zero (ReLU-like, which enables the
//! exact ReLU constraints and stable-neuron elimination).
//!
//! Adding an activation: one new file implementing [`ActivationRule`] plus one
//! line in [`Activation::rule`].

mod identity;
mod leaky_relu;
mod relu;
mod sigmoid;
mod tanh;

use serde::Serialize;

/// An affine expression `v_coef * v + a_coef * a + constant` in one neuron's
/// pre-activation `v` and activation `a`; `constant_error` bounds the rounding
/// error of `constant` (values of tanh/sigmoid are faithful, not exact).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeuronAffine {
    /// Coefficient of `v`.
    pub v_coef: f64,
    /// Coefficient of `a`.
    pub a_coef: f64,
    /// Constant term.
    pub constant: f64,
    /// Bound on the rounding error of `constant`.
    pub constant_error: f64,
}

impl NeuronAffine {
    /// `v_coef v + a_coef a + constant` with an exact constant.
    pub fn new(v_coef: f64, a_coef: f64, constant: f64) -> Self {
        NeuronAffine { v_coef, a_coef, constant, constant_error: 0.0 }
    }
}

/// A fact about one neuron with `l <= v <= u` (docs/method.md §3), in terms of its
/// `v` and `a`; the SDP substitutes the lifted linear forms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NeuronFact {
    /// `e >= 0`.
    NonNegative(NeuronAffine),
    /// `e1 * e2 >= 0`.
    ProductNonNegative(NeuronAffine, NeuronAffine),
    /// `e1 * e2 = 0`.
    ProductZero(NeuronAffine, NeuronAffine),
}

/// Local slope bounds of a smooth activation whose derivative is unimodal
/// with its peak at 0 (tanh, sigmoid): on `[l, u]` every difference quotient
/// lies in `[min(sigma'(l), sigma'(u)), sigma'(clamp(0, l, u))]` (the minimum
/// of a unimodal function on an interval sits at an end). The lower end takes
/// the lower ends of the derivative enclosures
/// ([`ActivationRule::derivative_enclosure`]), the upper end the upper one,
/// capped by the global slope bound `cap`.
pub(crate) fn peaked_slope_bounds(rule: &dyn ActivationRule, lower: f64, upper: f64, cap: f64) -> (f64, f64) {
    assert!(rule.shape().derivative_peaked_at_zero, "peaked slope bounds need a derivative peaked at 0");
    let alpha = rule.derivative_enclosure(lower).0.min(rule.derivative_enclosure(upper).0);
    let beta = rule.derivative_enclosure(0f64.clamp(lower, upper)).1;
    // a NaN end (undefined input) gives the global bounds, never a narrower pair
    let alpha = if alpha.is_nan() { 0.0 } else { alpha.max(0.0) };
    let beta = if beta.is_nan() { cap } else { beta.min(cap) };
    (alpha, beta)
}

/// The sector constraint around the point `(v0, sigma(v0))` for slopes in
/// `[alpha, beta]`: `(a - s0 - alpha (v - v0)) (beta (v - v0) - (a - s0)) >= 0`.
/// `s0` is the computed `sigma(v0)` and `(s0_lower, s0_upper)` an enclosure
/// of the exact value; each constant `+-(slope v0 - s0)` is computed in
/// floating point and its error bound collects the enclosure's half-width,
/// the rounding of the product (`u |slope v0|`) and of the difference
/// (`u |constant|`), all rounded up, plus the underflow floor.
pub(crate) fn sector(v0: f64, s0: f64, s0_enclosure: (f64, f64), alpha: f64, beta: f64) -> NeuronFact {
    use crate::rounding::{add_up, mul_up, sub_up, UNIT_ROUNDOFF};
    let value_error = sub_up(s0, s0_enclosure.0).max(sub_up(s0_enclosure.1, s0)).max(0.0);
    let affine = |slope: f64| {
        let product = slope * v0;
        let constant = product - s0;
        let error = add_up(add_up(add_up(value_error, mul_up(UNIT_ROUNDOFF, product.abs())), mul_up(UNIT_ROUNDOFF, constant.abs())), f64::MIN_POSITIVE);
        (constant, error)
    };
    let (lower_constant, lower_error) = affine(alpha);
    let (upper_constant, upper_error) = affine(beta);
    let lower = NeuronAffine { v_coef: -alpha, a_coef: 1.0, constant: lower_constant, constant_error: lower_error };
    let upper = NeuronAffine { v_coef: beta, a_coef: -1.0, constant: -upper_constant, constant_error: upper_error };
    NeuronFact::ProductNonNegative(lower, upper)
}

/// The shape an activation declares, which the generic rules here rely on.
/// `every_activation_keeps_its_declared_shape` checks every registered
/// activation against its declaration on dense samples, so an activation that
/// breaks one (GELU and SiLU are not monotone) fails the tests instead of
/// producing a wrong bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Non-decreasing: the default [`ActivationRule::interval`] takes the
    /// image of an interval from its ends.
    pub monotone: bool,
    /// The derivative rises up to 0 and falls after it:
    /// the tanh and sigmoid rules take local slopes from the ends and from 0.
    pub derivative_peaked_at_zero: bool,
}

/// What every activation family declares about itself.
pub trait ActivationRule {
    /// The shape the generic rules rely on (checked by the tests).
    fn shape(&self) -> Shape;
    /// `sigma(v)`.
    fn eval(&self, pre_activation: f64) -> f64;
    /// `sigma'(v)` (a subgradient at kinks).
    fn derivative(&self, pre_activation: f64) -> f64;
    /// An enclosure `(lower, upper)` of the exact `sigma(v)` (the computed
    /// [`ActivationRule::eval`] may be off by rounding).
    fn value_enclosure(&self, pre_activation: f64) -> (f64, f64) {
        let y = self.eval(pre_activation);
        (y, y)
    }
    /// An enclosure of the exact `sigma'(v)` (of the subgradient that
    /// [`ActivationRule::derivative`] returns at kinks).
    fn derivative_enclosure(&self, pre_activation: f64) -> (f64, f64) {
        let d = self.derivative(pre_activation);
        (d, d)
    }
    /// Slope bounds `(alpha, beta)`: every difference quotient lies in `[alpha, beta]`.
    fn slope_bounds(&self) -> (f64, f64);
    /// Bounds of `sigma` over `[lower, upper]` in exact arithmetic: every
    /// activation here is monotone non-decreasing, so the image is
    /// `[sigma(lower), sigma(upper)]`, taken from the value enclosures.
    fn interval(&self, lower: f64, upper: f64) -> (f64, f64) {
        assert!(self.shape().monotone, "the end-point interval rule needs a monotone activation");
        (self.value_enclosure(lower).0, self.value_enclosure(upper).1)
    }
    /// Slope bounds valid for difference quotients of points in `[lower, upper]`
    /// (tighter than [`ActivationRule::slope_bounds`] on small intervals).
    fn local_slope_bounds(&self, lower: f64, upper: f64) -> (f64, f64);
    /// The quadratic and linear facts describing `a = sigma(v)` for an
    /// *unstable* neuron with `v in [lower, upper]` and `a in [a_lower, a_upper]`.
    /// The interval QC `(v - l)(u - v) >= 0` is added by the caller for every
    /// activation.
    fn neuron_facts(&self, lower: f64, upper: f64, a_lower: f64, a_upper: f64) -> Vec<NeuronFact>;
}

/// The activation functions of the IR.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Activation {
    /// `max(v, 0)`.
    Relu,
    /// `v` for `v >= 0`, `alpha v` otherwise (`0 <= alpha < 1`).
    LeakyRelu {
        /// Slope for negative inputs.
        alpha: f64,
    },
    /// `tanh(v)`.
    Tanh,
    /// `1 / (1 + exp(-v))`.
    Sigmoid,
    /// `v` (affine output layer).
    Identity,
}

impl Activation {
    /// The rule implementing this activation.
    /// Every activation of the IR (for tests over all of them).
    pub const ALL: [Activation; 5] = [Activation::Identity, Activation::Relu, Activation::LeakyRelu { alpha: 0.1 }, Activation::Tanh, Activation::Sigmoid];

    /// Its rules.
    pub fn rule(&self) -> Box<dyn ActivationRule> {
        match *self {
            Activation::Relu => Box::new(relu::Relu),
            Activation::LeakyRelu { alpha } => Box::new(leaky_relu::LeakyRelu { alpha }),
            Activation::Tanh => Box::new(tanh::Tanh),
            Activation::Sigmoid => Box::new(sigmoid::Sigmoid),
            Activation::Identity => Box::new(identity::Identity),
        }
    }
    /// `sigma(v)` without boxing (hot path of evaluation).
    #[inline]
    pub fn eval(&self, v: f64) -> f64 {
        match *self {
            Activation::Relu => v.max(0.0),
            Activation::LeakyRelu { alpha } => leaky_relu::LeakyRelu { alpha }.eval(v),
            Activation::Tanh => v.tanh(),
            Activation::Sigmoid => sigmoid::Sigmoid.eval(v),
            Activation::Identity => v,
        }
    }
    /// `sigma'(v)`.
    pub fn derivative(&self, v: f64) -> f64 {
        self.rule().derivative(v)
    }
    /// Local slope bounds on `[lower, upper]`.
    pub fn local_slope_bounds(&self, lower: f64, upper: f64) -> (f64, f64) {
        self.rule().local_slope_bounds(lower, upper)
    }
    /// Slope bounds `(alpha, beta)`.
    pub fn slope_bounds(&self) -> (f64, f64) {
        self.rule().slope_bounds()
    }
    /// `Some(negative_slope)` for the piecewise-linear family `max(v, alpha v)`
    /// (ReLU: 0, leaky ReLU: alpha); these are linear on either side of 0, so a
    /// neuron whose pre-activation keeps one sign is *stable* (docs/method.md §3).
    pub fn piecewise_linear_slope(&self) -> Option<f64> {
        match *self {
            Activation::Relu => Some(0.0),
            Activation::LeakyRelu { alpha } => Some(alpha),
            _ => None,
        }
    }
    /// Short name as used in `info` and in ONNX op types.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Identity => "identity",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every registered activation keeps the shape it declares, and its
    /// global slope bounds hold, on dense samples over [-40, 40].
    #[test]
    fn every_activation_keeps_its_declared_shape() {
        for activation in Activation::ALL {
            let rule = activation.rule();
            let shape = rule.shape();
            let points: Vec<f64> = (-4000..=4000).map(|i| i as f64 / 100.0).collect();
            let values: Vec<f64> = points.iter().map(|&v| rule.eval(v)).collect();
            let (alpha, beta) = rule.slope_bounds();
            for k in 1..points.len() {
                let quotient = (values[k] - values[k - 1]) / (points[k] - points[k - 1]);
                // a few ulps of evaluation error relative to the step
                let slack = 1e-12;
                assert!(quotient >= alpha - slack && quotient <= beta + slack, "{activation:?}: quotient {quotient} outside [{alpha}, {beta}] at {}", points[k]);
                if shape.monotone {
                    assert!(values[k] >= values[k - 1], "{activation:?} declared monotone but falls at {}", points[k]);
                }
                if shape.derivative_peaked_at_zero {
                    let (d0, d1) = (rule.derivative(points[k - 1]), rule.derivative(points[k]));
                    if points[k] <= 0.0 {
                        assert!(d1 >= d0, "{activation:?}: derivative falls before 0 at {}", points[k]);
                    } else if points[k - 1] >= 0.0 {
                        assert!(d1 <= d0, "{activation:?}: derivative rises after 0 at {}", points[k]);
                    }
                }
            }
        }
    }

    /// Slope bounds and interval rules must enclose dense samples.
    #[test]
    fn slope_bounds_and_intervals_enclose_samples() {
        let all = [
            Activation::Relu,
            Activation::LeakyRelu { alpha: 0.1 },
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Identity,
        ];
        for act in all {
            let (alpha, beta) = act.slope_bounds();
            let points: Vec<f64> = (0..401).map(|i| -8.0 + 0.04 * i as f64).collect();
            for &s in &points {
                for &t in points.iter().step_by(7) {
                    if (s - t).abs() > 1e-9 {
                        let q = (act.eval(s) - act.eval(t)) / (s - t);
                        assert!(q >= alpha - 1e-12 && q <= beta + 1e-12, "{act:?} {s} {t} {q}");
                    }
                }
                let d = act.derivative(s);
                assert!(d >= alpha - 1e-12 && d <= beta + 1e-12);
            }
            let (lo, hi) = act.rule().interval(-1.3, 2.1);
            for &s in &points {
                if (-1.3..=2.1).contains(&s) {
                    let y = act.eval(s);
                    assert!(y >= lo - 1e-15 && y <= hi + 1e-15);
                }
            }
        }
    }

    // The facts and local slope bounds are checked against exact values (no
    // tolerance) in tests/rounding_exact.rs.

    /// Derivatives agree with finite differences away from kinks.
    #[test]
    fn derivatives_match_finite_differences() {
        for act in [Activation::Tanh, Activation::Sigmoid, Activation::LeakyRelu { alpha: 0.2 }] {
            for &v in &[-2.3, -0.7, 0.4, 1.9] {
                let h = 1e-6;
                let fd = (act.eval(v + h) - act.eval(v - h)) / (2.0 * h);
                assert!((fd - act.derivative(v)).abs() < 1e-6);
            }
        }
    }
}
