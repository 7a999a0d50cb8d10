//! # deltacert
//!
//! Certified bounds on how far a compressed network `g` can drift from its
//! reference `f` over a set of inputs `X`:
//!
//! ```text
//! ||f(x) - g(x)|| <= eps   for every x in X,
//! ```
//!
//! together with a witness input showing how close `eps` is to the truth.
//!
//! Pipeline: models are read into the IR ([`network`], [`io`]); compression
//! ([`compress`]) produces pruned or quantised copies.
#![warn(missing_docs)]

pub mod activation;
pub mod compress;
pub mod error;
pub mod io;
pub mod network;

pub use error::{Error, ErrorKind, Result};
