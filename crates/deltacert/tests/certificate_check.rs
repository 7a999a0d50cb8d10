//! The certificate check (method.md §5) does not trust the solver: perturbed
//! or corrupted multipliers either widen the bound soundly or are refused.

mod common;

use common::model;
use deltacert::input_set::InputSet;
use deltacert::sdp::certificate::check;
use deltacert::sdp::lift::InputCoupling;
use deltacert::sdp::qc::QcOptions;
use deltacert::sdp::solve::{solve, SdpProblem, SolveStatus};
use deltacert::sdp::{constraints_for, objective_matrix, prepare, Objective};
use rand::{Rng, SeedableRng};

/// Largest of `sign (f(x) - g(x))` on a grid of 2,000,001 points of [-1, 1]
/// (the pair is piecewise linear with few kinks: the grid is within 1e-6).
fn grid_max(sign: f64) -> f64 {
    let (f, g) = (model("paper/paper_quant_orig.onnx"), model("paper/paper_quant_q.onnx"));
    (0..=2_000_000).map(|i| -1.0 + i as f64 * 1e-6).map(|x| sign * (f.eval(&[x])[0] - g.eval(&[x])[0])).fold(f64::NEG_INFINITY, f64::max)
}

#[test]
fn perturbed_multipliers_widen_the_bound_or_are_refused() {
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
