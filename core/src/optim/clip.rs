//! Gradient clipping by global norm: the guard rail of recurrent networks.

use tch::Tensor;

/// Scales all gradients together so that their global L2 norm is at most `max_norm`, as
/// PyTorch's `clip_grad_norm_` does (coefficient `max_norm / (norm + 1e-6)`, clamped to 1).
/// Returns the norm before clipping (infinite or NaN norms are returned, gradients untouched,
/// so the caller can skip the step).
pub fn clip_grad_norm(params: &[(String, Tensor)], max_norm: f64) -> f64 {
    let _guard = tch::no_grad_guard();
    let grads: Vec<Tensor> = params.iter().map(|(_, p)| p.grad()).filter(|g| g.defined()).collect();
    if grads.is_empty() {
        return 0.0;
    }
    let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
    let total = Tensor::stack(&norms, 0).norm().double_value(&[]);
    if !total.is_finite() {
        return total;
    }
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        for mut g in grads {
            let _ = g.g_mul_scalar_(coef);
        }
    }
    total
}
