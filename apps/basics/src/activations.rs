//! `activations`: why ReLU replaced the sigmoid. The same deep MLP on real digits with sigmoid,
//! tanh or ReLU between its layers: the gradient that reaches the first layer at initialisation
//! (backpropagation multiplies one derivative per layer, and the sigmoid's is at most 1/4), and
//! the training loss after the same number of SGD steps.

use crate::{parse_activation, plot_path, wrote, Common};
use anyhow::ensure;
use datasets::ImageSet;
use dl_core::device::seed_step;
use dl_core::nn::Activation;
use dl_core::optim::{Optimizer, OptimizerConfig};
use harness::cli::DeviceArg;
use harness::plot::{line_chart, Series};
use std::path::PathBuf;
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// How the weights of every layer are drawn (`fan_in`, `fan_out`: the layer's input and output
/// widths).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Init {
    /// PyTorch's `nn.Linear` default: weights and biases uniform in `±1/sqrt(fan_in)`.
    Pytorch,
    /// Glorot & Bengio (2010): weights uniform in `±sqrt(6/(fan_in + fan_out))`, biases 0; made
    /// for tanh.
    Xavier,
    /// He et al. (2015): weights normal with std `sqrt(2/fan_in)`, biases 0; made for ReLU.
    He,
}

impl Init {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Init::Pytorch => "pytorch",
            Init::Xavier => "xavier",
            Init::He => "he",
        }
    }

    /// Draws `(weight [fan_out, fan_in], bias [fan_out])`.
    fn draw(self, fan_in: i64, fan_out: i64, device: Device) -> (Tensor, Tensor) {
        let opts = (Kind::Float, device);
        let uniform =
            |shape: &[i64], bound: f64| Tensor::empty(shape, opts).uniform_(-bound, bound);
        match self {
            Init::Pytorch => {
                let bound = 1.0 / (fan_in as f64).sqrt();
                (uniform(&[fan_out, fan_in], bound), uniform(&[fan_out], bound))
            }
            Init::Xavier => {
                let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
                (uniform(&[fan_out, fan_in], bound), Tensor::zeros([fan_out], opts))
            }
            Init::He => {
                let std = (2.0 / fan_in as f64).sqrt();
                (Tensor::randn([fan_out, fan_in], opts) * std, Tensor::zeros([fan_out], opts))
            }
        }
    }
}

/// Settings of the experiment.
#[derive(Clone, Debug)]
pub struct ActivationsConfig {
    /// Linear layers (the activation sits between consecutive ones).
    pub depth: usize,
    /// Width of the hidden layers.
    pub width: i64,
    /// Weight initialisation, the same for every activation.
    pub init: Init,
    /// Training images whose loss gives the gradients measured at initialisation.
    pub grad_batch: i64,
    /// SGD steps.
    pub steps: u64,
    /// Minibatch size.
    pub batch: i64,
    /// SGD learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Seed of the weights and of the minibatch order (the same for every activation).
    pub seed: u64,
    /// Where to compute.
    pub device: Device,
}

/// What one activation measured.
#[derive(Clone, Debug)]
pub struct ActivationResult {
    /// The activation between the layers.
    pub activation: Activation,
    /// Frobenius norm of each layer's weight gradient at initialisation, first layer first.
    pub grad_norms: Vec<f64>,
    /// Training loss at each step.
    pub losses: Vec<f64>,
    /// Accuracy on the held-out images after training.
    pub test_accuracy: f64,
}

impl ActivationResult {
    /// The first layer's weight-gradient norm at initialisation.
    pub fn first_layer_grad(&self) -> f64 {
        self.grad_norms[0]
    }

    /// Mean training loss over the last tenth of the steps (at least one).
    pub fn final_loss(&self) -> f64 {
        let tail = (self.losses.len() / 10).max(1);
        self.losses[self.losses.len() - tail..].iter().sum::<f64>() / tail as f64
    }
}

/// Images as `[N, 784]` floats normalised with MNIST's mean and standard deviation, and labels.
pub fn flatten(set: &ImageSet, device: Device) -> (Tensor, Tensor) {
    let n = set.images.size()[0];
    let x =
        (set.images.to_device(device).to_kind(Kind::Float).view([n, -1]) / 255.0 - 0.1307) / 0.3081;
    (x, set.labels.to_device(device))
}

/// The deep MLP: `depth` linear layers, `activation` between them, logits out.
struct Mlp {
    layers: Vec<(Tensor, Tensor)>,
    activation: Activation,
}

impl Mlp {
    fn new(
        vs: &VarStore,
        inputs: i64,
        classes: i64,
        activation: Activation,
        c: &ActivationsConfig,
    ) -> Mlp {
        let root = vs.root();
        let layers = (0..c.depth)
            .map(|i| {
                let fan_in = if i == 0 { inputs } else { c.width };
                let fan_out = if i + 1 == c.depth { classes } else { c.width };
                let (w, b) = c.init.draw(fan_in, fan_out, c.device);
                let p = &root / format!("fc{i}");
                (p.add("weight", w, true), p.add("bias", b, true))
            })
            .collect();
        Mlp { layers, activation }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let mut h = x.shallow_clone();
        for (i, (w, b)) in self.layers.iter().enumerate() {
            h = h.linear(w, Some(b));
            if i + 1 < self.layers.len() {
                h = self.activation.apply(&h);
            }
        }
        h
    }
}

/// Trains the MLP with `activation` on `(x, y)` and measures it; `test` is held out.
pub fn measure(
    activation: Activation,
    (x, y): (&Tensor, &Tensor),
    test: (&Tensor, &Tensor),
    classes: i64,
    c: &ActivationsConfig,
) -> dl_core::Result<ActivationResult> {
    // The same seed for every activation: identical weights, identical minibatches.
    tch::manual_seed(c.seed as i64);
    let vs = VarStore::new(c.device);
    let mlp = Mlp::new(&vs, x.size()[1], classes, activation, c);
    let sgd = OptimizerConfig::Sgd {
        lr: c.lr,
        momentum: c.momentum,
        dampening: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    };
    let mut opt = Optimizer::new(sgd, &vs)?;

    let n = x.size()[0];
    let probe = c.grad_batch.min(n);
    opt.zero_grad();
    mlp.forward(&x.narrow(0, 0, probe)).cross_entropy_for_logits(&y.narrow(0, 0, probe)).backward();
    let grad_norms = mlp.layers.iter().map(|(w, _)| w.grad().norm().double_value(&[])).collect();

    let mut losses = Vec::with_capacity(c.steps as usize);
    for step in 0..c.steps {
        seed_step(c.seed, step);
        let idx = Tensor::randint(n, [c.batch.min(n)], (Kind::Int64, c.device));
        opt.zero_grad();
        let loss = mlp
            .forward(&x.index_select(0, &idx))
            .cross_entropy_for_logits(&y.index_select(0, &idx));
        loss.backward();
        opt.step();
        losses.push(loss.double_value(&[]));
    }
    let test_accuracy = tch::no_grad(|| {
        let predicted = mlp.forward(test.0).argmax(1, false);
        predicted.eq_tensor(test.1).to_kind(Kind::Double).mean(Kind::Double).double_value(&[])
    });
    Ok(ActivationResult { activation, grad_norms, losses, test_accuracy })
}

// The experiment as a command: its flags, and what it prints and draws.

/// The flags of this experiment's command.
#[derive(clap::Args)]
pub struct ActivationsArgs {
    /// Digits (mnist) or clothes (fashion-mnist).
    #[arg(long, default_value = "mnist", value_parser = ["mnist", "fashion-mnist"])]
    pub dataset: String,
    /// Activations to compare.
    #[arg(long, value_delimiter = ',', value_parser = parse_activation, default_value = "sigmoid,tanh,relu")]
    pub activations: Vec<Activation>,
    /// Linear layers.
    #[arg(long, default_value_t = 10)]
    pub depth: usize,
    /// Hidden width.
    #[arg(long, default_value_t = 256)]
    pub width: i64,
    /// Weight initialisations to compare (each the same for every activation).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "pytorch,xavier,he")]
    pub init: Vec<Init>,
    /// SGD steps.
    #[arg(long, default_value_t = 1000)]
    pub steps: u64,
    /// Minibatch size.
    #[arg(long, default_value_t = 64)]
    pub batch: i64,
    /// SGD learning rate.
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.0)]
    pub momentum: f64,
    #[command(flatten)]
    pub device: DeviceArg,
    /// Directory datasets are cached in.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

/// Runs the experiment: prints what it measured and draws its plots.
pub fn report(a: &ActivationsArgs) -> anyhow::Result<()> {
    ensure!(a.depth >= 2, "--depth must be at least 2");
    ensure!(!a.activations.is_empty(), "--activations needs at least one activation");
    ensure!(!a.init.is_empty(), "--init needs at least one initialisation");
    ensure!(
        a.width >= 1 && a.batch >= 1 && a.steps >= 1,
        "--width, --batch and --steps must be positive"
    );
    ensure!(a.lr > 0.0 && a.lr.is_finite(), "--lr must be positive");
    ensure!((0.0..1.0).contains(&a.momentum), "--momentum must be in [0, 1)");
    let device = a.device.resolve()?;
    let dataset: datasets::Dataset = a.dataset.parse()?;
    let data_dir = datasets::fetch::data_dir(a.data_dir.as_deref());
    let train = dataset.load_images(&data_dir, datasets::Split::Train)?;
    let test = dataset.load_images(&data_dir, datasets::Split::Test)?;
    let classes = train.classes.len() as i64;
    let (x, y) = flatten(&train, device);
    let (xt, yt) = flatten(&test, device);
    println!(
        "{} linear layers ({} -> {} x {} -> {classes}) on {}, SGD lr {} momentum {}, {} steps of {} \
         images ({} training images, {} held out)",
        a.depth,
        x.size()[1],
        a.depth - 1,
        a.width,
        a.dataset,
        a.lr,
        a.momentum,
        a.steps,
        a.batch,
        x.size()[0],
        xt.size()[0]
    );
    for &init in &a.init {
        let config = ActivationsConfig {
            depth: a.depth,
            width: a.width,
            init,
            grad_batch: 512,
            steps: a.steps,
            batch: a.batch,
            lr: a.lr,
            momentum: a.momentum,
            seed: a.common.seed,
            device,
        };
        println!("\n{} initialisation:", init.name());
        println!(
            "  activation   first-layer gradient   last-layer gradient   final loss   held-out accuracy"
        );
        let mut results = Vec::new();
        for &act in &a.activations {
            let start = Instant::now();
            let r = measure(act, (&x, &y), (&xt, &yt), classes, &config)?;
            println!(
                "  {:<10} {:>22.2e} {:>21.2e} {:>12.3} {:>18.1} %   ({:.1} s)",
                act.to_string(),
                r.first_layer_grad(),
                r.grad_norms.last().expect("at least two layers"),
                r.final_loss(),
                100.0 * r.test_accuracy,
                start.elapsed().as_secs_f64()
            );
            results.push(r);
        }
        plot_activations(&results, init, &a.common)?;
    }
    println!(
        "\ngradient: Frobenius norm of the weight gradient at initialisation, 512 images; final \
         loss: mean over the last tenth of the steps; chance is ln {classes} = {:.3}",
        (classes as f64).ln()
    );
    Ok(())
}

fn plot_activations(
    results: &[ActivationResult],
    init: Init,
    common: &Common,
) -> anyhow::Result<()> {
    let path = plot_path(common, &format!("activations-gradients-{}.png", init.name()))?;
    let series: Vec<Series> = results
        .iter()
        .map(|r| Series {
            name: r.activation.to_string(),
            points: r
                .grad_norms
                .iter()
                .enumerate()
                .map(|(i, g)| ((i + 1) as f64, g.log10()))
                .collect(),
        })
        .collect();
    let title = format!("log10 of the weight-gradient norm at initialisation ({})", init.name());
    line_chart(&path, &title, "layer", &series)?;
    wrote(&path);
    let path = plot_path(common, &format!("activations-loss-{}.png", init.name()))?;
    let series: Vec<Series> = results
        .iter()
        .map(|r| Series { name: r.activation.to_string(), points: smoothed(&r.losses, 20) })
        .collect();
    let title = format!("Training loss, mean of 20 steps ({} initialisation)", init.name());
    line_chart(&path, &title, "step", &series)?;
    wrote(&path);
    Ok(())
}

/// `(step, mean of the window ending there)` every `window` steps.
fn smoothed(values: &[f64], window: usize) -> Vec<(f64, f64)> {
    values
        .chunks(window)
        .enumerate()
        .map(|(i, c)| (((i + 1) * window) as f64, c.iter().sum::<f64>() / c.len() as f64))
        .collect()
}
