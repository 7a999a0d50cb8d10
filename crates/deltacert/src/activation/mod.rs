//! Element-wise activation functions, one file per family.
//!
//! Each family owns every rule the rest of the crate needs about it, through
//! [`ActivationRule`]: evaluation and derivative (for gradient ascent), value
//! and derivative enclosures, its slope restriction
//! `alpha <= (sigma(s) - sigma(t)) / (s - t) <= beta` (which yields the sector
//! and incremental quadratic constraints of docs/method.md §3; a quantiser
//! is a step function and declares itself not slope-restricted), the neuron
//! facts of the SDP, the linear relaxations of linear and differential bound
//! propagation ([`relaxation`]; each with a second valid relaxation, whose
//! weighted means with the first are what optimised slopes choose from), the
//! mixed-integer encoding of the MILP
//! ([`mixed_integer`]; piecewise-linear activations and quantisers), and its ONNX
//! operator (read and written). The generic rules (constant relaxation,
//! relaxation of a difference from local slope bounds, end-point image) are
//! default methods that an activation overrides when it knows better.
//!
//! Adding an activation:
//! 1. one new file in this directory implementing [`ActivationRule`] (a
//!    `Clone` struct holding its parameters);
//! 2. the variant in [`Activation`];
//! 3. one arm in [`Activation::with_rule`] (the registry: every other
//!    method of [`Activation`], [`Activation::rule`] included, goes through it);
//! 4. one entry in [`Activation::ALL`].
//!
//! The tests of this module then run the new activation through every
//! generic check: declared shape, slope bounds, enclosure of dense samples by
//! its linear and difference relaxations (both members of each family and
//! weighted means at random weights), and exactness of its mixed-integer
//! encoding.

mod identity;
mod leaky_relu;
pub mod mixed_integer;
mod quantize;
pub mod relaxation;
mod relu;
mod sigmoid;
mod tanh;

pub use mixed_integer::{EncodingColumn, MixedIntegerEncoding, NeuronRow};
pub use relaxation::{LinearBounds, RelaxationFamily};
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
    // crossed or undefined ends (an empty piece): the global bounds
    if !(lower <= upper) {
        return (0.0, cap);
    }
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
    /// Every difference quotient lies in the finite
    /// [`ActivationRule::slope_bounds`]: the sector and incremental quadratic
    /// constraints and the slope relaxation of a difference
    /// ([`relaxation::slope_difference_relaxation`]) need it. A quantiser (a
    /// step function) is not slope-restricted: those rules are skipped for it.
    pub slope_restricted: bool,
}

/// An ONNX operator implementing an activation: its op type and float
/// attributes (written as float32, as ONNX stores them).
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxActivation {
    /// The operator's `op_type` (default domain).
    pub op_type: &'static str,
    /// Float attributes `(name, value)`.
    pub float_attributes: Vec<(&'static str, f64)>,
}

/// Boxing a rule (implemented for every `Clone` rule), so that
/// [`Activation::rule`] needs no registry of its own.
pub trait BoxedRule {
    /// A boxed copy of this rule.
    fn boxed(&self) -> Box<dyn ActivationRule>;
}

impl<T: ActivationRule + Clone + 'static> BoxedRule for T {
    fn boxed(&self) -> Box<dyn ActivationRule> {
        Box::new(self.clone())
    }
}

/// What every activation family declares about itself.
pub trait ActivationRule: BoxedRule {
    /// Short name as used in `info` and in error messages.
    fn name(&self) -> &'static str;
    /// The shape the generic rules rely on (checked by the tests).
    fn shape(&self) -> Shape;
    /// `sigma(v)`.
    fn eval(&self, pre_activation: f64) -> f64;
    /// `sigma(v)` in 320-bit arithmetic (exact for the piecewise-linear
    /// family, within `2^-280` relative otherwise): the reference of the
    /// exact-arithmetic tests.
    #[cfg(test)]
    fn exact_eval(&self, pre_activation: &dashu_float::FBig) -> dashu_float::FBig;
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
    /// Slope bounds `(alpha, beta)`: every difference quotient lies in
    /// `[alpha, beta]` (`beta = +inf` when the activation is not
    /// [`Shape::slope_restricted`]).
    fn slope_bounds(&self) -> (f64, f64);
    /// `Some(s)` for the piecewise-linear family `max(v, s v)` with `0 <= s
    /// < 1` (ReLU: 0, leaky ReLU: its alpha): linear on either side of 0, so
    /// a neuron whose pre-activation keeps one sign is *stable*
    /// (docs/method.md §3). `None` for every other activation.
    fn negative_side_slope(&self) -> Option<f64> {
        None
    }
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
    /// Lines `lower_slope v + lower_intercept <= sigma(v) <= upper_slope v +
    /// upper_intercept` valid in exact arithmetic for `v in [lower, upper]`,
    /// where `sigma([lower, upper]) ⊆ [post_lower, post_upper]`
    /// ([`relaxation`]), together with a second valid pair of lines
    /// ([`RelaxationFamily`]: every weighted mean of the two is valid, which
    /// is what optimised slopes move along). The default is the constant
    /// pair `post_lower <= sigma(v) <= post_upper`, sound for every
    /// activation, with no alternative.
    fn linear_relaxation_family(&self, lower: f64, upper: f64, post_lower: f64, post_upper: f64) -> RelaxationFamily {
        let _ = (lower, upper);
        RelaxationFamily::fixed(LinearBounds::constant(post_lower, post_upper))
    }
    /// The fixed relaxation of [`ActivationRule::linear_relaxation_family`]
    /// (its `chosen` lines). Activations override the family, not this.
    fn linear_relaxation(&self, lower: f64, upper: f64, post_lower: f64, post_upper: f64) -> LinearBounds {
        self.linear_relaxation_family(lower, upper, post_lower, post_upper).chosen
    }
    /// Lines bounding `Delta a = sigma(v_f) - sigma(v_g)` in `Delta v = v_f -
    /// v_g`, valid in exact arithmetic for `v_f in f`, `v_g in g`, `Delta v in
    /// delta`, where `post` bounds `Delta a` (`(l(a_f) - u(a_g), u(a_f) -
    /// l(a_g))`), with a second valid pair ([`RelaxationFamily`]). The
    /// default, [`relaxation::slope_difference_family`], takes them from
    /// [`ActivationRule::local_slope_bounds`] by the mean value theorem, the
    /// alternative being the constant bound `post` (or the line, when the
    /// constant is chosen).
    fn difference_relaxation_family(&self, f: (f64, f64), g: (f64, f64), delta: (f64, f64), post: (f64, f64)) -> RelaxationFamily {
        relaxation::slope_difference_family(self, f, g, delta, post)
    }
    /// The fixed relaxation of [`ActivationRule::difference_relaxation_family`]
    /// (its `chosen` lines). Activations override the family, not this.
    fn difference_relaxation(&self, f: (f64, f64), g: (f64, f64), delta: (f64, f64), post: (f64, f64)) -> LinearBounds {
        self.difference_relaxation_family(f, g, delta, post).chosen
    }
    /// The mixed-integer encoding of `a = sigma(v)` for `v in [lower, upper]`
    /// ([`mixed_integer`]), or `None` for every interval when `sigma` is not
    /// piecewise linear (tanh, sigmoid: the MILP then refuses the network,
    /// naming the activation). ReLU and leaky ReLU have one with a binary,
    /// the quantiser (piecewise constant) one with an integer level. The
    /// default is `None`.
    fn mixed_integer_encoding(&self, lower: f64, upper: f64) -> Option<MixedIntegerEncoding> {
        let _ = (lower, upper);
        None
    }
    /// The ONNX operator writing this activation, `None` when it is the
    /// identity (no node is written).
    fn onnx_op(&self) -> Option<OnnxActivation>;
    /// The activation an ONNX node of this rule's op type
    /// ([`ActivationRule::onnx_op`]) denotes, given its float attributes
    /// (`None`: absent), or why it is not supported.
    fn read_onnx(&self, float_attribute: &dyn Fn(&str) -> Option<f64>) -> Result<Activation, String>;
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
    /// The quantiser `s (clamp(rne(v / s) + z, qmin, qmax) - z)` of an ONNX
    /// `QuantizeLinear`/`DequantizeLinear` pair on an activation tensor.
    Quantize {
        /// The scale `s > 0`.
        scale: f64,
        /// The zero point `z`, an integer in `[qmin, qmax]`.
        zero_point: f64,
        /// Smallest integer level (0 for uint8, -128 for int8).
        qmin: f64,
        /// Largest integer level (255 for uint8, 127 for int8).
        qmax: f64,
    },
}

impl Activation {
    /// For an activation `self` of the compressed network paired with a
    /// neuron of activation `reference` in the other network: bounds on the
    /// gap `reference(v) - self(v)` over `v in [lower, upper]`, rounded
    /// outward. Defined for the identity against any quantiser (a
    /// `QuantizeLinear`/`DequantizeLinear` pair on a float tensor), a ReLU
    /// against a quantiser whose lower clamp is a ReLU (zero point at the
    /// bottom of the range, as onnxruntime folds a ReLU into it), and two
    /// leaky ReLUs of different slopes (a ReLU is slope 0):
    /// `(alpha_f - alpha_g) min(v, 0)`; None otherwise.
    pub fn gap_to(&self, reference: Activation, lower: f64, upper: f64) -> Option<(f64, f64)> {
        match (reference, *self) {
            (Activation::Identity | Activation::Relu, Activation::Quantize { scale, zero_point, qmin, qmax }) => {
                quantize::Quantize { scale, zero_point, qmin, qmax }.gap(reference == Activation::Relu, lower, upper)
            }
            (Activation::Relu | Activation::LeakyRelu { .. }, Activation::Relu | Activation::LeakyRelu { .. }) if lower <= upper => {
                use crate::rounding::{mul_down, mul_up, sub_down, sub_up};
                let (alpha_f, alpha_g) = (reference.leaky_slope()?, self.leaky_slope()?);
                // (alpha_f - alpha_g) in [d_lo, d_hi], min(v, 0) in [m_lo, m_hi] (m_hi <= 0)
                let (d_lo, d_hi) = (sub_down(alpha_f, alpha_g), sub_up(alpha_f, alpha_g));
                let (m_lo, m_hi) = (lower.min(0.0), upper.min(0.0));
                let lows = [mul_down(d_lo, m_lo), mul_down(d_lo, m_hi), mul_down(d_hi, m_lo), mul_down(d_hi, m_hi)];
                let highs = [mul_up(d_lo, m_lo), mul_up(d_lo, m_hi), mul_up(d_hi, m_lo), mul_up(d_hi, m_hi)];
                if lows.iter().chain(&highs).any(|v| !v.is_finite()) {
                    return None;
                }
                Some((lows.iter().copied().fold(f64::INFINITY, f64::min), highs.iter().copied().fold(f64::NEG_INFINITY, f64::max)))
            }
            _ => None,
        }
    }
    /// The slope of a ReLU (0) or leaky ReLU below 0; None for the others.
    fn leaky_slope(&self) -> Option<f64> {
        match *self {
            Activation::Relu => Some(0.0),
            Activation::LeakyRelu { alpha } => Some(alpha),
            _ => None,
        }
    }
    /// Whether a neuron with `self` in one network and `other` in the other
    /// can be paired by differential propagation: the same activation, a
    /// quantiser in `other` against the identity or a ReLU in `self`, or
    /// leaky ReLUs (or ReLUs) of different slopes ([`Activation::gap_to`]).
    pub fn pairs_with(&self, other: Activation) -> bool {
        *self == other
            || match (*self, other) {
                (Activation::Identity, Activation::Quantize { .. }) => true,
                (Activation::Relu, Activation::Quantize { zero_point, qmin, .. }) => zero_point == qmin,
                (Activation::Relu | Activation::LeakyRelu { .. }, Activation::Relu | Activation::LeakyRelu { .. }) => true,
                _ => false,
            }
    }
    /// Every activation of the IR, one of each variant (the ONNX reader
    /// looks op types up here, and the tests run over all of them).
    pub const ALL: [Activation; 6] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Tanh,
        Activation::Sigmoid,
        // a uint8 quantiser with zero point 0 (a folded ReLU), saturating at 12.75
        Activation::Quantize { scale: 0.05, zero_point: 0.0, qmin: 0.0, qmax: 255.0 },
    ];

    /// Calls `f` with this activation's rule, built on the stack: the
    /// registry of rules, one arm per activation. Hot paths (evaluation,
    /// interval images) go through here rather than [`Activation::rule`]:
    /// no allocation, and inlining lets the compiler call each arm's rule
    /// directly.
    #[inline]
    pub fn with_rule<R>(&self, f: impl FnOnce(&dyn ActivationRule) -> R) -> R {
        match *self {
            Activation::Relu => f(&relu::Relu),
            Activation::LeakyRelu { alpha } => f(&leaky_relu::LeakyRelu { alpha }),
            Activation::Tanh => f(&tanh::Tanh),
            Activation::Sigmoid => f(&sigmoid::Sigmoid),
            Activation::Identity => f(&identity::Identity),
            Activation::Quantize { scale, zero_point, qmin, qmax } => f(&quantize::Quantize { scale, zero_point, qmin, qmax }),
        }
    }
    /// Its rules, boxed.
    pub fn rule(&self) -> Box<dyn ActivationRule> {
        self.with_rule(|rule| rule.boxed())
    }
    /// `sigma(v)` (hot path of evaluation). Through [`Activation::with_rule`]
    /// rather than a match of its own: inlined, each arm calls its rule
    /// directly, and sampling runs measured no slower than with a match.
    #[inline]
    pub fn eval(&self, v: f64) -> f64 {
        self.with_rule(|rule| rule.eval(v))
    }
    /// `sigma'(v)`.
    pub fn derivative(&self, v: f64) -> f64 {
        self.with_rule(|rule| rule.derivative(v))
    }
    /// Local slope bounds on `[lower, upper]`.
    pub fn local_slope_bounds(&self, lower: f64, upper: f64) -> (f64, f64) {
        self.with_rule(|rule| rule.local_slope_bounds(lower, upper))
    }
    /// Slope bounds `(alpha, beta)`.
    pub fn slope_bounds(&self) -> (f64, f64) {
        self.with_rule(|rule| rule.slope_bounds())
    }
    /// Whether its difference quotients lie in finite slope bounds
    /// ([`Shape::slope_restricted`]).
    pub fn slope_restricted(&self) -> bool {
        self.with_rule(|rule| rule.shape().slope_restricted)
    }
    /// `Some(negative_slope)` for the piecewise-linear family `max(v, alpha v)`
    /// ([`ActivationRule::negative_side_slope`]).
    pub fn piecewise_linear_slope(&self) -> Option<f64> {
        self.with_rule(|rule| rule.negative_side_slope())
    }
    /// Short name as used in `info` and in error messages.
    pub fn name(&self) -> &'static str {
        self.with_rule(|rule| rule.name())
    }
    /// The activation an ONNX node of type `op_type` denotes, built by the
    /// rule in [`Activation::ALL`] whose [`ActivationRule::onnx_op`] has that
    /// op type from the node's float attributes; `None` when no activation
    /// has that op type, `Some(Err(why))` when the attributes are not
    /// supported.
    pub fn from_onnx(op_type: &str, float_attribute: &dyn Fn(&str) -> Option<f64>) -> Option<Result<Activation, String>> {
        Activation::written_as_onnx(op_type).map(|activation| activation.with_rule(|rule| rule.read_onnx(float_attribute)))
    }
    /// Whether some activation is written as the ONNX operator `op_type`.
    pub fn is_onnx_op(op_type: &str) -> bool {
        Activation::written_as_onnx(op_type).is_some()
    }
    /// The attributes the ONNX operator `op_type` defines, when some
    /// activation is written as it (its rule's float attributes).
    pub fn onnx_attribute_names(op_type: &str) -> Option<Vec<&'static str>> {
        let op = Activation::written_as_onnx(op_type)?.with_rule(|rule| rule.onnx_op())?;
        Some(op.float_attributes.iter().map(|(name, _)| *name).collect())
    }
    /// The entry of [`Activation::ALL`] written as the ONNX operator `op_type`.
    fn written_as_onnx(op_type: &str) -> Option<Activation> {
        Activation::ALL.into_iter().find(|a| a.with_rule(|rule| rule.onnx_op()).is_some_and(|op| op.op_type == op_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An overflowed pre-activation (NaN, from `inf - inf`) stays NaN through
    /// every activation: a NaN turned into a finite number would make an
    /// overflowed evaluation look valid (`f64::max(NaN, 0)` is 0).
    /// The gap between leaky ReLUs of different slopes (a ReLU is slope 0)
    /// encloses `sigma_f(v) - sigma_g(v)` at every sampled `v` of the range,
    /// ends included; infinite ranges have none.
    #[test]
    fn leaky_relu_gaps_enclose_the_difference() {
        let slopes = [0.0, 0.01f32 as f64, 0.1, 0.1f32 as f64, 0.3, 0.999];
        let activation = |alpha: f64| if alpha == 0.0 { Activation::Relu } else { Activation::LeakyRelu { alpha } };
        for &a in &slopes {
            for &b in &slopes {
                let (f, g) = (activation(a), activation(b));
                assert!(f.pairs_with(g));
                for (lower, upper) in [(-3.0, 2.0), (-1e-3, -1e-6), (0.0, 5.0), (-7.5, -7.5), (-1e300, 1.0)] {
                    let (gap_lower, gap_upper) = g.gap_to(f, lower, upper).unwrap();
                    for k in 0..=100 {
                        let v = lower + (upper - lower) * k as f64 / 100.0;
                        let v = v.clamp(lower, upper);
                        // exact: (a - b) min(v, 0) at 320 bits
                        use crate::rounding::exact::big;
                        let difference = (big(a) - big(b)) * big(v.min(0.0));
                        assert!(big(gap_lower) <= difference && difference <= big(gap_upper), "{f:?} vs {g:?} at {v}: outside [{gap_lower}, {gap_upper}]");
                    }
                }
                assert!(g.gap_to(f, f64::NEG_INFINITY, 0.0).is_none() || a == b);
            }
        }
    }

    #[test]
    fn nan_stays_nan_through_every_activation() {
        for activation in Activation::ALL {
            assert!(activation.rule().eval(f64::NAN).is_nan(), "{activation:?}");
        }
    }

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
            assert_eq!(shape.slope_restricted, beta.is_finite() && alpha.is_finite(), "{activation:?}: finite slope bounds exactly when slope-restricted");
            let mut jumps = 0;
            for k in 1..points.len() {
                let quotient = (values[k] - values[k - 1]) / (points[k] - points[k - 1]);
                // a few ulps of evaluation error relative to the step
                let slack = 1e-12;
                assert!(quotient >= alpha - slack && quotient <= beta + slack, "{activation:?}: quotient {quotient} outside [{alpha}, {beta}] at {}", points[k]);
                if shape.monotone {
                    assert!(values[k] >= values[k - 1], "{activation:?} declared monotone but falls at {}", points[k]);
                }
                jumps += usize::from(values[k] != values[k - 1]);
                if shape.derivative_peaked_at_zero {
                    let (d0, d1) = (rule.derivative(points[k - 1]), rule.derivative(points[k]));
                    if points[k] <= 0.0 {
                        assert!(d1 >= d0, "{activation:?}: derivative falls before 0 at {}", points[k]);
                    } else if points[k - 1] >= 0.0 {
                        assert!(d1 <= d0, "{activation:?}: derivative rises after 0 at {}", points[k]);
                    }
                }
            }
            // the samples exercise the activation: it is not constant there
            assert!(jumps >= 100, "{activation:?} changes only {jumps} times over [-40, 40]");
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
            Activation::Quantize { scale: 0.25, zero_point: 3.0, qmin: -128.0, qmax: 127.0 },
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

    use crate::rounding::exact::{big, proven_le};
    use crate::rounding::{round_down as down, round_up as up};

    /// The image of `[lower, upper]` (finite here), as the propagation takes it.
    fn activation_image(activation: Activation, lower: f64, upper: f64) -> (f64, f64) {
        activation.with_rule(|rule| rule.interval(lower, upper))
    }
    use rand::{Rng, SeedableRng};

    /// Every activation of [`Activation::ALL`] plus a second leaky slope
    /// and a second quantiser (zero point in the middle, a float32 scale
    /// that is no power of two, saturating at -4.75 and 4.71).
    fn all_activations() -> Vec<Activation> {
        let mut all = Activation::ALL.to_vec();
        all.push(Activation::LeakyRelu { alpha: 0.3 });
        all.push(Activation::Quantize { scale: 0.0371f32 as f64, zero_point: 128.0, qmin: 0.0, qmax: 255.0 });
        all
    }

    /// Whether the 320-bit reference of the activation is exact (the
    /// piecewise-linear family and the identity): then the relaxations must
    /// hold without the reference's margin.
    fn exact_reference(activation: Activation) -> bool {
        matches!(activation, Activation::Quantize { .. }) || activation.with_rule(|rule| rule.mixed_integer_encoding(-1.0, 1.0).is_some())
    }

    /// An interval: fixed centres and widths (down to 1e-12, near and far
    /// from 0) first, then random ones, stable and unstable.
    fn interval(case: usize, rng: &mut rand::rngs::StdRng) -> (f64, f64) {
        let fixed_centres = [0.0, 1e-9, -0.7, 3.3, 19.5, -38.0];
        let fixed_widths = [1e-12, 1e-6, 0.37, 5.0, 40.0];
        if case < fixed_centres.len() * fixed_widths.len() {
            let (centre, width) = (fixed_centres[case % fixed_centres.len()], fixed_widths[case / fixed_centres.len()]);
            return (centre - 0.5 * width, centre + 0.5 * width);
        }
        let centre = rng.gen_range(-20.0..20.0) * [1.0, 0.1, 0.01][case % 3];
        let width = 10f64.powf(rng.gen_range(-12.0..1.5));
        let lower = centre - width * rng.gen_range(0.0..1.0);
        (lower, lower + width)
    }

    /// The relaxations of a family to check: the chosen and the alternative
    /// lines and weighted means of them at fixed and random weights (tiny,
    /// near 1, and the same or different on the two sides), on the range
    /// `[lower, upper]`.
    fn family_members(family: &RelaxationFamily, lower: f64, upper: f64, rng: &mut rand::rngs::StdRng) -> Vec<LinearBounds> {
        let mut members = vec![family.chosen, family.alternative];
        for (lower_weight, upper_weight) in [(0.5, 0.5), (1e-17, 1.0 - 1e-16), (1.0 - 1e-16, 1e-300), (rng.gen_range(0.0..1.0), rng.gen_range(0.0..1.0))] {
            members.push(family.at(lower_weight, upper_weight, lower, upper));
        }
        assert_eq!(family.at(1.0, 1.0, lower, upper), family.chosen, "weight 1 is the fixed relaxation");
        members
    }

    /// Every activation's linear relaxation lies below / above it, evaluated
    /// exactly at dense points (ends included) of fixed and random intervals;
    /// so do the alternative lines of its family and weighted means of the
    /// two at random weights (the optimised slopes of bound propagation).
    #[test]
    fn linear_relaxation_encloses_the_exact_activation() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(23);
        let mut free_sides = 0;
        for activation in all_activations() {
            let rule = activation.rule();
            for case in 0..130 {
                let (l, u) = interval(case, &mut rng);
                let (pl, pu) = activation_image(activation, l, u);
                let family = rule.linear_relaxation_family(l, u, pl, pu);
                assert_eq!(family.chosen, rule.linear_relaxation(l, u, pl, pu));
                free_sides += usize::from(family.lower_free()) + usize::from(family.upper_free());
                for r in family_members(&family, l, u, &mut rng) {
                for i in 0..=100 {
                    let v = if i == 100 { u } else { l + (u - l) * i as f64 / 100.0 };
                    let exact_v = big(v);
                    let a = rule.exact_eval(&exact_v);
                    let below = big(r.lower_slope) * exact_v.clone() + big(r.lower_intercept);
                    let above = big(r.upper_slope) * exact_v.clone() + big(r.upper_intercept);
                    let (ok_below, ok_above) = if exact_reference(activation) { (below <= a, a <= above) } else { (proven_le(&below, &a), proven_le(&a, &above) || above >= big(1.0)) };
                    assert!(ok_below, "{activation:?} on [{l}, {u}] at {v}: lower line {below} above {a} ({r:?})");
                    assert!(ok_above, "{activation:?} on [{l}, {u}] at {v}: upper line {above} below {a} ({r:?})");
                }
                }
            }
        }
        assert!(free_sides >= 100, "only {free_sides} free lines checked");
    }

    /// Every activation's relaxation of `sigma(v_f) - sigma(v_g)` holds in
    /// exact arithmetic at dense points (ends of the boxes included) of
    /// random boxes near and far from 0, of widths down to 1e-12; so do the
    /// alternative lines of its family and weighted means at random weights.
    #[test]
    fn difference_relaxation_encloses_the_exact_difference() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let mut free_sides = 0;
        for activation in all_activations() {
            let rule = activation.rule();
            for case in 0..120 {
                let centre = [0.0, 0.3, -2.0, 12.0, -30.0, 39.0][case % 6];
                let width = [1e-12, 1e-6, 0.5, 3.0][case % 4];
                let fl = centre + rng.gen_range(-1.0..0.0) * width;
                let fu = fl + width;
                let dl = -width * rng.gen_range(0.0..1.0);
                let du = dl + width * rng.gen_range(0.0..1.5);
                let (gl, gu) = (fl - du, fu - dl);
                let (afl, afu) = activation_image(activation, fl, fu);
                let (agl, agu) = activation_image(activation, gl, gu);
                let post = (down(afl - agu), up(afu - agl));
                let family = rule.difference_relaxation_family((fl, fu), (gl, gu), (dl, du), post);
                assert_eq!(family.chosen, rule.difference_relaxation((fl, fu), (gl, gu), (dl, du), post));
                free_sides += usize::from(family.lower_free()) + usize::from(family.upper_free());
                for r in family_members(&family, dl, du, &mut rng) {
                for i in 0..=12 {
                    for j in 0..=12 {
                        let vf = if i == 12 { fu } else { fl + (fu - fl) * i as f64 / 12.0 };
                        let vg = if j == 12 { gu } else { gl + (gu - gl) * j as f64 / 12.0 };
                        let d = big(vf) - big(vg);
                        if d < big(dl) || d > big(du) || vf < fl || vf > fu || vg < gl || vg > gu {
                            continue;
                        }
                        let da = rule.exact_eval(&big(vf)) - rule.exact_eval(&big(vg));
                        let upper = big(r.upper_slope) * d.clone() + big(r.upper_intercept);
                        let lower = big(r.lower_slope) * d.clone() + big(r.lower_intercept);
                        let (ok_upper, ok_lower) = if exact_reference(activation) { (da <= upper, lower <= da) } else { (proven_le(&da, &upper), proven_le(&lower, &da)) };
                        assert!(ok_upper, "{activation:?} case {case}: {da} above the upper line {upper} at vf {vf}, vg {vg} ({r:?})");
                        assert!(ok_lower, "{activation:?} case {case}: {da} below the lower line {lower} at vf {vf}, vg {vg} ({r:?})");
                    }
                }
                }
            }
        }
        assert!(free_sides >= 100, "only {free_sides} free lines checked");
    }

    /// Where an activation has a mixed-integer encoding, it is exact, and
    /// every row of it is needed. On fixed and random intervals
    /// ([`mixed_integer::check::check_exact`]): `(v, sigma(v))` is admitted
    /// at dense samples, and no grid point `(v, a)` (every integer
    /// assignment, the continuous column on a grid) with `a` away from
    /// `sigma` near `v` is. Then each row is dropped in turn: for every row
    /// (by position and sides) the check must fail on some interval without
    /// it, so the test sees a missing or weakened row.
    #[test]
    fn mixed_integer_encodings_describe_exactly_the_activation() {
        use std::collections::BTreeMap;
        let mut rng = rand::rngs::StdRng::seed_from_u64(29);
        let mut column_encodings = BTreeMap::new();
        // (activation, row position, finite lower end, finite upper end) -> (seen, needed)
        let mut needed: BTreeMap<(String, usize, bool, bool), (usize, usize)> = BTreeMap::new();
        for activation in all_activations() {
            let rule = activation.rule();
            for case in 0..130 {
                let (l, u) = interval(case, &mut rng);
                let Some(encoding) = rule.mixed_integer_encoding(l, u) else {
                    assert!(rule.mixed_integer_encoding(-1.0, 1.0).is_none(), "{activation:?}: an encoding on some intervals only");
                    continue;
                };
                let samples = |n: usize| (0..=n).map(|i| if i == n { u } else { l + (u - l) * i as f64 / n as f64 }).collect::<Vec<f64>>();
                let (sound_points, exact_points) = (samples(400), samples(40));
                if let Err(e) = mixed_integer::check::check_exact(rule.as_ref(), &encoding, l, u, &sound_points, &exact_points) {
                    panic!("{activation:?}: {e}");
                }
                let MixedIntegerEncoding::Columns { rows, .. } = &encoding else { continue };
                *column_encodings.entry(format!("{activation:?}")).or_insert(0usize) += 1;
                for (r, row) in rows.iter().enumerate() {
                    let mut weaker = encoding.clone();
                    let MixedIntegerEncoding::Columns { rows, .. } = &mut weaker else { unreachable!() };
                    rows.remove(r);
                    let fails = mixed_integer::check::check_exact(rule.as_ref(), &weaker, l, u, &sound_points, &exact_points).is_err();
                    let entry = needed.entry((format!("{activation:?}"), r, row.lower.is_finite(), row.upper.is_finite())).or_insert((0, 0));
                    *entry = (entry.0 + 1, entry.1 + usize::from(fails));
                }
            }
        }
        for (key, (seen, fails)) in &needed {
            assert!(*fails > 0, "{key:?}: dropping this row never made the check fail ({seen} encodings)");
        }
        // every activation with an encoding had intervals that needed columns
        for activation in all_activations() {
            if activation.with_rule(|rule| rule.mixed_integer_encoding(-1.0, 1.0).is_some()) && activation != Activation::Identity {
                let count = column_encodings.get(&format!("{activation:?}")).copied().unwrap_or(0);
                assert!(count >= 15, "{activation:?}: only {count} encodings with columns checked");
            }
        }
        println!("{needed:?}");
    }

    /// Undefined or crossed ranges never give narrower bounds than none: a
    /// NaN end of `Delta v` (which `min`/`max` would drop) and an infinite one
    /// (whose chords have NaN coefficients) give the constant `post`, crossed
    /// slope-bound ends the global slope bounds (no panic).
    #[test]
    fn undefined_ranges_give_the_constant_bounds() {
        let post = (-5.0, 5.0);
        for activation in [Activation::Relu, Activation::LeakyRelu { alpha: 0.3 }, Activation::Tanh, Activation::Sigmoid] {
            let rule = activation.rule();
            let family = rule.difference_relaxation_family((-1.0, 1.0), (-1.0, 1.0), (f64::NAN, f64::NAN), post);
            assert_eq!(family.chosen, LinearBounds::constant(post.0, post.1), "{activation:?}");
            let family = rule.difference_relaxation_family((f64::NEG_INFINITY, 5.0), (f64::NEG_INFINITY, 5.0), (f64::NEG_INFINITY, 1.0), post);
            for line in [family.chosen, family.alternative] {
                assert!([line.lower_slope, line.lower_intercept, line.upper_slope, line.upper_intercept].iter().all(|c| c.is_finite()), "{activation:?}: {line:?}");
            }
        }
        assert_eq!(Activation::Tanh.local_slope_bounds(1.0, 0.5), (0.0, 1.0));
        assert_eq!(Activation::Sigmoid.local_slope_bounds(f64::NAN, 0.5), (0.0, 0.25));
    }

    /// The ONNX operator of every activation reads back as the activation,
    /// and an unknown op type is no activation.
    #[test]
    fn onnx_operators_read_back() {
        for activation in all_activations() {
            let Some(op) = activation.with_rule(|rule| rule.onnx_op()) else {
                // the quantiser is written as a QuantizeLinear/DequantizeLinear pair
                assert!(matches!(activation, Activation::Identity | Activation::Quantize { .. }), "only the identity and the quantiser write no operator of their own");
                continue;
            };
            let attributes = op.float_attributes.clone();
            let read = Activation::from_onnx(op.op_type, &|name| attributes.iter().find(|(n, _)| *n == name).map(|(_, v)| *v));
            assert_eq!(read, Some(Ok(activation)), "{}", op.op_type);
            assert!(Activation::is_onnx_op(op.op_type));
        }
        assert_eq!(Activation::from_onnx("Gemm", &|_| None), None);
        assert_eq!(Activation::from_onnx("LeakyRelu", &|_| None), Some(Ok(Activation::LeakyRelu { alpha: 0.01f32 as f64 })));
        assert!(matches!(Activation::from_onnx("LeakyRelu", &|_| Some(1.5)), Some(Err(e)) if e.contains("outside [0, 1)")));
    }

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
