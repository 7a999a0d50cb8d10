//! Linear relaxations of one activation, used by linear and differential
//! bound propagation ([`crate::propagation`]).
//!
//! **Single network.** For a neuron with pre-activation `v in [l, u]` and
//! activation `a = sigma(v) in [post_l, post_u]`, a relaxation is a pair of
//! lines `lower_slope v + lower_intercept <= a <= upper_slope v +
//! upper_intercept` valid on `[l, u]` in exact arithmetic:
//! - the constant bounds `post_l <= a <= post_u` hold for every activation
//!   (the default of [`ActivationRule::linear_relaxation`]);
//! - ReLU / leaky ReLU (`max(v, s v)`, [`kinked_linear_relaxation`]): exact on
//!   a stable neuron (`a = v` for `l >= 0`, `a = s v` for `u <= 0`); for
//!   `l < 0 < u` the upper chord through `(l, s l)` and `(u, u)`, and the lower
//!   line `a >= v` if `u >= -l`, else `a >= s v`;
//! - identity: `a = v`.
//!
//! Chords are built by [`crate::rounding::upper_chord`]: the rounded chord
//! lies above the activation in exact arithmetic.
//!
//! **Difference of two networks.** `Delta a = sigma(v_f) - sigma(v_g)` in
//! terms of `Delta v = v_f - v_g` ([`slope_difference_relaxation`]): by the
//! mean value theorem `Delta a = q Delta v` with `q` a difference quotient of
//! `sigma`. When `Delta v > 0` both points lie in `[l_g, u_f]`, so
//! `q in [p_lo, p_hi]` = the local slope bounds there
//! ([`ActivationRule::local_slope_bounds`]); when `Delta v < 0` they lie in
//! `[l_f, u_g]`, `q in [n_lo, n_hi]`. Hence on `[ld, ud]`
//!
//! ```text
//! L(Delta v) <= Delta a <= U(Delta v),
//! U(d) = p_hi d (d >= 0), n_lo d (d <= 0);   L(d) = p_lo d (d >= 0), n_hi d (d <= 0).
//! ```
//!
//! `U` is convex when `n_lo <= p_hi` (then its chord over `[ld, ud]` lies
//! above it), otherwise every line `s d` with `s in [p_hi, n_lo]` does;
//! symmetrically for `L`. For ReLU this gives the relaxations of the
//! differential-verification literature (ReluDiff, NeuroDiff): both neurons
//! active `Delta a = Delta v`, both inactive `Delta a = 0`, `f` active `Delta a
//! <= Delta v`, otherwise chords of `max(0, d)` and `min(0, d)`. The constant
//! bounds `[l(a_f) - u(a_g), u(a_f) - l(a_g)]` replace a line when they are
//! lower on average. Chords are built by [`crate::rounding::upper_chord`] and
//! [`crate::rounding::lower_chord`].

use super::ActivationRule;
use crate::rounding::{lower_chord, mul_down, mul_up, upper_chord};

/// A linear relaxation of one neuron: `lower_slope x + lower_intercept <= y
/// <= upper_slope x + upper_intercept` over the neuron's range, where `x` is
/// the pre-activation `v` and `y` the activation `a` (single network,
/// [`ActivationRule::linear_relaxation`]), or `x = Delta v`, `y = Delta a`
/// (difference of two networks, [`ActivationRule::difference_relaxation`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearBounds {
    /// Slope of the lower line.
    pub lower_slope: f64,
    /// Intercept of the lower line.
    pub lower_intercept: f64,
    /// Slope of the upper line.
    pub upper_slope: f64,
    /// Intercept of the upper line.
    pub upper_intercept: f64,
}

impl LinearBounds {
    /// `y = slope x` exactly (both lines).
    pub fn exact(slope: f64) -> Self {
        LinearBounds { lower_slope: slope, lower_intercept: 0.0, upper_slope: slope, upper_intercept: 0.0 }
    }
    /// The constant bounds `lower <= y <= upper`.
    pub fn constant(lower: f64, upper: f64) -> Self {
        LinearBounds { lower_slope: 0.0, lower_intercept: lower, upper_slope: 0.0, upper_intercept: upper }
    }
}

/// The relaxation of `a = max(v, negative_slope v)` (`0 <= negative_slope <
/// 1`) on `v in [lower, upper]` (module docs): exact on a stable neuron, else
/// the upper chord through `(l, s l)` and `(u, u)` (above the convex
/// activation; `s l` rounded up) and the lower line `a >= v` if `u >= -l`,
/// else `a >= s v`.
pub fn kinked_linear_relaxation(negative_slope: f64, lower: f64, upper: f64) -> LinearBounds {
    if lower >= 0.0 {
        LinearBounds::exact(1.0)
    } else if upper <= 0.0 {
        LinearBounds::exact(negative_slope)
    } else {
        // the chord through (l, slope l) and (u, u), above the convex activation
        let (chord, intercept) = upper_chord(lower, mul_up(negative_slope, lower), upper, upper);
        let lower_slope = if upper >= -lower { 1.0 } else { negative_slope };
        LinearBounds { lower_slope, lower_intercept: 0.0, upper_slope: chord, upper_intercept: intercept }
    }
}

/// Linear relaxation of `Delta a = sigma(v_f) - sigma(v_g)` in `Delta v`
/// (module docs) from the local slope bounds of `rule`, given `v_f in f`,
/// `v_g in g`, `Delta v in delta`, and the activation bounds `post = (l(a_f) -
/// u(a_g), u(a_f) - l(a_g))`. Sound for every activation whose
/// [`ActivationRule::local_slope_bounds`] are; the constant bounds for one
/// that is not slope-restricted.
pub fn slope_difference_relaxation<R: ActivationRule + ?Sized>(rule: &R, f: (f64, f64), g: (f64, f64), delta: (f64, f64), post: (f64, f64)) -> LinearBounds {
    let constant = LinearBounds::constant(post.0, post.1);
    if !rule.shape().slope_restricted {
        return constant; // no finite slope bounds
    }
    let positive = (delta.1 > 0.0 && f.1 > g.0).then(|| rule.local_slope_bounds(g.0, f.1));
    let negative = (delta.0 < 0.0 && g.1 > f.0).then(|| rule.local_slope_bounds(f.0, g.1));
    let upper_delta = if positive.is_some() { delta.1 } else { delta.1.min(0.0) };
    let lower_delta = if negative.is_some() { delta.0 } else { delta.0.max(0.0) };
    if lower_delta > upper_delta {
        return constant;
    }
    let (ld, ud) = (lower_delta, upper_delta);
    let (p_lo, p_hi) = positive.unwrap_or((0.0, 0.0));
    let (n_lo, n_hi) = negative.unwrap_or((0.0, 0.0));
    let (upper_slope, upper_intercept) = if ld >= 0.0 {
        (p_hi, 0.0)
    } else if ud <= 0.0 {
        (n_lo, 0.0)
    } else if n_lo <= p_hi {
        // U is convex: the chord through its values at the ends lies above
        upper_chord(ld, mul_up(n_lo, ld), ud, mul_up(p_hi, ud))
    } else {
        (if ud >= -ld { p_hi } else { n_lo }, 0.0)
    };
    let (lower_slope, lower_intercept) = if ld >= 0.0 {
        (p_lo, 0.0)
    } else if ud <= 0.0 {
        (n_hi, 0.0)
    } else if p_lo <= n_hi {
        // L is concave: the chord through its values at the ends lies below
        lower_chord(ld, mul_down(n_hi, ld), ud, mul_down(p_lo, ud))
    } else {
        (if ud >= -ld { p_lo } else { n_hi }, 0.0)
    };
    let mut r = LinearBounds { lower_slope, lower_intercept, upper_slope, upper_intercept };
    // both networks on one linear piece: Delta a = slope * Delta v exactly,
    // which keeps the correlation a constant would lose
    let exact = (positive.is_none() || p_lo == p_hi) && (negative.is_none() || n_lo == n_hi) && (positive.is_none() || negative.is_none() || p_lo == n_lo);
    if exact {
        return r;
    }
    let middle = 0.5 * (ld + ud);
    if post.1 < upper_slope * middle + upper_intercept {
        (r.upper_slope, r.upper_intercept) = (0.0, post.1);
    }
    if post.0 > lower_slope * middle + lower_intercept {
        (r.lower_slope, r.lower_intercept) = (0.0, post.0);
    }
    r
}
