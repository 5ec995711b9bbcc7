//! The JSON mirror (opt-in: `[mqtt] json_mirror = true`) and Home Assistant discovery (opt-in:
//! `[mqtt] home_assistant_discovery = true`).
//!
//! The mirror carries the same state as a zone's frames, as retained JSON under
//! `{prefix}/{site}/json/{zone}/…`, for tools that read JSON and not postcard (Node-RED, Home
//! Assistant, Telegraf). Its documents are built from the very frames the displays get (so
//! the two cannot disagree), with the display name folded into the agent and queue documents
//! and every figure or time the upstream did not send written `null`, never 0. Field names
//! are those of `presence-gateway decode`. Documents are written with `serde-json-core` into
//! a buffer of fixed size: no heap tree, as for the monitor documents.
//!
//! Discovery publishes three retained Home Assistant config documents for the gateway's own
//! health (online, status with the health document as attributes, agents watched) under
//! `homeassistant/…/presence_gateway_{site}/…/config`, once per broker connection.

use presence_wire::{AgentFrame, Header, Interaction, Media, Presence, QueueFrame, Routing};
use serde::Serialize;

use crate::topics::Topics;

/// Largest agent, queue or roster document (an agent with a 64-byte name escaped is < 600
/// bytes).
pub const DOC_LEN: usize = 1024;

/// Largest heatmap document: 1,440 counts of at most 5 digits and a comma, plus the rest.
pub const HEATMAP_DOC_LEN: usize = presence_wire::HEATMAP_MINUTES * 6 + 128;

/// What the publisher mirrors, from `[mqtt]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonOptions {
    /// `json_mirror`: retained JSON under `{prefix}/{site}/json/{zone}/…`.
    pub mirror: bool,
    /// `home_assistant_discovery`: HA MQTT discovery documents for the gateway's health.
    pub home_assistant: bool,
}

fn known(secs: u32) -> Option<u32> {
    (secs != 0).then_some(secs)
}

/// An agent as the mirror publishes it (`…/json/{zone}/agent/{userId}`).
#[derive(Serialize)]
pub struct AgentDoc<'a> {
    /// The user id.
    pub id: &'a str,
    /// Display name; `null` until the cloud sent one.
    pub name: Option<&'a str>,
    /// System presence, e.g. `"OnQueue"`.
    pub presence: Presence,
    /// When the presence changed (Unix seconds), `null` when unknown.
    pub presence_since: Option<u32>,
    /// Routing status, e.g. `"Interacting"`.
    pub routing: Routing,
    /// When the routing status changed.
    pub routing_since: Option<u32>,
    /// Current interaction's media, `"None"` without one.
    pub media: Media,
    /// Current interaction's state.
    pub interaction: Interaction,
    /// When the interaction state changed.
    pub interaction_since: Option<u32>,
    /// In wrap-up.
    pub wrapup: bool,
    /// Not confirmed by the cloud within the board's TTL.
    pub stale: bool,
    /// Out of office.
    pub out_of_office: bool,
    /// The frame's session (gateway boot counter).
    pub session: u32,
    /// The frame's per-zone sequence number.
    pub seq: u32,
}

impl<'a> AgentDoc<'a> {
    /// The document for the frame `f` of agent `id`.
    pub fn new(id: &'a str, name: &'a str, f: &AgentFrame, h: Header) -> AgentDoc<'a> {
        AgentDoc {
            id,
            name: (!name.is_empty()).then_some(name),
            presence: f.presence,
            presence_since: known(f.presence_since),
            routing: f.routing,
            routing_since: known(f.routing_since),
            media: f.media,
            interaction: f.interaction,
            interaction_since: known(f.interaction_since),
            wrapup: f.flags & AgentFrame::WRAPUP != 0,
            stale: f.flags & AgentFrame::STALE != 0,
            out_of_office: f.flags & AgentFrame::OUT_OF_OFFICE != 0,
            session: h.session,
            seq: h.seq,
        }
    }
}

/// A queue as the mirror publishes it (`…/json/{zone}/queue/{queueId}`); every figure `null`
/// when unknown.
#[derive(Serialize)]
pub struct QueueDoc<'a> {
    /// The queue id.
    pub id: &'a str,
    /// The queue's name; `null` until read.
    pub name: Option<&'a str>,
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
    /// Longest current wait, seconds.
    pub longest_waiting_s: Option<u32>,
    /// When the observation was made (Unix seconds); `null`: never.
    pub observed: Option<u32>,
    /// Offered in the current 30-minute interval.
    pub offered: Option<u16>,
    /// Answered in the interval.
    pub answered: Option<u16>,
    /// Abandoned in the interval.
    pub abandoned: Option<u16>,
    /// Service level in percent.
    pub service_level_pct: Option<u8>,
    /// The zone's threshold level: `"Normal"`, `"Warning"`, `"Critical"`.
    pub level: presence_wire::Level,
    /// The frame's session.
    pub session: u32,
    /// The frame's per-zone sequence number.
    pub seq: u32,
}

impl<'a> QueueDoc<'a> {
    /// The document for the frame `q` of queue `id`.
    pub fn new(id: &'a str, name: &'a str, q: &QueueFrame, h: Header) -> QueueDoc<'a> {
        QueueDoc {
            id,
            name: (!name.is_empty()).then_some(name),
            waiting: q.waiting,
            interacting: q.interacting,
            alerting: q.alerting,
            on_queue: q.on_queue,
            off_queue: q.off_queue,
            longest_waiting_s: q.longest_waiting_s,
            observed: known(q.observed),
            offered: q.offered,
            answered: q.answered,
            abandoned: q.abandoned,
            service_level_pct: q.service_level_pct,
            level: q.level,
            session: h.session,
            seq: h.seq,
        }
    }
}

/// A zone's roster (`…/json/{zone}/roster`).
#[derive(Serialize)]
pub struct RosterDoc {
    /// Agents in the zone.
    pub agents: u16,
    /// Queues in the zone.
    pub queues: u16,
    /// Bumped on every join or leave.
    pub generation: u32,
    /// The frame's session.
    pub session: u32,
    /// The frame's per-zone sequence number.
    pub seq: u32,
}

/// A zone's heatmap (`…/json/{zone}/heatmap`): transitions per minute, oldest first.
#[derive(Serialize)]
pub struct HeatmapDoc<'a> {
    /// Unix minute of the newest bucket.
    pub end_minute: u32,
    /// Sum of all buckets.
    pub total: u64,
    /// 1,440 counts, the last is `end_minute`.
    pub counts: &'a [u16],
    /// The frame's session.
    pub session: u32,
    /// The heatmap's own sequence number.
    pub seq: u32,
}

/// Serialises `doc` into `buf`, returning the used prefix; `None` when it does not fit (the
/// caller counts it: nothing is cut).
pub fn write<'b, T: Serialize>(doc: &T, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let n = serde_json_core::to_slice(doc, buf).ok()?;
    buf.get(..n)
}

/// The Home Assistant device every discovered entity belongs to.
#[derive(Serialize)]
struct Device<'a> {
    identifiers: [&'a str; 1],
    name: &'a str,
    manufacturer: &'a str,
    model: &'a str,
    sw_version: &'a str,
}

/// `availability`: the entity is available while `$state` says `online`.
#[derive(Serialize)]
struct Availability<'a> {
    topic: &'a str,
    value_template: &'a str,
}

/// One Home Assistant MQTT discovery config document.
#[derive(Serialize)]
struct Discovery<'a> {
    name: &'a str,
    unique_id: &'a str,
    object_id: &'a str,
    state_topic: &'a str,
    value_template: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    json_attributes_topic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_class: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    availability: Option<[Availability<'a>; 1]>,
    device: Device<'a>,
}

/// `$state` → `online` / `offline` for availability (`lost` counts as offline).
const STATE_TEMPLATE: &str = "{{ 'online' if value == 'online' else 'offline' }}";

/// The Home Assistant discovery documents for the gateway's health: `(topic, JSON)` each,
/// retained. Entities: `binary_sensor` online (from `$state`), `sensor` status (from health,
/// the whole health document as attributes), `sensor` agents watched.
pub fn discovery(topics: &Topics, site: &str) -> Vec<(String, Vec<u8>)> {
    let node = format!("presence_gateway_{}", site.replace('-', "_"));
    let state = topics.state();
    let health = topics.health();
    let device_name = format!("presence-gateway {site}");
    let device = || Device {
        identifiers: [&node],
        name: &device_name,
        manufacturer: "presence-gateway",
        model: "edge gateway",
        sw_version: env!("CARGO_PKG_VERSION"),
    };
    let available = || {
        Some([Availability {
            topic: &state,
            value_template: STATE_TEMPLATE,
        }])
    };
    let ids = ["online", "status", "agents"].map(|object| format!("{node}_{object}"));
    let entities = [
        (
            "binary_sensor",
            Discovery {
                name: "online",
                unique_id: &ids[0],
                object_id: &ids[0],
                state_topic: &state,
                value_template: "{{ 'ON' if value == 'online' else 'OFF' }}",
                json_attributes_topic: None,
                device_class: Some("connectivity"),
                availability: None,
                device: device(),
            },
        ),
        (
            "sensor",
            Discovery {
                name: "status",
                unique_id: &ids[1],
                object_id: &ids[1],
                state_topic: &health,
                value_template: "{{ value_json.status }}",
                json_attributes_topic: Some(&health),
                device_class: None,
                availability: available(),
                device: device(),
            },
        ),
        (
            "sensor",
            Discovery {
                name: "agents",
                unique_id: &ids[2],
                object_id: &ids[2],
                state_topic: &health,
                value_template: "{{ value_json.agents }}",
                json_attributes_topic: None,
                device_class: None,
                availability: available(),
                device: device(),
            },
        ),
    ];
    entities
        .iter()
        .filter_map(|(component, doc)| {
            let mut buf = [0u8; DOC_LEN];
            let bytes = write(doc, &mut buf)?;
            Some((
                format!("homeassistant/{component}/{node}/{}/config", doc.name),
                bytes.to_vec(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    #[test]
    fn agent_document_golden_text() {
        let f = AgentFrame {
            presence: Presence::OnQueue,
            presence_since: 1_700_000_000,
            routing: Routing::Interacting,
            routing_since: 0,
            media: Media::Call,
            interaction: Interaction::Connected,
            interaction_since: 1_700_000_100,
            flags: AgentFrame::WRAPUP | AgentFrame::OUT_OF_OFFICE,
        };
        let h = Header { session: 3, seq: 9 };
        let mut buf = [0u8; DOC_LEN];
        let doc = AgentDoc::new("9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f", "Zoë \"Z\"", &f, h);
        assert_eq!(
            text(write(&doc, &mut buf).unwrap()),
            r#"{"id":"9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f","name":"Zoë \"Z\"","presence":"OnQueue","presence_since":1700000000,"routing":"Interacting","routing_since":null,"media":"Call","interaction":"Connected","interaction_since":1700000100,"wrapup":true,"stale":false,"out_of_office":true,"session":3,"seq":9}"#
        );
        // No name yet: null, not "".
        let doc = AgentDoc::new("9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f", "", &f, h);
        assert!(text(write(&doc, &mut buf).unwrap()).contains(r#""name":null"#));
    }

    #[test]
    fn queue_document_writes_unknown_as_null() {
        let q = QueueFrame {
            waiting: Some(4),
            interacting: Some(0),
            alerting: None,
            on_queue: Some(12),
            off_queue: None,
            longest_waiting_s: Some(95),
            observed: 0,
            offered: Some(40),
            answered: None,
            abandoned: Some(0),
            service_level_pct: Some(87),
            level: presence_wire::Level::Warning,
        };
        let mut buf = [0u8; DOC_LEN];
        let doc = QueueDoc::new("015b4857", "Sales", &q, Header { session: 1, seq: 2 });
        assert_eq!(
            text(write(&doc, &mut buf).unwrap()),
            r#"{"id":"015b4857","name":"Sales","waiting":4,"interacting":0,"alerting":null,"on_queue":12,"off_queue":null,"longest_waiting_s":95,"observed":null,"offered":40,"answered":null,"abandoned":0,"service_level_pct":87,"level":"Warning","session":1,"seq":2}"#
        );
    }

    #[test]
    fn the_largest_documents_fit_their_buffers() {
        // A 64-byte name of characters that JSON escapes six bytes each.
        let name = "\u{1}".repeat(64);
        let f = AgentFrame {
            presence_since: u32::MAX,
            routing_since: u32::MAX,
            interaction_since: u32::MAX,
            flags: 7,
            ..AgentFrame::default()
        };
        let id = "9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f";
        let h = Header {
            session: u32::MAX,
            seq: u32::MAX,
        };
        let mut buf = [0u8; DOC_LEN];
        assert!(write(&AgentDoc::new(id, &name, &f, h), &mut buf).is_some());
        let q = QueueFrame {
            waiting: Some(u16::MAX),
            interacting: Some(u16::MAX),
            alerting: Some(u16::MAX),
            on_queue: Some(u16::MAX),
            off_queue: Some(u16::MAX),
            longest_waiting_s: Some(u32::MAX),
            observed: u32::MAX,
            offered: Some(u16::MAX),
            answered: Some(u16::MAX),
            abandoned: Some(u16::MAX),
            service_level_pct: Some(100),
            level: presence_wire::Level::Critical,
        };
        assert!(write(&QueueDoc::new(id, &name, &q, h), &mut buf).is_some());
        let counts = [u16::MAX; presence_wire::HEATMAP_MINUTES];
        let mut big = vec![0u8; HEATMAP_DOC_LEN];
        let doc = HeatmapDoc {
            end_minute: u32::MAX,
            total: u64::MAX,
            counts: &counts,
            session: u32::MAX,
            seq: u32::MAX,
        };
        let bytes = write(&doc, &mut big).unwrap();
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(v["counts"].as_array().unwrap().len(), 1440);
    }

    #[test]
    fn discovery_documents_point_at_the_gateway_topics() {
        let topics = Topics::new("presence", "lyon-1");
        let docs = discovery(&topics, "lyon-1");
        let names: Vec<&str> = docs.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            names,
            [
                "homeassistant/binary_sensor/presence_gateway_lyon_1/online/config",
                "homeassistant/sensor/presence_gateway_lyon_1/status/config",
                "homeassistant/sensor/presence_gateway_lyon_1/agents/config",
            ]
        );
        let online: serde_json::Value = serde_json::from_slice(&docs[0].1).unwrap();
        assert_eq!(online["state_topic"], "presence/lyon-1/gateway/$state");
        assert_eq!(online["device_class"], "connectivity");
        assert_eq!(online["unique_id"], "presence_gateway_lyon_1_online");
        let status: serde_json::Value = serde_json::from_slice(&docs[1].1).unwrap();
        assert_eq!(status["state_topic"], "presence/lyon-1/gateway/health");
        assert_eq!(
            status["json_attributes_topic"],
            "presence/lyon-1/gateway/health"
        );
        assert_eq!(
            status["availability"][0]["topic"],
            "presence/lyon-1/gateway/$state"
        );
        assert_eq!(
            status["device"]["identifiers"][0],
            "presence_gateway_lyon_1"
        );
    }
}
