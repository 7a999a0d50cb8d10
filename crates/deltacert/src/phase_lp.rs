//! A certified branch and bound on neuron phases, by linear programs whose
//! bounds are re-checked (docs/method.md §10b).
//!
//! On one box (a piece of input splitting) of a pair of ReLU or leaky-ReLU
//! networks that
//! propagate differentially, the program has a column for every input and
//! for every hidden neuron's pre-activation and activation in both
//! networks, and for the two outputs of one objective `s (y_f,j - y_g,j)`:
//!
//! - each layer's affine map as an equality row (the weights and biases as
//!   they are: every coefficient is exact);
//! - each column within the interval propagation found for it;
//! - an unstable ReLU `a = max(v, 0)` on `[l, u]` (`l < 0 < u`): `a >= v`,
//!   `a >= 0` and the chord `a <= s v + t` with `s = fl(u / (u - l))` and `t`
//!   rounded up until the line lies above the ReLU at both ends (then on all
//!   of `[l, u]`, the ReLU being convex); a stable one `a = v` or `a = 0`
//!   (a leaky ReLU `max(v, s v)` likewise, with `a >= s v` and `a = s v`);
//! - propagation's differential facts: `Delta v` in its interval, `Delta a`
//!   between its two lines in `Delta v`, `Delta y_j` in its interval.
//!
//! Every row holds at every input of the box, so the program's maximum is an
//! upper bound of the objective there. A *node* fixes the phases of some
//! neurons (`v >= 0` and `a = v`, or `v <= 0` and `a = 0`, resp. `a = s v`
//! for a leaky ReLU); two nodes that
//! differ in one neuron's phase cover its box together, so the largest bound
//! over the leaves of a tree of nodes bounds the objective on the box.
//!
//! **The bound is re-checked, not HiGHS's.** For any multipliers `y` of the
//! rows (HiGHS's duals are only a good guess) and every `x` in the columns'
//! box `[l, u]` satisfying the rows `L <= A x <= U`,
//!
//! ```text
//! c . x = y . (A x) + (c - A^T y) . x
//!       <= sum_i max(y_i L_i, y_i U_i) + sum_k max_{x_k in [l_k, u_k]} r_k x_k,
//! ```
//!
//! `r = c - A^T y` (Neumaier and Shcherbina's bound). Each `r_k` is computed
//! in floating point and enclosed with the rounding error of its sum
//! ([`crate::rounding::accumulated_error`]); every product and sum of the
//! bound is rounded up. A row side that is infinite takes no multiplier of
//! its sign (it is set to zero). A node whose program HiGHS finds infeasible
//! is closed only when the same sum with `c = 0` and HiGHS's dual ray is
//! negative (no `x` of the box satisfies the rows); otherwise it keeps its
//! parent's bound.

use crate::network::Network;
use crate::propagation::DifferentialBounds;
use crate::rounding::{accumulated_error, add_up, mul_up, sub_up};
use crate::activation::Activation;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// An unstable ReLU of one network: its columns and the row `a - v >= 0`
/// that a fixed active phase tightens to `a - v = 0`.
#[derive(Debug, Clone, Copy)]
struct UnstableNeuron {
    pre_activation: usize,
    activation: usize,
    below_row: usize,
    /// A leaky ReLU's slope `s` below 0 (0 for a ReLU).
    slope: f64,
    /// A leaky ReLU's row `a - s v >= 0`, which a fixed inactive phase
    /// tightens to `a - s v = 0` (a ReLU's inactive phase fixes `a = 0`).
    inactive_row: Option<usize>,
    /// The chord's row `a - c v <= t`.
    chord_row: usize,
    /// The rows of propagation's lower and upper line on `Delta a` at its
    /// layer and index, and the largest vertical gap between the two lines
    /// over `Delta v`'s interval (for the branching score).
    line_rows: (Option<usize>, Option<usize>, f64),
}

/// The linear program of one objective on one box (module docs).
#[derive(Clone)]
pub struct PhaseProgram {
    cost: Vec<f64>,
    column_lower: Vec<f64>,
    column_upper: Vec<f64>,
    rows: Vec<Vec<(usize, f64)>>,
    row_lower: Vec<f64>,
    row_upper: Vec<f64>,
    /// Per column, its entries `(row, coefficient)`.
    columns: Vec<Vec<(usize, f64)>>,
    neurons: Vec<UnstableNeuron>,
    inputs: usize,
    /// The columns of the objective's outputs `y_f,j` and `y_g,j`.
    outputs: (usize, usize),
}

impl PhaseProgram {
    fn column(&mut self, lower: f64, upper: f64) -> usize {
        self.column_lower.push(lower);
        self.column_upper.push(upper);
        self.cost.push(0.0);
        self.column_lower.len() - 1
    }

    fn row(&mut self, terms: Vec<(usize, f64)>, lower: f64, upper: f64) -> usize {
        self.rows.push(terms);
        self.row_lower.push(lower);
        self.row_upper.push(upper);
        self.rows.len() - 1
    }

    /// The program maximising `sign (y_f,j - y_g,j)` over the box `[lower,
    /// upper]` (with the polytope rows `a . x <= b`), from `bounds`, a
    /// differential propagation of the paired `reference` and `compressed`
    /// networks over that box. None when a hidden activation is not a (leaky) ReLU
    /// or the identity, the output is not affine, or an interval is not
    /// finite.
    #[allow(clippy::too_many_arguments)]
    pub fn new(reference: &Network, compressed: &Network, bounds: &DifferentialBounds, lower: &[f64], upper: &[f64], polytope: &[(Vec<f64>, f64)], output: usize, sign: f64) -> Option<Self> {
        let depth = reference.layers.len();
        if depth == 0 || compressed.layers.len() != depth || bounds.hidden.len() + 1 != depth || bounds.compressed_hidden.len() + 1 != depth || bounds.lines.len() + 1 != depth || bounds.reference_bounds.layers.len() != depth {
            return None;
        }
        if !bounds.differential || bounds.crossed || output >= reference.output_dim() || output >= compressed.output_dim() || output >= bounds.output_lower.len() || output >= bounds.output_upper.len() || lower.len() != upper.len() || lower.len() != reference.input_dim {
            return None;
        }
        if reference.layers[depth - 1].activation != Activation::Identity || compressed.layers[depth - 1].activation != Activation::Identity {
            return None;
        }
        let mut program = PhaseProgram { cost: Vec::new(), column_lower: Vec::new(), column_upper: Vec::new(), rows: Vec::new(), row_lower: Vec::new(), row_upper: Vec::new(), columns: Vec::new(), neurons: Vec::new(), inputs: lower.len(), outputs: (0, 0) };
        let x: Vec<usize> = (0..lower.len()).map(|k| program.column(lower[k], upper[k])).collect();
        for (a, b) in polytope {
            program.row(x.iter().zip(a).filter(|t| *t.1 != 0.0).map(|(&c, &v)| (c, v)).collect(), f64::NEG_INFINITY, *b);
        }
        // activation columns of both networks per layer (0: the input; None:
        // the activation is 0 on the whole box)
        let mut activations: [Vec<Vec<Option<usize>>>; 2] = [vec![x.iter().map(|&c| Some(c)).collect()], vec![x.iter().map(|&c| Some(c)).collect()]];
        for k in 0..depth - 1 {
            let width = reference.layers[k].width();
            let f_bounds = (&bounds.reference_bounds.layers[k].pre_lower, &bounds.reference_bounds.layers[k].pre_upper);
            let g_bounds = (&bounds.compressed_hidden[k].0, &bounds.compressed_hidden[k].1);
            let (dl, du) = &bounds.hidden[k];
            let lines = &bounds.lines[k].0;
            if [f_bounds.0.len(), f_bounds.1.len(), g_bounds.0.len(), g_bounds.1.len(), dl.len(), du.len(), lines.len(), compressed.layers[k].width()].iter().any(|&n| n != width) {
                return None;
            }
            let mut layer_activations = [Vec::with_capacity(width), Vec::with_capacity(width)];
            for i in 0..width {
                let inactive = |net: &Network, u: f64| net.layers[k].activation == Activation::Relu && u <= 0.0;
                // inactive in both networks: nothing of it enters the program
                if inactive(reference, f_bounds.1[i]) && inactive(compressed, g_bounds.1[i]) {
                    layer_activations[0].push(None);
                    layer_activations[1].push(None);
                    continue;
                }
                let first_neuron = program.neurons.len();
                let mut columns = [(0, None), (0, None)];
                for (net, (network, (l, u))) in [(reference, f_bounds), (compressed, g_bounds)].into_iter().enumerate() {
                    let layer = &network.layers[k];
                    let (mut li, mut ui) = (l[i], u[i]);
                    if net == 0 {
                        // f's interval as propagation tightens it, through v_f = v_g + Delta v
                        li = li.max(crate::rounding::add_down(g_bounds.0[i], dl[i]));
                        ui = ui.min(add_up(g_bounds.1[i], du[i]));
                    }
                    if !(li.is_finite() && ui.is_finite() && li <= ui) {
                        return None;
                    }
                    let v = program.column(li, ui);
                    program.affine_row(layer, i, v, &activations[net])?;
                    let a = match layer.activation {
                        Activation::Relu if ui <= 0.0 => None,
                        Activation::Identity => {
                            let a = program.column(li, ui);
                            program.row(vec![(a, 1.0), (v, -1.0)], 0.0, 0.0);
                            Some(a)
                        }
                        Activation::Relu if li >= 0.0 => {
                            let a = program.column(li, ui);
                            program.row(vec![(a, 1.0), (v, -1.0)], 0.0, 0.0);
                            Some(a)
                        }
                        Activation::Relu => Some(program.unstable(v, li, ui, 0.0)),
                        // max(v, s v): s v below 0, v above
                        Activation::LeakyRelu { alpha } if !(0.0..1.0).contains(&alpha) => return None,
                        Activation::LeakyRelu { alpha } if ui <= 0.0 => {
                            let a = program.column(crate::rounding::mul_down(alpha, li), mul_up(alpha, ui));
                            program.row(vec![(a, 1.0), (v, -alpha)], 0.0, 0.0);
                            Some(a)
                        }
                        Activation::LeakyRelu { .. } if li >= 0.0 => {
                            let a = program.column(li, ui);
                            program.row(vec![(a, 1.0), (v, -1.0)], 0.0, 0.0);
                            Some(a)
                        }
                        Activation::LeakyRelu { alpha } => Some(program.unstable(v, li, ui, alpha)),
                        _ => return None,
                    };
                    columns[net] = (v, a);
                    layer_activations[net].push(a);
                }
                // the differential facts of the neuron
                let [(vf, af), (vg, ag)] = columns;
                if dl[i].is_finite() || du[i].is_finite() {
                    program.row(vec![(vf, 1.0), (vg, -1.0)], dl[i], du[i]);
                }
                let line = lines[i];
                // Delta a - s Delta v against the intercept (an activation of 0 has no term)
                let against = |s: f64| {
                    let mut terms = vec![(vf, -s), (vg, s)];
                    terms.extend(af.map(|c| (c, 1.0)));
                    terms.extend(ag.map(|c| (c, -1.0)));
                    terms
                };
                let mut line_rows = (None, None, 0.0);
                if line.lower_slope.is_finite() && line.lower_intercept.is_finite() {
                    line_rows.0 = Some(program.row(against(line.lower_slope), line.lower_intercept, f64::INFINITY));
                }
                if line.upper_slope.is_finite() && line.upper_intercept.is_finite() {
                    line_rows.1 = Some(program.row(against(line.upper_slope), f64::NEG_INFINITY, line.upper_intercept));
                }
                // the gap is affine in Delta v: largest at an end
                let gap = |x: f64| (line.upper_slope - line.lower_slope) * x + (line.upper_intercept - line.lower_intercept);
                let largest_gap = gap(dl[i]).max(gap(du[i]));
                line_rows.2 = if largest_gap.is_finite() { largest_gap.max(0.0) } else { 0.0 };
                for neuron in &mut program.neurons[first_neuron..] {
                    neuron.line_rows = line_rows;
                }
            }
            let [fa, ga] = layer_activations;
            activations[0].push(fa);
            activations[1].push(ga);
        }
        // the two outputs of the objective, within f's interval and the difference's
        let last = depth - 1;
        let (yl, yu) = (bounds.reference_bounds.layers[last].pre_lower[output], bounds.reference_bounds.layers[last].pre_upper[output]);
        let (dl, du) = (bounds.output_lower[output], bounds.output_upper[output]);
        let (gl, gu) = (crate::rounding::sub_down(yl, du), sub_up(yu, dl));
        if !(yl.is_finite() && yu.is_finite() && gl.is_finite() && gu.is_finite()) {
            return None;
        }
        let yf = program.column(yl, yu);
        let yg = program.column(gl, gu);
        program.affine_row(&reference.layers[last], output, yf, &activations[0])?;
        program.affine_row(&compressed.layers[last], output, yg, &activations[1])?;
        program.row(vec![(yf, 1.0), (yg, -1.0)], dl, du);
        program.cost[yf] = sign;
        program.cost[yg] = -sign;
        program.outputs = (yf, yg);
        program.columns = vec![Vec::new(); program.cost.len()];
        for (r, row) in program.rows.iter().enumerate() {
            for &(c, v) in row {
                program.columns[c].push((r, v));
            }
        }
        Some(program)
    }

    /// The columns and rows of a (leaky) ReLU `a = max(v, s v)`, `0 <= s <
    /// 1`, unstable on `[l, u]`: `a - v >= 0`, `a - s v >= 0` (a column bound
    /// for a ReLU) and the chord `a - c v <= t`, `c = fl((u - s l) / (u - l))`
    /// and `t` rounded up until the line lies above the function at both
    /// ends of `[l, u]` (then on all of it, the function being convex).
    fn unstable(&mut self, v: usize, l: f64, u: f64, s: f64) -> usize {
        let a = self.column(if s == 0.0 { 0.0 } else { crate::rounding::mul_down(s, l) }, u);
        let below_row = self.row(vec![(a, 1.0), (v, -1.0)], 0.0, f64::INFINITY);
        let inactive_row = (s != 0.0).then(|| self.row(vec![(a, 1.0), (v, -s)], 0.0, f64::INFINITY));
        let c = (u - s * l) / (u - l);
        // above (l, s l): t >= s l - c l; above (u, u): t >= u - c u
        let t = add_up(mul_up(s, l), mul_up(c, -l)).max(sub_up(u, crate::rounding::mul_down(c, u)));
        let chord_row = self.row(vec![(a, 1.0), (v, -c)], f64::NEG_INFINITY, t);
        self.neurons.push(UnstableNeuron { pre_activation: v, activation: a, below_row, slope: s, inactive_row, chord_row, line_rows: (None, None, 0.0) });
        a
    }

    /// The row `v_i - sum W a = b_i` of neuron `i` of `layer`.
    fn affine_row(&mut self, layer: &crate::network::Layer, i: usize, v: usize, activations: &[Vec<Option<usize>>]) -> Option<()> {
        let mut terms = vec![(v, 1.0)];
        for term in &layer.terms {
            let source = activations.get(term.source)?;
            if term.weights.row(i).len() != source.len() {
                return None;
            }
            for (j, &w) in term.weights.row(i).iter().enumerate() {
                if let (true, Some(c)) = (w != 0.0, source[j]) {
                    terms.push((c, -w));
                }
            }
        }
        if !layer.bias[i].is_finite() {
            return None;
        }
        self.row(terms, layer.bias[i], layer.bias[i]);
        Some(())
    }


    /// The same program maximising `a y_f,j + b y_g,j` instead (for `a =
    /// -1, b = 0`: minus `f`'s output `j`, so a bound below 0 proves `y_f,j
    /// > 0` on the box). Every row holds whatever the objective, so the
    /// bound is checked as before.
    pub fn with_output_costs(mut self, on_reference: f64, on_compressed: f64) -> Self {
        let (yf, yg) = self.outputs;
        self.cost[yf] = on_reference;
        self.cost[yg] = on_compressed;
        self
    }

    /// Number of unstable neurons (both networks).
    pub fn unstable_neurons(&self) -> usize {
        self.neurons.len()
    }

    /// About the bytes the program takes, with HiGHS's copy of it (80 bytes
    /// an entry of its rows, 64 a column).
    pub fn approximate_bytes(&self) -> u64 {
        let entries: usize = self.rows.iter().map(Vec::len).sum();
        (80 * entries + 64 * self.cost.len()) as u64
    }

    /// About the bytes a node of a tree of this program takes at most: its
    /// phases (16 bytes each, at most one per unstable neuron) and half of
    /// its parent's basis, shared with its sibling (a byte per column and
    /// row).
    pub fn node_bytes(&self) -> f64 {
        64.0 + 16.0 * self.neurons.len() as f64 + (self.cost.len() + self.rows.len()) as f64 / 2.0
    }

    /// The re-checked bound `sum_i max(y_i L_i, y_i U_i) + sum_k max r_k x_k`
    /// (module docs) for multipliers `y`, the columns' box and the rows'
    /// sides given; `cost` false bounds `0 . x` (an emptiness test).
    fn checked_bound(&self, y: &[f64], column_lower: &[f64], column_upper: &[f64], row_lower: &[f64], row_upper: &[f64], cost: bool) -> f64 {
        let y: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, &v)| if !v.is_finite() || (v > 0.0 && row_upper[i] == f64::INFINITY) || (v < 0.0 && row_lower[i] == f64::NEG_INFINITY) { 0.0 } else { v })
            .collect();
        let mut bound = 0.0;
        for (i, &v) in y.iter().enumerate() {
            if v != 0.0 {
                bound = add_up(bound, mul_up(v, if v > 0.0 { row_upper[i] } else { row_lower[i] }));
            }
        }
        for (k, entries) in self.columns.iter().enumerate() {
            let c = if cost { self.cost[k] } else { 0.0 };
            let mut r = c;
            let mut magnitude = c.abs();
            for &(i, a) in entries {
                if y[i] != 0.0 {
                    let p = y[i] * a;
                    r -= p;
                    magnitude += p.abs();
                }
            }
            // a product or sum past the doubles' range encloses nothing
            if !r.is_finite() || !magnitude.is_finite() {
                return f64::INFINITY;
            }
            let error = accumulated_error(entries.len() + 1, magnitude);
            let (r_lo, r_hi) = (crate::rounding::sub_down(r, error), add_up(r, error));
            let (l, u) = (column_lower[k], column_upper[k]);
            let corners = [mul_up(r_lo, l), mul_up(r_lo, u), mul_up(r_hi, l), mul_up(r_hi, u)];
            if corners.iter().any(|c| c.is_nan()) {
                return f64::INFINITY;
            }
            bound = add_up(bound, corners.into_iter().fold(f64::NEG_INFINITY, f64::max));
        }
        if bound.is_nan() { f64::INFINITY } else { bound }
    }
}

impl PhaseProgram {
    /// The re-checked bound of the program (no phase fixed) for the
    /// multipliers `y`, one per row, whatever they are (module docs): NaN
    /// entries count as 0.
    pub fn bound_with_multipliers(&self, y: &[f64]) -> f64 {
        if y.len() != self.rows.len() {
            return f64::INFINITY;
        }
        self.checked_bound(y, &self.column_lower, &self.column_upper, &self.row_lower, &self.row_upper, true)
    }

    /// HiGHS's row multipliers of the program with no phase fixed (None
    /// when HiGHS does not solve it).
    #[cfg(feature = "milp")]
    pub fn solver_multipliers(&self) -> Option<Vec<f64>> {
        let solved = self.highs_model()?.try_solve().ok()?;
        let duals = solved.get_solution().dual_rows().to_vec();
        (duals.len() == self.rows.len()).then_some(duals)
    }

    /// The program as a HiGHS model, maximising, quiet, on one thread.
    #[cfg(feature = "milp")]
    fn highs_model(&self) -> Option<highs::Model> {
        let mut problem = highs::RowProblem::default();
        let cols: Vec<highs::Col> = (0..self.cost.len()).map(|k| problem.add_column(self.cost[k], self.column_lower[k]..=self.column_upper[k])).collect();
        for (r, row) in self.rows.iter().enumerate() {
            let terms: Vec<(highs::Col, f64)> = row.iter().map(|&(c, v)| (cols[c], v)).collect();
            problem.add_row(self.row_lower[r]..=self.row_upper[r], terms);
        }
        let mut model = problem.try_optimise(highs::Sense::Maximise).ok()?;
        model.make_quiet();
        model.set_option("threads", 1);
        Some(model)
    }
}

/// A node: fixed phases `(neuron, active)` and a bound valid on its inputs.
#[cfg_attr(not(feature = "milp"), allow(dead_code))]
struct Node {
    bound: f64,
    phases: Vec<(usize, bool)>,
    /// HiGHS's basis at the parent's solution, where the node's solve starts
    /// (shared by the two children).
    start: Option<Basis>,
}

/// HiGHS's basis: the status of every column and row (`kHighsBasisStatus`,
/// 0 to 4, a byte each).
#[cfg(feature = "milp")]
type Basis = std::sync::Arc<(Vec<u8>, Vec<u8>)>;
#[cfg(not(feature = "milp"))]
type Basis = ();

/// The basis of the last solve of `model`; None where HiGHS has none.
#[cfg(feature = "milp")]
fn basis_of(model: &highs::Model, columns: usize, rows: usize) -> Option<Basis> {
    let (mut column_status, mut row_status) = (vec![0 as highs_sys::HighsInt; columns], vec![0 as highs_sys::HighsInt; rows]);
    // SAFETY: the model is live and the arrays hold one value per column and row
    let status = unsafe { highs_sys::Highs_getBasis(model.as_ptr(), column_status.as_mut_ptr(), row_status.as_mut_ptr()) };
    let byte = |v: &highs_sys::HighsInt| u8::try_from(*v).ok();
    (status == highs_sys::kHighsStatusOk as highs_sys::HighsInt).then(|| Some(std::sync::Arc::new((column_status.iter().map(byte).collect::<Option<_>>()?, row_status.iter().map(byte).collect::<Option<_>>()?)))).flatten()
}

/// Makes `basis` the start of the next solve of `model` (a basis HiGHS
/// rejects leaves it solving from where it is: the start only changes the
/// speed).
#[cfg(feature = "milp")]
fn start_from(model: &mut highs::Model, basis: &Basis) {
    let widen = |v: &Vec<u8>| v.iter().map(|&s| s as highs_sys::HighsInt).collect::<Vec<_>>();
    let (column_status, row_status) = (widen(&basis.0), widen(&basis.1));
    // SAFETY: the model is live and the arrays hold one value per column and row
    unsafe { highs_sys::Highs_setBasis(model.as_mut_ptr(), column_status.as_ptr(), row_status.as_ptr()) };
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.bound == other.bound
    }
}
impl Eq for Node {}
impl PartialOrd for Node {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Node {
    fn cmp(&self, other: &Self) -> Ordering {
        self.bound.total_cmp(&other.bound)
    }
}

/// What [`branch_and_bound`] reached.
#[derive(Debug, Clone)]
pub struct PhaseSearch {
    /// A certified upper bound of the objective on the box.
    pub bound: f64,
    /// Programs solved.
    pub nodes: usize,
    /// The root program's certified bound.
    pub root_bound: f64,
    /// The inputs of the optimal solutions this run reached, the newest
    /// last (at most [`RUN_CANDIDATES`]): candidates for the caller to
    /// evaluate; nothing here is a lower bound.
    pub candidates: Vec<Vec<f64>>,
}

/// The most solutions' inputs a run of a tree keeps for its caller: the
/// last ones, so a long run does not hold every node's input.
pub const RUN_CANDIDATES: usize = 64;

/// A best-first branch and bound on the phases of the unstable neurons of
/// one program, which can be run on with more time: its open nodes and
/// HiGHS's model are kept between runs; each node's solve starts from its
/// parent's basis (kept with the node). Each node branches on the neuron whose relaxations
/// hold its solution's bound up most (their rows' multipliers times their
/// heights, docs/method.md §10b). Nothing HiGHS returns is trusted: each
/// bound is [`PhaseProgram::checked_bound`]'s.
#[cfg(feature = "milp")]
pub struct PhaseTree<'a> {
    program: std::borrow::Cow<'a, PhaseProgram>,
    model: Option<highs::Model>,
    /// The columns' and rows' sides the model holds now.
    sides: Sides,
    /// The phases the model holds now.
    applied: Vec<(usize, bool)>,
    queue: BinaryHeap<Node>,
    /// Programs solved.
    nodes: usize,
    root_bound: f64,
    /// The largest bound of a node closed (at most a run's target, or a leaf).
    settled: f64,
}

#[cfg(feature = "milp")]
impl<'a> PhaseTree<'a> {
    /// The tree of `program` with only its root open.
    pub fn new(program: std::borrow::Cow<'a, PhaseProgram>) -> Self {
        let model = program.highs_model().map(|mut model| {
            // warm starts from the last basis, and dual rays for infeasible nodes
            model.set_option("presolve", "off");
            // unscaled: on MNIST 3x100 the root takes 0.14-0.40 s instead
            // of 0.38-1.08 s, and a tree solves 20% to 100% more programs
            // in 10 s (ACAS Xu pieces: the same or faster)
            model.set_option("simplex_scale_strategy", 0);
            model
        });
        let sides = Sides { column_lower: program.column_lower.clone(), column_upper: program.column_upper.clone(), row_lower: program.row_lower.clone(), row_upper: program.row_upper.clone() };
        let mut queue = BinaryHeap::new();
        queue.push(Node { bound: f64::INFINITY, phases: Vec::new(), start: None });
        PhaseTree { program, model, sides, applied: Vec::new(), queue, nodes: 0, root_bound: f64::INFINITY, settled: f64::NEG_INFINITY }
    }

    /// Programs solved so far.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Whether a run towards `target` with this cap on programs can lower
    /// the bound: HiGHS still holds the model and a node above `target` is
    /// open (nodes closed at most an earlier target stay closed).
    pub fn can_go_on(&self, target: f64, max_nodes: usize) -> bool {
        self.model.is_some() && self.queue.peek().is_some_and(|n| n.bound > target) && self.nodes < max_nodes
    }

    /// The certified bound so far: the largest over open nodes and closed
    /// ones (`+inf` where HiGHS could not take the program).
    pub fn bound(&self) -> f64 {
        let open = self.queue.peek().map_or(f64::NEG_INFINITY, |n| n.bound);
        open.max(self.settled)
    }

    /// Solves nodes, the largest bound first, until every open node's bound
    /// is at most `target`, or `max_nodes` programs were solved in all, or
    /// `seconds` passed.
    pub fn run(&mut self, target: f64, max_nodes: usize, seconds: f64) -> PhaseSearch {
        use highs::HighsModelStatus;
        let start = std::time::Instant::now();
        let PhaseTree { program, model, sides, applied, queue, nodes, root_bound, settled } = self;
        let mut candidates: std::collections::VecDeque<Vec<f64>> = std::collections::VecDeque::new();
        let program: &PhaseProgram = program;
        let Some(highs) = model.as_mut() else {
            return PhaseSearch { bound: self.bound(), nodes: self.nodes, root_bound: self.root_bound, candidates: Vec::new() };
        };
        // HiGHS stops at the deadline inside its simplex loops too
        crate::milp::interrupt_at(highs, seconds);
        while let Some(node) = queue.pop() {
            if node.bound <= target || *nodes >= max_nodes || start.elapsed().as_secs_f64() >= seconds {
                queue.push(node);
                break;
            }
            let Some(mut current) = model.take() else {
                queue.push(node);
                break;
            };
            // undo the last node's phases, apply this one's
            sides.set_phases(program, &mut current, applied, &node.phases);
            // a node that is not a child of the last one starts from its
            // parent's basis: a jump across the tree from the last basis took
            // about twice as long (MNIST 3x100: 27 ms against 15 ms, medians);
            // the last node itself, interrupted, goes on from where it stopped
            let child_of_last = node.phases.len() == applied.len() + 1 && node.phases[..applied.len()] == applied[..];
            if let Some(start) = node.start.as_ref().filter(|_| !child_of_last && node.phases != *applied) {
                start_from(&mut current, start);
            }
            *applied = node.phases.clone();
            let Ok(solved) = current.try_solve() else {
                queue.push(node);
                break;
            };
            if matches!(solved.status(), HighsModelStatus::ReachedInterrupt | HighsModelStatus::ReachedTimeLimit) {
                // the run's time ran out inside the solve: the node stays
                // open (the next run solves it on from here)
                *model = Some(solved.into());
                queue.push(node);
                break;
            }
            *nodes += 1;
            let status = solved.status();
            let solution = solved.get_solution();
            let columns = solution.columns().to_vec();
            let duals = solution.dual_rows().to_vec();
            let bound = sides.checked_node_bound(program, &solved, &duals).min(node.bound);
            if node.phases.is_empty() {
                *root_bound = bound;
            }
            *model = Some(solved.into());
            if bound <= target {
                *settled = settled.max(bound);
                continue;
            }
            let solved_to_optimum = status == HighsModelStatus::Optimal && columns.len() == program.cost.len();
            if solved_to_optimum {
                if candidates.len() == RUN_CANDIDATES {
                    candidates.pop_front();
                }
                candidates.push_back(columns[..program.inputs].to_vec());
            }
            match solved_to_optimum.then(|| program.branching_neuron(&node.phases, &columns, &duals, &sides.row_upper)).flatten() {
                Some(n) => {
                    let start = model.as_ref().and_then(|m| basis_of(m, program.cost.len(), program.rows.len()));
                    for active in [true, false] {
                        let mut phases = node.phases.clone();
                        phases.push((n, active));
                        queue.push(Node { bound, phases, start: start.clone() });
                    }
                }
                None => *settled = settled.max(bound),
            }
        }
        PhaseSearch { bound: self.bound(), nodes: self.nodes, root_bound: self.root_bound, candidates: candidates.into() }
    }
}

/// The columns' and rows' sides a tree's model holds now (the program's,
/// with the phases of the node last applied).
#[cfg(feature = "milp")]
struct Sides {
    column_lower: Vec<f64>,
    column_upper: Vec<f64>,
    row_lower: Vec<f64>,
    row_upper: Vec<f64>,
}

#[cfg(feature = "milp")]
impl Sides {
    /// Undoes the phases `applied` (the program's sides again) and applies
    /// `phases`, here and in `model`: an active phase
    /// `v >= 0` and `a - v <= 0` (with the row `a - v >= 0`: `a = v`), an
    /// inactive one `v <= 0` and `a <= 0` (a ReLU, `a >= 0` from its column:
    /// `a = 0`) or `a - s v <= 0` (a leaky ReLU: `a = s v`).
    fn set_phases(&mut self, program: &PhaseProgram, model: &mut highs::Model, applied: &[(usize, bool)], phases: &[(usize, bool)]) {
        let highs = model.as_mut_ptr();
        // SAFETY (both): the model is live and `k`, `r` are its columns and rows
        let set_column = |k: usize, l: f64, u: f64| unsafe {
            highs_sys::Highs_changeColBounds(highs, k as highs_sys::HighsInt, l, u);
        };
        let set_row = |r: usize, l: f64, u: f64| unsafe {
            highs_sys::Highs_changeRowBounds(highs, r as highs_sys::HighsInt, l, u);
        };
        for &(n, _) in applied {
            let neuron = program.neurons[n];
            for k in [neuron.pre_activation, neuron.activation] {
                (self.column_lower[k], self.column_upper[k]) = (program.column_lower[k], program.column_upper[k]);
                set_column(k, self.column_lower[k], self.column_upper[k]);
            }
            for r in std::iter::once(neuron.below_row).chain(neuron.inactive_row) {
                (self.row_lower[r], self.row_upper[r]) = (program.row_lower[r], program.row_upper[r]);
                set_row(r, self.row_lower[r], self.row_upper[r]);
            }
        }
        for &(n, active) in phases {
            let neuron = program.neurons[n];
            let (v, a) = (neuron.pre_activation, neuron.activation);
            if active {
                self.column_lower[v] = 0.0;
                self.row_upper[neuron.below_row] = 0.0;
                set_row(neuron.below_row, self.row_lower[neuron.below_row], 0.0);
            } else if let Some(r) = neuron.inactive_row {
                self.column_upper[v] = 0.0;
                self.row_upper[r] = 0.0;
                set_row(r, self.row_lower[r], 0.0);
            } else {
                self.column_upper[v] = 0.0;
                self.column_upper[a] = 0.0;
                set_column(a, self.column_lower[a], 0.0);
            }
            set_column(v, self.column_lower[v], self.column_upper[v]);
        }
    }

    /// The re-checked bound of a node's program that HiGHS solved: from its
    /// row duals `duals` (either sign), or `-inf` where HiGHS found it
    /// infeasible and its dual ray proves that no point of the columns' box
    /// satisfies the rows; `+inf` otherwise (the caller keeps the parent's).
    fn checked_node_bound(&self, program: &PhaseProgram, solved: &highs::SolvedModel, duals: &[f64]) -> f64 {
        let check = |y: &[f64], cost: bool| [1.0, -1.0].iter().map(|s| program.checked_bound(&y.iter().map(|v| s * v).collect::<Vec<_>>(), &self.column_lower, &self.column_upper, &self.row_lower, &self.row_upper, cost)).fold(f64::INFINITY, f64::min);
        if solved.status() == highs::HighsModelStatus::Infeasible {
            let mut ray = vec![0.0; program.rows.len()];
            let mut has_ray: highs_sys::HighsInt = 0;
            // SAFETY: the model is live and `ray` holds one value per row
            let ok = unsafe { highs_sys::Highs_getDualRay(solved.as_ptr(), &mut has_ray, ray.as_mut_ptr()) };
            let empty = ok != highs_sys::kHighsStatusError as highs_sys::HighsInt && has_ray != 0 && check(&ray, false) < 0.0;
            if empty { f64::NEG_INFINITY } else { f64::INFINITY }
        } else if duals.len() == program.rows.len() {
            check(duals, true)
        } else {
            f64::INFINITY
        }
    }
}

#[cfg(feature = "milp")]
impl PhaseProgram {
    /// The neuron a node with `phases` branches on, from its solution
    /// (`columns`, row duals `duals`, the rows' upper sides `row_upper`):
    /// the one whose relaxations hold the bound up most, the multipliers of
    /// its chord and of the differential lines at its index times their
    /// heights (docs/method.md §10b), among the neurons the solution puts
    /// above their function; on equal scores (no multiplier on their rows)
    /// the one farthest above. None when the solution lies on every
    /// neuron's function.
    fn branching_neuron(&self, phases: &[(usize, bool)], columns: &[f64], duals: &[f64], row_upper: &[f64]) -> Option<usize> {
        let multiplier = |row: Option<usize>| row.and_then(|r| duals.get(r)).map_or(0.0, |y| y.abs());
        self.neurons
            .iter()
            .enumerate()
            .filter(|(n, _)| !phases.iter().any(|p| p.0 == *n))
            .map(|(n, neuron)| {
                let v = columns[neuron.pre_activation];
                let above = columns[neuron.activation] - v.max(neuron.slope * v);
                let (lower_line, upper_line, line_gap) = neuron.line_rows;
                let score = multiplier(Some(neuron.chord_row)) * row_upper[neuron.chord_row] + (multiplier(lower_line) + multiplier(upper_line)) * line_gap;
                (n, if score.is_finite() { score } else { 0.0 }, above)
            })
            .filter(|t| t.2 > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(a.2.total_cmp(&b.2)))
            .map(|t| t.0)
    }
}

/// [`PhaseTree::run`] on a new tree of `program`.
#[cfg(feature = "milp")]
pub fn branch_and_bound(program: &PhaseProgram, target: f64, max_nodes: usize, seconds: f64) -> PhaseSearch {
    PhaseTree::new(std::borrow::Cow::Borrowed(program)).run(target, max_nodes, seconds)
}
