//! The certified branch and bound on neuron phases (`deltacert::phase_lp`):
//! on random ReLU and leaky-ReLU pairs its full tree equals the exact worst case (the MILP's
//! optimum) and is never below an input's error; its re-checked bound holds
//! for any multipliers, however wrong; and inside input splitting in decide
//! mode it never proves an eps below the exact worst case nor misses one
//! above it.

mod common;

use deltacert::activation::Activation;
use deltacert::branch_and_bound::{branch_and_bound, Branching, SplitProblem, SplitSettings, StopReason};
use deltacert::input_set::InputSet;
use deltacert::milp::{self, DifferentialFacts};
use deltacert::network::random::{partner, random_mlp, Relation};
use deltacert::network::Network;
use deltacert::phase_lp::{self, PhaseProgram};
use deltacert::problem::{prepare, InputCoupling, Norm};
use deltacert::propagation::{DifferentialPair, DifferentialRegion, SlopeOptimisation};
use rand::{Rng, SeedableRng};

/// A random ReLU (or leaky-ReLU) pair of 1-3 inputs and 1-3 hidden layers
/// of 3-8 neurons, `g` pruned, quantised or unrelated, on a random box
/// inside `[-1, 1]`.
fn random_pair(rng: &mut impl Rng, case: usize) -> (Network, Network, InputSet) {
    let inputs = rng.gen_range(1..=3);
    let hidden: Vec<usize> = (0..rng.gen_range(1..=3)).map(|_| rng.gen_range(3..=8)).collect();
    let outputs = rng.gen_range(1..=2);
    // every third pair of each relation has leaky ReLUs
    let activation = if (case / 3) % 3 == 2 { Activation::LeakyRelu { alpha: 0.1 } } else { Activation::Relu };
    let f = random_mlp(rng, inputs, &hidden, outputs, activation);
    let relation = [Relation::Pruned, Relation::Quantised, Relation::Unrelated][case % 3];
    let g = partner(rng, &f, relation, activation);
    let (mut lower, mut upper) = (Vec::new(), Vec::new());
    for _ in 0..inputs {
        let (a, b): (f64, f64) = (rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0));
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        lower.push(a);
        upper.push(b.max(a + 1e-3));
    }
    (f, g, InputSet::from_box(lower, upper).unwrap())
}

/// `sign (f_j(x) - g_j(x))`, in floating point (the sampled values the
/// bounds must lie above, by more than rounding).
fn objective(f: &Network, g: &Network, x: &[f64], j: usize, sign: f64) -> f64 {
    sign * (f.eval(x)[j] - g.eval(x)[j])
}

fn samples(rng: &mut impl Rng, set: &InputSet, count: usize) -> Vec<Vec<f64>> {
    let mut points: Vec<Vec<f64>> = (0..count).map(|_| set.lower().iter().zip(set.upper()).map(|(l, u)| rng.gen_range(*l..=*u)).collect()).collect();
    // the corners too
    for mask in 0..(1usize << set.dim()) {
        points.push((0..set.dim()).map(|k| if mask >> k & 1 == 1 { set.upper()[k] } else { set.lower()[k] }).collect());
    }
    points
}

#[test]
fn the_full_tree_equals_the_milp_optimum_and_holds_at_sampled_inputs_on_60_random_relu_and_leaky_relu_pairs() {
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026_12_06);
    let (mut objectives, mut branched, mut tighter, mut several_points) = (0, 0, 0, 0);
    for case in 0..60 {
        let (f, g, set) = random_pair(&mut rng, case);
        let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
        let pair = DifferentialPair::new(&prepared.reference, &prepared.compressed).with_slopes(SlopeOptimisation::NONE);
        let region = DifferentialRegion::same_input(prepared.set.lower().to_vec(), prepared.set.upper().to_vec());
        let bounds = pair.bounds_within(&region, None);
        let facts = DifferentialFacts::new(&pair, &bounds).unwrap_or_else(|| panic!("case {case}: the pair does not pair"));
        let points = samples(&mut rng, &set, 2000);
        for j in 0..f.output_dim() {
            for sign in [1.0, -1.0] {
                let program = PhaseProgram::new(facts.reference, facts.compressed, &bounds, prepared.set.lower(), prepared.set.upper(), prepared.set.polytope(), j, sign).unwrap_or_else(|| panic!("case {case}: no program"));
                let full = phase_lp::branch_and_bound(&program, f64::NEG_INFINITY, 100_000, 60.0);
                let propagation = if sign > 0.0 { bounds.output_upper[j] } else { -bounds.output_lower[j] };
                let exact = milp::solve_objective(&prepared, Some(facts), j, sign, Some(60.0)).unwrap();
                let (optimum, incumbent) = (exact.upper.expect("the MILP's bound"), exact.incumbent.expect("an incumbent"));
                let sampled = points.iter().map(|x| objective(&f, &g, x, j, sign)).fold(f64::NEG_INFINITY, f64::max);
                let what = format!("case {case} output {j} sign {sign}: tree {:e} (root {:e}, {} programs), propagation {propagation:e}, MILP [{incumbent:e}, {optimum:e}], sampled {sampled:e}", full.bound, full.root_bound, full.nodes);
                // sound: above every input's error (the MILP's incumbent is one, re-checked)
                assert!(full.bound >= incumbent && full.bound >= sampled, "{what}");
                assert!(full.root_bound >= full.bound, "{what}");
                // tight: the whole tree is the exact worst case, the root at most propagation
                assert!(full.bound <= optimum + 1e-6 * (1.0 + optimum.abs()), "{what}");
                assert!(full.root_bound <= propagation + 1e-9 * (1.0 + propagation.abs()), "{what}");
                // the solutions' inputs: in the box (up to HiGHS's
                // tolerance), at most the bound once moved into it, at most
                // RUN_CANDIDATES of them, one at least (the root's)
                assert!(!full.candidates.is_empty() && full.candidates.len() <= phase_lp::RUN_CANDIDATES, "{what}: {} candidates", full.candidates.len());
                for candidate in &full.candidates {
                    assert_eq!(candidate.len(), set.dim(), "{what}");
                    let inside: Vec<f64> = candidate.iter().zip(set.lower().iter().zip(set.upper())).map(|(x, (l, u))| {
                        assert!(*x >= l - 1e-6 && *x <= u + 1e-6, "{what}: candidate {candidate:?} outside [{l}, {u}]");
                        x.clamp(*l, *u)
                    }).collect();
                    let value = objective(&f, &g, &inside, j, sign);
                    assert!(value <= full.bound + 1e-9 * (1.0 + value.abs()), "{what}: {value:e} at a candidate");
                }
                objectives += 1;
                several_points += usize::from(full.candidates.len() > 1);
                branched += usize::from(full.nodes > 1);
                tighter += usize::from(full.bound < propagation - 1e-6 * (1.0 + propagation.abs()));
            }
        }
    }
    println!("{objectives} objectives, {branched} branched, {tighter} below propagation, {several_points} with several candidates");
    // functional: the trees branch, and most of them end below propagation
    assert!(branched >= objectives / 3, "{branched} of {objectives}");
    assert!(tighter >= objectives / 3, "{tighter} of {objectives}");
    // a tree that branches hands over its children's solutions too
    assert!(several_points >= branched / 2, "{several_points} with several candidates, {branched} branched");
}

#[test]
fn any_multipliers_give_a_bound_above_every_sampled_value() {
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut finite = 0;
    for case in 0..30 {
        let (f, g, set) = random_pair(&mut rng, case);
        let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
        let pair = DifferentialPair::new(&prepared.reference, &prepared.compressed);
        let bounds = pair.bounds_within(&DifferentialRegion::same_input(prepared.set.lower().to_vec(), prepared.set.upper().to_vec()), None);
        let facts = DifferentialFacts::new(&pair, &bounds).unwrap();
        let points = samples(&mut rng, &set, 500);
        for j in 0..f.output_dim() {
            for sign in [1.0, -1.0] {
                let program = PhaseProgram::new(facts.reference, facts.compressed, &bounds, prepared.set.lower(), prepared.set.upper(), prepared.set.polytope(), j, sign).unwrap();
                let sampled = points.iter().map(|x| objective(&f, &g, x, j, sign)).fold(f64::NEG_INFINITY, f64::max);
                let solved = program.solver_multipliers().expect("HiGHS's multipliers");
                let rows = solved.len();
                let mut trials: Vec<Vec<f64>> = vec![vec![0.0; rows], solved.clone(), solved.iter().map(|v| -v).collect()];
                for scale in [1e-6, 1e-2, 1.0, 1e3, 1e12, 1e300, 1e308] {
                    trials.push((0..rows).map(|_| scale * rng.gen_range(-1.0..1.0)).collect());
                    trials.push(solved.iter().map(|v| v * (1.0 + scale * rng.gen_range(-1.0..1.0))).collect());
                }
                // one huge multiplier on one row: products past the doubles' range
                for row in 0..rows {
                    for huge in [1e308, -1e308, f64::MAX, -f64::MAX] {
                        let mut y = vec![0.0; rows];
                        y[row] = huge;
                        trials.push(y);
                    }
                }
                trials.push(solved.iter().map(|v| if rng.gen_bool(0.3) { f64::NAN } else { *v }).collect());
                trials.push(solved.iter().map(|v| if rng.gen_bool(0.1) { f64::INFINITY } else { *v }).collect());
                for (t, y) in trials.iter().enumerate() {
                    let bound = program.bound_with_multipliers(y);
                    assert!(!bound.is_nan(), "case {case} trial {t}: NaN");
                    assert!(bound >= sampled, "case {case} output {j} sign {sign} trial {t}: {bound:e} below the sampled {sampled:e}");
                    finite += usize::from(bound.is_finite());
                }
                // HiGHS's own multipliers give about the program's optimum, below the box's bound
                let at_solver = program.bound_with_multipliers(&solved);
                let at_zero = program.bound_with_multipliers(&vec![0.0; rows]);
                assert!(at_solver <= at_zero, "case {case}: {at_solver:e} above {at_zero:e}");
            }
        }
    }
    assert!(finite > 100, "{finite}");
}

/// The MILP's bound (HiGHS's) and its incumbent's re-checked error: the
/// exact worst case lies between them.
fn milp_range(f: &Network, g: &Network, set: &InputSet) -> (f64, f64) {
    let exact = deltacert::bound::bound(f, g, &deltacert::bound::BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, deltacert::bound::Method::MILP)).unwrap();
    (exact.solver_bound.expect("the MILP's bound"), exact.lower_bound)
}

/// Splitting on the prepared pair, fixed slopes, no phase multipliers.
fn split_problem(prepared: &deltacert::problem::Prepared) -> SplitProblem<'_> {
    SplitProblem { reference: &prepared.reference, compressed: &prepared.compressed, set: &prepared.set, coupling: &prepared.coupling, norm: Norm::Linf, pair: DifferentialPair::new(&prepared.reference, &prepared.compressed), piece_slopes: SlopeOptimisation::NONE, stuck_slopes: SlopeOptimisation::NONE, phase_multiplier_steps: 0, admits: None }
}

#[test]
fn decide_mode_with_phase_programs_agrees_with_the_milp_on_40_random_pairs() {
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1205);
    let (mut proven, mut refuted, mut closed_by_programs) = (0, 0, 0);
    for case in 0..40 {
        let (f, g, set) = random_pair(&mut rng, case);
        let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
        let (optimum, worst) = milp_range(&f, &g, &set);
        if worst <= 1e-6 {
            continue;
        }
        for (eps, above) in [(optimum * 1.02 + 1e-9, true), (worst * 0.98, false)] {
            let problem = split_problem(&prepared);
            let (root, _) = problem.bound_piece(prepared.set.lower().to_vec(), prepared.set.upper().to_vec(), None);
            let settings = SplitSettings { time_limit: 60.0, eps: Some(eps), max_pieces_bounded: 400, branching: Branching::Input, batch: 2, milp_search_share: 0.0, ..SplitSettings::default() };
            let outcome = branch_and_bound(&problem, root, (0.0, Vec::new()), &settings, &|_| {});
            let what = format!("case {case} eps {eps:e}: {:?}, bound {:e}, lower {:e}, MILP [{worst:e}, {optimum:e}]", outcome.stop, outcome.bound, outcome.lower);
            if above {
                assert_ne!(outcome.stop, StopReason::Counterexample, "{what}");
                proven += usize::from(outcome.stop == StopReason::Proven);
            } else {
                assert_ne!(outcome.stop, StopReason::Proven, "{what}");
                refuted += usize::from(outcome.stop == StopReason::Counterexample);
            }
            assert!(outcome.bound >= worst, "{what}");
            closed_by_programs += outcome.phase_program_closed;
        }
    }
    println!("{proven} proven, {refuted} refuted, {closed_by_programs} pieces closed by phase programs");
    assert!(proven >= 20, "{proven}");
    assert!(refuted >= 20, "{refuted}");
    assert!(closed_by_programs >= 10, "{closed_by_programs}");
}

#[test]
fn trees_on_the_whole_set_never_go_below_the_worst_case_and_reach_the_milp_optimum_on_30_random_pairs() {
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1207);
    let (mut exact_cases, mut programs, mut cases) = (0, 0, 0);
    for case in 0..30 {
        let (f, g, set) = random_pair(&mut rng, case);
        let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
        let (optimum, worst) = milp_range(&f, &g, &set);
        if worst <= 1e-6 {
            continue;
        }
        cases += 1;
        // bound mode (the target is the lower bound given, 0: the trees run
        // to the end) and decide mode just below the worst case
        for eps in [None, Some(worst * 0.98)] {
            let problem = split_problem(&prepared);
            let (root, _) = problem.bound_piece(prepared.set.lower().to_vec(), prepared.set.upper().to_vec(), None);
            let settings = SplitSettings { time_limit: 20.0, eps, max_pieces_bounded: 200, branching: Branching::Neuron, batch: 2, milp_search_share: 0.0, ..SplitSettings::default() };
            let outcome = branch_and_bound(&problem, root, (0.0, Vec::new()), &settings, &|_| {});
            let what = format!("case {case} eps {eps:?}: {:?}, bound {:e} after {} programs on the set's objectives, MILP [{worst:e}, {optimum:e}]", outcome.stop, outcome.bound, outcome.objective_tree_programs);
            assert!(outcome.bound >= worst, "{what}");
            if eps.is_some() {
                assert_ne!(outcome.stop, StopReason::Proven, "{what}");
            } else {
                programs += outcome.objective_tree_programs;
                exact_cases += usize::from(outcome.bound <= optimum * (1.0 + 1e-6) + 1e-9);
            }
        }
    }
    println!("{cases} cases, {exact_cases} at the MILP's optimum, {programs} programs");
    assert!(cases >= 20, "{cases}");
    // the full trees are exact (the first test): every case ends at the optimum
    assert!(exact_cases * 10 >= cases * 9, "{exact_cases} of {cases}");
    assert!(programs >= 100, "{programs}");
}
