//! `deltacert`: a thin command-line layer over the deltacert library.
//! Parse the arguments, run one command, turn its outcome into an exit code:
//! 0 success, 1 counterexample above `--eps`, 2 bad input, 3 no certificate.

mod args;
mod commands;
mod watchdog;

#[global_allocator]
static ALLOCATOR: watchdog::BudgetAllocator = watchdog::BudgetAllocator;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // a reader that closes the pipe early (`deltacert info m.onnx | head`)
    // ends the process quietly, as for any Unix filter, instead of a panic
    // in `println!`
    // SAFETY: restoring the default action of one signal before any thread starts
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = args::Cli::parse();
    watchdog::set_memory_budget(deltacert::limits::default_memory_bytes());
    deltacert::sdp::solve::set_blas_threads(1);
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
