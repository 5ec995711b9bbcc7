//! The golden frames as files, `wire/golden/*.bin`: one per example of WIRE.md §5 plus the
//! cases a display must tell apart (every figure unknown, a cleared topic, an unknown body kind
//! from a newer gateway, an unknown version). The C and JavaScript decoders (`displays/`) are
//! run over these files in CI and must print what `presence-gateway decode` prints for each.
//!
//! This test fails when a file differs from what the encoder produces now; `PG_BLESS=1 cargo
//! test -p presence-wire --test golden_files` rewrites them (a wire change: see WIRE.md §7.1).

use std::path::PathBuf;

use presence_wire::{
    encode, encode_heatmap, AgentFrame, Body, DisplayName, Frame, Header, HeatmapFrame,
    Interaction, Level, Media, Minutes, Presence, QueueFrame, RosterFrame, Routing,
    HEATMAP_MINUTES, MAX_FRAME_LEN, MAX_HEATMAP_LEN,
};

fn frame(session: u32, seq: u32, body: Body) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME_LEN];
    encode(
        &Frame {
            header: Header { session, seq },
            body,
        },
        &mut buf,
    )
    .expect("fits MAX_FRAME_LEN")
    .to_vec()
}

/// Every golden file: name → bytes.
fn golden() -> Vec<(&'static str, Vec<u8>)> {
    let agent = Body::Agent(AgentFrame {
        presence: Presence::OnQueue,
        presence_since: 1_735_551_598,
        routing: Routing::Interacting,
        routing_since: 1_735_551_631,
        media: Media::Call,
        interaction: Interaction::Connected,
        interaction_since: 1_735_551_631,
        flags: AgentFrame::WRAPUP,
    });
    let queue = QueueFrame {
        waiting: Some(12),
        interacting: Some(4),
        alerting: Some(1),
        on_queue: Some(9),
        off_queue: Some(3),
        longest_waiting_s: Some(95),
        observed: 1_735_551_598,
        offered: Some(120),
        answered: None,
        abandoned: Some(10),
        service_level_pct: Some(87),
        level: Level::Critical,
    };
    let mut counts = Minutes::default();
    counts.0[0] = 1;
    counts.0[HEATMAP_MINUTES - 1] = 300;
    let heatmap = HeatmapFrame {
        header: Header { session: 1, seq: 2 },
        end_minute: 29_000_000,
        counts,
    };
    let mut hbuf = [0u8; MAX_HEATMAP_LEN];
    let heatmap = encode_heatmap(&heatmap, &mut hbuf).unwrap().to_vec();
    let mut newer_kind = frame(3, 7, Body::Roster(RosterFrame::default()));
    newer_kind.truncate(3);
    newer_kind.extend_from_slice(&[0x04, 0x42, 0x42]);
    let mut newer_version = frame(3, 7, agent);
    newer_version[0] = 3;
    vec![
        ("agent.bin", frame(3, 1000, agent)),
        (
            "agent_away_unknown_times.bin",
            frame(
                1,
                1,
                Body::Agent(AgentFrame {
                    presence: Presence::Away,
                    flags: AgentFrame::STALE | AgentFrame::OUT_OF_OFFICE,
                    ..AgentFrame::default()
                }),
            ),
        ),
        ("queue.bin", frame(1, 2, Body::Queue(queue))),
        (
            "queue_unknown.bin",
            frame(1, 1, Body::Queue(QueueFrame::default())),
        ),
        (
            "queue_max.bin",
            frame(
                u32::MAX,
                u32::MAX,
                Body::Queue(QueueFrame {
                    waiting: Some(u16::MAX),
                    interacting: Some(0),
                    alerting: Some(u16::MAX),
                    on_queue: Some(u16::MAX),
                    off_queue: Some(u16::MAX),
                    longest_waiting_s: Some(u32::MAX),
                    observed: u32::MAX,
                    offered: Some(u16::MAX),
                    answered: Some(u16::MAX),
                    abandoned: Some(u16::MAX),
                    service_level_pct: Some(100),
                    level: Level::Warning,
                }),
            ),
        ),
        ("name.bin", frame(2, 5, Body::Name(DisplayName::new("Ana")))),
        (
            "name_utf8.bin",
            frame(
                2,
                6,
                Body::Name(DisplayName::new("Chloé \"Zoë\" Müller-Łukasiewicz")),
            ),
        ),
        (
            "name_empty.bin",
            frame(2, 7, Body::Name(DisplayName::new(""))),
        ),
        (
            "roster.bin",
            frame(
                1,
                9,
                Body::Roster(RosterFrame {
                    agents: 300,
                    queues: 4,
                    generation: 2,
                }),
            ),
        ),
        ("heatmap.bin", heatmap),
        ("cleared.bin", Vec::new()),
        ("newer_kind.bin", newer_kind),
        ("newer_version.bin", newer_version),
    ]
}

#[test]
fn golden_files_are_what_the_encoder_writes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden");
    let bless = std::env::var_os("PG_BLESS").is_some();
    if bless {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut stale = Vec::new();
    for (name, bytes) in golden() {
        let path = dir.join(name);
        if bless {
            std::fs::write(&path, &bytes).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            stale.push(name);
        }
    }
    let mut listed: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bin"))
        .collect();
    listed.sort();
    let mut want: Vec<String> = golden().iter().map(|(n, _)| (*n).to_string()).collect();
    want.sort();
    assert_eq!(listed, want, "wire/golden holds exactly the golden files");
    assert!(
        stale.is_empty(),
        "{stale:?} differ from the encoder's bytes: a wire change? (WIRE.md §7.1; PG_BLESS=1 rewrites)"
    );
}
