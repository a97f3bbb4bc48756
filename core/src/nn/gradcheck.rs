//! Checking a backward pass against the derivative it claims to compute.

use tch::{Kind, Tensor};

/// The worst disagreement between autograd and central finite differences.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradCheck {
    /// Largest `|analytic - numeric|` over every input element.
    pub max_abs_error: f64,
    /// Largest `|analytic - numeric| / max(1, |numeric|)`.
    pub max_rel_error: f64,
    /// Number of input elements checked.
    pub elements: usize,
}

impl GradCheck {
    /// Whether every element agrees within `tol` (relative to values above one in size).
    pub fn passes(&self, tol: f64) -> bool {
        self.max_rel_error <= tol
    }
}

/// Compares the gradient autograd computes for the scalar `f()` with respect to each tensor
/// of `wrt` against central finite differences `(f(x + h) - f(x - h)) / 2h`, element by element.
///
/// `wrt` are leaf tensors that `f` reads and that require gradients: inputs created with
/// `set_requires_grad(true)`, or a module's parameters. They are perturbed in place and
/// restored. Run it in double precision (`Kind::Double` inputs and parameters): in single
/// precision the finite differences themselves are too noisy to check anything.
pub fn gradcheck(f: impl Fn() -> Tensor, wrt: &[Tensor], h: f64) -> GradCheck {
    let out = f();
    assert_eq!(out.numel(), 1, "gradcheck needs a scalar function, got shape {:?}", out.size());
    let grads = Tensor::run_backward(&[&out], wrt, false, false);

    let mut report = GradCheck { max_abs_error: 0.0, max_rel_error: 0.0, elements: 0 };
    let _guard = tch::no_grad_guard();
    for (x, analytic) in wrt.iter().zip(grads) {
        // A view, so that perturbing it perturbs what `f` reads.
        let flat = x.view([-1]);
        let analytic = analytic.to_kind(Kind::Double).reshape([-1]);
        for i in 0..flat.numel() as i64 {
            let mut element = flat.get(i);
            let original = element.double_value(&[]);
            let _ = element.fill_(original + h);
            let plus = f().double_value(&[]);
            let _ = element.fill_(original - h);
            let minus = f().double_value(&[]);
            let _ = element.fill_(original);
            let numeric = (plus - minus) / (2.0 * h);
            let err = (analytic.double_value(&[i]) - numeric).abs();
            report.max_abs_error = report.max_abs_error.max(err);
            report.max_rel_error = report.max_rel_error.max(err / numeric.abs().max(1.0));
            report.elements += 1;
        }
    }
    report
}
