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
//!
//! **Free lines ([`RelaxationFamily`]).** A relaxation is rarely the only
//! valid one: an unstable ReLU satisfies both `a >= 0` and `a >= v`, and the
//! line and the constant bound of a difference both hold. If two lower lines
//! `A` and `B` are each below the function at every point of the range, so is
//! `w A + (1 - w) B` for every weight `w in [0, 1]` (at each point it is a
//! weighted mean of two numbers below the function); likewise above. So each
//! activation returns its fixed relaxation (`chosen`) together with a second
//! valid one (`alternative`), and [`RelaxationFamily::at`] gives the line of
//! any weight, per side. For ReLU's lower line this weight is the slope
//! `alpha in [0, 1]` of alpha-CROWN (`alpha v = alpha * v + (1 - alpha) * 0`),
//! for leaky ReLU the slope in `[s, 1]`; for a difference it moves between the
//! line and the constant bound. The weighted line is computed with outward
//! rounding: its values at the two ends of the range are enclosed from
//! below (resp. above) and joined by [`crate::rounding::lower_chord`] (resp.
//! [`crate::rounding::upper_chord`]), so the rounded line lies below (above)
//! the exact weighted mean on the whole range, whatever the weight. Weight 1
//! returns `chosen` exactly, weight 0 `alternative` exactly. Which weight is
//! used can therefore be chosen freely, for instance by optimising the final
//! bound ([`crate::propagation::SlopeOptimisation`]): every choice in `[0, 1]`
//! gives a sound bound.

use super::ActivationRule;
use crate::rounding::{add_down, add_up, lower_chord, mul_down, mul_up, sub_down, sub_up, upper_chord};

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

/// A relaxation and a second valid one on the same range (module docs): on
/// each side every weighted mean `w chosen + (1 - w) alternative`, `w in [0,
/// 1]`, is valid too. `alternative == chosen` on a side means no freedom there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelaxationFamily {
    /// The fixed relaxation (weight 1), what one pass of propagation uses.
    pub chosen: LinearBounds,
    /// Another valid relaxation (weight 0).
    pub alternative: LinearBounds,
}

impl RelaxationFamily {
    /// A relaxation with no free line.
    pub fn fixed(relaxation: LinearBounds) -> Self {
        RelaxationFamily { chosen: relaxation, alternative: relaxation }
    }
    /// Whether the lower line can move (both lines finite and different).
    pub fn lower_free(&self) -> bool {
        let (c, a) = (&self.chosen, &self.alternative);
        (c.lower_slope, c.lower_intercept) != (a.lower_slope, a.lower_intercept) && [c.lower_slope, c.lower_intercept, a.lower_slope, a.lower_intercept].iter().all(|v| v.is_finite())
    }
    /// Whether the upper line can move (both lines finite and different).
    pub fn upper_free(&self) -> bool {
        let (c, a) = (&self.chosen, &self.alternative);
        (c.upper_slope, c.upper_intercept) != (a.upper_slope, a.upper_intercept) && [c.upper_slope, c.upper_intercept, a.upper_slope, a.upper_intercept].iter().all(|v| v.is_finite())
    }
    /// The relaxation with weight `lower_weight` on `chosen`'s lower line and
    /// `upper_weight` on its upper line (each clamped to `[0, 1]`; NaN counts
    /// as 1), valid in exact arithmetic for `x in [lower, upper]` (the range
    /// the family was built for). Weight 1 gives `chosen`'s line exactly and
    /// 0 `alternative`'s; in between the line is rounded outward (module
    /// docs). A range that is not a finite interval keeps `chosen`.
    pub fn at(&self, lower_weight: f64, upper_weight: f64, lower: f64, upper: f64) -> LinearBounds {
        let (c, a) = (&self.chosen, &self.alternative);
        let clamp = |w: f64| if w.is_nan() { 1.0 } else { w.clamp(0.0, 1.0) };
        let (lower_weight, upper_weight) = (clamp(lower_weight), clamp(upper_weight));
        let range = lower.is_finite() && upper.is_finite() && lower < upper;
        let mut result = *c;
        if self.lower_free() {
            (result.lower_slope, result.lower_intercept) = if lower_weight == 0.0 {
                (a.lower_slope, a.lower_intercept)
            } else if lower_weight == 1.0 || !range {
                (c.lower_slope, c.lower_intercept)
            } else {
                // below w C(x) + (1 - w) A(x) = A(x) + w (C(x) - A(x)) at both ends
                let below = |x: f64| {
                    let (c_low, _) = line_enclosure(c.lower_slope, c.lower_intercept, x);
                    let (a_low, a_high) = line_enclosure(a.lower_slope, a.lower_intercept, x);
                    add_down(a_low, mul_down(lower_weight, sub_down(c_low, a_high)))
                };
                lower_chord(lower, below(lower), upper, below(upper))
            };
        }
        if self.upper_free() {
            (result.upper_slope, result.upper_intercept) = if upper_weight == 0.0 {
                (a.upper_slope, a.upper_intercept)
            } else if upper_weight == 1.0 || !range {
                (c.upper_slope, c.upper_intercept)
            } else {
                let above = |x: f64| {
                    let (_, c_high) = line_enclosure(c.upper_slope, c.upper_intercept, x);
                    let (a_low, a_high) = line_enclosure(a.upper_slope, a.upper_intercept, x);
                    add_up(a_high, mul_up(upper_weight, sub_up(c_high, a_low)))
                };
                upper_chord(lower, above(lower), upper, above(upper))
            };
        }
        // an undefined line (overflow) is no line: keep the fixed one
        let defined = |s: f64, i: f64| s.is_finite() && !i.is_nan();
        if !defined(result.lower_slope, result.lower_intercept) {
            (result.lower_slope, result.lower_intercept) = (c.lower_slope, c.lower_intercept);
        }
        if !defined(result.upper_slope, result.upper_intercept) {
            (result.upper_slope, result.upper_intercept) = (c.upper_slope, c.upper_intercept);
        }
        result
    }
}

/// An enclosure of `slope x + intercept` in exact arithmetic.
#[inline]
fn line_enclosure(slope: f64, intercept: f64, x: f64) -> (f64, f64) {
    if slope == 0.0 {
        return (intercept, intercept);
    }
    (add_down(mul_down(slope, x), intercept), add_up(mul_up(slope, x), intercept))
}

/// The relaxation of `a = max(v, negative_slope v)` (`0 <= negative_slope <
/// 1`) on `v in [lower, upper]` (module docs): exact on a stable neuron, else
/// the upper chord through `(l, s l)` and `(u, u)` (above the convex
/// activation; `s l` rounded up) and the lower line `a >= v` if `u >= -l`,
/// else `a >= s v`.
pub fn kinked_linear_relaxation(negative_slope: f64, lower: f64, upper: f64) -> LinearBounds {
    kinked_relaxation_family(negative_slope, lower, upper).chosen
}

/// [`kinked_linear_relaxation`] with its free lower line: on an unstable
/// neuron both `a >= v` and `a >= s v` hold (`a = max(v, s v)` is above
/// each), so every slope in `[s, 1]` is a valid lower line through the
/// origin (the weighted mean of the two; alpha-CROWN's `alpha` for ReLU).
/// The alternative is the lower line not chosen; the upper chord is fixed
/// (no line above a convex function on `[l, u]` is lower anywhere there).
pub fn kinked_relaxation_family(negative_slope: f64, lower: f64, upper: f64) -> RelaxationFamily {
    if lower >= 0.0 {
        RelaxationFamily::fixed(LinearBounds::exact(1.0))
    } else if upper <= 0.0 {
        RelaxationFamily::fixed(LinearBounds::exact(negative_slope))
    } else {
        // the chord through (l, slope l) and (u, u), above the convex activation
        let (chord, intercept) = upper_chord(lower, mul_up(negative_slope, lower), upper, upper);
        let (lower_slope, other_slope) = if upper >= -lower { (1.0, negative_slope) } else { (negative_slope, 1.0) };
        let chosen = LinearBounds { lower_slope, lower_intercept: 0.0, upper_slope: chord, upper_intercept: intercept };
        RelaxationFamily { chosen, alternative: LinearBounds { lower_slope: other_slope, ..chosen } }
    }
}

/// Lines bounding a smooth activation whose derivative is unimodal with its
/// peak at 0 (tanh, sigmoid: convex for `v <= 0`, concave for `v >= 0`) on
/// `[l, u]`, with the constant bounds `[post_lower, post_upper]` as the
/// second valid pair ([`RelaxationFamily`]). In exact arithmetic:
///
/// - `u <= 0` (convex): the chord through the end values lies above, the
///   tangent at the middle `m` below;
/// - `l >= 0` (concave): the tangent at `m` above, the chord below;
/// - `l < 0 < u`: `sigma(v) <= sigma(l) + beta (v - l)` and `sigma(v) >=
///   sigma(u) - beta (u - v)`, `beta` the largest difference quotient on
///   `[l, u]` ([`ActivationRule::local_slope_bounds`]).
///
/// The chords go through the value enclosures' outer ends
/// ([`upper_chord`], [`lower_chord`]). A tangent uses the computed slope `d`
/// inside the enclosure `[d_lo, d_hi]` of `sigma'(m)` and the value
/// enclosure at `m`, and is moved outward by `(d_hi - d_lo) (u - l)`, which
/// is at least `|sigma'(m) - d| |v - m|` on `[l, u]`: `sigma(v) <= sigma(m) +
/// sigma'(m) (v - m) <= s_hi + d (v - m) + (d_hi - d_lo) (u - l)`, and the
/// mirror image below. Every intercept is rounded outward. Per side the line
/// or the constant is chosen, whichever is tighter at the middle; a piece
/// with an infinite or empty range keeps the constants.
pub fn s_shaped_relaxation_family<R: ActivationRule + ?Sized>(rule: &R, lower: f64, upper: f64, post_lower: f64, post_upper: f64) -> RelaxationFamily {
    let constant = LinearBounds::constant(post_lower, post_upper);
    if !(lower.is_finite() && upper.is_finite() && lower < upper) {
        return RelaxationFamily::fixed(constant);
    }
    let ((lower_lo, lower_hi), (upper_lo, upper_hi)) = (rule.value_enclosure(lower), rule.value_enclosure(upper));
    let middle = (0.5 * lower + 0.5 * upper).clamp(lower, upper);
    let tangent = |above: bool| {
        let (value_lo, value_hi) = rule.value_enclosure(middle);
        let (slope_lo, slope_hi) = rule.derivative_enclosure(middle);
        let slope = (0.5 * slope_lo + 0.5 * slope_hi).clamp(slope_lo, slope_hi);
        let pad = mul_up(sub_up(slope_hi, slope_lo), sub_up(upper, lower));
        if above {
            (slope, sub_up(add_up(value_hi, pad), mul_down(slope, middle)))
        } else {
            (slope, sub_down(sub_down(value_lo, pad), mul_up(slope, middle)))
        }
    };
    let ((upper_slope, upper_intercept), (lower_slope, lower_intercept)) = if upper <= 0.0 {
        (upper_chord(lower, lower_hi, upper, upper_hi), tangent(false))
    } else if lower >= 0.0 {
        (tangent(true), lower_chord(lower, lower_lo, upper, upper_lo))
    } else {
        let (_, beta) = rule.local_slope_bounds(lower, upper);
        let sector_above = (beta, sub_up(lower_hi, mul_down(beta, lower)));
        let sector_below = (beta, sub_down(upper_lo, mul_up(beta, upper)));
        let value_at = |(slope, intercept): (f64, f64)| slope * middle + intercept;
        // the lower of the two valid lines above at the middle, the higher below
        let above = match pivoted_line(rule, lower, upper, true) {
            Some(line) if value_at(line) < value_at(sector_above) => line,
            _ => sector_above,
        };
        let below = match pivoted_line(rule, lower, upper, false) {
            Some(line) if value_at(line) > value_at(sector_below) => line,
            _ => sector_below,
        };
        (above, below)
    };
    let line = LinearBounds { lower_slope, lower_intercept, upper_slope, upper_intercept };
    if ![lower_slope, lower_intercept, upper_slope, upper_intercept].iter().all(|c| c.is_finite()) {
        return RelaxationFamily::fixed(constant);
    }
    // per side, the line or the constant, whichever is tighter at the middle
    let (mut chosen, mut alternative) = (line, constant);
    if post_upper < upper_slope * middle + upper_intercept {
        (chosen.upper_slope, chosen.upper_intercept) = (0.0, post_upper);
        (alternative.upper_slope, alternative.upper_intercept) = (upper_slope, upper_intercept);
    }
    if post_lower > lower_slope * middle + lower_intercept {
        (chosen.lower_slope, chosen.lower_intercept) = (0.0, post_lower);
        (alternative.lower_slope, alternative.lower_intercept) = (lower_slope, lower_intercept);
    }
    RelaxationFamily { chosen, alternative }
}

/// Tangent points tried by [`pivoted_line`], as fractions of the side of 0
/// they lie on.
const PIVOT_FRACTIONS: [f64; 5] = [1.0, 0.5, 0.25, 0.125, 0.0625];

/// For an S-shaped activation on `[l, u]` with `l < 0 < u`
/// ([`s_shaped_relaxation_family`]): a line above (`above`) through `(l,
/// sigma(l))` that clears `sigma(0)` and the tangent at a point `t` of `[0,
/// u]` at `0` and `u`, or the mirror image below through `(u, sigma(u))`
/// with `t` in `[l, 0]` (CROWN's line through an end point, tangent at one
/// point, made rigorous). Above: on `[l, 0]` the function is convex and the
/// line is above it at both ends, so above it there; on `[0, u]` the line is
/// above the tangent at both ends, and the tangent at a point of a concave
/// stretch is above the function there. The tangent's values at `0` and `u`
/// are bounded with the value and derivative enclosures at `t`
/// (`sigma'(t) (v - t) <= d_hi (v - t)` for `v >= t`, `d_lo (v - t)` below
/// it), the slope rounded up and the intercept outward. Of the tangent
/// points [`PIVOT_FRACTIONS`] of `u` (of `l` below), the line lowest
/// (highest) at the middle is returned; None if none is finite.
fn pivoted_line<R: ActivationRule + ?Sized>(rule: &R, lower: f64, upper: f64, above: bool) -> Option<(f64, f64)> {
    let middle = 0.5 * lower + 0.5 * upper;
    // (the pivot, its enclosure's outer end, the far end, the side's end)
    let (pivot, pivot_value, side_end) = if above { (lower, rule.value_enclosure(lower).1, upper) } else { (upper, rule.value_enclosure(upper).0, lower) };
    let (zero_lo, zero_hi) = rule.value_enclosure(0.0);
    // a bound on the tangent at t evaluated at v, upper when `above`
    let tangent_at = |t: f64, v: f64| {
        let (value_lo, value_hi) = rule.value_enclosure(t);
        // sigma' > 0: a negative lower end of its enclosure is raised to 0
        let (slope_lo, slope_hi) = rule.derivative_enclosure(t);
        let slope_lo = slope_lo.max(0.0);
        if above {
            let slope = if v >= t { slope_hi } else { slope_lo };
            add_up(value_hi, mul_up(slope, sub_up(v, t)))
        } else {
            let slope = if v >= t { slope_lo } else { slope_hi };
            add_down(value_lo, mul_down(slope, sub_down(v, t)))
        }
    };
    // the smallest slope (rounded up) of a line through the pivot that
    // clears `target` at `v`: (target - pivot_value) / (v - pivot) above,
    // (pivot_value - target) / (pivot - v) below
    let slope_to = |v: f64, target: f64| {
        let rise = if above { sub_up(target, pivot_value) } else { sub_up(pivot_value, target) };
        let run = if above { v - pivot } else { pivot - v };
        let run = if rise >= 0.0 { run.next_down() } else { run.next_up() };
        crate::rounding::div_up(rise, run)
    };
    let mut best: Option<(f64, f64)> = None;
    for fraction in PIVOT_FRACTIONS {
        let t = fraction * side_end;
        let slope = if above {
            slope_to(0.0, zero_hi.max(tangent_at(t, 0.0))).max(slope_to(upper, tangent_at(t, upper)))
        } else {
            slope_to(0.0, zero_lo.min(tangent_at(t, 0.0))).max(slope_to(lower, tangent_at(t, lower)))
        };
        let intercept = if above { sub_up(pivot_value, mul_down(slope, pivot)) } else { sub_down(pivot_value, mul_up(slope, pivot)) };
        if !(slope.is_finite() && intercept.is_finite()) {
            continue;
        }
        let value = slope * middle + intercept;
        if best.is_none_or(|(s, c)| if above { value < s * middle + c } else { value > s * middle + c }) {
            best = Some((slope, intercept));
        }
    }
    best
}

/// Linear relaxation of `Delta a = sigma(v_f) - sigma(v_g)` in `Delta v`
/// (module docs) from the local slope bounds of `rule`, given `v_f in f`,
/// `v_g in g`, `Delta v in delta`, and the activation bounds `post = (l(a_f) -
/// u(a_g), u(a_f) - l(a_g))`. Sound for every activation whose
/// [`ActivationRule::local_slope_bounds`] are; the constant bounds for one
/// that is not slope-restricted.
pub fn slope_difference_relaxation<R: ActivationRule + ?Sized>(rule: &R, f: (f64, f64), g: (f64, f64), delta: (f64, f64), post: (f64, f64)) -> LinearBounds {
    slope_difference_family(rule, f, g, delta, post).chosen
}

/// [`slope_difference_relaxation`] with its free lines: where it keeps
/// neither line exact, the line from the slope bounds and the constant bound
/// `post` both hold on each side, so every weighted mean of the two does
/// (module docs). The alternative is, per side, the one of the two that the
/// fixed relaxation did not choose; when both networks sit on one linear
/// piece the exact line is fixed.
pub fn slope_difference_family<R: ActivationRule + ?Sized>(rule: &R, f: (f64, f64), g: (f64, f64), delta: (f64, f64), post: (f64, f64)) -> RelaxationFamily {
    let constant = LinearBounds::constant(post.0, post.1);
    if !rule.shape().slope_restricted {
        return RelaxationFamily::fixed(constant); // no finite slope bounds
    }
    // a NaN end would vanish in the min/max below (and give the line 0)
    if [f.0, f.1, g.0, g.1, delta.0, delta.1].iter().any(|v| v.is_nan()) {
        return RelaxationFamily::fixed(constant);
    }
    let positive = (delta.1 > 0.0 && f.1 > g.0).then(|| rule.local_slope_bounds(g.0, f.1));
    let negative = (delta.0 < 0.0 && g.1 > f.0).then(|| rule.local_slope_bounds(f.0, g.1));
    let upper_delta = if positive.is_some() { delta.1 } else { delta.1.min(0.0) };
    let lower_delta = if negative.is_some() { delta.0 } else { delta.0.max(0.0) };
    if lower_delta > upper_delta {
        return RelaxationFamily::fixed(constant);
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
    let line = LinearBounds { lower_slope, lower_intercept, upper_slope, upper_intercept };
    // an infinite end of Delta v gives chords with NaN or infinite
    // coefficients, which every row through the neuron would carry: the constant
    if ![lower_slope, lower_intercept, upper_slope, upper_intercept].iter().all(|c| c.is_finite()) {
        return RelaxationFamily::fixed(constant);
    }
    // both networks on one linear piece: Delta a = slope * Delta v exactly,
    // which keeps the correlation a constant would lose
    let exact = (positive.is_none() || p_lo == p_hi) && (negative.is_none() || n_lo == n_hi) && (positive.is_none() || negative.is_none() || p_lo == n_lo);
    if exact {
        if let (Some((s, _)), Some(_)) = (positive, negative) {
            // one slope on both sides: Delta a = s Delta v exactly. Written as
            // the exact line, not the chord above (whose outward rounding
            // leaves intercepts of a few subnormal ulps: every later product
            // with them takes a slow subnormal path, and they bound nothing)
            return RelaxationFamily::fixed(LinearBounds::exact(s));
        }
        return RelaxationFamily::fixed(line);
    }
    // per side, the line or the constant, whichever is lower (higher) at the middle
    let (mut chosen, mut alternative) = (line, constant);
    let middle = 0.5 * (ld + ud);
    if post.1 < upper_slope * middle + upper_intercept {
        (chosen.upper_slope, chosen.upper_intercept) = (0.0, post.1);
        (alternative.upper_slope, alternative.upper_intercept) = (upper_slope, upper_intercept);
    }
    if post.0 > lower_slope * middle + lower_intercept {
        (chosen.lower_slope, chosen.lower_intercept) = (0.0, post.0);
        (alternative.lower_slope, alternative.lower_intercept) = (lower_slope, lower_intercept);
    }
    RelaxationFamily { chosen, alternative }
}
