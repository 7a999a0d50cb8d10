//! ONNX → IR. The graph is executed *symbolically*: every tensor is either a
//! constant or an affine expression `sum_j M_j a^j + c` of the activation
//! vectors built so far. Linear operators (Gemm, MatMul, Conv, Add, Sub, Mul,
//! Div, Flatten, Reshape) transform expressions; an activation node turns the
//! expression into the pre-activation of a new IR layer. One registry
//! ([`Importer::apply_node`]) maps ONNX operators to these rules; an
//! unsupported operator fails there with the node's name and op type.
//!
//! # Graph input and clipping
//!
//! The graph input has a leading batch axis of size 1 or a symbolic size; the
//! network describes one sample. A graph input of rank 1, `[n]`, or a column
//! `[n, 1]` with `n > 1` has no batch axis (the VNN-COMP layout of ACAS Xu
//! and MNIST networks): its shape is the sample's, and layers may be written
//! `MatMul(W, x)` with the constant weight first, which is `W x`. Flatten and
//! Reshape keep the row-major element order, so in such a graph they only
//! change the shape.
//!
//! # Softmax
//!
//! A `Softmax` over the last axis of a vector may be the graph's last
//! operation: the network records it ([`Network::output_softmax`]) and its
//! layers end with the logits. A Softmax anywhere else, and other operators
//! after the last layer (LogSoftmax, ArgMax, ...), are refused.
//!
//! # Clipping
//!
//! With or without a batch axis, `Max`/`Min` with a constant, `Sub` of a
//! constant and `Div` by a positive constant applied to the raw input, in the
//! order clip → subtract → divide, become the network's input transform
//! (`(clip(x, min, max) - mean) / range`). A chain of `Max` and `Min`
//! composes exactly: `max(clip(x, lo, hi), c)` is `clip(x, max(lo, c), hi)`
//! when `c <= hi` and the constant `c` (`clip(x, c, c)`) otherwise, and
//! likewise for `Min`. The input transform is used only when every use of the
//! graph input goes through the same prologue; otherwise, and for `Max`/`Min`
//! anywhere else in the graph, `max(v, c)` is written exactly as the layer
//! `relu(v - c) + c`, `min(v, c)` as `c - relu(c - v)`, and `max(u, v)` of
//! two input-dependent tensors as `v + relu(u - v)` (`min(u, v)` as
//! `u - relu(u - v)`). Such layers need finite constants; a clip to an infinite
//! constant is refused.
//!
//! # Quantisation (QDQ)
//!
//! `DequantizeLinear` of a constant integer tensor (int8/uint8 weights, int32
//! biases), per tensor or per axis, is a constant. A `QuantizeLinear` of an
//! input-dependent tensor (the graph input included) is pending until the
//! `DequantizeLinear` that reads it, with the same scale and zero point: the
//! pair becomes one IR layer whose pre-activation is the quantised
//! expression and whose activation is [`Activation::Quantize`]
//! (`s (clamp(rne(v / s) + z, qmin, qmax) - z)`, the range `[qmin, qmax]` from
//! the zero point's element type, uint8 when it is absent). So
//! onnxruntime's static quantisation (`MatMul` of dequantized weights, `Add`
//! of a dequantized bias, `QuantizeLinear`/`DequantizeLinear`, a ReLU folded
//! into the quantiser's clamp or kept as its own layer) reads as layers with a
//! quantiser each. Refused, naming the node: per-axis activation
//! quantisation, non-8-bit activation types, a quantised tensor read by
//! anything but its `DequantizeLinear` (or being the graph output), a pair
//! with different parameters, and the QOperator format (`QLinearMatMul`,
//! `QLinearConv`, `MatMulInteger`, ...).
//!
//! # Rounding
//!
//! The IR stores every weight of the file exactly (float16, float32 and the
//! integer types are f64 values; a `DequantizeLinear` constant `(q - z) * s`
//! with integers `|q - z| < 2^29` (8-bit weights, int32 biases) and a float32
//! `s` is an exact f64 product (24 + 29 bits), where onnxruntime rounds it to
//! float32; larger levels, and products a fused multiply-add finds inexact,
//! are refused). Convolutions, Flatten, Reshape,
//! Transpose, negation and the input prologue are exact. Folding arithmetic
//! into the weights rounds in f64 (unit roundoff `u = 2^-53`), once per
//! operation and entry:
//! - `Mul` by a constant `c`: each weight and bias entry `w` becomes
//!   `fl(w * c)` (exact when `w` is the 1 of the raw input);
//! - `Div` by a constant `c`: each becomes `fl(w * fl(1 / c))`; `fl(1 / c)`
//!   is exact when `c` is a power of two, so that is one rounding (none on
//!   the raw input), otherwise two;
//! - `Gemm` with `alpha != 1`: each weight becomes `fl(alpha * w)`; with
//!   `beta != 1` the bias `C` enters as `fl(beta * c)`;
//! - adding or subtracting a constant (also the `- c` of a clip layer): each
//!   bias entry becomes `fl(b + c)`, exact when `b` is 0;
//! - adding two input-dependent tensors: each bias entry and each weight that
//!   both read from the same tensor is rounded once;
//! - two affine maps with no activation between them (say `Gemm` after
//!   `Gemm`, or `Conv` then `MatMul`) are pre-multiplied: each entry of the
//!   product of an `m x k` and a `k x n` matrix is a length-`k` dot product
//!   computed in f64, off by at most about `k u sum |a_i b_i|`.
//!
//! A certified bound holds for the IR network; for a model with none of the
//! foldings above that is exactly the model in the file.
//!
//! # Limits
//!
//! Every size comes from the file, so each is checked, with overflow-free
//! arithmetic, before anything is allocated: one tensor, expression or dense
//! matrix (a lowered convolution, an identity map of a wide input) holds at
//! most [`MAX_ELEMENTS`] values, one import creates at most
//! [`MAX_TOTAL_ELEMENTS`] values in all, and pre-multiplying two maps may take
//! at most [`MAX_PRODUCT_STEPS`] multiply-adds. A model past a limit is refused
//! with an error naming the node or initializer.

use super::proto::{self, attribute_type, data_type, AttributeProto, ModelProto, NodeProto, TensorProto};
use super::KEPT_NEURONS_KEY;
use crate::activation::Activation;
use crate::error::{malformed, shape as shape_error, unsupported, Result};
use crate::network::{InputTransform, Layer, Matrix, Network, Term};
use prost::Message;
use std::collections::HashMap;

/// Most values (f64 entries) in any one tensor, expression or dense matrix
/// the reader builds: 2^26, 512 MiB.
pub const MAX_ELEMENTS: usize = 1 << 26;
/// Most values the reader creates while importing one model: 2^28, 2 GiB.
pub const MAX_TOTAL_ELEMENTS: usize = 1 << 28;
/// Most multiply-adds for pre-multiplying two affine maps: 2^34.
pub const MAX_PRODUCT_STEPS: usize = 1 << 34;

/// `DequantizeLinear` of a constant needs `|q - z|` below this (2^29), so
/// that `(q - z) s` with a float32 `s` is exact in f64.
const DEQUANTIZE_LEVEL_LIMIT: f64 = (1u64 << 29) as f64;

/// The newest IR version read (onnx 1.23's); onnxruntime refuses a model
/// with none or with one newer than it knows.
pub const NEWEST_IR_VERSION: i64 = 14;
/// The oldest default-domain opset read: onnxruntime guarantees 7 and
/// later, and the operators' older meanings (an `Add` that broadcasts only
/// with a `broadcast` attribute) are not modelled.
pub const OLDEST_OPSET: i64 = 7;
/// The newest default-domain opset read: the newest whose operators' meanings
/// are known here (onnx 1.23). A later opset may give an operator read here
/// another meaning.
pub const NEWEST_OPSET: i64 = 28;

/// The attributes an operator read here defines at `opset`, from the ONNX
/// operator schemas (opsets 7 to 28; the tests check the list against the
/// `onnx` package's schemas): one not listed is refused, as onnxruntime
/// refuses it, rather than read as absent (a Relu with an `alpha` would be
/// a plain Relu here and no model at all there). An activation's
/// attributes are its rule's ([`Activation::onnx_attribute_names`]).
pub fn defined_attributes(op: &str, opset: i64) -> Vec<&'static str> {
    if let Some(names) = Activation::onnx_attribute_names(op) {
        return names;
    }
    let since = |version: i64, names: &[&'static str]| if opset >= version { names.to_vec() } else { Vec::new() };
    match op {
        "Gemm" => vec!["alpha", "beta", "transA", "transB"],
        "Conv" => vec!["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"],
        "Cast" => [vec!["to"], since(19, &["saturate"]), since(24, &["round_mode"])].concat(),
        "Flatten" | "Softmax" => vec!["axis"],
        "Transpose" => vec!["perm"],
        "Dropout" if opset < 12 => vec!["ratio"],
        "Dropout" => vec!["seed"],
        "Constant" => [vec!["value"], since(11, &["sparse_value"]), since(12, &["value_float", "value_floats", "value_int", "value_ints", "value_string", "value_strings"])].concat(),
        "Reshape" => since(14, &["allowzero"]),
        "QuantizeLinear" => [since(13, &["axis"]), since(19, &["saturate"]), since(21, &["block_size", "output_dtype"]), since(23, &["precision"])].concat(),
        "DequantizeLinear" => [since(13, &["axis"]), since(21, &["block_size"]), since(23, &["output_dtype"])].concat(),
        // Identity, Add, Sub, Mul, Div, Max, Min, MatMul
        _ => Vec::new(),
    }
}

/// The default-domain operators the reader reads (others are refused by name).
pub const OPERATORS_READ: &[&str] = &[
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Identity", "Add", "Sub", "Mul", "Div", "Max", "Min", "MatMul", "Gemm", "Conv", "Cast", "Flatten", "Softmax", "Transpose", "Dropout", "Constant", "Reshape", "QuantizeLinear", "DequantizeLinear",
];

/// The name of an ONNX element type, for messages.
fn element_type_name(element_type: i32) -> String {
    match element_type {
        data_type::FLOAT => "float32".into(),
        data_type::DOUBLE => "float64".into(),
        data_type::FLOAT16 => "float16".into(),
        data_type::INT8 => "int8".into(),
        data_type::UINT8 => "uint8".into(),
        data_type::INT32 => "int32".into(),
        data_type::INT64 => "int64".into(),
        data_type::BOOL => "bool".into(),
        other => format!("type {other}"),
    }
}

fn is_float_type(element_type: i32) -> bool {
    matches!(element_type, data_type::FLOAT | data_type::DOUBLE | data_type::FLOAT16)
}

/// onnxruntime's QOperator format (integer operators), refused by name.
const QOPERATORS: [&str; 10] = ["QLinearMatMul", "QLinearConv", "MatMulInteger", "ConvInteger", "QLinearAdd", "QLinearMul", "QGemm", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearAveragePool"];

/// Counts the values created by one import against [`MAX_TOTAL_ELEMENTS`].
#[derive(Debug, Default)]
struct Budget {
    used: usize,
}

impl Budget {
    /// Accounts for `count` new values, refusing more than the limits allow.
    fn take(&mut self, count: usize, what: &str) -> Result<()> {
        if count > MAX_ELEMENTS {
            return Err(unsupported(format!("{what} needs {count} values, more than the reader's limit of {MAX_ELEMENTS} (2^26)")));
        }
        self.used = self
            .used
            .checked_add(count)
            .filter(|&total| total <= MAX_TOTAL_ELEMENTS)
            .ok_or_else(|| unsupported(format!("{what} takes the model past the reader's limit of {MAX_TOTAL_ELEMENTS} (2^28) values in all")))?;
        Ok(())
    }
}

/// Number of elements of `shape`, refusing overflow and more than [`MAX_ELEMENTS`].
fn element_count(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| unsupported(format!("shape {shape:?} has more than the reader's limit of {MAX_ELEMENTS} (2^26) elements")))
}

/// `rows * cols`, refusing overflow and more than [`MAX_ELEMENTS`].
fn matrix_entries(rows: usize, cols: usize, what: &str) -> Result<usize> {
    rows.checked_mul(cols)
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| unsupported(format!("{what} would be a {rows} x {cols} matrix, more than the reader's limit of {MAX_ELEMENTS} (2^26) entries")))
}

/// A constant tensor (initializer, Constant node, or folded); `data.len()`
/// always equals the product of `shape`.
#[derive(Debug, Clone)]
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Tensor {
    /// The tensor as a `rows x cols` matrix (its shape must be 2-D).
    fn into_matrix(self, what: &str) -> Result<Matrix> {
        match self.shape[..] {
            [rows, cols] if rows.checked_mul(cols) == Some(self.data.len()) => Ok(Matrix::from_rows(rows, cols, self.data)),
            _ => Err(unsupported(format!("{what} must be a 2-D constant, not of shape {:?}", self.shape))),
        }
    }
}

/// A linear map from an activation vector to an expression's elements.
#[derive(Debug, Clone)]
enum Map {
    Identity,
    Dense(Matrix),
}

/// `sum_j map_j a^{source_j} + bias`, with a per-sample `shape` (batch dim
/// removed); `bias.len()` is the product of `shape`.
#[derive(Debug, Clone)]
struct Affine {
    shape: Vec<usize>,
    terms: Vec<(usize, Map)>,
    bias: Vec<f64>,
}

/// The raw graph input on its way through the optional clip/normalise prologue.
#[derive(Debug, Clone)]
struct InputStage {
    /// `None` until a prologue step applies.
    transform: Option<InputTransform>,
    shape: Vec<usize>,
}

/// The output of a `QuantizeLinear` of an input-dependent tensor, waiting
/// for the `DequantizeLinear` that makes it a quantiser layer.
#[derive(Debug, Clone)]
struct PendingQuantize {
    /// The quantised expression.
    expr: Affine,
    /// Scale (per tensor).
    scale: f64,
    /// Zero point.
    zero_point: f64,
    /// Integer range of the element type.
    qmin: f64,
    qmax: f64,
    /// The `QuantizeLinear` node, for error messages.
    node: String,
}

#[derive(Debug, Clone)]
enum Value {
    Const(Tensor),
    Affine(Affine),
    Input(InputStage),
    /// `softmax` over the last axis of an expression: only the graph output may be one.
    Softmax(Affine),
    Quantized(PendingQuantize),
}

/// The transform that changes nothing.
fn identity_transform(n: usize) -> InputTransform {
    InputTransform { min: vec![f64::NEG_INFINITY; n], max: vec![f64::INFINITY; n], mean: vec![0.0; n], range: vec![1.0; n] }
}

/// Whether two prologues compute the same function (`None` is the identity).
fn same_transform(a: &Option<InputTransform>, b: &Option<InputTransform>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        (Some(t), None) | (None, Some(t)) => is_identity_transform(t),
        (None, None) => true,
    }
}

fn is_identity_transform(t: &InputTransform) -> bool {
    t.mean.iter().all(|&m| m == 0.0) && t.range.iter().all(|&r| r == 1.0) && t.min.iter().all(|&m| m == f64::NEG_INFINITY) && t.max.iter().all(|&m| m == f64::INFINITY)
}

/// Reads an ONNX model from its bytes. Errors are one line: names taken
/// from the file have their control characters escaped.
pub fn read(bytes: &[u8]) -> Result<Network> {
    read_model(bytes).map_err(|mut e| {
        if e.context.chars().any(char::is_control) {
            e.context = e.context.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect();
        }
        e
    })
}

/// The graph's convolutions, labelled as [`read`]'s messages label a node
/// (`node 'name'`, or `node #index` for a nameless one): a model [`read`] accepts holds
/// each as a dense matrix of the layer it feeds, so what `compress` does to
/// that matrix is not what it would do to the kernel.
pub fn convolution_nodes(bytes: &[u8]) -> Result<Vec<String>> {
    let model = ModelProto::decode(bytes).map_err(|e| malformed(format!("not a valid ONNX protobuf: {e}")))?;
    let graph = model.graph.as_ref().ok_or_else(|| malformed("ONNX model has no graph"))?;
    Ok(graph.node.iter().enumerate().filter(|(_, n)| n.op_type == "Conv").map(|(index, n)| if n.name.is_empty() { format!("node #{index}") } else { format!("node '{}'", n.name) }).collect())
}

fn read_model(bytes: &[u8]) -> Result<Network> {
    let model = ModelProto::decode(bytes).map_err(|e| malformed(format!("not a valid ONNX protobuf: {e}")))?;
    match import(&model, true)? {
        Imported::Network(network) => Ok(network),
        // the raw input is used with two different prologues: lower the
        // clipping to layers instead of the input transform
        Imported::InputUsedTwice => match import(&model, false)? {
            Imported::Network(network) => Ok(network),
            Imported::InputUsedTwice => Err(unsupported("the graph input is used with two different normalisations")),
        },
    }
}

enum Imported {
    Network(Network),
    /// The graph input reaches the affine part through two different prologues.
    InputUsedTwice,
}

/// The version of the default ONNX domain the model imports, which must be
/// one read here ([`OLDEST_OPSET`] to [`NEWEST_OPSET`]); a model that names
/// none, or no IR version, is refused, as onnxruntime refuses it.
fn default_opset(model: &ModelProto) -> Result<i64> {
    match model.ir_version {
        None => return Err(malformed("the model has no ir_version")),
        Some(version) if version > NEWEST_IR_VERSION => return Err(unsupported(format!("IR version {version}: deltacert reads IR versions up to {NEWEST_IR_VERSION}"))),
        Some(_) => {}
    }
    // the default domain is named '' or 'ai.onnx': two imports of it at
    // different versions leave the nodes' meaning open (onnxruntime reads a
    // node at its own name's version), so they are refused
    let imports: Vec<(&str, i64)> = model.opset_import.iter().filter(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| (o.domain.as_str(), o.version)).collect();
    let &(_, version) = imports.first().ok_or_else(|| malformed("the model imports no opset of the default ONNX domain (opset_import)"))?;
    if let Some(&(domain, other)) = imports.iter().find(|(_, v)| *v != version) {
        let name = |d: &str| if d.is_empty() { "''".to_string() } else { format!("'{d}'") };
        return Err(unsupported(format!("the model imports the default ONNX domain twice, as {} at opset {version} and as {} at opset {other}", name(imports[0].0), name(domain))));
    }
    if !(OLDEST_OPSET..=NEWEST_OPSET).contains(&version) {
        return Err(unsupported(format!("opset {version} of the default ONNX domain: deltacert reads opsets {OLDEST_OPSET} to {NEWEST_OPSET}")));
    }
    Ok(version)
}

/// An initializer and the graph inputs, as onnxruntime loads them: one
/// named as a graph input (IR 3's way of giving an input a default) has the
/// type and shape the input declares, and before IR version 4 every
/// initializer is a graph input; onnxruntime refuses the model otherwise.
fn check_initializer_input(graph: &proto::GraphProto, init: &TensorProto, ir_version: i64) -> Result<()> {
    if ir_version < 4 && !graph.input.iter().any(|i| i.name == init.name) {
        return Err(malformed(format!("initializer '{}' is not a graph input, which IR version {ir_version} requires of every initializer", init.name)));
    }
    let Some(declared) = graph.input.iter().find(|i| i.name == init.name).and_then(|i| i.r#type.as_ref()).and_then(|t| t.tensor_type.as_ref()) else {
        return Ok(());
    };
    if declared.elem_type != 0 && declared.elem_type != init.data_type {
        return Err(malformed(format!("initializer '{}' has type {}, the graph input of that name {}", init.name, element_type_name(init.data_type), element_type_name(declared.elem_type))));
    }
    if let Some(shape) = &declared.shape {
        let dims: Vec<Option<i64>> = shape.dim.iter().map(|d| d.dim_value).collect();
        let agrees = dims.len() == init.dims.len() && dims.iter().zip(&init.dims).all(|(d, &n)| d.is_none_or(|d| d == n));
        if !agrees {
            let declared: Vec<String> = dims.iter().map(|d| d.map_or("?".to_string(), |d| d.to_string())).collect();
            return Err(malformed(format!("initializer '{}' has shape {:?}, the graph input of that name [{}]", init.name, init.dims, declared.join(", "))));
        }
    }
    Ok(())
}

/// One import of `model`; `with_prologue` lets the input prologue become the
/// network's input transform.
fn import(model: &ModelProto, with_prologue: bool) -> Result<Imported> {
    let graph = model.graph.as_ref().ok_or_else(|| malformed("ONNX model has no graph"))?;
    let mut importer = Importer {
        values: HashMap::new(),
        layers: Vec::new(),
        saw_dequantize: false,
        const_types: HashMap::new(),
        prologue_consts: Vec::new(),
        input_elem_type: 0,
        rounded_to_float32: HashMap::new(),
        float_types: Vec::new(),
        input_dim: 0,
        budget: Budget::default(),
        input_use: None,
        input_used_twice: false,
        batched: true,
        opset: default_opset(model)?,
        element_types: HashMap::new(),
    };
    let mut node_names = std::collections::HashSet::new();
    if let Some(node) = graph.node.iter().find(|n| !n.name.is_empty() && !node_names.insert(n.name.as_str())) {
        return Err(malformed(format!("two nodes are named '{}' (node names must be unique)", node.name)));
    }

    for init in &graph.initializer {
        if init.name.is_empty() {
            // no node reads it (an empty input name is an absent input), but
            // onnxruntime then takes an absent input for it and fails
            if graph.node.iter().any(|n| n.input.iter().any(String::is_empty)) {
                return Err(malformed("an initializer has no name while a node leaves an optional input empty (onnxruntime reads the one as the other)"));
            }
            continue;
        }
        check_initializer_input(graph, init, model.ir_version.unwrap_or(NEWEST_IR_VERSION))?;
        let t = tensor_from_proto(init, &mut importer.budget).map_err(|e| e.within(format!("initializer '{}'", init.name)))?;
        importer.note_float_type(init.data_type);
        importer.const_types.insert(init.name.clone(), init.data_type);
        importer.element_types.insert(init.name.clone(), init.data_type);
        importer.values.insert(init.name.clone(), Value::Const(t));
    }
    let inputs: Vec<_> = graph.input.iter().filter(|i| !importer.values.contains_key(&i.name)).collect();
    let [input] = inputs[..] else {
        return Err(unsupported(format!("the graph has {} non-constant inputs; deltacert needs exactly one", inputs.len())));
    };
    let (sample_shape, batched) = input_shape(input)?;
    importer.batched = batched;
    importer.input_elem_type = input.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).map_or(0, |t| t.elem_type);
    // a declared type other than a float one: onnxruntime refuses the
    // model wherever a float operator reads the input
    if importer.input_elem_type == 0 {
        return Err(malformed(format!("input '{}' declares no element type", input.name)));
    }
    if !matches!(importer.input_elem_type, data_type::FLOAT | data_type::DOUBLE | data_type::FLOAT16) {
        return Err(unsupported(format!("input '{}' has element type {} (deltacert reads float32, float64 or float16 inputs)", input.name, element_type_name(importer.input_elem_type))));
    }
    let input_dim = element_count(&sample_shape).map_err(|e| e.within(format!("input '{}'", input.name)))?;
    if input_dim == 0 {
        return Err(malformed(format!("input '{}' has no elements", input.name)));
    }
    importer.budget.take(input_dim, &format!("input '{}'", input.name))?;
    importer.input_dim = input_dim;
    let input_value = if with_prologue {
        Value::Input(InputStage { transform: None, shape: sample_shape })
    } else {
        Value::Affine(Affine { shape: sample_shape, terms: vec![(0, Map::Identity)], bias: vec![0.0; input_dim] })
    };
    importer.values.insert(input.name.clone(), input_value);
    importer.element_types.insert(input.name.clone(), importer.input_elem_type);

    for (index, node) in graph.node.iter().enumerate() {
        let label = if node.name.is_empty() { format!("node #{index}") } else { format!("node '{}'", node.name) };
        importer.apply_node(node).map_err(|e| e.within(format!("{label} ({})", node.op_type)))?;
    }

    if let Some(output) = graph.output.iter().find(|o| o.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).is_some_and(|t| t.elem_type == 0)) {
        return Err(malformed(format!("output '{}' declares the undefined element type 0", output.name)));
    }
    if graph.output.len() != 1 {
        return Err(unsupported(format!("the graph has {} outputs; deltacert needs exactly one", graph.output.len())));
    }
    // a declared type the graph does not compute: onnxruntime refuses it
    // (a value_info entry of an initializer is ignored there)
    for info in graph.output.iter().chain(graph.value_info.iter().filter(|info| !graph.initializer.iter().any(|i| i.name == info.name))) {
        let declared = info.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).map_or(0, |t| t.elem_type);
        if let Some(&computed) = importer.element_types.get(&info.name).filter(|_| declared != 0) {
            if computed != declared {
                return Err(malformed(format!("'{}' is declared {} but computed as {}", info.name, element_type_name(declared), element_type_name(computed))));
            }
        }
    }
    let out_name = &graph.output[0].name;
    let out = importer.values.get(out_name).cloned().ok_or_else(|| malformed(format!("graph output '{out_name}' is never computed")))?;
    let (out, output_softmax) = match out {
        Value::Const(_) => return Err(unsupported(format!("graph output '{out_name}' does not depend on the input"))),
        Value::Softmax(logits) => (logits, true),
        other => (importer.affine_of(other).map_err(|e| e.within(format!("graph output '{out_name}'")))?, false),
    };
    importer.materialize(out, Activation::Identity).map_err(|e| e.within(format!("graph output '{out_name}'")))?;
    if importer.input_used_twice {
        return Ok(Imported::InputUsedTwice);
    }
    let input_transform = importer.input_use.take().flatten().filter(|t| !is_identity_transform(t));

    let kept_neurons = match model.metadata_props.iter().find(|p| p.key == KEPT_NEURONS_KEY) {
        Some(p) => Some(serde_json::from_str(&p.value).map_err(|e| malformed(format!("metadata {KEPT_NEURONS_KEY}: {e}")))?),
        None => None,
    };
    let source_dtype = importer.dtype_name();
    Ok(Imported::Network(Network { input_dim, input_transform, layers: importer.layers, kept_neurons, source_dtype, output_softmax }))
}

/// The per-sample shape of the graph input and whether it has a batch axis:
/// its dimensions after the batch axis, which must be 1 or symbolic; or, for
/// a vector `[n]` or a column `[n, 1]` with a fixed `n > 1`, the whole shape
/// (no batch axis).
fn input_shape(input: &proto::ValueInfoProto) -> Result<(Vec<usize>, bool)> {
    let name = &input.name;
    let tensor_type = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| unsupported(format!("input '{name}' is not a tensor")))?;
    let shape = tensor_type.shape.as_ref().ok_or_else(|| unsupported(format!("input '{name}' has no shape")))?;
    let fixed = |i: usize| -> Result<usize> {
        match shape.dim[i].dim_value.map(usize::try_from) {
            Some(Ok(v)) if v > 0 => Ok(v),
            _ => Err(unsupported(format!("input '{name}' dimension {i} is not a fixed positive size"))),
        }
    };
    match shape.dim.len() {
        0 => return Err(unsupported(format!("input '{name}' is a scalar (rank 0); deltacert reads a vector [n], a column [n, 1] or a batch [N, ...]"))),
        1 => return Ok((vec![fixed(0)?], false)),
        2 if shape.dim[1].dim_value == Some(1) && shape.dim[0].dim_value.is_some_and(|n| n > 1) => return Ok((vec![fixed(0)?, 1], false)),
        _ => {}
    }
    match shape.dim[0].dim_value {
        None | Some(1) => {}
        Some(other) => return Err(unsupported(format!("input '{name}' has batch size {other}; deltacert reads one sample (use 1 or a symbolic batch size)"))),
    }
    shape.dim[1..]
        .iter()
        .enumerate()
        .map(|(i, d)| match d.dim_value.map(usize::try_from) {
            Some(Ok(v)) if v > 0 => Ok(v),
            _ => Err(unsupported(format!("input '{name}' dimension {} is not a fixed positive size", i + 1))),
        })
        .collect::<Result<Vec<usize>>>()
        .map(|shape| (shape, true))
}

/// Decodes a tensor's values into f64 (float, double, float16, int8, uint8,
/// int32, int64; bool as 0 and 1, for `Dropout`'s `training_mode`: the type
/// checks keep it out of arithmetic).
fn tensor_from_proto(t: &TensorProto, budget: &mut Budget) -> Result<Tensor> {
    if t.data_location == 1 {
        return Err(unsupported("external tensor data is not supported"));
    }
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| malformed(format!("dimension {d} is negative"))))
        .collect::<Result<_>>()?;
    let count = element_count(&shape)?;
    let (type_name, width) = match t.data_type {
        data_type::FLOAT => ("float32", 4),
        data_type::DOUBLE => ("float64", 8),
        data_type::FLOAT16 => ("float16", 2),
        data_type::INT8 => ("int8", 1),
        data_type::UINT8 => ("uint8", 1),
        data_type::INT32 => ("int32", 4),
        data_type::INT64 => ("int64", 8),
        data_type::BOOL => ("bool", 1),
        other => return Err(unsupported(format!("tensor element type {other} is not supported"))),
    };
    budget.take(count, "tensor")?;
    let raw = &t.raw_data;
    let data: Vec<f64> = if !raw.is_empty() {
        // count <= 2^26 and width <= 8: no overflow
        if raw.len() != count * width {
            return Err(malformed(format!("{type_name} tensor of shape {shape:?} needs {} bytes of raw data, not {}", count * width, raw.len())));
        }
        let chunks = raw.chunks_exact(width);
        match t.data_type {
            data_type::FLOAT => chunks.map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect(),
            data_type::DOUBLE => chunks.map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect(),
            data_type::FLOAT16 => chunks.map(|c| f16_to_f64(u16::from_le_bytes([c[0], c[1]]))).collect(),
            data_type::INT8 => raw.iter().map(|&b| b as i8 as f64).collect(),
            data_type::UINT8 => raw.iter().map(|&b| b as f64).collect(),
            data_type::BOOL => raw.iter().map(|&b| f64::from(u8::from(b != 0))).collect(),
            data_type::INT32 => chunks.map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect(),
            _ => chunks.map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64).collect(),
        }
    } else {
        // typed fields: float16 bits and 8-bit integers are stored in int32_data
        let in_range = |v: i32, lo: i32, hi: i32| if (lo..=hi).contains(&v) { Ok(v) } else { Err(malformed(format!("{type_name} tensor holds the out-of-range value {v}"))) };
        let data: Vec<f64> = match t.data_type {
            data_type::FLOAT => t.float_data.iter().map(|&v| v as f64).collect(),
            data_type::DOUBLE => t.double_data.clone(),
            data_type::FLOAT16 => t.int32_data.iter().map(|&v| in_range(v, 0, 0xffff).map(|b| f16_to_f64(b as u16))).collect::<Result<_>>()?,
            data_type::INT8 => t.int32_data.iter().map(|&v| in_range(v, -128, 127).map(f64::from)).collect::<Result<_>>()?,
            data_type::UINT8 => t.int32_data.iter().map(|&v| in_range(v, 0, 255).map(f64::from)).collect::<Result<_>>()?,
            data_type::BOOL => t.int32_data.iter().map(|&v| in_range(v, 0, 1).map(f64::from)).collect::<Result<_>>()?,
            data_type::INT32 => t.int32_data.iter().map(|&v| v as f64).collect(),
            _ => t.int64_data.iter().map(|&v| v as f64).collect(),
        };
        if data.len() != count {
            return Err(malformed(format!("{type_name} tensor holds {} values but its shape {shape:?} needs {count}", data.len())));
        }
        data
    };
    Ok(Tensor { shape, data })
}

/// IEEE half precision bits to f64 (exact: every float16 is an f64).
fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = ((bits >> 10) & 0x1f) as i32;
    let fraction = (bits & 0x3ff) as f64;
    sign * match exponent {
        0 => fraction * 2f64.powi(-24),
        31 if fraction == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + fraction / 1024.0) * 2f64.powi(e - 15),
    }
}

struct Importer {
    values: HashMap<String, Value>,
    layers: Vec<Layer>,
    saw_dequantize: bool,
    /// Element types of the constants from the file (initializers and
    /// Constant nodes), by name: the zero point's type gives a quantiser's range.
    const_types: HashMap<String, i32>,
    /// Constants read as steps of the input normalisation (their type is
    /// not the model's: deltacert writes them in float64 in a float32 model).
    prologue_consts: Vec<String>,
    /// The graph input's declared element type (0 when not declared).
    input_elem_type: i32,
    /// The values computed from the output of a `Cast` to float32 (value
    /// name -> that cast's node name), followed through every node: a
    /// `Cast` to float64 of one of them is refused, so a value rounded to
    /// float32 is never computed on in float64 again.
    rounded_to_float32: HashMap<String, String>,
    float_types: Vec<i32>,
    /// Width of the graph input (activation vector 0).
    input_dim: usize,
    budget: Budget,
    /// The prologue through which the graph input reaches the affine part
    /// (`Some(None)`: used without a prologue).
    input_use: Option<Option<InputTransform>>,
    /// Set when two different prologues of the graph input are used.
    input_used_twice: bool,
    /// Whether the graph input has a batch axis (expression shapes are then
    /// per sample; without one they are the tensors' whole shapes).
    batched: bool,
    /// The model's default-domain opset.
    opset: i64,
    /// The element type of every value whose type is known (initializers,
    /// `Constant`s, the graph input when declared, and every node output
    /// computed from them, as ONNX's type rules give it).
    element_types: HashMap<String, i32>,
}

impl Importer {
    fn note_float_type(&mut self, dtype: i32) {
        if matches!(dtype, data_type::FLOAT | data_type::DOUBLE | data_type::FLOAT16) && !self.float_types.contains(&dtype) {
            self.float_types.push(dtype);
        }
    }

    fn dtype_name(&self) -> String {
        // the types of the constants, those of the input normalisation
        // aside when the others have one
        let others: Vec<i32> = self.float_types.iter().copied().filter(|t| self.const_types.iter().any(|(name, dtype)| dtype == t && !self.prologue_consts.contains(name))).collect();
        let types = if others.is_empty() { &self.float_types } else { &others };
        let float = match types.as_slice() {
            [data_type::FLOAT] => "float32",
            [data_type::DOUBLE] => "float64",
            [data_type::FLOAT16] => "float16",
            [] => "none",
            _ => "mixed",
        };
        if self.saw_dequantize { format!("int8-qdq (+{float})") } else { float.to_string() }
    }

    fn width_of(&self, source: usize) -> usize {
        match source {
            0 => self.input_dim,
            k => self.layers.get(k - 1).map_or(0, Layer::width),
        }
    }

    /// A copy of input `i` of `node` (counted against the budget).
    fn get(&mut self, node: &NodeProto, i: usize) -> Result<Value> {
        let name = node.input.get(i).filter(|n| !n.is_empty()).ok_or_else(|| malformed(format!("missing input #{i}")))?;
        let value = self.values.get(name).ok_or_else(|| malformed(format!("input '{name}' is not computed before this node")))?;
        let size = match value {
            Value::Const(t) => t.data.len(),
            Value::Input(stage) => stage.transform.as_ref().map_or(0, |t| 4 * t.min.len()),
            Value::Affine(a) | Value::Softmax(a) | Value::Quantized(PendingQuantize { expr: a, .. }) => a.terms.iter().fold(a.bias.len(), |sum, (_, map)| match map {
                Map::Identity => sum,
                Map::Dense(m) => sum.saturating_add(m.data.len()),
            }),
        };
        self.budget.take(size.min(MAX_ELEMENTS), &format!("a copy of '{name}'"))?;
        Ok(value.clone())
    }

    fn get_const(&mut self, node: &NodeProto, i: usize) -> Result<Tensor> {
        match self.get(node, i)? {
            Value::Const(t) => Ok(t),
            _ => Err(unsupported(format!("input #{i} must be a constant"))),
        }
    }

    fn optional_const(&mut self, node: &NodeProto, i: usize) -> Result<Option<Tensor>> {
        if node.input.get(i).is_none_or(|n| n.is_empty()) { Ok(None) } else { self.get_const(node, i).map(Some) }
    }

    /// Turns any non-constant value into an affine expression; the input
    /// prologue (clip, normalise) is recorded as the candidate input transform.
    fn affine_of(&mut self, value: Value) -> Result<Affine> {
        match value {
            Value::Affine(a) => Ok(a),
            Value::Input(stage) => {
                match &self.input_use {
                    None => self.input_use = Some(stage.transform),
                    Some(t) if !same_transform(t, &stage.transform) => self.input_used_twice = true,
                    Some(_) => {}
                }
                let width = self.input_dim;
                self.budget.take(width, "the graph input")?;
                Ok(Affine { shape: stage.shape, terms: vec![(0, Map::Identity)], bias: vec![0.0; width] })
            }
            Value::Const(_) => Err(unsupported("expected a value depending on the input")),
            Value::Softmax(_) => Err(unsupported("reads the output of a Softmax; Softmax is supported only as the graph's last operation")),
            Value::Quantized(pending) => Err(unsupported(format!("the output of QuantizeLinear {} is read by an operator other than DequantizeLinear (a quantised activation must be dequantized by the next node that reads it)", pending.node))),
        }
    }

    /// Adds a layer whose pre-activation is `expr`; returns its output as an expression.
    fn materialize(&mut self, expr: Affine, activation: Activation) -> Result<Affine> {
        let width = expr.bias.len();
        let mut terms = Vec::with_capacity(expr.terms.len());
        for (source, map) in expr.terms {
            let weights = match map {
                Map::Identity => {
                    let n = self.width_of(source);
                    self.budget.take(matrix_entries(n, n, "an identity map")?, "an identity map")?;
                    Matrix::identity(n)
                }
                Map::Dense(m) => m,
            };
            terms.push(Term { source, weights });
        }
        self.budget.take(width, "a layer")?;
        self.layers.push(Layer { terms, bias: expr.bias, activation });
        Ok(Affine { shape: expr.shape, terms: vec![(self.layers.len(), Map::Identity)], bias: vec![0.0; width] })
    }

    fn set_output(&mut self, node: &NodeProto, value: Value) -> Result<()> {
        let name = node.output.first().filter(|n| !n.is_empty()).ok_or_else(|| malformed("node has no output"))?;
        if self.values.contains_key(name) {
            return Err(malformed(format!("output '{name}' is already defined")));
        }
        self.values.insert(name.clone(), value);
        Ok(())
    }

    /// The operator registry.
    fn apply_node(&mut self, node: &NodeProto) -> Result<()> {
        if QOPERATORS.contains(&node.op_type.as_str()) {
            return Err(unsupported(format!("{} is onnxruntime's QOperator format; export QDQ (QuantizeLinear/DequantizeLinear around float operators)", node.op_type)));
        }
        if node.op_type == "DynamicQuantizeLinear" {
            return Err(unsupported("DynamicQuantizeLinear (dynamic quantisation) computes its scale from the input; export static QDQ"));
        }
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(unsupported(format!("operator domain '{}' is not supported", node.domain)));
        }
        let op = node.op_type.as_str();
        // the Cast to float32 this node's inputs were computed from, if any
        let mut rounded_by = node.input.iter().find_map(|name| self.rounded_to_float32.get(name)).cloned();
        let (fewest, most) = match op {
            "Constant" => (0, 0),
            "Identity" | "Cast" | "Flatten" | "Transpose" | "Softmax" => (1, 1),
            // element-wise activations (their rules name their operators)
            activation if Activation::is_onnx_op(activation) => (1, 1),
            "Dropout" => (1, 3),
            "MatMul" | "Reshape" | "Add" | "Sub" | "Mul" | "Div" | "Max" | "Min" => (2, 2),
            "Gemm" | "Conv" | "DequantizeLinear" | "QuantizeLinear" => (2, 3),
            other => return Err(unsupported(format!("unsupported operator {other}"))),
        };
        // inputs that were required before their opset made them optional, or added
        let (fewest, most) = match op {
            "Gemm" if self.opset < 11 => (3, 3),
            "Dropout" if self.opset < 12 => (1, 1),
            _ => (fewest, most),
        };
        if matches!(op, "QuantizeLinear" | "DequantizeLinear") && self.opset < 10 {
            return Err(unsupported(format!("{op} does not exist before opset 10 (the model imports opset {})", self.opset)));
        }
        if op == "Gemm" && self.opset < 11 && node.input.get(2).is_none_or(String::is_empty) {
            return Err(unsupported(format!("Gemm without C: C is optional from opset 11 (the model imports opset {})", self.opset)));
        }
        if node.input.len() < fewest || node.input.len() > most {
            let expected = if fewest == most { format!("{fewest}") } else { format!("{fewest} to {most}") };
            return Err(unsupported(format!("{op} with {} inputs (deltacert reads {expected})", node.input.len())));
        }
        let most_outputs = if op == "Dropout" { 2 } else { 1 };
        if node.output.len() > most_outputs {
            return Err(unsupported(format!("{op} with {} outputs (it has at most {most_outputs})", node.output.len())));
        }
        if let Some(name) = node.input.iter().find(|name| !name.is_empty() && !self.values.contains_key(*name)) {
            return Err(malformed(format!("input '{name}' is not computed before this node")));
        }
        // an attribute the operator does not define is a model onnxruntime
        // refuses, whose meaning deltacert would guess
        let defined = defined_attributes(op, self.opset);
        for (i, attribute) in node.attribute.iter().enumerate() {
            if attribute.r#type == 0 {
                return Err(malformed(format!("{op} attribute '{}' has no type", attribute.name)));
            }
            if !defined.contains(&attribute.name.as_str()) {
                return Err(unsupported(format!("{op} has an attribute '{}', which {op} does not define at opset {}", attribute.name, self.opset)));
            }
            if node.attribute[..i].iter().any(|a| a.name == attribute.name) {
                return Err(malformed(format!("{op} has the attribute '{}' twice", attribute.name)));
            }
        }
        let output_type = self.output_element_type(node)?;
        if let (Some(t), Some(name)) = (output_type, node.output.first()) {
            self.element_types.insert(name.clone(), t);
        }
        if let Some(activation) = read_activation(node)? {
            let result = self.activation(node, activation)?;
            self.note_rounding(node, rounded_by);
            return self.set_output(node, result);
        }
        let result = match op {
            "Identity" => self.get(node, 0)?,
            // The networks are read as real-arithmetic functions, float32
            // layers included: the rounding of float32 arithmetic is the one
            // rounding not modelled. A cast to float64 of an input-dependent
            // value changes nothing; a cast to float32 rounds, as the float32
            // arithmetic after it does. So a graph may compute in float64 and
            // then in float32 (the input normalisation written in float64
            // before a float32 network), but a value rounded to float32 must
            // not be computed on in float64 again: that rounding would be a
            // deliberate change of the function, unseen by the bound (a
            // float64 network with a float32 round trip inside was certified
            // equal to the one without). So no value computed from a cast to
            // float32 (followed through every node) is cast to float64; a
            // branch that does not read such a value may be. To float16 or
            // an integer type a cast rounds or truncates. A constant's cast is a fixed change of the
            // weight, and a cast out of an integer graph input would read
            // integer arithmetic (truncating division, wrapping) as real:
            // all are refused.
            "Cast" => match attr_int(node, "to")? {
                Some(to) if to == data_type::FLOAT as i64 || to == data_type::DOUBLE as i64 => {
                    if !matches!(self.input_elem_type, data_type::FLOAT | data_type::DOUBLE | data_type::FLOAT16) {
                        return Err(unsupported(format!("Cast in a graph whose input has element type {} (only float inputs are read with Cast)", self.input_elem_type)));
                    }
                    if to == data_type::DOUBLE as i64 {
                        if let Some(narrowing) = &rounded_by {
                            return Err(unsupported(format!("Cast to float64 of a value computed from the Cast to float32 '{narrowing}': a value rounded to float32 and computed on in float64 again is a rounding deltacert does not model (keep the graph in one type after its float64 part)")));
                        }
                    } else if rounded_by.is_none() {
                        rounded_by = Some(if node.name.is_empty() { node.output.first().cloned().unwrap_or_default() } else { node.name.clone() });
                    }
                    match self.get(node, 0)? {
                        Value::Quantized(_) => return Err(unsupported("Cast of a QuantizeLinear output (its integer codes, not the values they stand for): dequantise it with DequantizeLinear")),
                        Value::Const(_) => return Err(unsupported("Cast of a constant (store the constant in the type wanted)")),
                        value => value,
                    }
                }
                to => return Err(unsupported(format!("Cast to type {} (only float32 and float64 casts are read)", to.map_or("unset".to_string(), |t| t.to_string())))),
            },
            "Dropout" => {
                // from opset 12 the ratio input is a scalar in [0, 1) as a
                // float32 (the operator's definition; onnxruntime converts a
                // double ratio to float before it checks, and refuses the
                // node when it runs), though inference ignores it; the
                // attribute of older opsets is not checked (onnxruntime runs
                // a ratio of 2)
                if self.opset >= 12 {
                    if let Some(ratio) = self.optional_const(node, 1)? {
                        if !ratio.shape.is_empty() {
                            return Err(unsupported(format!("Dropout ratio of shape {:?} (a scalar is required)", ratio.shape)));
                        }
                        if let Some(r) = ratio.data.first().map(|&r| r as f32).filter(|r| !(0.0..1.0).contains(r)) {
                            return Err(unsupported(format!("Dropout ratio {r} outside [0, 1)")));
                        }
                    }
                }
                // inference: the identity, unless training_mode is on
                if let Some(training) = self.optional_const(node, 2)? {
                    if training.data.iter().any(|&v| v != 0.0) {
                        return Err(unsupported("Dropout in training mode is random"));
                    }
                }
                self.get(node, 0)?
            }
            "Constant" => {
                let t = node
                    .attribute
                    .iter()
                    .find(|a| a.name == "value" && a.r#type == attribute_type::TENSOR)
                    .and_then(|a| a.t.as_ref())
                    .ok_or_else(|| unsupported("Constant without a tensor 'value' attribute"))?;
                self.note_float_type(t.data_type);
                if let Some(out) = node.output.first() {
                    self.const_types.insert(out.clone(), t.data_type);
                    self.element_types.insert(out.clone(), t.data_type);
                }
                Value::Const(tensor_from_proto(t, &mut self.budget)?)
            }
            "Gemm" => self.gemm(node)?,
            "MatMul" => self.matmul(node)?,
            "Softmax" => self.softmax(node)?,
            "Conv" => self.conv(node)?,
            "Add" | "Sub" | "Mul" | "Div" | "Max" | "Min" => self.binary(node)?,
            "Flatten" => self.flatten(node)?,
            "Reshape" => self.reshape(node)?,
            "Transpose" => {
                let t = self.get_const(node, 0).map_err(|_| unsupported("Transpose is supported on constant matrices only"))?;
                if t.shape.len() != 2 {
                    return Err(unsupported("Transpose is supported on constant matrices only"));
                }
                match attr_ints(node, "perm")?.as_deref() {
                    Some([0, 1]) => Value::Const(t),
                    None | Some([1, 0]) => {
                        self.budget.take(t.data.len(), "a transposed constant")?;
                        let m = t.into_matrix("Transpose input")?.transpose();
                        Value::Const(Tensor { shape: vec![m.rows, m.cols], data: m.data })
                    }
                    Some(perm) => return Err(malformed(format!("Transpose perm {perm:?} is not a permutation of [0, 1]"))),
                }
            }
            "QuantizeLinear" => self.quantize(node)?,
            _ => self.dequantize(node)?,
        };
        self.note_rounding(node, rounded_by);
        self.set_output(node, result)
    }

    /// The element type of `node`'s output (None: unknown), after checking
    /// its inputs' types as onnxruntime does: the inputs an operator binds
    /// to one type parameter have one type (an `Add` of a float32 and a
    /// float64 tensor is refused, not computed in f64), arithmetic is on
    /// float types (integer division truncates, which the reader does not
    /// model), and a quantiser's scale has the type its opset allows.
    fn output_element_type(&self, node: &NodeProto) -> Result<Option<i32>> {
        let op = node.op_type.as_str();
        let type_of = |i: usize| node.input.get(i).filter(|n| !n.is_empty()).and_then(|n| self.element_types.get(n)).copied();
        // the one type of the inputs at `positions` (None: none known)
        let one_type = |positions: &[usize]| -> Result<Option<i32>> {
            let mut bound: Option<(usize, i32)> = None;
            for &i in positions {
                match (bound, type_of(i)) {
                    (Some((j, t)), Some(u)) if t != u => {
                        return Err(unsupported(format!("{op} reads '{}' of type {} and '{}' of type {}, which must have one type", node.input[j], element_type_name(t), node.input[i], element_type_name(u))));
                    }
                    (None, Some(u)) => bound = Some((i, u)),
                    _ => {}
                }
            }
            Ok(bound.map(|(_, t)| t))
        };
        let float_only = |t: Option<i32>| match t {
            Some(t) if !is_float_type(t) => Err(unsupported(format!("{op} on {} tensors (arithmetic on integers is not read)", element_type_name(t)))),
            _ => Ok(t),
        };
        // a quantiser's scale: float32 before opset 19, float32 or float16 from it
        let check_scale = |position: usize| -> Result<()> {
            match type_of(position) {
                Some(data_type::FLOAT) | None => Ok(()),
                Some(data_type::FLOAT16) if self.opset >= 19 => Ok(()),
                Some(t) => Err(unsupported(format!("{op} scale '{}' of type {} (float32, and from opset 19 float16, are allowed)", node.input[position], element_type_name(t)))),
            }
        };
        match op {
            // integer constants are added, multiplied and compared exactly in
            // f64 (the folded values are checked to stay below 2^53)
            "Add" | "Sub" | "Mul" | "Max" | "Min" => one_type(&[0, 1]),
            "Div" | "MatMul" | "Gemm" | "Conv" => float_only(one_type(&[0, 1, 2])?),
            "Cast" => Ok(attr_int(node, "to")?.and_then(|t| i32::try_from(t).ok())),
            "Constant" => Ok(None),
            "Dropout" => match (type_of(1), type_of(2)) {
                (Some(t), _) if !is_float_type(t) => Err(unsupported(format!("Dropout ratio '{}' of type {} (a float type is required)", node.input[1], element_type_name(t)))),
                (_, Some(t)) if t != data_type::BOOL => Err(unsupported(format!("Dropout training_mode '{}' of type {} (bool is required)", node.input[2], element_type_name(t)))),
                _ => Ok(type_of(0)),
            },
            "Reshape" => match type_of(1) {
                Some(data_type::INT64) | None => Ok(type_of(0)),
                Some(t) => Err(unsupported(format!("Reshape shape '{}' of type {} (int64 is required)", node.input[1], element_type_name(t)))),
            },
            "QuantizeLinear" => {
                check_scale(1)?;
                // one type parameter for the input and the scale until opset 23, two from it
                if self.opset < 23 {
                    one_type(&[0, 1])?;
                }
                match attr_int(node, "precision")? {
                    None | Some(0) => {}
                    Some(p) if type_of(1) == i32::try_from(p).ok() => {}
                    Some(p) => return Err(unsupported(format!("QuantizeLinear precision {p} (a division in another type than the scale's is not read)"))),
                }
                let output_dtype = attr_int(node, "output_dtype")?.filter(|&t| t != 0).map(|t| i32::try_from(t).unwrap_or(-1));
                if let (Some(zero), Some(declared)) = (type_of(2), output_dtype) {
                    if zero != declared {
                        return Err(unsupported(format!("QuantizeLinear output_dtype {} differs from its zero point's type {}", element_type_name(declared), element_type_name(zero))));
                    }
                }
                Ok(Some(type_of(2).or(output_dtype).unwrap_or(data_type::UINT8)))
            }
            "DequantizeLinear" => {
                if let Some(t) = type_of(0).filter(|t| !matches!(*t, data_type::INT8 | data_type::UINT8 | data_type::INT32)) {
                    return Err(unsupported(format!("DequantizeLinear of '{}' of type {} (int8, uint8 and int32 are read)", node.input[0], element_type_name(t))));
                }
                check_scale(1)?;
                one_type(&[0, 2])?;
                match attr_int(node, "output_dtype")? {
                    None | Some(0) => {}
                    Some(t) if type_of(1) == i32::try_from(t).ok() => {}
                    Some(t) => return Err(unsupported(format!("DequantizeLinear output_dtype {} differs from its scale's type (a cast after dequantising is not read)", element_type_name(i32::try_from(t).unwrap_or(-1))))),
                }
                Ok(type_of(1))
            }
            // element-wise activations, Identity, Flatten, Transpose, Softmax, Dropout
            _ => Ok(type_of(0)),
        }
    }

    /// Gives `a` the rank of the constant `c` it is combined with when `c`
    /// has more axes (leading ones of size 1: numpy's broadcasting gives
    /// the result the larger rank, `[1, 3]` and `[1, 1, 1]` make `[1, 1,
    /// 3]`); with a batch axis, the extra axes follow it.
    fn widen_to(&self, a: &mut Affine, c: &Tensor) -> Result<()> {
        let full_rank = a.shape.len() + usize::from(self.batched);
        if c.shape.len() > full_rank {
            let extra = c.shape.len() - full_rank;
            if c.shape[..extra].iter().any(|&d| d != 1) {
                return Err(shape_error(format!("constant of shape {:?} does not broadcast to {:?}", c.shape, a.shape)));
            }
            a.shape = std::iter::repeat_n(1, extra).chain(a.shape.iter().copied()).collect();
        }
        Ok(())
    }

    /// Marks `node`'s outputs as computed from the Cast to float32 `rounded_by`.
    fn note_rounding(&mut self, node: &NodeProto, rounded_by: Option<String>) {
        if let Some(cast) = rounded_by {
            for output in node.output.iter().filter(|n| !n.is_empty()) {
                self.rounded_to_float32.insert(output.clone(), cast.clone());
            }
        }
    }

    fn activation(&mut self, node: &NodeProto, activation: Activation) -> Result<Value> {
        let v = self.get(node, 0)?;
        let expr = self.affine_of(v)?;
        Ok(Value::Affine(self.materialize(expr, activation)?))
    }

    fn flatten(&mut self, node: &NodeProto) -> Result<Value> {
        let value = self.get(node, 0)?;
        let batch = usize::from(self.batched);
        let rank = match &value {
            Value::Const(t) => t.shape.len(),
            Value::Affine(a) | Value::Softmax(a) | Value::Quantized(PendingQuantize { expr: a, .. }) => a.shape.len() + batch,
            Value::Input(s) => s.shape.len() + batch,
        } as i64;
        let axis = attr_int(node, "axis")?.unwrap_or(1);
        let axis = if axis < 0 { axis + rank } else { axis };
        if !self.batched && !matches!(value, Value::Const(_)) {
            // no batch axis: [prod(shape[..axis]), prod(shape[axis..])], the same elements in the same order
            let mut a = self.affine_of(value)?;
            let Some(split) = usize::try_from(axis).ok().filter(|&s| s <= a.shape.len()) else {
                return Err(malformed(format!("Flatten axis {axis} is out of range for a tensor of rank {rank}")));
            };
            a.shape = vec![a.shape[..split].iter().product(), a.shape[split..].iter().product()];
            return Ok(Value::Affine(a));
        }
        if axis != 1 {
            return Err(unsupported(format!("Flatten with axis {axis} (only axis 1, keeping the batch, is supported)")));
        }
        Ok(match value {
            Value::Const(t) => {
                let (first, rest) = match t.shape.split_first() {
                    Some((&first, rest)) => (first, element_count(rest)?),
                    None => return Err(malformed("Flatten of a scalar")),
                };
                Value::Const(Tensor { shape: vec![first, rest], data: t.data })
            }
            v => {
                let mut a = self.affine_of(v)?;
                a.shape = vec![a.bias.len()];
                Value::Affine(a)
            }
        })
    }

    fn gemm(&mut self, node: &NodeProto) -> Result<Value> {
        let alpha = attr_float(node, "alpha")?.unwrap_or(1.0);
        let beta = attr_float(node, "beta")?.unwrap_or(1.0);
        if attr_int(node, "transA")?.unwrap_or(0) != 0 {
            return Err(unsupported("Gemm with transA=1"));
        }
        let a = self.get(node, 0)?;
        let a = self.affine_of(a)?;
        // without a batch axis, the matrix A must be one row [1, K]
        let row = !self.batched && matches!(a.shape[..], [1, _]);
        if a.shape.len() != 1 && !row {
            let what = if self.batched { "per-sample shape" } else { "shape" };
            return Err(unsupported(format!("Gemm on a tensor of {what} {:?} (Gemm needs a matrix [batch, K])", a.shape)));
        }
        let b = self.get_const(node, 1)?;
        self.budget.take(b.data.len(), "the Gemm weight")?;
        let mut k = b.into_matrix("the Gemm weight")?;
        if attr_int(node, "transB")?.unwrap_or(0) == 0 {
            k = k.transpose();
        } // now k is n x k
        if alpha != 1.0 {
            k.data.iter_mut().for_each(|v| *v *= alpha);
        }
        let mut out = left_multiply(a, k, &mut self.budget)?;
        if row {
            out.shape = vec![1, out.bias.len()];
        }
        if let Some(c) = self.optional_const(node, 2)? {
            add_broadcast(&mut out, &c, beta)?;
        }
        Ok(Value::Affine(out))
    }

    fn matmul(&mut self, node: &NodeProto) -> Result<Value> {
        let a = self.get(node, 0)?;
        let right_is_const = matches!(node.input.get(1).and_then(|n| self.values.get(n)), Some(Value::Const(_)));
        let a = match a {
            Value::Const(_) if right_is_const => {
                return Err(unsupported("MatMul of two constants is not supported (fold it into one initializer)"));
            }
            Value::Const(w) => return self.matmul_weight_first(node, w),
            _ if !right_is_const && node.input.get(1).is_some_and(|n| self.values.contains_key(n)) => {
                return Err(unsupported("MatMul of two input-dependent tensors is not affine"));
            }
            a => a,
        };
        let a = self.affine_of(a)?;
        let Some((_, leading)) = a.shape.split_last() else {
            return Err(unsupported("MatMul on a scalar"));
        };
        if leading.iter().any(|&d| d != 1) {
            return Err(unsupported(format!("MatMul on a tensor of per-sample shape {:?} (only vectors are supported)", a.shape)));
        }
        let leading = leading.to_vec();
        let b = self.get_const(node, 1)?;
        if b.shape.len() != 2 {
            return Err(unsupported("MatMul is supported with a 2-D constant right operand"));
        }
        self.budget.take(b.data.len(), "the MatMul weight")?;
        let k = b.into_matrix("the MatMul weight")?.transpose();
        let mut out = left_multiply(a, k, &mut self.budget)?;
        out.shape = leading.into_iter().chain(std::iter::once(out.bias.len())).collect();
        Ok(Value::Affine(out))
    }

    /// `MatMul(W, x)` with a constant `W` of shape `[m, n]`: `W x` for an `x`
    /// of shape `[n]` (giving `[m]`) or `[n, 1]` (giving `[m, 1]`), the
    /// latter also per sample under a batch axis.
    fn matmul_weight_first(&mut self, node: &NodeProto, w: Tensor) -> Result<Value> {
        let x = self.get(node, 1)?;
        let x = self.affine_of(x)?;
        let column = match x.shape[..] {
            [_] if !self.batched => false,
            [_, 1] => true,
            _ => {
                let what = if self.batched { "per-sample shape" } else { "shape" };
                return Err(unsupported(format!("MatMul of a constant by a tensor of {what} {:?} (only W x with x of shape [n] or [n, 1] is supported)", x.shape)));
            }
        };
        if w.shape.len() != 2 {
            return Err(unsupported(format!("MatMul is supported with a 2-D constant left operand, not of shape {:?}", w.shape)));
        }
        self.budget.take(w.data.len(), "the MatMul weight")?;
        let k = w.into_matrix("the MatMul weight")?;
        let mut out = left_multiply(x, k, &mut self.budget)?;
        if column {
            out.shape.push(1);
        }
        Ok(Value::Affine(out))
    }

    /// `Softmax` over the last axis of a vector (per sample): recorded, to
    /// become the network's output softmax if it is the graph output.
    fn softmax(&mut self, node: &NodeProto) -> Result<Value> {
        let x = self.get(node, 0)?;
        let a = self.affine_of(x)?;
        let rank = (a.shape.len() + usize::from(self.batched)) as i64;
        // opset 13 took the default from 1 to -1; before it the input is
        // flattened to 2-D from `axis`, which is the last axis here
        let axis = attr_int(node, "axis")?.unwrap_or(if self.opset >= 13 { -1 } else { 1 });
        let normalised = if axis < 0 { axis + rank } else { axis };
        if normalised != rank - 1 {
            return Err(unsupported(format!("Softmax over axis {axis} of a rank-{rank} tensor (only the last axis is supported)")));
        }
        if a.shape.iter().rev().skip(1).any(|&d| d != 1) {
            return Err(unsupported(format!("Softmax of a tensor of shape {:?} (only a vector is supported)", a.shape)));
        }
        Ok(Value::Softmax(a))
    }

    fn conv(&mut self, node: &NodeProto) -> Result<Value> {
        let x = self.get(node, 0)?;
        let x = self.affine_of(x)?;
        let w = self.get_const(node, 1)?;
        let bias = self.optional_const(node, 2)?;
        if !self.batched {
            return Err(unsupported("Conv on a graph input without a batch axis (ONNX's Conv reads N x C x H x W)"));
        }
        let (&[channels, height, width], &[out_channels, group_channels, kernel_h, kernel_w]) = (&x.shape[..], &w.shape[..]) else {
            return Err(unsupported("Conv is supported for 2-D convolutions (input C x H x W, weight M x C/group x kH x kW)"));
        };
        if [channels, height, width, out_channels, group_channels, kernel_h, kernel_w].contains(&0) {
            return Err(malformed("Conv input or weight has an empty dimension"));
        }
        let mut pads = attr_ints(node, "pads")?.unwrap_or_else(|| vec![0, 0, 0, 0]);
        if let Some(mode) = attr_string(node, "auto_pad")? {
            match mode.as_str() {
                "NOTSET" => {}
                "VALID" if attr_ints(node, "pads")?.is_none() => pads = vec![0, 0, 0, 0],
                _ => return Err(unsupported(format!("Conv auto_pad={mode} (with pads {pads:?})"))),
            }
        }
        if let Some(kernel_shape) = attr_ints(node, "kernel_shape")? {
            if kernel_shape != [kernel_h as i64, kernel_w as i64] {
                return Err(malformed(format!("Conv kernel_shape {kernel_shape:?} differs from the weight's {kernel_h} x {kernel_w}")));
            }
        }
        let group = attr_int(node, "group")?.unwrap_or(1);
        let strides = attr_ints(node, "strides")?.unwrap_or_else(|| vec![1, 1]);
        let dilations = attr_ints(node, "dilations")?.unwrap_or_else(|| vec![1, 1]);
        if strides.len() != 2 || dilations.len() != 2 || pads.len() != 4 || strides.iter().chain(&dilations).any(|&s| s < 1) || pads.iter().any(|&p| p < 0) || group < 1 {
            return Err(malformed("Conv strides/dilations/pads/group have the wrong length or sign"));
        }
        let to_size = |v: i64| usize::try_from(v).map_err(|_| unsupported(format!("Conv attribute value {v} is too large")));
        let group = to_size(group)?;
        if group_channels.checked_mul(group) != Some(channels) || out_channels % group != 0 {
            return Err(shape_error(format!("Conv weight expects {group_channels} x {group} input channels, the input has {channels}")));
        }
        let (sh, sw) = (to_size(strides[0])?, to_size(strides[1])?);
        let (dh, dw) = (to_size(dilations[0])?, to_size(dilations[1])?);
        let (pt, pl, pb, pr) = (to_size(pads[0])?, to_size(pads[1])?, to_size(pads[2])?, to_size(pads[3])?);
        let too_large = || unsupported("Conv sizes overflow");
        let span_h = dh.checked_mul(kernel_h - 1).and_then(|s| s.checked_add(1)).ok_or_else(too_large)?;
        let span_w = dw.checked_mul(kernel_w - 1).and_then(|s| s.checked_add(1)).ok_or_else(too_large)?;
        let padded_h = height.checked_add(pt).and_then(|s| s.checked_add(pb)).ok_or_else(too_large)?;
        let padded_w = width.checked_add(pl).and_then(|s| s.checked_add(pr)).ok_or_else(too_large)?;
        if padded_h < span_h || padded_w < span_w {
            return Err(shape_error("Conv kernel is larger than the padded input"));
        }
        let out_h = (padded_h - span_h) / sh + 1;
        let out_w = (padded_w - span_w) / sw + 1;
        let rows = out_channels.checked_mul(out_h).and_then(|r| r.checked_mul(out_w)).ok_or_else(too_large)?;
        let cols = x.bias.len();
        let entries = matrix_entries(rows, cols, "the Conv lowered to a dense map")?;
        self.budget.take(entries, "the Conv lowered to a dense map")?;
        let mut k = Matrix::zeros(rows, cols);
        // the taps ky with 0 <= offset + ky * dilation < size (all in i128: no overflow)
        let taps = |offset: i128, dilation: usize, size: usize, kernel: usize| {
            let d = dilation as i128;
            let first = if offset >= 0 { 0 } else { (-offset + d - 1) / d };
            let end = if (size as i128) <= offset { 0 } else { ((size as i128 - offset + d - 1) / d).min(kernel as i128) };
            (first as usize)..(end.max(first) as usize)
        };
        let per_group = out_channels / group;
        for m in 0..out_channels {
            let g = m / per_group;
            for oy in 0..out_h {
                let offset_y = (oy * sh) as i128 - pt as i128;
                for ox in 0..out_w {
                    let offset_x = (ox * sw) as i128 - pl as i128;
                    let row = (m * out_h + oy) * out_w + ox;
                    for c in 0..group_channels {
                        let in_c = g * group_channels + c;
                        for ky in taps(offset_y, dh, height, kernel_h) {
                            let iy = (offset_y + (ky * dh) as i128) as usize;
                            for kx in taps(offset_x, dw, width, kernel_w) {
                                let ix = (offset_x + (kx * dw) as i128) as usize;
                                let col = (in_c * height + iy) * width + ix;
                                let tap = ((m * group_channels + c) * kernel_h + ky) * kernel_w + kx;
                                if let (Some(weight), Some(entry)) = (w.data.get(tap), k.data.get_mut(row * cols + col)) {
                                    *entry = *weight;
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut out = left_multiply(x, k, &mut self.budget)?;
        out.shape = vec![out_channels, out_h, out_w];
        if let Some(b) = bias {
            if b.shape.len() != 1 || b.data.len() != out_channels {
                return Err(shape_error(format!("Conv bias of shape {:?} does not match the {out_channels} output channels", b.shape)));
            }
            let plane = out_h * out_w;
            for (i, v) in out.bias.iter_mut().enumerate() {
                *v += b.data[i / plane];
            }
        }
        Ok(Value::Affine(out))
    }

    fn reshape(&mut self, node: &NodeProto) -> Result<Value> {
        let value = self.get(node, 0)?;
        let target = self.get_const(node, 1)?;
        if target.shape.len() != 1 {
            return Err(malformed(format!("Reshape shape tensor of shape {:?} (it must be one-dimensional)", target.shape)));
        }
        let target: Vec<i64> = target
            .data
            .iter()
            .map(|&v| if v.fract() == 0.0 && v.abs() < 9.0e15 { Ok(v as i64) } else { Err(malformed(format!("Reshape target entry {v} is not an integer"))) })
            .collect::<Result<_>>()?;
        if attr_int(node, "allowzero")?.unwrap_or(0) != 0 && target.contains(&0) {
            return Err(unsupported("Reshape with allowzero=1 and a zero in the target shape"));
        }
        match value {
            Value::Const(t) => {
                let shape = resolve_shape(&target, &t.shape, t.data.len())?;
                Ok(Value::Const(Tensor { shape, data: t.data }))
            }
            v if !self.batched => {
                // no batch axis: the target is the whole shape (row-major order is kept)
                let mut a = self.affine_of(v)?;
                a.shape = resolve_shape(&target, &a.shape, a.bias.len())?;
                Ok(Value::Affine(a))
            }
            v => {
                let mut a = self.affine_of(v)?;
                // the target includes the batch axis
                let full: Vec<usize> = std::iter::once(1).chain(a.shape.iter().copied()).collect();
                let shape = resolve_shape(&target, &full, a.bias.len())?;
                if shape.first() != Some(&1) {
                    return Err(unsupported("Reshape must keep the batch axis first"));
                }
                a.shape = shape[1..].to_vec();
                Ok(Value::Affine(a))
            }
        }
    }

    /// The scale, zero point and integer range of a per-tensor
    /// `QuantizeLinear` or of the `DequantizeLinear` of an activation: an
    /// 8-bit zero point (uint8 when absent, as ONNX specifies), a positive
    /// scale.
    fn quantisation_parameters(&mut self, node: &NodeProto) -> Result<(f64, f64, f64, f64)> {
        let op = node.op_type.as_str();
        let scale = self.get_const(node, 1)?;
        let zero = self.optional_const(node, 2)?;
        if scale.data.len() != 1 || zero.as_ref().is_some_and(|z| z.data.len() != 1) {
            return Err(unsupported(format!("{op} of an activation tensor with a scale of shape {:?}: per-axis (per-channel) activation quantisation is not supported, only per tensor", scale.shape)));
        }
        let s = scale.data[0];
        if !(s > 0.0 && s.is_finite()) {
            return Err(unsupported(format!("{op} scale {s} is not a positive finite number")));
        }
        // DequantizeLinear's output_dtype is the float type of its output
        let output_dtype = if op == "QuantizeLinear" { attr_int(node, "output_dtype")?.filter(|&t| t != 0) } else { None };
        let element_type = match (&zero, output_dtype) {
            (Some(_), _) => {
                let name = &node.input[2];
                *self.const_types.get(name).ok_or_else(|| unsupported(format!("{op} zero point '{name}' is not an initializer or Constant, so its element type is unknown")))?
            }
            (None, Some(t)) => i32::try_from(t).unwrap_or(-1),
            (None, None) => data_type::UINT8,
        };
        let (qmin, qmax) = match element_type {
            data_type::UINT8 => (0.0, 255.0),
            data_type::INT8 => (-128.0, 127.0),
            other => return Err(unsupported(format!("{op} to element type {other}: only 8-bit (int8, uint8) activation quantisation is supported"))),
        };
        let z = zero.map_or(0.0, |z| z.data[0]);
        Ok((s, z, qmin, qmax))
    }

    /// `QuantizeLinear` of an input-dependent tensor: pending until its
    /// `DequantizeLinear` (module docs).
    fn quantize(&mut self, node: &NodeProto) -> Result<Value> {
        let x = self.get(node, 0)?;
        if matches!(x, Value::Const(_)) {
            return Err(unsupported("QuantizeLinear of a constant (store quantised weights as integer initializers)"));
        }
        let expr = self.affine_of(x)?;
        let (scale, zero_point, qmin, qmax) = self.quantisation_parameters(node)?;
        let name = if node.name.is_empty() { format!("with output '{}'", node.output.first().map_or("", String::as_str)) } else { format!("'{}'", node.name) };
        Ok(Value::Quantized(PendingQuantize { expr, scale, zero_point, qmin, qmax, node: name }))
    }

    fn dequantize(&mut self, node: &NodeProto) -> Result<Value> {
        self.saw_dequantize = true;
        if let Value::Quantized(pending) = self.get(node, 0)? {
            // the quantiser Q -> DQ as one layer over the quantised expression
            let (scale, zero_point, mut qmin, mut qmax) = self.quantisation_parameters(node)?;
            // without a zero point the element type is its input's, the
            // QuantizeLinear's (set there by a zero point or output_dtype)
            if node.input.get(2).is_none_or(|name| name.is_empty()) {
                (qmin, qmax) = (pending.qmin, pending.qmax);
            }
            if (scale, zero_point, qmin, qmax) != (pending.scale, pending.zero_point, pending.qmin, pending.qmax) {
                return Err(unsupported(format!(
                    "DequantizeLinear with scale {scale}, zero point {zero_point}, range [{qmin}, {qmax}] of QuantizeLinear {} with scale {}, zero point {}, range [{}, {}] (a requantisation; only matching pairs are supported)",
                    pending.node, pending.scale, pending.zero_point, pending.qmin, pending.qmax
                )));
            }
            let activation = Activation::Quantize { scale, zero_point, qmin, qmax };
            return Ok(Value::Affine(self.materialize(pending.expr, activation)?));
        }
        let x = self.get_const(node, 0).map_err(|_| unsupported("DequantizeLinear is supported on constant (weight) tensors and on the output of a QuantizeLinear only"))?;
        let scale = self.get_const(node, 1)?;
        let zero = self.optional_const(node, 2)?;
        if scale.data.is_empty() {
            return Err(malformed("DequantizeLinear scale is empty"));
        }
        if scale.shape.len() > 1 {
            return Err(unsupported(format!("DequantizeLinear with a scale of shape {:?} (blocked quantisation)", scale.shape)));
        }
        if let Some(z) = &zero {
            if z.data.len() != scale.data.len() || (z.shape != scale.shape && z.data.len() > 1) {
                return Err(malformed(format!("DequantizeLinear zero point of shape {:?} against a scale of shape {:?} (they must have one shape)", z.shape, scale.shape)));
            }
        }
        let channels = scale.data.len();
        // per-tensor: one channel; per-axis: `channels` blocks of `inner` values along `axis`
        let inner = if channels > 1 {
            let rank = x.shape.len() as i64;
            let axis = attr_int(node, "axis")?.unwrap_or(1);
            let axis = if axis < 0 { axis + rank } else { axis };
            match usize::try_from(axis).ok().filter(|&a| x.shape.get(a) == Some(&channels)) {
                Some(a) => x.shape[a + 1..].iter().product::<usize>().max(1),
                None => return Err(shape_error(format!("DequantizeLinear scale length {channels} does not match axis {axis} of shape {:?}", x.shape))),
            }
        } else {
            1
        };
        self.budget.take(x.data.len(), "the dequantized tensor")?;
        let data = x
            .data
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let c = (i / inner) % channels;
                let z = zero.as_ref().map_or(0.0, |z| z.data[c]);
                // q - z is an exact integer; (q - z) s is exact for |q - z| <
                // 2^29 and a float32 s (24 + 29 bits), which a fused
                // multiply-add checks for any s (module docs, Rounding)
                let level = q - z;
                if level.abs() >= DEQUANTIZE_LEVEL_LIMIT {
                    return Err(unsupported(format!("DequantizeLinear value {q} - {z} is 2^29 or more in magnitude; (q - z) * scale would not be exact in f64")));
                }
                let value = level * scale.data[c];
                if level.mul_add(scale.data[c], -value) != 0.0 {
                    return Err(unsupported(format!("DequantizeLinear value ({q} - {z}) * {} is not exact in f64", scale.data[c])));
                }
                Ok(value)
            })
            .collect::<Result<_>>()?;
        Ok(Value::Const(Tensor { shape: x.shape, data }))
    }

    /// The shape of a value as the graph has it (the batch axis included
    /// for an input-dependent one).
    fn full_shape(&self, value: &Value) -> Vec<usize> {
        let per_sample = match value {
            Value::Const(c) => return c.shape.clone(),
            Value::Affine(a) | Value::Softmax(a) => &a.shape,
            Value::Input(stage) => &stage.shape,
            Value::Quantized(pending) => &pending.expr.shape,
        };
        if self.batched { std::iter::once(1).chain(per_sample.iter().copied()).collect() } else { per_sample.clone() }
    }

    fn binary(&mut self, node: &NodeProto) -> Result<Value> {
        let op = node.op_type.as_str();
        let lhs = self.get(node, 0)?;
        let rhs = self.get(node, 1)?;
        // Max and Min broadcast from opset 8; before, their inputs have one
        // shape (onnxruntime refuses others when it runs the node)
        if matches!(op, "Max" | "Min") && self.opset < 8 {
            let (a, b) = (self.full_shape(&lhs), self.full_shape(&rhs));
            if a != b {
                return Err(shape_error(format!("{op} at opset {} takes inputs of one shape, not {a:?} and {b:?} (broadcasting came with opset 8)", self.opset)));
            }
        }
        let commutative = matches!(op, "Add" | "Mul" | "Max" | "Min");
        // a constant goes to the right where the operation allows
        let (lhs, rhs) = match (lhs, rhs) {
            (Value::Const(c), v) if commutative && !matches!(v, Value::Const(_)) => (v, Value::Const(c)),
            pair => pair,
        };
        match (lhs, rhs) {
            (Value::Const(a), Value::Const(b)) => {
                // the result and the two operands broadcast to its shape
                let count = element_count(&broadcast_shape(&a.shape, &b.shape)?)?;
                self.budget.take(3 * count, "a folded constant")?;
                let t = const_binary(op, &a, &b)?;
                // integer arithmetic is exact in f64 below 2^53 (onnxruntime's wraps past 2^63)
                let integer = node.output.first().and_then(|name| self.element_types.get(name)).is_some_and(|&t| !is_float_type(t));
                if integer && t.data.iter().any(|v| v.abs() >= 9.007_199_254_740_992e15) {
                    return Err(unsupported(format!("{op} of integer constants reaches 2^53, past which f64 does not hold integers exactly")));
                }
                Ok(Value::Const(t))
            }
            // the input prologue: clip, subtract mean, divide by range (by a
            // constant that does not raise the input's rank)
            (Value::Input(stage), Value::Const(c)) if matches!(op, "Max" | "Min" | "Sub" | "Div") && c.shape.len() <= stage.shape.len() + usize::from(self.batched) => match prologue_step(&stage, op, &c, &mut self.budget)? {
                Some(next) => {
                    self.prologue_consts.extend(node.input.iter().filter(|name| self.const_types.contains_key(*name)).cloned());
                    Ok(Value::Input(next))
                }
                None => {
                    let a = self.affine_of(Value::Input(stage))?;
                    self.affine_const(op, a, &c)
                }
            },
            (v, Value::Const(c)) => {
                let mut a = self.affine_of(v)?;
                self.widen_to(&mut a, &c)?;
                self.affine_const(op, a, &c)
            }
            (Value::Const(c), v) if op == "Sub" => {
                // c - v = -(v) + c
                let mut a = self.affine_of(v)?;
                self.widen_to(&mut a, &c)?;
                negate(&mut a, &mut self.budget)?;
                add_broadcast(&mut a, &c, 1.0)?;
                Ok(Value::Affine(a))
            }
            (Value::Const(_), _) => Err(unsupported(format!("{op} by an input-dependent tensor is not affine"))),
            (u, v) => {
                let a = self.affine_of(u)?;
                let b = self.affine_of(v)?;
                if strip_leading_ones(&a.shape) != strip_leading_ones(&b.shape) {
                    return Err(unsupported(format!("{op} of input-dependent tensors of shapes {:?} and {:?} (broadcasting between them is not supported)", a.shape, b.shape)));
                }
                match op {
                    "Add" => Ok(Value::Affine(add_affine(a, b, &mut self.budget)?)),
                    "Sub" => {
                        let mut b = b;
                        negate(&mut b, &mut self.budget)?;
                        Ok(Value::Affine(add_affine(a, b, &mut self.budget)?))
                    }
                    "Max" | "Min" => {
                        // max(u, v) = v + relu(u - v); min(u, v) = u - relu(u - v)
                        let mut minus_b = b.clone();
                        negate(&mut minus_b, &mut self.budget)?;
                        let difference = add_affine(a.clone(), minus_b, &mut self.budget)?;
                        let mut rectified = self.materialize(difference, Activation::Relu)?;
                        if op == "Max" {
                            Ok(Value::Affine(add_affine(b, rectified, &mut self.budget)?))
                        } else {
                            negate(&mut rectified, &mut self.budget)?;
                            Ok(Value::Affine(add_affine(a, rectified, &mut self.budget)?))
                        }
                    }
                    _ => Err(unsupported(format!("{op} of two input-dependent tensors is not affine"))),
                }
            }
        }
    }

    /// `a op c` for an expression `a` and a constant `c` broadcast to its shape.
    fn affine_const(&mut self, op: &str, mut a: Affine, c: &Tensor) -> Result<Value> {
        match op {
            "Add" => add_broadcast(&mut a, c, 1.0)?,
            "Sub" => add_broadcast(&mut a, c, -1.0)?,
            "Mul" => scale_affine(&mut a, c, &mut self.budget)?,
            "Div" => {
                if c.data.contains(&0.0) {
                    return Err(malformed("division by a constant containing zero"));
                }
                let reciprocal = Tensor { shape: c.shape.clone(), data: c.data.iter().map(|v| 1.0 / v).collect() };
                scale_affine(&mut a, &reciprocal, &mut self.budget)?
            }
            "Max" | "Min" => return self.clip_layer(op, a, c).map(Value::Affine),
            _ => return Err(unsupported(format!("{op} with a constant is not supported"))),
        }
        Ok(Value::Affine(a))
    }

    /// `max(a, c) = relu(a - c) + c` or `min(a, c) = c - relu(c - a)`, exactly, as a ReLU layer.
    fn clip_layer(&mut self, op: &str, mut a: Affine, c: &Tensor) -> Result<Affine> {
        let values = broadcast_values(c, &a.shape)?;
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(unsupported(format!("{op} with the constant {bad} is supported only directly on the graph input")));
        }
        if op == "Max" {
            a.bias.iter_mut().zip(&values).for_each(|(b, v)| *b -= v);
            let mut out = self.materialize(a, Activation::Relu)?;
            out.bias.copy_from_slice(&values);
            Ok(out)
        } else {
            negate(&mut a, &mut self.budget)?;
            a.bias.iter_mut().zip(&values).for_each(|(b, v)| *b += v);
            let mut out = self.materialize(a, Activation::Relu)?;
            negate(&mut out, &mut self.budget)?;
            out.bias.copy_from_slice(&values);
            Ok(out)
        }
    }
}

fn strip_leading_ones(shape: &[usize]) -> &[usize] {
    let ones = shape.iter().take_while(|&&d| d == 1).count();
    &shape[ones..]
}

/// Applies one step of the clip/normalise prologue to the raw input, if it
/// fits the order clip → subtract mean → divide by range; returns `None` when
/// the step must instead be treated as a general operation.
fn prologue_step(stage: &InputStage, op: &str, c: &Tensor, budget: &mut Budget) -> Result<Option<InputStage>> {
    let Ok(values) = broadcast_values(c, &stage.shape) else { return Ok(None) };
    if values.iter().any(|v| v.is_nan()) {
        return Err(malformed(format!("{op} with a NaN constant")));
    }
    let n = values.len();
    budget.take(4 * n, "the input prologue")?;
    let mut transform = stage.transform.clone().unwrap_or_else(|| identity_transform(n));
    let t = &mut transform;
    let untouched_normalisation = t.mean.iter().all(|&m| m == 0.0) && t.range.iter().all(|&r| r == 1.0);
    match op {
        "Max" | "Min" if untouched_normalisation => {
            for (i, &c) in values.iter().enumerate() {
                let (lo, hi) = (&mut t.min[i], &mut t.max[i]);
                // clip(x, lo, hi) with lo <= hi, then max(., c) or min(., c)
                match op {
                    "Max" if c <= *hi => *lo = lo.max(c),
                    "Min" if c >= *lo => *hi = hi.min(c),
                    _ => (*lo, *hi) = (c, c),
                }
                if *lo == f64::INFINITY || *hi == f64::NEG_INFINITY {
                    return Err(unsupported(format!("{op} makes input element {i} the constant {c}")));
                }
            }
        }
        "Sub" if untouched_normalisation && values.iter().all(|v| v.is_finite()) => t.mean = values,
        "Div" if t.range.iter().all(|&r| r == 1.0) && values.iter().all(|&r| r > 0.0 && r.is_finite()) => t.range = values,
        _ => return Ok(None),
    }
    Ok(Some(InputStage { transform: Some(transform), shape: stage.shape.clone() }))
}

/// `k * expr` for a matrix `k` with `k.cols == numel(expr)`.
fn left_multiply(expr: Affine, k: Matrix, budget: &mut Budget) -> Result<Affine> {
    let n = expr.bias.len();
    if k.cols != n {
        return Err(shape_error(format!("operand has {n} elements per sample, the weight expects {}", k.cols)));
    }
    budget.take(k.rows, "a product")?;
    let mut bias = vec![0.0; k.rows];
    k.mul_vec_add(&expr.bias, &mut bias);
    let mut terms = Vec::with_capacity(expr.terms.len());
    for (source, map) in expr.terms {
        let product = match map {
            Map::Identity => {
                budget.take(k.data.len(), "a product")?;
                k.clone()
            }
            Map::Dense(m) => {
                let steps = k.rows.checked_mul(k.cols).and_then(|s| s.checked_mul(m.cols));
                if steps.is_none_or(|s| s > MAX_PRODUCT_STEPS) {
                    return Err(unsupported(format!(
                        "pre-multiplying a {} x {} map by a {} x {} map exceeds the reader's limit of {MAX_PRODUCT_STEPS} (2^34) multiply-adds",
                        k.rows, k.cols, m.rows, m.cols
                    )));
                }
                budget.take(matrix_entries(k.rows, m.cols, "a product")?, "a product")?;
                k.matmul(&m)
            }
        };
        terms.push((source, Map::Dense(product)));
    }
    Ok(Affine { shape: vec![k.rows], terms, bias })
}

/// The values of `c` broadcast to the per-sample shape `target` (numpy rules,
/// an optional leading batch axis of size 1 in `c`), in `target`'s order.
fn broadcast_values(c: &Tensor, target: &[usize]) -> Result<Vec<f64>> {
    let mismatch = || shape_error(format!("constant of shape {:?} does not broadcast to {target:?}", c.shape));
    let mut cs = c.shape.clone();
    if cs.len() == target.len() + 1 {
        if cs[0] != 1 {
            return Err(mismatch());
        }
        cs.remove(0);
    }
    if cs.len() > target.len() {
        return Err(mismatch());
    }
    let padded: Vec<usize> = std::iter::repeat_n(1, target.len() - cs.len()).chain(cs).collect();
    if padded.iter().zip(target).any(|(&p, &t)| p != 1 && p != t) {
        return Err(mismatch());
    }
    // strides of `c`, zero along broadcast axes
    let mut strides = vec![0; target.len()];
    let mut stride = 1;
    for d in (0..target.len()).rev() {
        if padded[d] != 1 {
            strides[d] = stride;
        }
        stride *= padded[d];
    }
    let total = element_count(target)?;
    let mut out = Vec::with_capacity(total);
    for flat in 0..total {
        let (mut rem, mut idx) = (flat, 0);
        for d in (0..target.len()).rev() {
            idx += (rem % target[d]) * strides[d];
            rem /= target[d];
        }
        out.push(c.data.get(idx).copied().ok_or_else(mismatch)?);
    }
    Ok(out)
}

/// `a += sign * c`, with `c` broadcast to the shape of `a`.
fn add_broadcast(a: &mut Affine, c: &Tensor, sign: f64) -> Result<()> {
    let values = broadcast_values(c, &a.shape)?;
    for (b, v) in a.bias.iter_mut().zip(values) {
        *b += if sign == 1.0 { v } else { sign * v };
    }
    Ok(())
}

/// `a *= c` element-wise, with `c` broadcast to the shape of `a`.
fn scale_affine(a: &mut Affine, c: &Tensor, budget: &mut Budget) -> Result<()> {
    let factors = broadcast_values(c, &a.shape)?;
    for (b, f) in a.bias.iter_mut().zip(&factors) {
        *b *= f;
    }
    for (_, map) in a.terms.iter_mut() {
        match map {
            Map::Identity => {
                let n = factors.len();
                budget.take(matrix_entries(n, n, "a diagonal scaling")?, "a diagonal scaling")?;
                let mut d = Matrix::zeros(n, n);
                for (i, f) in factors.iter().enumerate() {
                    *d.get_mut(i, i) = *f;
                }
                *map = Map::Dense(d);
            }
            Map::Dense(m) => {
                for (row, f) in m.data.chunks_mut(m.cols.max(1)).zip(&factors) {
                    row.iter_mut().for_each(|v| *v *= f);
                }
            }
        }
    }
    Ok(())
}

/// `a = -a` (exact).
fn negate(a: &mut Affine, budget: &mut Budget) -> Result<()> {
    let minus_one = Tensor { shape: vec![], data: vec![-1.0] };
    scale_affine(a, &minus_one, budget)
}

fn add_affine(a: Affine, b: Affine, budget: &mut Budget) -> Result<Affine> {
    if a.bias.len() != b.bias.len() {
        return Err(shape_error(format!("adding tensors of {} and {} elements", a.bias.len(), b.bias.len())));
    }
    let n = a.bias.len();
    let bias = a.bias.iter().zip(&b.bias).map(|(x, y)| x + y).collect();
    let mut terms = a.terms;
    for (source, map) in b.terms {
        match terms.iter_mut().find(|(s, _)| *s == source) {
            Some((_, existing)) => {
                let dense = |m: &Map, budget: &mut Budget| -> Result<Matrix> {
                    match m {
                        Map::Identity => {
                            budget.take(matrix_entries(n, n, "an identity map")?, "an identity map")?;
                            Ok(Matrix::identity(n))
                        }
                        Map::Dense(m) => Ok(m.clone()),
                    }
                };
                let mut sum = dense(existing, budget)?;
                let other = dense(&map, budget)?;
                if (sum.rows, sum.cols) != (other.rows, other.cols) {
                    return Err(shape_error("adding maps of different sizes"));
                }
                for (x, y) in sum.data.iter_mut().zip(other.data) {
                    *x += y;
                }
                *existing = Map::Dense(sum);
            }
            None => terms.push((source, map)),
        }
    }
    Ok(Affine { shape: a.shape, terms, bias })
}

/// The shape of an element-wise result of tensors of shapes `a` and `b`
/// (numpy's broadcasting, as ONNX's: the rank is the larger one).
fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let padded = |s: &[usize]| std::iter::repeat_n(1, rank - s.len()).chain(s.iter().copied()).collect::<Vec<usize>>();
    padded(a)
        .into_iter()
        .zip(padded(b))
        .map(|(x, y)| match (x, y) {
            _ if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(shape_error(format!("constants of shapes {a:?} and {b:?} do not broadcast"))),
        })
        .collect()
}

/// Element-wise `a op b` of two constants, broadcast to one shape.
fn const_binary(op: &str, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let target = broadcast_shape(&a.shape, &b.shape)?;
    let (left, right) = (broadcast_values(a, &target)?, broadcast_values(b, &target)?);
    let data = left
        .into_iter()
        .zip(right)
        .map(|(l, r)| {
            match op {
                "Add" => l + r,
                "Sub" => l - r,
                "Mul" => l * r,
                "Div" => l / r,
                // ONNX's Max and Min propagate NaN
                _ if l.is_nan() || r.is_nan() => f64::NAN,
                "Max" => l.max(r),
                _ => l.min(r),
            }
        })
        .collect();
    Ok(Tensor { shape: target, data })
}

fn resolve_shape(target: &[i64], current: &[usize], count: usize) -> Result<Vec<usize>> {
    let mut shape = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                shape.push(1);
            }
            0 => shape.push(*current.get(i).ok_or_else(|| malformed("Reshape copies a missing dimension"))?),
            d if d > 0 => shape.push(usize::try_from(d).map_err(|_| malformed(format!("Reshape target {target:?} is invalid")))?),
            _ => return Err(malformed(format!("Reshape target {target:?} is invalid"))),
        }
    }
    let cannot = || shape_error(format!("cannot reshape {count} elements to {target:?}"));
    let known = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(cannot)?;
    if let Some(i) = infer {
        if known == 0 || !count.is_multiple_of(known) {
            return Err(cannot());
        }
        shape[i] = count / known;
    } else if known != count {
        return Err(cannot());
    }
    Ok(shape)
}

fn attribute<'a>(node: &'a NodeProto, name: &str, kind: i32, kind_name: &str) -> Result<Option<&'a AttributeProto>> {
    match node.attribute.iter().find(|a| a.name == name) {
        Some(a) if a.r#type == kind => Ok(Some(a)),
        Some(_) => Err(malformed(format!("attribute '{name}' is not {kind_name}"))),
        None => Ok(None),
    }
}
/// The activation an element-wise activation node denotes (its rule reads
/// the attributes, [`Activation::from_onnx`]), `None` for other operators.
/// A float attribute of the wrong type is reported as [`attr_float`] reports
/// it, before the rule's own checks.
fn read_activation(node: &NodeProto) -> Result<Option<Activation>> {
    let attribute_error = std::cell::RefCell::new(None);
    let float_attribute = |name: &str| match attr_float(node, name) {
        Ok(value) => value,
        Err(e) => {
            attribute_error.borrow_mut().get_or_insert(e);
            None
        }
    };
    let Some(read) = Activation::from_onnx(&node.op_type, &float_attribute) else {
        return Ok(None);
    };
    if let Some(e) = attribute_error.into_inner() {
        return Err(e);
    }
    read.map(Some).map_err(unsupported)
}

fn attr_float(node: &NodeProto, name: &str) -> Result<Option<f64>> {
    Ok(attribute(node, name, attribute_type::FLOAT, "a float")?.map(|a| a.f as f64))
}
fn attr_int(node: &NodeProto, name: &str) -> Result<Option<i64>> {
    Ok(attribute(node, name, attribute_type::INT, "an integer")?.map(|a| a.i))
}
fn attr_ints(node: &NodeProto, name: &str) -> Result<Option<Vec<i64>>> {
    Ok(attribute(node, name, attribute_type::INTS, "a list of integers")?.map(|a| a.ints.clone()))
}
fn attr_string(node: &NodeProto, name: &str) -> Result<Option<String>> {
    Ok(attribute(node, name, attribute_type::STRING, "a string")?.map(|a| String::from_utf8_lossy(&a.s).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::onnx::proto::{attribute_type, AttributeProto, GraphProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto};

    fn tensor(name: &str, dims: &[i64], values: &[f64]) -> TensorProto {
        TensorProto { name: name.into(), dims: dims.to_vec(), data_type: data_type::DOUBLE, double_data: values.to_vec(), ..Default::default() }
    }
    fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
        NodeProto { input: inputs.iter().map(|s| s.to_string()).collect(), output: vec![output.into()], name: output.into(), op_type: op.into(), attribute, ..Default::default() }
    }
    fn ints(name: &str, values: &[i64]) -> AttributeProto {
        AttributeProto { name: name.into(), ints: values.to_vec(), r#type: attribute_type::INTS, ..Default::default() }
    }
    fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
        let dim = dims.iter().map(|&d| proto::Dimension { dim_value: Some(d), dim_param: None }).collect();
        ValueInfoProto { name: name.into(), r#type: Some(TypeProto { tensor_type: Some(TensorTypeProto { elem_type: data_type::DOUBLE, shape: Some(TensorShapeProto { dim }) }) }) }
    }

    /// Conv (padding 1, stride 2, two channels) → Relu → Flatten → MatMul → Add,
    /// compared with a direct convolution written out in the test.
    #[test]
    fn convolution_is_lowered_exactly() {
        let kernel: Vec<f64> = (0..18).map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0).collect();
        let conv_bias = [0.5, -0.25];
        let head: Vec<f64> = (0..8).map(|i| (i as f64 - 3.5) / 2.0).collect();
        let graph = GraphProto {
            node: vec![
                node("Conv", &["x", "k", "kb"], "c", vec![ints("pads", &[1, 1, 1, 1]), ints("strides", &[2, 2])]),
                node("Relu", &["c"], "r", vec![]),
                node("Flatten", &["r"], "f", vec![]),
                node("MatMul", &["f", "head"], "m", vec![]),
                node("Add", &["m", "hb"], "y", vec![]),
            ],
            initializer: vec![tensor("k", &[2, 1, 3, 3], &kernel), tensor("kb", &[2], &conv_bias), tensor("head", &[8, 1], &head), tensor("hb", &[1], &[0.125])],
            input: vec![value_info("x", &[1, 1, 4, 4])],
            output: vec![value_info("y", &[1, 1])],
            ..Default::default()
        };
        let model = ModelProto { graph: Some(graph), ir_version: Some(8), opset_import: vec![proto::OperatorSetIdProto { domain: String::new(), version: 13 }], ..Default::default() };
        let net = read(&model.encode_to_vec()).unwrap();
        net.validate().unwrap();
        assert_eq!(net.input_dim, 16);
        assert_eq!(net.layers[0].width(), 8);
        let x: Vec<f64> = (0..16).map(|i| ((i * 5 % 7) as f64 - 3.0) / 3.0).collect();
        // direct convolution: output 2 x 2 x 2
        let mut expected = 0.125;
        for m in 0..2 {
            for oy in 0..2 {
                for ox in 0..2 {
                    let mut s = conv_bias[m];
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (iy, ix) = ((oy * 2 + ky) as isize - 1, (ox * 2 + kx) as isize - 1);
                            if (0..4).contains(&iy) && (0..4).contains(&ix) {
                                s += kernel[m * 9 + ky * 3 + kx] * x[iy as usize * 4 + ix as usize];
                            }
                        }
                    }
                    expected += head[m * 4 + oy * 2 + ox] * s.max(0.0);
                }
            }
        }
        assert!((net.eval(&x)[0] - expected).abs() < 1e-12);
    }

    #[test]
    fn unknown_operator_is_named() {
        let graph = GraphProto {
            node: vec![node("LogSoftmax", &["x"], "y", vec![])],
            input: vec![value_info("x", &[1, 3])],
            output: vec![value_info("y", &[1, 3])],
            ..Default::default()
        };
        let err = read(&ModelProto { graph: Some(graph), ir_version: Some(8), opset_import: vec![proto::OperatorSetIdProto { domain: String::new(), version: 13 }], ..Default::default() }.encode_to_vec()).unwrap_err();
        assert!(err.context.contains("node 'y' (LogSoftmax)") && err.context.contains("unsupported operator LogSoftmax"), "{}", err.context);
    }

    /// A float64 graph input `x` of shape `input_dims`; the output's type is
    /// not declared (the tests' graphs compute float32 and float64 ones).
    fn graph_bytes(nodes: Vec<NodeProto>, initializer: Vec<TensorProto>, input_dims: &[i64], output: &str) -> Vec<u8> {
        let graph = GraphProto { node: nodes, initializer, input: vec![value_info("x", input_dims)], output: vec![undeclared(output)], ..Default::default() };
        ModelProto { graph: Some(graph), ir_version: Some(8), opset_import: vec![proto::OperatorSetIdProto { domain: String::new(), version: 13 }], ..Default::default() }.encode_to_vec()
    }
    fn int(name: &str, value: i64) -> AttributeProto {
        AttributeProto { name: name.into(), i: value, r#type: attribute_type::INT, ..Default::default() }
    }
    /// A float32 tensor of values that float32 holds exactly.
    fn tensor32(name: &str, dims: &[i64], values: &[f64]) -> TensorProto {
        assert!(values.iter().all(|&v| v as f32 as f64 == v), "{values:?} are not float32 values");
        TensorProto { name: name.into(), dims: dims.to_vec(), data_type: data_type::FLOAT, float_data: values.iter().map(|&v| v as f32).collect(), ..Default::default() }
    }
    /// A value whose type is not declared.
    fn undeclared(name: &str) -> ValueInfoProto {
        ValueInfoProto { name: name.into(), r#type: None }
    }
    /// `bytes` with the default domain's opset set to `opset`.
    fn at_opset(bytes: Vec<u8>, opset: i64) -> Vec<u8> {
        let mut model = ModelProto::decode(bytes.as_slice()).unwrap();
        model.opset_import = vec![proto::OperatorSetIdProto { domain: String::new(), version: opset }];
        model.encode_to_vec()
    }
    /// A Reshape target (an int64 tensor).
    fn shape_tensor(name: &str, values: &[i64]) -> TensorProto {
        TensorProto { name: name.into(), dims: vec![values.len() as i64], data_type: data_type::INT64, int64_data: values.to_vec(), ..Default::default() }
    }
    /// [`graph_bytes`] with a float32 graph input (quantisers read float32).
    fn graph_bytes32(nodes: Vec<NodeProto>, initializer: Vec<TensorProto>, input_dims: &[i64], output: &str) -> Vec<u8> {
        let mut input = value_info("x", input_dims);
        input.r#type.as_mut().unwrap().tensor_type.as_mut().unwrap().elem_type = data_type::FLOAT;
        let graph = GraphProto { node: nodes, initializer, input: vec![input], output: vec![undeclared(output)], ..Default::default() };
        ModelProto { graph: Some(graph), ir_version: Some(8), opset_import: vec![proto::OperatorSetIdProto { domain: String::new(), version: 13 }], ..Default::default() }.encode_to_vec()
    }
    fn grid() -> Vec<f64> {
        (-40..=40).map(|i| i as f64 / 16.0).collect()
    }

    /// Every chain of two clips of the raw input reads as exactly the
    /// composed function, whether it becomes the input transform or layers.
    #[test]
    fn chained_clips_of_the_input_compose_exactly() {
        let cases: [(&str, f64, &str, f64); 8] = [
            ("Max", 0.5, "Max", -1.0),
            ("Max", -1.0, "Max", 0.5),
            ("Min", 0.5, "Min", -1.0),
            ("Min", -1.0, "Min", 0.5),
            ("Max", -1.0, "Min", 0.5),
            ("Max", 0.5, "Min", -1.0),
            ("Min", 0.5, "Max", -1.0),
            ("Min", -1.0, "Max", 0.5),
        ];
        let apply = |op: &str, x: f64, c: f64| if op == "Max" { x.max(c) } else { x.min(c) };
        for (first, a, second, b) in cases {
            let bytes = graph_bytes(
                vec![node(first, &["x", "a"], "u", vec![]), node(second, &["u", "b"], "y", vec![])],
                vec![tensor("a", &[], &[a]), tensor("b", &[1], &[b])],
                &[1, 1],
                "y",
            );
            let net = read(&bytes).unwrap();
            net.validate().unwrap();
            for x in grid() {
                let expected = apply(second, apply(first, x, a), b);
                assert_eq!(net.eval(&[x]), vec![expected], "{second}({first}(x, {a}), {b}) at x = {x}");
            }
        }
    }

    /// A graph reading the raw input and a clipped copy of it: the clip is a
    /// layer, not an input transform that would also clip the raw use.
    #[test]
    fn raw_and_clipped_uses_of_the_input_stay_apart() {
        for (op, c) in [("Max", 0.0), ("Max", 0.75), ("Min", -0.5)] {
            let nodes = vec![
                node("MatMul", &["x", "w"], "raw", vec![]),
                node(op, &["x", "c"], "clipped", vec![]),
                node("MatMul", &["clipped", "v"], "through_clip", vec![]),
                node("Add", &["raw", "through_clip"], "y", vec![]),
            ];
            let inits = vec![tensor("w", &[2, 1], &[1.0, -2.0]), tensor("c", &[], &[c]), tensor("v", &[2, 1], &[3.0, 0.5])];
            // the raw use first and last
            for order in [nodes.clone(), vec![nodes[1].clone(), nodes[2].clone(), nodes[0].clone(), nodes[3].clone()]] {
                let net = read(&graph_bytes(order, inits.clone(), &[1, 2], "y")).unwrap();
                net.validate().unwrap();
                assert!(net.input_transform.is_none());
                for (x0, x1) in grid().into_iter().zip(grid().into_iter().rev()) {
                    let clip = |v: f64| if op == "Max" { v.max(c) } else { v.min(c) };
                    let expected = (x0 - 2.0 * x1) + (3.0 * clip(x0) + 0.5 * clip(x1));
                    let got = net.eval(&[x0, x1])[0];
                    assert!((got - expected).abs() <= 1e-12, "{op} {c} at ({x0}, {x1}): {got} vs {expected}");
                }
            }
        }
    }

    /// A prologue used once becomes the input transform; max and min of two
    /// input-dependent tensors and clips after normalising become layers.
    #[test]
    fn prologue_and_clip_layers_match_direct_evaluation() {
        // (max(x, -1) - 0.5) / 4 as the input transform, then max(., 0.1)
        let nodes = vec![
            node("Max", &["x", "lo"], "a", vec![]),
            node("Sub", &["a", "mean"], "b", vec![]),
            node("Div", &["b", "range"], "c", vec![]),
            node("Max", &["c", "floor"], "d", vec![]),
            node("Min", &["d", "c"], "y", vec![]),
        ];
        let inits = vec![tensor("lo", &[1], &[-1.0]), tensor("mean", &[1], &[0.5]), tensor("range", &[1], &[4.0]), tensor("floor", &[1], &[0.1])];
        let net = read(&graph_bytes(nodes, inits, &[1, 1], "y")).unwrap();
        net.validate().unwrap();
        let t = net.input_transform.as_ref().unwrap();
        assert_eq!((t.min[0], t.max[0], t.mean[0], t.range[0]), (-1.0, f64::INFINITY, 0.5, 4.0));
        for x in grid() {
            let c = (x.max(-1.0) - 0.5) / 4.0;
            let expected = c.max(0.1).min(c);
            assert!((net.eval(&[x])[0] - expected).abs() <= 1e-15, "at {x}");
        }
    }

    #[test]
    fn clipping_the_input_to_infinity_is_refused() {
        let bytes = graph_bytes(vec![node("Max", &["x", "c"], "y", vec![])], vec![tensor("c", &[], &[f64::INFINITY])], &[1, 1], "y");
        let err = read(&bytes).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Unsupported);
        assert!(err.context.starts_with("node 'y' (Max): Max makes input element 0 the constant inf"), "{}", err.context);
    }

    #[test]
    fn division_by_a_power_of_two_is_exact_and_otherwise_rounds_once() {
        for (c, factor) in [(4.0, 0.25), (3.0, 1.0 / 3.0)] {
            let nodes = vec![node("MatMul", &["x", "w"], "m", vec![]), node("Div", &["m", "c"], "y", vec![])];
            let net = read(&graph_bytes(nodes, vec![tensor("w", &[1, 1], &[0.7]), tensor("c", &[], &[c])], &[1, 1], "y")).unwrap();
            assert_eq!(net.layers[0].terms[0].weights.data, vec![0.7 * factor]);
        }
    }

    fn error_of(bytes: &[u8]) -> crate::error::Error {
        match std::panic::catch_unwind(|| read(bytes)) {
            Ok(result) => result.expect_err("the model must be refused"),
            Err(_) => panic!("the reader panicked"),
        }
    }

    /// The default domain imported twice, as '' and 'ai.onnx' at different
    /// opsets (onnxruntime reads each node at its own name's version), is
    /// refused; at the same opset, or only one of the two, it is read. Before
    /// IR version 4 an initializer that is not a graph input is refused
    /// (onnxruntime does not load such a model); from IR 4 it is read.
    #[test]
    fn the_default_domain_imported_twice_and_ir3_initializers() {
        let relu = || graph_bytes(vec![node("Relu", &["x"], "y", vec![])], vec![], &[1, 1], "y");
        let with_imports = |imports: &[(&str, i64)]| {
            let mut model = ModelProto::decode(relu().as_slice()).unwrap();
            model.opset_import = imports.iter().map(|&(domain, version)| proto::OperatorSetIdProto { domain: domain.into(), version }).collect();
            model.encode_to_vec()
        };
        let err = error_of(&with_imports(&[("", 13), ("ai.onnx", 7)]));
        assert_eq!(err.kind, crate::error::ErrorKind::Unsupported);
        assert!(err.context.contains("imports the default ONNX domain twice, as '' at opset 13 and as 'ai.onnx' at opset 7"), "{}", err.context);
        assert!(error_of(&with_imports(&[("ai.onnx", 13), ("", 1)])).context.contains("twice"));
        for imports in [&[("", 13), ("ai.onnx", 13)][..], &[("ai.onnx", 13)][..], &[("", 13), ("com.example", 1)][..]] {
            assert!(read(&with_imports(imports)).is_ok(), "{imports:?}");
        }
        let at_ir = |ir: i64, listed: bool| {
            let mut model = ModelProto::decode(relu().as_slice()).unwrap();
            model.ir_version = Some(ir);
            model.opset_import = vec![proto::OperatorSetIdProto { domain: String::new(), version: 7 }];
            let graph = model.graph.as_mut().unwrap();
            graph.initializer.push(tensor("unused", &[1], &[0.0]));
            if listed {
                graph.input.push(value_info("unused", &[1]));
            }
            model.encode_to_vec()
        };
        let err = error_of(&at_ir(3, false));
        assert_eq!(err.kind, crate::error::ErrorKind::Malformed);
        assert!(err.context.contains("initializer 'unused' is not a graph input, which IR version 3 requires"), "{}", err.context);
        assert!(read(&at_ir(3, true)).is_ok());
        assert!(read(&at_ir(4, false)).is_ok());
    }

    /// Models onnxruntime refuses to load are refused too, with the node or
    /// the input named: an attribute on an operator that defines none (a
    /// Relu with an 'alpha' was read as a plain Relu), and a graph input of
    /// an integer type feeding float operators.
    #[test]
    fn models_onnxruntime_refuses_are_refused() {
        let err = error_of(&graph_bytes(vec![node("Relu", &["x"], "y", vec![int("alpha", 1)])], vec![], &[1, 1], "y"));
        assert_eq!(err.kind, crate::error::ErrorKind::Unsupported);
        assert_eq!(err.context, "node 'y' (Relu): Relu has an attribute 'alpha', which Relu does not define at opset 13");
        let err = error_of(&graph_bytes(vec![node("Add", &["x", "x"], "y", vec![int("broadcast", 1)])], vec![], &[1, 1], "y"));
        assert!(err.context.contains("Add has an attribute 'broadcast'"), "{}", err.context);
        let mut graph = GraphProto { node: vec![node("Relu", &["x"], "y", vec![])], input: vec![value_info("x", &[1, 1])], output: vec![value_info("y", &[1])], ..Default::default() };
        graph.input[0].r#type.as_mut().unwrap().tensor_type.as_mut().unwrap().elem_type = data_type::INT32;
        let err = error_of(&ModelProto { graph: Some(graph), ir_version: Some(8), opset_import: vec![proto::OperatorSetIdProto { domain: String::new(), version: 13 }], ..Default::default() }.encode_to_vec());
        assert_eq!(err.context, "input 'x' has element type int32 (deltacert reads float32, float64 or float16 inputs)");
        // the same graphs without: read
        assert!(read(&graph_bytes(vec![node("Relu", &["x"], "y", vec![])], vec![], &[1, 1], "y")).is_ok());
    }

    #[test]
    fn dequantize_with_an_empty_scale_is_refused() {
        let q = TensorProto { name: "q".into(), dims: vec![1, 1], data_type: data_type::INT8, raw_data: vec![3], ..Default::default() };
        let nodes = vec![node("DequantizeLinear", &["q", "s"], "w", vec![]), node("MatMul", &["x", "w"], "y", vec![])];
        for scale in [tensor32("s", &[0], &[]), tensor32("s", &[2, 0], &[])] {
            let err = error_of(&graph_bytes32(nodes.clone(), vec![q.clone(), scale], &[1, 1], "y"));
            assert!(err.context.starts_with("node 'w' (DequantizeLinear): "), "{}", err.context);
        }
        // a zero point of another length than the scale
        let zero = TensorProto { name: "z".into(), dims: vec![0], data_type: data_type::INT8, ..Default::default() };
        let nodes = vec![node("DequantizeLinear", &["q", "s", "z"], "w", vec![]), node("MatMul", &["x", "w"], "y", vec![])];
        let err = error_of(&graph_bytes32(nodes, vec![q, tensor32("s", &[], &[0.5]), zero], &[1, 1], "y"));
        assert!(err.context.contains("zero point of shape [0] against a scale of shape []"), "{}", err.context);
    }

    /// Sizes from the file are checked before anything is allocated.
    #[test]
    fn oversized_models_are_refused_before_allocating() {
        use crate::error::ErrorKind;
        // Relu directly on a 100000-wide input would need a 10^10-entry identity
        let err = error_of(&graph_bytes(vec![node("Relu", &["x"], "y", vec![])], vec![], &[1, 100_000], "y"));
        assert_eq!(err.kind, ErrorKind::Unsupported);
        assert!(err.context.starts_with("node 'y' (Relu): an identity map would be a 100000 x 100000 matrix"), "{}", err.context);
        // a 1x1 convolution of a 5000 x 5000 image: a 2.5e7 x 2.5e7 dense map
        let conv = vec![node("Conv", &["x", "k"], "y", vec![])];
        let err = error_of(&graph_bytes(conv, vec![tensor("k", &[1, 1, 1, 1], &[1.0])], &[1, 1, 5000, 5000], "y"));
        assert_eq!(err.kind, ErrorKind::Unsupported);
        assert!(err.context.starts_with("node 'y' (Conv): the Conv lowered to a dense map would be a 25000000 x 25000000 matrix"), "{}", err.context);
        // padding of 100000 and of 2^62
        for pad in [100_000, 1 << 62] {
            let conv = vec![node("Conv", &["x", "k"], "y", vec![ints("pads", &[pad, pad, pad, pad])])];
            let err = error_of(&graph_bytes(conv, vec![tensor("k", &[1, 1, 1, 1], &[1.0])], &[1, 1, 2, 2], "y"));
            assert_eq!(err.kind, ErrorKind::Unsupported, "{}", err.context);
            assert!(err.context.starts_with("node 'y' (Conv): "), "{}", err.context);
        }
        // dimensions whose product overflows, with no data
        for dims in [vec![1i64 << 62, 4], vec![1 << 32, 1 << 32], vec![1 << 27]] {
            let big = TensorProto { name: "w".into(), dims: dims.clone(), data_type: data_type::FLOAT, ..Default::default() };
            let err = error_of(&graph_bytes(vec![node("MatMul", &["x", "w"], "y", vec![])], vec![big], &[1, 1], "y"));
            assert_eq!(err.kind, ErrorKind::Unsupported, "{dims:?}: {}", err.context);
            assert!(err.context.starts_with("initializer 'w': shape"), "{}", err.context);
        }
        // an input too wide to hold
        let err = error_of(&graph_bytes(vec![node("Relu", &["x"], "y", vec![])], vec![], &[1, 1 << 20, 1 << 20], "y"));
        assert!(err.context.starts_with("input 'x': shape [1048576, 1048576] has more than"), "{}", err.context);
        // pre-multiplying two large maps
        let wide: Vec<f64> = vec![0.5; 4096 * 4096];
        let nodes = vec![node("MatMul", &["x", "w"], "a", vec![]), node("MatMul", &["a", "w"], "b", vec![]), node("MatMul", &["b", "w"], "y", vec![])];
        let err = error_of(&graph_bytes(nodes, vec![tensor("w", &[4096, 4096], &wide)], &[1, 4096], "y"));
        assert!(err.context.starts_with("node 'b' (MatMul): pre-multiplying a 4096 x 4096 map by a 4096 x 4096 map exceeds"), "{}", err.context);
    }

    #[test]
    fn leaky_relu_default_slope_is_the_float32_value() {
        let net = read(&graph_bytes(vec![node("LeakyRelu", &["x"], "y", vec![])], vec![], &[1, 1], "y")).unwrap();
        assert_eq!(net.layers[0].activation, Activation::LeakyRelu { alpha: 0.01f32 as f64 });
        assert_eq!(net.eval(&[-1.0]), vec![-(0.01f32 as f64)]);
    }

    #[test]
    fn variadic_and_shape_changing_operations_are_refused() {
        // Max of three inputs, Add of [1, 3] and [3, 1] shaped tensors, Gemm on a matrix per sample
        let three = vec![node("Max", &["x", "a", "b"], "y", vec![])];
        let err = error_of(&graph_bytes(three, vec![tensor("a", &[], &[0.0]), tensor("b", &[], &[1.0])], &[1, 1], "y"));
        assert!(err.context.contains("Max with 3 inputs"), "{}", err.context);
        let nodes = vec![node("Reshape", &["x", "s"], "column", vec![]), node("Add", &["x", "column"], "y", vec![])];
        let err = error_of(&graph_bytes(nodes, vec![shape_tensor("s", &[1, 3, 1])], &[1, 1, 3], "y"));
        assert!(err.context.contains("broadcasting between them is not supported"), "{}", err.context);
        let nodes = vec![node("Gemm", &["x", "w"], "y", vec![])];
        let err = error_of(&graph_bytes(nodes, vec![tensor("w", &[6, 1], &[1.0; 6])], &[1, 2, 3], "y"));
        assert!(err.context.contains("Gemm on a tensor of per-sample shape [2, 3]"), "{}", err.context);
        let nodes = vec![node("Relu", &["x"], "y", vec![])];
        let err = error_of(&graph_bytes(nodes, vec![], &[2, 3], "y"));
        assert!(err.context.contains("batch size 2"), "{}", err.context);
        let _ = int("unused", 0);
    }

    #[test]
    fn names_with_control_characters_give_one_line_errors() {
        let mut argmax = node("ArgMax", &["x"], "y", vec![]);
        argmax.name = "two\nlines".into();
        let err = error_of(&graph_bytes(vec![argmax], vec![], &[1, 3], "y"));
        assert_eq!(err.context, "node 'two\\nlines' (ArgMax): unsupported operator ArgMax");
    }

    /// The two-layer network of the layout tests: `W2 relu(W1 x + b1) + b2`.
    const W1: [f64; 6] = [1.0, -2.0, 0.5, 0.25, -1.5, 3.0];
    const B1: [f64; 3] = [0.5, -0.25, 0.125];
    const W2: [f64; 6] = [2.0, -1.0, 0.5, -0.75, 1.25, 1.0];
    const B2: [f64; 2] = [-0.5, 0.375];

    fn by_hand(x: &[f64]) -> Vec<f64> {
        let hidden: Vec<f64> = (0..3).map(|i| (W1[2 * i] * x[0] + W1[2 * i + 1] * x[1] + B1[i]).max(0.0)).collect();
        (0..2).map(|i| (0..3).map(|j| W2[3 * i + j] * hidden[j]).sum::<f64>() + B2[i]).collect()
    }

    fn layout_points() -> Vec<[f64; 2]> {
        grid().into_iter().zip(grid().into_iter().rev()).map(|(a, b)| [a, b * 0.5]).collect()
    }

    /// The VNN-COMP layout: a 1-D input `[n]` (or a column `[n, 1]`),
    /// `MatMul(W, x)` with the weight first, `Add` of a bias, `Relu`.
    #[test]
    fn weight_first_matmul_on_an_unbatched_input_is_w_x() {
        let nodes = vec![
            node("MatMul", &["W1", "x"], "m1", vec![]),
            node("Add", &["m1", "b1"], "v1", vec![]),
            node("Relu", &["v1"], "a1", vec![]),
            node("MatMul", &["W2", "a1"], "m2", vec![]),
            node("Add", &["m2", "b2"], "y", vec![]),
        ];
        for (input, bias1, bias2) in [(vec![2i64], vec![3i64], vec![2i64]), (vec![2, 1], vec![3, 1], vec![2, 1])] {
            let inits = vec![tensor("W1", &[3, 2], &W1), tensor("b1", &bias1, &B1), tensor("W2", &[2, 3], &W2), tensor("b2", &bias2, &B2)];
            let net = read(&graph_bytes(nodes.clone(), inits, &input, "y")).unwrap();
            net.validate().unwrap();
            assert_eq!((net.input_dim, net.output_dim(), net.layers.len()), (2, 2, 2), "input {input:?}");
            assert!(!net.output_softmax);
            for x in layout_points() {
                let (got, expected) = (net.eval(&x), by_hand(&x));
                assert!(got.iter().zip(&expected).all(|(a, b)| (a - b).abs() <= 1e-14), "input {input:?} at {x:?}: {got:?} vs {expected:?}");
            }
        }
        // the batched [1, 2] reading of the usual layout is unchanged
        let nodes = vec![node("MatMul", &["x", "W"], "m", vec![]), node("Add", &["m", "b"], "y", vec![])];
        let net = read(&graph_bytes(nodes, vec![tensor("W", &[2, 1], &[2.0, -3.0]), tensor("b", &[1], &[0.5])], &[1, 2], "y")).unwrap();
        assert_eq!(net.eval(&[1.0, 1.0]), vec![-0.5]);
    }

    /// Without a batch axis, Flatten and Reshape only change the shape:
    /// `[2] -> [2, 1] -> W x -> [3, 1] -> [3] -> [1, 3] -> Gemm`.
    #[test]
    fn reshape_and_flatten_without_a_batch_axis_keep_the_order() {
        let nodes = vec![
            node("Reshape", &["x", "column"], "c", vec![]),
            node("MatMul", &["W1", "c"], "m1", vec![]),
            node("Reshape", &["m1", "flat"], "f", vec![]),
            node("Add", &["f", "b1"], "v1", vec![]),
            node("Relu", &["v1"], "a1", vec![]),
            node("Flatten", &["a1"], "row", vec![int("axis", 0)]),
            node("Gemm", &["row", "W2", "b2"], "y", vec![int("transB", 1)]),
        ];
        let inits = vec![
            shape_tensor("column", &[-1, 1]),
            tensor("W1", &[3, 2], &W1),
            shape_tensor("flat", &[-1]),
            tensor("b1", &[3], &B1),
            tensor("W2", &[2, 3], &W2),
            tensor("b2", &[2], &B2),
        ];
        let net = read(&graph_bytes(nodes, inits, &[2], "y")).unwrap();
        net.validate().unwrap();
        for x in layout_points() {
            let (got, expected) = (net.eval(&x), by_hand(&x));
            assert!(got.iter().zip(&expected).all(|(a, b)| (a - b).abs() <= 1e-14), "at {x:?}: {got:?} vs {expected:?}");
        }
    }

    #[test]
    fn unsupported_layouts_are_refused_naming_the_node() {
        let w = || tensor("W", &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        // a scalar input
        let err = error_of(&graph_bytes(vec![node("Relu", &["x"], "y", vec![])], vec![], &[], "y"));
        assert!(err.context.starts_with("input 'x' is a scalar (rank 0)"), "{}", err.context);
        // MatMul of two constants
        let nodes = vec![node("MatMul", &["W", "W"], "k", vec![]), node("MatMul", &["x", "k"], "y", vec![])];
        let err = error_of(&graph_bytes(nodes, vec![w()], &[2], "y"));
        assert_eq!(err.context, "node 'k' (MatMul): MatMul of two constants is not supported (fold it into one initializer)");
        // MatMul of two input-dependent tensors
        let nodes = vec![node("Reshape", &["x", "s"], "row", vec![]), node("MatMul", &["x", "row"], "y", vec![])];
        let err = error_of(&graph_bytes(nodes, vec![shape_tensor("s", &[1, 2])], &[2, 1], "y"));
        assert_eq!(err.context, "node 'y' (MatMul): MatMul of two input-dependent tensors is not affine");
        // W x with x a batch of vectors [1, n] (numpy would need n = 1)
        let err = error_of(&graph_bytes(vec![node("MatMul", &["W", "x"], "y", vec![])], vec![w()], &[1, 2], "y"));
        assert!(err.context.starts_with("node 'y' (MatMul): MatMul of a constant by a tensor of per-sample shape [2]"), "{}", err.context);
        // a Softmax read by a later node, and a Softmax over the batch axis
        let nodes = vec![node("Softmax", &["x"], "p", vec![]), node("Relu", &["p"], "y", vec![])];
        let err = error_of(&graph_bytes(nodes, vec![], &[1, 3], "y"));
        assert!(err.context.starts_with("node 'y' (Relu): reads the output of a Softmax"), "{}", err.context);
        let err = error_of(&graph_bytes(vec![node("Softmax", &["x"], "y", vec![int("axis", 0)])], vec![], &[1, 3], "y"));
        assert!(err.context.starts_with("node 'y' (Softmax): Softmax over axis 0 of a rank-2 tensor"), "{}", err.context);
        for op in ["LogSoftmax", "ArgMax"] {
            let nodes = vec![node("MatMul", &["x", "W"], "z", vec![]), node(op, &["z"], "y", vec![])];
            let err = error_of(&graph_bytes(nodes, vec![w()], &[1, 2], "y"));
            assert_eq!(err.context, format!("node 'y' ({op}): unsupported operator {op}"));
        }
    }

    /// A classifier ending in Softmax: the layers end with the logits, eval
    /// gives the probabilities, and the writer writes the Softmax back.
    #[test]
    fn softmax_at_the_output_is_recorded_and_written_back() {
        let nodes = vec![
            node("Gemm", &["x", "W1", "b1"], "v1", vec![int("transB", 1)]),
            node("Relu", &["v1"], "a1", vec![]),
            node("Gemm", &["a1", "W2", "b2"], "logits", vec![int("transB", 1)]),
            node("Softmax", &["logits"], "y", vec![int("axis", 1)]),
        ];
        let inits = vec![tensor("W1", &[3, 2], &W1), tensor("b1", &[3], &B1), tensor("W2", &[2, 3], &W2), tensor("b2", &[2], &B2)];
        let net = read(&graph_bytes(nodes, inits, &[1, 2], "y")).unwrap();
        net.validate().unwrap();
        assert!(net.output_softmax);
        assert_eq!(net.layers.len(), 2);
        let written = crate::io::onnx::write(&net, &crate::io::onnx::ExportFormat::Float64).unwrap();
        let again = read(&written).unwrap();
        assert!(again.output_softmax);
        for x in layout_points() {
            let z = by_hand(&x);
            let total = z[0].exp() + z[1].exp();
            let expected = [z[0].exp() / total, z[1].exp() / total];
            for got in [net.eval(&x), again.eval(&x)] {
                assert!((got[0] - expected[0]).abs() <= 1e-14 && (got[1] - expected[1]).abs() <= 1e-14, "at {x:?}: {got:?} vs {expected:?}");
            }
            assert_eq!(net.logits().eval(&x), again.logits().eval(&x));
        }
    }

    /// Every float16 bit pattern converts exactly (compared with the `half` crate).
    #[test]
    fn float16_conversion_is_exact_for_all_bit_patterns() {
        for bits in 0..=u16::MAX {
            let ours = f16_to_f64(bits);
            let reference = half::f16::from_bits(bits).to_f64();
            if reference.is_nan() {
                assert!(ours.is_nan(), "{bits:#06x}");
            } else {
                assert_eq!(ours.to_bits(), reference.to_bits(), "{bits:#06x}: {ours} vs {reference}");
            }
        }
        assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
        assert_eq!(f16_to_f64(0x7bff), 65504.0);
        assert_eq!(f16_to_f64(0x8000).to_bits(), (-0.0f64).to_bits());
    }

    fn small_int(name: &str, dtype: i32, values: &[i64]) -> TensorProto {
        let raw = values.iter().map(|&v| v as u8).collect();
        TensorProto { name: name.into(), dims: vec![], data_type: dtype, raw_data: raw, ..Default::default() }
    }

    /// input -> Q/DQ (uint8, z = 0: clamps at 0) -> MatMul -> Add of an int32
    /// bias DequantizeLinear -> Q/DQ (int8, z = -128: a folded ReLU) ->
    /// MatMul -> Q/DQ (int8, z = 3) -> output: three quantiser layers and the
    /// output layer, evaluated at ties, saturations and ordinary points.
    #[test]
    fn qdq_activations_read_as_quantiser_layers() {
        let nodes = vec![
            node("QuantizeLinear", &["x", "s_in", "z_in"], "xq", vec![]),
            node("DequantizeLinear", &["xq", "s_in", "z_in"], "xd", vec![]),
            node("MatMul", &["xd", "w1"], "h", vec![]),
            node("DequantizeLinear", &["b1q", "s_b"], "b1", vec![]),
            node("Add", &["h", "b1"], "hb", vec![]),
            node("QuantizeLinear", &["hb", "s_h", "z_h"], "hq", vec![]),
            node("DequantizeLinear", &["hq", "s_h", "z_h"], "hd", vec![]),
            node("MatMul", &["hd", "w2"], "o", vec![]),
            node("QuantizeLinear", &["o", "s_o", "z_o"], "oq", vec![]),
            node("DequantizeLinear", &["oq", "s_o", "z_o"], "y", vec![]),
        ];
        let b1q = TensorProto { name: "b1q".into(), dims: vec![2], data_type: data_type::INT32, int32_data: vec![3, -1000], ..Default::default() };
        let initializers = vec![
            tensor32("s_in", &[], &[0.5]),
            small_int("z_in", data_type::UINT8, &[0]),
            tensor32("w1", &[1, 2], &[1.0, -1.0]),
            b1q,
            tensor32("s_b", &[], &[0.25]),
            tensor32("s_h", &[], &[0.25]),
            small_int("z_h", data_type::INT8, &[-128]),
            tensor32("w2", &[2, 1], &[1.0, 0.5]),
            tensor32("s_o", &[], &[0.125]),
            small_int("z_o", data_type::INT8, &[3]),
        ];
        let net = read(&graph_bytes32(nodes, initializers, &[1, 1], "y")).unwrap();
        net.validate().unwrap();
        let kinds: Vec<Activation> = net.layers.iter().map(|l| l.activation).collect();
        assert_eq!(
            kinds,
            vec![
                Activation::Quantize { scale: 0.5, zero_point: 0.0, qmin: 0.0, qmax: 255.0 },
                Activation::Quantize { scale: 0.25, zero_point: -128.0, qmin: -128.0, qmax: 127.0 },
                Activation::Quantize { scale: 0.125, zero_point: 3.0, qmin: -128.0, qmax: 127.0 },
                Activation::Identity
            ]
        );
        assert_eq!(net.layers[1].bias, vec![0.75, -250.0]);
        // by hand: xq = s_in clamp(rne(x / 0.5), 0, 255); h = (xq + 0.75, -xq - 250)
        // -> quantised by 0.25 with a floor at 0; o = h0 + h1 / 2 -> 0.125 (clamp(rne(8 o) + 3) - 3)
        let by_hand = |x: f64| {
            let xq = 0.5 * (x / 0.5).round_ties_even().clamp(0.0, 255.0);
            let h0 = 0.25 * ((xq + 0.75) / 0.25).round_ties_even().clamp(0.0, 255.0);
            let o: f64 = h0; // h1 = -xq - 250 is clamped to 0
            0.125 * ((o / 0.125).round_ties_even() + 3.0).clamp(-128.0, 127.0) - 0.125 * 3.0
        };
        for x in [-3.0, 0.0, 0.25, 0.75, 1.25, 1.3, 2.0, 7.7, 14.9, 200.0] {
            assert_eq!(net.eval(&[x]), vec![by_hand(x)], "x = {x}");
        }
        // the ties: x / 0.5 = 0.5 -> 0, 1.5 -> 2, 2.5 -> 2 (half to even)
        assert_eq!(net.eval(&[0.25]), net.eval(&[0.0]));
        assert_eq!(net.eval(&[0.75]), net.eval(&[1.0]));
        assert_eq!(net.eval(&[1.25]), net.eval(&[1.0]));
        // the output saturates at 0.125 (127 - 3)
        assert_eq!(net.eval(&[200.0]), vec![0.125 * 124.0]);
    }

    /// A Relu that onnxruntime did not fold stays its own layer before the quantiser.
    #[test]
    fn relu_before_a_quantiser_is_its_own_layer() {
        let nodes = vec![
            node("MatMul", &["x", "w"], "h", vec![]),
            node("Relu", &["h"], "r", vec![]),
            node("QuantizeLinear", &["r", "s"], "rq", vec![]),
            node("DequantizeLinear", &["rq", "s"], "y", vec![]),
        ];
        let net = read(&graph_bytes32(nodes, vec![tensor32("w", &[1, 1], &[-1.0]), tensor32("s", &[], &[0.5])], &[1, 1], "y")).unwrap();
        assert_eq!(net.layers[0].activation, Activation::Relu);
        // no zero point: uint8, zero point 0
        assert_eq!(net.layers[1].activation, Activation::Quantize { scale: 0.5, zero_point: 0.0, qmin: 0.0, qmax: 255.0 });
        assert_eq!(net.eval(&[-1.3]), vec![1.5]);
        assert_eq!(net.eval(&[-1.25]), vec![1.0]);
        assert_eq!(net.eval(&[-1000.0]), vec![127.5]);
        assert_eq!(net.eval(&[2.0]), vec![0.0]);
        // opset 21: no zero point, output_dtype int8 on the QuantizeLinear;
        // its DequantizeLinear reads int8 (values as onnxruntime gives them)
        let nodes = vec![node("QuantizeLinear", &["x", "s"], "xq", vec![int("output_dtype", data_type::INT8 as i64)]), node("DequantizeLinear", &["xq", "s"], "y", vec![])];
        let net = read(&at_opset(graph_bytes32(nodes, vec![tensor32("s", &[], &[0.5])], &[1, 1], "y"), 21)).unwrap();
        assert_eq!(net.layers[0].activation, Activation::Quantize { scale: 0.5, zero_point: 0.0, qmin: -128.0, qmax: 127.0 });
        assert_eq!(net.eval(&[-70.2]), vec![-64.0]);
        assert_eq!(net.eval(&[-0.25]), vec![0.0]);
        assert_eq!(net.eval(&[1.75]), vec![2.0]);
    }

    /// Cast between float types of an input-dependent value is the identity;
    /// a constant's cast (a change of the weight), a cast out of an integer
    /// graph input (integer arithmetic before it) and a cast to another type
    /// are refused.
    #[test]
    fn casts_are_read_only_where_they_change_no_real_value() {
        let cast = |input: &str, output: &str, to: i32| node("Cast", &[input], output, vec![int("to", to as i64)]);
        // the weight in float64 and in float32 (after a cast to float32)
        let w = || tensor("w", &[1, 1], &[2.0]);
        let w32 = || tensor32("w", &[1, 1], &[2.0]);
        // x (float64) -> Cast float32 -> Gemm
        let nodes = vec![cast("x", "xc", data_type::FLOAT), node("Gemm", &["xc", "w"], "y", vec![int("transB", 1)])];
        let net = read(&graph_bytes(nodes, vec![w32()], &[1, 1], "y")).unwrap();
        assert_eq!(net.eval(&[0.1]), vec![0.2]);
        // a cast constant: 0.1 in float64 cast to float32 is another number
        let nodes = vec![cast("c", "cc", data_type::FLOAT), node("Add", &["x", "cc"], "y", vec![])];
        let err = error_of(&graph_bytes(nodes, vec![tensor("c", &[1], &[0.1])], &[1, 1], "y"));
        assert!(err.context.contains("Cast of a constant"), "{}", err.context);
        // to float16 or an integer type
        for to in [data_type::FLOAT16, data_type::INT32] {
            let nodes = vec![cast("x", "xc", to), node("Gemm", &["xc", "w"], "y", vec![int("transB", 1)])];
            let err = error_of(&graph_bytes(nodes, vec![w()], &[1, 1], "y"));
            assert!(err.context.starts_with("node 'xc' (Cast): Cast to type"), "{}", err.context);
        }
        // a float32 round trip inside a float64 computation: refused (it rounds)
        let nodes = vec![node("Gemm", &["x", "w"], "h", vec![int("transB", 1)]), cast("h", "h32", data_type::FLOAT), cast("h32", "h64", data_type::DOUBLE), node("Gemm", &["h64", "w"], "y", vec![int("transB", 1)])];
        let err = error_of(&graph_bytes(nodes, vec![w()], &[1, 1], "y"));
        assert!(err.context.starts_with("node 'h64' (Cast): Cast to float64 of a value computed from the Cast to float32 'h32'"), "{}", err.context);
        let nodes = vec![cast("x", "x32", data_type::FLOAT), cast("x32", "x64", data_type::DOUBLE), node("Gemm", &["x64", "w"], "y", vec![int("transB", 1)])];
        assert!(error_of(&graph_bytes(nodes, vec![w()], &[1, 1], "y")).context.contains("computed from the Cast to float32 'x32'"));
        // the rounding is followed through activations and sums, not only the cast's own output
        let nodes = vec![
            node("Gemm", &["x", "w"], "h", vec![int("transB", 1)]),
            cast("h", "h32", data_type::FLOAT),
            node("Relu", &["h32"], "r", vec![]),
            cast("x", "x32", data_type::FLOAT),
            node("Add", &["r", "x32"], "s", vec![]),
            cast("s", "s64", data_type::DOUBLE),
            node("Gemm", &["s64", "w"], "y", vec![int("transB", 1)]),
        ];
        let err = error_of(&graph_bytes(nodes, vec![w()], &[1, 1], "y"));
        assert!(err.context.starts_with("node 's64' (Cast): Cast to float64 of a value computed from the Cast to float32 'h32'"), "{}", err.context);
        // a float64 branch that reads no rounded value is read, whatever the node order
        let nodes = vec![
            cast("x", "x32", data_type::FLOAT),
            cast("x", "x64", data_type::DOUBLE),
            node("Add", &["x64", "c"], "xn", vec![]),
            cast("xn", "xn32", data_type::FLOAT),
            node("Gemm", &["xn32", "w"], "h", vec![int("transB", 1)]),
            node("Add", &["h", "x32"], "y", vec![]),
        ];
        let net = read(&graph_bytes(nodes, vec![w32(), tensor("c", &[1], &[0.5])], &[1, 1], "y")).unwrap();
        assert_eq!(net.eval(&[0.25]), vec![1.75]);
        // a float64 part, then float32 (the written input normalisation): read
        let nodes = vec![cast("x", "x64", data_type::DOUBLE), node("Add", &["x64", "c"], "xn", vec![]), cast("xn", "x32", data_type::FLOAT), node("Gemm", &["x32", "w"], "y", vec![int("transB", 1)])];
        let net = read(&graph_bytes(nodes, vec![w32(), tensor("c", &[1], &[0.5])], &[1, 1], "y")).unwrap();
        assert_eq!(net.eval(&[0.25]), vec![1.5]);
        // an integer graph input (Div would truncate before the cast): refused as an input
        let nodes = vec![node("Div", &["x", "two"], "h", vec![]), cast("h", "hc", data_type::FLOAT), node("Gemm", &["hc", "w"], "y", vec![int("transB", 1)])];
        let mut graph = GraphProto { node: nodes, initializer: vec![w(), TensorProto { name: "two".into(), dims: vec![], data_type: data_type::INT32, int32_data: vec![2], ..Default::default() }], input: vec![value_info("x", &[1, 1])], output: vec![value_info("y", &[1])], ..Default::default() };
        graph.input[0].r#type.as_mut().unwrap().tensor_type.as_mut().unwrap().elem_type = data_type::INT32;
        let err = error_of(&ModelProto { graph: Some(graph), ir_version: Some(8), opset_import: vec![proto::OperatorSetIdProto { domain: String::new(), version: 13 }], ..Default::default() }.encode_to_vec());
        assert!(err.context.contains("input 'x' has element type int32"), "{}", err.context);
    }

    /// Quantisation the reader does not model is refused with one line
    /// naming the node.
    #[test]
    fn unsupported_quantisation_is_refused_by_name() {
        let s = || tensor32("s", &[], &[0.5]);
        // a quantised tensor read by Relu, and one that is the graph output
        let nodes = vec![node("QuantizeLinear", &["x", "s"], "xq", vec![]), node("Relu", &["xq"], "y", vec![])];
        let err = error_of(&graph_bytes32(nodes, vec![s()], &[1, 1], "y"));
        assert!(err.context.starts_with("node 'y' (Relu): the output of QuantizeLinear 'xq' is read by an operator other than DequantizeLinear"), "{}", err.context);
        let err = error_of(&graph_bytes32(vec![node("QuantizeLinear", &["x", "s"], "y", vec![])], vec![s()], &[1, 1], "y"));
        assert!(err.context.starts_with("graph output 'y': the output of QuantizeLinear 'y'"), "{}", err.context);
        // per-axis activation quantisation
        let nodes = vec![node("QuantizeLinear", &["x", "s2"], "xq", vec![]), node("DequantizeLinear", &["xq", "s2"], "y", vec![])];
        let err = error_of(&graph_bytes32(nodes, vec![tensor32("s2", &[2], &[0.5, 0.25])], &[1, 2], "y"));
        assert!(err.context.starts_with("node 'xq' (QuantizeLinear): ") && err.context.contains("per-axis"), "{}", err.context);
        // a 16-bit output type
        let nodes = vec![node("QuantizeLinear", &["x", "s"], "xq", vec![int("output_dtype", 5)]), node("DequantizeLinear", &["xq", "s"], "y", vec![])];
        let err = error_of(&at_opset(graph_bytes32(nodes, vec![s()], &[1, 1], "y"), 21));
        assert!(err.context.starts_with("node 'xq' (QuantizeLinear): ") && err.context.contains("only 8-bit"), "{}", err.context);
        // a pair with different scales (a requantisation)
        let nodes = vec![node("QuantizeLinear", &["x", "s"], "xq", vec![]), node("DequantizeLinear", &["xq", "t"], "y", vec![])];
        let err = error_of(&graph_bytes32(nodes, vec![s(), tensor32("t", &[], &[0.25])], &[1, 1], "y"));
        assert!(err.context.starts_with("node 'y' (DequantizeLinear): ") && err.context.contains("requantisation"), "{}", err.context);
        // the QOperator format
        for op in ["QLinearMatMul", "MatMulInteger", "QLinearConv", "ConvInteger", "QLinearAdd"] {
            let mut n = node(op, &["x", "s"], "y", vec![]);
            if op == "QLinearAdd" {
                n.domain = "com.microsoft".into();
            }
            let err = error_of(&graph_bytes32(vec![n], vec![s()], &[1, 1], "y"));
            assert!(err.context.starts_with(&format!("node 'y' ({op}): {op} is onnxruntime's QOperator format; export QDQ")), "{}", err.context);
        }
        // an int32 level of 2^29 or more
        let big = TensorProto { name: "q".into(), dims: vec![1], data_type: data_type::INT32, int32_data: vec![1 << 29], ..Default::default() };
        let nodes = vec![node("DequantizeLinear", &["q", "s"], "b", vec![]), node("Add", &["x", "b"], "y", vec![])];
        let err = error_of(&graph_bytes32(nodes.clone(), vec![big, s()], &[1, 1], "y"));
        assert!(err.context.starts_with("node 'b' (DequantizeLinear): ") && err.context.contains("2^29"), "{}", err.context);
        let fine = TensorProto { name: "q".into(), dims: vec![1], data_type: data_type::INT32, int32_data: vec![(1 << 29) - 1], ..Default::default() };
        let net = read(&graph_bytes32(nodes.clone(), vec![fine, tensor32("s", &[], &[0.1f32 as f64])], &[1, 1], "y")).unwrap();
        assert_eq!(net.layers[0].bias, vec![((1i64 << 29) - 1) as f64 * (0.1f32 as f64)]);
        // a float64 scale (no type ONNX allows a scale: onnxruntime refuses it)
        let odd = TensorProto { name: "q".into(), dims: vec![1], data_type: data_type::INT32, int32_data: vec![(1 << 29) - 1], ..Default::default() };
        let err = error_of(&graph_bytes32(nodes, vec![odd, tensor("s", &[], &[0.1])], &[1, 1], "y"));
        assert_eq!(err.context, "node 'b' (DequantizeLinear): DequantizeLinear scale 's' of type float64 (float32, and from opset 19 float16, are allowed)");
    }
}
