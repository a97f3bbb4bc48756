//! A labelled set of images: what every image loader returns.

use crate::{DataError, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Images with their labels and class names. Images are kept as bytes (`u8`), four times
/// smaller than floats; [`ImageSet::float_images`] converts on demand.
#[derive(Debug)]
pub struct ImageSet {
    /// `[N, C, H, W]`, `u8`.
    pub images: Tensor,
    /// `[N]`, `i64`, each in `0..classes.len()`.
    pub labels: Tensor,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
}

impl ImageSet {
    /// Builds a set after checking shapes, types, counts and label range; `source` names the
    /// file(s) in errors.
    pub fn new(
        images: Tensor,
        labels: Tensor,
        classes: Vec<String>,
        source: &Path,
    ) -> Result<Self> {
        let bad = |reason: String| DataError::invalid(source, reason);
        if images.kind() != Kind::Uint8 || images.dim() != 4 {
            return Err(bad(format!(
                "images must be u8 [N, C, H, W], got {:?} {:?}",
                images.kind(),
                images.size()
            )));
        }
        if labels.kind() != Kind::Int64 || labels.dim() != 1 {
            return Err(bad(format!(
                "labels must be i64 [N], got {:?} {:?}",
                labels.kind(),
                labels.size()
            )));
        }
        let (n, m) = (images.size()[0] as usize, labels.size()[0] as usize);
        if n != m {
            return Err(DataError::CountMismatch {
                path: source.to_path_buf(),
                images: n,
                labels: m,
            });
        }
        if n == 0 {
            return Err(DataError::Empty {
                path: source.to_path_buf(),
                what: "the image set".into(),
            });
        }
        if classes.is_empty() {
            return Err(bad("no class names".into()));
        }
        check_labels(&labels, classes.len(), source)?;
        Ok(ImageSet { images, labels, classes })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.images.size()[0] as usize
    }

    /// Whether there are no examples (never true for a set built by [`ImageSet::new`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `[C, H, W]` of every image.
    pub fn image_shape(&self) -> [i64; 3] {
        let s = self.images.size();
        [s[1], s[2], s[3]]
    }

    /// Images as `f32` in `[0, 1]`, on `device`.
    pub fn float_images(&self, device: Device) -> Tensor {
        self.images.to_device(device).to_kind(Kind::Float) / 255.0
    }

    /// Number of examples of each class.
    pub fn class_counts(&self) -> Vec<i64> {
        let counts = self.labels.bincount::<Tensor>(None, self.classes.len() as i64);
        Vec::<i64>::try_from(&counts).unwrap_or_default()
    }

    /// The examples at `indices` (a new set sharing the class names).
    pub fn select(&self, indices: &Tensor) -> ImageSet {
        ImageSet {
            images: self.images.index_select(0, indices),
            labels: self.labels.index_select(0, indices),
            classes: self.classes.clone(),
        }
    }

    /// Splits off the last `n` examples (e.g. a validation set carved from the training set):
    /// returns `(first len - n, last n)`.
    pub fn split_tail(&self, n: usize) -> Result<(ImageSet, ImageSet)> {
        if n == 0 || n >= self.len() {
            return Err(DataError::Argument(format!(
                "cannot split {n} of {} examples off",
                self.len()
            )));
        }
        let keep = (self.len() - n) as i64;
        let part = |start: i64, len: i64| ImageSet {
            images: self.images.narrow(0, start, len),
            labels: self.labels.narrow(0, start, len),
            classes: self.classes.clone(),
        };
        Ok((part(0, keep), part(keep, n as i64)))
    }
}

/// Checks that every label is in `0..classes`, naming the first that is not.
pub(crate) fn check_labels(labels: &Tensor, classes: usize, source: &Path) -> Result<()> {
    let bad = labels.lt(0).logical_or(&labels.ge(classes as i64));
    if bad.any().int64_value(&[]) != 0 {
        let index = bad.to_kind(Kind::Int64).argmax(0, false).int64_value(&[]);
        let label = labels.int64_value(&[index]);
        return Err(DataError::LabelOutOfRange {
            path: source.to_path_buf(),
            index: index as usize,
            label,
            classes,
        });
    }
    Ok(())
}
