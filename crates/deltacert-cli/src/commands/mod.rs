//! One module per command.

/// A line on standard error (progress, or an error whose exit code is not
/// 2); one that cannot be written (a full disk, `2> /dev/full`) is dropped
/// and the run goes on.
macro_rules! stderr_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod attack;
mod bound;
mod compress;
mod input;
mod plan;
mod eval;
mod info;
mod labels;

use crate::args::{Cli, Command};

/// Runs the parsed command.
pub fn run(cli: Cli) -> deltacert::Result<u8> {
    match cli.command {
        Command::Info(args) => info::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Compress(args) => compress::run(args),
        Command::Bound(args) => bound::run(args),
        Command::Attack(args) => attack::run(args),
        Command::Plan(args) => plan::run(args),
    }
}

/// Draws a figure with `draw` into a file beside `path`, then moves it to
/// `path`: without `--force` only if `path` still does not exist (a file
/// created there during the run is kept, the figure is refused), with it
/// replacing it. A failure names the figure's path.
pub(crate) fn write_figure(path: &std::path::Path, force: bool, draw: impl FnOnce(&std::path::Path) -> deltacert::Result<()>) -> deltacert::Result<()> {
    use deltacert::error::{Error, ErrorKind};
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let extension = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.partial-{}.{extension}", std::process::id()));
    let result = draw(&partial).map_err(|e| e.within(path.display())).and_then(|()| {
        let moved = match force {
            true => std::fs::rename(&partial, path),
            // a file system without hard links: the check and the move are two steps
            false => std::fs::hard_link(&partial, path).or_else(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Err(e),
                _ if path.exists() => Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists)),
                _ => std::fs::rename(&partial, path),
            }),
        };
        moved.map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::new(ErrorKind::InvalidOption, format!("{} appeared during the run; not overwritten (pass --force to overwrite it)", path.display())),
            _ => Error::new(ErrorKind::Io, format!("cannot write {}: {e}", path.display())),
        })
    });
    let _ = std::fs::remove_file(&partial);
    result
}

/// Exit code of a run whose result was printed but whose figure could not
/// be written: [`FIGURE_FAILED`], with the reason on standard error.
pub(crate) fn figure_failed(error: &deltacert::error::Error) -> u8 {
    let message: String = error.to_string().chars().flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] }).collect();
    eprintln!("error: {message} (the result above stands; no figure was written)");
    FIGURE_FAILED
}

/// Exit code 4: the result was printed, the figure (`--plot`) was not.
pub(crate) const FIGURE_FAILED: u8 = 4;

/// Refuses a figure path before any work: a directory, an existing file
/// (or link, even a dangling one) without `--force`, an extension other
/// than `.svg`/`.png`, or a directory above it that does not exist or is not
/// a directory (otherwise the run's result would be lost at the end).
pub(crate) fn check_plot_path(path: &std::path::Path, force: bool) -> deltacert::Result<()> {
    use deltacert::error::{Error, ErrorKind};
    let invalid = |message: String| Error::new(ErrorKind::InvalidOption, message);
    if path.is_dir() || path.as_os_str().to_string_lossy().ends_with(std::path::MAIN_SEPARATOR) {
        return Err(invalid(format!("{} names a directory; the figure needs a file name", path.display())));
    }
    if path.symlink_metadata().is_ok() && !force {
        return Err(invalid(format!("{} already exists (pass --force to overwrite it)", path.display())));
    }
    let extension = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
    if !matches!(extension.as_deref(), Some("svg" | "png")) {
        return Err(invalid(format!("{}: plots are written as .svg or .png", path.display())));
    }
    let directory = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    if directory.exists() && !directory.is_dir() {
        return Err(invalid(format!("{}: {} is not a directory", path.display(), directory.display())));
    }
    if !directory.is_dir() {
        return Err(invalid(format!("{}: the directory {} does not exist", path.display(), directory.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// A file that appears at the figure's path during the run is kept
    /// (without `--force`), a failed drawing names the path, and no partial
    /// file is left behind.
    #[test]
    fn a_figure_never_replaces_a_file_that_appeared_during_the_run() {
        let dir = std::env::temp_dir().join(format!("deltacert-figure-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("figure.svg");
        let _ = std::fs::remove_file(&path);
        let result = super::write_figure(&path, false, |partial| {
            std::fs::write(&path, "the user's file").unwrap();
            std::fs::write(partial, "<svg/>").map_err(|e| deltacert::error::Error::new(deltacert::error::ErrorKind::Io, e.to_string()))
        });
        assert!(result.unwrap_err().context.contains("appeared during the run; not overwritten"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "the user's file");
        let error = super::write_figure(&path, true, |_| Err(deltacert::error::Error::new(deltacert::error::ErrorKind::Io, "disk full"))).unwrap_err();
        assert!(error.context.starts_with(&path.display().to_string()), "{}", error.context);
        super::write_figure(&path, true, |partial| std::fs::write(partial, "<svg/>").map_err(|e| deltacert::error::Error::new(deltacert::error::ErrorKind::Io, e.to_string()))).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "<svg/>");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no partial file is left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Decide mode against a threshold written as a decimal: "proven" when the
/// certified bound is at most a double at most the decimal, "counterexample"
/// when the rigorous error exceeds a double at least the decimal.
pub(crate) fn decide(report: &deltacert::bound::BoundReport, eps: &crate::args::Threshold) -> deltacert::bound::Decision {
    use deltacert::bound::Decision;
    if report.decision(eps.lower) == Decision::Proven {
        Decision::Proven
    } else if report.decision(eps.upper) == Decision::Counterexample {
        Decision::Counterexample
    } else {
        Decision::Unknown
    }
}

/// A certified bound proven at most `eps`, printed at most `eps` ([`separated`]).
pub(crate) fn at_most(value: f64, eps: &crate::args::Threshold) -> String {
    separated(value, eps, true)
}

/// An error found above `eps`, printed above `eps` ([`separated`]).
pub(crate) fn beyond(value: f64, eps: &crate::args::Threshold) -> String {
    separated(value, eps, false)
}

/// `value` printed on its side of the decimal `eps` (at most it for a
/// certified bound proven against it, above it for an error that refutes
/// it): 10 significant digits, 17 or 25 where fewer would print it on the
/// wrong side, and its exact decimal expansion where even 25 would (the
/// decision compared the double itself with a double on the right side of
/// the decimal, [`crate::args::Threshold`]).
fn separated(value: f64, eps: &crate::args::Threshold, certified: bool) -> String {
    for decimals in [9, 16, 24] {
        let text = if certified { above(value, decimals) } else { below(value, decimals) };
        // the printed decimal lies in [lo, hi]
        let on_its_side = deltacert::io::vnnlib::decimal_enclosure(&text).is_some_and(|(lo, hi)| if certified { hi <= eps.lower } else { lo > eps.upper });
        if on_its_side {
            return text;
        }
    }
    let exact = format!("{value:.800e}");
    let (mantissa, exponent) = exact.split_once('e').expect("scientific notation");
    format!("{}e{exponent}", mantissa.trim_end_matches('0').trim_end_matches('.'))
}

pub(crate) use deltacert::report::{above, below};
