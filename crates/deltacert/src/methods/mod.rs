//! The bound methods, behind one interface.
//!
//! Every method receives the same [`MethodContext`]: the prepared problem
//! (the pair in first-layer coordinates, the set, the coupling, the norm),
//! the budget, and the bound every method starts from and is capped by (one
//! pass of differential propagation, lowered to the interval bound of the
//! difference). It returns a [`MethodOutcome`]: certified per-output bounds,
//! optionally a solver's bound that was not re-checked, an input pair it
//! found, and its own typed evidence ([`MethodEvidence`]). The orchestrator
//! ([`crate::bound`]) turns that into the report: the lower bound and its
//! witness are re-evaluated there, for every method alike.
//!
//! Adding a method: one file implementing [`BoundMethod`] and one line in
//! [`Method::ALL`]. The command line's `--method` list, the JSON `method`
//! field and the human report's evidence lines derive from that entry.

pub mod auto;
pub mod milp;
pub mod propagate;
pub mod sdp;

use crate::attack::{attack_until, AttackSettings, Seed, Witness};

/// Samples drawn for the witness once decide mode is already proven.
pub const TOKEN_SAMPLES: usize = 16;

/// The attack samples and ascends until the budget's deadline, or for at
/// least this many seconds when the method used the budget up (so the
/// report still has a witness), and at most [`ATTACK_MIN_SHARE`] of the
/// time limit: a limit of 1 s ends by 1.05 s.
pub const ATTACK_MIN_SECONDS: f64 = 0.5;
/// The largest share of the time limit the attack may run past it.
pub const ATTACK_MIN_SHARE: f64 = 0.05;
/// The seconds a search for a witness gets however little time is left,
/// for a time limit of `total_seconds`: [`ATTACK_MIN_SECONDS`], and at most
/// [`ATTACK_MIN_SHARE`] of the limit.
pub fn attack_floor_seconds(total_seconds: Option<f64>) -> f64 {
    total_seconds.map_or(ATTACK_MIN_SECONDS, |limit| ATTACK_MIN_SECONDS.min(ATTACK_MIN_SHARE * limit))
}
use crate::bound::BoundRequest;
use crate::branch_and_bound::{Piece, Progress, SplitProblem};
use crate::error::Result;
use crate::limits::Budget;
use crate::network::Network;
use crate::problem::Prepared;
use crate::report::MethodEvidence;
use std::sync::{Arc, OnceLock};

/// Options of a [`BoundRequest`] a method may read; an option no chosen
/// method reads is an error on the command line, not silently ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodOption {
    /// [`BoundRequest::sdp`] (`--qcs`, `--sdp-max-dim`).
    SdpSettings,
    /// [`BoundRequest::target_ratio`] (the splitting search's stop).
    TargetRatio,
    /// [`BoundRequest::attack`] (`--samples`): the sampling lower-bound search.
    AttackSamples,
    /// [`BoundRequest::slopes`] (`--optimise-slopes`): optimised relaxation
    /// slopes in differential propagation.
    Slopes,
}

/// One way of bounding `||f - g||` over the set.
pub trait BoundMethod: Sync {
    /// The name on the command line and in JSON.
    fn name(&self) -> &'static str;
    /// One line for `--help`.
    fn summary(&self) -> &'static str;
    /// What it runs, for the progress line ("bounding ... with {description}").
    fn description(&self) -> &'static str;
    /// Seconds the whole call may take when the request sets no limit
    /// (None: run to completion).
    fn default_time_limit(&self) -> Option<f64> {
        None
    }
    /// Whether it reads `option` of the request.
    fn reads(&self, option: MethodOption) -> bool {
        option == MethodOption::AttackSamples
    }
    /// Refuses pairs, sets or norms it cannot handle (bad input: `Err`).
    fn check(&self, _reference: &Network, _compressed: &Network, _request: &BoundRequest) -> Result<()> {
        Ok(())
    }
    /// Bounds the problem of `context`.
    fn run(&self, context: &MethodContext) -> Result<MethodOutcome>;
}

/// A registered method: a handle on its [`BoundMethod`], compared by name.
#[derive(Clone, Copy)]
pub struct Method(&'static dyn BoundMethod);

impl Method {
    /// Propagation, splitting, and the SDP where it pays.
    pub const AUTO: Method = Method(&auto::Auto);
    /// One pass of differential propagation.
    pub const PROPAGATE: Method = Method(&propagate::Propagate);
    /// The S-procedure semidefinite program.
    pub const SDP: Method = Method(&sdp::Sdp);
    /// The exact worst case by mixed-integer programming.
    pub const MILP: Method = Method(&milp::Milp);
    /// Every registered method: the registry.
    pub const ALL: &'static [Method] = &[Method::AUTO, Method::PROPAGATE, Method::SDP, Method::MILP];

    /// The method registered under `name`.
    pub fn named(name: &str) -> Option<Method> {
        Method::ALL.iter().copied().find(|m| m.name() == name)
    }
    /// Its name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        self.0.name()
    }
    /// Its implementation.
    pub fn implementation(self) -> &'static dyn BoundMethod {
        self.0
    }
}

impl PartialEq for Method {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}
impl Eq for Method {}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(feature = "clap")]
impl clap::ValueEnum for Method {
    fn value_variants<'a>() -> &'a [Self] {
        Method::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.0.summary()))
    }
}

/// What every method receives.
pub struct MethodContext<'a> {
    /// `f` as read (raw input units; the attack evaluates it).
    pub reference: &'a Network,
    /// `g` as read.
    pub compressed: &'a Network,
    /// The pair in first-layer coordinates with its set and coupling.
    pub prepared: &'a Prepared,
    /// The request (norm, eps, settings).
    pub request: &'a BoundRequest,
    /// What is left of the time and memory budget.
    pub budget: &'a Budget,
    /// The pair prepared for differential propagation over pieces of the set.
    pub problem: SplitProblem<'a>,
    /// The whole set bounded by one propagation pass, capped by the interval
    /// bound of the difference: every method's result is at most this.
    pub root: Piece,
    /// The SDP's lifted dimension estimated from the unstable neurons.
    pub estimated_sdp_dim: usize,
    /// Called about once a second by long searches.
    pub progress: &'a (dyn Fn(&Progress) + Sync),
    witness: OnceLock<(Witness, AttackSettings)>,
}

impl<'a> MethodContext<'a> {
    /// A context whose attack has not run yet.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(reference: &'a Network, compressed: &'a Network, prepared: &'a Prepared, request: &'a BoundRequest, budget: &'a Budget, problem: SplitProblem<'a>, root: Piece, estimated_sdp_dim: usize, progress: &'a (dyn Fn(&Progress) + Sync)) -> Self {
        MethodContext { reference, compressed, prepared, request, budget, problem, root, estimated_sdp_dim, progress, witness: OnceLock::new() }
    }
    /// The sampling and gradient lower-bound search ([`crate::attack`]), run
    /// once on first use (a method may run it beside its own work).
    pub fn attack(&self) -> &Witness {
        self.run_attack(&self.request.attack, 1.0)
    }
    /// [`MethodContext::attack`] within `share` of the time left (`auto`
    /// runs it before splitting: however large `--samples`, the rest of the
    /// time is left to the proof).
    pub fn attack_within_share(&self, share: f64) -> &Witness {
        self.run_attack(&self.request.attack, share)
    }
    /// Decide mode once a bound `<= eps` is certified: the answer is
    /// "proven" whatever the search finds, so only a few samples are drawn
    /// for the report's witness (the search is most of an easy call's time).
    pub(crate) fn token_attack(&self) -> &Witness {
        self.run_attack(&AttackSettings { samples: TOKEN_SAMPLES, sample_work: None, starts: 0, steps: 0, seed: self.request.attack.seed }, 1.0)
    }
    fn run_attack(&self, settings: &AttackSettings, share: f64) -> &Witness {
        // the corners where the root bound's relaxation of each output is largest, in raw units
        // (each seeded start ascends that output's objective)
        let seeds: Vec<Seed> = if settings.starts == 0 {
            Vec::new()
        } else {
            self.root.bounds.as_ref().map_or_else(Vec::new, |b| b.corners.iter().enumerate().map(|(i, c)| Seed { input: crate::bound::to_raw(self.reference, c), objective: b.corner_objectives.get(i).copied() }).collect())
        };
        // within the time left, and at least the floor (the method may have used it all)
        let seconds = (share * self.budget.remaining().unwrap_or(f64::INFINITY)).max(self.attack_floor_seconds());
        let deadline = (seconds < 1e9).then(|| std::time::Instant::now() + crate::limits::duration(seconds));
        // pairs within the quantisation steps as written (rounded inward):
        // each output's error the search reports is seen at such a pair
        let coupling = self.request.coupling.as_written(self.request.written_steps.as_deref());
        &self.witness.get_or_init(|| (attack_until(self.reference, self.compressed, &self.request.set, &coupling, self.request.norm, settings, &seeds, deadline), settings.clone())).0
    }
    /// The seconds the attack gets however little time is left:
    /// [`ATTACK_MIN_SECONDS`], and at most [`ATTACK_MIN_SHARE`] of the time
    /// limit. A method that runs the attack after its own work keeps this
    /// back to end within the limit.
    pub fn attack_floor_seconds(&self) -> f64 {
        attack_floor_seconds(self.request.total_seconds())
    }
    /// The attack's result and settings if it ran.
    pub(crate) fn attack_if_run(&self) -> Option<&(Witness, AttackSettings)> {
        self.witness.get()
    }
    /// `root`'s certified bound per output, `max(plus_j, minus_j)`.
    pub fn root_per_output(&self) -> Vec<f64> {
        per_output(&self.root)
    }
}

/// `max(plus_j, minus_j, 0)` per output of a piece.
pub fn per_output(piece: &Piece) -> Vec<f64> {
    piece.plus.iter().zip(&piece.minus).map(|(p, m)| p.max(*m).max(0.0)).collect()
}

/// Lowers a piece's per-output bounds to `plus`/`minus` where those are
/// smaller, and its norm bound accordingly.
pub fn tighten(problem: &SplitProblem, piece: &mut Piece, plus: &[f64], minus: &[f64]) {
    piece.plus.iter_mut().zip(plus).for_each(|(a, b)| *a = a.min(*b));
    piece.minus.iter_mut().zip(minus).for_each(|(a, b)| *a = a.min(*b));
    piece.value = piece.value.min(problem.norm_bound(&piece.plus, &piece.minus));
}

/// A solver's bound that was not re-checked (reported beside the certified
/// one, never in its place).
#[derive(Debug, Clone)]
pub struct SolverBound {
    /// The bound in the request's norm.
    pub bound: f64,
    /// Per output (`linf`), None where the solver gave none.
    pub per_output: Vec<Option<f64>>,
}

/// An input pair a method found in first-layer coordinates, with the error
/// it computed there; the orchestrator maps it back into the set and
/// re-evaluates it before reporting it.
#[derive(Debug, Clone)]
pub struct FoundInput {
    /// The input of `f` (empty: none, only the per-output values).
    pub point: Vec<f64>,
    /// The input of `g` (equal to `point` for the same input).
    pub compressed_point: Vec<f64>,
    /// The error the method computed at the pair.
    pub error: f64,
    /// The largest `|f_j - g_j|` the method observed per output.
    pub per_output_lower: Vec<f64>,
}

/// What a method returns.
#[derive(Debug, Clone)]
pub struct MethodOutcome {
    /// The certified bound in the request's norm (`+inf`: none).
    pub certified: f64,
    /// The certified bound of each output (`+inf`: none).
    pub per_output: Vec<f64>,
    /// A solver's bound that was not re-checked.
    pub solver_bound: Option<SolverBound>,
    /// An input pair the method found.
    pub found: Option<FoundInput>,
    /// Whether the sampling attack's result should be used for the lower
    /// bound (a method with its own exact search may skip it).
    pub uses_attack: bool,
    /// Why a step gave no certificate or was skipped.
    pub note: Option<String>,
    /// Each method's evidence under its name (a composed method lists those
    /// of the methods it ran).
    pub evidence: Vec<(&'static str, Arc<dyn MethodEvidence>)>,
}

impl MethodOutcome {
    /// The root's bounds, nothing else: what a method that could not run returns.
    pub fn root_only(context: &MethodContext, note: Option<String>) -> Self {
        MethodOutcome { certified: context.root.value, per_output: context.root_per_output(), solver_bound: None, found: None, uses_attack: true, note, evidence: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry names every method once, and each name leads back to it.
    #[test]
    fn registry_names_are_unique_and_found() {
        for (k, method) in Method::ALL.iter().enumerate() {
            assert_eq!(Method::named(method.name()), Some(*method));
            assert!(Method::ALL[..k].iter().all(|m| m.name() != method.name()), "{method} registered twice");
            assert!(!method.implementation().summary().is_empty() && !method.implementation().description().is_empty());
        }
        assert_eq!(Method::named("no-such-method"), None);
        assert_eq!(serde_json::to_string(&Method::SDP).unwrap(), "\"sdp\"");
    }
}
