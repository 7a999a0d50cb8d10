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
    // sets empty by less than the LP's tolerance: a slab 1e-11 "wide" the
    // wrong way round, and a zero row with a tiny negative right side
    let set = InputSet::uniform_box(2, -1.0, 1.0).unwrap();
    let slab = set.clone().with_polytope(vec![(vec![1.0, 0.0], 0.3), (vec![-1.0, 0.0], -0.30000000001)]).unwrap_err();
    assert_eq!(slab.kind, ErrorKind::InvalidInputSet);
    assert!(slab.context.contains("row 1"), "{}", slab.context);
    assert_eq!(set.clone().with_polytope(vec![(vec![0.0, 0.0], -1e-300)]).unwrap_err().kind, ErrorKind::InvalidInputSet);
    // ... but a zero row with b = 0 and a slab of one point (0.3 is not a
    // binary number: the quotients are rounded outward) are not
    assert!(set.clone().with_polytope(vec![(vec![0.0, 0.0], 0.0)]).is_ok());
    let thin = set.with_polytope(vec![(vec![10.0, 0.0], 3.0), (vec![-10.0, 0.0], -3.0)]).unwrap();
    assert!(thin.polytope().len() == 2);
}

/// An empty set that the LP's check misses (found by an adversarial run:
/// two rows that contradict each other only together with the box) once
/// gave a certified 0 from `auto`, no bound from `propagate` and "no
/// certificate" from the MILP and the SDP; the propagation over the box cut
/// by the rows proves it empty (its bounds cross), and every method now
/// refuses it as an empty set.
#[test]
fn an_empty_set_the_lp_misses_is_refused_by_every_method() {
    use deltacert::network::InputTransform;
    common::single_threaded_blas();
    let layer = |rows: usize, cols: usize, w: &[f64], b: &[f64], activation| Layer::dense(0, Matrix::from_rows(rows, cols, w.to_vec()), b.to_vec(), activation);
    let net = |w1: &[f64], w2: &[f64]| {
        let mut layers = vec![layer(3, 2, w1, &[0.1, 0.2, -0.1], Activation::Relu), layer(1, 3, w2, &[0.0], Activation::Identity)];
        layers[1].terms[0].source = 1;
        Network { input_dim: 2, input_transform: Some(InputTransform { min: vec![-100.0; 2], max: vec![100.0; 2], mean: vec![0.5, -1.0], range: vec![2.0, 3.0] }), layers, kept_neurons: None, source_dtype: "float64".into(), output_softmax: false }
    };
    let f = net(&[1.0, 2.0, -1.0, 0.5, 0.3, -0.7], &[1.0, -1.0, 0.5]);
    let g = net(&[1.01, 2.0, -1.0, 0.52, 0.3, -0.7], &[1.0, -1.0, 0.49]);
    f.validate().unwrap();
    // the rows as a file gives them: each decimal enclosed
    let decimal = |text: &str| deltacert::io::vnnlib::decimal_enclosure(text).unwrap();
    let rows = vec![(vec![decimal("-0.87"), decimal("-0.65")], decimal("-6.1506554811883465")), (vec![decimal("0.24"), decimal("-0.73")], decimal("4.057060362038609"))];
    let set = InputSet::from_box(vec![-0.9210082232000134, -4.757751906239555], vec![12.52925506962288, -2.635305688202343]).unwrap().with_enclosed_polytope(rows).expect("the LP's check misses this one");
    let methods = if cfg!(feature = "milp") { vec![Method::PROPAGATE, Method::AUTO, Method::SDP, Method::MILP] } else { vec![Method::PROPAGATE, Method::AUTO, Method::SDP] };
    for method in methods {
        let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, method);
        quick(&mut request);
        let error = bound(&f, &g, &request).map(|r| r.certified_bound).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidInputSet, "{method:?}: {error}");
        assert!(error.context.contains("empty"), "{method:?}: {error}");
    }
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

/// Polytope rows on pairs with an input normalisation (as `.nnet` files
/// have): once refused, now mapped into first-layer coordinates and used by
/// propagation's rows (Lagrange multipliers) and by splitting (pieces that
/// miss a row hold no input). Every bound must stay above the error at
/// dense samples of the cut set (enclosed in exact arithmetic), and on
/// these corners cut off the box the polytope's bound must beat the box's.
#[test]
fn polytope_rows_on_a_normalised_pair_are_used_and_sound() {
    use deltacert::network::InputTransform;
    use rand::Rng;
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let (mut tighter, mut empty_pieces) = (0, 0);
    let cases = 12;
    for case in 0..cases {
        let inputs = rng.gen_range(2..5);
        let mut f = random_mlp(&mut rng, inputs, &[8, 6], 2, Activation::Relu);
        f.input_transform = Some(InputTransform { min: vec![-50.0; inputs], max: vec![50.0; inputs], mean: (0..inputs).map(|_| rng.gen_range(-5.0..5.0)).collect(), range: (0..inputs).map(|_| rng.gen_range(0.5..4.0)).collect() });
        let g = partner(&mut rng, &f, Relation::Quantised, Activation::Relu);
        let (lo, hi) = (-10.0, 10.0);
        // a corner of the box: sum_i s_i x_i <= -12 for random signs s
        let signs: Vec<f64> = (0..inputs).map(|_| if rng.gen_bool(0.5) { 1.0 } else { -1.0 }).collect();
        let set = InputSet::uniform_box(inputs, lo, hi).unwrap().with_polytope(vec![(signs.clone(), -12.0)]).unwrap();
        let boxed = InputSet::uniform_box(inputs, lo, hi).unwrap();
        let mut bounds = Vec::new();
        for method in [Method::PROPAGATE, Method::AUTO] {
            let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, method);
            quick(&mut request);
            // one pass runs to its end (a pass cut by the time limit on a
            // loaded machine may be looser than the box's); splitting stops
            request.time_limit = (method == Method::AUTO).then_some(0.5);
            request.target_ratio = 1.0;
            // splitting, not the SDP
            request.sdp.max_dimension = 0;
            let report = bound(&f, &g, &request).unwrap();
            if let Some(w) = &report.witness {
                assert!(set.contains(w, 0.0), "case {case} {method:?}: witness outside the set");
            }
            if let Some(split) = report.details.get::<deltacert::branch_and_bound::SplitOutcome>("split") {
                empty_pieces += split.empty_pieces;
            }
            bounds.push(report.certified_bound.expect("a bound"));
        }
        let mut request = BoundRequest::new(boxed, InputCoupling::Same, Norm::Linf, Method::PROPAGATE);
        quick(&mut request);
        let box_bound = bound(&f, &g, &request).unwrap().certified_bound.unwrap();
        assert!(bounds[0] <= box_bound, "case {case}: the cut set's bound {} is above the box's {box_bound}", bounds[0]);
        if bounds[0] < 0.95 * box_bound {
            tighter += 1;
        }
        // dense samples of the corner, the error enclosed exactly
        let mut checked = 0;
        for _ in 0..20_000 {
            let mut x: Vec<f64> = (0..inputs).map(|_| rng.gen_range(lo..=hi)).collect();
            // pushed into the corner along the signs, then clamped
            let excess: f64 = signs.iter().zip(&x).map(|(s, v)| s * v).sum::<f64>() + 12.0;
            if excess > 0.0 {
                for (v, s) in x.iter_mut().zip(&signs) {
                    *v = (*v - s * excess / inputs as f64 * rng.gen_range(1.0..1.5)).clamp(lo, hi);
                }
            }
            if !set.contains(&x, 0.0) {
                continue;
            }
            checked += 1;
            let (yf, yg) = (common::enclose_outputs(&f, &x), common::enclose_outputs(&g, &x));
            let error = yf.iter().zip(&yg).map(|(a, b)| (a.0 - b.1).max(b.0 - a.1)).fold(0.0, f64::max);
            for b in &bounds {
                assert!(error <= *b, "case {case}: error {error} at a sample above the bound {b}");
            }
        }
        assert!(checked > 1_000, "case {case}: {checked} samples in the corner");
    }
    assert!(tighter >= cases / 2, "the polytope tightened propagation on {tighter} of {cases} cases");
    // one row leaves every half a point (each piece is shrunk to the box the
    // row leaves of it), so empty pieces are counted, not required
    let _ = empty_pieces;
}

/// A row that leaves a small corner of the box: propagation bounds the
/// corner's box (the root is shrunk to the smallest box the row leaves),
/// not the whole box cut by the row.
#[test]
fn a_row_leaving_a_corner_is_bounded_on_the_corner_box() {
    use rand::Rng;
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(81);
    for case in 0..10 {
        let inputs = rng.gen_range(2..5);
        let f = random_mlp(&mut rng, inputs, &[10, 8], 2, Activation::Relu);
        let g = partner(&mut rng, &f, Relation::Quantised, Activation::Relu);
        // x_0 + ... + x_{n-1} <= -n + 0.25 on [-1, 1]^n: every x_i <= -0.75
        let row = (vec![1.0; inputs], -(inputs as f64) + 0.25);
        let cut = InputSet::uniform_box(inputs, -1.0, 1.0).unwrap().with_polytope(vec![row.clone()]).unwrap();
        let corner = InputSet::uniform_box(inputs, -1.0, -0.75).unwrap().with_polytope(vec![row]).unwrap();
        let whole = InputSet::uniform_box(inputs, -1.0, 1.0).unwrap();
        let one_pass = |set: &InputSet| {
            let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, Method::PROPAGATE);
            quick(&mut request);
            bound(&f, &g, &request).unwrap().certified_bound.expect("a bound")
        };
        let (on_cut, on_corner, on_whole) = (one_pass(&cut), one_pass(&corner), one_pass(&whole));
        assert!(on_cut <= on_corner * (1.0 + 1e-9) + 1e-300, "case {case}: the cut set's bound {on_cut} is above the corner box's {on_corner}");
        assert!(on_cut <= on_whole, "case {case}: {on_cut} above the whole box's {on_whole}");
        for _ in 0..5_000 {
            let x: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-1.0..=-0.75)).collect();
            if !cut.contains(&x, 0.0) {
                continue;
            }
            let (yf, yg) = (common::enclose_outputs(&f, &x), common::enclose_outputs(&g, &x));
            let error = yf.iter().zip(&yg).map(|(a, b)| (a.0 - b.1).max(b.0 - a.1)).fold(0.0, f64::max);
            assert!(error <= on_cut, "case {case}: error {error} at a sample above the bound {on_cut}");
        }
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

/// `f(x) = relu(x) + 2 relu(-x)` against its static uint8 QDQ copy
/// (tests/fixtures/qdq/make_tie_pair.py) on [-3, 3]: the error is largest,
/// 0.5, on the input quantiser's rounding ties (x = -2.25: f = 4.5, g = 4.0
/// with half-to-even), which input halving lands on, and where the outward
/// enclosure of `g` holds both levels, so the rigorous lower bound there is
/// 0. The report keeps the witness whose *rigorous* error is larger (points
/// near a tie prove almost 0.5), not the one whose float error claims more
/// (before, `auto` reported "observed 0" at x = -2.25).
#[test]
fn a_witness_on_a_rounding_tie_does_not_hide_a_provable_lower_bound() {
    common::single_threaded_blas();
    let (f, g) = (model("qdq/tie_float.onnx"), model("qdq/tie_u8.onnx"));
    assert_eq!((f.eval(&[-2.25])[0], g.eval(&[-2.25])[0]), (4.5, 4.0));
    assert_eq!(error_lower_bound(&f, &g, &[-2.25], &[-2.25], Norm::Linf), 0.0);
    for method in [Method::AUTO, Method::PROPAGATE] {
        let report = bound(&f, &g, &BoundRequest::new(InputSet::uniform_box(1, -3.0, 3.0).unwrap(), InputCoupling::Same, Norm::Linf, method)).unwrap();
        assert!(report.lower_bound > 0.4 && report.lower_bound <= 0.5, "{method}: {}", report.lower_bound);
        let x = report.witness.clone().expect("a witness");
        assert_eq!(error_lower_bound(&f, &g, &x, &x, Norm::Linf), report.lower_bound);
        assert!(report.certified_bound.is_some_and(|b| b >= 0.5));
    }
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

/// A pass through 3,000 layers takes seconds; with a limit far shorter the
/// pass stops substituting back at the deadline (the layers left get interval
/// bounds), so every method ends near the limit with a certified bound that
/// no sample exceeds, and says why it is loose.
#[test]
fn a_pass_through_a_very_deep_pair_stops_at_the_time_limit() {
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let f = random_mlp(&mut rng, 2, &[4; 2999], 4, Activation::Relu);
    let g = partner(&mut rng, &f, Relation::Quantised, Activation::Relu);
    let set = InputSet::uniform_box(2, -1.0, 1.0).unwrap();
    let sampled = (0..200).map(|i| {
        let x = [-1.0 + 2.0 * (i % 20) as f64 / 19.0, -1.0 + 2.0 * (i / 20) as f64 / 9.0];
        f.eval(&x).iter().zip(g.eval(&x)).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
    });
    let largest_sampled = sampled.fold(0.0, f64::max);
    for method in [Method::PROPAGATE, Method::AUTO, Method::SDP] {
        let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, method);
        quick(&mut request);
        request.time_limit = Some(0.3);
        let report = bound(&f, &g, &request).unwrap();
        let note = report.note.clone().unwrap_or_default();
        assert!(note.contains("by the end of the propagation passes"), "{method:?}: {note}");
        let certified = report.certified_bound.unwrap_or_else(|| panic!("{method:?}: no certified bound ({note})"));
        assert!(certified >= largest_sampled, "{method:?}: certified {certified} below a sampled error {largest_sampled}");
        // the uncut pass alone takes several seconds on the machines measured
        assert!(report.seconds < 0.3 + 1.5, "{method:?}: {} s for a 0.3 s limit", report.seconds);
    }
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
    request.sdp.solver = deltacert::sdp::SdpSolver::InteriorPoint;
    request.memory_limit = Some(64 << 20);
    let report = bound(&f, &g, &request).unwrap();
    assert!(report.note.unwrap().contains("memory budget"));
    assert_eq!(report.details.get::<deltacert::sdp::SdpResult>("sdp").unwrap().solves[0].iterations, 0);
    // the first-order solver fits in 64 MiB here, but not in 1 MiB
    request.sdp.solver = deltacert::sdp::SdpSolver::FirstOrder;
    request.memory_limit = Some(1 << 20);
    let report = bound(&f, &g, &request).unwrap();
    assert!(report.note.unwrap().contains("memory budget"));
    let sdp = report.details.get::<deltacert::sdp::SdpResult>("sdp").unwrap();
    assert_eq!(sdp.solver, deltacert::sdp::SdpSolver::FirstOrder);
    assert_eq!(sdp.solves[0].iterations, 0);
}

/// Pairs ending in Softmax: the certified bound on the probabilities is at
/// least every sampled `|softmax(f(x)) - softmax(g(x'))|` (per output in
/// linf), the lower bound is at most the error at its own witness, and a
/// pair where only one network ends in Softmax is refused.
#[test]
fn softmax_output_bounds_hold_on_dense_samples() {
    use rand::Rng;
    common::single_threaded_blas();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let activations = [Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::LeakyRelu { alpha: 0.1 }];
    let relations = [Relation::Pruned, Relation::Quantised, Relation::Unrelated, Relation::StructurallyPruned];
    for case in 0..24 {
        let activation = activations[case % 4];
        let inputs = rng.gen_range(1..=4);
        let hidden: Vec<usize> = (0..rng.gen_range(1..=2)).map(|_| rng.gen_range(2..=8)).collect();
        let outputs = rng.gen_range(2..=4);
        // logits spread by a scale so that some cases saturate the softmax
        let mut f = random_mlp(&mut rng, inputs, &hidden, outputs, activation);
        let scale = [0.5, 2.0, 8.0][case % 3];
        f.layers.last_mut().unwrap().terms[0].weights.data.iter_mut().for_each(|w| *w *= scale);
        let mut g = partner(&mut rng, &f, relations[(case / 4) % 4], activation);
        f.output_softmax = true;
        g.output_softmax = true;
        let lo: f64 = rng.gen_range(-1.0..0.5);
        let width = rng.gen_range(0.05..1.5);
        let set = InputSet::uniform_box(inputs, lo, lo + width).unwrap();
        let (coupling, norm) = match case % 6 {
            0 | 3 => (InputCoupling::Same, Norm::Linf),
            1 => (InputCoupling::Same, Norm::L2),
            2 => (InputCoupling::Quantised(vec![0.05; inputs]), Norm::Linf),
            4 => (InputCoupling::Independent, Norm::L2),
            _ => (InputCoupling::Independent, Norm::Linf),
        };
        let method = [Method::PROPAGATE, Method::AUTO][case % 2];
        let mut request = BoundRequest::new(set.clone(), coupling.clone(), norm, method);
        request.time_limit = Some(1.0);
        quick(&mut request);
        let report = bound(&f, &g, &request).unwrap();
        let certified = report.certified_bound.expect("a finite bound");
        let diameter = if norm == Norm::Linf { 1.0 } else { 2f64.sqrt().next_up() };
        assert!(certified <= diameter, "case {case}: {certified} above the simplex diameter");
        // dense samples (and the box's corners): x' is x, moved within the step, or anywhere
        let mut worst = 0.0f64;
        let mut worst_per_output = vec![0.0f64; outputs];
        for sample in 0..4000 {
            let x: Vec<f64> = (0..inputs).map(|i| if sample < 1 << inputs { if sample >> i & 1 == 1 { lo + width } else { lo } } else { rng.gen_range(lo..=lo + width) }).collect();
            let xg: Vec<f64> = match &coupling {
                InputCoupling::Same => x.clone(),
                InputCoupling::Quantised(steps) => x.iter().zip(steps).map(|(v, s)| (v + rng.gen_range(-s..=*s)).clamp(lo, lo + width)).collect(),
                InputCoupling::Independent => (0..inputs).map(|_| rng.gen_range(lo..=lo + width)).collect(),
            };
            let (p, q) = (f.eval(&x), g.eval(&xg));
            let differences: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a - b).abs()).collect();
            let error = match norm {
                Norm::Linf => differences.iter().fold(0.0f64, |m, d| m.max(*d)),
                Norm::L2 => differences.iter().map(|d| d * d).sum::<f64>().sqrt(),
            };
            worst = worst.max(error);
            worst_per_output.iter_mut().zip(&differences).for_each(|(w, d)| *w = w.max(*d));
        }
        // sampled values are f64 evaluations: a rounding allowance
        assert!(certified + 1e-12 >= worst, "case {case} ({norm:?}, {coupling:?}): certified {certified} below the sampled {worst}");
        if norm == Norm::Linf {
            for (j, (b, w)) in report.per_output_bound.iter().zip(&worst_per_output).enumerate() {
                assert!(b.unwrap() + 1e-12 >= *w, "case {case} output {j}: {b:?} below the sampled {w}");
            }
        }
        assert!(report.lower_bound <= certified, "case {case}: lower {} above certified {certified}", report.lower_bound);
        if let Some(x) = &report.witness {
            let xg = report.witness_compressed.as_deref().unwrap_or(x);
            let differences: Vec<f64> = f.eval(x).iter().zip(g.eval(xg)).map(|(a, b)| (a - b).abs()).collect();
            let at_witness = match norm {
                Norm::Linf => differences.iter().fold(0.0f64, |m, d| m.max(*d)),
                Norm::L2 => differences.iter().map(|d| d * d).sum::<f64>().sqrt(),
            };
            assert!(report.lower_bound <= at_witness + 1e-12, "case {case}: lower {} above the error {at_witness} at its witness", report.lower_bound);
            assert!(report.per_output_lower.iter().zip(&differences).all(|(l, d)| *l <= d + 1e-12), "case {case}: per-output lower bounds");
        }
        // a threshold at the simplex diameter is proven whenever a bound exists
        request.eps = Some(diameter);
        assert_eq!(bound(&f, &g, &request).unwrap().decision(diameter), Decision::Proven, "case {case}");
    }
    // only one network ends in Softmax
    let f = random_mlp(&mut rng, 2, &[4], 3, Activation::Relu);
    let mut g = f.clone();
    g.output_softmax = true;
    let request = BoundRequest::new(InputSet::uniform_box(2, 0.0, 1.0).unwrap(), InputCoupling::Same, Norm::Linf, Method::PROPAGATE);
    let err = bound(&f, &g, &request).unwrap_err();
    assert!(err.context.contains("only one network ends in Softmax"), "{}", err.context);
}

/// Softmax outputs: the largest logit error is not where the probabilities
/// differ most. f's logits `(10 x, 0)` and g's `(10 x + 5, 0)` on [-1, 1]
/// differ by 5 everywhere, while the probabilities differ by up to 0.848
/// (near `x = -0.25`) and by under 0.01 at the box's corners. Decide mode at
/// eps 0.5 must find a counterexample (it ended "unknown" with the lower
/// bound of the logits' witness, 0.0097); its witness lies in the set and
/// its error is provably above eps.
#[test]
fn softmax_counterexamples_are_searched_on_the_probabilities() {
    common::single_threaded_blas();
    let logits = |shift: f64| {
        let mut n = affine_net(&[10.0], 0.0);
        n.layers[0] = Layer::dense(0, Matrix::from_rows(2, 1, vec![10.0, 0.0]), vec![shift, 0.0], Activation::Identity);
        n.output_softmax = true;
        n
    };
    let (f, g) = (logits(0.0), logits(5.0));
    let set = InputSet::uniform_box(1, -1.0, 1.0).unwrap();
    let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, Method::AUTO);
    request.time_limit = Some(2.0);
    request.eps = Some(0.5);
    let report = bound(&f, &g, &request).unwrap();
    assert_eq!(report.decision(0.5), Decision::Counterexample, "lower {} certified {:?}", report.lower_bound, report.certified_bound);
    let x = report.witness.clone().expect("a witness");
    assert!(set.holds(&x));
    let (p, q) = (f.eval(&x), g.eval(&x));
    assert!((p[0] - q[0]).abs() >= report.lower_bound && report.lower_bound > 0.5 && report.lower_bound < 0.85);
}

/// A model read from a float32 (or float16) file computes in that format:
/// where its values can pass the format's largest finite value on the set,
/// an execution gives inf while the exact-arithmetic network (what the
/// bound is about) stays finite. The report says so, naming the network
/// and the layer; float64 networks, and float16 ones within range, get no
/// such warning.
#[test]
fn a_float_execution_that_may_overflow_is_named_in_the_report() {
    // f = 1e-38 relu(3e38 x) = 3x in exact arithmetic; g = 3x
    let chain = common::relu_chain;
    let g = chain(1.0, 3.0, "float32");
    let set = InputSet::uniform_box(1, -2.0, 2.0).unwrap();
    let mut request = BoundRequest::new(set.clone(), InputCoupling::Same, Norm::Linf, Method::PROPAGATE);
    request.attack = AttackSettings { samples: 100, sample_work: None, starts: 1, steps: 5, seed: 0 };
    let note = |f: &Network, set: &InputSet| bound(f, &g, &BoundRequest { set: set.clone(), ..request.clone() }).unwrap().note.unwrap_or_default();
    let warned = note(&chain(3e38, 1e-38, "float32"), &set);
    assert!(warned.contains("the reference network may overflow float32 in layer 1"), "{warned}");
    // on [-1, 1] the sums reach 3e38 < 3.4e38
    let within = note(&chain(3e38, 1e-38, "float32"), &InputSet::uniform_box(1, -1.0, 1.0).unwrap());
    assert!(!within.contains("overflow"), "{within}");
    assert!(!note(&chain(3e38, 1e-38, "float64"), &set).contains("overflow"));
    // float16: 65504 is the largest
    assert!(note(&chain(4e4, 1.0, "float16"), &set).contains("may overflow float16 in layer 1"));
    assert!(!note(&chain(3e4, 1.0, "float16"), &set).contains("overflow"));
    // an input float16 cannot hold
    let wide = note(&chain(1e-3, 1.0, "float16"), &InputSet::uniform_box(1, -1e5, 1e5).unwrap());
    assert!(wide.contains("may overflow float16 at its input"), "{wide}");
    // a QDQ model computes its float parts in float32
    assert!(note(&chain(3e38, 1e-38, "int8-qdq (+float32)"), &set).contains("may overflow float32"));
}

/// A deep narrow leaky-ReLU pair (46 layers of width 3, slope 0.999, mixed
/// signs) whose copy has one weight rounded to float16: at `x = -1` the
/// outputs are near 1e12 and differ by millions, and interval arithmetic at
/// that one point widened past the difference, so every method reported a
/// lower bound of 0 and `--eps` at half the error ended unknown. The exact
/// evaluation of the two piecewise-linear networks keeps the error.
#[test]
fn a_deep_pair_keeps_its_error_at_a_witness() {
    use rand::Rng;
    let mut widened = 0;
    for seed in 0..12u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let widths: Vec<usize> = std::iter::once(1).chain(std::iter::repeat_n(3, 45)).chain(std::iter::once(1)).collect();
        let layers: Vec<Layer> = (0..widths.len() - 1)
            .map(|k| {
                let weights = (0..widths[k] * widths[k + 1]).map(|_| if rng.gen_bool(0.25) { -1.0 } else { 1.0 } * rng.gen_range(0.9..1.1)).collect();
                let bias = (0..widths[k + 1]).map(|_| rng.gen_range(-0.2..0.4)).collect();
                let activation = if k + 2 == widths.len() { Activation::Identity } else { Activation::LeakyRelu { alpha: 0.999 } };
                Layer::dense(k, Matrix::from_rows(widths[k + 1], widths[k], weights), bias, activation)
            })
            .collect();
        let f = Network { input_dim: 1, input_transform: None, layers, kept_neurons: None, source_dtype: "float64".into(), output_softmax: false };
        let mut g = f.clone();
        // one weight to float16's 11 significant bits
        let layer = rng.gen_range(0..g.layers.len());
        let w = &mut g.layers[layer].terms[0].weights.get_mut(0, 0);
        let step = 2f64.powi(w.abs().log2().floor() as i32 - 10);
        **w = (**w / step).round() * step;
        let x = [-1.0];
        let floating = (f.eval(&x)[0] - g.eval(&x)[0]).abs();
        let scale = f.eval(&x)[0].abs();
        let lower = error_lower_bound(&f, &g, &x, &x, Norm::Linf);
        // a rigorous lower bound, and (the floating-point difference being
        // accurate to about 1e-16 of the outputs here) all of the error
        assert!(lower <= floating + 1e-12 * scale && lower >= floating - 1e-12 * scale, "seed {seed}: lower bound {lower:e}, floating-point error {floating:e}, outputs near {scale:e}");
        let (f_lower, f_upper) = deltacert::bound::output_enclosure(&f, &x);
        let (g_lower, g_upper) = deltacert::bound::output_enclosure(&g, &x);
        let interval_gap = (f_lower[0] - g_upper[0]).max(g_lower[0] - f_upper[0]).max(0.0);
        widened += usize::from(interval_gap < 0.5 * lower);
    }
    // the pairs where the enclosures alone lose the error
    assert!(widened >= 2, "{widened}");
}

/// An error far below the outputs' rounding: `f(x) = 1e13 relu(1e13 x)`
/// and `g` the same plus a bias of 0.0078 on its output. At `x = 1` the
/// outputs are near 1e26 (one ulp is about 1.7e10) and differ by exactly
/// the bias; the enclosures overlap, so the gap alone is 0.
#[test]
fn an_error_below_the_outputs_rounding_is_kept_at_a_witness() {
    let net = |bias: f64| Network {
        input_dim: 1,
        input_transform: None,
        layers: vec![Layer::dense(0, Matrix::from_rows(1, 1, vec![1e13]), vec![0.0], Activation::Relu), Layer::dense(1, Matrix::from_rows(1, 1, vec![1e13]), vec![bias], Activation::Identity)],
        kept_neurons: None,
        source_dtype: "float64".into(),
        output_softmax: false,
    };
    let (f, g) = (net(0.0), net(0.0078));
    assert_eq!(error_lower_bound(&f, &g, &[1.0], &[1.0], Norm::Linf), 0.0078);
    // a tanh network is not evaluated exactly: its gap stays the enclosures'
    let (mut ft, mut gt) = (f.clone(), g.clone());
    ft.layers[0].activation = Activation::Tanh;
    gt.layers[0].activation = Activation::Tanh;
    assert_eq!(error_lower_bound(&ft, &gt, &[1.0], &[1.0], Norm::Linf), 0.0);
}
