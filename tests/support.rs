//! Helpers shared by the integration tests.

use tch::{Device, Kind, Tensor};

/// The vendored test data (`tests/fixtures/`, see its PROVENANCE.md).
pub fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The XOR problem: the classic function no single linear layer can represent.
pub fn xor() -> (Tensor, Tensor) {
    let x = Tensor::from_slice(&[0.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]).view([4, 2]);
    let y = Tensor::from_slice(&[0i64, 1, 1, 0]);
    (x, y)
}

/// A scalar float tensor's value.
pub fn scalar(t: &Tensor) -> f64 {
    t.to_kind(Kind::Double).to_device(Device::Cpu).double_value(&[])
}
