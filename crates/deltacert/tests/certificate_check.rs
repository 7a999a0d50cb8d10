//! The certificate check (docs/method.md §5) does not trust the solver: perturbed
//! or corrupted multipliers either widen the bound soundly or are refused.

mod common;

use common::model;
use deltacert::input_set::InputSet;
use deltacert::sdp::certificate::check;
use deltacert::problem::InputCoupling;
use deltacert::sdp::qc::QcOptions;
use deltacert::sdp::solve::{solve, SdpProblem, SolveStatus};
use deltacert::sdp::{constraints_for, objective_matrix, Objective};
use deltacert::problem::prepare;
use rand::{Rng, SeedableRng};

/// Largest of `sign (f(x) - g(x))` on a grid of 2,000,001 points of [-1, 1]
/// (the pair is piecewise linear with few kinks: the grid is within 1e-6).
fn grid_max(sign: f64) -> f64 {
    let (f, g) = (model("paper/paper_quant_orig.onnx"), model("paper/paper_quant_q.onnx"));
    (0..=2_000_000).map(|i| -1.0 + i as f64 * 1e-6).map(|x| sign * (f.eval(&[x])[0] - g.eval(&[x])[0])).fold(f64::NEG_INFINITY, f64::max)
}

#[test]
fn perturbed_multipliers_widen_the_bound_or_are_refused() {
    common::single_threaded_blas();
    let (f, g) = (model("paper/paper_quant_orig.onnx"), model("paper/paper_quant_q.onnx"));
    let set = InputSet::uniform_box(1, -1.0, 1.0).unwrap();
    let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
    let (lifted, constraints) = constraints_for(&prepared, QcOptions::FULL);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for sign in [1.0, -1.0] {
        let truth = grid_max(sign);
        let objective = objective_matrix(&lifted, Objective::Output { index: 0, sign });
        let problem = SdpProblem { dim: lifted.dim, constant: lifted.constant, objective: &objective, constraints: &constraints, distance: None, coordinate_scale: &lifted.coordinate_magnitude };
        let outcome = solve(&problem, None);
        assert!(matches!(outcome.status, SolveStatus::Solved | SolveStatus::AlmostSolved));
        let r2 = &lifted.coordinate_magnitude;
        let exact = check(lifted.dim, lifted.constant, &objective, &constraints, None, &outcome.multipliers, r2).expect("the solver's own multipliers pass");
        assert!(exact.value >= truth - 1e-6, "checked {} below the true maximum {truth}", exact.value);
        println!("sign {sign}: solver gamma {:.10}, checked {:.10}, grid maximum {truth:.10}", outcome.multipliers.gamma, exact.value);

        let (mut widened, mut refused) = (0, 0);
        for trial in 0..40 {
            let mut m = outcome.multipliers.clone();
            let relative = if trial < 20 { 1e-6 } else { 1e-3 };
            for v in m.constraint.iter_mut() {
                *v *= 1.0 + relative * rng.gen_range(-1.0..1.0);
            }
            m.gamma *= 1.0 - relative; // the dangerous direction: a smaller claimed bound
            match check(lifted.dim, lifted.constant, &objective, &constraints, None, &m, r2) {
                Ok(c) => {
                    assert!(c.value >= truth - 1e-6, "perturbed check gave {} below the true maximum {truth}", c.value);
                    widened += 1;
                }
                Err(_) => refused += 1,
            }
        }
        println!("sign {sign}: {widened} perturbed certificates widened soundly, {refused} refused");

        // a gamma far below the truth cannot be certified below the truth
        let mut m = outcome.multipliers.clone();
        m.gamma = truth - 1.0;
        if let Ok(c) = check(lifted.dim, lifted.constant, &objective, &constraints, None, &m, r2) {
            assert!(c.value >= truth, "corrupted gamma certified {} below {truth}", c.value);
        }
        // non-finite multipliers are refused outright
        let mut m = outcome.multipliers.clone();
        m.constraint[0] = f64::NAN;
        assert!(check(lifted.dim, lifted.constant, &objective, &constraints, None, &m, r2).is_err());
    }
}

use deltacert::sdp::certificate::{CheckedBound, Refusal};
use deltacert::sdp::form::SymmetricSparse;
use deltacert::sdp::qc::{Constraint, Family, Sense};
use deltacert::sdp::solve::Multipliers;

/// A hand-built certificate in `zeta = (x, 1)`, `x in [-1, 1]`:
/// objective `a x^2 + 2 b x + c`, one constraint `1 - x^2 >= 0` with
/// multiplier `lambda`, claimed bound `gamma`. Then
/// `M = [[a - lambda, b], [b, c - gamma + lambda]]`, whose eigenvalues are
/// known in closed form, and the exact maximum of the objective is known.
fn quadratic_certificate(a: f64, b: f64, c: f64, gamma: f64, lambda: f64) -> Result<CheckedBound, Refusal> {
    let objective = SymmetricSparse { entries: vec![(0, 0, a), (0, 1, b), (1, 1, c)] };
    let interval = Constraint::from_matrix(Family::Interval, Sense::NonNegative, SymmetricSparse { entries: vec![(0, 0, -1.0), (1, 1, 1.0)] }, 0.0);
    let multipliers = Multipliers { gamma, gamma_x: 0.0, constraint: vec![lambda] };
    check(2, 1, &objective, &[interval], None, &multipliers, &[1.0, 1.0])
}

/// Certificates whose exact answer is known: the certified value is never
/// below the exact maximum (no tolerance), stays close to it when the claim
/// is exact, and a claim just below the maximum (`M` barely not negative
/// semidefinite) is never certified as claimed.
#[test]
fn hand_built_certificates_have_their_exact_outcomes() {
    common::single_threaded_blas();
    // -x^2 + x + c has its maximum c + 1/4 at x = 1/2; with lambda = 0,
    // M = [[-1, 1/2], [1/2, c - gamma]] is negative semidefinite exactly when
    // gamma >= c + 1/4 (determinant gamma - c - 1/4)
    for c in [0.0, 1e12, -1e12, 2f64.powi(-30)] {
        let maximum = c + 0.25; // exact for these c
        assert_eq!(maximum - 0.25, c);
        let checked = quadratic_certificate(-1.0, 0.5, c, maximum, 0.0).expect("an exact certificate passes");
        assert!(checked.value >= maximum, "c = {c}: certified {} below the exact maximum {maximum}", checked.value);
        assert!(checked.value - maximum <= 1e-12 * c.abs() + 1e-9, "c = {c}: certified {} far above the exact maximum {maximum}", checked.value);
        // a claim below the maximum: M has a positive eigenvalue of about
        // 0.8 (maximum - gamma); the check must pay for it
        for below in [f64::EPSILON * maximum.abs().max(1.0), 1e-6 * maximum.abs().max(1.0)] {
            let gamma = maximum - below;
            assert!(gamma < maximum);
            if let Ok(checked) = quadratic_certificate(-1.0, 0.5, c, gamma, 0.0) {
                assert!(checked.value >= maximum, "c = {c}: a claim {below:e} below the maximum was certified at {}", checked.value);
            }
        }
    }
    // x^2 on [-1, 1]: maximum 1, certified by lambda = 1, gamma = 1 (M = 0);
    // gamma just below 1 leaves M = diag(0, 1 - gamma) not negative semidefinite
    let checked = quadratic_certificate(1.0, 0.0, 0.0, 1.0, 1.0).expect("M = 0 passes");
    assert!(checked.value >= 1.0 && checked.value <= 1.0 + 1e-9, "{}", checked.value);
    for gamma in [1.0f64.next_down(), 1.0 - 1e-9, 0.5] {
        if let Ok(checked) = quadratic_certificate(1.0, 0.0, 0.0, gamma, 1.0) {
            assert!(checked.value >= 1.0, "gamma {gamma} certified at {}", checked.value);
        }
    }
    // heavy cancellation: (B - 1) x^2 + x - B with B = 1e15 has its maximum 0
    // at x = 1; with lambda = B the entries of M cancel to
    // [[-1, 1/2], [1/2, -gamma]], negative semidefinite for gamma >= 1/4
    let big = 1e15;
    let checked = quadratic_certificate(big - 1.0, 0.5, -big, 0.25, big).expect("exact certificate with cancellation passes");
    assert!(checked.value >= 0.25, "cancellation: certified {} below the claim 1/4", checked.value);
    for gamma in [0.25f64.next_down(), 0.2, -1.0] {
        if let Ok(checked) = quadratic_certificate(big - 1.0, 0.5, -big, gamma, big) {
            assert!(checked.value >= 0.0, "cancellation: gamma {gamma} certified at {} below the exact maximum 0", checked.value);
        }
    }
}

/// A violation on a small coordinate is paid for at that coordinate's size:
/// in `zeta = (x, y, 1)` with `|x| <= 100`, `|y| <= h`, the objective
/// `-x^2 + eps y^2` with the claim `gamma = 0` leaves `M = diag(-1, eps, 0)`
/// with the positive eigenvalue `eps` on `y`. The exact maximum is `eps h^2`.
/// A uniform shift costs `eps R^2` (about `1e4 eps`); the eigenvector-weighted
/// one about `eps h^2`. The certified value is never below the exact maximum,
/// and within 1% of it (plus rounding) where only the weighted shift gets there.
#[test]
fn a_violation_on_a_small_coordinate_is_paid_for_at_its_size() {
    common::single_threaded_blas();
    for (eps, h) in [(1e-3, 1e-2), (1.0, 1e-3), (1e-6, 0.5), (0.25, 1.0)] {
        let objective = SymmetricSparse { entries: vec![(0, 0, -1.0), (1, 1, eps), (2, 2, 0.0)] };
        let multipliers = Multipliers { gamma: 0.0, gamma_x: 0.0, constraint: Vec::new() };
        let checked = check(3, 2, &objective, &[], None, &multipliers, &[100.0, h, 1.0]).expect("a violation of eps is paid for, not refused");
        // eps h^2, computed exactly for these values up to one rounding: compare with a margin of 1 ulp
        let maximum = eps * h * h;
        assert!(checked.value >= maximum * (1.0 + 4.0 * f64::EPSILON), "eps {eps}, h {h}: certified {} below the exact maximum {maximum}", checked.value);
        let uniform_cost = eps * (1e4 + h * h + 1.0);
        assert!(checked.value <= 1.01 * maximum + 1e-12, "eps {eps}, h {h}: certified {} ({}), the maximum is {maximum} (a uniform shift would cost {uniform_cost})", checked.value, checked.shift_kind);
        assert_eq!(checked.shift_kind, if h < 1e-2 || eps < 1e-3 { "eigenvector" } else { checked.shift_kind }, "eps {eps}, h {h}");
    }
}

/// Non-finite inputs or intermediates refuse the certificate: never a finite
/// number from `NaN` or `inf - inf`.
#[test]
fn non_finite_certificates_are_refused() {
    common::single_threaded_blas();
    let objective = SymmetricSparse { entries: vec![(0, 0, -1.0), (0, 1, 0.5), (1, 1, 0.0)] };
    let interval = Constraint::from_matrix(Family::Interval, Sense::NonNegative, SymmetricSparse { entries: vec![(0, 0, -1.0), (1, 1, 1.0)] }, 0.0);
    let run = |objective: &SymmetricSparse, gamma: f64, gamma_x: f64, lambda: f64| check(2, 1, objective, std::slice::from_ref(&interval), None, &Multipliers { gamma, gamma_x, constraint: vec![lambda] }, &[1.0, 1.0]);
    assert!(run(&objective, 0.25, 0.0, 0.0).is_ok());
    assert!(run(&objective, 0.25, f64::NAN, 0.0).is_err(), "NaN gamma_x");
    assert!(run(&objective, 0.25, f64::INFINITY, 0.0).is_err(), "infinite gamma_x");
    assert!(run(&objective, f64::NAN, 0.0, 0.0).is_err(), "NaN gamma");
    assert!(run(&objective, 0.25, 0.0, f64::NAN).is_err(), "NaN multiplier");
    // entries near 1e200 pass validation; their products overflow to inf and
    // inf - inf is NaN
    let huge = SymmetricSparse { entries: vec![(0, 0, 1e200), (0, 1, 0.5), (1, 1, 0.0)] };
    assert!(run(&huge, 0.25, 0.0, 1e200).is_err(), "1e200 * 1e200 overflows");
    let cancelling = SymmetricSparse { entries: vec![(0, 0, 1e308), (0, 0, 1e308), (0, 0, -1e308), (0, 0, -1e308), (1, 1, 0.0)] };
    assert!(run(&cancelling, 0.25, 0.0, 0.0).is_err(), "inf - inf");
}

/// A constraint whose slack is infinite (its rounding cannot be bounded: a
/// radius whose square overflows) is unusable, not poisonous: with a zero
/// multiplier the certificate is checked as without it; with any other it
/// is refused.
#[test]
fn an_unusable_constraint_with_a_zero_multiplier_is_left_out() {
    common::single_threaded_blas();
    let objective = SymmetricSparse { entries: vec![(0, 0, -1.0), (0, 1, 0.5), (1, 1, 0.0)] };
    let unusable = Constraint::from_matrix(Family::Input, Sense::NonNegative, SymmetricSparse { entries: vec![(0, 0, -1.0), (1, 1, f64::INFINITY)] }, f64::INFINITY);
    let run = |lambda: f64| check(2, 1, &objective, std::slice::from_ref(&unusable), None, &Multipliers { gamma: 0.25, gamma_x: 0.0, constraint: vec![lambda] }, &[1.0, 1.0]);
    let checked = run(0.0).expect("the zero multiplier leaves the constraint out");
    // -x^2 + x has its maximum 1/4: the claim is exact
    assert!(checked.value >= 0.25 && checked.value <= 0.25 + 1e-9, "{}", checked.value);
    assert!(run(1.0).is_err(), "an infinite slack with a positive multiplier");
}

/// The certified value is at least the exact sum of the terms it is made of
/// (`gamma + t cost + e R^2 + slack`), also when a large negative `gamma`
/// cancels a large assembly-error term: a padding relative to the result
/// (tiny after cancellation) would lose the small shift term entirely.
#[test]
fn certified_value_is_at_least_the_exact_sum_of_its_terms_under_cancellation() {
    common::single_threaded_blas();
    use dashu_float::FBig;
    let exact = |x: f64| FBig::<dashu_float::round::mode::Zero, 2>::try_from(x).unwrap().with_precision(4000).value();
    // off-diagonal entries 1e24 - 1e24 cancel in M but not in the assembly
    // error; the objective's constant entry c and gamma = c cancel in M too
    let run = |c: f64| {
        let objective = SymmetricSparse { entries: vec![(0, 0, -1.0), (0, 1, 1e24), (0, 1, -1e24), (1, 1, c)] };
        check(2, 1, &objective, &[], None, &Multipliers { gamma: c, gamma_x: 0.0, constraint: Vec::new() }, &[1.0, 1.0]).expect("M is negative semidefinite")
    };
    // choose gamma = c to cancel the assembly term: gamma + e R^2 close to 0
    let first = run(-1e9);
    let mut c = -(first.assembly_error * first.radius_squared);
    for _ in 0..3 {
        let again = run(c);
        c = -(again.assembly_error * again.radius_squared);
    }
    for gamma in [c, c.next_up(), c.next_down(), c + 1e-7, c - 1e-7] {
        let checked = run(gamma);
        let shift_cost = if checked.shift_kind == "uniform" { exact(checked.shift) * exact(checked.radius_squared) } else { exact(0.0) };
        let sum = exact(gamma) + shift_cost + exact(checked.assembly_error) * exact(checked.radius_squared) + exact(checked.constraint_slack);
        assert!(exact(checked.value) >= sum, "gamma {gamma}: certified {} below the exact sum of its terms {sum} (shift {}, {})", checked.value, checked.shift, checked.shift_kind);
    }
}

/// The check stops at its deadline: with one already passed it refuses,
/// naming the time limit, where without one the same multipliers pass with
/// the same value as [`check`]'s.
#[test]
fn a_check_past_its_deadline_refuses_naming_the_time_limit() {
    use deltacert::sdp::certificate::check_by;
    common::single_threaded_blas();
    let (f, g) = (model("paper/paper_quant_orig.onnx"), model("paper/paper_quant_q.onnx"));
    let set = InputSet::uniform_box(1, -1.0, 1.0).unwrap();
    let prepared = prepare(&f, &g, &set, &InputCoupling::Same).unwrap();
    let (lifted, constraints) = constraints_for(&prepared, QcOptions::FULL);
    let objective = objective_matrix(&lifted, Objective::Output { index: 0, sign: 1.0 });
    let problem = SdpProblem { dim: lifted.dim, constant: lifted.constant, objective: &objective, constraints: &constraints, distance: None, coordinate_scale: &lifted.coordinate_magnitude };
    let outcome = solve(&problem, None);
    let r2 = &lifted.coordinate_magnitude;
    let unlimited = check(lifted.dim, lifted.constant, &objective, &constraints, None, &outcome.multipliers, r2).expect("passes");
    let later = Some(std::time::Instant::now() + std::time::Duration::from_secs(3600));
    let in_time = check_by(lifted.dim, lifted.constant, &objective, &constraints, None, &outcome.multipliers, r2, later).expect("passes");
    assert_eq!(in_time.value, unlimited.value);
    let passed = Some(std::time::Instant::now());
    let refusal = check_by(lifted.dim, lifted.constant, &objective, &constraints, None, &outcome.multipliers, r2, passed).expect_err("past its deadline");
    assert!(refusal.reason.contains("time limit"), "{}", refusal.reason);
}

/// An interior-point solve whose setup outlasts the time limit is abandoned
/// at the limit, not half a second after it: ACAS Xu 2_6 vs float16 on
/// property 3 (lifted dimension 98), `--method sdp` with the interior-point
/// solver and 1 s for the whole call, which then reports propagation's bound.
#[test]
fn an_interior_point_solve_is_abandoned_at_the_time_limit() {
    use deltacert::bound::{bound, BoundRequest, Method};
    use deltacert::problem::Norm;
    use deltacert::sdp::SdpSolver;
    let f = model("acasxu/ACASXU_run2a_2_6_batch_2000.nnet");
    let g = model("acasxu/ACASXU_run2a_2_6_batch_2000_16bit.nnet");
    let property: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(common::fixture("acasxu/property_3.json")).unwrap()).unwrap();
    let side = |key: &str| property[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect::<Vec<f64>>();
    let set = InputSet::from_box(side("lower"), side("upper")).unwrap();
    let mut request = BoundRequest::new(set, InputCoupling::Same, Norm::Linf, Method::SDP);
    request.sdp.solver = SdpSolver::InteriorPoint;
    request.time_limit = Some(1.0);
    let report = bound(&f, &g, &request).expect("bounded");
    assert!(report.certified_bound.is_some());
    assert!(report.seconds < 1.3, "{:.3} s for a limit of 1 s", report.seconds);
}
