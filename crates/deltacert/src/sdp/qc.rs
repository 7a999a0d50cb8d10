//! The quadratic-constraint library (docs/method.md §3): every fact about `zeta`
//! as `zeta^T Q zeta >= 0` or `= 0`, grouped in families a user can switch.
//!
//! Each constraint carries a `slack`: the computed matrix `Q` differs from the
//! exact one by the rounding of the lifted forms and of the products, so the
//! constraint is only guaranteed as `zeta^T Q zeta >= -slack` (resp.
//! `|zeta^T Q zeta| <= slack`). The certificate check adds `lambda * slack`.

use super::form::{LinearForm, SymmetricSparse};
use super::lift::{Lifted, Neuron, Side};
use crate::problem::InputCoupling;
use crate::activation::{Activation, LinearBounds, NeuronAffine, NeuronFact};
use crate::propagation::rounding_gamma;
use crate::input_set::InputSet;
use serde::Serialize;

/// Whether a constraint is an inequality or an equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Sense {
    /// `zeta^T Q zeta >= 0` (multiplier `lambda >= 0`).
    NonNegative,
    /// `zeta^T Q zeta = 0` (multiplier `mu` of any sign).
    Zero,
}

/// The family a constraint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Input set: box, ball, polytope.
    Input,
    /// Input quantisation `|x_g - x| <= step`.
    InputQuantisation,
    /// Per-neuron activation facts (ReLU exact, triangle, sector, activation bounds).
    Activation,
    /// Pre-activation interval `(v - l)(u - v) >= 0`.
    Interval,
    /// Incremental QC between a neuron of `f` and its counterpart in `g`.
    Matched,
    /// Incremental QCs between all pairs of neurons of one layer (within and across networks).
    AllPairs,
    /// Incremental QCs between each unstable neuron and its most similar
    /// neurons of the layer (members of the all-pairs family, within a budget).
    Neighbours,
    /// Pairwise products of nonnegative linear facts.
    Products,
    /// `|zeta_t| <= m_t`, the coordinate bounds of the lifting (first-order solver only).
    Magnitude,
    /// Differential propagation's relaxation lines and the input set's
    /// linear facts (the box's sides, polytope rows, the bounds on `x - x'`)
    /// as linear facts, and the set's L2 constraint again (first-order
    /// solver only, its start).
    Propagation,
}

/// The quadratic form `zeta^T Q zeta` of a constraint.
#[derive(Debug, Clone)]
pub enum Quadratic {
    /// `p(zeta) q(zeta)`, kept as its two factors: a product of forms with
    /// `n` and `m` terms has up to `n m` matrix entries (784 x 784 for an
    /// interval QC on MNIST's first layer), the factors `n + m`.
    Product(LinearForm, LinearForm),
    /// A general sparse symmetric matrix.
    Matrix(SymmetricSparse),
}

/// One quadratic constraint.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// Family (for reports and switching).
    pub family: Family,
    /// Inequality or equality.
    pub sense: Sense,
    /// The quadratic form.
    pub quadratic: Quadratic,
    /// Rounding slack: the constraint holds as `>= -slack` (or `|.| <= slack`)
    /// for the matrix whose upper-triangle contributions
    /// [`Constraint::for_each_entry`] lists, whatever order they are added in.
    pub slack: f64,
}

impl Constraint {
    /// The terms of its factors (`n + m` for a product), or its matrix's entries.
    pub fn term_count(&self) -> usize {
        match &self.quadratic {
            Quadratic::Product(p, q) => p.terms.len() + q.terms.len(),
            Quadratic::Matrix(m) => m.entries.len(),
        }
    }
    /// The entries this constraint adds to `M` when it is assembled: `n m`
    /// for a product of forms of `n` and `m` terms (the cost of assembling
    /// it, and of checking a certificate with it).
    pub fn entry_count(&self) -> usize {
        match &self.quadratic {
            Quadratic::Product(p, q) => p.terms.len() * q.terms.len(),
            Quadratic::Matrix(m) => m.entries.len(),
        }
    }
    /// A constraint given by its matrix.
    pub fn from_matrix(family: Family, sense: Sense, matrix: SymmetricSparse, slack: f64) -> Self {
        Constraint { family, sense, quadratic: Quadratic::Matrix(matrix), slack }
    }

    /// The matrix `Q` (consolidated; built on demand for products).
    pub fn matrix(&self) -> std::borrow::Cow<'_, SymmetricSparse> {
        match &self.quadratic {
            Quadratic::Product(p, q) => std::borrow::Cow::Owned(SymmetricSparse::product(p, q)),
            Quadratic::Matrix(m) => std::borrow::Cow::Borrowed(m),
        }
    }

    /// Calls `visit(row, col, value)` with `row <= col` for every
    /// contribution to the upper triangle of `Q` (duplicates add). For a
    /// product: `p_i q_j / 2` per ordered pair off the diagonal, `p_i q_i` on
    /// it, each one rounded product (the slack covers their rounding).
    pub fn for_each_entry(&self, mut visit: impl FnMut(usize, usize, f64)) {
        match &self.quadratic {
            Quadratic::Product(p, q) => {
                for &(i, a) in &p.terms {
                    for &(j, b) in &q.terms {
                        if i == j {
                            visit(i, i, a * b);
                        } else {
                            visit(i.min(j), i.max(j), 0.5 * (a * b));
                        }
                    }
                }
            }
            Quadratic::Matrix(m) => m.entries.iter().for_each(|&(r, c, v)| visit(r, c, v)),
        }
    }

    /// `out += weight * Q v`.
    pub fn apply(&self, weight: f64, v: &[f64], out: &mut [f64]) {
        match &self.quadratic {
            Quadratic::Product(p, q) => {
                // sym(p q^T) v = (p (q.v) + q (p.v)) / 2
                let (pv, qv) = (dot_form(p, v), dot_form(q, v));
                p.terms.iter().for_each(|&(t, c)| out[t] += 0.5 * weight * qv * c);
                q.terms.iter().for_each(|&(t, c)| out[t] += 0.5 * weight * pv * c);
            }
            Quadratic::Matrix(m) => {
                for &(r, c, value) in &m.entries {
                    out[r] += weight * value * v[c];
                    if r != c {
                        out[c] += weight * value * v[r];
                    }
                }
            }
        }
    }

    /// `v^T Q v`.
    pub fn evaluate(&self, v: &[f64]) -> f64 {
        match &self.quadratic {
            Quadratic::Product(p, q) => dot_form(p, v) * dot_form(q, v),
            Quadratic::Matrix(m) => m.evaluate(v),
        }
    }

    /// Frobenius norm of `D Q D`, `D = diag(scale)` (an upper bound for products).
    pub fn scaled_norm(&self, scale: &[f64]) -> f64 {
        match &self.quadratic {
            Quadratic::Product(p, q) => {
                let norm = |f: &LinearForm| f.terms.iter().map(|&(t, c)| (c * scale[t]).powi(2)).sum::<f64>().sqrt();
                norm(p) * norm(q)
            }
            Quadratic::Matrix(m) => m.scaled_norm(scale),
        }
    }
}

fn dot_form(form: &LinearForm, v: &[f64]) -> f64 {
    form.terms.iter().map(|&(t, c)| c * v[t]).sum()
}

/// Which families to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QcOptions {
    /// Matched-neuron incremental QCs.
    pub matched: bool,
    /// Pre-activation interval QCs.
    pub intervals: bool,
    /// All-pairs incremental QCs within a layer (the paper's richer set).
    pub all_pairs: bool,
    /// Products of nonnegative linear facts (the paper's richer set).
    pub products: bool,
    /// Incremental QCs between each neuron and its `neighbours` most
    /// similar neurons of the same layer (by the cosine of their
    /// pre-activation forms, either network): the all-pairs family within
    /// a budget that grows linearly with the layer (0: none).
    pub neighbours: usize,
}

impl QcOptions {
    /// Per-neuron, interval and matched-neuron QCs.
    pub const DEFAULT: QcOptions = QcOptions { matched: true, intervals: true, all_pairs: false, products: false, neighbours: 0 };
    /// Everything: the paper's richer set on top of the default.
    pub const FULL: QcOptions = QcOptions { matched: true, intervals: true, all_pairs: true, products: true, neighbours: 0 };
    /// Only what the paper's base formulation has (per-neuron and input QCs).
    pub const PER_NEURON: QcOptions = QcOptions { matched: false, intervals: false, all_pairs: false, products: false, neighbours: 0 };

    /// Parses `default`, `full`, `per-neuron`, or a `+`-separated list of
    /// `default`, `matched`, `intervals`, `all-pairs`, `products`,
    /// `neighbours:K`.
    pub fn parse(text: &str) -> crate::Result<Self> {
        match text {
            "default" => return Ok(Self::DEFAULT),
            "full" => return Ok(Self::FULL),
            "per-neuron" => return Ok(Self::PER_NEURON),
            _ => {}
        }
        let mut options = Self::PER_NEURON;
        for part in text.split('+') {
            match part {
                "default" => (options.matched, options.intervals) = (true, true),
                "matched" => options.matched = true,
                "intervals" => options.intervals = true,
                "all-pairs" => options.all_pairs = true,
                "products" => options.products = true,
                other if other.starts_with("neighbours:") => {
                    options.neighbours = other["neighbours:".len()..].parse().map_err(|_| crate::error::invalid_option(format!("QC family '{other}': K in neighbours:K must be a whole number")))?;
                }
                whole @ ("full" | "per-neuron") => return Err(crate::error::invalid_option(format!("QC set '{text}': '{whole}' is a whole set, not combined with others (write its families: full is matched+intervals+all-pairs+products)"))),
                other => return Err(crate::error::invalid_option(format!("unknown QC family '{other}' (default, full, per-neuron, or matched+intervals+all-pairs+products+neighbours:K)"))),
            }
        }
        Ok(options)
    }
}

/// The constraint `p q >= 0` (or `= 0`), None when the product is zero.
///
/// Slack: the forms' own errors (`|p| e_q + |q| e_p + e_p e_q`), plus the
/// rounding of the matrix contributions `p_i q_j (/2)`: each is one rounded
/// product, within `u |p_i q_j|` of its exact value, so together within
/// `gamma_3 (sum_i |p_i| m_i)(sum_j |q_j| m_j)` on the feasible set, and
/// within `2 * 5e-324 m_max^2` each for underflow. The bound is on absolute
/// values, so it holds however the contributions cancel or are summed.
fn product_constraint(family: Family, sense: Sense, p: &LinearForm, q: &LinearForm, magnitudes: &[f64]) -> Option<Constraint> {
    use crate::rounding::{add_up, mul_up};
    if p.terms.is_empty() || q.terms.is_empty() {
        return None;
    }
    let (mp, mq) = (p.magnitude(magnitudes), q.magnitude(magnitudes));
    let largest = p.terms.iter().chain(&q.terms).map(|&(t, _)| magnitudes[t]).fold(0.0, f64::max);
    // each contribution `a * b` (halved exactly, or losing at most eta / 2
    // when subnormal) is off by at most 1.5 eta from underflow, counted twice
    // off the diagonal: 2 eta each
    let underflow = mul_up(mul_up((p.terms.len() * q.terms.len()) as f64, 2.0 * 5e-324), mul_up(largest, largest));
    let form_errors = add_up(add_up(mul_up(mp, q.error), mul_up(mq, p.error)), mul_up(p.error, q.error));
    let slack = add_up(add_up(form_errors, mul_up(rounding_gamma(3), mul_up(mp, mq))), underflow);
    Some(Constraint { family, sense, quadratic: Quadratic::Product(p.clone(), q.clone()), slack })
}

/// `m_t^2 - zeta_t^2 >= 0` for every coordinate (the bounds the lifting
/// proved, `|zeta_t| <= m_t`), as `(m_t - zeta_t)(m_t + zeta_t)`; for
/// `m_t = 0` (an input fixed at 0) as `(-zeta_t) zeta_t >= 0`. Redundant for
/// the interior-point solve; the first-order solver starts from them: with
/// multipliers on these, every objective has an explicit negative definite
/// start (Gershgorin), see [`super::first_order`].
pub fn magnitude_constraints(lifted: &Lifted) -> Vec<Constraint> {
    let magnitudes = &lifted.coordinate_magnitude;
    (0..lifted.dim)
        .filter(|&t| t != lifted.constant && magnitudes[t].is_finite())
        .filter_map(|t| {
            // the constant coordinate is the last one: terms stay sorted
            let side = |sign: f64| {
                let mut terms = vec![(t, sign)];
                if magnitudes[t] > 0.0 {
                    terms.push((lifted.constant, magnitudes[t]));
                }
                LinearForm { terms, error: 0.0 }
            };
            product_constraint(Family::Magnitude, Sense::NonNegative, &side(-1.0), &side(1.0), magnitudes)
        })
        .collect()
}

/// Differential propagation's relaxations as linear facts of the lifted
/// problem ([`propagation_facts`]), with where each one went.
pub struct PropagationFacts {
    /// The facts (family [`Family::Propagation`]).
    pub constraints: Vec<Constraint>,
    /// Per hidden layer and neuron: the indices (into `constraints`) of the
    /// gaps `U(Delta v) - Delta a`, `Delta a - L(Delta v)`, `U(v_f) - a_f`,
    /// `a_f - L(v_f)` (None where a fact vanished or the neuron has no
    /// lifted counterpart: identity layers).
    pub neurons: Vec<Vec<[Option<usize>; 4]>>,
    /// Per input coordinate: the indices of `u - x` and `x - l`.
    pub input: Vec<[Option<usize>; 2]>,
    /// The index of the set's L2 constraint ([`ball_constraint`], here of
    /// family [`Family::Propagation`]) when it has one.
    pub ball: Option<usize>,
    /// Per polytope row `a . x <= b` of the set, the index of `b - a . x`.
    pub rows: Vec<Option<usize>>,
    /// Per input coordinate, where the two networks see different inputs
    /// `x` and `x'`: the indices of `s_hi - (x - x')` and `(x - x') - s_lo`
    /// (empty for one input).
    pub shift: Vec<[Option<usize>; 2]>,
}

/// The linear facts behind a propagation of a plain or structurally pruned
/// pair (neuron `i` of hidden layer `j` is lifted neuron `(j + 1, i)` of `f`
/// and its counterpart in `g` (`lifted.matches`), or, where `g` was pruned,
/// a padded neuron without weights: `v_g = 0`, `a_g = sigma(0)`, exact for
/// the activations with `sigma(0)` 0 or 1/2, the only ones given facts
/// there): for each neuron the gaps of its fixed lines, `Delta a`
/// between `L(Delta v)` and `U(Delta v)` with `Delta a = a_f - a_g`, `Delta v
/// = v_f - v_g`, and `a_f` between its own lines in `v_f`; and the sides of
/// the input box. Every one holds on the set (the lines are propagation's
/// relaxations on its proven neuron bounds), the set's L2 constraint if it
/// has one, its polytope rows, and where `g` sees its own input `x'`, the
/// bounds `[s_lo, s_hi]` on `x - x'` that propagation used (`shift`).
pub fn propagation_facts(lifted: &Lifted, set: &InputSet, lines: &[(Vec<LinearBounds>, Vec<LinearBounds>)], shift: (&[f64], &[f64])) -> PropagationFacts {
    use std::collections::HashMap;
    let mut b = Builder { lifted, constraints: Vec::new(), budget: None, stored_terms: 0, stopped: None };
    let push = |b: &mut Builder, form: LinearForm| -> Option<usize> {
        let before = b.constraints.len();
        b.linear(Family::Propagation, &form);
        (b.constraints.len() > before).then_some(before)
    };
    let reference_neuron: HashMap<(usize, usize), usize> = lifted.neurons.iter().enumerate().filter(|(_, n)| n.side == Side::Reference).map(|(k, n)| ((n.layer, n.index), k)).collect();
    let counterpart: HashMap<usize, usize> = lifted.matches.iter().copied().collect();
    let mut neurons = Vec::with_capacity(lines.len());
    for (j, (delta, reference)) in lines.iter().enumerate() {
        let mut layer = Vec::with_capacity(delta.len());
        for i in 0..delta.len() {
            let Some(&nf) = reference_neuron.get(&(j + 1, i)) else {
                layer.push([None; 4]);
                continue;
            };
            let f = &lifted.neurons[nf];
            let (g_pre, g_post) = match counterpart.get(&nf) {
                Some(&ng) => (lifted.neurons[ng].pre.clone(), lifted.neurons[ng].post.clone()),
                None => {
                    // sigma(0), exact
                    let padded = match f.activation {
                        Activation::Relu | Activation::LeakyRelu { .. } | Activation::Tanh => 0.0,
                        Activation::Sigmoid => 0.5,
                        _ => {
                            layer.push([None; 4]);
                            continue;
                        }
                    };
                    (LinearForm::zero(), b.constant_form(padded))
                }
            };
            let (d, r) = (delta[i], reference[i]);
            // U(Dv) - Da = s (v_f - v_g) + t - (a_f - a_g), and so on
            let delta_upper = b.combine(&[(d.upper_slope, &f.pre), (-d.upper_slope, &g_pre), (-1.0, &f.post), (1.0, &g_post)], d.upper_intercept);
            let delta_lower = b.combine(&[(1.0, &f.post), (-1.0, &g_post), (-d.lower_slope, &f.pre), (d.lower_slope, &g_pre)], -d.lower_intercept);
            let reference_upper = b.combine(&[(r.upper_slope, &f.pre), (-1.0, &f.post)], r.upper_intercept);
            let reference_lower = b.combine(&[(1.0, &f.post), (-r.lower_slope, &f.pre)], -r.lower_intercept);
            layer.push([push(&mut b, delta_upper), push(&mut b, delta_lower), push(&mut b, reference_upper), push(&mut b, reference_lower)]);
        }
        neurons.push(layer);
    }
    let input = lifted
        .input_f
        .iter()
        .enumerate()
        .map(|(k, &t)| {
            let x = LinearForm::coordinate(t);
            let below_upper = b.combine(&[(-1.0, &x)], set.upper()[k]);
            let above_lower = b.combine(&[(1.0, &x)], -set.lower()[k]);
            [push(&mut b, below_upper), push(&mut b, above_lower)]
        })
        .collect();
    let ball = set.ball_constraint().map(|(center, radius)| {
        b.constraints.push(ball_constraint(Family::Propagation, lifted, &lifted.input_f, center, *radius, set.ball_scales()));
        b.constraints.len() - 1
    });
    let rows = set
        .polytope()
        .iter()
        .map(|(a, bound)| {
            let row = b.row_form(&lifted.input_f, a, *bound);
            push(&mut b, row)
        })
        .collect();
    let shift = match lifted.input_g != lifted.input_f {
        true => lifted
            .input_f
            .iter()
            .zip(&lifted.input_g)
            .enumerate()
            .map(|(k, (&t, &tg))| {
                let (x, xg) = (LinearForm::coordinate(t), LinearForm::coordinate(tg));
                let below_upper = b.combine(&[(-1.0, &x), (1.0, &xg)], shift.1[k]);
                let above_lower = b.combine(&[(1.0, &x), (-1.0, &xg)], -shift.0[k]);
                [push(&mut b, below_upper), push(&mut b, above_lower)]
            })
            .collect(),
        false => Vec::new(),
    };
    PropagationFacts { constraints: b.constraints, neurons, input, ball, rows, shift }
}

/// Under the L2 norm, `(U_j - Delta_j)(Delta_j - L_j) >= 0` for each output
/// `j`, where `[L_j, U_j]` holds `Delta_j` on the set (propagation's output
/// bounds, or the outputs' checked SDP bounds, outward rounded, with their
/// forms' errors added): the product of two nonnegative facts, in the
/// computed forms (their errors, and the rounding of `U_j - Delta_j`'s
/// constant, are in the slack: [`product_constraint`]). With multiplier 1 on
/// each, they cancel the objective's `sum_j Delta_j^2` and leave the linear
/// `sum_j (U_j + L_j) Delta_j - U_j L_j` (docs/method.md §7b). None where a
/// bound is not finite, the interval is empty, or a factor has no terms.
pub fn output_interval_products(lifted: &Lifted, lower: &[f64], upper: &[f64]) -> Vec<Option<Constraint>> {
    let b = Builder { lifted, constraints: Vec::new(), budget: None, stored_terms: 0, stopped: None };
    lifted
        .difference
        .iter()
        .zip(lower.iter().zip(upper))
        .map(|(delta, (&l, &u))| {
            if !(l.is_finite() && u.is_finite() && l <= u) {
                return None;
            }
            let below_upper = b.combine(&[(-1.0, delta)], u);
            let above_lower = b.combine(&[(1.0, delta)], -l);
            product_constraint(Family::Propagation, Sense::NonNegative, &below_upper, &above_lower, &lifted.coordinate_magnitude)
        })
        .collect()
}

/// Builds constraints, computing each one's slack, within a budget: the
/// all-pairs and products families grow like the square of the neurons
/// (at lifted dimension 500, seconds and gigabytes), so the time and the
/// memory the constraints take are checked every [`CHECK_EVERY`]
/// constraints, and once either is used up no more are added.
struct Builder<'a> {
    lifted: &'a Lifted,
    constraints: Vec<Constraint>,
    budget: Option<&'a crate::limits::Budget>,
    /// Linear-form terms held by the constraints (16 bytes each).
    stored_terms: usize,
    /// Why the build stopped early, if it did.
    stopped: Option<String>,
}

/// Constraints between two checks of the build's time and memory.
const CHECK_EVERY: usize = 1024;

impl Builder<'_> {
    fn constant_form(&self, value: f64) -> LinearForm {
        if value == 0.0 { LinearForm::zero() } else { LinearForm { terms: vec![(self.lifted.constant, value)], error: 0.0 } }
    }
    fn combine(&self, parts: &[(f64, &LinearForm)], constant: f64) -> LinearForm {
        LinearForm::combine(parts, constant, self.lifted.constant, &self.lifted.coordinate_magnitude, self.lifted.dim)
    }
    /// `p * q` (>= 0 or = 0), unless the build has stopped.
    fn product(&mut self, family: Family, sense: Sense, p: &LinearForm, q: &LinearForm) {
        if self.stopped.is_some() {
            return;
        }
        if let Some(constraint) = product_constraint(family, sense, p, q, &self.lifted.coordinate_magnitude) {
            self.stored_terms += p.terms.len() + q.terms.len();
            self.constraints.push(constraint);
            if self.constraints.len() % CHECK_EVERY == 0 {
                self.check_budget();
            }
        }
    }
    /// Stops the build when the time is up or its constraints fill the memory budget.
    fn check_budget(&mut self) {
        let Some(budget) = self.budget else { return };
        // 16 bytes a term, the allocations' own (64 bytes a constraint), and
        // what a first-order solve packs from them (176 bytes a term, see
        // `first_order_bytes`)
        let bytes = (self.stored_terms * (16 + 176) + self.constraints.len() * (std::mem::size_of::<Constraint>() + 64)) as f64;
        self.stopped = if budget.expired() {
            Some(format!("the time limit was reached while the SDP's constraints were built ({} so far)", self.constraints.len()))
        } else {
            budget.admit(&format!("the SDP's constraint set ({} constraints so far)", self.constraints.len()), bytes).err()
        };
    }
    /// The polytope row `a . x <= b` as the nonnegative form `b - a . x` on
    /// the copy `coords` of the input.
    fn row_form(&self, coords: &[usize], a: &[f64], bound: f64) -> LinearForm {
        let parts: Vec<(f64, LinearForm)> = a.iter().zip(coords).map(|(&ai, &t)| (-ai, LinearForm::coordinate(t))).collect();
        let refs: Vec<(f64, &LinearForm)> = parts.iter().map(|(w, f)| (*w, f)).collect();
        self.combine(&refs, bound)
    }
    /// `p >= 0`, written as `p * 1 >= 0`.
    fn linear(&mut self, family: Family, p: &LinearForm) {
        let one = self.constant_form(1.0);
        self.product(family, Sense::NonNegative, p, &one);
    }
    fn neuron_affine(&self, neuron: &Neuron, e: &NeuronAffine) -> LinearForm {
        let mut form = self.combine(&[(e.v_coef, &neuron.pre), (e.a_coef, &neuron.post)], e.constant);
        form.error = crate::rounding::add_up(form.error, e.constant_error);
        form
    }
    /// The incremental QC `(Da - alpha Dv)(beta Dv - Da) >= 0` between two
    /// neurons of one slope-restricted activation (none for quantisers).
    fn incremental(&mut self, family: Family, first: &Neuron, second: &Neuron) {
        if !first.variable && !second.variable {
            return; // both substituted: the QC is implied by linear identities
        }
        if first.activation != second.activation || !first.activation.slope_restricted() {
            return; // a step function (quantiser) has no finite slope bounds
        }
        let lower = first.pre_bounds.0.min(second.pre_bounds.0);
        let upper = first.pre_bounds.1.max(second.pre_bounds.1);
        let (alpha, beta) = first.activation.local_slope_bounds(lower, upper);
        let p = self.combine(&[(1.0, &first.post), (-1.0, &second.post), (-alpha, &first.pre), (alpha, &second.pre)], 0.0);
        let q = self.combine(&[(beta, &first.pre), (-beta, &second.pre), (-1.0, &first.post), (1.0, &second.post)], 0.0);
        self.product(family, Sense::NonNegative, &p, &q);
    }
}

/// The set's L2 constraint on the copy `coords` of the input:
/// `r^2 - sum_i w_i (x_i - c_i)^2 >= 0`, with `w_i = 1` for a ball and, for
/// the ellipsoid `||diag(s) (x - c)|| <= r` ([`InputSet::ball_scales`]),
/// `w_i = s_i^2` rounded down (`>= 1` since `s_i >= 1`): weights no larger
/// than `s_i^2` give an ellipsoid that holds the set's, so the fact holds on
/// the set.
///
/// Entries: `-w_i` at `(t, t)` (exact), `w_i c_i` at `(t, 1)` (exact for
/// `w_i = 1`, else one rounded product, within `u |w_i c_i| + eta`; it meets
/// `zeta_t` twice in `zeta^T Q zeta`, `|zeta_t| <= m_t`), and the constant
/// `r^2 - sum_i w_i c_i^2` (`n + 1` sums and up to three products: within
/// `gamma_(n+3) (r^2 + sum_i w_i c_i^2)` plus `2 eta (|c_i| + 1)` per term
/// for underflow). The slack is the sum of these bounds, rounded up.
fn ball_constraint(family: Family, lifted: &Lifted, coords: &[usize], center: &[f64], radius: f64, scales: Option<&[f64]>) -> Constraint {
    use crate::rounding::{add_up, mul_up};
    const ETA: f64 = 5e-324;
    let weights: Vec<f64> = match scales {
        Some(scales) => scales.iter().map(|s| crate::rounding::mul_down(*s, *s).max(1.0)).collect(),
        None => vec![1.0; center.len()],
    };
    let mut entries: Vec<(usize, usize, f64)> = coords.iter().zip(&weights).map(|(&t, &w)| (t, t, -w)).collect();
    entries.extend(coords.iter().zip(center).zip(&weights).map(|((&t, &c), &w)| (t.min(lifted.constant), t.max(lifted.constant), w * c)));
    let weighted_c2: f64 = center.iter().zip(&weights).map(|(c, w)| w * c * c).sum();
    entries.push((lifted.constant, lifted.constant, radius * radius - weighted_c2));
    let weighted_c2_up = center.iter().zip(&weights).fold(0.0, |sum, (c, w)| add_up(sum, mul_up(mul_up(*w, c.abs()), c.abs())));
    let mut slack = mul_up(rounding_gamma(center.len() + 3), add_up(mul_up(radius, radius), weighted_c2_up));
    for ((&t, &c), &w) in coords.iter().zip(center).zip(&weights) {
        slack = add_up(slack, mul_up(2.0 * ETA, add_up(c.abs(), 1.0)));
        if w != 1.0 {
            let cross = add_up(mul_up(crate::rounding::UNIT_ROUNDOFF, mul_up(w, c.abs())), ETA);
            slack = add_up(slack, mul_up(2.0 * lifted.coordinate_magnitude[t], cross));
        }
    }
    Constraint::from_matrix(family, Sense::NonNegative, SymmetricSparse { entries }.consolidated(), slack)
}

/// All constraints for `lifted` over `set` (in first-layer coordinates),
/// or why they were not all built within `budget`.
pub fn build(lifted: &Lifted, set: &InputSet, coupling: &InputCoupling, options: QcOptions, budget: Option<&crate::limits::Budget>) -> Result<Vec<Constraint>, String> {
    let mut b = Builder { lifted, constraints: Vec::new(), budget, stored_terms: 0, stopped: None };
    // linear nonnegative facts, grouped by layer (0 = input), for the products family
    let max_layer = lifted.neurons.iter().map(|n| n.layer).max().unwrap_or(0);
    let mut linear_facts: Vec<Vec<LinearForm>> = vec![Vec::new(); max_layer + 1];

    // input set, for every copy of the input
    let mut copies = vec![lifted.input_f.clone()];
    if lifted.input_g != lifted.input_f {
        copies.push(lifted.input_g.clone());
    }
    for coords in &copies {
        for (k, &t) in coords.iter().enumerate() {
            let x = LinearForm::coordinate(t);
            let above = b.combine(&[(1.0, &x)], -set.lower()[k]);
            let below = b.combine(&[(-1.0, &x)], set.upper()[k]);
            b.product(Family::Input, Sense::NonNegative, &above, &below);
            linear_facts[0].push(above);
            linear_facts[0].push(below);
        }
        if let Some((center, radius)) = set.ball_constraint() {
            b.constraints.push(ball_constraint(Family::Input, lifted, coords, center, *radius, set.ball_scales()));
        }
        let rows: Vec<LinearForm> = set.polytope().iter().map(|(a, bound)| b.row_form(coords, a, *bound)).collect();
        for (i, row) in rows.iter().enumerate() {
            b.linear(Family::Input, row);
            for other in &rows[i + 1..] {
                b.product(Family::Input, Sense::NonNegative, row, other);
            }
        }
        linear_facts[0].extend(rows);
    }
    if let InputCoupling::Quantised(steps) = coupling {
        for (k, step) in steps.iter().enumerate() {
            // (c - (x_g - x))((x_g - x) + c) >= 0
            let (x, xg) = (LinearForm::coordinate(lifted.input_f[k]), LinearForm::coordinate(lifted.input_g[k]));
            let p = b.combine(&[(-1.0, &xg), (1.0, &x)], *step);
            let q = b.combine(&[(1.0, &xg), (-1.0, &x)], *step);
            b.product(Family::InputQuantisation, Sense::NonNegative, &p, &q);
            linear_facts[0].push(p);
            linear_facts[0].push(q);
        }
    }

    // per neuron
    for neuron in &lifted.neurons {
        let (lower, upper) = neuron.pre_bounds;
        if options.intervals || neuron.variable {
            let above = b.combine(&[(1.0, &neuron.pre)], -lower);
            let below = b.combine(&[(-1.0, &neuron.pre)], upper);
            if options.intervals {
                b.product(Family::Interval, Sense::NonNegative, &above, &below);
            }
            if neuron.variable {
                linear_facts[neuron.layer].push(above);
                linear_facts[neuron.layer].push(below);
            }
        }
        if !neuron.variable {
            continue;
        }
        let (a_lower, a_upper) = neuron.post_bounds;
        for fact in neuron.activation.rule().neuron_facts(lower, upper, a_lower, a_upper) {
            match fact {
                NeuronFact::NonNegative(e) => {
                    let p = b.neuron_affine(neuron, &e);
                    b.linear(Family::Activation, &p);
                    linear_facts[neuron.layer].push(p);
                }
                NeuronFact::ProductNonNegative(e1, e2) => {
                    let (p, q) = (b.neuron_affine(neuron, &e1), b.neuron_affine(neuron, &e2));
                    b.product(Family::Activation, Sense::NonNegative, &p, &q);
                }
                NeuronFact::ProductZero(e1, e2) => {
                    let (p, q) = (b.neuron_affine(neuron, &e1), b.neuron_affine(neuron, &e2));
                    b.product(Family::Activation, Sense::Zero, &p, &q);
                }
            }
        }
    }

    if options.matched {
        for &(i, j) in &lifted.matches {
            b.incremental(Family::Matched, &lifted.neurons[i], &lifted.neurons[j]);
        }
    }
    if options.all_pairs {
        for i in 0..lifted.neurons.len() {
            if b.stopped.is_some() {
                break;
            }
            for j in i + 1..lifted.neurons.len() {
                let (first, second) = (&lifted.neurons[i], &lifted.neurons[j]);
                if first.layer == second.layer && first.activation == second.activation && !lifted.matches.contains(&(i, j)) {
                    b.incremental(Family::AllPairs, first, second);
                }
            }
        }
    }
    if options.neighbours > 0 && !options.all_pairs {
        for (i, j) in similar_pairs(lifted, options.neighbours) {
            b.incremental(Family::Neighbours, &lifted.neurons[i], &lifted.neurons[j]);
        }
    }
    if options.products {
        // products within a layer (both networks) and between consecutive
        // layers (the input counting as layer 0): on the paper's quantised
        // pair with quantised input they take the ratio from 1.025 to 1.003
        for k in 0..linear_facts.len() {
            for i in 0..linear_facts[k].len() {
                if b.stopped.is_some() {
                    break;
                }
                for j in i + 1..linear_facts[k].len() {
                    b.product(Family::Products, Sense::NonNegative, &linear_facts[k][i], &linear_facts[k][j]);
                }
                if k + 1 < linear_facts.len() {
                    for j in 0..linear_facts[k + 1].len() {
                        b.product(Family::Products, Sense::NonNegative, &linear_facts[k][i], &linear_facts[k + 1][j]);
                    }
                }
            }
        }
    }
    b.check_budget();
    match b.stopped {
        Some(reason) => Err(reason),
        None => Ok(b.constraints),
    }
}

/// The pairs of the `neighbours` family: for each variable neuron, the
/// `k` other neurons of its layer (same activation, either network, not its
/// matched partner) whose pre-activation forms have the largest
/// `|cos|` with its own, each unordered pair once, in a fixed order.
/// An incremental QC bounds `(a_i - a_j)` by the slopes times `(v_i - v_j)`;
/// it says most where `v_i - v_j` is small relative to `v_i`, that is for
/// neurons that read their inputs alike.
fn similar_pairs(lifted: &Lifted, k: usize) -> Vec<(usize, usize)> {
    let norm = |f: &LinearForm| f.terms.iter().map(|(_, c)| c * c).sum::<f64>().sqrt();
    let dot = |p: &LinearForm, q: &LinearForm| {
        // both sorted by coordinate
        let (mut a, mut b, mut sum) = (0, 0, 0.0);
        while a < p.terms.len() && b < q.terms.len() {
            match p.terms[a].0.cmp(&q.terms[b].0) {
                std::cmp::Ordering::Less => a += 1,
                std::cmp::Ordering::Greater => b += 1,
                std::cmp::Ordering::Equal => {
                    sum += p.terms[a].1 * q.terms[b].1;
                    a += 1;
                    b += 1;
                }
            }
        }
        sum
    };
    let norms: Vec<f64> = lifted.neurons.iter().map(|n| norm(&n.pre)).collect();
    let matched: std::collections::HashSet<(usize, usize)> = lifted.matches.iter().copied().collect();
    let mut pairs = std::collections::BTreeSet::new();
    for (i, first) in lifted.neurons.iter().enumerate() {
        if !first.variable || norms[i] == 0.0 {
            continue;
        }
        let mut candidates: Vec<(f64, usize)> = lifted
            .neurons
            .iter()
            .enumerate()
            .filter(|&(j, second)| j != i && second.layer == first.layer && second.activation == first.activation && norms[j] > 0.0 && !matched.contains(&(i.min(j), i.max(j))))
            .map(|(j, second)| ((dot(&first.pre, &second.pre) / (norms[i] * norms[j])).abs(), j))
            .filter(|(c, _)| c.is_finite())
            .collect();
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, j) in candidates.iter().take(k) {
            pairs.insert((i.min(j), i.max(j)));
        }
    }
    pairs.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::random::{partner, random_mlp, Relation};
    use crate::problem::prepare;
    use crate::sdp::constraints_for;
    use rand::SeedableRng;

    #[test]
    fn neighbours_parse_and_stay_within_all_pairs_and_the_budget() {
        let options = QcOptions::parse("default+neighbours:4").unwrap();
        assert_eq!(options, QcOptions { neighbours: 4, ..QcOptions::DEFAULT });
        assert!(QcOptions::parse("default+neighbours:x").is_err());
        assert!(QcOptions::parse("neighbours:-1").is_err());
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let f = random_mlp(&mut rng, 3, &[12, 9], 2, crate::activation::Activation::Relu);
        let g = partner(&mut rng, &f, Relation::Quantised, crate::activation::Activation::Relu);
        let set = InputSet::uniform_box(3, -1.0, 1.0).unwrap();
        let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
        let count = |options: QcOptions| constraints_for(&prepared, options).1.iter().filter(|c| matches!(c.family, Family::AllPairs | Family::Neighbours)).count();
        let (lifted, _) = constraints_for(&prepared, QcOptions::DEFAULT);
        let variable = lifted.neurons.iter().filter(|n| n.variable).count();
        let all = count(QcOptions { all_pairs: true, ..QcOptions::DEFAULT });
        let mut previous = 0;
        for k in [1, 2, 4, 100] {
            let pairs = similar_pairs(&lifted, k);
            assert!(pairs.iter().all(|&(i, j)| i < j && lifted.neurons[i].layer == lifted.neurons[j].layer && !lifted.matches.contains(&(i, j))));
            let n = count(QcOptions { neighbours: k, ..QcOptions::DEFAULT });
            assert!(n > 0 && n >= previous && n <= all && n <= k * variable, "k = {k}: {n} QCs (all pairs {all}, {variable} variable neurons)");
            previous = n;
        }
        // with every neighbour, the family is all-pairs among pairs with a variable neuron
        assert_eq!(previous, all);
        // with one neighbour, each variable neuron's partner is its most similar candidate
        let cosine = |p: &LinearForm, q: &LinearForm| {
            let dense = |f: &LinearForm| (0..lifted.dim).map(|t| f.terms.iter().find(|(i, _)| *i == t).map_or(0.0, |(_, c)| *c)).collect::<Vec<f64>>();
            let (p, q) = (dense(p), dense(q));
            let dot: f64 = p.iter().zip(&q).map(|(a, b)| a * b).sum();
            (dot / (p.iter().map(|a| a * a).sum::<f64>().sqrt() * q.iter().map(|b| b * b).sum::<f64>().sqrt())).abs()
        };
        let pairs = similar_pairs(&lifted, 1);
        for (i, first) in lifted.neurons.iter().enumerate().filter(|(_, n)| n.variable) {
            let candidates: Vec<usize> = (0..lifted.neurons.len()).filter(|&j| j != i && lifted.neurons[j].layer == first.layer && !lifted.matches.contains(&(i.min(j), i.max(j)))).collect();
            let best = candidates.iter().map(|&j| cosine(&first.pre, &lifted.neurons[j].pre)).fold(0.0, f64::max);
            let chosen = pairs.iter().filter(|&&(a, b)| a == i || b == i).map(|&(a, b)| cosine(&first.pre, &lifted.neurons[if a == i { b } else { a }].pre)).fold(0.0, f64::max);
            assert!(candidates.is_empty() || chosen >= best * (1.0 - 1e-12), "neuron {i}: partner cosine {chosen} < best {best}");
        }
    }
}
