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
//! Pipeline (the modules in the order data flows through them):
//!
//! 1. read: [`network`] is the IR, [`io`] reads and writes ONNX, `.nnet`,
//!    VNN-LIB and JSON; [`compress`] makes pruned or quantised copies;
//! 2. the problem: [`input_set`] (validated sets), [`problem`] (the pair, the
//!    coupling, the norm, first-layer coordinates, the neuron pairing),
//!    [`limits`] (time and memory budgets), [`rounding`] (outward rounding);
//! 3. the methods: [`methods`] is the interface every bound method
//!    implements and its registry (`auto`, `propagate`, `sdp`, `milp`); the
//!    engines behind them are [`propagation`] (interval, linear and
//!    differential bounds on `v_f - v_g`), [`branch_and_bound`] (input
//!    splitting), [`sdp`] (the S-procedure semidefinite program, its
//!    certificate re-checked in f64, docs/method.md §2–5), `milp` (the exact
//!    worst case, feature `milp`) and [`attack`] (the lower bound and its
//!    witness), with [`activation`] holding each activation's rules;
//! 4. [`bound`] orchestrates them: the steps every method shares, the
//!    method, then the report;
//! 5. [`report`]: the report's types (status, bounds, witness, each method's
//!    evidence) and figures (feature `plot`).
#![warn(missing_docs)]

pub mod activation;
pub mod attack;
pub mod bound;
pub mod branch_and_bound;
pub mod compress;
pub mod error;
pub mod input_set;
pub mod io;
pub mod label;
pub mod limits;
pub mod methods;
#[cfg(feature = "milp")]
pub mod milp;
pub mod network;
#[cfg(feature = "milp")]
pub mod phase_lp;
pub mod problem;
pub mod propagation;
pub mod report;
pub mod rounding;
pub mod sdp;

pub use error::{Error, ErrorKind, Result};

// BLAS/LAPACK for Clarabel's PSD cone: link Debian's OpenBLAS.
extern crate openblas_src;
