//! Reports for people: figures of the error and its bounds.

pub mod plot;
