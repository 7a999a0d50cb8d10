//! One module per command.

mod compress;
mod eval;
mod info;

use crate::args::{Cli, Command};
use std::process::ExitCode;

/// Runs the parsed command.
pub fn run(cli: Cli) -> deltacert::Result<ExitCode> {
    match cli.command {
        Command::Info(args) => info::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Compress(args) => compress::run(args),
    }
}
