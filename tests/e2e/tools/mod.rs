//! Shared by the display-tool tests (`display.rs`, `decode_cli.rs`): a small MQTT publisher
//! that plays the gateway's part (retained postcard frames and `$state` on a site's topics),
//! a fixed floor of agents and queues to publish or render, and frame encoding.
#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

use presence_gateway::display::Floor;
use presence_wire::{
    AgentFrame, Body, DisplayName, Frame, Header, HeatmapFrame, Interaction, Level, Media, Minutes,
    Presence, QueueFrame, RosterFrame, Routing, HEATMAP_MINUTES,
};

/// The clock every fixed floor is rendered at: 2024-12-30 09:41:40 UTC.
pub const NOW: u64 = 1_735_551_700;

/// The session the fixed frames carry.
pub const SESSION: u32 = 3;

/// Encodes a frame with `seq`.
pub fn frame(seq: u32, body: Body) -> Vec<u8> {
    let mut buf = [0u8; presence_wire::MAX_FRAME_LEN];
    presence_wire::encode(
        &Frame {
            header: Header {
                session: SESSION,
                seq,
            },
            body,
        },
        &mut buf,
    )
    .expect("frame fits")
    .to_vec()
}

/// Encodes a heatmap.
pub fn heatmap_bytes(h: &HeatmapFrame) -> Vec<u8> {
    let mut buf = vec![0u8; presence_wire::MAX_HEATMAP_LEN];
    presence_wire::encode_heatmap(h, &mut buf)
        .expect("heatmap fits")
        .to_vec()
}

/// Queue ids of the fixed floor: critical, warning, normal.
pub const QUEUES: [&str; 3] = [
    "788c3a6d-8b4f-4a2d-a2bc-ffc815bba881",
    "a1b2c3d4-0000-4000-8000-000000000002",
    "f00dbabe-0000-4000-8000-000000000003",
];

/// Agent ids of the fixed floor and their names (the last has none: short id shown).
pub const AGENTS: [(&str, Option<&str>); 5] = [
    ("11111111-0000-4000-8000-000000000001", Some("Ana Lopez")),
    ("22222222-0000-4000-8000-000000000002", Some("Ben Okafor")),
    ("33333333-0000-4000-8000-000000000003", Some("Chloé Martin")),
    ("44444444-0000-4000-8000-000000000004", Some("Dev Patel")),
    ("5e5e5e5e-0000-4000-8000-000000000005", None),
];

/// The fixed floor's queue frames as of `now` (Unix seconds), in [`QUEUES`] order.
pub fn queue_frames(now: u64) -> [QueueFrame; 3] {
    let t = u32::try_from(now).unwrap();
    [
        QueueFrame {
            waiting: Some(12),
            interacting: Some(4),
            alerting: Some(1),
            on_queue: Some(9),
            off_queue: Some(3),
            longest_waiting_s: Some(95),
            observed: t - 2,
            offered: Some(120),
            answered: Some(110),
            abandoned: Some(10),
            service_level_pct: Some(87),
            level: Level::Critical,
        },
        QueueFrame {
            waiting: Some(6),
            interacting: Some(2),
            alerting: Some(0),
            on_queue: Some(5),
            off_queue: Some(1),
            longest_waiting_s: Some(3_725),
            observed: t - 1,
            offered: Some(40),
            answered: Some(37),
            abandoned: Some(3),
            service_level_pct: Some(64),
            level: Level::Warning,
        },
        QueueFrame {
            on_queue: Some(2),
            observed: t,
            ..QueueFrame::default()
        },
    ]
}

/// The fixed floor's agent frames as of `now` (Unix seconds), in [`AGENTS`] order.
pub fn agent_frames(now: u64) -> [AgentFrame; 5] {
    let t = u32::try_from(now).unwrap();
    [
        // On a call for 1:15, on queue for 12:03.
        AgentFrame {
            presence: Presence::OnQueue,
            presence_since: t - 723,
            routing: Routing::Interacting,
            routing_since: t - 75,
            media: Media::Call,
            interaction: Interaction::Connected,
            interaction_since: t - 75,
            flags: 0,
        },
        // Waiting for a call.
        AgentFrame {
            presence: Presence::OnQueue,
            presence_since: t - 3_725,
            routing: Routing::Idle,
            routing_since: t - 42,
            ..AgentFrame::default()
        },
        // On a break.
        AgentFrame {
            presence: Presence::Break,
            presence_since: t - 305,
            routing: Routing::OffQueue,
            routing_since: t - 305,
            ..AgentFrame::default()
        },
        // Wrapping up a chat.
        AgentFrame {
            presence: Presence::OnQueue,
            presence_since: t - 1_800,
            routing: Routing::Interacting,
            routing_since: t - 200,
            media: Media::Chat,
            interaction: Interaction::Disconnected,
            interaction_since: t - 30,
            flags: AgentFrame::WRAPUP,
        },
        // Offline and not confirmed lately.
        AgentFrame {
            presence: Presence::Offline,
            presence_since: t - 90_000,
            routing: Routing::OffQueue,
            routing_since: t - 90_000,
            flags: AgentFrame::STALE,
            ..AgentFrame::default()
        },
    ]
}

/// The roster of the fixed floor.
pub fn roster() -> RosterFrame {
    RosterFrame {
        agents: 5,
        queues: 3,
        generation: 2,
    }
}

/// A heatmap ending at `now`'s minute with a rising last hour.
pub fn heatmap(now: u64) -> HeatmapFrame {
    let mut counts = Minutes::default();
    for (i, c) in counts.0.iter_mut().enumerate() {
        *c = u16::try_from(i % 9).unwrap();
    }
    for m in 0..60 {
        counts.0[HEATMAP_MINUTES - 60 + m] = u16::try_from(m / 6).unwrap();
    }
    HeatmapFrame {
        header: Header {
            session: SESSION,
            seq: 20,
        },
        end_minute: u32::try_from(now / 60).unwrap(),
        counts,
    }
}

/// The fixed floor as the display decodes it, `$state` = `state`.
pub fn floor(state: &str) -> Floor {
    let mut f = Floor {
        gateway_state: Some(state.to_string()),
        session: Some(SESSION),
        last_seq: 20,
        roster: Some(roster()),
        heatmap: Some(heatmap(NOW)),
        ..Floor::default()
    };
    for (id, q) in QUEUES.iter().zip(queue_frames(NOW)) {
        f.queues.insert(id.to_string(), q);
    }
    for ((id, name), a) in AGENTS.iter().zip(agent_frames(NOW)) {
        f.agents.insert(id.to_string(), a);
        f.agent_sessions.insert(id.to_string(), SESSION);
        if let Some(n) = name {
            f.names.insert(id.to_string(), n.to_string());
        }
    }
    f.frames = 20;
    f
}

/// Plays the gateway on a broker: QoS 1 publishes, each waited for (PubAck).
pub struct Publisher {
    client: rumqttc::Client,
    acks: mpsc::Receiver<()>,
}

impl Publisher {
    /// Connects to `broker`; a thread drives the connection until the client is dropped.
    pub fn connect(broker: &(String, u16)) -> Publisher {
        let id = format!("fake-gateway-{}", fastrand::u32(..));
        let mut opts = rumqttc::MqttOptions::new(id, broker.0.clone(), broker.1);
        opts.set_max_packet_size(64 * 1024, 64 * 1024);
        let (client, mut connection) = rumqttc::Client::new(opts, 64);
        let (tx, acks) = mpsc::channel();
        std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                        if tx.send(()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(rumqttc::ConnectionError::RequestsDone) => return,
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        Publisher { client, acks }
    }

    /// Publishes and waits for the broker's acknowledgement.
    pub fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, retain, payload)
            .expect("queue the publish");
        self.acks
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no PubAck for {topic} within 20 s"));
    }

    /// Publishes the whole fixed floor as of `now`, retained, into `zone` under `base`, then
    /// `$state`.
    pub fn fixed_floor(&self, base: &str, zone: &str, state: &str, now: u64) {
        let z = format!("{base}/zone/{zone}");
        let mut seq = 0;
        let mut next = || {
            seq += 1;
            seq
        };
        for (id, q) in QUEUES.iter().zip(queue_frames(now)) {
            self.publish(
                &format!("{z}/queue/{id}"),
                frame(next(), Body::Queue(q)),
                true,
            );
        }
        for ((id, name), a) in AGENTS.iter().zip(agent_frames(now)) {
            self.publish(
                &format!("{z}/agent/{id}"),
                frame(next(), Body::Agent(a)),
                true,
            );
            if let Some(n) = name {
                self.publish(
                    &format!("{z}/name/{id}"),
                    frame(next(), Body::Name(DisplayName::new(n))),
                    true,
                );
            }
        }
        self.publish(
            &format!("{z}/roster"),
            frame(next(), Body::Roster(roster())),
            true,
        );
        self.publish(&format!("{z}/heatmap"), heatmap_bytes(&heatmap(now)), true);
        self.publish(
            &format!("{base}/gateway/$state"),
            state.as_bytes().to_vec(),
            true,
        );
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}
