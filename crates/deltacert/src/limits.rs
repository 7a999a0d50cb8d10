//! Resource limits a caller sets: a wall-clock budget and a memory budget.
//!
//! Every method receives a [`Budget`]. Time is cooperative: long loops (the
//! split search, the SDP's and the MILP's solves) ask [`Budget::remaining`]
//! before each unit of work and pass the remainder to the solvers as their own
//! limit, so a whole `bound` call ends within its budget plus one unit of
//! work. Memory is estimated *before* anything large is allocated
//! ([`Budget::admit`]): a method whose estimate exceeds the budget does not
//! start and reports why, instead of letting the process be killed.

use std::time::{Duration, Instant};

/// Fraction of the machine's memory used as the default budget.
pub const DEFAULT_MEMORY_FRACTION: f64 = 0.75;
/// Default budget when the machine's memory cannot be read.
pub const FALLBACK_MEMORY_BYTES: u64 = 8 << 30;

/// The longest time limit kept as given (about 31 years); a longer one is
/// this, and no time from a caller ever overflows a [`Duration`].
pub const MAX_SECONDS: f64 = 1e9;

/// `seconds` as a [`Duration`]: clamped to `[0, MAX_SECONDS]`, NaN as 0.
pub fn duration(seconds: f64) -> Duration {
    Duration::from_secs_f64(if seconds.is_nan() { 0.0 } else { seconds.clamp(0.0, MAX_SECONDS) })
}

/// A wall-clock deadline (optional) and a memory budget in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Option<Instant>,
    memory_bytes: u64,
}

impl Budget {
    /// A budget of `seconds` from now (None: no time limit) and `memory_bytes`.
    pub fn new(seconds: Option<f64>, memory_bytes: u64) -> Self {
        let deadline = seconds.map(|s| Instant::now() + duration(s));
        Budget { deadline, memory_bytes }
    }

    /// No time limit and the default memory budget.
    pub fn unlimited_time() -> Self {
        Budget { deadline: None, memory_bytes: default_memory_bytes() }
    }

    /// Seconds left (None: no time limit; `Some(0.0)` once it has passed).
    pub fn remaining(&self) -> Option<f64> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64())
    }

    /// The instant the time runs out (None: no time limit).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.remaining() == Some(0.0)
    }

    /// The memory budget in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    /// `Ok` if `estimate_bytes` fits the memory budget; otherwise the reason,
    /// naming `what` needs the memory.
    pub fn admit(&self, what: &str, estimate_bytes: f64) -> Result<(), String> {
        if estimate_bytes.is_finite() && estimate_bytes <= self.memory_bytes as f64 {
            Ok(())
        } else {
            Err(format!("{what} needs about {} but the memory budget is {} (raise it with --max-memory)", format_bytes(estimate_bytes), format_bytes(self.memory_bytes as f64)))
        }
    }
}

/// [`DEFAULT_MEMORY_FRACTION`] of the machine's memory (`MemTotal` in
/// `/proc/meminfo`), or [`FALLBACK_MEMORY_BYTES`] where that cannot be read.
pub fn default_memory_bytes() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    });
    match total {
        Some(bytes) => (bytes as f64 * DEFAULT_MEMORY_FRACTION) as u64,
        None => FALLBACK_MEMORY_BYTES,
    }
}

/// Parses a size such as `512M`, `8G`, `1.5G` or a plain number of bytes.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&text[..i], text[i..].to_ascii_uppercase()),
        None => (text, String::new()),
    };
    let factor: f64 = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let value: f64 = number.trim().parse().ok()?;
    let bytes = value * factor;
    (bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// `1.5 GiB`-style text.
pub fn format_bytes(bytes: f64) -> String {
    if !bytes.is_finite() {
        return "an unbounded amount of memory".into();
    }
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("8G"), Some(8 << 30));
        assert_eq!(parse_bytes("512m"), Some(512 << 20));
        assert_eq!(parse_bytes("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_bytes("4096"), Some(4096));
        for bad in ["", "G", "-1G", "0", "1X", "nanG", "1e30T"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
    }

    #[test]
    fn admit_refuses_estimates_above_the_budget_and_non_finite_ones() {
        let budget = Budget::new(None, 1 << 20);
        assert!(budget.admit("x", 1024.0).is_ok());
        assert!(budget.admit("the SDP", 2.0 * (1 << 20) as f64).unwrap_err().contains("the SDP needs about 2.0 MiB"));
        assert!(budget.admit("x", f64::NAN).is_err());
        assert!(budget.admit("x", f64::INFINITY).is_err());
    }

    #[test]
    fn an_expired_budget_has_zero_seconds_left() {
        let budget = Budget::new(Some(0.0), 1);
        assert!(budget.expired());
        assert_eq!(Budget::new(None, 1).remaining(), None);
    }
}
