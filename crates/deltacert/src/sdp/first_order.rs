//! A first-order solver for the S-procedure SDP (docs/method.md §4b):
//! memory `O(d^2)` plus the constraints' factors (no `d^4` Newton system),
//! one Cholesky factorisation per step, anytime.
//!
//! For multipliers `y = (gamma_x, lambda >= 0, mu)` let
//! `N(y) = Obj - gamma_x D + sum_i lambda_i Q_i + sum_j mu_j P_j`, split at the
//! constant coordinate `c` (the last one) as `N = [[A, b], [b^T, n_cc]]`. The
//! smallest `gamma` with `M = N - gamma E` negative semidefinite is, when
//! `A` is negative definite (Schur complement),
//!
//! ```text
//! gamma*(y) = n_cc + b^T (-A)^{-1} b = max_{zeta : zeta_c = 1} zeta^T N(y) zeta,
//! ```
//!
//! the Lagrangian dual function of the quadratic program, convex in `y`
//! (a maximum of functions linear in `y`), differentiable where `A < 0` with
//! gradient `zeta*^T Q_i zeta*` at the maximiser `zeta* = ((-A)^{-1} b, 1)`.
//! The SDP is `min_y gamma*(y) + s gamma_x + sum_i lambda_i slack_i`: we
//! minimise it by spectral projected gradient steps (Barzilai-Borwein step
//! lengths, a nonmonotone Armijo search, projection onto the sign
//! constraints; Birgin, Martinez and Raydan 2000). A trial point where the
//! Cholesky factorisation of `-A` fails is outside the domain and is
//! treated as an infinite value (the search backtracks).
//!
//! Start: the magnitude constraints `m_t^2 - zeta_t^2 >= 0`
//! ([`super::qc::magnitude_constraints`]) with Gershgorin multipliers make
//! `-A` strictly diagonally dominant, so the first iterate is in the domain.
//! A given start (propagation's certificate) in the domain gets its own
//! descent first, a quarter of the time; the best point of both is returned.
//!
//! Nothing here is trusted: the returned `(gamma, y)` goes to the
//! certificate check ([`super::certificate`]), which rebuilds `M` in f64
//! and proves `-M + t W` positive definite with outward rounding. Every
//! iterate is a candidate certificate; the best one found is returned.
//! Work is in the scaled coordinates `zeta = D zeta_hat`, `D = diag(m_t)`,
//! and each multiplier is measured in units that give its constraint unit
//! scaled norm (conditioning only).

use super::form::SymmetricSparse;
use super::qc::{Constraint, Family, Quadratic, Sense};
use super::solve::{Multipliers, SdpProblem, SolveOutcome, SolveStatus};
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

/// The lifted dimension from which long factors are packed ([`Packed`]);
/// below it the scattered loops are cheap, and small problems keep their
/// summation order.
const PACK_MIN_DIM: usize = 64;

/// Projected gradient steps per barrier weight at most, where few steps
/// are left; with more, each weight gets its share of them ([`descend`]).
/// Halving the weight every 500 steps whatever the steps left ends the
/// barrier path early on small problems: on the paper's quantised pair
/// (lifting on optimised slopes) the descent then crawled from 4.051 after
/// 5,000 steps to 4.046 after 80,000, where the interior point reaches
/// 3.973; with the weights spread over the steps, 3.963 after 80,000.
const INNER_STEPS: usize = 500;

/// Iteration settings.
#[derive(Debug, Clone, Copy)]
pub struct FirstOrderSettings {
    /// Upper limit on steps (the time limit usually ends the run first).
    pub max_iterations: usize,
    /// Stop when the projected gradient (unit step, normalised units) is
    /// below this.
    pub relative_tolerance: f64,
    /// Stop as soon as an iterate's bound (raw units: `gamma + gamma_x
    /// diameter^2 + ...`, the value the check certifies up to its rounding
    /// shift) is at most this: decide mode needs no better (None: run to
    /// the limit).
    pub stop_at_bound: Option<f64>,
    /// Descend from the given start only, with all the time and steps (no
    /// descent from the Gershgorin point): a polish of another solver's
    /// multipliers.
    pub start_only: bool,
}

impl Default for FirstOrderSettings {
    fn default() -> Self {
        FirstOrderSettings { max_iterations: 200_000, relative_tolerance: 1e-6, stop_at_bound: None, start_only: false }
    }
}

/// One optimisation variable: `gamma_x` or a constraint's multiplier.
struct Variable<'a> {
    term: Term<'a>,
    /// Its weight in the bound's linear part.
    cost: f64,
    /// Projected onto `>= 0`.
    nonnegative: bool,
    /// Raw value = `unit * x`.
    unit: f64,
}

enum Term<'a> {
    /// `-D` (the distance matrix of independent inputs).
    Distance(&'a SymmetricSparse),
    Constraint(&'a Constraint),
}

/// The dual function in scaled, normalised units.
struct Dual<'a> {
    dim: usize,
    constant: usize,
    scale: Vec<f64>,
    objective: &'a SymmetricSparse,
    /// `B0`, the objective's size: values are reported divided by it.
    size: f64,
    variables: Vec<Variable<'a>>,
    /// The product constraints with long factors, as dense columns.
    packed: Packed,
    /// Weight `nu` of the barrier `-nu log det(-A)` (normalised units).
    barrier: std::cell::Cell<f64>,
}

/// Product constraints whose factors are long (first-layer neurons read
/// every input), packed as the columns of `P = D [p_1 .. p_m]` and `Q = D
/// [q_1 .. q_m]` (scaled), so that their share of the assembly is one matrix
/// product `P diag(w) Q^T`, and the barrier's trace terms `q_k^T S^{-1} p_k`
/// and the curvature's `p_k^T S^{-1} p_k`, ... are column dots of `S^{-1} P`
/// and `S^{-1} Q` (`S = -A` on the coordinates other than the constant, the
/// last one). Scattered loops over `|p| |q|` entries cost seconds per step
/// at `d ~ 1000`; these products are blocked and vectorised.
struct Packed {
    /// The variable of each column.
    variables: Vec<usize>,
    /// `D p_k` as column `k` (`d x m`).
    p: Mat<f64>,
    /// `D q_k` as column `k`.
    q: Mat<f64>,
    /// Whether variable `i` is packed.
    is_packed: Vec<bool>,
}

impl Packed {
    /// Packs the product constraints with `|p| + |q| >= d / 4` terms (when
    /// the constant coordinate is the last one, as the lifting makes it).
    fn new(variables: &[Variable], dim: usize, constant: usize, scale: &[f64]) -> Packed {
        let long = |v: &Variable| match v.term {
            Term::Constraint(c) => match &c.quadratic {
                Quadratic::Product(p, q) => 4 * (p.terms.len() + q.terms.len()) >= dim,
                Quadratic::Matrix(_) => false,
            },
            Term::Distance(_) => false,
        };
        let chosen: Vec<usize> = if constant + 1 == dim && dim >= PACK_MIN_DIM { (0..variables.len()).filter(|&i| long(&variables[i])).collect() } else { Vec::new() };
        let mut p = Mat::<f64>::zeros(dim, chosen.len());
        let mut q = Mat::<f64>::zeros(dim, chosen.len());
        let mut is_packed = vec![false; variables.len()];
        for (column, &i) in chosen.iter().enumerate() {
            is_packed[i] = true;
            if let Term::Constraint(c) = variables[i].term {
                if let Quadratic::Product(pf, qf) = &c.quadratic {
                    for &(t, a) in &pf.terms {
                        p[(t, column)] += a * scale[t];
                    }
                    for &(t, b) in &qf.terms {
                        q[(t, column)] += b * scale[t];
                    }
                }
            }
        }
        Packed { variables: chosen, p, q, is_packed }
    }
}

/// The dual function's value and gradient at a point of its domain.
struct Evaluation {
    /// `gamma*(y) / B0`.
    gamma: f64,
    /// The bound `(gamma* + linear part) / B0`.
    bound: f64,
    /// What is minimised: the bound plus the barrier term.
    value: f64,
    gradient: Vec<f64>,
    /// Diagonal of the Hessian of `value` (a preconditioner).
    curvature: Vec<f64>,
}

impl Dual<'_> {
    /// `D N(x) D / B0`, dense.
    fn assemble(&self, x: &[f64]) -> Mat<f64> {
        // accumulate G with N = (G + G^T) / 2
        let mut g = Mat::<f64>::zeros(self.dim, self.dim);
        let s = &self.scale;
        add_sparse(&mut g, self.objective, 1.0 / self.size, s);
        for (index, (variable, &value)) in self.variables.iter().zip(x).enumerate() {
            if value == 0.0 || self.packed.is_packed[index] {
                continue;
            }
            let weight = value * variable.unit / self.size;
            match variable.term {
                Term::Distance(matrix) => add_sparse(&mut g, matrix, -weight, s),
                Term::Constraint(c) => match &c.quadratic {
                    Quadratic::Product(p, q) => {
                        // G += p q^T, so that (G + G^T) / 2 gains sym(p q^T)
                        for &(i, a) in &p.terms {
                            let left = weight * a * s[i];
                            for &(j, b) in &q.terms {
                                g[(i, j)] += left * b * s[j];
                            }
                        }
                    }
                    Quadratic::Matrix(m) => add_sparse(&mut g, m, weight, s),
                },
            }
        }
        if !self.packed.variables.is_empty() {
            // G += P diag(w) Q^T
            let weights: Vec<f64> = self.packed.variables.iter().map(|&i| x[i] * self.variables[i].unit / self.size).collect();
            let weighted = Mat::<f64>::from_fn(self.dim, weights.len(), |r, k| self.packed.p[(r, k)] * weights[k]);
            faer::linalg::matmul::matmul(g.as_mut(), faer::Accum::Add, weighted.as_ref(), self.packed.q.transpose(), 1.0, faer::Par::Seq);
        }
        Mat::from_fn(self.dim, self.dim, |r, c| 0.5 * (g[(r, c)] + g[(c, r)]))
    }

    /// For the packed columns: `S^{-1} P` and `S^{-1} Q` on the coordinates
    /// other than the constant (the last), given `S^{-1}`.
    fn packed_solves(&self, inverse: &Mat<f64>) -> (Mat<f64>, Mat<f64>) {
        let rest = self.dim - 1;
        let m = self.packed.variables.len();
        let mut solved_p = Mat::<f64>::zeros(rest, m);
        let mut solved_q = Mat::<f64>::zeros(rest, m);
        if m > 0 {
            faer::linalg::matmul::matmul(solved_p.as_mut(), faer::Accum::Replace, inverse.as_ref(), self.packed.p.as_ref().subrows(0, rest), 1.0, faer::Par::Seq);
            faer::linalg::matmul::matmul(solved_q.as_mut(), faer::Accum::Replace, inverse.as_ref(), self.packed.q.as_ref().subrows(0, rest), 1.0, faer::Par::Seq);
        }
        (solved_p, solved_q)
    }

    /// Value and gradient, None outside the domain (`-A` not positive definite).
    /// Whether `bound` (normalised units) is at most the settings' stop.
    fn reaches_stop(&self, bound: f64, settings: &FirstOrderSettings) -> bool {
        settings.stop_at_bound.is_some_and(|stop| bound * self.size <= stop)
    }

    fn evaluate(&self, x: &[f64]) -> Option<Evaluation> {
        let n = self.assemble(x);
        let c = self.constant;
        let rest: Vec<usize> = (0..self.dim).filter(|&t| t != c).collect();
        let minus_a = Mat::<f64>::from_fn(rest.len(), rest.len(), |r, k| -n[(rest[r], rest[k])]);
        let b = Mat::<f64>::from_fn(rest.len(), 1, |r, _| n[(rest[r], c)]);
        let factor = minus_a.llt(Side::Lower).ok()?;
        let z = factor.solve(&b);
        let nu = self.barrier.get();
        let (log_det, inverse) = if nu > 0.0 {
            let l = factor.L();
            let log_det: f64 = (0..rest.len()).map(|i| 2.0 * l[(i, i)].ln()).sum();
            (log_det, Some(factor.solve(Mat::<f64>::identity(rest.len(), rest.len()))))
        } else {
            (0.0, None)
        };
        // position of each coordinate in `rest`
        let position = |t: usize| if t < c { t } else { t - 1 };
        let gamma = n[(c, c)] + (0..rest.len()).map(|r| b[(r, 0)] * z[(r, 0)]).sum::<f64>();
        if !gamma.is_finite() {
            return None;
        }
        // the maximiser in original coordinates: zeta = D (z, 1)
        let mut zeta = vec![0.0; self.dim];
        for (r, &t) in rest.iter().enumerate() {
            zeta[t] = z[(r, 0)] * self.scale[t];
        }
        zeta[c] = self.scale[c];
        let linear: f64 = x.iter().zip(&self.variables).map(|(v, var)| v * var.unit * var.cost).sum::<f64>() / self.size;
        // the packed columns' forms with S^{-1}: (q^T S^{-1} p, p^T S^{-1} p, q^T S^{-1} q) per column
        let mut packed_forms: Vec<Option<(f64, f64, f64)>> = vec![None; self.variables.len()];
        if let Some(inverse) = &inverse {
            let (solved_p, solved_q) = self.packed_solves(inverse);
            let rest = self.dim - 1;
            for (k, &i) in self.packed.variables.iter().enumerate() {
                let (mut pq, mut pp, mut qq) = (0.0, 0.0, 0.0);
                for r in 0..rest {
                    let (a, b) = (self.packed.p[(r, k)], self.packed.q[(r, k)]);
                    pq += b * solved_p[(r, k)];
                    pp += a * solved_p[(r, k)];
                    qq += b * solved_q[(r, k)];
                }
                packed_forms[i] = Some((pq, pp, qq));
            }
        }
        // d/dx (-nu log det(-A)) = nu tr((-A)^{-1} A_x), A_x the variable's scaled block
        let barrier_gradient = |index: usize, var: &Variable| -> f64 {
            let Some(inverse) = &inverse else { return 0.0 };
            if let Some((pq, _, _)) = packed_forms[index] {
                return nu * pq * var.unit / self.size;
            }
            let s = &self.scale;
            let trace = match var.term {
                Term::Constraint(constraint) => match &constraint.quadratic {
                    Quadratic::Product(p, q) => {
                        let mut sum = 0.0;
                        for &(i, a) in p.terms.iter().filter(|(i, _)| *i != c) {
                            for &(j, b) in q.terms.iter().filter(|(j, _)| *j != c) {
                                sum += a * s[i] * b * s[j] * inverse[(position(i), position(j))];
                            }
                        }
                        sum
                    }
                    Quadratic::Matrix(m) => m.entries.iter().filter(|e| e.0 != c && e.1 != c).map(|&(r, k, v)| (if r == k { 1.0 } else { 2.0 }) * v * s[r] * s[k] * inverse[(position(r), position(k))]).sum(),
                },
                Term::Distance(m) => -m.entries.iter().filter(|e| e.0 != c && e.1 != c).map(|&(r, k, v)| (if r == k { 1.0 } else { 2.0 }) * v * s[r] * s[k] * inverse[(position(r), position(k))]).sum::<f64>(),
            };
            nu * trace * var.unit / self.size
        };
        let gradient = self
            .variables
            .iter()
            .enumerate()
            .map(|(index, var)| {
                let quadratic = match var.term {
                    Term::Distance(matrix) => -matrix.evaluate(&zeta),
                    Term::Constraint(c) => c.evaluate(&zeta),
                };
                var.unit * (quadratic + var.cost) / self.size + barrier_gradient(index, var)
            })
            .collect();
        // curvature of a product variable: 2 w^T S^{-1} w with w = (A_k zeta_hat) on
        // the rest, plus the barrier's nu tr(S^{-1} A_k S^{-1} A_k)
        let curvature = self
            .variables
            .iter()
            .enumerate()
            .map(|(index, var)| {
                let (Some(inverse), Term::Constraint(constraint)) = (&inverse, &var.term) else { return 1.0 };
                let Quadratic::Product(p, q) = &constraint.quadratic else { return 1.0 };
                let s = &self.scale;
                let hat = |f: &super::form::LinearForm| -> Vec<(usize, f64)> { f.terms.iter().map(|&(t, v)| (t, v * s[t])).collect() };
                let (ph, qh) = (hat(p), hat(q));
                let dot = |f: &[(usize, f64)]| -> f64 { f.iter().map(|&(t, v)| v * zeta[t] / s[t]).sum() };
                let (pz, qz) = (dot(&ph), dot(&qh));
                let form = |f: &[(usize, f64)], g: &[(usize, f64)]| -> f64 {
                    let mut sum = 0.0;
                    for &(i, a) in f.iter().filter(|(i, _)| *i != c) {
                        for &(j, b) in g.iter().filter(|(j, _)| *j != c) {
                            sum += a * b * inverse[(position(i), position(j))];
                        }
                    }
                    sum
                };
                let (pp, qq, pq) = match packed_forms[index] {
                    Some((pq, pp, qq)) => (pp, qq, pq),
                    None => (form(&ph, &ph), form(&qh, &qh), form(&ph, &qh)),
                };
                // w = (p qz + q pz) / 2
                let quadratic = 0.5 * (qz * qz * pp + pz * pz * qq + 2.0 * pz * qz * pq);
                let barrier = 0.5 * (pp * qq + pq * pq);
                let scale = var.unit / self.size;
                (scale * scale * (quadratic + nu * barrier)).max(1e-300)
            })
            .collect();
        Some(Evaluation { gamma, bound: gamma + linear, value: gamma + linear - nu * log_det, gradient, curvature })
    }

    fn project(&self, x: &mut [f64]) {
        for (v, var) in x.iter_mut().zip(&self.variables) {
            if var.nonnegative && *v < 0.0 {
                *v = 0.0;
            }
        }
    }
}

/// `G += weight D Q D` for a matrix given by its upper triangle, placed so
/// that `(G + G^T) / 2` gains it: off the diagonal at `(r, c)` and `(c, r)`,
/// on it once.
fn add_sparse(g: &mut Mat<f64>, matrix: &SymmetricSparse, weight: f64, scale: &[f64]) {
    for &(r, c, v) in &matrix.entries {
        let value = weight * v * scale[r] * scale[c];
        g[(r, c)] += value;
        if r != c {
            g[(c, r)] += value;
        }
    }
}

/// Minimises the dual bound over the multipliers of `problem` within
/// `time_limit` seconds: from `start` when it lies in the domain (a quarter
/// of the time or steps), and from the Gershgorin point (which needs the
/// magnitude constraints); the best point of the two descents. With a start
/// in the domain and a time limit of 0: the start itself.
pub fn solve(problem: &SdpProblem, time_limit: Option<f64>, start: Option<&Multipliers>, settings: &FirstOrderSettings) -> SolveOutcome {
    let clock = std::time::Instant::now();
    let dim = problem.dim;
    // the coordinate scaling (conditioning only); a coordinate of
    // (nearly) zero range (an input fixed at 0: unused by the forms, see
    // `lift`) gets the largest scale instead of 1e-308
    let largest = problem.coordinate_scale.iter().copied().filter(|m| m.is_finite()).fold(0.0, f64::max);
    let largest = if largest > 0.0 { largest } else { 1.0 };
    let scale: Vec<f64> = (0..dim).map(|i| problem.coordinate_scale.get(i).copied().filter(|m| m.is_finite() && *m > 1e-6 * largest).unwrap_or(largest)).collect();
    let objective_size = problem.objective.magnitude(&scale);
    let size = if objective_size > 0.0 && objective_size.is_finite() { objective_size } else { 1.0 };
    let mut variables = Vec::new();
    if let Some((distance, weight)) = problem.distance {
        let norm = distance.scaled_norm(&scale);
        variables.push(Variable { term: Term::Distance(distance), cost: weight, nonnegative: true, unit: size / if norm > 0.0 { norm } else { 1.0 } });
    }
    let first_constraint = variables.len();
    for c in problem.constraints {
        let norm = c.scaled_norm(&scale);
        variables.push(Variable { term: Term::Constraint(c), cost: c.slack, nonnegative: c.sense == Sense::NonNegative, unit: size / if norm > 0.0 && norm.is_finite() { norm } else { 1.0 } });
    }
    let packed = Packed::new(&variables, dim, problem.constant, &scale);
    let dual = Dual { dim, constant: problem.constant, scale, objective: problem.objective, size, variables, packed, barrier: std::cell::Cell::new(0.0) };
    let count = dual.variables.len();

    let given = start.filter(|m| m.constraint.len() == problem.constraints.len()).map(|m| {
        let mut x = vec![0.0; count];
        if problem.distance.is_some() {
            x[0] = m.gamma_x / dual.variables[0].unit;
        }
        for (k, value) in m.constraint.iter().enumerate() {
            x[first_constraint + k] = if value.is_finite() { value / dual.variables[first_constraint + k].unit } else { 0.0 };
        }
        dual.project(&mut x);
        x
    });
    let empty = |status: SolveStatus, iterations: u32| SolveOutcome {
        status,
        solver_status: format!("first-order {status:?}"),
        multipliers: Multipliers { gamma: f64::NAN, gamma_x: 0.0, constraint: Vec::new() },
        seconds: clock.elapsed().as_secs_f64(),
        iterations,
    };
    // Two descents when a start is given: from it (a quarter of the time or
    // steps), then from the Gershgorin point (the rest). Measured (random
    // 2-w-w-1 pairs, ACAS Xu 1_1, 30 s): a start at propagation's
    // certificate sits at the edge of the domain (its magnitude multipliers
    // are tiny), where steps are short; the Gershgorin point is deep inside
    // and its descent reaches 2.5 at w = 50 where the start's stays near 5;
    // on ACAS Xu no descent gets below the start, which stays a candidate.
    // a zero time limit with a start: the start itself (its check), or
    // nothing when it lies outside the domain
    let only_start = given.is_some() && time_limit == Some(0.0);
    let (time_share, steps) = if settings.start_only { (1.0, settings.max_iterations) } else { (0.25, settings.max_iterations.div_ceil(4)) };
    let mut outcome: Option<Descent> = given.and_then(|x| descend(&dual, x, &clock, time_limit.map(|t| time_share * t), steps, settings));
    // the Gershgorin descent gets the time and the steps left
    let mut iterations = outcome.as_ref().map_or(0, |d| d.iterations);
    let stopped = outcome.as_ref().is_some_and(|d| dual.reaches_stop(d.bound, settings));
    if !only_start && !stopped && !settings.start_only {
        let x = gershgorin_start(&dual, problem, first_constraint);
        if let Some(d) = descend(&dual, x, &clock, time_limit, settings.max_iterations.saturating_sub(iterations as usize), settings) {
            iterations += d.iterations;
            if outcome.as_ref().is_none_or(|o| d.bound < o.bound) {
                outcome = Some(d);
            }
        }
    }
    let Some(Descent { gamma, x, status, .. }) = outcome else {
        return empty(SolveStatus::NumericalFailure, iterations);
    };
    let raw = |k: usize| x[k] * dual.variables[k].unit;
    let multipliers = Multipliers {
        gamma: gamma * size,
        gamma_x: if problem.distance.is_some() { raw(0) } else { 0.0 },
        constraint: (first_constraint..count).map(raw).collect(),
    };
    SolveOutcome { status, solver_status: format!("first-order {status:?}"), multipliers, seconds: clock.elapsed().as_secs_f64(), iterations }
}

/// The outcome of one descent: the best iterate's bound, `gamma` and point.
struct Descent {
    bound: f64,
    gamma: f64,
    x: Vec<f64>,
    status: SolveStatus,
    iterations: u32,
}

/// The barrier path from `x` (in the domain) until `limit` seconds on
/// `clock` or `steps` steps: spectral projected gradient on bound + barrier
/// for each weight, the weight shrinking when a level is done. None when
/// `x` is outside the domain.
fn descend(dual: &Dual, mut x: Vec<f64>, clock: &std::time::Instant, limit: Option<f64>, steps: usize, settings: &FirstOrderSettings) -> Option<Descent> {
    let dim = dual.dim;
    dual.barrier.set(0.0);
    let current = dual.evaluate(&x)?;
    if dual.reaches_stop(current.bound, settings) {
        return Some(Descent { bound: current.bound, gamma: current.gamma, x, status: SolveStatus::Solved, iterations: 0 });
    }
    if steps == 0 || limit.is_some_and(|limit| clock.elapsed().as_secs_f64() >= limit) {
        return Some(Descent { bound: current.bound, gamma: current.gamma, x, status: SolveStatus::Limit, iterations: 0 });
    }
    // barrier path: spectral projected gradient on bound + barrier for each
    // weight nu, then nu shrinks (the bound of a minimiser of bound + barrier
    // is within about nu (d - 1) of the optimum)
    let mut nu = 0.1 * current.bound.abs().max(1e-3) / dim as f64;
    let smallest_nu = settings.relative_tolerance * current.bound.abs().max(1e-3) / dim as f64;
    dual.barrier.set(nu);
    // steps per barrier weight: at least INNER_STEPS, more where the steps
    // left (counted, or the time left over the time per step so far) would
    // give every weight still to come more (half of them spread over the
    // weights, half left for the last)
    let descent_clock = std::time::Instant::now();
    let inner_steps_for = |nu: f64, iterations: u32| -> usize {
        let levels = ((nu / smallest_nu).log2().ceil().max(0.0) as usize).max(1);
        let counted = steps.saturating_sub(iterations as usize);
        let timed = match limit {
            Some(limit) if iterations > 0 => {
                let per_step = descent_clock.elapsed().as_secs_f64() / iterations as f64;
                ((limit - clock.elapsed().as_secs_f64()).max(0.0) / per_step.max(1e-9)) as usize
            }
            Some(_) => 0,
            None => usize::MAX,
        };
        INNER_STEPS.max(counted.min(timed) / (2 * levels))
    };
    let mut inner_steps = inner_steps_for(nu, 0);
    let mut current = dual.evaluate(&x)?;
    let memory = 10;
    let mut recent = vec![current.value];
    let mut best = (current.bound, current.gamma, x.clone());
    let mut step = 1.0;
    let mut inner = 0usize;
    let mut iterations = 0u32;
    let mut status = SolveStatus::Limit;
    while (iterations as usize) < steps {
        if limit.is_some_and(|limit| clock.elapsed().as_secs_f64() >= limit) {
            break;
        }
        iterations += 1;
        inner += 1;
        let mut target: Vec<f64> = x.iter().zip(&current.gradient).zip(&current.curvature).map(|((a, g), h)| a - step * g / h).collect();
        dual.project(&mut target);
        let direction: Vec<f64> = target.iter().zip(&x).map(|(t, a)| t - a).collect();
        let slope: f64 = direction.iter().zip(&current.gradient).map(|(d, g)| d * g).sum();
        // stationarity: the projected gradient with a unit step
        let mut unit_target: Vec<f64> = x.iter().zip(&current.gradient).zip(&current.curvature).map(|((a, g), h)| a - g / h).collect();
        dual.project(&mut unit_target);
        let stationarity = unit_target.iter().zip(&x).map(|(t, a)| (t - a).abs()).fold(0.0, f64::max);
        let mut accepted = None;
        // a barrier weight ends when nearly stationary or after its
        // `inner_steps`; the last one runs until the line search finds no
        // decrease
        let last = nu <= smallest_nu;
        let level_done = !last && (stationarity <= 1e-3 * nu * dim as f64 || inner > inner_steps);
        if !level_done && slope < 0.0 && stationarity > settings.relative_tolerance * 1e-3 {
            let reference = recent.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut fraction = 1.0;
            while fraction >= 1e-10 {
                // one evaluation takes seconds at d ~ 1000: the limit is checked before each
                if limit.is_some_and(|limit| clock.elapsed().as_secs_f64() >= limit) {
                    break;
                }
                let trial: Vec<f64> = x.iter().zip(&direction).map(|(a, d)| a + fraction * d).collect();
                if let Some(e) = dual.evaluate(&trial) {
                    if e.value <= reference + 1e-4 * fraction * slope {
                        accepted = Some((trial, e));
                        break;
                    }
                }
                fraction *= 0.5;
            }
        }
        match accepted {
            Some((next_x, next)) => {
                // Barzilai-Borwein step length from the change of point and gradient
                let (ss, sy) = next_x.iter().zip(&x).zip(next.gradient.iter().zip(&current.gradient)).zip(&next.curvature).fold((0.0, 0.0), |(ss, sy), (((a, b), (gn, gc)), h)| (ss + h * (a - b) * (a - b), sy + (a - b) * (gn - gc)));
                step = if sy > 0.0 { (ss / sy).clamp(1e-12, 1e12) } else { 1e4 * step.max(1e-12) };
                x = next_x;
                current = next;
                recent.push(current.value);
                if recent.len() > memory {
                    recent.remove(0);
                }
                if current.bound < best.0 {
                    best = (current.bound, current.gamma, x.clone());
                    if dual.reaches_stop(current.bound, settings) {
                        status = SolveStatus::Solved;
                        break;
                    }
                }
            }
            None if limit.is_some_and(|limit| clock.elapsed().as_secs_f64() >= limit) => break,
            None => {
                // this barrier weight is done: shrink it, or stop
                if nu <= smallest_nu {
                    status = SolveStatus::Solved;
                    break;
                }
                nu = (nu * 0.5).max(smallest_nu);
                dual.barrier.set(nu);
                inner_steps = inner_steps_for(nu, iterations);
                let Some(e) = dual.evaluate(&x) else { break };
                current = e;
                recent = vec![current.value];
                step = 1.0;
                inner = 0;
            }
        }
    }
    let (bound, gamma, x) = best;
    Some(Descent { bound, gamma, x, status, iterations })
}

/// The start in the domain: on coordinate `t`'s magnitude constraint (scaled:
/// `m_t^2 (E - e_t e_t^T)`) the multiplier making row `t` of `D Obj D`
/// strictly diagonally dominant, so `-A` is positive definite (Gershgorin).
fn gershgorin_start(dual: &Dual, problem: &SdpProblem, first_constraint: usize) -> Vec<f64> {
    let mut x = vec![0.0; dual.variables.len()];
    let mut row_sum = vec![0.0; dual.dim];
    for &(r, c, v) in &problem.objective.entries {
        let value = (v * dual.scale[r] * dual.scale[c]).abs();
        row_sum[r] += value;
        if r != c {
            row_sum[c] += value;
        }
    }
    // a little more than each row needs, in scaled units
    let smallest = row_sum.iter().copied().fold(0.0, f64::max) * 1e-3 + 1e-300;
    for (k, c) in problem.constraints.iter().enumerate() {
        if c.family != Family::Magnitude {
            continue;
        }
        let Quadratic::Product(p, _) = &c.quadratic else { continue };
        // (m - zeta_t)(m + zeta_t): the coordinate is the first term
        let t = p.terms[0].0;
        let kappa = (row_sum[t] * 1.01 + smallest) / (dual.scale[t] * dual.scale[t]);
        x[first_constraint + k] = kappa / dual.variables[first_constraint + k].unit;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input_set::InputSet;
    use crate::network::random::{partner, random_mlp, Relation};
    use crate::problem::{prepare, InputCoupling};
    use crate::sdp::{constraints_for, objective_matrix, qc::{magnitude_constraints, QcOptions}, Objective};
    use rand::{Rng, SeedableRng};

    /// The packed evaluation (matrix products) gives the scattered loops'
    /// value, gradient and curvature to rounding, at random points of the
    /// domain, with and without the barrier, on pairs large enough to pack.
    #[test]
    fn packed_evaluation_matches_the_loops() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let (mut packed_columns, mut evaluated) = (0, 0);
        for case in 0..3 {
            let f = random_mlp(&mut rng, 40, &[12, 10], 2, crate::activation::Activation::Relu);
            let g = partner(&mut rng, &f, [Relation::Quantised, Relation::Pruned, Relation::Quantised][case], crate::activation::Activation::Relu);
            let set = InputSet::uniform_box(40, -0.5, 0.5).unwrap();
            let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
            let (lifted, mut constraints) = constraints_for(&prepared, QcOptions::DEFAULT);
            constraints.extend(magnitude_constraints(&lifted));
            let objective = objective_matrix(&lifted, Objective::Output { index: 0, sign: 1.0 });
            let problem = SdpProblem { dim: lifted.dim, constant: lifted.constant, objective: &objective, constraints: &constraints, distance: None, coordinate_scale: &lifted.coordinate_magnitude };
            assert!(problem.dim >= PACK_MIN_DIM, "dimension {} too small to pack", problem.dim);
            let scale: Vec<f64> = problem.coordinate_scale.iter().map(|m| if *m > 0.0 { *m } else { 1.0 }).collect();
            let variables = || -> Vec<Variable> { constraints.iter().map(|c| Variable { term: Term::Constraint(c), cost: c.slack, nonnegative: c.sense == Sense::NonNegative, unit: 1.0 }).collect() };
            let packed = Dual { dim: problem.dim, constant: problem.constant, scale: scale.clone(), objective: &objective, size: 1.0, packed: Packed::new(&variables(), problem.dim, problem.constant, &scale), variables: variables(), barrier: std::cell::Cell::new(0.0) };
            let loops = Dual { packed: Packed { variables: Vec::new(), p: Mat::zeros(0, 0), q: Mat::zeros(0, 0), is_packed: vec![false; problem.constraints.len()] }, variables: variables(), objective: &objective, scale: scale.clone(), dim: problem.dim, constant: problem.constant, size: 1.0, barrier: std::cell::Cell::new(0.0) };
            packed_columns += packed.packed.variables.len();
            let start = gershgorin_start(&loops, &problem, 0);
            let largest_start = start.iter().fold(0.0f64, |m, v| m.max(*v));
            for trial in 0..6 {
                // random points near the start: the magnitudes' multipliers
                // larger, the other constraints' small and random
                let x: Vec<f64> = start.iter().map(|v| if *v > 0.0 { v * rng.gen_range(1.5..3.0) } else if trial > 0 { largest_start * rng.gen_range(0.0..1e-3) } else { 0.0 }).collect();
                for nu in [0.0, 1e-3] {
                    packed.barrier.set(nu);
                    loops.barrier.set(nu);
                    let (Some(a), Some(b)) = (packed.evaluate(&x), loops.evaluate(&x)) else {
                        assert!(packed.evaluate(&x).is_none() && loops.evaluate(&x).is_none(), "case {case}: the two disagree on the domain");
                        continue;
                    };
                    evaluated += 1;
                    let close = |u: f64, v: f64| (u - v).abs() <= 1e-9 * (1.0 + u.abs().max(v.abs()));
                    assert!(close(a.value, b.value), "case {case}: value {} vs {}", a.value, b.value);
                    let largest = b.gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
                    for (k, (u, v)) in a.gradient.iter().zip(&b.gradient).enumerate() {
                        assert!((u - v).abs() <= 1e-9 * (1.0 + largest), "case {case}, nu {nu}: gradient {k}: {u} vs {v}");
                    }
                    for (k, (u, v)) in a.curvature.iter().zip(&b.curvature).enumerate() {
                        assert!((u - v).abs() <= 1e-8 * (u.abs().max(v.abs()) + 1e-300), "case {case}, nu {nu}: curvature {k}: {u} vs {v}");
                    }
                }
            }
        }
        assert!(packed_columns >= 30, "only {packed_columns} columns packed");
        assert!(evaluated >= 24, "only {evaluated} points inside the domain");
    }
}
