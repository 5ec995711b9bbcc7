//! The fleet view through MQTT bridges (README "Fleet view"): two sites, each a gateway
//! publishing to its own mosquitto, each mosquitto bridging `presence/{site}/#` out to one
//! central mosquitto (`connection`, `topic … out`, `notifications true`, mqttv311). A display
//! on the central broker sees both floors equal to their organisations' truth, both gateways'
//! `$state` and health, and the bridges' own liveness topic (`presence/{site}/bridge/$state`,
//! "1"/"0", kept true by the bridge's last will on the central broker), which tells "site
//! unreachable" (bridge 0, the site's last `$state` frozen) from "gateway lost" (bridge 1,
//! `$state` offline or lost).
//!
//! `presence-gateway fleet` reads those three topics of every site into one line per site; its
//! model ([`FleetWatch`]) is checked at every step, and the command itself at the end.
//!
//! Needs the `mosquitto` binary (bridges are a broker feature the embedded broker lacks): without
//! it the test says so and passes, except under `CI=true`, where it fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use genesys_sim::{Sim, SimConfig};
use presence_gateway::display::fleet::{FleetWatch, Verdict};
use presence_gateway::display::floor::Subscriber;
use presence_gateway::topics::Topics;

use crate::support::*;

/// Where mosquitto is, if installed.
fn mosquitto_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file())
}

/// A mosquitto process on a free loopback port, killed on drop.
struct Mosquitto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    fn start(bin: &PathBuf, extra: &str) -> Mosquitto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n{extra}"
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto");
        let mut m = Mosquitto {
            child,
            port,
            _dir: dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return m;
            }
            assert!(
                m.child.try_wait().unwrap().is_none(),
                "mosquitto exited at start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("mosquitto not listening on {port}");
    }

    fn addr(&self) -> (String, u16) {
        ("127.0.0.1".to_string(), self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The bridge section a site broker needs (what README "Fleet view" documents).
fn bridge(site: &str, central: u16) -> String {
    format!(
        "connection fleet-{site}\n\
         address 127.0.0.1:{central}\n\
         bridge_protocol_version mqttv311\n\
         topic presence/{site}/# out 1\n\
         notifications true\n\
         notification_topic presence/{site}/bridge/$state\n\
         restart_timeout 1\n"
    )
}

/// One site: its organisation, its gateway (publishing to its own broker), and a display of its
/// floor subscribed to the **central** broker.
struct Site {
    sim: Sim,
    gw: presence_gateway::app::Running,
    display: Subscriber,
    _dir: tempfile::TempDir,
}

async fn site(name: &str, seed: u64, broker: &(String, u16), central: &(String, u16)) -> Site {
    let sim = Sim::start(SimConfig {
        agents: 20,
        queues: 2,
        seed,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, broker, &dir.path().join("state"), name, "");
    let display = Subscriber::start(central.clone(), &Topics::new("presence", name), "all");
    let gw = presence_gateway::app::start(config)
        .await
        .expect("gateway starts");
    Site {
        sim,
        gw,
        display,
        _dir: dir,
    }
}

fn last(probe: &Probe, topic: &str) -> Option<String> {
    probe
        .on(topic)
        .last()
        .map(|p| String::from_utf8_lossy(p).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sites_bridged_to_a_central_broker_show_both_floors_and_tell_a_lost_site_from_a_lost_gateway(
) {
    init_logs();
    let Some(bin) = mosquitto_bin() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI needs mosquitto for the fleet test"
        );
        skipped("the fleet test: no mosquitto binary (apt install mosquitto)");
        return;
    };
    let central = Mosquitto::start(&bin, "");
    let mut lyon_broker = Mosquitto::start(&bin, &bridge("lyon", central.port));
    let oslo_broker = Mosquitto::start(&bin, &bridge("oslo", central.port));
    let probe = Probe::start(
        &central.addr(),
        &[
            "presence/+/gateway/$state".to_string(),
            "presence/+/gateway/health".to_string(),
            "presence/+/bridge/$state".to_string(),
        ],
    )
    .await;
    let fleet = FleetWatch::connect(central.addr(), &Default::default(), "presence");
    let verdict = |site: &str| fleet.snapshot().sites.get(site).map(|v| v.verdict());
    let long = Duration::from_secs(60);
    wait_for("both bridges up on the central broker", long, || {
        last(&probe, "presence/lyon/bridge/$state").as_deref() == Some("1")
            && last(&probe, "presence/oslo/bridge/$state").as_deref() == Some("1")
    })
    .await;

    let lyon = site("lyon", 31, &lyon_broker.addr(), &central.addr()).await;
    let oslo = site("oslo", 32, &oslo_broker.addr(), &central.addr()).await;
    // Both floors, as seen on the central broker, equal their organisations' truth.
    for s in [&lyon, &oslo] {
        s.sim.step(200);
    }
    converge(&lyon.sim, &lyon.display, long).await;
    converge(&oslo.sim, &oslo.display, long).await;
    wait_for(
        "both gateways online, with health, on the central broker",
        long,
        || {
            ["lyon", "oslo"].iter().all(|s| {
                last(&probe, &format!("presence/{s}/gateway/$state")).as_deref() == Some("online")
                    && last(&probe, &format!("presence/{s}/gateway/health"))
                        .is_some_and(|h| h.contains("\"status\""))
            })
        },
    )
    .await;
    wait_for(
        "the fleet view: both sites ok, 20 agents each",
        long,
        || {
            let f = fleet.snapshot();
            ["lyon", "oslo"].iter().all(|s| {
                f.sites.get(*s).is_some_and(|v| {
                    v.verdict() == Verdict::Ok
                        && v.health.as_ref().is_some_and(|h| {
                            h.agents == 20 && h.queues == 2 && h.last_resync_age_s.is_some()
                        })
                })
            })
        },
    )
    .await;

    // Site unreachable: the site's broker goes away. The central broker runs the bridge's last
    // will (bridge 0); the gateway's `$state` there stays what it last was (online): a fleet
    // view must read the bridge first.
    lyon_broker.stop();
    wait_for("lyon's bridge down on the central broker", long, || {
        last(&probe, "presence/lyon/bridge/$state").as_deref() == Some("0")
    })
    .await;
    assert_eq!(
        last(&probe, "presence/lyon/gateway/$state").as_deref(),
        Some("online"),
        "the unreachable site's $state is frozen at its last value"
    );
    wait_for("the fleet view: lyon unreachable", long, || {
        verdict("lyon") == Some(Verdict::Unreachable)
    })
    .await;

    // Gateway lost: oslo's gateway stops while its bridge stays up: `$state` offline.
    oslo.gw.stop().await;
    wait_for("oslo's gateway offline on the central broker", long, || {
        last(&probe, "presence/oslo/gateway/$state").as_deref() == Some("offline")
    })
    .await;
    assert_eq!(
        last(&probe, "presence/oslo/bridge/$state").as_deref(),
        Some("1"),
        "oslo's site is reachable: its bridge is up"
    );
    wait_for("the fleet view: oslo offline", long, || {
        verdict("oslo") == Some(Verdict::Offline)
    })
    .await;
    assert_eq!(verdict("lyon"), Some(Verdict::Unreachable));

    // The command an operator runs: one line per site, from retained messages alone.
    let out = gateway_command()
        .args(["fleet", "--broker", &format!("127.0.0.1:{}", central.port)])
        .args(["--once", "2"])
        .output()
        .expect("run presence-gateway fleet");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fleet exited {:?}: {text}",
        out.status
    );
    let line = |site: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.starts_with(site))
            .unwrap_or_else(|| panic!("no {site} line in:\n{text}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        line("lyon")[1..4],
        ["UNREACHABLE", "down", "online"],
        "{text}"
    );
    assert_eq!(line("oslo")[1..4], ["OFFLINE", "up", "offline"], "{text}");
    assert_eq!(line("oslo")[4..6], ["20", "2"], "{text}");
    lyon.gw.stop().await;
}
