//! A folder of labelled images, `root/<class>/*.png|jpg`, as an [`ImageSet`].

use crate::image_set::ImageSet;
use crate::{DataError, Result};
use image::imageops::FilterType;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// How images are brought to one shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FolderOptions {
    /// Resize every image to `(width, height)`; without it all images must share one size.
    pub size: Option<(u32, u32)>,
    /// Convert to one grey channel instead of three RGB channels.
    pub grayscale: bool,
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| DataError::io(dir, err)))
        .collect::<Result<_>>()?;
    entries.sort();
    Ok(entries)
}

/// Loads `root/<class>/<image>`: classes are the sub-directory names in sorted order, images
/// PNG or JPEG files in sorted order. A file that is not a decodable image, a class without
/// images, or (without resizing) images of different sizes are errors naming the file.
pub fn load(root: &Path, options: FolderOptions) -> Result<ImageSet> {
    let class_dirs: Vec<PathBuf> =
        sorted_entries(root)?.into_iter().filter(|p| p.is_dir()).collect();
    if class_dirs.is_empty() {
        return Err(DataError::Empty {
            path: root.to_path_buf(),
            what: "the folder (no class sub-directories)".into(),
        });
    }
    let mut classes = Vec::new();
    let mut pixels: Vec<u8> = Vec::new();
    let mut labels = Vec::new();
    let mut shape: Option<(u32, u32, PathBuf)> = None;
    for (label, dir) in class_dirs.iter().enumerate() {
        classes.push(dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let files: Vec<PathBuf> =
            sorted_entries(dir)?.into_iter().filter(|p| is_image(p)).collect();
        if files.is_empty() {
            return Err(DataError::Empty {
                path: dir.clone(),
                what: "this class (no .png/.jpg files)".into(),
            });
        }
        for file in files {
            let img = image::open(&file)
                .map_err(|e| DataError::invalid(&file, format!("not a readable image ({e})")))?;
            let img = match options.size {
                Some((w, h)) => img.resize_exact(w, h, FilterType::Triangle),
                None => img,
            };
            let (w, h) = (img.width(), img.height());
            match &shape {
                None => shape = Some((w, h, file.clone())),
                Some((w0, h0, first)) if (*w0, *h0) != (w, h) => {
                    return Err(DataError::invalid(
                        &file,
                        format!(
                            "is {w}x{h} but {} is {w0}x{h0}; pass a size to resize them all",
                            first.display()
                        ),
                    ))
                }
                Some(_) => {}
            }
            // Channel-first: [C, H, W].
            if options.grayscale {
                pixels.extend_from_slice(img.to_luma8().as_raw());
            } else {
                let rgb = img.to_rgb8();
                for c in 0..3 {
                    pixels.extend(rgb.pixels().map(|p| p.0[c]));
                }
            }
            labels.push(label as i64);
        }
    }
    let (w, h, _) = shape.expect("at least one image was read");
    let channels = if options.grayscale { 1 } else { 3 };
    let images =
        Tensor::from_slice(&pixels).view([labels.len() as i64, channels, h as i64, w as i64]);
    ImageSet::new(images, Tensor::from_slice(&labels), classes, root)
}
