//! The SDP bound is a theorem: no sampled error may exceed it.
//!
//! 300 seeded random pairs (ReLU, tanh, sigmoid, leaky ReLU; 1–8 inputs; 1–3
//! hidden layers up to width 16; pruned, structurally pruned, quantised,
//! unrelated; same, quantised and independent inputs; boxes, L2 balls and
//! polytopes; linf and l2), each
//! checked against 10,000 uniform samples plus projected gradient ascent.

mod common;

use common::{assert_sound, random_case};
use deltacert::bound::{bound, BoundRequest, Method, Status};
use deltacert::attack::AttackSettings;
use rand::SeedableRng;

#[test]
fn no_sampled_error_exceeds_the_certified_bound_on_300_random_pairs() {
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261126);
    let (mut certified, mut total) = (0, 0);
    let mut ratios = Vec::new();
    for case in 0..300 {
        let c = random_case(&mut rng, case);
        let mut request = BoundRequest::new(c.set.clone(), c.coupling.clone(), c.norm, Method::SDP);
        request.attack = AttackSettings { samples: 10_000, sample_work: None, starts: 8, steps: 60, seed: case as u64 };
        let report = bound(&c.f, &c.g, &request).unwrap();
        total += 1;
        assert_sound(&c.f, &c.g, &report, &c.set, &c.description);
        let Some(certified_bound) = report.certified_bound else { continue };
        certified += 1;
        assert_eq!(report.status, Status::Certified);
        if report.lower_bound > 1e-9 {
            ratios.push(certified_bound / report.lower_bound);
        }
    }
    // the method must also be useful: nearly every pair gets a certificate
    assert!(certified * 100 >= total * 95, "only {certified} of {total} pairs certified");
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    println!("{certified}/{total} certified; median ratio certified/observed {median:.3}; 90th percentile {:.3}", ratios[ratios.len() * 9 / 10]);
}

/// The rounding of `||Delta||^2`'s entries is counted before the outputs'
/// terms cancel: with `Delta_1 = x_0 + x_1` and `Delta_2 = x_0 - x_1` the
/// off-diagonal entry sums to 0 and is dropped, yet both of its products
/// were rounded; the padding's magnitude counts them (the summed entries'
/// magnitude does not).
#[test]
fn the_squared_norm_pads_for_the_terms_that_cancel() {
    use deltacert::activation::Activation;
    use deltacert::input_set::InputSet;
    use deltacert::network::{Layer, Matrix, Network};
    use deltacert::problem::{prepare, InputCoupling};
    use deltacert::sdp::qc::QcOptions;
    use deltacert::sdp::{constraints_for, objective_matrix, squared_norm_rounding_magnitude, Objective};
    let net = |weights: Vec<f64>| Network { input_dim: 2, input_transform: None, layers: vec![Layer::dense(0, Matrix::from_rows(2, 2, weights), vec![0.0; 2], Activation::Identity)], kept_neurons: None, source_dtype: "float64".into(), output_softmax: false };
    let (f, g) = (net(vec![1.0, 1.0, 1.0, -1.0]), net(vec![0.0; 4]));
    let set = InputSet::uniform_box(2, -1.0, 1.0).unwrap();
    let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
    let (lifted, _) = constraints_for(&prepared, QcOptions::DEFAULT);
    let objective = objective_matrix(&lifted, Objective::SquaredNorm);
    let summed = objective.magnitude(&lifted.coordinate_magnitude);
    let padded = squared_norm_rounding_magnitude(&lifted);
    // entries: 2 x_0^2 + 2 x_1^2 (magnitude 4); the products: |x_0 + x_1|^2 + |x_0 - x_1|^2 terms (magnitude 8)
    assert!(summed <= 4.0 * (1.0 + 1e-12) && padded >= 8.0, "summed {summed}, padded {padded}");
}

/// An L2 ball read through an input normalisation with unequal ranges is
/// the ellipsoid `||diag(range) (z - c_z)|| <= r` in the networks'
/// coordinates, and the SDP's input constraint is that ellipsoid, not the
/// ball enclosing it. `relu(x_1) + relu(x_2)` against 0 over the unit ball
/// around `(0.3, -0.2)` (ranges 1 and 1000) errs at most `0.1 + sqrt 2`,
/// at `c + (1, 1) / sqrt 2`; the enclosing ball cut by the box gave about
/// 2.1. Both solvers must hold the truth and the interior-point one, with
/// the full QC set, must reach it.
#[test]
fn the_sdp_bounds_a_ball_through_unequal_ranges_as_the_ellipsoid() {
    use deltacert::input_set::InputSet;
    use deltacert::problem::{InputCoupling, Norm};
    use deltacert::sdp::{qc::QcOptions, QcChoice, SdpSolver};
    let (f, g) = common::relu_sum_through_unequal_ranges();
    let set = InputSet::ball(vec![0.3, -0.2], 1.0, true).unwrap();
    // c_1 + c_2 + sqrt 2 of the centre's doubles enclosed: each operation
    // correctly rounded, then stepped outward
    let truth_low = ((0.3f64 + -0.2f64).next_down() + 2f64.sqrt().next_down()).next_down();
    let truth_high = ((0.3f64 + -0.2f64).next_up() + 2f64.sqrt().next_up()).next_up();
    let truth = 0.1 + 2f64.sqrt();
    for solver in [SdpSolver::InteriorPoint, SdpSolver::FirstOrder] {
        let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, Method::SDP);
        request.sdp.solver = solver;
        request.sdp.qcs = QcChoice::Fixed(QcOptions::FULL);
        // counted steps, not time: the same run on any machine
        request.sdp.first_order_iterations = Some(20_000);
        let report = bound(&f, &g, &request).expect("bounded");
        let certified = report.certified_bound.expect("a certificate");
        assert!(certified >= truth_low, "{solver:?}: certified {certified} below the error {truth}");
        assert!(report.lower_bound <= truth_high, "{solver:?}: lower bound {}", report.lower_bound);
        let room = if solver == SdpSolver::InteriorPoint { 1e-5 } else { 1e-3 };
        assert!(certified <= truth * (1.0 + room), "{solver:?}: certified {certified}, error {truth}");
    }
}
