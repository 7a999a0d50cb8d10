//! The SDP bound is a theorem: no sampled error may exceed it.
//!
//! 300 seeded random pairs (ReLU, tanh, sigmoid, leaky ReLU; 1–8 inputs; 1–3
//! hidden layers up to width 16; pruned, structurally pruned, quantised,
//! unrelated; same, quantised and independent inputs; boxes, L2 balls and
//! polytopes; linf and l2), each
//! checked against 10,000 uniform samples plus projected gradient ascent.

use deltacert::activation::Activation;
use deltacert::bound::{bound, BoundRequest, Method, Status};
use deltacert::input_set::InputSet;
use deltacert::network::random::{partner, random_mlp, Relation};
use deltacert::sdp::lift::InputCoupling;
use deltacert::sdp::{Norm, SdpSettings};
use deltacert::search::AttackSettings;
use rand::{Rng, SeedableRng};

/// f64 evaluation of the networks is itself rounded; the certified bound is
/// for exact arithmetic. Sampled errors may exceed it by this much, relative
/// to the size of the outputs.
const EVALUATION_TOLERANCE: f64 = 1e-10;

#[test]
fn no_sampled_error_exceeds_the_certified_bound_on_300_random_pairs() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261126);
    let activations = [Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::LeakyRelu { alpha: 0.1 }];
    let relations = [Relation::Pruned, Relation::StructurallyPruned, Relation::Quantised, Relation::Unrelated];
    let (mut certified, mut total) = (0, 0);
    let mut ratios = Vec::new();
    for case in 0..300 {
        let activation = activations[case % 4];
        let relation = relations[(case / 4) % 4];
        let inputs = rng.gen_range(1..=8);
        let depth = rng.gen_range(1..=3);
        let max_width = [16, 8, 5][depth - 1];
        let hidden: Vec<usize> = (0..depth).map(|_| rng.gen_range(2..=max_width)).collect();
        let outputs = rng.gen_range(1..=2);
        let f = random_mlp(&mut rng, inputs, &hidden, outputs, activation);
        let g = partner(&mut rng, &f, relation, activation);
        let lo: f64 = rng.gen_range(-1.0..0.5);
        let width = rng.gen_range(0.05..1.5);
        let mut set = InputSet::uniform_box(inputs, lo, lo + width).unwrap();
        let center: Vec<f64> = vec![lo + width / 2.0; inputs];
        match case % 10 {
            // an L2 ball
            3 => set = InputSet::ball(center, width / 2.0, true).unwrap(),
            // a box cut by two half-spaces through points near the centre
            5 => {
                for _ in 0..2 {
                    let a: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-1.0..1.0)).collect();
                    let b = a.iter().zip(&center).map(|(x, c)| x * c).sum::<f64>() + 0.1 * width;
                    set.polytope.push((a, b));
                }
            }
            _ => {}
        }
        let coupling = match case % 10 {
            7 => InputCoupling::Quantised(vec![rng.gen_range(0.01..0.2); inputs]),
            9 => InputCoupling::Independent,
            _ => InputCoupling::Same,
        };
        let norm = if case % 3 == 0 { Norm::L2 } else { Norm::Linf };
        let request = BoundRequest {
            set,
            coupling: coupling.clone(),
            norm,
            method: Method::Sdp,
            sdp: SdpSettings::default(),
            attack: AttackSettings { samples: 10_000, starts: 8, steps: 60, seed: case as u64 },
        };
        let report = bound(&f, &g, &request).unwrap();
        total += 1;
        // the witness is a real input of the set (0 is reported when none was found)
        assert!(report.lower_bound == 0.0 || request.set.contains(&report.witness, 1e-12), "case {case}: witness outside the set");
        let Some(certified_bound) = report.certified_bound else { continue };
        certified += 1;
        assert_eq!(report.status, Status::Certified);
        let scale = 1.0 + certified_bound.abs();
        assert!(
            report.lower_bound <= certified_bound + EVALUATION_TOLERANCE * scale,
            "case {case} ({activation:?}, {relation:?}, {coupling:?}, {norm:?}): observed {} > certified {certified_bound}",
            report.lower_bound
        );
        for (j, (b, l)) in report.per_output_bound.iter().zip(&report.per_output_lower).enumerate() {
            if let Some(b) = b {
                assert!(*l <= b + EVALUATION_TOLERANCE * scale, "case {case} output {j}: observed {l} > certified {b}");
            }
        }
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
