//! Turning the input-set and coupling flags into library objects.

use crate::args::{CouplingArgs, InputSetArgs};
use deltacert::error::{Error, ErrorKind};
use deltacert::input_set::InputSet;
use deltacert::io::json;
use deltacert::network::Network;
use deltacert::sdp::lift::InputCoupling;

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOption, msg)
}

/// The input set in raw units, for a network with `dim` inputs.
pub fn input_set(args: &InputSetArgs, network: &Network) -> deltacert::Result<InputSet> {
    let dim = network.input_dim;
    let mut set = if let Some(text) = &args.box_range {
        let parts: Vec<&str> = text.split(',').collect();
        let parse = |s: &str| s.trim().parse::<f64>().map_err(|_| invalid(format!("--box {text}: '{s}' is not a number")));
        if parts.len() != 2 {
            return Err(invalid(format!("--box {text}: expected LO,HI")));
        }
        InputSet::uniform_box(dim, parse(parts[0])?, parse(parts[1])?)?
    } else if let Some(path) = &args.box_file {
        let (lower, upper) = json::read_box(path)?;
        InputSet::from_box(lower, upper).map_err(|e| e.within(path.display()))?
    } else if let Some(path) = &args.vnnlib {
        let text = std::fs::read_to_string(path).map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {}: {e}", path.display())))?;
        InputSet::from_vnnlib(&text, dim).map_err(|e| e.within(path.display()))?
    } else if let Some(path) = &args.center {
        let center = json::read_point(path)?;
        InputSet::ball(center, args.radius.unwrap_or(0.0), args.ball.as_deref() == Some("l2")).map_err(|e| e.within(path.display()))?
    } else {
        return Err(invalid("no input set: give --box LO,HI, --box-file, --vnnlib or --center with --radius"));
    };
    if set.dim() != dim {
        return Err(Error::new(ErrorKind::ShapeMismatch, format!("the input set has {} coordinates but the networks take {dim}", set.dim())));
    }
    if let Some(path) = &args.polytope {
        set = set.with_polytope(read_polytope(path, dim)?).map_err(|e| e.within(path.display()))?;
    }
    if args.input_space.as_deref() == Some("normalized") {
        let Some(t) = &network.input_transform else {
            return Err(invalid("--input-space normalized needs a model with input normalisation (.nnet)"));
        };
        if set.ball_constraint().is_some() || !set.polytope().is_empty() {
            return Err(invalid("--input-space normalized supports boxes only"));
        }
        let lower = (0..dim).map(|i| t.mean[i] + t.range[i] * set.lower()[i]).collect();
        let upper = (0..dim).map(|i| t.mean[i] + t.range[i] * set.upper()[i]).collect();
        set = InputSet::from_box(lower, upper)?;
    }
    Ok(set)
}

fn read_polytope(path: &std::path::Path, dim: usize) -> deltacert::Result<Vec<(Vec<f64>, f64)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {}: {e}", path.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::new(ErrorKind::Malformed, format!("{}: not valid JSON: {e}", path.display())))?;
    let bad = || Error::new(ErrorKind::Malformed, format!("{}: expected {{\"A\": [[...]], \"b\": [...]}} with rows of length {dim}", path.display()));
    let rows = value.get("A").and_then(|a| a.as_array()).ok_or_else(bad)?;
    let rhs = value.get("b").and_then(|b| b.as_array()).ok_or_else(bad)?;
    if rows.len() != rhs.len() {
        return Err(bad());
    }
    rows.iter()
        .zip(rhs)
        .map(|(row, b)| {
            let row: Vec<f64> = row.as_array().ok_or_else(bad)?.iter().map(|v| v.as_f64().ok_or_else(bad)).collect::<Result<_, _>>()?;
            if row.len() != dim {
                return Err(bad());
            }
            Ok((row, b.as_f64().ok_or_else(bad)?))
        })
        .collect()
}

/// Every set the flags describe (a VNN-LIB file may hold a union of boxes).
pub fn input_sets(args: &InputSetArgs, network: &Network) -> deltacert::Result<Vec<InputSet>> {
    Ok(vec![input_set(args, network)?])
}

/// `--input-space` applies to models with an input normalisation (.nnet) only.
pub fn check_input_space(args: &InputSetArgs, network: &Network) -> deltacert::Result<()> {
    if args.input_space.is_some() && network.input_transform.is_none() {
        return Err(invalid("--input-space applies to models with input normalisation (.nnet); this model has none"));
    }
    Ok(())
}

/// The coupling in raw units.
pub fn coupling(args: &CouplingArgs, dim: usize) -> deltacert::Result<InputCoupling> {
    if let Some(step) = args.input_quant {
        if !(step >= 0.0) || !step.is_finite() {
            return Err(invalid(format!("--input-quant {step}: the step must be a finite number >= 0")));
        }
        return Ok(InputCoupling::Quantised(vec![step; dim]));
    }
    Ok(if args.independent_inputs { InputCoupling::Independent } else { InputCoupling::Same })
}
