//! Limits the library cannot enforce on itself once a step has started: a
//! hard wall-clock limit (the run is abandoned and the process exits 3) and a
//! memory budget on every allocation the process makes through Rust.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Why [`run_within`] returned no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The limit passed first.
    TimeLimit,
    /// The worker ended without a result (it could not start, or a step
    /// panicked: a defect, reported as such and never as a timeout).
    Failed,
}

/// Runs `job` on a worker thread and waits at most `seconds` (None: no
/// limit) for it. On [`Stopped::TimeLimit`] the caller reports it and exits,
/// which ends the abandoned worker.
pub fn run_within<T: Send + 'static>(seconds: Option<f64>, job: impl FnOnce() -> T + Send + 'static) -> Result<T, Stopped> {
    let (sender, receiver) = mpsc::channel();
    let worker = std::thread::Builder::new().name("deltacert-bound".into()).spawn(move || {
        let _ = sender.send(job());
    });
    if worker.is_err() {
        return Err(Stopped::Failed);
    }
    match seconds {
        Some(s) => receiver.recv_timeout(deltacert::limits::duration(s)).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => Stopped::TimeLimit,
            mpsc::RecvTimeoutError::Disconnected => Stopped::Failed,
        }),
        None => receiver.recv().map_err(|_| Stopped::Failed),
    }
}

/// Bytes allocated through the global allocator, as far as the threads have
/// reported them (each thread holds back at most [`BATCH_BYTES`] either way,
/// so a thread freeing what another allocated can take it below 0 for a
/// while: it is signed).
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
/// The budget (u64::MAX: none).
static BUDGET_BYTES: AtomicU64 = AtomicU64::new(u64::MAX);
/// How far a thread's own count may drift before it reports to
/// [`LIVE_BYTES`]. One shared counter touched by every allocation made the
/// threads fight over its cache line: on a 3,000-layer network of width 4,
/// two threads spent two thirds of their time in that counter. With a batch
/// the count holds to within this many bytes per thread, and an allocation
/// larger than a batch is counted at once.
const BATCH_BYTES: i64 = 1 << 20;

thread_local! {
    /// This thread's allocations minus its frees not yet added to
    /// [`LIVE_BYTES`]. A `Cell` with a constant start and no destructor, so
    /// the allocator can use it at any point of a thread's life.
    static PENDING_BYTES: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// How often [`set_memory_budget`]'s thread reads the resident size.
const RESIDENT_POLL: Duration = Duration::from_millis(10);
/// ... and once the resident size is past three quarters of the budget.
const RESIDENT_POLL_NEAR: Duration = Duration::from_millis(1);
/// The resident size at which the process ends, as a fraction of the
/// budget below 1: memory grows between two reads (the MILP solver's C++
/// allocations are not counted by the allocator), and the peak is to stay
/// within the budget, not pass it by what grew in the last interval.
/// Measured (MNIST 3x100 pair, `--method milp`, radius 0.05): with the
/// whole budget and 10 ms, the peak passed 50M by 2% and 100M by 1.3%.
const RESIDENT_SHARE: f64 = 0.97;

/// Sets the memory budget enforced by [`BudgetAllocator`], and (once per
/// process) starts a thread that reads the resident size every
/// [`RESIDENT_POLL`] (every [`RESIDENT_POLL_NEAR`] past three quarters of
/// the budget) and ends the process (exit 3, as the allocator does) once it
/// is above [`RESIDENT_SHARE`] of the budget: memory the allocator let through while it
/// was not yet resident ([`reserve`]: blocks the system maps on first touch)
/// and memory the solvers' C and C++ code allocates (not counted here) are
/// caught as they are touched, within about 10 ms (a read of
/// `/proc/self/statm` takes microseconds).
pub fn set_memory_budget(bytes: u64) {
    BUDGET_BYTES.store(bytes, Ordering::Relaxed);
    static POLL: std::sync::Once = std::sync::Once::new();
    POLL.call_once(|| {
        let _ = std::thread::Builder::new().name("deltacert-memory".into()).spawn(|| {
            let mut poll = RESIDENT_POLL;
            loop {
                std::thread::sleep(poll);
                let budget = BUDGET_BYTES.load(Ordering::Relaxed) as f64;
                let resident = resident_bytes().map_or(0.0, |r| r as f64);
                if resident > RESIDENT_SHARE * budget {
                    over_budget();
                }
                poll = if resident > 0.75 * budget { RESIDENT_POLL_NEAR } else { RESIDENT_POLL };
            }
        });
    });
}

/// The system allocator, counting live bytes; once the count passes the
/// budget, an allocation made while the process's resident size is above it
/// ends the process with exit code 3 and a one-line message instead of
/// letting the operating system kill it ([`reserve`]). The message is written
/// with a raw `write` and the process ends with `_exit`: nothing that could
/// allocate runs after the budget is hit.
pub struct BudgetAllocator;

unsafe impl GlobalAlloc for BudgetAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as i64 - layout.size() as i64);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Counts `bytes` (negative: freed) on this thread, and reports the thread's
/// pending count to the shared one once it leaves `[-BATCH_BYTES,
/// BATCH_BYTES]`; a report that takes the shared count above the budget ends
/// the process. Where the thread-local count is not available, the bytes go
/// to the shared count directly.
fn count(bytes: i64) {
    let pending = PENDING_BYTES.try_with(|pending| {
        let total = pending.get().saturating_add(bytes);
        if (-BATCH_BYTES..=BATCH_BYTES).contains(&total) {
            pending.set(total);
            0
        } else {
            pending.set(0);
            total
        }
    });
    match pending.unwrap_or(bytes) {
        0 => {}
        grown if grown > 0 => reserve(grown),
        shrunk => {
            LIVE_BYTES.fetch_add(shrunk, Ordering::Relaxed);
        }
    }
}

/// Above the budget, counted bytes are compared with the resident size again
/// only once they have grown by this much since the last comparison.
const RECHECK_BYTES: i64 = 64 << 20;
/// The counted bytes up to which the last comparison with the resident size
/// holds (0: none made yet).
static RESIDENT_CHECKED_UP_TO: AtomicI64 = AtomicI64::new(0);

/// Adds `bytes` to the shared count and ends the process if the budget is
/// exceeded. Counted bytes can be far above what the process uses: the matrix
/// products' library reserves, per thread, scratch space the size of twice
/// the last-level cache (about 1 GB per thread on a virtual machine that
/// reports a 480 MiB cache) and touches only what a product needs. So once
/// the count passes the budget, the resident size of the process decides,
/// read again after every further [`RECHECK_BYTES`] counted, and by
/// [`set_memory_budget`]'s thread every 10 ms. A block allocated while the
/// resident size is low passes and is caught by that thread as it is filled.
/// (The library
/// admits its own large blocks, such as the SDP's matrices, by estimates
/// before it allocates them; this is the backstop for everything else.)
fn reserve(bytes: i64) {
    let live = LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
    let budget = i64::try_from(BUDGET_BYTES.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
    if live <= budget {
        // below the budget again: the next excess is checked afresh
        if RESIDENT_CHECKED_UP_TO.load(Ordering::Relaxed) != 0 {
            RESIDENT_CHECKED_UP_TO.store(0, Ordering::Relaxed);
        }
        return;
    }
    if live <= RESIDENT_CHECKED_UP_TO.load(Ordering::Relaxed) {
        return;
    }
    let within = resident_bytes().is_some_and(|resident| resident <= budget);
    if within {
        RESIDENT_CHECKED_UP_TO.fetch_max(live.saturating_add(RECHECK_BYTES), Ordering::Relaxed);
    } else {
        over_budget();
    }
}

/// The report [`over_budget`] writes to standard output (a `--json` run's
/// "no certificate" object), rendered beforehand: nothing may allocate once
/// the budget is hit. Null: none.
static OVER_BUDGET_REPORT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
/// Its length in bytes (stored before the pointer).
static OVER_BUDGET_REPORT_LENGTH: AtomicUsize = AtomicUsize::new(0);

/// Sets what [`over_budget`] writes to standard output before it exits
/// (once per process: a later call is ignored). The text is kept for the
/// life of the process.
pub fn set_over_budget_report(text: String) {
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| {
        let bytes: &'static mut [u8] = Box::leak(text.into_bytes().into_boxed_slice());
        OVER_BUDGET_REPORT_LENGTH.store(bytes.len(), Ordering::Release);
        OVER_BUDGET_REPORT.store(bytes.as_mut_ptr(), Ordering::Release);
    });
}

/// Who ends the run: [`RUNNING`] until one side takes it. The watchdog
/// takes it ([`STOPPING`]) to write the report of
/// [`set_over_budget_report`] and exit 3; the run takes it ([`ANSWERING`],
/// [`finish_run`]) to print its own answer. Exactly one of them writes an
/// object to standard output.
static RUN_STATE: AtomicUsize = AtomicUsize::new(RUNNING);
const RUNNING: usize = 0;
const STOPPING: usize = 1;
const ANSWERING: usize = 2;

/// Called once a run has its answer, before anything of it is printed: the
/// peak resident size is compared with the budget ([`check_peak_memory`],
/// the watchdog's exit if above), then the run takes the right to answer.
/// From then on the budget is no longer enforced (what is left is printing
/// an answer already checked), so no exit over the budget can add a second
/// object or cut the answer short. If the watchdog took the run first, this
/// waits for its exit and never returns.
pub fn finish_run() {
    check_peak_memory();
    if RUN_STATE.compare_exchange(RUNNING, ANSWERING, Ordering::AcqRel, Ordering::Acquire) == Err(STOPPING) {
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// Ends the process with exit 3 unless [`ReadingDeadline::finished`] is
/// called within twice `timeout` plus 5 s, the ceiling the run's own
/// watchdog keeps (None: no deadline): reading a file can block (a named
/// pipe with no writer) where no time limit of the library reaches. On
/// expiry it writes `json_report(message)` (if given) to standard output and
/// the message as one line to standard error, unless the run is already
/// ending or answering.
pub fn reading_deadline(timeout: Option<f64>, json_report: Option<impl FnOnce(&str) -> String>) -> ReadingDeadline {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(timeout) = timeout {
        let message = format!("the time limit of {timeout} s was exceeded by more than twice while reading the models and the input set");
        let report = json_report.map(|render| render(&message));
        let watched = done.clone();
        let _ = std::thread::Builder::new().name("deltacert-reading".into()).spawn(move || {
            std::thread::sleep(deltacert::limits::duration(2.0 * timeout + 5.0));
            if watched.load(Ordering::Acquire) || RUN_STATE.compare_exchange(RUNNING, STOPPING, Ordering::AcqRel, Ordering::Acquire).is_err() {
                return;
            }
            if let Some(report) = report {
                println!("{report}");
            }
            eprintln!("error: {message}; no certificate");
            std::process::exit(3);
        });
    }
    ReadingDeadline { done }
}

/// The deadline of [`reading_deadline`].
pub struct ReadingDeadline {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ReadingDeadline {
    /// The files are read: the deadline no longer applies.
    pub fn finished(self) {
        self.done.store(true, Ordering::Release);
    }
}

/// Ends the process with exit 3 and a one-line message (after the report of
/// [`set_over_budget_report`] on standard output, if any); raw `write`s and
/// `_exit`, so nothing here allocates. Once the run is answering
/// ([`finish_run`]) this does nothing; if another thread is already ending
/// the process, this one waits for it.
fn over_budget() {
    match RUN_STATE.compare_exchange(RUNNING, STOPPING, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {}
        Err(ANSWERING) => return,
        Err(_) => loop {
            // SAFETY: pause(2) allocates nothing; the other thread's _exit ends this one
            unsafe { libc::pause() };
        },
    }
    let message = b"error: the memory budget (--max-memory) was exceeded; no certificate\n";
    let report = OVER_BUDGET_REPORT.load(Ordering::Acquire);
    // SAFETY: write(2) of a static buffer (the report: a leaked buffer of the
    // stored length, published before its pointer) and _exit(2) are
    // async-signal-safe and allocate nothing.
    unsafe {
        if !report.is_null() {
            libc::write(1, report.cast(), OVER_BUDGET_REPORT_LENGTH.load(Ordering::Acquire));
        }
        libc::write(2, message.as_ptr().cast(), message.len());
        libc::_exit(3)
    }
}

/// Ends the process as [`over_budget`] does if its resident size was ever
/// above the budget (the kernel's high-water mark, `VmHWM`): called before
/// an answer is printed ([`finish_run`]), so that no answer comes from a
/// run that broke its budget between two reads of the resident size (or was
/// over it from the start: a budget below what the process itself holds).
/// Where the mark cannot be read, nothing is checked.
pub fn check_peak_memory() {
    let budget = i64::try_from(BUDGET_BYTES.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
    let peak = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: i64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib.saturating_mul(1024))
    });
    if peak.is_some_and(|peak| peak > budget) {
        over_budget();
    }
}

/// The process's resident size in bytes, from `/proc/self/statm`, read with
/// raw system calls into a stack buffer (nothing here allocates); None where
/// it cannot be read.
fn resident_bytes() -> Option<i64> {
    let mut buffer = [0u8; 256];
    // SAFETY: open/read/close on a NUL-terminated static path and a stack
    // buffer of the length passed.
    let length = unsafe {
        let file = libc::open(c"/proc/self/statm".as_ptr(), libc::O_RDONLY);
        if file < 0 {
            return None;
        }
        let length = libc::read(file, buffer.as_mut_ptr().cast(), buffer.len());
        libc::close(file);
        length
    };
    let text = buffer.get(..usize::try_from(length).ok()?)?;
    // the second field: resident pages
    let pages: i64 = std::str::from_utf8(text).ok()?.split_ascii_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (page_size > 0).then(|| pages.saturating_mul(page_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resident_size_is_read_without_allocating_and_is_plausible() {
        let resident = resident_bytes().expect("/proc/self/statm is readable on Linux");
        // a test process holds at least its code and at most this machine's memory
        assert!(resident > 1 << 20 && resident < 1 << 50, "{resident}");
    }

    #[test]
    fn counts_stay_on_the_thread_until_a_batch_fills() {
        PENDING_BYTES.with(|p| p.set(0));
        count(1000);
        count(-400);
        assert_eq!(PENDING_BYTES.with(|p| p.get()), 600);
        count(BATCH_BYTES);
        // the batch overflowed: all of it went to the shared count at once
        assert_eq!(PENDING_BYTES.with(|p| p.get()), 0);
        count(-400);
        assert_eq!(PENDING_BYTES.with(|p| p.get()), -400);
        // give the shared count back what this test added to it
        PENDING_BYTES.with(|p| p.set(0));
        LIVE_BYTES.fetch_add(-(BATCH_BYTES + 600), Ordering::Relaxed);
    }
}
