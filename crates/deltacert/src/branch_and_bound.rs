//! Input splitting (branch and bound) over the input box.
//!
//! The error over `X` is the maximum of the errors over the pieces of any
//! cover of `X` (docs/method.md §6), so a certified bound over `X` is the maximum
//! of certified bounds over the pieces. Each piece is bounded by differential
//! propagation ([`crate::propagation::differential_bounds`]); a piece's bound is
//! also never above its parent's (the piece is a subset), so splitting never
//! loses what the parent had, including an SDP bound on it.
//!
//! The worst open pieces are split in half. With few inputs (at most
//! [`LOOKAHEAD_MAX_INPUTS`]) every coordinate is tried and the split whose
//! worse half is lowest is kept; otherwise the coordinate with the largest
//! influence on the piece's linear bound (`|coefficient| * width`) is halved.
//! A half reuses its parent's neuron bounds (they hold on the half too), so
//! only neurons still unstable are bounded again. Pieces are bounded in
//! parallel with rayon. The loop is anytime: at every
//! moment the maximum over the open and closed pieces is a certified bound.
//! Every piece also proposes a candidate input (the corner maximising its
//! linear bound); evaluating the two networks there raises the lower bound.
//! With few inputs and piecewise-linear networks, a share of the time goes to
//! an exact search ([`milp_search`]): a MILP on the open piece whose
//! candidate erred most, whose incumbent can only raise the lower bound.
//!
//! A piece is closed when its bound is at most the target (`eps` in decide
//! mode) or at most the current lower bound (it cannot raise the maximum).

use crate::propagation::{round_down as down, round_up as up, DifferentialBounds, DifferentialPair, DifferentialRegion, Phase, PhaseSplit, SlopeOptimisation};
use std::sync::Arc;
use crate::input_set::InputSet;
use crate::network::Network;
use crate::problem::InputCoupling;
use crate::problem::Norm;
use rayon::prelude::*;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Settings of the search.
#[derive(Debug, Clone, Serialize)]
pub struct SplitSettings {
    /// Stop after this many seconds with the bound reached.
    pub time_limit: f64,
    /// Decide mode: stop when `bound <= eps` is proven or an error `> eps` is seen.
    pub eps: Option<f64>,
    /// Bound mode: stop when `bound <= target_ratio * lower bound`.
    pub target_ratio: f64,
    /// Stop when this many pieces are open.
    pub max_open_pieces: usize,
    /// Stop when this many pieces have been bounded (a count, not a time:
    /// the same search on every machine).
    pub max_pieces_bounded: usize,
    /// Stop when the open pieces would hold more than this many bytes
    /// (estimated per piece from the sizes of its vectors and bounds).
    pub memory_bytes: u64,
    /// Pieces split per round (bounded in parallel).
    pub batch: usize,
    /// What a piece is split on.
    pub branching: Branching,
    /// The share of the search's time given to the exact counterexample
    /// search on pieces ([`milp_search`]; 0: off).
    pub milp_search_share: f64,
    /// Whether pieces near `eps` get the certified branch and bound on
    /// neuron phases ([`phase_programs`]; decide mode only).
    pub phase_programs: bool,
}

/// What a piece is split on (docs/method.md §9, §9b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Branching {
    /// Halve an input coordinate.
    Input,
    /// Fix the phase of the unstable neuron with the largest score
    /// ([`crate::propagation::PhaseSplit`]).
    Neuron,
    /// Bound the input split and the neuron split, keep the one whose worse
    /// half is lower.
    Mixed,
    /// [`Branching::Input`] up to [`LOOKAHEAD_MAX_INPUTS`] inputs,
    /// [`Branching::Neuron`] above (measured: docs/benchmarks.md).
    #[default]
    Auto,
}

impl Branching {
    /// Parses `input`, `neuron`, `mixed` or `auto`.
    pub fn parse(name: &str) -> Result<Branching, String> {
        match name {
            "input" => Ok(Branching::Input),
            "neuron" => Ok(Branching::Neuron),
            "mixed" => Ok(Branching::Mixed),
            "auto" => Ok(Branching::Auto),
            other => Err(format!("unknown branching '{other}' (expected input, neuron, mixed or auto)")),
        }
    }

    /// The rule `auto` stands for with `inputs` input coordinates.
    pub fn resolved(self, inputs: usize) -> Branching {
        match self {
            Branching::Auto if inputs <= LOOKAHEAD_MAX_INPUTS => Branching::Input,
            Branching::Auto => Branching::Neuron,
            chosen => chosen,
        }
    }
}

impl Default for SplitSettings {
    fn default() -> Self {
        SplitSettings { time_limit: 10.0, eps: None, target_ratio: 1.01, max_open_pieces: 2_000_000, max_pieces_bounded: usize::MAX, memory_bytes: crate::limits::default_memory_bytes(), batch: 2 * rayon::current_num_threads().max(1), branching: Branching::Auto, milp_search_share: MILP_SEARCH_SHARE, phase_programs: true }
    }
}

/// Why the search stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Decide mode: every piece is below `eps`.
    Proven,
    /// Decide mode: an input with error above `eps` was found.
    Counterexample,
    /// Bound mode: the bound is within the target ratio of the lower bound.
    Converged,
    /// Every piece is closed (bound mode: none can be improved further).
    Exhausted,
    /// The time limit was reached.
    TimeLimit,
    /// Too many open pieces, or as many bounded as allowed.
    PieceLimit,
    /// The open pieces reached the memory budget.
    MemoryLimit,
}

/// Progress, reported about once a second.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    /// Pieces bounded so far.
    pub pieces_done: usize,
    /// Pieces still open.
    pub pieces_open: usize,
    /// The current certified bound.
    pub upper: f64,
    /// The current lower bound.
    pub lower: f64,
    /// Seconds since the start.
    pub seconds: f64,
}

/// One piece of the input box with its bounds on `Delta y_j` (`+`) and `-Delta y_j` (`-`).
#[derive(Debug, Clone)]
pub struct Piece {
    /// Lower corner (first-layer coordinates).
    pub lower: Vec<f64>,
    /// Upper corner.
    pub upper: Vec<f64>,
    /// Upper bounds of `Delta y_j`.
    pub plus: Vec<f64>,
    /// Upper bounds of `-Delta y_j`.
    pub minus: Vec<f64>,
    /// Bound on the chosen norm of `Delta y` over the piece.
    pub value: f64,
    /// The piece's own bound, before its parent's bounds were taken into
    /// account (`value` is at most the parent's): what the split gained.
    pub own_value: f64,
    /// Splitting hint per coordinate.
    pub influence: Vec<f64>,
    /// Unstable neurons of both networks on this piece.
    pub unstable_neurons: usize,
    /// Number of halvings from the root.
    pub depth: usize,
    /// The propagation's bounds on this piece, reused (intersected in) by its halves.
    pub bounds: Option<Arc<DifferentialBounds>>,
    /// No input reaches this piece (a phase split's half whose bounds cross):
    /// it bounds nothing.
    pub empty: bool,
    /// The phase constraints every input of the piece satisfies (from the
    /// neuron splits above it).
    pub phases: Vec<Phase>,
    /// The error at the piece's candidate input (its corner where the
    /// relaxation is largest; 0 until evaluated) and the objective (output,
    /// sign positive) that attains it: where and on what the exact search
    /// looks first.
    pub observed: (f64, usize, bool),
}

impl Piece {
    /// Bytes held by this piece: its vectors and its propagation bounds (the
    /// halves of a piece hold about as much as their parent).
    pub fn approximate_bytes(&self) -> f64 {
        let vectors = self.lower.len() * 3 + self.plus.len() * 2;
        let bounds = self.bounds.as_ref().map_or(0, |b| {
            let hidden: usize = b.hidden.iter().chain(&b.compressed_hidden).map(|(l, u)| l.len() + u.len()).sum();
            let reference: usize = b.reference_bounds.layers.iter().map(|l| 4 * l.pre_lower.len()).sum::<usize>() + 2 * b.reference_bounds.input_lower.len();
            hidden + reference + b.candidate.len() + b.influence.len() + b.output_lower.len() * 2
        });
        (8 * (vectors + bounds) + 512) as f64
    }
}

impl PartialEq for Piece {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl Eq for Piece {}
impl PartialOrd for Piece {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Piece {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.total_cmp(&other.value)
    }
}

/// The result of the search.
#[derive(Debug, Clone, Serialize)]
pub struct SplitOutcome {
    /// Certified bound on the norm of `Delta y` over the whole set.
    pub bound: f64,
    /// Certified bound on each `|Delta y_j|`.
    pub per_output: Vec<f64>,
    /// The largest error seen at a candidate input.
    pub lower: f64,
    /// Where (first-layer coordinates; both networks see it).
    #[serde(skip)]
    pub witness: Vec<f64>,
    /// Largest `|Delta y_j|` seen per output.
    pub per_output_lower: Vec<f64>,
    /// Pieces bounded (the root included).
    pub pieces_bounded: usize,
    /// Pieces open at the end.
    pub pieces_open: usize,
    /// Deepest piece.
    pub max_depth: usize,
    /// Splits on an input coordinate.
    pub input_splits: usize,
    /// Splits on a neuron's phase.
    pub neuron_splits: usize,
    /// Halves of neuron splits that no input reaches (closed at once).
    pub empty_pieces: usize,
    /// Pieces given phase programs ([`phase_programs`]).
    pub phase_program_pieces: usize,
    /// Of those, pieces the programs closed (at most `eps` on every objective).
    pub phase_program_closed: usize,
    /// Programs solved by [`objective_trees`] on the whole set.
    pub objective_tree_programs: usize,
    /// The rule the splits followed.
    pub branching: Branching,
    /// Why it stopped.
    pub stop: StopReason,
    /// Seconds spent.
    pub seconds: f64,
}

/// The problem of the search: networks and set in first-layer coordinates.
pub struct SplitProblem<'a> {
    /// Reference network `f` (no input transform).
    pub reference: &'a Network,
    /// Compressed network `g` (no input transform).
    pub compressed: &'a Network,
    /// The whole input set.
    pub set: &'a InputSet,
    /// How `g` sees the input.
    pub coupling: &'a InputCoupling,
    /// Output norm.
    pub norm: Norm,
    /// The pair prepared once for every piece's propagation (its slope
    /// setting bounds the root, the whole set).
    pub pair: DifferentialPair<'a>,
    /// The slope setting of the pieces of a split (the root's is the pair's).
    pub piece_slopes: SlopeOptimisation,
    /// The slope setting of the halves of a piece that no input split
    /// improves (the look-ahead, [`PRODUCTIVE_SPLIT_SHARE`]): there the
    /// relaxation, not the width, holds the bound up. Measured on ACAS Xu
    /// 2_7, property 1, eps 0.01: a piece with 5 unstable neurons bounded at
    /// 1.48e-2 by one pass and 7.97e-3 with optimised slopes.
    pub stuck_slopes: SlopeOptimisation,
    /// Steps of the search for the Lagrange multipliers of a piece's phase
    /// constraints (0: the constraints act through the clamped intervals only).
    pub phase_multiplier_steps: usize,
    /// Where `set` is larger than the set the user wrote (an L2 ball or
    /// polytope rows in raw units mapped through an input normalisation with
    /// room for its rounding and clamp, [`crate::problem::prepare`]): a point
    /// of `set` moved to one that the network computes from an input of the
    /// user's set, or None. Only such points raise the search's lower bound,
    /// on which its stop ("counterexample", "converged") and the closing of
    /// pieces rest. None: `set` is the user's set up to the outward rounding
    /// of its ends (a point there errs as much as its neighbour inside, to
    /// rounding, and the report re-checks the witness in the written set).
    pub admits: Option<&'a (dyn Fn(&[f64]) -> Option<Vec<f64>> + Sync)>,
}

/// The region of the box `[lower, upper]` inside `set`: `x` in the box, `x'`
/// as `coupling` allows (in the box for the same input, within the steps and
/// inside the set for a quantised one, anywhere in the set otherwise).
pub fn coupled_region(set: &InputSet, coupling: &InputCoupling, lower: &[f64], upper: &[f64]) -> DifferentialRegion {
    let (set_lower, set_upper) = (set.lower(), set.upper());
    let n = lower.len();
    let mut region = DifferentialRegion::same_input(lower.to_vec(), upper.to_vec());
    region.ball = set.ball_constraint().cloned();
    region.ball_scales = set.ball_scales().map(<[f64]>::to_vec);
    // only the rows that cut this box: a row every point of the box
    // satisfies changes no bound
    let cutting: Vec<(Vec<f64>, f64)> = set.polytope().iter().filter(|row| crate::propagation::polytope::cuts_box(lower, upper, row)).cloned().collect();
    region.polytope = (!cutting.is_empty()).then(|| std::sync::Arc::new(cutting));
    match coupling {
        InputCoupling::Same => {}
        InputCoupling::Quantised(steps) => {
            for i in 0..n {
                region.compressed_lower[i] = down(lower[i] - steps[i]).max(set_lower[i]);
                region.compressed_upper[i] = up(upper[i] + steps[i]).min(set_upper[i]);
                region.shift_lower[i] = (-steps[i]).max(down(lower[i] - set_upper[i]));
                region.shift_upper[i] = steps[i].min(up(upper[i] - set_lower[i]));
            }
        }
        InputCoupling::Independent => {
            for i in 0..n {
                region.compressed_lower[i] = set_lower[i];
                region.compressed_upper[i] = set_upper[i];
                region.shift_lower[i] = down(lower[i] - set_upper[i]);
                region.shift_upper[i] = up(upper[i] - set_lower[i]);
            }
        }
    }
    region
}

/// Default [`SplitProblem::phase_multiplier_steps`].
pub const DEFAULT_PHASE_MULTIPLIER_STEPS: usize = 10;

impl SplitProblem<'_> {
    /// A piece's candidate input moved into the set (a corner may lie
    /// outside a ball or polytope, or outside the user's set) with the
    /// difference of the outputs there; zeros where no point of the set was
    /// found (they raise no lower bound).
    fn candidate_difference(&self, mut candidate: Vec<f64>, outputs: usize) -> (Vec<f64>, Vec<f64>) {
        self.set.project(&mut candidate);
        self.in_user_set(candidate.clone()).unwrap_or((candidate, vec![0.0; outputs]))
    }

    /// The search's point `z` with the difference of the outputs there, if
    /// it is an input of the user's set: in `set` where that is the user's
    /// set, otherwise moved into it ([`SplitProblem::admits`], whether or
    /// not a rounded projection left `z` an ulp outside `set`). None where
    /// no such point was found.
    fn in_user_set(&self, z: Vec<f64>) -> Option<(Vec<f64>, Vec<f64>)> {
        let point = match self.admits {
            Some(admits) => admits(&z)?,
            None if self.set.contains(&z, 0.0) => z,
            None => return None,
        };
        let difference = self.difference(&point);
        Some((point, difference))
    }
    /// The region of a piece: `x` in the piece, `x'` as the coupling allows.
    pub fn region(&self, lower: &[f64], upper: &[f64]) -> DifferentialRegion {
        coupled_region(self.set, self.coupling, lower, upper)
    }

    /// The norm bound from per-output bounds of `Delta y_j` and `-Delta y_j`,
    /// rounded up; an undefined (NaN) per-output bound gives `+inf` (no bound).
    pub fn norm_bound(&self, plus: &[f64], minus: &[f64]) -> f64 {
        use crate::rounding::{add_up, mul_up};
        if plus.iter().chain(minus).any(|v| v.is_nan()) {
            return f64::INFINITY;
        }
        let magnitudes = plus.iter().zip(minus).map(|(p, m)| p.max(*m).max(0.0));
        match self.norm {
            Norm::Linf => magnitudes.fold(0.0, f64::max),
            Norm::L2 => {
                let squares = magnitudes.filter(|a| *a > 0.0).fold(0.0, |sum, a| add_up(sum, mul_up(a, a)));
                if squares == 0.0 { 0.0 } else { squares.sqrt().next_up() }
            }
        }
    }

    /// Bounds one piece by differential propagation, never above `parent`
    /// (slopes: the pair's for the root, [`SplitProblem::piece_slopes`] below it).
    pub fn bound_piece(&self, lower: Vec<f64>, upper: Vec<f64>, parent: Option<&Piece>) -> (Piece, Vec<f64>) {
        let slopes = if parent.is_some() { self.piece_slopes } else { self.pair.slopes() };
        self.bound_piece_with_slopes(lower, upper, parent, &slopes)
    }

    /// [`SplitProblem::bound_piece`] with the slope setting `slopes`.
    pub fn bound_piece_with_slopes(&self, lower: Vec<f64>, upper: Vec<f64>, parent: Option<&Piece>, slopes: &SlopeOptimisation) -> (Piece, Vec<f64>) {
        self.bound_box(lower, upper, parent, slopes, true)
    }

    /// Bounds the half `[lower, upper]` of `piece` as input splitting does:
    /// with the piece's bounds, afresh every [`REFRESH_DEPTH`] halvings.
    pub fn bound_half(&self, piece: &Piece, lower: Vec<f64>, upper: Vec<f64>) -> (Piece, Vec<f64>) {
        if (piece.depth + 1) % REFRESH_DEPTH == 0 {
            self.bound_piece_afresh(lower, upper, Some(piece), &self.piece_slopes)
        } else {
            self.bound_piece(lower, upper, Some(piece))
        }
    }

    /// [`SplitProblem::bound_piece_with_slopes`] with every neuron of `f`
    /// bounded again rather than kept from `parent`
    /// ([`DifferentialPair::bounds_reusing`]).
    pub fn bound_piece_afresh(&self, lower: Vec<f64>, upper: Vec<f64>, parent: Option<&Piece>, slopes: &SlopeOptimisation) -> (Piece, Vec<f64>) {
        self.bound_box(lower, upper, parent, slopes, false)
    }

    /// The box `[lower, upper]` inside `parent` (its bounds and phase
    /// constraints inherited), `f`'s linear neurons kept or bounded again.
    fn bound_box(&self, lower: Vec<f64>, upper: Vec<f64>, parent: Option<&Piece>, slopes: &SlopeOptimisation, keep_linear: bool) -> (Piece, Vec<f64>) {
        let inherited = parent.and_then(|p| p.bounds.as_deref());
        let phases = parent.map_or_else(Vec::new, |p| p.phases.clone());
        self.bound_subset(lower, upper, parent, inherited, phases, slopes, keep_linear)
    }

    /// The half of `piece` where `split`'s neuron is active or inactive:
    /// the piece's bounds with that neuron's clamped ([`DifferentialBounds::with_phase`])
    /// are inherited by its propagation. A half that no input reaches is
    /// marked [`Piece::empty`], with bounds of `-inf`.
    pub fn bound_phase(&self, piece: &Piece, split: &PhaseSplit, active: bool) -> (Piece, Vec<f64>) {
        let inherited = piece.bounds.as_deref().map(|b| b.with_phase(split, active));
        let mut phases = piece.phases.clone();
        phases.push((*split, active));
        self.bound_subset(piece.lower.clone(), piece.upper.clone(), Some(piece), inherited.as_ref(), phases, &self.piece_slopes, true)
    }

    /// Bounds the part of the box `[lower, upper]` that `inherited`'s bounds
    /// describe (the box itself, or a phase split's half), never above `parent`.
    fn bound_subset(&self, mut lower: Vec<f64>, mut upper: Vec<f64>, parent: Option<&Piece>, inherited: Option<&DifferentialBounds>, phases: Vec<Phase>, slopes: &SlopeOptimisation, keep_linear: bool) -> (Piece, Vec<f64>) {
        let mut region = self.region(&lower, &upper);
        let empty_piece = |lower: Vec<f64>, upper: Vec<f64>, phases: Vec<Phase>| {
            let candidate: Vec<f64> = lower.iter().zip(&upper).map(|(l, u)| 0.5 * (l + u)).collect();
            let outputs = self.reference.output_dim();
            let piece = Piece { lower, upper, plus: vec![f64::NEG_INFINITY; outputs], minus: vec![f64::NEG_INFINITY; outputs], value: f64::NEG_INFINITY, own_value: f64::NEG_INFINITY, influence: vec![0.0; candidate.len()], unstable_neurons: 0, depth: parent.map_or(0, |p| p.depth + 1), bounds: None, empty: true, phases, observed: (0.0, 0, true) };
            (piece, candidate)
        };
        // the piece is the smallest box the rows leave of it (a half that a
        // row cuts diagonally keeps only a sliver of the set); a box that a
        // row leaves no point of holds no input
        if let Some(rows) = region.polytope.clone() {
            let (mut tight_lower, mut tight_upper) = (lower.clone(), upper.clone());
            if !crate::propagation::polytope::tighten_box(&mut tight_lower, &mut tight_upper, &rows) {
                return empty_piece(lower, upper, phases);
            }
            if tight_lower != lower || tight_upper != upper {
                (lower, upper) = (tight_lower, tight_upper);
                region = self.region(&lower, &upper);
            }
        }
        let mut bounds = self.pair.bounds_reusing(&region, inherited, slopes, keep_linear);
        // without phase constraints or polytope rows the region holds
        // inputs: nothing can be empty
        let empty = (!phases.is_empty() || region.polytope.is_some()) && bounds.is_empty();
        // the multipliers' search only tightens: past the pass's stop it is skipped
        if !empty && !slopes.stopped() {
            self.pair.tighten_with_phases(&mut bounds, &region, &phases, self.phase_multiplier_steps);
        }
        if empty {
            return empty_piece(lower, upper, phases);
        }
        let mut plus = bounds.output_upper.clone();
        let mut minus: Vec<f64> = bounds.output_lower.iter().map(|l| -l).collect();
        let own_value = self.norm_bound(&plus, &minus);
        if let Some(parent) = parent {
            plus.iter_mut().zip(&parent.plus).for_each(|(a, b)| *a = a.min(*b));
            minus.iter_mut().zip(&parent.minus).for_each(|(a, b)| *a = a.min(*b));
        }
        let value = match parent {
            Some(parent) => self.norm_bound(&plus, &minus).min(parent.value),
            None => own_value,
        };
        let candidate = bounds.candidate.clone();
        let piece = Piece { lower, upper, plus, minus, value, own_value, influence: bounds.influence.clone(), unstable_neurons: bounds.unstable_neurons, depth: parent.map_or(0, |p| p.depth + 1), bounds: Some(Arc::new(bounds)), empty: false, phases, observed: (0.0, 0, true) };
        (piece, candidate)
    }

    /// `Delta y` at `x` (both networks see `x`, feasible for every coupling).
    fn difference(&self, x: &[f64]) -> Vec<f64> {
        let (yf, yg) = (self.reference.activations_from(x.to_vec()), self.compressed.activations_from(x.to_vec()));
        yf.last().expect("output").iter().zip(yg.last().expect("output")).map(|(a, b)| a - b).collect()
    }

    fn error(&self, difference: &[f64]) -> f64 {
        match self.norm {
            Norm::Linf => difference.iter().fold(0.0, |m, v| m.max(v.abs())),
            Norm::L2 => difference.iter().map(|v| v * v).sum::<f64>().sqrt(),
        }
    }
}

fn splittable(piece: &Piece, root_width: &[f64], i: usize) -> bool {
    let middle = 0.5 * (piece.lower[i] + piece.upper[i]);
    piece.upper[i] - piece.lower[i] > 1e-12 * root_width[i].max(f64::MIN_POSITIVE) && middle > piece.lower[i] && middle < piece.upper[i]
}

fn halves_along(piece: &Piece, dimension: usize) -> [(Vec<f64>, Vec<f64>); 2] {
    let middle = 0.5 * (piece.lower[dimension] + piece.upper[dimension]);
    let mut left_upper = piece.upper.clone();
    left_upper[dimension] = middle;
    let mut right_lower = piece.lower.clone();
    right_lower[dimension] = middle;
    [(piece.lower.clone(), left_upper), (right_lower, piece.upper.clone())]
}

/// The coordinate to split: the most influential one, or the widest
/// (relative to the set) when no coordinate has influence.
fn split_dimension(piece: &Piece, root_width: &[f64]) -> Option<usize> {
    let n = piece.lower.len();
    let width = |i: usize| piece.upper[i] - piece.lower[i];
    let by_influence = (0..n).filter(|&i| splittable(piece, root_width, i)).max_by(|&a, &b| piece.influence[a].total_cmp(&piece.influence[b]));
    match by_influence {
        Some(i) if piece.influence[i] > 0.0 => Some(i),
        _ => (0..n).filter(|&i| splittable(piece, root_width, i)).max_by(|&a, &b| (width(a) / root_width[a]).total_cmp(&(width(b) / root_width[b]))),
    }
}

/// Up to this many input coordinates, every coordinate is tried and the
/// split whose worse half has the smallest bound is kept (measured on ACAS Xu
/// property 1, 5 inputs: network 1_2 proven in 2.6 s this way, not in 60 s
/// by the influence rule, although each split costs 5 times more; trying
/// only the 3 or 2 most influential coordinates was slower: 2_7 took 9.6 s
/// and over 120 s instead of 8.7 s).
pub const LOOKAHEAD_MAX_INPUTS: usize = 8;

/// A look-ahead split counts as productive when its worse half's own bound
/// is below the piece's own bound by more than this share of it; when no
/// split is and none closes a half ([`input_split`]), the widest coordinate
/// (relative to the set) is halved instead.
/// Measured on ACAS Xu 2_7 and 4_1, property 1: without it the look-ahead
/// halved one coordinate down to 1e-12 of its range for gains of 1e-16.
pub const PRODUCTIVE_SPLIT_SHARE: f64 = 1e-3;

/// How a piece was split.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SplitKind {
    Input,
    Neuron,
}

/// The halves of a split with their candidate inputs.
type Halves = Vec<(Piece, Vec<f64>)>;

/// The order of two splits: the lower worse half first, then the lower
/// worse half by the halves' own bounds, then the lower sum of those.
///
/// A half's bound is at most its parent's, so when no split improves on the
/// parent every split ties on the first key; the halves' own bounds then say
/// which split got closest. Without them the first coordinate won every tie:
/// measured on ACAS Xu 4_1, property 1, one piece was halved 56 times along
/// the same input while its other inputs stayed wide.
fn better_split(a: &Halves, b: &Halves) -> Ordering {
    let key = |o: &Halves| {
        (
            o.iter().map(|h| h.0.value).fold(f64::NEG_INFINITY, f64::max),
            o.iter().map(|h| h.0.own_value).fold(f64::NEG_INFINITY, f64::max),
            o.iter().map(|h| h.0.own_value.max(0.0)).sum::<f64>(),
        )
    };
    let (ka, kb) = (key(a), key(b));
    ka.0.total_cmp(&kb.0).then(ka.1.total_cmp(&kb.1)).then(ka.2.total_cmp(&kb.2))
}

/// Every this many halvings, a half is bounded afresh: its neurons of `f`
/// on one linear piece get new intervals instead of keeping the parent's
/// ([`DifferentialPair::bounds_reusing`]: kept intervals go stale and loosen
/// the next layer; new ones cost a third more per piece). Measured on ACAS
/// Xu, property 1, eps 0.01 (2_7, 4_1, 3_3, 4_9, seconds to proof): every
/// halving 43.5 / 10.2 / 14.6 / 19.1, every 2nd 37.6 / 9.3 / 12.1 / 15.8,
/// every 3rd 37.6 / 8.9 / 11.5 / 16.0, every 4th 41.4 / 10.3 / 11.7 / 16.7,
/// every 6th 43.5 / 13.9 / 12.3 / 16.9; never (only where no split gains):
/// 2_7, 4_1 and 3_3 not proven in 60 s. At eps 0.05 every 3rd costs about 5%
/// over never on the slowest pairs.
pub const REFRESH_DEPTH: usize = 3;

/// The input split of `piece`: with few inputs the best of all coordinates
/// (look-ahead), otherwise the most influential one. `near_eps`: the search
/// decides `eps` and has seen errors close to it ([`LOCAL_ASCENT_FROM`]);
/// `closing`: the bound at which a piece closes (`eps`, or the lower bound).
///
/// A look-ahead split is kept when its worse half is lower than the piece
/// (by [`PRODUCTIVE_SPLIT_SHARE`]), or else when one of its halves closes:
/// near a worst case the worse half of every split often keeps the piece's
/// bound while one half of some split falls far below it. Measured on ACAS
/// Xu property 1 at eps 0.01, 60 s (docs/benchmarks.md): 4_6 certified
/// 1.0860e-2 against 1.0965e-2 (below what 300 s reached without the rule),
/// 5_9 1.0790e-2 against 1.0855e-2, 2_7 proven in 27.0 s where it was not
/// in 60 s (with a 120 s cap: 24.5 s against 67.9 s); the 135 decisions at
/// eps 0.05 did not change (104.8 s against 104.1 s).
///
/// Where no look-ahead split gains or closes a half and `near_eps`, the halves of a stalled piece are
/// bounded afresh *without* optimised slopes: there the proof needs pieces
/// small enough for most neurons to be stable, where slopes gain little, and
/// a piece costs about a third as much. Measured on ACAS Xu property 1 at
/// eps 0.01, 60 s (docs/benchmarks.md): 5_9 certified 1.0822e-2 against
/// 1.1138e-2 (38,495 pieces against 14,255), 4_6 1.0885e-2 against
/// 1.1030e-2; far from eps optimised slopes stay: without them everywhere
/// 2_7 (errors up to 0.22 eps) was not proven in 90 s, with them in 46 s.
fn input_split(problem: &SplitProblem, piece: &Piece, root_width: &[f64], near_eps: bool, closing: f64) -> Option<Halves> {
    if piece.lower.len() <= LOOKAHEAD_MAX_INPUTS {
        let n = piece.lower.len();
        let mut options: Vec<(usize, Halves)> = (0..n)
            .into_par_iter()
            .filter(|&i| splittable(piece, root_width, i))
            .map(|i| (i, halves_along(piece, i).into_iter().map(|(l, u)| problem.bound_half(piece, l, u)).collect()))
            .collect();
        let best = options.iter().enumerate().min_by(|a, b| better_split(&a.1 .1, &b.1 .1))?.0;
        let worse_half = options[best].1.iter().map(|h| h.0.own_value).fold(f64::NEG_INFINITY, f64::max);
        if piece.own_value - worse_half > PRODUCTIVE_SPLIT_SHARE * piece.own_value.abs() {
            return Some(options.swap_remove(best).1);
        }
        // a split with a half that closes (bound at most `closing`) takes
        // that half out of the search: progress even where the other half
        // keeps the piece's bound (see the doc comment)
        let closes = |o: &(usize, Halves)| o.1.iter().any(|h| h.0.value <= closing);
        if let Some(k) = (0..options.len()).filter(|&k| closes(&options[k])).min_by(|&a, &b| better_split(&options[a].1, &options[b].1)) {
            return Some(options.swap_remove(k).1);
        }
        // no split gains or closes a half: the widest coordinate (relative to the set), so the
        // piece shrinks evenly, its halves bounded afresh (no interval kept
        // from an ancestor), with the root's optimised slopes
        // (SplitProblem::stuck_slopes) unless near eps (see above)
        let stuck_slopes = if near_eps { &problem.piece_slopes } else { &problem.stuck_slopes };
        let widest = options.iter().map(|o| o.0).max_by(|&a, &b| ((piece.upper[a] - piece.lower[a]) / root_width[a]).total_cmp(&((piece.upper[b] - piece.lower[b]) / root_width[b])))?;
        return Some(
            halves_along(piece, widest)
                .into_par_iter()
                .map(|(l, u)| problem.bound_piece_afresh(l, u, Some(piece), stuck_slopes))
                .collect(),
        );
    }
    let dimension = split_dimension(piece, root_width)?;
    Some(halves_along(piece, dimension).into_par_iter().map(|(l, u)| problem.bound_half(piece, l, u)).collect())
}


/// The best-scored neurons whose phase splits are bounded before one is
/// chosen: the split whose worse half is lowest ([`better_split`]) is kept.
/// Measured on MNIST 3x100 vs float16, test images 0..4, 10 s, median
/// ratio certified / observed at +-8/255 and +-13/255: the best-scored neuron
/// alone 3.51 and 8.21, best of 3 3.45 and 7.96, best of 6 3.44 and 7.92;
/// images 5..9: alone 6.11 and 13.59, best of 4 6.07 and 13.30.
pub const NEURON_LOOKAHEAD: usize = 4;

/// The phase split of `piece` for its worst output objective: the best of
/// the [`NEURON_LOOKAHEAD`] best-scored neurons (None when no kinked neuron
/// is unstable there).
fn neuron_split(problem: &SplitProblem, piece: &Piece) -> Option<Halves> {
    let bounds = piece.bounds.as_deref()?;
    let &(output, sign) = bounds.corner_objectives.first()?;
    let candidates: Vec<PhaseSplit> = problem.pair.phase_split_candidates(bounds, output, sign).into_iter().take(NEURON_LOOKAHEAD).collect();
    let options: Vec<Halves> = candidates.par_iter().map(|split| [true, false].into_par_iter().map(|active| problem.bound_phase(piece, split, active)).collect()).collect();
    options.into_iter().min_by(better_split)
}

/// Bounds the halves of `piece` under `branching` (resolved), with a
/// candidate input each.
fn split_piece(problem: &SplitProblem, piece: &Piece, root_width: &[f64], branching: Branching, near_eps: bool, closing: f64) -> Option<(SplitKind, Halves)> {
    match branching {
        Branching::Neuron => neuron_split(problem, piece).map(|h| (SplitKind::Neuron, h)).or_else(|| input_split(problem, piece, root_width, near_eps, closing).map(|h| (SplitKind::Input, h))),
        Branching::Mixed => {
            let (input, neuron) = rayon::join(|| input_split(problem, piece, root_width, near_eps, closing), || neuron_split(problem, piece));
            match (input, neuron) {
                (Some(i), Some(n)) if better_split(&n, &i) == Ordering::Less => Some((SplitKind::Neuron, n)),
                (Some(i), _) => Some((SplitKind::Input, i)),
                (None, n) => n.map(|h| (SplitKind::Neuron, h)),
            }
        }
        Branching::Input | Branching::Auto => input_split(problem, piece, root_width, near_eps, closing).map(|h| (SplitKind::Input, h)),
    }
}

/// The share of the search's time given to [`local_ascent`] on the pieces
/// about to be split.
pub const LOCAL_ASCENT_SHARE: f64 = 0.05;

/// In decide mode, [`local_ascent`] runs only once the lower bound is at
/// least this share of `eps` (a counterexample is plausible); below, the
/// search's time goes to the proof. ACAS Xu 5_9 and 4_6, property 1, eps
/// 0.01, stay undecided with lower bounds of 0.91 and 0.82 of `eps`.
pub const LOCAL_ASCENT_FROM: f64 = 0.75;

/// Gradient-ascent steps per start of [`local_ascent`].
pub const LOCAL_ASCENT_STEPS: usize = 20;

/// A stronger lower bound from the pieces with the largest bounds: projected
/// gradient ascent ([`crate::attack::attack_from`]) inside each piece's box,
/// from the corner where its relaxation is largest, on that corner's output
/// objective, with steps scaled to the piece. Both networks see the same
/// input (feasible for every coupling); a point outside the set (a ball or
/// polytope cuts the box) is moved into the user's set where the set is
/// larger than it, and dropped otherwise. Returns the largest error found, its
/// input and `Delta y` there.
fn local_ascent(problem: &SplitProblem, pieces: &[Piece]) -> Option<(f64, Vec<f64>, Vec<f64>)> {
    use crate::attack::{attack_from, AttackSettings, Seed};
    let found: Vec<(f64, Vec<f64>, Vec<f64>)> = pieces
        .par_iter()
        .filter_map(|piece| {
            let bounds = piece.bounds.as_deref()?;
            let region = InputSet::from_box(piece.lower.clone(), piece.upper.clone()).ok()?;
            let seed = Seed { input: bounds.candidate.clone(), objective: bounds.corner_objectives.first().copied() };
            let settings = AttackSettings { samples: 0, sample_work: None, starts: 1, steps: LOCAL_ASCENT_STEPS, seed: 0 };
            let witness = attack_from(problem.reference, problem.compressed, &region, &InputCoupling::Same, problem.norm, &settings, &[seed]);
            let (input, difference) = problem.in_user_set(witness.input?)?;
            Some((problem.error(&difference), input, difference))
        })
        .collect();
    found.into_iter().max_by(|a, b| a.0.total_cmp(&b.0))
}

/// The default [`SplitSettings::milp_search_share`]: the share of the
/// search's time given to [`milp_search`] (measured on ACAS Xu:
/// docs/benchmarks.md, "The exact search on pieces").
pub const MILP_SEARCH_SHARE: f64 = 0.2;

/// The exact search runs on sets of at most this many inputs (where input
/// splitting makes pieces small enough for a MILP to solve in a second),
/// networks of at most [`MILP_SEARCH_MAX_NEURONS`] neurons each, and pieces
/// with at most [`MILP_SEARCH_MAX_UNSTABLE`] unstable neurons.
pub const MILP_SEARCH_MAX_INPUTS: usize = LOOKAHEAD_MAX_INPUTS;
/// See [`MILP_SEARCH_MAX_INPUTS`].
pub const MILP_SEARCH_MAX_NEURONS: usize = 4096;
/// See [`MILP_SEARCH_MAX_INPUTS`].
pub const MILP_SEARCH_MAX_UNSTABLE: usize = 48;
/// HiGHS's time limit for one solve of the exact search.
pub const MILP_SEARCH_SOLVE_SECONDS: f64 = 1.0;

/// A piece the exact search solved to optimality for one objective (output,
/// sign): no part of it can hold a larger error on that objective, so its
/// halves are not searched again.
struct SearchedBox {
    lower: Vec<f64>,
    upper: Vec<f64>,
    objective: (usize, bool),
}

/// Whether [`milp_search`] can run on this problem: piecewise-linear
/// networks ([`crate::milp::check_piecewise_linear`]) of moderate size, a
/// box or polytope (no ball) of few inputs, both networks on the same input,
/// the linf norm, and the `milp` feature.
fn milp_search_applies(problem: &SplitProblem) -> bool {
    let neurons = |n: &Network| n.layers.iter().map(|l| l.width()).sum::<usize>();
    cfg!(feature = "milp")
        && problem.set.dim() <= MILP_SEARCH_MAX_INPUTS
        && problem.set.ball_constraint().is_none()
        && matches!(problem.coupling, InputCoupling::Same)
        && problem.norm == Norm::Linf
        && neurons(problem.reference) <= MILP_SEARCH_MAX_NEURONS
        && neurons(problem.compressed) <= MILP_SEARCH_MAX_NEURONS
        && piecewise_linear(problem)
}

#[cfg(feature = "milp")]
fn piecewise_linear(problem: &SplitProblem) -> bool {
    crate::milp::check_piecewise_linear(problem.reference, "").is_ok() && crate::milp::check_piecewise_linear(problem.compressed, "").is_ok()
}

#[cfg(not(feature = "milp"))]
fn piecewise_linear(_problem: &SplitProblem) -> bool {
    false
}

/// The exact counterexample search (a stronger lower bound, never an upper
/// one): of the open pieces with at most [`MILP_SEARCH_MAX_UNSTABLE`]
/// unstable neurons and not inside a box already solved, the one whose
/// candidate input erred most; on it, the MILP of [`crate::milp`]
/// maximising the objective (output and sign) on which that candidate erred, with
/// HiGHS's time limit [`MILP_SEARCH_SOLVE_SECONDS`] (at most
/// `seconds_left`). The incumbent's input is evaluated here like every
/// candidate (and re-checked with outward rounding by the report); HiGHS's
/// bound is only used to skip the piece's halves later (a solve that proved
/// optimality), never to close a piece. Returns the error found, its input
/// and `Delta y` there.
fn milp_search<'p>(problem: &SplitProblem, open: impl Iterator<Item = &'p Piece>, searched: &mut Vec<SearchedBox>, seconds_left: f64) -> Option<(f64, Vec<f64>, Vec<f64>)> {
    if seconds_left <= 0.0 {
        return None;
    }
    let objective = |piece: &Piece| (piece.observed.1, piece.observed.2);
    let inside = |piece: &Piece, done: &SearchedBox| {
        done.objective == objective(piece) && piece.lower.iter().zip(&done.lower).all(|(a, b)| a >= b) && piece.upper.iter().zip(&done.upper).all(|(a, b)| a <= b)
    };
    let piece = open
        .filter(|p| !p.empty && p.unstable_neurons <= MILP_SEARCH_MAX_UNSTABLE && !searched.iter().any(|done| inside(p, done)))
        .max_by(|a, b| a.observed.0.total_cmp(&b.observed.0))?;
    let (output, positive) = objective(piece);
    let found = search_piece(problem, piece, output, positive, MILP_SEARCH_SOLVE_SECONDS.min(seconds_left));
    let (input, optimal) = match found {
        Some(found) => found,
        None => {
            // refused or no incumbent: do not try the same piece again
            searched.push(SearchedBox { lower: piece.lower.clone(), upper: piece.upper.clone(), objective: (output, positive) });
            return None;
        }
    };
    // solved (its halves cannot hold more), or an input outside the set
    // (a polytope row met within HiGHS's tolerance): not searched again
    let inside_set = problem.set.contains(&input, 0.0);
    if optimal || !inside_set {
        searched.push(SearchedBox { lower: piece.lower.clone(), upper: piece.upper.clone(), objective: (output, positive) });
    }
    if !inside_set {
        return None;
    }
    let difference = problem.difference(&input);
    Some((problem.error(&difference), input, difference))
}

/// Pieces with at most this many unstable neurons (both networks) get
/// phase programs ([`phase_programs`]).
pub const PHASE_PROGRAM_MAX_UNSTABLE: usize = 64;

/// Pieces whose bound is at most this many times `eps` get phase programs
/// ([`phase_programs`]). Measured on ACAS Xu property 1 at eps 0.01 (300 s
/// cap): 4_6 proven in 176 s at 1.5 and 226 s at 2; 5_9 in 102 s at 1.5 and
/// 193 s at 2 (docs/benchmarks.md).
pub const PHASE_PROGRAM_NEAR: f64 = 1.5;

/// Pieces given phase programs before their success is judged: once this
/// many have had them, they go on only while at least half of the pieces
/// given them were closed. Where the programs do not close pieces (an
/// output difference near 1e-9, at HiGHS's tolerances: a pair whose outputs
/// were scaled by 1e-8 closed 136 of 2,185 pieces in 20 s), halving gets the
/// time back.
pub const PHASE_PROGRAM_TRIAL: usize = 20;

/// Programs solved at most per objective and piece ([`phase_programs`]).
pub const PHASE_PROGRAM_MAX_NODES: usize = 400;

/// Seconds at most per objective and piece ([`phase_programs`]).
pub const PHASE_PROGRAM_SECONDS: f64 = 5.0;

/// In decide mode, on a piece above `eps` but within [`PHASE_PROGRAM_NEAR`]
/// times it, with few unstable neurons ([`PHASE_PROGRAM_MAX_UNSTABLE`]; no
/// phase splits above it, both networks on the same input, the linf norm;
/// docs/method.md §10b): for each objective above `eps`, the
/// certified branch and bound on neuron phases of [`crate::phase_lp`] with
/// the piece's propagation as its facts. Returns the piece with those
/// objectives' bounds lowered to what it certified (the rest kept) and the
/// last input its programs reached, or None when it does not apply.
#[cfg(feature = "milp")]
fn phase_programs(problem: &SplitProblem, piece: &Piece, eps: Option<f64>, deadline: Instant) -> Option<(Piece, Vec<f64>)> {
    let eps = eps?;
    if piece.empty || !piece.phases.is_empty() || piece.value <= eps || piece.value > PHASE_PROGRAM_NEAR * eps || piece.unstable_neurons > PHASE_PROGRAM_MAX_UNSTABLE {
        return None;
    }
    let seconds_left = || deadline.saturating_duration_since(Instant::now()).as_secs_f64();
    if problem.norm != Norm::Linf || !matches!(problem.coupling, InputCoupling::Same) || problem.set.ball_constraint().is_some() || seconds_left() <= 0.0 {
        return None;
    }
    let bounds = piece.bounds.as_deref()?;
    let facts = crate::milp::DifferentialFacts::new(&problem.pair, bounds)?;
    let mut tight = piece.clone();
    let (mut candidate, mut searched) = (None, false);
    'objectives: for j in 0..piece.plus.len() {
        for positive in [true, false] {
            let current = if positive { piece.plus[j] } else { piece.minus[j] };
            if current <= eps {
                continue;
            }
            // an objective without a program keeps its bound, and what the
            // ones before it certified is kept
            let Some(program) = crate::phase_lp::PhaseProgram::new(facts.reference, facts.compressed, bounds, &piece.lower, &piece.upper, problem.set.polytope(), j, if positive { 1.0 } else { -1.0 }) else {
                break 'objectives;
            };
            let seconds = PHASE_PROGRAM_SECONDS.min(seconds_left());
            if seconds <= 0.0 {
                break 'objectives;
            }
            let mut search = crate::phase_lp::branch_and_bound(&program, eps, PHASE_PROGRAM_MAX_NODES, seconds);
            searched = true;
            let slot = if positive { &mut tight.plus[j] } else { &mut tight.minus[j] };
            *slot = slot.min(search.bound);
            if let Some(last) = search.candidates.pop() {
                candidate = Some(last);
            }
            if search.bound > eps {
                // one objective left open leaves the piece open
                break 'objectives;
            }
        }
    }
    if !searched {
        return None;
    }
    tight.value = problem.norm_bound(&tight.plus, &tight.minus).min(piece.value);
    Some((tight, candidate.unwrap_or_else(|| piece.lower.clone())))
}

#[cfg(not(feature = "milp"))]
fn phase_programs(_problem: &SplitProblem, _piece: &Piece, _eps: Option<f64>, _deadline: Instant) -> Option<(Piece, Vec<f64>)> {
    None
}

/// Share of the search's time that [`objective_trees`] may take on the
/// whole set when the branching is on neurons (many inputs); what they leave
/// (every objective at its target, or every tree spent) goes to splitting.
/// Measured on MNIST 3x100 vs float16, test image 1 at +-8/255 (before the
/// simplex ran unscaled): with all of the time 7.094e-3 (10 s) and
/// 6.607e-3 (60 s), with 0.7 of it and neuron splitting after 7.319e-3 and
/// 6.713e-3 (splitting below the trees' bounds gained nothing), neuron
/// splitting alone 7.742e-3 (10 s).
pub const OBJECTIVE_TREE_SHARE: f64 = 1.0;

/// Seconds a tree runs before its worker looks again for its objective
/// with the largest bound.
#[cfg(feature = "milp")]
const OBJECTIVE_TREE_SLICE: f64 = 0.25;

/// Lowers the output bounds of `piece` (both networks on the same input, the
/// linf norm, no ball, no phase constraints) by a certified branch and
/// bound on neuron phases per objective `s (y_f,j - y_g,j)`
/// ([`crate::phase_lp::PhaseTree`], docs/method.md §10b) until each is at
/// most `target` or `deadline` passes. The piece's bound is the largest
/// objective's, so time goes where it lowers that: the objectives are dealt
/// to one worker per thread, the largest first, and each worker runs the
/// tree of its objective with the largest bound for a slice, again and
/// again (trees are kept, warm). Trees are built as they are first needed,
/// while their memory (HiGHS's copy included, about 80 bytes an entry, and
/// their nodes) fits in a quarter of `memory_bytes`. The inputs of every
/// slice's solutions are evaluated: the largest error found is returned
/// with its input and outputs' difference, and in decide mode (`eps`) an
/// error above `eps` stops the trees (it is the answer). `progress` hears
/// the piece's bound about once a second (with `lower`, the lower bound).
fn objective_trees(problem: &SplitProblem, piece: &mut Piece, target: f64, deadline: Instant, memory_bytes: u64, eps: Option<f64>, lower: f64, progress: &(dyn Fn(&Progress) + Sync)) -> TreesOutcome {
    let outcome = lowered_objectives(problem, piece, target, deadline, memory_bytes, eps, lower, progress);
    for &(j, sign, bound) in &outcome.lowered {
        let slot = if sign > 0.0 { &mut piece.plus[j] } else { &mut piece.minus[j] };
        *slot = slot.min(bound);
    }
    piece.value = problem.norm_bound(&piece.plus, &piece.minus).min(piece.value);
    outcome
}

/// What [`objective_trees`] did.
#[derive(Default)]
struct TreesOutcome {
    /// The objectives `(output, sign, bound)` it lowered.
    lowered: Vec<(usize, f64, f64)>,
    /// Programs solved.
    programs: usize,
    /// The largest error at a solution's input: `(error, input, difference)`.
    found: Option<(f64, Vec<f64>, Vec<f64>)>,
}

/// [`objective_trees`]' work, the piece left as it is.
#[cfg(feature = "milp")]
#[allow(clippy::too_many_arguments)]
fn lowered_objectives(problem: &SplitProblem, piece: &Piece, target: f64, deadline: Instant, memory_bytes: u64, eps: Option<f64>, lower: f64, progress: &(dyn Fn(&Progress) + Sync)) -> TreesOutcome {
    use crate::phase_lp::{PhaseProgram, PhaseTree};
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    if problem.norm != Norm::Linf || !matches!(problem.coupling, InputCoupling::Same) || problem.set.ball_constraint().is_some() || !piece.phases.is_empty() || piece.empty {
        return TreesOutcome::default();
    }
    let Some(bounds) = piece.bounds.as_deref() else { return TreesOutcome::default() };
    let Some(facts) = crate::milp::DifferentialFacts::new(&problem.pair, bounds) else { return TreesOutcome::default() };
    // (output, sign, bound), the largest first
    let mut objectives: Vec<(usize, f64, f64)> = Vec::new();
    for j in 0..piece.plus.len() {
        objectives.push((j, 1.0, piece.plus[j]));
        objectives.push((j, -1.0, piece.minus[j]));
    }
    objectives.retain(|o| o.2 > target);
    objectives.sort_by(|a, b| b.2.total_cmp(&a.2));
    if objectives.is_empty() {
        return TreesOutcome::default();
    }
    let current: Vec<AtomicU64> = objectives.iter().map(|o| AtomicU64::new(o.2.to_bits())).collect();
    // the objectives at most the target stay as they are
    let mut untouched = (piece.plus.clone(), piece.minus.clone());
    for &(j, sign, _) in &objectives {
        *(if sign > 0.0 { &mut untouched.0[j] } else { &mut untouched.1[j] }) = f64::NEG_INFINITY;
    }
    let untouched = problem.norm_bound(&untouched.0, &untouched.1);
    let started = Instant::now();
    let (programs, tree_bytes) = (AtomicUsize::new(0), AtomicU64::new(0));
    let found: std::sync::Mutex<Option<(f64, Vec<f64>, Vec<f64>)>> = std::sync::Mutex::new(None);
    let refuted = std::sync::atomic::AtomicBool::new(false);
    let allowed_bytes = memory_bytes / 4;
    // milliseconds since `started` of the last progress report, which the
    // first worker to see a second pass claims
    let last_report = AtomicU64::new(0);
    let threads = rayon::current_num_threads().max(1).min(objectives.len());
    std::thread::scope(|scope| {
        for worker in 0..threads {
            let (objectives, current, programs, tree_bytes, found, refuted, last_report) = (&objectives, &current, &programs, &tree_bytes, &found, &refuted, &last_report);
            // a thread the system refuses leaves its objectives as they are
            let _ = std::thread::Builder::new().name("objective-trees".into()).spawn_scoped(scope, move || {
                let mine: Vec<usize> = (worker..objectives.len()).step_by(threads).collect();
                let mut trees: Vec<Option<(PhaseTree, usize)>> = mine.iter().map(|_| None).collect();
                let mut given_up = vec![false; mine.len()];
                let bound_of = |k: usize| f64::from_bits(current[mine[k]].load(Ordering::Relaxed));
                loop {
                    // whichever worker sees a second pass since the last
                    // report reports (a worker inside a long solve would
                    // leave the others silent)
                    let now = started.elapsed().as_millis() as u64;
                    let last = last_report.load(Ordering::Relaxed);
                    if now >= last + 1000 && last_report.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                        let upper = current.iter().map(|b| f64::from_bits(b.load(Ordering::Relaxed))).fold(untouched, f64::max);
                        progress(&Progress { pieces_done: 1, pieces_open: 1, upper, lower, seconds: now as f64 / 1000.0 });
                    }
                    let left = deadline.saturating_duration_since(Instant::now()).as_secs_f64();
                    let open = (0..mine.len()).filter(|&k| !given_up[k] && bound_of(k) > target).max_by(|&a, &b| bound_of(a).total_cmp(&bound_of(b)));
                    let Some(k) = open.filter(|_| left > 0.0 && !refuted.load(Ordering::Relaxed)) else { break };
                    if trees[k].is_none() {
                        let (j, sign, _) = objectives[mine[k]];
                        let Some(program) = PhaseProgram::new(facts.reference, facts.compressed, bounds, &piece.lower, &piece.upper, problem.set.polytope(), j, sign) else {
                            given_up[k] = true;
                            continue;
                        };
                        let bytes = program.approximate_bytes();
                        let max_nodes = (allowed_bytes as f64 / 2.0 / objectives.len() as f64 / program.node_bytes()) as usize;
                        if tree_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes > allowed_bytes / 2 || max_nodes == 0 {
                            tree_bytes.fetch_sub(bytes, Ordering::Relaxed);
                            given_up[k] = true;
                            continue;
                        }
                        trees[k] = Some((PhaseTree::new(std::borrow::Cow::Owned(program)), max_nodes));
                    }
                    let Some((tree, max_nodes)) = trees[k].as_mut() else { continue };
                    let before = tree.nodes();
                    let search = tree.run(target, *max_nodes, OBJECTIVE_TREE_SLICE.min(left));
                    programs.fetch_add(search.nodes - before, Ordering::Relaxed);
                    let lowered = search.bound.min(bound_of(k));
                    current[mine[k]].store(lowered.to_bits(), Ordering::Relaxed);
                    // the inputs of the slice's solutions, evaluated (they can
                    // only raise the lower bound): the best of them is kept
                    let best_of_slice = search
                        .candidates
                        .into_iter()
                        .map(|input| {
                            let (input, difference) = problem.candidate_difference(input, piece.plus.len());
                            (problem.error(&difference), input, difference)
                        })
                        .filter(|(error, _, _)| !error.is_nan())
                        .max_by(|a, b| a.0.total_cmp(&b.0));
                    if let Some((error, input, difference)) = best_of_slice {
                        let mut best = found.lock().unwrap_or_else(|e| e.into_inner());
                        if best.as_ref().is_none_or(|b| error > b.0) {
                            refuted.store(eps.is_some_and(|eps| error > eps), Ordering::Relaxed);
                            *best = Some((error, input, difference));
                        }
                    }
                    // a tree whose model is lost, whose nodes are spent or
                    // whose open nodes are all at the target is done
                    if !tree.can_go_on(target, *max_nodes) {
                        given_up[k] = true;
                    }
                }
            });
        }
    });
    let lowered = objectives.iter().zip(&current).map(|(&(j, sign, _), bound)| (j, sign, f64::from_bits(bound.load(Ordering::Relaxed)))).collect();
    TreesOutcome { lowered, programs: programs.into_inner(), found: found.into_inner().unwrap_or_else(|e| e.into_inner()) }
}

#[cfg(not(feature = "milp"))]
#[allow(clippy::too_many_arguments)]
fn lowered_objectives(_problem: &SplitProblem, _piece: &Piece, _target: f64, _deadline: Instant, _memory_bytes: u64, _eps: Option<f64>, _lower: f64, _progress: &(dyn Fn(&Progress) + Sync)) -> TreesOutcome {
    TreesOutcome::default()
}

#[cfg(feature = "milp")]
fn search_piece(problem: &SplitProblem, piece: &Piece, output: usize, positive: bool, seconds: f64) -> Option<(Vec<f64>, bool)> {
    // the piece's facts hold over its box unless phase splits narrowed them
    // to part of it: then the box's own propagation
    let fresh;
    let bounds = match &piece.bounds {
        Some(bounds) if piece.phases.is_empty() => bounds.as_ref(),
        _ => {
            fresh = problem.pair.bounds_within(&problem.region(&piece.lower, &piece.upper), None);
            &fresh
        }
    };
    let facts = crate::milp::DifferentialFacts::new(&problem.pair, bounds);
    let found = crate::milp::search_box(problem.reference, problem.compressed, problem.set, &piece.lower, &piece.upper, facts, output, if positive { 1.0 } else { -1.0 }, seconds)?;
    Some((found.input, found.optimal))
}

#[cfg(not(feature = "milp"))]
fn search_piece(_problem: &SplitProblem, _piece: &Piece, _output: usize, _positive: bool, _seconds: f64) -> Option<(Vec<f64>, bool)> {
    None
}

/// Runs the branch and bound from an already bounded `root` (the whole set).
/// `initial_lower` is a lower bound and its input found elsewhere (an attack).
pub fn branch_and_bound(problem: &SplitProblem, root: Piece, initial_lower: (f64, Vec<f64>), settings: &SplitSettings, progress: &(dyn Fn(&Progress) + Sync)) -> SplitOutcome {
    let start = Instant::now();
    let outputs = root.plus.len();
    let root_width: Vec<f64> = root.lower.iter().zip(&root.upper).map(|(l, u)| u - l).collect();
    let piece_bytes = root.approximate_bytes();
    let (mut lower, mut witness) = initial_lower;
    // the given lower bound is rigorous; the search's own errors are
    // floating-point values at inputs in the problem's coordinates
    let mut lower_is_rigorous = true;
    // the largest error seen per output, with its input (re-evaluated with outward rounding at the end)
    let mut per_output_seen = crate::attack::SeenPerOutput::new(outputs);
    let mut closed_plus = vec![f64::NEG_INFINITY; outputs];
    let mut closed_minus = vec![f64::NEG_INFINITY; outputs];
    let mut closed_value = f64::NEG_INFINITY;
    let mut heap = BinaryHeap::new();
    let mut pieces_bounded = 1;
    let mut max_depth = 0;
    let (mut input_splits, mut neuron_splits, mut empty_pieces) = (0, 0, 0);
    let (mut phase_program_pieces, mut phase_program_closed) = (0, 0);
    let branching = settings.branching.resolved(root.lower.len());
    let mut last_report = 0.0;
    let mut ascent_seconds = 0.0;
    let mut milp_seconds = 0.0;
    let mut searched: Vec<SearchedBox> = Vec::new();
    let milp_searchable = settings.milp_search_share > 0.0 && milp_search_applies(problem);
    // a piece closes once its bound is at most eps (decide mode) or the lower bound
    let closing_bound = |lower: f64| settings.eps.unwrap_or(lower);
    let close = |piece: &Piece, lower: f64| piece.value <= closing_bound(lower);
    let closed_push = |piece: &Piece, closed_plus: &mut [f64], closed_minus: &mut [f64], closed_value: &mut f64| {
        for j in 0..piece.plus.len() {
            closed_plus[j] = closed_plus[j].max(piece.plus[j]);
            closed_minus[j] = closed_minus[j].max(piece.minus[j]);
        }
        *closed_value = closed_value.max(piece.value);
    };
    // many inputs: first the root's objectives get trees on neuron phases
    // (input halvings barely move a bound over hundreds of inputs)
    let mut root = root;
    let mut objective_tree_programs = 0;
    // (not in decide mode once an error above eps is known: that is the answer)
    let refuted = settings.eps.is_some_and(|eps| lower > eps);
    if settings.phase_programs && branching == Branching::Neuron && !close(&root, lower) && !refuted {
        let target = settings.eps.unwrap_or(lower * settings.target_ratio);
        let deadline = start + crate::limits::duration(OBJECTIVE_TREE_SHARE * settings.time_limit);
        let trees = objective_trees(problem, &mut root, target, deadline, settings.memory_bytes, settings.eps, lower, progress);
        objective_tree_programs = trees.programs;
        if let Some((error, input, difference)) = trees.found {
            per_output_seen.see(&difference, &input, &input);
            if error > lower {
                (lower, witness, lower_is_rigorous) = (error, input, false);
            }
        }
    }
    if close(&root, lower) {
        closed_push(&root, &mut closed_plus, &mut closed_minus, &mut closed_value);
    } else {
        heap.push(root);
    }
    let stop = loop {
        let open_value = heap.peek().map_or(f64::NEG_INFINITY, |p| p.value);
        let upper = open_value.max(closed_value);
        let seconds = start.elapsed().as_secs_f64();
        if seconds - last_report >= 1.0 {
            last_report = seconds;
            progress(&Progress { pieces_done: pieces_bounded, pieces_open: heap.len(), upper, lower, seconds });
        }
        if let Some(eps) = settings.eps {
            // a floating-point error above eps stops the search only once its
            // input is re-evaluated with outward rounding above eps (the report
            // decides on that value); otherwise the search goes on
            if lower > eps && !lower_is_rigorous {
                lower = crate::bound::error_lower_bound(problem.reference, problem.compressed, &witness, &witness, problem.norm);
                lower_is_rigorous = true;
            }
            if lower > eps {
                break StopReason::Counterexample;
            }
            if upper <= eps {
                break StopReason::Proven;
            }
            // every piece closed, yet some above eps (it could not be split further)
            if heap.is_empty() {
                break StopReason::Exhausted;
            }
        } else {
            if heap.is_empty() {
                break StopReason::Exhausted;
            }
            if upper <= lower * settings.target_ratio {
                break StopReason::Converged;
            }
        }
        if seconds >= settings.time_limit {
            break StopReason::TimeLimit;
        }
        if heap.len() >= settings.max_open_pieces || pieces_bounded >= settings.max_pieces_bounded {
            break StopReason::PieceLimit;
        }
        if (heap.len() + 2 * settings.batch.max(1)) as f64 * piece_bytes > settings.memory_bytes as f64 {
            break StopReason::MemoryLimit;
        }
        let mut batch = Vec::with_capacity(settings.batch);
        while batch.len() < settings.batch.max(1) {
            match heap.pop() {
                Some(p) => batch.push(p),
                None => break,
            }
        }
        // the worst pieces, before they are split: a local search from their
        // corners while it stays within its share of the time
        let counterexample_plausible = settings.eps.is_none_or(|eps| lower >= LOCAL_ASCENT_FROM * eps);
        let near_eps = settings.eps.is_some_and(|eps| lower >= LOCAL_ASCENT_FROM * eps);
        if counterexample_plausible && ascent_seconds <= LOCAL_ASCENT_SHARE * start.elapsed().as_secs_f64() {
            let began = Instant::now();
            // (its points are inputs of the user's set already)
            if let Some((error, input, difference)) = local_ascent(problem, &batch) {
                per_output_seen.see(&difference, &input, &input);
                if error > lower {
                    lower = error;
                    witness = input;
                    lower_is_rigorous = false;
                }
            }
            ascent_seconds += began.elapsed().as_secs_f64();
        }
        // the exact search: a MILP on the open piece whose candidate erred most
        if milp_searchable && counterexample_plausible && milp_seconds <= settings.milp_search_share * start.elapsed().as_secs_f64() {
            let began = Instant::now();
            let seconds_left = settings.time_limit - start.elapsed().as_secs_f64();
            // a solver's point is in the set to its tolerance: where the set
            // is the user's it counts as it is (the report re-checks it)
            let found = milp_search(problem, batch.iter().chain(heap.iter()), &mut searched, seconds_left);
            let admitted = found.and_then(|(_, input, difference)| if problem.admits.is_some() { problem.in_user_set(input) } else { Some((input, difference)) });
            if let Some((input, difference)) = admitted {
                let error = problem.error(&difference);
                per_output_seen.see(&difference, &input, &input);
                if error > lower {
                    lower = error;
                    witness = input;
                    lower_is_rigorous = false;
                }
            }
            milp_seconds += began.elapsed().as_secs_f64();
        }
        // with the lower bound the searches above may have raised
        let closing = closing_bound(lower);
        // phase programs go on while they close at least half the pieces
        // they are given (after a trial of PHASE_PROGRAM_TRIAL pieces)
        let programs_pay = phase_program_pieces < PHASE_PROGRAM_TRIAL || 2 * phase_program_closed >= phase_program_pieces;
        // the phase programs' deadline: the search's own
        let phase_deadline = start + crate::limits::duration(settings.time_limit.max(0.0));
        let splits: Vec<(Option<SplitKind>, bool, Vec<(Piece, Vec<f64>, Vec<f64>)>)> = batch
            .par_iter()
            .map(|piece| {
                // phase programs first: they close a piece or tighten it for its halves
                // only once an error of 0.75 eps is seen: far from a
                // counterexample, halving closes such pieces at less cost
                // (without eps the target would be the lower bound, which the
                // piece holding the worst case cannot go below: measured on
                // ACAS Xu 1_1 at 10 s, looser on properties 1 and 4)
                let tightened = if settings.phase_programs && near_eps && programs_pay { phase_programs(problem, piece, settings.eps, phase_deadline) } else { None };
                if let Some((tight, candidate)) = &tightened {
                    if tight.value <= closing {
                        let (candidate, difference) = problem.candidate_difference(candidate.clone(), tight.plus.len());
                        return (None, true, vec![(tight.clone(), candidate, difference)]);
                    }
                }
                let piece = tightened.as_ref().map_or(piece, |t| &t.0);
                let tried = tightened.is_some();
                match split_piece(problem, piece, &root_width, branching, near_eps, closing) {
                    Some((kind, parts)) => (Some(kind), tried, parts
                        .into_iter()
                        .map(|(child, candidate)| {
                            let (candidate, difference) = problem.candidate_difference(candidate, child.plus.len());
                            (child, candidate, difference)
                        })
                        .collect::<Vec<_>>()),
                    // cannot be split further: it stays closed with its bound
                    None => (None, tried, vec![(piece.clone(), Vec::new(), Vec::new())]),
                }
            })
            .collect();
        let mut children = Vec::new();
        for (kind, tried, parts) in splits {
            phase_program_pieces += usize::from(tried);
            phase_program_closed += usize::from(tried && kind.is_none() && parts.len() == 1 && parts[0].0.value <= closing);
            input_splits += usize::from(kind == Some(SplitKind::Input));
            neuron_splits += usize::from(kind == Some(SplitKind::Neuron));
            children.extend(parts);
        }
        for (mut child, candidate, difference) in children {
            empty_pieces += usize::from(child.empty);
            if !difference.is_empty() {
                pieces_bounded += 1;
                let error = problem.error(&difference);
                let output = (0..difference.len()).max_by(|&a, &b| difference[a].abs().total_cmp(&difference[b].abs())).unwrap_or(0);
                child.observed = (error, output, difference.get(output).is_none_or(|d| *d >= 0.0));
                per_output_seen.see(&difference, &candidate, &candidate);
                if error > lower {
                    lower = error;
                    witness = candidate;
                    lower_is_rigorous = false;
                }
            }
            max_depth = max_depth.max(child.depth);
            if difference.is_empty() || close(&child, lower) {
                let mut child = child;
                child.bounds = None;
                closed_push(&child, &mut closed_plus, &mut closed_minus, &mut closed_value);
            } else {
                heap.push(child);
            }
        }
    };
    // the certified bound: the maximum over every leaf, open or closed
    let mut plus = closed_plus;
    let mut minus = closed_minus;
    let mut bound = closed_value;
    for piece in heap.iter() {
        bound = bound.max(piece.value);
        for j in 0..outputs {
            plus[j] = plus[j].max(piece.plus[j]);
            minus[j] = minus[j].max(piece.minus[j]);
        }
    }
    let per_output: Vec<f64> = plus.iter().zip(&minus).map(|(p, m)| p.max(*m).max(0.0)).collect();
    let per_output_lower = per_output_seen.rigorous(problem.reference, problem.compressed);
    let seconds = start.elapsed().as_secs_f64();
    progress(&Progress { pieces_done: pieces_bounded, pieces_open: heap.len(), upper: bound.max(0.0), lower, seconds });
    SplitOutcome { bound: bound.max(0.0), per_output, lower, witness, per_output_lower, pieces_bounded, pieces_open: heap.len(), max_depth, input_splits, neuron_splits, empty_pieces, phase_program_pieces, phase_program_closed, objective_tree_programs, branching, stop, seconds }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Activation;
    use crate::propagation::DifferentialPair;
    use crate::network::{Layer, Matrix};

    /// A float64 network of one input with `layers`.
    fn one_input(layers: Vec<Layer>) -> Network {
        Network { input_dim: 1, input_transform: None, layers, kept_neurons: None, source_dtype: "float64".into(), output_softmax: false }
    }

    /// `relu(slope * x)` followed by an identity output layer.
    fn relu_net(slope: f64) -> Network {
        one_input(vec![
            Layer::dense(0, Matrix::from_rows(1, 1, vec![slope]), vec![0.0], Activation::Relu),
            Layer::dense(1, Matrix::from_rows(1, 1, vec![1.0]), vec![0.0], Activation::Identity),
        ])
    }

    /// `f - g = 0.25 relu(x)` on [-1, 1]: the worst case is 0.25 at x = 1.
    fn run(settings: SplitSettings) -> SplitOutcome {
        let (f, g) = (relu_net(1.0), relu_net(0.75));
        let set = InputSet::uniform_box(1, -1.0, 1.0).unwrap();
        let problem = SplitProblem { reference: &f, compressed: &g, set: &set, coupling: &InputCoupling::Same, norm: Norm::Linf, pair: DifferentialPair::new(&f, &g), piece_slopes: SlopeOptimisation::NONE, stuck_slopes: SlopeOptimisation::NONE, phase_multiplier_steps: DEFAULT_PHASE_MULTIPLIER_STEPS, admits: None };
        let (root, _) = problem.bound_piece(vec![-1.0], vec![1.0], None);
        branch_and_bound(&problem, root, (0.0, Vec::new()), &settings, &|_| {})
    }

    fn settings(eps: Option<f64>) -> SplitSettings {
        SplitSettings { time_limit: 30.0, eps, target_ratio: 1.0 + 1e-9, ..SplitSettings::default() }
    }

    #[test]
    fn bound_mode_brackets_the_exact_worst_case() {
        let outcome = run(settings(None));
        assert!(outcome.bound >= 0.25 && outcome.lower <= 0.25, "{} {}", outcome.bound, outcome.lower);
        assert!(outcome.bound <= 0.25 * (1.0 + 1e-6), "{}", outcome.bound);
        assert!(outcome.lower >= 0.25 * (1.0 - 1e-12), "the corner x = 1 is evaluated: {}", outcome.lower);
        assert!(matches!(outcome.stop, StopReason::Converged | StopReason::Exhausted), "{:?}", outcome.stop);
    }

    #[test]
    fn decide_mode_proves_and_refutes() {
        let proven = run(settings(Some(0.3)));
        assert_eq!(proven.stop, StopReason::Proven);
        assert!(proven.bound <= 0.3);
        let refuted = run(settings(Some(0.2)));
        assert_eq!(refuted.stop, StopReason::Counterexample);
        assert!(refuted.lower > 0.2 && refuted.witness[0] > 0.8, "{:?}", refuted.witness);
        // the bound is still certified when the search stops early
        assert!(refuted.bound >= 0.25);
    }

    /// `scale (1 - |x - 0.3|)` through two ReLUs.
    fn peak_net(scale: f64) -> Network {
        one_input(vec![
            Layer::dense(0, Matrix::from_rows(2, 1, vec![1.0, -1.0]), vec![-0.3, 0.3], Activation::Relu),
            Layer::dense(1, Matrix::from_rows(1, 2, vec![-scale, -scale]), vec![scale], Activation::Identity),
        ])
    }

    #[test]
    fn local_ascent_finds_an_interior_worst_case_the_corners_miss() {
        // f - g = 0.25 (1 - |x - 0.3|) on [-0.5, 1]: 0.25 at x = 0.3, while
        // the corners of the root and its halves (-0.5, 0.25, 1) reach 0.2375
        let (f, g) = (peak_net(1.0), peak_net(0.75));
        let set = InputSet::uniform_box(1, -0.5, 1.0).unwrap();
        let problem = SplitProblem { reference: &f, compressed: &g, set: &set, coupling: &InputCoupling::Same, norm: Norm::Linf, pair: DifferentialPair::new(&f, &g), piece_slopes: SlopeOptimisation::NONE, stuck_slopes: SlopeOptimisation::NONE, phase_multiplier_steps: 0, admits: None };
        let (root, _) = problem.bound_piece(vec![-0.5], vec![1.0], None);
        let outcome = branch_and_bound(&problem, root, (0.0, Vec::new()), &SplitSettings { max_pieces_bounded: 2, ..settings(None) }, &|_| {});
        assert_eq!(outcome.stop, StopReason::PieceLimit);
        assert!(outcome.lower > 0.2495 && outcome.lower <= 0.25, "{}", outcome.lower);
        // the witness is the input of that error
        let x = outcome.witness[0];
        assert!((0.25 * (1.0 - (x - 0.3).abs()) - outcome.lower).abs() < 1e-12, "{x} {}", outcome.lower);
        assert!(outcome.bound >= 0.25);
        // in decide mode it waits until a counterexample is plausible
        let far = branch_and_bound(&problem, problem.bound_piece(vec![-0.5], vec![1.0], None).0, (0.0, Vec::new()), &SplitSettings { max_pieces_bounded: 2, ..settings(Some(1.0)) }, &|_| {});
        assert!(far.lower <= 0.2375 + 1e-12, "{}", far.lower);
    }

    /// `relu(relu(slope x) - 0.5)`: the second neuron is active only where the first is.
    fn two_relus(slope: f64) -> Network {
        one_input(vec![
            Layer::dense(0, Matrix::from_rows(1, 1, vec![slope]), vec![0.0], Activation::Relu),
            Layer::dense(1, Matrix::from_rows(1, 1, vec![1.0]), vec![-0.5], Activation::Relu),
            Layer::dense(2, Matrix::from_rows(1, 1, vec![1.0]), vec![0.0], Activation::Identity),
        ])
    }

    #[test]
    fn phase_halves_hold_on_their_inputs_and_an_unreachable_half_is_empty() {
        use crate::propagation::{PhaseSplit, Side};
        let (f, g) = (two_relus(1.0), two_relus(0.75));
        let set = InputSet::uniform_box(1, -1.0, 1.0).unwrap();
        let problem = SplitProblem { reference: &f, compressed: &g, set: &set, coupling: &InputCoupling::Same, norm: Norm::Linf, pair: DifferentialPair::new(&f, &g), piece_slopes: SlopeOptimisation::NONE, stuck_slopes: SlopeOptimisation::NONE, phase_multiplier_steps: DEFAULT_PHASE_MULTIPLIER_STEPS, admits: None };
        let (root, _) = problem.bound_piece(vec![-1.0], vec![1.0], None);
        let second = PhaseSplit { side: Side::Reference, layer: 1, neuron: 0, score: 1.0 };
        let first = PhaseSplit { side: Side::Reference, layer: 0, neuron: 0, score: 1.0 };
        let (active, _) = problem.bound_phase(&root, &second, true);
        let (inactive, _) = problem.bound_phase(&root, &second, false);
        assert!(!active.empty && !inactive.empty);
        // every x of the box in a half has its error inside the half's bounds
        for k in 0..=2000 {
            let x = -1.0 + k as f64 / 1000.0;
            let w = (x.max(0.0) - 0.5).max(-1.0);
            let delta = problem.difference(&[x])[0];
            for (half, inside) in [(&active, w >= 0.0), (&inactive, w <= 0.0)] {
                if inside {
                    assert!(delta <= half.plus[0] && -delta <= half.minus[0], "x = {x}: {delta} outside the half's [{}, {}]", -half.minus[0], half.plus[0]);
                }
            }
        }
        // the second neuron active needs the first active: the other half is empty
        let (unreachable, _) = problem.bound_phase(&active, &first, false);
        assert!(unreachable.empty && unreachable.value == f64::NEG_INFINITY);
        let (reachable, _) = problem.bound_phase(&active, &first, true);
        assert!(!reachable.empty && reachable.value <= active.value);
        // the half is x in [0.5, 1], where f - g reaches 0.25 (at x = 1)
        assert!(reachable.value >= 0.25, "{}", reachable.value);
    }

    /// Chains of random phase splits on random pairs (with and without
    /// Lagrange multipliers): at every piece, each sampled input that
    /// satisfies the piece's phase constraints has its error within the
    /// piece's bounds, and a piece marked empty has no such input.
    #[test]
    fn phase_split_pieces_hold_at_every_sampled_input_satisfying_their_constraints() {
        use crate::network::random::{partner, random_mlp, Relation};
        use crate::propagation::Side;
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(912);
        let (mut checked, mut multiplied) = (0, 0);
        for case in 0..40 {
            let activation = [Activation::Relu, Activation::LeakyRelu { alpha: 0.2 }][case % 2];
            let f = random_mlp(&mut rng, 2, &[6, 5], 2, activation);
            let g = partner(&mut rng, &f, [Relation::Quantised, Relation::Pruned, Relation::Unrelated][case % 3], activation);
            let set = InputSet::uniform_box(2, -1.0, 1.0).unwrap();
            let problem = SplitProblem { reference: &f, compressed: &g, set: &set, coupling: &InputCoupling::Same, norm: Norm::Linf, pair: DifferentialPair::new(&f, &g), piece_slopes: SlopeOptimisation::NONE, stuck_slopes: SlopeOptimisation::NONE, phase_multiplier_steps: [0, 10][case % 2], admits: None };
            let samples: Vec<Vec<f64>> = (0..3000).map(|_| vec![rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)]).collect();
            let (mut piece, _) = problem.bound_piece(vec![-1.0; 2], vec![1.0; 2], None);
            for _ in 0..4 {
                let Some(bounds) = piece.bounds.clone() else { break };
                let candidates = problem.pair.phase_split_candidates(&bounds, rng.gen_range(0..2), [1.0, -1.0][rng.gen_range(0..2)]);
                if candidates.is_empty() {
                    break;
                }
                let split = candidates[rng.gen_range(0..candidates.len())];
                let (half, _) = problem.bound_phase(&piece, &split, rng.gen_bool(0.5));
                let satisfies = |x: &[f64]| {
                    half.phases.iter().all(|(p, active)| {
                        let net = if p.side == Side::Reference { &f } else { &g };
                        let acts = net.activations(x);
                        let v = net.pre_activation(&net.layers[p.layer], &acts)[p.neuron];
                        if *active { v >= 0.0 } else { v <= 0.0 }
                    })
                };
                for x in samples.iter().filter(|x| satisfies(x)) {
                    assert!(!half.empty, "case {case}: a half marked empty holds {x:?}");
                    for (j, d) in problem.difference(x).iter().enumerate() {
                        assert!(*d <= half.plus[j] && -d <= half.minus[j], "case {case} output {j}: {d} at {x:?} outside [{}, {}] after {:?}", -half.minus[j], half.plus[j], half.phases);
                    }
                    checked += 1;
                }
                multiplied += usize::from(case % 2 == 1 && !half.empty);
                if half.empty {
                    break;
                }
                piece = half;
            }
        }
        assert!(checked >= 50_000 && multiplied >= 20, "{checked} points, {multiplied} pieces with multipliers");
    }

    #[test]
    fn every_branching_rule_brackets_the_exact_worst_case() {
        for branching in [Branching::Input, Branching::Neuron, Branching::Mixed] {
            let outcome = run(SplitSettings { branching, ..settings(None) });
            assert!(outcome.bound >= 0.25 && outcome.lower <= 0.25, "{branching:?}: {} {}", outcome.bound, outcome.lower);
            assert!(outcome.bound <= 0.25 * (1.0 + 1e-6), "{branching:?}: {}", outcome.bound);
        }
    }

    #[test]
    fn time_and_memory_limits_stop_the_search_with_a_certified_bound() {
        let timed = run(SplitSettings { time_limit: 0.0, ..settings(Some(0.25)) });
        assert_eq!(timed.stop, StopReason::TimeLimit);
        assert!(timed.bound >= 0.25);
        let memory = run(SplitSettings { memory_bytes: 1, ..settings(Some(0.25)) });
        assert_eq!(memory.stop, StopReason::MemoryLimit);
        assert!(memory.bound >= 0.25);
    }
}
