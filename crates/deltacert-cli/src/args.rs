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
