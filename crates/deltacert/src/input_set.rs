//! Input sets: a box, optionally intersected with an L2 ball and/or a
//! polytope `A x <= b`. The box is always present (an L2 ball brings its
//! bounding box) because interval bounds start from it.
//!
//! # Decimals: the set bounded and the set written
//!
//! A user writes a set in decimals (`0.3`, `1e-2`) that mostly have no exact
//! binary value. Every number may therefore come as an *enclosure* `(lo,
//! hi)` of the decimal's exact value (`lo == hi` when it is a double,
//! [`crate::io::vnnlib::decimal_enclosure`]). An [`InputSet`] holds two
//! descriptions built from them:
//!
//! - the set *bounded* (the public accessors, what every method works on)
//!   contains every point of the written set: lower bounds take `lo`, upper
//!   bounds `hi`, ball corners and radii are rounded outward, and a
//!   polytope row `a x <= b` with inexact coefficients becomes `a_lo x <=
//!   b_hi + sum_j (a_hi,j - a_lo,j) max(|l_j|, |u_j|)`, which every `x` of the
//!   box with `a x <= b` satisfies for every `a` in the enclosure, rounded
//!   up. So a bound proven over it holds over the written set.
//! - the set *written* is checked point by point ([`InputSet::holds`]):
//!   a point passes only if it provably satisfies every written constraint
//!   for every value in each enclosure, with outward rounding (lower bounds
//!   `hi`, upper bounds `lo`, the ball's radius `lo` against the largest
//!   distance to the centre's enclosure, a row's largest value over its
//!   coefficients' enclosures against `b_lo`). Every witness the tool
//!   reports passes it, so a counterexample is an input of the written set.

use crate::error::{invalid_set, Result};
use crate::rounding::{add_down_tight, add_up_tight};
use rand::Rng;
use serde::Serialize;

/// A non-empty set of inputs `X`: a box, optionally intersected with an L2
/// ball and a polytope. The fields are private: every constructor checks the
/// invariants (finite numbers, matching lengths, `lower <= upper`, radius
/// `>= 0`, polytope rows of the right length), so a method never meets an
/// invalid set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSet {
    lower: Vec<f64>,
    upper: Vec<f64>,
    ball: Option<(Vec<f64>, f64)>,
    /// Scales `s_i >= 1` that make the ball the ellipsoid
    /// `||diag(s) (x - c)||_2 <= r` inside it ([`InputSet::ball_scales`]).
    ball_scales: Option<Vec<f64>>,
    polytope: Vec<(Vec<f64>, f64)>,
    written: Written,
}

/// A uniformly random number in `[l, u]`; `l` when `u <= l`. Widths near
/// the largest double (which `rand`'s uniform ranges refuse: they scale the
/// width up) are drawn as the convex combination `(1 - t) l + t u`.
fn uniform_between(rng: &mut impl Rng, l: f64, u: f64) -> f64 {
    if !(u > l) {
        return l;
    }
    if u - l < f64::MAX / 4.0 {
        return rng.gen_range(l..=u);
    }
    let t: f64 = rng.gen();
    let v = (1.0 - t) * l + t * u;
    if v.is_finite() { v.clamp(l, u) } else { l }
}

/// An enclosure `(lo, hi)` of a decimal's exact value (module docs).
pub type Enclosure = (f64, f64);

/// The set the user wrote, as the inner bounds of [`InputSet::holds`]
/// (module docs): the box rounded inward, the L2 ball's centre enclosures
/// with the lower end of its radius, each polytope row's coefficient
/// enclosures with the lower end of its right side.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Written {
    lower: Vec<f64>,
    upper: Vec<f64>,
    ball: Option<(Vec<Enclosure>, f64)>,
    polytope: Vec<(Vec<Enclosure>, f64)>,
}

/// An upper bound of `|a - b|` (exact when the difference is a double).
fn distance_up(a: f64, b: f64) -> f64 {
    add_up_tight(a, -b).max(-add_down_tight(a, -b))
}

/// An upper bound on the Euclidean norm of a vector whose entries have the
/// magnitudes at most `distances` (non-negative): `m sqrt(sum (d_i / m)^2)`
/// with `m` the largest, every step rounded up, so that squares of entries
/// near 1e200 do not overflow (the plain sum of squares was infinite there
/// and every point of such a ball was rejected).
fn norm_up(distances: &[f64]) -> f64 {
    use crate::rounding::{div_up, mul_up_tight, sqrt_up};
    let largest = distances.iter().copied().fold(0.0, f64::max);
    if largest == 0.0 || !largest.is_finite() {
        return largest;
    }
    let squares = distances.iter().fold(0.0, |sum, &d| {
        let scaled = div_up(d, largest);
        add_up_tight(sum, mul_up_tight(scaled, scaled))
    });
    crate::rounding::mul_up(largest, sqrt_up(squares))
}

/// The Euclidean norm of `a - b`, scaled by the largest entry so that it
/// does not overflow (for projections; checks use [`norm_up`]).
fn distance_norm(a: &[f64], b: &[f64]) -> f64 {
    let largest = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    if largest == 0.0 || !largest.is_finite() {
        return largest;
    }
    largest * a.iter().zip(b).map(|(x, y)| ((x - y) / largest).powi(2)).sum::<f64>().sqrt()
}

/// Moves `x` against every row `a x <= b` of `rows` whose `excess(i, x)`
/// (`a x - b`, rounded as the caller checks it) is positive, along `-a` by
/// the excess plus a margin of a few ulps of the row's scale, doubled each
/// round; `reimpose` puts `x` back into the box (and ball) after each round.
/// At most eight rounds: a repair for points that are nearly inside.
fn step_off_rows(x: &mut [f64], rows: &[(Vec<f64>, f64)], excess: impl Fn(usize, &[f64]) -> f64, reimpose: impl Fn(&mut [f64])) {
    for round in 0..8 {
        let mut moved = false;
        for (i, (a, b)) in rows.iter().enumerate() {
            let over = excess(i, x);
            let squared_norm: f64 = a.iter().map(|c| c * c).sum();
            if !(over > 0.0) || !(squared_norm > 0.0 && squared_norm.is_finite()) {
                continue;
            }
            let scale = b.abs() + a.iter().zip(x.iter()).map(|(c, v)| (c * v).abs()).sum::<f64>();
            let margin = 64.0 * f64::EPSILON * scale * f64::from(1u32 << round);
            let step = (over + margin) / squared_norm;
            if !step.is_finite() {
                continue;
            }
            for (v, c) in x.iter_mut().zip(a) {
                *v -= step * c;
            }
            moved = true;
        }
        if !moved {
            break;
        }
        reimpose(x);
    }
}

/// The largest `a x` over `a` in the enclosures of a written polytope row,
/// rounded up.
fn written_row_value(a: &[Enclosure], x: &[f64]) -> f64 {
    use crate::rounding::mul_up_tight;
    a.iter().zip(x).fold(0.0, |sum, (&(lo, hi), &v)| add_up_tight(sum, mul_up_tight(lo, v).max(mul_up_tight(hi, v))))
}

fn exact(values: &[f64]) -> Vec<Enclosure> {
    values.iter().map(|&v| (v, v)).collect()
}

impl InputSet {
    /// The box `[lower, upper]`; errors if empty, inverted or not finite.
    pub fn from_box(lower: Vec<f64>, upper: Vec<f64>) -> Result<Self> {
        if lower.is_empty() || lower.len() != upper.len() {
            return Err(invalid_set(format!("box has {} lower and {} upper bounds", lower.len(), upper.len())));
        }
        for (i, (l, u)) in lower.iter().zip(&upper).enumerate() {
            if !l.is_finite() || !u.is_finite() {
                return Err(invalid_set(format!("box coordinate {i} has a non-finite bound [{l}, {u}]")));
            }
            if l > u {
                return Err(invalid_set(format!("box coordinate {i} is inverted: lower {l} > upper {u}")));
            }
            if !(u - l).is_finite() {
                return Err(invalid_set(format!("box coordinate {i} is too wide: upper {u:e} - lower {l:e} overflows a 64-bit float")));
            }
        }
        let written = Written { lower: lower.clone(), upper: upper.clone(), ball: None, polytope: Vec::new() };
        Ok(InputSet { lower, upper, ball: None, ball_scales: None, polytope: Vec::new(), written })
    }

    /// The box whose bounds are the decimals enclosed by `lower` and
    /// `upper`: bounded over `[lo of lower, hi of upper]`, written as
    /// `[hi of lower, lo of upper]` (module docs). Errors as
    /// [`InputSet::from_box`] on the bounded box, or if an enclosure is not
    /// finite or inverted.
    pub fn from_enclosed_box(lower: &[Enclosure], upper: &[Enclosure]) -> Result<Self> {
        if let Some(i) = lower.iter().chain(upper).position(|&(lo, hi)| !(lo <= hi) || !lo.is_finite() || !hi.is_finite()) {
            let side = if i < lower.len() { "lower" } else { "upper" };
            return Err(invalid_set(format!("box coordinate {}: the {side} bound is beyond the range of a 64-bit float (no finite double encloses it)", i % lower.len().max(1))));
        }
        let mut set = Self::from_box(lower.iter().map(|e| e.0).collect(), upper.iter().map(|e| e.1).collect())?;
        set.written.lower = lower.iter().map(|e| e.1).collect();
        set.written.upper = upper.iter().map(|e| e.0).collect();
        Ok(set)
    }

    /// The same interval `[lo, hi]` in each of `dim` coordinates.
    pub fn uniform_box(dim: usize, lo: f64, hi: f64) -> Result<Self> {
        Self::from_box(vec![lo; dim], vec![hi; dim])
    }

    /// An L-infinity ball (a box) or an L2 ball (with its bounding box). The
    /// box corners `center -+ radius` are rounded outward, so the set holds
    /// every point of the exact ball.
    pub fn ball(center: Vec<f64>, radius: f64, l2: bool) -> Result<Self> {
        Self::enclosed_ball(&exact(&center), (radius, radius), l2)
    }

    /// The ball around the decimal centre enclosed by `center` with the
    /// decimal radius enclosed by `radius` (module docs). Bounded: the box
    /// `[c_lo - r_hi, c_hi + r_hi]` rounded outward and, for L2, the ball
    /// around `c_lo` with radius `r_hi + ||c_hi - c_lo||` rounded up (it
    /// holds the ball around every centre of the enclosure). Written: the
    /// box `[c_hi - r_lo, c_lo + r_lo]` rounded inward, and for L2 the ball
    /// of radius `r_lo` around every centre of the enclosure.
    pub fn enclosed_ball(center: &[Enclosure], radius: Enclosure, l2: bool) -> Result<Self> {
        let (r_lo, r_hi) = radius;
        if !(r_lo >= 0.0) || !r_hi.is_finite() || !(r_lo <= r_hi) {
            return Err(invalid_set(format!("radius {r_hi} must be a finite number >= 0")));
        }
        if let Some(i) = center.iter().position(|&(lo, hi)| !lo.is_finite() || !hi.is_finite() || !(lo <= hi)) {
            return Err(invalid_set(format!("centre coordinate {i} is not a finite number")));
        }
        // the centre's uncertainty, as a distance: ||c_hi - c_lo||_2 rounded up
        let spread = center.iter().filter(|c| c.1 > c.0).fold(0.0, |sum, &(lo, hi)| {
            let w = crate::rounding::sub_up(hi, lo);
            crate::rounding::add_up(sum, crate::rounding::mul_up(w, w))
        });
        let bounded_radius = if spread == 0.0 { r_hi } else { crate::rounding::add_up(r_hi, crate::rounding::sqrt_up(spread)) };
        let lower = center.iter().map(|&(lo, _)| add_down_tight(lo, -if l2 { bounded_radius } else { r_hi })).collect();
        let upper = center.iter().map(|&(lo, hi)| if l2 { add_up_tight(lo, bounded_radius) } else { add_up_tight(hi, r_hi) }).collect();
        // a box error here is about the ball's bounding box: say so
        let mut set = Self::from_box(lower, upper).map_err(|e| e.within("the bounding box of the ball"))?;
        set.written.lower = center.iter().map(|&(_, hi)| add_up_tight(hi, -r_lo)).collect();
        set.written.upper = center.iter().map(|&(lo, _)| add_down_tight(lo, r_lo)).collect();
        if l2 {
            set.ball = Some((center.iter().map(|c| c.0).collect(), bounded_radius));
            set.written.ball = Some((center.to_vec(), r_lo));
        }
        Ok(set)
    }

    /// This set cut by the polytope rows `a_i^T x <= b_i`. Errors if a row
    /// has the wrong length or a non-finite entry, or if the cut set is
    /// proven empty (a Farkas certificate from an LP, re-checked with outward
    /// rounding; see [`crate::input_set::proves_empty`]).
    pub fn with_polytope(self, rows: Vec<(Vec<f64>, f64)>) -> Result<Self> {
        self.with_enclosed_polytope(rows.into_iter().map(|(a, b)| (exact(&a), (b, b))).collect())
    }

    /// [`InputSet::with_polytope`] for rows whose numbers are enclosures of
    /// decimals: bounded by `a_lo x <= b_hi + sum_j (a_hi,j - a_lo,j)
    /// max(|l_j|, |u_j|)` over this set's box, written as the rows
    /// themselves (module docs).
    pub fn with_enclosed_polytope(mut self, rows: Vec<(Vec<Enclosure>, Enclosure)>) -> Result<Self> {
        use crate::rounding::{add_up, mul_up, sub_up};
        for (i, (a, b)) in rows.iter().enumerate() {
            if a.len() != self.dim() {
                return Err(invalid_set(format!("polytope row {i} has {} coefficients but the set has {} coordinates", a.len(), self.dim())));
            }
            if [b].into_iter().chain(a).any(|&(lo, hi)| !lo.is_finite() || !hi.is_finite() || !(lo <= hi)) {
                return Err(invalid_set(format!("polytope row {i} has a non-finite number")));
            }
        }
        for (a, b) in &rows {
            let slack = a.iter().enumerate().filter(|(_, e)| e.1 > e.0).fold(0.0, |sum, (j, &(lo, hi))| add_up(sum, mul_up(sub_up(hi, lo), self.lower[j].abs().max(self.upper[j].abs()))));
            let bounded_b = if slack == 0.0 { b.1 } else { add_up(b.1, slack) };
            if !bounded_b.is_finite() {
                return Err(invalid_set("a polytope row's right side overflows once its decimals are enclosed"));
            }
            self.polytope.push((a.iter().map(|e| e.0).collect(), bounded_b));
            self.written.polytope.push((a.clone(), b.0));
        }
        let misses_a_row = || self.polytope.iter().position(|row| crate::propagation::polytope::box_misses_a_row(&self.lower, &self.upper, std::slice::from_ref(row)));
        if let Some(row) = misses_a_row().or_else(|| one_coordinate_rows_prove_empty(&self)).or_else(|| proves_empty(&self)) {
            return Err(invalid_set(format!("the input set is empty: the polytope (with the box) has no point (row {row} cannot hold together with the others)")));
        }
        Ok(self)
    }

    /// This box with the L2 ball `(center, radius)` as a further constraint
    /// (the box is kept as it is: the set is their intersection). For a set
    /// mapped into other coordinates ([`crate::problem::prepare`]), where the
    /// ball's centre and radius are already enclosed outward.
    pub(crate) fn with_ball_constraint(mut self, center: Vec<f64>, radius: f64) -> Result<Self> {
        if center.len() != self.dim() || center.iter().any(|c| !c.is_finite()) || !(radius >= 0.0) || !radius.is_finite() {
            return Err(invalid_set("the ball in first-layer coordinates is not finite"));
        }
        self.written.ball = Some((exact(&center), radius));
        self.ball = Some((center, radius));
        self.ball_scales = None;
        Ok(self)
    }

    /// This box with the ellipsoid `||diag(scales) (x - center)||_2 <=
    /// radius` as a further constraint (scales positive): an L2 ball in
    /// other units, mapped by a per-coordinate affine map
    /// ([`crate::problem::prepare`]), with centre and radius enclosed
    /// outward. Kept as the ball `(center, radius / m)`, `m` the smallest
    /// scale, with the scales `s_i / m >= 1` (rounded down, the radius up: the
    /// kept ellipsoid holds the given one), so that the ball alone is a
    /// sound, looser description of the set ([`InputSet::ball_scales`]).
    pub(crate) fn with_ellipsoid_constraint(self, center: Vec<f64>, radius: f64, scales: &[f64]) -> Result<Self> {
        let smallest = scales.iter().copied().fold(f64::INFINITY, f64::min);
        if scales.len() != self.dim() || !(smallest > 0.0) || scales.iter().any(|s| !s.is_finite()) {
            return Err(invalid_set("the ellipsoid in first-layer coordinates has a scale that is not a positive finite number"));
        }
        let mut set = self.with_ball_constraint(center, crate::rounding::div_up(radius, smallest))?;
        // s_i >= m, so s_i / m >= 1 exactly, and 1 is a double
        set.ball_scales = Some(scales.iter().map(|s| crate::rounding::div_down(*s, smallest).max(1.0)).collect());
        Ok(set)
    }

    /// Lower corner of the bounding box.
    pub fn lower(&self) -> &[f64] {
        &self.lower
    }

    /// Upper corner of the bounding box.
    pub fn upper(&self) -> &[f64] {
        &self.upper
    }

    /// The L2 ball `(center, radius)`, if any.
    pub fn ball_constraint(&self) -> Option<&(Vec<f64>, f64)> {
        self.ball.as_ref()
    }

    /// Scales `s_i >= 1` when the set's L2 constraint is the ellipsoid
    /// `||diag(s) (x - c)||_2 <= r` (`(c, r)` the ball of
    /// [`InputSet::ball_constraint`]): an L2 ball on inputs normalised with
    /// unequal ranges. Since every `s_i >= 1` the ellipsoid lies in the
    /// ball, so a method that reads only the ball is sound, and looser.
    pub fn ball_scales(&self) -> Option<&[f64]> {
        self.ball_scales.as_deref()
    }

    /// `||diag(s) (x - c)||_2` of the ball's scales (1 without them).
    fn ball_distance(&self, x: &[f64], center: &[f64]) -> f64 {
        match &self.ball_scales {
            Some(scales) => {
                let scaled_x: Vec<f64> = x.iter().zip(scales).map(|(v, s)| v * s).collect();
                let scaled_c: Vec<f64> = center.iter().zip(scales).map(|(v, s)| v * s).collect();
                distance_norm(&scaled_x, &scaled_c)
            }
            None => distance_norm(x, center),
        }
    }

    /// The polytope rows `(a_i, b_i)`: `a_i^T x <= b_i`.
    pub fn polytope(&self) -> &[(Vec<f64>, f64)] {
        &self.polytope
    }

    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.lower.len()
    }

    /// Whether `x` is in the set (up to `tolerance` on each constraint).
    pub fn contains(&self, x: &[f64], tolerance: f64) -> bool {
        if x.len() != self.dim() || x.iter().any(|v| !v.is_finite()) {
            return false;
        }
        let in_box = x.iter().zip(&self.lower).zip(&self.upper).all(|((v, l), u)| *v >= l - tolerance && *v <= u + tolerance);
        let in_ball = self.ball.as_ref().is_none_or(|(c, r)| self.ball_distance(x, c) <= r + tolerance);
        let in_polytope = self.polytope.iter().all(|(a, b)| crate::network::dot(a, x) <= b + tolerance);
        in_box && in_ball && in_polytope
    }

    /// Lower corner of the box the user wrote, rounded inward (module docs).
    pub fn written_lower(&self) -> &[f64] {
        &self.written.lower
    }

    /// Upper corner of the box the user wrote, rounded inward.
    pub fn written_upper(&self) -> &[f64] {
        &self.written.upper
    }

    /// Whether no double can provably lie in the set the user wrote (so no
    /// witness can exist, [`InputSet::holds`]): a zero-width interval or a
    /// ball of radius 0 around a decimal that no double equals (`--box
    /// 0.1,0.1`). A sufficient test: false does not promise such a double.
    pub fn written_holds_no_double(&self) -> bool {
        let w = &self.written;
        w.lower.iter().zip(&w.upper).any(|(l, u)| !(l <= u)) || w.ball.as_ref().is_some_and(|(center, radius)| *radius <= 0.0 && center.iter().any(|(lo, hi)| lo < hi))
    }

    /// Whether `x` provably lies in the set the user wrote (module docs):
    /// every written constraint holds for every value of its enclosures, each
    /// sum rounded against the claim. Every reported witness passes this.
    pub fn holds(&self, x: &[f64]) -> bool {
        let w = &self.written;
        if x.len() != self.dim() || x.iter().any(|v| !v.is_finite()) {
            return false;
        }
        if !x.iter().zip(&w.lower).zip(&w.upper).all(|((v, l), u)| v >= l && v <= u) {
            return false;
        }
        if let Some((center, radius)) = &w.ball {
            // the largest |v - c| over c in [lo, hi], rounded up
            let distances: Vec<f64> = x.iter().zip(center).map(|(&v, &(lo, hi))| distance_up(v, lo).max(distance_up(v, hi))).collect();
            if !(norm_up(&distances) <= *radius) {
                return false;
            }
        }
        w.polytope.iter().all(|(a, b)| written_row_value(a, x) <= *b)
    }

    /// Moves `x` towards the set the user wrote: into its L2 ball (radius
    /// shrunk by a few ulps so the rounded check of [`InputSet::holds`]
    /// passes), its box, and off the outside of its polytope rows. A row
    /// `a x <= b` that the rounded check rejects moves `x` along `-a` by its
    /// excess plus a few ulps of the row's scale (a point a solver placed on a
    /// face, feasible up to its tolerance, lands just inside), for a few
    /// rounds with the box re-imposed after each. This is a repair for points
    /// that are nearly inside, not a projection: callers check
    /// [`InputSet::holds`].
    pub fn project_inside(&self, x: &mut [f64]) {
        self.project_inside_ball_and_box(x);
        if self.written.polytope.is_empty() {
            return;
        }
        let rows: Vec<(Vec<f64>, f64)> = self.written.polytope.iter().map(|(a, b)| (a.iter().map(|&(lo, hi)| lo + 0.5 * (hi - lo)).collect(), *b)).collect();
        step_off_rows(x, &rows, |i, x| written_row_value(&self.written.polytope[i].0, x) - rows[i].1, |x| self.project_inside_ball_and_box(x));
    }

    /// Moves `x`, inside this set's box and ball, off the outside of the
    /// polytope rows of the set bounded, as [`InputSet::project_inside`]
    /// does for the set written: for a solver's point that satisfies a row
    /// only up to its tolerance. Callers check [`InputSet::contains`].
    pub fn step_inside_polytope(&self, x: &mut [f64]) {
        step_off_rows(x, &self.polytope, |i, x| crate::network::dot(&self.polytope[i].0, x) - self.polytope[i].1, |x| self.project(x));
    }

    /// [`InputSet::project_inside`] for the ball and the box alone.
    fn project_inside_ball_and_box(&self, x: &mut [f64]) {
        let w = &self.written;
        if let Some((center, radius)) = &w.ball {
            let middle: Vec<f64> = center.iter().map(|&(lo, hi)| lo + 0.5 * (hi - lo)).collect();
            let spread = distance_norm(&center.iter().map(|c| c.0).collect::<Vec<_>>(), &center.iter().map(|c| c.1).collect::<Vec<_>>());
            let inner = (radius * (1.0 - 64.0 * f64::EPSILON) - 2.0 * spread).max(0.0);
            let norm = distance_norm(x, &middle);
            if norm > inner {
                for (v, m) in x.iter_mut().zip(&middle) {
                    *v = if inner == 0.0 { *m } else { m + (*v - m) * (inner / norm) };
                }
            }
        }
        for ((v, l), u) in x.iter_mut().zip(&w.lower).zip(&w.upper) {
            if l <= u {
                *v = v.clamp(*l, *u);
            }
        }
    }

    /// Projects onto the box and the ball (exactly for each; their
    /// intersection by projecting onto the ball, then the box). Polytope rows
    /// are not projected onto; callers check [`InputSet::contains`].
    pub fn project(&self, x: &mut [f64]) {
        if let Some((c, r)) = &self.ball {
            // with scales, along the segment to the centre: a point of the
            // ellipsoid, not its nearest one
            let norm = self.ball_distance(x, c);
            if norm > *r {
                for (v, ci) in x.iter_mut().zip(c) {
                    *v = ci + (*v - ci) * (r / norm);
                }
            }
        }
        for ((v, l), u) in x.iter_mut().zip(&self.lower).zip(&self.upper) {
            *v = v.clamp(*l, *u);
        }
    }

    /// A uniformly random point of the bounding box, projected into the set.
    pub fn sample(&self, rng: &mut impl Rng) -> Vec<f64> {
        let mut x: Vec<f64> = self.lower.iter().zip(&self.upper).map(|(&l, &u)| uniform_between(rng, l, u)).collect();
        self.project(&mut x);
        x
    }

    /// Reads the input box of a VNN-LIB property file for a network with
    /// `dim` inputs (see [`crate::io::vnnlib`] for what is read and how
    /// decimals are rounded outward). Errors if the file describes a union of
    /// several boxes: read those with [`crate::io::vnnlib::read_input_boxes`].
    pub fn from_vnnlib(text: &str, dim: usize) -> Result<Self> {
        let mut boxes = crate::io::vnnlib::read_input_boxes(text, dim)?;
        if boxes.len() != 1 {
            return Err(invalid_set(format!(
                "the VNN-LIB input constraints are a union of {} boxes, not one box (read each box with io::vnnlib::read_input_boxes)",
                boxes.len()
            )));
        }
        Ok(boxes.remove(0))
    }
}

/// The time the LP of [`proves_empty`] may take.
const EMPTINESS_SECONDS: f64 = 2.0;

/// The most polytope coefficients (rows times inputs) for which
/// [`proves_empty`] runs its LP: its factorisations are not bounded by the
/// LP's time limit (1,500 dense rows over 784 inputs: 3.3 s). Above it only
/// the row-by-row checks run, and propagation reports an empty set it finds.
const EMPTINESS_LP_UP_TO: usize = 500_000;

/// Proves that the box cut by the polytope is empty, or returns None.
///
/// An LP (Clarabel) looks for a point of `{x : A x <= b, l <= x <= u}`. When it
/// reports the LP infeasible, its dual ray `y >= 0` is a Farkas certificate:
/// the aggregated row `(y^T A) x <= y^T b` has no solution in the box. That is
/// re-checked with outward rounding, `min_{x in box} (A^T y)^T x > y^T b`, so
/// a set is declared empty only when that is a theorem; a solver mistake can
/// only make the check fail, and the set is then treated as non-empty (a bound
/// over an empty set is vacuously true, and no witness outside it is ever
/// reported). Returns the index of the row with the largest multiplier.
pub fn proves_empty(set: &InputSet) -> Option<usize> {
    use clarabel::algebra::CscMatrix;
    use clarabel::solver::{DefaultSettings, DefaultSolver, IPSolver, SolverStatus, SupportedConeT};
    if set.polytope.is_empty() || set.polytope.len().saturating_mul(set.dim()) > EMPTINESS_LP_UP_TO {
        return None;
    }
    let (n, m) = (set.dim(), set.polytope.len());
    // rows: A x <= b (m), x <= u (n), -x <= -l (n)
    let (mut rows, mut cols, mut vals) = (Vec::new(), Vec::new(), Vec::new());
    let mut b = Vec::with_capacity(m + 2 * n);
    for (i, (a, bi)) in set.polytope.iter().enumerate() {
        for (j, &v) in a.iter().enumerate() {
            if v != 0.0 {
                rows.push(i);
                cols.push(j);
                vals.push(v);
            }
        }
        b.push(*bi);
    }
    for j in 0..n {
        rows.push(m + j);
        cols.push(j);
        vals.push(1.0);
        b.push(set.upper[j]);
        rows.push(m + n + j);
        cols.push(j);
        vals.push(-1.0);
        b.push(-set.lower[j]);
    }
    let a = CscMatrix::new_from_triplets(m + 2 * n, n, rows, cols, vals);
    let p = CscMatrix::zeros((n, n));
    let q = vec![0.0; n];
    let cones = [SupportedConeT::NonnegativeConeT(m + 2 * n)];
    // a set is built before any time limit starts: the check is kept short
    // (past it the set counts as non-empty, which is always sound)
    let settings = DefaultSettings { verbose: false, max_iter: 200, time_limit: EMPTINESS_SECONDS, ..DefaultSettings::default() };
    let mut solver = DefaultSolver::new(&p, &q, &a, &b, &cones, settings).ok()?;
    solver.solve();
    if !matches!(solver.solution.status, SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible) {
        return None;
    }
    // the polytope part of the dual ray, clamped to y >= 0
    let multipliers: Vec<f64> = solver.solution.z[..m].iter().map(|y| if y.is_finite() { y.max(0.0) } else { 0.0 }).collect();
    aggregated_row_is_infeasible(set, &multipliers).then(|| (0..m).max_by(|&i, &j| multipliers[i].total_cmp(&multipliers[j])).unwrap_or(0))
}

/// A row of the polytope that, with the box and the rows before it that
/// read at most one coordinate, leaves no point: `0 <= b` with `b < 0`, or a
/// coordinate's interval crossing after `a_k x_k <= b` became `x_k <= b / a_k`
/// (`>=` for `a_k < 0`), each quotient rounded outward so that only an
/// exactly empty set is refused. This catches what the LP's tolerance
/// misses (a slab `0.3 <= x_0 <= 0.3 - 1e-11`, or `0 x <= -1e-300`).
fn one_coordinate_rows_prove_empty(set: &InputSet) -> Option<usize> {
    let (mut lower, mut upper) = (set.lower.clone(), set.upper.clone());
    for (i, (a, b)) in set.polytope.iter().enumerate() {
        let mut nonzero = a.iter().enumerate().filter(|(_, v)| **v != 0.0);
        match (nonzero.next(), nonzero.next()) {
            (None, _) if *b < 0.0 => return Some(i),
            (Some((k, &coefficient)), None) => {
                if coefficient > 0.0 {
                    upper[k] = upper[k].min(crate::rounding::div_up(*b, coefficient));
                } else {
                    lower[k] = lower[k].max(crate::rounding::div_down(*b, coefficient));
                }
                if lower[k] > upper[k] {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether `(y^T A) x <= y^T b` has no solution in the box, with every sum
/// rounded in the direction that makes "no solution" harder to claim: the
/// left side's minimum over the box is rounded down, the right side up.
fn aggregated_row_is_infeasible(set: &InputSet, multipliers: &[f64]) -> bool {
    use crate::propagation::rounding_gamma;
    let n = set.dim();
    let count = multipliers.len() + 2;
    // c = A^T y with its rounding error bound
    let mut coefficient = vec![0.0; n];
    let mut coefficient_magnitude = vec![0.0; n];
    let mut right = 0.0;
    let mut right_magnitude = 0.0;
    for ((a, b), &y) in set.polytope.iter().zip(multipliers) {
        for j in 0..n {
            coefficient[j] += y * a[j];
            coefficient_magnitude[j] += (y * a[j]).abs();
        }
        right += y * b;
        right_magnitude += (y * b).abs();
    }
    let right_upper = right + rounding_gamma(count) * right_magnitude * 2.0;
    // min over the box of c^T x, with c_j known to within its error
    let mut left_lower = 0.0;
    let mut left_magnitude = 0.0;
    for j in 0..n {
        let error = rounding_gamma(count) * coefficient_magnitude[j] * 2.0;
        let (lo, hi) = (coefficient[j] - error, coefficient[j] + error);
        let term = (lo * set.lower[j]).min(lo * set.upper[j]).min(hi * set.lower[j]).min(hi * set.upper[j]);
        left_lower += term;
        left_magnitude += term.abs();
    }
    let left_lower = left_lower - rounding_gamma(n + 2) * left_magnitude * 2.0;
    left_lower.is_finite() && right_upper.is_finite() && left_lower > right_upper
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn inverted_and_empty_boxes_are_rejected() {
        assert_eq!(InputSet::from_box(vec![1.0], vec![0.0]).unwrap_err().kind, ErrorKind::InvalidInputSet);
        assert!(InputSet::from_box(vec![], vec![]).is_err());
        assert!(InputSet::from_box(vec![f64::NAN], vec![1.0]).is_err());
        assert!(InputSet::ball(vec![0.0], -1.0, false).is_err());
    }

    #[test]
    fn reads_vnnlib_input_bounds() {
        let text = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(assert (<= X_0 0.5))\n(assert (>= X_0 -0.5))\n(assert (<= 0.25 X_1))\n(assert (<= X_1 1.0))\n(assert (<= Y_0 Y_1))\n";
        let set = InputSet::from_vnnlib(text, 2).unwrap();
        assert_eq!(set.lower(), &[-0.5, 0.25]);
        assert_eq!(set.upper, vec![0.5, 1.0]);
        assert!(InputSet::from_vnnlib("(assert (<= X_0 0.5))", 1).is_err());
        let union = "(assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3))))";
        let err = InputSet::from_vnnlib(union, 1).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInputSet);
        assert!(err.context.starts_with("the VNN-LIB input constraints are a union of 2 boxes"), "{}", err.context);
        // decimals without an exact binary value are rounded outward: fl(0.1) lies above 1/10
        let set = InputSet::from_vnnlib("(assert (<= X_0 0.1))(assert (>= X_0 -0.1))", 1).unwrap();
        assert_eq!((set.lower()[0], set.upper()[0]), (-0.1f64, 0.1f64));
    }

    /// The enclosure of a decimal, as the readers make it.
    fn decimal(text: &str) -> Enclosure {
        crate::io::vnnlib::decimal_enclosure(text).unwrap()
    }

    #[test]
    fn decimal_boxes_are_bounded_outward_and_witnesses_kept_inside() {
        // -0.9 and 0.3 have no exact double: fl(-0.9) lies below -0.9, fl(0.3) below 0.3
        let set = InputSet::from_enclosed_box(&[decimal("-0.9")], &[decimal("0.3")]).unwrap();
        assert_eq!((set.lower()[0], set.upper()[0]), (-0.9f64, 0.3f64.next_up()));
        assert_eq!((set.written_lower()[0], set.written_upper()[0]), ((-0.9f64).next_up(), 0.3f64));
        // fl(-0.9) is outside the written box; moved inside it passes
        let mut x = vec![-0.9];
        assert!(set.contains(&x, 0.0) && !set.holds(&x));
        set.project_inside(&mut x);
        assert!(set.holds(&x) && x[0] > -0.9);
        // exact decimals are kept as written
        let set = InputSet::from_enclosed_box(&[decimal("-0.5")], &[decimal("0.25")]).unwrap();
        assert!(set.holds(&[-0.5]) && set.holds(&[0.25]) && !set.holds(&[0.25f64.next_up()]));
        // a decimal point box without a double: nothing can be a witness
        let set = InputSet::from_enclosed_box(&[decimal("0.1")], &[decimal("0.1")]).unwrap();
        let mut x = vec![0.1];
        set.project_inside(&mut x);
        assert!(!set.holds(&x) && set.contains(&x, 0.0));
        // a box whose width overflows is refused, not sampled
        assert!(InputSet::from_box(vec![-1e308], vec![1e308]).unwrap_err().context.contains("too wide"));
    }

    #[test]
    fn decimal_balls_hold_the_written_ball_and_witnesses_stay_in_it() {
        let center = [decimal("0.1"), decimal("0.7")];
        // L-infinity: the second coordinate is [0.4, 1.0] as written; the written box lies inside it, the bounded box around it
        let set = InputSet::enclosed_ball(&center, decimal("0.3"), false).unwrap();
        assert!(set.lower()[1] < 0.4 && set.upper()[1] >= 1.0 && set.written_upper()[1] < 1.0 && set.written_lower()[1] > 0.4);
        let mut x = vec![0.4, 1.0];
        set.project_inside(&mut x);
        assert!(set.holds(&x));
        // L2: a point on the rounded sphere is moved inside the written ball
        let set = InputSet::enclosed_ball(&center, decimal("0.35"), true).unwrap();
        let (c, r) = set.ball_constraint().unwrap().clone();
        assert!(r > 0.35);
        let step = 0.35 / 2f64.sqrt();
        let mut x = vec![0.1 + step, 0.7 + step];
        set.project_inside(&mut x);
        assert!(set.holds(&x));
        let distance = ((x[0] - 0.1) * (x[0] - 0.1) + (x[1] - 0.7) * (x[1] - 0.7)).sqrt();
        assert!(distance < 0.35 * (1.0 - 1e-14) && distance > 0.35 * (1.0 - 1e-12), "{distance}");
        // the bounded ball holds every point of the written one
        assert!(((x[0] - c[0]).powi(2) + (x[1] - c[1]).powi(2)).sqrt() <= r);
        // far outside: not a witness even after the box projection alone
        assert!(!set.holds(&[0.45, 1.05]));
    }

    #[test]
    fn decimal_polytope_rows_are_widened_for_the_bound_and_checked_exactly_for_witnesses() {
        // x0 + 0.1 x1 <= 0.3 on [0, 1]^2
        let set = InputSet::from_box(vec![0.0, 0.0], vec![1.0, 1.0]).unwrap().with_enclosed_polytope(vec![(vec![decimal("1"), decimal("0.1")], decimal("0.3"))]).unwrap();
        let (a, b) = &set.polytope()[0];
        assert_eq!(a[0], 1.0);
        assert!(a[1] < 0.1 && *b > 0.3 + (0.1 - a[1]), "{a:?} {b}");
        // fl(0.2) > 0.2, so x0 = fl(0.2), x1 = 1 gives x0 + 0.1 x1 > 0.3 exactly
        assert!(!set.holds(&[0.2, 1.0]));
        assert!(set.holds(&[0.19, 1.0]) && set.holds(&[0.0, 0.0]));
        // exact rows keep their boundary points
        let set = InputSet::from_box(vec![0.0, 0.0], vec![1.0, 1.0]).unwrap().with_polytope(vec![(vec![1.0, 1.0], 0.5)]).unwrap();
        assert!(set.holds(&[0.25, 0.25]) && set.holds(&[0.5, 0.0]) && !set.holds(&[0.5, 1e-300]));
    }

    /// A ball of radius 1e200: the squares of its points' distances overflow,
    /// yet membership is decided (a point at 0.9 r is in, at 1.1 r out) and
    /// a far point is moved into it (every such point was rejected before).
    #[test]
    fn a_huge_ball_decides_membership_without_overflow() {
        let set = InputSet::ball(vec![0.1, 0.2], 1e200, true).unwrap();
        let along = |t: f64| [0.1 + t * 0.6e200, 0.2 - t * 0.8e200];
        assert!(set.holds(&along(0.9)));
        assert!(!set.holds(&along(1.1)));
        let mut far = [1e300, -3e300];
        set.project_inside(&mut far);
        assert!(set.holds(&far) && far[0] > 1e199, "{far:?}");
        let mut far = [1e300, -3e300];
        set.project(&mut far);
        assert!(set.contains(&far, 1e185) && far[0] > 1e199, "{far:?}");
    }

    /// Boxes as wide as the doubles allow are sampled without overflow.
    #[test]
    fn boxes_near_the_largest_double_are_sampled_inside() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for (l, u) in [(0.0, f64::MAX), (-f64::MAX, 0.0), (-1e308, 7.9e307), (1.0, 1.0)] {
            let set = InputSet::from_box(vec![l], vec![u]).unwrap();
            for _ in 0..100 {
                let x = set.sample(&mut rng);
                assert!(l <= x[0] && x[0] <= u, "[{l}, {u}]: {x:?}");
            }
        }
    }

    #[test]
    fn projection_lands_in_the_set() {
        let set = InputSet::ball(vec![0.0, 1.0], 0.5, true).unwrap();
        let mut x = [3.0, -2.0];
        set.project(&mut x);
        assert!(set.contains(&x, 1e-12));
    }
}
