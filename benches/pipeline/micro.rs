//! The bench's in-process and child-process measurements that need no running gateway:
//!
//! - a corpus of real notification frames, captured from the simulator over a WebSocket the
//!   way the gateway subscribes (one combined user topic per agent, two topics per queue);
//! - the micro-bench (a child process, so callgrind counts only it): each frame through the
//!   gateway's own code, `decode::parse` → `Table::apply` (sled writes behind included) → the frame a
//!   display gets (`agent_frame`/`queue_frame` + `presence_wire::encode`) → the MQTT PUBLISH
//!   packet (rumqttc's `MqttState`, packet id and in-flight bookkeeping, bytes written into a
//!   buffer) and its PUBACK; instructions per event are the difference between two run lengths
//!   divided by the difference in events, so start-up cancels out;
//! - the sled probe (a child process): the gateway's records written as often as the gateway
//!   wrote them, with the board's cache, to measure what sled alone holds in RAM;
//! - frame sizes: postcard agent frames against the Genesys JSON they come from.
//!
//! Owns these measurements; does not own the table or how they are printed (`main`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::StreamExt;
use genesys_sim::{Sim, SimConfig};
use presence_gateway::decode;
use presence_gateway::event::Id;
use presence_gateway::message::Update;
use presence_gateway::metrics::Metrics;
use presence_gateway::publish::{agent_frame, queue_frame};
use presence_gateway::state::{
    decode_record, encode_record, AgentRecord, Capacity, DirtyItem, Key, Store, Table, Value,
};
use presence_gateway::topics::Topics;
use presence_gateway::zones::{ZoneSpec, Zones};
use presence_wire::{Body, Frame, Header};
use rumqttc::{Packet, PubAck, Publish, QoS, Request};
use tokio_tungstenite::tungstenite::Message;

/// The rpi4 board's WebSocket message cap (the decoder refuses longer frames).
const MAX_MESSAGE: usize = 262_144;
/// The rpi4 board's sled cache.
pub const SLED_CACHE: u64 = 16 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Corpus

/// Captures at least `frames` event notifications from a simulator of `agents` agents and
/// `queues` queues, subscribed as the gateway subscribes. Heartbeats are left out.
pub async fn capture(agents: usize, queues: usize, frames: usize) -> Vec<String> {
    let sim = Sim::start(SimConfig {
        agents,
        queues,
        seed: 11,
        max_topics: 10 * (agents + queues),
        rate_limit_per_min: 0,
        ..SimConfig::default()
    })
    .await
    .expect("corpus simulator");
    let base = sim.api_base();
    let token = oauth(&base);
    let (status, body) = http(
        &base,
        "POST",
        "/api/v2/notifications/channels",
        Some(&token),
        "",
    );
    assert_eq!(status, 200, "channel: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("channel JSON");
    let (channel, uri) = (
        v["id"].as_str().expect("id").to_string(),
        v["connectUri"].as_str().expect("connectUri").to_string(),
    );
    let mut topics: Vec<String> = sim
        .users()
        .iter()
        .map(|u| format!(r#"{{"id":"v2.users.{u}?activity&conversations"}}"#))
        .collect();
    for q in sim.queues() {
        topics.push(format!(r#"{{"id":"v2.routing.queues.{q}.users"}}"#));
        topics.push(format!(
            r#"{{"id":"v2.analytics.queues.{q}.observations"}}"#
        ));
    }
    let (status, body) = http(
        &base,
        "PUT",
        &format!("/api/v2/notifications/channels/{channel}/subscriptions"),
        Some(&token),
        &format!("[{}]", topics.join(",")),
    );
    assert_eq!(status, 200, "subscribe: {body}");
    let (mut ws, _) = tokio_tungstenite::connect_async(uri.as_str())
        .await
        .expect("corpus websocket");
    let mut out = Vec::with_capacity(frames);
    let deadline = Instant::now() + Duration::from_secs(120);
    while out.len() < frames && Instant::now() < deadline {
        sim.step(200);
        loop {
            match tokio::time::timeout(Duration::from_millis(20), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let t = t.as_str();
                    if !t.contains("channel.metadata") && !t.contains('\n') {
                        out.push(t.to_string());
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
    }
    out
}

fn http(base: &str, method: &str, path: &str, bearer: Option<&str>, body: &str) -> (u16, String) {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).expect("connect to the simulator");
    let auth = bearer
        .map(|t| format!("Authorization: bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, body.to_string())
}

fn oauth(base: &str) -> String {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("sim-client:sim-secret");
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).expect("connect to the simulator");
    let body = "grant_type=client_credentials";
    let req = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAuthorization: Basic {basic}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let json = raw.split_once("\r\n\r\n").expect("an HTTP response").1;
    let v: serde_json::Value = serde_json::from_str(json).expect("token JSON");
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// The pipeline of one event, without sockets

/// How much of the per-event work the micro-bench does: each stage adds one step, so the
/// difference between two stages is the cost of the step (a profile by subtraction; the
/// bench binary is stripped, so callgrind cannot name functions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// `decode::parse` only.
    Decode,
    /// + `Table::apply` and taking the dirty key, in memory (no sled).
    State,
    /// Plus the sled writes: written behind, each changed record once per
    /// [`EVENTS_PER_SAVE`] events, as the state stage does every `state::SAVE_EVERY`.
    Sled,
    /// + the display frame, its topic, the MQTT PUBLISH packet and its PUBACK.
    Full,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 4] = [Stage::Decode, Stage::State, Stage::Sled, Stage::Full];

    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::State => "state",
            Stage::Sled => "sled",
            Stage::Full => "full",
        }
    }

    fn parse(s: &str) -> Stage {
        Stage::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .unwrap_or(Stage::Full)
    }
}

/// The gateway's per-event work, in one process, with the same types and settings.
struct Pipeline {
    stage: Stage,
    table: Table,
    topics: Topics,
    mqtt: rumqttc::MqttState,
    out: BytesMut,
    batch: Vec<DirtyItem>,
    seq: u32,
    /// Encoded agent frame lengths (for the size figure).
    agent_frame_lens: Vec<usize>,
    published: u64,
    /// Events since the last save of changed records.
    since_save: usize,
}

/// Events between two saves of the changed records (the state stage saves every
/// `state::SAVE_EVERY`, 100 ms): 100 ms at 20,000 events/s, the rate of the peak-RSS run.
/// The faster the events come, the more changes to one record one write absorbs; this is that
/// rate's share, not the best case of a whole run in one save.
const EVENTS_PER_SAVE: usize = 2_000;

fn ids_of(corpus: &[String]) -> (Vec<Id>, Vec<Id>) {
    let mut users = Vec::new();
    let mut queues = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for f in corpus {
        let Some(rest) = f.split("\"topicName\":\"").nth(1) else {
            continue;
        };
        let topic = rest.split('"').next().unwrap_or("");
        let (list, id) = if let Some(r) = topic.strip_prefix("v2.users.") {
            (&mut users, r.get(..36))
        } else if let Some(r) = topic
            .strip_prefix("v2.routing.queues.")
            .or_else(|| topic.strip_prefix("v2.analytics.queues."))
        {
            (&mut queues, r.get(..36))
        } else {
            continue;
        };
        if let Some(id) = id.and_then(Id::parse) {
            if seen.insert(id) {
                list.push(id);
            }
        }
    }
    (users, queues)
}

impl Pipeline {
    fn new(corpus: &[String], tree: Option<sled::Tree>, stage: Stage) -> Pipeline {
        let (users, queues) = ids_of(corpus);
        // The implicit zone `all`, holding every agent (as queue membership would).
        let zones = Arc::new(Zones::new(
            vec![ZoneSpec {
                name: "all".into(),
                users: users.clone(),
                queues: queues.clone(),
                members_of_queues: true,
                all_agents: false,
                waiting_warning: 5,
                waiting_critical: 10,
            }],
            &[],
        ));
        let mut table = Table::new(
            Capacity {
                agents: 10_000,
                queues: 500,
            },
            zones,
            tree,
            Arc::new(Metrics::default()),
        );
        for u in &users {
            table.apply(&Update::Watch(*u), presence_gateway::state::now_ms());
        }
        let mut p = Pipeline {
            stage,
            table,
            topics: Topics::new("presence", "bench"),
            mqtt: rumqttc::MqttState::new(100, false),
            out: BytesMut::with_capacity(4096),
            batch: Vec::with_capacity(64),
            seq: 0,
            agent_frame_lens: Vec::new(),
            published: 0,
            since_save: 0,
        };
        // Publish what the watch created, so the loop measures changes only.
        p.publish_dirty();
        p.agent_frame_lens.clear();
        p.published = 0;
        p
    }

    /// One event: decode, apply, and publish what changed.
    fn event(&mut self, frame: &[u8]) {
        let parsed = decode::parse(frame, MAX_MESSAGE);
        if self.stage == Stage::Decode {
            std::hint::black_box(&parsed);
            return;
        }
        if let Ok(presence_gateway::message::Message::Event(ev)) = parsed {
            self.table
                .apply(&Update::Event(ev), presence_gateway::state::now_ms());
        }
        self.since_save += 1;
        if self.since_save >= EVENTS_PER_SAVE {
            self.since_save = 0;
            self.table.save_unsaved(usize::MAX);
        }
        if self.stage < Stage::Full {
            self.table.take_dirty(&mut self.batch, 64);
            std::hint::black_box(&self.batch);
            self.batch.clear();
            return;
        }
        self.publish_dirty();
    }

    fn publish_dirty(&mut self) {
        loop {
            self.table.take_dirty(&mut self.batch, 64);
            if self.batch.is_empty() {
                return;
            }
            let zones = self.table.zones_arc();
            for item in self.batch.drain(..) {
                for z in Zones::bits(item.zones) {
                    let Some(spec) = zones.specs().get(z) else {
                        continue;
                    };
                    self.seq = self.seq.wrapping_add(1);
                    let header = Header {
                        session: 1,
                        seq: self.seq,
                    };
                    let (topic, body) = match (&item.key, &item.value) {
                        (Key::Agent(id), Value::Agent(a)) => (
                            self.topics.agent(&spec.name, id),
                            Body::Agent(agent_frame(a, item.stale)),
                        ),
                        (Key::Queue(id), Value::Queue(q)) => (
                            self.topics.queue(&spec.name, id),
                            Body::Queue(queue_frame(q, spec)),
                        ),
                        _ => continue,
                    };
                    let is_agent = matches!(body, Body::Agent(_));
                    let mut buf = [0u8; presence_wire::MAX_FRAME_LEN];
                    let Ok(bytes) = presence_wire::encode(&Frame { header, body }, &mut buf) else {
                        continue;
                    };
                    if is_agent {
                        self.agent_frame_lens.push(bytes.len());
                    }
                    let mut publish = Publish::new(topic, QoS::AtLeastOnce, bytes.to_vec());
                    publish.retain = true;
                    if let Ok(Some(packet)) =
                        self.mqtt.handle_outgoing_packet(Request::Publish(publish))
                    {
                        let pkid = match &packet {
                            Packet::Publish(p) => p.pkid,
                            _ => 0,
                        };
                        let _ = packet.write(&mut self.out, 16 * 1024);
                        self.out.clear();
                        let _ = self
                            .mqtt
                            .handle_incoming_packet(Packet::PubAck(PubAck::new(pkid)));
                        self.mqtt.events.clear();
                        self.published += 1;
                    }
                }
            }
        }
    }
}

/// Child-process entry: `--micro <corpus> <events> <state dir> [stage]`. Runs `events` frames
/// of the corpus through [`Pipeline`] up to `stage` (sled under `state dir`, the rpi4 cache)
/// and prints one line.
pub fn micro_child(corpus: &Path, events: usize, state: &Path, stage: &str) {
    let stage = Stage::parse(stage);
    let text = std::fs::read_to_string(corpus).expect("corpus file");
    let frames: Vec<String> = text.lines().map(str::to_string).collect();
    let (store, _) = Store::open(state, SLED_CACHE, presence_gateway::app::SLED_FLUSH_MS)
        .expect("sled for the micro-bench");
    let tree = (stage >= Stage::Sled).then(|| store.records.clone());
    let mut p = Pipeline::new(&frames, tree, stage);
    let start = Instant::now();
    for f in frames.iter().cycle().take(events) {
        p.event(f.as_bytes());
    }
    p.table.save_unsaved(usize::MAX);
    let ns = start.elapsed().as_nanos();
    println!("micro events={events} published={} ns={ns}", p.published);
}

/// Instructions per event of `stage` from two callgrind runs of [`micro_child`] (`short` and
/// `long` events: the difference cancels start-up); Err(why) when callgrind cannot run here.
/// Also returns the native ns/event of the long run (outside callgrind).
pub fn instructions_per_event(
    corpus: &Path,
    short: usize,
    long: usize,
    work: &Path,
    stage: Stage,
) -> Result<MicroResult, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let tag = stage.name();
    // Native timing first (no valgrind): ns per event over the long run.
    let native = run_micro(&exe, None, corpus, long, &work.join("native"), stage)?;
    if !crate::machine::on_path("valgrind") {
        return Err(
            "valgrind is not installed (perf stat: instructions not supported here)".into(),
        );
    }
    let ir = |n: usize, which: &str| -> Result<Threads, String> {
        let out = work.join(format!("callgrind.{tag}.{which}.out"));
        run_micro(&exe, Some(&out), corpus, n, &work.join(which), stage)?;
        callgrind_threads(&out)
    };
    let a = ir(short, "short")?;
    let b = ir(long, "long")?;
    let events = (long - short) as f64;
    Ok(MicroResult {
        instructions_per_event: b.main.saturating_sub(a.main) as f64 / events,
        background_per_event: (b.others as f64 - a.others as f64) / events,
        ns_per_event: native.0 as f64 / long as f64,
        published_per_event: native.1 as f64 / long as f64,
        events: long - short,
    })
}

/// `valgrind --tool=callgrind` writing one file per thread to `out-NN` (see [`Threads`]),
/// after removing what an earlier run left there.
fn callgrind(out: &Path) -> Command {
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if let Ok(dir) = std::fs::read_dir(out.parent().unwrap_or(Path::new("."))) {
        for old in dir.flatten() {
            if old
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(name))
            {
                let _ = std::fs::remove_file(old.path());
            }
        }
    }
    let mut c = Command::new("valgrind");
    c.arg("--tool=callgrind")
        .arg("--separate-threads=yes")
        .arg(format!("--callgrind-out-file={}", out.display()));
    c
}

/// Instructions of one callgrind run, by thread (`--separate-threads=yes`).
#[derive(Clone, Copy, Debug)]
struct Threads {
    /// The main thread: the micro-bench's loop (and its start-up, the same in both runs).
    main: u64,
    /// Every other thread (sled's flusher and pool): work that follows the wall clock, not
    /// the events (one run counted 0.9 M, the next 474 M for the same 2,000 events).
    others: u64,
}

/// Reads the per-thread files callgrind writes for `out` with `--separate-threads=yes`
/// (`out-01` is the main thread, `out-02`… the others).
fn callgrind_threads(out: &Path) -> Result<Threads, String> {
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("callgrind output name")?;
    let dir = out.parent().ok_or("callgrind output directory")?;
    let mut t = Threads { main: 0, others: 0 };
    let mut seen = false;
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Some(n) = path
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_prefix(name))
            .and_then(|f| f.strip_prefix('-'))
            .and_then(|f| f.parse::<u32>().ok())
        else {
            continue;
        };
        let total = callgrind_total(&path)?;
        if n == 1 {
            t.main = total;
            seen = true;
        } else {
            t.others += total;
        }
    }
    if !seen {
        return Err(format!("no main-thread file {name}-01 from callgrind"));
    }
    Ok(t)
}

/// The instruction total of a callgrind output file.
fn callgrind_total(out: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(out).map_err(|e| format!("callgrind output: {e}"))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| "no summary line in the callgrind output".to_string())
}

/// The micro-bench's figures.
#[derive(Clone, Copy, Debug)]
pub struct MicroResult {
    /// Instructions per event on the thread that runs the events (callgrind, difference of
    /// two runs).
    pub instructions_per_event: f64,
    /// Instructions per event on every other thread (sled's), the same difference: noise
    /// that follows wall time, shown beside the figure, not in it.
    pub background_per_event: f64,
    /// Native nanoseconds per event (long run, wall clock, includes start-up of nothing).
    pub ns_per_event: f64,
    /// Frames published per event.
    pub published_per_event: f64,
    /// Events in the difference.
    pub events: usize,
}

fn run_micro(
    exe: &Path,
    callgrind_out: Option<&Path>,
    corpus: &Path,
    events: usize,
    state: &Path,
    stage: Stage,
) -> Result<(u128, u64), String> {
    let _ = std::fs::remove_dir_all(state);
    let mut cmd = match callgrind_out {
        Some(out) => {
            let mut c = callgrind(out);
            c.arg(exe);
            c
        }
        None => Command::new(exe),
    };
    let out = crate::machine::plain_env(&mut cmd)
        .arg("--micro")
        .arg(corpus)
        .arg(events.to_string())
        .arg(state)
        .arg(stage.name())
        .output()
        .map_err(|e| format!("micro-bench child: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("micro "))
        .ok_or_else(|| {
            format!(
                "micro-bench child failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )
        })?;
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse::<u128>().ok())
            .unwrap_or(0)
    };
    Ok((field("ns="), field("published=") as u64))
}

// ---------------------------------------------------------------------------------------------
// Frame sizes

/// Sizes of agent frames against the JSON they came from.
#[derive(Clone, Debug, Default)]
pub struct Sizes {
    /// Presence-carrying notifications in the corpus (`presence`, or `activity`: presence and
    /// routing in one, what the gateway subscribes since issue 9): whole message, bytes.
    pub presence_json: Vec<usize>,
    /// Their `eventBody` alone, bytes (compact JSON).
    pub presence_body: Vec<usize>,
    /// Every agent frame the pipeline produced from the corpus, bytes on the wire.
    pub agent_frames: Vec<usize>,
    /// The captured Genesys sample (`tests/fixtures/genesys/presence.json`), compact: message
    /// and eventBody bytes.
    pub sample: Option<(usize, usize)>,
    /// `decode::parse` alone by topic kind (last topic level): (kind, frames, mean bytes,
    /// mean ns per frame, native, in this process).
    pub decode_by_kind: Vec<(String, usize, usize, f64)>,
}

/// Runs the corpus through [`Pipeline`] in memory (no sled) and measures sizes.
pub fn sizes(corpus: &[String]) -> Sizes {
    let mut s = Sizes::default();
    for f in corpus {
        if f.contains(".presence\"") || f.contains(".activity\"") {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(f) {
                s.presence_json.push(f.len());
                s.presence_body.push(v["eventBody"].to_string().len());
            }
        }
    }
    let mut p = Pipeline::new(corpus, None, Stage::Full);
    for f in corpus {
        p.event(f.as_bytes());
    }
    s.agent_frames = p.agent_frame_lens;
    let mut kinds: std::collections::BTreeMap<String, Vec<&String>> = Default::default();
    for f in corpus {
        let topic = f
            .split("\"topicName\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("");
        let kind = topic.rsplit('.').next().unwrap_or("?").to_string();
        kinds.entry(kind).or_default().push(f);
    }
    for (kind, frames) in kinds {
        let bytes = frames.iter().map(|f| f.len()).sum::<usize>() / frames.len().max(1);
        let start = Instant::now();
        let rounds = 5;
        for _ in 0..rounds {
            for f in &frames {
                std::hint::black_box(decode::parse(f.as_bytes(), MAX_MESSAGE).is_ok());
            }
        }
        let ns = start.elapsed().as_nanos() as f64 / (rounds * frames.len().max(1)) as f64;
        s.decode_by_kind.push((kind, frames.len(), bytes, ns));
    }
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/genesys/presence.json"
    );
    if let Ok(text) = std::fs::read_to_string(sample) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            s.sample = Some((v.to_string().len(), v["eventBody"].to_string().len()));
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// sled alone

/// Child-process entry: `--sled-probe <copy of a gateway's sled dir> <writes> [cache bytes]`.
/// Opens it as the gateway does (rpi4 cache unless given, same flush period), rewrites its
/// records round robin `writes` times (each a real change), flushes, and prints its own
/// memory before and after.
pub fn sled_child(dir: &Path, writes: u64, cache: u64) {
    let (_, before) = crate::machine::own_rss_kib();
    let (store, _) = Store::open(dir, cache, presence_gateway::app::SLED_FLUSH_MS)
        .expect("open the copied sled");
    let mut records: Vec<(Vec<u8>, Value)> = store
        .records
        .iter()
        .filter_map(|r| r.ok())
        .filter_map(|(k, v)| Some((k.to_vec(), decode_record(&v)?)))
        .collect();
    // The probe's own copy of the records is not sled's: its heap bytes are subtracted.
    let own_kib = (records.capacity() * std::mem::size_of::<(Vec<u8>, Value)>()
        + records.iter().map(|(k, _)| k.capacity()).sum::<usize>())
    .div_ceil(1024);
    let n = records.len().max(1);
    let mut buf = [0u8; 256];
    for i in 0..writes {
        let Some((k, v)) = records.get_mut(i as usize % n) else {
            break;
        };
        match v {
            Value::Agent(a) => a.presence_ms += 1,
            Value::Queue(q) => q.observed_ms += 1,
        }
        if let Some(bytes) = encode_record(v, &mut buf) {
            let _ = store.records.insert(k.as_slice(), bytes);
        }
    }
    let _ = store.db.flush();
    let (rss, hwm) = crate::machine::own_rss_kib();
    println!(
        "sled records={} writes={writes} before_hwm_kib={before} hwm_kib={hwm} rss_kib={rss} own_kib={own_kib}",
        records.len()
    );
}

// ---------------------------------------------------------------------------------------------
// The durability point after a resync

/// Child-process entry: `--checkpoint-probe <empty dir> <records> <flush 0|1>`. Writes
/// `records` fresh agent records into a new store opened as the gateway opens it (what a resync
/// of that many agents writes), then, with `flush` = 1, the checkpoint's flush, timed. Under
/// callgrind the difference of the two runs is the flush's instruction count.
pub fn checkpoint_child(dir: &Path, records: u32, flush: bool) {
    // No background flush during the probe (under callgrind the writes take seconds): the
    // only flush is the checkpoint's.
    let (store, _) =
        Store::open(dir, SLED_CACHE, 3_600_000).expect("sled for the checkpoint probe");
    let mut buf = [0u8; 256];
    for i in 0..records {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&i.to_be_bytes());
        let v = Value::Agent(AgentRecord {
            presence_ms: 1_764_000_000_000 + u64::from(i),
            routing_ms: 1_764_000_000_000 + u64::from(i),
            confirmed_ms: 1_764_000_000_000,
            ..AgentRecord::default()
        });
        let bytes = encode_record(&v, &mut buf).expect("record fits");
        store
            .records
            .insert(Key::Agent(Id(id)).to_bytes(), bytes)
            .expect("insert");
    }
    let start = Instant::now();
    if flush {
        store.db.flush().expect("flush");
    }
    println!(
        "checkpoint records={records} flush_ns={}",
        start.elapsed().as_nanos()
    );
    // sled flushes when its last handle drops: exit without dropping, so the run without the
    // checkpoint really has no flush.
    std::mem::forget(store);
    std::process::exit(0);
}

/// (flush ns, flush instructions) of one checkpoint, or why it was not measured.
pub type CheckpointCost = Result<(u64, Option<u64>), String>;

/// The checkpoint after a resync of `records` agents: (flush wall time in ns, median of
/// `runs`; flush instructions from callgrind, None when valgrind is missing).
pub fn checkpoint_cost(
    records: u32,
    runs: usize,
    work: &Path,
) -> Result<(u64, Option<u64>), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let run = |i: usize, flush: bool, profile: Option<&Path>| -> Result<u64, String> {
        let dir = work.join(format!("checkpoint-{i}-{flush}"));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cmd = match profile {
            Some(out) => {
                let mut c = callgrind(out);
                c.arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = crate::machine::plain_env(&mut cmd)
            .arg("--checkpoint-probe")
            .arg(&dir)
            .arg(records.to_string())
            .arg(if flush { "1" } else { "0" })
            .output()
            .map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(&dir);
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("checkpoint "))
            .and_then(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("flush_ns="))
            })
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                format!(
                    "checkpoint probe printed nothing: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    };
    let mut times = (0..runs.max(1))
        .map(|i| run(i, true, None))
        .collect::<Result<Vec<u64>, String>>()?;
    times.sort_unstable();
    let median = times[times.len() / 2];
    if !crate::machine::on_path("valgrind") {
        return Ok((median, None));
    }
    let ir = |flush: bool| -> Result<u64, String> {
        let out = work.join(format!("callgrind.checkpoint.{flush}.out"));
        run(0, flush, Some(&out))?;
        // The flush runs on the main thread; sled's own threads follow the wall clock.
        callgrind_threads(&out).map(|t| t.main)
    };
    let (without, with) = (ir(false)?, ir(true)?);
    Ok((median, Some(with.saturating_sub(without))))
}

/// What sled alone holds: (VmHWM increase over the child's own start, records, writes).
pub fn sled_share(
    src: &Path,
    writes: u64,
    cache: u64,
    work: &Path,
) -> Result<(u64, u64, u64), String> {
    let copy = work.join("sled-copy");
    let _ = std::fs::remove_dir_all(&copy);
    let st = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(&copy)
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() {
        return Err(format!("cp -a {} failed", src.display()));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = crate::machine::plain_env(&mut Command::new(exe))
        .arg("--sled-probe")
        .arg(&copy)
        .arg(writes.to_string())
        .arg(cache.to_string())
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("sled "))
        .ok_or("sled probe printed nothing")?;
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let _ = std::fs::remove_dir_all(&copy);
    Ok((
        field("hwm_kib=")
            .saturating_sub(field("before_hwm_kib="))
            .saturating_sub(field("own_kib=")),
        field("records="),
        field("writes="),
    ))
}
