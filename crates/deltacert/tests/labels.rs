//! Label decisions (`--top1`, `--confidence`): exact answers on pairs where
//! the truth is known by hand, and a soundness property on random pairs: a
//! "proven" pair shows no label flip on dense samples, and every
//! counterexample is a real flip inside the set.

mod common;

use deltacert::activation::Activation;
use deltacert::input_set::InputSet;
use deltacert::label::{argmax, decide_labels, LabelAnswer, LabelRequest};
use deltacert::network::random::{partner, random_mlp, Relation};
use deltacert::network::{Layer, Matrix, Network};
use rand::{Rng, SeedableRng};

/// `x -> W x + b` with two inputs and two outputs (the label is which output is larger).
fn affine(weights: [f64; 4], bias: [f64; 2]) -> Network {
    Network { input_dim: 2, input_transform: None, layers: vec![Layer::dense(0, Matrix::from_rows(2, 2, weights.to_vec()), bias.to_vec(), Activation::Identity)], kept_neurons: None, source_dtype: "float64".into(), output_softmax: false }
}

/// How far `y`'s entry at `label` leads the largest other entry.
fn lead(y: &[f64], label: usize) -> f64 {
    y[label] - y.iter().enumerate().filter(|(j, _)| *j != label).map(|(_, v)| *v).fold(f64::NEG_INFINITY, f64::max)
}

/// A random pair for the property tests: `f` with 1 to `max_inputs`
/// inputs, one or two hidden layers of 2 to `max_width`, 2 to
/// `max_outputs` outputs; `g` its partner by `relation`. Also the input count.
fn random_pair(rng: &mut rand::rngs::StdRng, activation: Activation, relation: Relation, max_inputs: usize, max_width: usize, max_outputs: usize) -> (Network, Network, usize) {
    let inputs = rng.gen_range(1..=max_inputs);
    let hidden: Vec<usize> = (0..rng.gen_range(1..=2)).map(|_| rng.gen_range(2..=max_width)).collect();
    let outputs = rng.gen_range(2..=max_outputs);
    let f = random_mlp(rng, inputs, &hidden, outputs, activation);
    let g = partner(rng, &f, relation, activation);
    (f, g, inputs)
}

/// A counterexample of `report` lies in `set`, and `f` and `g` pick the
/// labels it names there, which differ.
fn assert_real_flip(f: &Network, g: &Network, set: &InputSet, report: &deltacert::label::LabelReport, case: usize) {
    let c = report.counterexample.as_ref().unwrap();
    assert!(set.contains(&c.input, 0.0), "case {case}: counterexample outside the set");
    assert_eq!(argmax(&f.eval(&c.input)), c.reference_label, "case {case}");
    assert_eq!(argmax(&g.eval(&c.input)), c.compressed_label, "case {case}");
    assert_ne!(c.reference_label, c.compressed_label);
}

/// The property tests' request: one second and 50 samples.
fn quick_request(set: InputSet) -> LabelRequest {
    let mut request = LabelRequest::top1(set);
    request.time_limit = Some(1.0);
    request.samples = 50;
    request
}

fn request(lower: [f64; 2], upper: [f64; 2]) -> LabelRequest {
    let mut request = LabelRequest::top1(InputSet::from_box(lower.to_vec(), upper.to_vec()).unwrap());
    request.time_limit = Some(5.0);
    request
}

/// f labels by `x0 > x1`, g by `x0 > x1 + 0.1`: they agree exactly where
/// `x0 - x1` is outside `(0, 0.1]`.
#[test]
fn top1_matches_the_known_answer() {
    let f = affine([1.0, 0.0, 0.0, 1.0], [0.0, 0.0]);
    let g = affine([1.0, 0.0, 0.0, 1.0], [0.0, 0.1]);
    // x0 - x1 >= 0.2 everywhere: both say 0
    let report = decide_labels(&f, &g, &request([0.6, 0.0], [1.0, 0.4])).unwrap();
    assert_eq!(report.answer, LabelAnswer::Proven, "{report:?}");
    assert_eq!(report.proven_fraction, 1.0);
    // x0 - x1 <= -0.01 everywhere: both say 1
    let report = decide_labels(&f, &g, &request([0.0, 0.5], [0.49, 1.0])).unwrap();
    assert_eq!(report.answer, LabelAnswer::Proven, "{report:?}");
    // the band 0 < x0 - x1 <= 0.1 crosses the box: a real flip exists
    let report = decide_labels(&f, &g, &request([0.0, 0.0], [1.0, 1.0])).unwrap();
    assert_eq!(report.answer, LabelAnswer::Counterexample, "{report:?}");
    let c = report.counterexample.unwrap();
    let gap = c.input[0] - c.input[1];
    assert!(gap > 0.0 && gap <= 0.1, "the flip must lie in the band: {c:?}");
    assert_eq!((c.reference_label, c.compressed_label), (0, 1));
}

/// A network against itself: the labels agree everywhere, including on the
/// tie `x0 = x1` that crosses the box (where bounds on margins can never
/// prove a piece), with and without a confidence threshold, at once.
#[test]
fn identical_networks_are_proven_at_once() {
    let f = affine([1.0, 0.0, 0.0, 1.0], [0.0, 0.0]);
    for confidence in [None, Some(0.9)] {
        let mut r = request([0.0, 0.0], [1.0, 1.0]);
        r.confidence = confidence;
        let report = decide_labels(&f, &f.clone(), &r).unwrap();
        assert_eq!(report.answer, LabelAnswer::Proven, "{report:?}");
        assert_eq!(report.proven_fraction, 1.0);
        assert!(report.note.as_deref().is_some_and(|n| n.contains("identical layers")), "{report:?}");
    }
    // one weight apart: the ordinary search runs (and finds the flip near the tie)
    let g = affine([1.0, 0.0, 0.0, 1.0], [0.0, 1e-9]);
    let report = decide_labels(&f, &g, &request([0.0, 0.0], [1.0, 1.0])).unwrap();
    assert_ne!(report.answer, LabelAnswer::Proven, "{report:?}");
}

/// A Softmax at the output changes no label: the same answers with it on
/// one, the other or both networks, and the counterexample is a real flip
/// of the probabilities' argmax.
#[test]
fn a_softmax_output_gives_the_logits_answers() {
    let with_softmax = |mut n: Network| {
        n.output_softmax = true;
        n
    };
    let f = affine([1.0, 0.0, 0.0, 1.0], [0.0, 0.0]);
    let g = affine([1.0, 0.0, 0.0, 1.0], [0.0, 0.1]);
    for (f, g) in [(with_softmax(f.clone()), with_softmax(g.clone())), (with_softmax(f.clone()), g.clone()), (f.clone(), with_softmax(g.clone()))] {
        let report = decide_labels(&f, &g, &request([0.6, 0.0], [1.0, 0.4])).unwrap();
        assert_eq!(report.answer, LabelAnswer::Proven, "{report:?}");
        let report = decide_labels(&f, &g, &request([0.0, 0.0], [1.0, 1.0])).unwrap();
        assert_eq!(report.answer, LabelAnswer::Counterexample, "{report:?}");
        let c = report.counterexample.unwrap();
        assert_eq!((argmax(&f.eval(&c.input)), argmax(&g.eval(&c.input))), (0, 1), "{c:?}");
    }
}

/// A narrow band that sampling misses: the proof must not claim "proven".
#[test]
fn a_thin_disagreement_band_is_never_proven() {
    let f = affine([1.0, 0.0, 0.0, 1.0], [0.0, 0.0]);
    let g = affine([1.0, 0.0, 0.0, 1.0], [0.0, 1e-9]);
    let mut r = request([0.0, 0.0], [1.0, 1.0]);
    r.samples = 10;
    r.time_limit = Some(1.0);
    let report = decide_labels(&f, &g, &r).unwrap();
    assert_ne!(report.answer, LabelAnswer::Proven, "{report:?}");
    if let Some(c) = &report.counterexample {
        let gap = c.input[0] - c.input[1];
        assert!(gap > 0.0 && gap <= 1e-9, "{c:?}");
    }
}

/// Where f itself changes label inside the set, g (any copy that is not f)
/// changes it at a slightly different place, and between the two the labels
/// differ: a band far too thin for sampling (output biases moved by 1e-6 on
/// a 20-input ReLU network) must still give a counterexample, a real flip
/// inside the box, rather than "unknown".
#[test]
fn a_flip_at_the_reference_boundary_is_found() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let mut found = 0;
    for case in 0..6 {
        let f = random_mlp(&mut rng, 20, &[16, 16], 3, Activation::Relu);
        let mut g = f.clone();
        for (j, b) in g.layers.last_mut().unwrap().bias.iter_mut().enumerate() {
            *b += [1e-6, -1e-6, 2e-6][j];
        }
        let set = InputSet::uniform_box(20, -1.0, 1.0).unwrap();
        // f's labels vary over the box (else there is no boundary to find)
        let labels: std::collections::BTreeSet<usize> = (0..200).map(|_| argmax(&f.eval(&set.sample(&mut rng)))).collect();
        if labels.len() < 2 {
            continue;
        }
        let mut r = LabelRequest::top1(set.clone());
        r.samples = 100;
        r.time_limit = Some(5.0);
        let report = decide_labels(&f, &g, &r).unwrap();
        assert_eq!(report.answer, LabelAnswer::Counterexample, "case {case}: {report:?}");
        let c = report.counterexample.unwrap();
        assert!(set.contains(&c.input, 0.0), "case {case}: outside the box");
        assert_ne!(argmax(&f.eval(&c.input)), argmax(&g.eval(&c.input)), "case {case}: not a flip");
        assert_eq!((argmax(&f.eval(&c.input)), argmax(&g.eval(&c.input))), (c.reference_label, c.compressed_label));
        found += 1;
    }
    assert!(found >= 4, "only {found} cases had a boundary");
}

/// The boundary search starts inside the set and reports only points inside
/// it: f and g agree on the polytope `x0 + x1 <= -1.5` and differ only on
/// `-1 < x0 + x1 < -0.8`, outside it, where the box's centre lies.
#[test]
fn boundary_counterexamples_stay_inside_a_polytope() {
    let f = affine([0.0, 0.0, -1.0, -1.0], [0.0, -1.0]);
    let g = affine([0.0, 0.0, -1.0, -1.0], [0.0, -0.8]);
    let set = InputSet::from_box(vec![-1.0; 2], vec![1.0; 2]).unwrap().with_polytope(vec![(vec![1.0, 1.0], -1.5)]).unwrap();
    let mut r = LabelRequest::top1(set.clone());
    r.time_limit = Some(3.0);
    let report = decide_labels(&f, &g, &r).unwrap();
    assert_ne!(report.answer, LabelAnswer::Counterexample, "{report:?}");
}

/// A polytope that cuts the disagreement band away: no counterexample may be
/// reported from outside it (sampling and projection only see the box).
#[test]
fn counterexamples_respect_a_polytope() {
    let f = affine([1.0, 0.0, 0.0, 1.0], [0.0, 0.0]);
    let g = affine([1.0, 0.0, 0.0, 1.0], [0.0, 0.1]);
    // x1 - x0 >= 0.2, written -(x1 - x0) <= -0.2: there f and g both say 1
    let set = InputSet::from_box(vec![0.0, 0.0], vec![1.0, 1.0]).unwrap().with_polytope(vec![(vec![1.0, -1.0], -0.2)]).unwrap();
    let mut r = LabelRequest::top1(set.clone());
    r.time_limit = Some(1.0);
    let report = decide_labels(&f, &g, &r).unwrap();
    assert_ne!(report.answer, LabelAnswer::Counterexample, "{report:?}");
    if let Some(c) = &report.counterexample {
        assert!(set.contains(&c.input, 0.0));
    }
}

/// With a confidence D, inputs where f is unsure do not count: f labels by
/// `x0 > x1` with logits scaled by 10; g disagrees only in the band where
/// `0 < x0 - x1 <= 0.05`, where f's probability is at most
/// `1 / (1 + exp(-0.5)) = 0.62`.
#[test]
fn confidence_excludes_unsure_inputs() {
    let f = affine([10.0, 0.0, 0.0, 10.0], [0.0, 0.0]);
    let g = affine([10.0, 0.0, 0.0, 10.0], [0.0, 0.5]);
    let mut r = request([0.0, 0.0], [1.0, 1.0]);
    r.confidence = Some(0.7);
    r.time_limit = Some(20.0);
    let report = decide_labels(&f, &g, &r).unwrap();
    assert_eq!(report.answer, LabelAnswer::Proven, "{report:?}");
    // at D = 0.55 the band holds confident flips (probability up to 0.62)
    r.confidence = Some(0.55);
    let report = decide_labels(&f, &g, &r).unwrap();
    assert_eq!(report.answer, LabelAnswer::Counterexample, "{report:?}");
    let c = report.counterexample.unwrap();
    assert!(c.reference_confidence_lower >= 0.55);
}

/// Margins past `exp`'s range: f = (720 x0, 0) and g = (720 x0, 1e-6 x0) on
/// `x0 in [1, 2]` agree on label 0 with a margin of at least 720, so the
/// confidence question (weaker than plain top-1) is proven too; it was
/// "unknown" while an overflowing `exp` had the lower end 0, which left a
/// confidence of 1 in label 1 possible.
#[test]
fn a_confidence_question_with_margins_past_the_range_of_exp() {
    let f = affine([720.0, 0.0, 0.0, 0.0], [0.0, 0.0]);
    let g = affine([720.0, 0.0, 1e-6, 0.0], [0.0, 0.0]);
    for confidence in [None, Some(0.5), Some(0.99)] {
        let mut r = request([1.0, 0.0], [2.0, 1.0]);
        r.confidence = confidence;
        let report = decide_labels(&f, &g, &r).unwrap();
        assert_eq!(report.answer, LabelAnswer::Proven, "{confidence:?}: {report:?}");
    }
}

/// Bad requests are errors; one output is trivially proven.
#[test]
fn bad_requests_are_refused() {
    let f = affine([1.0, 0.0, 0.0, 1.0], [0.0, 0.0]);
    let mut r = request([0.0, 0.0], [1.0, 1.0]);
    r.confidence = Some(1.0);
    assert!(decide_labels(&f, &f, &r).is_err());
    r.confidence = Some(0.4);
    assert!(decide_labels(&f, &f, &r).is_err());
    r.confidence = None;
    r.time_limit = Some(f64::NAN);
    assert!(decide_labels(&f, &f, &r).is_err());
    let wrong = LabelRequest::top1(InputSet::uniform_box(3, 0.0, 1.0).unwrap());
    assert!(decide_labels(&f, &f, &wrong).is_err());
    let mut one = f.clone();
    one.layers[0] = Layer::dense(0, Matrix::from_rows(1, 2, vec![1.0, 1.0]), vec![0.0], Activation::Identity);
    let report = decide_labels(&one, &one, &LabelRequest::top1(InputSet::uniform_box(2, 0.0, 1.0).unwrap())).unwrap();
    assert_eq!(report.answer, LabelAnswer::Proven);
}

/// Random pairs of every activation and relation: "proven" survives dense
/// sampling, and counterexamples are real flips inside the set.
#[test]
fn random_pairs_proven_means_no_sampled_flip() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261202);
    let activations = [Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::LeakyRelu { alpha: 0.1 }];
    let relations = [Relation::Pruned, Relation::Quantised, Relation::StructurallyPruned, Relation::Unrelated];
    let mut counts = [0usize; 3];
    for case in 0..80 {
        let activation = activations[case % 4];
        let (f, g, inputs) = random_pair(&mut rng, activation, relations[(case / 4) % 4], 3, 8, 4);
        let lo: f64 = rng.gen_range(-1.0..0.5);
        let width = [0.01, 0.1, 0.5][case % 3];
        let set = InputSet::uniform_box(inputs, lo, lo + width).unwrap();
        let mut r = quick_request(set.clone());
        if case % 5 == 4 {
            r.confidence = Some(0.6);
        }
        let report = decide_labels(&f, &g, &r).unwrap();
        match report.answer {
            LabelAnswer::Proven => {
                counts[0] += 1;
                for _ in 0..4000 {
                    let x = set.sample(&mut rng);
                    let (yf, yg) = (f.eval(&x), g.eval(&x));
                    let (c, d) = (argmax(&yf), argmax(&yg));
                    if c != d {
                        // only a flip with a clear margin contradicts the proof (evaluation rounding aside)
                        let (margin_f, margin_g) = (lead(&yf, c), lead(&yg, d));
                        let confident = r.confidence.is_none_or(|threshold| {
                            let total: f64 = yf.iter().map(|v| (v - yf[c]).exp()).sum();
                            1.0 / total >= threshold + 1e-9
                        });
                        assert!(!(margin_f > 1e-9 && margin_g > 1e-9 && confident), "case {case}: proven, yet f says {c} and g says {d} at {x:?}");
                    }
                }
            }
            LabelAnswer::Counterexample => {
                counts[1] += 1;
                assert_real_flip(&f, &g, &set, &report, case);
            }
            LabelAnswer::Unknown => {
                counts[2] += 1;
                assert!((0.0..=1.0).contains(&report.proven_fraction));
            }
        }
    }
    eprintln!("proven {}, counterexample {}, unknown {}", counts[0], counts[1], counts[2]);
    assert!(counts[0] > 0 && counts[1] > 0, "the property test must see both answers: {counts:?}");
}

/// A quantised or independent input of `g`: identical networks are not
/// agreement any more where `f`'s label changes inside the set; a set
/// whose every point has the same label (for both networks, wherever
/// `x'` may go inside it) is still proven; a counterexample pair keeps
/// `x'` within the step of `x` and inside the set.
#[test]
fn quantised_and_independent_inputs_have_known_answers() {
    use deltacert::problem::InputCoupling;
    let f = affine([1.0, 0.0, 0.0, 1.0], [0.0, 0.0]);
    let coupled = |lower: [f64; 2], upper: [f64; 2], coupling: InputCoupling| {
        let mut r = request(lower, upper);
        r.coupling = coupling;
        r
    };
    // x0 - x1 >= 0.2 on the set, and x' stays in it: label 0 throughout
    for coupling in [InputCoupling::Quantised(vec![0.3, 0.3]), InputCoupling::Independent] {
        let report = decide_labels(&f, &f, &coupled([0.6, 0.0], [1.0, 0.4], coupling.clone())).unwrap();
        assert_eq!(report.answer, LabelAnswer::Proven, "{coupling:?}: {report:?}");
    }
    // f's boundary x0 = x1 crosses the set: x' a step across it flips g's label
    for coupling in [InputCoupling::Quantised(vec![0.01, 0.01]), InputCoupling::Independent] {
        let report = decide_labels(&f, &f, &coupled([0.0, 0.0], [1.0, 1.0], coupling.clone())).unwrap();
        assert_eq!(report.answer, LabelAnswer::Counterexample, "{coupling:?}: {report:?}");
        let c = report.counterexample.unwrap();
        let xg = c.compressed_input.clone().expect("the pair's second input");
        assert_eq!(argmax(&f.eval(&c.input)), c.reference_label);
        assert_eq!(argmax(&f.eval(&xg)), c.compressed_label);
        assert_ne!(c.reference_label, c.compressed_label);
        assert!(c.input.iter().chain(&xg).all(|v| (0.0..=1.0).contains(v)), "{c:?}");
        if let InputCoupling::Quantised(steps) = &coupling {
            assert!(c.input.iter().zip(&xg).zip(steps).all(|((a, b), s)| (a - b).abs() <= *s), "{c:?}");
        }
    }
    // with a confidence: x where f is confident, x' across f's boundary
    // (logits [10 x0, 0], confident at 0.9 beyond |x0| >= ln 9 / 10 = 0.22)
    let steep = affine([10.0, 0.0, 0.0, 0.0], [0.0, 0.0]);
    let mut r = coupled([-1.0, 0.0], [1.0, 1.0], InputCoupling::Quantised(vec![0.5, 0.5]));
    r.confidence = Some(0.9);
    let report = decide_labels(&steep, &steep, &r).unwrap();
    assert_eq!(report.answer, LabelAnswer::Counterexample, "{report:?}");
    let c = report.counterexample.unwrap();
    assert!(c.reference_confidence_lower >= 0.9 && (c.input[0] - c.compressed_input.unwrap()[0]).abs() <= 0.5);
    // a step below the confident region's distance to the boundary: no pair
    r.coupling = InputCoupling::Quantised(vec![0.2, 0.2]);
    assert_ne!(decide_labels(&steep, &steep, &r).unwrap().answer, LabelAnswer::Counterexample);
    // a step of 0 is the same input: identical networks agree, though the
    // proof cannot close the pieces on f's boundary (no flip is reported)
    let report = decide_labels(&f, &f, &coupled([0.0, 0.0], [1.0, 1.0], InputCoupling::Quantised(vec![0.0, 0.0]))).unwrap();
    assert_ne!(report.answer, LabelAnswer::Counterexample, "{report:?}");
    // steps that do not fit the inputs are refused
    assert!(decide_labels(&f, &f, &coupled([0.0, 0.0], [1.0, 1.0], InputCoupling::Quantised(vec![0.1]))).is_err());
    assert!(decide_labels(&f, &f, &coupled([0.0, 0.0], [1.0, 1.0], InputCoupling::Quantised(vec![0.1, f64::NAN]))).is_err());
}

/// Random pairs with a quantised or independent input of `g`: a "proven"
/// pair shows no flip on sampled pairs `(x, x')` the coupling allows, and
/// every counterexample is a real flip on such a pair.
#[test]
fn random_coupled_pairs_proven_means_no_sampled_flip() {
    use deltacert::problem::InputCoupling;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261207);
    let activations = [Activation::Relu, Activation::Tanh, Activation::LeakyRelu { alpha: 0.1 }];
    let mut counts = [0usize; 3];
    for case in 0..48 {
        let (f, g, inputs) = random_pair(&mut rng, activations[case % 3], [Relation::Quantised, Relation::Pruned][case % 2], 2, 6, 3);
        let lo: f64 = rng.gen_range(-1.0..0.5);
        let width = [0.01, 0.1, 0.5][case % 3];
        let set = InputSet::uniform_box(inputs, lo, lo + width).unwrap();
        let coupling = if case % 4 == 3 { InputCoupling::Independent } else { InputCoupling::Quantised(vec![width * [0.001, 0.02, 0.1][case % 3]; inputs]) };
        let mut r = quick_request(set.clone());
        r.coupling = coupling.clone();
        let report = decide_labels(&f, &g, &r).unwrap();
        match report.answer {
            LabelAnswer::Proven => {
                counts[0] += 1;
                for _ in 0..4000 {
                    let x = set.sample(&mut rng);
                    let xg: Vec<f64> = match &coupling {
                        InputCoupling::Quantised(steps) => x.iter().zip(steps).map(|(v, s)| (v + rng.gen_range(-1.0..=1.0) * s).clamp(lo, lo + width)).collect(),
                        _ => set.sample(&mut rng),
                    };
                    let (yf, yg) = (f.eval(&x), g.eval(&xg));
                    let (c, d) = (argmax(&yf), argmax(&yg));
                    if c != d {
                        // only a flip with a clear margin contradicts the proof (evaluation rounding aside)
                        let (margin_f, margin_g) = (lead(&yf, c), lead(&yg, d));
                        assert!(!(margin_f > 1e-9 && margin_g > 1e-9), "case {case}: proven, yet f says {c} at {x:?} and g says {d} at {xg:?}");
                    }
                }
            }
            LabelAnswer::Counterexample => {
                counts[1] += 1;
                let c = report.counterexample.unwrap();
                let xg = c.compressed_input.clone().unwrap_or_else(|| c.input.clone());
                assert!(set.contains(&c.input, 0.0) && set.contains(&xg, 0.0), "case {case}: counterexample outside the set");
                if let InputCoupling::Quantised(steps) = &coupling {
                    assert!(c.input.iter().zip(&xg).zip(steps).all(|((a, b), s)| (a - b).abs() <= *s), "case {case}: {c:?}");
                }
                assert_eq!(argmax(&f.eval(&c.input)), c.reference_label, "case {case}");
                assert_eq!(argmax(&g.eval(&xg)), c.compressed_label, "case {case}");
                assert_ne!(c.reference_label, c.compressed_label);
            }
            LabelAnswer::Unknown => counts[2] += 1,
        }
    }
    eprintln!("proven {}, counterexample {}, unknown {}", counts[0], counts[1], counts[2]);
    assert!(counts[0] > 0 && counts[1] > 0, "the property test must see both answers: {counts:?}");
}

/// The per-label copies of the pair are counted against the memory budget
/// before any is built: a budget they would exceed gives "unknown" with the
/// memory limit named, a large enough one decides as usual.
#[test]
fn the_label_pairs_are_admitted_against_the_memory_budget() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(41);
    let f = random_mlp(&mut rng, 20, &[200, 200], 10, Activation::Relu);
    let g = partner(&mut rng, &f, Relation::Quantised, Activation::Relu);
    let mut request = LabelRequest::top1(InputSet::uniform_box(20, -0.01, 0.01).unwrap());
    request.time_limit = Some(2.0);
    // a pair of about 2 x 44,000 weights, copied twice: about 1.4 MB
    request.memory_limit = Some(1 << 20);
    let report = decide_labels(&f, &g, &request).unwrap();
    assert_eq!(report.answer, LabelAnswer::Unknown);
    assert_eq!(format!("{:?}", report.stop), "MemoryLimit");
    assert!(report.note.as_deref().is_some_and(|n| n.contains("of the pair with label margins")), "{:?}", report.note);
    request.memory_limit = Some(1 << 30);
    let report = decide_labels(&f, &g, &request).unwrap();
    assert_ne!(format!("{:?}", report.stop), "MemoryLimit");
    // a 1,000-class pair: the pairs of all labels would take about 16 GB,
    // the one label of a small box about 16 MB
    let f = random_mlp(&mut rng, 2, &[8], 1000, Activation::Relu);
    let g = partner(&mut rng, &f, Relation::Quantised, Activation::Relu);
    let mut request = LabelRequest::top1(InputSet::uniform_box(2, -0.001, 0.001).unwrap());
    request.time_limit = Some(5.0);
    request.memory_limit = Some(1 << 30);
    let report = decide_labels(&f, &g, &request).unwrap();
    assert_ne!(format!("{:?}", report.stop), "MemoryLimit", "{report:?}");
    // with a confidence one pair holds every label's margins: 100 classes
    // make a margin layer of 100^3 entries (about 100 MB with its copies),
    // which a 50 MB budget refuses before it is built
    let f = random_mlp(&mut rng, 2, &[8], 100, Activation::Relu);
    let g = partner(&mut rng, &f, Relation::Quantised, Activation::Relu);
    let mut request = LabelRequest::top1(InputSet::uniform_box(2, -0.001, 0.001).unwrap());
    request.confidence = Some(0.9);
    request.time_limit = Some(5.0);
    request.memory_limit = Some(50 << 20);
    let report = decide_labels(&f, &g, &request).unwrap();
    assert_eq!(format!("{:?}", report.stop), "MemoryLimit", "{report:?}");
}

/// Top-1 on more inputs than input splitting serves: the set's box that
/// propagation leaves open goes to the certified branch and bound on
/// neuron phases. Every "proven" (by it or by propagation) shows no flip
/// on dense samples and at the set's corners, every counterexample is a
/// real flip, and the phase programs prove some pairs that propagation
/// alone left open.
#[test]
fn many_inputs_proven_by_phase_programs_means_no_sampled_flip() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261207);
    let activations = [Activation::Relu, Activation::LeakyRelu { alpha: 0.1 }];
    let relations = [Relation::Quantised, Relation::Pruned, Relation::StructurallyPruned];
    let (mut by_phases, mut counts) = (0usize, [0usize; 3]);
    for case in 0..60 {
        let activation = activations[case % 2];
        let inputs = rng.gen_range(9..=16);
        let hidden: Vec<usize> = (0..rng.gen_range(1..=2)).map(|_| rng.gen_range(4..=12)).collect();
        let outputs = rng.gen_range(2..=4);
        let f = random_mlp(&mut rng, inputs, &hidden, outputs, activation);
        let g = partner(&mut rng, &f, relations[(case / 2) % 3], activation);
        let radius = [0.05, 0.1, 0.2][case % 3];
        let centre: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let set = InputSet::from_box(centre.iter().map(|c| c - radius).collect(), centre.iter().map(|c| c + radius).collect()).unwrap();
        let mut r = quick_request(set.clone());
        r.time_limit = Some(2.0);
        let report = decide_labels(&f, &g, &r).unwrap();
        match report.answer {
            LabelAnswer::Proven => {
                counts[0] += 1;
                by_phases += usize::from(report.phase_programs > 0);
                let mut samples: Vec<Vec<f64>> = (0..20_000).map(|_| set.sample(&mut rng)).collect();
                samples.extend((0..2000).map(|_| (0..inputs).map(|k| if rng.gen_bool(0.5) { centre[k] - radius } else { centre[k] + radius }).collect::<Vec<f64>>()));
                for x in samples {
                    let (yf, yg) = (f.eval(&x), g.eval(&x));
                    let (c, d) = (argmax(&yf), argmax(&yg));
                    assert!(c == d || lead(&yf, c) <= 1e-9 || lead(&yg, d) <= 1e-9, "case {case}: proven, yet f says {c} and g says {d} at {x:?}");
                }
            }
            LabelAnswer::Counterexample => {
                counts[1] += 1;
                assert_real_flip(&f, &g, &set, &report, case);
            }
            LabelAnswer::Unknown => counts[2] += 1,
        }
    }
    eprintln!("proven {} ({by_phases} by the phase programs), counterexample {}, unknown {}", counts[0], counts[1], counts[2]);
    assert!(by_phases >= 3 && counts[1] > 0, "the test must see proofs by the phase programs and counterexamples: {by_phases}, {counts:?}");
}

/// `f` followed by the rows `e_c - e_j` (`j != c`): its outputs are `f`'s
/// margins over label `c`.
fn margins_of(f: &Network, c: usize) -> Network {
    let n = f.output_dim();
    let others: Vec<usize> = (0..n).filter(|&j| j != c).collect();
    let mut weights = Matrix::zeros(others.len(), n);
    for (row, &j) in others.iter().enumerate() {
        *weights.get_mut(row, c) = 1.0;
        *weights.get_mut(row, j) = -1.0;
    }
    let mut extended = f.clone();
    let last = extended.layers.len();
    extended.layers.push(Layer::dense(last, weights, vec![0.0; others.len()], Activation::Identity));
    extended
}

/// A known answer where `g`'s margins decide: `g` is `f` with `delta` taken
/// off the bias of `f`'s label `c`, so every margin of `g` over `c` is
/// `f`'s minus `delta` (to one rounding of the bias). With `m*` the smallest
/// margin of `f` on the box (the MILP's optimum, bracketed by its bound and
/// its incumbent), a `delta` above `m*` leaves a flip (at the incumbent) and
/// must never be proven; a `delta` below it leaves none and must never give a
/// counterexample, and the phase programs prove several such pairs that
/// propagation leaves open (with `delta` 0.01 below `m*`, `g`'s margins
/// come within 0.01 of 0).
#[test]
fn the_phase_programs_prove_g_exactly_where_its_margins_stay_positive() {
    use deltacert::problem::{prepare, InputCoupling};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (mut proven_by_programs, mut flips) = (0, 0);
    for case in 0..16 {
        let inputs = rng.gen_range(9..=10);
        let hidden = [rng.gen_range(6..=8)];
        let f = random_mlp(&mut rng, inputs, &hidden, 3, Activation::Relu);
        let centre: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let set = InputSet::from_box(centre.iter().map(|v| v - 0.2).collect(), centre.iter().map(|v| v + 0.2).collect()).unwrap();
        let c = argmax(&f.eval(&centre));
        // f's smallest margin: the MILP maximises minus each margin (g = 0)
        let margins = margins_of(&f, c);
        let mut zero = margins.clone();
        let last = zero.layers.len() - 1;
        zero.layers[last] = Layer::dense(last, Matrix::zeros(2, zero.layers[last - 1].width()), vec![0.0; 2], Activation::Identity);
        let prepared = prepare(&margins, &zero, &set, &InputCoupling::Same).unwrap();
        let (mut smallest_lower, mut smallest_upper) = (f64::INFINITY, f64::INFINITY);
        for row in 0..2 {
            let solve = deltacert::milp::solve_objective(&prepared, None, row, -1.0, Some(30.0)).unwrap();
            smallest_lower = smallest_lower.min(-solve.upper.expect("the MILP's bound"));
            smallest_upper = smallest_upper.min(-solve.incumbent.expect("an incumbent"));
        }
        for (delta, flip) in [(smallest_upper + 0.05, true), (smallest_lower - 0.01, false)] {
            if !(delta > 0.0) || smallest_upper <= 0.0 {
                continue;
            }
            let mut g = f.clone();
            let output = g.layers.len() - 1;
            g.layers[output].bias[c] -= delta;
            let mut r = quick_request(set.clone());
            r.time_limit = Some(3.0);
            let report = decide_labels(&f, &g, &r).unwrap();
            let what = format!("case {case}: smallest margin of f in [{smallest_lower:e}, {smallest_upper:e}], delta {delta:e}: {:?} after {} programs", report.answer, report.phase_programs);
            if flip {
                assert!(report.answer != LabelAnswer::Proven, "{what}");
                flips += usize::from(report.answer == LabelAnswer::Counterexample);
            } else {
                assert!(report.answer != LabelAnswer::Counterexample, "{what}");
                proven_by_programs += usize::from(report.answer == LabelAnswer::Proven && report.phase_programs > 0);
            }
        }
    }
    assert!(proven_by_programs >= 3 && flips >= 3, "proven by the programs {proven_by_programs}, counterexamples {flips}");
}
