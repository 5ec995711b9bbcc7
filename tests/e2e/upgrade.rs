//! Upgrades keep state (issue 4, item 6): a sled directory written by an older build (records
//! of an older format version and layout, keys it no longer understands, records of the
//! current version) is opened by this build without a panic and without a crash loop. Current
//! records are restored; every other entry is dropped, counted (`records_dropped`) and
//! removed from sled; the session counter continues. End to end, a gateway started on such a
//! directory, or on one sled cannot open at all (quarantined), converges to the simulator's
//! ground truth: what was dropped is rebuilt through resync. The "older build" store is
//! written with sled's default 512 KiB log segments, as every build before
//! `state::SEGMENT_BYTES` wrote it: opening it exercises the rewrite to 64 KiB too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use presence_gateway::display::Subscriber;
use presence_gateway::event::{Id, Presence, Routing};
use presence_gateway::metrics::Metrics;
use presence_gateway::state::{
    encode_record, AgentRecord, Capacity, Key, QueueRecord, Store, Table, Value, RECORD_VERSION,
};
use presence_gateway::topics::Topics;
use presence_gateway::zones::Zones;
use serde::Serialize;

/// sled settings as the gateway uses them (cache, flush period), small for tests.
const CACHE: u64 = 1 << 20;
const FLUSH_MS: u64 = 100;

/// The record layout of the previous release, format version 0: presence and routing only,
/// times in Unix seconds (no interaction, no queue membership, no name).
#[derive(Serialize)]
struct AgentRecordV0 {
    presence: u8,
    presence_since_s: u32,
    routing: u8,
    routing_since_s: u32,
}

/// Version 0 queue record: waiting and on-queue counts only.
#[derive(Serialize)]
struct QueueRecordV0 {
    waiting: u16,
    on_queue: u16,
}

fn v0<T: Serialize>(r: &T) -> Vec<u8> {
    let mut buf = [0u8; 64];
    buf[0] = 0; // the version byte of the previous release
    let n = postcard::to_slice(r, &mut buf[1..])
        .expect("v0 record")
        .len();
    buf[..=n].to_vec()
}

fn current(v: &Value) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let bytes = encode_record(v, &mut buf).expect("current record").to_vec();
    assert_eq!(bytes[0], RECORD_VERSION);
    bytes
}

fn id(n: u8) -> Id {
    Id([n; 16])
}

/// What the old build left behind, by category.
struct Written {
    /// Current-version records, to be restored.
    kept: Vec<(Key, Value)>,
    /// Entries to be dropped (old or future version, corrupt, unparsable key).
    dropped: usize,
}

/// Writes an "older build" directory: the session counter at `session`, current-version
/// records `kept`, version-0 records for `old_agents`/`old_queues`, plus garbage.
fn write_old_store(
    dir: &Path,
    session: u32,
    kept: &[(Key, Value)],
    old_agents: &[Id],
    old_queues: &[Id],
) -> Written {
    let db = sled::Config::new().path(dir).open().expect("sled");
    db.insert(b"session", &session.to_le_bytes()).unwrap();
    let records = db.open_tree("records").unwrap();
    let mut dropped = 0;
    for (k, v) in kept {
        records.insert(k.to_bytes(), current(v)).unwrap();
    }
    for (n, user) in old_agents.iter().enumerate() {
        let r = AgentRecordV0 {
            presence: 3,
            presence_since_s: 1_600_000_000 + n as u32,
            routing: 1,
            routing_since_s: 1_600_000_000,
        };
        records
            .insert(Key::Agent(*user).to_bytes(), v0(&r))
            .unwrap();
        dropped += 1;
    }
    for q in old_queues {
        let r = QueueRecordV0 {
            waiting: 9,
            on_queue: 4,
        };
        records.insert(Key::Queue(*q).to_bytes(), v0(&r)).unwrap();
        dropped += 1;
    }
    // A record from a newer release (rollback): unknown version, dropped the same way.
    let mut future = current(&Value::Agent(AgentRecord::default()));
    future[0] = RECORD_VERSION + 1;
    records
        .insert(Key::Agent(id(200)).to_bytes(), future)
        .unwrap();
    // A current-version record cut short (torn write of an old build).
    let mut torn = current(&Value::Queue(QueueRecord {
        waiting: Some(3),
        observed_ms: 5,
        ..QueueRecord::default()
    }));
    torn.truncate(3);
    records
        .insert(Key::Queue(id(201)).to_bytes(), torn)
        .unwrap();
    // Keys this build does not understand: too short, unknown kind byte, a text key.
    records
        .insert(b"a12", current(&Value::Agent(AgentRecord::default())))
        .unwrap();
    let mut odd = Key::Agent(id(202)).to_bytes();
    odd[0] = b'z';
    records.insert(odd, b"\x01\x00".to_vec()).unwrap();
    records.insert(b"meta:layout", b"v0".to_vec()).unwrap();
    // An empty value.
    records
        .insert(Key::Agent(id(203)).to_bytes(), Vec::new())
        .unwrap();
    dropped += 6;
    db.flush().unwrap();
    Written {
        kept: kept.to_vec(),
        dropped,
    }
}

fn agent(p: Presence, ms: u64, r: Routing) -> Value {
    Value::Agent(AgentRecord {
        presence: p,
        presence_ms: ms,
        routing: r,
        routing_ms: ms,
        name: heapless::String::try_from("Old Build").unwrap(),
        ..AgentRecord::default()
    })
}

fn open_table(dir: &Path, metrics: Arc<Metrics>) -> (Store, Table, usize) {
    let (store, quarantined) = Store::open(dir, CACHE, FLUSH_MS).expect("store opens");
    assert!(!quarantined, "a readable store must not be quarantined");
    let mut table = Table::new(
        Capacity {
            agents: 100,
            queues: 10,
        },
        Arc::new(Zones::new(vec![], &[id(9)])),
        Some(store.records.clone()),
        metrics,
    );
    let loaded = table.load();
    (store, table, loaded)
}

#[test]
fn previous_version_store_keeps_current_records_and_drops_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let kept = vec![
        (
            Key::Agent(id(1)),
            agent(Presence::OnQueue, 1_700_000_000_000, Routing::Interacting),
        ),
        (
            Key::Agent(id(2)),
            agent(Presence::Break, 1_700_000_000_500, Routing::OffQueue),
        ),
        (
            Key::Queue(id(9)),
            Value::Queue(QueueRecord {
                waiting: Some(4),
                on_queue: Some(7),
                observed_ms: 1_700_000_000_000,
                ..QueueRecord::default()
            }),
        ),
    ];
    let written = write_old_store(&path, 41, &kept, &[id(3), id(4), id(5)], &[id(10)]);

    let metrics = Arc::new(Metrics::default());
    let (store, table, loaded) = open_table(&path, metrics.clone());
    assert_eq!(store.session, 42, "the session counter continues");
    assert_eq!(loaded, written.kept.len());
    for (k, v) in &written.kept {
        assert_eq!(table.get(k), Some(v), "{k:?} restored as written");
    }
    for old in [id(3), id(4), id(5), id(200), id(203)] {
        assert_eq!(table.get(&Key::Agent(old)), None);
    }
    assert_eq!(table.get(&Key::Queue(id(10))), None);
    assert_eq!(
        metrics.state.records_dropped.get(),
        written.dropped as u64,
        "every old, future, torn or unparsable entry is counted"
    );
    // Restored records are all dirty: republished at boot, before any upstream answer.
    assert_eq!(table.dirty_len(), written.kept.len());
    // Dropped entries are gone from sled: only the current records remain.
    let mut left: Vec<Vec<u8>> = store
        .records
        .iter()
        .keys()
        .map(|k| k.unwrap().to_vec())
        .collect();
    left.sort();
    let mut want: Vec<Vec<u8>> = written
        .kept
        .iter()
        .map(|(k, _)| k.to_bytes().to_vec())
        .collect();
    want.sort();
    assert_eq!(left, want);
    drop(table);
    store.db.flush().unwrap();
    drop(store);

    // The next boot finds a clean store: nothing more to drop, same records, next session.
    let metrics = Arc::new(Metrics::default());
    let (store, table, loaded) = open_table(&path, metrics.clone());
    assert_eq!(store.session, 43);
    assert_eq!(loaded, written.kept.len());
    assert_eq!(metrics.state.records_dropped.get(), 0);
    for (k, v) in &written.kept {
        assert_eq!(table.get(k), Some(v));
    }
}

/// Starts a display and the gateway on `state` for `sim`.
async fn start_gateway(
    sim: &genesys_sim::Sim,
    broker: &(String, u16),
    state: &Path,
    site: &str,
) -> (Subscriber, presence_gateway::app::Running) {
    let config = config(sim, broker, state, site, "");
    let topics = Topics::new(&config.mqtt.topic_prefix, &config.site.id);
    let display = Subscriber::start(broker.clone(), &topics, "all");
    let gw = presence_gateway::app::start(config)
        .await
        .expect("the gateway starts on an upgraded or damaged store");
    (display, gw)
}

fn sim_ids(sim: &genesys_sim::Sim) -> (Vec<Id>, Vec<Id>) {
    let truth = sim.truth();
    let agents = truth
        .agents
        .keys()
        .map(|s| Id::parse(s).expect("uuid"))
        .collect();
    let queues = sim
        .queues()
        .iter()
        .map(|s| Id::parse(s).expect("uuid"))
        .collect();
    (agents, queues)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_on_a_previous_version_store_rebuilds_through_resync_and_converges() {
    let sim = sim(60, 3, 11).await;
    let broker = broker();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (agents, queues) = sim_ids(&sim);
    // The old build knew every agent and queue: half the agents and the first queue in the
    // current format but out of date (ancient timestamps, wrong values), the rest in v0.
    let half = agents.len() / 2;
    let mut kept: Vec<(Key, Value)> = agents[..half]
        .iter()
        .map(|a| {
            (
                Key::Agent(*a),
                agent(Presence::Offline, 1, Routing::OffQueue),
            )
        })
        .collect();
    kept.push((
        Key::Queue(queues[0]),
        Value::Queue(QueueRecord {
            waiting: Some(99),
            on_queue: Some(99),
            observed_ms: 1,
            ..QueueRecord::default()
        }),
    ));
    let written = write_old_store(&state, 6, &kept, &agents[half..], &queues[1..]);

    let site = site_id("upgrade");
    let (display, gw) = start_gateway(&sim, &broker, &state, &site).await;
    assert_eq!(
        gw.session, 7,
        "the session counter continues across the upgrade"
    );
    assert_eq!(
        gw.metrics.state.records_dropped.get(),
        written.dropped as u64
    );
    converge(&sim, &display, Duration::from_secs(60)).await;
    assert!(
        gw.metrics.upstream.resyncs.get() >= 1,
        "rebuilt by a resync"
    );
    // Live events after the rebuild still flow.
    sim.step(200);
    converge(&sim, &display, Duration::from_secs(60)).await;
    assert_eq!(display.snapshot().bad_frames, 0);
    gw.stop().await;

    // Everything the gateway now holds is stored in the current format: a further restart
    // drops nothing and restores every agent and queue.
    let metrics = Arc::new(Metrics::default());
    let (store, _table, loaded) = open_table(&state, metrics.clone());
    assert_eq!(store.session, 8);
    assert_eq!(metrics.state.records_dropped.get(), 0);
    assert!(
        loaded >= agents.len() + queues.len(),
        "loaded {loaded}, want every agent and queue"
    );
    for item in store.records.iter() {
        let (_, v) = item.unwrap();
        assert_eq!(v[0], RECORD_VERSION);
    }
}

fn quarantined_dirs(parent: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(parent)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("state.corrupt-")
        })
        .map(|e| e.path())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_store_is_quarantined_and_the_gateway_starts_and_converges() {
    let sim = sim(40, 2, 13).await;
    let broker = broker();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // What a power cut in the middle of an old build's sled metadata write can leave.
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("conf"), b"\xff\xfe not a sled config").unwrap();
    std::fs::write(state.join("db"), vec![0xAB; 8192]).unwrap();

    let site = site_id("quarantine");
    let (display, gw) = start_gateway(&sim, &broker, &state, &site).await;
    let aside = quarantined_dirs(dir.path());
    assert_eq!(aside.len(), 1, "the unreadable store is moved aside once");
    assert_eq!(
        std::fs::read(aside[0].join("db")).unwrap(),
        vec![0xAB; 8192],
        "kept intact for a post-mortem"
    );
    assert_eq!(gw.session, 1, "a fresh store starts a fresh session count");
    converge(&sim, &display, Duration::from_secs(60)).await;
    gw.stop().await;

    // Restart on the rebuilt store: no second quarantine, state restored from sled.
    let (display, gw) = start_gateway(&sim, &broker, &state, &site).await;
    assert_eq!(quarantined_dirs(dir.path()).len(), 1);
    assert_eq!(gw.session, 2);
    assert_eq!(gw.metrics.state.records_dropped.get(), 0);
    assert!(
        gw.metrics.state.agents.get() >= 40,
        "agents restored from sled"
    );
    converge(&sim, &display, Duration::from_secs(60)).await;
    gw.stop().await;
}
