//! Style transfer as a library call: load the network once, then repaint photos with a progress
//! callback that sees every iteration's losses and image, and may stop the run early.

use crate::model::{Pooling, Vgg19};
use crate::transfer::{Iteration, Optimisation, Settings, Targets};
use anyhow::Result;
use std::ops::ControlFlow;
use std::path::Path;
use tch::{Device, Tensor};

/// VGG19 from `weights` (safetensors with torchvision's names), or from the weights the
/// datasets crate fetches and caches (as `datasets fetch vgg19` does).
pub fn load_vgg(weights: Option<&Path>, pooling: Pooling, device: Device) -> Result<Vgg19> {
    let path = match weights {
        Some(path) => path.to_path_buf(),
        None => datasets::registry::vgg19_weights(&datasets::fetch::data_dir(None))?,
    };
    Vgg19::load(&path, pooling, device)
}

/// Repaints `content` (`[1, 3, h, w]`, 0..1) in the blended style of `styles` (images with
/// weights), as `settings` say. `each` sees every iteration's record and image; returning
/// `Break` stops there. Returns the image (clamped to 0..1, colours preserved if asked).
///
/// ```no_run
/// use std::ops::ControlFlow;
/// use style_transfer::{data, infer, model::Pooling};
/// # fn main() -> anyhow::Result<()> {
/// let device = tch::Device::Cpu;
/// let vgg = infer::load_vgg(None, Pooling::Max, device)?;
/// let content = data::to_tensor(&data::open("astronaut")?, 256, device);
/// let style = data::to_tensor(&data::open("starry_night")?, 256, device);
/// let settings = style_transfer::train::StyleConfig::default().settings();
/// let image = infer::stylise(&vgg, &settings, &content, &[(style, 1.0)], |it, _image| {
///     println!("iteration {}: total loss {:.3e}", it.iteration, it.losses[3]);
///     ControlFlow::Continue(())
/// })?;
/// data::save(&image, "stylised.png".as_ref())?;
/// # Ok(()) }
/// ```
pub fn stylise(
    vgg: &Vgg19,
    settings: &Settings,
    content: &Tensor,
    styles: &[(Tensor, f64)],
    mut each: impl FnMut(&Iteration, &Tensor) -> ControlFlow<()>,
) -> Result<Tensor> {
    let targets = Targets::new(vgg, settings, content, styles)?;
    let mut optimisation = Optimisation::new(settings, content)?;
    while !optimisation.done(settings) {
        let iteration = optimisation.step(vgg, settings, &targets)?;
        if each(&iteration, &optimisation.image()).is_break() {
            break;
        }
    }
    Ok(optimisation.result(settings, content))
}
