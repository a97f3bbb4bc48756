//! `softmax`: "exponentiate, then normalise", `s_i = exp(z_i) / sum_j exp(z_j)`. Taken literally
//! it overflows (`exp(89)` is already infinite in single precision) or underflows to `0 / 0`;
//! subtracting the largest logit first changes nothing mathematically (the factor `exp(-max)`
//! cancels) and keeps every exponential in (0, 1]. Its gradient has a closed form,
//! `ds_i/dz_j = s_i (delta_ij - s_j)`, checked here against libtorch's autograd.

use crate::Common;
use tch::{Kind, Tensor};

/// Softmax exactly as written: exponentiate, then normalise.
pub fn naive(z: &[f32]) -> Vec<f32> {
    let e: Vec<f32> = z.iter().map(|v| v.exp()).collect();
    let sum: f32 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// Softmax with the maximum subtracted first: the same function, computed without overflow.
pub fn stable(z: &[f32]) -> Vec<f32> {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    naive(&z.iter().map(|v| v - max).collect::<Vec<_>>())
}

/// libtorch's softmax, for reference.
pub fn libtorch(z: &[f32]) -> Vec<f32> {
    Vec::<f32>::try_from(Tensor::from_slice(z).softmax(0, Kind::Float)).expect("float vector")
}

/// One row of the stability table.
#[derive(Clone, Debug)]
pub struct Case {
    /// The logits.
    pub logits: Vec<f32>,
    /// [`naive`] on them.
    pub naive: Vec<f32>,
    /// [`stable`] on them.
    pub stable: Vec<f32>,
    /// Largest |stable - libtorch|.
    pub stable_vs_libtorch: f64,
}

/// The logits of the stability table: ordinary ones, then the same shifted far up and far down
/// (softmax is shift-invariant, so all three rows have the same answer).
pub fn cases() -> Vec<Case> {
    let base = [1.0f32, 2.0, 3.0];
    [0.0f32, 1000.0, -1000.0]
        .iter()
        .map(|shift| {
            let logits: Vec<f32> = base.iter().map(|v| v + shift).collect();
            let (naive, stable) = (naive(&logits), stable(&logits));
            let stable_vs_libtorch = max_abs_diff_f32(&stable, &libtorch(&logits));
            Case { logits, naive, stable, stable_vs_libtorch }
        })
        .collect()
}

fn max_abs_diff_f32(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from((x - y).abs())).fold(0.0, f64::max)
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Softmax in double precision (stable).
pub fn softmax64(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// The Jacobian `J_ij = ds_i/dz_j = s_i (delta_ij - s_j)`, row-major `n x n`.
pub fn jacobian(z: &[f64]) -> Vec<f64> {
    let s = softmax64(z);
    let n = s.len();
    (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            s[i] * (f64::from(u8::from(i == j)) - s[j])
        })
        .collect()
}

/// The backward pass: given `g = dL/ds`, returns `dL/dz = J^T g = s * (g - <g, s>)`, in O(n)
/// without forming the Jacobian.
pub fn backward(z: &[f64], g: &[f64]) -> Vec<f64> {
    let s = softmax64(z);
    let dot: f64 = g.iter().zip(&s).map(|(a, b)| a * b).sum();
    s.iter().zip(g).map(|(si, gi)| si * (gi - dot)).collect()
}

/// How the closed forms compare with libtorch's autograd (double precision).
#[derive(Clone, Debug)]
pub struct GradientCheck {
    /// Largest |backward(z, g) - autograd's dL/dz| for `L = <g, softmax(z)>`.
    pub backward: f64,
    /// Largest |jacobian(z) - the Jacobian autograd builds row by row|.
    pub jacobian: f64,
    /// Largest |(s - onehot(t)) - autograd's gradient of cross-entropy(z, t)|: the famous
    /// "prediction minus target".
    pub cross_entropy: f64,
}

/// Checks [`backward`], [`jacobian`] and the cross-entropy gradient on logits `z` with upstream
/// gradient `g` and target class `target`.
pub fn check_gradients(z: &[f64], g: &[f64], target: usize) -> GradientCheck {
    let n = z.len();
    let logits = || Tensor::from_slice(z).set_requires_grad(true);
    let grad_of = |f: &dyn Fn(&Tensor) -> Tensor| {
        let zt = logits();
        let out = f(&zt);
        let grads = Tensor::run_backward(&[&out], &[&zt], false, false);
        Vec::<f64>::try_from(&grads[0]).expect("double vector")
    };
    let g_t = Tensor::from_slice(g);
    let autograd_backward = grad_of(&|zt| (zt.softmax(0, Kind::Double) * &g_t).sum(Kind::Double));
    let autograd_jacobian: Vec<f64> =
        (0..n).flat_map(|i| grad_of(&|zt| zt.softmax(0, Kind::Double).get(i as i64))).collect();
    let autograd_ce = grad_of(&|zt| {
        let log_probs = zt.unsqueeze(0).log_softmax(-1, Kind::Double);
        log_probs.nll_loss(&Tensor::from_slice(&[target as i64]))
    });
    let mut prediction_minus_target = softmax64(z);
    prediction_minus_target[target] -= 1.0;
    GradientCheck {
        backward: max_abs_diff(&backward(z, g), &autograd_backward),
        jacobian: max_abs_diff(&jacobian(z), &autograd_jacobian),
        cross_entropy: max_abs_diff(&prediction_minus_target, &autograd_ce),
    }
}

// The experiment as a command: its flags, and what it prints and draws.

/// Runs the experiment: prints what it measured and draws its plots.
pub fn report(c: &Common) -> anyhow::Result<()> {
    let list = |v: &[f32], decimals: usize| {
        let items: Vec<String> = v.iter().map(|x| format!("{x:.decimals$}")).collect();
        format!("[{}]", items.join(", "))
    };
    println!("softmax(z)_i = exp(z_i) / sum_j exp(z_j), in single precision:");
    println!("  logits                 exp then normalise           max subtracted first");
    for case in cases() {
        let (logits, naive, stable) =
            (list(&case.logits, 0), list(&case.naive, 4), list(&case.stable, 4));
        println!(
            "  {logits:<22} {naive:<28} {stable}   (vs libtorch {:.0e})",
            case.stable_vs_libtorch
        );
    }
    println!(
        "exp(1001) is already infinite in single precision (inf / inf = NaN) and exp(-997) is 0 \
         (0 / 0 = NaN);\nsubtracting the maximum multiplies top and bottom by the same exp(-max)."
    );
    let mut rng = dl_core::device::rng(c.seed, "softmax");
    use rand::Rng;
    let z: Vec<f64> = (0..10).map(|_| rng.random_range(-3.0..3.0)).collect();
    let g: Vec<f64> = (0..10).map(|_| rng.random_range(-1.0..1.0)).collect();
    let target = rng.random_range(0..10);
    let check = check_gradients(&z, &g, target);
    println!(
        "\nGradient on 10 random logits (double precision), closed form vs libtorch autograd:"
    );
    println!("  backward, s * (g - <g, s>):                  {:.1e}", check.backward);
    println!("  Jacobian, s_i (delta_ij - s_j):              {:.1e}", check.jacobian);
    println!("  cross-entropy, softmax(z) - onehot(target):  {:.1e}", check.cross_entropy);
    Ok(())
}
