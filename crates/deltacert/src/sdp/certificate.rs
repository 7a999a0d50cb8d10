//! The certificate check (docs/method.md §5): the solver's multipliers are not
//! trusted. In f64 we rebuild
//!
//! ```text
//! M = Obj - gamma E - gamma_x D + sum_i lambda_i Q_i + sum_j mu_j P_j      (lambda clipped at 0)
//! ```
//!
//! and prove `-M + t I` positive definite by a successful Cholesky
//! factorisation of `-M + t I - alpha I`, where `alpha` is Rump's bound for
//! the rounding error of floating-point Cholesky, `alpha = gamma_{d+4} /
//! (1 - gamma_{d+4}) * trace(-M + t I)` (S. M. Rump, "Verification of positive
//! definiteness", BIT 2006, with `gamma_{n+1}` for the textbook algorithm:
//! every entry of the factor is a sum of at most `n + 1` rounded terms in any
//! order, then one division. The factorisation used is blocked and divides
//! by multiplying with a rounded reciprocal, one rounding more per entry;
//! three more are allowed for, at a cost of a few units in the last place). The entries of `M` themselves carry rounding
//! error, bounded entrywise by `gamma_{k+2} * (|Obj| + |gamma| E + gamma_x |D| +
//! sum |lambda_i| |Q_i| + ...)` with `k` the number of contributions; its
//! Frobenius norm `e` is added to `t`. Then for every feasible `zeta`
//!
//! ```text
//! Obj(zeta) <= gamma + gamma_x ||x1 - x2||^2 + (t + e) R^2 + sum_i lambda_i slack_i + sum_j |mu_j| slack_j .
//! ```
//!
//! Every quantity that enters the reported bound is computed with directed
//! rounding ([`crate::rounding`]): sums of the final bound are rounded up at
//! each step, so cancellation between `gamma` and the padding terms cannot
//! shrink the bound below its exact value. Any non-finite multiplier, matrix
//! entry, eigenvalue or intermediate refuses the certificate.
//!
//! A second, scaled variant proves `-M + t W` positive definite with
//! `W = diag(1 / m_i^2)` (`|zeta_i| <= m_i`), which costs `t * d` instead of
//! `t R^2`: better when the violation of the solver's `M` sits on coordinates
//! much smaller than `R`. A third weights the shift by the eigenvector of
//! `M`'s largest eigenvalue where that is positive ([`eigenvector_weights`]).
//! All are sound; the smallest bound is reported.

use super::form::SymmetricSparse;
use super::qc::{Constraint, Sense};
use super::solve::Multipliers;
use crate::rounding::{accumulated_error, add_up, div_up, mul_up, rounding_gamma, sub_down, sum_up};
use faer::{Mat, Side};
use serde::Serialize;

/// What the check proved.
#[derive(Debug, Clone, Serialize)]
pub struct CheckedBound {
    /// The certified value `gamma_cert` with `Obj(zeta) <= gamma_cert + gamma_x ||x1 - x2||^2`.
    pub value: f64,
    /// The solver's `gamma`.
    pub solver_gamma: f64,
    /// `gamma_x` (clipped at 0).
    pub gamma_x: f64,
    /// Largest eigenvalue (computed) of the rebuilt `M` scaled by the
    /// shift's weights, `W^{-1/2} M W^{-1/2}` (`M`'s own for the uniform shift).
    pub max_eigenvalue: f64,
    /// The shift `t` proven by Cholesky.
    pub shift: f64,
    /// Bound `e` on the assembly rounding of `M`.
    pub assembly_error: f64,
    /// `R^2`.
    pub radius_squared: f64,
    /// `"uniform"` (`t I`), `"scaled"` (`t diag(1/m_i^2)`) or `"eigenvector"`
    /// (`t diag(|u_i| / m_i + rho)`, [`eigenvector_weights`]): which shift gave the bound.
    pub shift_kind: &'static str,
    /// `sum lambda_i slack_i + sum |mu_j| slack_j`.
    pub constraint_slack: f64,
    /// Cholesky attempts made.
    pub attempts: u32,
    /// The diagonal `t W` plus the uniform rounding terms, per coordinate:
    /// with it `-M + diag` was proven positive definite (a start for
    /// magnitude multipliers, not part of the report).
    #[serde(skip)]
    pub diagonal_shift: Vec<f64>,
}

/// Why a certificate was refused.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// Human-readable reason.
    pub reason: String,
}

/// The largest lifted dimension at which the check also tries
/// [`eigenvector_weights`] (one more eigendecomposition, with vectors).
const EIGENVECTOR_WEIGHTS_MAX_DIM: usize = 400;

/// Weights `w_i = |u_i| / m_i + rho` for the shift `t W`, from the
/// eigenvector `u` of the largest eigenvalue `lambda_1 > 0` of `M`: None when
/// `M` has none (its shift is then rounding, which the other variants cover).
///
/// If the violation is `lambda_1 u u^T`, then `diag(tau) >= lambda_1 u u^T`
/// exactly when `lambda_1 sum_i u_i^2 / tau_i <= 1`, and the cost
/// `sum_i tau_i m_i^2` is smallest at `tau_i = lambda_1 S |u_i| / m_i` with
/// `S = sum_j |u_j| m_j`: it costs `lambda_1 S^2`, against `lambda_1 R^2`
/// for `t I` and `lambda_1 d sum_i u_i^2 m_i^2` for `t diag(1/m_i^2)`, and by
/// Cauchy-Schwarz never more than either. The floor `rho` leaves room for
/// the next eigenvalue and the rounding of the Cholesky test (`trace`
/// times `gamma_{d+4}`) in the other directions. These weights only choose
/// `W`; any positive `W` is sound (§5 of docs/method.md), and the Cholesky
/// test decides.
fn eigenvector_weights(m: &Mat<f64>, coordinate_magnitude: &[f64]) -> Option<Vec<f64>> {
    let dim = m.nrows();
    let eigen = m.self_adjoint_eigen(Side::Lower).ok()?;
    let values = eigen.S().column_vector();
    // nondecreasing: the largest last
    let largest = values[dim - 1];
    let next = if dim >= 2 { values[dim - 2] } else { 0.0 };
    if !(largest > 0.0 && largest.is_finite() && next.is_finite()) {
        return None;
    }
    let u = eigen.U().col(dim - 1);
    let spread: f64 = (0..dim).filter(|&i| coordinate_magnitude[i] > 0.0).map(|i| u[i].abs() * coordinate_magnitude[i]).sum();
    let trace: f64 = (0..dim).map(|i| m[(i, i)].abs()).sum();
    let rho = 2.0 * (next.max(0.0) + rounding_gamma(dim + 4) * trace) / (largest * spread);
    let weights: Vec<f64> = (0..dim).map(|i| if coordinate_magnitude[i] > 0.0 { u[i].abs() / coordinate_magnitude[i] + rho } else { 1.0 }).collect();
    (spread > 0.0 && weights.iter().all(|w| w.is_finite() && *w > 0.0)).then_some(weights)
}

fn add(m: &mut Mat<f64>, abs: &mut Mat<f64>, count: &mut Mat<f64>, matrix: &SymmetricSparse, weight: f64) {
    add_entries(m, abs, count, weight, |visit| matrix.entries.iter().for_each(|&(r, c, v)| visit(r, c, v)));
}

/// Adds `weight * Q` given as upper-triangle contributions.
fn add_entries(m: &mut Mat<f64>, abs: &mut Mat<f64>, count: &mut Mat<f64>, weight: f64, entries: impl FnOnce(&mut dyn FnMut(usize, usize, f64))) {
    if weight == 0.0 {
        return;
    }
    entries(&mut |r, c, v| {
        let value = weight * v;
        m[(r, c)] += value;
        abs[(r, c)] += value.abs();
        count[(r, c)] += 1.0;
        if r != c {
            m[(c, r)] += value;
            abs[(c, r)] += value.abs();
            count[(c, r)] += 1.0;
        }
    });
}

/// Rebuilds `M` from the multipliers and proves the bound, or refuses.
pub fn check(
    dim: usize,
    constant: usize,
    objective: &SymmetricSparse,
    constraints: &[Constraint],
    distance: Option<&SymmetricSparse>,
    multipliers: &Multipliers,
    coordinate_magnitude: &[f64],
) -> Result<CheckedBound, Refusal> {
    check_by(dim, constant, objective, constraints, distance, multipliers, coordinate_magnitude, None)
}

/// [`check`] that stops at `deadline`: no eigenvalue computation or
/// Cholesky factorisation starts past it (one of them, under a second at
/// d ~ 1000, may end past it). A bound proven before then is returned;
/// otherwise the check refuses, naming the time limit.
#[allow(clippy::too_many_arguments)]
pub fn check_by(
    dim: usize,
    constant: usize,
    objective: &SymmetricSparse,
    constraints: &[Constraint],
    distance: Option<&SymmetricSparse>,
    multipliers: &Multipliers,
    coordinate_magnitude: &[f64],
    deadline: Option<std::time::Instant>,
) -> Result<CheckedBound, Refusal> {
    let past_deadline = || deadline.is_some_and(|d| std::time::Instant::now() >= d);
    let out_of_time = || Refusal { reason: "the time limit was reached during the certificate check".into() };
    let radius_squared = sum_up(coordinate_magnitude.iter().map(|m| mul_up(*m, *m)));
    let gamma = multipliers.gamma;
    if !gamma.is_finite() || !multipliers.gamma_x.is_finite() || multipliers.constraint.len() != constraints.len() || multipliers.constraint.iter().any(|v| !v.is_finite()) {
        return Err(Refusal { reason: "solver returned non-finite or missing multipliers".into() });
    }
    if !radius_squared.is_finite() {
        return Err(Refusal { reason: "the coordinate bounds are not finite".into() });
    }
    let gamma_x = multipliers.gamma_x.max(0.0);
    let mut m = Mat::<f64>::zeros(dim, dim);
    let mut abs = Mat::<f64>::zeros(dim, dim);
    let mut count = Mat::<f64>::zeros(dim, dim);
    add(&mut m, &mut abs, &mut count, objective, 1.0);
    add(&mut m, &mut abs, &mut count, &SymmetricSparse { entries: vec![(constant, constant, 1.0)] }, -gamma);
    if let Some(d) = distance {
        add(&mut m, &mut abs, &mut count, d, -gamma_x);
    }
    let mut constraint_slack: f64 = 0.0;
    for (c, &raw) in constraints.iter().zip(&multipliers.constraint) {
        let weight = match c.sense {
            Sense::NonNegative => raw.max(0.0),
            Sense::Zero => raw,
        };
        if weight == 0.0 {
            // a constraint left out adds nothing, exactly: not `0 * inf`,
            // which would refuse every certificate of a set with one
            // unusable constraint (a radius whose square overflows)
            continue;
        }
        add_entries(&mut m, &mut abs, &mut count, weight, |visit| c.for_each_entry(visit));
        constraint_slack = add_up(constraint_slack, mul_up(weight.abs(), c.slack));
    }
    // entrywise assembly error: each entry is a sum of `count` rounded
    // products; its Frobenius norm, rounded up
    let mut assembly_sq: f64 = 0.0;
    for r in 0..dim {
        for c in 0..dim {
            if !m[(r, c)].is_finite() {
                return Err(Refusal { reason: "the rebuilt matrix has a non-finite entry".into() });
            }
            let e = accumulated_error(count[(r, c)] as usize + 2, abs[(r, c)]);
            assembly_sq = add_up(assembly_sq, mul_up(e, e));
        }
    }
    let assembly_error = assembly_sq.sqrt().next_up();
    if !assembly_error.is_finite() || !constraint_slack.is_finite() {
        return Err(Refusal { reason: "the rounding bounds of the rebuilt matrix are not finite".into() });
    }

    let uniform = vec![1.0; dim];
    // the scaled variant: weights 1/m_i^2 (coordinates known to be 0 keep weight 1)
    let scaled: Vec<f64> = coordinate_magnitude.iter().map(|&mi| if mi > 0.0 { 1.0 / (mi * mi) } else { 1.0 }).collect();
    let mut best: Option<CheckedBound> = None;
    let mut last_eigenvalue = f64::NAN;
    // proves `-M + t W` positive definite for the smallest `t` it can and
    // keeps the bound when it is the best so far; the largest eigenvalue of
    // `W^{-1/2} M W^{-1/2}` it started from
    let mut prove_with = |kind: &'static str, weights: &[f64]| -> Result<f64, Refusal> {
        // cost of a unit shift: sum_i w_i m_i^2 (R^2 for the uniform one)
        let cost = if kind == "uniform" { radius_squared } else { sum_up(weights.iter().zip(coordinate_magnitude).map(|(w, mi)| mul_up(mul_up(*w, *mi), *mi))) };
        if !cost.is_finite() || weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) || past_deadline() {
            return Ok(f64::NAN);
        }
        // largest eigenvalue of W^{-1/2} M W^{-1/2}: the smallest t with -M + t W >= 0
        let sqrt_inv: Vec<f64> = weights.iter().map(|w| 1.0 / w.sqrt()).collect();
        let normalised = Mat::<f64>::from_fn(dim, dim, |r, c| m[(r, c)] * sqrt_inv[r] * sqrt_inv[c]);
        let eigenvalues = normalised.self_adjoint_eigenvalues(Side::Lower).map_err(|e| Refusal { reason: format!("eigenvalue computation failed: {e:?}") })?;
        if eigenvalues.iter().any(|e| e.is_nan()) {
            return Err(Refusal { reason: "eigenvalue computation gave NaN".into() });
        }
        let max_eigenvalue = eigenvalues.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // the first shift tried: a little above the computed largest
        // eigenvalue (which is itself inexact). The factors only choose where
        // the search starts and how fast it grows; soundness rests on the
        // Cholesky test alone, whatever shift it succeeds with.
        // (the eigenvector-weighted variant starts relative to its positive
        // eigenvalue: tiny weights make the normalised diagonal huge on
        // coordinates the violation does not touch)
        // (the eigenvector-weighted variant climbs from its positive
        // eigenvalue in steps of a factor 1 + 1e-6 4^k: its cost is about
        // proportional to the shift, and tiny weights make the normalised
        // diagonal huge on coordinates the violation does not touch)
        let relative = kind == "eigenvector" && max_eigenvalue > 0.0;
        let mut relative_step = 1e-6;
        let margin = 1e-13 * (0..dim).map(|i| normalised[(i, i)].abs()).fold(1e-300, f64::max);
        let mut shift = if relative { max_eigenvalue * (1.0 + relative_step) } else { max_eigenvalue.max(0.0) * (1.0 + 1e-9) + margin };
        for attempt in 1..=if relative { 60u32 } else { 40 } {
            if past_deadline() {
                break;
            }
            // A = -M + shift W; prove A PD via Cholesky of A - alpha I (Rump):
            // alpha >= gamma_{d+4} / (1 - gamma_{d+4}) trace(A) plus the
            // underflow term 4 (d + 1) (2 (d + 1) + max_i a_ii) eta,
            // eta = 2^-1074, all rounded up (trace with |a_ii| so its sign
            // cannot cancel)
            let diagonal_magnitude: Vec<f64> = (0..dim).map(|i| add_up(m[(i, i)].abs(), mul_up(shift, weights[i]))).collect();
            let trace = sum_up(diagonal_magnitude.iter().copied());
            let g = rounding_gamma(dim + 4);
            let largest_diagonal = diagonal_magnitude.iter().copied().fold(0.0, f64::max);
            let d1 = (dim + 1) as f64;
            let underflow = mul_up(mul_up(4.0 * d1, add_up(2.0 * d1, largest_diagonal)), 5e-324);
            let alpha = add_up(mul_up(div_up(g, sub_down(1.0, g)), trace), underflow.max(5e-324));
            if !alpha.is_finite() {
                break;
            }
            let a = Mat::<f64>::from_fn(dim, dim, |r, c| if r == c { -m[(r, c)] + shift * weights[r] - alpha } else { -m[(r, c)] });
            if a.llt(Side::Lower).is_ok() {
                // the diagonal of `a` was computed with two or three rounded
                // operations (`-m + shift w - alpha`, `shift w` rounded): at
                // most gamma_3 <= 2 EPSILON of the magnitudes; covered by a
                // uniform extra shift
                let diagonal_rounding = mul_up(2.0 * f64::EPSILON, diagonal_magnitude.iter().map(|d| add_up(*d, alpha)).fold(0.0, f64::max));
                // every term is an upper bound and every addition rounds up:
                // cancellation against a negative gamma cannot lose the padding
                let value = add_up(add_up(add_up(gamma, mul_up(shift, cost)), mul_up(add_up(diagonal_rounding, assembly_error), radius_squared)), constraint_slack);
                if !value.is_finite() {
                    break;
                }
                if best.as_ref().is_none_or(|b| value < b.value) {
                    best = Some(CheckedBound {
                        value,
                        solver_gamma: gamma,
                        gamma_x,
                        max_eigenvalue,
                        shift,
                        assembly_error,
                        radius_squared,
                        shift_kind: kind,
                        constraint_slack,
                        attempts: attempt,
                        diagonal_shift: weights.iter().map(|w| shift * w + alpha + diagonal_rounding + assembly_error).collect(),
                    });
                }
                break;
            }
            if relative {
                relative_step *= 4.0;
                shift = max_eigenvalue * (1.0 + relative_step);
            } else {
                shift = shift * 2.0 + 10.0 * margin;
            }
        }
        Ok(max_eigenvalue)
    };
    for (kind, weights) in [("uniform", &uniform), ("scaled", &scaled)] {
        if past_deadline() {
            break;
        }
        // M's own largest eigenvalue (the uniform variant's) names a refusal
        let eigenvalue = prove_with(kind, weights)?;
        if last_eigenvalue.is_nan() {
            last_eigenvalue = eigenvalue;
        }
    }
    // the eigenvector-weighted variant, where the solver left `M` with a
    // positive eigenvalue (an interior-point solve ended "almost solved")
    if let Some(weights) = (dim <= EIGENVECTOR_WEIGHTS_MAX_DIM && !past_deadline()).then(|| eigenvector_weights(&m, coordinate_magnitude)).flatten() {
        // (a failure here, such as weights so small that the normalised
        // matrix overflows, keeps the bound the other variants proved)
        let _ = prove_with("eigenvector", &weights);
    }
    if let Some(b) = best {
        return Ok(b);
    }
    if past_deadline() {
        return Err(out_of_time());
    }
    let max_eigenvalue = last_eigenvalue;
    Err(Refusal { reason: format!("could not prove -M + tI positive definite (largest eigenvalue of M {max_eigenvalue:.3e})") })
}
