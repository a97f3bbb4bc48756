//! The IDX format of MNIST and Fashion-MNIST: a big-endian header (magic `0x0000 TT DD`: type
//! `TT`, `DD` dimensions, then one u32 per dimension) followed by the values. Gzipped files
//! are read transparently (recognised by content, not by name).

use crate::image_set::ImageSet;
use crate::{DataError, Result};
use flate2::read::GzDecoder;
use std::io::{Read, Write};
use std::path::Path;
use tch::Tensor;

/// The unsigned-byte element type, the only one these datasets use.
const TYPE_U8: u8 = 0x08;

/// An IDX array of bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// Size of each dimension.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Reads a whole file, un-gzipping it if it is gzipped.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::invalid(path, format!("corrupt gzip data ({e})")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads an IDX file of unsigned bytes, checking magic number, type and size.
pub fn read(path: &Path) -> Result<Idx> {
    let bytes = read_maybe_gz(path)?;
    parse(&bytes, path)
}

fn parse(bytes: &[u8], path: &Path) -> Result<Idx> {
    let size_err = |what: &str, expected: usize| DataError::Size {
        path: path.to_path_buf(),
        what: what.to_string(),
        expected: expected as u64,
        found: bytes.len() as u64,
    };
    if bytes.len() < 4 {
        return Err(size_err("IDX header", 4));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let ndim = bytes[3] as usize;
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != TYPE_U8 || ndim == 0 {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            format: "IDX (unsigned byte)",
            found: magic,
            expected: "0x000008NN with NN dimensions".into(),
        });
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(size_err("IDX header", header));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let count = dims.iter().try_fold(1usize, |acc, d| acc.checked_mul(*d));
    let expected = count
        .and_then(|c| c.checked_add(header))
        .ok_or_else(|| size_err("IDX data", usize::MAX))?;
    if bytes.len() != expected {
        return Err(size_err(&format!("IDX data of shape {dims:?}"), expected));
    }
    Ok(Idx { dims, data: bytes[header..].to_vec() })
}

/// Writes an IDX file of unsigned bytes (gzipped if `gzip`), atomically.
pub fn write(path: &Path, idx: &Idx, gzip: bool) -> Result<()> {
    let count: usize = idx.dims.iter().product();
    if count != idx.data.len() || idx.dims.is_empty() || idx.dims.len() > 255 {
        return Err(DataError::Argument(format!(
            "IDX shape {:?} does not hold {} values",
            idx.dims,
            idx.data.len()
        )));
    }
    let mut bytes = vec![0, 0, TYPE_U8, idx.dims.len() as u8];
    for d in &idx.dims {
        bytes.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    bytes.extend_from_slice(&idx.data);
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&bytes)
            .and_then(|()| enc.finish())
            .map(|b| bytes = b)
            .map_err(|e| DataError::io(path, e))?;
    }
    dl_core::fs::write_atomic(path, &bytes).map_err(|e| DataError::io(path, e))
}

/// Loads an image file `[N, H, W]` and a label file `[N]` as an [`ImageSet`] with `classes`.
pub fn load_pair(images: &Path, labels: &Path, classes: &[&str]) -> Result<ImageSet> {
    let img = read(images)?;
    if img.dims.len() != 3 {
        return Err(DataError::invalid(
            images,
            format!("expected images [N, H, W], got shape {:?}", img.dims),
        ));
    }
    let lab = read(labels)?;
    if lab.dims.len() != 1 {
        return Err(DataError::invalid(
            labels,
            format!("expected labels [N], got shape {:?}", lab.dims),
        ));
    }
    if img.dims[0] != lab.dims[0] {
        let path = format!("{} and {}", images.display(), labels.display());
        return Err(DataError::CountMismatch {
            path: path.into(),
            images: img.dims[0],
            labels: lab.dims[0],
        });
    }
    let (n, h, w) = (img.dims[0] as i64, img.dims[1] as i64, img.dims[2] as i64);
    let images_t = Tensor::from_slice(&img.data).view([n, 1, h, w]);
    let labels_t = Tensor::from_slice(&lab.data).to_kind(tch::Kind::Int64);
    crate::image_set::check_labels(&labels_t, classes.len(), labels)?;
    ImageSet::new(images_t, labels_t, classes.iter().map(|c| c.to_string()).collect(), images)
}
