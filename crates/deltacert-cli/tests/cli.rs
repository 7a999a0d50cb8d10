//! Runs the real `deltacert` binary: outputs, and every class of bad input
//! (exit code 2 with a message naming the cause).

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(relative: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(relative).display().to_string()
}

fn deltacert(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deltacert")).args(args).output().expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("deltacert-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Asserts exit code 2, a one-line message, and that it contains every `needle`.
fn assert_bad_input(o: &Output, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    let message = stderr(o);
    assert_eq!(message.trim_end().lines().count(), 1, "one line: {message}");
    for needle in needles {
        assert!(message.contains(needle), "'{needle}' not in: {message}");
    }
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn info_reports_layers_and_parameters() {
    let o = deltacert(&["info", &fixture("paper/paper_quant_orig.onnx"), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["parameters"], 141);
    assert_eq!(v["dtype"], "float64");
    assert_eq!(v["layers"].as_array().unwrap().len(), 3);
    assert_eq!(v["layers"][0]["activation"], "relu");
}

/// A graph of one Identity node has no parameters, whatever layer holds it.
#[test]
fn info_counts_no_parameters_in_a_graph_without_weights() {
    use deltacert::io::onnx::proto::{data_type, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto};
    use prost::Message;
    let value_info = |name: &str| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { tensor_type: Some(TensorTypeProto { elem_type: data_type::FLOAT, shape: Some(TensorShapeProto { dim: vec![Dimension { dim_value: Some(1), dim_param: None }, Dimension { dim_value: Some(3), dim_param: None }] }) }) }),
    };
    let node = NodeProto { input: vec!["x".into()], output: vec!["y".into()], name: "copy".into(), op_type: "Identity".into(), ..Default::default() };
    let graph = GraphProto { node: vec![node], input: vec![value_info("x")], output: vec![value_info("y")], ..Default::default() };
    let bytes = ModelProto { ir_version: Some(8), graph: Some(graph), opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }], ..Default::default() }.encode_to_vec();
    let path = scratch("identity_only.onnx");
    std::fs::write(&path, bytes).unwrap();
    let o = deltacert(&["info", path.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["parameters"], 0);
    assert_eq!(v["sparsity"], serde_json::Value::Null);
    assert_eq!(v["inputs"], 3);
    let o = deltacert(&["info", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("parameters:  0 (the graph has no weight tensors)") && !text.contains("sparsity"), "{text}");
}

#[test]
fn eval_prints_single_and_batched_outputs() {
    let single = scratch("single.json");
    std::fs::write(&single, "[0.77]").unwrap();
    let o = deltacert(&["eval", &fixture("paper/paper_quant_q.onnx"), "--input", single.to_str().unwrap()]);
    assert!(o.status.success());
    let v: Vec<f64> = serde_json::from_slice(&o.stdout).unwrap();
    assert!((v[0] - -12.254375).abs() < 1e-12);
    let batch = scratch("batch.json");
    std::fs::write(&batch, "[[-1.0], [1.0]]").unwrap();
    let o = deltacert(&["eval", &fixture("paper/paper_quant_q.onnx"), "--input", batch.to_str().unwrap()]);
    let v: Vec<Vec<f64>> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v, vec![vec![-3.625], vec![-13.921875]]);
}

/// A hand-built QDQ model (tests/fixtures/qdq/make_qdq_mlp.py: quantisers
/// on the input, after the hidden layer with a folded ReLU, and on the
/// output; an int32 bias): `eval` gives the quantised outputs computed by
/// hand (ties to even, both saturations), which onnxruntime also gives;
/// `info` names the quantiser layers, and `propagate` and `milp` bound them.
#[test]
fn eval_of_a_qdq_model_gives_the_quantised_outputs() {
    let model = fixture("qdq/qdq_mlp.onnx");
    let batch = scratch("qdq_batch.json");
    std::fs::write(&batch, "[[0, 0], [0.25, 0.75], [1.3, -0.4], [2, 1], [-3, 5], [100, -100]]").unwrap();
    let o = deltacert(&["eval", &model, "--input", batch.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Vec<Vec<f64>> = serde_json::from_slice(&o.stdout).unwrap();
    // xq = 0.5 clamp(rne(2 x), 0, 255); h = (xq0 + xq1 / 2 + 0.75, xq1 - xq0 - 0.5);
    // hd = 0.25 clamp(rne(4 h), 0, 255); o = hd0 - hd1 / 2;
    // y = 0.125 (clamp(rne(8 o) + 3, -128, 127) - 3). At (0.25, 0.75) the ties
    // 2x = 0.5 and 1.5 go to 0 and 2; at (100, -100) hd0 saturates at 63.75
    // and y at 0.125 (127 - 3) = 15.5.
    assert_eq!(v, vec![vec![0.75], vec![1.0], vec![2.25], vec![3.25], vec![1.0], vec![15.5]]);
    let o = deltacert(&["info", &model, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let activations: Vec<&str> = info["layers"].as_array().unwrap().iter().map(|l| l["activation"].as_str().unwrap()).collect();
    assert_eq!(activations, ["quantize", "quantize", "quantize", "identity"]);
    assert_eq!(info["layers"][1]["quantizer"], serde_json::json!({ "scale": 0.25, "zero_point": -128.0, "qmin": -128.0, "qmax": 127.0 }));
    for method in ["propagate", "milp"] {
        let o = deltacert(&["bound", &model, &model, "--box", "-1,1", "--method", method, "--json"]);
        assert!(o.status.success(), "{method}: {}", stderr(&o));
    }
}

#[test]
fn compress_fixed_point_matches_the_papers_quantised_network() {
    let out = scratch("quant.onnx");
    let _ = std::fs::remove_file(&out);
    let o = deltacert(&["compress", &fixture("paper/paper_quant_orig.onnx"), "--quantize", "fixed:2", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("max weight change"));
    let inputs = scratch("grid.json");
    let grid: Vec<Vec<f64>> = (0..=200).map(|i| vec![-1.0 + 0.01 * i as f64]).collect();
    std::fs::write(&inputs, serde_json::to_string(&grid).unwrap()).unwrap();
    let ours = deltacert(&["eval", out.to_str().unwrap(), "--input", inputs.to_str().unwrap()]);
    let theirs = deltacert(&["eval", &fixture("paper/paper_quant_q.onnx"), "--input", inputs.to_str().unwrap()]);
    assert_eq!(ours.stdout, theirs.stdout);
    // never overwrite without being asked
    let again = deltacert(&["compress", &fixture("paper/paper_quant_orig.onnx"), "--quantize", "fixed:2", "-o", out.to_str().unwrap()]);
    assert_bad_input(&again, &["already exists", "--force"]);
    let forced = deltacert(&["compress", &fixture("paper/paper_quant_orig.onnx"), "--quantize", "fixed:3", "-o", out.to_str().unwrap(), "--force"]);
    assert!(forced.status.success());
}

#[test]
fn compress_structured_and_int8_write_loadable_models() {
    let pruned = scratch("pruned.onnx");
    let _ = std::fs::remove_file(&pruned);
    let o = deltacert(&["compress", &fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet"), "--prune", "0.5", "--structured", "-o", pruned.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info = deltacert(&["info", pruned.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["layers"][0]["width"], 25);
    assert_eq!(v["structured_pruning_map"], true);
    let q = scratch("int8.onnx");
    let _ = std::fs::remove_file(&q);
    let o = deltacert(&["compress", &fixture("paper/paper_cmp_nn1.onnx"), "--quantize", "int8", "--per-channel", "-o", q.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info = deltacert(&["info", q.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert!(v["dtype"].as_str().unwrap().starts_with("int8-qdq"));
}

#[test]
fn missing_file_is_named() {
    let o = deltacert(&["info", "/nonexistent/model.onnx"]);
    assert_bad_input(&o, &["/nonexistent/model.onnx", "cannot read"]);
}

#[test]
fn garbage_and_truncated_protobuf_are_rejected() {
    let garbage = scratch("garbage.onnx");
    std::fs::write(&garbage, b"\xff\xff\xff\xff this is not protobuf \x00\x01").unwrap();
    assert_bad_input(&deltacert(&["info", garbage.to_str().unwrap()]), &["garbage.onnx", "not a valid ONNX protobuf"]);
    let bytes = std::fs::read(fixture("paper/paper_quant_orig.onnx")).unwrap();
    let truncated = scratch("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert_bad_input(&deltacert(&["info", truncated.to_str().unwrap()]), &["truncated.onnx", "not a valid ONNX protobuf"]);
}

#[test]
fn unsupported_operator_names_the_node() {
    let mut bytes = std::fs::read(fixture("paper/paper_quant_orig.onnx")).unwrap();
    // op_type is field 4 of NodeProto: tag 0x22, length 4, "Relu"
    let at = bytes.windows(6).position(|w| w == b"\x22\x04Relu").expect("a Relu node");
    bytes[at + 5] = b'x';
    let path = scratch("relx.onnx");
    std::fs::write(&path, &bytes).unwrap();
    assert_bad_input(&deltacert(&["info", path.to_str().unwrap()]), &["relx.onnx", "node", "unsupported operator Relx"]);
}

#[test]
fn nan_weight_names_the_layer() {
    let text = "2,2,1,3,\n2,3,1,\n0,\n-1,-1,\n1,1,\n0,0,\n1,1,\n1,0,\nnan,1,\n1,1,\n0.5,\n0,\n-1,\n1,-1,1,\n0.25,\n";
    let path = scratch("nan.nnet");
    std::fs::write(&path, text).unwrap();
    assert_bad_input(&deltacert(&["info", path.to_str().unwrap()]), &["nan.nnet", "layer 1", "NaN"]);
}

#[test]
fn malformed_nnet_names_the_line() {
    let path = scratch("cut.nnet");
    std::fs::write(&path, "2,2,1,3,\n2,3,1,\n0,\n-1,-1,\n1,1,\n0,0,\n1,1,\n1,0,\n").unwrap();
    assert_bad_input(&deltacert(&["info", path.to_str().unwrap()]), &["cut.nnet", "file ends before layer 1 weight row 1"]);
}

#[test]
fn wrong_input_length_is_rejected() {
    let input = scratch("two.json");
    std::fs::write(&input, "[0.1, 0.2]").unwrap();
    let o = deltacert(&["eval", &fixture("paper/paper_quant_orig.onnx"), "--input", input.to_str().unwrap()]);
    assert_bad_input(&o, &["two.json", "2 values", "takes 1"]);
    let bad_json = scratch("bad.json");
    std::fs::write(&bad_json, "[0.1, ").unwrap();
    let o = deltacert(&["eval", &fixture("paper/paper_quant_orig.onnx"), "--input", bad_json.to_str().unwrap()]);
    assert_bad_input(&o, &["bad.json", "not valid JSON"]);
}

#[test]
fn bad_options_are_rejected() {
    let out = scratch("never.onnx");
    let o = deltacert(&["compress", &fixture("paper/paper_quant_orig.onnx"), "--quantize", "int7", "-o", out.to_str().unwrap()]);
    assert_bad_input(&o, &["int7"]);
    let o = deltacert(&["compress", &fixture("paper/paper_quant_orig.onnx"), "--prune", "1.5", "-o", out.to_str().unwrap()]);
    assert_bad_input(&o, &["1.5"]);
    assert!(!out.exists());
    let o = deltacert(&["info", "model.txt"]);
    assert_eq!(o.status.code(), Some(2));
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    let o = deltacert(&["bound", &f, &g, "--box", "-1,1", "--target-ratio", "0.5"]);
    assert_bad_input(&o, &["--target-ratio 0.5"]);
    let o = deltacert(&["bound", &f, &g, "--box", "-1,1", "--method", "propagate", "--timeout", "0"]);
    assert_bad_input(&o, &["--timeout", "'0' must be a finite number of seconds > 0"]);
}

/// Models written by `compress` load in onnxruntime and agree with `eval`
/// (float32, float64 and int8 QDQ). Needs python3 with onnx and onnxruntime,
/// which scripts/test.sh installs; without them the test prints SKIP and
/// passes, unless DELTACERT_REQUIRE_PYTHON=1 is set.
#[test]
fn exported_models_run_in_onnxruntime() {
    let probe = Command::new(python()).args(["-c", "import onnx, onnxruntime, numpy"]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        let why = match &probe {
            Err(e) => format!("python3 does not run: {e}"),
            Ok(o) => String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or_default().to_string(),
        };
        assert!(std::env::var("DELTACERT_REQUIRE_PYTHON").as_deref() != Ok("1"), "DELTACERT_REQUIRE_PYTHON=1 but python3 cannot import onnx, onnxruntime, numpy: {why}");
        println!("SKIP: onnxruntime check not run: python3 cannot import onnx, onnxruntime, numpy ({why})");
        eprintln!("SKIP: onnxruntime check not run: python3 cannot import onnx, onnxruntime, numpy ({why})");
        return;
    }
    let inputs = scratch("ort_inputs.json");
    std::fs::write(&inputs, "[[60000, 0.1, 0.2, 1150, 30], [56000, -2.0, 3.0, 1199, 59]]").unwrap();
    let paper_inputs = scratch("ort_paper.json");
    std::fs::write(&paper_inputs, "[[-1.0], [-0.3], [0.5], [1.0]]").unwrap();
    let cases: [(&str, &[&str], &PathBuf); 4] = [
        ("acasxu/ACASXU_run2a_1_1_batch_2000.nnet", &["--quantize", "int8", "--per-channel"], &inputs),
        ("acasxu/ACASXU_run2a_1_1_batch_2000.nnet", &["--prune", "0.3", "--structured"], &inputs),
        ("paper/paper_cmp_nn1.onnx", &["--prune", "0.2", "--dtype", "float32"], &paper_inputs),
        ("paper/paper_prune_orig.onnx", &["--quantize", "int4"], &paper_inputs),
    ];
    for (i, (model, options, input)) in cases.iter().enumerate() {
        let out = scratch(&format!("ort_{i}.onnx"));
        let _ = std::fs::remove_file(&out);
        let mut args = vec!["compress", &fixture(model)].into_iter().map(String::from).collect::<Vec<_>>();
        args.extend(options.iter().map(|s| s.to_string()));
        args.extend(["-o".to_string(), out.display().to_string()]);
        let o = Command::new(env!("CARGO_BIN_EXE_deltacert")).args(&args).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let check = Command::new(python())
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/onnxruntime_check.py"))
            .args([env!("CARGO_BIN_EXE_deltacert"), out.to_str().unwrap(), input.to_str().unwrap()])
            .output()
            .expect("python3 runs");
        assert!(check.status.success(), "{model} {options:?}: {}{}", String::from_utf8_lossy(&check.stdout), stderr(&check));
    }
}

/// The main job on a `.nnet` network: compress it, then bound the copy
/// against the original (the copy keeps the original's input normalisation).
#[test]
fn a_compressed_nnet_is_bounded_against_its_original() {
    let original = fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet");
    for (i, options) in [&["--quantize", "int8"][..], &["--prune", "0.1", "--dtype", "float32"][..]].iter().enumerate() {
        let out = scratch(&format!("nnet_copy_{i}.onnx"));
        let _ = std::fs::remove_file(&out);
        let mut args = vec!["compress", original.as_str()];
        args.extend(options.iter());
        args.extend(["-o", out.to_str().unwrap()]);
        let o = deltacert(&args);
        assert!(o.status.success(), "{options:?}: {}", stderr(&o));
        let o = deltacert(&["bound", &original, out.to_str().unwrap(), "--box-file", &fixture("acasxu/property_3.json"), "--method", "propagate", "--json"]);
        assert_eq!(o.status.code(), Some(0), "{options:?}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(v["certified_bound"].as_f64().is_some_and(|b| b > 0.0 && b.is_finite()), "{options:?}: {v}");
    }
}

/// Refused before any work: a figure in a directory that does not exist
/// (the run's result would otherwise be lost at the end).
#[test]
fn a_plot_in_a_missing_directory_is_refused_before_the_run() {
    let missing = scratch("no_such_directory").join("figure.svg");
    for command in [&["bound"][..], &["plan"][..]] {
        let mut args: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        args.push(fixture("paper/paper_quant_orig.onnx"));
        if command[0] == "bound" {
            args.push(fixture("paper/paper_quant_q.onnx"));
        } else {
            args.extend(["--tolerance", "1", "--quantize", "fixed:2..4"].map(String::from));
        }
        args.extend(["--box=-1,1", "--plot", missing.to_str().unwrap()].map(String::from));
        let o = Command::new(env!("CARGO_BIN_EXE_deltacert")).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{command:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("does not exist") && stderr(&o).trim().lines().count() == 1, "{}", stderr(&o));
        // refused before the run: no result (a bound, a table row) was printed
        assert!(o.stdout.is_empty(), "{command:?}: printed before refusing: {}", String::from_utf8_lossy(&o.stdout));
    }
}

/// `--top1` holds its time limit whatever `--samples` asks for (the largest
/// count overflowed an allocation or sampled forever).
#[test]
fn top1_holds_its_time_limit_with_any_sample_count() {
    // MNIST test image 0 +-20 grey levels: not decided by the first bound,
    // so the counterexample search runs
    let text = std::fs::read_to_string(fixture("mnist/test_images_100.json")).unwrap();
    let images: serde_json::Value = serde_json::from_str(&text).unwrap();
    let image: Vec<f64> = images["images"][0].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let lower: Vec<f64> = image.iter().map(|v| (v - 20.0).max(0.0)).collect();
    let upper: Vec<f64> = image.iter().map(|v| (v + 20.0).min(255.0)).collect();
    let box_file = scratch("top1_mnist_box.json");
    std::fs::write(&box_file, serde_json::json!({ "lower": lower, "upper": upper }).to_string()).unwrap();
    for samples in ["18446744073709551615", "18446744073709551614", "3000000"] {
        let started = std::time::Instant::now();
        let o = deltacert(&["bound", &fixture("mnist/mnist_relu_3_100.nnet"), &fixture("mnist/mnist_relu_3_100_16bit.nnet"), "--box-file", box_file.to_str().unwrap(), "--top1", "--confidence", "0.9", "--samples", samples, "--timeout", "1", "--json"]);
        let seconds = started.elapsed().as_secs_f64();
        assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "--samples {samples}: {}", stderr(&o));
        assert!(seconds < 3.0, "--samples {samples}: {seconds} s at --timeout 1");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("--samples {samples}: {e}: {}", stderr(&o)));
        assert!(v["answer"].is_string());
    }
}

/// `attack --timeout` stops the search whatever `--samples` asks for; an
/// error naming a file with a line break in its name is still one line.
#[test]
fn attack_holds_its_time_limit_and_errors_stay_one_line() {
    let started = std::time::Instant::now();
    let o = deltacert(&["attack", &fixture("mnist/mnist_relu_3_100.nnet"), &fixture("mnist/mnist_relu_3_100_16bit.nnet"), "--box", "0,255", "--samples", "18446744073709551615", "--timeout", "1", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(started.elapsed().as_secs_f64() < 3.0, "attack took {:?} at --timeout 1", started.elapsed());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["error"].as_f64().is_some_and(|e| e > 0.0), "{v}");
    let o = deltacert(&["info", "no such\nmodel.onnx"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
    let o = deltacert(&["plan", &fixture("paper/paper_quant_orig.onnx"), "--box=-1,1", "--tolerance", "1", "--prune", "0..1:0.001"]);
    assert!(stderr(&o).contains("1001 settings"), "{}", stderr(&o));
}

#[test]
fn bound_certifies_the_paper_pair_in_json() {
    // the default (auto): propagation, the SDP (small here), then splitting
    let o = deltacert(&["bound", &fixture("paper/paper_quant_orig.onnx"), &fixture("paper/paper_quant_q.onnx"), "--box", "-1,1", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["method"], "auto");
    let certified = v["certified_bound"].as_f64().unwrap();
    assert!((3.861206614305957..3.87).contains(&certified), "{certified}");
    assert!(v["details"]["sdp"]["solves"].as_array().is_some_and(|s| !s.is_empty()));
    assert!(v["details"]["split"]["stop"].is_string());
    // the SDP alone
    let o = deltacert(&["bound", &fixture("paper/paper_quant_orig.onnx"), &fixture("paper/paper_quant_q.onnx"), "--box", "-1,1", "--method", "sdp", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "certified");
    assert_eq!(v["norm"], "linf");
    assert_eq!(v["method"], "sdp");
    let certified = v["certified_bound"].as_f64().unwrap();
    assert!((3.861206614305957..3.87).contains(&certified), "{certified}");
    assert!((v["lower_bound"].as_f64().unwrap() - 3.861206614305957).abs() < 1e-9);
    assert_eq!(v["witness"].as_array().unwrap().len(), 1);
    assert!(v["ratio"].as_f64().unwrap() >= 1.0);
    assert_eq!(v["per_output_bound"].as_array().unwrap().len(), 1);
    assert!(v["details"]["sdp"]["solves"][0]["checked"]["shift"].as_f64().is_some());
    assert_eq!(v["reference"], fixture("paper/paper_quant_orig.onnx"));
}

#[test]
fn the_first_order_sdp_solver_certifies_the_paper_pair_within_its_timeout() {
    let started = std::time::Instant::now();
    let o = deltacert(&["bound", &fixture("paper/paper_quant_orig.onnx"), &fixture("paper/paper_quant_q.onnx"), "--box", "-1,1", "--method", "sdp", "--sdp-solver", "first-order", "--timeout", "6", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(started.elapsed().as_secs_f64() < 30.0, "the time limit did not hold");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["details"]["sdp"]["solver"], "first-order");
    let sdp = v["details"]["sdp"]["bound"].as_f64().expect("the first-order solve was certified");
    // at least the exact worst case (3.8612...), at most one propagation pass
    // (5.548, plus 0.1% for the start's magnitude multipliers: the solver
    // starts from propagation's certificate). How far below that 6 s get
    // depends on the machine's load (alone: about 3.89), so the solver's
    // accuracy is tested by step counts in tests/sdp_first_order.rs.
    assert!((3.861206614305957..5.56).contains(&sdp), "{sdp}");
    assert!(v["details"]["sdp"]["solves"][0]["checked"]["shift"].as_f64().is_some());
}

/// The full QC set grows like the square of the neurons: on ACAS Xu 1_1
/// property 3 (lifted dimension 226, 342,000 constraints) its build and one
/// assembly took 7 s past a 2 s limit. The build now stops at the limit and
/// a solve whose check cannot end by it is not started: the run ends near
/// the limit with propagation's certified bound.
#[test]
fn the_full_qc_set_keeps_the_time_limit() {
    let (f, g) = (fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet"), fixture("acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet"));
    let started = std::time::Instant::now();
    let o = deltacert(&["bound", &f, &g, "--box-file", &fixture("acasxu/property_3.json"), "--method", "sdp", "--qcs", "full", "--timeout", "2", "--json"]);
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(seconds < 4.5, "the 2 s limit did not hold: {seconds:.2} s");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["certified_bound"].as_f64().is_some_and(f64::is_finite), "{v}");
    // over the memory budget the build stops too, before the process would
    // pass it: propagation's bound with the reason, not an exit at the budget
    let o = deltacert(&["bound", &f, &g, "--box-file", &fixture("acasxu/property_1.json"), "--method", "sdp", "--qcs", "products", "--max-memory", "500M", "--timeout", "30", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["certified_bound"].as_f64().is_some_and(f64::is_finite), "{v}");
    assert!(v["note"].as_str().is_some_and(|n| n.contains("memory budget")), "{v}");
}

#[test]
fn decide_mode_exit_codes() {
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    let proven = deltacert(&["bound", &f, &g, "--box", "-1,1", "--eps", "4.0", "--quiet"]);
    assert_eq!(proven.status.code(), Some(0), "{}", stderr(&proven));
    let text = String::from_utf8_lossy(&proven.stdout);
    assert!(text.starts_with("decision: proven (certified"), "{text}");
    assert_eq!(text.lines().count(), 1, "--quiet prints one line: {text}");
    let refuted = deltacert(&["bound", &f, &g, "--box", "-1,1", "--eps", "3.0", "--json"]);
    assert_eq!(refuted.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&refuted.stdout).unwrap();
    assert_eq!(v["decision"], "counterexample");
    assert!(v["lower_bound"].as_f64().unwrap() > 3.0);
    // the search found the counterexample first: no SDP was set up
    assert!(v["details"].get("sdp").is_none(), "{}", v["details"]);
    let proven: serde_json::Value = serde_json::from_slice(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--eps", "4.0", "--json"]).stdout).unwrap();
    assert!(proven["details"].get("sdp").is_some(), "{}", proven["details"]);
}

/// `attack` refuses a set that a `.nnet` normalisation maps past the finite
/// numbers (a range of 1e-320), as `bound` does, rather than reporting an
/// error of 0 where the outputs are NaN; a whole QC set is not combined
/// with families.
#[test]
fn sets_without_outputs_and_mixed_qc_sets_are_refused() {
    // the ACAS Xu pair with the first input's range 1e-320
    let tiny_range = |file: &str, name: &str| {
        let text = std::fs::read_to_string(fixture(file)).unwrap();
        // the header's lines: comments, sizes, layer sizes, unused flag, mins, maxes, means, ranges
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let ranges = lines.iter().position(|l| !l.starts_with("//")).unwrap() + 6;
        let mut fields: Vec<String> = lines[ranges].split(',').map(str::to_string).collect();
        fields[0] = "1e-320".into();
        lines[ranges] = fields.join(",");
        let path = scratch(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path.display().to_string()
    };
    let f = tiny_range("acasxu/ACASXU_run2a_1_1_batch_2000.nnet", "tiny_range_f.nnet");
    let g = tiny_range("acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet", "tiny_range_g.nnet");
    for command in [vec!["attack"], vec!["bound", "--quiet"]] {
        let o = deltacert(&[command.as_slice(), &[f.as_str(), g.as_str(), "--box-file", &fixture("acasxu/property_1.json")]].concat());
        assert_bad_input(&o, &["tiny_range_f.nnet", "maps coordinate 0", "no output is defined there"]);
    }
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    let o = deltacert(&["bound", &f, &g, "--box", "-1,1", "--method", "sdp", "--qcs", "full+neighbours:3"]);
    assert_bad_input(&o, &["'full' is a whole set"]);
}

#[test]
fn no_certificate_exits_3_and_prints_no_number() {
    // a memory budget too small for the propagation on the MNIST pair
    let (f, g) = (fixture("mnist/mnist_relu_3_100.nnet"), fixture("mnist/mnist_relu_3_100_16bit.nnet"));
    let o = deltacert(&["bound", &f, &g, "--box", "0,0.01", "--max-memory", "8M", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "no_certificate");
    assert!(v["certified_bound"].is_null());
    assert!(v["note"].as_str().unwrap().contains("memory budget"), "{v}");
    let human = deltacert(&["bound", &f, &g, "--box", "0,0.01", "--max-memory", "8M", "--quiet"]);
    assert_eq!(human.status.code(), Some(3));
    // refused by the method's estimate ("needs about ... MiB") or, should the
    // resident size pass 8 MiB first, by the watchdog: no number either way
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.starts_with("no certificate (differential propagation needs about") || (text.is_empty() && stderr(&human).contains("memory budget")), "{text}");
    assert!(!text.contains("certified:"));
}

/// A memory budget far above what a run uses must not stop it: the matrix
/// products' library reserves scratch space per thread at twice the reported
/// last-level cache (about 1 GB a thread on a virtual machine reporting a
/// 480 MiB cache) and touches little of it; past the budget the resident size
/// decides. A budget below the resident size still stops the run.
#[test]
fn a_memory_budget_counts_what_is_resident_not_what_is_reserved() {
    let (f, g) = (fixture("mnist/mnist_relu_3_100.nnet"), fixture("mnist/mnist_relu_3_100_16bit.nnet"));
    let set = mnist_box(0, 3.0);
    let o = deltacert(&["bound", &f, &g, "--box-file", &set, "--max-memory", "200M", "--timeout", "3", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "certified");
    let o = deltacert(&["bound", &f, &g, "--box-file", &set, "--max-memory", "1M", "--timeout", "3"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("memory budget"), "{}", stderr(&o));
    // with --json the run still writes its one object, with no certificate
    let o = deltacert(&["bound", &f, &g, "--box-file", &set, "--max-memory", "1M", "--eps", "0.01", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
    assert_eq!((v["status"].as_str(), v["decision"].as_str()), (Some("no_certificate"), Some("unknown")), "{v}");
    assert!(v["certified_bound"].is_null() && v["note"].as_str().unwrap().contains("memory budget"), "{v}");
    let o = deltacert(&["bound", &f, &g, "--box-file", &set, "--max-memory", "1M", "--top1", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
    assert_eq!((v["answer"].as_str(), v["stop"].as_str()), (Some("unknown"), Some("memory_limit")), "{v}");
    assert_eq!((v["status"].as_str(), v["decision"].as_str()), (Some("no_certificate"), Some("unknown")), "{v}");
    // a run too short for any read of the resident size: its peak decides
    let (pf, pg) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    let o = deltacert(&["bound", &pf, &pg, "--box=-1,1", "--method", "propagate", "--max-memory", "2M", "--quiet"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("memory budget") && !String::from_utf8_lossy(&o.stdout).contains("certified"), "{}", stderr(&o));
    // plan too (it wrote nothing when stopped)
    let o = deltacert(&["plan", &f, "--box-file", &set, "--tolerance", "0.01", "--quantize", "fixed:4..6", "--max-memory", "1M", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
    assert_eq!(v["status"].as_str(), Some("memory_limit"), "{v}");
    assert!(v["rows"].as_array().unwrap().is_empty() && v["note"].as_str().unwrap().contains("memory budget"), "{v}");
}

#[test]
fn sdp_without_certificate_falls_back_to_the_checked_propagation_bound() {
    // a time limit far too short for any solve: the SDP gives nothing, the
    // report keeps propagation's certified bound and says why
    let o = deltacert(&["bound", &fixture("paper/paper_quant_orig.onnx"), &fixture("paper/paper_quant_q.onnx"), "--box", "-1,1", "--method", "sdp", "--timeout", "1e-9", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "certified");
    assert!(v["certified_bound"].as_f64().unwrap() >= 3.861206614305957);
    assert!(v["note"].as_str().unwrap().contains("the SDP gave no certificate"), "{v}");
}

#[test]
fn a_set_that_holds_no_double_says_why_nothing_was_observed() {
    // 0.1 is no double: the point set {0.1} holds no input a witness could be
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    for set in [&["--box", "0.1,0.1"][..], &["--box", "0.125,0.125"]] {
        let mut args = vec!["bound", &f, &g];
        args.extend_from_slice(set);
        args.extend_from_slice(&["--method", "propagate", "--json"]);
        let o = deltacert(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let said = v["note"].as_str().is_some_and(|n| n.contains("no double lies provably in the set as written"));
        if set[1] == "0.1,0.1" {
            assert!(said && v["lower_bound"].as_f64() == Some(0.0) && v["witness"].is_null(), "{v}");
        } else {
            // 0.125 is a double: it is evaluated, and nothing is said
            assert!(!said && v["lower_bound"].as_f64().unwrap() > 0.0, "{v}");
        }
    }
}

#[test]
fn bad_input_sets_are_rejected() {
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "1,-1"]), &["inverted", "lower 1 > upper -1"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "0,x"]), &["'x' is not a number"]);
    // decimals that round to the same double are compared as written
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "0.10000000000000001,0.1"]), &["inverted", "lower 0.10000000000000001 > upper 0.1"]);
    assert_bad_input(&deltacert(&["bound", &f, &g]), &["no input set"]);
    let box_file = scratch("box.json");
    std::fs::write(&box_file, r#"{"lower": [0.0, 0.0], "upper": [1.0, 1.0]}"#).unwrap();
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box-file", box_file.to_str().unwrap()]), &["2 coordinates", "take 1"]);
    let empty = scratch("empty.json");
    std::fs::write(&empty, r#"{"lower": [], "upper": []}"#).unwrap();
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box-file", empty.to_str().unwrap()]), &["empty.json", "box has 0 lower"]);
    assert_bad_input(&deltacert(&["bound", &f, &fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet"), "--box", "0,1"]), &["do not fit together"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--input-quant=-0.5"]), &["--input-quant"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--qcs", "everything"]), &["unknown QC family 'everything'"]);
}

#[test]
fn milp_method_gives_the_exact_worst_case() {
    let o = deltacert(&["bound", &fixture("paper/paper_quant_orig.onnx"), &fixture("paper/paper_quant_q.onnx"), "--box", "-1,1", "--method", "milp", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["method"], "milp");
    assert!((v["lower_bound"].as_f64().unwrap() - 3.861206614305957).abs() < 1e-9);
    assert_eq!(v["status"], "solver_bound");
    assert!(v["solver_bound"].as_f64().unwrap() >= 3.861206614305957);
    assert!(v["certified_bound"].as_f64().unwrap() >= 3.861206614305957);
    assert_eq!(v["details"]["milp"]["solves"][0]["status"], "Optimal");
    let human = deltacert(&["bound", &fixture("paper/paper_quant_orig.onnx"), &fixture("paper/paper_quant_q.onnx"), "--box", "-1,1", "--method", "milp"]);
    assert!(String::from_utf8_lossy(&human.stdout).starts_with("solver bound (HiGHS, NOT re-checked)"), "{}", String::from_utf8_lossy(&human.stdout));
    let o = deltacert(&["bound", &fixture("paper/paper_quant_orig.onnx"), &fixture("paper/paper_quant_q.onnx"), "--box", "-1,1", "--method", "milp", "--norm", "l2"]);
    assert_bad_input(&o, &["--method milp", "linf"]);
    // every solve optimal: the incumbent is the witness, no attack runs
    assert!(v["details"]["lower_bound_search"].is_null(), "{v}");
}

/// `--eps` is the decimal written: a bound equal to the nearest double of a
/// decimal just below it is not proven (it was: the double is above the
/// decimal), and the proof's printed bound is never above eps.
#[test]
fn eps_is_the_decimal_written() {
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    let run = |extra: &[&str]| deltacert(&[&["bound", &f, &g, "--box=-1,1", "--method", "propagate", "--samples", "100"][..], extra].concat());
    let o = run(&["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let certified = v["certified_bound"].as_f64().unwrap();
    // 31 significant digits of the bound, the last one lowered: a decimal
    // below the double whose nearest double it still is
    let digits = format!("{certified:.30e}");
    let (mantissa, exponent) = digits.split_once('e').unwrap();
    let last = mantissa.chars().last().unwrap().to_digit(10).unwrap();
    let below = format!("{}{}e{exponent}", &mantissa[..mantissa.len() - 1], if last > 0 { last - 1 } else { 0 });
    assert!(last > 0, "{digits}");
    assert_eq!(below.parse::<f64>().unwrap(), certified);
    let o = run(&["--eps", &below]);
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("decision: unknown"));
    // the double's exact decimal expansion (61 digits hold it): proven, and
    // the printed bound is at most eps
    let exact = format!("{certified:.60e}");
    let o = run(&["--eps", &exact, "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let line = String::from_utf8_lossy(&o.stdout).to_string();
    let printed: f64 = line.split("<= ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(printed <= certified, "{line}");
    assert_bad_input(&run(&["--eps=-1"]), &["--eps", "must be a finite number >= 0"]);
    // a negative number after a space is the option's value, not a flag
    assert_bad_input(&run(&["--eps", "-1"]), &["--eps", "must be a finite number >= 0"]);
    assert_bad_input(&run(&["--eps", "nan"]), &["--eps", "must be a finite number >= 0"]);
    // a negative decimal whose nearest double is -0 is still negative
    assert_bad_input(&run(&["--eps=-1e-400"]), &["--eps", "must be a finite number >= 0"]);
    // the digits the JSON gives (the shortest decimal of the double) are
    // proven when that decimal is at least the bound, by the bound's own double
    let shortest = format!("{certified}");
    let o = run(&["--eps", &shortest, "--quiet"]);
    let above_or_at = deltacert::io::vnnlib::decimal_against_nearest(&shortest) != Some(std::cmp::Ordering::Less);
    assert_eq!(o.status.code(), Some(if above_or_at { 0 } else { 3 }), "{shortest}: {}", String::from_utf8_lossy(&o.stdout));
}

/// A MILP cut by the time limit (MNIST at +-8/255 has hundreds of binaries)
/// still reports a witness: the attack runs after the solves, within the limit.
#[test]
fn a_milp_cut_by_the_time_limit_still_has_a_witness() {
    let (f, g) = (fixture("mnist/mnist_relu_3_100.nnet"), fixture("mnist/mnist_relu_3_100_16bit.nnet"));
    let set = mnist_box(0, 8.0);
    let o = deltacert(&["bound", &f, &g, "--box-file", &set, "--input-space", "normalized", "--method", "milp", "--timeout", "2", "--samples", "2000", "--json", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let solves = v["details"]["milp"]["solves"].as_array().unwrap();
    assert!(solves.iter().any(|s| s["status"] != "Optimal"), "{v}");
    assert!(v["lower_bound"].as_f64().unwrap() > 0.0 && v["witness"].is_array(), "{v}");
    assert_eq!(v["details"]["lower_bound_search"]["settings"]["samples"], 2000);
    assert!(v["lower_bound"].as_f64().unwrap() <= v["certified_bound"].as_f64().unwrap());
    // a functional check of the limit with a margin, not a speed target
    assert!(v["seconds"].as_f64().unwrap() < 3.0, "{}", v["seconds"]);
}

#[test]
fn bound_draws_the_papers_figure() {
    let path = scratch("paper.svg");
    let _ = std::fs::remove_file(&path);
    let o = deltacert(&["bound", &fixture("paper/paper_quant_orig.onnx"), &fixture("paper/paper_quant_q.onnx"), "--box", "-1,1", "--plot", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("<svg") && svg.contains("certified bound"));
    // an existing figure is not overwritten without --force
    let again = deltacert(&["bound", &fixture("paper/paper_quant_orig.onnx"), &fixture("paper/paper_quant_q.onnx"), "--box", "-1,1", "--plot", path.to_str().unwrap()]);
    assert_bad_input(&again, &["already exists"]);
}

#[test]
fn planner_picks_the_fewest_bits_within_the_tolerance() {
    let plot = scratch("plan.png");
    let _ = std::fs::remove_file(&plot);
    let tolerance = 1.0;
    let o = deltacert(&["plan", &fixture("paper/paper_quant_orig.onnx"), "--box", "-1,1", "--quantize", "fixed:1..8", "--tolerance", &tolerance.to_string(), "--json", "--plot", plot.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    let certified: Vec<f64> = rows.iter().map(|r| r["certified_bound"].as_f64().expect("every setting certified")).collect();
    let lower: Vec<f64> = rows.iter().map(|r| r["lower_bound"].as_f64().unwrap()).collect();
    for (c, l) in certified.iter().zip(&lower) {
        assert!(c >= l);
    }
    // the certified bound falls as bits grow (from 1 to 8 bits: by two orders of magnitude)
    for w in certified.windows(2) {
        assert!(w[1] <= w[0] * 1.05, "certified bound rose: {certified:?}");
    }
    assert!(certified[7] < certified[0] / 20.0, "{certified:?}");
    let smallest = rows.iter().find(|r| r["certified_bound"].as_f64().unwrap() <= tolerance).unwrap();
    assert_eq!(v["chosen"], smallest["setting"]);
    assert!(std::fs::read(&plot).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn too_large_sdp_is_refused_with_exit_3_instead_of_exhausting_memory() {
    let box_file = scratch("acas_p3.json");
    std::fs::write(&box_file, r#"{"lower": [1500, -0.06, 3.10, 980, 960], "upper": [1800, 0.06, 3.141592, 1200, 1200]}"#).unwrap();
    let o = deltacert(&[
        "bound",
        &fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet"),
        &fixture("acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet"),
        "--box-file",
        box_file.to_str().unwrap(),
        "--samples",
        "2000",
        "--method",
        "sdp",
        "--quiet",
    ]);
    // the SDP is refused before anything is built; the bound is propagation's
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("certified:"), "{text}");
    let o = deltacert(&[
        "bound",
        &fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet"),
        &fixture("acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet"),
        "--box-file",
        box_file.to_str().unwrap(),
        "--samples",
        "2000",
        "--method",
        "sdp",
        "--sdp-solver",
        "interior-point",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["note"].as_str().unwrap().contains("exceeds the interior-point SDP limit 150"), "{v}");
    assert!(v["details"]["sdp"]["solves"][0]["iterations"] == 0);
}

#[test]
fn planner_and_plot_options_are_checked() {
    let model = fixture("paper/paper_quant_orig.onnx");
    assert_bad_input(&deltacert(&["plan", &model, "--box", "-1,1", "--quantize", "fixed:8..2", "--tolerance", "1"]), &["empty range"]);
    assert_bad_input(&deltacert(&["plan", &model, "--box", "-1,1", "--quantize", "int8..4", "--tolerance", "1"]), &["fixed:A..B"]);
    assert_bad_input(&deltacert(&["plan", &model, "--box", "-1,1", "--prune", "0.2..1.5", "--tolerance", "1"]), &["'1.5' is not a fraction"]);
    // an infinite step: refused before any row is printed (it gave the setting NaN)
    for range in ["0..1:inf", "0.5..0.5:inf", "0..1:nan"] {
        let o = deltacert(&["plan", &model, "--box", "-1,1", "--prune", range, "--tolerance", "1"]);
        assert_bad_input(&o, &["--prune", "finite number > 0"]);
        assert!(o.stdout.is_empty(), "{range}: {}", String::from_utf8_lossy(&o.stdout));
    }
    assert_bad_input(&deltacert(&["plan", &model, "--box", "-1,1", "--quantize", "fixed:1..2", "--tolerance=-1"]), &["--tolerance"]);
    // a label with more than 12 decimals would not read back as the fraction pruned
    let o = deltacert(&["plan", &model, "--box", "-1,1", "--prune", "0.0000000000001..0.9:0.1", "--tolerance", "1"]);
    assert_bad_input(&o, &["--prune", "at most 12 decimals"]);
    assert!(o.stdout.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
    let jpg = scratch("figure.jpg");
    let o = deltacert(&["bound", &model, &fixture("paper/paper_quant_q.onnx"), "--box", "-1,1", "--plot", jpg.to_str().unwrap(), "--quiet"]);
    assert_bad_input(&o, &["figure.jpg", ".svg or .png"]);
}

fn acas(name: &str) -> String {
    fixture(&format!("acasxu/ACASXU_run2a_{name}_batch_2000.nnet"))
}

#[test]
fn propagate_bounds_acas_in_one_pass() {
    let o = deltacert(&["bound", &acas("1_1"), &fixture("acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet"), "--box-file", &fixture("acasxu/property_4.json"), "--method", "propagate", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["method"], "propagate");
    assert_eq!(v["status"], "certified");
    let (certified, lower) = (v["certified_bound"].as_f64().unwrap(), v["lower_bound"].as_f64().unwrap());
    // one pass over property 4: about 0.024, observed about 1.9e-3
    assert!(certified >= lower && certified < 0.05, "certified {certified}, observed {lower}");
    assert!(v["details"]["split"].is_null());
}

#[test]
fn optimised_slopes_tighten_acas_and_can_be_turned_off() {
    let (f, g) = (acas("1_1"), fixture("acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet"));
    let run = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["bound", f.as_str(), g.as_str(), "--box-file", "", "--method", "propagate", "--json"];
        let property = fixture("acasxu/property_4.json");
        args[4] = &property;
        args.extend_from_slice(extra);
        let o = deltacert(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    // fixed slopes: one pass, no optimisation in the evidence
    let fixed = run(&["--optimise-slopes", "0"]);
    let one_pass = fixed["certified_bound"].as_f64().unwrap();
    assert_eq!(fixed["details"]["propagate"]["one_pass_bound"].as_f64().unwrap(), one_pass);
    assert!(fixed["details"]["propagate"]["optimised_slopes"].is_null());
    // the default optimises the whole set's propagation: about 4x tighter here
    let optimised = run(&[]);
    let bound = optimised["certified_bound"].as_f64().unwrap();
    let evidence = &optimised["details"]["propagate"]["optimised_slopes"];
    assert_eq!(evidence["iterations"], 10);
    assert_eq!(evidence["scope"], "networks");
    assert!(bound < 0.5 * one_pass && bound >= optimised["lower_bound"].as_f64().unwrap(), "optimised {bound}, one pass {one_pass}");
    assert_eq!(optimised["details"]["propagate"]["one_pass_bound"].as_f64().unwrap(), one_pass);
    // every bound optimised: never looser than one pass
    let all = run(&["--optimise-slopes", "3", "--slope-scope", "all"]);
    assert_eq!(all["details"]["propagate"]["optimised_slopes"]["scope"], "all");
    assert!(all["certified_bound"].as_f64().unwrap() <= one_pass);
}

#[test]
fn decide_mode_proves_refutes_and_times_out_on_acas() {
    let (f, g) = (acas("1_1"), fixture("acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet"));
    // proven: property 3 needs splitting (one pass gives 0.17)
    let o = deltacert(&["bound", &f, &g, "--box-file", &fixture("acasxu/property_3.json"), "--eps", "0.05", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decision"], "proven");
    assert!(v["certified_bound"].as_f64().unwrap() <= 0.05);
    assert!(v["details"]["split"]["pieces_bounded"].as_u64().unwrap() > 1);
    assert_eq!(v["details"]["split"]["stop"], "proven");
    // refuted: the observed error (about 1.5e-3) is above 1e-4; the witness is in the box
    let o = deltacert(&["bound", &f, &g, "--box-file", &fixture("acasxu/property_3.json"), "--eps", "1e-4", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decision"], "counterexample");
    let witness: Vec<f64> = v["witness"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    let (lo, hi) = ([1500.0, -0.06, 3.10, 980.0, 960.0], [1800.0, 0.06, 3.141592, 1200.0, 1200.0]);
    assert!(witness.iter().zip(lo.iter().zip(hi)).all(|(x, (l, h))| *x >= *l && *x <= h), "{witness:?}");
    assert!(v["lower_bound"].as_f64().unwrap() > 1e-4);
    // undecided within the time limit: property 1 at 5e-5 (observed about 4.3e-5)
    let o = deltacert(&["bound", &f, &g, "--box-file", &fixture("acasxu/property_1.json"), "--eps", "5e-5", "--timeout", "2.5"]);
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stdout));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("decision: unknown"), "{text}");
    // progress on standard error for a run of more than a second
    assert!(stderr(&o).contains("pieces bounded"), "{}", stderr(&o));
}

#[test]
fn auto_bound_with_timeout_is_anytime_and_tighter_than_one_pass() {
    let (f, g) = (acas("1_1"), fixture("acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet"));
    let one = deltacert(&["bound", &f, &g, "--box-file", &fixture("acasxu/property_3.json"), "--method", "propagate", "--json"]);
    let split = deltacert(&["bound", &f, &g, "--box-file", &fixture("acasxu/property_3.json"), "--timeout", "3", "--json", "--quiet"]);
    assert!(split.status.success(), "{}", stderr(&split));
    let (one, split): (serde_json::Value, serde_json::Value) = (serde_json::from_slice(&one.stdout).unwrap(), serde_json::from_slice(&split.stdout).unwrap());
    let (a, b) = (one["certified_bound"].as_f64().unwrap(), split["certified_bound"].as_f64().unwrap());
    assert!(b < 0.5 * a, "split {b} vs one pass {a}");
    assert!(b >= split["lower_bound"].as_f64().unwrap());
    assert_eq!(split["details"]["split"]["stop"], "time_limit");
    // the time limit is honoured (a functional check with a wide margin, not a speed target)
    assert!(split["seconds"].as_f64().unwrap() < 30.0);
}

#[test]
fn flags_that_do_not_apply_are_errors() {
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--method", "propagate", "--qcs", "full"]), &["--qcs applies to --method sdp or auto"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--method", "milp", "--target-ratio", "1.5"]), &["--target-ratio applies to --method auto"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--method", "sdp", "--target-ratio", "1.5"]), &["--target-ratio applies to --method auto"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--method", "propagate", "--sdp-max-dim", "10"]), &["--sdp-max-dim applies"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--method", "propagate", "--sdp-solver", "first-order"]), &["--sdp-solver applies"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--method", "sdp", "--sdp-solver", "newton"]), &["unknown SDP solver 'newton'"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--method", "sdp", "--optimise-slopes", "5"]), &["--optimise-slopes applies to --method propagate or auto"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--method", "milp", "--slope-scope", "all"]), &["--slope-scope applies to --method propagate or auto"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--top1", "--optimise-slopes", "5"]), &["--optimise-slopes does not apply to --top1"]);
    // clap lists the scopes (exit 2)
    let o = deltacert(&["bound", &f, &g, "--box", "-1,1", "--slope-scope", "everything"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("output, networks, all"), "{}", stderr(&o));
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--input-space", "raw"]), &["--input-space applies to models with input normalisation"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--force"]), &["--force applies to --plot"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "-1,1", "--max-memory", "lots"]), &["--max-memory lots"]);
    // clap refuses --ball without --center at parse time (exit 2)
    let o = deltacert(&["bound", &f, &g, "--box", "-1,1", "--ball", "l2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn help_states_the_exit_codes() {
    for args in [vec!["--help"], vec!["bound", "--help"], vec!["plan", "--help"]] {
        let o = deltacert(&args);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("Exit codes:") && text.contains("3  no certificate"), "{args:?}: {text}");
    }
}

#[test]
fn plan_exits_nonzero_when_no_setting_is_within_the_tolerance() {
    let model = fixture("paper/paper_quant_orig.onnx");
    // every fixed:1..2 copy errs by more than 1 somewhere: counterexamples, exit 1
    let o = deltacert(&["plan", &model, "--box", "-1,1", "--quantize", "fixed:1..2", "--tolerance", "1", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["chosen"].is_null());
    assert!(v["rows"].as_array().unwrap().iter().all(|r| r["decision"] == "counterexample"));
    // 10^7 pruning settings are refused before any work
    assert_bad_input(&deltacert(&["plan", &model, "--box", "-1,1", "--prune", "0..1:0.0000001", "--tolerance", "1"]), &["at most 1000"]);
    // plan takes the coupling options of bound
    let o = deltacert(&["plan", &model, "--box", "-1,1", "--quantize", "fixed:6..6", "--tolerance", "2", "--input-quant", "0.01", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// The Python interpreter with onnx and onnxruntime: `DELTACERT_PYTHON`
/// (scripts/test.sh points it at its private environment), else `python3`.
fn python() -> String {
    std::env::var("DELTACERT_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[test]
fn a_vnnlib_union_of_boxes_is_bounded_box_by_box() {
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    // [-1, -0.5] or [0.5, 1] (one assert, VNN-COMP style); the worst case is at x = 1
    let property = scratch("union.vnnlib");
    std::fs::write(&property, "(declare-const X_0 Real)\n(assert (or (and (>= X_0 -1) (<= X_0 -0.5)) (and (>= X_0 0.5) (<= X_0 1))))\n").unwrap();
    let o = deltacert(&["bound", &f, &g, "--vnnlib", property.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["details"]["union"].as_array().unwrap().len(), 2, "{v}");
    assert!((v["lower_bound"].as_f64().unwrap() - 3.861206614305957).abs() < 1e-9, "{v}");
    assert!(v["certified_bound"].as_f64().unwrap() >= 3.861206614305957);
    // the single-set commands refuse a union by name
    let o = deltacert(&["attack", &f, &g, "--vnnlib", property.to_str().unwrap()]);
    assert_bad_input(&o, &["union of 2 boxes"]);
    // with separate inputs x' may lie in the other box (x = -0.5, x' = 1 with a
    // step of 1.5): box by box would miss it, so it is refused, not "proven"
    for coupling in [&["--input-quant", "1.5"][..], &["--independent-inputs"][..]] {
        let o = deltacert(&[&["bound", &f, &g, "--vnnlib", property.to_str().unwrap(), "--eps", "10"][..], coupling].concat());
        assert_bad_input(&o, &[coupling[0], "over a union of 2 boxes"]);
    }
}

/// A box of +-p/255 around MNIST test image `index`, clipped to [0, 1], as a box file.
fn mnist_box(index: usize, p: f64) -> String {
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture("mnist/test_images_100.json")).unwrap()).unwrap();
    let pixels: Vec<f64> = data["images"][index].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() / 255.0).collect();
    let lower: Vec<f64> = pixels.iter().map(|v| (v - p / 255.0).max(0.0)).collect();
    let upper: Vec<f64> = pixels.iter().map(|v| (v + p / 255.0).min(1.0)).collect();
    let path = scratch(&format!("mnist_{index}_{p}.json"));
    std::fs::write(&path, serde_json::json!({"lower": lower, "upper": upper}).to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn top1_exit_codes_follow_the_answer() {
    let (f, g) = (fixture("mnist/mnist_relu_3_100.nnet"), fixture("mnist/mnist_relu_3_100_16bit.nnet"));
    // +-2/255 around image 0: the float16 copy keeps the label
    let small = mnist_box(0, 2.0);
    let o = deltacert(&["bound", &f, &g, "--box-file", &small, "--top1", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["answer"], "proven");
    assert_eq!(v["proven_fraction"], 1.0);
    // the keys of every `bound --json` object
    assert_eq!((v["status"].as_str(), v["decision"].as_str(), v["method"].as_str()), (Some("certified"), Some("proven"), Some("top1")), "{v}");
    assert!(v["witness"].is_null());
    // +-4/255 around image 9: propagation and input halvings leave the set
    // open, the linear programs on neuron phases prove it (about 260 of
    // them, branching on the chord that holds the bound up; branching on
    // the neuron farthest above its ReLU left it open after 60 s)
    let o = deltacert(&["bound", &f, &g, "--box-file", &mnist_box(9, 4.0), "--top1", "--timeout", "60", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["answer"] == "proven" && v["phase_programs"].as_u64().unwrap() > 0, "{v}");
    // +-40/255 with one second: undecided, exit 3, with the proven fraction
    let large = mnist_box(0, 40.0);
    let o = deltacert(&["bound", &f, &g, "--box-file", &large, "--top1", "--timeout", "1", "--quiet"]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(matches!(o.status.code(), Some(1) | Some(3)), "{text} {}", stderr(&o));
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    // two unrelated ACAS Xu networks: a label flip, re-checked, exit 1
    let (a, b) = (fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet"), fixture("acasxu/ACASXU_run2a_3_7_batch_2000.nnet"));
    let o = deltacert(&["bound", &a, &b, "--box-file", &fixture("acasxu/property_3.json"), "--top1", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["answer"], "counterexample");
    assert_ne!(v["counterexample"]["reference_label"], v["counterexample"]["compressed_label"]);
    assert_eq!((v["status"].as_str(), v["decision"].as_str()), (Some("certified"), Some("counterexample")), "{v}");
    assert_eq!(v["witness"], v["counterexample"]["input"]);
    // a quantised input of g: proven on the small box, and the unrelated
    // pair's counterexample names both inputs, within the step
    let o = deltacert(&["bound", &f, &g, "--box-file", &small, "--top1", "--input-quant", "0.002", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("x' in it within the step of x"));
    let o = deltacert(&["bound", &a, &b, "--box-file", &fixture("acasxu/property_3.json"), "--top1", "--input-quant", "1", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (x, xg) = (v["witness"].as_array().unwrap(), v["witness_compressed"].as_array().unwrap());
    assert!(x.iter().zip(xg).all(|(a, b)| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() <= 1.0), "{v}");
    assert_eq!(v["witness_compressed"], v["counterexample"]["compressed_input"]);
    assert_eq!((v["coupling"].as_str(), v["input_quant"].as_str()), (Some("quantised_input"), Some("1")), "{v}");
    // flags that do not apply are errors
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box-file", &small, "--top1", "--eps", "1"]), &["--eps", "--top1"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box-file", &small, "--top1", "--confidence", "1.5"]), &["--confidence"]);
    assert_eq!(deltacert(&["bound", &f, &g, "--box-file", &small, "--confidence", "0.9"]).status.code(), Some(2));
}

#[test]
fn outputs_restrict_the_bound_to_the_listed_outputs() {
    let (f, g) = (fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet"), fixture("acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet"));
    let set = fixture("acasxu/property_3.json");
    let full = deltacert(&["bound", &f, &g, "--box-file", &set, "--method", "propagate", "--json"]);
    assert!(full.status.success(), "{}", stderr(&full));
    let full: serde_json::Value = serde_json::from_slice(&full.stdout).unwrap();
    let some = deltacert(&["bound", &f, &g, "--box-file", &set, "--method", "propagate", "--outputs", "2,0", "--json"]);
    assert!(some.status.success(), "{}", stderr(&some));
    let some: serde_json::Value = serde_json::from_slice(&some.stdout).unwrap();
    // one propagation pass bounds each output on its own: the same numbers
    assert_eq!(some["per_output_bound"][0], full["per_output_bound"][2]);
    assert_eq!(some["per_output_bound"][1], full["per_output_bound"][0]);
    assert_eq!(some["outputs"], serde_json::json!([2, 0]));
    let human = deltacert(&["bound", &f, &g, "--box-file", &set, "--method", "propagate", "--outputs", "2,0"]);
    let text = String::from_utf8_lossy(&human.stdout).into_owned();
    assert!(text.contains("output 2:") && text.contains("output 0:"), "{text}");
    // the headline states the bound for the listed outputs only
    assert!(text.starts_with("certified: max_(j in {2,0}) |f_j(x) - g_j(x)| <= "), "{text}");
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box-file", &set, "--outputs", "5"]), &["--outputs", "output 5 does not exist"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box-file", &set, "--outputs", "1,1"]), &["listed twice"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box-file", &set, "--outputs=-1"]), &["--outputs", "'-1' is not an output number"]);
}

/// A 3-5-4 ReLU classifier with fixed weights; `shift` perturbs every weight.
fn small_classifier(shift: f64) -> deltacert::network::Network {
    use deltacert::activation::Activation;
    use deltacert::network::{Layer, Matrix, Network};
    let values = |count: usize, seed: f64| -> Vec<f64> { (0..count).map(|i| ((i as f64 + 1.0) * seed).sin() + shift).collect() };
    Network {
        input_dim: 3,
        input_transform: None,
        layers: vec![
            Layer::dense(0, Matrix::from_rows(5, 3, values(15, 1.3)), values(5, 0.7), Activation::Relu),
            Layer::dense(1, Matrix::from_rows(4, 5, values(20, 2.1)), values(4, 0.4), Activation::Identity),
        ],
        kept_neurons: None,
        source_dtype: "float64".into(),
        output_softmax: false,
    }
}

/// `network` (a chain) in the VNN-COMP layout: an input of shape `[n]`,
/// layers `MatMul(W, x)`, `Add` of a bias of shape `[m]`, `Relu`.
fn vnn_layout_bytes(network: &deltacert::network::Network) -> Vec<u8> {
    use deltacert::io::onnx::proto::{data_type, Dimension, GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto};
    use prost::Message;
    let value_info = |name: &str, dims: &[usize]| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { tensor_type: Some(TensorTypeProto { elem_type: data_type::DOUBLE, shape: Some(TensorShapeProto { dim: dims.iter().map(|&d| Dimension { dim_value: Some(d as i64), dim_param: None }).collect() }) }) }),
    };
    let tensor = |name: String, dims: &[usize], values: &[f64]| TensorProto { name, dims: dims.iter().map(|&d| d as i64).collect(), data_type: data_type::DOUBLE, double_data: values.to_vec(), ..Default::default() };
    let node = |op: &str, inputs: &[String], output: String| NodeProto { input: inputs.to_vec(), output: vec![output.clone()], name: output, op_type: op.into(), ..Default::default() };
    let (mut nodes, mut initializers) = (Vec::new(), Vec::new());
    let mut current = "x".to_string();
    for (k, layer) in network.layers.iter().enumerate() {
        let w = &layer.terms[0].weights;
        initializers.push(tensor(format!("W{k}"), &[w.rows, w.cols], &w.data));
        initializers.push(tensor(format!("b{k}"), &[layer.width()], &layer.bias));
        nodes.push(node("MatMul", &[format!("W{k}"), current.clone()], format!("m{k}")));
        nodes.push(node("Add", &[format!("m{k}"), format!("b{k}")], format!("v{k}")));
        current = format!("v{k}");
        if k + 1 < network.layers.len() {
            nodes.push(node("Relu", &[current.clone()], format!("a{k}")));
            current = format!("a{k}");
        }
    }
    if network.output_softmax {
        nodes.push(node("Softmax", &[current.clone()], "probabilities".into()));
        current = "probabilities".into();
    }
    let graph = GraphProto { node: nodes, initializer: initializers, input: vec![value_info("x", &[network.input_dim])], output: vec![value_info(&current, &[network.output_dim()])], ..Default::default() };
    ModelProto { ir_version: Some(8), graph: Some(graph), opset_import: vec![deltacert::io::onnx::proto::OperatorSetIdProto { domain: String::new(), version: 13 }], ..Default::default() }.encode_to_vec()
}

/// A Conv (one channel in, two out, 2x2 kernel, no padding) on a 3x3
/// input, Relu, Flatten and Gemm to two outputs, as ONNX bytes.
fn conv_model_bytes() -> Vec<u8> {
    use deltacert::io::onnx::proto::{attribute_type, data_type, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto};
    use prost::Message;
    let value_info = |name: &str, dims: &[i64]| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { tensor_type: Some(TensorTypeProto { elem_type: data_type::DOUBLE, shape: Some(TensorShapeProto { dim: dims.iter().map(|&d| Dimension { dim_value: Some(d), dim_param: None }).collect() }) }) }),
    };
    let tensor = |name: &str, dims: &[i64], values: Vec<f64>| TensorProto { name: name.into(), dims: dims.to_vec(), data_type: data_type::DOUBLE, double_data: values, ..Default::default() };
    let node = |op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>| NodeProto { input: inputs.iter().map(|s| s.to_string()).collect(), output: vec![output.into()], name: output.into(), op_type: op.into(), attribute, ..Default::default() };
    let axis = AttributeProto { name: "axis".into(), i: 1, r#type: attribute_type::INT, ..Default::default() };
    let nodes = vec![node("Conv", &["x", "k", "kb"], "c", vec![]), node("Relu", &["c"], "r", vec![]), node("Flatten", &["r"], "flat", vec![axis]), node("Gemm", &["flat", "w", "b"], "y", vec![])];
    let initializers = vec![
        tensor("k", &[2, 1, 2, 2], vec![0.5, -0.25, 0.75, 0.125, -0.5, 1.0, 0.25, -0.75]),
        tensor("kb", &[2], vec![0.1, -0.1]),
        tensor("w", &[8, 2], (0..16).map(|i| ((i * 7 % 11) as f64 - 5.0) / 8.0).collect()),
        tensor("b", &[2], vec![0.0, 0.5]),
    ];
    let graph = GraphProto { node: nodes, initializer: initializers, input: vec![value_info("x", &[1, 1, 3, 3])], output: vec![value_info("y", &[1, 2])], ..Default::default() };
    ModelProto { ir_version: Some(8), graph: Some(graph), opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }], ..Default::default() }.encode_to_vec()
}

/// `compress` on a model with a Conv: the convolution is held as a dense
/// matrix, so pruning and per-channel scales (which would act on that
/// matrix, not on the kernel) are refused naming the node; per-tensor
/// quantisation keeps the kernel's own quantised values.
#[test]
fn compress_refuses_to_prune_a_convolution() {
    let model = scratch("conv_model.onnx");
    std::fs::write(&model, conv_model_bytes()).unwrap();
    let model = model.display().to_string();
    let out = scratch("conv_pruned.onnx");
    let _ = std::fs::remove_file(&out);
    for flags in [&["--prune", "0.5"][..], &["--prune", "0.5", "--structured"], &["--quantize", "int8", "--per-channel"]] {
        let mut command = vec!["compress", &model];
        command.extend_from_slice(flags);
        command.extend_from_slice(&["-o", out.to_str().unwrap()]);
        let o = deltacert(&command);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("node 'c' is a Conv") && stderr(&o).lines().count() == 1, "{flags:?}: {}", stderr(&o));
        assert!(!out.exists());
    }
    // info says how it counts the Conv's parameters
    let o = deltacert(&["info", &model]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("its Conv node counted as the dense matrix it applies"));
    // plan prunes too
    let o = deltacert(&["plan", &model, "--box=0,1", "--tolerance", "1", "--prune", "0.1..0.5"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("node 'c' is a Conv"), "{}", stderr(&o));
    let o = deltacert(&["compress", &model, "--quantize", "int8", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // the kernel's int8 values: scale max |k| / 127 = 1 / 127 (a float32
    // in the file), every kernel weight a multiple of it
    let compressed = deltacert::io::read_model(&out).unwrap();
    let scale = (1.0f32 / 127.0) as f64;
    for &w in &compressed.layers[0].terms[0].weights.data {
        let q = w / scale;
        assert!((q - q.round()).abs() < 1e-9 && q.abs() <= 127.0 + 1e-9, "{w}");
    }
}

/// Writes `network` as ONNX (`vnn`: in the VNN-COMP layout, else with the
/// library's writer) to a scratch file.
fn write_model(name: &str, network: &deltacert::network::Network, vnn: bool) -> String {
    let bytes = if vnn { vnn_layout_bytes(network) } else { deltacert::io::onnx::write(network, &deltacert::io::onnx::ExportFormat::Float64).unwrap() };
    let path = scratch(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

/// Classifiers ending in Softmax, and in the VNN-COMP layout: `eval` gives
/// probabilities, `info` shows the softmax, `bound --top1` answers as on the
/// logits, and `bound` maps the logits' bound to `min(1, bound / 2)`.
#[test]
fn softmax_and_vnn_layout_classifiers_are_bounded() {
    let (f, g) = (small_classifier(0.0), small_classifier(0.002));
    let with_softmax = |n: &deltacert::network::Network| deltacert::network::Network { output_softmax: true, ..n.clone() };
    let logits = (write_model("f_logits.onnx", &f, false), write_model("g_logits.onnx", &g, false));
    let softmax = (write_model("f_softmax.onnx", &with_softmax(&f), false), write_model("g_softmax.onnx", &with_softmax(&g), false));
    let vnn = (write_model("f_vnn.onnx", &f, true), write_model("g_vnn.onnx", &g, true));
    let vnn_softmax = (write_model("f_vnn_softmax.onnx", &with_softmax(&f), true), write_model("g_vnn_softmax.onnx", &with_softmax(&g), true));
    let set = scratch("classifier_box.json");
    std::fs::write(&set, r#"{"lower": [-1.05, -0.05, 0.95], "upper": [-0.95, 0.05, 1.05]}"#).unwrap();
    let set = set.display().to_string();

    // info and eval
    let o = deltacert(&["info", &softmax.0, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["output_softmax"].as_bool(), v["layers"].as_array().unwrap().len()), (Some(true), 2));
    let o = deltacert(&["info", &vnn_softmax.0]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("softmax of layer 2"), "{}", String::from_utf8_lossy(&o.stdout));
    let input = scratch("classifier_input.json");
    std::fs::write(&input, "[0.12, -0.18, 0.31]").unwrap();
    let eval = |model: &str| -> Vec<f64> {
        let o = deltacert(&["eval", model, "--input", input.to_str().unwrap()]);
        assert!(o.status.success(), "{model}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let (z, p) = (eval(&logits.0), eval(&softmax.0));
    let total: f64 = z.iter().map(|v| v.exp()).sum();
    for j in 0..4 {
        assert!((p[j] - z[j].exp() / total).abs() < 1e-15, "{p:?} vs softmax of {z:?}");
    }
    assert_eq!(eval(&vnn.0), z);
    assert_eq!(eval(&vnn_softmax.0), p);

    // --top1: the same answer on logits, probabilities and either layout
    let top1 = |(a, b): &(String, String)| -> (Option<i32>, serde_json::Value) {
        let o = deltacert(&["bound", a, b, "--box-file", &set, "--top1", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", stderr(&o)));
        (o.status.code(), v["answer"].clone())
    };
    let expected = top1(&logits);
    assert_eq!(expected, (Some(0), serde_json::json!("proven")));
    for pair in [&softmax, &vnn, &vnn_softmax] {
        assert_eq!(top1(pair), expected, "{pair:?}");
    }

    // bound: probabilities get min(1, half the logits' bound)
    let certified = |(a, b): &(String, String)| -> f64 {
        let o = deltacert(&["bound", a, b, "--box-file", &set, "--method", "propagate", "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["certified_bound"].as_f64().unwrap()
    };
    let (on_logits, on_probabilities) = (certified(&logits), certified(&softmax));
    assert!(on_logits > 0.0 && on_probabilities == (0.5 * on_logits).min(1.0), "{on_logits} {on_probabilities}");
    assert_eq!(certified(&vnn), on_logits);
    assert_eq!(certified(&vnn_softmax), on_probabilities);
    // a pair where one network ends in Softmax, and --outputs on probabilities
    assert_bad_input(&deltacert(&["bound", &logits.0, &softmax.1, "--box-file", &set]), &["only one network ends in Softmax"]);
    assert_bad_input(&deltacert(&["bound", &softmax.0, &softmax.1, "--box-file", &set, "--outputs", "1"]), &["--outputs", "Softmax"]);
}

/// The Python with onnxruntime the tests may use (`DELTACERT_PYTHON`); with
/// `DELTACERT_REQUIRE_PYTHON=1` (as `scripts/test.sh` sets) it must be there.
fn python_with_onnxruntime() -> Option<String> {
    let python = std::env::var("DELTACERT_PYTHON").ok();
    let works = python.as_ref().is_some_and(|p| Command::new(p).args(["-c", "import onnxruntime"]).output().is_ok_and(|o| o.status.success()));
    if !works && std::env::var("DELTACERT_REQUIRE_PYTHON").is_ok_and(|v| v == "1") {
        panic!("DELTACERT_REQUIRE_PYTHON=1 but DELTACERT_PYTHON has no onnxruntime");
    }
    python.filter(|_| works)
}

/// `bound --method milp` on a quantised-activation copy (`compress --quantize
/// int8 --activations --calibration`: int8 weights, every hidden ReLU folded
/// into a uint8 quantiser): the solver bound covers the error at every
/// point of a fine grid, the rigorous lower bound at the MILP's witness is
/// at least the largest sampled error and meets the solver bound up to its
/// padding, and the report counts the quantisers' level columns (neurons
/// with a single level on the box are constants and get none).
#[test]
fn milp_bounds_a_quantised_activation_copy() {
    let model = fixture("paper/paper_quant_orig.onnx");
    let calibration = scratch("milp_calibration.json");
    std::fs::write(&calibration, "[[-1.0], [-0.5], [0.0], [0.5], [1.0]]").unwrap();
    let out = scratch("milp_activations.onnx");
    let _ = std::fs::remove_file(&out);
    let o = deltacert(&["compress", &model, "--quantize", "int8", "--activations", "--calibration", calibration.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = deltacert(&["bound", &model, out.to_str().unwrap(), "--box=-1,1", "--method", "milp", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["method"], "milp");
    assert_eq!(v["status"], "solver_bound");
    let (solver, lower, certified) = (v["solver_bound"].as_f64().unwrap(), v["lower_bound"].as_f64().unwrap(), v["certified_bound"].as_f64().unwrap());
    let milp = &v["details"]["milp"];
    // a level column for each quantised neuron that takes two levels or more on the box
    let levels = milp["integers"].as_u64().unwrap();
    assert!((5..=20).contains(&levels), "{levels} level columns for 20 quantised neurons: {milp}");
    assert!(milp["solves"].as_array().unwrap().iter().all(|s| s["status"] == "Optimal"), "{milp}");
    // the error at 4001 grid points, evaluated by deltacert
    let inputs: Vec<Vec<f64>> = (0..=4000).map(|i| vec![-1.0 + i as f64 / 2000.0]).collect();
    let input_file = scratch("milp_grid.json");
    std::fs::write(&input_file, serde_json::to_string(&inputs).unwrap()).unwrap();
    let eval = |m: &str| -> Vec<Vec<f64>> { serde_json::from_slice(&deltacert(&["eval", m, "--input", input_file.to_str().unwrap()]).stdout).unwrap() };
    let (reference, quantised) = (eval(&model), eval(out.to_str().unwrap()));
    let sampled = reference.iter().zip(&quantised).map(|(f, g)| (f[0] - g[0]).abs()).fold(0.0, f64::max);
    assert!(sampled > 0.0 && sampled <= solver, "sampled {sampled}, solver bound {solver}");
    assert!(lower >= sampled - 1e-9 && lower <= solver && solver - lower <= 1e-5 * (1.0 + solver), "lower {lower}, sampled {sampled}, solver bound {solver}");
    assert!(certified >= lower, "certified {certified} below the lower bound {lower}");
    let human = deltacert(&["bound", &model, out.to_str().unwrap(), "--box=-1,1", "--method", "milp"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.starts_with("solver bound (HiGHS, NOT re-checked)") && text.contains(&format!("{levels} quantiser levels per solve")), "{text}");
}

#[test]
fn compress_quantises_activations_as_onnxruntime_runs_them() {
    let model = fixture("paper/paper_quant_orig.onnx");
    let calibration = scratch("calibration.json");
    std::fs::write(&calibration, "[[-1.0], [-0.5], [0.0], [0.5], [1.0]]").unwrap();
    let out = scratch("activations.onnx");
    let _ = std::fs::remove_file(&out);
    let o = deltacert(&["compress", &model, "--quantize", "int8", "--activations", "--calibration", calibration.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info = deltacert(&["info", out.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["layers"][0]["activation"], "quantize", "{v}");
    // deltacert's evaluation of the written file
    let inputs: Vec<f64> = (0..41).map(|i| -1.0 + 0.05 * i as f64).collect();
    let input_file = scratch("activation_inputs.json");
    std::fs::write(&input_file, serde_json::to_string(&inputs.iter().map(|x| vec![*x]).collect::<Vec<_>>()).unwrap()).unwrap();
    let o = deltacert(&["eval", out.to_str().unwrap(), "--input", input_file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ours: Vec<Vec<f64>> = serde_json::from_slice(&o.stdout).unwrap();
    // onnxruntime (graph optimisations off) runs the same file to float32 precision
    if let Some(python) = python_with_onnxruntime() {
        let script = "import json, sys, numpy as np, onnxruntime as ort\no = ort.SessionOptions(); o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL\ns = ort.InferenceSession(sys.argv[1], o, providers=['CPUExecutionProvider'])\nn = s.get_inputs()[0].name\nprint(json.dumps([float(s.run(None, {n: np.array([[x]], dtype=np.float32)})[0].ravel()[0]) for x in json.load(open(sys.argv[2]))]))";
        let flat = scratch("activation_inputs_flat.json");
        std::fs::write(&flat, serde_json::to_string(&inputs).unwrap()).unwrap();
        let o = Command::new(python).args(["-c", script, out.to_str().unwrap(), flat.to_str().unwrap()]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let theirs: Vec<f64> = serde_json::from_slice(&o.stdout).unwrap();
        for (k, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!((a[0] - b).abs() <= 1e-5 * (1.0 + b.abs()), "input {}: deltacert {} onnxruntime {b}", inputs[k], a[0]);
        }
    }
    // the pair is bounded soundly: no evaluated error above the certified bound
    for method in ["propagate", "auto", "sdp"] {
        let o = deltacert(&["bound", &model, out.to_str().unwrap(), "--box=-1,1", "--method", method, "--json"]);
        assert!(o.status.success(), "{method}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let certified = v["certified_bound"].as_f64().unwrap();
        let reference = deltacert(&["eval", &model, "--input", input_file.to_str().unwrap()]);
        let reference: Vec<Vec<f64>> = serde_json::from_slice(&reference.stdout).unwrap();
        let worst = reference.iter().zip(&ours).map(|(f, g)| (f[0] - g[0]).abs()).fold(0.0, f64::max);
        assert!(worst <= certified && v["lower_bound"].as_f64().unwrap() <= certified, "{method}: sampled {worst} > certified {certified}");
    }
    // bad input: the wrong scheme, a calibration of the wrong width, a missing calibration
    let again = scratch("activations_again.onnx");
    assert_bad_input(&deltacert(&["compress", &model, "--quantize", "int4", "--activations", "--calibration", calibration.to_str().unwrap(), "-o", again.to_str().unwrap()]), &["--activations", "int8"]);
    let wide = scratch("wide_calibration.json");
    std::fs::write(&wide, "[[0.1], [0.1, 0.2]]").unwrap();
    assert_bad_input(&deltacert(&["compress", &model, "--quantize", "int8", "--activations", "--calibration", wide.to_str().unwrap(), "-o", again.to_str().unwrap()]), &["calibration input 1 has 2 values"]);
    assert_eq!(deltacert(&["compress", &model, "--quantize", "int8", "--activations", "-o", again.to_str().unwrap()]).status.code(), Some(2));
    assert!(!again.exists(), "nothing is written on bad input");
    // a float64 weight that float32 cannot hold is refused, not written as inf
    let huge = scratch("huge_weight.nnet");
    std::fs::write(&huge, "2,1,1,2,\n1,2,1,\n0,\n-10,\n10,\n0,0,\n1,1,\n1e50,\n-1,\n0,\n0,\n1,1,\n0,\n").unwrap();
    assert_bad_input(&deltacert(&["compress", huge.to_str().unwrap(), "--prune", "0", "--dtype", "float32", "-o", again.to_str().unwrap()]), &["activations_again.onnx: layer 1: a weight: 1e50 is beyond the range of float32"]);
    assert!(!again.exists(), "nothing is written on bad input");
}

/// Every witness lies in the set as written: -0.9 and 0.9 have no double
/// (`fl(-0.9) < -0.9`, `fl(0.9) > 0.9`), so a witness on the box's edge must
/// lie strictly between the two doubles. Boxes too wide for a double and
/// absurd thread counts are refused, not run.
#[test]
fn witnesses_lie_in_the_decimal_set_and_overflowing_boxes_are_refused() {
    let (nn1, nn2) = (fixture("paper/paper_cmp_nn1.onnx"), fixture("paper/paper_cmp_nn2.onnx"));
    for coupling in [None, Some("--independent-inputs")] {
        let mut args = vec!["bound", &nn1, &nn2, "--box=-0.9,0.9", "--json", "--timeout", "5"];
        args.extend(coupling);
        let o = deltacert(&args);
        assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(v["witness"].is_array(), "{v}");
        for key in ["witness", "witness_compressed"] {
            for x in v[key].as_array().into_iter().flatten() {
                let x = x.as_f64().unwrap();
                assert!(x > -0.9 && x < 0.9, "{key} coordinate {x:e} is outside [-0.9, 0.9] as written ({coupling:?})");
            }
        }
    }
    assert_bad_input(&deltacert(&["attack", &nn1, &nn2, "--box=-1e308,1e308"]), &["too wide", "overflows"]);
    assert_bad_input(&deltacert(&["bound", &nn1, &nn2, "--box=-1,1", "--threads", "100000"]), &["--threads 100000"]);
}

/// Flags that would be ignored are refused, an overflowed evaluation is an
/// error rather than JSON `null`, and a mismatched pair is named.
#[test]
fn ignored_flags_overflowed_outputs_and_mismatched_pairs_are_named() {
    let (quant, nn1) = (fixture("paper/paper_quant_orig.onnx"), fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet"));
    let o = deltacert(&["bound", &quant, &fixture("paper/paper_quant_q.onnx"), "--box=-1,1", "--radius", "1"]);
    assert_bad_input(&o, &["--radius and --ball describe a ball around --center"]);
    let input = scratch("overflow.json");
    std::fs::write(&input, "[1e308]").unwrap();
    let o = deltacert(&["eval", &quant, "--input", input.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "stderr: {}", stderr(&o));
    assert!(stderr(&o).contains("overflow.json: output 0 of input 0 is") && o.stdout.is_empty(), "{}", stderr(&o));
    let o = deltacert(&["bound", &quant, &nn1, "--box=-1,1", "--quiet"]);
    assert_bad_input(&o, &["paper_quant_orig.onnx vs ", "ACASXU_run2a_1_1_batch_2000.nnet: the networks do not fit together"]);
}

/// The time limit holds for a union of many boxes: the boxes left when it
/// is reached are not bounded, and the answer says so (no certificate)
/// instead of overrunning the limit until the watchdog ends the run.
#[test]
fn a_union_stops_at_the_time_limit() {
    let property = scratch("many.vnnlib");
    let boxes: String = (0..3000).map(|i| format!("(and (>= X_0 {}) (<= X_0 {}))", i as f64 * 1e-4, i as f64 * 1e-4 + 1e-4)).collect::<Vec<_>>().join(" ");
    std::fs::write(&property, format!("(declare-const X_0 Real)\n(assert (or {boxes}))\n")).unwrap();
    let o = deltacert(&["bound", &fixture("paper/paper_quant_orig.onnx"), &fixture("paper/paper_quant_q.onnx"), "--vnnlib", property.to_str().unwrap(), "--timeout", "0.3", "--json"]);
    assert_eq!(o.status.code(), Some(3), "stderr: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["note"].as_str().unwrap().contains("the time limit was reached after box"), "{v}");
    assert!(v["certified_bound"].is_null() && !stderr(&o).contains("exceeded by more than twice"), "{v}");
}

/// A polytope on `.nnet` networks (which normalise their inputs) is mapped
/// into first-layer coordinates and used: ACAS Xu 1_1 against its float16
/// copy on property 3 cut by `x3 - x4 <= -150` (own speed at least 150 below
/// the intruder's) gets a one-pass bound under half the box's; a ball
/// reaching past the normalisation's clipping range (the angles' +-pi) is
/// bounded too.
#[test]
fn a_polytope_on_a_normalised_nnet_pair_is_used() {
    let (f, g) = (fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet"), fixture("acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet"));
    let property = fixture("acasxu/property_3.json");
    let rows = scratch("acas_speed_rows.json");
    std::fs::write(&rows, r#"{"A": [[0, 0, 0, 1, -1]], "b": [-150]}"#).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["bound", &f, &g, "--box-file", &property, "--method", "propagate", "--json"];
        args.extend_from_slice(extra);
        let o = deltacert(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (report["certified_bound"].as_f64().unwrap(), report["lower_bound"].as_f64().unwrap(), report["witness"].clone())
    };
    let (boxed, _, _) = run(&[]);
    let (cut, lower, witness) = run(&["--polytope", rows.to_str().unwrap()]);
    assert!(cut < 0.5 * boxed && cut >= lower, "cut {cut}, box {boxed}, lower {lower}");
    let w: Vec<f64> = witness.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(w[3] - w[4] <= -150.0, "witness {w:?} outside the rows");
    let centre = scratch("acas_centre.json");
    std::fs::write(&centre, "[57000, 0.0, 0.0, 1170, 30]").unwrap();
    let o = deltacert(&["bound", &f, &g, "--center", centre.to_str().unwrap(), "--radius", "40", "--ball", "l2", "--method", "propagate", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["certified_bound"].as_f64().unwrap() >= report["lower_bound"].as_f64().unwrap(), "{report}");
}

/// A point box whose decimal has no double (`0.1`) holds no input as
/// written; with `--input-quant` the partner's step once crossed that empty
/// interval and panicked. Now: a certified bound (the set bounded is not
/// empty) and no witness, from `bound` and `attack` alike.
#[test]
fn a_point_box_without_a_double_and_a_quantisation_step_do_not_panic() {
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    let o = deltacert(&["bound", &f, &g, "--box", "0.1,0.1", "--input-quant", "0.25", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["certified_bound"].as_f64().is_some() && v["witness"].is_null(), "{v}");
    let o = deltacert(&["attack", &f, &g, "--box", "0.1,0.1", "--input-quant", "0.25"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

/// Command lines clap refuses are one line and exit 2, like every other bad
/// input (clap's own report is several lines: usage, tips).
#[test]
fn refused_command_lines_are_one_line() {
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "0,1", "--bogus"]), &["--bogus"]);
    // a negative number is a value, and the option's own check names it
    let center = scratch("refused_c.json");
    std::fs::write(&center, "[0.5]").unwrap();
    assert_bad_input(&deltacert(&["bound", &f, &g, "--radius", "-1", "--center", center.to_str().unwrap()]), &["--radius -1: must be a finite number >= 0"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--radius", "1", "--ball", "l2"]), &["--center"]);
    // a ball too wide for a double is named as a ball, not as a box the user did not write
    assert_bad_input(&deltacert(&["bound", &f, &g, "--radius", "1e308", "--center", center.to_str().unwrap(), "--ball", "l2"]), &["bounding box of the ball", "too wide"]);
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box", "0,1", "--independent-inputs", "--input-quant", "1"]), &["--independent-inputs", "--input-quant"]);
    assert_bad_input(&deltacert(&["bound"]), &["<REFERENCE>"]);
    let help = deltacert(&["bound", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage:"));
}

/// The MILP on a point box whose decimal has no double: no input of the set
/// was evaluated, so no output has an observed error either (its per-output
/// errors were seen at the rounded point, outside the set: 1.95 was shown
/// beside "observed: none").
#[test]
fn a_set_without_a_double_has_no_observed_error_per_output() {
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    let o = deltacert(&["bound", &f, &g, "--box", "0.1,0.1", "--method", "milp", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["witness"].is_null(), "{v}");
    assert_eq!(v["lower_bound"].as_f64(), Some(0.0), "{v}");
    assert!(v["per_output_lower"].as_array().unwrap().iter().all(|e| e.as_f64() == Some(0.0)), "{v}");
}

/// However large `--samples`, `auto`'s search before splitting takes at most
/// half the time: the proof gets the rest (with `--samples 10^12` and
/// `--timeout 2` it used to get none: no split at all).
#[test]
fn a_huge_sample_count_leaves_auto_time_to_split() {
    let (f, g) = (fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet"), fixture("acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet"));
    let o = deltacert(&["bound", &f, &g, "--box-file", &fixture("acasxu/property_3.json"), "--samples", "1000000000000", "--timeout", "2", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let pieces = v["details"]["split"]["pieces_bounded"].as_u64().unwrap();
    assert!(pieces > 1, "no piece split: {}", v["details"]["split"]);
}

/// `--input-quant 0.536`: no double is 0.536 (the nearest is above it). The
/// bound covers the decimal step and the witness pair keeps it, checked in
/// exact integer arithmetic (the pair was 1 and 0.46399999999999997 when the
/// step was read as the nearest double: 3.2e-17 too far apart).
#[test]
fn a_decimal_input_quant_step_is_kept_by_the_witness_pair() {
    // f(x) = x, g(x') = x' / 2 on [0, 1]: largest error 1 - (1 - s) / 2 at x = 1, x' = 1 - s
    let body = |w: &str| format!("1,1,1,1,\n1,1,\n0,\n-100,\n100,\n0,\n1,\n{w}\n0,\n");
    let (f, g) = (scratch("iq_f.nnet"), scratch("iq_g.nnet"));
    std::fs::write(&f, body("1,")).unwrap();
    std::fs::write(&g, body("0.5,")).unwrap();
    for (step, numerator, denominator) in [("0.536", 536i128, 1000i128), ("0.1", 1, 10), ("0.2", 2, 10)] {
        for method in ["auto", "milp", "propagate"] {
            let o = deltacert(&["bound", f.to_str().unwrap(), g.to_str().unwrap(), "--box", "0,1", "--input-quant", step, "--method", method, "--timeout", "5", "--json"]);
            assert!(o.status.success(), "{step} {method}: {}", stderr(&o));
            let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let (x, xg) = (report["witness"][0].as_f64().unwrap(), report["witness_compressed"][0].as_f64().unwrap());
            // both in [0, 1] and multiples of 2^-70: exact as integers
            let exact = |v: f64| {
                let scaled = v * 2f64.powi(70);
                assert!(scaled.fract() == 0.0 && (0.0..=1.0).contains(&v), "{v}");
                scaled as i128
            };
            let gap = (exact(x) - exact(xg)).abs();
            assert!(gap * denominator <= numerator << 70, "{step} {method}: |{x} - {xg}| is above the step");
            let certified = report["certified_bound"].as_f64().unwrap();
            let largest = 1.0 - (1.0 - numerator as f64 / denominator as f64) / 2.0;
            assert!(certified >= largest && report["lower_bound"].as_f64().unwrap() <= certified, "{step} {method}: {certified} vs {largest}");
        }
    }
}

/// Bad-input messages of `--top1` and `--radius` name what they are about.
#[test]
fn label_and_radius_messages_name_their_source() {
    let body = |range: &str| format!("1,1,2,2,\n1,2,\n0,\n-100,\n100,\n0,\n{range},\n1,\n-1,\n0,\n0,\n");
    let (f, g) = (scratch("lm_f.nnet"), scratch("lm_g.nnet"));
    std::fs::write(&f, body("1")).unwrap();
    std::fs::write(&g, body("2")).unwrap();
    let o = deltacert(&["bound", f.to_str().unwrap(), g.to_str().unwrap(), "--box", "0,1", "--top1", "--quiet"]);
    assert_bad_input(&o, &["lm_f.nnet vs", "lm_g.nnet", "normalise their inputs differently"]);
    let center = scratch("lm_c.json");
    std::fs::write(&center, "[0.5]").unwrap();
    let o = deltacert(&["bound", f.to_str().unwrap(), f.to_str().unwrap(), "--center", center.to_str().unwrap(), "--radius=-1", "--quiet"]);
    assert_bad_input(&o, &["--radius -1: must be a finite number >= 0"]);
    let o = deltacert(&["bound", f.to_str().unwrap(), f.to_str().unwrap(), "--center", center.to_str().unwrap(), "--radius", "-1", "--quiet"]);
    assert_bad_input(&o, &["--radius -1: must be a finite number >= 0"]);
    // a centre of the wrong length names its file; a byte-order mark is read past
    std::fs::write(&center, "\u{feff}[0.5, 0.5]").unwrap();
    let o = deltacert(&["bound", f.to_str().unwrap(), f.to_str().unwrap(), "--center", center.to_str().unwrap(), "--radius", "0.1", "--quiet"]);
    assert!(o.status.code() == Some(2) && String::from_utf8_lossy(&o.stderr).contains("lm_c.json: the input set has 2 coordinates but the networks take 1"), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(&center, "\u{feff}[0.5]").unwrap();
    let o = deltacert(&["bound", f.to_str().unwrap(), f.to_str().unwrap(), "--center", center.to_str().unwrap(), "--radius", "0.1", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `--per-channel` applies to integer quantisation only; with `--prune` it was ignored silently.
#[test]
fn per_channel_with_prune_is_refused() {
    let out = scratch("pc.onnx");
    let o = deltacert(&["compress", &fixture("paper/paper_quant_orig.onnx"), "--prune", "0.5", "--per-channel", "-o", out.to_str().unwrap()]);
    assert_bad_input(&o, &["--per-channel goes with --quantize"]);
    assert!(!out.exists());
    // every flag that would be ignored is refused, and the output is named .onnx
    let model = fixture("paper/paper_quant_orig.onnx");
    let calibration = scratch("pc_calibration.json");
    std::fs::write(&calibration, "[[0.5], [-0.25]]").unwrap();
    let calibration = calibration.display().to_string();
    let out = out.display().to_string();
    for (flags, message) in [
        (vec!["--quantize", "fixed:3", "--per-channel"], "--per-channel goes with --quantize int8|int4"),
        (vec!["--quantize", "int8", "--structured"], "--structured goes with --prune"),
        (vec!["--quantize", "int8", "--global"], "--global goes with --prune"),
        (vec!["--prune", "0.3", "--activations", "--calibration", &calibration], "--activations goes with --quantize int8"),
    ] {
        let mut args = vec!["compress", &model];
        args.extend(flags.iter().copied());
        args.extend(["-o", &out]);
        assert_bad_input(&deltacert(&args), &[message]);
    }
    for name in ["pc.nnet", "pc.txt", "pc"] {
        let other = scratch(name);
        assert_bad_input(&deltacert(&["compress", &model, "--prune", "0.5", "-o", other.to_str().unwrap()]), &["compress writes ONNX; name the output .onnx"]);
        assert!(!other.exists());
    }
    assert!(!std::path::Path::new(&out).exists());
}

/// `--timeout` is read the same way by every command: a number of seconds
/// above 0; a huge one is no limit in practice (it made `--top1` panic).
#[test]
fn every_command_reads_timeout_the_same_way() {
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    let o = deltacert(&["bound", &f, &g, "--box=-1,1", "--top1", "--timeout", "2e19"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    let o = deltacert(&["attack", &f, &g, "--box=-1,1", "--timeout", "1e300", "--samples", "1000"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for command in ["bound", "attack"] {
        for bad in ["0", "nan", "inf", "ten"] {
            assert_bad_input(&deltacert(&[command, &f, &g, "--box=-1,1", "--timeout", bad]), &["--timeout"]);
        }
    }
}

/// A figure path that is a directory, lies under a file, or is a dangling
/// link is refused before the run, each with what is wrong.
#[test]
fn figure_paths_that_cannot_be_written_are_named_before_the_run() {
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    let directory = scratch("figure_dir.svg");
    std::fs::create_dir_all(&directory).unwrap();
    for force in [false, true] {
        let mut args = vec!["bound", &f, &g, "--box=-1,1", "--plot", directory.to_str().unwrap()];
        if force {
            args.push("--force");
        }
        assert_bad_input(&deltacert(&args), &["names a directory"]);
    }
    let file = scratch("figure_parent.txt");
    std::fs::write(&file, "not a directory").unwrap();
    let under_file = file.join("figure.svg");
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box=-1,1", "--plot", under_file.to_str().unwrap()]), &["is not a directory"]);
    let link = scratch("figure_link.svg");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(scratch("nowhere.svg"), &link).unwrap();
    assert_bad_input(&deltacert(&["bound", &f, &g, "--box=-1,1", "--plot", link.to_str().unwrap()]), &["already exists"]);
    assert!(link.symlink_metadata().is_ok() && !link.exists());
}

/// A standard output that cannot be written (`> /dev/full`) is one line on
/// standard error and exit 2, not a panic (101); a standard error that
/// cannot be written loses the progress lines, not the result.
#[test]
fn an_unwritable_standard_output_is_an_error_not_a_panic() {
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    let model = fixture("paper/paper_quant_orig.onnx");
    let compressed = fixture("paper/paper_quant_q.onnx");
    for args in [vec!["info", model.as_str()], vec!["bound", model.as_str(), compressed.as_str(), "--box=-1,1", "--json"]] {
        let o = Command::new(env!("CARGO_BIN_EXE_deltacert")).args(&args).stdout(full()).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.lines().last().is_some_and(|l| l.starts_with("error: failed printing to stdout")), "{args:?}: {stderr}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_deltacert")).args(["bound", &model, &compressed, "--box=-1,1", "--json"]).stderr(full()).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["certified_bound"].as_f64().is_some());
}

/// A 1-2-1 ReLU network `scale * (relu(x) + relu(-x))` scaled by `output_scale`.
fn absolute_value(scale: f64, output_scale: f64) -> deltacert::network::Network {
    use deltacert::activation::Activation;
    use deltacert::network::{Layer, Matrix, Network};
    Network {
        input_dim: 1,
        input_transform: None,
        layers: vec![
            Layer::dense(0, Matrix::from_rows(2, 1, vec![scale, -scale]), vec![0.0, 0.0], Activation::Relu),
            Layer::dense(1, Matrix::from_rows(1, 2, vec![scale * output_scale, scale * output_scale]), vec![0.0], Activation::Identity),
        ],
        kept_neurons: None,
        source_dtype: "float64".into(),
        output_softmax: false,
    }
}

/// A figure prints a certified bound rounded up and an observed error
/// rounded down (to four digits a bound of 1.0014e-5 read as 0.0000), and
/// values no axis can hold give a one-line error after the result (exit 4)
/// instead of a process that never ends.
#[test]
fn figures_round_bounds_outward_and_refuse_unplottable_values() {
    let f = write_model("abs_f.onnx", &absolute_value(1.0, 1.0), false);
    let g = write_model("abs_g.onnx", &absolute_value(1.0, 1.0 - 1.0014e-5), false);
    let path = scratch("tiny_bound.svg");
    let _ = std::fs::remove_file(&path);
    let o = deltacert(&["bound", &f, &g, "--box=-1,1", "--json", "--plot", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (certified, lower) = (v["certified_bound"].as_f64().unwrap(), v["lower_bound"].as_f64().unwrap());
    assert!(certified > 1e-5 && certified < 1.1e-5, "{certified}");
    let svg = std::fs::read_to_string(&path).unwrap();
    let number_after = |label: &str| -> f64 {
        let start = svg.find(label).unwrap_or_else(|| panic!("no '{label}' in the figure")) + label.len();
        let text: String = svg[start..].chars().take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '-' | '+')).collect();
        text.parse().unwrap_or_else(|_| panic!("'{text}' after '{label}'"))
    };
    let (printed_bound, printed_lower) = (number_after("certified bound "), number_after("observed "));
    assert!(printed_bound >= certified, "figure prints {printed_bound}, certified {certified}");
    assert!(printed_lower <= lower && printed_lower > 0.0, "figure prints {printed_lower}, observed {lower}");

    // f = 1e180 |x| and g = -f: errors of 3e308 (inf) near the ends, which no axis holds
    let (f_big, g_big) = (write_model("big_f.onnx", &absolute_value(1e90, 1.0), false), write_model("big_g.onnx", &absolute_value(1e90, -1.0), false));
    let big = scratch("big_errors.svg");
    let _ = std::fs::remove_file(&big);
    let o = deltacert(&["bound", &f_big, &g_big, "--box=-1.5e128,1.5e128", "--method", "propagate", "--timeout", "5", "--plot", big.to_str().unwrap()]);
    // exit 4: the result is printed and stands, the figure was not written
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot draw the figure") && stderr(&o).contains("the result above stands"), "{}", stderr(&o));
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(printed.contains("observed:") && !printed.contains("figure:"), "{printed}");
    assert!(!big.exists());

    // a planner figure whose values are all 0 (tolerance 0, met exactly)
    let plan = scratch("plan_zero.svg");
    let _ = std::fs::remove_file(&plan);
    let o = deltacert(&["plan", &f, "--box=-1,1", "--tolerance", "0", "--quantize", "fixed:8..8", "--plot", plan.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&plan).unwrap().contains("<svg"));
    // a log axis down to the smallest double (its half is 0: log10 was -inf)
    let tiny = scratch("plan_tiny.svg");
    let _ = std::fs::remove_file(&tiny);
    let o = deltacert(&["plan", &f, "--box=-1,1", "--tolerance", "5e-324", "--quantize", "fixed:2..3", "--plot", tiny.to_str().unwrap()]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&tiny).unwrap().contains("<svg"));
}

/// `--method sdp` in decide mode: when propagation's certificate (the
/// first-order solver's start) already proves eps, no solve runs; when the
/// search has found an error above eps, the SDP is not run at all.
#[test]
fn sdp_decide_mode_stops_as_soon_as_the_answer_is_known() {
    let (f, g, set) = (fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet"), fixture("acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet"), fixture("acasxu/property_3.json"));
    let o = deltacert(&["bound", &f, &g, "--box-file", &set, "--method", "sdp", "--sdp-solver", "first-order", "--eps", "0.5", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["certified_bound"].as_f64().unwrap() <= 0.5);
    let solves = v["details"]["sdp"]["solves"].as_array().unwrap();
    assert_eq!(solves.len(), 10);
    for solve in solves {
        assert!(solve["solver_status"].as_str().unwrap().starts_with("NotNeeded"), "{solve}");
        assert_eq!(solve["iterations"], 0);
        assert!(solve["checked"]["value"].as_f64().is_some(), "{solve}");
    }
    // the search finds errors of about 3e-3 on this set
    let o = deltacert(&["bound", &f, &g, "--box-file", &set, "--method", "sdp", "--sdp-solver", "first-order", "--eps", "0.001", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["lower_bound"].as_f64().unwrap() > 0.001);
    assert!(v["note"].as_str().unwrap().contains("SDP was not run"), "{v}");
}

/// `--timeout` covers reading the models and the set: after a VNN-LIB file
/// that takes longer to read than the limit, bounding stops after its first
/// pass (a certified bound all the same), and the note says why.
#[test]
fn reading_the_files_counts_against_the_time_limit() {
    let path = scratch("long.vnnlib");
    let mut text = String::from("(declare-const X_0 Real)\n");
    for _ in 0..1_000_000 {
        text.push_str("(assert (<= X_0 1))\n");
    }
    text.push_str("(assert (>= X_0 -1))\n");
    std::fs::write(&path, text).unwrap();
    let (f, g) = (fixture("paper/paper_quant_orig.onnx"), fixture("paper/paper_quant_q.onnx"));
    let o = deltacert(&["bound", &f, &g, "--vnnlib", path.to_str().unwrap(), "--timeout", "0.01", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "certified");
    assert!(v["certified_bound"].as_f64().unwrap() >= 3.861206614305957);
    assert!(v["note"].as_str().unwrap().contains("reading the models and the input set took"), "{v}");
    assert!(v["details"]["split"]["pieces_bounded"].as_u64().unwrap_or(1) <= 1, "{v}");
    std::fs::remove_file(&path).unwrap();
}

/// A read that blocks (a named pipe nobody writes) still ends at the
/// watchdog's ceiling, twice the limit plus 5 s, with one JSON object, in
/// `bound`, `bound --top1`, `attack` and `plan`.
#[test]
fn a_model_read_that_blocks_ends_at_the_time_limit() {
    let pipe = scratch("blocking.onnx");
    let _ = std::fs::remove_file(&pipe);
    let made = Command::new("mkfifo").arg(&pipe).status().expect("mkfifo runs");
    assert!(made.success());
    let (pipe_name, g) = (pipe.to_str().unwrap(), fixture("paper/paper_quant_q.onnx"));
    // the four commands run at once (each waits 6 s)
    let runs: Vec<_> = [
        vec!["bound", pipe_name, &g, "--box", "-1,1", "--timeout", "0.5", "--json"],
        vec!["bound", pipe_name, &g, "--box", "-1,1", "--timeout", "0.5", "--top1", "--json"],
        vec!["attack", pipe_name, &g, "--box", "-1,1", "--timeout", "0.5", "--json"],
        vec!["plan", pipe_name, "--box", "-1,1", "--tolerance", "1", "--quantize", "fixed:1..2", "--timeout", "0.5", "--json"],
    ]
    .into_iter()
    .map(|args| Command::new(env!("CARGO_BIN_EXE_deltacert")).args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("binary runs"))
    .collect();
    for (run, status) in runs.into_iter().zip(["no_certificate", "time_limit", "time_limit", "time_limit"]) {
        let o = run.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v[if status == "no_certificate" { "status" } else if v["stop"].is_null() { "status" } else { "stop" }], status, "{v}");
        assert!(v["note"].as_str().unwrap().contains("while reading"), "{v}");
    }
    std::fs::remove_file(&pipe).unwrap();
}
