//! The data: a dataset by name or path, split into training, validation and test sets, its
//! normalisation statistics, and augmentation.

use anyhow::{bail, Context, Result};
use datasets::{Dataset, ImageSet, Split};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Where the images come from: `mnist`, `fashion-mnist`, `cifar10`, `folder:PATH` or `h5:FILE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// One of the datasets the `datasets` crate fetches.
    Named(Dataset),
    /// A folder `root/<class>/*.png|jpg`.
    Folder(PathBuf),
    /// An HDF5 file with `images`, `labels` and `classes`.
    H5(PathBuf),
}

impl std::str::FromStr for Source {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Source> {
        if let Some(path) = s.strip_prefix("folder:") {
            return Ok(Source::Folder(path.into()));
        }
        if let Some(path) = s.strip_prefix("h5:") {
            return Ok(Source::H5(path.into()));
        }
        match s.parse::<Dataset>() {
            Ok(d @ (Dataset::Mnist | Dataset::FashionMnist | Dataset::Cifar10)) => Ok(Source::Named(d)),
            _ => bail!("unknown dataset {s:?}: expected mnist, fashion-mnist, cifar10, folder:PATH or h5:FILE"),
        }
    }
}

/// Per-channel mean and standard deviation of the training images (in `[0, 1]` units), used
/// to normalise inputs; saved with every checkpoint so `predict` normalises the same way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Mean per channel.
    pub mean: Vec<f64>,
    /// Standard deviation per channel.
    pub std: Vec<f64>,
}

impl Normalization {
    /// Statistics of `images: [N, C, H, W]` u8.
    pub fn of(images: &Tensor) -> Normalization {
        let x = images.to_kind(Kind::Double) / 255.0;
        let per_channel = x.transpose(0, 1).flatten(1, -1); // [C, N*H*W]
        let mean =
            Vec::<f64>::try_from(&per_channel.mean_dim(1, false, Kind::Double)).unwrap_or_default();
        let std = Vec::<f64>::try_from(&per_channel.std_dim(1, false, false)).unwrap_or_default();
        Normalization { mean, std }
    }

    /// `(x - mean) / std` per channel for `x: [B, C, H, W]` in `[0, 1]`.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let c = self.mean.len() as i64;
        let opts = (Kind::Float, x.device());
        let mean = Tensor::from_slice(&self.mean)
            .to_kind(Kind::Float)
            .to_device(opts.1)
            .view([1, c, 1, 1]);
        let std =
            Tensor::from_slice(&self.std).to_kind(Kind::Float).to_device(opts.1).view([1, c, 1, 1]);
        (x - mean) / std.clamp_min(1e-6)
    }
}

/// Training, validation and test sets of one dataset.
#[derive(Debug)]
pub struct Data {
    /// Training examples.
    pub train: ImageSet,
    /// Validation examples, carved from the end of the training set.
    pub valid: ImageSet,
    /// The dataset's own test set (for folders and HDF5 files, a part carved off like the
    /// validation set).
    pub test: ImageSet,
    /// Whether a horizontal flip keeps the label (clothes and objects: yes; digits: no).
    pub flips_keep_label: bool,
}

impl Data {
    /// Loads `source` and splits `valid_size` examples off the training set (and, for folders
    /// and HDF5 files, which have no test set of their own, as many again for testing).
    pub fn load(source: &Source, data_dir: &Path, valid_size: usize) -> Result<Data> {
        let (train_all, test, flips) = match source {
            Source::Named(d) => {
                let train = d.load_images(data_dir, Split::Train)?;
                let test = d.load_images(data_dir, Split::Test)?;
                (train, Some(test), *d != Dataset::Mnist)
            }
            Source::Folder(path) => {
                (datasets::folder::load(path, Default::default())?, None, false)
            }
            Source::H5(path) => (datasets::h5::import(path)?, None, false),
        };
        // Folders and HDF5 files are usually sorted by class: shuffle once, with a fixed seed,
        // so the held-out parts contain every class.
        let train_all = match (&test, source) {
            (None, _) => shuffled(&train_all, 0),
            _ => train_all,
        };
        let (rest, valid) = train_all.split_tail(valid_size).with_context(|| {
            format!("--valid-size {valid_size} does not fit {} training images", train_all.len())
        })?;
        let (train, test) = match test {
            Some(test) => (rest, test),
            None => rest
                .split_tail(valid_size)
                .with_context(|| format!("{} images are too few to hold out {valid_size} for validation and as many for testing", train_all.len()))?,
        };
        Ok(Data { train, valid, test, flips_keep_label: flips })
    }
}

fn shuffled(set: &ImageSet, seed: u64) -> ImageSet {
    use rand::seq::SliceRandom;
    let mut order: Vec<i64> = (0..set.len() as i64).collect();
    order.shuffle(&mut dl_core::device::rng(seed, "holdout"));
    set.select(&Tensor::from_slice(&order))
}

/// Random small affine transformations of a batch `x: [B, C, H, W]` in `[0, 1]`: rotation up to
/// ±10°, scaling 0.9–1.1, translation up to ±2/28 of the size, and a horizontal flip with
/// probability 1/2 where `flip`. Draws from libtorch's generator (seeded per step).
pub fn augment(x: &Tensor, flip: bool) -> Tensor {
    let b = x.size()[0];
    let opts = (Kind::Float, x.device());
    let uniform = |lo: f64, hi: f64| Tensor::rand([b], opts) * (hi - lo) + lo;
    let angle = uniform(-10f64.to_radians(), 10f64.to_radians());
    let scale = uniform(0.9, 1.1);
    let shift = 2.0 * 2.0 / 28.0; // in [-1, 1] coordinates
    let (tx, ty) = (uniform(-shift, shift), uniform(-shift, shift));
    let mirror = if flip {
        Tensor::rand([b], opts).lt(0.5).to_kind(Kind::Float) * -2.0 + 1.0
    } else {
        Tensor::ones([b], opts)
    };
    let (cos, sin) = (angle.cos() / &scale, angle.sin() / &scale);
    // theta maps output coordinates to input coordinates: [[cos, -sin, tx], [sin, cos, ty]].
    let row0 = Tensor::stack(&[&cos * &mirror, -&sin, tx], 1);
    let row1 = Tensor::stack(&[&sin * &mirror, cos, ty], 1);
    let theta = Tensor::stack(&[row0, row1], 1); // [B, 2, 3]
    let grid = Tensor::affine_grid_generator(&theta, x.size(), false);
    x.grid_sampler(&grid, 0, 0, false) // bilinear, zero padding
}

/// Images of a set as normalised floats on `device`: `[N, C, H, W]`.
pub fn inputs(images: &Tensor, norm: &Normalization, device: Device) -> Tensor {
    norm.apply(&(images.to_device(device).to_kind(Kind::Float) / 255.0))
}
