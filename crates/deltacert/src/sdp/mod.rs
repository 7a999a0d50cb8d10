//! The seed paper's method: certified bounds from a semidefinite program.
//!
//! 1. [`lift`]: both networks in one vector `zeta` (docs/method.md §2), stable
//!    neurons substituted.
//! 2. [`qc`]: every known fact as a quadratic constraint (§3).
//! 3. [`solve`]: the S-procedure SDP with Clarabel (§4) or the first-order
//!    solver (§7b): two per output (both signs, linear objective), and under
//!    `l2` one for `||Delta||^2` (with the first-order solver after the
//!    outputs', with the products of the intervals those proved).
//! 4. [`certificate`]: the multipliers are re-checked in f64 (§5); a bound is
//!    reported only if the check passes.

pub mod certificate;
pub mod first_order;
pub mod form;
pub mod lift;
pub mod qc;
pub mod solve;
pub mod svec;

use crate::propagation::rounding_gamma;
use crate::rounding::{add_up, mul_up, sqrt_up, sub_up, sum_up, upper_or_infinity};
use crate::problem::{Norm, Prepared};
use crate::limits::Budget;
use form::{LinearForm, SymmetricSparse};
use lift::Lifted;
use crate::problem::InputCoupling;
use qc::{Constraint, QcOptions};
use rayon::prelude::*;
use serde::Serialize;
use solve::{Multipliers, SdpProblem, SolveStatus};
use std::collections::BTreeMap;

/// Which quadratic constraints to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum QcChoice {
    /// By lifted dimension `d`: [`QcOptions::FULL`] up to
    /// [`FULL_SET_MAX_DIM`], the default plus all-pairs QCs up to
    /// [`ALL_PAIRS_MAX_DIM`], with the first-order solver the default plus
    /// [`AUTO_NEIGHBOURS`] neighbours up to [`NEIGHBOURS_MAX_DIM`],
    /// [`QcOptions::DEFAULT`] above.
    Auto,
    /// A fixed set.
    Fixed(QcOptions),
}

/// Largest lifted dimension for which `auto` uses the full QC set (the
/// products family grows quadratically with the layer width).
pub const FULL_SET_MAX_DIM: usize = 32;
/// Largest lifted dimension for which `auto` adds the all-pairs QCs.
pub const ALL_PAIRS_MAX_DIM: usize = 48;
/// Neighbours per neuron of the all-pairs family within a budget
/// ([`QcOptions::neighbours`]) that `auto` adds up to [`NEIGHBOURS_MAX_DIM`].
/// Measured (first-order solver, 30 s, random 2-w-w-1 pairs against their
/// `fixed:4` copies): at w = 20 (d = 83) bounds 1.17 / 1.04 / 0.96 / 0.94
/// with 0 / 2 / 6 / 12 neighbours, at w = 50 (d = 201) 2.49 / 2.24 / 2.03
/// / 2.43; at w = 100 and 200 every neighbour made the 30 s bound looser
/// (8.76 -> 9.39, 31.0 -> 33.1): each step costs more.
pub const AUTO_NEIGHBOURS: usize = 6;
/// Largest lifted dimension for which `auto` adds the neighbours family.
pub const NEIGHBOURS_MAX_DIM: usize = 256;

/// Which solver minimises over the multipliers (both end in the same
/// certificate check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SdpSolver {
    /// Interior point up to [`AUTO_INTERIOR_POINT_MAX_DIM`], first order above.
    Auto,
    /// Clarabel's interior-point method ([`solve`]): accurate, memory `d^4`.
    InteriorPoint,
    /// The eigenvalue-penalised first-order method ([`first_order`]):
    /// memory linear in the constraints, anytime.
    FirstOrder,
}

impl SdpSolver {
    /// Parses `auto`, `interior-point` or `first-order`.
    pub fn parse(text: &str) -> crate::Result<Self> {
        match text {
            "auto" => Ok(SdpSolver::Auto),
            "interior-point" => Ok(SdpSolver::InteriorPoint),
            "first-order" => Ok(SdpSolver::FirstOrder),
            other => Err(crate::error::invalid_option(format!("unknown SDP solver '{other}' (auto, interior-point or first-order)"))),
        }
    }
}

/// Largest lifted dimension for which the `auto` solver is interior point.
pub const AUTO_INTERIOR_POINT_MAX_DIM: usize = 60;
/// Seconds the first-order solves of one call take together when no time
/// limit is given (it is anytime: it stops at its limit or when converged).
pub const FIRST_ORDER_DEFAULT_SECONDS: f64 = 60.0;
/// Largest lifted dimension the first-order solver attempts (its check
/// holds three dense `d x d` matrices and factors one).
pub const FIRST_ORDER_MAX_DIM: usize = 6000;

/// Settings of the SDP method.
#[derive(Debug, Clone, Serialize)]
pub struct SdpSettings {
    /// QC families.
    pub qcs: QcChoice,
    /// The solver.
    pub solver: SdpSolver,
    /// Time limit for all solves of one call together, seconds (used by
    /// [`certify`]; [`certify_within`] takes a [`Budget`] instead).
    pub time_limit: Option<f64>,
    /// Largest lifted dimension the interior-point solver attempts.
    /// Clarabel's memory grows like `d^4`: measured here, two parallel solves
    /// at `d = 201` (two hidden layers of width 50, default QCs) exceeded
    /// 24 GiB and were killed.
    pub max_dimension: usize,
    /// Cap on the first-order solver's steps per solve (None: the time limit
    /// alone ends it). With a cap and no time limit the result does not
    /// depend on the machine's speed.
    pub first_order_iterations: Option<usize>,
    /// Decide mode's `eps`: a first-order solve stops once its bound is
    /// proven at most `eps` (its objective's share of it), and none starts
    /// when its start's certificate already proves that. None: every solve
    /// runs to its limit.
    pub decide_eps: Option<f64>,
}

/// Default [`SdpSettings::max_dimension`].
pub const DEFAULT_MAX_DIMENSION: usize = 150;
/// Above this lifted dimension the per-output solves run one at a time (memory).
pub const PARALLEL_SOLVES_MAX_DIM: usize = 100;

impl Default for SdpSettings {
    fn default() -> Self {
        SdpSettings { qcs: QcChoice::Auto, solver: SdpSolver::Auto, time_limit: None, max_dimension: DEFAULT_MAX_DIMENSION, first_order_iterations: None, decide_eps: None }
    }
}

/// One solve and its check.
#[derive(Debug, Clone, Serialize)]
pub struct SolveReport {
    /// `"l2"` or `"output j, +"` / `"output j, -"`.
    pub objective: String,
    /// Solver outcome.
    pub status: SolveStatus,
    /// Clarabel's status.
    pub solver_status: String,
    /// Seconds in the solver.
    pub seconds: f64,
    /// Iterations.
    pub iterations: u32,
    /// The solver's raw optimum `gamma`.
    pub solver_gamma: f64,
    /// The checked value (None when refused).
    pub checked: Option<certificate::CheckedBound>,
    /// Why the certificate was refused.
    pub refusal: Option<String>,
}

impl SolveReport {
    /// A solve skipped for lack of time, and why.
    fn not_attempted(objective: &str, reason: String) -> SolveReport {
        SolveReport { objective: objective.to_string(), status: SolveStatus::Limit, solver_status: "NotAttempted".into(), seconds: 0.0, iterations: 0, solver_gamma: f64::NAN, checked: None, refusal: Some(reason) }
    }
}

/// Seconds per cubed lifted dimension of one solve's certificate checks
/// (factorisations and an eigenvalue computation of `d x d` matrices): about
/// 0.5 s at `d = 1000` on this project's 2-core test machine.
const CHECK_SECONDS_PER_CUBED_DIMENSION: f64 = 5e-10;

/// In decide mode a first-order solve stops this far (relative) below the
/// bound that proves `eps`. With 1e-4 no solve could stop where `eps` lies
/// within 1e-4 of the true error (the seed paper's quantised pair at `eps`
/// 3.8613, error 3.86121: the whole 54 s).
const DECIDE_STOP_MARGIN: f64 = 1e-6;

/// Seconds per entry the constraints add to `M` ([`Constraint::entry_count`])
/// of the first check of a first-order solve (the solver's set-up and
/// assembly, then the check's). Measured on the 2-core machine of
/// docs/benchmarks.md: the full QC set on ACAS Xu 1_1 property 3 (d = 226,
/// 342,621 constraints, 6.4e8 entries) took 6.2 s, about 1e-8 per entry;
/// MNIST 3x100 with `default+neighbours:8` (d = 1,181, 3.1e8 entries) about
/// 1.1 s, 3.5e-9.
const CHECK_SECONDS_PER_CONSTRAINT_ENTRY: f64 = 1e-8;

/// The time one solve's certificate checks are expected to take before any
/// has been measured: the factorisation (`d^3`) and the assembly of `M`
/// from the constraints' `entries`. With a constraint set that grows like
/// the square of the neurons the assembly dominates: without it a 2 s
/// limit was overrun by 5 s (ACAS Xu 1_1 property 3, `--qcs full`).
fn estimated_check_seconds(dim: usize, entries: usize) -> f64 {
    CHECK_SECONDS_PER_CUBED_DIMENSION * (dim as f64).powi(3) + CHECK_SECONDS_PER_CONSTRAINT_ENTRY * entries as f64
}

/// A checked solve's bound over the set, `value + gamma_x * diameter^2`
/// rounded up. The distance term is there only where it is used (`gamma_x
/// > 0`: an infinite diameter times a zero multiplier is no term, not NaN),
/// and anything undefined is no bound (+inf), never a NaN that a `max` over
/// outputs would drop.
fn bound_over_set(value: f64, gamma_x: f64, diameter_sq: f64) -> f64 {
    match gamma_x == 0.0 {
        true => upper_or_infinity(value),
        false => upper_or_infinity(add_up(value, mul_up(gamma_x, diameter_sq))),
    }
}

/// Result of the SDP method.
#[derive(Debug, Clone, Serialize)]
pub struct SdpResult {
    /// The certified bound on the chosen norm (None: no certificate).
    pub bound: Option<f64>,
    /// `linf`: certified bound per output (None where refused); `l2`: empty.
    pub per_output: Vec<Option<f64>>,
    /// Independent inputs: the certified `gamma` and `gamma_x` of
    /// `||f(x1) - g(x2)||^2 <= gamma + gamma_x ||x1 - x2||^2` (`l2`).
    pub gamma_pair: Option<(f64, f64)>,
    /// Lifted dimension `d`.
    pub dim: usize,
    /// The solver used.
    pub solver: SdpSolver,
    /// Neurons with their own coordinate.
    pub variable_neurons: usize,
    /// Neurons substituted as stable.
    pub stable_neurons: usize,
    /// Matched neuron pairs.
    pub matched_pairs: usize,
    /// The QC families used.
    pub qc_options: QcOptions,
    /// Constraint count per family.
    pub constraints: BTreeMap<String, usize>,
    /// Every solve.
    pub solves: Vec<SolveReport>,
}

/// Estimated peak memory of one interior-point solve at lifted dimension
/// `d`, in bytes. Clarabel's Newton system has a dense block over the
/// `d (d + 1) / 2` entries of the PSD cone; with its factor and working
/// copies about 32 bytes per entry of that block (measured here: two
/// parallel solves at `d = 201` exceeded 24 GiB; one at `d = 329` on a
/// sparser problem took 2 GiB, so this errs on the high side).
pub fn solve_bytes(dim: usize) -> f64 {
    let packed = svec::packed_len(dim) as f64;
    32.0 * packed * packed + 1e7
}

/// Estimated peak memory of the first-order solver and its check at
/// lifted dimension `d` with constraints holding `factor_terms` terms: the
/// check's three dense `d x d` matrices, the Cholesky copy and the
/// eigenvalue workspace (about 6 `d^2` doubles), the constraints' factors.
pub fn first_order_bytes(dim: usize, factor_terms: usize) -> f64 {
    // the factors (16 bytes a term) and, for long factors packed as dense
    // columns (at least d/4 terms each), five d x m matrices (160 bytes a term)
    48.0 * (dim * dim) as f64 + 176.0 * factor_terms as f64 + 1e7
}

/// Certifies a bound with the SDP (docs/method.md §2–5), with `settings.time_limit`
/// as the budget of all solves together and the default memory budget.
pub fn certify(prepared: &Prepared, norm: Norm, settings: &SdpSettings) -> SdpResult {
    certify_within(prepared, norm, settings, &Budget::new(settings.time_limit, crate::limits::default_memory_bytes()))
}

/// [`certify`] within `budget`: the memory estimate ([`solve_bytes`]) is
/// checked before any constraint is built, and each solve gets the time left
/// (solves that find it spent are skipped, with that reason).
pub fn certify_within(prepared: &Prepared, norm: Norm, settings: &SdpSettings, budget: &Budget) -> SdpResult {
    let Prepared { set, coupling, .. } = prepared;
    if budget.expired() {
        // lifting a large pair takes a while of its own: nothing is set up
        let outputs = if norm == Norm::Linf { prepared.reference.output_dim() } else { 0 };
        return not_attempted("the time limit was reached before the SDP was set up".into(), outputs, settings.solver, None);
    }
    // the lifting's slope steps stop after a tenth of the time left
    let slopes_until = budget.remaining().map(|r| std::time::Instant::now() + crate::limits::duration(LIFT_SLOPE_TIME_SHARE * r));
    let lifted = lift_pair(prepared, slopes_until, budget.deadline());
    let solver = match settings.solver {
        SdpSolver::Auto if lifted.dim <= AUTO_INTERIOR_POINT_MAX_DIM => SdpSolver::InteriorPoint,
        SdpSolver::Auto => SdpSolver::FirstOrder,
        chosen => chosen,
    };
    let first_order = solver == SdpSolver::FirstOrder;
    // (the interior-point solver has one objective under the L2 norm)
    let parallel = (first_order || lifted.dim <= PARALLEL_SOLVES_MAX_DIM) && (first_order || norm == Norm::Linf);
    let memory_refusal = if budget.expired() {
        Some("the time limit was reached before the SDP was set up".to_string())
    } else if first_order {
        if lifted.dim > FIRST_ORDER_MAX_DIM {
            Some(format!("lifted dimension {} exceeds the first-order SDP limit {FIRST_ORDER_MAX_DIM}", lifted.dim))
        } else {
            let terms: usize = lifted.neurons.iter().map(|n| n.pre.terms.len() + n.post.terms.len()).sum::<usize>() * 8;
            budget.admit(&format!("the first-order SDP at lifted dimension {}", lifted.dim), first_order_bytes(lifted.dim, terms) * if parallel { 2.0 } else { 1.0 }).err()
        }
    } else if lifted.dim > settings.max_dimension {
        Some(format!("lifted dimension {} exceeds the interior-point SDP limit {} (memory grows like d^4; raise it with --sdp-max-dim at your own risk, or use --sdp-solver first-order)", lifted.dim, settings.max_dimension))
    } else {
        budget.admit(&format!("the SDP at lifted dimension {}", lifted.dim), solve_bytes(lifted.dim) * if parallel { 2.0 } else { 1.0 }).err()
    };
    if let Some(reason) = memory_refusal {
        let outputs = if norm == Norm::Linf { lifted.difference.len() } else { 0 };
        return not_attempted(reason, outputs, solver, Some(&lifted));
    }
    let options = match settings.qcs {
        QcChoice::Fixed(o) => o,
        QcChoice::Auto if lifted.dim <= FULL_SET_MAX_DIM => QcOptions::FULL,
        QcChoice::Auto if lifted.dim <= ALL_PAIRS_MAX_DIM => QcOptions { all_pairs: true, ..QcOptions::DEFAULT },
        QcChoice::Auto if first_order && lifted.dim <= NEIGHBOURS_MAX_DIM => QcOptions { neighbours: AUTO_NEIGHBOURS, ..QcOptions::DEFAULT },
        QcChoice::Auto => QcOptions::DEFAULT,
    };
    let outputs = if norm == Norm::Linf { lifted.difference.len() } else { 0 };
    let mut constraints = match qc::build(&lifted, set, coupling, options, Some(budget)) {
        Ok(constraints) => constraints,
        Err(reason) => return not_attempted(reason, outputs, solver, Some(&lifted)),
    };
    if first_order {
        constraints.extend(qc::magnitude_constraints(&lifted));
        // the solver packs long factors as dense columns: the memory of the
        // constraints actually built (estimated before from the neurons)
        let terms: usize = constraints.iter().map(Constraint::term_count).sum();
        let bytes = first_order_bytes(lifted.dim, terms) * if parallel { 2.0 } else { 1.0 };
        if let Err(reason) = budget.admit(&format!("the first-order SDP with {} constraints", constraints.len()), bytes) {
            return not_attempted(reason, outputs, solver, Some(&lifted));
        }
    }
    // differential propagation's certificate, as the first-order solver's start
    // (its slope steps stop after a tenth of the time left)
    let start_deadline = budget.remaining().map(|r| std::time::Instant::now() + crate::limits::duration(START_TIME_SHARE * r));
    let warm = if first_order { PropagationStart::new(prepared, &lifted, start_deadline) } else { None };
    let propagation_offset = constraints.len();
    if let Some(w) = &warm {
        constraints.extend(w.constraints.iter().cloned());
    }
    if budget.expired() {
        return not_attempted("the time limit was reached while the SDP was set up".into(), outputs, solver, Some(&lifted));
    }
    let mut counts = BTreeMap::new();
    for c in &constraints {
        *counts.entry(format!("{:?}", c.family).to_lowercase()).or_insert(0usize) += 1;
    }
    let independent = matches!(coupling, InputCoupling::Independent);
    let distance = independent.then(|| distance_matrix(&lifted));
    let diameter_sq: f64 = sum_up(set.lower().iter().zip(set.upper()).map(|(l, u)| {
        let width = sub_up(*u, *l);
        mul_up(width, width)
    }));

    // the objectives: +-Delta_j, and under the L2 norm then ||Delta||^2
    // (last: its solve takes the products of the outputs' bounds the others
    // proved, docs/method.md §7b). The interior-point solver bounds
    // ||Delta||^2 alone: one of its solves takes about the time three would
    // share (d = 83: 27 s)
    let linear_outputs = if norm == Norm::Linf || first_order { lifted.difference.len() } else { 0 };
    let mut objectives: Vec<(String, SymmetricSparse)> = (0..linear_outputs)
        .flat_map(|j| {
            [
                (format!("output {j}, +"), objective_matrix(&lifted, Objective::Output { index: j, sign: 1.0 })),
                (format!("output {j}, -"), objective_matrix(&lifted, Objective::Output { index: j, sign: -1.0 })),
            ]
        })
        .collect();
    let squared_index = objectives.len();
    if norm == Norm::L2 {
        objectives.push(("l2".into(), objective_matrix(&lifted, Objective::SquaredNorm)));
    }
    let is_squared = |index: usize| index == squared_index;
    let output_count = lifted.difference.len();
    // what each objective's entries can have lost to rounding when formed,
    // in magnitude: taken before the outputs' terms cancel
    let rounding_magnitudes: Vec<f64> = objectives.iter().enumerate().map(|(index, (_, objective))| if is_squared(index) { squared_norm_rounding_magnitude(&lifted) } else { objective.magnitude(&lifted.coordinate_magnitude) }).collect();
    // the products each objective's entries were formed from
    let product_counts: Vec<f64> = (0..objectives.len()).map(|index| if is_squared(index) { lifted.difference.iter().map(|d| (d.terms.len() * d.terms.len()) as f64).sum() } else { lifted.difference[index / 2].terms.len() as f64 }).collect();
    // decide mode: what each objective's bound over the set must reach for
    // its output to be proven at most eps (Linf: eps less the output's
    // forms' error; L2: (eps - the errors' norm)^2); the solver stops a
    // relative DECIDE_STOP_MARGIN below it, room for the check's rounding
    // shift (1.7e-10 on the seed paper's pairs, values near 4)
    let error_norm = || upper_or_infinity(sqrt_up(sum_up(lifted.difference.iter().map(|d| mul_up(d.error, d.error)))));
    // Under the L2 norm an output's share of eps: with every |Delta_j| (its
    // form's error included) at most eps / sqrt(m) for the m outputs, the
    // outputs' bounds combined, sqrt(sum_j max(U_j, -L_j)^2), are at most
    // eps (the share is taken 1e-9 below it, room for the combination's
    // rounding up), and the squared solve is not needed; an output that
    // does not reach its share runs to its limit, and its bound feeds the
    // squared solve, which decides jointly.
    let l2_output_share = settings.decide_eps.map(|eps| eps / (output_count.max(1) as f64).sqrt() * (1.0 - 1e-9));
    let proves_eps = |index: usize, checked: &certificate::CheckedBound| -> bool {
        let Some(eps) = settings.decide_eps else { return false };
        let over = bound_over_set(checked.value, checked.gamma_x, diameter_sq);
        match norm {
            Norm::L2 if is_squared(index) => upper_or_infinity(add_up(sqrt_up(over.max(0.0)), error_norm())) <= eps,
            Norm::L2 => l2_output_share.is_some_and(|share| upper_or_infinity(add_up(over, lifted.difference[index / 2].error)) <= share),
            Norm::Linf => upper_or_infinity(add_up(over, lifted.difference[index / 2].error)) <= eps,
        }
    };
    let solver_stops: Vec<Option<f64>> = (0..objectives.len())
        .map(|index| {
            let eps = settings.decide_eps?;
            let target = match norm {
                Norm::L2 if is_squared(index) => {
                    let room = eps - error_norm();
                    (room >= 0.0).then(|| room * room)?
                }
                Norm::L2 => l2_output_share? - lifted.difference[index / 2].error,
                Norm::Linf => eps - lifted.difference[index / 2].error,
            };
            target.is_finite().then(|| target - DECIDE_STOP_MARGIN * target.abs())
        })
        .collect();
    // the first-order solver runs until its limit: each solve gets its share
    // of the time left (without a limit, of FIRST_ORDER_DEFAULT_SECONDS from
    // now) among the objectives not yet done, so the time of a solve that
    // was not needed (decide mode) or ended early goes to the others
    let share_deadline = budget.deadline().or((first_order && settings.first_order_iterations.is_none()).then(|| std::time::Instant::now() + crate::limits::duration(FIRST_ORDER_DEFAULT_SECONDS)));
    // the lanes the outputs' solves run on (the squared objective runs alone)
    let lanes = if parallel { rayon::current_num_threads().clamp(1, squared_index.max(1)) } else { 1 };
    let unfinished = std::sync::atomic::AtomicUsize::new(objectives.len());
    // under the L2 norm the outputs' solves share the first two thirds of
    // the time (as equal shares would give one output), and ||Delta||^2 has
    // the rest: from the generic point, given time, the joint objective can
    // beat the outputs' bounds combined (a random tanh pair of four outputs,
    // 10 s: 0.137 with 1.5 s, 0.098 with 4.9 s), while with one output the
    // outputs' solves hold the bound (2-50-50-1, 30 s: 2.01 with 20 s, 2.30
    // with 15 s)
    let outputs_deadline = match norm {
        Norm::L2 => share_deadline.map(|d| {
            let now = std::time::Instant::now();
            now + d.saturating_duration_since(now) * 2 / 3
        }),
        Norm::Linf => share_deadline,
    };
    let solve_share = |index: usize| {
        let pending = unfinished.load(std::sync::atomic::Ordering::Relaxed);
        // (the squared objective is pending while the outputs run)
        let (deadline, pending, lanes) = if is_squared(index) { (share_deadline, 1, 1) } else { (outputs_deadline, pending.saturating_sub(usize::from(norm == Norm::L2)), lanes) };
        deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()).as_secs_f64() * lanes as f64 / pending.max(1) as f64)
    };
    /// Counts an objective done when its solve ends, however it ends.
    struct Done<'a>(&'a std::sync::atomic::AtomicUsize);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    // one copy of the constraints (1.5 million at the full set on ACAS Xu: gigabytes)
    let shared = std::sync::Arc::new(SharedData { constraints, distance: distance.clone(), coordinate_scale: lifted.coordinate_magnitude.clone() });
    let constraints = &shared.constraints;
    let starts: Vec<Option<Multipliers>> = (0..squared_index)
        .map(|index| {
            let w = warm.as_ref()?;
            let (output, sign) = (index / 2, if index % 2 == 0 { 1.0 } else { -1.0 });
            w.start(&lifted, constraints, propagation_offset, output, sign)
        })
        .collect();
    // seconds the certificate checks of one solve took, the longest so far
    // (f64 bits, NaN until the first); before any has run, an estimate from
    // the dimension, so that the first solves do not start checks the time
    // left cannot hold. The first measurement replaces the estimate (a
    // faster machine than the one it was made on would otherwise skip
    // solves it has time for).
    let measured_check_seconds = std::sync::atomic::AtomicU64::new(f64::NAN.to_bits());
    let constraint_entries: usize = constraints.iter().map(Constraint::entry_count).sum();
    let check_seconds = || {
        let measured = f64::from_bits(measured_check_seconds.load(std::sync::atomic::Ordering::Relaxed));
        if measured.is_nan() { estimated_check_seconds(lifted.dim, constraint_entries) } else { measured }
    };
    let record_check_seconds = |took: f64| {
        use std::sync::atomic::Ordering::Relaxed;
        let _ = measured_check_seconds.fetch_update(Relaxed, Relaxed, |old| {
            let old = f64::from_bits(old);
            (old.is_nan() || took > old).then_some(took.to_bits())
        });
    };
    // one solve of objective `index` over `shared`'s constraints (from
    // `start`, first order): its report, and the multipliers its checked
    // value came from
    let run = |index: usize, shared: &std::sync::Arc<SharedData>, start: Option<&Multipliers>| -> (SolveReport, Option<Multipliers>) {
            let (name, objective) = (&objectives[index].0, &objectives[index].1);
            let _done = Done(&unfinished);
            let remaining = budget.remaining();
            if remaining == Some(0.0) {
                return (SolveReport::not_attempted(name, "the time limit was reached before this solve".into()), None);
            }
            // the certificate checks of one solve take seconds at d ~ 1000:
            // a solve whose checks could not end by the deadline is skipped
            let after = check_seconds();
            if first_order && remaining.is_some_and(|left| left < after) {
                return (SolveReport::not_attempted(name, format!("the time left ({:.2} s) would not cover this solve's certificate check (about {after:.2} s)", remaining.unwrap_or_default())), None);
            }
            let check_against = |constraints: &[Constraint], multipliers: &Multipliers| {
                certificate::check_by(lifted.dim, lifted.constant, objective, constraints, distance.as_ref(), multipliers, &lifted.coordinate_magnitude, budget.deadline()).map(|mut checked| {
                    // the objective's own entries were rounded when formed
                    // (relative), and each product formed (counted before
                    // zeros were dropped) may have lost to underflow up to eta
                    // in the product and in its halving, at (r, c) and (c, r):
                    // 3 eta, times the coordinates' magnitudes (absolute)
                    let largest = lifted.coordinate_magnitude.iter().copied().fold(0.0, f64::max);
                    let underflow = mul_up(mul_up(3.0 * product_counts[index], 5e-324), mul_up(largest, largest));
                    checked.value = add_up(add_up(checked.value, mul_up(rounding_gamma(output_count + 3), rounding_magnitudes[index])), underflow);
                    checked
                })
            };
            let check = |multipliers: &Multipliers| check_against(&shared.constraints, multipliers);
            // the start itself (propagation's certificate) is checked first:
            // the solver ranks iterates by its own value, which the check's
            // rounding shift can overturn near the boundary of the domain, and
            // the time this check takes tells how much to leave for the
            // solve's own (seconds at d ~ 1000)
            let mut at_start_checked = None;
            let mut after = after;
            if let Some(start) = start.filter(|_| first_order) {
                let began = std::time::Instant::now();
                let problem = SdpProblem { dim: lifted.dim, constant: lifted.constant, objective, constraints: &shared.constraints, distance: shared.distance.as_ref().map(|d| (d, diameter_sq)), coordinate_scale: &shared.coordinate_scale };
                let at_start = first_order::solve(&problem, Some(0.0), Some(start), &first_order::FirstOrderSettings::default());
                if at_start.multipliers.gamma.is_finite() {
                    at_start_checked = check(&at_start.multipliers).ok().map(|checked| (checked, at_start.multipliers));
                }
                // this check's time (and the longest measured) replaces the
                // estimate, here and for the solves still to start
                record_check_seconds(began.elapsed().as_secs_f64());
                after = check_seconds();
            }
            if let Some((checked, multipliers)) = at_start_checked.as_ref().filter(|(c, _)| proves_eps(index, c)) {
                // decide mode: the start already proves this objective's share of eps
                let mut report = SolveReport::not_attempted(name, String::new());
                report.solver_status = "NotNeeded (the start proves eps)".into();
                report.status = SolveStatus::Solved;
                report.checked = Some(checked.clone());
                report.refusal = None;
                return (report, Some(multipliers.clone()));
            }
            let remaining = budget.remaining();
            if first_order && remaining.is_some_and(|left| left < after) {
                // no time for a solve and its check: the start's certificate is the answer
                let mut report = SolveReport::not_attempted(name, format!("the time left ({:.2} s) would not cover a solve's certificate check ({after:.2} s for the start's)", remaining.unwrap_or_default()));
                let Some((checked, multipliers)) = at_start_checked else { return (report, None) };
                report.checked = Some(checked);
                report.refusal = None;
                return (report, Some(multipliers));
            }
            let outcome = if first_order {
                // leave a tenth of the share for the certificate checks, and
                // at least what the checks of earlier solves took, so that
                // the last solves' checks end by the deadline
                let limit = match (solve_share(index), remaining) {
                    (Some(share), Some(left)) => Some((0.9 * share).min(left - after).max(0.0)),
                    (share, None) => share.map(|s| 0.9 * s),
                    (None, left) => left.map(|l| (l - after).max(0.0)),
                };
                let problem = SdpProblem { dim: lifted.dim, constant: lifted.constant, objective, constraints: &shared.constraints, distance: shared.distance.as_ref().map(|d| (d, diameter_sq)), coordinate_scale: &shared.coordinate_scale };
                let mut first_order_settings = first_order::FirstOrderSettings::default();
                if let Some(cap) = settings.first_order_iterations {
                    first_order_settings.max_iterations = cap;
                }
                first_order_settings.stop_at_bound = solver_stops[index];
                Some(first_order::solve(&problem, limit, start, &first_order_settings))
            } else {
                solve_on_time(lifted.dim, lifted.constant, objective.clone(), shared, diameter_sq, remaining)
            };
            let Some(outcome) = outcome else {
                let report = SolveReport {
                    objective: name.clone(),
                    status: SolveStatus::Limit,
                    solver_status: "Abandoned".into(),
                    seconds: remaining.unwrap_or_default(),
                    iterations: 0,
                    solver_gamma: f64::NAN,
                    checked: None,
                    refusal: Some("the time limit was reached during the solver's setup".into()),
                };
                return (report, None);
            };
            let checks_began = std::time::Instant::now();
            let mut report = SolveReport {
                objective: name.clone(),
                status: outcome.status,
                solver_status: outcome.solver_status.clone(),
                seconds: outcome.seconds,
                iterations: outcome.iterations,
                solver_gamma: outcome.multipliers.gamma,
                checked: None,
                refusal: None,
            };
            let checkable = match outcome.status {
                SolveStatus::Solved | SolveStatus::AlmostSolved => true,
                // every iterate of the first-order method is a candidate certificate
                SolveStatus::Limit => first_order,
                _ => false,
            };
            let mut checked_multipliers = None;
            if checkable {
                match check(&outcome.multipliers) {
                    Ok(checked) => {
                        report.checked = Some(checked);
                        checked_multipliers = Some(outcome.multipliers.clone());
                    }
                    Err(refusal) => report.refusal = Some(refusal.reason),
                }
            } else {
                report.refusal = Some(format!("solver status {}", outcome.solver_status));
            }
            // an interior-point certificate the check had to repair: polished
            // by first-order steps from it ([`polish`])
            if !first_order && report.checked.as_ref().is_some_and(|c| !proves_eps(index, c)) {
                let checked = report.checked.as_ref().expect("checked");
                let limit = budget.remaining().map(|left| (left - check_seconds()).max(0.0)).map_or(POLISH_SECONDS.max(outcome.seconds), |left| left.min(POLISH_SECONDS.max(outcome.seconds)));
                let problem = SdpProblem { dim: lifted.dim, constant: lifted.constant, objective, constraints: &shared.constraints, distance: shared.distance.as_ref().map(|d| (d, diameter_sq)), coordinate_scale: &shared.coordinate_scale };
                if let Some((extended, polished)) = polish(&problem, &lifted, outcome.status, &outcome.multipliers, checked, limit, budget) {
                    if let Ok(better) = check_against(&extended, &polished) {
                        if better.value < checked.value {
                            report.checked = Some(better);
                            report.solver_status = format!("{} (polished by first-order steps)", report.solver_status);
                        }
                    }
                }
            }
            if let Some((checked, multipliers)) = at_start_checked {
                if report.checked.as_ref().is_none_or(|c| checked.value < c.value) {
                    report.checked = Some(checked);
                    report.refusal = None;
                    checked_multipliers = Some(multipliers);
                }
            }
            // the largest time the checks of one solve took so far
            record_check_seconds(checks_began.elapsed().as_secs_f64());
            (report, checked_multipliers)
    };
    let run_output = |index: usize| run(index, &shared, starts[index].as_ref());
    let (mut solves, output_multipliers): (Vec<SolveReport>, Vec<Option<Multipliers>>) = if !parallel { (0..squared_index).map(run_output).unzip() } else { (0..squared_index).into_par_iter().map(run_output).unzip() };
    // under the L2 norm, the intervals the outputs' solves proved
    let mut output_intervals = None;
    if norm == Norm::L2 {
        // the squared objective, with the products of the outputs' proven
        // intervals and their certificates as its start
        // (none with the interior-point solver: no output was bounded)
        let over_set = |i: usize| solves.get(i)?.checked.as_ref().map(|c| add_up(bound_over_set(c.value, c.gamma_x, diameter_sq), lifted.difference[i / 2].error));
        let (solved_lower, solved_upper): (Vec<f64>, Vec<f64>) = (0..output_count).map(|j| (over_set(2 * j + 1).map_or(f64::NEG_INFINITY, |b| -b), over_set(2 * j).unwrap_or(f64::INFINITY))).unzip();
        if settings.decide_eps.is_some_and(|eps| combined_intervals(&solved_lower, &solved_upper) <= eps) {
            // decide mode: the outputs' bounds combined prove eps already
            let mut report = SolveReport::not_attempted("l2", String::new());
            report.solver_status = "NotNeeded (the outputs' bounds combined prove eps)".into();
            report.status = SolveStatus::Solved;
            report.refusal = None;
            solves.push(report);
            output_intervals = Some((solved_lower, solved_upper));
        } else {
            // the products also take propagation's intervals where tighter
            let (mut lower, mut upper) = (solved_lower.clone(), solved_upper.clone());
            if let Some((propagation_lower, propagation_upper)) = warm.as_ref().map(PropagationStart::output_bounds) {
                lower.iter_mut().zip(&propagation_lower).for_each(|(l, p)| *l = l.max(*p));
                upper.iter_mut().zip(&propagation_upper).for_each(|(u, p)| *u = u.min(*p));
            }
            let products = qc::output_interval_products(&lifted, &lower, &upper);
            // the outputs' solves are done: their constraints are taken over
            // (copied only if an abandoned interior-point solve still holds them)
            let shared = std::sync::Arc::try_unwrap(shared).unwrap_or_else(|held| SharedData { constraints: held.constraints.clone(), distance: held.distance.clone(), coordinate_scale: held.coordinate_scale.clone() });
            let mut constraints = shared.constraints;
            let product_index: Vec<Option<usize>> = products
                .into_iter()
                .map(|product| {
                    constraints.push(product?);
                    Some(constraints.len() - 1)
                })
                .collect();
            *counts.entry("propagation".to_string()).or_insert(0) += product_index.iter().flatten().count();
            let start = first_order.then(|| squared_norm_start(&lifted, constraints.len(), &product_index, &lower, &upper, |index| output_multipliers[index].as_ref().or(starts[index].as_ref()))).flatten();
            let squared = std::sync::Arc::new(SharedData { constraints, distance: shared.distance, coordinate_scale: shared.coordinate_scale });
            solves.push(run(squared_index, &squared, start.as_ref()).0);
            // (the combination reported is of the SDP's own checked bounds only)
            output_intervals = Some((solved_lower, solved_upper));
        }
    }

    let over_set = |i: usize| solves[i].checked.as_ref().map(|c| bound_over_set(c.value, c.gamma_x, diameter_sq));
    let (bound, per_output, gamma_pair) = match norm {
        Norm::L2 => {
            let error_norm = error_norm();
            let of_intervals = output_intervals.as_ref().map_or(f64::INFINITY, |(lower, upper)| combined_intervals(lower, upper));
            let (bound, per_output, gamma_pair) = match (over_set(squared_index), &solves[squared_index].checked) {
                (Some(total), Some(c)) => {
                    // ||Delta|| <= ||computed forms|| + e (e: their errors'
                    // norm), and the forms obey ||.||^2 <= g + g_x d^2 (d =
                    // ||x1 - x2||). With sqrt(g + g_x d^2) <= sqrt(g) + sqrt(g_x) d
                    // and 2 sqrt(g_x) d <= sqrt(g_x) (1 + d^2):
                    // ||Delta||^2 <= (sqrt(g) + e)^2 + e sqrt(g_x) + (g_x + e sqrt(g_x)) d^2,
                    // the pair printed (each term rounded up)
                    let gamma_pair = independent.then(|| {
                        let root = add_up(sqrt_up(c.value.max(0.0)), error_norm);
                        // (no cross term without errors or without a distance multiplier)
                        let cross = if error_norm == 0.0 || c.gamma_x == 0.0 { 0.0 } else { mul_up(error_norm, sqrt_up(c.gamma_x.max(0.0))) };
                        let with_cross = |v: f64| if cross == 0.0 { v } else { add_up(v, cross) };
                        (upper_or_infinity(with_cross(mul_up(root, root))), upper_or_infinity(with_cross(c.gamma_x)))
                    });
                    (Some(upper_or_infinity(add_up(sqrt_up(total.max(0.0)), error_norm))), Vec::new(), gamma_pair)
                }
                _ => (None, Vec::new(), None),
            };
            let bound = match bound {
                Some(b) => Some(b.min(of_intervals)),
                None => of_intervals.is_finite().then_some(of_intervals),
            };
            (bound, per_output, gamma_pair)
        }
        Norm::Linf => {
            let per: Vec<Option<f64>> = (0..output_count)
                .map(|j| Some(upper_or_infinity(add_up(over_set(2 * j)?.max(over_set(2 * j + 1)?), lifted.difference[j].error))))
                .collect();
            let bound = per.iter().try_fold(0.0f64, |m, b| b.map(|b| m.max(b)));
            (bound, per, None)
        }
    };
    SdpResult {
        bound,
        per_output,
        gamma_pair,
        dim: lifted.dim,
        solver,
        variable_neurons: lifted.variable_neurons(),
        stable_neurons: lifted.neurons.len() - lifted.variable_neurons(),
        matched_pairs: lifted.matches.len(),
        qc_options: options,
        constraints: counts,
        solves,
    }
}

/// The outputs' intervals `[L_j, U_j]` alone bound the L2 norm:
/// `||Delta|| <= sqrt(sum_j max(U_j, -L_j)^2)`, rounded up (infinite where
/// an interval is).
fn combined_intervals(lower: &[f64], upper: &[f64]) -> f64 {
    upper_or_infinity(sqrt_up(sum_up(lower.iter().zip(upper).map(|(l, u)| {
        let largest = u.max(-l).max(0.0);
        mul_up(largest, largest)
    }))))
}

/// Differential propagation over the set (each network's own neuron bounds
/// with optimised slopes, then the fixed lines on those intervals) of a
/// plain (or structurally pruned) pair over a box, possibly cut by an L2 ball (or ellipsoid) and
/// polytope rows, with one input or `g`'s own (quantised or independent),
/// with its relaxations as linear facts of the lifted problem: the
/// first-order solver starts from its certificate (docs/method.md §7b).
pub struct PropagationStart {
    /// The passes whose certificates are offered: over a box the one with
    /// optimised slopes; over a ball or rows also the fixed-slope pass (fixed
    /// lines on narrower intervals are not always tighter there: measured on
    /// a random tanh pair over a ball, 0.7816 against the fixed pass's
    /// 0.7553).
    passes: Vec<StartPass>,
    /// The facts of every pass, to be appended to the constraints.
    pub constraints: Vec<Constraint>,
    /// The set (in first-layer coordinates): box, L2 constraint, rows.
    set: crate::input_set::InputSet,
    /// The bounds `[s_lo, s_hi]` on `x - x'` (zero for one input).
    shift_lower: Vec<f64>,
    shift_upper: Vec<f64>,
    /// Propagation's bounds `[L_j, U_j]` on each output's `Delta_j` (of the
    /// real-arithmetic networks, outward rounded) over the set.
    output_lower: Vec<f64>,
    output_upper: Vec<f64>,
}

/// One propagation pass of a [`PropagationStart`].
struct StartPass {
    /// The certificate of each output objective (`+`, `-`), from back-substitution.
    certificates: Vec<[Option<crate::propagation::OutputCertificate>; 2]>,
    /// Its facts (indices into its own list).
    facts: qc::PropagationFacts,
    /// Where its facts begin in [`PropagationStart::constraints`].
    offset: usize,
}

/// The share of the time left that the start's slope steps may take.
const START_TIME_SHARE: f64 = 0.1;

/// The share of the time left that the lifting's slope steps may take.
const LIFT_SLOPE_TIME_SHARE: f64 = 0.1;

/// Weight of the magnitude multipliers that make the start's quadratic part
/// negative definite: they add this fraction of the start's bound.
const START_MAGNITUDE_SHARE: f64 = 1e-3;

impl PropagationStart {
    /// Propagation over the set and its facts, for a plain or structurally
    /// pruned pair.
    /// The slope steps stop at `deadline` (the best bounds so far are kept).
    pub fn new(prepared: &Prepared, lifted: &Lifted, deadline: Option<std::time::Instant>) -> Option<PropagationStart> {
        use crate::propagation::{DifferentialPair, SlopeOptimisation};
        let set = &prepared.set;
        let pair = DifferentialPair::new(&prepared.reference, &prepared.compressed);
        if !pair.is_plain_or_pruned() {
            return None;
        }
        let region = crate::branch_and_bound::coupled_region(set, &prepared.coupling, set.lower(), set.upper());
        // optimised slopes tighten every neuron's interval, so the fixed lines
        // on them (and the certificate through them) are tighter too, over a box
        let mut slope_settings = vec![SlopeOptimisation { deadline, ..SlopeOptimisation::STANDARD }];
        if region.ball.is_some() || region.polytope.is_some() {
            slope_settings.push(SlopeOptimisation::NONE);
        }
        let mut passes = Vec::new();
        let mut constraints = Vec::new();
        let (mut output_lower, mut output_upper) = (vec![f64::NEG_INFINITY; lifted.difference.len()], vec![f64::INFINITY; lifted.difference.len()]);
        for slopes in &slope_settings {
            let bounds = pair.bounds_with_slopes(&region, None, slopes);
            if !bounds.differential {
                continue;
            }
            let certificates = (0..lifted.difference.len()).map(|j| [1.0, -1.0].map(|sign| pair.output_certificate(&bounds, j, sign))).collect();
            let facts = qc::propagation_facts(lifted, set, &bounds.lines, (&region.shift_lower, &region.shift_upper));
            let offset = constraints.len();
            constraints.extend(facts.constraints.iter().cloned());
            passes.push(StartPass { certificates, facts, offset });
            // every pass's output bounds hold: their intersection
            for (j, (l, u)) in bounds.output_lower.iter().zip(&bounds.output_upper).enumerate() {
                output_lower[j] = output_lower[j].max(*l);
                output_upper[j] = output_upper[j].min(*u);
            }
        }
        if passes.is_empty() {
            return None;
        }
        Some(PropagationStart { passes, constraints, set: set.clone(), shift_lower: region.shift_lower.clone(), shift_upper: region.shift_upper.clone(), output_lower, output_upper })
    }

    /// The start of objective `sign * Delta_output`: each fact's multiplier
    /// from the certificate (`|coefficient|` on the line's gap that was
    /// used), and on every magnitude constraint `m_t^2 - zeta_t^2 >= 0` a
    /// small `eps_t` (together `START_MAGNITUDE_SHARE` of the bound), which
    /// makes the quadratic part `-diag(eps)` (less `mu W` on the input
    /// where the L2 constraint closes it, below) negative definite: the start is
    /// inside the solver's domain and its value is about the propagation's
    /// bound. Of several passes, the certificate with the smallest value.
    ///
    /// The certificate ends in `c . x` over the set. Over the box it is
    /// closed by the sides' facts (multipliers `c_k^+` on `u_k - x_k`, `c_k^-`
    /// on `x_k - l_k`); over a ball or ellipsoid `sum_k w_k (x_k - x0_k)^2
    /// <= r^2`, where propagation's concretisation `c . x0 + r ||W^-1/2 c||`
    /// is smaller, by the L2 constraint with multiplier `mu = ||W^-1/2 c|| /
    /// (2 r)`: `c . x + mu (r^2 - sum_k w_k (x_k - x0_k)^2)` is at most `c .
    /// x0 + mu r^2 + ||W^-1/2 c||^2 / (4 mu)`, which is that concretisation
    /// at this `mu` (the S-lemma for one linear function). With polytope rows
    /// `a_i . x <= b_i`, where propagation's Lagrangian bound `lambda . b +
    /// max_box (c - A^T lambda) . x` is the smallest, `lambda_i` goes on the
    /// row facts `b_i - a_i . x` and the sides close `c - A^T lambda`.
    /// (`constraints` holds [`PropagationStart::constraints`] from `offset` on.)
    pub fn start(&self, lifted: &Lifted, constraints: &[Constraint], offset: usize, output: usize, sign: f64) -> Option<Multipliers> {
        let (pass, certificate, closure) = self.best_certificate(output, sign)?;
        let bound = self.value(certificate, &closure);
        let mut multipliers = vec![0.0; constraints.len()];
        place_certificate(pass, certificate, &closure, 1.0, offset + pass.offset, &mut multipliers)?;
        add_magnitude_multipliers(lifted, constraints, bound, &mut multipliers)?;
        Some(Multipliers { gamma: f64::NAN, gamma_x: 0.0, constraint: multipliers })
    }

    /// Propagation's bounds `(L, U)` on the outputs' `Delta_j` over the set.
    pub fn output_bounds(&self) -> (Vec<f64>, Vec<f64>) {
        (self.output_lower.clone(), self.output_upper.clone())
    }

    /// The certificate of `sign * Delta_output` with the smallest value over
    /// the passes, with its pass and how its input form is closed.
    fn best_certificate(&self, output: usize, sign: f64) -> Option<(&StartPass, &crate::propagation::OutputCertificate, Closure)> {
        let side = if sign > 0.0 { 0 } else { 1 };
        self.passes
            .iter()
            .filter_map(|pass| {
                let certificate = pass.certificates.get(output)?[side].as_ref()?;
                let closure = self.closure(&certificate.input);
                Some((pass, certificate, closure))
            })
            .min_by(|a, b| self.value(a.1, &a.2).total_cmp(&self.value(b.1, &b.2)))
    }

    /// A certificate's bound with `closure`: its constant, the maximum of
    /// `c . x` over the set and of `d . (x - x')` over its bounds.
    fn value(&self, certificate: &crate::propagation::OutputCertificate, closure: &Closure) -> f64 {
        let over_shift: f64 = certificate.shift.iter().zip(self.shift_lower.iter().zip(&self.shift_upper)).map(|(d, (l, u))| (d * l).max(d * u)).sum();
        certificate.constant + closure.value + over_shift
    }

    /// The maximum of `c . x` over the set (in floating point: it only
    /// ranks the starts and sizes their multipliers) and how it is closed:
    /// by the box's sides, by the L2 constraint with multiplier `mu`, or by
    /// polytope rows with multipliers `lambda` and the sides for the rest
    /// (see [`PropagationStart::start`]), whichever gives the least.
    fn closure(&self, input: &[f64]) -> Closure {
        let (lower, upper) = (self.set.lower(), self.set.upper());
        let over_box = |c: &[f64]| -> f64 { c.iter().zip(lower.iter().zip(upper)).map(|(c, (l, u))| (c * l).max(c * u)).sum() };
        let mut best = Closure { value: over_box(input), by: ClosedBy::Sides };
        let rows = self.set.polytope();
        if !rows.is_empty() {
            use crate::propagation::polytope::{dual_bound, multipliers};
            let lambda = multipliers(input, lower, upper, rows);
            let value = dual_bound(input, lower, upper, rows, &lambda);
            if value < best.value {
                let mut remainder = input.to_vec();
                for ((a, _), l) in rows.iter().zip(&lambda) {
                    remainder.iter_mut().zip(a).for_each(|(r, a)| *r -= l * a);
                }
                best = Closure { value, by: ClosedBy::Rows { lambda, remainder } };
            }
        }
        if let Some((center, radius)) = self.set.ball_constraint() {
            let weights: Vec<f64> = match self.set.ball_scales() {
                Some(scales) => scales.iter().map(|s| s * s).collect(),
                None => vec![1.0; input.len()],
            };
            let spread = input.iter().zip(&weights).map(|(c, w)| c * c / w).sum::<f64>().sqrt();
            let value = input.iter().zip(center).map(|(c, x)| c * x).sum::<f64>() + radius * spread;
            let mu = spread / (2.0 * radius);
            if *radius > 0.0 && spread > 0.0 && mu.is_finite() && value < best.value {
                best = Closure { value, by: ClosedBy::Ball(mu) };
            }
        }
        best
    }
}

/// How a certificate's input form `c . x` is closed over the set.
struct Closure {
    /// Its maximum over the set.
    value: f64,
    /// What closes it.
    by: ClosedBy,
}

/// The last step of a start's certificate.
enum ClosedBy {
    /// The box's sides close `c . x`.
    Sides,
    /// The polytope rows with multipliers `lambda`, and the box's sides the
    /// rest, `(c - A^T lambda) . x`.
    Rows { lambda: Vec<f64>, remainder: Vec<f64> },
    /// The set's L2 constraint, with this multiplier.
    Ball(f64),
}

/// The first-order start of `||Delta||^2` over `constraint_count`
/// constraints (docs/method.md §7b): multiplier 1 on each output's `(U_j -
/// Delta_j)(Delta_j - L_j) >= 0` (at `product_index[j]`, `[L_j, U_j]` =
/// `[lower_j, upper_j]`) cancels `Delta_j^2` and leaves `s_j Delta_j - U_j
/// L_j` with `s_j = U_j + L_j`; `|s_j|` times the multipliers of a
/// certificate of `sign(s_j) Delta_j` (`certificate(2 j)` for `+`, `2 j + 1`
/// for `-`: the output's checked solve, or propagation's start) closes it.
/// An output whose difference is a constant needs no product (its square is
/// in `gamma`). None if an output lacks its product or certificate.
fn squared_norm_start<'a>(lifted: &Lifted, constraint_count: usize, product_index: &[Option<usize>], lower: &[f64], upper: &[f64], certificate: impl Fn(usize) -> Option<&'a Multipliers>) -> Option<Multipliers> {
    let mut multipliers = vec![0.0; constraint_count];
    let mut gamma_x = 0.0;
    for (j, difference) in lifted.difference.iter().enumerate() {
        if difference.terms.iter().all(|&(t, _)| t == lifted.constant) {
            continue;
        }
        multipliers[product_index[j]?] = 1.0;
        let s = upper[j] + lower[j];
        let linear = certificate(if s >= 0.0 { 2 * j } else { 2 * j + 1 })?;
        for (m, &c) in multipliers.iter_mut().zip(&linear.constraint) {
            *m += s.abs() * c;
        }
        gamma_x += s.abs() * linear.gamma_x;
    }
    multipliers.iter().all(|m| m.is_finite()).then_some(Multipliers { gamma: f64::NAN, gamma_x, constraint: multipliers })
}

/// Adds `weight` times the multipliers of `certificate` (of `pass`, whose
/// facts begin at `offset` in `multipliers`) to `multipliers`: each fact's
/// `|coefficient|` on the line's gap that was used, the sides, rows or L2
/// constraint that `closure` names, and the bounds on `x - x'`. None if
/// the certificate does not fit the pass's facts.
fn place_certificate(pass: &StartPass, certificate: &crate::propagation::OutputCertificate, closure: &Closure, weight: f64, offset: usize, multipliers: &mut [f64]) -> Option<()> {
    let mut place = |index: Option<usize>, value: f64| {
        let value = weight * value;
        if let Some(k) = index {
            if value > 0.0 && value.is_finite() {
                multipliers[offset + k] += value;
            }
        }
    };
    for (j, (delta, reference)) in certificate.layers.iter().enumerate() {
        let facts = pass.facts.neurons.get(j)?;
        for (i, (&d, &r)) in delta.iter().zip(reference).enumerate() {
            let [delta_upper, delta_lower, reference_upper, reference_lower] = facts.get(i).copied()?;
            place(delta_upper, d);
            place(delta_lower, -d);
            place(reference_upper, r);
            place(reference_lower, -r);
        }
    }
    let mut place_sides = |remainder: &[f64]| {
        for (&c, sides) in remainder.iter().zip(&pass.facts.input) {
            place(sides[0], c);
            place(sides[1], -c);
        }
    };
    match &closure.by {
        ClosedBy::Sides => place_sides(&certificate.input),
        ClosedBy::Rows { lambda, remainder } => {
            place_sides(remainder);
            for (&l, &row) in lambda.iter().zip(&pass.facts.rows) {
                place(row, l);
            }
        }
        ClosedBy::Ball(mu) => place(pass.facts.ball, *mu),
    }
    for (&d, sides) in certificate.shift.iter().zip(&pass.facts.shift) {
        place(sides[0], d);
        place(sides[1], -d);
    }
    Some(())
}

/// On every magnitude constraint `m_t^2 - zeta_t^2 >= 0` a small `eps_t`,
/// together `START_MAGNITUDE_SHARE` of `bound` (in absolute value): the
/// start's quadratic part becomes negative definite. None if `bound` is not
/// finite.
fn add_magnitude_multipliers(lifted: &Lifted, constraints: &[Constraint], bound: f64, multipliers: &mut [f64]) -> Option<()> {
    let scale = if bound.is_finite() { bound.abs().max(1e-12) } else { return None };
    let magnitudes = constraints.iter().filter(|c| c.family == qc::Family::Magnitude).count().max(1) as f64;
    let floor = 1e-6 * lifted.coordinate_magnitude.iter().copied().filter(|m| m.is_finite()).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    for (k, c) in constraints.iter().enumerate() {
        if c.family != qc::Family::Magnitude {
            continue;
        }
        let qc::Quadratic::Product(p, _) = &c.quadratic else { continue };
        // a coordinate fixed at (nearly) 0 has m ~ 0: its constraint costs
        // (nearly) nothing, and its multiplier is sized as for m = 1e-6 x the largest
        let m = lifted.coordinate_magnitude[p.terms[0].0].max(floor);
        if m.is_finite() {
            multipliers[k] = START_MAGNITUDE_SHARE * scale / (magnitudes * m * m);
        }
    }
    Some(())
}

/// The data every solve of one call shares, owned so that a solve can run
/// on its own thread.
struct SharedData {
    constraints: Vec<Constraint>,
    distance: Option<SymmetricSparse>,
    coordinate_scale: Vec<f64>,
}

/// Seconds before the limit at which Clarabel's own time limit is set (at
/// most half the time left), so that its last iteration and the certificate
/// check can end by the limit.
const SOLVER_MARGIN_SECONDS: f64 = 0.5;

/// Seconds of first-order steps that polish an interior-point certificate
/// at most (or the interior-point solve's own time, if longer), within the
/// time left.
const POLISH_SECONDS: f64 = 1.0;

/// The repair of a converged interior-point certificate, relative to its
/// checked value, from which it is polished: on the seed paper's pairs the
/// converged solves' repairs are 1e-7 to 7e-5 (the polish wins less than
/// the repair, not worth its second); solves that ended "almost solved" on
/// quantised copies are polished whatever their repair (one of 3e-6 gave
/// 2.7%).
const POLISH_MIN_REPAIR: f64 = 1e-4;

/// Polishes an interior-point certificate whose check had to repair it: the
/// first-order solver ([`first_order`]) descends from the interior-point
/// multipliers, with the magnitude constraints `m_t^2 - zeta_t^2 >= 0` added
/// and their multipliers set to the diagonal the check proved `-M + diag`
/// positive definite with (so the start lies in its domain, and its value
/// exceeds the check's by no more than the check's rounding terms). The polished multipliers are for the returned
/// constraints (the problem's and the magnitudes); they go through the
/// same check. None when the check needed no repair, or there is no time
/// or memory for it.
fn polish(problem: &SdpProblem, lifted: &Lifted, status: SolveStatus, multipliers: &Multipliers, checked: &certificate::CheckedBound, limit: f64, budget: &Budget) -> Option<(Vec<Constraint>, Multipliers)> {
    // what the repair cost, which is about what the polish can win when the
    // solver converged (its gamma is then near the relaxation's optimum):
    // not worth a second below a relative POLISH_MIN_REPAIR. A solve that
    // ended short of convergence ("almost solved") is polished whatever
    // its repair.
    let repair = checked.value - multipliers.gamma;
    if !(status == SolveStatus::AlmostSolved || repair > POLISH_MIN_REPAIR * checked.value.abs().max(1e-12)) || limit <= 0.0 || checked.diagonal_shift.len() != lifted.dim {
        return None;
    }
    let magnitudes = qc::magnitude_constraints(lifted);
    let mut start = multipliers.clone();
    for c in &magnitudes {
        let qc::Quadratic::Product(p, _) = &c.quadratic else { return None };
        start.constraint.push(checked.diagonal_shift[p.terms[0].0]);
    }
    let mut constraints = problem.constraints.to_vec();
    constraints.extend(magnitudes);
    // its memory (a copy of the constraints, the solver's matrices), for
    // each of two solves at once: none when it does not fit the budget
    let terms: usize = constraints.iter().map(Constraint::term_count).sum();
    budget.admit("the first-order polish", 2.0 * (first_order_bytes(lifted.dim, terms) + 176.0 * terms as f64)).ok()?;
    let extended = SdpProblem { constraints: &constraints, ..*problem };
    let settings = first_order::FirstOrderSettings { start_only: true, ..first_order::FirstOrderSettings::default() };
    let outcome = first_order::solve(&extended, Some(limit), Some(&start), &settings);
    outcome.multipliers.gamma.is_finite().then_some((constraints, outcome.multipliers))
}

/// One solve within `remaining` seconds (None: no limit). Clarabel checks its
/// time limit once per iteration, and it is given the time left less
/// [`SOLVER_MARGIN_SECONDS`]; but its setup (chordal decomposition and the
/// first factorisation) can take longer than the whole budget; so the solve
/// runs on its own thread and is abandoned (None) when it has not returned
/// by the limit itself. An abandoned solve finishes its setup in the
/// background and stops at its first iteration (its own time limit has
/// passed by then); its result is dropped. (It was abandoned half a second
/// after the limit: ACAS Xu 2_6 property 3, d = 98, `--sdp-solver
/// interior-point --timeout 3` ended after 3.6 s.)
fn solve_on_time(dim: usize, constant: usize, objective: SymmetricSparse, shared: &std::sync::Arc<SharedData>, diameter_sq: f64, remaining: Option<f64>) -> Option<solve::SolveOutcome> {
    let shared = std::sync::Arc::clone(shared);
    let job = move || {
        let problem = SdpProblem { dim, constant, objective: &objective, constraints: &shared.constraints, distance: shared.distance.as_ref().map(|d| (d, diameter_sq)), coordinate_scale: &shared.coordinate_scale };
        solve::solve(&problem, remaining.map(|r| (r - SOLVER_MARGIN_SECONDS).max(0.5 * r)))
    };
    let Some(seconds) = remaining else {
        return Some(job());
    };
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("deltacert-sdp".into())
        .spawn(move || {
            let _ = sender.send(job());
        })
        .ok()?;
    receiver.recv_timeout(crate::limits::duration(seconds)).ok()
}

/// What one SDP bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// `||Delta||^2`.
    SquaredNorm,
    /// `sign * Delta_index` (a linear objective, written `sign Delta_j * 1`).
    Output {
        /// Output index `j`.
        index: usize,
        /// +1 or -1.
        sign: f64,
    },
}

/// The matrix `Obj` of an objective: `sum_j sym(Delta_j Delta_j^T)` or
/// `sym(sign Delta_j e_1^T)` with `e_1` the constant coordinate.
pub fn objective_matrix(lifted: &Lifted, objective: Objective) -> SymmetricSparse {
    match objective {
        Objective::SquaredNorm => {
            let mut entries = Vec::new();
            for d in &lifted.difference {
                entries.extend(SymmetricSparse::product(d, d).entries);
            }
            SymmetricSparse { entries }.consolidated()
        }
        Objective::Output { index, sign } => {
            let one = LinearForm { terms: vec![(lifted.constant, 1.0)], error: 0.0 };
            SymmetricSparse::product(&lifted.difference[index].scaled(sign, &lifted.coordinate_magnitude), &one)
        }
    }
}

/// A bound on `sum_j |zeta^T P_j zeta|` given `|zeta_t| <= magnitude_t`,
/// with `P_j = Delta_j Delta_j^T` as formed: the sum over outputs of the
/// terms whose rounding [`objective_matrix`]'s entries of
/// [`Objective::SquaredNorm`] carry. The entries themselves are sums over
/// the outputs, in which terms of opposite sign cancel, so their magnitude
/// can be far below what their rounding errors scale with.
pub fn squared_norm_rounding_magnitude(lifted: &Lifted) -> f64 {
    lifted.difference.iter().fold(0.0, |sum, d| add_up(sum, SymmetricSparse::product(d, d).magnitude(&lifted.coordinate_magnitude)))
}

/// `||x1 - x2||^2` as a quadratic form in `zeta` (independent inputs).
fn distance_matrix(lifted: &Lifted) -> SymmetricSparse {
    let mut entries = Vec::new();
    for (&a, &b) in lifted.input_f.iter().zip(&lifted.input_g) {
        let d = LinearForm { terms: vec![(a, 1.0), (b, -1.0)], error: 0.0 };
        entries.extend(SymmetricSparse::product(&d, &d).entries);
    }
    SymmetricSparse { entries }.consolidated()
}

/// The result of an SDP that was not attempted, for `reason`: no bound for
/// any of the `outputs` (`linf`; 0 otherwise), the sizes of `lifted` if the
/// pair was lifted (dimension 0 if not).
fn not_attempted(reason: String, outputs: usize, solver: SdpSolver, lifted: Option<&Lifted>) -> SdpResult {
    let solves = vec![SolveReport { objective: "all".into(), status: SolveStatus::SetupFailure, solver_status: "NotAttempted".into(), seconds: 0.0, iterations: 0, solver_gamma: f64::NAN, checked: None, refusal: Some(reason) }];
    SdpResult {
        bound: None,
        per_output: vec![None; outputs],
        gamma_pair: None,
        dim: lifted.map_or(0, |l| l.dim),
        solver,
        variable_neurons: lifted.map_or(0, |l| l.variable_neurons()),
        stable_neurons: lifted.map_or(0, |l| l.neurons.len() - l.variable_neurons()),
        matched_pairs: lifted.map_or(0, |l| l.matches.len()),
        qc_options: QcOptions::DEFAULT,
        constraints: BTreeMap::new(),
        solves,
    }
}

/// Pre-activation bounds of both networks over the set (linear propagation
/// with optimised relaxation slopes, never looser than intervals; slope
/// steps until `slopes_until`, past `stop` intervals only), then the
/// lifting. Tighter intervals make more neurons stable (fewer coordinates)
/// and tighten the interval and per-neuron QCs of the rest: measured on
/// ACAS Xu 1_1 property 3, `d` 226 -> 194 and the first-order bound 0.1032
/// -> 0.1004 (60 s per objective), on random 2-w-w-1 pairs (w = 20, 50,
/// 100) 1-4% lower, on the paper's pairs the interior point's bound 1-3%
/// lower (docs/benchmarks.md).
fn lift_pair(prepared: &Prepared, slopes_until: Option<std::time::Instant>, stop: Option<std::time::Instant>) -> Lifted {
    let passes = crate::propagation::SlopeOptimisation { stop, deadline: slopes_until, ..crate::propagation::SlopeOptimisation::STANDARD };
    let bounds_f = crate::propagation::linear_bounds_optimised(&prepared.reference, prepared.set.lower(), prepared.set.upper(), &passes);
    let bounds_g = crate::propagation::linear_bounds_optimised(&prepared.compressed, prepared.set.lower(), prepared.set.upper(), &passes);
    lift::lift(&prepared.reference, &prepared.compressed, &bounds_f, &bounds_g, &prepared.coupling)
}

/// The lifted problem and its constraints, for tests and diagnostics.
pub fn constraints_for(prepared: &Prepared, options: QcOptions) -> (Lifted, Vec<Constraint>) {
    let lifted = lift_pair(prepared, None, None);
    let constraints = qc::build(&lifted, &prepared.set, &prepared.coupling, options, None).expect("no budget: every constraint is built");
    (lifted, constraints)
}

#[cfg(test)]
mod tests {
    use super::bound_over_set;

    /// A box whose squared diameter overflows (one input in +-7e153) with
    /// no distance term (the same input to both networks) keeps the solve's
    /// value; with one, the bound is +inf; a NaN is no bound, never 0.
    #[test]
    fn an_infinite_diameter_is_no_term_without_a_multiplier_and_no_bound_with_one() {
        let diameter_sq = 2.0 * (1.4e154f64 * 1.4e154);
        assert!(diameter_sq.is_infinite());
        assert_eq!(bound_over_set(0.25, 0.0, diameter_sq), 0.25);
        assert_eq!(bound_over_set(0.25, 1e-3, diameter_sq), f64::INFINITY);
        assert_eq!(bound_over_set(f64::NAN, 0.0, 1.0), f64::INFINITY);
        assert_eq!(bound_over_set(f64::INFINITY, 0.0, 1.0), f64::INFINITY);
        // rounded up: never below the exact sum
        let value = bound_over_set(0.1, 0.2, 0.3);
        assert!(value >= 0.1 + 0.2 * 0.3 && value <= (0.1 + 0.2 * 0.3) * (1.0 + 4.0 * f64::EPSILON));
    }
}
