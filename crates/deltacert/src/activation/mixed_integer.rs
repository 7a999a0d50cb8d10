//! Mixed-integer encodings of one neuron, independent of any solver: the
//! MILP of [`crate::milp`] (docs/method.md §10) translates them into rows.
//!
//! A neuron with pre-activation `v in [l, u]` is either linear there (`a =
//! slope v`, no new column) or gets a continuous column `a` and a binary
//! column `z in {0, 1}` with rows `lower <= c_v v + c_a a + c_z z <= upper`
//! whose feasible `a` are exactly `sigma(v)` for `v in [l, u]`.
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

/// One row `lower <= pre_activation * v + activation * a + binary * z <=
/// upper` of an encoding (`v` the neuron's pre-activation, `a` its activation
/// column, `z` its binary column).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeuronRow {
    /// Coefficient `c_v` of the pre-activation `v`.
    pub pre_activation: f64,
    /// Coefficient `c_a` of the activation column `a`.
    pub activation: f64,
    /// Coefficient `c_z` of the binary column `z`.
    pub binary: f64,
    /// Lower end of the row (may be `-inf`).
    pub lower: f64,
    /// Upper end of the row (may be `+inf`).
    pub upper: f64,
}

/// How a mixed-integer program describes `a = sigma(v)` for `v in [l, u]`.
#[derive(Debug, Clone, PartialEq)]
pub enum MixedIntegerEncoding {
    /// `a = slope v` on the whole interval (no new column).
    Linear {
        /// The slope.
        slope: f64,
    },
    /// A continuous column `a in [activation_lower, activation_upper]`, a
    /// binary column `z in {0, 1}` and the rows, whose feasible points are
    /// exactly `a = sigma(v)` (for some `z`) with `v in [l, u]`.
    Binary {
        /// Lower bound of the column `a`.
        activation_lower: f64,
        /// Upper bound of the column `a`.
        activation_upper: f64,
        /// The rows.
        rows: Vec<NeuronRow>,
    },
}

/// The encoding of `a = max(v, negative_slope v)` (`0 <= negative_slope < 1`)
/// on `v in [lower, upper]` (module docs). The constants `(1 - s) l` and `(1 -
/// s) u` are rounded to nearest, like the MILP's other data; the column's
/// lower end `s l` is rounded down.
pub fn kinked_mixed_integer_encoding(negative_slope: f64, lower: f64, upper: f64) -> MixedIntegerEncoding {
    let s = negative_slope;
    if lower >= 0.0 {
        return MixedIntegerEncoding::Linear { slope: 1.0 };
    }
    if upper <= 0.0 {
        return MixedIntegerEncoding::Linear { slope: s };
    }
    let row = |pre_activation: f64, binary: f64, lower: f64, upper: f64| NeuronRow { pre_activation, activation: 1.0, binary, lower, upper };
    let mut rows = vec![row(-1.0, 0.0, 0.0, f64::INFINITY)]; // a - v >= 0
    if s != 0.0 {
        rows.push(row(-s, 0.0, 0.0, f64::INFINITY)); // a - s v >= 0
    }
    let lower_gap = (1.0 - s) * lower;
    let upper_gap = (1.0 - s) * upper;
    // a - v - (1 - s) l z <= -(1 - s) l   (a <= v - (1 - s) l (1 - z))
    rows.push(row(-1.0, -lower_gap, f64::NEG_INFINITY, -lower_gap));
    // a - s v - (1 - s) u z <= 0   (a <= s v + (1 - s) u z)
    rows.push(row(-s, -upper_gap, f64::NEG_INFINITY, 0.0));
    let activation_lower = if s == 0.0 { 0.0 } else { crate::rounding::mul_down(s, lower) };
    MixedIntegerEncoding::Binary { activation_lower, activation_upper: upper, rows }
}
