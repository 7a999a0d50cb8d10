//! Bounds the output error of the paper's network and its quantised copy over
//! `x in [-1, 1]`: `cargo run --release -p deltacert --example bound_pair`.

use deltacert::bound::{bound, BoundRequest, Method, Status};
use deltacert::input_set::InputSet;
use deltacert::io::read_model;
use deltacert::problem::{InputCoupling, Norm};
use std::path::Path;

fn main() -> deltacert::Result<()> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/paper");
    let reference = read_model(&fixtures.join("paper_quant_orig.onnx"))?;
    let compressed = read_model(&fixtures.join("paper_quant_q.onnx"))?;
    let set = InputSet::uniform_box(reference.input_dim, -1.0, 1.0)?;
    let mut request = BoundRequest::new(set, InputCoupling::Same, Norm::Linf, Method::AUTO);
    request.time_limit = Some(5.0);
    let report = bound(&reference, &compressed, &request)?;
    match (report.status, report.certified_bound) {
        (Status::Certified, Some(eps)) => println!("certified: |f(x) - g(x)| <= {eps:.6e} on [-1, 1]"),
        _ => println!("no certificate: {}", report.note.unwrap_or_default()),
    }
    println!("observed:  {:.6e} at x = {:?}", report.lower_bound, report.witness);
    Ok(())
}
