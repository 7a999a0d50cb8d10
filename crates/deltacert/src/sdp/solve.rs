//! The S-procedure SDP (docs/method.md §4) in Clarabel's standard form
//!
//! ```text
//! minimise  gamma + s * gamma_x
//! subject to  -M = -Obj + gamma E + gamma_x D - sum_i lambda_i Q_i - sum_j mu_j P_j  is PSD,
//!             lambda >= 0, gamma_x >= 0,
//! ```
//!
//! i.e. `A x + s = b` with `x = (gamma, [gamma_x], lambda, mu)`, the
//! nonnegative cone for `lambda` (and `gamma_x`) and the PSD triangle cone of
//! dimension `d` for `svec(-M)`.
//!
//! Conditioning: the PSD constraint is passed as `-D M D` with
//! `D = diag(m_i)`, the bounds of the coordinates (a congruence: the feasible
//! multipliers are unchanged), and every constraint column is scaled to unit
//! largest entry (its multiplier is scaled back). On the paper's pair
//! quantised to `fixed:8` this took the checked bound from 2.2x to 1.04x the
//! exact worst case (the solver's `M` is far closer to negative semidefinite).

use super::form::SymmetricSparse;
use super::qc::{Constraint, Sense};
use super::svec;
use clarabel::algebra::CscMatrix;
use clarabel::solver::{DefaultSettings, DefaultSolver, IPSolver, SolverStatus, SupportedConeT};
use serde::Serialize;

/// Our view of the solver's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SolveStatus {
    /// Converged to the requested accuracy.
    Solved,
    /// Converged to reduced accuracy (the certificate check decides).
    AlmostSolved,
    /// The SDP has no feasible multipliers (no certificate of this form exists).
    Infeasible,
    /// Iteration or time limit.
    Limit,
    /// Numerical failure or lack of progress.
    NumericalFailure,
    /// The problem could not be set up.
    SetupFailure,
}

/// Multipliers returned by the solver.
#[derive(Debug, Clone, Serialize)]
pub struct Multipliers {
    /// `gamma`.
    pub gamma: f64,
    /// `gamma_x` (independent-inputs mode), else 0.
    pub gamma_x: f64,
    /// One multiplier per constraint, in order.
    pub constraint: Vec<f64>,
}

/// One SDP to solve.
pub struct SdpProblem<'a> {
    /// Dimension `d`.
    pub dim: usize,
    /// Index of the constant coordinate.
    pub constant: usize,
    /// The objective quadratic `Obj` (`||Delta||^2`, or a linear term `c^T Delta`).
    pub objective: &'a SymmetricSparse,
    /// Constraints.
    pub constraints: &'a [Constraint],
    /// `D`, the matrix of `||x1 - x2||^2`, and the weight `s` of `gamma_x` in the objective.
    pub distance: Option<(&'a SymmetricSparse, f64)>,
    /// Bounds `|zeta_i| <= m_i` used to rescale the coordinates (empty: no scaling).
    pub coordinate_scale: &'a [f64],
}

/// Solver outcome with timing and size.
#[derive(Debug, Clone, Serialize)]
pub struct SolveOutcome {
    /// Status.
    pub status: SolveStatus,
    /// Clarabel's own status name.
    pub solver_status: String,
    /// Multipliers (meaningful for `Solved` / `AlmostSolved`).
    pub multipliers: Multipliers,
    /// Solver wall time.
    pub seconds: f64,
    /// Interior-point iterations.
    pub iterations: u32,
}

extern "C" {
    /// OpenBLAS's own thread control (Debian's libopenblas).
    fn openblas_set_num_threads(num_threads: std::os::raw::c_int);
}

/// Sets the number of OpenBLAS threads for the whole process. The library
/// never calls this itself (it is a process-wide setting); programs call it
/// once at start-up. One thread is best here: solves run in parallel (rayon)
/// and the blocks Clarabel hands to LAPACK are small, so OpenBLAS's threads
/// only fight the solver's for the cores (measured: 2.3x less wall time on 30
/// random pairs with one OpenBLAS thread).
pub fn set_blas_threads(threads: usize) {
    let threads = threads.clamp(1, i32::MAX as usize) as std::os::raw::c_int;
    // SAFETY: a plain setter in OpenBLAS, safe to call at any time.
    unsafe { openblas_set_num_threads(threads) };
}

/// Solves the SDP with Clarabel.
pub fn solve(problem: &SdpProblem, time_limit: Option<f64>) -> SolveOutcome {
    let start = std::time::Instant::now();
    let has_distance = problem.distance.is_some();
    let first_multiplier = if has_distance { 2 } else { 1 };
    let n_vars = first_multiplier + problem.constraints.len();
    let nonneg_vars: Vec<usize> = (has_distance.then_some(1))
        .into_iter()
        .chain(problem.constraints.iter().enumerate().filter(|(_, c)| c.sense == Sense::NonNegative).map(|(i, _)| first_multiplier + i))
        .collect();
    let n_nonneg = nonneg_vars.len();
    let psd_len = svec::packed_len(problem.dim);
    let (mut rows, mut cols, mut vals) = (Vec::new(), Vec::new(), Vec::new());
    for (r, &v) in nonneg_vars.iter().enumerate() {
        rows.push(r);
        cols.push(v);
        vals.push(-1.0);
    }
    let coordinate = |i: usize| problem.coordinate_scale.get(i).copied().filter(|m| *m > 0.0 && m.is_finite()).unwrap_or(1.0);
    // entries of D Q D, and the factor making the largest one 1
    let scaled_entries = |matrix: &SymmetricSparse| -> (Vec<(usize, usize, f64)>, f64) {
        let entries: Vec<(usize, usize, f64)> = matrix.entries.iter().map(|&(r, c, v)| (r, c, v * coordinate(r) * coordinate(c))).collect();
        let largest = entries.iter().fold(0.0f64, |m, e| m.max(e.2.abs()));
        (entries, if largest > 0.0 { 1.0 / largest } else { 1.0 })
    };
    let mut column_scale = vec![1.0; n_vars];
    let mut push_matrix = |matrix: &SymmetricSparse, column: usize, sign: f64, normalise: bool| {
        let (entries, factor) = scaled_entries(matrix);
        let factor = if normalise { factor } else { 1.0 };
        column_scale[column] = factor;
        for (r, c, v) in entries {
            rows.push(n_nonneg + svec::index(r, c));
            cols.push(column);
            vals.push(sign * v * factor * svec::scale(r, c));
        }
    };
    // gamma: A column = -svec(E)
    let unit = SymmetricSparse { entries: vec![(problem.constant, problem.constant, 1.0)] };
    push_matrix(&unit, 0, -1.0, false);
    if let Some((distance, _)) = problem.distance {
        push_matrix(distance, 1, -1.0, false);
    }
    for (i, c) in problem.constraints.iter().enumerate() {
        push_matrix(&c.matrix(), first_multiplier + i, 1.0, true);
    }
    let a = CscMatrix::new_from_triplets(n_nonneg + psd_len, n_vars, rows, cols, vals);
    let mut b = vec![0.0; n_nonneg + psd_len];
    for &(r, c, v) in &problem.objective.entries {
        b[n_nonneg + svec::index(r, c)] -= v * coordinate(r) * coordinate(c) * svec::scale(r, c);
    }
    let mut objective = vec![0.0; n_vars];
    objective[0] = 1.0;
    if let Some((_, weight)) = problem.distance {
        objective[1] = weight;
    }
    let p = CscMatrix::zeros((n_vars, n_vars));
    let cones = [SupportedConeT::NonnegativeConeT(n_nonneg), SupportedConeT::PSDTriangleConeT(problem.dim)];
    let cones: Vec<_> = cones.into_iter().filter(|c| !matches!(c, SupportedConeT::NonnegativeConeT(0))).collect();
    // max_threads 1: Clarabel's factorisation runs on the calling thread. With
    // its default (rayon's pool) a solve started on its own thread while the
    // pool's workers wait for it (`solve_on_time` inside parallel solves) was
    // starved until the time limit; solves already run in parallel.
    let settings = DefaultSettings { verbose: false, time_limit: time_limit.unwrap_or(f64::INFINITY), max_iter: 200, max_threads: 1, ..DefaultSettings::default() };
    let empty = Multipliers { gamma: f64::NAN, gamma_x: 0.0, constraint: Vec::new() };
    let mut solver = match DefaultSolver::new(&p, &objective, &a, &b, &cones, settings) {
        Ok(s) => s,
        Err(e) => {
            return SolveOutcome { status: SolveStatus::SetupFailure, solver_status: format!("{e:?}"), multipliers: empty, seconds: start.elapsed().as_secs_f64(), iterations: 0 };
        }
    };
    solver.solve();
    let solution = &solver.solution;
    let status = match solution.status {
        SolverStatus::Solved => SolveStatus::Solved,
        SolverStatus::AlmostSolved => SolveStatus::AlmostSolved,
        SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible | SolverStatus::DualInfeasible | SolverStatus::AlmostDualInfeasible => SolveStatus::Infeasible,
        SolverStatus::MaxIterations | SolverStatus::MaxTime => SolveStatus::Limit,
        _ => SolveStatus::NumericalFailure,
    };
    let x = &solution.x;
    let unscaled: Vec<f64> = x.iter().zip(&column_scale).map(|(v, f)| v * f).collect();
    let multipliers = Multipliers { gamma: unscaled[0], gamma_x: if has_distance { unscaled[1] } else { 0.0 }, constraint: unscaled[first_multiplier..].to_vec() };
    SolveOutcome { status, solver_status: format!("{:?}", solution.status), multipliers, seconds: start.elapsed().as_secs_f64(), iterations: solution.iterations }
}
