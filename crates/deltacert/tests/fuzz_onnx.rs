//! Mutation fuzzing of the ONNX reader on stable Rust: valid models (the
//! fixtures, models written by `io::onnx::write`, and small hand-built graphs
//! using every supported operator) are mutated with a seeded generator, byte
//! by byte and through the decoded protobuf, and each result is read. No
//! input may panic, and no read may allocate more than a fixed budget (a
//! counting global allocator tracks the live bytes and the largest single
//! allocation). Accepted models are validated and evaluated once.

mod common;

use std::io::Write;
use common::fixture;
use deltacert::io::onnx::proto::{self, AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto};
use deltacert::io::onnx::{read, write, ExportFormat};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live bytes, their peak, and the largest single allocation.
struct CountingAllocator;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static LARGEST_ALLOCATION: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            note_allocation(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            note_allocation(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            note_allocation(new_size);
        }
        p
    }
}

fn note_allocation(size: usize) {
    let live = LIVE_BYTES.fetch_add(size, Ordering::Relaxed) + size;
    PEAK_LIVE_BYTES.fetch_max(live, Ordering::Relaxed);
    LARGEST_ALLOCATION.fetch_max(size, Ordering::Relaxed);
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// No single read may hold more than this many bytes beyond what was live before it.
const READ_BUDGET_BYTES: usize = 1 << 30;
const MUTATED_INPUTS: usize = 100_000;

fn dims_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims.iter().map(|&d| proto::Dimension { dim_value: Some(d), dim_param: None }).collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(proto::TypeProto { tensor_type: Some(proto::TensorTypeProto { elem_type: proto::data_type::FLOAT, shape: Some(proto::TensorShapeProto { dim }) }) }),
    }
}
fn floats(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto { name: name.into(), dims: dims.to_vec(), data_type: proto::data_type::FLOAT, raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(), ..Default::default() }
}
fn op(kind: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto { input: inputs.iter().map(|s| s.to_string()).collect(), output: vec![output.into()], name: output.into(), op_type: kind.into(), attribute, ..Default::default() }
}
fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), ints: values.to_vec(), r#type: proto::attribute_type::INTS, ..Default::default() }
}
fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i: value, r#type: proto::attribute_type::INT, ..Default::default() }
}
fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { name: name.into(), f: value, r#type: proto::attribute_type::FLOAT, ..Default::default() }
}
fn model_of(node: Vec<NodeProto>, initializer: Vec<TensorProto>, input: &[i64], output: &str) -> Vec<u8> {
    let graph = GraphProto { node, initializer, input: vec![dims_info("x", input)], output: vec![dims_info(output, &[1])], ..Default::default() };
    ModelProto { ir_version: Some(8), graph: Some(graph), opset_import: vec![proto::OperatorSetIdProto { domain: String::new(), version: 13 }], ..Default::default() }.encode_to_vec()
}

/// Valid models covering every operator the reader accepts.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for dir in ["paper", "paper/f32"] {
        let mut files: Vec<_> = std::fs::read_dir(fixture(dir)).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "onnx")).collect();
        files.sort();
        seeds.extend(files.iter().map(|p| std::fs::read(p).unwrap()));
    }
    let acas = deltacert::io::read_model(&fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet")).unwrap();
    seeds.push(write(&acas, &ExportFormat::Float32).unwrap());
    let paper = deltacert::io::read_model(&fixture("paper/paper_quant3d_orig.onnx")).unwrap();
    let (quantised, report) = deltacert::compress::quantize(&paper, deltacert::compress::QuantScheme::Integer { bits: 8, per_channel: true }).unwrap();
    seeds.push(write(&quantised, &ExportFormat::QdqInt8 { scales: report.scales.unwrap() }).unwrap());
    // a convolution with every attribute, a bias broadcast per channel, Reshape and a LeakyRelu head
    let kernel: Vec<f32> = (0..2 * 2 * 2 * 2).map(|i| i as f32 / 8.0 - 1.0).collect();
    seeds.push(model_of(
        vec![
            op("Conv", &["x", "k", "kb"], "c", vec![ints("pads", &[1, 0, 1, 2]), ints("strides", &[2, 1]), ints("dilations", &[1, 2]), int("group", 1), ints("kernel_shape", &[2, 2])]),
            op("Add", &["c", "cb"], "cc", vec![]),
            op("LeakyRelu", &["cc"], "r", vec![float("alpha", 0.2)]),
            op("Reshape", &["r", "shape"], "f", vec![]),
            op("MatMul", &["f", "head"], "y", vec![]),
        ],
        vec![
            floats("k", &[2, 2, 2, 2], &kernel),
            floats("kb", &[2], &[0.5, -0.5]),
            floats("cb", &[2, 1, 1], &[0.25, 0.125]),
            TensorProto { name: "shape".into(), dims: vec![2], data_type: proto::data_type::INT64, int64_data: vec![1, -1], ..Default::default() },
            floats("head", &[12, 1], &[0.1; 12]),
        ],
        &[1, 2, 3, 3],
        "y",
    ));
    // the input prologue, a raw use of the input, Max of two tensors, Transpose / Flatten of constants
    seeds.push(model_of(
        vec![
            op("Max", &["x", "lo"], "a", vec![]),
            op("Min", &["a", "hi"], "b", vec![]),
            op("Sub", &["b", "mean"], "c", vec![]),
            op("Div", &["c", "range"], "d", vec![]),
            op("Transpose", &["wt"], "w", vec![ints("perm", &[1, 0])]),
            op("Gemm", &["d", "w", "bias"], "e", vec![float("alpha", 0.5), float("beta", 2.0)]),
            op("Flatten", &["w3"], "w2", vec![int("axis", 1)]),
            op("MatMul", &["x", "w2"], "raw", vec![]),
            op("Max", &["e", "raw"], "m", vec![]),
            op("Sigmoid", &["m"], "s", vec![]),
            op("Tanh", &["s"], "y", vec![]),
        ],
        vec![
            floats("lo", &[3], &[-1.0, -2.0, 0.0]),
            floats("hi", &[], &[1.5]),
            floats("mean", &[1, 3], &[0.5, 0.0, -0.5]),
            floats("range", &[3], &[2.0, 4.0, 1.0]),
            floats("wt", &[2, 3], &[1.0, -1.0, 0.5, 0.25, 2.0, -0.75]),
            floats("bias", &[2], &[0.1, -0.1]),
            floats("w3", &[3, 2, 1], &[0.5, 0.5, -1.0, 1.0, 0.25, 0.0]),
        ],
        &[1, 3],
        "y",
    ));
    // DequantizeLinear with uint8 weights and zero points, per axis
    seeds.push(model_of(
        vec![op("DequantizeLinear", &["q", "s", "z"], "w", vec![int("axis", 1)]), op("MatMul", &["x", "w"], "m", vec![]), op("Relu", &["m"], "y", vec![])],
        vec![
            TensorProto { name: "q".into(), dims: vec![2, 3], data_type: proto::data_type::UINT8, raw_data: vec![0, 128, 255, 17, 200, 3], ..Default::default() },
            floats("s", &[3], &[0.5, 0.25, 0.125]),
            TensorProto { name: "z".into(), dims: vec![3], data_type: proto::data_type::UINT8, raw_data: vec![128, 127, 130], ..Default::default() },
        ],
        &[1, 2],
        "y",
    ));
    for seed in &seeds {
        read(seed).expect("every seed model is read");
    }
    seeds
}

/// Byte-level mutations: flips, overwrites, truncation, insertion, deletion,
/// duplicated chunks, large varints, splices.
fn mutate_bytes(rng: &mut StdRng, bytes: &mut Vec<u8>, other: &[u8]) {
    let len = bytes.len().max(1);
    match rng.gen_range(0..8) {
        0 => {
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..len).min(bytes.len().saturating_sub(1));
                if let Some(b) = bytes.get_mut(i) {
                    *b ^= 1 << rng.gen_range(0..8);
                }
            }
        }
        1 => {
            if let Some(b) = bytes.get_mut(rng.gen_range(0..len)) {
                *b = rng.gen();
            }
        }
        2 => bytes.truncate(rng.gen_range(0..len)),
        3 => {
            let at = rng.gen_range(0..=bytes.len());
            let extra: Vec<u8> = (0..rng.gen_range(1..16)).map(|_| rng.gen()).collect();
            bytes.splice(at..at, extra);
        }
        4 => {
            let start = rng.gen_range(0..len).min(bytes.len());
            let end = (start + rng.gen_range(1..32)).min(bytes.len());
            bytes.drain(start..end);
        }
        5 => {
            let start = rng.gen_range(0..len).min(bytes.len());
            let end = (start + rng.gen_range(1..64)).min(bytes.len());
            let chunk = bytes[start..end].to_vec();
            let at = rng.gen_range(0..=bytes.len());
            bytes.splice(at..at, chunk);
        }
        6 => {
            // replace a byte by a long varint (a huge length, tag or dimension)
            let at = rng.gen_range(0..len).min(bytes.len());
            let value: u64 = [1 << 31, 1 << 40, u64::MAX, 1 << 62, 100_000][rng.gen_range(0..5)];
            let mut varint = Vec::new();
            let mut v = value;
            while v >= 0x80 {
                varint.push((v as u8) | 0x80);
                v >>= 7;
            }
            varint.push(v as u8);
            let end = (at + 1).min(bytes.len());
            bytes.splice(at..end, varint);
        }
        _ => {
            let cut = rng.gen_range(0..len).min(bytes.len());
            let from = rng.gen_range(0..other.len().max(1)).min(other.len());
            bytes.truncate(cut);
            bytes.extend_from_slice(&other[from..]);
        }
    }
}

fn interesting_dimension(rng: &mut StdRng) -> i64 {
    [0, 1, 2, 3, 7, -1, 100_000, 5000, 1 << 20, 1 << 31, 1 << 62, i64::MAX, i64::MIN][rng.gen_range(0..13)]
}

/// Structure-aware mutations on the decoded model.
fn mutate_model(rng: &mut StdRng, model: &mut ModelProto) {
    let Some(graph) = model.graph.as_mut() else { return };
    let names: Vec<String> = graph.initializer.iter().map(|t| t.name.clone()).chain(graph.node.iter().flat_map(|n| n.output.clone())).chain(graph.input.iter().map(|i| i.name.clone())).collect();
    match rng.gen_range(0..10) {
        0 => {
            // an input dimension
            if let Some(dims) = graph.input.first_mut().and_then(|i| i.r#type.as_mut()).and_then(|t| t.tensor_type.as_mut()).and_then(|t| t.shape.as_mut()) {
                if !dims.dim.is_empty() {
                    let i = rng.gen_range(0..dims.dim.len());
                    dims.dim[i].dim_value = Some(interesting_dimension(rng));
                } else {
                    dims.dim.push(proto::Dimension { dim_value: Some(interesting_dimension(rng)), dim_param: None });
                }
            }
        }
        1 => {
            // an initializer's dimensions
            if !graph.initializer.is_empty() {
                let t = rng.gen_range(0..graph.initializer.len());
                let dims = &mut graph.initializer[t].dims;
                match rng.gen_range(0..3) {
                    0 if !dims.is_empty() => {
                        let i = rng.gen_range(0..dims.len());
                        dims[i] = interesting_dimension(rng);
                    }
                    1 => dims.push(interesting_dimension(rng)),
                    _ => {
                        dims.pop();
                    }
                }
            }
        }
        2 => {
            // an initializer's type or data
            if !graph.initializer.is_empty() {
                let index = rng.gen_range(0..graph.initializer.len());
                let t = &mut graph.initializer[index];
                match rng.gen_range(0..5) {
                    0 => t.data_type = [0, 1, 2, 3, 6, 7, 10, 11, 16, 99][rng.gen_range(0..10)],
                    1 => {
                        let keep = rng.gen_range(0..=t.raw_data.len());
                        t.raw_data.truncate(keep);
                    }
                    2 => t.raw_data.extend((0..rng.gen_range(1..9)).map(|_| rng.gen::<u8>())),
                    3 => {
                        t.float_data = t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                        t.raw_data.clear();
                    }
                    _ => t.raw_data.iter_mut().for_each(|b| *b = if rng.gen_bool(0.05) { 0xff } else { *b }),
                }
            }
        }
        3 => {
            // an attribute value
            if !graph.node.is_empty() {
                let n = rng.gen_range(0..graph.node.len());
                let node = &mut graph.node[n];
                let name = ["alpha", "beta", "transA", "transB", "axis", "pads", "strides", "dilations", "group", "perm", "kernel_shape", "auto_pad", "allowzero"][rng.gen_range(0..13)];
                let attribute = AttributeProto {
                    name: name.into(),
                    i: interesting_dimension(rng),
                    f: [0.0, -1.0, 0.5, 2.0, f32::NAN, f32::INFINITY][rng.gen_range(0..6)],
                    ints: (0..rng.gen_range(0..5)).map(|_| interesting_dimension(rng)).collect(),
                    s: [b"NOTSET".to_vec(), b"VALID".to_vec(), b"SAME_UPPER".to_vec(), vec![0xff]][rng.gen_range(0..4)].clone(),
                    r#type: rng.gen_range(0..9),
                    ..Default::default()
                };
                node.attribute.retain(|a| a.name != name);
                node.attribute.push(attribute);
            }
        }
        4 => {
            // a node input
            if !graph.node.is_empty() && !names.is_empty() {
                let n = rng.gen_range(0..graph.node.len());
                let node = &mut graph.node[n];
                let replacement = if rng.gen_bool(0.8) { names[rng.gen_range(0..names.len())].clone() } else { String::new() };
                if node.input.is_empty() || rng.gen_bool(0.2) {
                    node.input.push(replacement);
                } else {
                    let i = rng.gen_range(0..node.input.len());
                    node.input[i] = replacement;
                }
            }
        }
        5 => {
            // the operator
            if !graph.node.is_empty() {
                let n = rng.gen_range(0..graph.node.len());
                let ops = ["Relu", "LeakyRelu", "Tanh", "Sigmoid", "Identity", "Dropout", "Constant", "Gemm", "MatMul", "Conv", "Add", "Sub", "Mul", "Div", "Max", "Min", "Flatten", "Reshape", "Transpose", "DequantizeLinear"];
                graph.node[n].op_type = ops[rng.gen_range(0..ops.len())].into();
            }
        }
        6 => {
            // delete, duplicate or swap nodes
            if !graph.node.is_empty() {
                let n = rng.gen_range(0..graph.node.len());
                match rng.gen_range(0..3) {
                    0 => {
                        graph.node.remove(n);
                    }
                    1 => {
                        let copy = graph.node[n].clone();
                        graph.node.insert(rng.gen_range(0..=graph.node.len()), copy);
                    }
                    _ => {
                        let m = rng.gen_range(0..graph.node.len());
                        graph.node.swap(n, m);
                    }
                }
            }
        }
        7 => {
            // the graph output
            if let (Some(out), false) = (graph.output.first_mut(), names.is_empty()) {
                out.name = names[rng.gen_range(0..names.len())].clone();
            }
        }
        8 => {
            // a Constant node holding a mutated initializer
            if !graph.initializer.is_empty() && !graph.node.is_empty() {
                let t = graph.initializer.remove(rng.gen_range(0..graph.initializer.len()));
                let constant = NodeProto {
                    output: vec![t.name.clone()],
                    op_type: "Constant".into(),
                    attribute: vec![AttributeProto { name: "value".into(), t: Some(t), r#type: 4, ..Default::default() }],
                    ..Default::default()
                };
                graph.node.insert(0, constant);
            }
        }
        _ => {
            model.metadata_props.push(proto::StringStringEntryProto { key: deltacert::io::onnx::KEPT_NEURONS_KEY.into(), value: ["[[0,1]]", "[[", "{}", "[[99999999999]]"][rng.gen_range(0..4)].into() });
        }
    }
}

#[test]
fn mutated_models_never_panic_or_overallocate() {
    let started = std::time::Instant::now();
    let seeds = seeds();
    let mut rng = StdRng::seed_from_u64(0x0d17_a5e7);
    let mut accepted = 0usize;
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    let mut panics = Vec::new();
    let mut multi_line_errors = Vec::new();
    let mut worst_read_bytes = 0usize;
    let mut worst_read_outcome = String::new();
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for case in 0..MUTATED_INPUTS {
        let seed = &seeds[rng.gen_range(0..seeds.len())];
        let mut bytes = seed.clone();
        if rng.gen_bool(0.5) {
            let mut model = ModelProto::decode(&bytes[..]).unwrap();
            for _ in 0..rng.gen_range(1..4) {
                mutate_model(&mut rng, &mut model);
            }
            bytes = model.encode_to_vec();
        }
        if bytes == *seed || rng.gen_bool(0.5) {
            let other = &seeds[rng.gen_range(0..seeds.len())];
            for _ in 0..rng.gen_range(1..4) {
                mutate_bytes(&mut rng, &mut bytes, other);
            }
        }
        let before = LIVE_BYTES.load(Ordering::Relaxed);
        PEAK_LIVE_BYTES.store(before, Ordering::Relaxed);
        let outcome = std::panic::catch_unwind(|| {
            let network = read(&bytes)?;
            network.validate()?;
            // an accepted network evaluates
            let output = network.eval(&vec![0.5; network.input_dim]);
            assert_eq!(output.len(), network.output_dim());
            Ok::<_, deltacert::error::Error>(())
        });
        let read_bytes = PEAK_LIVE_BYTES.load(Ordering::Relaxed).saturating_sub(before);
        if read_bytes > worst_read_bytes {
            worst_read_bytes = read_bytes;
            worst_read_outcome = match &outcome {
                Ok(Ok(())) => format!("case {case}: accepted"),
                Ok(Err(e)) => format!("case {case}: {e}"),
                Err(_) => format!("case {case}: panicked"),
            };
        }
        match outcome {
            Ok(Ok(())) => accepted += 1,
            Ok(Err(e)) => {
                if e.context.contains('\n') || e.context.contains('\r') {
                    multi_line_errors.push(format!("case {case}: {}", e.context));
                }
                *refused.entry(format!("{:?}", e.kind)).or_default() += 1;
            }
            Err(_) => {
                let path = std::env::temp_dir().join(format!("deltacert_fuzz_panic_{case}.onnx"));
                let _ = std::fs::write(&path, &bytes);
                panics.push(path.display().to_string());
            }
        }
    }
    std::panic::set_hook(previous_hook);
    let refused_total: usize = refused.values().sum();
    // straight to the process's standard error: shown even when the harness captures output
    let _ = writeln!(
        std::io::stderr(),
        "fuzz_onnx: {MUTATED_INPUTS} mutated inputs from {} seeds in {:.1} s: {accepted} accepted, {refused_total} refused {refused:?}, {} panicked; \
         largest read {:.1} MiB ({worst_read_outcome}), largest single allocation {:.1} MiB",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        panics.len(),
        worst_read_bytes as f64 / (1 << 20) as f64,
        LARGEST_ALLOCATION.load(Ordering::Relaxed) as f64 / (1 << 20) as f64,
    );
    assert!(multi_line_errors.is_empty(), "multi-line errors: {multi_line_errors:?}");
    assert!(panics.is_empty(), "the reader panicked on {} inputs, saved as {:?}", panics.len(), &panics[..panics.len().min(5)]);
    assert!(worst_read_bytes < READ_BUDGET_BYTES, "a read held {worst_read_bytes} bytes");
    assert!(LARGEST_ALLOCATION.load(Ordering::Relaxed) < READ_BUDGET_BYTES);
    // the mutations reach both outcomes
    assert!(accepted >= 500 && refused_total >= 5000, "accepted {accepted}, refused {refused_total}");
}
