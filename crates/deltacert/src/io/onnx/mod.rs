//! ONNX models: a reader that lowers supported graphs to the IR, and a writer
//! producing float32/float64 or int8 QDQ models that onnxruntime and PyTorch
//! users can load.

pub mod proto;
mod read;
mod write;

pub use read::{convolution_nodes, defined_attributes, read, MAX_ELEMENTS, MAX_PRODUCT_STEPS, MAX_TOTAL_ELEMENTS, NEWEST_IR_VERSION, NEWEST_OPSET, OLDEST_OPSET, OPERATORS_READ};
pub use write::{write, ExportFormat};

/// Metadata key under which structured pruning records the kept neurons.
pub const KEPT_NEURONS_KEY: &str = "deltacert.kept_neurons";
