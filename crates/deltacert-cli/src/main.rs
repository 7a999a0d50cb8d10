//! `deltacert`: a thin command-line layer over the deltacert library.
//! Parse the arguments, run one command, turn its outcome into an exit code:
//! 0 success, 1 counterexample above `--eps`, 2 bad input, 3 no certificate,
//! 4 result printed but the `--plot` figure not written.

mod args;
mod commands;
mod watchdog;

#[global_allocator]
static ALLOCATOR: watchdog::BudgetAllocator = watchdog::BudgetAllocator;

use clap::error::ErrorKind;
use clap::Parser;

fn main() {
    let code = run();
    end_process(code)
}

/// Ends the process with `code` once standard output and error are flushed,
/// without the C library's exit handlers: a solve abandoned at the time
/// limit may still be running on its own thread (inside OpenBLAS, say), and
/// the handlers that tear the libraries down under it corrupted the heap
/// ("double free" and exit 134 after the result was printed).
fn end_process(code: u8) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` ends the process at once; every file this process
    // wrote was closed by the command that wrote it, and the standard
    // streams are flushed above
    unsafe { libc::_exit(i32::from(code)) }
}

/// Runs the command line and gives the exit code.
fn run() -> u8 {
    // a reader that closes the pipe early (`deltacert info m.onnx | head`)
    // ends the process quietly, as for any Unix filter, instead of a panic
    // in `println!`
    // SAFETY: restoring the default action of one signal before any thread starts
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // standard output or error that cannot be written (a full disk,
    // `> /dev/full`) makes `println!` panic: one line and exit 2 instead of
    // a backtrace and 101
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied()).unwrap_or("");
        if message.starts_with("failed printing to std") {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "error: {message}");
            end_process(2);
        }
        default_hook(info);
    }));
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    watchdog::set_memory_budget(deltacert::limits::default_memory_bytes());
    deltacert::sdp::solve::set_blas_threads(1);
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            // one line even when a file name holds a line break
            let message: String = error.to_string().chars().flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] }).collect();
            eprintln!("error: {message}");
            2
        }
    }
}

/// A command line clap refuses: help and version requests print as clap
/// writes them; anything else is one line on standard error (the message
/// and clap's tip, if any) and exit 2, like every other bad input.
fn usage_error(error: clap::Error) -> u8 {
    if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
        let _ = error.print();
        return if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand { 2 } else { 0 };
    }
    let rendered = error.render().to_string();
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information"));
    let mut message = lines.next().unwrap_or("error: invalid command line").to_string();
    let (tips, details): (Vec<&str>, Vec<&str>) = lines.partition(|l| l.starts_with("tip:"));
    // "the following required arguments were not provided:" lists them
    // below, an invalid value the possible ones
    if !details.is_empty() {
        message = format!("{} {}", message, details.join(if message.ends_with(':') { ", " } else { " " }));
    }
    let mut line = if message.starts_with("error:") { message } else { format!("error: {message}") };
    if !tips.is_empty() {
        line.push_str(&format!(" ({})", tips.join("; ")));
    }
    eprintln!("{line}");
    2
}
