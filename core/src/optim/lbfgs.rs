//! L-BFGS (Liu & Nocedal, 1989): a quasi-Newton method that builds an approximation of the
//! inverse Hessian from the last few steps and gradients, for deterministic objectives such as
//! the image of neural style transfer (Gatys et al. optimise with L-BFGS). libtorch has one, tch
//! does not expose it; this one follows Nocedal & Wright, *Numerical Optimization* (2006):
//! the two-loop recursion (Algorithm 7.4) with the scaling `H0 = (s'y / y'y) I`, and a line
//! search for the strong Wolfe conditions (Algorithms 3.5 and 3.6, with cubic interpolation).
//! Its options and stopping rules are those of `torch.optim.LBFGS`.
//!
//! The objective is a closure from a point `x` to `(f(x), ∇f(x))`; `x` is any tensor (an image,
//! a vector) and is updated in place, one iteration per [`Lbfgs::step`].

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use tch::{Kind, Tensor};

/// How far to move along the search direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineSearch {
    /// A fixed step of `lr` (one evaluation per iteration; torch's default).
    None,
    /// The step that satisfies the strong Wolfe conditions (sufficient decrease, c1 = 1e-4,
    /// and curvature, c2 = 0.9), found by bracketing and cubic interpolation.
    StrongWolfe,
}

/// L-BFGS options, with `torch.optim.LBFGS`'s defaults except the history (100, as Johnson's
/// neural-style uses for images).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LbfgsConfig {
    /// Step length along the direction (the initial one with a line search).
    pub lr: f64,
    /// Number of past `(s, y)` pairs kept.
    pub history: usize,
    /// Line search.
    pub line_search: LineSearch,
    /// Stop when the largest gradient component is at most this.
    pub tolerance_grad: f64,
    /// Stop when the loss or the point changes by less than this.
    pub tolerance_change: f64,
    /// Most function evaluations of one line search.
    pub max_line_evals: usize,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        LbfgsConfig {
            lr: 1.0,
            history: 100,
            line_search: LineSearch::StrongWolfe,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            max_line_evals: 25,
        }
    }
}

/// Why L-BFGS stopped making progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Converged {
    /// The gradient is (numerically) zero.
    Gradient,
    /// The loss or the point no longer changes.
    NoChange,
    /// The direction is not a descent direction (numerical trouble).
    NoDescent,
}

/// What one iteration did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// The loss at the new point.
    pub loss: f64,
    /// Objective evaluations this iteration took.
    pub evaluations: usize,
    /// The step length taken along the direction.
    pub step: f64,
    /// Set once the method has converged (further steps do nothing).
    pub converged: Option<Converged>,
}

/// The state of an L-BFGS minimisation.
pub struct Lbfgs {
    config: LbfgsConfig,
    /// Steps `s = x_{k+1} - x_k`, curvature pairs `y = g_{k+1} - g_k`, and `1 / y's`.
    s: VecDeque<Tensor>,
    y: VecDeque<Tensor>,
    rho: VecDeque<f64>,
    /// `s'y / y'y` of the newest pair: the initial inverse-Hessian scale.
    h_diag: f64,
    /// Loss and gradient at the current point, once evaluated.
    current: Option<(f64, Tensor)>,
    converged: Option<Converged>,
}

/// The scalar part of an L-BFGS state (its tensors are [`Lbfgs::state_tensors`]): what a
/// checkpoint needs, with them, for a minimisation to go on exactly where it stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LbfgsMeta {
    /// `1 / y's` of every stored pair, oldest first.
    pub rho: Vec<f64>,
    /// The initial inverse-Hessian scale.
    pub h_diag: f64,
    /// The loss at the current point, once evaluated.
    pub current_loss: Option<f64>,
    /// Set once the method has converged.
    pub converged: Option<Converged>,
}

/// An objective: `(f(x), ∇f(x))`.
pub type Objective<'a> = dyn FnMut(&Tensor) -> Result<(f64, Tensor)> + 'a;

impl Lbfgs {
    /// A new minimisation (no history).
    pub fn new(config: LbfgsConfig) -> Result<Self> {
        if !(config.lr > 0.0 && config.lr.is_finite()) || config.history == 0 {
            return Err(Error::Config(format!(
                "L-BFGS needs a positive step and history, got lr {} and history {}",
                config.lr, config.history
            )));
        }
        Ok(Lbfgs {
            config,
            s: VecDeque::new(),
            y: VecDeque::new(),
            rho: VecDeque::new(),
            h_diag: 1.0,
            current: None,
            converged: None,
        })
    }

    /// The scalar state (see [`LbfgsMeta`]).
    pub fn meta(&self) -> LbfgsMeta {
        LbfgsMeta {
            rho: self.rho.iter().copied().collect(),
            h_diag: self.h_diag,
            current_loss: self.current.as_ref().map(|c| c.0),
            converged: self.converged,
        }
    }

    /// The tensor state, named `s.<i>` and `y.<i>` (the stored pairs, oldest first) and
    /// `current_grad` (the gradient at the current point, once evaluated).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let pairs = self.s.iter().zip(&self.y).enumerate();
        let mut out: Vec<(String, Tensor)> = pairs
            .flat_map(|(i, (s, y))| {
                [(format!("s.{i}"), s.shallow_clone()), (format!("y.{i}"), y.shallow_clone())]
            })
            .collect();
        if let Some((_, grad)) = &self.current {
            out.push(("current_grad".into(), grad.shallow_clone()));
        }
        out
    }

    /// Restores a state saved by [`Lbfgs::meta`] and [`Lbfgs::state_tensors`]; every tensor
    /// must be there, and no more pairs than the history holds.
    pub fn load_state(
        &mut self,
        meta: &LbfgsMeta,
        tensors: &BTreeMap<String, Tensor>,
    ) -> Result<()> {
        let bad = |why: String| Err(Error::Config(format!("saved L-BFGS state: {why}")));
        if meta.rho.len() > self.config.history {
            return bad(format!(
                "{} pairs, the history holds {}",
                meta.rho.len(),
                self.config.history
            ));
        }
        let get = |name: String| match tensors.get(&name) {
            Some(t) => Ok(t.shallow_clone()),
            None => Err(Error::Config(format!("saved L-BFGS state: no tensor {name:?}"))),
        };
        let s = (0..meta.rho.len()).map(|i| get(format!("s.{i}"))).collect::<Result<_>>()?;
        let y = (0..meta.rho.len()).map(|i| get(format!("y.{i}"))).collect::<Result<_>>()?;
        let current = match meta.current_loss {
            Some(loss) => Some((loss, get("current_grad".into())?)),
            None => None,
        };
        (self.s, self.y, self.rho) = (s, y, meta.rho.iter().copied().collect());
        (self.h_diag, self.current, self.converged) = (meta.h_diag, current, meta.converged);
        Ok(())
    }

    /// One iteration: a direction from the history, a step along it, `x` updated in place.
    pub fn step(&mut self, x: &mut Tensor, f: &mut Objective) -> Result<StepReport> {
        let mut evaluations = 0;
        let (loss, grad) = match self.current.take() {
            Some(current) => current,
            None => {
                evaluations += 1;
                let (loss, grad) = f(x)?;
                check(loss, &grad, x)?;
                (loss, grad)
            }
        };
        let done = |this: &mut Lbfgs, loss, grad, why, evaluations| {
            this.converged = Some(why);
            this.current = Some((loss, grad));
            Ok(StepReport { loss, evaluations, step: 0.0, converged: Some(why) })
        };
        if let Some(why) = self.converged {
            return done(self, loss, grad, why, evaluations);
        }
        if max_abs(&grad) <= self.config.tolerance_grad {
            return done(self, loss, grad, Converged::Gradient, evaluations);
        }

        let direction = self.direction(&grad);
        let gtd = dot(&grad, &direction);
        if gtd > -self.config.tolerance_change {
            return done(self, loss, grad, Converged::NoDescent, evaluations);
        }
        // The first step is scaled so that it moves by at most lr in L1 norm.
        let t0 = if self.s.is_empty() {
            self.config.lr * (1.0 / grad.abs().sum(Kind::Double).double_value(&[])).min(1.0)
        } else {
            self.config.lr
        };

        let (t, new_loss, new_grad, evals) = match self.config.line_search {
            LineSearch::None => {
                let moved = &*x + &direction * t0;
                let (l, g) = f(&moved)?;
                check(l, &g, x)?;
                (t0, l, g, 1)
            }
            LineSearch::StrongWolfe => {
                let mut phi = |t: f64| -> Result<(f64, f64, Tensor)> {
                    let (l, g) = f(&(&*x + &direction * t))?;
                    check(l, &g, x)?;
                    let gtd = dot(&g, &direction);
                    Ok((l, gtd, g))
                };
                let start = Point { t: 0.0, f: loss, gtd, g: grad.shallow_clone() };
                let limit =
                    self.config.tolerance_change / max_abs(&direction).max(f64::MIN_POSITIVE);
                strong_wolfe(&mut phi, start, t0, self.config.max_line_evals, limit)?
            }
        };
        evaluations += evals;

        let s = &direction * t;
        let y = &new_grad - &grad;
        let ys = dot(&y, &s);
        if ys > 1e-10 {
            if self.s.len() == self.config.history {
                self.s.pop_front();
                self.y.pop_front();
                self.rho.pop_front();
            }
            self.h_diag = ys / dot(&y, &y);
            self.s.push_back(s.shallow_clone());
            self.y.push_back(y);
            self.rho.push_back(1.0 / ys);
        }
        tch::no_grad(|| {
            let _ = x.g_add_(&s);
        });

        let converged = if max_abs(&new_grad) <= self.config.tolerance_grad {
            Some(Converged::Gradient)
        } else if max_abs(&s) <= self.config.tolerance_change
            || (new_loss - loss).abs() < self.config.tolerance_change
        {
            Some(Converged::NoChange)
        } else {
            None
        };
        self.converged = converged;
        self.current = Some((new_loss, new_grad));
        Ok(StepReport { loss: new_loss, evaluations, step: t, converged })
    }

    /// `-H g` by the two-loop recursion over the stored pairs.
    fn direction(&self, grad: &Tensor) -> Tensor {
        let mut q = -grad;
        let mut alpha = vec![0.0; self.s.len()];
        for i in (0..self.s.len()).rev() {
            alpha[i] = self.rho[i] * dot(&self.s[i], &q);
            q -= &self.y[i] * alpha[i];
        }
        let mut r = q * self.h_diag;
        for (i, a) in alpha.iter().enumerate() {
            let beta = self.rho[i] * dot(&self.y[i], &r);
            r += &self.s[i] * (a - beta);
        }
        r
    }
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    (a * b).sum(Kind::Double).double_value(&[])
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

fn check(loss: f64, grad: &Tensor, x: &Tensor) -> Result<()> {
    if !loss.is_finite() {
        return Err(Error::Config(format!("L-BFGS: the objective returned {loss}")));
    }
    if grad.size() != x.size() {
        return Err(Error::Config(format!(
            "L-BFGS: a gradient of shape {:?} for a point of shape {:?}",
            grad.size(),
            x.size()
        )));
    }
    Ok(())
}

/// A trial step: its length, loss, directional derivative and gradient.
struct Point {
    t: f64,
    f: f64,
    gtd: f64,
    g: Tensor,
}

const C1: f64 = 1e-4;
const C2: f64 = 0.9;

/// Finds a step satisfying the strong Wolfe conditions from `start` (t = 0) along a descent
/// direction, trying `t` first. Returns `(t, f, g, evaluations)`; after `max_evals` evaluations
/// it returns the best point found. Stops early when the bracket is narrower than `min_width`.
fn strong_wolfe(
    phi: &mut dyn FnMut(f64) -> Result<(f64, f64, Tensor)>,
    start: Point,
    t: f64,
    max_evals: usize,
    min_width: f64,
) -> Result<(f64, f64, Tensor, usize)> {
    let (f0, gtd0) = (start.f, start.gtd);
    let sufficient = |p: &Point| p.f <= f0 + C1 * p.t * gtd0;
    let curvature = |p: &Point| p.gtd.abs() <= -C2 * gtd0;
    let mut evals = 0;
    let mut prev = start;
    let mut t = t;
    // Bracketing: grow the step until it overshoots (then zoom) or satisfies both conditions.
    let (mut lo, mut hi) = loop {
        let (f, gtd, g) = phi(t)?;
        evals += 1;
        let p = Point { t, f, gtd, g };
        if !sufficient(&p) || (evals > 1 && p.f >= prev.f) {
            break (prev, p);
        }
        if curvature(&p) {
            return Ok((p.t, p.f, p.g, evals));
        }
        if p.gtd >= 0.0 {
            break (p, prev);
        }
        if evals >= max_evals {
            return Ok((p.t, p.f, p.g, evals));
        }
        let next = cubic_minimum(&prev, &p, p.t + 0.01 * (p.t - prev.t), p.t * 10.0);
        prev = p;
        t = next;
    };
    // Zoom: `lo` satisfies sufficient decrease with the lower loss; the minimum lies between.
    while evals < max_evals && (hi.t - lo.t).abs() > min_width {
        let (a, b) = (lo.t.min(hi.t), lo.t.max(hi.t));
        let margin = 0.1 * (b - a);
        let t = cubic_minimum(&lo, &hi, a, b).clamp(a + margin, b - margin);
        let (f, gtd, g) = phi(t)?;
        evals += 1;
        let p = Point { t, f, gtd, g };
        if !sufficient(&p) || p.f >= lo.f {
            hi = p;
        } else {
            if curvature(&p) {
                return Ok((p.t, p.f, p.g, evals));
            }
            if p.gtd * (hi.t - lo.t) >= 0.0 {
                hi = lo;
            }
            lo = p;
        }
    }
    Ok((lo.t, lo.f, lo.g, evals))
}

/// The minimiser of the cubic through two points with their slopes, clamped to `[lo, hi]`;
/// the bounds' midpoint when the cubic has no minimum.
fn cubic_minimum(p1: &Point, p2: &Point, lo: f64, hi: f64) -> f64 {
    let d1 = p1.gtd + p2.gtd - 3.0 * (p1.f - p2.f) / (p1.t - p2.t);
    let d2_square = d1 * d1 - p1.gtd * p2.gtd;
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let t = if p1.t <= p2.t {
            p2.t - (p2.t - p1.t) * ((p2.gtd + d2 - d1) / (p2.gtd - p1.gtd + 2.0 * d2))
        } else {
            p1.t - (p1.t - p2.t) * ((p1.gtd + d2 - d1) / (p1.gtd - p2.gtd + 2.0 * d2))
        };
        if t.is_finite() {
            return t.clamp(lo, hi);
        }
    }
    (lo + hi) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// Tolerances for float64 problems solved to near machine precision.
    fn tight() -> LbfgsConfig {
        LbfgsConfig { tolerance_grad: 1e-12, tolerance_change: 1e-16, ..LbfgsConfig::default() }
    }

    /// Runs L-BFGS from `x0` until it converges or `iterations` pass; returns the point.
    fn minimise(x0: &[f64], f: &mut Objective, config: LbfgsConfig, iterations: usize) -> Tensor {
        let mut x = Tensor::from_slice(x0);
        let mut lbfgs = Lbfgs::new(config).unwrap();
        for _ in 0..iterations {
            if lbfgs.step(&mut x, f).unwrap().converged.is_some() {
                break;
            }
        }
        x
    }

    fn rosenbrock(x: &Tensor) -> Result<(f64, Tensor)> {
        let v: Vec<f64> = Vec::try_from(x).unwrap();
        let (a, b) = (v[0], v[1]);
        let f = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
        let g = [-2.0 * (1.0 - a) - 400.0 * a * (b - a * a), 200.0 * (b - a * a)];
        Ok((f, Tensor::from_slice(&g)))
    }

    #[test]
    fn rosenbrock_reaches_its_minimum_from_the_classic_start() {
        let x = minimise(&[-1.2, 1.0], &mut rosenbrock, tight(), 200);
        let v: Vec<f64> = Vec::try_from(&x).unwrap();
        assert!((v[0] - 1.0).abs() < 1e-6 && (v[1] - 1.0).abs() < 1e-6, "{v:?}");
    }

    #[test]
    fn least_squares_matches_the_normal_equations() {
        tch::manual_seed(3);
        let opts = (Kind::Double, Device::Cpu);
        let a = Tensor::randn([30, 8], opts);
        let b = Tensor::randn([30], opts);
        // The exact solution of the normal equations A'A x = A'b.
        let exact = a.tr().matmul(&a).inverse().matmul(&a.tr().matmul(&b));
        let mut f = |x: &Tensor| -> Result<(f64, Tensor)> {
            let r = a.matmul(x) - &b;
            Ok((r.dot(&r).double_value(&[]) / 2.0, a.tr().matmul(&r)))
        };
        let x = minimise(&[0.0; 8], &mut f, tight(), 100);
        let error = (&x - &exact).abs().max().double_value(&[]);
        assert!(error < 1e-6, "max |x - x*| = {error}");
    }

    #[test]
    fn a_fixed_step_also_converges_on_a_convex_quadratic() {
        // f(x) = sum_i (i+1) x_i^2 / 2: a badly scaled bowl.
        let scale = Tensor::arange_start(1, 11, (Kind::Double, Device::Cpu));
        let mut f = |x: &Tensor| -> Result<(f64, Tensor)> {
            let g = &scale * x;
            Ok(((x * &g).sum(Kind::Double).double_value(&[]) / 2.0, g))
        };
        let config = LbfgsConfig { line_search: LineSearch::None, ..tight() };
        let x = minimise(&[1.0; 10], &mut f, config, 200);
        assert!(x.abs().max().double_value(&[]) < 1e-5, "{x}");
    }

    #[test]
    fn non_finite_objectives_and_bad_options_are_errors() {
        let mut f = |_: &Tensor| -> Result<(f64, Tensor)> {
            Ok((f64::NAN, Tensor::zeros([2], (Kind::Double, Device::Cpu))))
        };
        let mut lbfgs = Lbfgs::new(LbfgsConfig::default()).unwrap();
        let mut x = Tensor::from_slice(&[1.0, 2.0]);
        assert!(lbfgs.step(&mut x, &mut f).is_err());
        assert!(Lbfgs::new(LbfgsConfig { history: 0, ..LbfgsConfig::default() }).is_err());
    }
}
