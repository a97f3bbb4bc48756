//! `basics`: the talk's ideas about how deep learning works, as experiments you can run.
//! See the crate's README for what each subcommand shows and what it printed when we ran it.

use anyhow::{ensure, Context, Result};
use basics::activations::{self, ActivationResult, ActivationsConfig, Init};
use basics::approx::{self, FitConfig, Target};
use basics::backprop;
use basics::collapse::{self, CollapseConfig};
use basics::softmax;
use clap::{Args, Parser, Subcommand};
use dl_core::device::DeviceSpec;
use dl_core::nn::Activation;
use harness::plot::{line_chart, Series};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How deep learning works, measured: backprop, universal approximation, why non-linearities
/// and why ReLU, softmax.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Backpropagation on the talk's graph, checked three ways, and its cost on big graphs.
    Backprop(BackpropArgs),
    /// One hidden layer fitting sin and a step function, for growing widths.
    MlpApprox(ApproxArgs),
    /// A deep linear stack is one matrix; with ReLU in between, no matrix fits.
    LinearCollapse(CollapseArgs),
    /// Sigmoid vs tanh vs ReLU in a deep MLP on digits: gradients at initialisation, loss after
    /// training.
    Activations(ActivationsArgs),
    /// Softmax: overflow of the literal formula, the max-subtraction trick, its gradient.
    Softmax(Common),
    /// Every experiment at small sizes (well under a minute).
    Demo(Common),
}

/// Where the plots go and the seed.
#[derive(Args, Clone)]
struct Common {
    /// Directory for the plots.
    #[arg(long, default_value = "runs/basics")]
    out: PathBuf,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct BackpropArgs {
    /// Value of `a` in the talk's graph.
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    a: f64,
    /// Value of `b` in the talk's graph.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    b: f64,
    /// Input counts of the random graphs timed.
    #[arg(long, value_delimiter = ',', default_value = "10,30,100,300,1000")]
    inputs: Vec<usize>,
    /// Layers of each random graph (nodes = about 2 x inputs x depth).
    #[arg(long, default_value_t = 10)]
    depth: usize,
    /// Minimum milliseconds each timing runs for.
    #[arg(long, default_value_t = 100.0)]
    min_ms: f64,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct ApproxArgs {
    /// Hidden widths to fit.
    #[arg(long, value_delimiter = ',', default_value = "2,8,32,128,512")]
    widths: Vec<i64>,
    /// Targets to fit.
    #[arg(long, value_delimiter = ',', value_enum, default_value = "sin,step")]
    targets: Vec<Target>,
    /// Activation of the hidden layer.
    #[arg(long, value_parser = parse_activation, default_value = "relu")]
    activation: Activation,
    /// Evenly spaced training points on [-pi, pi].
    #[arg(long, default_value_t = 256)]
    points: i64,
    /// Full-batch Adam steps.
    #[arg(long, default_value_t = 3000)]
    steps: u64,
    /// Adam's learning rate (cosine decay to 0).
    #[arg(long, default_value_t = 0.01)]
    lr: f64,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct CollapseArgs {
    /// Linear layers in the stack.
    #[arg(long, default_value_t = 10)]
    depth: usize,
    /// Width of every layer.
    #[arg(long, default_value_t = 64)]
    width: i64,
    /// Random inputs compared on.
    #[arg(long, default_value_t = 4096)]
    samples: i64,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct ActivationsArgs {
    /// Digits (mnist) or clothes (fashion-mnist).
    #[arg(long, default_value = "mnist", value_parser = ["mnist", "fashion-mnist"])]
    dataset: String,
    /// Activations to compare.
    #[arg(long, value_delimiter = ',', value_parser = parse_activation, default_value = "sigmoid,tanh,relu")]
    activations: Vec<Activation>,
    /// Linear layers.
    #[arg(long, default_value_t = 10)]
    depth: usize,
    /// Hidden width.
    #[arg(long, default_value_t = 256)]
    width: i64,
    /// Weight initialisations to compare (each the same for every activation).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "pytorch,xavier,he")]
    init: Vec<Init>,
    /// SGD steps.
    #[arg(long, default_value_t = 1000)]
    steps: u64,
    /// Minibatch size.
    #[arg(long, default_value_t = 64)]
    batch: i64,
    /// SGD learning rate.
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.0)]
    momentum: f64,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// Directory datasets are cached in.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

fn parse_activation(s: &str) -> Result<Activation, String> {
    match s {
        "relu" => Ok(Activation::Relu),
        "tanh" => Ok(Activation::Tanh),
        "sigmoid" => Ok(Activation::Sigmoid),
        _ => Err(format!("unknown activation {s:?}: use relu, tanh or sigmoid")),
    }
}

fn main() {
    harness::cli::init(false);
    harness::cli::main(run);
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Backprop(a) => run_backprop(&a),
        Command::MlpApprox(a) => run_approx(&a),
        Command::LinearCollapse(a) => run_collapse(&a),
        Command::Activations(a) => run_activations(&a),
        Command::Softmax(c) => run_softmax(&c),
        Command::Demo(c) => run_demo(&c),
    }
}

/// Creates the output directory and returns the path of `name` in it.
fn plot_path(common: &Common, name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(&common.out)
        .with_context(|| format!("cannot create the output directory {}", common.out.display()))?;
    Ok(common.out.join(name))
}

fn wrote(path: &Path) {
    println!("wrote {}", path.display());
}

fn run_backprop(a: &BackpropArgs) -> Result<()> {
    ensure!(!a.inputs.is_empty() && a.inputs.iter().all(|&n| n >= 1), "--inputs must be positive");
    ensure!(a.depth >= 1, "--depth must be at least 1");
    ensure!(a.min_ms > 0.0 && a.min_ms.is_finite(), "--min-ms must be positive");
    ensure!(a.a.is_finite() && a.b.is_finite(), "--a and --b must be finite numbers");

    let (mut tape, nodes) = backprop::talks_graph(a.a, a.b);
    let [_, _, c, d, y] = nodes;
    println!("The talk's graph: c = a + b, d = b + 1, y = c * d");
    println!(
        "at a = {}, b = {}: c = {}, d = {}, y = {}",
        a.a,
        a.b,
        tape.value(c),
        tape.value(d),
        tape.value(y)
    );
    let check = backprop::check(&mut tape, y, &nodes, 1e-6);
    println!("\n  node   dy/dnode (tape)   libtorch autograd   finite differences");
    for (k, name) in ["a", "b", "c", "d", "y"].iter().enumerate() {
        println!(
            "  {name:<4}   {:>15.10}   {:>17.10}   {:>18.10}",
            check.tape[k], check.autograd_values[k], check.fd_values[k]
        );
    }
    println!(
        "  largest difference from the tape: autograd {:.1e}, finite differences {:.1e}, \
         forward mode {:.1e}",
        check.autograd, check.finite_differences, check.forward_mode
    );

    let n = *a.inputs.iter().max().expect("non-empty");
    let (mut big, out) = backprop::random_graph(n, a.depth, a.common.seed);
    let inputs = big.inputs();
    let check = backprop::check(&mut big, out, &inputs, 1e-6);
    println!(
        "\nA random graph of {} nodes ({n} inputs, {} layers of + or *, each followed by sin or \
         tanh):\nall {n} gradients by one backward walk; largest difference from autograd {:.1e}, \
         from finite differences {:.1e}, from forward mode {:.1e}",
        big.len(),
        a.depth,
        check.autograd,
        check.finite_differences,
        check.forward_mode
    );

    println!(
        "\nCost of all the gradients, in forward passes (timed, {} ms or more each):",
        a.min_ms
    );
    println!(
        "  inputs    nodes   forward pass   backward walk (x forward)   one pass per input (x forward)"
    );
    let mut costs = Vec::new();
    for &inputs in &a.inputs {
        let cost = backprop::cost(inputs, a.depth, a.common.seed, a.min_ms / 1000.0);
        println!(
            "  {:>6} {:>8} {:>11.1} us {:>14.1} us ({:>5.2}x) {:>17.1} us ({:>7.1}x)",
            cost.inputs,
            cost.nodes,
            cost.forward_s * 1e6,
            cost.reverse_s * 1e6,
            cost.reverse_ratio(),
            cost.forward_mode_s * 1e6,
            cost.forward_mode_ratio()
        );
        costs.push(cost);
    }
    println!(
        "node visits: the backward walk visits each node once; forward mode visits each node once \
         per input ({} x {} = {} for the largest graph).",
        costs.last().expect("non-empty").inputs,
        costs.last().expect("non-empty").nodes,
        costs.last().expect("non-empty").forward_mode_visits
    );
    let path = plot_path(&a.common, "backprop-cost.png")?;
    let series = |name: &str, f: &dyn Fn(&backprop::Cost) -> f64| Series {
        name: name.into(),
        points: costs.iter().map(|c| (c.inputs as f64, f(c))).collect(),
    };
    line_chart(
        &path,
        "Time for all gradients, in forward passes",
        "inputs of the graph",
        &[
            series("backward walk (reverse mode)", &|c| c.reverse_ratio()),
            series("one pass per input (forward mode)", &|c| c.forward_mode_ratio()),
        ],
    )?;
    wrote(&path);
    Ok(())
}

fn run_approx(a: &ApproxArgs) -> Result<()> {
    ensure!(!a.widths.is_empty() && a.widths.iter().all(|&w| w >= 1), "--widths must be positive");
    ensure!(a.points >= 2, "--points must be at least 2");
    ensure!(a.steps >= 1, "--steps must be at least 1");
    ensure!(a.lr > 0.0 && a.lr.is_finite(), "--lr must be positive");
    let config = FitConfig {
        activation: a.activation,
        points: a.points,
        steps: a.steps,
        lr: a.lr,
        seed: a.common.seed,
        device: a.device.resolve()?,
    };
    println!(
        "x -> Linear(1, width) -> {} -> Linear(width, 1), {} full-batch Adam steps on {} points \
         of [-pi, pi];\nmean squared error on {} points in between:",
        a.activation,
        a.steps,
        a.points,
        4 * a.points
    );
    let names: Vec<&str> = a.targets.iter().map(|t| t.name()).collect();
    println!("  width  {}", names.iter().map(|n| format!("{n:>12}")).collect::<String>());
    let mut fits = vec![Vec::new(); a.targets.len()];
    for &width in &a.widths {
        let mut row = format!("  {width:>5}  ");
        for (k, &target) in a.targets.iter().enumerate() {
            let fit = approx::fit(target, width, &config)?;
            row += &format!("{:>12.2e}", fit.mse);
            fits[k].push(fit);
        }
        println!("{row}");
    }
    for (target, fits) in a.targets.iter().zip(&fits) {
        let path = plot_path(&a.common, &format!("mlp-approx-{}.png", target.name()))?;
        let xs: Vec<f64> = fits[0].curve.iter().map(|p| p.0).collect();
        let truth = approx::grid(xs.len() as i64, tch::Device::Cpu);
        let truth = Vec::<f32>::try_from(target.apply(&truth).view([-1]))?;
        let mut series = vec![Series {
            name: format!("target: {}", target.name()),
            points: xs.iter().zip(&truth).map(|(&x, &y)| (x, f64::from(y))).collect(),
        }];
        series.extend(
            fits.iter()
                .map(|f| Series { name: format!("width {}", f.width), points: f.curve.clone() }),
        );
        line_chart(&path, &format!("One hidden layer fitting {}", target.name()), "x", &series)?;
        wrote(&path);
    }
    Ok(())
}

fn run_collapse(a: &CollapseArgs) -> Result<()> {
    ensure!(a.depth >= 2, "--depth must be at least 2 (one layer has nothing to collapse)");
    ensure!(a.width >= 1 && a.samples > a.width + 1, "--samples must exceed --width + 1");
    let c =
        CollapseConfig { depth: a.depth, width: a.width, samples: a.samples, seed: a.common.seed };
    let r = collapse::run(&c);
    println!(
        "{} linear layers of width {} on {} random inputs, multiplied out into one matrix \
         W = W_{} ... W_1 (and one bias):",
        a.depth, a.width, a.samples, a.depth
    );
    println!(
        "  largest |stack(x) - (W x + b)| = {:.1e} (outputs up to {:.2}): the same function",
        r.max_abs_diff, r.max_abs_output
    );
    println!(
        "  best affine fit, variance left unexplained: {:.1e} (linear stack), {:.3} (ReLU \
         between the layers)",
        r.linear_residual, r.relu_residual
    );
    let path = plot_path(&a.common, "linear-collapse.png")?;
    let column = |name: &str, k: usize| Series {
        name: name.into(),
        points: r.slice.iter().map(|row| (row[0], row[k])).collect(),
    };
    line_chart(
        &path,
        "First output along a line through input space",
        "t (x = x0 + t d)",
        &[
            column("linear stack", 1),
            column("its one matrix", 2),
            column("ReLU stack", 3),
            column("best affine fit to the ReLU stack", 4),
        ],
    )?;
    wrote(&path);
    Ok(())
}

fn run_activations(a: &ActivationsArgs) -> Result<()> {
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
    let (x, y) = activations::flatten(&train, device);
    let (xt, yt) = activations::flatten(&test, device);
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
            let r = activations::measure(act, (&x, &y), (&xt, &yt), classes, &config)?;
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

fn plot_activations(results: &[ActivationResult], init: Init, common: &Common) -> Result<()> {
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

fn run_softmax(c: &Common) -> Result<()> {
    let list = |v: &[f32], decimals: usize| {
        let items: Vec<String> = v.iter().map(|x| format!("{x:.decimals$}")).collect();
        format!("[{}]", items.join(", "))
    };
    println!("softmax(z)_i = exp(z_i) / sum_j exp(z_j), in single precision:");
    println!("  logits                 exp then normalise           max subtracted first");
    for case in softmax::cases() {
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
    let check = softmax::check_gradients(&z, &g, target);
    println!(
        "\nGradient on 10 random logits (double precision), closed form vs libtorch autograd:"
    );
    println!("  backward, s * (g - <g, s>):                  {:.1e}", check.backward);
    println!("  Jacobian, s_i (delta_ij - s_j):              {:.1e}", check.jacobian);
    println!("  cross-entropy, softmax(z) - onehot(target):  {:.1e}", check.cross_entropy);
    Ok(())
}

fn run_demo(c: &Common) -> Result<()> {
    let start = Instant::now();
    println!("== backprop");
    run_backprop(&BackpropArgs {
        a: 2.0,
        b: 1.0,
        inputs: vec![10, 100, 1000],
        depth: 10,
        min_ms: 20.0,
        common: c.clone(),
    })?;
    println!("\n== mlp-approx");
    run_approx(&ApproxArgs {
        widths: vec![2, 8, 32, 128],
        targets: vec![Target::Sin, Target::Step],
        activation: Activation::Relu,
        points: 128,
        steps: 1000,
        lr: 0.01,
        device: DeviceSpec::Cpu,
        common: c.clone(),
    })?;
    println!("\n== linear-collapse");
    run_collapse(&CollapseArgs { depth: 10, width: 64, samples: 4096, common: c.clone() })?;
    println!("\n== activations");
    run_activations(&ActivationsArgs {
        dataset: "mnist".into(),
        activations: vec![Activation::Sigmoid, Activation::Tanh, Activation::Relu],
        depth: 10,
        width: 128,
        init: vec![Init::Pytorch, Init::He],
        steps: 300,
        batch: 64,
        lr: 0.1,
        momentum: 0.0,
        device: DeviceSpec::Auto,
        data_dir: None,
        common: c.clone(),
    })?;
    println!("\n== softmax");
    run_softmax(c)?;
    println!("\nbasics demo done in {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn absurd_flags_get_one_clear_sentence() {
        let cases: [(&[&str], &str); 5] = [
            (&["mlp-approx", "--widths", "8,0"], "--widths must be positive"),
            (&["mlp-approx", "--steps", "0"], "--steps must be at least 1"),
            (&["linear-collapse", "--depth", "1"], "--depth must be at least 2"),
            (&["backprop", "--inputs", "0"], "--inputs must be positive"),
            (&["activations", "--momentum", "1.5"], "--momentum must be in [0, 1)"),
        ];
        for (args, message) in cases {
            let cli = Cli::try_parse_from(std::iter::once("basics").chain(args.iter().copied()))
                .expect("the flags parse");
            let err = run(cli).expect_err("absurd values are refused");
            assert!(err.to_string().contains(message), "{args:?}: {err}");
        }
        assert!(Cli::try_parse_from(["basics", "mlp-approx", "--activation", "swish"]).is_err());
    }
}
