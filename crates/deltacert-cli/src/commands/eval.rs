//! `deltacert eval MODEL --input FILE.json`.

use crate::args::EvalArgs;
use deltacert::io::{json::read_inputs, read_model};
use std::process::ExitCode;

pub fn run(args: EvalArgs) -> deltacert::Result<ExitCode> {
    let net = read_model(&args.model)?;
    let (inputs, batch) = read_inputs(&args.input)?;
    let outputs = net.eval_batch(&inputs).map_err(|e| e.within(args.input.display()))?;
    let text = if batch { serde_json::to_string(&outputs) } else { serde_json::to_string(&outputs[0]) };
    println!("{}", text.expect("numbers serialise"));
    Ok(ExitCode::SUCCESS)
}
