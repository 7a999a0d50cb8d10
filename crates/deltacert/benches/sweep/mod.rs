//! The soundness sweep: seeded random network pairs, every bounding method,
//! and a rigorous check that no certified bound lies below an error that
//! really occurs.
//!
//! Shared by the `soundness_sweep` bench (10,000 pairs) and the
//! `soundness_sweep_ci` test (a few hundred pairs). Pair `i` of seed `s` is
//! generated from its own random stream, so `--seed s --only i` reproduces it
//! alone.
//!
//! # What counts as unsound
//!
//! The reference ("observed") error is a lower bound on the true worst case
//! computed without any slack: `f` and `g` are evaluated at sampled inputs,
//! at the witness of the library's gradient search and at the witness every
//! method reports (the MILP incumbent included) with outward-rounded interval
//! arithmetic, and only the lower end of `|f_j - g_j|` (linf) or of
//! `||f - g||_2` (l2) counts. A method is *unsound* on a pair when that
//! rigorous lower end exceeds its certified bound (overall, or for one output
//! under linf). Inputs count only when they lie in the set rigorously (box
//! exactly, L2 ball and polytope rows with outward-rounded sums).
//!
//! Interval enclosures: every sum and product is rounded outward with
//! `f64::next_down` / `f64::next_up`; ReLU, leaky ReLU and the identity are
//! exact up to the product `alpha v`, which is rounded outward; `tanh` and the
//! logistic sigmoid are evaluated in `f64` and widened by 16 ulps plus an
//! absolute `1e-300` (the platform's `tanh`/`exp` are accurate to a few ulps,
//! the sigmoid adds one addition and one division), then clipped to their
//! ranges `[-1, 1]` / `[0, 1]`. Both functions are monotone, so an interval
//! maps to the enclosures of its end points.
//!
//! The MILP's upper bound is HiGHS's floating-point dual bound, not a
//! re-checked certificate; its results are counted in their own rows and
//! its violations apart from those of the certified methods.
#![allow(dead_code)]

use deltacert::activation::Activation;
use deltacert::bound::{bound, BoundReport, BoundRequest, Method, Status};
use deltacert::compress::{prune_structured, prune_unstructured, quantize, PruneScope, QuantScheme};
use deltacert::input_set::InputSet;
use deltacert::io::onnx::{read as read_onnx, write as write_onnx, ExportFormat};
use deltacert::network::random::random_mlp;
use deltacert::network::{InputTransform, Network};
use deltacert::problem::InputCoupling;
use deltacert::problem::Norm;
use deltacert::attack::{attack, AttackSettings};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

/// Largest estimated lifted dimension (inputs, hidden neurons of both
/// networks, one) for which `--method sdp` runs on a pair, and the SDP
/// dimension cap handed to `auto`.
pub const SDP_MAX_DIM: usize = 18;
/// Largest number of hidden ReLU neurons of `f` and `g` together for `--method milp`.
pub const MILP_MAX_NEURONS: usize = 64;
/// Uniform samples of the reference search (corners come on top).
pub const REFERENCE_SAMPLES: usize = 2000;
/// Time limit of one SDP or MILP solve, seconds.
pub const SOLVER_SECONDS: f64 = 3.0;

/// How a sweep runs.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Number of pairs (indices `0..pairs`).
    pub pairs: usize,
    /// Seed of the whole sweep.
    pub seed: u64,
    /// Worker threads (0: rayon's default).
    pub threads: usize,
    /// Run only these pair indices (reproduction), printing their details.
    pub only: Vec<usize>,
    /// Directory to write the pairs of `only` to (ONNX float64 models and the set as JSON).
    pub dump: Option<std::path::PathBuf>,
    /// Progress lines on stderr.
    pub progress: bool,
}

// ---------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------

/// The hidden activation of both networks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActivationKind {
    Relu,
    Tanh,
    Sigmoid,
    LeakyRelu,
}

/// How `g` is obtained from `f`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RelationKind {
    /// Unstructured magnitude pruning.
    Pruned,
    /// Whole neurons removed.
    StructurallyPruned,
    /// `fixed:Q` (truncation toward zero).
    FixedTruncate,
    /// `round:Q`.
    FixedRound,
    /// int8 weights, written as an int8 QDQ ONNX file and read back.
    Int8Qdq,
    /// int4 weights, written as an int8 QDQ ONNX file and read back.
    Int4Qdq,
    /// Weights and biases rounded to IEEE half precision.
    Float16,
    /// An independent random network of the same shape.
    Unrelated,
}

/// The shape of the input set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SetKind {
    WideBox,
    NarrowBox,
    FarBox,
    DegenerateBox,
    LinfBall,
    L2Ball,
    Polytope,
}

/// How `f`'s parameters were stored before the pair was built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FileKind {
    /// In memory (float64, never written).
    Memory,
    /// ONNX float64, written and read back.
    OnnxF64,
    /// ONNX float32, written and read back.
    OnnxF32,
    /// `.nnet` text with a random input normalisation, written and read back.
    Nnet,
}

/// How the two networks see the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModeKind {
    Same,
    Quantised,
    Independent,
}

const ACTIVATIONS: [ActivationKind; 4] = [ActivationKind::Relu, ActivationKind::Tanh, ActivationKind::Sigmoid, ActivationKind::LeakyRelu];
const RELATIONS: [RelationKind; 8] = [
    RelationKind::Pruned,
    RelationKind::StructurallyPruned,
    RelationKind::FixedTruncate,
    RelationKind::FixedRound,
    RelationKind::Int8Qdq,
    RelationKind::Int4Qdq,
    RelationKind::Float16,
    RelationKind::Unrelated,
];
const SET_KINDS: [SetKind; 7] = [SetKind::WideBox, SetKind::NarrowBox, SetKind::FarBox, SetKind::DegenerateBox, SetKind::LinfBall, SetKind::L2Ball, SetKind::Polytope];

fn activation_label(kind: ActivationKind) -> &'static str {
    match kind {
        ActivationKind::Relu => "relu",
        ActivationKind::Tanh => "tanh",
        ActivationKind::Sigmoid => "sigmoid",
        ActivationKind::LeakyRelu => "leaky_relu",
    }
}
fn relation_label(kind: RelationKind) -> &'static str {
    match kind {
        RelationKind::Pruned => "pruned",
        RelationKind::StructurallyPruned => "structurally pruned",
        RelationKind::FixedTruncate => "fixed:Q",
        RelationKind::FixedRound => "round:Q",
        RelationKind::Int8Qdq => "int8 QDQ",
        RelationKind::Int4Qdq => "int4 QDQ",
        RelationKind::Float16 => "float16",
        RelationKind::Unrelated => "unrelated",
    }
}
fn set_label(kind: SetKind) -> &'static str {
    match kind {
        SetKind::WideBox => "wide box",
        SetKind::NarrowBox => "narrow box (1e-6)",
        SetKind::FarBox => "box far from 0 (~1e3)",
        SetKind::DegenerateBox => "degenerate box",
        SetKind::LinfBall => "linf ball",
        SetKind::L2Ball => "l2 ball",
        SetKind::Polytope => "polytope",
    }
}
fn file_label(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Memory => "in memory (f64)",
        FileKind::OnnxF64 => "onnx float64",
        FileKind::OnnxF32 => "onnx float32",
        FileKind::Nnet => "nnet (normalised)",
    }
}
fn mode_label(kind: ModeKind) -> &'static str {
    match kind {
        ModeKind::Same => "same input",
        ModeKind::Quantised => "quantised input",
        ModeKind::Independent => "independent inputs",
    }
}
fn norm_label(norm: Norm) -> &'static str {
    match norm {
        Norm::Linf => "linf",
        Norm::L2 => "l2",
    }
}
/// The method's name as on the command line.
pub fn method_label(method: Method) -> &'static str {
    method.name()
}

// ---------------------------------------------------------------------------
// The input set
// ---------------------------------------------------------------------------

/// The input set as generated: a box, optionally an L2 ball and polytope rows.
/// The sweep keeps its own copy so that it never reads the library's fields.
#[derive(Debug, Clone)]
pub struct SetSpec {
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub ball: Option<(Vec<f64>, f64)>,
    pub rows: Vec<(Vec<f64>, f64)>,
}

/// Builds the library's input set; the only place that touches its polytope.
pub fn build_input_set(spec: &SetSpec) -> InputSet {
    let set = match &spec.ball {
        Some((center, radius)) => InputSet::ball(center.clone(), *radius, true).expect("valid ball"),
        None => InputSet::from_box(spec.lower.clone(), spec.upper.clone()).expect("valid box"),
    };
    set.with_polytope(spec.rows.clone()).expect("valid polytope rows")
}

impl SetSpec {
    /// Whether `x` lies in the set, decided rigorously (sums rounded outward).
    pub fn contains_rigorously(&self, x: &[f64]) -> bool {
        if x.len() != self.lower.len() || x.iter().any(|v| !v.is_finite()) {
            return false;
        }
        if x.iter().zip(&self.lower).zip(&self.upper).any(|((v, l), u)| v < l || v > u) {
            return false;
        }
        if let Some((center, radius)) = &self.ball {
            let mut sum = 0.0f64;
            for (v, c) in x.iter().zip(center) {
                let d = Interval::point(*v).sub(Interval::point(*c));
                let m = d.lo.abs().max(d.hi.abs());
                sum = (sum + (m * m).next_up()).next_up();
            }
            let radius_squared_lower = (radius * radius).next_down();
            if sum > radius_squared_lower {
                return false;
            }
        }
        for (a, b) in &self.rows {
            let mut sum = Interval::point(0.0);
            for (w, v) in a.iter().zip(x) {
                sum = sum.add(Interval::point(*v).scale(*w));
            }
            if sum.hi > *b {
                return false;
            }
        }
        true
    }

    fn center(&self) -> Vec<f64> {
        self.lower.iter().zip(&self.upper).map(|(l, u)| 0.5 * (l + u)).collect()
    }
}

// ---------------------------------------------------------------------------
// Interval arithmetic
// ---------------------------------------------------------------------------

/// A closed interval `[lo, hi]` of reals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn point(v: f64) -> Self {
        Interval { lo: v, hi: v }
    }
    pub fn add(self, other: Interval) -> Self {
        Interval { lo: (self.lo + other.lo).next_down(), hi: (self.hi + other.hi).next_up() }
    }
    pub fn sub(self, other: Interval) -> Self {
        Interval { lo: (self.lo - other.hi).next_down(), hi: (self.hi - other.lo).next_up() }
    }
    /// `w * [lo, hi]` for an exact `w`.
    pub fn scale(self, w: f64) -> Self {
        if w >= 0.0 {
            Interval { lo: (w * self.lo).next_down(), hi: (w * self.hi).next_up() }
        } else {
            Interval { lo: (w * self.hi).next_down(), hi: (w * self.lo).next_up() }
        }
    }
    /// Lower end of `|v|` over the interval (0 when it contains 0 or is NaN).
    pub fn abs_lower(self) -> f64 {
        if self.lo > 0.0 {
            self.lo
        } else if self.hi < 0.0 {
            -self.hi
        } else {
            0.0
        }
    }
    /// Upper end of `|v|` over the interval (infinite when NaN).
    pub fn abs_upper(self) -> f64 {
        let m = self.lo.abs().max(self.hi.abs());
        if m.is_nan() { f64::INFINITY } else { m }
    }
}

/// The logistic sigmoid as the library evaluates it.
fn sigmoid(v: f64) -> f64 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

/// Relative widening (in ulps) of `tanh` and the sigmoid, see the module docs.
const TRANSCENDENTAL_ULPS: f64 = 16.0;
/// Absolute widening of `tanh` and the sigmoid.
const TRANSCENDENTAL_ABSOLUTE: f64 = 1e-300;

fn widen_down(t: f64) -> f64 {
    (t - t.abs() * TRANSCENDENTAL_ULPS * f64::EPSILON).next_down() - TRANSCENDENTAL_ABSOLUTE
}
fn widen_up(t: f64) -> f64 {
    (t + t.abs() * TRANSCENDENTAL_ULPS * f64::EPSILON).next_up() + TRANSCENDENTAL_ABSOLUTE
}

/// An enclosure of `sigma([lo, hi])` (every activation here is monotone non-decreasing).
pub fn activation_enclosure(activation: Activation, x: Interval) -> Interval {
    match activation {
        Activation::Identity => x,
        Activation::Relu => Interval { lo: x.lo.max(0.0), hi: x.hi.max(0.0) },
        Activation::LeakyRelu { alpha } => Interval {
            lo: if x.lo >= 0.0 { x.lo } else { (alpha * x.lo).next_down() },
            hi: if x.hi >= 0.0 { x.hi } else { (alpha * x.hi).next_up() },
        },
        Activation::Tanh => Interval { lo: widen_down(x.lo.tanh()).max(-1.0), hi: widen_up(x.hi.tanh()).min(1.0) },
        Activation::Sigmoid => Interval { lo: widen_down(sigmoid(x.lo)).max(0.0), hi: widen_up(sigmoid(x.hi)).min(1.0) },
        Activation::Quantize { .. } => {
            let (lo, hi) = activation.rule().interval(x.lo, x.hi);
            Interval { lo, hi }
        }
    }
}

/// An enclosure of the network's outputs for every raw input in the box
/// `inputs` (points: degenerate intervals), including its input normalisation.
pub fn enclose_outputs(network: &Network, inputs: &[Interval]) -> Vec<Interval> {
    let first: Vec<Interval> = match &network.input_transform {
        None => inputs.to_vec(),
        Some(t) => inputs
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let clipped = Interval { lo: x.lo.clamp(t.min[i], t.max[i]), hi: x.hi.clamp(t.min[i], t.max[i]) };
                let centred = clipped.sub(Interval::point(t.mean[i]));
                Interval { lo: (centred.lo / t.range[i]).next_down(), hi: (centred.hi / t.range[i]).next_up() }
            })
            .collect(),
    };
    let mut acts: Vec<Vec<Interval>> = vec![first];
    for layer in &network.layers {
        let mut out = Vec::with_capacity(layer.width());
        for i in 0..layer.width() {
            let mut lo = layer.bias[i];
            let mut hi = layer.bias[i];
            for term in &layer.terms {
                for (&w, a) in term.weights.row(i).iter().zip(&acts[term.source]) {
                    if w == 0.0 {
                        continue;
                    }
                    let p = a.scale(w);
                    lo = (lo + p.lo).next_down();
                    hi = (hi + p.hi).next_up();
                }
            }
            out.push(activation_enclosure(layer.activation, Interval { lo, hi }));
        }
        acts.push(out);
    }
    acts.pop().unwrap_or_default()
}

fn enclose_point(network: &Network, x: &[f64]) -> Vec<Interval> {
    enclose_outputs(network, &x.iter().map(|v| Interval::point(*v)).collect::<Vec<_>>())
}

/// Rigorous lower ends of `|f_j - g_j|` per output and of the chosen norm.
fn rigorous_error(f_out: &[Interval], g_out: &[Interval], norm: Norm) -> (Vec<f64>, f64) {
    let per_output: Vec<f64> = f_out.iter().zip(g_out).map(|(a, b)| a.sub(*b).abs_lower()).collect();
    let total = match norm {
        Norm::Linf => per_output.iter().fold(0.0f64, |m, v| m.max(*v)),
        Norm::L2 => {
            let mut sum = 0.0f64;
            for m in &per_output {
                sum = (sum + (m * m).next_down()).next_down();
            }
            sum.max(0.0).sqrt().next_down().max(0.0)
        }
    };
    (per_output, total)
}

/// Rigorous upper bound of the norm of the interval difference over the
/// box: `[l_f - u_g, u_f - l_g]` per output.
fn interval_difference_bound(f_out: &[Interval], g_out: &[Interval], norm: Norm) -> f64 {
    let per_output: Vec<f64> = f_out.iter().zip(g_out).map(|(a, b)| a.sub(*b).abs_upper()).collect();
    match norm {
        Norm::Linf => per_output.iter().fold(0.0f64, |m, v| m.max(*v)),
        Norm::L2 => {
            let mut sum = 0.0f64;
            for m in &per_output {
                sum = (sum + (m * m).next_up()).next_up();
            }
            sum.sqrt().next_up()
        }
    }
}

// ---------------------------------------------------------------------------
// Pair generation
// ---------------------------------------------------------------------------

/// One random pair with its set, coupling, norm and the methods to run.
#[derive(Debug, Clone)]
pub struct Case {
    pub index: usize,
    pub activation: ActivationKind,
    pub relation: RelationKind,
    pub set_kind: SetKind,
    pub file: FileKind,
    pub mode: ModeKind,
    pub norm: Norm,
    pub depth: usize,
    pub f: Network,
    pub g: Network,
    pub spec: SetSpec,
    pub set: InputSet,
    pub coupling: InputCoupling,
    pub methods: Vec<Method>,
    pub split_seconds: f64,
    pub description: String,
}

/// The random stream of pair `index` of sweep `seed`.
pub fn case_rng(seed: u64, index: usize) -> StdRng {
    let mut z = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64 finaliser
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// `v` rounded to the nearest IEEE half-precision value (saturating at the
/// largest finite half, 65504).
pub fn round_to_f16(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let exponent = v.abs().log2().floor().max(-14.0) as i32;
    let quantum = 2f64.powi(exponent - 10);
    ((v / quantum).round() * quantum).clamp(-65504.0, 65504.0)
}

/// The float16 copy of a network: every weight and bias rounded to half
/// precision, as a float16 ONNX file stores them.
pub fn float16_copy(network: &Network) -> Network {
    let mut g = network.clone();
    for layer in &mut g.layers {
        for term in &mut layer.terms {
            term.weights.data.iter_mut().for_each(|w| *w = round_to_f16(*w));
        }
        layer.bias.iter_mut().for_each(|b| *b = round_to_f16(*b));
    }
    g.source_dtype = "float16".into();
    g
}

fn onnx_round_trip(network: &Network, format: &ExportFormat) -> Result<Network, String> {
    let bytes = write_onnx(network, format).map_err(|e| format!("onnx write: {e}"))?;
    read_onnx(&bytes).map_err(|e| format!("onnx read: {e}"))
}

/// `.nnet` text of a plain ReLU MLP with its input normalisation.
pub fn nnet_text(network: &Network) -> String {
    let t = network.input_transform.as_ref().expect("nnet networks carry a normalisation");
    let mut sizes = vec![network.input_dim];
    sizes.extend(network.layers.iter().map(|l| l.width()));
    let join = |v: &[f64]| v.iter().map(|x| format!("{x:e}")).collect::<Vec<_>>().join(",") + ",";
    let mut text = String::from("// written by the soundness sweep\n");
    let _ = writeln!(text, "{},{},{},{},", network.layers.len(), network.input_dim, network.output_dim(), sizes.iter().max().unwrap());
    let _ = writeln!(text, "{},", sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","));
    text.push_str("0,\n");
    for v in [&t.min, &t.max, &t.mean, &t.range] {
        let _ = writeln!(text, "{}", join(v));
    }
    for layer in &network.layers {
        let w = &layer.terms[0].weights;
        for r in 0..w.rows {
            let _ = writeln!(text, "{}", join(w.row(r)));
        }
        for b in &layer.bias {
            let _ = writeln!(text, "{b:e},");
        }
    }
    text
}

fn f32_value(v: f64) -> f64 {
    (v as f32) as f64
}

fn scale_layer(network: &mut Network, layer: usize, factor: f64) {
    let l = &mut network.layers[layer];
    for term in &mut l.terms {
        term.weights.data.iter_mut().for_each(|w| *w *= factor);
    }
    l.bias.iter_mut().for_each(|b| *b *= factor);
}

fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    (rng.gen_range(lo.ln()..=hi.ln())).exp()
}

/// Generates pair `index` of sweep `seed`.
pub fn generate(seed: u64, index: usize) -> Result<Case, String> {
    let mut rng = case_rng(seed, index);
    let activation_kind = ACTIVATIONS[index % 4];
    let relation = RELATIONS[(index / 4) % 8];
    let activation = match activation_kind {
        ActivationKind::Relu => Activation::Relu,
        ActivationKind::Tanh => Activation::Tanh,
        ActivationKind::Sigmoid => Activation::Sigmoid,
        // float32 values, so ONNX files (float attribute) store alpha exactly
        ActivationKind::LeakyRelu => Activation::LeakyRelu { alpha: f32_value(rng.gen_range(0.01..0.3)) },
    };
    let file = if activation_kind == ActivationKind::Relu && rng.gen_bool(0.25) {
        FileKind::Nnet
    } else {
        [FileKind::Memory, FileKind::OnnxF64, FileKind::OnnxF32][rng.gen_range(0..3)]
    };
    // the .nnet normalisation maps only boxes (clipping is exact for boxes)
    let set_kind = if file == FileKind::Nnet { SET_KINDS[rng.gen_range(0..5)] } else { SET_KINDS[rng.gen_range(0..7)] };
    let mode = match rng.gen_range(0..4) {
        0 | 1 => ModeKind::Same,
        2 => ModeKind::Quantised,
        _ => ModeKind::Independent,
    };
    let norm = if rng.gen_bool(0.5) { Norm::Linf } else { Norm::L2 };

    // shape
    let inputs = if rng.gen_bool(0.06) { rng.gen_range(12..=32) } else { rng.gen_range(1..=8) };
    let depth = [1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6][rng.gen_range(0..11)];
    let max_width = [2, 4, 4, 8, 8, 8, 16, 16, 32, 64][rng.gen_range(0..10)];
    let hidden: Vec<usize> = (0..depth).map(|_| rng.gen_range(1..=max_width)).collect();
    let outputs = rng.gen_range(1..=3);
    let mut f = random_mlp(&mut rng, inputs, &hidden, outputs, activation);
    // weight scale: 1 (half the pairs) or up to 20, in one layer or in all
    if rng.gen_bool(0.5) {
        let factor = log_uniform(&mut rng, 1.0, 20.0);
        if rng.gen_bool(0.3) {
            let per_layer = factor.powf(1.0 / f.layers.len() as f64).max(1.0) * if rng.gen_bool(0.3) { factor.sqrt() } else { 1.0 };
            for k in 0..f.layers.len() {
                scale_layer(&mut f, k, per_layer);
            }
        } else {
            let k = rng.gen_range(0..f.layers.len());
            scale_layer(&mut f, k, factor);
        }
    }

    // the input set
    let center: Vec<f64> = match set_kind {
        SetKind::FarBox => (0..inputs).map(|_| if rng.gen_bool(0.5) { 1.0 } else { -1.0 } * 1e3 * rng.gen_range(0.5..1.5)).collect(),
        _ => (0..inputs).map(|_| rng.gen_range(-1.0..1.0)).collect(),
    };
    let half: f64 = match set_kind {
        SetKind::WideBox => rng.gen_range(0.5..3.0),
        SetKind::NarrowBox => 5e-7,
        SetKind::FarBox => log_uniform(&mut rng, 1e-2, 1.0),
        SetKind::DegenerateBox => rng.gen_range(0.1..1.5),
        SetKind::LinfBall => rng.gen_range(0.05..1.0),
        SetKind::L2Ball => rng.gen_range(0.05..1.5),
        SetKind::Polytope => rng.gen_range(0.3..2.0),
    };
    let mut lower: Vec<f64> = center.iter().map(|c| c - half).collect();
    let mut upper: Vec<f64> = center.iter().map(|c| c + half).collect();
    if set_kind == SetKind::DegenerateBox {
        let flat = rng.gen_range(1..=inputs);
        let mut order: Vec<usize> = (0..inputs).collect();
        for i in 0..inputs {
            order.swap(i, rng.gen_range(i..inputs));
        }
        for &i in &order[..flat] {
            lower[i] = center[i];
            upper[i] = center[i];
        }
    }
    let mut spec = SetSpec { lower, upper, ball: None, rows: Vec::new() };
    match set_kind {
        // a ball's bounding box, computed as `InputSet::ball` does
        SetKind::LinfBall => {
            spec.lower = center.iter().map(|c| c - half).collect();
            spec.upper = center.iter().map(|c| c + half).collect();
        }
        SetKind::L2Ball => {
            spec.lower = center.iter().map(|c| c - half).collect();
            spec.upper = center.iter().map(|c| c + half).collect();
            spec.ball = Some((center.clone(), half));
        }
        SetKind::Polytope => {
            for _ in 0..rng.gen_range(1..=3) {
                let a: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let reach: f64 = a.iter().map(|v| v.abs()).sum::<f64>() * half;
                let at_center: f64 = a.iter().zip(&center).map(|(x, y)| x * y).sum();
                spec.rows.push((a, at_center + rng.gen_range(0.05..0.6) * reach + 1e-9));
            }
        }
        _ => {}
    }

    // f as stored in its file
    f = match file {
        FileKind::Memory => f,
        FileKind::OnnxF64 => onnx_round_trip(&f, &ExportFormat::Float64)?,
        FileKind::OnnxF32 => onnx_round_trip(&f, &ExportFormat::Float32)?,
        FileKind::Nnet => {
            // float32 values, so that an int8 QDQ file (float32 prologue) keeps them
            // clipping cuts into the box on some coordinates of non-zero width
            let clip: Vec<(bool, bool)> = (0..inputs).map(|i| (spec.upper[i] > spec.lower[i] && rng.gen_bool(0.2), spec.upper[i] > spec.lower[i] && rng.gen_bool(0.2))).collect();
            let width: Vec<f64> = spec.lower.iter().zip(&spec.upper).map(|(l, u)| u - l).collect();
            let t = InputTransform {
                min: (0..inputs).map(|i| f32_value(if clip[i].0 { spec.lower[i] + 0.25 * width[i] } else { spec.lower[i] - 10.0 * half - 1.0 })).collect(),
                max: (0..inputs).map(|i| f32_value(if clip[i].1 { spec.upper[i] - 0.25 * width[i] } else { spec.upper[i] + 10.0 * half + 1.0 })).collect(),
                mean: center.iter().map(|c| f32_value(c + rng.gen_range(-0.5..0.5) * half)).collect(),
                range: (0..inputs).map(|_| f32_value(log_uniform(&mut rng, 0.25, 4.0) * half.max(1e-3))).collect(),
            };
            f.input_transform = Some(t);
            deltacert::io::nnet::parse(&nnet_text(&f)).map_err(|e| format!("nnet read: {e}"))?
        }
    };

    // g
    let integer_round_trip = |f: &Network, bits: u32, per_channel: bool| -> Result<Network, String> {
        let (q, report) = quantize(f, QuantScheme::Integer { bits, per_channel }).map_err(|e| e.to_string())?;
        onnx_round_trip(&q, &ExportFormat::QdqInt8 { scales: report.scales.expect("integer schemes report scales") })
    };
    let fraction_bits = rng.gen_range(2..=10);
    let g = match relation {
        RelationKind::Pruned => {
            let scope = if rng.gen_bool(0.5) { PruneScope::PerLayer } else { PruneScope::Global };
            prune_unstructured(&f, rng.gen_range(0.1..0.7), scope).map_err(|e| e.to_string())?.0
        }
        RelationKind::StructurallyPruned => prune_structured(&f, rng.gen_range(0.1..0.5)).map_err(|e| e.to_string())?.0,
        RelationKind::FixedTruncate => quantize(&f, QuantScheme::FixedTruncate { fraction_bits }).map_err(|e| e.to_string())?.0,
        RelationKind::FixedRound => quantize(&f, QuantScheme::FixedRound { fraction_bits }).map_err(|e| e.to_string())?.0,
        RelationKind::Int8Qdq => integer_round_trip(&f, 8, rng.gen_bool(0.5))?,
        RelationKind::Int4Qdq => integer_round_trip(&f, 4, rng.gen_bool(0.5))?,
        RelationKind::Float16 => float16_copy(&f),
        RelationKind::Unrelated => {
            let mut g = random_mlp(&mut rng, inputs, &hidden, outputs, activation);
            g.input_transform = f.input_transform.clone();
            match file {
                FileKind::OnnxF32 => onnx_round_trip(&g, &ExportFormat::Float32)?,
                _ => g,
            }
        }
    };

    // the coupling
    let coupling = match mode {
        ModeKind::Same => InputCoupling::Same,
        ModeKind::Independent => InputCoupling::Independent,
        ModeKind::Quantised => InputCoupling::Quantised(
            spec.lower.iter().zip(&spec.upper).map(|(l, u)| if u > l { (u - l) * log_uniform(&mut rng, 1e-3, 0.3) } else { rng.gen_range(0.0..0.1) }).collect(),
        ),
    };

    // methods
    let separate = mode != ModeKind::Same;
    let neurons_f: usize = f.layers[..f.layers.len() - 1].iter().map(|l| l.width()).sum();
    let neurons_g: usize = g.layers[..g.layers.len() - 1].iter().map(|l| l.width()).sum();
    let estimated_sdp_dim = inputs * if separate { 2 } else { 1 } + neurons_f + neurons_g + 1;
    let mut methods = vec![Method::PROPAGATE, Method::AUTO];
    if estimated_sdp_dim <= SDP_MAX_DIM {
        methods.push(Method::SDP);
    }
    let relu_pair = activation_kind == ActivationKind::Relu;
    if relu_pair && norm == Norm::Linf && spec.ball.is_none() && neurons_f + neurons_g <= MILP_MAX_NEURONS {
        methods.push(Method::MILP);
    }
    let split_seconds = rng.gen_range(0.05..0.2);
    let set = build_input_set(&spec);
    let description = format!(
        "{} {} -> {:?} -> {} ({}), g: {} ({} hidden), set: {} (box [{:.3e}, {:.3e}] in coordinate 0{}{}), {}, {}",
        activation_label(activation_kind),
        inputs,
        hidden,
        outputs,
        file_label(file),
        relation_label(relation),
        neurons_g,
        set_label(set_kind),
        spec.lower[0],
        spec.upper[0],
        spec.ball.as_ref().map_or(String::new(), |(_, r)| format!(", l2 radius {r:.3e}")),
        if spec.rows.is_empty() { String::new() } else { format!(", {} halfspaces", spec.rows.len()) },
        mode_label(mode),
        norm_label(norm),
    );
    Ok(Case { index, activation: activation_kind, relation, set_kind, file, mode, norm, depth, f, g, spec, set, coupling, methods, split_seconds, description })
}

// ---------------------------------------------------------------------------
// The reference: rigorous lower ends of observed errors
// ---------------------------------------------------------------------------

/// The largest rigorously observed error of a pair.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Rigorous lower end of the norm of the error, maximised over the inputs tried.
    pub total: f64,
    /// `linf`: rigorous lower end of `|f_j - g_j|`, maximised per output.
    pub per_output: Vec<f64>,
    /// Where `total` was observed: `(x, x')` and what found it.
    pub witness: (Vec<f64>, Vec<f64>, String),
}

impl Observed {
    fn new(outputs: usize, dim: usize) -> Self {
        Observed { total: 0.0, per_output: vec![0.0; outputs], witness: (vec![0.0; dim], vec![0.0; dim], "none".into()) }
    }
    /// Evaluates the pair rigorously at `(x, x')` (when feasible) and keeps the maximum.
    fn try_pair(&mut self, case: &Case, x: &[f64], xg: &[f64], source: &str) -> bool {
        if !feasible_pair(case, x, xg) {
            return false;
        }
        let (per_output, total) = rigorous_error(&enclose_point(&case.f, x), &enclose_point(&case.g, xg), case.norm);
        for (m, v) in self.per_output.iter_mut().zip(&per_output) {
            *m = m.max(*v);
        }
        if total > self.total {
            self.total = total;
            self.witness = (x.to_vec(), xg.to_vec(), source.to_string());
        }
        true
    }
}

/// Whether `(x, x')` is a feasible input pair of the coupling, rigorously.
fn feasible_pair(case: &Case, x: &[f64], xg: &[f64]) -> bool {
    if !case.spec.contains_rigorously(x) || !case.spec.contains_rigorously(xg) {
        return false;
    }
    match &case.coupling {
        InputCoupling::Same => x == xg,
        InputCoupling::Independent => true,
        InputCoupling::Quantised(steps) => x.iter().zip(xg).zip(steps).all(|((a, b), s)| {
            let d = Interval::point(*b).sub(Interval::point(*a));
            d.abs_upper() <= *s
        }),
    }
}

/// Sampled points of the set: box corners (all up to 8 inputs, 256 random
/// ones above), points on the L2 sphere, and uniform samples; points that are
/// not rigorously inside are pulled toward the centre or dropped.
fn sample_points(case: &Case, rng: &mut StdRng, count: usize) -> Vec<Vec<f64>> {
    let spec = &case.spec;
    let n = spec.lower.len();
    let center = spec.center();
    let mut points = Vec::with_capacity(count + 300);
    let corner = |bits: u64, rng: &mut StdRng| -> Vec<f64> {
        (0..n).map(|i| if n <= 8 { if bits >> i & 1 == 1 { spec.upper[i] } else { spec.lower[i] } } else if rng.gen_bool(0.5) { spec.upper[i] } else { spec.lower[i] }).collect()
    };
    let corners = if n <= 8 { 1u64 << n } else { 256 };
    for bits in 0..corners {
        points.push(corner(bits, rng));
    }
    if let Some((c, r)) = &spec.ball {
        for i in 0..n {
            for sign in [-1.0, 1.0] {
                let mut x = c.clone();
                x[i] += sign * r;
                points.push(x);
            }
        }
        for _ in 0..count / 4 {
            let direction: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0f64..1.0)).collect();
            let length = direction.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
            points.push(c.iter().zip(&direction).map(|(ci, d)| ci + r * d / length).collect());
        }
    }
    while points.len() < count + corners as usize {
        points.push((0..n).map(|i| if spec.upper[i] > spec.lower[i] { rng.gen_range(spec.lower[i]..=spec.upper[i]) } else { spec.lower[i] }).collect());
    }
    // pull toward the centre until rigorously inside (rounding at an L2
    // sphere or a halfspace); points clearly outside a polytope are dropped
    points
        .into_iter()
        .filter_map(|x| {
            if spec.contains_rigorously(&x) {
                return Some(x);
            }
            for shrink in [1e-12, 1e-9] {
                let pulled: Vec<f64> = x
                    .iter()
                    .zip(&center)
                    .zip(spec.lower.iter().zip(&spec.upper))
                    .map(|((v, c), (l, u))| (c + (v - c) * (1.0 - shrink)).clamp(*l, *u))
                    .collect();
                if spec.contains_rigorously(&pulled) {
                    return Some(pulled);
                }
            }
            None
        })
        .collect()
}

/// The partner input of `x` under the coupling (quantised: a random shift
/// within the step, kept inside the set).
fn partner_input(case: &Case, x: &[f64], other: &[f64], rng: &mut StdRng) -> Vec<f64> {
    match &case.coupling {
        InputCoupling::Same => x.to_vec(),
        InputCoupling::Independent => other.to_vec(),
        InputCoupling::Quantised(steps) => {
            let candidate: Vec<f64> = x
                .iter()
                .zip(steps)
                .enumerate()
                .map(|(i, (v, s))| {
                    let shift = match rng.gen_range(0..3) {
                        0 => -s,
                        1 => *s,
                        _ => rng.gen_range(-1.0..=1.0) * s,
                    };
                    // stay within the step after rounding: shrink by a relative 1e-12
                    (v + shift * (1.0 - 1e-12)).clamp(case.spec.lower[i], case.spec.upper[i])
                })
                .collect();
            if feasible_pair(case, x, &candidate) { candidate } else { x.to_vec() }
        }
    }
}

/// The reference search: sampling (evaluated in f64, the best candidates
/// re-evaluated rigorously) and the library's gradient search.
pub fn reference(case: &Case, seed: u64) -> Observed {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x00C0_FFEE);
    let outputs = case.f.output_dim();
    let mut observed = Observed::new(outputs, case.spec.lower.len());
    let points = sample_points(case, &mut rng, REFERENCE_SAMPLES);
    if points.is_empty() {
        return observed;
    }
    let f_values: Vec<Vec<f64>> = points.iter().map(|x| case.f.eval(x)).collect();
    let mut candidates: Vec<(usize, usize)> = Vec::new();
    match case.coupling {
        InputCoupling::Independent => {
            // the best pairs of f and g values per output and sign
            let g_values: Vec<Vec<f64>> = points.iter().map(|x| case.g.eval(x)).collect();
            for j in 0..outputs {
                let arg = |values: &Vec<Vec<f64>>, sign: f64| (0..points.len()).max_by(|&a, &b| (sign * values[a][j]).total_cmp(&(sign * values[b][j]))).unwrap();
                candidates.push((arg(&f_values, 1.0), arg(&g_values, -1.0)));
                candidates.push((arg(&f_values, -1.0), arg(&g_values, 1.0)));
            }
            for _ in 0..8 {
                candidates.push((rng.gen_range(0..points.len()), rng.gen_range(0..points.len())));
            }
            for (a, b) in candidates {
                observed.try_pair(case, &points[a], &points[b], "sampling");
            }
        }
        _ => {
            let partners: Vec<Vec<f64>> = points.iter().map(|x| partner_input(case, x, x, &mut rng)).collect();
            let differences: Vec<Vec<f64>> = partners.iter().zip(&f_values).map(|(xg, fx)| fx.iter().zip(case.g.eval(xg)).map(|(a, b)| a - b).collect()).collect();
            let keep = |score: &dyn Fn(usize) -> f64, count: usize| {
                let mut order: Vec<usize> = (0..points.len()).collect();
                order.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
                order.truncate(count);
                order
            };
            let mut chosen: Vec<usize> = keep(&|i| differences[i].iter().map(|v| v * v).sum::<f64>(), 6);
            for j in 0..outputs {
                chosen.extend(keep(&|i| differences[i][j], 3));
                chosen.extend(keep(&|i| -differences[i][j], 3));
            }
            chosen.sort_unstable();
            chosen.dedup();
            for i in chosen {
                observed.try_pair(case, &points[i], &partners[i], "sampling");
            }
        }
    }
    // the library's gradient search
    let settings = AttackSettings { samples: 1000, sample_work: None, starts: 8, steps: 80, seed };
    let witness = attack(&case.f, &case.g, &case.set, &case.coupling, case.norm, &settings);
    if let Some(x) = witness.input.clone() {
        let xg = witness.compressed_input.clone().unwrap_or_else(|| x.clone());
        observed.try_pair(case, &x, &xg, "gradient search");
    }
    observed
}

// ---------------------------------------------------------------------------
// Running the methods and checking them
// ---------------------------------------------------------------------------

/// One method on one pair.
#[derive(Debug, Clone)]
pub struct MethodOutcome {
    pub method: Method,
    /// The library refused the pair (message).
    pub error: Option<String>,
    /// Status `certified` with a bound.
    pub certified: bool,
    /// The reported bound (MILP: the solver's dual bound, not re-checked).
    pub bound: Option<f64>,
    pub per_output_bound: Vec<Option<f64>>,
    /// Rigorous observed error exceeds the bound: what and where.
    pub unsound: Option<String>,
    /// `bound / observed` (observed > 0, bound present).
    pub ratio: Option<f64>,
    pub looser_than_interval: bool,
    pub witness_outside: bool,
    pub nonfinite_certified: bool,
    pub seconds: f64,
    /// Witness pair to add to the reference.
    witness: Option<(Vec<f64>, Vec<f64>)>,
}

/// Everything known about one pair.
#[derive(Debug, Clone)]
pub struct PairRecord {
    pub index: usize,
    /// `(dimension, value)` labels for the table.
    pub labels: Vec<(&'static str, String)>,
    pub description: String,
    pub observed: Option<Observed>,
    pub interval_bound: f64,
    pub outcomes: Vec<MethodOutcome>,
    /// `auto` certified a larger bound than `propagate` (or none where propagate did).
    pub auto_above_propagate: bool,
    /// The pair could not be generated, or a panic ended it.
    pub failure: Option<String>,
    pub seconds: f64,
}

fn run_method(case: &Case, method: Method, seed: u64) -> MethodOutcome {
    let start = Instant::now();
    let mut request = BoundRequest::new(case.set.clone(), case.coupling.clone(), case.norm, method);
    request.attack = AttackSettings { samples: 300, sample_work: None, starts: 4, steps: 40, seed: seed ^ 0xA77AC4 };
    // auto: the whole call within its splitting budget; the solvers: 2 solves' worth
    request.time_limit = if method == Method::AUTO {
        Some(case.split_seconds)
    } else if method == Method::PROPAGATE {
        None
    } else {
        Some(2.0 * SOLVER_SECONDS)
    };
    if method == Method::AUTO {
        request.sdp.max_dimension = SDP_MAX_DIM;
    }
    let mut outcome = MethodOutcome {
        method,
        error: None,
        certified: false,
        bound: None,
        per_output_bound: Vec::new(),
        unsound: None,
        ratio: None,
        looser_than_interval: false,
        witness_outside: false,
        nonfinite_certified: false,
        seconds: 0.0,
        witness: None,
    };
    let report: BoundReport = match bound(&case.f, &case.g, &request) {
        Ok(r) => r,
        Err(e) => {
            outcome.error = Some(e.to_string());
            outcome.seconds = start.elapsed().as_secs_f64();
            return outcome;
        }
    };
    outcome.seconds = start.elapsed().as_secs_f64();
    let status_certified = report.status == Status::Certified;
    outcome.nonfinite_certified = status_certified
        && (report.certified_bound.is_none_or(|b| !b.is_finite()) || report.per_output_bound.iter().any(|b| b.is_some_and(|b| !b.is_finite())));
    outcome.bound = solver_or_certified_bound(&report);
    outcome.certified = outcome.bound.is_some_and(|b| b.is_finite());
    outcome.per_output_bound = if method == Method::MILP { report.per_output_solver_bound.clone() } else { report.per_output_bound.clone() };
    if let Some(x) = report.witness.clone() {
        let xg = report.witness_compressed.clone().unwrap_or_else(|| x.clone());
        outcome.witness_outside = !case.set.contains(&x, 0.0) || !case.set.contains(&xg, 0.0);
        outcome.witness = Some((x, xg));
    }
    outcome
}

/// The number a method stands behind: the certified bound, or for the MILP
/// the solver's bound (status `solver_bound`, not re-checked).
fn solver_or_certified_bound(report: &BoundReport) -> Option<f64> {
    if report.method == Method::MILP { report.solver_bound } else { report.certified_bound }
}

/// Checks a finished method against the reference.
fn judge(outcome: &mut MethodOutcome, observed: &Observed, interval_bound: f64) {
    let Some(b) = outcome.bound else { return };
    if observed.total > b {
        outcome.unsound = Some(format!("observed {:.17e} > bound {:.17e}", observed.total, b));
    }
    for (j, (o, pb)) in observed.per_output.iter().zip(&outcome.per_output_bound).enumerate() {
        if let Some(pb) = pb {
            if o > pb && outcome.unsound.is_none() {
                outcome.unsound = Some(format!("output {j}: observed {o:.17e} > bound {pb:.17e}"));
            }
        }
    }
    if observed.total > 0.0 && b.is_finite() {
        outcome.ratio = Some(b / observed.total);
    }
    outcome.looser_than_interval = b > interval_bound;
}

/// Generates, bounds and checks one pair.
pub fn run_pair(seed: u64, index: usize) -> PairRecord {
    let start = Instant::now();
    std::panic::catch_unwind(|| run_pair_unguarded(seed, index)).unwrap_or_else(|panic| {
        let message = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
        PairRecord {
            index,
            labels: Vec::new(),
            description: String::new(),
            observed: None,
            interval_bound: f64::INFINITY,
            outcomes: Vec::new(),
            auto_above_propagate: false,
            failure: Some(format!("panicked: {message}")),
            seconds: start.elapsed().as_secs_f64(),
        }
    })
}

fn run_pair_unguarded(seed: u64, index: usize) -> PairRecord {
    let start = Instant::now();
    let case = match generate(seed, index) {
        Ok(c) => c,
        Err(e) => {
            return PairRecord {
                index,
                labels: Vec::new(),
                description: String::new(),
                observed: None,
                interval_bound: f64::INFINITY,
                outcomes: Vec::new(),
                auto_above_propagate: false,
                failure: Some(e),
                seconds: start.elapsed().as_secs_f64(),
            }
        }
    };
    let pair_seed = case_rng(seed, index).gen::<u64>();
    let mut observed = reference(&case, pair_seed);
    let mut outcomes: Vec<MethodOutcome> = case.methods.iter().map(|&m| run_method(&case, m, pair_seed)).collect();
    for outcome in &outcomes {
        if let Some((x, xg)) = &outcome.witness {
            observed.try_pair(&case, x, xg, &format!("{} witness", method_label(outcome.method)));
        }
    }
    let bounds_box: Vec<Interval> = case.spec.lower.iter().zip(&case.spec.upper).map(|(l, u)| Interval { lo: *l, hi: *u }).collect();
    let interval_bound = interval_difference_bound(&enclose_outputs(&case.f, &bounds_box), &enclose_outputs(&case.g, &bounds_box), case.norm);
    for outcome in &mut outcomes {
        judge(outcome, &observed, interval_bound);
    }
    let find = |m: Method| outcomes.iter().find(|o| o.method == m);
    let auto_above_propagate = match (find(Method::PROPAGATE), find(Method::AUTO)) {
        (Some(p), Some(a)) if p.certified => !a.certified || a.bound.unwrap() > p.bound.unwrap(),
        _ => false,
    };
    let labels = vec![
        ("activation", activation_label(case.activation).to_string()),
        ("relation", relation_label(case.relation).to_string()),
        ("set", set_label(case.set_kind).to_string()),
        ("mode", mode_label(case.mode).to_string()),
        ("norm", norm_label(case.norm).to_string()),
        ("file", file_label(case.file).to_string()),
        ("hidden layers", case.depth.to_string()),
    ];
    PairRecord {
        index,
        labels,
        description: case.description.clone(),
        observed: Some(observed),
        interval_bound,
        outcomes,
        auto_above_propagate,
        failure: None,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Writes pair `index` to `dir`: `f.onnx`, `g.onnx` (float64) and `set.json`.
pub fn dump_pair(seed: u64, index: usize, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, String> {
    let case = generate(seed, index)?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut written = Vec::new();
    for (name, net) in [("f", &case.f), ("g", &case.g)] {
        let path = dir.join(format!("pair{index}-{name}.onnx"));
        std::fs::write(&path, write_onnx(net, &ExportFormat::Float64).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        written.push(path);
    }
    let path = dir.join(format!("pair{index}-set.json"));
    let json = serde_json::json!({
        "set": case.set,
        "coupling": match &case.coupling { InputCoupling::Same => serde_json::json!("same"), InputCoupling::Independent => serde_json::json!("independent"), InputCoupling::Quantised(s) => serde_json::json!({ "quantised": s }) },
        "norm": norm_label(case.norm),
        "description": case.description,
    });
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).map_err(|e| e.to_string())?;
    written.push(path);
    Ok(written)
}

// ---------------------------------------------------------------------------
// The sweep and its table
// ---------------------------------------------------------------------------

/// Runs the pairs of `options` (in parallel) and returns their records in index order.
pub fn run(options: &SweepOptions) -> Vec<PairRecord> {
    let indices: Vec<usize> = if options.only.is_empty() { (0..options.pairs).collect() } else { options.only.clone() };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(options.threads).build().expect("thread pool");
    let start = Instant::now();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = indices.len();
    let mut records: Vec<PairRecord> = pool.install(|| {
        indices
            .par_iter()
            .with_max_len(1)
            .map(|&i| {
                let record = run_pair(options.seed, i);
                let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if options.progress && (finished % 100 == 0 || finished == total) {
                    eprintln!("{finished}/{total} pairs, {:.0} s", start.elapsed().as_secs_f64());
                }
                for o in &record.outcomes {
                    if let Some(what) = &o.unsound {
                        eprintln!("UNSOUND pair {i} {}: {what}", method_label(o.method));
                    }
                }
                record
            })
            .collect()
    });
    records.sort_by_key(|r| r.index);
    records
}

#[derive(Default)]
struct RowStats {
    pairs: usize,
    errors: usize,
    unsound: usize,
    certified: usize,
    ratios: Vec<f64>,
    looser_than_interval: usize,
    auto_above_propagate: usize,
    witness_outside: usize,
    nonfinite_certified: usize,
}

impl RowStats {
    fn add(&mut self, record: &PairRecord, o: &MethodOutcome) {
        self.pairs += 1;
        self.errors += o.error.is_some() as usize;
        self.unsound += o.unsound.is_some() as usize;
        self.certified += o.certified as usize;
        if let Some(r) = o.ratio {
            self.ratios.push(r);
        }
        self.looser_than_interval += o.looser_than_interval as usize;
        self.auto_above_propagate += (o.method == Method::AUTO && record.auto_above_propagate) as usize;
        self.witness_outside += o.witness_outside as usize;
        self.nonfinite_certified += o.nonfinite_certified as usize;
    }
    fn line(&mut self, first: &str, method: &str) -> String {
        self.ratios.sort_by(|a, b| a.total_cmp(b));
        let median = if self.ratios.is_empty() { "-".to_string() } else { format!("{:.3}", self.ratios[self.ratios.len() / 2]) };
        let worst = self.ratios.last().map_or("-".to_string(), |r| format!("{r:.3e}"));
        // how close the sweep came to an unsound answer: 1 + (smallest ratio - 1)
        let tightest = self.ratios.first().map_or("-".to_string(), |r| if *r == 1.0 { "1".to_string() } else { format!("1{:+.1e}", r - 1.0) });
        let fraction = if self.pairs == 0 { 0.0 } else { self.certified as f64 / self.pairs as f64 };
        format!(
            "| {first} | {method} | {} | {} | {} | {:.3} | {median} | {worst} | {tightest} | {} | {} | {} | {} |",
            self.pairs,
            self.errors,
            self.unsound,
            fraction,
            self.looser_than_interval,
            if method == "auto" { self.auto_above_propagate.to_string() } else { "-".into() },
            self.witness_outside,
            self.nonfinite_certified
        )
    }
}

const METHODS: [Method; 4] = [Method::PROPAGATE, Method::AUTO, Method::SDP, Method::MILP];

/// Counts of a finished sweep.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub pairs: usize,
    pub failures: usize,
    /// Unsound answers of propagate, auto and sdp.
    pub unsound_certified: usize,
    /// MILP solver bounds below the observed error.
    pub unsound_milp: usize,
    pub seconds_per_pair: f64,
}

/// Counts the records.
pub fn summarise(records: &[PairRecord]) -> Summary {
    let mut s = Summary { pairs: records.len(), ..Default::default() };
    for r in records {
        s.failures += r.failure.is_some() as usize;
        for o in &r.outcomes {
            if o.unsound.is_some() {
                if o.method == Method::MILP {
                    s.unsound_milp += 1;
                } else {
                    s.unsound_certified += 1;
                }
            }
        }
        s.seconds_per_pair += r.seconds / records.len().max(1) as f64;
    }
    s
}

/// The markdown table: one block of rows per category, one row per method.
pub fn table(records: &[PairRecord]) -> String {
    let mut out = String::new();
    out.push_str("| category | method | pairs | refused | unsound | certified | median ratio | worst ratio | tightest ratio | looser than interval | auto > propagate | witness outside | non-finite certified |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut all: BTreeMap<usize, RowStats> = BTreeMap::new();
    for r in records {
        for o in &r.outcomes {
            all.entry(METHODS.iter().position(|m| *m == o.method).unwrap()).or_default().add(r, o);
        }
    }
    for (m, stats) in all.iter_mut() {
        out.push_str(&stats.line("**all pairs**", method_label(METHODS[*m])));
        out.push('\n');
    }
    let dimensions: Vec<&'static str> = records.iter().find(|r| !r.labels.is_empty()).map(|r| r.labels.iter().map(|l| l.0).collect()).unwrap_or_default();
    for (d, dimension) in dimensions.iter().enumerate() {
        // values in order of first appearance in a fixed label order
        let mut values: Vec<String> = Vec::new();
        for r in records.iter().filter(|r| !r.labels.is_empty()) {
            if !values.contains(&r.labels[d].1) {
                values.push(r.labels[d].1.clone());
            }
        }
        values.sort_by_key(|v| label_order(dimension, v));
        for value in values {
            let mut rows: BTreeMap<usize, RowStats> = BTreeMap::new();
            for r in records.iter().filter(|r| !r.labels.is_empty() && r.labels[d].1 == value) {
                for o in &r.outcomes {
                    rows.entry(METHODS.iter().position(|m| *m == o.method).unwrap()).or_default().add(r, o);
                }
            }
            for (m, stats) in rows.iter_mut() {
                out.push_str(&stats.line(&format!("{dimension}: {value}"), method_label(METHODS[*m])));
                out.push('\n');
            }
        }
    }
    out
}

fn label_order(dimension: &str, value: &str) -> (usize, String) {
    let order: Vec<&str> = match dimension {
        "activation" => ACTIVATIONS.iter().map(|a| activation_label(*a)).collect(),
        "relation" => RELATIONS.iter().map(|r| relation_label(*r)).collect(),
        "set" => SET_KINDS.iter().map(|s| set_label(*s)).collect(),
        "mode" => vec!["same input", "quantised input", "independent inputs"],
        "norm" => vec!["linf", "l2"],
        "file" => [FileKind::Memory, FileKind::OnnxF64, FileKind::OnnxF32, FileKind::Nnet].iter().map(|f| file_label(*f)).collect(),
        _ => Vec::new(),
    };
    (order.iter().position(|o| *o == value).unwrap_or(usize::MAX), format!("{value:>8}"))
}

/// One line per unsound answer, with the command reproducing it.
pub fn unsound_report(records: &[PairRecord], seed: u64, command: &str) -> String {
    let mut out = String::new();
    for r in records {
        for o in &r.outcomes {
            if let Some(what) = &o.unsound {
                let observed = r.observed.as_ref().map(|o| o.witness.2.clone()).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "- pair {} ({}), method {}: {what} (largest error found by {observed}); reproduce: `{command} --seed {seed} --only {}`",
                    r.index,
                    r.description,
                    method_label(o.method),
                    r.index
                );
            }
        }
    }
    for r in records {
        for o in &r.outcomes {
            let flags: Vec<&str> = [(o.witness_outside, "witness outside the set"), (o.nonfinite_certified, "certified status with a non-finite bound")]
                .iter()
                .filter(|f| f.0)
                .map(|f| f.1)
                .collect();
            if !flags.is_empty() {
                let _ = writeln!(out, "- pair {} ({}), method {}: {}; reproduce: `{command} --seed {seed} --only {}`", r.index, r.description, method_label(o.method), flags.join(", "), r.index);
            }
        }
    }
    for r in records {
        if let Some(e) = &r.failure {
            let _ = writeln!(out, "- pair {}: failed: {e}", r.index);
        }
    }
    out
}

/// Everything about one pair, for reproductions.
pub fn details(record: &PairRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "pair {}: {}", record.index, record.description);
    if let Some(e) = &record.failure {
        let _ = writeln!(out, "  generation error: {e}");
    }
    if let Some(o) = &record.observed {
        let _ = writeln!(out, "  observed (rigorous lower end): {:.17e} by {} at x = {:?}, x' = {:?}", o.total, o.witness.2, o.witness.0, o.witness.1);
        let _ = writeln!(out, "  observed per output: {:?}", o.per_output);
    }
    let _ = writeln!(out, "  interval bound of the difference: {:.17e}", record.interval_bound);
    for o in &record.outcomes {
        let _ = writeln!(
            out,
            "  {:<9} {:.2} s  bound {:?}  per output {:?}  ratio {:?}{}{}{}{}",
            method_label(o.method),
            o.seconds,
            o.bound,
            o.per_output_bound,
            o.ratio,
            o.error.as_ref().map_or(String::new(), |e| format!("  REFUSED: {e}")),
            o.unsound.as_ref().map_or(String::new(), |u| format!("  UNSOUND: {u}")),
            if o.looser_than_interval { "  looser than interval" } else { "" },
            if o.witness_outside { "  witness outside the set" } else { "" },
        );
        if let Some((x, xg)) = &o.witness {
            let _ = writeln!(out, "            witness x = {x:?}{}", if x == xg { String::new() } else { format!(", x' = {xg:?}") });
        }
    }
    out
}
