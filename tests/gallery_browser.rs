//! The gallery in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`)
//! driven through WebDriver over HTTP. A "7" drawn on the canvas with pointer events is read as
//! a 7, a German sentence comes back in English with its attention drawn, a one-epoch MLP run
//! draws its curve and can be tried, an agent plays, a photo is repainted, and no page logs an
//! error to the console. Each page's screenshot is written to `target/gallery-screenshots/`.
//!
//! Without `chromedriver` on the PATH the test says so and passes, unless
//! `GALLERY_BROWSER_TESTS=required` (CI sets it, and installs Chromium).

use crate::gallery::{digits_h5, tiny_translator, Server};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key WebDriver names elements by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session, closed (and its driver stopped) when dropped.
struct Browser {
    driver: Child,
    base: String,
    http: ureq::Agent,
}

fn on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.is_file())
}

impl Browser {
    /// Starts chromedriver on a free port and opens a session; None when it is not installed
    /// (and not required).
    fn start() -> Option<Browser> {
        let required = std::env::var("GALLERY_BROWSER_TESTS").is_ok_and(|v| v == "required");
        let Some(driver) = on_path("chromedriver") else {
            assert!(!required, "GALLERY_BROWSER_TESTS=required but chromedriver is not on PATH");
            eprintln!(
                "skipped: no chromedriver on PATH (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let root = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(&format!("{root}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver never answered on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let chromium = on_path("chromium").or_else(|| on_path("chromium-browser"));
        let mut options = json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                          "--disable-dev-shm-usage", "--window-size=1280,1000"]});
        if let Some(binary) = chromium {
            options["binary"] = json!(binary);
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options,
            "goog:loggingPrefs": {"browser": "ALL"}}}});
        let mut browser = Browser { driver, base: root.clone(), http };
        let session = browser.command("POST", "/session", Some(&capabilities));
        let id = session["sessionId"].as_str().expect("a session id").to_string();
        browser.base = format!("{root}/session/{id}");
        Some(browser)
    }

    /// A WebDriver command; its `value`.
    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let response = match (method, body) {
            ("GET", _) => self.http.get(&url).call(),
            ("DELETE", _) => self.http.delete(&url).call(),
            (_, body) => self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .send(&serde_json::to_vec(body.unwrap_or(&json!({}))).unwrap()[..]),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let text = response.body_mut().read_to_string().unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert!(value["value"].get("error").is_none(), "{method} {path}: {value}");
        value["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page.
    fn run(&self, script: &str) -> Value {
        self.command("POST", "/execute/sync", Some(&json!({"script": script, "args": []})))
    }

    /// Polls `script` until it returns something truthy; returns that.
    fn wait_for(&self, what: &str, script: &str, seconds: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let value = self.run(script);
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value.as_str() != Some("")
                && value.as_i64() != Some(0);
            if truthy {
                return value;
            }
            assert!(Instant::now() < deadline, "waited {seconds} s for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn element(&self, css: &str) -> Value {
        let found =
            self.command("POST", "/element", Some(&json!({"using": "css selector", "value": css})));
        let mut reference = serde_json::Map::new();
        reference.insert(ELEMENT.to_string(), found[ELEMENT].clone());
        Value::Object(reference)
    }

    fn click(&self, css: &str) {
        let id = self.element(css)[ELEMENT].as_str().unwrap().to_string();
        self.command("POST", &format!("/element/{id}/click"), None);
    }

    /// Draws `strokes` (points relative to the element's centre) with the mouse, moving in small
    /// steps so the page sees every pointer event a hand would make.
    fn draw(&self, css: &str, strokes: &[&[(i64, i64)]]) {
        let origin = self.element(css);
        let mut actions = Vec::new();
        for stroke in strokes {
            let at = |(x, y): (i64, i64)| json!({"type": "pointerMove", "duration": 0, "origin": origin, "x": x, "y": y});
            actions.push(at(stroke[0]));
            actions.push(json!({"type": "pointerDown", "button": 0}));
            for pair in stroke.windows(2) {
                let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
                for k in 1..=10 {
                    actions.push(at((x0 + (x1 - x0) * k / 10, y0 + (y1 - y0) * k / 10)));
                }
            }
            actions.push(json!({"type": "pointerUp", "button": 0}));
        }
        let body = json!({"actions": [{"type": "pointer", "id": "mouse",
                                       "parameters": {"pointerType": "mouse"}, "actions": actions}]});
        self.command("POST", "/actions", Some(&body));
    }

    fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.command("GET", "/screenshot", None);
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/gallery-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }

    /// The console's errors since the last call.
    fn console_errors(&self) -> Vec<String> {
        let entries = self.command("POST", "/se/log", Some(&json!({"type": "browser"})));
        (entries.as_array().unwrap().iter())
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.base).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
fn every_page_works_in_headless_chromium() {
    let Some(browser) = Browser::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let translator = tiny_translator(dir.path());
    let h5 = digits_h5(dir.path(), 12);
    let vgg = dir.path().join("random-vgg19.safetensors");
    style_transfer::model::Vgg19::random(style_transfer::model::Pooling::Max, tch::Device::Cpu, 1)
        .save(&vgg)
        .unwrap();
    let (runs, dataset) = (dir.path().join("runs"), format!("h5:{}", h5.display()));
    let server = Server::start(&[
        "--translator",
        translator.to_str().unwrap(),
        "--vgg",
        vgg.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
        "--train-dataset",
        &dataset,
    ]);
    let mut errors = Vec::new();
    let mut check = |page: &str| {
        browser.screenshot(page.trim_start_matches('/').replace('/', "-").as_str());
        errors.extend(browser.console_errors().into_iter().map(|e| format!("{page}: {e}")));
    };

    // Every page loads and fills its model menu.
    for page in ["/", "/text", "/graph"] {
        browser.goto(&server.url(page));
        browser.wait_for(page, "return document.readyState === 'complete' && document.querySelector('header a') !== null", 30);
        if page == "/" {
            browser.wait_for(
                "the catalogue",
                "return document.getElementById('classifiers').textContent",
                30,
            );
        }
        check(if page == "/" { "index" } else { page });
    }

    // Draw a 7: a bar across the top, a stroke down to the bottom left.
    browser.goto(&server.url("/digits?model=mnist"));
    browser.wait_for(
        "the filters",
        "return document.querySelectorAll('#filters canvas').length",
        30,
    );
    browser.draw("#pad", &[&[(-75, -85), (75, -85), (-15, 95)]]);
    let top = browser.wait_for(
        "a guess",
        "const g = document.querySelector('#guesses .guess span'); return g && g.textContent",
        30,
    );
    assert_eq!(top, "7", "the drawn 7 was read as {top}");
    check("digits");

    // A German sentence in, English out, the attention drawn.
    browser.goto(&server.url("/translate"));
    browser.wait_for(
        "the translator menu",
        "return document.getElementById('model').options.length",
        30,
    );
    browser.run("document.getElementById('text').value = 'Ich habe Hunger.';");
    browser.click("#go");
    let english = browser.wait_for(
        "a translation",
        "return document.getElementById('english').textContent",
        60,
    );
    assert!(english.as_str().unwrap().chars().any(char::is_alphanumeric), "{english}");
    let drawn = browser.run("return document.getElementById('attention').width");
    assert!(drawn.as_i64().unwrap() > 100, "the heatmap was drawn: {drawn}");
    check("translate");

    // A one-epoch MLP run: its curve gains points, then the model answers a drawn digit.
    browser.goto(&server.url("/train"));
    browser.run("document.getElementById('kind').value = 'mnist-mlp'; document.getElementById('epochs').value = '1';");
    browser.click("#start");
    let points = browser.wait_for(
        "the curve's points",
        "const t = document.getElementById('points').textContent; return parseInt(t) || 0",
        120,
    );
    assert!(points.as_i64().unwrap() >= 1);
    browser.wait_for("the run to end", "return !document.getElementById('try').hidden", 120);
    let points = browser.run("return parseInt(document.getElementById('points').textContent)");
    assert!(points.as_i64().unwrap() >= 5, "{points} points logged over the epoch");
    let inked = browser.run(
        "const c = document.getElementById('chart'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
         let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 150 && d[i] < 100) n++; return n",
    );
    assert!(inked.as_i64().unwrap() > 50, "the loss curve is drawn ({inked} blue pixels)");
    browser.draw("#pad", &[&[(-50, -60), (50, -60), (-10, 65)]]);
    browser.wait_for(
        "the trained model's guess",
        "return document.querySelectorAll('#guesses .guess').length === 3",
        30,
    );
    check("train");

    // The shipped agent and the random one play.
    browser.goto(&server.url("/play"));
    browser.wait_for(
        "the agent menu",
        "return document.getElementById('model').options.length",
        30,
    );
    browser.run("document.getElementById('speed').value = '4';");
    browser.click("#start");
    browser.wait_for("frames", "return document.getElementById('agent-q').children.length === 2 && document.getElementById('random-screen').naturalWidth > 0", 60);
    check("play");
    browser.click("#stop");

    // A photo repainted for two iterations.
    browser.goto(&server.url("/style"));
    browser.run("document.getElementById('iterations').value = '2'; document.getElementById('optimizer').value = 'adam';");
    browser.click("#style-start");
    let status = browser.wait_for(
        "the repainted photo",
        "const s = document.getElementById('status').textContent; return s.startsWith('Done') && s",
        300,
    );
    assert!(status.as_str().unwrap().contains("2 steps"), "{status}");
    check("style");

    assert!(errors.is_empty(), "console errors:\n{}", errors.join("\n"));
}
