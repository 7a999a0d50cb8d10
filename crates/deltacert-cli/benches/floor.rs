//! The per-call floor (not a test: prints a table): wall time of the whole
//! `deltacert` process (reading the files, the bound, the search, printing)
//! next to the time the library reports for the bound itself, median of 11
//! runs each, for the easiest calls a user makes:
//! - an easy ACAS Xu decision: 1_1 vs its float16 copy, property 3, `--eps 0.5`;
//! - one propagation pass on MNIST 3x100 vs float16, +-3/255 around test image 0;
//! - `--top1` on the same pair, +-2/255 around test image 0.
//!
//! Run: `cargo bench -p deltacert-cli --bench floor`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn fixture(relative: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(relative).display().to_string()
}

fn mnist_box(index: usize, p: f64) -> String {
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture("mnist/test_images_100.json")).expect("images")).expect("JSON");
    let pixels: Vec<f64> = data["images"][index].as_array().expect("image").iter().map(|v| v.as_f64().expect("pixel") / 255.0).collect();
    let lower: Vec<f64> = pixels.iter().map(|v| (v - p / 255.0).max(0.0)).collect();
    let upper: Vec<f64> = pixels.iter().map(|v| (v + p / 255.0).min(1.0)).collect();
    let path = std::env::temp_dir().join(format!("deltacert-floor-{}-{index}-{p}.json", std::process::id()));
    std::fs::write(&path, serde_json::json!({"lower": lower, "upper": upper}).to_string()).expect("box file");
    path.display().to_string()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let (acas, acas16) = (fixture("acasxu/ACASXU_run2a_1_1_batch_2000.nnet"), fixture("acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet"));
    let (mnist, mnist16) = (fixture("mnist/mnist_relu_3_100.nnet"), fixture("mnist/mnist_relu_3_100_16bit.nnet"));
    let property3 = fixture("acasxu/property_3.json");
    let (box3, box2) = (mnist_box(0, 3.0), mnist_box(0, 2.0));
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("easy ACAS Xu decision (1_1, property 3, eps 0.5)", vec!["bound", &acas, &acas16, "--box-file", &property3, "--eps", "0.5", "--json"]),
        ("MNIST one propagation pass (+-3/255)", vec!["bound", &mnist, &mnist16, "--box-file", &box3, "--method", "propagate", "--json"]),
        ("MNIST --top1 (+-2/255)", vec!["bound", &mnist, &mnist16, "--box-file", &box2, "--top1", "--json"]),
    ];
    println!("| call | process wall s (median of 11) | library s (median) | answer |");
    println!("|---|---|---|---|");
    for (name, args) in cases {
        let (mut wall, mut library) = (Vec::new(), Vec::new());
        let mut answer = String::new();
        for _ in 0..11 {
            let start = Instant::now();
            let output = Command::new(env!("CARGO_BIN_EXE_deltacert")).args(&args).output().expect("the binary runs");
            wall.push(start.elapsed().as_secs_f64());
            let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
            library.push(report["seconds"].as_f64().unwrap_or(f64::NAN));
            answer = report.get("decision").or(report.get("answer")).map_or_else(|| report["status"].to_string(), |v| v.to_string());
        }
        println!("| {name} | {:.3} | {:.3} | {answer} |", median(&mut wall), median(&mut library));
    }
}
