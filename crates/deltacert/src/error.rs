//! Errors: bad input is an `Err` with a kind and a context naming the cause.
//!
//! Numerical outcomes (a failed solve, a rejected certificate) are *not*
//! errors; they are statuses of a bound result (see [`crate::bound`]).

use std::fmt;

/// What went wrong, coarse enough for a caller to choose an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file could not be opened, read or written.
    Io,
    /// A model or data file is not well formed (truncated, garbage, wrong counts).
    Malformed,
    /// A well-formed model uses something deltacert does not support.
    Unsupported,
    /// A weight or bias is NaN or infinite.
    NonFiniteWeight,
    /// Sizes do not fit together (input length, widths of two networks, ...).
    ShapeMismatch,
    /// The input set is empty, inverted or otherwise invalid.
    InvalidInputSet,
    /// A command-line or API option is invalid.
    InvalidOption,
}

/// An error with the context that names its cause (file, node, layer).
#[derive(Debug, Clone)]
pub struct Error {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// A human-readable message naming the file, node or layer concerned.
    pub context: String,
}

impl Error {
    /// Builds an error of `kind` with message `context`.
    pub fn new(kind: ErrorKind, context: impl Into<String>) -> Self {
        Error { kind, context: context.into() }
    }
    /// Prefixes the message with `prefix: ` (typically a file name).
    pub fn within(mut self, prefix: impl fmt::Display) -> Self {
        self.context = format!("{prefix}: {}", self.context);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl std::error::Error for Error {}

/// Result alias used across the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand constructors.
pub(crate) fn malformed(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Malformed, msg)
}
pub(crate) fn unsupported(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unsupported, msg)
}
pub(crate) fn shape(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ShapeMismatch, msg)
}
pub(crate) fn invalid_option(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOption, msg)
}
pub(crate) fn invalid_set(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInputSet, msg)
}
