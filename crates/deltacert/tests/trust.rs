//! Regression tests for wrong answers and broken promises: each case here
//! once produced a "certified" number below the truth, a "proven" that was
//! not, a witness outside the set, or a limit that did not hold.

mod common;

use common::{model, random_case};
use deltacert::activation::Activation;
use deltacert::bound::{bound, error_lower_bound, BoundRequest, Decision, Method, Status};
use deltacert::error::ErrorKind;
use deltacert::input_set::InputSet;
use deltacert::rounding::{add_down_tight, add_up_tight};
use deltacert::network::random::{partner, random_mlp, Relation};
use deltacert::network::{Layer, Matrix, Network};
use deltacert::problem::InputCoupling;
use deltacert::problem::Norm;
use deltacert::attack::AttackSettings;
use rand::SeedableRng;

fn affine_net(weights: &[f64], bias: f64) -> Network {
    Network {
        input_dim: weights.len(),
        input_transform: None,
        layers: vec![Layer::dense(0, Matrix::from_rows(1, weights.len(), weights.to_vec()), vec![bias], Activation::Identity)],
        kept_neurons: None,
        source_dtype: "float64".into(),
        output_softmax: false,
    }
}

fn quick(request: &mut BoundRequest) {
    request.attack = AttackSettings { samples: 300, sample_work: None, starts: 2, steps: 10, seed: 3 };
}

#[test]
fn an_empty_polytope_is_an_error_not_a_proof() {
    common::single_threaded_blas();
    // x1 + x2 <= -3 has no point in [-1, 1]^2
    let set = InputSet::uniform_box(2, -1.0, 1.0).unwrap();
    let error = set.with_polytope(vec![(vec![1.0, 1.0], -3.0)]).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInputSet);
    assert!(error.context.contains("empty"), "{}", error.context);
    // two rows that contradict each other inside a wide box
    let set = InputSet::uniform_box(2, -10.0, 10.0).unwrap();
    assert!(set.with_polytope(vec![(vec![1.0, 0.0], -1.0), (vec![-1.0, 0.0], -1.0)]).is_err());
    // a polytope that is a single point is not empty
    let set = InputSet::uniform_box(2, -1.0, 1.0).unwrap();
    let point = set.with_polytope(vec![(vec![1.0, 0.0], 0.5), (vec![-1.0, 0.0], -0.5)]).unwrap();
    assert!(point.contains(&[0.5, 0.0], 0.0));
}

#[test]
fn polytope_rows_of_the_wrong_length_or_not_finite_are_errors() {
    common::single_threaded_blas();
    let set = InputSet::uniform_box(2, -1.0, 1.0).unwrap();
    assert_eq!(set.clone().with_polytope(vec![(vec![1.0], 0.0)]).unwrap_err().kind, ErrorKind::InvalidInputSet);
    assert!(set.clone().with_polytope(vec![(vec![1.0, f64::NAN], 0.0)]).is_err());
    assert!(set.with_polytope(vec![(vec![1.0, 0.0], f64::INFINITY)]).is_err());
    assert!(InputSet::ball(vec![f64::NAN], 1.0, false).is_err());
}

#[test]
fn a_thin_polytope_gives_no_witness_outside_it() {
    common::single_threaded_blas();
    // a sliver no random sample hits: x1 - x2 in [0, 1e-12]
    let f = affine_net(&[1.0, 2.0], 0.0);
    let g = affine_net(&[1.0, 2.5], 0.0);
    let set = InputSet::uniform_box(2, -1.0, 1.0).unwrap().with_polytope(vec![(vec![1.0, -1.0], 1e-12), (vec![-1.0, 1.0], 0.0)]).unwrap();
    let methods = if cfg!(feature = "milp") { vec![Method::PROPAGATE, Method::AUTO, Method::MILP] } else { vec![Method::PROPAGATE, Method::AUTO] };
    for method in methods {
        let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, method);
        quick(&mut request);
        request.time_limit = Some(0.5);
        let report = bound(&f, &g, &request).unwrap();
        if let Some(w) = &report.witness {
            assert!(set.contains(w, 0.0), "{method:?}: witness {w:?} outside the set");
        } else {
            assert_eq!(report.lower_bound, 0.0);
        }
        // the error is 0.5 |x2| <= 0.5: every bound is at least the truth
        assert!(report.certified_bound.unwrap() >= report.lower_bound);
    }
}

#[test]
fn ball_corners_are_rounded_outward() {
    common::single_threaded_blas();
    // 1 -+ 1e-20 round to 1: the box must still hold the exact ball
    let set = InputSet::ball(vec![1.0], 1e-20, false).unwrap();
    assert!(set.lower()[0] < 1.0 && set.upper()[0] > 1.0, "{:?} {:?}", set.lower(), set.upper());
    // exact corners are kept as they are
    let set = InputSet::ball(vec![0.75], 0.25, true).unwrap();
    assert_eq!((set.lower()[0], set.upper()[0]), (0.5, 1.0));
    // TwoSum-based rounding: exact operations are not widened
    assert_eq!(add_down_tight(1.0, -0.25), 0.75);
    assert_eq!(add_up_tight(1.0, 0.25), 1.25);
    assert!(add_down_tight(1.0, -1e-20) < 1.0);
    assert!(add_up_tight(1.0, 1e-20) > 1.0);
}

#[test]
fn invalid_networks_are_refused_with_the_layer_named() {
    common::single_threaded_blas();
    let mut f = affine_net(&[1.0], 0.0);
    f.layers[0].activation = Activation::Relu;
    let error = f.validate().unwrap_err();
    assert!(error.context.contains("output layer must be affine"), "{}", error.context);
    let mut f = random_mlp(&mut rand::rngs::StdRng::seed_from_u64(1), 2, &[3], 1, Activation::LeakyRelu { alpha: 0.1 });
    f.layers[0].activation = Activation::LeakyRelu { alpha: -0.5 };
    assert!(f.validate().unwrap_err().context.contains("alpha -0.5"));
    f.layers[0].activation = Activation::LeakyRelu { alpha: 1.5 };
    assert!(f.validate().is_err());
    let mut f = affine_net(&[1e200], 0.0);
    assert_eq!(f.validate().unwrap_err().kind, ErrorKind::Unsupported);
    f.layers[0].terms[0].weights.data[0] = 1.0;
    f.validate().unwrap();
}

#[test]
fn a_network_compared_with_itself_gets_zero_at_once() {
    common::single_threaded_blas();
    let f = model("acasxu/ACASXU_run2a_1_1_batch_2000.nnet");
    let set = InputSet::uniform_box(5, -0.5, 0.5).unwrap();
    for method in [Method::AUTO, Method::PROPAGATE, Method::SDP] {
        let report = bound(&f, &f, &BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, method)).unwrap();
        assert_eq!(report.certified_bound, Some(0.0), "{method:?}");
        assert_eq!(report.status, Status::Certified);
        assert!(report.details.identical_networks);
        assert!(report.per_output_bound.iter().all(|b| *b == Some(0.0)));
    }
    // with a quantised input the same network can differ: no shortcut
    let request = BoundRequest::new(set, InputCoupling::Quantised(vec![0.01; 5]), Norm::Linf, Method::PROPAGATE);
    assert!(bound(&f, &f, &request).unwrap().certified_bound.unwrap() > 0.0);
}

#[test]
fn every_method_is_at_most_the_interval_bound_and_one_propagation_pass() {
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(91);
    let mut checked = 0;
    for case in 0..40 {
        let c = random_case(&mut rng, case);
        for method in [Method::PROPAGATE, Method::SDP, Method::AUTO] {
            let mut request = BoundRequest::new(c.set.clone(), c.coupling.clone(), c.norm, method);
            quick(&mut request);
            request.time_limit = Some(0.1);
            let report = bound(&c.f, &c.g, &request).unwrap();
            let Some(certified) = report.certified_bound else { continue };
            let Some(propagate) = report.details.propagate.as_ref() else {
                assert!(report.details.identical_networks && certified == 0.0);
                continue;
            };
            let (interval, one_pass) = (propagate.interval_bound, propagate.one_pass_bound);
            assert!(certified <= interval, "{}: {method:?} {certified} above the interval bound {interval}", c.description);
            assert!(certified <= one_pass, "{}: {method:?} {certified} above one pass {one_pass}", c.description);
            assert!(certified >= report.lower_bound, "{}: {method:?} {certified} below the observed {}", c.description, report.lower_bound);
            checked += 1;
        }
    }
    assert!(checked >= 100, "{checked}");
}

#[test]
fn l2_ball_and_narrow_quantised_boxes_are_not_absurdly_loose() {
    common::single_threaded_blas();
    // the SDP alone once certified 2.6e31 on an L2 ball and 2.75e9 on a 1e-6
    // box with a quantised input; the report never exceeds propagation's
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let f = random_mlp(&mut rng, 3, &[8, 8], 2, Activation::Tanh);
    let g = partner(&mut rng, &f, Relation::Quantised, Activation::Tanh);
    let sets = [
        (InputSet::ball(vec![0.2, -0.1, 0.3], 0.5, true).unwrap(), InputCoupling::Same),
        (InputSet::uniform_box(3, 0.25, 0.25 + 1e-6).unwrap(), InputCoupling::Quantised(vec![1e-7; 3])),
    ];
    for (set, coupling) in sets {
        let mut request = BoundRequest::new(set, coupling, Norm::L2, Method::SDP);
        quick(&mut request);
        let report = bound(&f, &g, &request).unwrap();
        let certified = report.certified_bound.unwrap();
        let one_pass = report.details.propagate.as_ref().unwrap().one_pass_bound;
        assert!(certified <= one_pass && certified < 10.0, "certified {certified}, one pass {one_pass}");
    }
}

#[test]
fn decide_mode_on_a_piece_that_cannot_be_split_is_not_proven() {
    common::single_threaded_blas();
    // a single point where the error is 1/3 (not representable): the
    // certified bound is just above it and the rigorous lower bound just below
    let f = affine_net(&[1.0], 0.0);
    let g = affine_net(&[1.0], 1.0 / 3.0);
    let set = InputSet::uniform_box(1, 0.5, 0.5).unwrap();
    let eps = 1.0 / 3.0;
    let mut request = BoundRequest::new(set, InputCoupling::Same, Norm::Linf, Method::AUTO);
    quick(&mut request);
    request.eps = Some(eps);
    request.time_limit = Some(1.0);
    let report = bound(&f, &g, &request).unwrap();
    let certified = report.certified_bound.unwrap();
    assert!(certified >= report.lower_bound);
    if certified > eps {
        assert_ne!(report.decision(eps), Decision::Proven);
        if let Some(split) = report.details.get::<deltacert::branch_and_bound::SplitOutcome>("split") {
            assert_ne!(split.stop, deltacert::branch_and_bound::StopReason::Proven);
        }
    }
}

#[test]
fn reported_lower_bounds_are_rigorous() {
    common::single_threaded_blas();
    // f(x) - g(x) = 0.1 x exactly in reals; f64 evaluation rounds
    let f = affine_net(&[0.3], 0.1);
    let g = affine_net(&[0.2], 0.1);
    let x = [0.7];
    let lower = error_lower_bound(&f, &g, &x, &x, Norm::Linf);
    // the exact error is 0.3*0.7 - 0.2*0.7 = 0.07 for the stored doubles;
    // the enclosure's lower end is below it and within rounding
    let exact = 0.3f64 * 0.7 - 0.2 * 0.7;
    assert!(lower <= exact + 1e-17 && lower > exact - 1e-14, "{lower} vs {exact}");
}

#[test]
fn the_time_limit_holds_for_the_sdp_in_total() {
    common::single_threaded_blas();
    // a 2-20-20-1 pair whose SDP takes tens of seconds without a limit
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let f = random_mlp(&mut rng, 2, &[20, 20], 1, Activation::Relu);
    let g = partner(&mut rng, &f, Relation::Quantised, Activation::Relu);
    let mut request = BoundRequest::new(InputSet::uniform_box(2, -1.0, 1.0).unwrap(), InputCoupling::Same, Norm::Linf, Method::SDP);
    quick(&mut request);
    request.time_limit = Some(1.0);
    let report = bound(&f, &g, &request).unwrap();
    // functional check of the promise (twice the limit plus a few seconds)
    assert!(report.seconds < 2.0 * 1.0 + 3.0, "{} s", report.seconds);
    assert!(report.certified_bound.is_some());
}

#[test]
fn the_memory_budget_refuses_before_allocating() {
    common::single_threaded_blas();
    let f = model("mnist/mnist_relu_3_100.nnet");
    let g = model("mnist/mnist_relu_3_100_16bit.nnet");
    let mut request = BoundRequest::new(InputSet::uniform_box(784, 0.0, 0.01).unwrap(), InputCoupling::Same, Norm::Linf, Method::PROPAGATE);
    request.memory_limit = Some(1 << 20);
    let report = bound(&f, &g, &request).unwrap();
    assert_eq!(report.status, Status::NoCertificate);
    assert!(report.certified_bound.is_none());
    assert!(report.note.unwrap().contains("memory budget"));
    // the SDP is refused by its estimate alone when the budget is small
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let f = random_mlp(&mut rng, 2, &[20, 20], 1, Activation::Relu);
    let g = partner(&mut rng, &f, Relation::Quantised, Activation::Relu);
    let mut request = BoundRequest::new(InputSet::uniform_box(2, -1.0, 1.0).unwrap(), InputCoupling::Same, Norm::Linf, Method::SDP);
    quick(&mut request);
    request.memory_limit = Some(64 << 20);
    let report = bound(&f, &g, &request).unwrap();
    assert!(report.note.unwrap().contains("memory budget"));
    assert_eq!(report.details.get::<deltacert::sdp::SdpResult>("sdp").unwrap().solves[0].iterations, 0);
}
