//! Input sets: a box, optionally intersected with an L2 ball and/or a
//! polytope `A x <= b`. The box is always present (an L2 ball brings its
//! bounding box) because interval bounds start from it.

use crate::error::{invalid_set, Result};
use rand::Rng;
use serde::Serialize;

/// A set of inputs `X`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSet {
    /// Lower corner of the bounding box.
    pub lower: Vec<f64>,
    /// Upper corner of the bounding box.
    pub upper: Vec<f64>,
    /// Optional L2 ball `||x - center||_2 <= radius`.
    pub ball: Option<(Vec<f64>, f64)>,
    /// Optional polytope rows `(a_i, b_i)`: `a_i^T x <= b_i`.
    pub polytope: Vec<(Vec<f64>, f64)>,
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

    /// An L-infinity ball (a box) or an L2 ball (with its bounding box).
    pub fn ball(center: Vec<f64>, radius: f64, l2: bool) -> Result<Self> {
        if !(radius >= 0.0) || !radius.is_finite() {
            return Err(invalid_set(format!("radius {radius} must be a finite number >= 0")));
        }
        let mut set = Self::from_box(center.iter().map(|c| c - radius).collect(), center.iter().map(|c| c + radius).collect())?;
        if l2 {
            set.ball = Some((center, radius));
        }
        Ok(set)
    }

    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.lower.len()
    }

    /// Whether `x` is in the set (up to `tolerance` on each constraint).
    pub fn contains(&self, x: &[f64], tolerance: f64) -> bool {
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

    /// Reads the input constraints of a VNN-LIB property: `(assert (<= X_i c))`
    /// and `(assert (>= X_i c))` lines (also `(assert (<= c X_i))`).
    pub fn from_vnnlib(text: &str, dim: usize) -> Result<Self> {
        let mut lower = vec![f64::NEG_INFINITY; dim];
        let mut upper = vec![f64::INFINITY; dim];
        for (line_no, line) in text.lines().enumerate() {
            let tokens: Vec<&str> = line.split(|c: char| c == '(' || c == ')' || c.is_whitespace()).filter(|t| !t.is_empty()).collect();
            if tokens.first() != Some(&"assert") || tokens.len() != 4 {
                continue;
            }
            let (op, a, b) = (tokens[1], tokens[2], tokens[3]);
            let var = |t: &str| t.strip_prefix("X_").and_then(|i| i.parse::<usize>().ok());
            let (index, value, var_on_left) = match (var(a), var(b)) {
                (Some(i), None) => (i, b, true),
                (None, Some(i)) => (i, a, false),
                _ => continue, // output constraints (Y_j) and others are not input bounds
            };
            let value: f64 = value.parse().map_err(|_| invalid_set(format!("vnnlib line {}: '{value}' is not a number", line_no + 1)))?;
            if index >= dim {
                return Err(invalid_set(format!("vnnlib line {}: X_{index} but the network has {dim} inputs", line_no + 1)));
            }
            let is_upper = (op == "<=") == var_on_left;
            match op {
                "<=" | ">=" if is_upper => upper[index] = upper[index].min(value),
                "<=" | ">=" => lower[index] = lower[index].max(value),
                _ => return Err(invalid_set(format!("vnnlib line {}: unsupported relation '{op}'", line_no + 1))),
            }
        }
        if let Some(i) = (0..dim).find(|&i| !lower[i].is_finite() || !upper[i].is_finite()) {
            return Err(invalid_set(format!("vnnlib file does not bound input X_{i} from both sides")));
        }
        Self::from_box(lower, upper)
    }
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
        assert_eq!(set.lower, vec![-0.5, 0.25]);
        assert_eq!(set.upper, vec![0.5, 1.0]);
        assert!(InputSet::from_vnnlib("(assert (<= X_0 0.5))", 1).is_err());
    }

    #[test]
    fn projection_lands_in_the_set() {
        let set = InputSet::ball(vec![0.0, 1.0], 0.5, true).unwrap();
        let mut x = [3.0, -2.0];
        set.project(&mut x);
        assert!(set.contains(&x, 1e-12));
    }
}
