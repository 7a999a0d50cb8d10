//! The first-order SDP solver: its bounds are theorems (never below an
//! error the networks really make), the certificate check stays sound for
//! any multipliers it is handed (perturbed ones included), and on the seed
//! paper's pairs it comes within 1% of the interior-point optimum.

mod common;

use common::{exact_error_lower_bound, random_case};
use deltacert::activation::Activation;
use deltacert::attack::{attack, AttackSettings};
use deltacert::input_set::InputSet;
use deltacert::network::random::{partner, random_mlp, Relation};
use deltacert::problem::{prepare, InputCoupling, Norm};
use deltacert::sdp::first_order::{solve, FirstOrderSettings};
use deltacert::sdp::qc::{magnitude_constraints, QcOptions, Sense};
use deltacert::sdp::solve::SdpProblem;
use deltacert::sdp::{certificate, certify, constraints_for, objective_matrix, Objective, PropagationStart, QcChoice, SdpSettings, SdpSolver};
use rand::{Rng, SeedableRng};

#[test]
fn first_order_bounds_are_never_below_the_error_at_a_witness_on_60_random_pairs() {
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261202);
    let mut certified = 0;
    for case in 0..60 {
        let c = random_case(&mut rng, case);
        let prepared = prepare(&c.f, &c.g, &c.set, &c.coupling).unwrap();
        // every other pair with the neighbours family (incremental QCs between similar neurons)
        let qcs = if case % 2 == 0 { QcChoice::Auto } else { QcChoice::Fixed(QcOptions::parse("default+neighbours:3").unwrap()) };
        let settings = SdpSettings { qcs, solver: SdpSolver::FirstOrder, first_order_iterations: Some(400), ..SdpSettings::default() };
        let result = certify(&prepared, c.norm, &settings);
        let witness = attack(&c.f, &c.g, &c.set, &c.coupling, c.norm, &AttackSettings { samples: 4000, sample_work: None, starts: 6, steps: 60, seed: case as u64 });
        let Some(bound) = result.bound else { continue };
        certified += 1;
        let Some(x) = &witness.input else { continue };
        let x_compressed = witness.compressed_input.clone().unwrap_or_else(|| x.clone());
        let (exact, per_output) = exact_error_lower_bound(&c.f, &c.g, x, &x_compressed, c.norm);
        assert!(exact <= bound, "{}: error at the witness {exact} > first-order bound {bound}", c.description);
        for (j, b) in result.per_output.iter().enumerate() {
            if let Some(b) = b {
                assert!(per_output[j] <= *b, "{} output {j}: error at the witness {} > first-order bound {b}", c.description, per_output[j]);
            }
        }
    }
    assert!(certified >= 57, "only {certified} of 60 pairs got a first-order certificate");
}

/// Uniform points of a box.
fn box_samples(rng: &mut impl Rng, set: &InputSet, count: usize) -> Vec<Vec<f64>> {
    (0..count).map(|_| set.lower().iter().zip(set.upper()).map(|(l, u)| if u > l { rng.gen_range(*l..*u) } else { *l }).collect()).collect()
}

#[test]
fn the_check_stays_sound_for_perturbed_first_order_multipliers() {
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut checked_count = 0;
    for case in 0..12 {
        let activation = [Activation::Relu, Activation::LeakyRelu { alpha: 0.1 }, Activation::Tanh][case % 3];
        let f = random_mlp(&mut rng, 3, &[8, 6], 2, activation);
        let g = partner(&mut rng, &f, [Relation::Quantised, Relation::Pruned][case % 2], activation);
        let set = InputSet::uniform_box(3, -1.0, 0.5).unwrap();
        let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
        let (lifted, mut constraints) = constraints_for(&prepared, QcOptions::DEFAULT);
        constraints.extend(magnitude_constraints(&lifted));
        let mut points = box_samples(&mut rng, &set, 3000);
        let witness = attack(&f, &g, &set, &InputCoupling::Same, Norm::Linf, &AttackSettings::default());
        points.extend(witness.input.clone());
        for (index, sign) in [(0, 1.0), (1, -1.0)] {
            let objective = objective_matrix(&lifted, Objective::Output { index, sign });
            let problem = SdpProblem { dim: lifted.dim, constant: lifted.constant, objective: &objective, constraints: &constraints, distance: None, coordinate_scale: &lifted.coordinate_magnitude };
            let outcome = solve(&problem, Some(0.5), None, &FirstOrderSettings::default());
            // the solver's answer, then eight perturbations of it: random
            // relative noise, a lowered gamma, negative and random multipliers
            for trial in 0..9 {
                let mut multipliers = outcome.multipliers.clone();
                if trial > 0 {
                    multipliers.gamma -= rng.gen_range(0.0..0.5) * multipliers.gamma.abs();
                    for (value, c) in multipliers.constraint.iter_mut().zip(&constraints) {
                        *value *= 1.0 + rng.gen_range(-0.5..0.5);
                        if rng.gen_bool(0.05) {
                            *value = rng.gen_range(-1.0..1.0) * if c.sense == Sense::Zero { 1.0 } else { 0.1 };
                        }
                    }
                }
                let Ok(checked) = certificate::check(lifted.dim, lifted.constant, &objective, &constraints, None, &multipliers, &lifted.coordinate_magnitude) else { continue };
                checked_count += 1;
                let bound = checked.value + lifted.difference[index].error;
                for x in &points {
                    let difference = sign * (f.eval(x)[index] - g.eval(x)[index]);
                    if difference <= 0.0 {
                        continue;
                    }
                    let (_, exact) = exact_error_lower_bound(&f, &g, x, x, Norm::Linf);
                    assert!(exact[index] <= bound, "case {case} output {index} sign {sign} trial {trial}: error {} > checked bound {bound}", exact[index]);
                }
            }
        }
    }
    assert!(checked_count >= 150, "only {checked_count} certificates were checked");
}

/// The first-order solver's checked bound on `max_j |Delta_j|` after a fixed
/// number of steps (no time limit: the same on any machine).
fn first_order_bound(prepared: &deltacert::problem::Prepared, options: QcOptions, steps: usize) -> f64 {
    let (lifted, mut constraints) = constraints_for(prepared, options);
    constraints.extend(magnitude_constraints(&lifted));
    // as `certify` does: propagation's facts, and its certificate as the start
    let warm = PropagationStart::new(prepared, &lifted, None);
    let offset = constraints.len();
    if let Some(w) = &warm {
        constraints.extend(w.constraints.iter().cloned());
    }
    let mut bound = 0.0f64;
    for index in 0..lifted.difference.len() {
        for sign in [1.0, -1.0] {
            let objective = objective_matrix(&lifted, Objective::Output { index, sign });
            let problem = SdpProblem { dim: lifted.dim, constant: lifted.constant, objective: &objective, constraints: &constraints, distance: None, coordinate_scale: &lifted.coordinate_magnitude };
            let start = warm.as_ref().and_then(|w| w.start(&lifted, &constraints, offset, index, sign));
            let outcome = solve(&problem, None, start.as_ref(), &FirstOrderSettings { max_iterations: steps, ..FirstOrderSettings::default() });
            println!("  output {index} sign {sign}: {} after {} steps, gamma {}", outcome.solver_status, outcome.iterations, outcome.multipliers.gamma);
            let checked = certificate::check(lifted.dim, lifted.constant, &objective, &constraints, None, &outcome.multipliers, &lifted.coordinate_magnitude).expect("checked");
            bound = bound.max(checked.value + lifted.difference[index].error);
        }
    }
    bound
}

#[test]
fn first_order_is_within_one_percent_of_interior_point_on_the_paper_pairs() {
    common::single_threaded_blas();
    for (reference, compressed) in [("paper_quant_orig", "paper_quant_q"), ("paper_prune_orig", "paper_prune_pruned"), ("paper_cmp_nn1", "paper_cmp_nn2")] {
        let f = common::model(&format!("paper/{reference}.onnx"));
        let g = common::model(&format!("paper/{compressed}.onnx"));
        let set = InputSet::uniform_box(1, -1.0, 1.0).unwrap();
        let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
        let interior = certify(&prepared, Norm::Linf, &SdpSettings { qcs: QcChoice::Fixed(QcOptions::DEFAULT), solver: SdpSolver::InteriorPoint, ..SdpSettings::default() }).bound.expect("interior point certified");
        let first = first_order_bound(&prepared, QcOptions::DEFAULT, 60_000);
        // the true error, from below: exact enclosures on a grid of 20,001 points
        // (the input is 1-D: the grid's largest error is within the
        // networks' Lipschitz constant times 5e-5 of the true one)
        let sampled = (0..=20_000).map(|k| common::exact_error_lower_bound(&f, &g, &[-1.0 + k as f64 / 10_000.0], &[-1.0 + k as f64 / 10_000.0], Norm::Linf).0).fold(0.0, f64::max);
        println!("{reference}: first order {first}, interior point {interior}, sampled {sampled}");
        assert!(first <= 1.01 * interior, "{reference}: first order {first} vs interior point {interior}");
        // the first-order problem also holds propagation's facts (on intervals
        // tightened by optimised slopes), so it may end below the
        // interior-point optimum of the QCs alone, never below the truth
        assert!(first >= sampled, "{reference}: first order {first} below the sampled error {sampled}");
    }
}

#[test]
fn a_warm_start_is_never_worse_than_the_point_it_starts_from() {
    common::single_threaded_blas();
    let f = common::model("paper/paper_quant_orig.onnx");
    let g = common::model("paper/paper_quant_q.onnx");
    let set = InputSet::uniform_box(1, -1.0, 1.0).unwrap();
    let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
    let (lifted, mut constraints) = constraints_for(&prepared, QcOptions::DEFAULT);
    constraints.extend(magnitude_constraints(&lifted));
    let objective = objective_matrix(&lifted, Objective::Output { index: 0, sign: -1.0 });
    let problem = SdpProblem { dim: lifted.dim, constant: lifted.constant, objective: &objective, constraints: &constraints, distance: None, coordinate_scale: &lifted.coordinate_magnitude };
    let check = |m: &deltacert::sdp::solve::Multipliers| certificate::check(lifted.dim, lifted.constant, &objective, &constraints, None, m, &lifted.coordinate_magnitude).expect("checked").value;
    let cold = solve(&problem, None, None, &FirstOrderSettings { max_iterations: 300, ..FirstOrderSettings::default() });
    let warm = solve(&problem, None, Some(&cold.multipliers), &FirstOrderSettings { max_iterations: 300, ..FirstOrderSettings::default() });
    let (cold_bound, warm_bound) = (check(&cold.multipliers), check(&warm.multipliers));
    assert!(warm_bound <= cold_bound * (1.0 + 1e-9), "warm {warm_bound} vs its start {cold_bound}");
    // a start of the wrong length is ignored (the Gershgorin start is used)
    let wrong = deltacert::sdp::solve::Multipliers { gamma: 0.0, gamma_x: 0.0, constraint: vec![1.0] };
    assert!(check(&solve(&problem, None, Some(&wrong), &FirstOrderSettings { max_iterations: 10, ..FirstOrderSettings::default() }).multipliers).is_finite());
}

/// The first-order SDP starts from differential propagation's certificate
/// (its relaxation lines as linear facts, the back-substitution's
/// coefficients as their multipliers): on plain close pairs (same widths and
/// activations, quantised weights, one input, a box, where propagation's
/// bound is its back-substitution's) every output's checked SDP bound is at
/// most the fixed-slope propagation bound (up to the start's 0.1% share),
/// even after a few steps; and it stays above the error at sampled points.
/// The steps are counted, not timed, so a slow or busy machine sees the same
/// run.
#[test]
fn the_first_order_start_is_never_worse_than_propagation() {
    const STEPS: usize = 20;
    use deltacert::propagation::{DifferentialPair, DifferentialRegion};
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1203);
    let (mut compared, mut tighter) = (0, 0);
    for case in 0..16 {
        let activation = [Activation::Relu, Activation::LeakyRelu { alpha: 0.1 }, Activation::Tanh, Activation::Relu][case % 4];
        let inputs = rng.gen_range(2..=6);
        let hidden = [rng.gen_range(8..=24), rng.gen_range(6..=16)];
        let f = random_mlp(&mut rng, inputs, &hidden, 2, activation);
        let g = partner(&mut rng, &f, Relation::Quantised, activation);
        let upper = rng.gen_range(-0.5..1.0);
        let set = InputSet::uniform_box(inputs, -1.0, upper).unwrap();
        let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
        let pair = DifferentialPair::new(&prepared.reference, &prepared.compressed);
        assert!(pair.is_plain(), "case {case}: not plain");
        let propagation = pair.bounds_within(&DifferentialRegion::same_input(set.lower().to_vec(), set.upper().to_vec()), None).per_output_abs();
        let settings = SdpSettings { qcs: QcChoice::Fixed(QcOptions::DEFAULT), solver: SdpSolver::FirstOrder, first_order_iterations: Some(STEPS), ..SdpSettings::default() };
        let result = certify(&prepared, Norm::Linf, &settings);
        let samples = box_samples(&mut rng, &set, 2000);
        for (j, bound) in result.per_output.iter().enumerate() {
            let bound = bound.unwrap_or_else(|| panic!("case {case} output {j}: no first-order certificate"));
            assert!(bound <= propagation[j] * (1.0 + 2e-3) + 1e-12, "case {case} output {j}: SDP {bound} above propagation {}", propagation[j]);
            for x in &samples {
                let (exact, per_output) = exact_error_lower_bound(&f, &g, x, x, Norm::Linf);
                let _ = exact;
                assert!(per_output[j] <= bound, "case {case} output {j}: error {} above the SDP bound {bound}", per_output[j]);
            }
            compared += 1;
            tighter += usize::from(bound < 0.999 * propagation[j]);
        }
    }
    println!("{compared} outputs compared, {tighter} more than 0.1% tighter than propagation");
    assert!(compared >= 30);
}

/// The same over sets cut out of their box: L2 balls (every other case) and
/// boxes cut by two rows through points near the centre, half of each read
/// through an input normalisation with ranges 0.1 to 100 apart (an
/// elongated ellipsoid, and rows with unequal weights, in the networks'
/// coordinates); a third with `g` seeing its own input `x'` within a
/// quantisation step of `x`, a third with `x'` anywhere in the set. The start closes the certificate's input form `c . x` with
/// the L2 constraint (multiplier `||S^-1 c|| / 2r`) or the rows (propagation's
/// Lagrange multipliers, the sides for the rest) where that is below the
/// box's maximum, and `d . (x - x')` by the bounds on `x - x'`, so every
/// output's checked bound after a few steps is at most fixed-slope
/// propagation's back-substitution over the same set (computed here from its
/// certificate: the constant plus the least of the box's maximum, `c . x0 +
/// r ||S^-1 c||`, and the rows' dual bound, plus `max d . (x - x')`); it
/// started from the bare Gershgorin point there, orders of magnitude above.
/// (Propagation's own bound may be lower still, where the difference of the
/// two networks' output intervals beats the back-substitution; the start
/// does not hold that one.) And the bound stays above the error at points
/// sampled in the set as written.
#[test]
fn the_first_order_start_over_a_ball_or_polytope_is_never_worse_than_propagation() {
    const STEPS: usize = 20;
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1206);
    let (mut compared, mut cut) = (0, 0);
    for case in 0..48 {
        // every activation with every kind of set, normalised or not, and every coupling
        let activation = [Activation::Relu, Activation::LeakyRelu { alpha: 0.1 }, Activation::Tanh, Activation::Sigmoid][case % 4];
        let kind = if case / 4 % 2 == 0 { SetKind::Ball } else { SetKind::Rows };
        let c = cut_case(&mut rng, activation, Relation::Quantised, 2, kind, case / 8 % 2 == 1, case / 16 % 3);
        let prepared = prepare(&c.f, &c.g, &c.set, &c.coupling).unwrap();
        let (back_substitution, over_box_alone) = back_substitution_over_set(&prepared);
        let settings = SdpSettings { qcs: QcChoice::Fixed(QcOptions::DEFAULT), solver: SdpSolver::FirstOrder, first_order_iterations: Some(STEPS), ..SdpSettings::default() };
        let result = certify(&prepared, Norm::Linf, &settings);
        let pairs = admissible_pairs(&mut rng, &c, 2000);
        for (j, bound) in result.per_output.iter().enumerate() {
            let bound = bound.unwrap_or_else(|| panic!("case {case} output {j}: no first-order certificate"));
            let reference = back_substitution[j];
            assert!(bound <= reference.abs() * (1.0 + 2e-3) + 1e-12, "case {case} output {j} ({:?}): SDP {bound} above propagation's back-substitution {reference}", c.coupling);
            for (x, x_compressed) in &pairs {
                let (_, per_output) = exact_error_lower_bound(&c.f, &c.g, x, x_compressed, Norm::Linf);
                assert!(per_output[j] <= bound, "case {case} output {j}: error {} above the SDP bound {bound}", per_output[j]);
            }
            compared += 1;
            cut += usize::from(bound < 0.99 * over_box_alone[j]);
        }
    }
    println!("{compared} outputs compared, {cut} bounded at least 1% below the box's closure");
    assert!(compared >= 90);
    // the cut must matter in the test, not only the box around it
    assert!(cut >= 24, "only {cut} outputs were bounded through the ball or the rows");
}

/// Under the L2 norm the outputs' solves run first, then `||Delta||^2`
/// starts from the products `(U_j - Delta_j)(Delta_j - L_j) >= 0` of the
/// intervals they (and propagation) proved, each with multiplier 1
/// (cancelling the objective's `Delta_j^2`), and `|U_j + L_j|` times each
/// output's checked certificate. After a few counted steps on plain pairs of
/// three outputs (boxes, L2 balls and boxes cut by rows, normalised or not;
/// one input, quantised inputs or independent inputs):
/// - the squared solve's own bound is at most `sqrt(sum_j max(B_j^+,
///   B_j^-)^2)`, `B_j^+-` the outputs' checked bounds (up to the start's 0.1%
///   share and rounding);
/// - the reported bound is at most `sqrt(sum_j P_j^2)`, `P_j` fixed-slope
///   propagation's back-substitution on `|Delta_j|` over the set;
/// - both stay above `||f(x) - g(x')||_2` at pairs sampled in the set.
/// Before, the squared solve started from the Gershgorin point, orders of
/// magnitude above.
#[test]
fn the_first_order_start_under_the_l2_norm_is_never_worse_than_propagation() {
    const STEPS: usize = 20;
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1207);
    let (mut compared, mut tighter) = (0, 0);
    for case in 0..36 {
        let activation = [Activation::Relu, Activation::LeakyRelu { alpha: 0.1 }, Activation::Tanh, Activation::Sigmoid][case % 4];
        let kind = [SetKind::Box, SetKind::Ball, SetKind::Rows][case / 4 % 3];
        let normalised = rng.gen_bool(0.5);
        let c = cut_case(&mut rng, activation, Relation::Quantised, 3, kind, normalised, case / 12 % 3);
        let prepared = prepare(&c.f, &c.g, &c.set, &c.coupling).unwrap();
        let (back_substitution, _) = back_substitution_over_set(&prepared);
        let propagation = back_substitution.iter().map(|b| b * b).sum::<f64>().sqrt();
        let settings = SdpSettings { qcs: QcChoice::Fixed(QcOptions::DEFAULT), solver: SdpSolver::FirstOrder, first_order_iterations: Some(STEPS), ..SdpSettings::default() };
        let result = certify(&prepared, Norm::L2, &settings);
        let describe = format!("case {case} ({kind:?}, {:?}, normalised {normalised})", c.coupling);
        let bound = result.bound.unwrap_or_else(|| panic!("{describe}: no first-order certificate ({:?})", result.solves.iter().find_map(|s| s.refusal.clone())));
        assert!(bound <= propagation * (1.0 + 2e-3) + 1e-12, "{describe}: SDP {bound} above propagation's {propagation}");
        // each solve's bound over the set (the distance term where x' is free)
        let diameter_sq: f64 = prepared.set.lower().iter().zip(prepared.set.upper()).map(|(l, u)| (u - l) * (u - l)).sum();
        let over_set = |k: usize| {
            let checked = result.solves[k].checked.as_ref().unwrap_or_else(|| panic!("{describe}: solve {k} has no certificate"));
            checked.value + checked.gamma_x * diameter_sq
        };
        assert_eq!(result.solves.len(), 7, "{describe}: six output solves and the squared one");
        let of_outputs = (0..3).map(|j| over_set(2 * j).max(over_set(2 * j + 1)).max(0.0).powi(2)).sum::<f64>().sqrt();
        let squared = over_set(6).max(0.0).sqrt();
        assert!(squared <= of_outputs * (1.0 + 2e-3) + 1e-9, "{describe}: the squared solve's {squared} above its outputs' {of_outputs}");
        for (x, x_compressed) in admissible_pairs(&mut rng, &c, 2000) {
            let (error, _) = exact_error_lower_bound(&c.f, &c.g, &x, &x_compressed, Norm::L2);
            assert!(error <= bound && error <= squared, "{describe}: error {error} above the SDP bound {bound} or the squared solve's {squared}");
        }
        compared += 1;
        tighter += usize::from(bound < 0.99 * propagation);
    }
    println!("{compared} cases compared, {tighter} at least 1% below propagation's L2 bound");
    assert_eq!(compared, 36);
}

/// Structurally pruned pairs (whole hidden neurons of `g` removed, the
/// others paired with `f`'s through its kept-neuron map): propagation pads
/// `g` with neurons that have no weights, and the start's facts give those
/// `v_g = 0`, `a_g = sigma(0)`; so after a few counted steps every output's
/// checked bound is at most propagation's back-substitution over the set
/// (+0.2%), under the L-inf norm and, combined, under the L2 norm, over
/// boxes, balls and rows with every coupling; and above the error at pairs
/// sampled in the set. Before, these pairs started from the Gershgorin point.
#[test]
fn the_first_order_start_on_structurally_pruned_pairs_is_never_worse_than_propagation() {
    const STEPS: usize = 20;
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1208);
    let mut compared = 0;
    for case in 0..24 {
        let activation = [Activation::Relu, Activation::LeakyRelu { alpha: 0.1 }, Activation::Tanh, Activation::Sigmoid][case % 4];
        let kind = [SetKind::Box, SetKind::Ball, SetKind::Rows][case / 4 % 3];
        let norm = if case / 12 == 0 { Norm::Linf } else { Norm::L2 };
        let normalised = rng.gen_bool(0.5);
        let c = cut_case(&mut rng, activation, Relation::StructurallyPruned, 2, kind, normalised, case % 3);
        assert!(c.g.kept_neurons.is_some() && c.g.layers.iter().zip(&c.f.layers).any(|(a, b)| a.width() < b.width()), "case {case}: not structurally pruned");
        let prepared = prepare(&c.f, &c.g, &c.set, &c.coupling).unwrap();
        let (back_substitution, _) = back_substitution_over_set(&prepared);
        let settings = SdpSettings { qcs: QcChoice::Fixed(QcOptions::DEFAULT), solver: SdpSolver::FirstOrder, first_order_iterations: Some(STEPS), ..SdpSettings::default() };
        let result = certify(&prepared, norm, &settings);
        let describe = format!("case {case} ({activation:?}, {kind:?}, {:?}, {norm:?})", c.coupling);
        let bound = result.bound.unwrap_or_else(|| panic!("{describe}: no first-order certificate"));
        let reference = match norm {
            Norm::Linf => back_substitution.iter().fold(0.0f64, |m, b| m.max(b.abs())),
            Norm::L2 => back_substitution.iter().map(|b| b * b).sum::<f64>().sqrt(),
        };
        assert!(bound <= reference * (1.0 + 2e-3) + 1e-12, "{describe}: SDP {bound} above propagation's back-substitution {reference}");
        for (x, x_compressed) in admissible_pairs(&mut rng, &c, 1000) {
            let (error, _) = exact_error_lower_bound(&c.f, &c.g, &x, &x_compressed, norm);
            assert!(error <= bound, "{describe}: error {error} above the SDP bound {bound}");
        }
        compared += 1;
    }
    assert_eq!(compared, 24);
}

/// The kind of set of a [`CutCase`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum SetKind {
    /// A box around the centre.
    Box,
    /// An L2 ball.
    Ball,
    /// A box cut by two rows through points near its centre.
    Rows,
}

/// A plain pair over a set, with how `g` sees its input.
struct CutCase {
    f: deltacert::network::Network,
    g: deltacert::network::Network,
    set: InputSet,
    coupling: InputCoupling,
    kind: SetKind,
    center: Vec<f64>,
    radius: f64,
    /// The quantisation step of [`InputCoupling::Quantised`].
    step: f64,
}

/// A random pair (`g` related to `f` by `relation`, 2-6 inputs, two hidden
/// layers, `outputs` outputs) over a set of `kind` around a random centre, read through an
/// input normalisation with ranges 0.1 to 100 apart when `normalised` (an
/// elongated ellipsoid, and rows with unequal weights, in the networks'
/// coordinates), with one input (`coupling_kind` 0), `x'` within a
/// quantisation step of `x` (1) or anywhere in the set (2).
fn cut_case(rng: &mut impl Rng, activation: Activation, relation: Relation, outputs: usize, kind: SetKind, normalised: bool, coupling_kind: usize) -> CutCase {
    use deltacert::network::InputTransform;
    let inputs = rng.gen_range(2..=6);
    let hidden = [rng.gen_range(8..=24), rng.gen_range(6..=16)];
    let mut f = random_mlp(rng, inputs, &hidden, outputs, activation);
    let mut g = partner(rng, &f, relation, activation);
    let center: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-0.5..0.5)).collect();
    let radius = rng.gen_range(0.05..1.0);
    if normalised {
        let range: Vec<f64> = (0..inputs).map(|_| 10f64.powf(rng.gen_range(-1.0..2.0))).collect();
        let transform = InputTransform { min: vec![-1e3; inputs], max: vec![1e3; inputs], mean: vec![0.0; inputs], range };
        f.input_transform = Some(transform.clone());
        g.input_transform = Some(transform);
    }
    let lower: Vec<f64> = center.iter().map(|c| c - radius).collect();
    let upper: Vec<f64> = center.iter().map(|c| c + radius).collect();
    let set = match kind {
        SetKind::Box => InputSet::from_box(lower, upper).unwrap(),
        SetKind::Ball => InputSet::ball(center.clone(), radius, true).unwrap(),
        SetKind::Rows => {
            let rows: Vec<(Vec<f64>, f64)> = (0..2)
                .map(|_| {
                    let a: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-1.0..1.0)).collect();
                    let b = a.iter().zip(&center).map(|(x, c)| x * c).sum::<f64>() + 0.1 * radius;
                    (a, b)
                })
                .collect();
            InputSet::from_box(lower, upper).unwrap().with_polytope(rows).unwrap()
        }
    };
    let step = 0.05 * radius;
    let coupling = [InputCoupling::Same, InputCoupling::Quantised(vec![step; inputs]), InputCoupling::Independent][coupling_kind].clone();
    CutCase { f, g, set, coupling, kind, center, radius, step }
}

/// Per output, the larger over both signs of fixed-slope propagation's
/// back-substitution over the set (in the networks' coordinates), computed
/// here from its certificate: the constant plus the least of the box's
/// maximum of `c . x`, `c . x0 + r ||S^-1 c||` (a ball) and the rows' dual
/// bound, plus `max d . (x - x')` over the bounds on `x - x'`; and the
/// same with the box's maximum alone.
fn back_substitution_over_set(prepared: &deltacert::problem::Prepared) -> (Vec<f64>, Vec<f64>) {
    use deltacert::propagation::{polytope, DifferentialPair};
    let pair = DifferentialPair::new(&prepared.reference, &prepared.compressed);
    assert!(pair.is_plain_or_pruned(), "neither a plain nor a pruned pair");
    let mapped = &prepared.set;
    let (lower, upper) = (mapped.lower(), mapped.upper());
    let region = deltacert::branch_and_bound::coupled_region(mapped, &prepared.coupling, lower, upper);
    let fixed = pair.bounds_within(&region, None);
    let outputs = prepared.reference.output_dim();
    let mut over_set_bound = vec![0.0f64; outputs];
    let mut over_box_bound = vec![0.0f64; outputs];
    for j in 0..outputs {
        for sign in [1.0, -1.0] {
            let certificate = pair.output_certificate(&fixed, j, sign).expect("a certificate");
            let c = &certificate.input;
            let over_box: f64 = c.iter().zip(lower.iter().zip(upper)).map(|(c, (l, u))| (c * l).max(c * u)).sum();
            let over_set = match mapped.ball_constraint() {
                Some((z0, r)) => {
                    let scales = mapped.ball_scales().map_or(vec![1.0; c.len()], <[f64]>::to_vec);
                    c.iter().zip(z0).map(|(c, x)| c * x).sum::<f64>() + r * c.iter().zip(&scales).map(|(c, s)| (c / s) * (c / s)).sum::<f64>().sqrt()
                }
                None => {
                    let rows = mapped.polytope();
                    polytope::dual_bound(c, lower, upper, rows, &polytope::multipliers(c, lower, upper, rows))
                }
            };
            let over_shift: f64 = certificate.shift.iter().zip(region.shift_lower.iter().zip(&region.shift_upper)).map(|(d, (l, u))| (d * l).max(d * u)).sum();
            over_set_bound[j] = over_set_bound[j].max(certificate.constant + over_box.min(over_set) + over_shift);
            over_box_bound[j] = over_box_bound[j].max(certificate.constant + over_box + over_shift);
        }
    }
    (over_set_bound, over_box_bound)
}

/// `count` pairs `(x, x')` the case admits: `x` in the set as written (in the
/// ball a uniform direction and a radius `r U^(1/n)`, a hair inside; in the
/// box, those the rows keep), and `x'` equal to `x`, moved towards another
/// point of the set by at most the step (if that stays in the set), or
/// another point of the set, as the coupling says.
fn admissible_pairs(rng: &mut impl Rng, c: &CutCase, count: usize) -> Vec<(Vec<f64>, Vec<f64>)> {
    let inputs = c.center.len();
    let mut points: Vec<Vec<f64>> = Vec::new();
    while points.len() < 2 * count {
        let x: Vec<f64> = if c.kind == SetKind::Ball {
            let direction: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-1.0..1.0f64)).collect();
            let length = direction.iter().map(|d| d * d).sum::<f64>().sqrt().max(1e-12);
            let reach = 0.999_999 * c.radius * rng.gen_range(0.0..1.0f64).powf(1.0 / inputs as f64);
            c.center.iter().zip(&direction).map(|(x0, d)| x0 + reach * d / length).collect()
        } else {
            c.set.lower().iter().zip(c.set.upper()).map(|(l, u)| rng.gen_range(*l..*u)).collect()
        };
        if c.set.holds(&x) {
            points.push(x);
        }
    }
    points
        .chunks(2)
        .map(|two| {
            let (x, other) = (&two[0], &two[1]);
            let x_compressed: Vec<f64> = match &c.coupling {
                InputCoupling::Same => x.clone(),
                InputCoupling::Quantised(_) => {
                    let moved: Vec<f64> = x.iter().zip(other).map(|(a, b)| a + (b - a).clamp(-c.step, c.step)).collect();
                    if c.set.holds(&moved) { moved } else { x.clone() }
                }
                InputCoupling::Independent => other.clone(),
            };
            (x.clone(), x_compressed)
        })
        .collect()
}

/// Decide mode: a first-order solve stops once its output is proven at most
/// `eps` (long before its step cap), and its bound is still a theorem; with
/// `eps` below the true error no solve can stop early and every one runs to
/// its cap. Steps are counted, not timed.
#[test]
fn in_decide_mode_first_order_solves_stop_once_eps_is_proven() {
    const CAP: usize = 60_000;
    common::single_threaded_blas();
    let f = common::model("paper/paper_quant_orig.onnx");
    let g = common::model("paper/paper_quant_q.onnx");
    let set = InputSet::uniform_box(1, -1.0, 1.0).unwrap();
    let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
    // the error at x = 1 (the worst input, found by the interior-point SDP's tight bound)
    let observed = common::exact_error_lower_bound(&f, &g, &[1.0], &[1.0], Norm::Linf).0;
    for eps in [3.9, 4.5] {
        let settings = SdpSettings { solver: SdpSolver::FirstOrder, first_order_iterations: Some(CAP), decide_eps: Some(eps), ..SdpSettings::default() };
        let result = certify(&prepared, Norm::Linf, &settings);
        let bound = result.bound.expect("certified");
        println!("eps {eps}: bound {bound}, steps {:?}", result.solves.iter().map(|s| s.iterations).collect::<Vec<_>>());
        assert!(observed <= bound && bound <= eps, "eps {eps}: bound {bound}, observed {observed}");
        for solve in &result.solves {
            assert_eq!(solve.status, deltacert::sdp::solve::SolveStatus::Solved, "eps {eps}, {}: {}", solve.objective, solve.solver_status);
            assert!((solve.iterations as usize) < CAP / 4, "eps {eps}, {}: {} steps", solve.objective, solve.iterations);
        }
    }
    // eps below the error: nothing can prove it, every solve runs its steps
    let settings = SdpSettings { solver: SdpSolver::FirstOrder, first_order_iterations: Some(200), decide_eps: Some(0.9 * observed), ..SdpSettings::default() };
    let result = certify(&prepared, Norm::Linf, &settings);
    assert!(result.bound.expect("certified") >= observed);
    let longest = result.solves.iter().map(|s| s.iterations).max().unwrap_or(0);
    assert!(longest >= 150, "no solve ran its steps: {longest}");
}

#[test]
fn auto_runs_the_first_order_sdp_on_the_whole_set_where_the_inputs_are_many() {
    use deltacert::bound::{bound, BoundRequest, Method};
    use deltacert::compress::{quantize, QuantScheme};
    use deltacert::sdp::SdpResult;
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261207);
    // (inputs, hidden widths): many inputs and an estimated dimension above
    // the interior point's share; then ACAS Xu's input count
    for (inputs, hidden) in [(12usize, [20usize, 20]), (5, [40, 40])] {
        let f = random_mlp(&mut rng, inputs, &hidden, 2, Activation::Relu);
        let (g, _) = quantize(&f, QuantScheme::FixedTruncate { fraction_bits: 4 }).unwrap();
        let set = InputSet::uniform_box(inputs, -0.5, 0.5).unwrap();
        for asked in [SdpSolver::Auto, SdpSolver::InteriorPoint] {
            let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, Method::AUTO);
            request.time_limit = Some(3.0);
            request.sdp.solver = asked;
            let report = bound(&f, &g, &request).unwrap();
            let description = format!("{inputs} inputs, {asked:?} asked for");
            common::assert_sound(&f, &g, &report, &set, &description);
            let certified = report.certified_bound.expect("certified");
            // every error at sampled inputs, enclosed exactly, stays below
            for x in box_samples(&mut rng, &set, 500) {
                let (exact, _) = exact_error_lower_bound(&f, &g, &x, &x, Norm::Linf);
                assert!(exact <= certified, "{description}: error {exact} at {x:?} > certified {certified}");
            }
            let estimated = report.details.propagate.as_ref().expect("propagation's evidence").estimated_sdp_dim;
            assert!(estimated > 48, "{description}: estimated dimension {estimated}, the interior point's share");
            let sdp = report.details.get::<SdpResult>("sdp");
            if inputs >= 10 && asked == SdpSolver::Auto {
                let sdp = sdp.unwrap_or_else(|| panic!("{description}: no SDP ran"));
                assert_eq!(sdp.solver, SdpSolver::FirstOrder, "{description}");
                let sdp_bound = sdp.bound.unwrap_or_else(|| panic!("{description}: the SDP gave no certificate: {:?}", report.note));
                // the report keeps the smaller, per output
                assert!(certified <= sdp_bound, "{description}: {certified} > the SDP's {sdp_bound}");
                for (j, (kept, solved)) in report.per_output_bound.iter().zip(&sdp.per_output).enumerate() {
                    if let (Some(kept), Some(solved)) = (kept, solved) {
                        assert!(kept <= solved, "{description}, output {j}: {kept} > the SDP's {solved}");
                    }
                }
            } else {
                assert!(sdp.is_none(), "{description}: the SDP ran ({:?})", sdp.map(|s| s.solver));
            }
        }
    }
}

#[test]
fn in_decide_mode_under_the_l2_norm_the_outputs_stop_at_their_share_of_eps() {
    use deltacert::compress::{quantize, QuantScheme};
    const CAP: usize = 40_000;
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261208);
    let f = random_mlp(&mut rng, 6, &[10, 10], 3, Activation::Relu);
    let (g, _) = quantize(&f, QuantScheme::FixedTruncate { fraction_bits: 4 }).unwrap();
    let set = InputSet::uniform_box(6, -0.5, 0.5).unwrap();
    let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
    // each output's bound after a short solve (L-inf objectives)
    let settings = SdpSettings { solver: SdpSolver::FirstOrder, first_order_iterations: Some(2_000), ..SdpSettings::default() };
    let per_output: Vec<f64> = certify(&prepared, Norm::Linf, &settings).per_output.iter().map(|b| b.expect("certified")).collect();
    let largest = per_output.iter().copied().fold(0.0, f64::max);
    let witness = attack(&f, &g, &set, &InputCoupling::Same, Norm::L2, &AttackSettings { samples: 4000, sample_work: None, starts: 6, steps: 60, seed: 1 });
    let x = witness.input.expect("a witness");
    let observed = exact_error_lower_bound(&f, &g, &x, &x, Norm::L2).0;
    // eps whose share per output (eps / sqrt 3) is above every output's bound:
    // every output's solve stops early, and the squared solve is not needed
    let eps = 1.2 * 3f64.sqrt() * largest;
    let settings = SdpSettings { solver: SdpSolver::FirstOrder, first_order_iterations: Some(CAP), decide_eps: Some(eps), ..SdpSettings::default() };
    let result = certify(&prepared, Norm::L2, &settings);
    let bound = result.bound.expect("certified");
    println!("eps {eps}: bound {bound}, observed {observed}, steps {:?}", result.solves.iter().map(|s| (s.objective.clone(), s.iterations, s.solver_status.clone())).collect::<Vec<_>>());
    assert!(observed <= bound && bound <= eps, "bound {bound}, eps {eps}, observed {observed}");
    for solve in &result.solves {
        assert_eq!(solve.status, deltacert::sdp::solve::SolveStatus::Solved, "{}: {}", solve.objective, solve.solver_status);
        assert!((solve.iterations as usize) < CAP / 4, "{}: {} steps", solve.objective, solve.iterations);
    }
    let squared = result.solves.iter().find(|s| s.objective == "l2").expect("the squared objective's report");
    assert!(squared.solver_status.contains("NotNeeded"), "{}", squared.solver_status);
    // eps below the error: nothing proves it, the outputs' solves and the
    // squared solve run their steps, and the bound stays above the error
    let settings = SdpSettings { solver: SdpSolver::FirstOrder, first_order_iterations: Some(300), decide_eps: Some(0.9 * observed), ..SdpSettings::default() };
    let result = certify(&prepared, Norm::L2, &settings);
    assert!(result.bound.expect("certified") >= observed);
    let steps: Vec<(String, u32)> = result.solves.iter().map(|s| (s.objective.clone(), s.iterations as u32)).collect();
    assert!(result.solves.iter().all(|s| !s.solver_status.contains("NotNeeded")) && steps.iter().filter(|(_, n)| *n >= 150).count() >= 4, "{steps:?}");
}
