//! `deltacert eval MODEL --input FILE.json`.

use crate::args::EvalArgs;
use deltacert::io::{json::read_inputs, read_model};

pub fn run(args: EvalArgs) -> deltacert::Result<u8> {
    let net = read_model(&args.model)?;
    let (inputs, batch) = read_inputs(&args.input)?;
    let outputs = net.eval_batch(&inputs).map_err(|e| e.within(args.input.display()))?;
    // JSON has no NaN or infinity: an overflowed output is an error, not `null`
    if let Some((i, j)) = outputs.iter().enumerate().find_map(|(i, y)| y.iter().position(|v| !v.is_finite()).map(|j| (i, j))) {
        stderr_line!("error: {}: output {j} of input {i} is {} (the evaluation overflowed in f64)", args.input.display(), outputs[i][j]);
        return Ok(3);
    }
    let text = if batch { serde_json::to_string(&outputs) } else { serde_json::to_string(&outputs[0]) };
    println!("{}", text.expect("numbers serialise"));
    Ok(0)
}
