//! HDF5 interchange with Python tooling: a labelled image set as an `.h5` file with datasets
//! `images` (`uint8`, `[N, C, H, W]` or `[N, H, W]`), `labels` (integers) and a `classes`
//! attribute (strings) on the file. h5py reads and writes it:
//!
//! ```python
//! with h5py.File("mnist.h5") as f:
//!     x, y, classes = f["images"][:], f["labels"][:], list(f.attrs["classes"])
//! ```

use crate::image_set::ImageSet;
use crate::{DataError, Result};
use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
use std::path::Path;
use tch::{Kind, Tensor};

fn h5_err(path: &Path) -> impl Fn(hdf5::Error) -> DataError + '_ {
    move |e| DataError::invalid(path, format!("HDF5: {e}"))
}

/// Writes `set` to `path` (atomically: a temporary file, then renamed).
pub fn export(set: &ImageSet, path: &Path) -> Result<()> {
    let tmp = dl_core::fs::temp_sibling(path);
    let result = write(set, &tmp)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| DataError::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write(set: &ImageSet, path: &Path) -> Result<()> {
    let err = h5_err(path);
    let file = hdf5::File::create(path).map_err(&err)?;
    let shape: Vec<usize> = set.images.size().iter().map(|d| *d as usize).collect();
    let pixels = Vec::<u8>::try_from(&set.images.contiguous().view([-1]))?;
    let images = file.new_dataset::<u8>().shape(shape).create("images").map_err(&err)?;
    images.write_raw(&pixels[..]).map_err(&err)?;
    let labels = Vec::<i64>::try_from(&set.labels)?;
    let ds = file.new_dataset::<i64>().shape([labels.len()]).create("labels").map_err(&err)?;
    ds.write_raw(&labels[..]).map_err(&err)?;
    let classes: Vec<VarLenUnicode> = set
        .classes
        .iter()
        .map(|c| c.parse().map_err(|e| DataError::invalid(path, format!("class name {c:?}: {e}"))))
        .collect::<Result<_>>()?;
    let attr =
        file.new_attr::<VarLenUnicode>().shape([classes.len()]).create("classes").map_err(&err)?;
    attr.write_raw(&classes[..]).map_err(&err)?;
    file.close().map_err(&err)
}

/// Reads a labelled image set from `path`, checking types, shapes, counts and label range.
/// Without a `classes` attribute the classes are named by their index.
pub fn import(path: &Path) -> Result<ImageSet> {
    if !path.is_file() {
        return Err(DataError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    let err = h5_err(path);
    let file = hdf5::File::open(path)
        .map_err(|e| DataError::invalid(path, format!("not a readable HDF5 file ({e})")))?;
    let images =
        file.dataset("images").map_err(|_| DataError::invalid(path, "has no `images` dataset"))?;
    let labels =
        file.dataset("labels").map_err(|_| DataError::invalid(path, "has no `labels` dataset"))?;
    let dtype = images.dtype().and_then(|t| t.to_descriptor()).map_err(&err)?;
    if !matches!(dtype, TypeDescriptor::Unsigned(hdf5::types::IntSize::U1)) {
        return Err(DataError::invalid(path, format!("`images` must be uint8, found {dtype}")));
    }
    let shape = images.shape();
    let shape: Vec<i64> = match shape.len() {
        3 => vec![shape[0] as i64, 1, shape[1] as i64, shape[2] as i64],
        4 => shape.iter().map(|d| *d as i64).collect(),
        _ => {
            return Err(DataError::invalid(
                path,
                format!("`images` must be [N, C, H, W] or [N, H, W], found {shape:?}"),
            ))
        }
    };
    let label_dtype = labels.dtype().and_then(|t| t.to_descriptor()).map_err(&err)?;
    if !matches!(label_dtype, TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_))
        || labels.ndim() != 1
    {
        return Err(DataError::invalid(
            path,
            format!(
                "`labels` must be a 1-d integer array, found {label_dtype} {:?}",
                labels.shape()
            ),
        ));
    }
    let pixels: Vec<u8> = images.read_raw().map_err(&err)?;
    let label_values: Vec<i64> = labels.read_raw().map_err(&err)?;
    let classes = match file.attr("classes") {
        Ok(attr) => read_strings(&attr).map_err(&err)?,
        Err(_) => {
            let max = label_values.iter().copied().max().unwrap_or(0).max(0);
            (0..=max).map(|i| i.to_string()).collect()
        }
    };
    let images = Tensor::from_slice(&pixels).view(shape.as_slice());
    ImageSet::new(images, Tensor::from_slice(&label_values).to_kind(Kind::Int64), classes, path)
}

/// Strings of an attribute, whether h5py stored them as UTF-8 or ASCII variable-length strings.
fn read_strings(attr: &hdf5::Attribute) -> hdf5::Result<Vec<String>> {
    match attr.read_raw::<VarLenUnicode>() {
        Ok(v) => Ok(v.iter().map(|s| s.as_str().to_string()).collect()),
        Err(_) => {
            Ok(attr.read_raw::<VarLenAscii>()?.iter().map(|s| s.as_str().to_string()).collect())
        }
    }
}
