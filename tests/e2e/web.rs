//! The browser wallboard (`displays/web/`) in a real browser: headless Chromium opens the page
//! as the demo serves it, connected over MQTT-over-WebSockets to the embedded broker a gateway
//! publishes to, fed by the simulator. The page's model (`window.floor`, read through the
//! DevTools protocol) is turned into the Rust display's [`Floor`] and judged by the same
//! [`diff`] against the simulator's truth as every other display test: after the first
//! convergence, after a socket drop with events during the gap, and after a page reload
//! (retained state only).
//!
//! Needs `chromium` (Debian's package): without it the test says so and passes, except under
//! `CI=true`, where it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use genesys_sim::{Fault, Sim, SimConfig};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

fn chromium_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// Headless Chromium with the DevTools protocol on a free port; killed on drop.
struct Browser {
    child: Child,
    devtools: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(bin: &PathBuf, url: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1920,1080",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chromium");
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…"
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                    let port = rest.split('/').next().and_then(|p| p.parse::<u16>().ok());
                    let _ = tx.send(port);
                }
            }
        });
        let devtools = rx
            .recv_timeout(Duration::from_secs(30))
            .ok()
            .flatten()
            .expect("chromium printed its DevTools port");
        Browser {
            child,
            devtools,
            _profile: profile,
        }
    }

    /// The page target's DevTools WebSocket URL (`GET /json/list`).
    fn page_socket(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", self.devtools)).unwrap();
            write!(
                s,
                "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                self.devtools
            )
            .unwrap();
            // Read the head, then Content-Length bytes (the DevTools server may keep the
            // connection open).
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            let body = loop {
                let n = s.read(&mut buf).unwrap_or(0);
                raw.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&raw).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(usize::MAX);
                    if body.len() >= len || n == 0 {
                        break body.to_string();
                    }
                } else if n == 0 {
                    break String::new();
                }
            };
            let body = body.as_str();
            let list: Value = serde_json::from_str(body).unwrap_or(json!([]));
            if let Some(ws) = list
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            {
                return ws.to_string();
            }
            assert!(Instant::now() < deadline, "no page target: {body}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DevTools protocol session on the page.
struct Page {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next: u64,
}

impl Page {
    async fn open(url: &str) -> Page {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("DevTools socket");
        Page { ws, next: 1 }
    }

    /// Sends one command and returns its `result`.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws.send(Message::text(msg)).await.expect("send");
        while let Some(m) = self.ws.next().await {
            let Ok(Message::Text(t)) = m else { continue };
            let v: Value = serde_json::from_str(&t).expect("DevTools JSON");
            if v["id"] == id {
                return v["result"].clone();
            }
        }
        panic!("DevTools socket closed");
    }

    /// `JSON.stringify(expr)` evaluated in the page, parsed.
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": format!("JSON.stringify({expr})"), "returnByValue": true }),
            )
            .await;
        r["result"]["value"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null)
    }
}

/// Waits until the page's floor equals the truth (and its queue tiles carry the queues'
/// names, its `$state` is online); panics with the differences after `timeout`.
async fn page_converges(page: &mut Page, sim: &Sim, timeout: Duration) {
    let start = Instant::now();
    loop {
        let model = page.eval("window.floor").await;
        let mut d = diff(&floor_of_json(&model), &sim.truth());
        if model["state"] != "online" {
            d.push(format!("$state {}", model["state"]));
        }
        for q in sim.queues() {
            let want = sim.queue_name(&q);
            if model["queues"][&q]["name"].as_str() != want.as_deref() {
                d.push(format!(
                    "queue {q}: name {} != {want:?}",
                    model["queues"][&q]["name"]
                ));
            }
        }
        if d.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "the browser's wallboard did not converge within {timeout:?}: {} differences, first: {:#?}",
            d.len(),
            &d[..d.len().min(6)]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_wallboard_shows_the_truth_after_a_drop_and_a_reload() {
    init_logs();
    let Some(bin) = chromium_bin() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI needs chromium for the browser wallboard test"
        );
        skipped("the browser wallboard test: no chromium (apt install chromium)");
        return;
    };
    let sim = Sim::start(SimConfig {
        agents: 40,
        queues: 3,
        seed: 41,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let broker = presence_gateway::demo::broker::start().expect("embedded broker");
    let dir = tempfile::tempdir().unwrap();
    let site = site_id("web");
    let config = config(
        &sim,
        &("127.0.0.1".to_string(), broker.port),
        &dir.path().join("state"),
        &site,
        "backoff_min_ms = 50\nbackoff_max_secs = 2\n",
    );
    let gw = presence_gateway::app::start(config)
        .await
        .expect("gateway starts");
    let served = presence_gateway::demo::web::serve(0)
        .await
        .expect("page served");
    let url = presence_gateway::demo::web::url(served, broker.ws_port, &site, "all");
    let browser = Browser::start(&bin, &url);
    let mut page = Page::open(&browser.page_socket()).await;
    let long = Duration::from_secs(60);

    sim.step(300);
    page_converges(&mut page, &sim, long).await;
    assert_eq!(page.eval("document.body.dataset.ready").await, "1");

    // A socket drop with events during the gap: back through the gateway's resync.
    let resyncs = gw.metrics.upstream.resyncs.get();
    sim.fault(Fault::DropSockets);
    sim.step(300);
    wait_for("the resync after the drop", long, || {
        gw.metrics.upstream.resyncs.get() > resyncs
    })
    .await;
    sim.step(100);
    page_converges(&mut page, &sim, long).await;

    // A reload: the page rebuilds the floor from retained frames alone.
    page.call("Page.reload", json!({})).await;
    let mut page = Page::open(&browser.page_socket()).await;
    page_converges(&mut page, &sim, long).await;
    assert_eq!(
        page.eval("window.floor.gaps").await,
        0,
        "no gap on a quiet reload"
    );
    gw.stop().await;
}
