//! Mutation fuzzing of the file parsers on stable Rust: `.nnet` models,
//! VNN-LIB properties, and the JSON box, polytope and point files.
//!
//! Valid files are mutated with a seeded generator (byte flips, truncation,
//! chunks deleted, inserted or duplicated, numbers swapped for huge, NaN,
//! negative or empty ones, parentheses and lines duplicated or unbalanced),
//! 50,000 times per format. Every mutated file is parsed with the
//! entry points the command line uses, inside `catch_unwind`: no input may
//! panic, every refusal must be a one-line message, and a counting allocator
//! checks that no single allocation and no total of live bytes exceeds
//! [`BUDGET`]. The counts tried / accepted / refused are written to stderr.

use deltacert::input_set::InputSet;
use deltacert::io::{json, nnet, vnnlib};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest single allocation and largest total of live bytes allowed (the
/// inputs are at most a few hundred KiB).
const BUDGET: usize = 256 << 20;
/// Mutated inputs per format.
const CASES: usize = 50_000;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK_LIVE: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

fn note(size: usize) {
    LARGEST.fetch_max(size, Ordering::Relaxed);
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK_LIVE.fetch_max(live, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        if layout.size() > BUDGET {
            return std::ptr::null_mut(); // fails the run loudly
        }
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        if layout.size() > BUDGET {
            return std::ptr::null_mut();
        }
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        if new_size > BUDGET {
            return std::ptr::null_mut();
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// xorshift64*: a small seeded generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const NUMBERS: &[&str] = &[
    "1e999", "-1e999", "NaN", "nan", "inf", "-inf", "infinity", "", "-1", "-0", "0", "1", "2", "3", "1e308", "-1e308", "1e-400",
    "4294967296", "18446744073709551616", "9007199254740993", "99999999999", "1000000", "65536", "0.0095", "1e5", "-2.5e-3", "1.",
    ".5", "0x10", "--1", "1e", "e1", "+", "1,2", "((", "))",
];

const SPECIAL_BYTES: &[u8] = b"(),;-.eE09\n |\"[]{}:X_Y";

fn is_number_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')
}

/// One random mutation of `data`; `head` limits some mutations to the first
/// bytes (where headers and sizes live).
fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, head: usize) {
    let len = data.len();
    match rng.below(13) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                if !data.is_empty() {
                    let k = rng.below(data.len());
                    data[k] ^= 1 << rng.below(8);
                }
            }
        }
        1 => {
            if !data.is_empty() {
                let k = rng.below(data.len());
                data[k] = *rng.pick(SPECIAL_BYTES);
            }
        }
        2 => data.truncate(rng.below(len + 1)),
        3 => {
            let start = rng.below(len + 1);
            let end = (start + 1 + rng.below(64)).min(len);
            data.drain(start..end.max(start));
        }
        4 => {
            // insert a chunk copied from elsewhere
            let start = rng.below(len + 1);
            let end = (start + 1 + rng.below(64)).min(len);
            let chunk: Vec<u8> = data[start..end.max(start)].to_vec();
            let at = rng.below(data.len() + 1);
            data.splice(at..at, chunk);
        }
        5 => {
            // duplicate a chunk in place, possibly many times
            let start = rng.below(len + 1);
            let end = (start + 1 + rng.below(32)).min(len);
            let chunk: Vec<u8> = data[start..end.max(start)].to_vec();
            let times = if rng.chance(10) { 1 + rng.below(200) } else { 1 };
            for _ in 0..times {
                data.splice(end.max(start)..end.max(start), chunk.iter().copied());
            }
        }
        6 | 7 | 8 => {
            // replace a number token, often in the header
            let limit = if rng.chance(50) { head.min(len) } else { len };
            let at = rng.below(limit);
            if let Some(&b) = data.get(at) {
                if is_number_byte(b) {
                    let mut start = at;
                    while start > 0 && is_number_byte(data[start - 1]) {
                        start -= 1;
                    }
                    let mut end = at;
                    while end < data.len() && is_number_byte(data[end]) {
                        end += 1;
                    }
                    let replacement = rng.pick(NUMBERS).as_bytes().to_vec();
                    data.splice(start..end, replacement);
                }
            }
        }
        9 => {
            // unbalance or deepen parentheses / brackets
            let at = rng.below(len + 1);
            let bytes: &[u8] = rng.pick(&["(", ")", "[", "]", "{", "}", "\"", ",", ";"]).as_bytes();
            let times = if rng.chance(20) { 1 + rng.below(2000) } else { 1 };
            let chunk: Vec<u8> = bytes.iter().copied().cycle().take(bytes.len() * times).collect();
            data.splice(at..at, chunk);
        }
        10 => {
            // delete or duplicate a whole line
            let lines: Vec<usize> = std::iter::once(0).chain(data.iter().enumerate().filter(|(_, &b)| b == b'\n').map(|(i, _)| i + 1)).collect();
            let k = rng.below(lines.len());
            let start = lines[k];
            let end = lines.get(k + 1).copied().unwrap_or(data.len());
            if rng.chance(50) {
                data.drain(start..end);
            } else {
                let line: Vec<u8> = data[start..end].to_vec();
                data.splice(end..end, line);
            }
        }
        11 => {
            // insert a number token somewhere
            let at = rng.below(len + 1);
            let token = rng.pick(NUMBERS).as_bytes().to_vec();
            data.splice(at..at, token);
        }
        _ => {
            // swap two bytes
            if len >= 2 {
                let (a, b) = (rng.below(len), rng.below(len));
                data.swap(a, b);
            }
        }
    }
}

fn mutate(rng: &mut Rng, base: &[u8], head: usize) -> Vec<u8> {
    let mut data = base.to_vec();
    for _ in 0..1 + rng.below(3) {
        mutate_once(rng, &mut data, head);
    }
    data
}

#[derive(Default)]
struct Tally {
    tried: usize,
    accepted: usize,
    refused: usize,
}

/// Runs `parse` on `CASES` mutations of the `bases` (plus the bases and the
/// `extra` inputs themselves), asserting no panic, one-line errors and the
/// allocation budget.
fn fuzz(format: &str, seed: u64, bases: &[Vec<u8>], extra: &[Vec<u8>], head: usize, parse: impl Fn(&str) -> deltacert::Result<()>) {
    for base in bases {
        let text = String::from_utf8_lossy(base);
        if let Err(e) = parse(&text) {
            panic!("{format}: a valid base file is refused: {e}");
        }
    }
    // DELTACERT_FUZZ_SEED=N explores other mutations; the default run is reproducible
    let extra_seed: u64 = std::env::var("DELTACERT_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut rng = Rng(seed ^ extra_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut tally = Tally::default();
    let inputs = extra.iter().cloned().map(Some).chain((0..CASES).map(|_| None));
    for input in inputs {
        let data = input.unwrap_or_else(|| {
            let base = &bases[rng.below(bases.len())];
            mutate(&mut rng, base, head)
        });
        let text = String::from_utf8_lossy(&data);
        tally.tried += 1;
        match catch_unwind(AssertUnwindSafe(|| parse(&text))) {
            Ok(Ok(())) => tally.accepted += 1,
            Ok(Err(e)) => {
                tally.refused += 1;
                let message = e.to_string();
                assert!(!message.is_empty() && !message.contains(['\n', '\r']), "{format}: not a one-line message: {message:?}");
            }
            Err(_) => {
                let shown: String = text.chars().take(2000).collect();
                panic!("{format}: the parser panicked on:\n{shown}");
            }
        }
    }
    let largest = LARGEST.load(Ordering::Relaxed);
    let peak = PEAK_LIVE.load(Ordering::Relaxed);
    let _ = writeln!(
        std::io::stderr(),
        "fuzz {format}: tried {}, accepted {}, refused {} (largest allocation {} KiB, peak live {} KiB so far)",
        tally.tried,
        tally.accepted,
        tally.refused,
        largest >> 10,
        peak >> 10
    );
    assert!(tally.tried >= CASES);
    assert_eq!(tally.accepted + tally.refused, tally.tried);
    assert!(tally.accepted > 0 && tally.refused > 0, "{format}: the mutations should both keep and break files");
    assert!(largest <= BUDGET && peak <= BUDGET, "{format}: allocation budget exceeded: largest {largest}, peak {peak}");
}

fn fixture(relative: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A small valid `.nnet` file with the given layer sizes.
fn small_nnet(rng: &mut Rng, sizes: &[usize]) -> Vec<u8> {
    let mut s = String::from("// generated\n");
    let n = sizes[0];
    s += &format!("{},{},{},{},\n", sizes.len() - 1, n, sizes[sizes.len() - 1], sizes.iter().max().unwrap());
    s += &sizes.iter().map(|v| format!("{v},")).collect::<String>();
    s += "\n0,\n";
    let row = |v: &str, k: usize| format!("{}\n", (0..k).map(|_| format!("{v},")).collect::<String>());
    s += &row("-1.5", n);
    s += &row("2.5e0", n);
    s += &row("0.25", n + 1);
    s += &row("3", n + 1);
    for w in sizes.windows(2) {
        for _ in 0..w[1] {
            s += &format!("{}\n", (0..w[0]).map(|_| format!("{:.4e},", (rng.below(2001) as f64 - 1000.0) / 997.0)).collect::<String>());
        }
        for _ in 0..w[1] {
            s += &format!("{:.3},\n", (rng.below(201) as f64 - 100.0) / 101.0);
        }
    }
    s.into_bytes()
}

#[test]
fn nnet_parser_survives_mutations() {
    let mut rng = Rng(0x5eed_0001);
    let bases: Vec<Vec<u8>> = vec![
        small_nnet(&mut rng, &[2, 3, 1]),
        small_nnet(&mut rng, &[3, 4, 4, 2]),
        small_nnet(&mut rng, &[1, 1]),
        small_nnet(&mut rng, &[5, 6, 5]),
    ];
    let acas = fixture("acasxu/ACASXU_run2a_3_7_batch_2000_16bit.nnet");
    let extra: Vec<Vec<u8>> = vec![
        b"3,1,1,1048576,\n1,1048576,1048576,1,\n0,\n0,\n1,\n0,\n1,\n1,\n".to_vec(),
        b"2,1,1,16777216,\n1,16777216,1,\n0,\n0,\n1,\n0,\n1,\n".to_vec(),
        b"99999,1,1,1,\n".to_vec(),
        // a small first layer, then a huge one
        b"2,1,99999999,2,\n1,2,99999999,\n0,\n0,\n1,\n0,\n1,\n1,\n1,\n1,\n0,\n0,\n".to_vec(),
        b"1,1,1,1,\n1,1,\n0,\n0,\n1,\n0,\n0,\n1,\n1,\n".to_vec(),
        b"-1,1,1,1,\n".to_vec(),
        Vec::new(),
        b"\xff\xfe,,,\n".to_vec(),
    ];
    // mostly the small files: the real one is 1 of every 17 draws (it is slower to mutate and parse)
    let mut weighted: Vec<Vec<u8>> = Vec::new();
    for _ in 0..4 {
        weighted.extend(bases.iter().cloned());
    }
    weighted.push(acas);
    fuzz("nnet", 0x5eed_0002, &weighted, &extra, 600, |text| {
        let net = nnet::parse(text)?;
        net.validate()
    });
}

const VNNLIB_BASES: &[&str] = &[
    "; ACAS Xu property 3\n(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const X_2 Real)\n(declare-const X_3 Real)\n(declare-const X_4 Real)\n\
     (declare-const Y_0 Real)\n(declare-const Y_1 Real)\n(declare-const Y_2 Real)\n(declare-const Y_3 Real)\n(declare-const Y_4 Real)\n\
     ; Unscaled Input 0: (1500, 1800)\n(assert (<= X_0 -0.29855281193475053))\n(assert (>= X_0 -0.3035311561))\n\
     (assert (<= X_1 0.0095492966))\n(assert (>= X_1 -0.0095492966))\n(assert (<= X_2 0.5))\n(assert (>= X_2 0.4933803236))\n\
     (assert (<= X_3 0.5))\n(assert (>= X_3 0.3))\n(assert (<= X_4 0.5))\n(assert (>= X_4 0.3))\n\
     (assert (<= Y_0 Y_1))\n(assert (<= Y_0 Y_2))\n(assert (<= Y_0 Y_3))\n(assert (<= Y_0 Y_4))\n",
    "(declare-const X_0 Real)(declare-const X_1 Real)(declare-const X_2 Real)(declare-const X_3 Real)(declare-const X_4 Real)\n\
     (assert (and (<= X_0 0.0095) (>= X_0 -0.0095) (<= X_1 1e-2) (>= X_1 -1E-2) (<= X_2 1) (>= X_2 0)))\n\
     (assert (and (<= X_3 .5) (>= X_3 -.5))) (assert (<= -3 X_4 (- 2.5)))\n\
     (assert (or (and (>= Y_0 Y_1) (>= Y_0 Y_2)) (and (<= Y_3 -0.5))))\n",
    "; a union of input boxes\n(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const X_2 Real)\n(declare-const X_3 Real)\n(declare-const X_4 Real)\n\
     (assert (or\n  (and (<= X_0 1) (>= X_0 0) (<= X_1 1) (>= X_1 0) (<= X_2 1) (>= X_2 0) (<= X_3 1) (>= X_3 0) (<= X_4 1) (>= X_4 0))\n\
       (and (<= X_0 3) (>= X_0 2) (<= X_1 3) (>= X_1 2) (< X_2 3) (> X_2 2) (<= X_3 3) (>= X_3 2) (= X_4 2.5))\n))\n\
     (assert (or (and (<= X_0 2.5) (>= Y_0 1)) (and (>= X_0 0.5) (<= Y_1 Y_0))))\n",
    "(assert (and (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3))) (<= X_1 1) (>= X_1 -1) (<= X_2 1) (>= X_2 -1) (<= X_3 1) (>= X_3 -1) (<= X_4 1) (>= X_4 -1)))\n\
     (check-sat)\n",
];

#[test]
fn vnnlib_parser_survives_mutations() {
    let bases: Vec<Vec<u8>> = VNNLIB_BASES.iter().map(|s| s.as_bytes().to_vec()).collect();
    let deep = format!("(assert {}{})", "(".repeat(100_000), ")".repeat(100_000)).into_bytes();
    let open = "(".repeat(100_000).into_bytes();
    let ors = format!("(assert (and {}))", "(or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3)))".repeat(40)).into_bytes();
    let extra = vec![deep, open, ors, b"(assert (<= X_18446744073709551616 1))".to_vec(), b"(assert (<= X_4 1e99999999999999999999))".to_vec(), Vec::new()];
    fuzz("vnnlib", 0x5eed_0003, &bases, &extra, 400, |text| {
        let boxes = vnnlib::read_input_boxes(text, 5)?;
        for set in &boxes {
            assert_eq!(set.lower().len(), 5);
            assert!(set.lower().iter().zip(set.upper()).all(|(l, u)| l.is_finite() && u.is_finite() && l <= u));
        }
        assert!(!boxes.is_empty());
        Ok(())
    });
}

#[test]
fn box_json_parser_survives_mutations() {
    let bases: Vec<Vec<u8>> = [
        r#"{"lower": [55947.691, -3.141592, -3.141592, 1145, 0], "upper": [60760, 3.141592, 3.141592, 1200, 60]}"#,
        r#"{"lower": [-1.5e-3, 0], "upper": [1.5E-3, 1]}"#,
        "{\n  \"upper\": [1],\n  \"lower\": [-1]\n}\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let extra = vec![deep, br#"{"lower": [1e999], "upper": [1]}"#.to_vec(), br#"{"lower": [], "upper": []}"#.to_vec()];
    fuzz("box json", 0x5eed_0004, &bases, &extra, 100, |text| {
        let (lower, upper) = json::parse_box(text)?;
        InputSet::from_enclosed_box(&lower, &upper).map(|_| ())
    });
}

#[test]
fn polytope_and_point_json_parsers_survive_mutations() {
    let bases: Vec<Vec<u8>> = [
        r#"{"A": [[1, 0, 0], [0, -1, 0], [0.5, 0.5, -2e-1]], "b": [1, 0.5, 3]}"#,
        r#"{"b": [0], "A": [[-1, -1, -1]]}"#,
        "[0.1, -0.2, 3e2]",
        "[[1, 2, 3], [4, 5, 6]]",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let extra = vec![br#"{"A": [[1, 0, 0]], "b": [1, 2]}"#.to_vec(), br#"{"A": [[1e999, 0, 0]], "b": [1]}"#.to_vec()];
    fuzz("polytope/point json", 0x5eed_0005, &bases, &extra, 100, |text| {
        if text.trim_start().starts_with('{') {
            let rows = json::parse_polytope(text, 3)?;
            assert!(rows.iter().all(|(a, b)| a.len() == 3 && a.iter().chain([b]).all(|v| v.0.is_finite() && v.1.is_finite() && v.0 <= v.1)));
        } else {
            if let Err(e) = json::parse_point(text) {
                assert!(!e.context.contains('\n'), "{}", e.context);
            }
            let (inputs, _) = json::parse_inputs(text)?;
            assert!(inputs.iter().flatten().all(|v| v.is_finite()));
        }
        Ok(())
    });
}
