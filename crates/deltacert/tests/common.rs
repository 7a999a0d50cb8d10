//! Shared helpers for the integration tests.
#![allow(dead_code)]

use deltacert::network::Network;
use std::path::PathBuf;

/// Path of a file under `tests/fixtures`.
pub fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(relative)
}

/// Reads a fixture model.
pub fn model(relative: &str) -> Network {
    deltacert::io::read_model(&fixture(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// `|a - b| <= abs + rel * max(|a|, |b|)`.
pub fn close(a: f64, b: f64, abs: f64, rel: f64) -> bool {
    (a - b).abs() <= abs + rel * a.abs().max(b.abs())
}
