//! JSON input files: single inputs, batches, boxes.

use crate::error::{malformed, Error, ErrorKind, Result};
use serde_json::Value;
use std::path::Path;

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| malformed(format!("{}: not valid JSON: {e}", path.display())))
}

fn number_array(value: &Value, what: &str) -> Result<Vec<f64>> {
    let items = value.as_array().ok_or_else(|| malformed(format!("{what} must be an array of numbers")))?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| v.as_f64().ok_or_else(|| malformed(format!("{what}: entry {i} is not a number"))))
        .collect()
}

/// Reads a JSON array of numbers, or an array of such arrays. Returns the
/// inputs and whether the file held a batch.
pub fn read_inputs(path: &Path) -> Result<(Vec<Vec<f64>>, bool)> {
    let value = read_json(path)?;
    let name = path.display().to_string();
    match value.as_array() {
        Some(items) if items.first().is_some_and(Value::is_array) => {
            let batch = items.iter().enumerate().map(|(i, v)| number_array(v, &format!("{name}: input {i}"))).collect::<Result<_>>()?;
            Ok((batch, true))
        }
        Some(_) => Ok((vec![number_array(&value, &name)?], false)),
        None => Err(malformed(format!("{name}: expected a JSON array of numbers or an array of arrays"))),
    }
}

/// Reads a single point (JSON array of numbers).
pub fn read_point(path: &Path) -> Result<Vec<f64>> {
    let value = read_json(path)?;
    number_array(&value, &path.display().to_string())
}

/// Reads `{"lower": [...], "upper": [...]}`.
pub fn read_box(path: &Path) -> Result<(Vec<f64>, Vec<f64>)> {
    let value = read_json(path)?;
    let name = path.display();
    let lower = value.get("lower").ok_or_else(|| malformed(format!("{name}: missing \"lower\"")))?;
    let upper = value.get("upper").ok_or_else(|| malformed(format!("{name}: missing \"upper\"")))?;
    Ok((number_array(lower, &format!("{name}: lower"))?, number_array(upper, &format!("{name}: upper"))?))
}
