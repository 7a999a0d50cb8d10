//! Reading and writing models and input files.
//!
//! The format is taken from the file extension: `.nnet` (the ACAS Xu text
//! format) or `.onnx` (protobuf).

pub mod json;
pub mod nnet;
pub mod onnx;
pub mod vnnlib;

use crate::error::{Error, ErrorKind, Result};
use crate::network::Network;
use std::path::Path;

/// Reads a model, choosing the reader by extension. Errors name the file.
pub fn read_model(path: &Path) -> Result<Network> {
    let bytes = std::fs::read(path).map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {}: {e}", path.display())))?;
    model_from_bytes(path, &bytes)
}

/// [`read_model`], with the labels of the model's Conv nodes
/// ([`onnx::convolution_nodes`]; none for `.nnet`), which the network holds
/// as the dense matrices they apply. The file is read once (a named pipe
/// gives its bytes only once).
pub fn read_model_and_convolutions(path: &Path) -> Result<(Network, Vec<String>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {}: {e}", path.display())))?;
    let network = model_from_bytes(path, &bytes)?;
    let onnx = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    let convolutions = if onnx { onnx::convolution_nodes(&bytes).map_err(|e| e.within(path.display()))? } else { Vec::new() };
    Ok((network, convolutions))
}

/// [`read_model`] on the bytes of the file `path` (its name picks the
/// format and names it in errors).
fn model_from_bytes(path: &Path, bytes: &[u8]) -> Result<Network> {
    let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
    let net = match ext.as_deref() {
        Some("nnet") => nnet::parse(&String::from_utf8_lossy(bytes)),
        Some("onnx") => onnx::read(bytes),
        _ => Err(Error::new(ErrorKind::Unsupported, "unknown model format (expected a .onnx or .nnet file)")),
    }
    .map_err(|e| e.within(path.display()))?;
    net.validate().map_err(|e| e.within(path.display()))?;
    Ok(net)
}

/// Writes bytes to `path`, refusing to replace an existing file (or link,
/// even a dangling one, which would be written through) unless `overwrite`.
/// Without `overwrite` the file is created exclusively, so a file that
/// appears between the check and the write is not replaced either.
pub fn write_new_file(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    use std::io::Write;
    let exists = || Error::new(ErrorKind::InvalidOption, format!("{} already exists (pass --force to overwrite it)", path.display()));
    let cannot = |e: std::io::Error| Error::new(ErrorKind::Io, format!("cannot write {}: {e}", path.display()));
    if overwrite {
        return std::fs::write(path, bytes).map_err(cannot);
    }
    if path.symlink_metadata().is_ok() {
        return Err(exists());
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| if e.kind() == std::io::ErrorKind::AlreadyExists { exists() } else { cannot(e) })?;
    file.write_all(bytes).map_err(cannot)
}

#[cfg(test)]
mod tests {
    use super::write_new_file;

    /// An existing file or a link (even a dangling one) is not replaced
    /// without `overwrite`, and nothing is created through the link; a new
    /// path is written, and `overwrite` replaces.
    #[test]
    fn a_new_file_never_replaces_a_file_or_writes_through_a_link() {
        let dir = std::env::temp_dir().join(format!("deltacert-write-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (file, link, target) = (dir.join("model.onnx"), dir.join("link.onnx"), dir.join("target.onnx"));
        write_new_file(&file, b"first", false).unwrap();
        assert!(write_new_file(&file, b"second", false).unwrap_err().context.contains("already exists"));
        assert_eq!(std::fs::read(&file).unwrap(), b"first");
        write_new_file(&file, b"third", true).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"third");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&target, &link).unwrap();
            assert!(write_new_file(&link, b"through", false).unwrap_err().context.contains("already exists"));
            assert!(!target.exists(), "the dangling link's target was created");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
