//! JSON input files: single inputs, batches, boxes, polytopes.
//!
//! Each `read_*` function reads a file and names it in its errors; the
//! matching `parse_*` function reads the text. Every number must be finite
//! (JSON has no NaN, and numbers too large for a 64-bit float are refused),
//! arrays must be non-empty and lengths must agree.
//!
//! Sets (boxes, ball centres, polytopes) are read as enclosures of the
//! decimals written ([`crate::input_set`], "Decimals"): a decimal without an
//! exact binary value gives the doubles either side of it.

use crate::error::{invalid_set, malformed, shape, Error, ErrorKind, Result};
use crate::input_set::Enclosure;
use crate::io::vnnlib::decimal_enclosure;
use serde_json::Value;
use std::path::Path;

/// The file's text, without a leading byte-order mark (editors on Windows
/// write one; JSON parsers read it as a stray character).
fn read_text(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {}: {e}", path.display())))?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// The JSON value of `text`; an object that names a key twice is refused
/// (serde_json would keep the last, so `{"lower": [0], "lower": [5]}` would
/// bound a set the user may not have meant).
fn parse_json(text: &str) -> Result<Value> {
    let value: Value = serde_json::from_str(text).map_err(|e| malformed(format!("not valid JSON: {e}")))?;
    serde_json::from_str::<UniqueKeys>(text).map_err(|e| malformed(format!("not valid JSON: {e}")))?;
    Ok(value)
}

/// Reads any JSON value and fails on an object whose keys repeat.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys {
    type Value = UniqueKeys;
    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> std::result::Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self, A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("the key \"{key}\" appears twice in one object")));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }
}

/// A non-empty array of finite numbers.
fn number_array(value: &Value, what: &str) -> Result<Vec<f64>> {
    let items = value.as_array().ok_or_else(|| malformed(format!("{what} must be an array of numbers")))?;
    if items.is_empty() {
        return Err(invalid_set(format!("{what} is an empty array")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v.as_f64() {
            Some(x) if x.is_finite() => Ok(x),
            Some(x) => Err(invalid_set(format!("{what}: entry {i} is {x}, not a finite number"))),
            None if v.is_number() => Err(malformed(format!("{what}: entry {i} ({v}) is beyond the range of a 64-bit float"))),
            None => Err(malformed(format!("{what}: entry {i} is not a number"))),
        })
        .collect()
}

/// A non-empty array of finite numbers, each as the enclosure of the
/// decimal written ([`crate::io::vnnlib::decimal_enclosure`]).
fn enclosure_array(value: &Value, what: &str) -> Result<Vec<Enclosure>> {
    let nearest = number_array(value, what)?;
    let items = value.as_array().expect("checked by number_array");
    items
        .iter()
        .zip(nearest)
        .enumerate()
        .map(|(i, (v, x))| match v.as_number().and_then(|n| decimal_enclosure(&n.to_string())) {
            Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo <= x && x <= hi => Ok((lo, hi)),
            _ => Err(invalid_set(format!("{what}: entry {i} lies beyond the range of a 64-bit float (no finite double encloses it)"))),
        })
        .collect()
}

/// Parses a JSON array of numbers, or an array of such arrays. Returns the
/// inputs and whether the text held a batch.
pub fn parse_inputs(text: &str) -> Result<(Vec<Vec<f64>>, bool)> {
    let value = parse_json(text)?;
    match value.as_array() {
        Some(items) if items.first().is_some_and(Value::is_array) => {
            let batch = items.iter().enumerate().map(|(i, v)| number_array(v, &format!("input {i}"))).collect::<Result<_>>()?;
            Ok((batch, true))
        }
        Some(_) => Ok((vec![number_array(&value, "the input")?], false)),
        None => Err(malformed("expected a JSON array of numbers or an array of arrays")),
    }
}

/// Reads a JSON array of numbers, or an array of such arrays. Returns the
/// inputs and whether the file held a batch.
pub fn read_inputs(path: &Path) -> Result<(Vec<Vec<f64>>, bool)> {
    parse_inputs(&read_text(path)?).map_err(|e| e.within(path.display()))
}

/// Parses a single point (JSON array of numbers).
pub fn parse_point(text: &str) -> Result<Vec<f64>> {
    number_array(&parse_json(text)?, "the point")
}

/// Reads a single point (JSON array of numbers).
pub fn read_point(path: &Path) -> Result<Vec<f64>> {
    parse_point(&read_text(path)?).map_err(|e| e.within(path.display()))
}

/// Reads a ball's centre (JSON array of numbers) as enclosures of its decimals.
pub fn read_center(path: &Path) -> Result<Vec<Enclosure>> {
    parse_json(&read_text(path)?).and_then(|v| enclosure_array(&v, "the centre")).map_err(|e| e.within(path.display()))
}

/// Refuses an object with a key outside `known`: a set file's other key
/// (a misspelt one, or a polytope written into a box file) would otherwise
/// be ignored and the set be larger than the one meant.
fn refuse_other_keys(value: &Value, known: &[&str]) -> Result<()> {
    let quoted: Vec<String> = known.iter().map(|k| format!("\"{k}\"")).collect();
    match value.as_object().and_then(|object| object.keys().find(|key| !known.contains(&key.as_str()))) {
        Some(key) => Err(malformed(format!("unknown key \"{key}\" (the file holds only {})", quoted.join(" and ")))),
        None => Ok(()),
    }
}

/// Parses `{"lower": [...], "upper": [...]}`: two arrays of finite numbers
/// of the same, non-zero length, each number as the enclosure of its decimal.
pub fn parse_box(text: &str) -> Result<(Vec<Enclosure>, Vec<Enclosure>)> {
    let value = parse_json(text)?;
    if !value.is_object() {
        return Err(malformed("expected {\"lower\": [...], \"upper\": [...]}"));
    }
    refuse_other_keys(&value, &["lower", "upper"])?;
    let lower = value.get("lower").ok_or_else(|| malformed("missing \"lower\""))?;
    let upper = value.get("upper").ok_or_else(|| malformed("missing \"upper\""))?;
    let (lower_len, upper_len) = (lower.as_array().map(Vec::len), upper.as_array().map(Vec::len));
    if let (Some(l), Some(u)) = (lower_len, upper_len) {
        if l != u || l == 0 {
            return Err(invalid_set(format!("box has {l} lower and {u} upper bounds")));
        }
    }
    let (lower_enclosures, upper_enclosures) = (enclosure_array(lower, "lower")?, enclosure_array(upper, "upper")?);
    // the decimals compared as written: two that round to the same or
    // neighbouring doubles still make an empty box when inverted
    let texts = |v: &Value| v.as_array().expect("checked by enclosure_array").iter().map(|x| x.as_number().map(ToString::to_string).unwrap_or_default()).collect::<Vec<_>>();
    for (i, (l, u)) in texts(lower).iter().zip(texts(upper)).enumerate() {
        if crate::io::vnnlib::compare_decimals(l, &u) == Some(std::cmp::Ordering::Greater) {
            return Err(invalid_set(format!("box coordinate {i} is inverted: lower {l} > upper {u}")));
        }
    }
    Ok((lower_enclosures, upper_enclosures))
}

/// Reads `{"lower": [...], "upper": [...]}`.
pub fn read_box(path: &Path) -> Result<(Vec<Enclosure>, Vec<Enclosure>)> {
    parse_box(&read_text(path)?).map_err(|e| e.within(path.display()))
}

/// Parses a polytope `{"A": [[...], ...], "b": [...]}` meaning `A x <= b`
/// for inputs of length `dim`: rows `(a_i, b_i)`. `A` must have at least one
/// row, every row `dim` finite numbers, and `b` one finite number per row.
/// Whether the polytope is empty is not checked here.
pub fn parse_polytope(text: &str, dim: usize) -> Result<Vec<(Vec<Enclosure>, Enclosure)>> {
    let value = parse_json(text)?;
    if !value.is_object() {
        return Err(malformed("expected {\"A\": [[...], ...], \"b\": [...]}"));
    }
    refuse_other_keys(&value, &["A", "b"])?;
    let rows = value.get("A").ok_or_else(|| malformed("missing \"A\""))?;
    let rows = rows.as_array().ok_or_else(|| malformed("\"A\" must be an array of rows"))?;
    let rhs = enclosure_array(value.get("b").ok_or_else(|| malformed("missing \"b\""))?, "b")?;
    if rows.is_empty() {
        return Err(invalid_set("\"A\" has no rows"));
    }
    if rows.len() != rhs.len() {
        return Err(shape(format!("\"A\" has {} rows but \"b\" has {} entries", rows.len(), rhs.len())));
    }
    rows.iter()
        .zip(rhs)
        .enumerate()
        .map(|(i, (row, b))| {
            let row = enclosure_array(row, &format!("row {i} of \"A\""))?;
            if row.len() != dim {
                return Err(shape(format!("row {i} of \"A\" has {} entries but the inputs have {dim}", row.len())));
            }
            Ok((row, b))
        })
        .collect()
}

/// Reads a polytope file (see [`parse_polytope`]).
pub fn read_polytope(path: &Path, dim: usize) -> Result<Vec<(Vec<Enclosure>, Enclosure)>> {
    parse_polytope(&read_text(path)?, dim).map_err(|e| e.within(path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn box_error(text: &str) -> (ErrorKind, String) {
        let e = parse_box(text).unwrap_err();
        (e.kind, e.context)
    }

    #[test]
    fn boxes_are_read_and_bad_boxes_named() {
        assert_eq!(parse_box(r#"{"lower": [0, -1.5], "upper": [1, 2e0]}"#).unwrap(), (vec![(0.0, 0.0), (-1.5, -1.5)], vec![(1.0, 1.0), (2.0, 2.0)]));
        // decimals without an exact double come as the doubles either side
        // (fl(0.1) lies above 1/10, fl(0.3) below the decimal written)
        assert_eq!(parse_box(r#"{"lower": [0.1], "upper": [0.30000000000000000001]}"#).unwrap(), (vec![(0.1f64.next_down(), 0.1f64)], vec![(0.3f64, 0.3f64.next_up())]));
        // equal decimals, and decimals between the same two doubles, in order
        assert!(parse_box(r#"{"lower": [0.1, 0.100000000000000006], "upper": [0.1, 0.100000000000000007]}"#).is_ok());
        let cases: &[(&str, ErrorKind, &str)] = &[
            (r#"{"lower": [], "upper": []}"#, ErrorKind::InvalidInputSet, "box has 0 lower and 0 upper bounds"),
            (r#"{"lower": [0], "upper": [1], "A": [[1]]}"#, ErrorKind::Malformed, "unknown key \"A\" (the file holds only \"lower\" and \"upper\")"),
            (r#"{"lower": [0], "upper": [1, 2]}"#, ErrorKind::InvalidInputSet, "box has 1 lower and 2 upper bounds"),
            (r#"{"lower": [0], "upper": [1e999]}"#, ErrorKind::Malformed, "upper: entry 0 (1e+999) is beyond the range of a 64-bit float"),
            (r#"{"lower": [0], "upper": ["1"]}"#, ErrorKind::Malformed, "upper: entry 0 is not a number"),
            (r#"{"lower": [0]}"#, ErrorKind::Malformed, "missing \"upper\""),
            (r#"{"lower": 0, "upper": [1]}"#, ErrorKind::Malformed, "lower must be an array of numbers"),
            (r#"[0, 1]"#, ErrorKind::Malformed, "expected {\"lower\": [...], \"upper\": [...]}"),
            (r#"{"lower": [0], "upper": [1], "lower": [0.5]}"#, ErrorKind::Malformed, "not valid JSON: the key \"lower\" appears twice in one object at line 1 column 36"),
            (r#"{"lower": [0], "upper": [1]} x"#, ErrorKind::Malformed, "not valid JSON: trailing characters at line 1 column 30"),
            (r#"{"lower": [0, 1], "upper": [1, -1]}"#, ErrorKind::InvalidInputSet, "box coordinate 1 is inverted: lower 1 > upper -1"),
            // decimals that round to the same double, compared as written
            (r#"{"lower": [0.10000000000000001], "upper": [0.1]}"#, ErrorKind::InvalidInputSet, "box coordinate 0 is inverted: lower 0.10000000000000001 > upper 0.1"),
            (r#"{"lower": [-0.1], "upper": [-0.10000000000000001]}"#, ErrorKind::InvalidInputSet, "box coordinate 0 is inverted: lower -0.1 > upper -0.10000000000000001"),
        ];
        for (text, kind, message) in cases {
            let (k, m) = box_error(text);
            assert_eq!(k, *kind, "{text}: {m}");
            assert_eq!(m, *message);
        }
    }

    #[test]
    fn polytopes_are_read_and_bad_polytopes_named() {
        let rows = parse_polytope(r#"{"A": [[1, 0], [0, -1]], "b": [1, 0.5]}"#, 2).unwrap();
        assert_eq!(rows, vec![(vec![(1.0, 1.0), (0.0, 0.0)], (1.0, 1.0)), (vec![(0.0, 0.0), (-1.0, -1.0)], (0.5, 0.5))]);
        let cases: &[(&str, ErrorKind, &str)] = &[
            (r#"{"A": [[1, 0]], "b": [1, 2]}"#, ErrorKind::ShapeMismatch, "\"A\" has 1 rows but \"b\" has 2 entries"),
            (r#"{"A": [[1, 0], [1]], "b": [1, 2]}"#, ErrorKind::ShapeMismatch, "row 1 of \"A\" has 1 entries but the inputs have 2"),
            (r#"{"A": [], "b": [1]}"#, ErrorKind::InvalidInputSet, "\"A\" has no rows"),
            (r#"{"A": [[1, 0]], "b": []}"#, ErrorKind::InvalidInputSet, "b is an empty array"),
            (r#"{"A": [[]], "b": [1]}"#, ErrorKind::InvalidInputSet, "row 0 of \"A\" is an empty array"),
            (r#"{"A": [[1, null]], "b": [1]}"#, ErrorKind::Malformed, "row 0 of \"A\": entry 1 is not a number"),
            (r#"{"A": [1, 0], "b": [1, 2]}"#, ErrorKind::Malformed, "row 0 of \"A\" must be an array of numbers"),
            (r#"{"b": [1]}"#, ErrorKind::Malformed, "missing \"A\""),
        ];
        for (text, kind, message) in cases {
            let e = parse_polytope(text, 2).unwrap_err();
            assert_eq!((e.kind, e.context.as_str()), (*kind, *message), "{text}");
        }
    }

    #[test]
    fn points_and_batches() {
        assert_eq!(parse_point("[1, -2.5]").unwrap(), vec![1.0, -2.5]);
        assert_eq!(parse_point("[]").unwrap_err().context, "the point is an empty array");
        assert_eq!(parse_inputs("[[1], [2]]").unwrap(), (vec![vec![1.0], vec![2.0]], true));
        assert_eq!(parse_inputs("[3]").unwrap(), (vec![vec![3.0]], false));
        assert_eq!(parse_inputs("[[1], 2]").unwrap_err().context, "input 1 must be an array of numbers");
        assert_eq!(parse_inputs("{}").unwrap_err().kind, ErrorKind::Malformed);
    }
}
