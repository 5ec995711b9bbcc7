//! `presence-gateway decode`: frames to JSON lines, one line per frame or MQTT message, for
//! people writing or debugging a display. Reads one frame from a file or stdin (raw bytes, or
//! hex text), or subscribes to a broker and describes every message under a site's zones and
//! `gateway/` topics as it arrives.
//!
//! Owns the JSON description of a payload ([`describe`], pure: topic + bytes in, [`Line`]
//! out) and the two thin loops around it ([`file()`], [`live()`]). A payload that does not decode
//! becomes a line with an `error` field and the stream goes on. Decoding itself is
//! `presence_wire::decode` / `decode_heatmap`, exactly as a display calls them.

use std::future::Future;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use presence_wire::{
    AgentFrame, Body, Header, HeatmapFrame, Interaction, Level, Media, Presence, QueueFrame,
    RosterFrame, Routing,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde::Serialize;

/// Payload bytes shown as hex in an error line; longer payloads are cut (with `len` exact).
pub const ERROR_HEX_BYTES: usize = 96;

/// Largest MQTT packet the live subscriber accepts: a heatmap is at most
/// `presence_wire::MAX_HEATMAP_LEN` (4,336 bytes); gateway JSON documents are a few KiB.
const MAX_PACKET: usize = 64 * 1024;

/// What a line describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An agent frame.
    Agent,
    /// A queue frame.
    Queue,
    /// An agent's display name.
    Name,
    /// A zone's roster.
    Roster,
    /// A zone's activity heatmap.
    Heatmap,
    /// The gateway's `$state` (`online`, `offline`, `lost`).
    State,
    /// A JSON document under `gateway/` (birth, health, metrics, audit, cmd, reply).
    Json,
    /// An empty payload: the retained topic was cleared (the key left the zone).
    Cleared,
    /// Neither the topic nor the payload says.
    Unknown,
}

/// An agent frame's fields; times are Unix seconds (0 = unknown).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentFields {
    /// System presence, e.g. `"OnQueue"`.
    pub presence: Presence,
    /// When the presence changed.
    pub presence_since: u32,
    /// Routing status, e.g. `"Interacting"`.
    pub routing: Routing,
    /// When the routing status changed.
    pub routing_since: u32,
    /// Current interaction's media, `"None"` without one.
    pub media: Media,
    /// Current interaction's state.
    pub interaction: Interaction,
    /// When the interaction state changed.
    pub interaction_since: u32,
    /// The raw flag bits.
    pub flags: u8,
    /// Flag 1: in wrap-up.
    pub wrapup: bool,
    /// Flag 2: not confirmed by the cloud within the gateway's TTL.
    pub stale: bool,
    /// Flag 4: out of office.
    pub out_of_office: bool,
}

impl From<AgentFrame> for AgentFields {
    fn from(a: AgentFrame) -> Self {
        AgentFields {
            presence: a.presence,
            presence_since: a.presence_since,
            routing: a.routing,
            routing_since: a.routing_since,
            media: a.media,
            interaction: a.interaction,
            interaction_since: a.interaction_since,
            flags: a.flags,
            wrapup: a.flags & AgentFrame::WRAPUP != 0,
            stale: a.flags & AgentFrame::STALE != 0,
            out_of_office: a.flags & AgentFrame::OUT_OF_OFFICE != 0,
        }
    }
}

/// A queue frame's fields; every figure is `null` when unknown (the none tag on the wire).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueFields {
    /// Interactions waiting.
    pub waiting: Option<u16>,
    /// Interactions being handled.
    pub interacting: Option<u16>,
    /// Interactions ringing at an agent.
    pub alerting: Option<u16>,
    /// Members on queue.
    pub on_queue: Option<u16>,
    /// Members off queue.
    pub off_queue: Option<u16>,
    /// Longest current wait, seconds (0: nobody waits).
    pub longest_waiting_s: Option<u32>,
    /// When observed (Unix seconds; 0 = never).
    pub observed: u32,
    /// Offered in the current 30-minute interval.
    pub offered: Option<u16>,
    /// Answered in the interval.
    pub answered: Option<u16>,
    /// Abandoned in the interval.
    pub abandoned: Option<u16>,
    /// Service level in percent.
    pub service_level_pct: Option<u8>,
    /// Threshold level, `"Normal"`, `"Warning"` or `"Critical"`.
    pub level: Level,
}

impl From<QueueFrame> for QueueFields {
    fn from(q: QueueFrame) -> Self {
        QueueFields {
            waiting: q.waiting,
            interacting: q.interacting,
            alerting: q.alerting,
            on_queue: q.on_queue,
            off_queue: q.off_queue,
            longest_waiting_s: q.longest_waiting_s,
            observed: q.observed,
            offered: q.offered,
            answered: q.answered,
            abandoned: q.abandoned,
            service_level_pct: q.service_level_pct,
            level: q.level,
        }
    }
}

/// A heatmap's fields: all 1,440 minutes, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeatmapFields {
    /// Unix minute of the newest bucket.
    pub end_minute: u32,
    /// The same as Unix seconds (`end_minute * 60`).
    pub end: u64,
    /// Sum of all buckets.
    pub total: u64,
    /// Transitions per minute, oldest first; the last is `end_minute`.
    pub counts: Vec<u16>,
}

/// The kind-specific part of a line, flattened into it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Fields {
    /// Agent frame fields.
    Agent(AgentFields),
    /// Queue frame fields.
    Queue(QueueFields),
    /// `{"name": …}`.
    Name {
        /// The display name.
        name: String,
    },
    /// `{"agents", "queues", "generation"}`.
    Roster(RosterFrame),
    /// Heatmap fields.
    Heatmap(HeatmapFields),
    /// `{"state": …}`.
    State {
        /// The `$state` text.
        state: String,
    },
    /// `{"json": …}`: the document as it was published.
    Json {
        /// The parsed document.
        json: serde_json::Value,
    },
}

/// One output line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Line {
    /// The MQTT topic (absent when decoding a file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// What the payload is.
    pub kind: Kind,
    /// The zone, for zone topics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The agent or queue id (the last topic level), for agent, queue and name topics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Gateway boot counter from the frame header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<u32>,
    /// Per-zone sequence number from the frame header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
    /// The kind's own fields.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Fields>,
    /// Why the payload could not be described.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Payload length, on error lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len: Option<usize>,
    /// Payload bytes as hex (the first [`ERROR_HEX_BYTES`]), on error lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
}

impl Line {
    fn new(topic: Option<&str>, kind: Kind) -> Line {
        Line {
            topic: topic.map(str::to_string),
            kind,
            zone: None,
            id: None,
            session: None,
            seq: None,
            fields: None,
            error: None,
            len: None,
            hex: None,
        }
    }

    fn header(mut self, h: Header) -> Line {
        self.session = Some(h.session);
        self.seq = Some(h.seq);
        self
    }

    fn fail(mut self, error: impl ToString, payload: &[u8]) -> Line {
        self.error = Some(error.to_string());
        self.len = Some(payload.len());
        self.hex = Some(hex(&payload[..payload.len().min(ERROR_HEX_BYTES)]));
        self
    }

    /// The line as one line of JSON (no newline).
    pub fn to_json(&self) -> String {
        // Serializing plain data into a String cannot fail (no maps with non-string keys).
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"json: {e}\"}}"))
    }
}

/// Lower-case hex, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why hex text did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HexError {
    /// A character that is not a hex digit, a separator or a `0x` prefix.
    #[error("not a hex digit: {0:?}")]
    Digit(char),
    /// An odd number of digits.
    #[error("odd number of hex digits ({0})")]
    Odd(usize),
}

/// Parses hex text: whitespace, commas, colons and `0x` prefixes are ignored, so `xxd -p`
/// output, `01 02 0a` and `0x01, 0x02` all work.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let mut digits = Vec::new();
    for token in text.split(|c: char| c.is_whitespace() || c == ',' || c == ':') {
        let token = token
            .strip_prefix("0x")
            .or_else(|| token.strip_prefix("0X"))
            .unwrap_or(token);
        for c in token.chars() {
            let d = c.to_digit(16).ok_or(HexError::Digit(c))?;
            // to_digit(16) < 16: fits a u8.
            digits.push(u8::try_from(d).unwrap_or(0));
        }
    }
    if digits.len() % 2 != 0 {
        return Err(HexError::Odd(digits.len()));
    }
    Ok(digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

/// Where a topic points, from its levels after `{prefix}/{site}`.
enum Route<'a> {
    State,
    Gateway,
    Zone {
        zone: &'a str,
        key: &'a str,
        id: Option<&'a str>,
    },
    Unknown,
}

fn route(topic: &str, prefix_levels: usize) -> Route<'_> {
    let levels: Vec<&str> = topic.split('/').skip(prefix_levels + 1).collect();
    match levels.as_slice() {
        ["gateway", "$state"] => Route::State,
        ["gateway", ..] => Route::Gateway,
        ["zone", zone, key] => Route::Zone {
            zone,
            key,
            id: None,
        },
        ["zone", zone, key, id] => Route::Zone {
            zone,
            key,
            id: Some(id),
        },
        _ => Route::Unknown,
    }
}

fn key_kind(key: &str) -> Kind {
    match key {
        "agent" => Kind::Agent,
        "queue" => Kind::Queue,
        "name" | "queue_name" => Kind::Name,
        "roster" => Kind::Roster,
        "heatmap" => Kind::Heatmap,
        _ => Kind::Unknown,
    }
}

fn frame_line(line: Line, payload: &[u8]) -> Line {
    match presence_wire::decode(payload) {
        Ok(f) => {
            let (kind, fields) = match f.body {
                Body::Agent(a) => (Kind::Agent, Fields::Agent(a.into())),
                Body::Queue(q) => (Kind::Queue, Fields::Queue(q.into())),
                Body::Name(n) => (
                    Kind::Name,
                    Fields::Name {
                        name: n.as_str().to_string(),
                    },
                ),
                Body::Roster(r) => (Kind::Roster, Fields::Roster(r)),
            };
            let expected = line.kind;
            let mut out = line.header(f.header);
            out.kind = kind;
            out.fields = Some(fields);
            if expected != Kind::Unknown && expected != kind {
                let msg = format!("frame is {kind:?}, the topic says {expected:?}").to_lowercase();
                return out.fail(msg, payload);
            }
            out
        }
        Err(e) => line.fail(e, payload),
    }
}

fn heatmap_line(line: Line, h: HeatmapFrame) -> Line {
    let mut out = line.header(h.header);
    out.kind = Kind::Heatmap;
    out.fields = Some(Fields::Heatmap(HeatmapFields {
        end_minute: h.end_minute,
        end: u64::from(h.end_minute) * 60,
        total: h.counts.0.iter().map(|&c| u64::from(c)).sum(),
        counts: h.counts.0.to_vec(),
    }));
    out
}

/// Describes one payload. `topic` is the MQTT topic it came on (None: a file, then the kind
/// is guessed from the bytes); `prefix_levels` is how many levels the topic prefix has (1
/// for the default `presence`).
pub fn describe(topic: Option<&str>, prefix_levels: usize, payload: &[u8]) -> Line {
    let Some(topic) = topic else {
        let line = Line::new(None, Kind::Unknown);
        if payload.len() > presence_wire::MAX_FRAME_LEN {
            if let Ok(h) = presence_wire::decode_heatmap(payload) {
                return heatmap_line(line, h);
            }
        }
        return frame_line(line, payload);
    };
    let route = route(topic, prefix_levels);
    if payload.is_empty() {
        let mut line = Line::new(Some(topic), Kind::Cleared);
        if let Route::Zone { zone, id, .. } = route {
            line.zone = Some(zone.to_string());
            line.id = id.map(str::to_string);
        }
        return line;
    }
    match route {
        Route::State => {
            let mut line = Line::new(Some(topic), Kind::State);
            match std::str::from_utf8(payload) {
                Ok(s) => line.fields = Some(Fields::State { state: s.into() }),
                Err(e) => return line.fail(format!("$state is not UTF-8: {e}"), payload),
            }
            line
        }
        Route::Gateway => {
            let line = Line::new(Some(topic), Kind::Json);
            match serde_json::from_slice(payload) {
                Ok(json) => Line {
                    fields: Some(Fields::Json { json }),
                    ..line
                },
                Err(e) => line.fail(format!("not JSON: {e}"), payload),
            }
        }
        Route::Zone { zone, key, id } => {
            let mut line = Line::new(Some(topic), key_kind(key));
            line.zone = Some(zone.to_string());
            line.id = id.map(str::to_string);
            if line.kind == Kind::Heatmap {
                match presence_wire::decode_heatmap(payload) {
                    Ok(h) => heatmap_line(line, h),
                    Err(e) => line.fail(e, payload),
                }
            } else {
                frame_line(line, payload)
            }
        }
        Route::Unknown => frame_line(Line::new(Some(topic), Kind::Unknown), payload),
    }
}

/// Why `decode` stopped without describing anything.
#[derive(Debug, thiserror::Error)]
pub enum DecodeToolError {
    /// The input could not be read.
    #[error("read {path}: {source}")]
    Read {
        /// The file, or `-` for stdin.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// `--hex` input that is not hex.
    #[error("{path}: {source}")]
    Hex {
        /// The file, or `-` for stdin.
        path: String,
        /// What was wrong.
        source: HexError,
    },
    /// The output could not be written.
    #[error("write: {0}")]
    Write(io::Error),
}

/// Decodes one frame from `path` (None or `-` = stdin), raw bytes or `hex` text, and writes
/// its line to `out`. Returns whether it decoded (false: the line carries an `error`).
pub fn file(path: Option<&Path>, hex: bool, out: &mut dyn Write) -> Result<bool, DecodeToolError> {
    let name = path.map_or("-".to_string(), |p| p.display().to_string());
    let mut bytes = Vec::new();
    match path {
        Some(p) if p != Path::new("-") => {
            bytes = std::fs::read(p).map_err(|source| DecodeToolError::Read {
                path: name.clone(),
                source,
            })?;
        }
        _ => {
            io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|source| DecodeToolError::Read {
                    path: name.clone(),
                    source,
                })?;
        }
    }
    if hex {
        let text = String::from_utf8_lossy(&bytes);
        bytes = parse_hex(&text).map_err(|source| DecodeToolError::Hex {
            path: name.clone(),
            source,
        })?;
    }
    let line = describe(None, 0, &bytes);
    writeln!(out, "{}", line.to_json()).map_err(DecodeToolError::Write)?;
    Ok(line.error.is_none())
}

/// What the live subscription is and when it stops.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Broker host and port.
    pub broker: (String, u16),
    /// Topic prefix (`presence` by default); may hold several levels.
    pub prefix: String,
    /// Site id, or `+` for every site.
    pub site: String,
    /// Zone, or `+` for every zone.
    pub zone: String,
    /// Stop after this many lines.
    pub count: Option<u64>,
    /// Stop after this long.
    pub timeout: Option<Duration>,
    /// TLS and credentials for the broker.
    pub security: super::BrokerSecurity,
}

impl LiveOptions {
    /// The subscriptions: the zone subtree and everything under `gateway/`.
    pub fn filters(&self) -> [String; 2] {
        let base = format!("{}/{}", self.prefix, self.site);
        [
            format!("{base}/zone/{}/#", self.zone),
            format!("{base}/gateway/#"),
        ]
    }
}

/// How a live run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveEnd {
    /// `count` lines were written.
    Count,
    /// The timeout passed first.
    Timeout,
    /// Shut down from outside (SIGINT, SIGTERM), or the output was closed (`| head`).
    Stopped,
}

/// Subscribes and writes one line per message to `out` until `count`, `timeout` or
/// `shutdown`. A broker that is down or goes away is retried every half second, with one
/// stderr line per new error. Returns how it ended and how many lines were written.
pub async fn live(
    opts: &LiveOptions,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> (LiveEnd, u64) {
    let id = format!("decode-{}", fastrand::u32(..));
    let mut mqtt = MqttOptions::new(id, opts.broker.0.clone(), opts.broker.1);
    mqtt.set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(MAX_PACKET, MAX_PACKET);
    opts.security.apply(&mut mqtt);
    let (client, mut eventloop) = AsyncClient::new(mqtt, 16);
    let prefix_levels = opts.prefix.split('/').count();
    let filters = opts.filters();
    let deadline = async {
        match opts.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(shutdown, deadline);
    let mut written = 0u64;
    let mut last_error = String::new();
    if opts.count == Some(0) {
        return (LiveEnd::Count, 0);
    }
    loop {
        let event = tokio::select! {
            () = &mut shutdown => return (LiveEnd::Stopped, written),
            () = &mut deadline => return (LiveEnd::Timeout, written),
            e = eventloop.poll() => e,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                last_error.clear();
                // QoS 0, as a display: a broker's per-client QoS 1 queue drops a burst past
                // its limit (docs/WIRE.md §2.1).
                for f in &filters {
                    let _ = client.subscribe(f.as_str(), QoS::AtMostOnce).await;
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let line = describe(Some(&p.topic), prefix_levels, &p.payload);
                if writeln!(out, "{}", line.to_json())
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return (LiveEnd::Stopped, written);
                }
                written += 1;
                if opts.count.is_some_and(|n| written >= n) {
                    return (LiveEnd::Count, written);
                }
            }
            Ok(_) => {}
            Err(e) => {
                let text = e.to_string();
                if text != last_error {
                    eprintln!(
                        "decode: broker {}:{}: {text}; retrying",
                        opts.broker.0, opts.broker.1
                    );
                    last_error = text;
                }
                tokio::select! {
                    () = &mut shutdown => return (LiveEnd::Stopped, written),
                    () = &mut deadline => return (LiveEnd::Timeout, written),
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use presence_wire::{DisplayName, Frame, Minutes};

    fn enc(body: Body) -> Vec<u8> {
        let mut buf = [0u8; presence_wire::MAX_FRAME_LEN];
        let f = Frame {
            header: Header { session: 7, seq: 3 },
            body,
        };
        presence_wire::encode(&f, &mut buf).unwrap().to_vec()
    }

    fn json(line: &Line) -> serde_json::Value {
        serde_json::from_str(&line.to_json()).unwrap()
    }

    #[test]
    fn agent_frame_on_its_topic() {
        let bytes = enc(Body::Agent(AgentFrame {
            presence: Presence::OnQueue,
            presence_since: 1_700_000_000,
            routing: Routing::Interacting,
            media: Media::Call,
            interaction: Interaction::Connected,
            flags: AgentFrame::WRAPUP,
            ..AgentFrame::default()
        }));
        let line = describe(Some("presence/lyon/zone/all/agent/u-1"), 1, &bytes);
        let text = line.to_json();
        assert!(
            text.starts_with(r#"{"topic":"presence/lyon/zone/all/agent/u-1","kind":"agent","zone":"all","id":"u-1","session":7,"seq":3,"presence":"OnQueue","presence_since":1700000000,"routing":"Interacting""#),
            "{text}"
        );
        let v = json(&line);
        assert_eq!(v["media"], "Call");
        assert_eq!(v["interaction"], "Connected");
        assert_eq!(v["wrapup"], true);
        assert_eq!(v["stale"], false);
        assert_eq!(v["out_of_office"], false);
        assert!(v.get("error").is_none());
    }

    #[test]
    fn queue_name_roster_and_file_mode() {
        let q = enc(Body::Queue(QueueFrame {
            waiting: Some(12),
            answered: Some(0),
            level: Level::Critical,
            ..QueueFrame::default()
        }));
        let v = json(&describe(None, 0, &q));
        assert_eq!(v["kind"], "queue");
        assert_eq!(v["waiting"], 12);
        assert_eq!(v["level"], "Critical");
        assert!(v["service_level_pct"].is_null());
        assert!(v["offered"].is_null(), "unknown is null, never 0");
        assert_eq!(v["answered"], 0);
        assert!(v.get("topic").is_none());
        let n = enc(Body::Name(DisplayName::new("Ana Lopez")));
        let v = json(&describe(Some("p/s/zone/z/name/u-1"), 1, &n));
        assert_eq!(
            (v["kind"].as_str(), v["name"].as_str()),
            (Some("name"), Some("Ana Lopez"))
        );
        let r = enc(Body::Roster(RosterFrame {
            agents: 3,
            queues: 1,
            generation: 2,
        }));
        let v = json(&describe(Some("p/s/zone/z/roster"), 1, &r));
        assert_eq!(v["agents"], 3);
        assert_eq!(v["generation"], 2);
        assert!(v.get("id").is_none());
    }

    #[test]
    fn heatmap_state_json_cleared() {
        let mut counts = Minutes::default();
        counts.0[presence_wire::HEATMAP_MINUTES - 1] = 4;
        counts.0[0] = 1;
        let h = HeatmapFrame {
            header: Header { session: 1, seq: 9 },
            end_minute: 29_000_000,
            counts,
        };
        let mut buf = [0u8; presence_wire::MAX_HEATMAP_LEN];
        let bytes = presence_wire::encode_heatmap(&h, &mut buf).unwrap();
        for line in [
            describe(Some("p/s/zone/z/heatmap"), 1, bytes),
            describe(None, 0, bytes),
        ] {
            let v = json(&line);
            assert_eq!(v["kind"], "heatmap");
            assert_eq!(v["end"], 29_000_000u64 * 60);
            assert_eq!(v["total"], 5);
            assert_eq!(v["counts"].as_array().unwrap().len(), 1440);
        }
        let v = json(&describe(Some("p/s/gateway/$state"), 1, b"lost"));
        assert_eq!(
            (v["kind"].as_str(), v["state"].as_str()),
            (Some("state"), Some("lost"))
        );
        let v = json(&describe(
            Some("a/b/s/gateway/birth"),
            2,
            br#"{"session":4}"#,
        ));
        assert_eq!(v["kind"], "json");
        assert_eq!(v["json"]["session"], 4);
        let v = json(&describe(Some("p/s/zone/z/agent/u-9"), 1, &[]));
        assert_eq!(v["kind"], "cleared");
        assert_eq!(v["id"], "u-9");
    }

    #[test]
    fn bad_payloads_become_error_lines() {
        let v = json(&describe(Some("p/s/zone/z/agent/u"), 1, &[9, 1, 2]));
        assert_eq!(v["kind"], "agent");
        assert_eq!(v["error"], "decode: unknown wire version 9");
        assert_eq!(v["hex"], "090102");
        assert_eq!(v["len"], 3);
        let v = json(&describe(None, 0, &[2, 1]));
        assert_eq!(v["error"], "decode: malformed body");
        let v = json(&describe(Some("p/s/gateway/health"), 1, b"{nope"));
        assert!(v["error"].as_str().unwrap().starts_with("not JSON"));
        let q = enc(Body::Queue(QueueFrame::default()));
        let v = json(&describe(Some("p/s/zone/z/agent/u"), 1, &q));
        assert_eq!(v["error"], "frame is queue, the topic says agent");
        assert_eq!(v["kind"], "queue");
    }

    #[test]
    fn hex_text_forms() {
        assert_eq!(parse_hex("01 02 0a\n"), Ok(vec![1, 2, 10]));
        assert_eq!(parse_hex("0x01, 0xFF"), Ok(vec![1, 255]));
        assert_eq!(parse_hex("0102:0a"), Ok(vec![1, 2, 10]));
        assert_eq!(parse_hex("012"), Err(HexError::Odd(3)));
        assert_eq!(parse_hex("zz"), Err(HexError::Digit('z')));
    }
}
