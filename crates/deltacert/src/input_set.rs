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
        let union = "(assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3))))";
        let err = InputSet::from_vnnlib(union, 1).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInputSet);
        assert!(err.context.starts_with("the VNN-LIB input constraints are a union of 2 boxes"), "{}", err.context);
        // decimals without an exact binary value are rounded outward
        let set = InputSet::from_vnnlib("(assert (<= X_0 0.1))(assert (>= X_0 -0.1))", 1).unwrap();
        assert_eq!((set.lower[0], set.upper[0]), ((-0.1f64).next_down(), 0.1f64.next_up()));
    }

    #[test]
    fn projection_lands_in_the_set() {
        let set = InputSet::ball(vec![0.0, 1.0], 0.5, true).unwrap();
        let mut x = [3.0, -2.0];
        set.project(&mut x);
        assert!(set.contains(&x, 1e-12));
    }
}
