//! ONNX → IR. The graph is executed *symbolically*: every tensor is either a
//! constant or an affine expression `sum_j M_j a^j + c` of the activation
//! vectors built so far. Linear operators (Gemm, MatMul, Conv, Add, Sub, Mul,
//! Div, Flatten, Reshape) transform expressions; an activation node turns the
//! expression into the pre-activation of a new IR layer. One registry
//! ([`apply_node`]) maps ONNX operators to these rules; an unsupported operator
//! fails there with the node's name and op type.

use super::proto::{self, data_type, ModelProto, NodeProto, TensorProto};
use super::KEPT_NEURONS_KEY;
use crate::activation::Activation;
use crate::error::{malformed, unsupported, Result};
use crate::network::{InputTransform, Layer, Matrix, Network, Term};
use prost::Message;
use std::collections::HashMap;

/// A constant tensor (initializer, Constant node, or folded).
#[derive(Debug, Clone)]
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f64>,
}

/// A linear map from an activation vector to an expression's elements.
#[derive(Debug, Clone)]
enum Map {
    Identity,
    Dense(Matrix),
}

/// `sum_j map_j a^{source_j} + bias`, with a per-sample `shape` (batch dim removed).
#[derive(Debug, Clone)]
struct Affine {
    shape: Vec<usize>,
    terms: Vec<(usize, Map)>,
    bias: Vec<f64>,
}

/// The raw graph input on its way through the optional clip/normalise prologue.
#[derive(Debug, Clone)]
struct InputStage {
    transform: InputTransform,
    shape: Vec<usize>,
}

#[derive(Debug, Clone)]
enum Value {
    Const(Tensor),
    Affine(Affine),
    Input(InputStage),
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Reads an ONNX model from its bytes.
pub fn read(bytes: &[u8]) -> Result<Network> {
    let model = ModelProto::decode(bytes).map_err(|e| malformed(format!("not a valid ONNX protobuf: {e}")))?;
    let graph = model.graph.as_ref().ok_or_else(|| malformed("ONNX model has no graph"))?;
    let mut importer = Importer { values: HashMap::new(), layers: Vec::new(), transform: None, saw_dequantize: false, float_types: Vec::new(), input_dim: 0 };

    for init in &graph.initializer {
        let t = tensor_from_proto(init).map_err(|e| e.within(format!("initializer '{}'", init.name)))?;
        importer.note_float_type(init.data_type);
        importer.values.insert(init.name.clone(), Value::Const(t));
    }
    let inputs: Vec<_> = graph.input.iter().filter(|i| !importer.values.contains_key(&i.name)).collect();
    if inputs.len() != 1 {
        return Err(unsupported(format!("the graph has {} non-constant inputs; deltacert needs exactly one", inputs.len())));
    }
    let input = inputs[0];
    let full_shape = input_shape(input)?;
    // rank >= 2: the first dimension is the batch
    let sample_shape: Vec<usize> = if full_shape.len() >= 2 { full_shape[1..].to_vec() } else { full_shape.clone() };
    let input_dim = numel(&sample_shape);
    if input_dim == 0 {
        return Err(malformed(format!("input '{}' has no elements", input.name)));
    }
    importer.input_dim = input_dim;
    importer.values.insert(
        input.name.clone(),
        Value::Input(InputStage {
            transform: InputTransform {
                min: vec![f64::NEG_INFINITY; input_dim],
                max: vec![f64::INFINITY; input_dim],
                mean: vec![0.0; input_dim],
                range: vec![1.0; input_dim],
            },
            shape: sample_shape,
        }),
    );

    for (index, node) in graph.node.iter().enumerate() {
        let label = if node.name.is_empty() { format!("node #{index}") } else { format!("node '{}'", node.name) };
        importer.apply_node(node).map_err(|e| e.within(format!("{label} ({})", node.op_type)))?;
    }

    if graph.output.len() != 1 {
        return Err(unsupported(format!("the graph has {} outputs; deltacert needs exactly one", graph.output.len())));
    }
    let out_name = &graph.output[0].name;
    let out = importer.values.get(out_name).cloned().ok_or_else(|| malformed(format!("graph output '{out_name}' is never computed")))?;
    let out = match out {
        Value::Const(_) => return Err(unsupported(format!("graph output '{out_name}' does not depend on the input"))),
        other => importer.to_affine(other)?,
    };
    importer.materialize(out, Activation::Identity);

    let kept_neurons = match model.metadata_props.iter().find(|p| p.key == KEPT_NEURONS_KEY) {
        Some(p) => Some(serde_json::from_str(&p.value).map_err(|e| malformed(format!("metadata {KEPT_NEURONS_KEY}: {e}")))?),
        None => None,
    };
    let source_dtype = importer.dtype_name();
    Ok(Network { input_dim, input_transform: importer.transform, layers: importer.layers, kept_neurons, source_dtype })
}

fn input_shape(input: &proto::ValueInfoProto) -> Result<Vec<usize>> {
    let tensor_type = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| unsupported(format!("input '{}' is not a tensor", input.name)))?;
    let shape = tensor_type.shape.as_ref().ok_or_else(|| unsupported(format!("input '{}' has no shape", input.name)))?;
    shape
        .dim
        .iter()
        .enumerate()
        .map(|(i, d)| match d.dim_value {
            Some(v) if v > 0 => Ok(v as usize),
            // symbolic or missing dims are only allowed for the batch axis
            _ if i == 0 => Ok(1),
            _ => Err(unsupported(format!("input '{}' dimension {i} is not a fixed positive size", input.name))),
        })
        .collect()
}

/// Decodes a tensor's values into f64 (float, double, float16, int8, uint8, int32, int64).
fn tensor_from_proto(t: &TensorProto) -> Result<Tensor> {
    if t.data_location == 1 {
        return Err(unsupported("external tensor data is not supported"));
    }
    let shape: Vec<usize> = t.dims.iter().map(|&d| if d >= 0 { Ok(d as usize) } else { Err(malformed("negative dimension")) }).collect::<Result<_>>()?;
    let count = numel(&shape);
    let raw = &t.raw_data;
    let data: Vec<f64> = match t.data_type {
        data_type::FLOAT if !raw.is_empty() => raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        data_type::FLOAT => t.float_data.iter().map(|&v| v as f64).collect(),
        data_type::DOUBLE if !raw.is_empty() => raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
        data_type::DOUBLE => t.double_data.clone(),
        data_type::FLOAT16 if !raw.is_empty() => raw.chunks_exact(2).map(|c| f16_to_f64(u16::from_le_bytes([c[0], c[1]]))).collect(),
        data_type::FLOAT16 => t.int32_data.iter().map(|&v| f16_to_f64(v as u16)).collect(),
        data_type::INT8 if !raw.is_empty() => raw.iter().map(|&b| b as i8 as f64).collect(),
        data_type::UINT8 if !raw.is_empty() => raw.iter().map(|&b| b as f64).collect(),
        data_type::INT8 | data_type::UINT8 | data_type::INT32 if raw.is_empty() => t.int32_data.iter().map(|&v| v as f64).collect(),
        data_type::INT32 => raw.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        data_type::INT64 if !raw.is_empty() => raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        data_type::INT64 => t.int64_data.iter().map(|&v| v as f64).collect(),
        other => return Err(unsupported(format!("tensor element type {other} is not supported"))),
    };
    if data.len() != count {
        return Err(malformed(format!("tensor holds {} values but its shape {shape:?} needs {count}", data.len())));
    }
    Ok(Tensor { shape, data })
}

/// IEEE half precision bits to f64.
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
    transform: Option<InputTransform>,
    saw_dequantize: bool,
    float_types: Vec<i32>,
    /// Width of the graph input (activation vector 0).
    input_dim: usize,
}

impl Importer {
    fn note_float_type(&mut self, dtype: i32) {
        if matches!(dtype, data_type::FLOAT | data_type::DOUBLE | data_type::FLOAT16) && !self.float_types.contains(&dtype) {
            self.float_types.push(dtype);
        }
    }

    fn dtype_name(&self) -> String {
        let float = match self.float_types.as_slice() {
            [data_type::FLOAT] => "float32",
            [data_type::DOUBLE] => "float64",
            [data_type::FLOAT16] => "float16",
            [] => "none",
            _ => "mixed",
        };
        if self.saw_dequantize { format!("int8-qdq (+{float})") } else { float.to_string() }
    }

    fn width_of(&self, source: usize) -> usize {
        if source == 0 { self.input_dim } else { self.layers[source - 1].width() }
    }

    fn get(&self, node: &NodeProto, i: usize) -> Result<Value> {
        let name = node.input.get(i).filter(|n| !n.is_empty()).ok_or_else(|| malformed(format!("missing input #{i}")))?;
        self.values.get(name).cloned().ok_or_else(|| malformed(format!("input '{name}' is not computed before this node")))
    }

    fn get_const(&self, node: &NodeProto, i: usize) -> Result<Tensor> {
        match self.get(node, i)? {
            Value::Const(t) => Ok(t),
            _ => Err(unsupported(format!("input #{i} must be a constant"))),
        }
    }

    fn optional_const(&self, node: &NodeProto, i: usize) -> Result<Option<Tensor>> {
        if node.input.get(i).is_none_or(|n| n.is_empty()) { Ok(None) } else { self.get_const(node, i).map(Some) }
    }

    /// Turns any non-constant value into an affine expression; the input
    /// prologue (clip, normalise) becomes the network's input transform.
    fn to_affine(&mut self, value: Value) -> Result<Affine> {
        match value {
            Value::Affine(a) => Ok(a),
            Value::Input(stage) => {
                match &self.transform {
                    Some(t) if *t != stage.transform => return Err(unsupported("the input is used with two different normalisations")),
                    _ => {}
                }
                let identity_transform = stage.transform.mean.iter().all(|&m| m == 0.0)
                    && stage.transform.range.iter().all(|&r| r == 1.0)
                    && stage.transform.min.iter().all(|m| m.is_infinite())
                    && stage.transform.max.iter().all(|m| m.is_infinite());
                if !identity_transform {
                    self.transform = Some(stage.transform);
                }
                let width = numel(&stage.shape);
                Ok(Affine { shape: stage.shape, terms: vec![(0, Map::Identity)], bias: vec![0.0; width] })
            }
            Value::Const(_) => Err(unsupported("expected a value depending on the input")),
        }
    }

    /// Adds a layer whose pre-activation is `expr`; returns its output as an expression.
    fn materialize(&mut self, expr: Affine, activation: Activation) -> Affine {
        let width = expr.bias.len();
        let terms = expr
            .terms
            .into_iter()
            .map(|(source, map)| Term {
                source,
                weights: match map {
                    Map::Identity => Matrix::identity(self.width_of(source)),
                    Map::Dense(m) => m,
                },
            })
            .collect();
        self.layers.push(Layer { terms, bias: expr.bias, activation });
        Affine { shape: expr.shape, terms: vec![(self.layers.len(), Map::Identity)], bias: vec![0.0; width] }
    }

    fn set_output(&mut self, node: &NodeProto, value: Value) -> Result<()> {
        let name = node.output.first().ok_or_else(|| malformed("node has no output"))?;
        self.values.insert(name.clone(), value);
        Ok(())
    }

    /// The operator registry.
    fn apply_node(&mut self, node: &NodeProto) -> Result<()> {
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(unsupported(format!("operator domain '{}' is not supported", node.domain)));
        }
        let result = match node.op_type.as_str() {
            "Relu" => self.activation(node, Activation::Relu)?,
            "LeakyRelu" => {
                let alpha = attr_float(node, "alpha").unwrap_or(0.01);
                if !(0.0..1.0).contains(&alpha) {
                    return Err(unsupported(format!("LeakyRelu alpha {alpha} outside [0, 1)")));
                }
                self.activation(node, Activation::LeakyRelu { alpha })?
            }
            "Tanh" => self.activation(node, Activation::Tanh)?,
            "Sigmoid" => self.activation(node, Activation::Sigmoid)?,
            "Identity" | "Dropout" => self.get(node, 0)?,
            "Constant" => {
                let t = node
                    .attribute
                    .iter()
                    .find(|a| a.name == "value")
                    .and_then(|a| a.t.as_ref())
                    .ok_or_else(|| unsupported("Constant without a tensor 'value' attribute"))?;
                self.note_float_type(t.data_type);
                Value::Const(tensor_from_proto(t)?)
            }
            "Gemm" => self.gemm(node)?,
            "MatMul" => self.matmul(node)?,
            "Conv" => self.conv(node)?,
            "Add" | "Sub" | "Mul" | "Div" | "Max" | "Min" => self.binary(node)?,
            "Flatten" => {
                let axis = attr_int(node, "axis").unwrap_or(1);
                if axis != 1 {
                    return Err(unsupported(format!("Flatten with axis {axis} (only axis 1, keeping the batch, is supported)")));
                }
                match self.get(node, 0)? {
                    Value::Const(t) => Value::Const(Tensor { shape: vec![t.shape.first().copied().unwrap_or(1), numel(&t.shape[1.min(t.shape.len())..])], data: t.data }),
                    v => {
                        let mut a = self.to_affine(v)?;
                        a.shape = vec![numel(&a.shape)];
                        Value::Affine(a)
                    }
                }
            }
            "Reshape" => self.reshape(node)?,
            "Transpose" => {
                let t = self.get_const(node, 0)?;
                if t.shape.len() != 2 {
                    return Err(unsupported("Transpose is supported on constant matrices only"));
                }
                let perm = attr_ints(node, "perm").unwrap_or_else(|| vec![1, 0]);
                if perm == [0, 1] {
                    Value::Const(t)
                } else {
                    let m = Matrix::from_rows(t.shape[0], t.shape[1], t.data).transpose();
                    Value::Const(Tensor { shape: vec![m.rows, m.cols], data: m.data })
                }
            }
            "DequantizeLinear" => self.dequantize(node)?,
            other => return Err(unsupported(format!("unsupported operator {other}"))),
        };
        self.set_output(node, result)
    }

    fn activation(&mut self, node: &NodeProto, activation: Activation) -> Result<Value> {
        let v = self.get(node, 0)?;
        let expr = self.to_affine(v)?;
        Ok(Value::Affine(self.materialize(expr, activation)))
    }

    fn gemm(&mut self, node: &NodeProto) -> Result<Value> {
        let alpha = attr_float(node, "alpha").unwrap_or(1.0);
        let beta = attr_float(node, "beta").unwrap_or(1.0);
        if attr_int(node, "transA").unwrap_or(0) != 0 {
            return Err(unsupported("Gemm with transA=1"));
        }
        let a = self.get(node, 0)?;
        let a = self.to_affine(a)?;
        let b = self.get_const(node, 1)?;
        if b.shape.len() != 2 {
            return Err(malformed("Gemm weight must be 2-D"));
        }
        let mut b = Matrix::from_rows(b.shape[0], b.shape[1], b.data);
        if attr_int(node, "transB").unwrap_or(0) == 0 {
            b = b.transpose();
        } // now b is n x k
        let mut out = left_multiply(a, &b, alpha)?;
        if let Some(c) = self.optional_const(node, 2)? {
            add_broadcast(&mut out, &c, beta)?;
        }
        Ok(Value::Affine(out))
    }

    fn matmul(&mut self, node: &NodeProto) -> Result<Value> {
        let a = self.get(node, 0)?;
        let a = self.to_affine(a)?;
        let b = self.get_const(node, 1)?;
        if b.shape.len() != 2 {
            return Err(unsupported("MatMul is supported with a 2-D constant right operand"));
        }
        let b = Matrix::from_rows(b.shape[0], b.shape[1], b.data).transpose();
        Ok(Value::Affine(left_multiply(a, &b, 1.0)?))
    }

    fn conv(&mut self, node: &NodeProto) -> Result<Value> {
        let x = self.get(node, 0)?;
        let x = self.to_affine(x)?;
        let w = self.get_const(node, 1)?;
        let bias = self.optional_const(node, 2)?;
        if x.shape.len() != 3 || w.shape.len() != 4 {
            return Err(unsupported("Conv is supported for 2-D convolutions (input C x H x W, weight M x C/group x kH x kW)"));
        }
        if let Some(pad) = node.attribute.iter().find(|a| a.name == "auto_pad") {
            let mode = String::from_utf8_lossy(&pad.s);
            if mode != "NOTSET" && mode != "VALID" {
                return Err(unsupported(format!("Conv auto_pad={mode}")));
            }
        }
        let (channels, height, width) = (x.shape[0], x.shape[1], x.shape[2]);
        let (out_channels, group_channels, kernel_h, kernel_w) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
        let group = attr_int(node, "group").unwrap_or(1).max(1) as usize;
        let strides = attr_ints(node, "strides").unwrap_or_else(|| vec![1, 1]);
        let dilations = attr_ints(node, "dilations").unwrap_or_else(|| vec![1, 1]);
        let pads = attr_ints(node, "pads").unwrap_or_else(|| vec![0, 0, 0, 0]);
        if strides.len() != 2 || dilations.len() != 2 || pads.len() != 4 || strides.iter().chain(&dilations).any(|&s| s < 1) || pads.iter().any(|&p| p < 0) {
            return Err(malformed("Conv strides/dilations/pads have the wrong length or sign"));
        }
        if group_channels * group != channels || out_channels % group != 0 {
            return Err(crate::error::shape(format!("Conv weight expects {} input channels, input has {channels}", group_channels * group)));
        }
        let [sh, sw] = [strides[0] as usize, strides[1] as usize];
        let [dh, dw] = [dilations[0] as usize, dilations[1] as usize];
        let (pt, pl, pb, pr) = (pads[0] as usize, pads[1] as usize, pads[2] as usize, pads[3] as usize);
        let span_h = dh * (kernel_h - 1) + 1;
        let span_w = dw * (kernel_w - 1) + 1;
        if height + pt + pb < span_h || width + pl + pr < span_w {
            return Err(crate::error::shape("Conv kernel is larger than the padded input"));
        }
        let out_h = (height + pt + pb - span_h) / sh + 1;
        let out_w = (width + pl + pr - span_w) / sw + 1;
        let mut k = Matrix::zeros(out_channels * out_h * out_w, channels * height * width);
        let per_group = out_channels / group;
        for m in 0..out_channels {
            let g = m / per_group;
            for oy in 0..out_h {
                for ox in 0..out_w {
                    let row = (m * out_h + oy) * out_w + ox;
                    for c in 0..group_channels {
                        let in_c = g * group_channels + c;
                        for ky in 0..kernel_h {
                            let iy = (oy * sh + ky * dh) as isize - pt as isize;
                            if iy < 0 || iy >= height as isize {
                                continue;
                            }
                            for kx in 0..kernel_w {
                                let ix = (ox * sw + kx * dw) as isize - pl as isize;
                                if ix < 0 || ix >= width as isize {
                                    continue;
                                }
                                let col = (in_c * height + iy as usize) * width + ix as usize;
                                *k.get_mut(row, col) += w.data[((m * group_channels + c) * kernel_h + ky) * kernel_w + kx];
                            }
                        }
                    }
                }
            }
        }
        let mut out = left_multiply(x, &k, 1.0)?;
        out.shape = vec![out_channels, out_h, out_w];
        if let Some(b) = bias {
            if b.data.len() != out_channels {
                return Err(crate::error::shape("Conv bias length differs from the output channels"));
            }
            for (i, v) in out.bias.iter_mut().enumerate() {
                *v += b.data[i / (out_h * out_w)];
            }
        }
        Ok(Value::Affine(out))
    }

    fn reshape(&mut self, node: &NodeProto) -> Result<Value> {
        let value = self.get(node, 0)?;
        let target = self.get_const(node, 1)?;
        let target: Vec<i64> = target.data.iter().map(|&v| v as i64).collect();
        match value {
            Value::Const(t) => {
                let shape = resolve_shape(&target, &t.shape, numel(&t.shape))?;
                Ok(Value::Const(Tensor { shape, data: t.data }))
            }
            v => {
                let mut a = self.to_affine(v)?;
                // the target includes the batch axis
                let full: Vec<usize> = std::iter::once(1).chain(a.shape.iter().copied()).collect();
                let shape = resolve_shape(&target, &full, numel(&a.shape))?;
                if shape.first() != Some(&1) {
                    return Err(unsupported("Reshape must keep the batch axis first"));
                }
                a.shape = shape[1..].to_vec();
                Ok(Value::Affine(a))
            }
        }
    }

    fn dequantize(&mut self, node: &NodeProto) -> Result<Value> {
        self.saw_dequantize = true;
        let x = self.get_const(node, 0).map_err(|_| unsupported("DequantizeLinear is supported on constant (weight) tensors only"))?;
        let scale = self.get_const(node, 1)?;
        let zero = self.optional_const(node, 2)?;
        let axis = attr_int(node, "axis").unwrap_or(1);
        let rank = x.shape.len() as i64;
        let axis = if axis < 0 { axis + rank } else { axis };
        let per_axis = scale.data.len() > 1;
        if per_axis && (axis < 0 || axis >= rank || x.shape[axis as usize] != scale.data.len()) {
            return Err(crate::error::shape("DequantizeLinear scale length does not match the axis"));
        }
        let inner: usize = if per_axis { x.shape[axis as usize + 1..].iter().product() } else { 1 };
        let channels = scale.data.len();
        let data = x
            .data
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let c = if per_axis { (i / inner) % channels } else { 0 };
                let z = zero.as_ref().map_or(0.0, |z| z.data[c.min(z.data.len() - 1)]);
                (q - z) * scale.data[c]
            })
            .collect();
        Ok(Value::Const(Tensor { shape: x.shape, data }))
    }

    fn binary(&mut self, node: &NodeProto) -> Result<Value> {
        let op = node.op_type.as_str();
        let lhs = self.get(node, 0)?;
        let rhs = self.get(node, 1)?;
        match (lhs, rhs) {
            (Value::Const(a), Value::Const(b)) => Ok(Value::Const(const_binary(op, &a, &b)?)),
            // the input prologue: clip, subtract mean, divide by range
            (Value::Input(stage), Value::Const(c)) if matches!(op, "Max" | "Min" | "Sub" | "Div") => match prologue_step(&stage, op, &c)? {
                Some(next) => Ok(Value::Input(next)),
                None => self.binary_affine_const(op, Value::Input(stage), &c),
            },
            (Value::Const(c), v) if matches!(op, "Add" | "Mul") => self.binary_affine_const(op, v, &c),
            (Value::Const(c), v) if op == "Sub" => {
                // c - v = -(v) + c
                let mut a = self.to_affine(v)?;
                scale_affine(&mut a, &Tensor { shape: vec![], data: vec![-1.0] })?;
                add_broadcast(&mut a, &c, 1.0)?;
                Ok(Value::Affine(a))
            }
            (v, Value::Const(c)) => self.binary_affine_const(op, v, &c),
            (u, v) if matches!(op, "Add" | "Sub") => {
                let a = self.to_affine(u)?;
                let mut b = self.to_affine(v)?;
                if op == "Sub" {
                    scale_affine(&mut b, &Tensor { shape: vec![], data: vec![-1.0] })?;
                }
                Ok(Value::Affine(add_affine(a, b)?))
            }
            _ => Err(unsupported(format!("{op} of two input-dependent tensors is not affine"))),
        }
    }

    fn binary_affine_const(&mut self, op: &str, v: Value, c: &Tensor) -> Result<Value> {
        let mut a = self.to_affine(v)?;
        match op {
            "Add" => add_broadcast(&mut a, c, 1.0)?,
            "Sub" => add_broadcast(&mut a, c, -1.0)?,
            "Mul" => scale_affine(&mut a, c)?,
            "Div" => {
                if c.data.contains(&0.0) {
                    return Err(malformed("division by a constant containing zero"));
                }
                scale_affine(&mut a, &Tensor { shape: c.shape.clone(), data: c.data.iter().map(|v| 1.0 / v).collect() })?
            }
            _ => return Err(unsupported(format!("{op} with a constant is only supported directly on the graph input (clipping)"))),
        }
        Ok(Value::Affine(a))
    }
}

/// Applies one step of the clip/normalise prologue to the raw input, if it
/// fits the order clip → subtract mean → divide by range; returns `None` when
/// the step must instead be treated as a general affine operation.
fn prologue_step(stage: &InputStage, op: &str, c: &Tensor) -> Result<Option<InputStage>> {
    let n = numel(&stage.shape);
    let values: Vec<f64> = match c.data.len() {
        1 => vec![c.data[0]; n],
        len if len == n => c.data.clone(),
        _ => return Ok(None),
    };
    let mut next = stage.clone();
    let t = &mut next.transform;
    let untouched_normalisation = t.mean.iter().all(|&m| m == 0.0) && t.range.iter().all(|&r| r == 1.0);
    match op {
        "Max" if untouched_normalisation => t.min = values,
        "Min" if untouched_normalisation => t.max = values,
        "Sub" if untouched_normalisation => t.mean = values,
        "Div" if t.range.iter().all(|&r| r == 1.0) && values.iter().all(|&r| r > 0.0) => t.range = values,
        "Max" | "Min" => return Err(unsupported(format!("{op} (clipping) is supported only at the start of the graph"))),
        _ => return Ok(None),
    }
    Ok(Some(next))
}

/// `K * expr * scale` for a matrix `K` with `K.cols == numel(expr)`.
fn left_multiply(expr: Affine, k: &Matrix, scale: f64) -> Result<Affine> {
    let n = expr.bias.len();
    if k.cols != n {
        return Err(crate::error::shape(format!("operand has {n} elements per sample, the weight expects {}", k.cols)));
    }
    let mut k = k.clone();
    if scale != 1.0 {
        k.data.iter_mut().for_each(|v| *v *= scale);
    }
    let mut bias = vec![0.0; k.rows];
    k.mul_vec_add(&expr.bias, &mut bias);
    let terms = expr
        .terms
        .into_iter()
        .map(|(s, m)| (s, Map::Dense(match m { Map::Identity => k.clone(), Map::Dense(m) => k.matmul(&m) })))
        .collect();
    Ok(Affine { shape: vec![k.rows], terms, bias })
}

/// Indices of `c` broadcast to the per-sample shape `target` (numpy rules, an
/// optional leading batch axis of size 1 in `c`).
fn broadcast_index(c: &Tensor, target: &[usize]) -> Result<Vec<usize>> {
    let mut cs = c.shape.clone();
    if cs.len() == target.len() + 1 {
        if cs[0] != 1 {
            return Err(crate::error::shape(format!("constant of shape {:?} does not broadcast to {target:?}", c.shape)));
        }
        cs.remove(0);
    }
    if cs.len() > target.len() {
        return Err(crate::error::shape(format!("constant of shape {:?} does not broadcast to {target:?}", c.shape)));
    }
    let padded: Vec<usize> = std::iter::repeat_n(1, target.len() - cs.len()).chain(cs).collect();
    if padded.iter().zip(target).any(|(&p, &t)| p != 1 && p != t) {
        return Err(crate::error::shape(format!("constant of shape {:?} does not broadcast to {target:?}", c.shape)));
    }
    let total = numel(target);
    let mut out = Vec::with_capacity(total);
    for flat in 0..total {
        let (mut rem, mut idx, mut stride) = (flat, 0, 1);
        let mut strides = vec![0; target.len()];
        for d in (0..target.len()).rev() {
            strides[d] = stride;
            stride *= padded[d];
        }
        for d in (0..target.len()).rev() {
            let coord = rem % target[d];
            rem /= target[d];
            if padded[d] != 1 {
                idx += coord * strides[d];
            }
        }
        out.push(idx);
    }
    Ok(out)
}

fn add_broadcast(a: &mut Affine, c: &Tensor, sign: f64) -> Result<()> {
    let idx = broadcast_index(c, &a.shape)?;
    for (b, i) in a.bias.iter_mut().zip(idx) {
        *b += sign * c.data[i];
    }
    Ok(())
}

fn scale_affine(a: &mut Affine, c: &Tensor) -> Result<()> {
    let idx = broadcast_index(c, &a.shape)?;
    let factors: Vec<f64> = idx.iter().map(|&i| c.data[i]).collect();
    for (b, f) in a.bias.iter_mut().zip(&factors) {
        *b *= f;
    }
    for (_, map) in a.terms.iter_mut() {
        if let Map::Identity = map {
            let mut d = Matrix::zeros(factors.len(), factors.len());
            for (i, f) in factors.iter().enumerate() {
                *d.get_mut(i, i) = *f;
            }
            *map = Map::Dense(d);
        } else if let Map::Dense(m) = map {
            for (r, f) in factors.iter().enumerate() {
                m.data[r * m.cols..(r + 1) * m.cols].iter_mut().for_each(|v| *v *= f);
            }
        }
    }
    Ok(())
}

fn add_affine(a: Affine, b: Affine) -> Result<Affine> {
    if a.bias.len() != b.bias.len() {
        return Err(crate::error::shape(format!("adding tensors of {} and {} elements", a.bias.len(), b.bias.len())));
    }
    let bias = a.bias.iter().zip(&b.bias).map(|(x, y)| x + y).collect();
    let mut terms = a.terms;
    for (source, map) in b.terms {
        match terms.iter_mut().find(|(s, _)| *s == source) {
            Some((_, existing)) => {
                let n = a.bias.len();
                let dense = |m: &Map| match m {
                    Map::Identity => Matrix::identity(n),
                    Map::Dense(m) => m.clone(),
                };
                let mut sum = dense(existing);
                for (x, y) in sum.data.iter_mut().zip(dense(&map).data) {
                    *x += y;
                }
                *existing = Map::Dense(sum);
            }
            None => terms.push((source, map)),
        }
    }
    Ok(Affine { shape: a.shape, terms, bias })
}

fn const_binary(op: &str, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (big, small, swapped) = if numel(&a.shape) >= numel(&b.shape) { (a, b, false) } else { (b, a, true) };
    let target: Vec<usize> = big.shape.clone();
    let small_as = Tensor { shape: small.shape.clone(), data: small.data.clone() };
    let idx = broadcast_index(&small_as, &target).or_else(|_| {
        // allow a full-rank broadcast including the leading axis
        if numel(&small.shape) == 1 { Ok(vec![0; numel(&target)]) } else { Err(crate::error::shape("constant shapes do not broadcast")) }
    })?;
    let data = big
        .data
        .iter()
        .zip(idx)
        .map(|(&x, i)| {
            let (l, r) = if swapped { (small.data[i], x) } else { (x, small.data[i]) };
            match op {
                "Add" => l + r,
                "Sub" => l - r,
                "Mul" => l * r,
                "Div" => l / r,
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
            d if d > 0 => shape.push(d as usize),
            _ => return Err(malformed(format!("Reshape target {target:?} is invalid"))),
        }
    }
    let known: usize = shape.iter().product();
    if let Some(i) = infer {
        if known == 0 || count % known != 0 {
            return Err(crate::error::shape(format!("cannot reshape {count} elements to {target:?}")));
        }
        shape[i] = count / known;
    } else if known != count {
        return Err(crate::error::shape(format!("cannot reshape {count} elements to {target:?}")));
    }
    Ok(shape)
}

fn attr_float(node: &NodeProto, name: &str) -> Option<f64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.f as f64)
}
fn attr_int(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}
fn attr_ints(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.ints.clone())
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
        let model = ModelProto { graph: Some(graph), ..Default::default() };
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
            node: vec![node("Softmax", &["x"], "y", vec![])],
            input: vec![value_info("x", &[1, 3])],
            output: vec![value_info("y", &[1, 3])],
            ..Default::default()
        };
        let err = read(&ModelProto { graph: Some(graph), ..Default::default() }.encode_to_vec()).unwrap_err();
        assert!(err.context.contains("node 'y' (Softmax)") && err.context.contains("unsupported operator Softmax"), "{}", err.context);
    }
}
