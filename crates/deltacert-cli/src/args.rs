//! Raw command-line flags (clap derive). Validation into library settings
//! happens in the command modules.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Certified output-error bounds between a neural network and its compressed copy.
#[derive(Parser, Debug)]
#[command(name = "deltacert", version, about)]
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

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Model to compress (.onnx or .nnet).
    pub model: PathBuf,
    #[command(flatten)]
    pub set: InputSetArgs,
    /// Largest acceptable certified error.
    #[arg(long)]
    pub tolerance: f64,
    /// Fixed-point range fixed:A..B or round:A..B (fractional bits).
    #[arg(long, conflicts_with = "prune", required_unless_present = "prune")]
    pub quantize: Option<String>,
    /// Pruning fractions A..B[:STEP] (default step 0.1), unstructured per layer.
    #[arg(long)]
    pub prune: Option<String>,
    /// Remove whole neurons instead of single weights (with --prune).
    #[arg(long, requires = "prune")]
    pub structured: bool,
    /// Output norm.
    #[arg(long, value_parser = ["linf", "l2"], default_value = "linf")]
    pub norm: String,
    /// Bounding method for every setting.
    #[arg(long, value_parser = ["auto", "sdp", "propagate", "milp"], default_value = "auto")]
    pub method: String,
    /// Time limit per solve, seconds.
    #[arg(long)]
    pub timeout: Option<f64>,
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
    /// Centre of a ball (JSON array); needs --radius.
    #[arg(long, group = "input_set", requires = "radius")]
    pub center: Option<PathBuf>,
    /// Radius of the ball around --center.
    #[arg(long, requires = "center")]
    pub radius: Option<f64>,
    /// Ball norm for --center/--radius.
    #[arg(long, value_parser = ["linf", "l2"], default_value = "linf")]
    pub ball: String,
    /// Also require A x <= b: JSON {"A": [[...], ...], "b": [...]}.
    #[arg(long)]
    pub polytope: Option<PathBuf>,
    /// For .nnet models: the set is in physical units (raw, normalised by the file) or already normalised.
    #[arg(long, value_parser = ["raw", "normalized"], default_value = "raw")]
    pub input_space: String,
}

/// How the two networks see the input.
#[derive(Args, Debug, Clone)]
pub struct CouplingArgs {
    /// The compressed network sees x' with |x' - x| <= STEP per coordinate.
    #[arg(long, value_name = "STEP", conflicts_with = "independent_inputs")]
    pub input_quant: Option<f64>,
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
    #[arg(long, value_parser = ["linf", "l2"], default_value = "linf")]
    pub norm: String,
    /// Random samples for the lower bound.
    #[arg(long, default_value_t = 10_000)]
    pub samples: usize,
    /// Seed of the lower-bound search.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BoundArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Bounding method: auto (differential propagation, then input
    /// splitting, plus the SDP when the problem is small), propagate (one pass
    /// of differential bound propagation), sdp (the paper's semidefinite
    /// program), milp (exact worst case, ReLU networks, HiGHS).
    #[arg(long, value_parser = ["auto", "sdp", "propagate", "milp"], default_value = "auto")]
    pub method: String,
    /// Draw a figure of the error and its bounds (.svg or .png).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Overwrite the --plot file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Quadratic-constraint families: auto, default, full, per-neuron, or e.g. matched+intervals.
    #[arg(long, default_value = "auto")]
    pub qcs: String,
    /// Decide mode: exit 0 if bound <= E is proven, 1 if an error above E is found.
    #[arg(long, value_name = "E")]
    pub eps: Option<f64>,
    /// Time limit, seconds. auto: the input-splitting search stops then and
    /// reports the bound reached (default 10 s); sdp/milp: per solve.
    #[arg(long)]
    pub timeout: Option<f64>,
    /// auto: stop splitting once certified <= RATIO * observed.
    #[arg(long, value_name = "RATIO", default_value_t = deltacert::bound::DEFAULT_TARGET_RATIO)]
    pub target_ratio: f64,
    /// Largest lifted SDP dimension attempted (memory grows like d^4).
    #[arg(long, default_value_t = deltacert::sdp::DEFAULT_MAX_DIMENSION)]
    pub sdp_max_dim: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print only the result line (no progress).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct AttackArgs {
    #[command(flatten)]
    pub pair: PairArgs,
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
