//! One module per command.

mod attack;
mod bound;
mod compress;
mod input;
mod plan;
mod eval;
mod info;
mod labels;

use crate::args::{Cli, Command};
use std::process::ExitCode;

/// Runs the parsed command.
pub fn run(cli: Cli) -> deltacert::Result<ExitCode> {
    match cli.command {
        Command::Info(args) => info::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Compress(args) => compress::run(args),
        Command::Bound(args) => bound::run(args),
        Command::Attack(args) => attack::run(args),
        Command::Plan(args) => plan::run(args),
    }
}
