//! The gallery over HTTP: the real binary on a free port, with the shipped models and a tiny
//! translator trained here; every endpoint with good and bad input, path traversal tried on a
//! raw socket, a closed stream stopping its sampling, and 200 classifications from 20 clients.

use integration_tests::bin;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running gallery, stopped when dropped.
struct Server {
    child: Child,
    address: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = bin("gallery")
            .args(["--port", "0", "--device", "cpu"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the gallery starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let address = first
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {first:?}; log:\n{}", log.lock().unwrap()))
            .to_string();
        Server { child, address, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The status line and body of a request written by hand (no client normalises the path).
    fn raw(&self, path: &str) -> (String, String) {
        let mut stream = std::net::TcpStream::connect(&self.address).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let status = text.lines().next().unwrap_or_default().to_string();
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
        (status, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// Status and JSON body of a response.
fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
    let mut response = response.expect("the gallery answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn post_bytes(server: &Server, path: &str, bytes: &[u8]) -> (u16, Value) {
    answer(agent().post(&server.url(path)).send(bytes))
}

fn post_json(server: &Server, path: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    answer(
        agent().post(&server.url(path)).header("content-type", "application/json").send(&bytes[..]),
    )
}

fn get(server: &Server, path: &str) -> (u16, Value) {
    answer(agent().get(&server.url(path)).call())
}

#[track_caller]
fn assert_refused(got: (u16, Value), status: u16, words: &str) {
    let message = got.1["error"].as_str().unwrap_or_default().to_string();
    assert!(
        got.0 == status && message.contains(words),
        "wanted {status} with {words:?}, got {got:?}"
    );
}

fn digit_photo() -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps/cnn-classifier/examples/digit-3.png");
    std::fs::read(path).unwrap()
}

fn png(image: image::GrayImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(image)
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

/// A tiny German->English model trained for two epochs on numbered sentences (the seq2seq
/// tests' configuration).
fn tiny_translator(dir: &Path) -> PathBuf {
    use crate::seq2seq::{numbered_pairs, options, tiny_config};
    let run = dir.join("tiny");
    seq2seq::train::train(tiny_config(&numbered_pairs(dir, 300)), &options(&run)).unwrap();
    run
}

#[test]
fn pages_and_assets_are_served_and_nothing_else() {
    let server = Server::start(&[]);
    for page in ["/", "/digits", "/text", "/translate", "/graph", "/static/gallery.js"] {
        let mut response = agent().get(&server.url(page)).call().unwrap();
        assert_eq!(response.status().as_u16(), 200, "{page}");
        let kind = response.headers()["content-type"].to_str().unwrap().to_string();
        let body = response.body_mut().read_to_string().unwrap();
        if page.ends_with(".js") {
            assert!(kind.starts_with("text/javascript") && body.contains("async function api"));
        } else {
            assert!(kind.starts_with("text/html") && body.contains("/static/gallery.js"), "{page}");
        }
    }
    // Whatever the spelling, nothing outside the embedded files comes back.
    for path in [
        "/static/../Cargo.toml",
        "/static/..%2fCargo.toml",
        "/static/%2e%2e%2f%2e%2e%2fCargo.toml",
        "/../../../../etc/passwd",
        "/static/gallery.js/../../Cargo.toml",
        "/static/",
        "/digits.html",
        "/nothing",
    ] {
        let (status, body) = server.raw(path);
        assert!(status.contains(" 404 ") || status.contains(" 400 "), "{path}: {status}");
        assert!(!body.contains("[workspace]") && !body.contains("root:"), "{path}: {body}");
    }
    let (status, catalogue) = get(&server, "/api/models");
    assert_eq!(status, 200);
    let names = |kind: &str| -> Vec<String> {
        catalogue[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().into())
            .collect()
    };
    assert!(names("classifiers").contains(&"mnist".to_string()), "{catalogue}");
    assert!(names("writers").contains(&"austen".to_string()), "{catalogue}");
}

#[test]
fn digits_are_classified_and_bad_uploads_refused() {
    let server = Server::start(&[]);
    let (status, answer) = post_bytes(&server, "/api/classify/mnist", &digit_photo());
    assert_eq!(status, 200, "{answer}");
    let top = answer["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    assert_eq!(top[0]["class"], "3", "{answer}");
    let p: Vec<f64> = top.iter().map(|g| g["probability"].as_f64().unwrap()).collect();
    assert!(p[0] > 0.5 && p[0] >= p[1] && p[1] >= p[2] && p.iter().sum::<f64>() <= 1.0 + 1e-6);
    let seen = &answer["seen"];
    assert_eq!((seen["height"].as_i64(), seen["width"].as_i64()), (Some(28), Some(28)));
    let pixels: Vec<f64> =
        seen["pixels"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(pixels.len(), 784);
    // MNIST's framing: a bright digit on black, the border empty.
    assert!(
        pixels.iter().all(|v| (0.0..=1.0).contains(v)) && pixels[0] == 0.0 && pixels[783] == 0.0
    );
    assert!(pixels.iter().cloned().fold(0.0, f64::max) > 0.9);

    let (status, filters) = get(&server, "/api/filters/mnist");
    assert_eq!(status, 200);
    let filters = filters["filters"].as_array().unwrap();
    assert!(!filters.is_empty());
    for f in filters {
        let values: Vec<f64> =
            f["pixels"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let (lo, hi) = values.iter().fold((1.0f64, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(lo.abs() < 1e-6 && (hi - 1.0).abs() < 1e-6, "each filter scaled to [0, 1]");
    }

    let photo = digit_photo();
    assert_refused(post_bytes(&server, "/api/classify/mnist", b""), 400, "no image");
    assert_refused(
        post_bytes(&server, "/api/classify/mnist", b"hello, world"),
        400,
        "not an image",
    );
    assert_refused(
        post_bytes(&server, "/api/classify/mnist", &photo[..photo.len() / 2]),
        400,
        "decoded",
    );
    let wide = png(image::GrayImage::new(9000, 1));
    assert_refused(post_bytes(&server, "/api/classify/mnist", &wide), 400, "9000x1");
    assert_refused(post_bytes(&server, "/api/classify/cifar", &photo), 404, "mnist");
    assert_refused(get(&server, "/api/filters/nope"), 404, "fashion-mnist");

    let small = Server::start(&["--max-upload-mb", "0.5"]);
    let big = vec![0u8; 600 * 1024];
    assert_refused(post_bytes(&small, "/api/classify/mnist", &big), 413, "larger than");
}

#[test]
fn text_streams_repeatably_stops_when_the_page_leaves_and_bad_parameters_are_refused() {
    let server = Server::start(&[]);
    let sample = |query: &str| -> (u16, String) {
        let mut response =
            agent().get(&server.url(&format!("/api/generate/austen?{query}"))).call().unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    };
    let text_of = |events: &str| -> String {
        (events.lines())
            .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
            .filter_map(|d| serde_json::from_str::<String>(d).ok())
            .collect()
    };
    let query = "prime=It%20is%20a%20truth&length=80&temperature=0.8&top_k=20&seed=7";
    let (status, first) = sample(query);
    assert_eq!(status, 200);
    assert!(first.contains("event: done"), "{first}");
    let written = text_of(&first);
    assert_eq!(written.chars().count(), 80, "{first}");
    assert_eq!(text_of(&sample(query).1), written, "the same seed writes the same text");

    for (query, words) in [
        ("temperature=0", "temperature"),
        ("temperature=1e9", "temperature"),
        ("temperature=nan", "temperature"),
        ("length=0", "length"),
        ("length=1000000", "length"),
        ("prime=%E6%97%A5%E6%9C%AC", "prime cannot be used"),
        ("top_k=-1", "top_k"),
    ] {
        let (status, body) = sample(query);
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
        assert_refused((status, body), 400, words);
    }
    let long_prime = format!("prime={}", "a".repeat(501));
    let (status, body) = sample(&long_prime);
    assert_refused((status, serde_json::from_str(&body).unwrap()), 400, "limit is 500");
    assert_refused(get(&server, "/api/generate/byron"), 404, "austen");

    // A page that goes away mid-stream: the sampling stops soon after, not at 5000 characters.
    let mut response =
        agent().get(&server.url("/api/generate/austen?length=5000&seed=1")).call().unwrap();
    let mut reader = response.body_mut().as_reader();
    let mut start = [0u8; 64];
    reader.read_exact(&mut start).unwrap();
    drop(response);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let log = server.log.lock().unwrap().clone();
        if let Some(line) = log.lines().find(|l| l.contains("closed the stream")) {
            let n: usize =
                line.split("after ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
            assert!(n < 5000, "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "the sampling never noticed the closed stream:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn translations_come_with_attention_and_alternatives_and_the_graph_with_gradients() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_translator(dir.path());
    let server = Server::start(&["--translator", run.to_str().unwrap()]);
    let (status, t) =
        post_json(&server, "/api/translate/tiny", &json!({"text": "Zahl 3 ist hier", "beam": 3}));
    assert_eq!(status, 200, "{t}");
    let (rows, cols) =
        (t["target_tokens"].as_array().unwrap(), t["source_tokens"].as_array().unwrap());
    assert_eq!(cols.len(), 4, "{t}");
    let attention = t["attention"].as_array().unwrap();
    assert_eq!(attention.len(), rows.len());
    for row in attention {
        let row: Vec<f64> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(row.len(), cols.len());
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-3, "attention rows are distributions");
    }
    let alternatives = t["alternatives"].as_array().unwrap();
    assert!(!alternatives.is_empty() && alternatives.len() <= 3);
    assert_eq!(alternatives[0]["text"], t["text"]);
    let scores: Vec<f64> = alternatives.iter().map(|a| a["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");

    let path = "/api/translate/tiny";
    assert_refused(post_json(&server, path, &json!({"text": "  "})), 400, "empty");
    assert_refused(
        post_json(&server, path, &json!({"text": "x".repeat(301)})),
        400,
        "limit is 300",
    );
    assert_refused(post_json(&server, path, &json!({"text": "Zahl", "beam": 0})), 400, "beam");
    assert_refused(post_json(&server, path, &json!({"text": "Zahl", "beam": 100})), 400, "beam");
    let broken = agent().post(&server.url(path)).header("content-type", "application/json");
    assert_refused(answer(broken.send(&b"{not json"[..])), 400, "");
    assert_refused(post_bytes(&server, path, b"{}"), 415, "Content-Type");
    assert_refused(post_json(&server, "/api/translate/de-fr", &json!({"text": "a"})), 404, "tiny");

    // The talk's graph at a = 2, b = 1: c = 3, d = 2, y = 6; dy/da = d, dy/db = c + d.
    let (status, nodes) = post_json(&server, "/api/graph", &json!({"a": 2.0, "b": 1.0}));
    assert_eq!(status, 200);
    let node =
        |name: &str| nodes.as_array().unwrap().iter().find(|n| n["name"] == name).unwrap().clone();
    assert_eq!(
        (node("y")["value"].as_f64(), node("y")["gradient"].as_f64()),
        (Some(6.0), Some(1.0))
    );
    assert_eq!(node("a")["gradient"].as_f64(), Some(2.0));
    assert_eq!(node("b")["gradient"].as_f64(), Some(5.0));
    assert_eq!(node("c")["gradient"].as_f64(), Some(2.0));
    assert_eq!(node("d")["gradient"].as_f64(), Some(3.0));
    assert_refused(
        post_json(&server, "/api/graph", &json!({"a": 1e300, "b": 1})),
        400,
        "a must be",
    );
    assert_refused(post_json(&server, "/api/graph", &json!({"a": "two", "b": 1})), 400, "");
}

#[test]
fn two_hundred_classifications_from_twenty_clients_are_all_answered() {
    let server = Arc::new(Server::start(&[]));
    let photo = Arc::new(digit_photo());
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let (server, photo) = (server.clone(), photo.clone());
            std::thread::spawn(move || {
                let agent = agent();
                (0..10)
                    .map(|_| {
                        let start = Instant::now();
                        let got =
                            answer(agent.post(&server.url("/api/classify/mnist")).send(&photo[..]));
                        (got, start.elapsed())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for client in clients {
        for ((status, body), elapsed) in client.join().unwrap() {
            assert_eq!((status, body["top"][0]["class"].as_str()), (200, Some("3")), "{body}");
            latencies.push(elapsed);
        }
    }
    assert_eq!(latencies.len(), 200);
    latencies.sort();
    eprintln!("200 classifications, 20 clients: p50 {:?}, p99 {:?}", latencies[99], latencies[197]);
}
