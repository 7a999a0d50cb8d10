//! The exact worst case for networks with piecewise-linear activations (ReLU,
//! leaky ReLU, and quantisers, which are piecewise constant) as a
//! mixed-integer linear program (docs/method.md §10), solved with HiGHS.
//!
//! Each activation gives the encoding of a neuron on its pre-activation
//! interval `[l, u]` (linear-propagation bounds;
//! [`crate::activation::ActivationRule::mixed_integer_encoding`], described
//! in [`crate::activation::mixed_integer`]): stable neurons are substituted
//! (`a = slope v + intercept`), an unstable one gets new columns and rows:
//! for ReLU a column `a`, a binary `z` and the big-M rows `a >= v`, `a <= v -
//! l (1 - z)`, `a <= u z`, `0 <= a <= u`; for a quantiser an integer level
//! `m` with `a = s m`, the rounding band `|v - s m| <= s/2` and a binary for
//! each saturation that the interval reaches. This module translates the
//! columns and rows generically. For each output `j` and sign `s` the MILP
//! maximises `s (y_f,j(x) - y_g,j(x'))` over the input set (box and polytope
//! rows; `x' = x`, `|x' - x| <= step`, or `x'` free).
//!
//! The incumbent's input is evaluated with outward rounding: its value is a
//! rigorous lower bound, reported with its input. A quantiser jumps, and the
//! solver's optimum sits on a jump (within its tolerance), where the network
//! may take the other level; so with quantisers the incumbent is also
//! *placed*: a linear program with every integer column fixed at the
//! incumbent's value and the encodings' witness rows added keeps each
//! quantiser's pre-activation a margin inside its chosen level, and the
//! better of the two evaluated inputs is kept.
//!
//! When the pair propagates differentially (its neurons pair one to one,
//! [`crate::propagation::DifferentialPair`]), the facts of one differential
//! propagation over the same region are added as rows: for hidden neuron `i`
//! of layer `k`, with `Delta v = v_f - v_g` and `Delta a = a_f - a_g` the
//! expressions of the two encodings, the interval `l <= Delta v <= u` and the
//! two relaxation lines `Delta a >= s_l Delta v + b_l`, `Delta a <= s_u Delta
//! v + b_u`; `g`'s pre-activation intervals are those the propagation
//! tightened. Each holds at every input of the region, so the optimum is
//! unchanged, but the linear relaxation HiGHS branches on becomes the
//! differential one instead of the two networks' separate ones, whose
//! difference is hundreds of times looser at MNIST size (docs/benchmarks.md).
//!
//! HiGHS's dual bound, widened by `1e-6 (1 + |bound|)` for its tolerances, is
//! the upper bound. Unlike the SDP's certificate, this dual bound is *not*
//! re-checked: it is as trustworthy as HiGHS's floating-point branch and
//! bound, so it is reported as a *solver bound*, never as a certified one.
//! When no encoding has an integer column the program is an LP, whose bound
//! is the optimal objective (HiGHS's `mip_dual_bound` is not defined then).
//!
//! Time: the solves share one budget; each gets what is left of it as HiGHS's
//! time limit, and solves that find the budget spent are skipped (no bound).

use crate::activation::{Activation, MixedIntegerEncoding};
use crate::bound::output_enclosure;
use crate::rounding::sub_down;
use crate::propagation::{linear_bounds, DifferentialBounds, DifferentialPair, NetworkBounds};
use crate::error::{unsupported, Result};
use crate::input_set::InputSet;
use crate::network::Network;
use crate::problem::InputCoupling;
use crate::limits::Budget;
use crate::problem::Prepared;
use highs::{HighsModelStatus, RowProblem, Sense};
use serde::Serialize;

/// One maximisation `s * (y_f,j - y_g,j)`.
#[derive(Debug, Clone, Serialize)]
pub struct MilpSolve {
    /// Output index `j`.
    pub output: usize,
    /// +1 or -1.
    pub sign: f64,
    /// HiGHS's model status.
    pub status: String,
    /// A rigorous lower bound on the objective at the incumbent's input
    /// (outward-rounded enclosures of both outputs; None: no incumbent).
    pub incumbent: Option<f64>,
    /// The incumbent's input for `f` (first-layer coordinates).
    pub input: Option<Vec<f64>>,
    /// The incumbent's input for `g`.
    pub compressed_input: Option<Vec<f64>>,
    /// Whether the input is the *placed* incumbent (quantisers: moved inside
    /// the levels the solver chose, which evaluated higher than the raw one).
    pub placed: bool,
    /// HiGHS's dual bound widened by its tolerance (None if unavailable,
    /// or withheld: [`MilpSolve::withheld`]).
    pub upper: Option<f64>,
    /// Why HiGHS's bound is not reported although it returned one: the
    /// program's numbers lie outside the range its tolerances are made for
    /// ([`Encoder::numerical_range`]).
    pub withheld: Option<String>,
    /// Relative MIP gap reported by HiGHS.
    pub gap: f64,
    /// Seconds.
    pub seconds: f64,
}

impl MilpSolve {
    /// A solve the time limit left no time for.
    fn not_run(output: usize, sign: f64) -> Self {
        MilpSolve { output, sign, status: "NotRun (time limit)".into(), incumbent: None, input: None, compressed_input: None, placed: false, upper: None, withheld: None, gap: f64::INFINITY, seconds: 0.0 }
    }
    /// HiGHS ended this solve at its optimum.
    pub fn optimal(&self) -> bool {
        self.status == format!("{:?}", HighsModelStatus::Optimal)
    }
}

/// All solves of one pair.
#[derive(Debug, Clone, Serialize)]
pub struct MilpResult {
    /// `max_j |Delta_j|` upper bound (None when some solve has no dual bound).
    pub upper: Option<f64>,
    /// Largest `|Delta_j|` of any incumbent (a true lower bound).
    pub lower: f64,
    /// Per output: `(lower, upper)`.
    pub per_output: Vec<(f64, Option<f64>)>,
    /// The input (first-layer coordinates) of the best incumbent.
    pub witness: Vec<f64>,
    /// The compressed network's input at the best incumbent.
    pub witness_compressed: Vec<f64>,
    /// Whether some solve returned a feasible incumbent.
    pub found_incumbent: bool,
    /// Why some solves gave no bound (time limit, model too large).
    pub note: Option<String>,
    /// Binary variables per solve.
    pub binaries: usize,
    /// General integer variables (quantiser levels) per solve.
    pub integers: usize,
    /// Whether the differential propagation's facts were added as rows.
    pub differential_rows: bool,
    /// Every solve.
    pub solves: Vec<MilpSolve>,
}

/// A linear expression over MILP columns plus a constant.
#[derive(Debug, Clone, Default)]
struct Expr {
    terms: Vec<(usize, f64)>,
    constant: f64,
}

/// Refuses networks whose output layer is not affine or whose hidden
/// activations have no mixed-integer encoding (are not piecewise linear:
/// ReLU, leaky ReLU and quantisers have one). An encoding exists for every
/// interval or for none, so the interval `[-1, 1]` stands for all.
pub fn check_piecewise_linear(network: &Network, name: &str) -> Result<()> {
    let last = network.layers.len() - 1;
    for (k, layer) in network.layers.iter().enumerate() {
        let ok = if k == last { layer.activation == Activation::Identity } else { layer.activation.with_rule(|rule| rule.mixed_integer_encoding(-1.0, 1.0).is_some()) };
        if !ok {
            return Err(unsupported(format!(
                "--method milp needs piecewise-linear activations with a mixed-integer encoding (ReLU, leaky ReLU, quantisers): {name} layer {} uses {}",
                k + 1,
                layer.activation.name()
            )));
        }
    }
    Ok(())
}

struct Encoder {
    problem: RowProblem,
    columns: Vec<highs::Col>,
    /// Binary columns of the encodings.
    binaries: usize,
    /// General integer columns of the encodings (quantiser levels).
    integers: usize,
    /// Whether some encoding has witness rows (an activation with jumps).
    has_witness_rows: bool,
    /// Placing an incumbent: the integer columns are fixed and the witness
    /// rows added with a margin.
    fixed: Option<Placement>,
    /// The activation expression of every neuron encoded so far, by its
    /// activation, bounds and pre-activation expression (bit patterns).
    neurons: std::collections::HashMap<NeuronKey, Expr>,
    /// Per network encoded, per layer: the pre-activation and activation
    /// expressions of its neurons (what the differential rows relate).
    layers: Vec<Vec<(Vec<Expr>, Vec<Expr>)>>,
    /// Each column's bounds, by index (what a dropped coefficient's term
    /// can contribute, [`Encoder::row`]).
    column_bounds: Vec<(f64, f64)>,
    /// The largest finite magnitude of a coefficient, a column bound or a
    /// row's side.
    largest_magnitude: f64,
    /// The positive ranges of the columns narrower than
    /// [`NARROW_COLUMN_RANGE`].
    narrow_ranges: Vec<f64>,
    /// The largest magnitude of a coefficient in a row.
    largest_coefficient: f64,
}

/// How an incumbent is placed: the value of every column (the integer ones
/// are fixed at it, rounded), and the margin factor `mu`: every witness row
/// of a neuron with bounds `[l, u]` must hold `mu (1 + max(|l|, |u|))` inside
/// its ends.
struct Placement {
    values: Vec<f64>,
    margin: f64,
}

/// The margin factors tried, in order, to place an incumbent
/// ([`Placement`]), until the placed input evaluates to the linear
/// program's optimum: the smallest loses least (the objective moves by
/// about the margin times the network's slope) and serves a level whose
/// region is thin (a pre-activation fixed by earlier levels that sits just
/// off a tie); the larger ones keep the input clear of HiGHS's feasibility
/// tolerance when the smallest did not. Each exceeds the allowance `c - s/2
/// = u max(|l|, |u|)` of the quantiser's band, so the computed quotient
/// rounds to the chosen level as well.
const PLACEMENT_MARGINS: [f64; 3] = [1e-11, 1e-9, 1e-7];

/// A neuron's activation (its `Debug` form), pre-activation bounds and
/// pre-activation expression, bit for bit: two neurons with the same key are
/// the same function of the same columns (a layer both networks share, such
/// as a quantiser on the common input).
#[derive(PartialEq, Eq, Hash)]
struct NeuronKey {
    activation: String,
    bounds: (u64, u64),
    terms: Vec<(usize, u64)>,
    constant: u64,
}

impl Encoder {
    fn new(fixed: Option<Placement>) -> Self {
        Encoder { problem: RowProblem::default(), columns: Vec::new(), binaries: 0, integers: 0, has_witness_rows: false, fixed, neurons: Default::default(), layers: Vec::new(), column_bounds: Vec::new(), largest_magnitude: 0.0, narrow_ranges: Vec::new(), largest_coefficient: 0.0 }
    }
    fn column(&mut self, lower: f64, upper: f64, integer: bool) -> usize {
        let index = self.columns.len();
        self.see_magnitudes(&[lower, upper]);
        if upper > lower && upper - lower < NARROW_COLUMN_RANGE {
            self.narrow_ranges.push(upper - lower);
        }
        self.column_bounds.push((lower, upper));
        let col = match &self.fixed {
            // an integer column fixed at the incumbent's (rounded) value: a linear program
            Some(placement) if integer => {
                let value = placement.values[index].round().clamp(lower, upper);
                self.problem.add_column(0.0, value..=value)
            }
            _ if integer => self.problem.add_integer_column(0.0, lower..=upper),
            _ => self.problem.add_column(0.0, lower..=upper),
        };
        self.columns.push(col);
        index
    }
    /// `lower <= expr <= upper` as a row (none for a constant expression:
    /// it constrains no column).
    ///
    /// HiGHS reads a coefficient of magnitude up to 1e-9 as zero, which
    /// changes the program (`1e12 relu(1e-12 x)` got the bound 1e-6 where
    /// the error reaches 1). So a term `c x` with `|c| <=`
    /// [`SMALLEST_KEPT_COEFFICIENT`] is taken out of the row and the row's
    /// sides move outward by the most it can contribute, `|c| max(|x_lo|,
    /// |x_hi|)` (rounded up): every point of the row as written satisfies
    /// the widened one, so the program only gets looser.
    fn row(&mut self, expr: &Expr, lower: f64, upper: f64) {
        let mut slack = 0.0;
        let mut factors: Vec<(highs::Col, f64)> = Vec::with_capacity(expr.terms.len());
        for &(c, v) in &expr.terms {
            if v.abs() <= SMALLEST_KEPT_COEFFICIENT {
                let (lo, hi) = self.column_bounds[c];
                slack = crate::rounding::add_up(slack, crate::rounding::mul_up(v.abs(), lo.abs().max(hi.abs())));
            } else {
                factors.push((self.columns[c], v));
            }
        }
        if factors.is_empty() {
            return;
        }
        let (lower, upper) = match slack > 0.0 {
            true => (crate::rounding::sub_down(crate::rounding::add_down_tight(lower, -expr.constant), slack), crate::rounding::add_up(crate::rounding::add_up_tight(upper, -expr.constant), slack)),
            false => (lower - expr.constant, upper - expr.constant),
        };
        // the row's activity can be large with every number in it small
        let activity = expr.terms.iter().map(|&(c, v)| v.abs() * self.column_bounds[c].0.abs().max(self.column_bounds[c].1.abs())).sum::<f64>();
        self.see_magnitudes(&[lower, upper, activity]);
        self.see_magnitudes(&factors.iter().map(|f| f.1).collect::<Vec<_>>());
        self.largest_coefficient = factors.iter().map(|f| f.1.abs()).fold(self.largest_coefficient, f64::max);
        self.problem.add_row(lower..=upper, &factors);
    }
    fn see_magnitudes(&mut self, values: &[f64]) {
        for v in values.iter().filter(|v| v.is_finite()) {
            self.largest_magnitude = self.largest_magnitude.max(v.abs());
        }
    }
    /// Why HiGHS's bound on this program cannot be taken at its word, if it
    /// cannot: a number (a coefficient, a bound, a row's side, or the most a
    /// row's terms can add up to) beyond [`LARGEST_TRUSTED_MAGNITUDE`], where the
    /// absolute tolerances of [`MILP_TOLERANCE`] are finer than a double
    /// resolves (HiGHS reported "Optimal" with a bound of 4.5e7 on an error
    /// that reaches 7.8e7).
    ///
    /// Or a column whose range is below [`NARROWEST_TRUSTED_RANGE`]: within a
    /// few of HiGHS's tolerances of a fixed column, which its presolve and
    /// bound propagation may fix at one end (`1e5 relu(1e-9 x)` on `[-1,
    /// 1]`, the activation column on `[0, 1e-9]`, got the bound 1e-6 where
    /// the error reaches 1e-4), when the range times the largest
    /// coefficient could move the objective by more than the bound's
    /// widening covers (a pruned neuron, exactly 0, has bounds `[-eta,
    /// eta]` after outward rounding, and changes nothing).
    fn numerical_range(&self) -> Option<String> {
        if self.largest_magnitude > LARGEST_TRUSTED_MAGNITUDE {
            return Some(format!("a number in the program reaches {:.1e}, where HiGHS's tolerances ({MILP_TOLERANCE:e}) are finer than a double resolves", self.largest_magnitude));
        }
        if let Some(narrowest) = self.significant_narrow_ranges().filter(|&r| r < NARROWEST_TRUSTED_RANGE).reduce(f64::min) {
            return Some(format!("a variable of the program ranges over only {narrowest:.1e}, within a few of HiGHS's tolerances ({MILP_TOLERANCE:e})"));
        }
        None
    }
    /// The ranges of the narrow columns that can move the objective by more
    /// than `1e-7` (range times the largest coefficient): a pruned neuron,
    /// exactly 0, has bounds `[-eta, eta]` after outward rounding, and moves
    /// nothing.
    fn significant_narrow_ranges(&self) -> impl Iterator<Item = f64> + '_ {
        let largest = self.largest_coefficient.max(1.0);
        self.narrow_ranges.iter().copied().filter(move |r| r * largest > 1e-7)
    }
    /// HiGHS's `mip_feasibility_tolerance` for this program:
    /// [`MIP_FEASIBILITY_TOLERANCE`], or [`MILP_TOLERANCE`] where a column
    /// that matters is narrower than [`NARROW_COLUMN_RANGE`] (at 1e-7 HiGHS
    /// took `1e5 relu(1.2e-8 x)`, the activation column on `[0, 1.2e-8]`,
    /// as 0: bound 1e-6, error 1.2e-3).
    fn mip_tolerance(&self) -> f64 {
        if self.significant_narrow_ranges().next().is_some() {
            MILP_TOLERANCE
        } else {
            MIP_FEASIBILITY_TOLERANCE
        }
    }
    /// Encodes `network` on the input columns with its pre-activation bounds;
    /// returns the output expressions. Refuses non-finite pre-activation
    /// bounds (no big-M constant exists then).
    fn network(&mut self, network: &Network, bounds: &NetworkBounds, inputs: &[usize], name: &str) -> Result<Vec<Expr>> {
        let mut acts: Vec<Vec<Expr>> = vec![inputs.iter().map(|&c| Expr { terms: vec![(c, 1.0)], constant: 0.0 }).collect()];
        let mut layers = Vec::with_capacity(network.layers.len());
        for (k, (layer, b)) in network.layers.iter().zip(&bounds.layers).enumerate() {
            let mut out = Vec::with_capacity(layer.width());
            let mut pre_activations = Vec::with_capacity(layer.width());
            for i in 0..layer.width() {
                let mut v = Expr { terms: Vec::new(), constant: layer.bias[i] };
                for term in &layer.terms {
                    for (j, &w) in term.weights.row(i).iter().enumerate() {
                        if w != 0.0 {
                            let source = &acts[term.source][j];
                            v.constant += w * source.constant;
                            v.terms.extend(source.terms.iter().map(|&(c, x)| (c, w * x)));
                        }
                    }
                }
                merge(&mut v);
                pre_activations.push(v.clone());
                let (l, u) = (b.pre_lower[i], b.pre_upper[i]);
                // A neuron already encoded (the same activation of the same
                // expression) is the same function of the inputs: it shares
                // that encoding. Besides saving columns this keeps the MILP
                // exact where both networks start with the same quantiser:
                // two copies could take different levels at one tie.
                let key = NeuronKey {
                    activation: format!("{:?}", layer.activation),
                    bounds: (l.to_bits(), u.to_bits()),
                    terms: v.terms.iter().map(|&(c, x)| (c, x.to_bits())).collect(),
                    constant: v.constant.to_bits(),
                };
                if let Some(a) = self.neurons.get(&key) {
                    out.push(a.clone());
                    continue;
                }
                let encoding = layer.activation.with_rule(|rule| rule.mixed_integer_encoding(l, u)).expect("check_piecewise_linear admits only activations with an encoding");
                let a = match encoding {
                    MixedIntegerEncoding::Affine { slope, intercept } => {
                        let mut a = scale(&v, slope);
                        a.constant += intercept;
                        a
                    }
                    MixedIntegerEncoding::Columns { columns, activation, rows, witness_rows } => {
                        let finite = columns.iter().all(|c| c.lower.is_finite() && c.upper.is_finite())
                            && rows.iter().chain(&witness_rows).all(|r| r.pre_activation.is_finite() && r.columns.iter().all(|x| x.is_finite()) && !r.lower.is_nan() && !r.upper.is_nan());
                        if !finite {
                            return Err(unsupported(format!("--method milp needs finite pre-activation bounds: {name} layer {} neuron {} has [{l}, {u}]", k + 1, i + 1)));
                        }
                        let indices: Vec<usize> = columns.iter().map(|c| self.column(c.lower, c.upper, c.integer)).collect();
                        self.binaries += columns.iter().filter(|c| c.is_binary()).count();
                        self.integers += columns.iter().filter(|c| c.integer && !c.is_binary()).count();
                        self.has_witness_rows |= !witness_rows.is_empty();
                        let margin = self.fixed.as_ref().map(|p| p.margin * (1.0 + l.abs().max(u.abs())));
                        let witness = witness_rows.iter().filter(|_| margin.is_some()).map(|row| (row, margin.unwrap_or(0.0)));
                        for (row, inside) in rows.iter().map(|row| (row, 0.0)).chain(witness) {
                            // c_v v + sum_i e_i c_i
                            let mut e = scale(&v, row.pre_activation);
                            e.terms.extend(indices.iter().zip(&row.columns).map(|(&c, &x)| (c, x)));
                            merge(&mut e);
                            self.row(&e, row.lower + inside, row.upper - inside);
                        }
                        let mut a = Expr { terms: indices.iter().zip(&activation).map(|(&c, &x)| (c, x)).collect(), constant: 0.0 };
                        merge(&mut a);
                        a
                    }
                };
                self.neurons.insert(key, a.clone());
                out.push(a);
            }
            layers.push((pre_activations, out.clone()));
            acts.push(out);
        }
        self.layers.push(layers);
        Ok(acts.pop().expect("layers"))
    }

    /// The differential facts `bounds` as rows between the first two
    /// networks encoded (`f`, then `g`, in the paired structure): per hidden
    /// neuron, `Delta v` in its interval and `Delta a` between its two lines
    /// (module docs). A side with a non-finite coefficient or end is left
    /// out (it states nothing).
    fn differential_rows(&mut self, bounds: &DifferentialBounds) {
        for (k, ((lower, upper), (lines, _))) in bounds.hidden.iter().zip(&bounds.lines).enumerate() {
            for i in 0..lower.len().min(lines.len()) {
                let (f_layer, g_layer) = (&self.layers[0][k], &self.layers[1][k]);
                let delta_v = sub(&f_layer.0[i], &g_layer.0[i]);
                let delta_a = sub(&f_layer.1[i], &g_layer.1[i]);
                let line = lines[i];
                let (l, u) = (lower[i], upper[i]);
                if !l.is_nan() && !u.is_nan() && (l.is_finite() || u.is_finite()) {
                    self.row(&delta_v, l, u);
                }
                // Delta a - s Delta v against the intercept
                let against = |slope: f64| {
                    let mut e = delta_a.clone();
                    e.terms.extend(delta_v.terms.iter().map(|&(c, x)| (c, -slope * x)));
                    e.constant -= slope * delta_v.constant;
                    merge(&mut e);
                    e
                };
                if line.lower_slope.is_finite() && line.lower_intercept.is_finite() {
                    self.row(&against(line.lower_slope), line.lower_intercept, f64::INFINITY);
                }
                if line.upper_slope.is_finite() && line.upper_intercept.is_finite() {
                    self.row(&against(line.upper_slope), f64::NEG_INFINITY, line.upper_intercept);
                }
            }
        }
    }
}

fn merge(e: &mut Expr) {
    e.terms.sort_by_key(|t| t.0);
    let mut out: Vec<(usize, f64)> = Vec::with_capacity(e.terms.len());
    for &(c, v) in &e.terms {
        match out.last_mut() {
            Some(last) if last.0 == c => last.1 += v,
            _ => out.push((c, v)),
        }
    }
    out.retain(|t| t.1 != 0.0);
    e.terms = out;
}

/// `factor * e` (`e` itself for factor 1, the zero expression for 0).
fn scale(e: &Expr, factor: f64) -> Expr {
    if factor == 1.0 {
        return e.clone();
    }
    if factor == 0.0 {
        return Expr::default();
    }
    let mut scaled = Expr { terms: e.terms.iter().map(|&(c, v)| (c, factor * v)).collect(), constant: factor * e.constant };
    merge(&mut scaled);
    scaled
}

fn sub(a: &Expr, b: &Expr) -> Expr {
    let mut e = Expr { terms: a.terms.clone(), constant: a.constant - b.constant };
    e.terms.extend(b.terms.iter().map(|&(c, v)| (c, -v)));
    merge(&mut e);
    e
}

/// The facts of one differential propagation over the MILP's region, in
/// the structure it ran on (module docs).
#[derive(Clone, Copy)]
pub struct DifferentialFacts<'a> {
    /// `f` in the paired structure (the same function).
    pub reference: &'a Network,
    /// `g` in the paired structure (the same function).
    pub compressed: &'a Network,
    /// The propagation's bounds over the region.
    pub bounds: &'a DifferentialBounds,
}

impl<'a> DifferentialFacts<'a> {
    /// The facts of `bounds`, a differential propagation of `pair` over the
    /// region the MILP is built on; None when the pair does not pair neuron
    /// by neuron, its structure does not read the region as it is (an input
    /// quantiser moved into it), or the propagation fell back to separate
    /// bounds or found the region empty.
    pub fn new(pair: &'a DifferentialPair, bounds: &'a DifferentialBounds) -> Option<Self> {
        let (reference, compressed) = pair.aligned_networks()?;
        let depth = reference.layers.len();
        let consistent = bounds.differential
            && !bounds.crossed
            && bounds.hidden.len() + 1 == depth
            && bounds.lines.len() + 1 == depth
            && bounds.compressed_hidden.len() + 1 == depth
            && bounds.reference_bounds.layers.len() == depth
            && compressed.layers.len() == depth;
        consistent.then_some(DifferentialFacts { reference, compressed, bounds })
    }
}

/// What one MILP encodes: the two networks (as given, or in the paired
/// structure of the differential facts), their pre-activation bounds, and
/// the facts.
struct Encoding<'a> {
    reference: &'a Network,
    compressed: &'a Network,
    bounds: (NetworkBounds, NetworkBounds),
    facts: Option<&'a DifferentialBounds>,
}

impl<'a> Encoding<'a> {
    /// `f` and `g` with linear bounds over `region`'s boxes, or the paired
    /// structure with the facts' bounds: `f`'s from the propagation, `g`'s
    /// linear bounds intersected with the intervals the propagation
    /// tightened (the plain encoding when an intersection is empty: the
    /// facts contradict each other, so they are not used).
    fn new(f: &'a Network, g: &'a Network, facts: Option<DifferentialFacts<'a>>, region: &crate::propagation::DifferentialRegion) -> Self {
        if let Some(facts) = facts {
            let mut compressed_bounds = linear_bounds(facts.compressed, &region.compressed_lower, &region.compressed_upper);
            let mut empty = false;
            for (layer, (lower, upper)) in compressed_bounds.layers.iter_mut().zip(&facts.bounds.compressed_hidden) {
                for i in 0..layer.pre_lower.len().min(lower.len()) {
                    layer.pre_lower[i] = layer.pre_lower[i].max(lower[i]);
                    layer.pre_upper[i] = layer.pre_upper[i].min(upper[i]);
                    empty |= !(layer.pre_lower[i] <= layer.pre_upper[i]);
                }
            }
            if !empty {
                return Encoding { reference: facts.reference, compressed: facts.compressed, bounds: (facts.bounds.reference_bounds.clone(), compressed_bounds), facts: Some(facts.bounds) };
            }
        }
        let bounds = (linear_bounds(f, &region.lower, &region.upper), linear_bounds(g, &region.compressed_lower, &region.compressed_upper));
        Encoding { reference: f, compressed: g, bounds, facts: None }
    }
}

/// Feasibility tolerance used for HiGHS and for widening its dual bound.
pub const MILP_TOLERANCE: f64 = 1e-9;

/// HiGHS's `mip_feasibility_tolerance` (also its integrality tolerance),
/// unless a column is narrow ([`NARROW_COLUMN_RANGE`]). At
/// [`MILP_TOLERANCE`] HiGHS (1.16) returned "Optimal" below a feasible
/// point's value on 22 of 600 random pairs of small ReLU and leaky-ReLU
/// networks (the optimum of one objective 0.0892 at `x = 1`, reported as
/// -0.0024 over `[-1, 1]`, right with `x` fixed at 1); at 1e-7 and 1e-6 on
/// none of them (tests/milp.rs).
pub const MIP_FEASIBILITY_TOLERANCE: f64 = 1e-7;

/// A column narrower than this that can move the objective
/// ([`Encoder::mip_tolerance`]) gets the program the tolerance
/// [`MILP_TOLERANCE`]: a hundred times [`MIP_FEASIBILITY_TOLERANCE`].
pub const NARROW_COLUMN_RANGE: f64 = 100.0 * MIP_FEASIBILITY_TOLERANCE;

/// A program with a variable (an input, an activation) that can move the
/// objective and ranges over less than this gets no solver bound
/// ([`Encoder::numerical_range`]).
pub const NARROWEST_TRUSTED_RANGE: f64 = 10.0 * MILP_TOLERANCE;

/// Coefficients this small or smaller are taken out of their rows, the
/// rows widened by what they can contribute ([`Encoder::row`]): HiGHS reads
/// entries up to 1e-9 as zeros; ten times that leaves room for its scaling.
pub const SMALLEST_KEPT_COEFFICIENT: f64 = 1e-8;

/// A program with a coefficient, bound or row side beyond this gets no
/// solver bound: a double near 1e7 is spaced 2e-9 apart, coarser than
/// [`MILP_TOLERANCE`].
pub const LARGEST_TRUSTED_MAGNITUDE: f64 = 1e6;

/// Solves the MILPs for every output and sign. `prepared` is in first-layer
/// coordinates (see [`crate::problem::prepare`]); `facts`, when given, come
/// from a differential propagation over the box of the whole set (with the
/// coupling's region for `x'`, [`crate::branch_and_bound::coupled_region`]).
pub fn solve(prepared: &Prepared, budget: &Budget, facts: Option<DifferentialFacts>) -> Result<MilpResult> {
    check_encodable(prepared)?;
    let Prepared { reference: f, compressed: g, set, coupling } = prepared;
    let outputs = f.output_dim();
    if budget.expired() {
        // nothing is built once the time is used (the encoding's bounds take
        // a pass of their own)
        let solves = (0..outputs).flat_map(|output| [1.0, -1.0].map(|sign| MilpSolve::not_run(output, sign))).collect();
        let note = Some("the time limit was reached before the MILP was built".to_string());
        return Ok(MilpResult { upper: None, lower: 0.0, per_output: vec![(0.0, None); outputs], witness: set.lower().to_vec(), witness_compressed: set.lower().to_vec(), found_incumbent: false, note, binaries: 0, integers: 0, differential_rows: false, solves });
    }
    // bounds once for every output and sign
    let region = set_region(set, coupling);
    let encoding = Encoding::new(f, g, facts, &region);
    // HiGHS's memory is not counted by Rust: estimate it from the model size
    // (about 1 KiB per column and row, generously, for its working copies)
    let neurons: usize = f.layers.iter().chain(&g.layers).map(|l| l.width()).sum();
    let nonzeros: f64 = f.layers.iter().chain(&g.layers).map(|l| l.terms.iter().map(|t| (t.weights.rows * t.weights.cols) as f64).sum::<f64>()).sum();
    let estimate = 1024.0 * (3 * neurons + 2 * set.dim() + set.polytope().len()) as f64 + 64.0 * nonzeros;
    budget.admit("the MILP", estimate).map_err(crate::error::invalid_option)?;
    let mut solves = Vec::new();
    let (mut binaries, mut integers) = (0, 0);
    let mut note = None;
    for output in 0..outputs {
        for sign in [1.0, -1.0] {
            let remaining = budget.remaining();
            if remaining == Some(0.0) {
                note.get_or_insert_with(|| "the time limit was reached before every MILP was solved".to_string());
                solves.push(MilpSolve::not_run(output, sign));
                continue;
            }
            let (solve, binary_count, integer_count) = solve_one(f, g, &encoding, set, coupling, output, sign, remaining)?;
            (binaries, integers) = (binary_count, integer_count);
            solves.push(solve);
        }
    }
    let mut per_output = Vec::with_capacity(outputs);
    let mut lower = 0.0f64;
    let (mut witness, mut witness_compressed) = (set.lower().to_vec(), set.lower().to_vec());
    let mut found_incumbent = false;
    for j in 0..outputs {
        let (plus, minus) = (&solves[2 * j], &solves[2 * j + 1]);
        let low = plus.incumbent.unwrap_or(f64::NEG_INFINITY).max(minus.incumbent.unwrap_or(f64::NEG_INFINITY)).max(0.0);
        let up = match (plus.upper, minus.upper) {
            (Some(a), Some(b)) => Some(a.max(b).max(0.0)),
            _ => None,
        };
        for s in [plus, minus] {
            if let (Some(v), Some(x), Some(xg)) = (s.incumbent, &s.input, &s.compressed_input) {
                if v > lower || !found_incumbent {
                    found_incumbent = true;
                    lower = lower.max(v);
                    witness = x.clone();
                    witness_compressed = xg.clone();
                }
            }
        }
        per_output.push((low, up));
    }
    let upper = per_output.iter().try_fold(0.0f64, |m, (_, u)| u.map(|u| m.max(u)));
    // "Infeasible": the set is empty (a polytope whose emptiness was not
    // proven before) or the solver's numerics failed
    let infeasible = solves.iter().find(|s| s.status == format!("{:?}", HighsModelStatus::Infeasible)).map(|s| format!("HiGHS reported the program of output {} infeasible (the set is empty, or its numerics failed)", s.output));
    // the first two distinct reasons (the objectives mostly share one)
    let mut reasons: Vec<String> = Vec::new();
    for reason in solves.iter().filter_map(|s| s.withheld.clone()).chain(infeasible) {
        if reasons.len() < 2 && !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    if !reasons.is_empty() {
        let reason = reasons.join("; ");
        note = Some(match note {
            Some(before) => format!("{before}; no solver bound: {reason}"),
            None => format!("no solver bound: {reason}"),
        });
    }
    Ok(MilpResult { upper, lower, per_output, witness, witness_compressed, found_incumbent, note, binaries, integers, differential_rows: encoding.facts.is_some(), solves })
}

/// Refuses what the program cannot encode: activations without a
/// piecewise-linear encoding, and L2 balls.
fn check_encodable(prepared: &Prepared) -> Result<()> {
    check_piecewise_linear(&prepared.reference, "the reference network")?;
    check_piecewise_linear(&prepared.compressed, "the compressed network")?;
    if prepared.set.ball_constraint().is_some() {
        return Err(unsupported("--method milp supports boxes and polytopes, not L2 balls"));
    }
    Ok(())
}

/// The MILP of one objective, `sign (y_f,j - y_g,j)` over the whole set
/// (as [`solve`] runs it for each output and sign), with HiGHS's time limit
/// `time_limit` seconds.
pub fn solve_objective(prepared: &Prepared, facts: Option<DifferentialFacts>, output: usize, sign: f64, time_limit: Option<f64>) -> Result<MilpSolve> {
    check_encodable(prepared)?;
    let Prepared { reference: f, compressed: g, set, coupling } = prepared;
    if output >= f.output_dim() {
        return Err(crate::error::invalid_option(format!("output {output} does not exist: the networks have {} outputs", f.output_dim())));
    }
    let region = set_region(set, coupling);
    let encoding = Encoding::new(f, g, facts, &region);
    Ok(solve_one(f, g, &encoding, set, coupling, output, sign, time_limit)?.0)
}

/// The region of the whole set, its box shrunk to what the polytope rows
/// leave of it ([`crate::propagation::polytope::tighten_box`]; the rows stay
/// in the program): tighter variable bounds and big-M constants.
fn set_region(set: &InputSet, coupling: &InputCoupling) -> crate::propagation::DifferentialRegion {
    let (mut lower, mut upper) = (set.lower().to_vec(), set.upper().to_vec());
    if !crate::propagation::polytope::tighten_box(&mut lower, &mut upper, set.polytope()) {
        // an empty set: the rows in the program say so
        (lower, upper) = (set.lower().to_vec(), set.upper().to_vec());
    }
    crate::branch_and_bound::coupled_region(set, coupling, &lower, &upper)
}

/// What [`search_box`] found.
pub struct BoxSearch {
    /// The incumbent's input (inside the box; both networks see it).
    pub input: Vec<f64>,
    /// HiGHS proved the incumbent optimal over the box (up to its
    /// tolerances; not re-checked).
    pub optimal: bool,
}

/// A counterexample search on the box `[lower, upper]` of `set` (its
/// polytope rows kept, both networks on the same input): the MILP maximising
/// `sign (y_f,j - y_g,j)` with HiGHS's time limit `seconds`. Returns the
/// incumbent's input, or None when HiGHS refused the model or found no
/// incumbent. Nothing here is a bound: the caller evaluates the input.
/// `facts`, when given, come from a differential propagation over the box.
#[allow(clippy::too_many_arguments)]
pub fn search_box(f: &Network, g: &Network, set: &InputSet, lower: &[f64], upper: &[f64], facts: Option<DifferentialFacts>, output: usize, sign: f64, seconds: f64) -> Option<BoxSearch> {
    let piece = InputSet::from_box(lower.to_vec(), upper.to_vec()).ok()?.with_polytope(set.polytope().to_vec()).ok()?;
    let region = crate::propagation::DifferentialRegion::same_input(lower.to_vec(), upper.to_vec());
    let encoding = Encoding::new(f, g, facts, &region);
    let (solve, _, _) = solve_one(f, g, &encoding, &piece, &InputCoupling::Same, output, sign, Some(seconds)).ok()?;
    Some(BoxSearch { optimal: solve.status == format!("{:?}", HighsModelStatus::Optimal), input: solve.input? })
}

/// The MILP of one output and sign: the encoder with both networks and the
/// input columns of `f` and `g`.
struct Model {
    encoder: Encoder,
    inputs: Vec<usize>,
    compressed_inputs: Vec<usize>,
}

/// Builds the program maximising `sign (y_f,j - y_g,j)`; with `fixed`, the
/// linear program that places an incumbent (its integer columns fixed, the
/// witness rows added).
#[allow(clippy::too_many_arguments)]
fn build(encoding: &Encoding, set: &InputSet, coupling: &InputCoupling, output: usize, sign: f64, fixed: Option<Placement>) -> Result<Model> {
    let n = set.dim();
    let mut enc = Encoder::new(fixed);
    let x: Vec<usize> = (0..n).map(|k| enc.column(set.lower()[k], set.upper()[k], false)).collect();
    let xg: Vec<usize> = match coupling {
        InputCoupling::Same => x.clone(),
        _ => (0..n).map(|k| enc.column(set.lower()[k], set.upper()[k], false)).collect(),
    };
    if let InputCoupling::Quantised(steps) = coupling {
        for k in 0..n {
            enc.row(&Expr { terms: vec![(xg[k], 1.0), (x[k], -1.0)], constant: 0.0 }, -steps[k], steps[k]);
        }
    }
    for copy in if xg == x { vec![&x] } else { vec![&x, &xg] } {
        for (a, b) in set.polytope() {
            enc.row(&Expr { terms: copy.iter().zip(a).map(|(&c, &v)| (c, v)).collect(), constant: 0.0 }, f64::NEG_INFINITY, *b);
        }
    }
    let yf = enc.network(encoding.reference, &encoding.bounds.0, &x, "the reference network")?;
    let yg = enc.network(encoding.compressed, &encoding.bounds.1, &xg, "the compressed network")?;
    if let Some(facts) = encoding.facts {
        enc.differential_rows(facts);
    }
    let mut objective = sub(&yf[output], &yg[output]);
    objective.terms.iter_mut().for_each(|t| t.1 *= sign);
    objective.constant *= sign;
    // t = objective, maximised
    let t = enc.problem.add_column(1.0, f64::NEG_INFINITY..=f64::INFINITY);
    enc.columns.push(t);
    enc.column_bounds.push((f64::NEG_INFINITY, f64::INFINITY));
    let t_index = enc.columns.len() - 1;
    let mut row = objective.clone();
    row.terms.push((t_index, -1.0));
    enc.row(&row, 0.0, 0.0);
    Ok(Model { encoder: enc, inputs: x, compressed_inputs: xg })
}

/// What one HiGHS run gave, read out of the solver (its model stays on the
/// thread that ran it).
struct Solved {
    /// `None`: abandoned at the time limit before HiGHS returned.
    status: Option<HighsModelStatus>,
    columns: Vec<f64>,
    objective: f64,
    mip_dual_bound: Option<f64>,
    mip_gap: f64,
}

impl Solved {
    fn status_name(&self) -> String {
        self.status.map_or_else(|| "Abandoned (time limit)".to_string(), |s| format!("{s:?}"))
    }
}

/// Runs HiGHS on the program. With a time limit it runs on a thread of its
/// own and is abandoned at the limit: HiGHS reads its interrupt in its
/// branch and bound and LP solves, but not in presolve or in building its
/// model (a 50-512-512-512-512-10 pair, 4,096 binaries: the first solve
/// returned 1.8 s after a 1 s limit). An abandoned run ends in the
/// background at its own time limit; its result is dropped.
fn run(problem: RowProblem, mip_tolerance: f64, time_limit: Option<f64>) -> Result<Solved> {
    // HiGHS's own limit a little earlier, so that a solve interrupted in its
    // branch and bound returns (with its incumbent) before it is abandoned
    let solver_limit = time_limit.map(|limit| limit - (0.1 * limit).min(0.2));
    let job = move || -> Result<Solved> {
        // HiGHS refuses (and the crate's `optimise` would panic on) a model
        // whose coefficients it cannot represent, e.g. big-M values from weights
        // of 1e8: that is a refusal with the root bound, not a crash
        let mut model = problem.try_optimise(Sense::Maximise).map_err(|e| crate::error::Error::new(crate::ErrorKind::Unsupported, format!("HiGHS refused the MILP ({e:?}: a coefficient or bound beyond its range)")))?;
        model.make_quiet();
        model.set_option("mip_rel_gap", 0.0);
        model.set_option("mip_abs_gap", 1e-12);
        model.set_option("primal_feasibility_tolerance", MILP_TOLERANCE);
        model.set_option("mip_feasibility_tolerance", mip_tolerance);
        model.set_option("threads", 1);
        if let Some(limit) = solver_limit {
            model.set_option("time_limit", limit.max(0.0));
            interrupt_at(&mut model, limit);
            // the feasibility-jump heuristic runs before the root LP and reads
            // no interrupt (1.3 s on a MNIST 3x100 program of 660,000 nonzeros)
            if limit < FEASIBILITY_JUMP_FROM {
                model.set_option("mip_heuristic_run_feasibility_jump", false);
            }
        }
        let solved = model.try_solve().map_err(|e| crate::error::Error::new(crate::ErrorKind::InvalidOption, format!("HiGHS could not run the MILP: {e:?}")))?;
        Ok(Solved {
            status: Some(solved.status()),
            columns: solved.get_solution().columns().to_vec(),
            objective: solved.objective_value(),
            mip_dual_bound: solved.double_info_value(c"mip_dual_bound").ok(),
            mip_gap: solved.mip_gap(),
        })
    };
    let Some(limit) = time_limit else {
        return job();
    };
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("deltacert-milp".into())
        .spawn(move || {
            let _ = sender.send(job());
        })
        .map_err(|e| crate::error::Error::new(crate::ErrorKind::InvalidOption, format!("could not start the MILP's thread: {e}")))?;
    match receiver.recv_timeout(crate::limits::duration(limit)) {
        Ok(result) => result,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(Solved { status: None, columns: Vec::new(), objective: f64::NAN, mip_dual_bound: None, mip_gap: f64::INFINITY }),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(crate::error::Error::new(crate::ErrorKind::InvalidOption, "HiGHS stopped without a result (its thread ended)")),
    }
}

/// The shortest time limit (seconds) under which HiGHS runs its
/// feasibility-jump heuristic, which cannot be interrupted.
const FEASIBILITY_JUMP_FROM: f64 = 10.0;

/// The instant deadlines handed to [`interrupt_after_deadline`] count from.
static CALLBACK_EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Asks HiGHS to stop `seconds` from now. Its own `time_limit` is read only
/// between phases of the solve (one MILP on MNIST 3x100 ran 2.3 s with a
/// limit of 0.9 s); its interrupt callbacks are called from inside the
/// simplex, interior-point and branch-and-bound loops. The deadline travels
/// as the callback's data pointer (nanoseconds since [`CALLBACK_EPOCH`]), so
/// nothing has to outlive the model.
pub(crate) fn interrupt_at(model: &mut highs::Model, seconds: f64) {
    let epoch = CALLBACK_EPOCH.get_or_init(std::time::Instant::now);
    let deadline = (epoch.elapsed().as_secs_f64() + seconds.max(0.0)) * 1e9;
    let deadline = if deadline < usize::MAX as f64 { deadline as usize } else { usize::MAX };
    let highs = model.as_mut_ptr();
    // SAFETY: `highs` is the live HiGHS instance of `model`; the callback is
    // a plain function and its data pointer is a number, never dereferenced.
    unsafe {
        highs_sys::Highs_setCallback(highs, Some(interrupt_after_deadline), deadline as *mut std::ffi::c_void);
        for kind in [highs_sys::kHighsCallbackSimplexInterrupt, highs_sys::kHighsCallbackIpmInterrupt, highs_sys::kHighsCallbackMipInterrupt] {
            highs_sys::Highs_startCallback(highs, kind);
        }
    }
}

/// HiGHS's interrupt callback: sets `user_interrupt` once the deadline (in
/// the data pointer, see [`interrupt_at`]) has passed.
unsafe extern "C" fn interrupt_after_deadline(kind: std::ffi::c_int, _message: *const std::ffi::c_char, _out: *const highs_sys::HighsCallbackDataOut, data_in: *mut highs_sys::HighsCallbackDataIn, deadline: *mut std::ffi::c_void) {
    let interrupt = [highs_sys::kHighsCallbackSimplexInterrupt, highs_sys::kHighsCallbackIpmInterrupt, highs_sys::kHighsCallbackMipInterrupt].contains(&(kind as highs_sys::HighsInt));
    if !interrupt || data_in.is_null() {
        return;
    }
    let now = CALLBACK_EPOCH.get().map_or(u128::MAX, |epoch| epoch.elapsed().as_nanos());
    if now >= deadline as usize as u128 {
        // SAFETY: HiGHS passes a valid, writable input block for interrupt callbacks
        unsafe { (*data_in).user_interrupt = 1 };
    }
}

/// The inputs of a solution (clamped into the box and stepped off the outside
/// of polytope rows, which HiGHS satisfies up to its tolerance; `x'` clamped
/// into `x`'s quantisation step) and a
/// rigorous lower bound on `sign (y_f,j(x) - y_g,j(x'))` there, from
/// outward-rounded enclosures of both outputs (None: outside the set, or no
/// finite bound).
#[allow(clippy::too_many_arguments)]
fn evaluate(f: &Network, g: &Network, set: &InputSet, coupling: &InputCoupling, model: &Model, columns: &[f64], output: usize, sign: f64) -> (Option<f64>, Vec<f64>, Vec<f64>) {
    let n = set.dim();
    let mut xi: Vec<f64> = model.inputs.iter().enumerate().map(|(k, &c)| columns[c].clamp(set.lower()[k], set.upper()[k])).collect();
    let mut xgi: Vec<f64> = model.compressed_inputs.iter().enumerate().map(|(k, &c)| columns[c].clamp(set.lower()[k], set.upper()[k])).collect();
    // a point on a polytope face satisfies its row up to HiGHS's tolerance
    set.step_inside_polytope(&mut xi);
    set.step_inside_polytope(&mut xgi);
    if let InputCoupling::Quantised(steps) = coupling {
        for k in 0..n {
            xgi[k] = xgi[k].clamp(xi[k] - steps[k], xi[k] + steps[k]);
        }
    }
    let feasible = set.contains(&xi, 0.0) && set.contains(&xgi, 0.0);
    let (f_lower, f_upper) = output_enclosure(f, &xi);
    let (g_lower, g_upper) = output_enclosure(g, &xgi);
    let value = if sign > 0.0 { sub_down(f_lower[output], g_upper[output]) } else { sub_down(g_lower[output], f_upper[output]) };
    ((feasible && !value.is_nan()).then_some(value), xi, xgi)
}

/// One MILP: `encoding` is what it encodes, `f` and `g` (as given) evaluate
/// its incumbent.
#[allow(clippy::too_many_arguments)]
fn solve_one(f: &Network, g: &Network, encoding: &Encoding, set: &InputSet, coupling: &InputCoupling, output: usize, sign: f64, time_limit: Option<f64>) -> Result<(MilpSolve, usize, usize)> {
    let start = std::time::Instant::now();
    let mut model = build(encoding, set, coupling, output, sign, None)?;
    let (binaries, integers, column_count) = (model.encoder.binaries, model.encoder.integers, model.encoder.columns.len());
    let withheld = model.encoder.numerical_range();
    let largest = model.encoder.largest_magnitude;
    let explained = |e: crate::error::Error| crate::error::Error::new(e.kind, format!("{}; the largest number in the program is {largest:.1e}", e.context));
    // the time the program took to build counts against the limit
    let mip_tolerance = model.encoder.mip_tolerance();
    let solved = run(std::mem::take(&mut model.encoder.problem), mip_tolerance, time_limit.map(|limit| limit - start.elapsed().as_secs_f64())).map_err(explained)?;
    let status = solved.status;
    let columns = solved.columns.clone();
    let has_incumbent = status.is_some_and(|status| columns.len() == column_count && !matches!(status, HighsModelStatus::Infeasible | HighsModelStatus::NotSet | HighsModelStatus::ModelError | HighsModelStatus::LoadError));
    let (mut incumbent, mut input, mut compressed_input, mut placed) = (None, None, None, false);
    if has_incumbent {
        let (value, xi, xgi) = evaluate(f, g, set, coupling, &model, &columns, output, sign);
        (incumbent, input, compressed_input) = (value, Some(xi), Some(xgi));
        // An activation with jumps (a quantiser): the incumbent may sit on a
        // jump, within the solver's tolerance, where the network takes the
        // other level. Place it: the linear program with the integer columns
        // fixed and the witness rows added puts every such neuron a margin
        // inside its chosen level; smaller margins are tried until the
        // placed input evaluates to what the program promised, and the best
        // of the evaluated inputs is kept.
        if model.encoder.has_witness_rows {
            for margin in PLACEMENT_MARGINS {
                let remaining = time_limit.map(|limit| limit - start.elapsed().as_secs_f64());
                if remaining.is_some_and(|r| r <= 0.0) {
                    break;
                }
                let mut placing = build(encoding, set, coupling, output, sign, Some(Placement { values: columns.clone(), margin }))?;
                let lp = run(std::mem::take(&mut placing.encoder.problem), mip_tolerance, remaining)?;
                let lp_columns = lp.columns.clone();
                if lp.status != Some(HighsModelStatus::Optimal) || lp_columns.len() != column_count {
                    continue;
                }
                let (value, xi, xgi) = evaluate(f, g, set, coupling, &placing, &lp_columns, output, sign);
                if value.is_some_and(|v| incumbent.is_none_or(|w| v > w)) {
                    (incumbent, input, compressed_input, placed) = (value, Some(xi), Some(xgi), true);
                }
                // the levels evaluate as chosen: the value is the optimum up to rounding
                let promised = lp.objective;
                if value.is_some_and(|v| v >= promised - 1e-9 * (1.0 + promised.abs())) {
                    break;
                }
            }
        }
    }
    // A pure LP (no integer column) has no MIP dual bound: its bound is the
    // optimum itself, and only when HiGHS proved optimality.
    let dual = if binaries + integers == 0 {
        (status == Some(HighsModelStatus::Optimal)).then_some(solved.objective).filter(|v| v.is_finite())
    } else {
        solved.mip_dual_bound.filter(|v| v.is_finite())
    };
    let upper = match status {
        Some(HighsModelStatus::Optimal | HighsModelStatus::ReachedTimeLimit | HighsModelStatus::ReachedIterationLimit | HighsModelStatus::ReachedInterrupt) => {
            dual.map(|d| d + 1e-6 * (1.0 + d.abs()))
        }
        _ => None,
    };
    // an incumbent above the solver's bound means the bound is wrong: drop it
    let beaten = upper.filter(|u| incumbent.is_some_and(|v| v > *u)).map(|u| format!("HiGHS's bound {u:e} on output {output} lies below its own incumbent"));
    let upper = upper.filter(|_| beaten.is_none());
    let withheld = withheld.filter(|_| upper.is_some()).or(beaten);
    let upper = upper.filter(|_| withheld.is_none());
    let gap = if status == Some(HighsModelStatus::Optimal) { 0.0 } else { solved.mip_gap };
    Ok((
        MilpSolve { output, sign, status: solved.status_name(), incumbent, input, compressed_input, placed, upper, withheld, gap, seconds: start.elapsed().as_secs_f64() },
        binaries,
        integers,
    ))
}
