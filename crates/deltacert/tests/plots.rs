#![cfg(feature = "plot")]
//! Every figure kind renders to a valid, non-empty SVG or PNG.

mod common;

use common::model;
use deltacert::activation::Activation;
use deltacert::input_set::InputSet;
use deltacert::network::random::{partner, random_mlp, Relation};
use deltacert::report::plot::{plot_bound, plot_plan, BoundFigure, PlanPoint};
use rand::SeedableRng;
use std::path::PathBuf;

fn out(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("deltacert-plots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn assert_svg(path: &PathBuf, texts: &[&str]) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.len() > 1000 && text.contains("<svg") && text.trim_end().ends_with("</svg>"), "{}", path.display());
    for t in texts {
        assert!(text.contains(t), "'{t}' not drawn in {}", path.display());
    }
}

fn assert_png(path: &PathBuf, width: u32, height: u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() > 1000);
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), width);
    assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), height);
    // not a blank canvas: many distinct bytes in the compressed data
    let distinct: std::collections::HashSet<u8> = bytes.iter().copied().collect();
    assert!(distinct.len() > 100);
}

fn figure(certified: f64, lower: f64, witness: Vec<f64>, outputs: usize) -> BoundFigure {
    BoundFigure {
        certified: Some(certified),
        lower,
        witness,
        per_output_certified: vec![Some(certified); outputs],
        per_output_lower: vec![lower; outputs],
        l2: false,
        note: "(test)".into(),
    }
}

#[test]
fn one_dimensional_error_curve_with_bound_and_witness() {
    let (f, g) = (model("paper/paper_quant_orig.onnx"), model("paper/paper_quant_q.onnx"));
    let set = InputSet::uniform_box(1, -1.0, 1.0).unwrap();
    let fig = figure(3.8612, 3.8612, vec![1.0], 1);
    let svg = out("curve.svg");
    plot_bound(&svg, &f, &g, &set, &fig).unwrap();
    assert_svg(&svg, &["certified bound 3.862e0", "witness x = 1.0000", "input x"]);
    let png = out("curve.png");
    plot_bound(&png, &f, &g, &set, &fig).unwrap();
    assert_png(&png, 900, 560);
}

#[test]
fn two_dimensional_heat_map() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let f = random_mlp(&mut rng, 2, &[8], 1, Activation::Relu);
    let g = partner(&mut rng, &f, Relation::Quantised, Activation::Relu);
    let set = InputSet::uniform_box(2, -1.0, 1.0).unwrap();
    let path = out("heat.png");
    plot_bound(&path, &f, &g, &set, &figure(0.5, 0.3, vec![0.2, -0.4], 1)).unwrap();
    assert_png(&path, 820, 720);
    let svg = out("heat.svg");
    plot_bound(&svg, &f, &g, &set, &figure(0.5, 0.3, vec![0.2, -0.4], 1)).unwrap();
    assert_svg(&svg, &["certified &lt;= 5.000e-1", "input x_2"]);
}

#[test]
fn histogram_and_per_output_bars_in_higher_dimensions() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let f = random_mlp(&mut rng, 5, &[10], 3, Activation::Tanh);
    let g = partner(&mut rng, &f, Relation::Pruned, Activation::Tanh);
    let set = InputSet::uniform_box(5, -1.0, 1.0).unwrap();
    let path = out("hist.svg");
    plot_bound(&path, &f, &g, &set, &figure(0.9, 0.4, vec![0.0; 5], 3)).unwrap();
    assert_svg(&path, &["lower bound (witness) 4.000e-1", "certified bound 9.001e-1", "per output"]);
    let png = out("hist.png");
    plot_bound(&png, &f, &g, &set, &figure(0.9, 0.4, vec![0.0; 5], 3)).unwrap();
    assert_png(&png, 1300, 560);
}

#[test]
fn planner_figure_and_bad_extension() {
    let points: Vec<PlanPoint> = (1..=6).map(|b| PlanPoint { setting: b as f64, certified: Some(2f64.powi(-b)), lower: 0.9 * 2f64.powi(-b) }).collect();
    let path = out("plan.svg");
    plot_plan(&path, &points, "fractional bits Q", 0.1, true).unwrap();
    assert_svg(&path, &["certified bound", "tolerance"]);
    let err = plot_plan(&out("plan.jpg"), &points, "bits", 0.1, true).unwrap_err();
    assert!(err.context.contains(".svg or .png"));
}
