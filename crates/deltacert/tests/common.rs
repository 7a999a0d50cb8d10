//! Shared helpers for the integration tests.
#![allow(dead_code)]

use deltacert::network::Network;
use std::path::PathBuf;

/// Path of a file under `tests/fixtures`.
pub fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(relative)
}

/// Reads a fixture model.
pub fn model(relative: &str) -> Network {
    deltacert::io::read_model(&fixture(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// `|a - b| <= abs + rel * max(|a|, |b|)`.
pub fn close(a: f64, b: f64, abs: f64, rel: f64) -> bool {
    (a - b).abs() <= abs + rel * a.abs().max(b.abs())
}

/// One random soundness case: a pair, a set, a coupling and a norm.
pub struct RandomCase {
    pub f: Network,
    pub g: Network,
    pub set: deltacert::input_set::InputSet,
    pub coupling: deltacert::sdp::lift::InputCoupling,
    pub norm: deltacert::sdp::Norm,
    pub description: String,
}

/// Case `case` of the random-pair property tests: 4 activations, 1–8
/// inputs, 1–3 hidden layers up to width 16, pruned / structurally pruned /
/// quantised / unrelated partners, boxes, L2 balls and polytopes, same,
/// quantised and independent inputs, linf and l2.
pub fn random_case(rng: &mut impl rand::Rng, case: usize) -> RandomCase {
    use deltacert::activation::Activation;
    use deltacert::input_set::InputSet;
    use deltacert::network::random::{partner, random_mlp, Relation};
    use deltacert::sdp::lift::InputCoupling;
    use deltacert::sdp::Norm;
    let activations = [Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::LeakyRelu { alpha: 0.1 }];
    let relations = [Relation::Pruned, Relation::StructurallyPruned, Relation::Quantised, Relation::Unrelated];
    let activation = activations[case % 4];
    let relation = relations[(case / 4) % 4];
    let inputs = rng.gen_range(1..=8);
    let depth = rng.gen_range(1..=3);
    let max_width = [16, 8, 5][depth - 1];
    let hidden: Vec<usize> = (0..depth).map(|_| rng.gen_range(2..=max_width)).collect();
    let outputs = rng.gen_range(1..=2);
    let f = random_mlp(rng, inputs, &hidden, outputs, activation);
    let g = partner(rng, &f, relation, activation);
    let lo: f64 = rng.gen_range(-1.0..0.5);
    let width = rng.gen_range(0.05..1.5);
    let mut set = InputSet::uniform_box(inputs, lo, lo + width).unwrap();
    let center: Vec<f64> = vec![lo + width / 2.0; inputs];
    match case % 10 {
        // an L2 ball
        3 => set = InputSet::ball(center, width / 2.0, true).unwrap(),
        // a box cut by two half-spaces through points near the centre
        5 => {
            let mut rows = Vec::new();
            for _ in 0..2 {
                let a: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let b = a.iter().zip(&center).map(|(x, c)| x * c).sum::<f64>() + 0.1 * width;
                rows.push((a, b));
            }
            set = set.with_polytope(rows).unwrap();
        }
        _ => {}
    }
    let coupling = match case % 10 {
        7 => InputCoupling::Quantised(vec![rng.gen_range(0.01..0.2); inputs]),
        9 => InputCoupling::Independent,
        _ => InputCoupling::Same,
    };
    let norm = if case % 3 == 0 { Norm::L2 } else { Norm::Linf };
    let description = format!("case {case} ({activation:?}, {relation:?}, {coupling:?}, {norm:?}, hidden {hidden:?})");
    RandomCase { f, g, set, coupling, norm, description }
}

/// f64 evaluation of the networks is itself rounded; a certified bound is
/// for exact arithmetic. Sampled errors may exceed it by this much, relative
/// to the size of the outputs.
pub const EVALUATION_TOLERANCE: f64 = 1e-10;

/// Asserts that no observed error (overall and per output) exceeds the
/// certified bound, and that the witness lies in the set.
pub fn assert_sound(report: &deltacert::bound::BoundReport, set: &deltacert::input_set::InputSet, description: &str) {
    assert!(report.lower_bound == 0.0 || report.witness.as_ref().is_some_and(|w| set.contains(w, 1e-12)), "{description}: witness outside the set");
    let Some(certified) = report.certified_bound else { return };
    let scale = 1.0 + certified.abs();
    assert!(report.lower_bound <= certified + EVALUATION_TOLERANCE * scale, "{description}: observed {} > certified {certified} ({:?})", report.lower_bound, report.method);
    for (j, (b, l)) in report.per_output_bound.iter().zip(&report.per_output_lower).enumerate() {
        if let Some(b) = b {
            assert!(*l <= b + EVALUATION_TOLERANCE * scale, "{description} output {j}: observed {l} > certified {b} ({:?})", report.method);
        }
    }
}
