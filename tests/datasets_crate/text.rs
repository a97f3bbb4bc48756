//! Corpora, pairs and their splits; the vendored files against their recorded sha256.

use datasets::pairs::{self, Pair};
use datasets::text::{Corpus, SplitSpec};
use datasets::{vendored, DataError, Dataset};
use std::path::PathBuf;

fn corpus(text: &str) -> Corpus {
    Corpus::from_bytes(vec![(PathBuf::from("t.txt"), text.as_bytes().to_vec())]).unwrap()
}

#[test]
fn text_splits_are_deterministic_disjoint_and_complete() {
    let text: String = (0..2000).map(|i| format!("line {i} — naïve café\n")).collect();
    let c = corpus(&text);
    let spec = SplitSpec { blocks: 40, valid: 0.1, test: 0.1 };
    let split = c.split(spec).unwrap();
    assert_eq!(split, c.split(spec).unwrap(), "same corpus, same split");
    assert_eq!((split.valid.len(), split.test.len()), (4, 4));
    assert_eq!(split.train.len(), 32);
    // Blocks are cut at line starts, so every line lands whole in exactly one split.
    let mut lines: Vec<&str> =
        split.train.iter().chain(&split.valid).chain(&split.test).flat_map(|b| b.lines()).collect();
    lines.sort();
    let mut expected: Vec<&str> = text.lines().collect();
    expected.sort();
    assert_eq!(lines, expected);
    // Held-out blocks are spread through the corpus rather than bunched at its end.
    let first_test_line = split.test[0].lines().next().unwrap();
    assert!(text.find(first_test_line).unwrap() < text.len() / 2);
    assert!(c.split(SplitSpec { blocks: 10, valid: 0.6, test: 0.5 }).is_err());
}

#[test]
fn bad_text_gets_typed_errors() {
    let err =
        Corpus::from_bytes(vec![(PathBuf::from("bad.txt"), b"caf\xc3\xa9 ok \xff here".to_vec())])
            .unwrap_err();
    assert!(matches!(err, DataError::Utf8 { offset: 9, .. }), "{err:?}");
    assert!(err.to_string().contains("bad.txt"));
    let err = Corpus::from_bytes(vec![(PathBuf::from("e.txt"), b"  \n\n".to_vec())]).unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
    assert!(Corpus::load(&[]).is_err());
}

#[test]
fn pair_files_parse_strictly() {
    let path = PathBuf::from("p.tsv");
    let ok = pairs::parse_tsv(b"Hello.\tHallo.\n\nThanks!\tDanke!\r\n".to_vec(), &path).unwrap();
    assert_eq!(
        ok,
        [
            Pair { first: "Hello.".into(), second: "Hallo.".into() },
            Pair { first: "Thanks!".into(), second: "Danke!".into() }
        ]
    );
    for (bytes, line, reason) in [
        (&b"a\tb\nno tab here\n"[..], 2, "no tab"),
        (&b"a\tb\tc\n"[..], 1, "more than one tab"),
        (&b"a\tb\n\t b\n"[..], 2, "empty column"),
    ] {
        match pairs::parse_tsv(bytes.to_vec(), &path).unwrap_err() {
            DataError::Tsv { line: l, reason: r, .. } => {
                assert!(l == line && r.contains(reason), "{l} {r}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        pairs::parse_tsv(b"\n\n".to_vec(), &path).unwrap_err(),
        DataError::Empty { .. }
    ));
    assert!(matches!(
        pairs::parse_tsv(b"a\t\xff\n".to_vec(), &path).unwrap_err(),
        DataError::Utf8 { .. }
    ));
}

#[test]
fn the_pair_split_does_not_move_when_pairs_are_added() {
    let make = |i: usize| Pair { first: format!("sentence {i}"), second: format!("Satz {i}") };
    let some: Vec<Pair> = (0..2000).map(make).collect();
    let split = pairs::split(&some, 0.1, 0.1).unwrap();
    let total = split.train.len() + split.valid.len() + split.test.len();
    assert_eq!(total, 2000);
    assert!((150..250).contains(&split.test.len()), "test {}", split.test.len());
    assert!((150..250).contains(&split.valid.len()), "valid {}", split.valid.len());
    assert!(split.test.iter().all(|p| !split.train.contains(p) && !split.valid.contains(p)));

    let more: Vec<Pair> = (0..3000).map(make).collect();
    let bigger = pairs::split(&more, 0.1, 0.1).unwrap();
    assert!(split.test.iter().all(|p| bigger.test.contains(p)), "old test pairs stay in test");
    assert!(split.train.iter().all(|p| bigger.train.contains(p)));
    assert!(pairs::split(&some, 0.5, 0.5).is_err());
}

#[test]
fn vendored_files_match_their_recorded_checksums() {
    for file in vendored::all() {
        let sha = datasets::fetch::sha256_hex(&file.bytes().unwrap());
        assert_eq!(sha, file.sha256, "{}", file.name);
    }
    for d in [Dataset::Austen, Dataset::EnDe, Dataset::Images, Dataset::TinyShakespeare] {
        d.verify(std::path::Path::new("unused")).unwrap();
    }
    let austen = vendored::austen().unwrap();
    assert_eq!(austen.sources.len(), 6);
    assert!(austen.text.starts_with("EMMA"));
    assert_eq!(vendored::en_de().unwrap().len(), 19_530);
    let shakespeare = vendored::tiny_shakespeare().unwrap().text;
    assert_eq!(shakespeare.chars().count(), 1_115_394);
    assert!(shakespeare.starts_with("First Citizen:\nBefore we proceed any further"));
    let starry = vendored::image("starry_night").unwrap();
    assert_eq!((starry.width(), starry.height()), (752, 600));
    assert!(vendored::image("mona_lisa").unwrap_err().to_string().contains("astronaut.png"));
}

#[test]
fn parallel_files_pair_line_by_line_and_refuse_a_different_line_count() {
    let dir = tempfile::tempdir().unwrap();
    let (en, de) = (dir.path().join("train.en"), dir.path().join("train.de"));
    std::fs::write(&en, "A dog runs.\nTwo men talk.\n").unwrap();
    std::fs::write(&de, "Ein Hund rennt.\nZwei Männer reden.\n").unwrap();
    let pairs = pairs::load_parallel(&en, &de).unwrap();
    assert_eq!(pairs.len(), 2);
    assert_eq!(
        (pairs[1].first.as_str(), pairs[1].second.as_str()),
        ("Two men talk.", "Zwei Männer reden.")
    );

    std::fs::write(&de, "Ein Hund rennt.\n").unwrap();
    let err = pairs::load_parallel(&en, &de).unwrap_err().to_string();
    assert!(
        err.contains("train.en") && err.contains("train.de") && err.contains("2 lines"),
        "{err}"
    );

    std::fs::write(&de, "Ein Hund rennt.\n\n").unwrap();
    let err = pairs::load_parallel(&en, &de).unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn multi30k_imports_only_files_with_its_checksums() {
    let from = tempfile::tempdir().unwrap();
    for f in datasets::registry::MULTI30K_FILES {
        std::fs::write(from.path().join(f.name), "not the real captions\n").unwrap();
    }
    let cache = tempfile::tempdir().unwrap();
    let err = Dataset::Multi30k.fetch_from(cache.path(), from.path()).unwrap_err().to_string();
    assert!(err.contains("train.de") && err.contains("sha256"), "{err}");
    assert!(!cache.path().join("multi30k").exists(), "nothing half-imported");
    let err = Dataset::Austen.fetch_from(cache.path(), from.path()).unwrap_err().to_string();
    assert!(err.contains("embedded"), "{err}");
}
