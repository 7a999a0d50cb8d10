//! Limits the library cannot enforce on itself once a step has started: a
//! hard wall-clock limit (the run is abandoned and the process exits 3) and a
//! memory budget on every allocation the process makes through Rust.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
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
        Some(s) => receiver.recv_timeout(Duration::from_secs_f64(s.clamp(0.0, 1e9))).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => Stopped::TimeLimit,
            mpsc::RecvTimeoutError::Disconnected => Stopped::Failed,
        }),
        None => receiver.recv().map_err(|_| Stopped::Failed),
    }
}

/// Bytes currently allocated through the global allocator.
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);
/// The budget (u64::MAX: none).
static BUDGET_BYTES: AtomicU64 = AtomicU64::new(u64::MAX);

/// Sets the memory budget enforced by [`BudgetAllocator`].
pub fn set_memory_budget(bytes: u64) {
    BUDGET_BYTES.store(bytes, Ordering::Relaxed);
}

/// The system allocator, counting live bytes; an allocation that would take
/// the total above the budget ends the process with exit code 3 and a
/// one-line message instead of letting the operating system kill it. The
/// message is written with a raw `write` and the process ends with `_exit`:
/// nothing that could allocate runs after the budget is hit.
pub struct BudgetAllocator;

unsafe impl GlobalAlloc for BudgetAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        reserve(layout.size() as u64);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        reserve(layout.size() as u64);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size as u64 > layout.size() as u64 {
            reserve(new_size as u64 - layout.size() as u64);
        } else {
            LIVE_BYTES.fetch_sub(layout.size() as u64 - new_size as u64, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn reserve(bytes: u64) {
    let live = LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
    if live > BUDGET_BYTES.load(Ordering::Relaxed) {
        let message = b"error: the memory budget (--max-memory) was exceeded; no certificate\n";
        // SAFETY: write(2) of a static buffer and _exit(2) are async-signal-safe
        // and allocate nothing.
        unsafe {
            libc::write(2, message.as_ptr().cast(), message.len());
            libc::_exit(3);
        }
    }
}
