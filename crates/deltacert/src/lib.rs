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
//! ([`compress`]) produces pruned or quantised copies; [`bounds`] computes
//! pre-activation bounds (interval and linear propagation) and differential
//! bounds on `v_f - v_g` and `f - g` ([`bounds::differential_bounds`]);
//! [`search::split`] splits the input box (branch and bound) and keeps the
//! maximum of the pieces' bounds; [`sdp`] lifts both networks into one vector,
//! describes every activation by quadratic constraints and solves the
//! S-procedure semidefinite program (method.md §2–4); its certificate is
//! re-checked in f64 (§5) before any number is reported; [`search`] finds the
//! largest observed error (the lower bound and its witness). [`bound`] ties
//! these together.
#![warn(missing_docs)]

pub mod activation;
pub mod bound;
pub mod bounds;
pub mod compress;
pub mod error;
pub mod input_set;
pub mod io;
pub mod limits;
#[cfg(feature = "milp")]
pub mod milp;
pub mod network;
pub mod problem;
pub mod report;
pub mod rounding;
pub mod sdp;
pub mod search;

pub use error::{Error, ErrorKind, Result};

// BLAS/LAPACK for Clarabel's PSD cone: link Debian's OpenBLAS.
extern crate openblas_src;
