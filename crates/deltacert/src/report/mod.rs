//! Reports for people: figures of the error and its bounds.

#[cfg(feature = "plot")]
pub mod plot;
