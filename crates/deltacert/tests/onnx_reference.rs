//! The ONNX reader against ONNX itself: `fixtures/onnx_reference/generate.py`
//! writes a few hundred seeded random graphs covering every operator and
//! attribute the reader accepts (also the VNN-COMP layout without a batch
//! axis and classifiers ending in Softmax), with the outputs of ONNX's reference
//! evaluator (`onnx.reference.ReferenceEvaluator`), and a dozen valid graphs
//! the reader must refuse, valid models at the edges of the type and
//! broadcasting rules, and three dozen models onnxruntime refuses to
//! load or run (checked there against onnxruntime), which the reader must
//! refuse too. Each graph is read, evaluated with
//! `Network::eval` on the same inputs and compared.
//!
//! Tolerance: float64 graphs are evaluated by ONNX in float64, so the only
//! difference is f64 rounding (the reader folds some products); float32 and
//! float16 graphs are evaluated by ONNX with every operation rounded to that
//! type, while deltacert computes in f64 on the exact weights. The generator
//! records for each graph `magnitude`, an upper estimate of the sum of |terms|
//! of any dot product, and a per-type `tolerance` (1e-11 for float64, 5e-5 for
//! float32: unit roundoff 6e-8 times dot products of up to ~100 terms and
//! several layers; 1e-2 for float16); outputs must agree to
//! `tolerance * (1 + magnitude)`.
//!
//! Quantised activations (QDQ): hand-built graphs whose float32 arithmetic
//! is exact (power-of-two scales, dyadic weights and inputs on rounding ties
//! and past both saturations) must agree bit for bit (tolerance 0) with the
//! reference evaluator and with onnxruntime (graph optimisations off,
//! `ort_outputs`); MLPs quantised by onnxruntime's `quantize_static` (per
//! tensor and per channel, uint8 and int8 activations) agree within the
//! float32 tolerance, on inputs that the generator keeps away from rounding
//! ties: onnxruntime computes `x / s` and the dequantized values in float32,
//! deltacert in f64, so within a float32 rounding of a tie the two can pick
//! neighbouring levels.
//!
//! Needs python3 with the `onnx`, `onnxruntime` and `numpy` modules. Without
//! them the test prints SKIP and passes, unless DELTACERT_REQUIRE_PYTHON=1 is
//! set.

use deltacert::error::ErrorKind;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// Whether python3 can import `modules`; prints SKIP (or fails when
/// DELTACERT_REQUIRE_PYTHON=1) when it cannot.
fn python_with(modules: &str) -> bool {
    let probe = Command::new(python()).args(["-c", &format!("import {modules}")]).output();
    let available = probe.as_ref().is_ok_and(|o| o.status.success());
    if !available {
        let why = match &probe {
            Err(e) => format!("python3 does not run: {e}"),
            Ok(o) => String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or_default().to_string(),
        };
        assert!(std::env::var("DELTACERT_REQUIRE_PYTHON").as_deref() != Ok("1"), "DELTACERT_REQUIRE_PYTHON=1 but python3 cannot import {modules}: {why}");
        println!("SKIP: ONNX reference comparison not run: python3 cannot import {modules} ({why}); install them with `python3 -m pip install onnx numpy`");
        eprintln!("SKIP: ONNX reference comparison not run: python3 cannot import {modules} ({why})");
    }
    available
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("an array").iter().map(|x| x.as_f64().expect("a number")).collect()
}

#[test]
fn reader_agrees_with_the_onnx_reference_evaluator() {
    if !python_with("onnx, onnx.reference, onnxruntime, numpy") {
        return;
    }
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("deltacert_onnx_reference_{}_{stamp}", std::process::id()));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx_reference/generate.py");
    let generated = Command::new(python()).arg(&script).arg(&dir).output().expect("python3 runs");
    assert!(generated.status.success(), "generate.py failed: {}", String::from_utf8_lossy(&generated.stderr));
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();

    let (mut compared, mut outputs_compared, mut refused, mut invalid) = (0usize, 0usize, 0usize, 0usize);
    let (mut qdq_exact, mut ort_static, mut ort_compared) = (0usize, 0usize, 0usize);
    let (mut static_outputs, mut static_identical, mut static_worst) = (0usize, 0usize, 0.0f64);
    let mut worst_ratio = 0.0f64;
    let mut per_dtype = std::collections::BTreeMap::<String, usize>::new();
    for entry in manifest.as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        let description = entry["description"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let result = std::panic::catch_unwind(|| deltacert::io::onnx::read(&bytes)).unwrap_or_else(|_| panic!("{file} ({description}): the reader panicked"));
        match entry["expect"].as_str().unwrap() {
            "read" => {
                let network = result.unwrap_or_else(|e| panic!("{file} ({description}, ops {}): refused: {e}", entry["ops"]));
                network.validate().unwrap_or_else(|e| panic!("{file}: invalid network: {e}"));
                let allowed = entry["tolerance"].as_f64().unwrap() * (1.0 + entry["magnitude"].as_f64().unwrap());
                let references: Vec<&Value> = [&entry["outputs"], &entry["ort_outputs"]].into_iter().filter(|v| !v.is_null()).collect();
                for (source, outputs) in references.iter().enumerate() {
                    let who = if source == 0 { "ONNX reference" } else { "onnxruntime" };
                    for (input, expected) in entry["inputs"].as_array().unwrap().iter().zip(outputs.as_array().unwrap()) {
                        let (input, expected) = (floats(input), floats(expected));
                        let got = network.eval(&input);
                        assert_eq!(got.len(), expected.len(), "{file} ({description}): output length");
                        for (j, (g, e)) in got.iter().zip(&expected).enumerate() {
                            let error = (g - e).abs();
                            assert!(error <= allowed, "{file} ({description}, ops {}) output {j} at {input:?}: deltacert {g}, {who} {e}, allowed {allowed:e}", entry["ops"]);
                            if allowed > 0.0 {
                                worst_ratio = worst_ratio.max(error / allowed);
                            }
                            outputs_compared += 1;
                            ort_compared += usize::from(source == 1);
                            if description.starts_with("quantize_static") && source == 1 {
                                static_outputs += 1;
                                static_identical += usize::from(*g == *e);
                                static_worst = static_worst.max(error);
                            }
                        }
                    }
                }
                qdq_exact += usize::from(description == "family_qdq_activations");
                ort_static += usize::from(description.starts_with("quantize_static"));
                compared += 1;
                *per_dtype.entry(entry["dtype"].as_str().unwrap().to_string()).or_default() += 1;
            }
            "invalid" => {
                // a model onnxruntime refuses (the generator checked it)
                let error = match result {
                    Ok(_) => panic!("{file} ({description}): onnxruntime refuses it, the reader must too"),
                    Err(e) => e,
                };
                assert!(matches!(error.kind, ErrorKind::Unsupported | ErrorKind::ShapeMismatch | ErrorKind::Malformed), "{file} ({description}): {:?}", error.kind);
                assert!(!error.context.is_empty() && !error.context.contains('\n'), "{file} ({description}): not one line: {}", error.context);
                invalid += 1;
            }
            _ => {
                let error = match result {
                    Ok(_) => panic!("{file} ({description}) must be refused"),
                    Err(e) => e,
                };
                assert!(matches!(error.kind, ErrorKind::Unsupported | ErrorKind::ShapeMismatch | ErrorKind::Malformed), "{file} ({description}): {:?}", error.kind);
                assert!(!error.context.contains('\n'), "{file}: a multi-line error: {}", error.context);
                assert!(error.context.starts_with("node ") || error.context.starts_with("input "), "{file} ({description}): the error names no node or input: {}", error.context);
                refused += 1;
            }
        }
    }
    println!("onnx_reference: {compared} graphs read and compared ({per_dtype:?}), {outputs_compared} outputs, largest error {worst_ratio:.3} of the allowed; {refused} refused as expected, {invalid} that onnxruntime refuses refused too");
    println!("onnx_reference: QDQ activations: {qdq_exact} exact graphs bit for bit, {ort_static} quantize_static models; {ort_compared} outputs compared with onnxruntime; quantize_static: {static_identical} of {static_outputs} outputs identical to onnxruntime's, largest difference {static_worst:e}");
    // the attributes the reader accepts are the ones onnx's schemas define,
    // operator by operator and opset by opset
    let schemas: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("schemas.json")).unwrap()).unwrap();
    let mut checked = 0;
    for op in deltacert::io::onnx::OPERATORS_READ {
        let per_opset = schemas[op].as_object().unwrap_or_else(|| panic!("onnx has no schema for {op}"));
        for opset in deltacert::io::onnx::OLDEST_OPSET..=deltacert::io::onnx::NEWEST_OPSET {
            let mut ours = deltacert::io::onnx::defined_attributes(op, opset);
            ours.sort_unstable();
            match per_opset.get(&opset.to_string()) {
                Some(theirs) => {
                    let theirs: Vec<&str> = theirs.as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
                    assert_eq!(ours, theirs, "{op} at opset {opset}");
                    checked += 1;
                }
                // QuantizeLinear and DequantizeLinear before opset 10: refused
                None => assert!(matches!(*op, "QuantizeLinear" | "DequantizeLinear") && opset < 10, "onnx has no {op} at opset {opset}"),
            }
        }
    }
    println!("onnx_reference: the attributes of {} operators at opsets {}..={} agree with onnx's schemas ({checked} pairs)", deltacert::io::onnx::OPERATORS_READ.len(), deltacert::io::onnx::OLDEST_OPSET, deltacert::io::onnx::NEWEST_OPSET);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(compared >= 200, "only {compared} graphs compared");
    assert_eq!(refused, 16);
    assert_eq!(invalid, 42);
    assert!(qdq_exact >= 20 && ort_static == 8, "{qdq_exact} exact QDQ graphs, {ort_static} quantize_static models");
}

/// The Python interpreter with onnx and onnxruntime: `DELTACERT_PYTHON`
/// (scripts/test.sh points it at its private environment), else `python3`.
fn python() -> String {
    std::env::var("DELTACERT_PYTHON").unwrap_or_else(|_| "python3".into())
}
