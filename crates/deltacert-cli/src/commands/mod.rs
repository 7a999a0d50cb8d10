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

/// Refuses a figure path before any work: an existing file without
/// `--force`, an extension other than `.svg`/`.png`, or a directory that
/// does not exist (otherwise the run's result would be lost at the end).
pub(crate) fn check_plot_path(path: &std::path::Path, force: bool) -> deltacert::Result<()> {
    use deltacert::error::{Error, ErrorKind};
    let invalid = |message: String| Error::new(ErrorKind::InvalidOption, message);
    if path.exists() && !force {
        return Err(invalid(format!("{} already exists (pass --force to overwrite it)", path.display())));
    }
    let extension = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
    if !matches!(extension.as_deref(), Some("svg" | "png")) {
        return Err(invalid(format!("{}: plots are written as .svg or .png", path.display())));
    }
    let directory = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    if !directory.is_dir() {
        return Err(invalid(format!("{}: the directory {} does not exist", path.display(), directory.display())));
    }
    Ok(())
}
