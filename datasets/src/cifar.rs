//! The CIFAR-10 binary format: records of one label byte followed by a 32x32 colour image as
//! three 1024-byte planes (red, green, blue), 10,000 records per batch file.

use crate::image_set::ImageSet;
use crate::{DataError, Result};
use std::path::Path;
use tch::Tensor;

/// Bytes of one record: label + 3 * 32 * 32.
pub const RECORD: usize = 1 + 3 * 32 * 32;

/// The ten classes, in label order (as `batches.meta.txt` lists them).
pub const CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// The training batch files, in order.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];

/// The test batch file.
pub const TEST_FILE: &str = "test_batch.bin";

/// Reads one batch file: images `[n, 3, 32, 32]` u8 and labels `[n]` i64.
pub fn read_batch(path: &Path) -> Result<(Tensor, Tensor)> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if bytes.is_empty() {
        return Err(DataError::Empty { path: path.to_path_buf(), what: "the CIFAR batch".into() });
    }
    if bytes.len() % RECORD != 0 {
        let whole = bytes.len() / RECORD;
        return Err(DataError::Size {
            path: path.to_path_buf(),
            what: format!("CIFAR batch of {RECORD}-byte records"),
            expected: ((whole + 1) * RECORD) as u64,
            found: bytes.len() as u64,
        });
    }
    let n = bytes.len() / RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * (RECORD - 1));
    for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
        let label = i64::from(record[0]);
        if label >= CLASSES.len() as i64 {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                index: i,
                label,
                classes: CLASSES.len(),
            });
        }
        labels.push(label);
        pixels.extend_from_slice(&record[1..]);
    }
    Ok((Tensor::from_slice(&pixels).view([n as i64, 3, 32, 32]), Tensor::from_slice(&labels)))
}

/// Writes a batch file from images `[n, 3, 32, 32]` u8 and labels `[n]` (for tests and tools).
pub fn write_batch(path: &Path, images: &Tensor, labels: &Tensor) -> Result<()> {
    let n = labels.size()[0];
    if images.size() != [n, 3, 32, 32] || images.kind() != tch::Kind::Uint8 {
        return Err(DataError::Argument(format!(
            "CIFAR images must be u8 [{n}, 3, 32, 32], got {:?}",
            images.size()
        )));
    }
    let pixels = Vec::<u8>::try_from(&images.contiguous().view([-1]))?;
    let labels = Vec::<i64>::try_from(labels)?;
    let mut bytes = Vec::with_capacity(n as usize * RECORD);
    for (i, label) in labels.iter().enumerate() {
        bytes.push(
            u8::try_from(*label)
                .map_err(|_| DataError::Argument(format!("label {label} does not fit a byte")))?,
        );
        bytes.extend_from_slice(&pixels[i * (RECORD - 1)..(i + 1) * (RECORD - 1)]);
    }
    dl_core::fs::write_atomic(path, &bytes).map_err(|e| DataError::io(path, e))
}

/// Loads the given batch files of directory `dir`, concatenated.
pub fn load(dir: &Path, files: &[&str]) -> Result<ImageSet> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for file in files {
        let (i, l) = read_batch(&dir.join(file))?;
        images.push(i);
        labels.push(l);
    }
    let classes = CLASSES.iter().map(|c| c.to_string()).collect();
    ImageSet::new(Tensor::cat(&images, 0), Tensor::cat(&labels, 0), classes, dir)
}
