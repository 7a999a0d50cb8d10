//! IR → ONNX (opset 13). Each term of a layer becomes a `Gemm` (transB=1, so
//! weights keep the IR's `out x in` layout), terms are summed with `Add`, and
//! the activation follows. The `.nnet` input prologue is written as
//! `Max`/`Min` (clipping), `Sub` (mean) and `Div` (range). Quantised output
//! stores each weight as an int8 initializer followed by `DequantizeLinear`
//! (QDQ), which onnxruntime and PyTorch read as ordinary quantised models.
//! A network whose output ends in a softmax writes its last layer as
//! `logits` followed by `Softmax(axis = -1)`.
//! A quantiser layer ([`crate::activation::Activation::Quantize`]) is
//! written as `QuantizeLinear` then `DequantizeLinear` with its float32 scale
//! and a uint8 or int8 zero point (float32 models only: `QuantizeLinear`
//! reads float32), which the reader reads back as the same layer.

use super::proto::{self, attribute_type, data_type, AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto};
use super::KEPT_NEURONS_KEY;
use crate::error::{invalid_option, Result};
use crate::activation::Activation;
use crate::network::Network;
use prost::Message;

/// How the parameters are stored in the written file.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportFormat {
    /// float32 initializers (and a float32 input).
    Float32,
    /// float64 initializers (and a float64 input).
    Float64,
    /// int8 weights with float32 scales (QDQ), float32 biases. `scales[k][t]`
    /// lists the per-tensor (one entry) or per-output-channel scales of term `t`
    /// of layer `k`; every weight must be an integer multiple of its scale with
    /// `|q| <= 127`, and scales must be float32 values.
    QdqInt8 {
        /// Scales per layer, per term, per channel (or one per tensor).
        scales: Vec<Vec<Vec<f64>>>,
    },
}

struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    float_type: i32,
}

impl GraphBuilder {
    /// A float initializer in the graph's float type. A finite value beyond
    /// float32's range is refused (it would be written as an infinity, a file
    /// no reader takes as the network it was).
    fn float_tensor(&mut self, name: &str, what: &str, dims: &[usize], values: &[f64]) -> Result<String> {
        let mut t = TensorProto { name: name.into(), dims: dims.iter().map(|&d| d as i64).collect(), data_type: self.float_type, ..Default::default() };
        if self.float_type == data_type::DOUBLE {
            t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        } else {
            if let Some(v) = values.iter().find(|v| v.is_finite() && !(**v as f32).is_finite()) {
                return Err(invalid_option(format!("{what}: {v:e} is beyond the range of float32 (write float64)")));
            }
            t.raw_data = values.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect();
        }
        self.initializers.push(t);
        Ok(name.into())
    }
    fn raw_tensor(&mut self, name: &str, dims: &[usize], dtype: i32, raw: Vec<u8>) -> String {
        self.initializers.push(TensorProto { name: name.into(), dims: dims.iter().map(|&d| d as i64).collect(), data_type: dtype, raw_data: raw, ..Default::default() });
        name.into()
    }
    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto>) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            name: format!("{op}_{output}"),
            op_type: op.into(),
            attribute: attributes,
            ..Default::default()
        });
        output.into()
    }
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i: value, r#type: attribute_type::INT, ..Default::default() }
}
fn float_attribute(name: &str, value: f64) -> AttributeProto {
    AttributeProto { name: name.into(), f: value as f32, r#type: attribute_type::FLOAT, ..Default::default() }
}

fn value_info(name: &str, elem_type: i32, width: usize) -> ValueInfoProto {
    let dims = vec![
        proto::Dimension { dim_value: None, dim_param: Some("N".into()) },
        proto::Dimension { dim_value: Some(width as i64), dim_param: None },
    ];
    ValueInfoProto {
        name: name.into(),
        r#type: Some(proto::TypeProto { tensor_type: Some(proto::TensorTypeProto { elem_type, shape: Some(proto::TensorShapeProto { dim: dims }) }) }),
    }
}

/// Serialises `network` as an ONNX model. What the readers would refuse
/// (`Network::validate`) is not written.
pub fn write(network: &Network, format: &ExportFormat) -> Result<Vec<u8>> {
    network.validate()?;
    let float_type = if *format == ExportFormat::Float64 { data_type::DOUBLE } else { data_type::FLOAT };
    let mut g = GraphBuilder { nodes: Vec::new(), initializers: Vec::new(), float_type };
    let mut current = "input".to_string();
    if let Some(t) = &network.input_transform {
        let n = network.input_dim;
        // the normalisation is written in float64 whatever the model's type
        // (Cast in and out), so that reading the file back gives the same
        // clipping range, mean and range (a .nnet's 3.141592 or 19791.091
        // are not float32 numbers, and a compressed copy would otherwise
        // normalise its inputs differently from its original)
        let model_type = g.float_type;
        if model_type != data_type::DOUBLE {
            current = g.node("Cast", &[&current], "input_float64", vec![int_attribute("to", data_type::DOUBLE as i64)]);
            g.float_type = data_type::DOUBLE;
        }
        if t.min.iter().any(|v| v.is_finite()) {
            let c = g.float_tensor("clip_min", "input minimum", &[n], &t.min)?;
            current = g.node("Max", &[&current, &c], "clipped_low", vec![]);
        }
        if t.max.iter().any(|v| v.is_finite()) {
            let c = g.float_tensor("clip_max", "input maximum", &[n], &t.max)?;
            current = g.node("Min", &[&current, &c], "clipped", vec![]);
        }
        let m = g.float_tensor("input_mean", "input mean", &[n], &t.mean)?;
        current = g.node("Sub", &[&current, &m], "centred", vec![]);
        let r = g.float_tensor("input_range", "input range", &[n], &t.range)?;
        current = g.node("Div", &[&current, &r], "normalised", vec![]);
        if model_type != data_type::DOUBLE {
            g.float_type = model_type;
            current = g.node("Cast", &[&current], "normalised_cast", vec![int_attribute("to", model_type as i64)]);
        }
    }
    let mut activation_names = vec![current];
    let last = network.layers.len();
    for (index, layer) in network.layers.iter().enumerate() {
        let k = index + 1;
        let out_name = match k == last {
            true if network.output_softmax => "logits".to_string(),
            true => "output".to_string(),
            false => format!("a{k}"),
        };
        // each activation names its operator; the identity writes no node,
        // so the affine map writes the layer's output itself
        let operator = layer.activation.with_rule(|rule| rule.onnx_op());
        let quantiser = match layer.activation {
            Activation::Quantize { scale, zero_point, qmin, qmax } => Some(quantiser_parameters(scale, zero_point, qmin, qmax, float_type, k)?),
            _ => None,
        };
        let has_node = operator.is_some() || quantiser.is_some();
        let mut sum: Option<String> = None;
        for (t, term) in layer.terms.iter().enumerate() {
            let weight = match format {
                ExportFormat::QdqInt8 { scales } => {
                    let scale = scales.get(index).and_then(|s| s.get(t)).ok_or_else(|| invalid_option(format!("no quantisation scale for layer {k} term {t}")))?;
                    write_qdq_weight(&mut g, &format!("W{k}_{t}"), &term.weights, scale, k)?
                }
                _ => g.float_tensor(&format!("W{k}_{t}"), &format!("layer {k}: a weight"), &[term.weights.rows, term.weights.cols], &term.weights.data)?,
            };
            let source = activation_names[term.source].clone();
            let gemm_out = if layer.terms.len() == 1 && !has_node { out_name.clone() } else { format!("v{k}_{t}") };
            let gemm = if t == 0 {
                let b = g.float_tensor(&format!("b{k}"), &format!("layer {k}: a bias"), &[layer.width()], &layer.bias)?;
                g.node("Gemm", &[&source, &weight, &b], &gemm_out, vec![int_attribute("transB", 1)])
            } else {
                g.node("Gemm", &[&source, &weight], &gemm_out, vec![int_attribute("transB", 1)])
            };
            sum = Some(match sum {
                None => gemm,
                Some(prev) => {
                    let name = if t + 1 == layer.terms.len() && !has_node { out_name.clone() } else { format!("v{k}_sum{t}") };
                    g.node("Add", &[&prev, &gemm], &name, vec![])
                }
            });
        }
        let pre = sum.expect("validated layers have terms");
        let out = match operator {
            None if quantiser.is_some() => {
                let (scale, zero_type, zero) = quantiser.expect("checked");
                let s = g.raw_tensor(&format!("q{k}_scale"), &[], data_type::FLOAT, (scale as f32).to_le_bytes().to_vec());
                let z = g.raw_tensor(&format!("q{k}_zero_point"), &[], zero_type, vec![zero]);
                let quantised = g.node("QuantizeLinear", &[&pre, &s, &z], &format!("q{k}"), vec![]);
                g.node("DequantizeLinear", &[&quantised, &s, &z], &out_name, vec![])
            }
            None => pre,
            Some(op) => {
                let attributes = op.float_attributes.iter().map(|&(name, value)| float_attribute(name, value)).collect();
                g.node(op.op_type, &[&pre], &out_name, attributes)
            }
        };
        activation_names.push(out);
    }
    if network.output_softmax {
        let logits = activation_names.last().expect("the input at least").clone();
        g.node("Softmax", &[&logits], "output", vec![int_attribute("axis", -1)]);
    }
    let graph = GraphProto {
        node: g.nodes,
        name: "deltacert".into(),
        initializer: g.initializers,
        input: vec![value_info("input", float_type, network.input_dim)],
        output: vec![value_info("output", float_type, network.output_dim())],
        ..Default::default()
    };
    let mut metadata = Vec::new();
    if let Some(kept) = &network.kept_neurons {
        metadata.push(proto::StringStringEntryProto { key: KEPT_NEURONS_KEY.into(), value: serde_json::to_string(kept).expect("plain data serialises") });
    }
    let model = ModelProto {
        ir_version: Some(8),
        producer_name: "deltacert".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        opset_import: vec![proto::OperatorSetIdProto { domain: String::new(), version: 13 }],
        metadata_props: metadata,
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}

/// The float32 scale, the zero point's element type and its byte, of a
/// quantiser written as `QuantizeLinear`/`DequantizeLinear`: an 8-bit range
/// and a float32 scale, in a float32 model.
fn quantiser_parameters(scale: f64, zero_point: f64, qmin: f64, qmax: f64, float_type: i32, layer: usize) -> Result<(f64, i32, u8)> {
    if float_type != data_type::FLOAT {
        return Err(invalid_option(format!("layer {layer}: a quantiser is written only in a float32 model (QuantizeLinear reads float32)")));
    }
    if !(scale > 0.0 && scale.is_finite() && scale as f32 as f64 == scale) {
        return Err(invalid_option(format!("layer {layer}: quantiser scale {scale} is not a positive float32 value")));
    }
    if !(qmin <= zero_point && zero_point <= qmax && zero_point.fract() == 0.0) {
        return Err(invalid_option(format!("layer {layer}: quantiser zero point {zero_point} is not an integer in [{qmin}, {qmax}]")));
    }
    match (qmin, qmax) {
        (0.0, 255.0) => Ok((scale, data_type::UINT8, zero_point as u8)),
        (-128.0, 127.0) => Ok((scale, data_type::INT8, zero_point as i8 as u8)),
        _ => Err(invalid_option(format!("layer {layer}: quantiser range [{qmin}, {qmax}] is not uint8 or int8"))),
    }
}

fn write_qdq_weight(g: &mut GraphBuilder, name: &str, weights: &crate::network::Matrix, scale: &[f64], layer: usize) -> Result<String> {
    let per_channel = scale.len() > 1;
    if per_channel && scale.len() != weights.rows {
        return Err(invalid_option(format!("layer {layer}: {} scales for {} output channels", scale.len(), weights.rows)));
    }
    let mut q = Vec::with_capacity(weights.data.len());
    for r in 0..weights.rows {
        let s = if per_channel { scale[r] } else { scale[0] };
        // the scale is stored as float32: it must be one, and positive (a
        // zero scale would store every weight of the row as 0)
        if !(s > 0.0 && s.is_finite() && s as f32 as f64 == s) {
            return Err(invalid_option(format!("layer {layer}: weight scale {s} is not a positive float32 value")));
        }
        for &w in weights.row(r) {
            let level = w / s;
            if level.round() != level || level.abs() > 127.0 {
                return Err(invalid_option(format!("layer {layer}: weight {w} is not an int8 multiple of its scale {s}; quantise the network first")));
            }
            // DequantizeLinear computes level * scale in float32
            if !((level as f32) * (s as f32)).is_finite() {
                return Err(invalid_option(format!("layer {layer}: weight {w:e} is beyond the range of float32, in which DequantizeLinear computes it")));
            }
            q.push(level as i8 as u8);
        }
    }
    let q_name = g.raw_tensor(&format!("{name}_quantized"), &[weights.rows, weights.cols], data_type::INT8, q);
    let scale_dims: Vec<usize> = if per_channel { vec![scale.len()] } else { vec![] };
    let scale_name = g.raw_tensor(&format!("{name}_scale"), &scale_dims, data_type::FLOAT, scale.iter().flat_map(|&s| (s as f32).to_le_bytes()).collect());
    let zero_name = g.raw_tensor(&format!("{name}_zero_point"), &scale_dims, data_type::INT8, vec![0; scale.len()]);
    Ok(g.node("DequantizeLinear", &[&q_name, &scale_name, &zero_name], name, vec![int_attribute("axis", 0)]))
}
