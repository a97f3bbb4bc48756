//! IDX, CIFAR-10, HDF5 and image folders: round trips and typed errors.

use super::generated;
use datasets::idx::{self, Idx};
use datasets::{cifar, folder, h5, DataError, ImageSet};
use std::path::Path;
use tch::{Kind, Tensor};

fn write_mnist_like(
    dir: &Path,
    n: usize,
    labels: &[u8],
    gzip: bool,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let images =
        Idx { dims: vec![n, 4, 3], data: (0..n * 12).map(|i| (i * 5 % 256) as u8).collect() };
    let labels = Idx { dims: vec![labels.len()], data: labels.to_vec() };
    let (ip, lp) = (dir.join("images-idx3-ubyte"), dir.join("labels-idx1-ubyte"));
    idx::write(&ip, &images, gzip).unwrap();
    idx::write(&lp, &labels, gzip).unwrap();
    (ip, lp)
}

#[test]
fn idx_round_trips_raw_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    for gzip in [false, true] {
        let original = Idx { dims: vec![3, 2, 5], data: (0..30).collect() };
        let path = dir.path().join(format!("a-{gzip}"));
        idx::write(&path, &original, gzip).unwrap();
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(raw.starts_with(&[0x1f, 0x8b]), gzip);
        assert_eq!(idx::read(&path).unwrap(), original);
    }
    let (ip, lp) = write_mnist_like(dir.path(), 6, &[0, 1, 2, 3, 4, 5], true);
    let set = idx::load_pair(&ip, &lp, &["a", "b", "c", "d", "e", "f"]).unwrap();
    assert_eq!(set.images.size(), [6, 1, 4, 3]);
    assert_eq!(set.images.kind(), Kind::Uint8);
    assert_eq!(Vec::<i64>::try_from(&set.labels).unwrap(), [0, 1, 2, 3, 4, 5]);
    // Image 1 starts at value 12; its second pixel is value 13, stored as 13 * 5.
    assert_eq!(set.images.int64_value(&[1, 0, 0, 1]), 13 * 5);
    let float = set.float_images(tch::Device::Cpu);
    assert_eq!(float.kind(), Kind::Float);
    assert!(float.max().double_value(&[]) <= 1.0);
}

#[test]
fn idx_corruption_gets_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x");
    let original = Idx { dims: vec![4, 3], data: (0..12).collect() };
    idx::write(&path, &original, false).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    let err = idx::read(&path).unwrap_err();
    assert!(matches!(err, DataError::Size { expected: 24, found: 23, .. }), "{err:?}");
    assert!(err.to_string().contains("truncated"), "{err}");

    let mut wrong = bytes.clone();
    wrong[2] = 0x0d; // float elements
    std::fs::write(&path, &wrong).unwrap();
    assert!(matches!(
        idx::read(&path).unwrap_err(),
        DataError::BadMagic { found: 0x0000_0d02, .. }
    ));

    std::fs::write(&path, b"PK\x03\x04 a zip file").unwrap();
    assert!(matches!(idx::read(&path).unwrap_err(), DataError::BadMagic { .. }));
    std::fs::write(&path, [0u8, 0]).unwrap();
    assert!(matches!(idx::read(&path).unwrap_err(), DataError::Size { .. }));
    std::fs::write(&path, [0x1f, 0x8b, 1, 2, 3]).unwrap();
    assert!(idx::read(&path).unwrap_err().to_string().contains("corrupt gzip"));

    // Labels out of range and counts that disagree.
    let (ip, lp) = write_mnist_like(dir.path(), 3, &[0, 1, 9], false);
    let err = idx::load_pair(&ip, &lp, &["a", "b", "c"]).unwrap_err();
    assert!(
        matches!(err, DataError::LabelOutOfRange { index: 2, label: 9, classes: 3, .. }),
        "{err:?}"
    );
    let (ip, lp) = write_mnist_like(dir.path(), 3, &[0, 1], false);
    let err = idx::load_pair(&ip, &lp, &["a", "b", "c"]).unwrap_err();
    assert!(matches!(err, DataError::CountMismatch { images: 3, labels: 2, .. }), "{err:?}");
    // Labels where images should be.
    let err = idx::load_pair(&lp, &lp, &["a", "b"]).unwrap_err();
    assert!(err.to_string().contains("expected images [N, H, W]"), "{err}");
    let err = idx::read(&dir.path().join("missing")).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }) && err.to_string().contains("missing"), "{err}");
}

#[test]
fn cifar_round_trips_and_rejects_bad_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = generated(7, 3, 32, 32, 10);
    let path = dir.path().join("data_batch_1.bin");
    cifar::write_batch(&path, &images, &labels).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 7 * cifar::RECORD as u64);
    let (i2, l2) = cifar::read_batch(&path).unwrap();
    assert!(i2.equal(&images) && l2.equal(&labels));
    cifar::write_batch(&dir.path().join("test_batch.bin"), &images, &labels).unwrap();
    let set = cifar::load(dir.path(), &["data_batch_1.bin", "test_batch.bin"]).unwrap();
    assert_eq!(set.len(), 14);
    assert_eq!(set.classes[3], "cat");

    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let err = cifar::read_batch(&path).unwrap_err();
    assert!(matches!(err, DataError::Size { .. }), "{err:?}");
    let mut bad_label = bytes.clone();
    bad_label[cifar::RECORD * 2] = 10;
    std::fs::write(&path, &bad_label).unwrap();
    assert!(matches!(
        cifar::read_batch(&path).unwrap_err(),
        DataError::LabelOutOfRange { index: 2, label: 10, .. }
    ));
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(cifar::read_batch(&path).unwrap_err(), DataError::Empty { .. }));
}

#[test]
fn hdf5_round_trips_and_rejects_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = generated(5, 3, 4, 6, 3);
    let classes = vec!["cat".to_string(), "dog".into(), "Größe".into()];
    let set = ImageSet::new(images, labels, classes.clone(), Path::new("generated")).unwrap();
    let path = dir.path().join("set.h5");
    h5::export(&set, &path).unwrap();
    let back = h5::import(&path).unwrap();
    assert!(back.images.equal(&set.images) && back.labels.equal(&set.labels));
    assert_eq!(back.classes, classes);

    // [N, H, W] images, int32 labels and no `classes` attribute, as a Python user might write.
    let other = dir.path().join("gray.h5");
    {
        let f = hdf5::File::create(&other).unwrap();
        f.new_dataset::<u8>()
            .shape([2, 3, 3])
            .create("images")
            .unwrap()
            .write_raw(&[7u8; 18][..])
            .unwrap();
        f.new_dataset::<i32>()
            .shape([2])
            .create("labels")
            .unwrap()
            .write_raw(&[0i32, 4][..])
            .unwrap();
    }
    let gray = h5::import(&other).unwrap();
    assert_eq!(gray.images.size(), [2, 1, 3, 3]);
    assert_eq!(gray.classes, ["0", "1", "2", "3", "4"]);

    // Wrong element type, mismatched counts, a missing dataset, not HDF5 at all.
    let bad = dir.path().join("bad.h5");
    {
        let f = hdf5::File::create(&bad).unwrap();
        f.new_dataset::<f32>().shape([2, 3, 3]).create("images").unwrap();
        f.new_dataset::<i64>().shape([2]).create("labels").unwrap();
    }
    assert!(h5::import(&bad).unwrap_err().to_string().contains("`images` must be uint8"));
    {
        let f = hdf5::File::create(&bad).unwrap();
        f.new_dataset::<u8>().shape([2, 3, 3]).create("images").unwrap();
        f.new_dataset::<i64>().shape([3]).create("labels").unwrap();
    }
    assert!(matches!(
        h5::import(&bad).unwrap_err(),
        DataError::CountMismatch { images: 2, labels: 3, .. }
    ));
    {
        let f = hdf5::File::create(&bad).unwrap();
        f.new_dataset::<u8>().shape([2, 3, 3]).create("images").unwrap();
    }
    assert!(h5::import(&bad).unwrap_err().to_string().contains("no `labels` dataset"));
    std::fs::write(&bad, b"not hdf5").unwrap();
    assert!(h5::import(&bad).unwrap_err().to_string().contains("not a readable HDF5 file"));
}

fn save_png(path: &Path, w: u32, h: u32, shade: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([shade, (x * 10) as u8, (y * 10) as u8]))
        .save(path)
        .unwrap();
}

#[test]
fn image_folders_load_with_sorted_classes_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    save_png(&root.join("zebra/1.png"), 8, 6, 200);
    save_png(&root.join("ant/b.png"), 8, 6, 10);
    save_png(&root.join("ant/a.jpg"), 8, 6, 20);
    std::fs::write(root.join("ant/notes.txt"), "not an image, ignored").unwrap();
    let set = folder::load(root, Default::default()).unwrap();
    assert_eq!(set.classes, ["ant", "zebra"]);
    assert_eq!(set.images.size(), [3, 3, 6, 8]);
    assert_eq!(Vec::<i64>::try_from(&set.labels).unwrap(), [0, 0, 1]);
    assert_eq!(set.images.int64_value(&[2, 0, 0, 0]), 200, "red channel of zebra/1.png");

    let small =
        folder::load(root, folder::FolderOptions { size: Some((4, 2)), grayscale: true }).unwrap();
    assert_eq!(small.images.size(), [3, 1, 2, 4]);

    save_png(&root.join("zebra/2.png"), 5, 5, 0);
    let err = folder::load(root, Default::default()).unwrap_err().to_string();
    assert!(err.contains("2.png") && err.contains("is 5x5"), "{err}");
    std::fs::write(root.join("zebra/2.png"), b"garbage").unwrap();
    let err = folder::load(root, Default::default()).unwrap_err().to_string();
    assert!(err.contains("2.png") && err.contains("not a readable image"), "{err}");
    std::fs::remove_file(root.join("zebra/2.png")).unwrap();
    std::fs::create_dir(root.join("empty")).unwrap();
    assert!(matches!(folder::load(root, Default::default()).unwrap_err(), DataError::Empty { .. }));
    let none = tempfile::tempdir().unwrap();
    assert!(matches!(
        folder::load(none.path(), Default::default()).unwrap_err(),
        DataError::Empty { .. }
    ));
}

#[test]
fn image_sets_check_their_invariants() {
    let (images, labels) = generated(4, 1, 2, 2, 2);
    let here = Path::new("x");
    assert!(ImageSet::new(
        images.to_kind(Kind::Float),
        labels.shallow_clone(),
        vec!["a".into(), "b".into()],
        here
    )
    .is_err());
    assert!(ImageSet::new(
        images.shallow_clone(),
        labels.narrow(0, 0, 3),
        vec!["a".into(), "b".into()],
        here
    )
    .is_err());
    assert!(matches!(
        ImageSet::new(images.shallow_clone(), labels.shallow_clone(), vec!["a".into()], here)
            .unwrap_err(),
        DataError::LabelOutOfRange { index: 1, label: 1, classes: 1, .. }
    ));
    let set = ImageSet::new(images, labels, vec!["a".into(), "b".into()], here).unwrap();
    assert_eq!(set.class_counts(), [2, 2]);
    let (head, tail) = set.split_tail(1).unwrap();
    assert_eq!((head.len(), tail.len()), (3, 1));
    assert!(set.split_tail(4).is_err());
    assert_eq!(set.select(&Tensor::from_slice(&[3i64, 0])).len(), 2);
}
