//! Input sets: a box, optionally intersected with an L2 ball and/or a
//! polytope `A x <= b`. The box is always present (an L2 ball brings its
//! bounding box) because interval bounds start from it.

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
    polytope: Vec<(Vec<f64>, f64)>,
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
        }
        Ok(InputSet { lower, upper, ball: None, polytope: Vec::new() })
    }

    /// The same interval `[lo, hi]` in each of `dim` coordinates.
    pub fn uniform_box(dim: usize, lo: f64, hi: f64) -> Result<Self> {
        Self::from_box(vec![lo; dim], vec![hi; dim])
    }

    /// An L-infinity ball (a box) or an L2 ball (with its bounding box). The
    /// box corners `center -+ radius` are rounded outward, so the set holds
    /// every point of the exact ball.
    pub fn ball(center: Vec<f64>, radius: f64, l2: bool) -> Result<Self> {
        if !(radius >= 0.0) || !radius.is_finite() {
            return Err(invalid_set(format!("radius {radius} must be a finite number >= 0")));
        }
        if let Some(i) = center.iter().position(|c| !c.is_finite()) {
            return Err(invalid_set(format!("centre coordinate {i} is not a finite number")));
        }
        let lower = center.iter().map(|&c| add_down_tight(c, -radius)).collect();
        let upper = center.iter().map(|&c| add_up_tight(c, radius)).collect();
        let mut set = Self::from_box(lower, upper)?;
        if l2 {
            set.ball = Some((center, radius));
        }
        Ok(set)
    }

    /// This set cut by the polytope rows `a_i^T x <= b_i`. Errors if a row
    /// has the wrong length or a non-finite entry, or if the cut set is
    /// proven empty (a Farkas certificate from an LP, re-checked with outward
    /// rounding; see [`crate::input_set::proves_empty`]).
    pub fn with_polytope(mut self, rows: Vec<(Vec<f64>, f64)>) -> Result<Self> {
        for (i, (a, b)) in rows.iter().enumerate() {
            if a.len() != self.dim() {
                return Err(invalid_set(format!("polytope row {i} has {} coefficients but the set has {} coordinates", a.len(), self.dim())));
            }
            if !b.is_finite() || a.iter().any(|v| !v.is_finite()) {
                return Err(invalid_set(format!("polytope row {i} has a non-finite number")));
            }
        }
        self.polytope.extend(rows);
        if let Some(row) = one_coordinate_rows_prove_empty(&self).or_else(|| proves_empty(&self)) {
            return Err(invalid_set(format!("the input set is empty: the polytope (with the box) has no point (row {row} cannot hold together with the others)")));
        }
        Ok(self)
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
        let in_ball = self.ball.as_ref().is_none_or(|(c, r)| x.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt() <= r + tolerance);
        let in_polytope = self.polytope.iter().all(|(a, b)| crate::network::dot(a, x) <= b + tolerance);
        in_box && in_ball && in_polytope
    }

    /// Projects onto the box and the ball (exactly for each; their
    /// intersection by projecting onto the ball, then the box). Polytope rows
    /// are not projected onto; callers check [`InputSet::contains`].
    pub fn project(&self, x: &mut [f64]) {
        if let Some((c, r)) = &self.ball {
            let norm = x.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
            if norm > *r {
                for (v, ci) in x.iter_mut().zip(c) {
                    *v = ci + (*v - ci) * r / norm;
                }
            }
        }
        for ((v, l), u) in x.iter_mut().zip(&self.lower).zip(&self.upper) {
            *v = v.clamp(*l, *u);
        }
    }

    /// A uniformly random point of the bounding box, projected into the set.
    pub fn sample(&self, rng: &mut impl Rng) -> Vec<f64> {
        let mut x: Vec<f64> = self.lower.iter().zip(&self.upper).map(|(&l, &u)| if u > l { rng.gen_range(l..=u) } else { l }).collect();
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
    if set.polytope.is_empty() {
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
    let settings = DefaultSettings { verbose: false, max_iter: 200, time_limit: 10.0, ..DefaultSettings::default() };
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
        // decimals without an exact binary value are rounded outward
        let set = InputSet::from_vnnlib("(assert (<= X_0 0.1))(assert (>= X_0 -0.1))", 1).unwrap();
        assert_eq!((set.lower()[0], set.upper()[0]), ((-0.1f64).next_down(), 0.1f64.next_up()));
    }

    #[test]
    fn projection_lands_in_the_set() {
        let set = InputSet::ball(vec![0.0, 1.0], 0.5, true).unwrap();
        let mut x = [3.0, -2.0];
        set.project(&mut x);
        assert!(set.contains(&x, 1e-12));
    }
}
