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

/// `x` in scientific notation with `decimals` digits after the point (as
/// `{:.9e}` writes it), rounded towards +infinity: a printed upper bound is
/// never below the number it stands for (rounding to nearest printed a
/// certified 0.50000000004 as `5.000000000e-1`).
pub(crate) fn above(x: f64, decimals: usize) -> String {
    directed(x, decimals, true)
}

/// [`above`] rounded towards -infinity: a printed lower bound (an observed
/// error) is never above the number it stands for.
pub(crate) fn below(x: f64, decimals: usize) -> String {
    directed(x, decimals, false)
}

/// `x` rounded in the direction `up` to `decimals` digits after the point,
/// from its exact decimal expansion (a double has at most 767 significant
/// digits, so `{:.800e}` writes it exactly).
fn directed(x: f64, decimals: usize, up: bool) -> String {
    if !x.is_finite() || x == 0.0 {
        return format!("{x:.decimals$e}");
    }
    let exact = format!("{:.800e}", x.abs());
    let (mantissa, exponent) = exact.split_once('e').expect("scientific notation");
    let mut exponent: i32 = exponent.parse().expect("an integer exponent");
    let digits: Vec<u8> = mantissa.bytes().filter(|b| b.is_ascii_digit()).map(|b| b - b'0').collect();
    let mut kept = digits[..=decimals].to_vec();
    let inexact = digits[decimals + 1..].iter().any(|&d| d != 0);
    // the magnitude moves away from 0 when rounding up a positive number or
    // down a negative one; otherwise the cut digits are dropped
    if inexact && up == (x > 0.0) {
        let mut position = kept.len();
        loop {
            position -= 1;
            if kept[position] < 9 {
                kept[position] += 1;
                break;
            }
            kept[position] = 0;
            if position == 0 {
                // 9.99..9 -> 10.00..0
                kept.insert(0, 1);
                kept.pop();
                exponent += 1;
                break;
            }
        }
    }
    let rest: String = kept[1..].iter().map(|d| char::from(b'0' + d)).collect();
    let sign = if x < 0.0 { "-" } else { "" };
    let point = if decimals > 0 { "." } else { "" };
    format!("{sign}{}{point}{rest}e{exponent}", kept[0])
}

#[cfg(test)]
mod printing_tests {
    use super::{above, below};

    /// Directed printing: the printed decimal is on the promised side of the
    /// double, and equal to `{:e}`'s digits where that is already so.
    #[test]
    fn printed_bounds_round_in_their_direction() {
        assert_eq!(above(0.5, 9), "5.000000000e-1");
        assert_eq!(above(0.5f64.next_up(), 9), "5.000000001e-1");
        assert_eq!(below(0.5f64.next_up(), 9), "5.000000000e-1");
        assert_eq!(below(0.5f64.next_down(), 9), "4.999999999e-1");
        assert_eq!(above(0.5f64.next_down(), 9), "5.000000000e-1");
        assert_eq!(above(9.9999999999e-3, 9), "1.000000000e-2");
        assert_eq!(above((-0.5f64).next_down(), 2), "-5.00e-1");
        assert_eq!(below((-0.5f64).next_down(), 2), "-5.01e-1");
        assert_eq!(above((-0.5f64).next_up(), 2), "-4.99e-1");
        assert_eq!(above(0.0, 3), format!("{:.3e}", 0.0));
        assert_eq!(above(f64::INFINITY, 3), "inf");
        // 0.1 is a little above 1/10: its nearest print is already below it
        assert_eq!(below(0.1, 9), "1.000000000e-1");
        assert_eq!(above(0.1, 9), "1.000000001e-1");
        assert_eq!(above(3.0, 0), "3e0");
        let mut state = 0x9e3779b97f4a7c15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = f64::from_bits(state >> 2);
            if !x.is_finite() || x == 0.0 {
                continue;
            }
            let (hi, lo): (f64, f64) = (above(x, 9).parse().unwrap(), below(x, 9).parse().unwrap());
            assert!(hi >= x && lo <= x, "{x:e}: {hi:e} {lo:e}");
            assert_eq!(format!("{x:.9e}"), if format!("{x:.9e}").parse::<f64>().unwrap() >= x { above(x, 9) } else { below(x, 9) });
        }
    }
}
