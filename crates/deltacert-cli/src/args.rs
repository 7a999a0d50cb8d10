//! Raw command-line flags (clap derive). Validation into library settings
//! happens in the command modules.

use clap::{Args, Parser, Subcommand};
use deltacert::bound::Method;
use deltacert::problem::Norm;
use deltacert::propagation::SlopeScope;
use std::path::PathBuf;

/// The exit codes, shown by `--help`.
/// A threshold (`--eps`, `--tolerance`) as the decimal written: `lower` and
/// `upper` are doubles on either side of it (equal when it is a double), so
/// "proven" (a certified bound `<= lower`) and "counterexample" (an error
/// `> upper`) hold for the decimal itself, not only for its nearest double.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The decimal as written.
    pub written: String,
    /// The nearest double.
    pub value: f64,
    /// A double at most the decimal.
    pub lower: f64,
    /// A double at least the decimal.
    pub upper: f64,
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str(&self.written)
    }
}

/// One entry of `--outputs`: an output's number, counted from 0.
fn output_number(text: &str) -> Result<usize, String> {
    text.trim().parse().map_err(|_| format!("'{text}' is not an output number (0, 1, 2, ...)"))
}

/// Reads `--timeout`: a finite number of seconds `> 0`; one above
/// [`deltacert::limits::MAX_SECONDS`] (about 31 years) is that.
fn seconds(text: &str) -> Result<f64, String> {
    let written = text.trim();
    match written.parse::<f64>() {
        Ok(t) if t > 0.0 && t.is_finite() => Ok(t.min(deltacert::limits::MAX_SECONDS)),
        Ok(_) => Err(format!("'{written}' must be a finite number of seconds > 0")),
        Err(_) => Err(format!("'{written}' is not a number of seconds")),
    }
}

/// Reads a finite decimal `>= 0` as a [`Threshold`].
fn threshold(text: &str) -> Result<Threshold, String> {
    use std::cmp::Ordering;
    let written = text.trim().to_string();
    let invalid = || format!("'{written}' must be a finite number >= 0");
    let value: f64 = written.parse().map_err(|_| format!("'{written}' is not a number"))?;
    // the nearest double and the one on the decimal's other side, if any
    let (lower, upper) = match deltacert::io::vnnlib::decimal_against_nearest(&written).ok_or_else(invalid)? {
        Ordering::Equal => (value, value),
        Ordering::Less => (value.next_down(), value),
        Ordering::Greater => (value, value.next_up()),
    };
    // a negative decimal (-1e-400 reads as -0) is refused, -0 itself is 0
    if !(upper >= 0.0) || !upper.is_finite() || (written.starts_with('-') && (lower, upper) != (0.0, 0.0)) {
        return Err(invalid());
    }
    Ok(Threshold { written, value, lower: lower.max(0.0), upper })
}

pub const EXIT_CODES: &str = "Exit codes:\n  0  success (decide mode: the bound is proven <= --eps)\n  1  decide mode: an input with error above --eps was found (plan: no setting within the tolerance)\n  2  bad input: unreadable or malformed file, unsupported operator, shape mismatch, empty set, bad option\n  3  no certificate: solver failure, refused check, time or memory limit, or decide mode undecided\n  4  the result was printed, but the --plot figure could not be written";

/// Certified output-error bounds between a neural network and its compressed copy.
#[derive(Parser, Debug)]
#[command(name = "deltacert", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Layers, widths, activations, parameter count, sparsity and dtype of a model.
    Info(InfoArgs),
    /// Evaluate a model on inputs from a JSON file; prints the outputs as JSON.
    Eval(EvalArgs),
    /// Produce a pruned or quantised copy of a model (ONNX out).
    Compress(CompressArgs),
    /// Certify an upper bound on the output difference of two networks over an input set.
    Bound(BoundArgs),
    /// Search for the largest output difference only (a lower bound with its witness).
    Attack(AttackArgs),
    /// Compress at several settings, certify each, and pick the most aggressive one within a tolerance.
    Plan(PlanArgs),
}

// negative numbers are values (`--radius -1` reaches the option's own check)
#[derive(Args, Debug)]
#[command(after_help = EXIT_CODES, allow_negative_numbers = true)]
pub struct PlanArgs {
    /// Model to compress (.onnx or .nnet).
    pub model: PathBuf,
    #[command(flatten)]
    pub set: InputSetArgs,
    #[command(flatten)]
    pub coupling: CouplingArgs,
    /// Largest acceptable certified error.
    #[arg(long, value_parser = threshold)]
    pub tolerance: Threshold,
    /// Fixed-point range fixed:A..B or round:A..B (fractional bits).
    #[arg(long, conflicts_with = "prune", required_unless_present = "prune")]
    pub quantize: Option<String>,
    /// Pruning fractions `A..B[:STEP]` (default step 0.1), unstructured per layer.
    #[arg(long)]
    pub prune: Option<String>,
    /// Remove whole neurons instead of single weights (with --prune).
    #[arg(long, requires = "prune")]
    pub structured: bool,
    /// Output norm.
    #[arg(long, value_enum, default_value_t = Norm::Linf)]
    pub norm: Norm,
    /// Bounding method for every setting (milp is refused: its bound is not re-checked).
    #[arg(long, value_enum, default_value_t = Method::AUTO)]
    pub method: Method,
    /// SDP quadratic-constraint families (sdp, auto): auto, default, full, per-neuron, default+neighbours:K, ...
    #[arg(long)]
    pub qcs: Option<String>,
    /// Time limit per setting, seconds (auto: default 10 s).
    #[arg(long, value_name = "S", value_parser = seconds)]
    pub timeout: Option<f64>,
    /// Memory budget, e.g. 8G (default: 3/4 of the machine's memory).
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
    /// Draw certified and observed error against the setting (.svg or .png).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Overwrite the --plot file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The input set: exactly one of --box, --box-file, --vnnlib, --center/--radius.
#[derive(Args, Debug, Clone)]
pub struct InputSetArgs {
    /// Every input coordinate in [LO, HI], written LO,HI.
    #[arg(long = "box", value_name = "LO,HI", allow_hyphen_values = true, group = "input_set")]
    pub box_range: Option<String>,
    /// JSON file {"lower": [...], "upper": [...]}.
    #[arg(long, group = "input_set")]
    pub box_file: Option<PathBuf>,
    /// Input bounds of a VNN-LIB property file.
    #[arg(long, group = "input_set")]
    pub vnnlib: Option<PathBuf>,
    /// Centre of a ball: a JSON file holding an array of numbers; needs --radius.
    #[arg(long, value_name = "FILE", group = "input_set", requires = "radius")]
    pub center: Option<PathBuf>,
    /// Radius of the ball around --center (a decimal: rounded outward for
    /// the bound, inward for witnesses).
    #[arg(long, requires = "center")]
    pub radius: Option<String>,
    /// Ball norm for --center/--radius [default: linf].
    #[arg(long, value_parser = ["linf", "l2"], requires = "center")]
    pub ball: Option<String>,
    /// Also require A x <= b: JSON {"A": [[...], ...], "b": [...]}.
    #[arg(long)]
    pub polytope: Option<PathBuf>,
    /// For .nnet models: the set is in physical units (raw, normalised by the file) or already normalised [default: raw]. A normalised set is mapped back to raw units, so the file's input range still clips it, and witnesses are printed in raw units.
    #[arg(long, value_parser = ["raw", "normalized"])]
    pub input_space: Option<String>,
}

/// How the two networks see the input.
#[derive(Args, Debug, Clone)]
pub struct CouplingArgs {
    /// The compressed network sees x' with |x' - x| <= STEP per coordinate,
    /// x' in the set too (STEP in raw units, also with --input-space normalized).
    #[arg(long, value_name = "STEP", conflicts_with = "independent_inputs")]
    pub input_quant: Option<String>,
    /// Comparison mode: f and g get independent inputs from the set.
    #[arg(long)]
    pub independent_inputs: bool,
}

/// The two models, the input set, how they see it, and the norm: shared by `bound` and `attack`.
#[derive(Args, Debug)]
pub struct PairArgs {
    /// Reference model (.onnx or .nnet).
    pub reference: PathBuf,
    /// Compressed model (.onnx or .nnet).
    pub compressed: PathBuf,
    #[command(flatten)]
    pub set: InputSetArgs,
    #[command(flatten)]
    pub coupling: CouplingArgs,
    /// Output norm: linf bounds max_j |f_j - g_j| (and each output), l2 bounds ||f - g||_2.
    #[arg(long, value_enum, default_value_t = Norm::Linf)]
    pub norm: Norm,
    /// Random samples for the lower bound [default: 10000].
    #[arg(long)]
    pub samples: Option<usize>,
    /// Seed of the lower-bound search.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(after_help = EXIT_CODES, allow_negative_numbers = true)]
pub struct BoundArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Bounding method.
    #[arg(long, value_enum, default_value_t = Method::AUTO)]
    pub method: Method,
    /// Draw a figure of the error and its bounds (.svg or .png).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Overwrite the --plot file if it exists.
    #[arg(long)]
    pub force: bool,
    /// SDP quadratic-constraint families: auto, default, full, per-neuron, or e.g. matched+intervals, default+neighbours:6 [default: auto].
    #[arg(long)]
    pub qcs: Option<String>,
    /// Decide mode: exit 0 if bound <= E is proven, 1 if an error above E is found.
    #[arg(long, value_name = "E", value_parser = threshold)]
    pub eps: Option<Threshold>,
    /// Time limit for the whole run, seconds, every method (auto: default 10 s,
    /// the bound reached by then is reported; sdp, milp: all solves together).
    #[arg(long, value_name = "S", value_parser = seconds)]
    pub timeout: Option<f64>,
    /// Memory budget, e.g. 8G or 512M (default: 3/4 of the machine's memory).
    /// A method that would exceed it stops with exit 3 and says so.
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
    /// auto: stop splitting once certified <= RATIO * observed [default: 1.01].
    #[arg(long, value_name = "RATIO")]
    pub target_ratio: Option<f64>,
    /// propagate, auto: projected-gradient steps choosing the free relaxation
    /// slopes of the propagation over the whole set (alpha-CROWN style; every
    /// step's bound is certified, the best is kept); 0 keeps the fixed slopes
    /// [default: 10].
    #[arg(long, value_name = "N")]
    pub optimise_slopes: Option<usize>,
    /// propagate, auto: which bounds the optimised slopes tighten: output,
    /// networks (also each network's neuron bounds), all (also the bounds on
    /// v_f - v_g of every layer) [default: networks].
    #[arg(long, value_enum, value_name = "SCOPE")]
    pub slope_scope: Option<SlopeScope>,
    /// auto: what a piece of the set is split on: input (halve a coordinate),
    /// neuron (fix the phase of the unstable ReLU whose relaxation the bound
    /// owes most), mixed (bound both splits, keep the better), or auto (input
    /// up to 8 inputs, neuron above) [default: auto].
    #[arg(long, value_name = "RULE")]
    pub branching: Option<String>,
    /// Largest lifted dimension the interior-point SDP attempts (memory grows
    /// like d^4) [default: 150; --method auto runs the interior-point SDP
    /// only up to an estimated dimension of 48, or up to this if lower; the
    /// first-order solver is not limited by it].
    #[arg(long)]
    pub sdp_max_dim: Option<usize>,
    /// SDP solver: auto (interior point up to lifted dimension 60, first
    /// order above), interior-point, or first-order (eigenvalue-penalised,
    /// anytime: the best checked bound at --timeout).
    #[arg(long, value_name = "SOLVER")]
    pub sdp_solver: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one line: the result (decide mode: the decision), no progress.
    #[arg(long)]
    pub quiet: bool,
    /// Certify only these outputs, e.g. 0,3 (numbered from 0); the report's
    /// per-output lines keep their numbers.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = output_number)]
    pub outputs: Option<Vec<usize>>,
    /// Decide whether the label can change: argmax f(x) = argmax g(x) for
    /// every x in the set (ties: first index; with --input-quant or
    /// --independent-inputs, g's input x' as they allow); exit 0 proven, 1
    /// counterexample, 3 unknown.
    #[arg(long)]
    pub top1: bool,
    /// With --top1: only where f's softmax probability of its label is at least D (0.5 <= D < 1).
    #[arg(long, value_name = "D", requires = "top1")]
    pub confidence: Option<f64>,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct AttackArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Stop sampling and ascending after this many seconds (the largest
    /// error found by then is reported).
    #[arg(long, value_name = "S", value_parser = seconds)]
    pub timeout: Option<f64>,
    /// Memory budget, e.g. 512M (default: 3/4 of the machine's memory);
    /// exceeding it exits 3.
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Model file (.onnx or .nnet).
    pub model: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model file (.onnx or .nnet).
    pub model: PathBuf,
    /// JSON file: an array of numbers, or an array of such arrays.
    #[arg(long)]
    pub input: PathBuf,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct CompressArgs {
    /// Model file (.onnx or .nnet).
    pub model: PathBuf,
    /// Prune this fraction of weights (or of hidden neurons with --structured).
    #[arg(long, conflicts_with = "quantize")]
    pub prune: Option<f64>,
    /// Remove whole hidden neurons (smallest incoming-weight norm) instead of single weights.
    #[arg(long, requires = "prune")]
    pub structured: bool,
    /// Count the pruning fraction over all layers together instead of per layer.
    #[arg(long, requires = "prune", conflicts_with = "structured")]
    pub global: bool,
    /// Quantise: int8, int4, fixed:Q (truncate to 2^-Q, the paper's rule) or round:Q.
    #[arg(long, required_unless_present = "prune")]
    pub quantize: Option<String>,
    /// int8/int4: one scale per output channel instead of per tensor.
    #[arg(long, requires = "quantize")]
    pub per_channel: bool,
    /// int8: also quantise every hidden ReLU's output to uint8 (QDQ, the ReLU
    /// folded into the quantiser), with per-tensor scales from --calibration.
    #[arg(long, requires = "calibration")]
    pub activations: bool,
    /// JSON array of raw inputs that set the activation scales of --activations.
    #[arg(long, value_name = "FILE", requires = "activations")]
    pub calibration: Option<std::path::PathBuf>,
    /// Output ONNX file.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Float type of the written file (int8/int4 always write QDQ int8 weights).
    #[arg(long, value_parser = ["float32", "float64"], default_value = "float64")]
    pub dtype: String,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}
