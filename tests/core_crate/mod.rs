//! Tests of the vocabulary (`dl-core`) and the harness.

mod checkpoint;
mod config;
mod doctor;
mod golden;
mod nn;
mod optim;
mod run;

use tch::{Kind, Tensor};

/// A float tensor from values, with a shape.
pub fn tensor(values: &[f64], shape: &[i64]) -> Tensor {
    Tensor::from_slice(values).to_kind(Kind::Float).reshape(shape)
}

/// The values of a tensor, flattened.
pub fn values(t: &Tensor) -> Vec<f64> {
    let flat = t.detach().to_kind(Kind::Double).flatten(0, -1);
    Vec::<f64>::try_from(&flat).expect("a double tensor converts")
}

/// Asserts that every value is within `tol` of the expected one (relative above 1).
#[track_caller]
pub fn assert_close(actual: &Tensor, expected: &[f64], tol: f64) {
    let got = values(actual);
    assert_eq!(got.len(), expected.len(), "length: got {got:?}");
    for (i, (a, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tol * e.abs().max(1.0),
            "element {i}: got {a}, expected {e}\n{got:?}"
        );
    }
}
