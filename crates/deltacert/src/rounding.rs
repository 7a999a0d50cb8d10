//! Outward rounding: every floating-point step on the path to a printed bound
//! goes through the helpers of this module, and their margins are justified
//! here once.
//!
//! # Error model
//!
//! IEEE 754 binary64 with rounding to nearest, unit roundoff `u = 2^-53`
//! (`f64::EPSILON = 2u`):
//!
//! 1. `+ - * / sqrt` are correctly rounded: the computed result of one
//!    operation on exact operands is the representable number nearest to the
//!    exact result. Hence `next_up(fl(a op b)) >= a op b >= next_down(fl(a op
//!    b))` for finite results, including in the subnormal range and at binade
//!    boundaries (the exact result lies within half an ulp of the computed
//!    one, and `next_up` adds a whole ulp). [`add_up`], [`mul_up`],
//!    [`div_up`] and their `down` twins use exactly this: a chain of them is
//!    a rigorous bound whatever the cancellation.
//! 2. A sum or dot product of `n` terms evaluated in any order in plain
//!    floating point has `|fl(s) - s| <= gamma_{n-1} sum |a_i|` with
//!    `gamma_n = n u / (1 - n u)` (Higham, *Accuracy and Stability of
//!    Numerical Algorithms*, Thm 3.5 / Lemma 3.1); the same holds for
//!    matrix products entrywise against `|A| |B|`. The magnitude `sum |a_i|`
//!    is itself computed, so it is known only as `fl(sum |a_i|) (1 +
//!    gamma_{n-1})`; since `gamma_n (1 + gamma_n) <= gamma_{2n}`,
//!    [`accumulated_error`] pads by `gamma_{2n}` times the computed
//!    magnitude, rounded up. Products that underflow add at most `2^-1075`
//!    each (absolute); the floor `f64::MIN_POSITIVE = 2^-1022` covers
//!    `2^53` of them, more than any chain here.
//! 3. Library functions (`exp`, `exp_m1`, `tanh`) are not correctly rounded.
//!    We assume a relative error of at most [`LIBRARY_ULPS`] = 8 ulps (one
//!    ulp of `y` is at most `2u |y|`, so `16 u |y|`) plus an absolute error of
//!    `f64::MIN_POSITIVE` for results in the subnormal range. The GNU C
//!    library documents at most 2 ulps for these functions on x86-64; the
//!    factor 4 is a margin, and the test suite checks every enclosure against
//!    an arbitrary-precision evaluation.
//!
//! [`round_down`] and [`round_up`] serve callers that evaluate a short
//! expression of exact operands (at most 5 correctly rounded operations, no
//! library call) and want one bound below or above its exact value: they
//! move by `4 f64::EPSILON |v| = 8u |v| >= gamma_5 |v| + u |v|` (the last
//! term for the rounding of the move itself) plus `f64::MIN_POSITIVE` for
//! underflow.
//!
//! # Non-finite values
//!
//! Weights near `1e200` pass validation and can produce `inf - inf = NaN`.
//! `f64::min` and `f64::max` silently drop a NaN operand, which would turn an
//! undefined bound into a finite one. Every bound computed here is passed
//! through [`upper_or_infinity`] / [`lower_or_infinity`] before it is
//! combined, so a NaN becomes "no bound" (`+inf` for an upper bound, `-inf`
//! for a lower one), never a number.

/// The unit roundoff `u = 2^-53` of binary64.
pub const UNIT_ROUNDOFF: f64 = f64::EPSILON * 0.5;

/// Assumed worst-case error of the library `exp`, `exp_m1` and `tanh`, in
/// ulps of the result (module docs, item 3).
pub const LIBRARY_ULPS: f64 = 8.0;

/// Relative error bound of a library function result: `LIBRARY_ULPS` ulps,
/// each at most `f64::EPSILON` relative.
const LIBRARY_RELATIVE_ERROR: f64 = LIBRARY_ULPS * f64::EPSILON;

/// Absolute error bound of a library function result in the subnormal range.
const LIBRARY_ABSOLUTE_ERROR: f64 = f64::MIN_POSITIVE;

/// An upper bound of `gamma_n = n u / (1 - n u)`.
pub fn rounding_gamma(n: usize) -> f64 {
    let nu = n as f64 * UNIT_ROUNDOFF; // exact for n < 2^53
    div_up(nu, sub_down(1.0, nu))
}

/// An upper bound of the rounding error of a sum, dot product or matrix
/// product chain of length `n` whose computed magnitude (the same expression
/// on absolute values) is `magnitude`: `gamma_{2n} magnitude` rounded up, plus
/// the underflow floor (module docs, item 2). `+inf` when `magnitude` is not
/// finite.
pub fn accumulated_error(n: usize, magnitude: f64) -> f64 {
    if !(magnitude < f64::INFINITY) {
        return f64::INFINITY;
    }
    add_up(mul_up(rounding_gamma(2 * n), magnitude.abs()), f64::MIN_POSITIVE)
}

/// `v` moved down past the exact value of a short expression whose computed
/// value is `v` (module docs).
pub fn round_down(v: f64) -> f64 {
    v - 4.0 * f64::EPSILON * v.abs() - f64::MIN_POSITIVE
}

/// `v` moved up past the exact value of a short expression whose computed
/// value is `v` (module docs).
pub fn round_up(v: f64) -> f64 {
    v + 4.0 * f64::EPSILON * v.abs() + f64::MIN_POSITIVE
}

/// Knuth's TwoSum: `(s, e)` with `s = fl(a + b)` and `a + b = s + e`
/// exactly (finite results).
#[inline]
pub fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let sum = a + b;
    let b_virtual = sum - a;
    let a_virtual = sum - b_virtual;
    (sum, (a - a_virtual) + (b - b_virtual))
}

/// The largest double at most the exact `a + b`: `fl(a + b)` when that is
/// exact or already below, else one ulp lower (TwoSum tells which). Unlike
/// [`add_down`] it does not widen exact results.
pub fn add_down_tight(a: f64, b: f64) -> f64 {
    match two_sum(a, b) {
        (sum, error) if sum.is_finite() && error < 0.0 => sum.next_down(),
        (sum, _) => sum,
    }
}

/// The smallest double at least the exact `a + b` (see [`add_down_tight`]).
pub fn add_up_tight(a: f64, b: f64) -> f64 {
    match two_sum(a, b) {
        (sum, error) if sum.is_finite() && error > 0.0 => sum.next_up(),
        (sum, _) => sum,
    }
}

/// An upper bound of `a + b` (exact operands).
#[inline]
pub fn add_up(a: f64, b: f64) -> f64 {
    (a + b).next_up()
}

/// A lower bound of `a + b`.
#[inline]
pub fn add_down(a: f64, b: f64) -> f64 {
    (a + b).next_down()
}

/// A lower bound of `a - b`.
#[inline]
pub fn sub_down(a: f64, b: f64) -> f64 {
    (a - b).next_down()
}

/// An upper bound of `a - b`.
#[inline]
pub fn sub_up(a: f64, b: f64) -> f64 {
    (a - b).next_up()
}

/// The smallest double at least the exact `a * b`: `fl(a * b)` when that is
/// exact or already above (the fused multiply-add gives the product's
/// rounding error exactly unless it underflows), else one ulp higher.
pub fn mul_up_tight(a: f64, b: f64) -> f64 {
    let product = a * b;
    if !product.is_finite() {
        return product;
    }
    let error = a.mul_add(b, -product);
    if error > 0.0 || (product != 0.0 && product.abs() < 2f64.powi(-960)) || (product == 0.0 && a != 0.0 && b != 0.0 && (a > 0.0) == (b > 0.0)) {
        product.next_up()
    } else {
        product
    }
}

/// An upper bound of `a * b`.
#[inline]
pub fn mul_up(a: f64, b: f64) -> f64 {
    (a * b).next_up()
}

/// A lower bound of `a * b`.
#[inline]
pub fn mul_down(a: f64, b: f64) -> f64 {
    (a * b).next_down()
}

/// An upper bound of `a / b`.
#[inline]
pub fn div_up(a: f64, b: f64) -> f64 {
    (a / b).next_up()
}

/// A lower bound of `a / b`.
#[inline]
pub fn div_down(a: f64, b: f64) -> f64 {
    (a / b).next_down()
}

/// An upper bound of `sqrt(v)` for `v >= 0` (IEEE square roots are correctly
/// rounded, so the next double up is above the exact root).
#[inline]
pub fn sqrt_up(v: f64) -> f64 {
    let root = v.sqrt();
    if root == 0.0 { 0.0 } else { root.next_up() }
}

/// An upper bound of `sum terms` (each step rounded up, so exact whatever the
/// signs and cancellation).
pub fn sum_up(terms: impl IntoIterator<Item = f64>) -> f64 {
    terms.into_iter().fold(0.0, add_up)
}

/// An upper bound of `sum |a_i| |b_i|`.
pub fn abs_dot_up(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |s, (x, y)| add_up(s, mul_up(x.abs(), y.abs())))
}

/// `v` as an upper bound: NaN (an undefined computation) becomes `+inf`.
#[inline]
pub fn upper_or_infinity(v: f64) -> f64 {
    if v.is_nan() { f64::INFINITY } else { v }
}

/// `v` as a lower bound: NaN becomes `-inf`.
#[inline]
pub fn lower_or_infinity(v: f64) -> f64 {
    if v.is_nan() { f64::NEG_INFINITY } else { v }
}

/// An enclosure `(lo, hi)` of the exact value of a library function whose
/// computed result is `y` (module docs, item 3).
pub fn library_enclosure(y: f64) -> (f64, f64) {
    let error = add_up(mul_up(LIBRARY_RELATIVE_ERROR, y.abs()), LIBRARY_ABSOLUTE_ERROR);
    (sub_down(y, error), add_up(y, error))
}

/// An enclosure of `exp(x)` (clamped at 0 below). Where `exp` overflows
/// (finite `x` above about 709.78) the value exceeds the largest double,
/// which is its lower end: [`library_enclosure`] of infinity would give
/// `inf - inf`, and a lower end of 0 there made a softmax bound useless (a
/// logit margin of 720 could not rule out a confidence of 1).
pub fn exp_enclosure(x: f64) -> (f64, f64) {
    let y = x.exp();
    if y == f64::INFINITY && x.is_finite() {
        return (f64::MAX, f64::INFINITY);
    }
    let (lo, hi) = library_enclosure(y);
    (lo.max(0.0), hi)
}

/// An enclosure of `tanh(v)` (clamped to `[-1, 1]`).
pub fn tanh_enclosure(v: f64) -> (f64, f64) {
    let (lo, hi) = library_enclosure(v.tanh());
    (lo.max(-1.0), hi.min(1.0))
}

/// An enclosure of the logistic sigmoid `1 / (1 + e^-v)`. With `E` the
/// enclosure of `e^-|v|` the value is `1 / (1 + E)` (`v >= 0`) or
/// `E / (1 + E)` (`v < 0`), monotone in `E`, so the ends of `E`'s enclosure
/// give its ends, each step rounded outward.
pub fn sigmoid_enclosure(v: f64) -> (f64, f64) {
    if v.is_nan() {
        return (f64::NAN, f64::NAN);
    }
    let (e_lo, e_hi) = exp_enclosure(-v.abs());
    let (lo, hi) = if v >= 0.0 {
        (div_down(1.0, add_up(1.0, e_hi)), div_up(1.0, add_down(1.0, e_lo)))
    } else {
        (div_down(e_lo, add_up(1.0, e_lo)), div_up(e_hi, add_down(1.0, e_hi)))
    };
    (lo.max(0.0), hi.min(1.0))
}

/// Enclosure of `4 E / (1 + E)^2` for `E` in `[e_lo, e_hi]` (`0 <= E`):
/// the function `E / (1 + E)^2` increases on `[0, 1]` and its maximum is
/// `1/4` at `E = 1`, so an `e_hi` past 1 is clamped to 1.
fn peak_form_enclosure(e_lo: f64, e_hi: f64) -> (f64, f64) {
    let e_lo = e_lo.clamp(0.0, 1.0);
    let e_hi = e_hi.clamp(0.0, 1.0);
    let den_up = add_up(1.0, e_lo);
    let den_down = add_down(1.0, e_hi);
    let lo = 4.0 * div_down(e_lo, mul_up(den_up, den_up)); // times 4 is exact
    let hi = 4.0 * div_up(e_hi, mul_down(den_down, den_down));
    (lo.max(0.0), hi.min(1.0))
}

/// An enclosure of `tanh'(v) = 1 - tanh(v)^2 = 4 e^{-2|v|} / (1 + e^{-2|v|})^2`.
///
/// `1 - t^2` with a computed `t` near 1 loses all absolute accuracy (for
/// `|v| > 19`, `t` rounds to 1 and the formula gives 0, yet the derivative
/// is positive). The second form has no cancellation: `2|v|` is exact
/// (or overflows to `inf`, giving `E = 0`), `E = e^{-2|v|}` is known to
/// [`LIBRARY_ULPS`] ulps, and the rest is monotone in `E` and evaluated with
/// directed rounding (`+`, `*`, `/`: each ends rounded outward). The width of
/// the enclosure is about `(2 LIBRARY_ULPS + 4)` ulps, relative, down to the
/// subnormal range, where the absolute floor `f64::MIN_POSITIVE` takes over.
pub fn tanh_derivative_enclosure(v: f64) -> (f64, f64) {
    if v.is_nan() {
        return (f64::NAN, f64::NAN);
    }
    let (e_lo, e_hi) = exp_enclosure(-2.0 * v.abs());
    peak_form_enclosure(e_lo, e_hi)
}

/// An enclosure of `sigmoid'(v) = s (1 - s) = e^{-|v|} / (1 + e^{-|v|})^2`,
/// evaluated like [`tanh_derivative_enclosure`] (the first form cancels for
/// `v > 37`, where `s` rounds to 1); the result is a quarter of the same
/// peak form.
pub fn sigmoid_derivative_enclosure(v: f64) -> (f64, f64) {
    if v.is_nan() {
        return (f64::NAN, f64::NAN);
    }
    let (e_lo, e_hi) = exp_enclosure(-v.abs());
    let (lo, hi) = peak_form_enclosure(e_lo, e_hi);
    (mul_down(0.25, lo).max(0.0), mul_up(0.25, hi).min(0.25))
}

/// A line `slope * x + intercept` lying on or above both points
/// `(x0, y0_hi)` and `(x1, y1_hi)` in exact arithmetic, with `x0 < x1`: so
/// it lies above every convex function that is at most `y0_hi` at `x0` and at
/// most `y1_hi` at `x1`, on `[x0, x1]`. The slope is the rounded secant slope
/// (any slope would do); the intercept is the larger of the two intercepts
/// through the points, each computed rounded up, so no margin is needed.
pub fn upper_chord(x0: f64, y0_hi: f64, x1: f64, y1_hi: f64) -> (f64, f64) {
    let slope = (y1_hi - y0_hi) / (x1 - x0);
    let intercept = sub_up(y0_hi, mul_down(slope, x0)).max(sub_up(y1_hi, mul_down(slope, x1)));
    (slope, upper_or_infinity(intercept))
}

/// A line lying on or below both points `(x0, y0_lo)` and `(x1, y1_lo)`:
/// below every concave function at least `y0_lo` at `x0` and `y1_lo` at
/// `x1`, on `[x0, x1]` (see [`upper_chord`]).
pub fn lower_chord(x0: f64, y0_lo: f64, x1: f64, y1_lo: f64) -> (f64, f64) {
    let slope = (y1_lo - y0_lo) / (x1 - x0);
    let intercept = sub_down(y0_lo, mul_up(slope, x0)).min(sub_down(y1_lo, mul_up(slope, x1)));
    (slope, lower_or_infinity(intercept))
}

/// Arbitrary-precision references for the unit tests (320-bit `dashu-float`;
/// each activation gives its own, `ActivationRule::exact_eval`).
#[cfg(test)]
pub(crate) mod exact {
    pub(crate) type Big = dashu_float::FBig;

    /// `x` exactly, at 320 bits of working precision.
    pub(crate) fn big(x: f64) -> Big {
        Big::try_from(x).expect("finite").with_precision(320).value()
    }

    fn abs(x: &Big) -> Big {
        if *x < big(0.0) { -x.clone() } else { x.clone() }
    }

    /// A reference value is within `2^-280` of the exact one, relative.
    fn margin(x: &Big) -> Big {
        abs(x) * big(2f64.powi(-280))
    }

    /// `lower <= exact` is proven.
    pub(crate) fn proven_le(lower: &Big, exact: &Big) -> bool {
        *lower <= exact.clone() - margin(exact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directed_operations_bracket_exact_results() {
        // 0.1 + 0.2 is inexact; 1/3 is inexact
        assert!(add_up(0.1, 0.2) > add_down(0.1, 0.2));
        assert!(div_up(1.0, 3.0) > 1.0 / 3.0 && div_down(1.0, 3.0) < 1.0 / 3.0);
        assert_eq!(upper_or_infinity(f64::NAN), f64::INFINITY);
        assert_eq!(lower_or_infinity(f64::NAN), f64::NEG_INFINITY);
        assert_eq!(accumulated_error(3, f64::NAN), f64::INFINITY);
        assert!(rounding_gamma(1) >= UNIT_ROUNDOFF);
    }

    #[test]
    fn derivative_enclosures_stay_positive_far_out() {
        for v in [20.0, 40.0, 300.0, -300.0] {
            let (lo, hi) = tanh_derivative_enclosure(v);
            assert!(lo > 0.0 && lo <= hi, "{v}: {lo} {hi}");
            let (lo, hi) = sigmoid_derivative_enclosure(v);
            assert!(lo > 0.0 && lo <= hi, "{v}: {lo} {hi}");
        }
        let (lo, hi) = tanh_derivative_enclosure(0.0);
        assert!(lo <= 1.0 && hi == 1.0);
    }
}
