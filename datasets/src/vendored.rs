//! The small real data embedded in the crate (see `datasets/data/PROVENANCE.md`): Jane
//! Austen's novels, tiny Shakespeare, the Ding dictionary's English–German sentence pairs, and
//! four images.
//! Embedded, not read from the source tree, so an app binary works wherever it is copied.

use crate::pairs::{self, Pair};
use crate::text::Corpus;
use crate::{DataError, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::PathBuf;

/// A vendored file: its name, its bytes as stored (gzipped for text), and the sha256 of its
/// original, uncompressed content.
#[derive(Clone, Copy, Debug)]
pub struct Vendored {
    /// File name as in `datasets/data/` (without `.gz`).
    pub name: &'static str,
    /// Stored bytes.
    pub stored: &'static [u8],
    /// Whether `stored` is gzipped.
    pub gzipped: bool,
    /// sha256 of the uncompressed content, as recorded in PROVENANCE.md.
    pub sha256: &'static str,
}

impl Vendored {
    /// The uncompressed content.
    pub fn bytes(&self) -> Result<Vec<u8>> {
        if !self.gzipped {
            return Ok(self.stored.to_vec());
        }
        let mut out = Vec::new();
        GzDecoder::new(self.stored)
            .read_to_end(&mut out)
            .map_err(|e| DataError::invalid(self.path(), format!("corrupt embedded gzip ({e})")))?;
        Ok(out)
    }

    /// A path-like name for messages (`vendored/<name>`).
    pub fn path(&self) -> PathBuf {
        PathBuf::from("vendored").join(self.name)
    }
}

macro_rules! gz {
    ($dir:literal, $name:literal, $sha:literal) => {
        Vendored {
            name: $name,
            stored: include_bytes!(concat!("../data/", $dir, "/", $name, ".gz")),
            gzipped: true,
            sha256: $sha,
        }
    };
}
macro_rules! raw {
    ($dir:literal, $name:literal, $sha:literal) => {
        Vendored {
            name: $name,
            stored: include_bytes!(concat!("../data/", $dir, "/", $name)),
            gzipped: false,
            sha256: $sha,
        }
    };
}

/// The six novels, alphabetically.
pub const AUSTEN: [Vendored; 6] = [
    gz!("austen", "emma.txt", "7c67b5985c6d0de1efaeb5d342d52cb82c38083c40e2295129e30e87ee690ebe"),
    gz!(
        "austen",
        "mansfieldpark.txt",
        "98bc90519cdf4ef663ad7de2734bb529435ef24f7abbde6bb1a50898871dafe9"
    ),
    gz!(
        "austen",
        "northangerabbey.txt",
        "51f91bbe0517db8e65cff009b097ce0a1836124c4e0532ac19e6c0cad982abed"
    ),
    gz!(
        "austen",
        "persuasion.txt",
        "8061549557aebd2fd6e353d18d9197cb707029112bd52d4d8b174583a925848a"
    ),
    gz!(
        "austen",
        "prideprejudice.txt",
        "dfc684d4f857fa938268f9ab9c5567b64bd0691251eca959644adeabe6287a4d"
    ),
    gz!(
        "austen",
        "sensesensibility.txt",
        "105e1651fe93bed7130078578efd31e0c557d68667ba672ddc876f735b30fe09"
    ),
];

/// English–German sentence pairs of the Ding dictionary (`English<TAB>German` lines).
pub const EN_DE: Vendored = gz!(
    "translation",
    "en-de.ding.tsv",
    "9f3a2d1a406b50fe963c533e9961d345ca2f4a6a83a5f8a90d1995dabe19d614"
);

/// Tiny Shakespeare (char-rnn's `data/tinyshakespeare/input.txt`).
pub const TINY_SHAKESPEARE: Vendored = gz!(
    "text",
    "tinyshakespeare.txt",
    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
);

/// The style-transfer images: three photographs and a painting.
pub const IMAGES: [Vendored; 4] = [
    raw!(
        "images",
        "astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"
    ),
    raw!(
        "images",
        "chelsea.png",
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"
    ),
    raw!(
        "images",
        "coffee.png",
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"
    ),
    raw!(
        "images",
        "starry_night.jpg",
        "accda7a19a90f22a4a922fdc8c230167d7abf5f80882171e2cee125c5f12481d"
    ),
];

/// Every vendored file.
pub fn all() -> Vec<Vendored> {
    AUSTEN.iter().copied().chain([EN_DE, TINY_SHAKESPEARE]).chain(IMAGES).collect()
}

/// Jane Austen's six novels as one corpus.
pub fn austen() -> Result<Corpus> {
    let parts = AUSTEN.iter().map(|v| Ok((v.path(), v.bytes()?))).collect::<Result<Vec<_>>>()?;
    Corpus::from_bytes(parts)
}

/// Tiny Shakespeare as a corpus of one file.
pub fn tiny_shakespeare() -> Result<Corpus> {
    let v = TINY_SHAKESPEARE;
    Corpus::from_bytes(vec![(v.path(), v.bytes()?)])
}

/// The English–German pairs (`first` English, `second` German).
pub fn en_de() -> Result<Vec<Pair>> {
    pairs::parse_tsv(EN_DE.bytes()?, &EN_DE.path())
}

/// A vendored image by file name or stem (`starry_night` or `starry_night.jpg`).
pub fn image(name: &str) -> Result<image::DynamicImage> {
    let v = IMAGES
        .iter()
        .find(|v| v.name == name || v.name.split('.').next() == Some(name))
        .ok_or_else(|| {
            let names: Vec<&str> = IMAGES.iter().map(|v| v.name).collect();
            DataError::Argument(format!(
                "no vendored image {name:?}; there are {}",
                names.join(", ")
            ))
        })?;
    image::load_from_memory(v.stored)
        .map_err(|e| DataError::invalid(v.path(), format!("cannot decode ({e})")))
}
