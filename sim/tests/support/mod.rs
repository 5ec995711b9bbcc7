//! Shared test helpers: a tiny raw HTTP/1.1 client, OAuth/channel/subscription shortcuts, and a WebSocket
//! client wrapper (tokio-tungstenite `connect_async`) that reads JSON frames with timeouts.
//!
//! Owns: client-side plumbing only; every assertion lives in the test files.

#![allow(dead_code)] // each test file uses a different subset

use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use genesys_sim::{Sim, SimConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for a frame that must arrive.
pub const ARRIVE: Duration = Duration::from_secs(3);
/// How long a test waits to conclude that nothing arrives.
pub const QUIET: Duration = Duration::from_millis(100);

/// A sim with a small org and defaults otherwise.
pub async fn sim() -> Sim {
    sim_with(SimConfig {
        agents: 20,
        queues: 3,
        ..SimConfig::default()
    })
    .await
}

/// A sim with `cfg`.
pub async fn sim_with(cfg: SimConfig) -> Sim {
    Sim::start(cfg).await.expect("sim starts")
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request with `Connection: close`.
pub async fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Resp {
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".to_owned()));
    let mut stream = TcpStream::connect(host).await.expect("connect");
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Authorized request against the sim's REST API.
pub async fn api(sim: &Sim, token: &str, method: &str, path: &str, body: Option<&str>) -> Resp {
    let auth = format!("bearer {token}");
    http(
        method,
        &format!("{}{path}", sim.api_base()),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body,
    )
    .await
}

/// A client-credentials token.
pub async fn token(sim: &Sim) -> String {
    let basic = base64::engine::general_purpose::STANDARD.encode("sim-client:sim-secret");
    let r = http(
        "POST",
        &format!("{}/oauth/token", sim.api_base()),
        &[
            ("Authorization", &format!("Basic {basic}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some("grant_type=client_credentials"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// Creates a channel; returns (id, connectUri).
pub async fn channel(sim: &Sim, token: &str) -> (String, String) {
    let r = api(sim, token, "POST", "/api/v2/notifications/channels", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    (
        v["id"].as_str().expect("id").to_owned(),
        v["connectUri"].as_str().expect("connectUri").to_owned(),
    )
}

/// POSTs (adds) subscriptions; returns the response.
pub async fn subscribe(sim: &Sim, token: &str, channel: &str, topics: &[String]) -> Resp {
    let body: Vec<Value> = topics.iter().map(|t| json!({ "id": t })).collect();
    api(
        sim,
        token,
        "POST",
        &format!("/api/v2/notifications/channels/{channel}/subscriptions"),
        Some(&Value::Array(body).to_string()),
    )
    .await
}

/// A connected WebSocket client.
pub struct Ws {
    pub inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the next read produced.
#[derive(Debug)]
pub enum Got {
    Text(Value),
    RawText(String),
    Binary(Vec<u8>),
    Close(Option<u16>),
    /// Stream ended or errored without a close frame (1006 to the client).
    Abnormal(String),
    Timeout,
}

impl Ws {
    pub async fn connect(uri: &str) -> Ws {
        let (inner, _) = tokio_tungstenite::connect_async(uri)
            .await
            .expect("ws connect");
        Ws { inner }
    }

    /// Next frame of any kind (pings/pongs skipped).
    pub async fn next(&mut self, wait: Duration) -> Got {
        loop {
            match tokio::time::timeout(wait, self.inner.next()).await {
                Err(_) => return Got::Timeout,
                Ok(None) => return Got::Abnormal("stream ended".to_owned()),
                Ok(Some(Err(e))) => return Got::Abnormal(e.to_string()),
                Ok(Some(Ok(Message::Text(t)))) => {
                    return match serde_json::from_str(t.as_str()) {
                        Ok(v) => Got::Text(v),
                        Err(_) => Got::RawText(t.as_str().to_owned()),
                    }
                }
                Ok(Some(Ok(Message::Binary(b)))) => return Got::Binary(b.to_vec()),
                Ok(Some(Ok(Message::Close(f)))) => return Got::Close(f.map(|f| u16::from(f.code))),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Next JSON text frame; panics on anything else.
    pub async fn json(&mut self) -> Value {
        match self.next(ARRIVE).await {
            Got::Text(v) => v,
            other => panic!("expected a JSON frame, got {other:?}"),
        }
    }

    /// Next JSON frame that is not a heartbeat.
    pub async fn event(&mut self) -> Value {
        loop {
            let v = self.json().await;
            if v["eventBody"]["message"] != "WebSocket Heartbeat" {
                return v;
            }
        }
    }

    /// Asserts nothing (but heartbeats) arrives within [`QUIET`].
    pub async fn quiet(&mut self) {
        loop {
            match self.next(QUIET).await {
                Got::Timeout => return,
                Got::Text(v) if v["eventBody"]["message"] == "WebSocket Heartbeat" => continue,
                other => panic!("expected silence, got {other:?}"),
            }
        }
    }

    pub async fn send_text(&mut self, v: &Value) {
        self.inner
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    /// Reads until the connection ends; returns how it ended (close code or abnormal).
    pub async fn until_end(&mut self) -> Got {
        loop {
            match self.next(ARRIVE).await {
                Got::Text(_) | Got::RawText(_) | Got::Binary(_) => continue,
                end => return end,
            }
        }
    }
}

/// Token + channel + subscriptions + connected socket in one go.
pub async fn connected(sim: &Sim, topics: &[String]) -> (String, String, Ws) {
    let t = token(sim).await;
    let (id, uri) = channel(sim, &t).await;
    if !topics.is_empty() {
        let r = subscribe(sim, &t, &id, topics).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let ws = Ws::connect(&uri).await;
    (t, id, ws)
}

/// Parses an ISO-8601 `...Z` timestamp with ms into ms since the epoch.
pub fn iso_ms(s: &str) -> u64 {
    let (date, time) = s.trim_end_matches('Z').split_once('T').expect("T");
    let d: Vec<i64> = date.split('-').map(|x| x.parse().expect("date")).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().expect("time")).collect();
    let (y, m, day) = (d[0], d[1], d[2]);
    // days_from_civil (H. Hinnant)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = ((days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) * 1000)
        + frac.parse::<i64>().expect("ms");
    u64::try_from(ms).expect("after epoch")
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for ms since the epoch (civil_from_days, H. Hinnant).
pub fn iso(ms: u64) -> String {
    let (secs, millis) = (ms / 1000, ms % 1000);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}
