//! The certificate check (method.md §5): the solver's multipliers are not
//! trusted. In f64 we rebuild
//!
//! ```text
//! M = Obj - gamma E - gamma_x D + sum_i lambda_i Q_i + sum_j mu_j P_j      (lambda clipped at 0)
//! ```
//!
//! and prove `-M + t I` positive definite by a successful Cholesky
//! factorisation of `-M + t I - alpha I`, where `alpha` is Rump's bound for
//! the rounding error of floating-point Cholesky, `alpha = gamma_{d+2} /
//! (1 - gamma_{d+2}) * trace(-M + t I)` (S. M. Rump, "Verification of positive
//! definiteness", BIT 2006). The entries of `M` themselves carry rounding
//! error, bounded entrywise by `gamma_{k+2} * (|Obj| + |gamma| E + gamma_x |D| +
//! sum |lambda_i| |Q_i| + ...)` with `k` the number of contributions; its
//! Frobenius norm `e` is added to `t`. Then for every feasible `zeta`
//!
//! ```text
//! Obj(zeta) <= gamma + gamma_x ||x1 - x2||^2 + (t + e) R^2 + sum_i lambda_i slack_i + sum_j |mu_j| slack_j .
//! ```
//!
//! A second, scaled variant proves `-M + t W` positive definite with
//! `W = diag(1 / m_i^2)` (`|zeta_i| <= m_i`), which costs `t * d` instead of
//! `t R^2`: better when the violation of the solver's `M` sits on coordinates
//! much smaller than `R`. Both are sound; the smaller bound is reported.

use super::form::SymmetricSparse;
use super::qc::{Constraint, Sense};
use super::solve::Multipliers;
use crate::bounds::rounding_gamma;
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
    /// Largest eigenvalue of the rebuilt `M` (computed).
    pub max_eigenvalue: f64,
    /// The shift `t` proven by Cholesky.
    pub shift: f64,
    /// Bound `e` on the assembly rounding of `M`.
    pub assembly_error: f64,
    /// `R^2`.
    pub radius_squared: f64,
    /// `"uniform"` (`t I`) or `"scaled"` (`t diag(1/m_i^2)`): which shift gave the bound.
    pub shift_kind: &'static str,
    /// `sum lambda_i slack_i + sum |mu_j| slack_j`.
    pub constraint_slack: f64,
    /// Cholesky attempts made.
    pub attempts: u32,
}

/// Why a certificate was refused.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// Human-readable reason.
    pub reason: String,
}

fn add(m: &mut Mat<f64>, abs: &mut Mat<f64>, count: &mut Mat<f64>, matrix: &SymmetricSparse, weight: f64) {
    if weight == 0.0 {
        return;
    }
    for &(r, c, v) in &matrix.entries {
        let value = weight * v;
        m[(r, c)] += value;
        abs[(r, c)] += value.abs();
        count[(r, c)] += 1.0;
        if r != c {
            m[(c, r)] += value;
            abs[(c, r)] += value.abs();
            count[(c, r)] += 1.0;
        }
    }
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
    let radius_squared = coordinate_magnitude.iter().map(|m| m * m).sum::<f64>() * (1.0 + 4.0 * dim as f64 * f64::EPSILON);
    let gamma = multipliers.gamma;
    if !gamma.is_finite() || multipliers.constraint.len() != constraints.len() || multipliers.constraint.iter().any(|v| !v.is_finite()) {
        return Err(Refusal { reason: "solver returned non-finite or missing multipliers".into() });
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
    let mut constraint_slack = 0.0;
    for (c, &raw) in constraints.iter().zip(&multipliers.constraint) {
        let weight = match c.sense {
            Sense::NonNegative => raw.max(0.0),
            Sense::Zero => raw,
        };
        add(&mut m, &mut abs, &mut count, &c.matrix, weight);
        constraint_slack += weight.abs() * c.slack;
    }
    constraint_slack *= 1.0 + rounding_gamma(constraints.len() + 1);
    // entrywise assembly error: each entry is a sum of `count` rounded products
    let mut assembly_sq = 0.0;
    for r in 0..dim {
        for c in 0..dim {
            let e = rounding_gamma(count[(r, c)] as usize + 2) * abs[(r, c)];
            assembly_sq += e * e;
        }
    }
    let assembly_error = assembly_sq.sqrt() * 1.001 + f64::MIN_POSITIVE;

    let uniform = vec![1.0; dim];
    // the scaled variant: weights 1/m_i^2 (coordinates known to be 0 keep weight 1)
    let scaled: Vec<f64> = coordinate_magnitude.iter().map(|&mi| if mi > 0.0 { 1.0 / (mi * mi) } else { 1.0 }).collect();
    // cost of a unit shift: sum_i w_i m_i^2 (R^2 for the uniform one)
    let scaled_cost: f64 = scaled.iter().zip(coordinate_magnitude).map(|(w, mi)| w * mi * mi).sum::<f64>() * (1.0 + 4.0 * dim as f64 * f64::EPSILON);
    let mut best: Option<CheckedBound> = None;
    let mut last_eigenvalue = f64::NAN;
    for (kind, weights, cost) in [("uniform", &uniform, radius_squared), ("scaled", &scaled, scaled_cost)] {
        // largest eigenvalue of W^{-1/2} M W^{-1/2}: the smallest t with -M + t W >= 0
        let sqrt_inv: Vec<f64> = weights.iter().map(|w| 1.0 / w.sqrt()).collect();
        let normalised = Mat::<f64>::from_fn(dim, dim, |r, c| m[(r, c)] * sqrt_inv[r] * sqrt_inv[c]);
        let eigenvalues = normalised.self_adjoint_eigenvalues(Side::Lower).map_err(|e| Refusal { reason: format!("eigenvalue computation failed: {e:?}") })?;
        let max_eigenvalue = eigenvalues.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        last_eigenvalue = max_eigenvalue;
        let scale = (0..dim).map(|i| normalised[(i, i)].abs()).fold(1e-300, f64::max);
        let mut shift = max_eigenvalue.max(0.0) * (1.0 + 1e-9) + 1e-13 * scale;
        for attempt in 1..=40u32 {
            // A = -M + shift W; prove A PD via Cholesky of A - alpha I (Rump)
            let trace: f64 = (0..dim).map(|i| -m[(i, i)] + shift * weights[i]).sum();
            let g = rounding_gamma(dim + 2);
            let alpha = (g / (1.0 - g)) * trace.abs() * 1.01 + 1e-290;
            let a = Mat::<f64>::from_fn(dim, dim, |r, c| if r == c { -m[(r, c)] + shift * weights[r] - alpha } else { -m[(r, c)] });
            if a.llt(Side::Lower).is_ok() {
                // the diagonal of `a` was rounded once more: cover it with a uniform extra shift
                let diagonal_rounding = 2.0 * f64::EPSILON * (0..dim).map(|i| m[(i, i)].abs() + shift * weights[i] + alpha).fold(0.0, f64::max);
                let value = gamma + shift * cost * (1.0 + 4.0 * f64::EPSILON) + (diagonal_rounding + assembly_error) * radius_squared + constraint_slack;
                let value = value + 4.0 * f64::EPSILON * value.abs();
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
                    });
                }
                break;
            }
            shift = shift * 2.0 + 1e-12 * scale;
        }
    }
    if let Some(b) = best {
        return Ok(b);
    }
    let max_eigenvalue = last_eigenvalue;
    Err(Refusal { reason: format!("could not prove -M + tI positive definite (largest eigenvalue of M {max_eigenvalue:.3e})") })
}
