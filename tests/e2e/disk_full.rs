//! Disk full (issue 6): the gateway's state directory sits on a small tmpfs of the test's own,
//! which a filler file fills up while the floor keeps changing. The display must keep
//! following the simulator's ground truth (published from memory), the health document must
//! raise `storage_alarm` and the audit trail say so; once the filler is deleted the alarm
//! must clear and the store on disk must hold the latest state, including every change made
//! while it could not be written (read back after the gateway stopped).
//!
//! Mounting needs root (as in CI and the dev container); elsewhere the test says why and
//! passes. `mount` is a host command, so this runs under qemu-user too (`PG_TEST_RUNNER`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use presence_gateway::display::Floor;
use presence_gateway::metrics::Metrics;
use presence_gateway::publish::{agent_frame, queue_frame};
use presence_gateway::state::{Capacity, Key, Store, Table, Value};
use presence_gateway::testkit::Tmpfs;
use presence_gateway::topics::Topics;
use presence_gateway::zones::{ZoneSpec, Zones};

/// Room for the gateway's sled store of a few dozen agents, and little more: the filler
/// takes the rest.
const TMPFS_SIZE: &str = "16m";

const CONVERGE: Duration = Duration::from_secs(90);

/// Drives the simulator in small steps until `done`, panicking with `what` after `timeout`.
async fn step_until(
    sim: &genesys_sim::Sim,
    what: &str,
    timeout: Duration,
    done: impl Fn() -> bool,
) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        sim.step(20);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the store in `dir` holds, as a display would decode it: the frames the gateway
/// would publish for every record. (`Store::open` waits for the stopped gateway's file lock.)
async fn stored_floor(dir: &Path) -> Floor {
    let (store, quarantined) = Store::open(dir, 1 << 20, presence_gateway::app::SLED_FLUSH_MS)
        .expect("store opens after the gateway stopped");
    assert!(!quarantined, "the store must still be readable");
    let mut table = Table::new(
        Capacity {
            agents: 1000,
            queues: 100,
        },
        Arc::new(Zones::new(vec![], &[])),
        Some(store.records.clone()),
        Arc::new(Metrics::default()),
    );
    table.load();
    // Only the queue counts are compared, never the level: any thresholds do.
    let zone = ZoneSpec {
        name: "all".into(),
        users: vec![],
        queues: vec![],
        members_of_queues: true,
        all_agents: false,
        waiting_warning: 5,
        waiting_critical: 10,
    };
    let mut floor = Floor::default();
    for (key, value) in table.iter() {
        match (key, value) {
            (Key::Agent(id), Value::Agent(a)) => {
                floor.agents.insert(id.to_string(), agent_frame(a, false));
            }
            (Key::Queue(id), Value::Queue(q)) => {
                floor.queues.insert(id.to_string(), queue_frame(q, &zone));
            }
            _ => {}
        }
    }
    floor
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_keeps_publishing_from_memory_raises_the_alarm_and_recovers() {
    let fs = match Tmpfs::mount(TMPFS_SIZE) {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED disk_full_keeps_publishing_from_memory…: {why}");
            return;
        }
    };
    let sim = sim(40, 3, 31).await;
    let broker = broker();
    let site = site_id("diskfull");
    let state = fs.path().join("state");
    let config = config(&sim, &broker, &state, &site, "");
    let topics = Topics::new(&config.mqtt.topic_prefix, &config.site.id);
    let (health, audit) = (topics.health(), topics.audit());
    let watcher = Probe::start(&broker, &[format!("{}/gateway/#", topics.base())]).await;
    let display = presence_gateway::display::Subscriber::start(broker.clone(), &topics, "all");
    let gw = presence_gateway::app::start(config)
        .await
        .expect("gateway starts");
    let m = gw.metrics.clone();
    wait_for("first resync", CONVERGE, || m.upstream.resyncs.get() >= 1).await;
    converge(&sim, &display, CONVERGE).await;
    let last_health = || {
        watcher
            .on(&health)
            .last()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default()
    };
    wait_for("a health document", CONVERGE, || {
        last_health().contains("\"storage_alarm\":false")
    })
    .await;
    assert_eq!(m.state.store_faults.get(), 0);

    // The disk fills up. sled finds out when it next writes its log (its own flush every
    // 500 ms, or the gateway's upkeep flush): the floor keeps changing until then.
    let filler = fs.fill();
    step_until(
        &sim,
        "the store to degrade on the full disk",
        CONVERGE,
        || m.state.store_degraded.get() == 1,
    )
    .await;
    // More changes while nothing can be written: displays follow them from memory.
    let held_before = m.state.persist_errors.get();
    for _ in 0..5 {
        sim.step(60);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = converge(&sim, &display, CONVERGE).await;
    eprintln!("display converged {took:?} after changes made on a full disk");
    assert!(
        m.state.persist_errors.get() > held_before,
        "writes held back while degraded are counted"
    );
    wait_for("storage_alarm in the health document", CONVERGE, || {
        last_health().contains("\"storage_alarm\":true")
    })
    .await;
    let audited = |needle: &str| {
        watcher.on(&audit).iter().any(|p| {
            let text = String::from_utf8_lossy(p);
            text.contains("\"kind\":\"store\"") && text.contains(needle)
        })
    };
    wait_for("the audit event for degraded", CONVERGE, || {
        audited("degraded")
    })
    .await;
    // Retries run on every metrics tick; with the disk still full, none may succeed.
    let attempts = m.state.store_recovery_attempts.get();
    wait_for(
        "two more recovery attempts on the full disk",
        CONVERGE,
        || m.state.store_recovery_attempts.get() >= attempts + 2,
    )
    .await;
    assert_eq!(
        m.state.store_degraded.get(),
        1,
        "recovered on a disk that is still full"
    );
    assert_eq!(m.state.store_faults.get(), 1, "one degraded episode");
    assert_eq!(m.state.store_recoveries.get(), 0);

    // Space comes back: the store is reopened and rewritten from memory, the alarm clears.
    std::fs::remove_file(&filler).expect("delete the filler");
    wait_for("recovery", CONVERGE, || {
        m.state.store_recoveries.get() == 1 && m.state.store_degraded.get() == 0
    })
    .await;
    wait_for("storage_alarm cleared in health", CONVERGE, || {
        last_health().contains("\"storage_alarm\":false")
    })
    .await;
    wait_for("the audit event for recovered", CONVERGE, || {
        audited("recovered")
    })
    .await;
    let metrics_doc = watcher
        .on(&topics.metrics())
        .last()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default();
    assert!(
        metrics_doc.contains("\"store_faults\":1"),
        "metrics document counts the episode: {metrics_doc}"
    );
    converge(&sim, &display, CONVERGE).await;

    // No change since the recovery: what is on disk now came from the rewrite. It must be
    // the truth, the changes made on the full disk included.
    gw.stop().await;
    let stored = stored_floor(&state).await;
    let d = diff(&stored, &sim.truth());
    assert!(
        d.is_empty(),
        "the store on disk is not the latest state: {} differences, first: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
    drop(watcher);
    drop(display);
}

/// Issue 18: a disk already full at boot does not keep the floor dark. The gateway starts from
/// memory with the store degraded (alarm, audit), the display follows the cloud, and once space
/// returns the store is opened and written from memory: it then holds the truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_full_at_boot_starts_from_memory_and_writes_the_store_once_space_returns() {
    let fs = match Tmpfs::mount(TMPFS_SIZE) {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED a_disk_full_at_boot…: {why}");
            return;
        }
    };
    let sim = sim(30, 2, 37).await;
    let broker = broker();
    let site = site_id("fullboot");
    let state = fs.path().join("state");
    // A store from an earlier run, then the disk fills while the gateway is off.
    drop(Store::open(&state, 1 << 20, presence_gateway::app::SLED_FLUSH_MS).expect("first store"));
    let filler = fs.fill();
    let config = config(&sim, &broker, &state, &site, "");
    let topics = Topics::new(&config.mqtt.topic_prefix, &config.site.id);
    let (health, audit) = (topics.health(), topics.audit());
    let watcher = Probe::start(&broker, &[format!("{}/gateway/#", topics.base())]).await;
    let display = presence_gateway::display::Subscriber::start(broker.clone(), &topics, "all");
    let gw = presence_gateway::app::start(config)
        .await
        .expect("a full disk at boot is not a reason to stay dark");
    let m = gw.metrics.clone();
    assert_eq!(m.state.store_degraded.get(), 1, "degraded from the start");
    converge(&sim, &display, CONVERGE).await;
    wait_for("storage_alarm in the health document", CONVERGE, || {
        watcher
            .on(&health)
            .last()
            .is_some_and(|p| String::from_utf8_lossy(p).contains("\"storage_alarm\":true"))
    })
    .await;
    wait_for("the audit event for degraded", CONVERGE, || {
        watcher.on(&audit).iter().any(|p| {
            let text = String::from_utf8_lossy(p);
            text.contains("\"kind\":\"store\"") && text.contains("disk full at boot")
        })
    })
    .await;
    sim.step(60);
    converge(&sim, &display, CONVERGE).await;

    // Space returns: the store is opened and every record written from memory.
    std::fs::remove_file(&filler).expect("delete the filler");
    wait_for("recovery", CONVERGE, || {
        m.state.store_recoveries.get() == 1 && m.state.store_degraded.get() == 0
    })
    .await;
    converge(&sim, &display, CONVERGE).await;
    gw.stop().await;
    let stored = stored_floor(&state).await;
    let d = diff(&stored, &sim.truth());
    assert!(
        d.is_empty(),
        "the store written after the recovery is not the truth: {} differences, first: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
    drop(watcher);
    drop(display);
}
