//! The gallery over HTTP: the real binary on a free port, with the shipped models, a tiny
//! translator trained here and a VGG19 of random weights; every endpoint with good and bad
//! input, path traversal tried on a raw socket, closed streams stopping their jobs, the training
//! queue, and 200 classifications from 20 clients while a style job and a training run go on.

use integration_tests::bin;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running gallery, stopped when dropped.
pub(crate) struct Server {
    child: Child,
    address: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    pub(crate) fn start(args: &[&str]) -> Server {
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
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut first).unwrap();
        // Keep reading what it prints (training runs print their epochs), as a terminal would.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let address = first
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {first:?}; log:\n{}", log.lock().unwrap()))
            .to_string();
        Server { child, address, log }
    }

    pub(crate) fn url(&self, path: &str) -> String {
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
pub(crate) fn tiny_translator(dir: &Path) -> PathBuf {
    use crate::seq2seq::{numbered_pairs, options, tiny_config};
    let run = dir.join("tiny");
    seq2seq::train::train(tiny_config(&numbered_pairs(dir, 300)), &options(&run)).unwrap();
    run
}

#[test]
fn pages_and_assets_are_served_and_nothing_else() {
    let server = Server::start(&[]);
    let pages = ["/", "/digits", "/text", "/translate", "/style", "/play", "/train", "/graph"];
    for page in pages.into_iter().chain(["/static/gallery.js"]) {
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
    assert!(names("agents").contains(&"cartpole".to_string()), "{catalogue}");
}

/// Reads server-sent events as (name, JSON data) pairs, up to and including the first event
/// named in `until` (or the end of the stream).
fn read_events(reader: &mut impl BufRead, until: &[&str]) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    let (mut name, mut data) = (String::from("message"), String::new());
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return events,
            Ok(_) => {}
            Err(e) => panic!("reading the stream failed after {events:?}: {e}"),
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(n) = line.strip_prefix("event:") {
            name = n.trim().to_string();
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.trim_start());
        } else if line.is_empty() && !data.is_empty() {
            let value = serde_json::from_str(&data).unwrap_or(Value::String(data.clone()));
            let done = until.contains(&name.as_str());
            events.push((std::mem::replace(&mut name, "message".into()), value));
            data.clear();
            if done {
                return events;
            }
        }
    }
}

/// Opens a stream: a GET, or a POST of `body` as JSON.
fn open_stream(
    server: &Server,
    path: &str,
    body: Option<&Value>,
) -> ureq::http::Response<ureq::Body> {
    let response = match body {
        Some(body) => agent()
            .post(&server.url(path))
            .header("content-type", "application/json")
            .send(&serde_json::to_vec(body).unwrap()[..]),
        None => agent().get(&server.url(path)).call(),
    };
    let response = response.unwrap();
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response
}

/// Waits (polling the log, up to two minutes) for a line containing `words`; returns it.
fn wait_for_log(server: &Server, words: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let log = server.log.lock().unwrap().clone();
        if let Some(line) = log.lines().find(|l| l.contains(words)) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no {words:?} in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// VGG19 with random weights (what the style tests use): the gallery's pages work the same.
fn random_vgg(dir: &Path) -> PathBuf {
    use style_transfer::model::{Pooling, Vgg19};
    let path = dir.join("random-vgg19.safetensors");
    Vgg19::random(Pooling::Max, tch::Device::Cpu, 1).save(&path).unwrap();
    path
}

/// The fixture digits `copies` times over as an HDF5 file (at least 4: enough to hold out the
/// training page's 1000 validation and 1000 test images).
pub(crate) fn digits_h5(dir: &Path, copies: i64) -> PathBuf {
    let fixtures = integration_tests::fixtures();
    let set = datasets::idx::load_pair(
        &fixtures.join("mnist-t10k-600-images-idx3-ubyte.gz"),
        &fixtures.join("mnist-t10k-600-labels-idx1-ubyte.gz"),
        &datasets::registry::MNIST_CLASSES,
    )
    .unwrap();
    let order: Vec<i64> = (0..copies).flat_map(|_| 0..set.len() as i64).collect();
    let path = dir.join("digits.h5");
    datasets::h5::export(&set.select(&tch::Tensor::from_slice(&order)), &path).unwrap();
    path
}

/// A PNG data URL, as a page uploads a picture.
fn data_url(png: &[u8]) -> String {
    use base64::Engine;
    format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png))
}

/// The pixels of a PNG data URL.
fn decode_data_url(url: &Value) -> image::RgbImage {
    use base64::Engine;
    let encoded = url.as_str().unwrap().strip_prefix("data:image/png;base64,").unwrap();
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    image::load_from_memory(&bytes).unwrap().to_rgb8()
}

#[test]
fn agents_play_live_with_their_q_values_and_seats_are_limited() {
    let server = Server::start(&[]);
    let mut scores = Vec::new();
    for policy in ["agent", "random"] {
        let path = format!("/api/play/cartpole?policy={policy}&seed=3&speed=8&max_steps=40");
        let mut response = open_stream(&server, &path, None);
        let events = read_events(&mut BufReader::new(response.body_mut().as_reader()), &["over"]);
        assert_eq!(events[0].0, "start");
        assert_eq!(events[0].1["actions"], json!(["left", "right"]));
        let frames: Vec<&Value> = events.iter().filter(|e| e.0 == "frame").map(|e| &e.1).collect();
        let over = &events.last().unwrap().1;
        let steps = over["steps"].as_u64().unwrap();
        assert!((1..=40).contains(&steps), "{over}");
        // A frame per step, and the screen after the last one.
        assert_eq!(frames.len() as u64, steps + 1);
        let screen = decode_data_url(&frames[0]["screen"]);
        assert!(screen.width() > 100 && screen.height() > 100);
        assert_eq!(frames[0]["q"].as_array().unwrap().len(), 2);
        if policy == "agent" {
            // The trained agent takes the action its Q-values rank first.
            for f in &frames[..frames.len() - 1] {
                let q: Vec<f64> =
                    f["q"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                let best = if q[1] > q[0] { 1 } else { 0 };
                assert_eq!(f["action"].as_u64(), Some(best), "{q:?}");
            }
            assert!(frames.last().unwrap()["action"].is_null(), "the last screen takes no action");
        }
        scores.push(over["score"].as_f64().unwrap());
    }
    // The shipped agent balances all 40 steps; the random one drops the pole sooner.
    assert_eq!(scores[0], 40.0, "{scores:?}");
    assert!(scores[1] < 40.0, "{scores:?}");

    assert_refused(get(&server, "/api/play/cartpole?speed=0"), 400, "speed");
    assert_refused(get(&server, "/api/play/cartpole?max_steps=0"), 400, "max_steps");
    assert_refused(get(&server, "/api/play/cartpole?policy=cheat"), 400, "policy");
    assert_refused(get(&server, "/api/play/pong"), 404, "cartpole");

    // Four games at once at most; a page that leaves frees its seat.
    let slow = "/api/play/cartpole?policy=random&speed=0.25&max_steps=100000";
    let mut watching: Vec<_> = (0..4).map(|_| open_stream(&server, slow, None)).collect();
    assert_refused(get(&server, slow), 503, "games are being watched");
    watching.pop();
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&server, "/api/play/cartpole?max_steps=1").0 != 200 {
        assert!(Instant::now() < deadline, "a closed game never freed its seat");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn photos_are_repainted_and_dreamed_on_step_by_step_and_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let vgg = random_vgg(dir.path());
    let server = Server::start(&["--vgg", vgg.to_str().unwrap()]);
    let body = json!({"content": "chelsea", "style": "starry_night", "size": 48, "iterations": 3,
                      "optimizer": "adam"});
    let mut response = open_stream(&server, "/api/style", Some(&body));
    let events = read_events(&mut BufReader::new(response.body_mut().as_reader()), &["done"]);
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["queued", "started", "progress", "progress", "progress", "done"]);
    let done = &events[5].1;
    assert_eq!(done["done"], 3);
    // chelsea is 451x300: 48 pixels on the long side.
    let result = decode_data_url(&done["image"]);
    assert_eq!((result.width(), result.height()), (48, 32));
    for (i, (_, p)) in events[2..5].iter().enumerate() {
        assert_eq!((p["done"].as_u64(), p["total"].as_u64()), (Some(i as u64 + 1), Some(3)));
        assert_eq!(p["values"].as_array().unwrap().len(), 4, "{p}");
    }

    // An uploaded photo as the content; DeepDream on a vendored one.
    let upload = json!({"content": data_url(&digit_photo()), "style": "starry_night", "size": 32,
                        "iterations": 1, "optimizer": "adam"});
    let mut response = open_stream(&server, "/api/style", Some(&upload));
    let events = read_events(&mut BufReader::new(response.body_mut().as_reader()), &["done"]);
    assert_eq!(events.last().unwrap().0, "done", "{events:?}");
    let dream =
        json!({"image": "coffee", "size": 40, "layer": "relu3_1", "octaves": 2, "steps": 2});
    let mut response = open_stream(&server, "/api/dream", Some(&dream));
    let events = read_events(&mut BufReader::new(response.body_mut().as_reader()), &["done"]);
    let progress = events.iter().filter(|e| e.0 == "progress").count();
    assert_eq!((progress, events.last().unwrap().0.as_str()), (4, "done"), "{events:?}");

    for (path, bad, words) in [
        (
            "/api/style",
            json!({"content": "chelsea", "style": "starry_night", "size": 10000}),
            "size",
        ),
        (
            "/api/style",
            json!({"content": "/etc/passwd", "style": "starry_night"}),
            "no vendored image",
        ),
        (
            "/api/style",
            json!({"content": "chelsea", "style": "data:image/png;base64,!!!"}),
            "base64",
        ),
        (
            "/api/style",
            json!({"content": data_url(b"not a png"), "style": "starry_night"}),
            "content",
        ),
        (
            "/api/style",
            json!({"content": "chelsea", "style": "starry_night", "style_weight": 1e300}),
            "style_weight",
        ),
        (
            "/api/style",
            json!({"content": "chelsea", "style": "starry_night", "iterations": 0}),
            "iterations",
        ),
        ("/api/style", json!({"content": "chelsea", "style": "starry_night", "brush": 1}), "brush"),
        ("/api/dream", json!({"image": "coffee", "layer": "fc7"}), "fc7"),
        ("/api/dream", json!({"image": "coffee", "octaves": 60}), "octaves"),
    ] {
        assert_refused(post_json(&server, path, &bad), 400, words);
    }

    // Cancelling (closing the stream) stops a long transfer within an iteration or two.
    let long = json!({"content": "chelsea", "style": "starry_night", "size": 64, "iterations": 1000,
                      "optimizer": "adam"});
    let mut response = open_stream(&server, "/api/style", Some(&long));
    let mut reader = BufReader::new(response.body_mut().as_reader());
    let events = read_events(&mut reader, &["progress"]);
    assert_eq!(events.last().unwrap().0, "progress");
    drop(reader);
    drop(response);
    let line = wait_for_log(&server, "stopped after");
    let n: usize = line.split("after ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(n < 1000, "{line}");

    // Without weights the page is told how to get them, and the rest of the gallery runs on.
    let without =
        Server::start(&["--vgg", dir.path().join("missing.safetensors").to_str().unwrap()]);
    assert_refused(post_json(&without, "/api/style", &body), 503, "datasets fetch vgg19");
}

#[test]
fn runs_train_one_at_a_time_stream_their_curves_and_their_models_can_be_tried() {
    let dir = tempfile::tempdir().unwrap();
    let h5 = digits_h5(dir.path(), 4);
    let runs = dir.path().join("runs");
    let dataset = format!("h5:{}", h5.display());
    let server = Server::start(&["--train-dataset", &dataset, "--runs", runs.to_str().unwrap()]);
    let submit = |body: Value| post_json(&server, "/api/train", &body);

    // A long CartPole run first: the MLP queued behind it waits, and says so.
    let (status, first) = submit(json!({"kind": "cartpole", "minutes": 5}));
    assert!(status == 200 && ["waiting", "running"].contains(&first["phase"].as_str().unwrap()));
    let (status, second) = submit(json!({"kind": "mnist-mlp", "minutes": 1, "epochs": 5}));
    assert_eq!((status, second["ahead"].as_u64()), (200, Some(1)), "{second}");
    let (_, third) = submit(json!({"kind": "mnist-cnn", "minutes": 1}));
    let (status, jobs) = get(&server, "/api/train");
    let phases: Vec<&str> =
        jobs.as_array().unwrap().iter().map(|j| j["phase"].as_str().unwrap()).collect();
    assert_eq!((status, phases.len(), phases[1], phases[2]), (200, 3, "waiting", "waiting"));
    // A waiting run is cancelled; the running one stops where it is and keeps its model.
    let (status, cancelled) = agent()
        .delete(&server.url(&format!("/api/train/{}", third["id"])))
        .call()
        .map(|mut r| (r.status().as_u16(), r.body_mut().read_to_string().unwrap()))
        .unwrap();
    assert!(status == 200 && cancelled.contains("\"cancelled\""), "{cancelled}");
    let mut cartpole = open_stream(&server, &format!("/api/train/{}", first["id"]), None);
    let mut reader = BufReader::new(cartpole.body_mut().as_reader());
    let started = read_events(&mut reader, &["metrics"]);
    assert!(started.iter().any(|e| e.0 == "job" && e.1["phase"] == "running"), "{started:?}");
    agent().delete(&server.url(&format!("/api/train/{}", first["id"]))).call().unwrap();
    let ended = read_events(&mut reader, &["end"]);
    let end = &ended.last().unwrap().1;
    assert_eq!(
        (end["phase"].as_str(), end["model"].as_str()),
        (Some("done"), Some("mine-cartpole-1")),
        "{end}"
    );

    // The MLP runs next: its curve gains points as it trains, and it ends served.
    let mut mlp = open_stream(&server, &format!("/api/train/{}", second["id"]), None);
    let events = read_events(&mut BufReader::new(mlp.body_mut().as_reader()), &["end"]);
    let records: Vec<&Value> =
        events.iter().filter(|e| e.0 == "metrics").flat_map(|e| e.1.as_array().unwrap()).collect();
    let losses = records.iter().filter(|r| r["values"].get("train_loss").is_some()).count();
    assert!(losses >= 2, "{events:?}");
    assert!(records.iter().filter(|r| r["values"].get("valid_acc").is_some()).count() >= 1);
    let end = &events.last().unwrap().1;
    assert_eq!(
        (end["phase"].as_str(), end["model"].as_str()),
        (Some("done"), Some("mine-mnist-mlp-2")),
        "{end}"
    );
    assert!(end["result"].as_str().unwrap().starts_with("test accuracy"), "{end}");
    assert!(
        runs.read_dir().unwrap().count() == 2,
        "two run directories, none for the cancelled run"
    );
    let (status, answer) = post_bytes(&server, "/api/classify/mine-mnist-mlp-2", &digit_photo());
    assert_eq!((status, answer["top"].as_array().map(Vec::len)), (200, Some(3)), "{answer}");
    let (status, _) = get(&server, "/api/play/mine-cartpole-1?max_steps=2");
    assert_eq!(status, 200);

    assert_refused(submit(json!({"kind": "imagenet"})), 400, "kind");
    assert_refused(submit(json!({"kind": "cartpole", "minutes": 0})), 400, "minutes");
    assert_refused(submit(json!({"kind": "mnist-mlp", "epochs": 1000})), 400, "epochs");
    assert_refused(get(&server, "/api/train/99"), 404, "99");
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
fn two_hundred_classifications_from_twenty_clients_are_all_answered_while_jobs_run() {
    let dir = tempfile::tempdir().unwrap();
    let vgg = random_vgg(dir.path());
    let runs = dir.path().join("runs");
    let server = Arc::new(Server::start(&[
        "--vgg",
        vgg.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
    ]));
    // A style job and a training run go on meanwhile.
    let long = json!({"content": "chelsea", "style": "starry_night", "size": 96, "iterations": 1000,
                      "optimizer": "adam"});
    let mut style = open_stream(&server, "/api/style", Some(&long));
    let mut style_events = BufReader::new(style.body_mut().as_reader());
    read_events(&mut style_events, &["progress"]);
    let (_, run) = post_json(&server, "/api/train", &json!({"kind": "cartpole", "minutes": 5}));
    let mut training = open_stream(&server, &format!("/api/train/{}", run["id"]), None);
    let mut training_events = BufReader::new(training.body_mut().as_reader());
    read_events(&mut training_events, &["metrics"]);

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
    eprintln!(
        "200 classifications, 20 clients, a style job and a training run going on: p50 {:?}, p99 {:?}",
        latencies[99], latencies[197]
    );
    // Both jobs were still going: the style job still streams, the run still trains.
    let more = read_events(&mut style_events, &["progress"]);
    assert_eq!(more.last().unwrap().0, "progress");
    let (_, jobs) = get(&server, "/api/train");
    assert_eq!(jobs[0]["phase"], "running", "{jobs}");
    agent().delete(&server.url(&format!("/api/train/{}", run["id"]))).call().unwrap();
}
