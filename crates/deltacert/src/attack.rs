//! Lower bounds: the largest error actually observed, and where.
//!
//! Uniform sampling of the input set, then projected (sign-)gradient ascent on
//! the error from the best samples, from random points, and from seeds (the
//! corners where a bound's relaxation of each output difference is largest,
//! each climbing its own output's difference; a few first push the reference
//! output alone, towards a quantised output's cap); with time to spare, one
//! start per objective ([`objective_search`]). Where an objective is flat (an
//! output's ReLU inactive in both networks) a step follows a leaky direction
//! towards where it is alive. Every reported
//! number is an evaluated `||f(x) - g(x')||` at a feasible input pair, so it is
//! a true lower bound on the worst case.


use crate::input_set::InputSet;
use crate::rounding::{add_down_tight, add_up_tight};
use crate::network::Network;
use crate::problem::InputCoupling;
use crate::problem::Norm;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

/// Settings of the search.
#[derive(Debug, Clone, Serialize)]
pub struct AttackSettings {
    /// Uniform samples (at most; see `sample_work`).
    pub samples: usize,
    /// Caps the sampling work at this many multiply-adds (samples times the
    /// two networks' parameter counts), with at least [`MIN_SAMPLES`]
    /// samples; None: exactly `samples`. On MNIST 3x100 the gradient steps
    /// find the worst case and 10,000 samples only cost time (1.2 s of a
    /// 1.6 s call), so the default keeps sampling near 0.1 s on any network.
    pub sample_work: Option<f64>,
    /// Gradient-ascent starts (up to four more run from seeds with an
    /// objective, pushing the reference output alone first).
    pub starts: usize,
    /// Steps per start.
    pub steps: usize,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for AttackSettings {
    fn default() -> Self {
        AttackSettings { samples: 10_000, sample_work: Some(DEFAULT_SAMPLE_WORK), starts: 16, steps: 100, seed: 0 }
    }
}

/// Default [`AttackSettings::sample_work`]: `10^8` multiply-adds.
pub const DEFAULT_SAMPLE_WORK: f64 = 1e8;
/// The fewest samples a work cap leaves.
pub const MIN_SAMPLES: usize = 256;

impl AttackSettings {
    /// The number of samples drawn for the pair `f`, `g`.
    pub fn samples_for(&self, f: &Network, g: &Network, set: &InputSet) -> usize {
        match self.sample_work {
            None => self.samples,
            Some(work) => {
                let per_sample = work_per_sample(f, g, set);
                let affordable = (work / per_sample).max(MIN_SAMPLES as f64);
                self.samples.min(affordable as usize)
            }
        }
    }
}

/// The largest error found.
#[derive(Debug, Clone, Serialize)]
pub struct Witness {
    /// `||f(x) - g(x')||` in the chosen norm.
    pub error: f64,
    /// The input `x` of `f` (raw units); None when no feasible input was evaluated.
    pub input: Option<Vec<f64>>,
    /// The input `x'` of `g` when it differs from `x` (quantised or independent inputs).
    pub compressed_input: Option<Vec<f64>>,
    /// Largest `|f_j - g_j|` observed per output (over all evaluated points).
    pub per_output: Vec<f64>,
    /// Number of input pairs evaluated.
    pub evaluations: usize,
}

struct Problem<'a> {
    f: &'a Network,
    g: &'a Network,
    set: &'a InputSet,
    coupling: &'a InputCoupling,
    norm: Norm,
}

impl Problem<'_> {
    fn difference(&self, x: &[f64], xg: &[f64]) -> Vec<f64> {
        self.f.eval(x).iter().zip(self.g.eval(xg)).map(|(a, b)| a - b).collect()
    }
    fn error(&self, d: &[f64]) -> f64 {
        match self.norm {
            Norm::L2 => d.iter().map(|v| v * v).sum::<f64>().sqrt(),
            Norm::Linf => d.iter().fold(0.0, |m, v| m.max(v.abs())),
        }
    }
    /// Projects the pair onto the feasible set of the coupling, inside the
    /// set the user wrote ([`InputSet::project_inside`]): every witness of
    /// the attack is an input of that set.
    fn project(&self, x: &mut [f64], xg: &mut [f64]) {
        self.set.project(x);
        self.set.project_inside(x);
        match self.coupling {
            InputCoupling::Same => xg.copy_from_slice(x),
            InputCoupling::Quantised(steps) => {
                self.set.project(xg);
                self.set.project_inside(xg);
                for k in 0..x.len() {
                    // |x' - x| <= step, rounded inward
                    let (lo, hi) = (add_up_tight(x[k], -steps[k]), add_down_tight(x[k], steps[k]));
                    // no double may lie there (a point box whose decimal has none):
                    // the pair is then infeasible and `feasible` drops it
                    let (lo, hi) = (lo.max(self.set.written_lower()[k]), hi.min(self.set.written_upper()[k]));
                    if lo <= hi {
                        xg[k] = xg[k].clamp(lo, hi);
                    }
                }
            }
            InputCoupling::Independent => {
                self.set.project(xg);
                self.set.project_inside(xg);
            }
        }
    }
    fn sample(&self, rng: &mut impl Rng) -> (Vec<f64>, Vec<f64>) {
        let mut x = self.set.sample(rng);
        let mut xg = match self.coupling {
            InputCoupling::Same => x.clone(),
            InputCoupling::Quantised(steps) => x.iter().zip(steps).map(|(v, s)| v + rng.gen_range(-1.0..=1.0) * s).collect(),
            InputCoupling::Independent => self.set.sample(rng),
        };
        self.project(&mut x, &mut xg);
        (x, xg)
    }
    /// Both points in the set as written, `x'` within the step of `x`
    /// (checked with outward rounding).
    fn feasible(&self, x: &[f64], xg: &[f64]) -> bool {
        let within_step = match self.coupling {
            InputCoupling::Quantised(steps) => x.iter().zip(xg).zip(steps).all(|((a, b), s)| add_up_tight(*a, -*b).max(-add_down_tight(*a, -*b)) <= *s),
            _ => true,
        };
        within_step && self.set.holds(x) && self.set.holds(xg)
    }
}

/// The largest `|f_j - g_j|` seen per output in floating point, with the
/// input pair where each was seen: [`SeenPerOutput::rigorous`] re-evaluates
/// them with outward rounding, since a float difference can exceed the exact
/// one by its rounding (a point box reported 0.07076188474650735 where the
/// exact error is 0.0707618847465073134...).
/// Each pair is held once, shared by the outputs it improved.
#[derive(Debug, Clone)]
pub(crate) struct SeenPerOutput {
    values: Vec<f64>,
    points: Vec<Option<std::sync::Arc<(Vec<f64>, Vec<f64>)>>>,
}

impl SeenPerOutput {
    pub(crate) fn new(outputs: usize) -> Self {
        SeenPerOutput { values: vec![0.0; outputs], points: vec![None; outputs] }
    }
    /// Takes in `d = f(x) - g(x')` seen at the pair `(x, x')`.
    pub(crate) fn see(&mut self, d: &[f64], x: &[f64], xg: &[f64]) {
        let mut shared: Option<std::sync::Arc<(Vec<f64>, Vec<f64>)>> = None;
        for (j, v) in d.iter().enumerate().take(self.values.len()) {
            if v.abs() > self.values[j] {
                self.values[j] = v.abs();
                self.points[j] = Some(shared.get_or_insert_with(|| std::sync::Arc::new((x.to_vec(), xg.to_vec()))).clone());
            }
        }
    }
    /// Takes in what another search saw.
    pub(crate) fn merge(&mut self, other: SeenPerOutput) {
        for (j, (value, point)) in other.values.into_iter().zip(other.points).enumerate().take(self.values.len()) {
            if value > self.values[j] {
                self.values[j] = value;
                self.points[j] = point;
            }
        }
    }
    /// Per output, a rigorous lower bound on the largest error seen: the
    /// gap between the outward-rounded enclosures of `f_j` and `g_j` at the
    /// pair where it was seen (each pair evaluated once).
    pub(crate) fn rigorous(&self, f: &Network, g: &Network) -> Vec<f64> {
        let mut evaluated: Vec<(&std::sync::Arc<(Vec<f64>, Vec<f64>)>, Vec<f64>)> = Vec::new();
        (0..self.values.len())
            .map(|j| {
                let Some(point) = self.points[j].as_ref() else { return 0.0 };
                let gaps = match evaluated.iter().find(|(p, _)| std::sync::Arc::ptr_eq(p, point)) {
                    Some((_, gaps)) => gaps.clone(),
                    None => {
                        let gaps = crate::bound::evaluated_gaps(f, g, &point.0, &point.1);
                        evaluated.push((point, gaps.clone()));
                        gaps
                    }
                };
                gaps.get(j).copied().unwrap_or(0.0).min(self.values[j])
            })
            .collect()
    }
}

/// Searches for the largest error of `f` versus `g` over `set` (raw units).
pub fn attack(f: &Network, g: &Network, set: &InputSet, coupling: &InputCoupling, norm: Norm, settings: &AttackSettings) -> Witness {
    attack_from(f, g, set, coupling, norm, settings, &[])
}

/// A gradient-ascent start: an input (raw units) and, optionally, the
/// objective it ascends, `sign * (f_j - g_j)` for `(j, sign)` (otherwise, and
/// for the L2 norm, each step ascends the output with the largest error).
#[derive(Debug, Clone)]
pub struct Seed {
    /// The start (both networks see it, projected into the set).
    pub input: Vec<f64>,
    /// `(j, sign)`: the output and sign to ascend.
    pub objective: Option<(usize, f64)>,
}

/// [`attack`] with extra gradient-ascent starts `seeds`, for example the
/// corners where a bound's linear relaxation of each output difference is
/// largest, each ascending its own output's objective: the greedy choice of
/// the currently largest error never climbs towards an output that only
/// grows far from the start (a quantised output that saturates).
pub fn attack_from(f: &Network, g: &Network, set: &InputSet, coupling: &InputCoupling, norm: Norm, settings: &AttackSettings, seeds: &[Seed]) -> Witness {
    attack_until(f, g, set, coupling, norm, settings, seeds, None)
}

/// The multiply-adds of one sample: both networks' parameters, and for a
/// set cut by polytope rows, moving the point inside them (up to
/// [`PROJECTION_PASSES`] passes over the rows, each with the rows'
/// coefficients counted four times for the enclosed written rows) and
/// checking it. With 1,500 dense rows over MNIST's 784 inputs that is 100
/// times the networks' own work.
fn work_per_sample(f: &Network, g: &Network, set: &InputSet) -> f64 {
    let rows: usize = set.polytope().iter().map(|(a, _)| a.len()).sum();
    ((f.parameter_count() + g.parameter_count()) as f64 + (4 * PROJECTION_PASSES * rows) as f64).max(1.0)
}

/// Passes over the polytope rows counted per sample by [`work_per_sample`].
const PROJECTION_PASSES: usize = 8;

/// Parameters evaluated (both networks) between checks of
/// [`attack_until`]'s deadline, about a millisecond of work: a pair of the
/// paper's size reads the clock every 256 samples (reading it costs about
/// 25 ns), MNIST 3x100 every 5, a 9-layer network of width 1,024 (about
/// 10 ms a sample) every sample.
const WORK_PER_CHECK: f64 = 1e6;

/// [`attack_from`] that stops sampling and ascending at `deadline` (the
/// best found so far is kept): a large `samples` cannot take the run past
/// its time limit.
#[allow(clippy::too_many_arguments)]
pub fn attack_until(f: &Network, g: &Network, set: &InputSet, coupling: &InputCoupling, norm: Norm, settings: &AttackSettings, seeds: &[Seed], deadline: Option<Instant>) -> Witness {
    let problem = Problem { f, g, set, coupling, norm };
    let outputs = f.output_dim();
    // sampling, in parallel chunks with their own seeds
    let samples = settings.samples_for(f, g, set);
    let chunks = 8usize;
    let per_chunk = samples.div_ceil(chunks);
    let per_check = (WORK_PER_CHECK / work_per_sample(f, g, set)).clamp(1.0, 256.0) as usize;
    let sampled: Vec<(Vec<Point>, SeenPerOutput, usize)> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(settings.seed.wrapping_mul(1_000_003).wrapping_add(c as u64));
            let mut per_output = SeenPerOutput::new(outputs);
            let mut best: Vec<Point> = Vec::new();
            let mut count = 0;
            for i in 0..per_chunk.min(samples.saturating_sub(c * per_chunk)) {
                // checked before each group (a chunk that starts past the deadline samples nothing)
                if i % per_check == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let (x, xg) = problem.sample(&mut rng);
                if !problem.feasible(&x, &xg) {
                    continue;
                }
                let d = problem.difference(&x, &xg);
                per_output.see(&d, &x, &xg);
                best.push((problem.error(&d), x, xg));
                count += 1;
                if best.len() > 4 * settings.starts.max(1) {
                    best.sort_by(|a, b| b.0.total_cmp(&a.0));
                    best.truncate(settings.starts.max(1));
                }
            }
            best.sort_by(|a, b| b.0.total_cmp(&a.0));
            best.truncate(settings.starts.max(1));
            (best, per_output, count)
        })
        .collect();
    let mut per_output = SeenPerOutput::new(outputs);
    let mut candidates = Vec::new();
    let mut evaluations = 0;
    for (best, po, count) in sampled {
        per_output.merge(po);
        candidates.extend(best);
        evaluations += count;
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    // starts: the best half from sampling,
    let mut rng = rand::rngs::StdRng::seed_from_u64(settings.seed ^ 0x5eed);
    let mut starts: Vec<(Vec<f64>, Vec<f64>, Ascent)> = candidates.iter().take(settings.starts.div_ceil(2)).map(|(_, x, xg)| (x.clone(), xg.clone(), Ascent::Largest)).collect();
    // then the seeds, then random points, `settings.starts` in all
    let mut pushes = Vec::new();
    // a projection onto many polytope rows costs as much as many samples:
    // the starts are made only while there is time
    let expired = || deadline.is_some_and(|d| Instant::now() >= d);
    for seed in seeds.iter().take(settings.starts.saturating_sub(starts.len())) {
        if expired() {
            break;
        }
        let (mut x, mut xg) = (seed.input.clone(), seed.input.clone());
        problem.project(&mut x, &mut xg);
        let objective = seed.objective.filter(|(j, _)| *j < outputs);
        if let Some((j, direction)) = objective.filter(|_| pushes.len() < SATURATION_STARTS) {
            pushes.push((x.clone(), xg.clone(), Ascent::ReferenceThenObjective(j, direction)));
        }
        starts.push((x, xg, objective.map_or(Ascent::Largest, |(j, direction)| Ascent::Objective(j, direction))));
    }
    while starts.len() < settings.starts && !expired() {
        let (x, xg) = problem.sample(&mut rng);
        starts.push((x, xg, Ascent::Largest));
    }
    starts.extend(pushes);
    // no feasible sample at all (a thin polytope): 0 is still a valid lower
    // bound, but there is no witness
    let mut found = Found { best: candidates.first().cloned(), per_output, evaluations };
    found.absorb(starts.into_par_iter().map(|(x, xg, objective)| ascend(&problem, x, xg, objective, settings.steps, deadline)).collect());
    found.into_witness(f, g, coupling, norm)
}

/// An error and the input pair `(x, x')` where it was evaluated.
type Point = (f64, Vec<f64>, Vec<f64>);
/// What one ascent returns: its best point, the largest error per output it
/// saw, and how many pairs it evaluated.
type Ascended = (Point, SeenPerOutput, usize);

/// What a search has found so far: the largest error with its input pair,
/// the largest error per output, the number of pairs evaluated.
struct Found {
    best: Option<Point>,
    per_output: SeenPerOutput,
    evaluations: usize,
}

impl Found {
    /// Takes in the results of [`ascend`] calls.
    fn absorb(&mut self, ascended: Vec<Ascended>) {
        for (result, per_output, count) in ascended {
            self.per_output.merge(per_output);
            self.evaluations += count;
            if result.0.is_finite() && self.best.as_ref().is_none_or(|b| result.0 > b.0) {
                self.best = Some(result);
            }
        }
    }

    /// The witness (`x'` only where it differs from `x`), with its error and
    /// the errors per output re-evaluated rigorously (the floating-point
    /// error could exceed the exact one by a few ulps).
    fn into_witness(self, f: &Network, g: &Network, coupling: &InputCoupling, norm: Norm) -> Witness {
        let Found { best, per_output, evaluations } = self;
        let per_output = per_output.rigorous(f, g);
        match best {
            Some((_, input, compressed_input)) => {
                let error = crate::bound::norm_of_gaps(&crate::bound::evaluated_gaps(f, g, &input, &compressed_input), norm);
                let compressed_input = (!matches!(coupling, InputCoupling::Same)).then_some(compressed_input);
                Witness { error, input: Some(input), compressed_input, per_output, evaluations }
            }
            None => Witness { error: 0.0, input: None, compressed_input: None, per_output, evaluations },
        }
    }
}

/// Rounds of gradient ascents from random points, one per objective
/// (`sign * (f_j - g_j)` for every output and both signs; `||f - g||^2` for
/// the L2 norm), until `seconds` have passed (checked before every step) or
/// `max_rounds` rounds ran; where an objective is flat the ascent follows
/// the leaky direction ([`DEAD_REGION_LEAK`]). The search that a time budget
/// left over buys: the default attack's few starts climb the currently
/// largest error and miss outputs that are only large far from where they
/// start (MNIST 3x100 vs float16 at +-8/255: with 6 s it raised the largest
/// error of test image 37 by 31%; docs/benchmarks.md).
pub fn objective_search(f: &Network, g: &Network, set: &InputSet, coupling: &InputCoupling, norm: Norm, search: &ObjectiveSearch) -> Witness {
    let ObjectiveSearch { steps, seconds, max_rounds, seed } = *search;
    let problem = Problem { f, g, set, coupling, norm };
    let deadline = Instant::now() + crate::limits::duration(seconds);
    let objectives: Vec<Ascent> = match norm {
        Norm::Linf => (0..f.output_dim()).flat_map(|j| [Ascent::Objective(j, 1.0), Ascent::Objective(j, -1.0)]).collect(),
        Norm::L2 => vec![Ascent::Largest],
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x0b1ec7);
    let mut found = Found { best: None, per_output: SeenPerOutput::new(f.output_dim()), evaluations: 0 };
    for _ in 0..max_rounds {
        if Instant::now() >= deadline {
            break;
        }
        let starts: Vec<(Vec<f64>, Vec<f64>, Ascent)> = objectives
            .iter()
            .map(|&a| {
                let (x, xg) = problem.sample(&mut rng);
                (x, xg, a)
            })
            .collect();
        // a few ascents at a time: each holds up to one pair per output
        for chunk in starts.chunks(2 * rayon::current_num_threads().max(1)) {
            found.absorb(chunk.par_iter().map(|(x, xg, a)| ascend(&problem, x.clone(), xg.clone(), *a, steps, Some(deadline))).collect());
        }
    }
    found.into_witness(f, g, coupling, norm)
}

/// How long [`objective_search`] runs.
#[derive(Debug, Clone, Copy)]
pub struct ObjectiveSearch {
    /// Steps per ascent.
    pub steps: usize,
    /// Seconds for all rounds.
    pub seconds: f64,
    /// Rounds at most.
    pub max_rounds: usize,
    /// Seed of the random starts.
    pub seed: u64,
}

/// The leak of the search direction where the objective is flat
/// ([`Network::gradient_with_leak`]).
const DEAD_REGION_LEAK: f64 = 0.1;

/// Extra starts (beyond [`AttackSettings::starts`]) from the first seeds
/// with an objective `(j, sign)` that first push `sign * f_j` alone: where
/// `g`'s output saturates (a quantised output held at its top level), the
/// error `f_j - g_j` grows only once `f_j` has crossed the cap, and the
/// gradient of the difference (zero for `g` only beyond the cap) does not
/// lead there.
const SATURATION_STARTS: usize = 4;

/// What one gradient-ascent start climbs (L-inf; the L2 norm always ascends
/// `||f - g||^2`).
#[derive(Debug, Clone, Copy)]
enum Ascent {
    /// The output with the currently largest error.
    Largest,
    /// `sign * (f_j - g_j)`.
    Objective(usize, f64),
    /// `sign * f_j` for the first half of the steps, then `sign * (f_j - g_j)`.
    ReferenceThenObjective(usize, f64),
}

/// The sign of `v`: 0 for 0 (and NaN), unlike `f64::signum`, so a coordinate
/// the error does not depend on stays where it is.
fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Projected sign-gradient ascent with a step shrinking from 10% to 0.1% of
/// the box width, climbing what `ascent` says; returns the best feasible
/// point seen.
fn ascend(problem: &Problem, mut x: Vec<f64>, mut xg: Vec<f64>, ascent: Ascent, steps: usize, deadline: Option<Instant>) -> Ascended {
    let width: Vec<f64> = problem.set.lower().iter().zip(problem.set.upper()).map(|(l, u)| u - l).collect();
    let mut per_output = SeenPerOutput::new(problem.f.output_dim());
    // random starts may lie outside a polytope: they count only if feasible
    let mut best = (f64::NEG_INFINITY, x.clone(), xg.clone());
    let mut evaluations = 0;
    if problem.feasible(&x, &xg) {
        let d = problem.difference(&x, &xg);
        per_output.see(&d, &x, &xg);
        best.0 = problem.error(&d);
        evaluations = 1;
    }
    for step in 0..steps {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let d = problem.difference(&x, &xg);
        // weights w with error-ascent direction: grad of w^T (f(x) - g(x'))
        let weights: Vec<f64> = match problem.norm {
            Norm::L2 => d.clone(),
            Norm::Linf => {
                let (j, direction) = match ascent {
                    Ascent::Objective(j, direction) | Ascent::ReferenceThenObjective(j, direction) => (j, direction),
                    Ascent::Largest => {
                        let j = (0..d.len()).max_by(|&a, &b| d[a].abs().total_cmp(&d[b].abs())).unwrap_or(0);
                        (j, sign(d[j]))
                    }
                };
                (0..d.len()).map(|i| if i == j { direction } else { 0.0 }).collect()
            }
        };
        let mut grad_f = problem.f.gradient(&x, &weights);
        let reference_only = matches!(ascent, Ascent::ReferenceThenObjective(..)) && problem.norm == Norm::Linf && 2 * step < steps;
        let mut grad_g = if reference_only { vec![0.0; xg.len()] } else { problem.g.gradient(&xg, &weights) };
        // a flat objective (the output's ReLU inactive in both networks):
        // raise the outputs it weighs through the leaky direction, towards
        // where they are alive (both networks' inputs move up)
        let flat = grad_f.iter().zip(&grad_g).all(|(a, b)| *a == 0.0 && *b == 0.0);
        if flat && weights.iter().any(|w| *w != 0.0) {
            let raise: Vec<f64> = weights.iter().map(|w| w.abs()).collect();
            grad_f = problem.f.gradient_with_leak(&x, &raise, DEAD_REGION_LEAK);
            grad_g = match problem.coupling {
                InputCoupling::Same => vec![0.0; xg.len()],
                _ => problem.g.gradient_with_leak(&xg, &raise, DEAD_REGION_LEAK).iter().map(|v| -v).collect(),
            };
        }
        let rate = 0.1 * (0.01f64).powf(step as f64 / steps.max(1) as f64);
        match problem.coupling {
            InputCoupling::Same => {
                for k in 0..x.len() {
                    x[k] += rate * width[k] * sign(grad_f[k] - grad_g[k]);
                }
            }
            _ => {
                for k in 0..x.len() {
                    x[k] += rate * width[k] * sign(grad_f[k]);
                    xg[k] -= rate * width[k] * sign(grad_g[k]);
                }
            }
        }
        problem.project(&mut x, &mut xg);
        if !problem.feasible(&x, &xg) {
            continue;
        }
        let d = problem.difference(&x, &xg);
        per_output.see(&d, &x, &xg);
        evaluations += 1;
        let e = problem.error(&d);
        if e > best.0 {
            best = (e, x.clone(), xg.clone());
        }
    }
    (best, per_output, evaluations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_of_zero_is_zero_so_flat_coordinates_stay_put() {
        assert_eq!(sign(0.0), 0.0);
        assert_eq!(sign(-0.0), 0.0);
        assert_eq!(sign(f64::NAN), 0.0);
        assert_eq!((sign(2.0), sign(-1e-300)), (1.0, -1.0));
    }

    /// `relu(w sum(x) - b)` on 50 inputs, then an identity output.
    fn corner_relu(weight: f64, bias: f64) -> Network {
        use crate::activation::Activation;
        use crate::network::{Layer, Matrix};
        let inputs = 50;
        Network {
            input_dim: inputs,
            input_transform: None,
            layers: vec![Layer::dense(0, Matrix::from_rows(1, inputs, vec![weight; inputs]), vec![-bias], Activation::Relu), Layer::dense(1, Matrix::from_rows(1, 1, vec![1.0]), vec![0.0], Activation::Identity)],
            kept_neurons: None,
            source_dtype: "float64".into(),
            output_softmax: false,
        }
    }

    /// f = relu(sum x - 45), g = relu(sum x / 2 - 22.5) on [0, 1]^50: both
    /// outputs are 0 unless sum x > 45, which no uniform sample reaches (the
    /// sum is 25 +- 2), and where both are 0 the gradient is 0. The worst
    /// case is f - g = 5 - 2.5 = 2.5 at the all-ones corner (exact in
    /// binary). The per-objective search leaves the dead region through the
    /// leaky direction and finds it.
    #[test]
    fn the_objective_search_leaves_a_dead_region() {
        let (f, g) = (corner_relu(1.0, 45.0), corner_relu(0.5, 22.5));
        let set = InputSet::uniform_box(50, 0.0, 1.0).expect("box");
        // the leaky direction is nonzero where the gradient is zero
        let inside = vec![0.5; 50];
        assert!(f.gradient(&inside, &[1.0]).iter().all(|g| *g == 0.0));
        assert!(f.gradient_with_leak(&inside, &[1.0], 0.1).iter().all(|g| *g > 0.0));
        assert_eq!(f.gradient_with_leak(&inside, &[1.0], 0.0), f.gradient(&inside, &[1.0]));
        let plain = attack(&f, &g, &set, &InputCoupling::Same, Norm::Linf, &AttackSettings { samples: 2_000, sample_work: None, ..AttackSettings::default() });
        assert_eq!(plain.error, 0.0, "no sample or plain ascent reaches sum x > 45");
        let searched = objective_search(&f, &g, &set, &InputCoupling::Same, Norm::Linf, &ObjectiveSearch { steps: 100, seconds: 30.0, max_rounds: 1, seed: 0 });
        let x = searched.input.expect("a witness");
        assert!(x.iter().all(|v| *v == 1.0));
        assert_eq!((f.eval(&x)[0] - g.eval(&x)[0]).abs(), 2.5);
        // the witness's error is re-evaluated with outward rounding: at most
        // the exact 2.5, and close
        assert!(searched.error <= 2.5 && searched.error > 2.5 - 1e-9, "{}", searched.error);
        // re-evaluated with outward rounding: at most the exact 2.5, and close
        assert!(searched.per_output[0] <= 2.5 && searched.per_output[0] > 2.5 - 1e-9, "{:?}", searched.per_output);
    }

    /// No time: no ascent runs, and the result is the empty witness.
    #[test]
    fn the_objective_search_keeps_its_time_limit() {
        let (f, g) = (corner_relu(1.0, 45.0), corner_relu(0.5, 22.5));
        let set = InputSet::uniform_box(50, 0.0, 1.0).expect("box");
        let searched = objective_search(&f, &g, &set, &InputCoupling::Same, Norm::Linf, &ObjectiveSearch { steps: 100, seconds: 0.0, max_rounds: 64, seed: 0 });
        assert_eq!((searched.error, searched.evaluations), (0.0, 0));
        assert!(searched.input.is_none());
    }
}
