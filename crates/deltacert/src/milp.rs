//! The exact worst case for networks with piecewise-linear activations (ReLU,
//! leaky ReLU) as a mixed-integer linear program (docs/method.md §10),
//! solved with HiGHS.
//!
//! Each activation gives the encoding of a neuron on its pre-activation
//! interval `[l, u]` (linear-propagation bounds;
//! [`crate::activation::ActivationRule::mixed_integer_encoding`], described
//! in [`crate::activation::mixed_integer`]): stable neurons are substituted
//! (`a = slope v`), an unstable one gets a column `a`, a binary `z` and rows,
//! for ReLU the big-M rows `a >= v`, `a <= v - l (1 - z)`, `a <= u z`, `0 <= a
//! <= u`. This module translates the rows generically. For each
//! output `j` and sign `s` the MILP maximises `s (y_f,j(x) - y_g,j(x'))` over
//! the input set (box and polytope rows; `x' = x`, `|x' - x| <= step`, or `x'`
//! free). The incumbent is evaluated in f64 and reported as a lower bound with
//! its input; HiGHS's dual bound, widened by `1e-6 (1 + |bound|)` for its
//! tolerances, is the upper bound. Unlike the SDP's certificate, this dual
//! bound is *not* re-checked: it is as trustworthy as HiGHS's floating-point
//! branch and bound, so it is reported as a *solver bound*, never as a
//! certified one. When no neuron is unstable the program has no integer
//! column and HiGHS solves it as an LP, whose bound is the optimal objective
//! (HiGHS's `mip_dual_bound` is not defined then). The incumbent, being an
//! evaluated input, is always a true lower bound.
//!
//! Time: the solves share one budget; each gets what is left of it as HiGHS's
//! time limit, and solves that find the budget spent are skipped (no bound).

use crate::activation::{Activation, MixedIntegerEncoding};
use crate::propagation::{linear_bounds, NetworkBounds};
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
    /// Objective of the incumbent, re-evaluated in f64 at its input (None: no incumbent).
    pub incumbent: Option<f64>,
    /// The incumbent's input for `f` (first-layer coordinates).
    pub input: Option<Vec<f64>>,
    /// The incumbent's input for `g`.
    pub compressed_input: Option<Vec<f64>>,
    /// HiGHS's dual bound widened by its tolerance (None if unavailable).
    pub upper: Option<f64>,
    /// Relative MIP gap reported by HiGHS.
    pub gap: f64,
    /// Seconds.
    pub seconds: f64,
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
/// activations have no mixed-integer encoding (are not piecewise linear).
/// An encoding exists for every interval or for none, so the unstable
/// interval `[-1, 1]` stands for all.
pub fn check_piecewise_linear(network: &Network, name: &str) -> Result<()> {
    let last = network.layers.len() - 1;
    for (k, layer) in network.layers.iter().enumerate() {
        let ok = if k == last { layer.activation == Activation::Identity } else { layer.activation.with_rule(|rule| rule.mixed_integer_encoding(-1.0, 1.0).is_some()) };
        if !ok {
            return Err(unsupported(format!("--method milp needs piecewise-linear activations with a mixed-integer encoding (ReLU, leaky ReLU): {name} layer {} uses {}", k + 1, layer.activation.name())));
        }
    }
    Ok(())
}

struct Encoder {
    problem: RowProblem,
    columns: Vec<highs::Col>,
    binaries: usize,
}

impl Encoder {
    fn column(&mut self, lower: f64, upper: f64, integer: bool) -> usize {
        let col = if integer { self.problem.add_integer_column(0.0, lower..=upper) } else { self.problem.add_column(0.0, lower..=upper) };
        self.columns.push(col);
        self.columns.len() - 1
    }
    /// `lower <= expr <= upper` as a row.
    fn row(&mut self, expr: &Expr, lower: f64, upper: f64) {
        let factors: Vec<(highs::Col, f64)> = expr.terms.iter().map(|&(c, v)| (self.columns[c], v)).collect();
        self.problem.add_row((lower - expr.constant)..=(upper - expr.constant), &factors);
    }
    /// Encodes `network` on the input columns with its pre-activation bounds;
    /// returns the output expressions.
    fn network(&mut self, network: &Network, bounds: &NetworkBounds, inputs: &[usize]) -> Vec<Expr> {
        let mut acts: Vec<Vec<Expr>> = vec![inputs.iter().map(|&c| Expr { terms: vec![(c, 1.0)], constant: 0.0 }).collect()];
        for (layer, b) in network.layers.iter().zip(&bounds.layers) {
            let mut out = Vec::with_capacity(layer.width());
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
                let (l, u) = (b.pre_lower[i], b.pre_upper[i]);
                let encoding = layer.activation.with_rule(|rule| rule.mixed_integer_encoding(l, u)).expect("check_piecewise_linear admits only activations with an encoding");
                let a = match encoding {
                    MixedIntegerEncoding::Linear { slope } => scale(&v, slope),
                    MixedIntegerEncoding::Binary { activation_lower, activation_upper, rows } => {
                        let a = self.column(activation_lower, activation_upper, false);
                        let z = self.column(0.0, 1.0, true);
                        self.binaries += 1;
                        for row in &rows {
                            // c_v v + c_a a + c_z z
                            let mut e = scale(&v, row.pre_activation);
                            e.terms.push((a, row.activation));
                            e.terms.push((z, row.binary));
                            merge(&mut e);
                            self.row(&e, row.lower, row.upper);
                        }
                        Expr { terms: vec![(a, 1.0)], constant: 0.0 }
                    }
                };
                out.push(a);
            }
            acts.push(out);
        }
        acts.pop().expect("layers")
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

/// Feasibility tolerance used for HiGHS and for widening its dual bound.
pub const MILP_TOLERANCE: f64 = 1e-9;

/// Solves the MILPs for every output and sign. `prepared` is in first-layer
/// coordinates (see [`crate::problem::prepare`]).
pub fn solve(prepared: &Prepared, budget: &Budget) -> Result<MilpResult> {
    let Prepared { reference: f, compressed: g, set, coupling } = prepared;
    check_piecewise_linear(f, "the reference network")?;
    check_piecewise_linear(g, "the compressed network")?;
    if set.ball_constraint().is_some() {
        return Err(unsupported("--method milp supports boxes and polytopes, not L2 balls"));
    }
    let outputs = f.output_dim();
    // bounds once for every output and sign (x' ranges over the same box)
    let bounds = (linear_bounds(f, set.lower(), set.upper()), linear_bounds(g, set.lower(), set.upper()));
    // HiGHS's memory is not counted by Rust: estimate it from the model size
    // (about 1 KiB per column and row, generously, for its working copies)
    let neurons: usize = f.layers.iter().chain(&g.layers).map(|l| l.width()).sum();
    let nonzeros: f64 = f.layers.iter().chain(&g.layers).map(|l| l.terms.iter().map(|t| (t.weights.rows * t.weights.cols) as f64).sum::<f64>()).sum();
    let estimate = 1024.0 * (3 * neurons + 2 * set.dim() + set.polytope().len()) as f64 + 64.0 * nonzeros;
    budget.admit("the MILP", estimate).map_err(crate::error::invalid_option)?;
    let mut solves = Vec::new();
    let mut binaries = 0;
    let mut note = None;
    for output in 0..outputs {
        for sign in [1.0, -1.0] {
            let remaining = budget.remaining();
            if remaining == Some(0.0) {
                note.get_or_insert_with(|| "the time limit was reached before every MILP was solved".to_string());
                solves.push(MilpSolve { output, sign, status: "NotRun (time limit)".into(), incumbent: None, input: None, compressed_input: None, upper: None, gap: f64::INFINITY, seconds: 0.0 });
                continue;
            }
            let (solve, count) = solve_one(f, g, &bounds, set, coupling, output, sign, remaining)?;
            binaries = count;
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
    Ok(MilpResult { upper, lower, per_output, witness, witness_compressed, found_incumbent, note, binaries, solves })
}

#[allow(clippy::too_many_arguments)]
fn solve_one(f: &Network, g: &Network, bounds: &(NetworkBounds, NetworkBounds), set: &InputSet, coupling: &InputCoupling, output: usize, sign: f64, time_limit: Option<f64>) -> Result<(MilpSolve, usize)> {
    let start = std::time::Instant::now();
    let n = set.dim();
    let mut enc = Encoder { problem: RowProblem::default(), columns: Vec::new(), binaries: 0 };
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
    let yf = enc.network(f, &bounds.0, &x);
    let yg = enc.network(g, &bounds.1, &xg);
    let mut objective = sub(&yf[output], &yg[output]);
    objective.terms.iter_mut().for_each(|t| t.1 *= sign);
    objective.constant *= sign;
    // t = objective, maximised
    let t = enc.problem.add_column(1.0, f64::NEG_INFINITY..=f64::INFINITY);
    enc.columns.push(t);
    let t_index = enc.columns.len() - 1;
    let mut row = objective.clone();
    row.terms.push((t_index, -1.0));
    enc.row(&row, 0.0, 0.0);
    let binaries = enc.binaries;

    let mut model = enc.problem.optimise(Sense::Maximise);
    model.make_quiet();
    model.set_option("mip_rel_gap", 0.0);
    model.set_option("mip_abs_gap", 1e-12);
    model.set_option("primal_feasibility_tolerance", MILP_TOLERANCE);
    model.set_option("mip_feasibility_tolerance", MILP_TOLERANCE);
    model.set_option("threads", 1);
    if let Some(limit) = time_limit {
        model.set_option("time_limit", limit);
    }
    let solved = model.try_solve().map_err(|e| crate::error::Error::new(crate::ErrorKind::InvalidOption, format!("HiGHS could not run the MILP: {e:?}")))?;
    let status = solved.status();
    let columns = solved.get_solution().columns().to_vec();
    let has_incumbent = columns.len() == enc.columns.len() && !matches!(status, HighsModelStatus::Infeasible | HighsModelStatus::NotSet | HighsModelStatus::ModelError | HighsModelStatus::LoadError);
    let (incumbent, input, compressed_input) = if has_incumbent {
        // clamp into the box (HiGHS satisfies bounds up to its tolerance), re-evaluate in f64
        let xi: Vec<f64> = x.iter().enumerate().map(|(k, &c)| columns[c].clamp(set.lower()[k], set.upper()[k])).collect();
        let mut xgi: Vec<f64> = xg.iter().enumerate().map(|(k, &c)| columns[c].clamp(set.lower()[k], set.upper()[k])).collect();
        if let InputCoupling::Quantised(steps) = coupling {
            for k in 0..n {
                xgi[k] = xgi[k].clamp(xi[k] - steps[k], xi[k] + steps[k]);
            }
        }
        let feasible = set.contains(&xi, 0.0) && set.contains(&xgi, 0.0);
        let value = sign * (f.eval(&xi)[output] - g.eval(&xgi)[output]);
        (feasible.then_some(value), Some(xi), Some(xgi))
    } else {
        (None, None, None)
    };
    // A pure LP (no unstable neuron) has no MIP dual bound: its bound is the
    // optimum itself, and only when HiGHS proved optimality.
    let dual = if binaries == 0 {
        (status == HighsModelStatus::Optimal).then(|| solved.objective_value()).filter(|v| v.is_finite())
    } else {
        solved.double_info_value(c"mip_dual_bound").ok().filter(|v| v.is_finite())
    };
    let upper = match status {
        HighsModelStatus::Optimal | HighsModelStatus::ReachedTimeLimit | HighsModelStatus::ReachedIterationLimit => {
            dual.map(|d| d + 1e-6 * (1.0 + d.abs()))
        }
        _ => None,
    };
    // an incumbent above the solver's bound means the bound is wrong: drop it
    let upper = upper.filter(|u| incumbent.is_none_or(|v| v <= *u));
    let gap = if status == HighsModelStatus::Optimal { 0.0 } else { solved.mip_gap() };
    Ok((
        MilpSolve { output, sign, status: format!("{status:?}"), incumbent, input, compressed_input, upper, gap, seconds: start.elapsed().as_secs_f64() },
        binaries,
    ))
}
