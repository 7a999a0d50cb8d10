//! Mixed-integer encodings of one neuron, independent of any solver: the
//! MILP of [`crate::milp`] (docs/method.md §10) translates them into rows.
//!
//! A neuron with pre-activation `v in [l, u]` is either affine there (`a =
//! slope v + intercept`, no new column) or gets new columns `c_i`
//! (continuous, integer or binary), its activation as a linear form `a =
//! sum_i d_i c_i` and rows `lower <= c_v v + sum_i e_i c_i <= upper` whose
//! feasible `a` are exactly `sigma(v)` for `v in [l, u]`. The piecewise-linear
//! family below uses a continuous `a` and a binary `z`; the quantiser
//! (`super::quantize`) an integer level and up to two binaries.
//!
//! **The piecewise-linear family** `a = max(v, s v)`, `0 <= s < 1`
//! ([`kinked_mixed_integer_encoding`]; ReLU is `s = 0`). Stable neurons are
//! linear: slope 1 for `l >= 0`, slope `s` for `u <= 0`. An unstable neuron
//! (`l < 0 < u`) gets the big-M rows
//!
//! ```text
//! a >= v,   a >= s v,   a <= v - (1 - s) l (1 - z),   a <= s v + (1 - s) u z,
//! s l <= a <= u,        z in {0, 1}.
//! ```
//!
//! `z = 0`: `a <= s v` with `a >= v` and `a >= s v` forces `v <= 0` and `a =
//! s v`; the third row is then `(1 - s) l <= (1 - s) v`, i.e. `v >= l`.
//! `z = 1`: `a <= v` with `a >= v` forces `a = v`, `a >= s v` forces `v >= 0`,
//! and the fourth row is `v <= u`. So the feasible `a` are exactly `max(v, s
//! v)`. For ReLU (`s = 0`) the row `a >= s v` is the column bound `a >= 0` and
//! is left out, which gives the classical `a >= v`, `a <= v - l (1 - z)`,
//! `a <= u z`, `0 <= a <= u`.

/// A column of an encoding: `lower <= c <= upper`, integral or continuous.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncodingColumn {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Whether the column takes integer values only.
    pub integer: bool,
}

impl EncodingColumn {
    /// A continuous column on `[lower, upper]`.
    pub fn continuous(lower: f64, upper: f64) -> Self {
        EncodingColumn { lower, upper, integer: false }
    }
    /// An integer column on `[lower, upper]` (integral ends).
    pub fn integer(lower: f64, upper: f64) -> Self {
        EncodingColumn { lower, upper, integer: true }
    }
    /// A binary column, `{0, 1}`.
    pub fn binary() -> Self {
        EncodingColumn::integer(0.0, 1.0)
    }
    /// Whether the column is binary.
    pub fn is_binary(&self) -> bool {
        self.integer && self.lower == 0.0 && self.upper == 1.0
    }
}

/// One row `lower <= pre_activation * v + sum_i columns[i] * c_i <= upper`
/// of an encoding (`v` the neuron's pre-activation, `c_i` the encoding's
/// columns in order).
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronRow {
    /// Coefficient `c_v` of the pre-activation `v`.
    pub pre_activation: f64,
    /// Coefficient of each column of the encoding, in order.
    pub columns: Vec<f64>,
    /// Lower end of the row (may be `-inf`).
    pub lower: f64,
    /// Upper end of the row (may be `+inf`).
    pub upper: f64,
}

/// How a mixed-integer program describes `a = sigma(v)` for `v in [l, u]`.
#[derive(Debug, Clone, PartialEq)]
pub enum MixedIntegerEncoding {
    /// `a = slope v + intercept` on the whole interval (no new column).
    Affine {
        /// The slope.
        slope: f64,
        /// The intercept.
        intercept: f64,
    },
    /// New columns `c_i` (continuous, integer or binary), the activation
    /// `a = sum_i activation[i] c_i` and rows, such that the `(v, a)` of the
    /// feasible points are exactly `a = sigma(v)` with `v in [l, u]` (an
    /// activation with jumps may admit both one-sided values at a jump, and
    /// says so).
    Columns {
        /// The columns.
        columns: Vec<EncodingColumn>,
        /// The activation's coefficient on each column.
        activation: Vec<f64>,
        /// The rows.
        rows: Vec<NeuronRow>,
        /// Rows added only when the MILP's incumbent is *placed* (a linear
        /// program with every integer column fixed at the incumbent's
        /// value): they keep `v` a margin inside the pieces that the integer
        /// values select, away from the jumps of `sigma`, so that the input
        /// found evaluates to the levels the solver chose. Empty for
        /// continuous activations. Never needed for soundness.
        witness_rows: Vec<NeuronRow>,
    },
}

impl MixedIntegerEncoding {
    /// The activation `a` at the column values `values` (`v` for
    /// [`MixedIntegerEncoding::Affine`]).
    pub fn activation_value(&self, pre_activation: f64, values: &[f64]) -> f64 {
        match self {
            MixedIntegerEncoding::Affine { slope, intercept } => slope * pre_activation + intercept,
            MixedIntegerEncoding::Columns { activation, .. } => activation.iter().zip(values).map(|(c, x)| c * x).sum(),
        }
    }
    /// Whether `(v, values)` satisfies the column bounds, integrality and
    /// rows up to `tolerance` (always true for an affine encoding).
    pub fn satisfied_by(&self, pre_activation: f64, values: &[f64], tolerance: f64) -> bool {
        match self {
            MixedIntegerEncoding::Affine { .. } => true,
            MixedIntegerEncoding::Columns { columns, rows, .. } => {
                columns.iter().zip(values).all(|(c, &x)| x >= c.lower - tolerance && x <= c.upper + tolerance && (!c.integer || (x - x.round()).abs() <= tolerance))
                    && rows.iter().all(|row| {
                        let value = row.pre_activation * pre_activation + row.columns.iter().zip(values).map(|(c, x)| c * x).sum::<f64>();
                        value >= row.lower - tolerance && value <= row.upper + tolerance
                    })
            }
        }
    }
}

/// The encoding of `a = max(v, negative_slope v)` (`0 <= negative_slope < 1`)
/// on `v in [lower, upper]` (module docs): columns `a` (continuous) and `z`
/// (binary), `a` the activation. The constants `(1 - s) l` and `(1 - s) u`
/// are rounded outward (down and up: the rows keep the exact end points),
/// exact for ReLU; the column's lower end `s l` is rounded down.
pub fn kinked_mixed_integer_encoding(negative_slope: f64, lower: f64, upper: f64) -> MixedIntegerEncoding {
    let s = negative_slope;
    if lower >= 0.0 {
        return MixedIntegerEncoding::Affine { slope: 1.0, intercept: 0.0 };
    }
    if upper <= 0.0 {
        return MixedIntegerEncoding::Affine { slope: s, intercept: 0.0 };
    }
    // columns: a (continuous), z (binary)
    let row = |pre_activation: f64, binary: f64, lower: f64, upper: f64| NeuronRow { pre_activation, columns: vec![1.0, binary], lower, upper };
    let mut rows = vec![row(-1.0, 0.0, 0.0, f64::INFINITY)]; // a - v >= 0
    if s != 0.0 {
        rows.push(row(-s, 0.0, 0.0, f64::INFINITY)); // a - s v >= 0
    }
    // rounded outward, so the rows keep the true endpoints (v = l, a = s l)
    // at z = 0 and (v = u, a = u) at z = 1: lower_gap <= (1 - s) l <= 0 and
    // upper_gap >= (1 - s) u (1 - s itself is inexact, 0.7 for s = 0.3)
    let (lower_gap, upper_gap) = if s == 0.0 {
        (lower, upper) // ReLU: exact
    } else {
        (crate::rounding::mul_down(crate::rounding::sub_up(1.0, s), lower), crate::rounding::mul_up(crate::rounding::sub_up(1.0, s), upper))
    };
    // a - v - (1 - s) l z <= -(1 - s) l   (a <= v - (1 - s) l (1 - z))
    rows.push(row(-1.0, -lower_gap, f64::NEG_INFINITY, -lower_gap));
    // a - s v - (1 - s) u z <= 0   (a <= s v + (1 - s) u z)
    rows.push(row(-s, -upper_gap, f64::NEG_INFINITY, 0.0));
    let activation_lower = if s == 0.0 { 0.0 } else { crate::rounding::mul_down(s, lower) };
    MixedIntegerEncoding::Columns {
        columns: vec![EncodingColumn::continuous(activation_lower, upper), EncodingColumn::binary()],
        activation: vec![1.0, 0.0],
        rows,
        witness_rows: Vec::new(),
    }
}

/// Test support: the generic exactness check of an encoding, shared by the
/// activation tests.
#[cfg(test)]
pub(crate) mod check {
    use super::{EncodingColumn, MixedIntegerEncoding};
    use crate::activation::ActivationRule;

    /// Every assignment of the columns: integer columns over their whole
    /// ranges, the continuous column (at most one) over `grid`.
    fn assignments(columns: &[EncodingColumn], grid: &[f64]) -> Vec<Vec<f64>> {
        assert!(columns.iter().filter(|c| !c.integer).count() <= 1, "at most one continuous column: {columns:?}");
        let mut all = vec![Vec::new()];
        for column in columns {
            let values: Vec<f64> = if column.integer {
                assert!(column.upper - column.lower <= 1e5, "integer range too wide to enumerate: {column:?}");
                (column.lower as i64..=column.upper as i64).map(|k| k as f64).collect()
            } else {
                grid.to_vec()
            };
            all = all.into_iter().flat_map(|prefix| values.iter().map(move |&x| [prefix.clone(), vec![x]].concat())).collect();
        }
        all
    }

    /// The activations the encoding admits at `v`: its affine value, or the
    /// activation of every assignment in `assignments` (each with its
    /// continuous column, if any, set to every value of `grid`) that
    /// satisfies it up to `tolerance`.
    pub(crate) fn admitted(encoding: &MixedIntegerEncoding, v: f64, assignments: &[Vec<f64>], grid: &[f64], tolerance: f64) -> Vec<f64> {
        let MixedIntegerEncoding::Columns { columns, .. } = encoding else {
            return vec![encoding.activation_value(v, &[])];
        };
        let continuous = columns.iter().position(|c| !c.integer);
        let mut admitted = Vec::new();
        for values in assignments {
            let mut values = values.clone();
            for &x in if continuous.is_some() { grid } else { &[0.0][..] } {
                if let Some(i) = continuous {
                    values[i] = x;
                }
                if encoding.satisfied_by(v, &values, tolerance) {
                    admitted.push(encoding.activation_value(v, &values));
                }
            }
        }
        admitted
    }

    /// Checks that `encoding` describes `rule` exactly on `[l, u]`, with
    /// `r = 1 + |l| + |u|`: *sound*, at every point of `sound_points` the
    /// computed `sigma(v)` is admitted (the continuous column set to it);
    /// *exact*, at every point of `exact_points` every admitted activation
    /// (the continuous column over a grid around the image of `[l, u]`) lies
    /// within `1e-6 r` of `[sigma(v - delta), sigma(v + delta)]`, `delta =
    /// 1e-9 r` (both one-sided values at a jump of `sigma`). Rows are
    /// satisfied up to `1e-12 r`.
    pub(crate) fn check_exact(rule: &dyn ActivationRule, encoding: &MixedIntegerEncoding, l: f64, u: f64, sound_points: &[f64], exact_points: &[f64]) -> Result<(), String> {
        let scale = 1.0 + l.abs() + u.abs();
        let tolerance = 1e-12 * scale;
        let integer_assignments = match encoding {
            MixedIntegerEncoding::Columns { columns, .. } => assignments(columns, &[f64::NAN]),
            MixedIntegerEncoding::Affine { .. } => Vec::new(),
        };
        for &v in sound_points {
            let a = rule.eval(v);
            let admitted = admitted(encoding, v, &integer_assignments, &[a], tolerance);
            if !admitted.iter().any(|&b| (b - a).abs() <= tolerance) {
                return Err(format!("on [{l}, {u}]: ({v}, {a}) is not admitted by {encoding:?}"));
            }
        }
        let (a_lower, a_upper) = (rule.eval(l), rule.eval(u));
        let margin = 0.2 * (a_upper - a_lower) + 1e-3 * scale;
        let grid: Vec<f64> = (0..=80).map(|k| a_lower - margin + (a_upper - a_lower + 2.0 * margin) * k as f64 / 80.0).collect();
        let (delta, allowance) = (1e-9 * scale, 1e-6 * scale);
        for &v in exact_points {
            let (below, above) = (rule.eval((v - delta).max(l)), rule.eval((v + delta).min(u)));
            for a in admitted(encoding, v, &integer_assignments, &grid, tolerance) {
                if a < below.min(above) - allowance || a > below.max(above) + allowance {
                    return Err(format!("on [{l}, {u}]: ({v}, {a}) admitted by {encoding:?} but sigma(v) = {}", rule.eval(v)));
                }
            }
        }
        Ok(())
    }
}
