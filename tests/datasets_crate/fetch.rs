//! Fetching, against a local HTTP server: a good source, a corrupt one, unreachable ones.

use datasets::fetch::{self, FileSpec, Member, Source};
use datasets::DataError;
use flate2::write::GzEncoder;
use std::io::{Read, Write};
use std::net::TcpListener;

/// Serves `files` (`path -> body`) over HTTP/1.1 on a free local port until dropped; returns
/// the base URL.
fn serve(files: Vec<(&'static str, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let n = stream.read(&mut request).unwrap_or(0);
            let line = String::from_utf8_lossy(&request[..n]);
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let response = match files.iter().find(|(p, _)| path == format!("/{p}")) {
                Some((_, body)) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&response);
        }
    });
    base
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

const CONTENT: &[u8] = b"the real content";
// sha256 of CONTENT: printf 'the real content' | sha256sum
const CONTENT_SHA256: &str = "8c0751bdeabf40f8b463e85138514d59bd295899bd69f21911f16ef578c9d899";

fn spec() -> [FileSpec; 1] {
    [FileSpec { name: "data.bin", sha256: Some(CONTENT_SHA256) }]
}

fn http(base: &str, from: &str) -> Source {
    Source::Http {
        base: base.to_string(),
        members: vec![Member { from: from.into(), md5: None, to: "data.bin" }],
    }
}

#[test]
fn the_first_source_that_delivers_verified_files_wins() {
    assert_eq!(fetch::sha256_hex(CONTENT), CONTENT_SHA256);
    let files = spec();
    let base = serve(vec![("corrupt.gz", gzip(b"tampered content")), ("good.gz", gzip(CONTENT))]);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("demo");
    let sources = [http(&base, "missing.gz"), http(&base, "corrupt.gz"), http(&base, "good.gz")];
    fetch::ensure("demo", &target, &files, &sources).unwrap();
    assert_eq!(std::fs::read(target.join("data.bin")).unwrap(), CONTENT, "stored uncompressed");
    let leftovers: Vec<_> =
        std::fs::read_dir(&target).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["data.bin"], "no staging directory left behind");
    fetch::verify_files(&target, &files).unwrap();
    std::fs::write(target.join("data.bin"), b"bit rot").unwrap();
    assert!(matches!(
        fetch::verify_files(&target, &files).unwrap_err(),
        DataError::Checksum { algorithm: "sha256", .. }
    ));
}

#[test]
fn a_published_md5_is_checked() {
    let base = serve(vec![("f.gz", gzip(CONTENT))]);
    let dir = tempfile::tempdir().unwrap();
    let source = Source::Http {
        base,
        members: vec![Member {
            from: "f.gz".into(),
            md5: Some("00000000000000000000000000000000".into()),
            to: "data.bin",
        }],
    };
    let files = [FileSpec { name: "data.bin", sha256: None }];
    let err = fetch::ensure("demo", dir.path(), &files, &[source]).unwrap_err().to_string();
    assert!(err.contains("md5 is") && err.contains("expected 00000000"), "{err}");
}

#[test]
fn when_every_source_fails_one_error_lists_them_all() {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let sources = [http("http://127.0.0.1:9/a", "x.gz"), http("http://127.0.0.1:9/b", "y.gz")];
    let dir = tempfile::tempdir().unwrap();
    let err = fetch::ensure("demo", &dir.path().join("demo"), &spec(), &sources).unwrap_err();
    assert!(matches!(err, DataError::Fetch { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("1. download from http://127.0.0.1:9/a")
            && text.contains("2. download from http://127.0.0.1:9/b"),
        "{text}"
    );
    assert!(text.contains("(data.bin, gzipped or not)") && text.contains("--data-dir"), "{text}");
    assert!(text.contains("`datasets fetch demo --from DIR`"), "{text}");
    assert!(!dir.path().join("demo").exists(), "a failed fetch leaves no folder behind");
}

fn local(dir: &std::path::Path, names: &[&str]) -> Source {
    Source::Local {
        dir: dir.to_path_buf(),
        members: names
            .iter()
            .map(|n| Member { from: n.to_string(), md5: None, to: "data.bin" })
            .collect(),
    }
}

#[test]
fn files_imported_from_a_local_directory_are_found_at_any_depth_and_checked() {
    let from = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(from.path().join("some/where")).unwrap();
    std::fs::write(from.path().join("some/where/data.bin.gz"), gzip(CONTENT)).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let target = cache.path().join("demo");
    fetch::ensure("demo", &target, &spec(), &[local(from.path(), &["data.bin"])]).unwrap();
    assert_eq!(std::fs::read(target.join("data.bin")).unwrap(), CONTENT);

    // A copy that differs is refused by its checksum, naming the file; nothing is imported.
    std::fs::write(from.path().join("some/where/data.bin.gz"), gzip(b"another content")).unwrap();
    let other = cache.path().join("other");
    let err = fetch::ensure("demo", &other, &spec(), &[local(from.path(), &["data.bin"])])
        .unwrap_err()
        .to_string();
    assert!(err.contains("data.bin") && err.contains("sha256"), "{err}");
    assert!(!other.exists(), "nothing half-imported");

    // A file that is not there is named.
    let err = fetch::ensure("demo", &other, &spec(), &[local(from.path(), &["missing.bin"])])
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.bin") && err.contains("files from"), "{err}");
}

#[test]
fn files_placed_by_hand_are_used_gzipped_or_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.bin.gz"), gzip(CONTENT)).unwrap();
    // No source at all: the files are already there, so nothing is fetched.
    let files = [FileSpec { name: "data.bin", sha256: None }];
    fetch::ensure("demo", dir.path(), &files, &[]).unwrap();
    assert_eq!(fetch::present(dir.path(), "data.bin").unwrap(), dir.path().join("data.bin.gz"));
}
