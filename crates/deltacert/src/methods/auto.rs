//! `auto`: the SDP where it pays (small enough for the interior point, or
//! with the first-order solver where the inputs are many; run beside the attack;
//! in decide mode after it, and not once it has found an error above eps),
//! then input splitting ([`crate::branch_and_bound`]) from the tighter of the
//! two bounds, with the time that is left.

use super::{sdp, tighten, BoundMethod, FoundInput, MethodContext, MethodOption, MethodOutcome};
use crate::attack::{objective_search, ObjectiveSearch};
use crate::branch_and_bound::{branch_and_bound, SplitOutcome, SplitSettings};
use crate::error::Result;
use crate::report::MethodEvidence;
use crate::sdp::SdpSolver;
use std::sync::Arc;

/// Share of the time left that the search for a lower bound may take before
/// splitting. Its default effort takes milliseconds; only a very large
/// `--samples` reaches the share, which leaves the rest to the proof (with
/// `--samples 10^12` and 3 s the search took all of it and splitting none).
pub const ATTACK_SHARE: f64 = 0.5;

/// Share of the time left that the SDP on the whole set may take; splitting
/// gets the rest. With all of it, a small pair whose SDP did not finish
/// (8-8 hidden neurons, 10 s on a loaded machine) ended with one piece and
/// a bound twice what splitting reached in 0.8 s.
pub const SDP_SHARE: f64 = 0.5;

/// Share of the time left that the first-order SDP takes where it runs for
/// the many inputs ([`AUTO_FIRST_ORDER_MIN_INPUTS`]): splitting gains little
/// after it there, and the descent goes on improving. Measured
/// (`scale_table -- inputs`, 10 s, 18 pairs of 10 to 100 inputs): against
/// half the time, 15 bounds fell (by up to half: 50 inputs, 32-32, 9.20 to
/// 4.41) and 3 stayed.
pub const FIRST_ORDER_SDP_SHARE: f64 = 0.8;

/// Default time budget of `auto` when no time limit is given.
pub const DEFAULT_AUTO_SECONDS: f64 = 10.0;
/// `auto` runs the SDP on the whole set when its estimated lifted dimension
/// is at most this (measured: d = 43 takes about 1.4 s, d = 83 about 35 s).
pub const AUTO_SDP_MAX_DIM: usize = 48;

/// Above [`AUTO_SDP_MAX_DIM`], `auto` runs the first-order SDP on the whole
/// set when the set has at least this many inputs: input splitting halves
/// one input at a time, and with many inputs a halving gains little, while
/// the SDP couples them all. Measured (docs/benchmarks.md, `scale_table --
/// inputs`): random ReLU pairs of 10 to 100 inputs and 2-4 hidden layers
/// against `fixed:4` copies, 10 s: `auto` with the SDP was 1.9 (10 inputs)
/// to 3.6 (100 inputs) times tighter (medians) than with splitting alone;
/// with 5 to 8 inputs the SDP alone was looser than splitting (5 inputs,
/// ACAS Xu's count: 1.6 to 2.1 times; 8: 1.2 times).
pub const AUTO_FIRST_ORDER_MIN_INPUTS: usize = 10;

/// ... and when its estimated lifted dimension is at most this: on MNIST
/// 3x100 (d about 900) no step of the first-order descent gets below its
/// start, propagation's certificate, in 120 s.
pub const AUTO_FIRST_ORDER_MAX_DIM: usize = 600;

/// Share of the time outside decide mode kept for the per-objective
/// lower-bound search after splitting ([`objective_search`]), used only when
/// splitting ends with the bound above `target_ratio` times the lower bound.
/// Measured (docs/benchmarks.md): on MNIST 3x100 vs float16 at +-8/255 and
/// 10 s it raised the lower bound of the images where it was weakest by up
/// to 15% and left the median unchanged; the splitting search's 10% less
/// time cost the bound about 0.3%.
pub const OBJECTIVE_SEARCH_SHARE: f64 = 0.1;
/// At most this many rounds (one start per objective each).
const OBJECTIVE_SEARCH_ROUNDS: usize = 64;

/// Differential propagation, input splitting, and the SDP where it pays.
pub struct Auto;

impl BoundMethod for Auto {
    fn name(&self) -> &'static str {
        "auto"
    }
    fn summary(&self) -> &'static str {
        "Differential propagation, input splitting, and the SDP where it pays."
    }
    fn description(&self) -> &'static str {
        "differential propagation and input splitting"
    }
    fn default_time_limit(&self) -> Option<f64> {
        Some(DEFAULT_AUTO_SECONDS)
    }
    fn reads(&self, _option: MethodOption) -> bool {
        true
    }
    fn run(&self, context: &MethodContext) -> Result<MethodOutcome> {
        let request = context.request;
        let already_decided = request.eps.is_some_and(|eps| context.root.value <= eps);
        // the interior point on small problems; the first-order solver on
        // larger ones where the inputs are many (unless another solver was asked for)
        let first_order = request.set.dim() >= AUTO_FIRST_ORDER_MIN_INPUTS && context.estimated_sdp_dim <= AUTO_FIRST_ORDER_MAX_DIM && matches!(request.sdp.solver, SdpSolver::Auto | SdpSolver::FirstOrder);
        let run_sdp = !already_decided && !context.budget.expired() && (context.estimated_sdp_dim <= AUTO_SDP_MAX_DIM.min(request.sdp.max_dimension) || first_order);
        let for_many_inputs = context.estimated_sdp_dim > AUTO_SDP_MAX_DIM.min(request.sdp.max_dimension);
        let (solver, share) = if for_many_inputs { (SdpSolver::FirstOrder, FIRST_ORDER_SDP_SHARE) } else { (request.sdp.solver, SDP_SHARE) };
        // decide mode with the root already proven: no search (the orchestrator draws a token witness)
        let sdp_budget = || match context.budget.remaining() {
            Some(left) => crate::limits::Budget::new(Some(share * left), context.budget.memory_bytes()),
            None => *context.budget,
        };
        let (sdp_outcome, witness) = match request.eps.filter(|_| !already_decided) {
            // decide mode: the search first, and no SDP once it has found an
            // error above eps (that is the answer)
            Some(eps) => {
                let witness = context.attack_within_share(ATTACK_SHARE);
                let sdp_outcome = (run_sdp && witness.error <= eps).then(|| sdp::certify_with(context, &sdp_budget(), solver));
                (sdp_outcome, Some(witness))
            }
            None => rayon::join(|| run_sdp.then(|| sdp::certify_with(context, &sdp_budget(), solver)), || (!already_decided).then(|| context.attack_within_share(ATTACK_SHARE))),
        };
        // the attack's witness is in raw units, the search's points in
        // first-layer coordinates
        let initial_lower = witness.map_or((0.0, Vec::new()), |w| (w.error, crate::bound::to_first_layer(context.reference, w.input.as_deref().unwrap_or_default())));
        let mut root = context.root.clone();
        if let Some(outcome) = &sdp_outcome {
            tighten(&context.problem, &mut root, &outcome.per_output, &outcome.per_output);
            root.value = root.value.min(outcome.certified);
        }
        // The SDP is not run on pieces: measured on ACAS Xu 1_1, a piece with
        // lifted dimension <= 20 costs 1-2 s of SDP against milliseconds per
        // split, and 10 s budgets ended looser with it (property 1: 8.9e-5
        // versus 5.2e-5; property 4: 2.11e-3 versus 2.05e-3).
        let remaining = context.budget.remaining().unwrap_or(f64::INFINITY);
        // outside decide mode the last part of the time is kept for the
        // per-objective lower-bound search (below)
        let search_seconds = if request.eps.is_none() && remaining.is_finite() { OBJECTIVE_SEARCH_SHARE * remaining } else { 0.0 };
        let settings = SplitSettings { time_limit: remaining - search_seconds, eps: request.eps, target_ratio: request.target_ratio, memory_bytes: context.budget.memory_bytes(), branching: request.branching, phase_programs: request.phase_programs, ..SplitSettings::default() };
        let split = branch_and_bound(&context.problem, root, initial_lower, &settings, context.progress);
        // a piece's corner: both networks see it
        let mut found = FoundInput { point: split.witness.clone(), compressed_point: split.witness.clone(), error: split.lower, per_output_lower: split.per_output_lower.clone() };
        // where the bound is still far above the lower bound: ascents from
        // random points, one per output objective, with the time kept for it
        // (every value is an error evaluated at an input of the set, and the
        // report re-evaluates the witness)
        if search_seconds > 0.0 && split.bound > request.target_ratio * split.lower {
            let seconds = context.budget.remaining().unwrap_or(search_seconds).min(search_seconds);
            let prepared = context.prepared;
            let search = ObjectiveSearch { steps: request.attack.steps, seconds, max_rounds: OBJECTIVE_SEARCH_ROUNDS, seed: request.attack.seed };
            let searched = objective_search(&prepared.reference, &prepared.compressed, &prepared.set, &prepared.coupling, request.norm, &search);
            found.per_output_lower.iter_mut().zip(&searched.per_output).for_each(|(a, b)| *a = a.max(*b));
            if let Some(point) = searched.input.filter(|_| searched.error > found.error) {
                found.compressed_point = searched.compressed_input.unwrap_or_else(|| point.clone());
                found.point = point;
                found.error = searched.error;
            }
        }
        // (splitting's bound stands where the SDP gave none)
        let (note, mut evidence) = match sdp_outcome {
            Some(outcome) => {
                let result = outcome.evidence.iter().find_map(|(_, e)| e.as_any().downcast_ref::<crate::sdp::SdpResult>());
                (result.and_then(|r| sdp::missing_certificate_note(r, "splitting's")), outcome.evidence)
            }
            None => (None, Vec::new()),
        };
        let (certified, per_output) = (split.bound, split.per_output.clone());
        evidence.push(("split", Arc::new(split)));
        Ok(MethodOutcome { certified, per_output, solver_bound: None, found: Some(found), uses_attack: true, note, evidence })
    }
}

impl MethodEvidence for SplitOutcome {
    fn summary(&self) -> String {
        let mut programs = if self.phase_program_pieces > 0 { format!(", phase programs on {} pieces ({} closed)", self.phase_program_pieces, self.phase_program_closed) } else { String::new() };
        if self.objective_tree_programs > 0 {
            programs += &format!(", {} phase programs on the whole set's objectives", self.objective_tree_programs);
        }
        format!("{} pieces bounded, {} open, depth {}, {} input and {} neuron splits ({:?}){programs}, stopped: {:?}, {:.2} s", self.pieces_bounded, self.pieces_open, self.max_depth, self.input_splits, self.neuron_splits, self.branching, self.stop, self.seconds)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
