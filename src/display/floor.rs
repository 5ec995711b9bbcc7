//! What a floor display sees: an MQTT subscriber to one zone that decodes every retained
//! frame with `presence_wire::decode` (exactly as a display would), keeps the latest per
//! topic, tracks `$state`, sessions and sequence gaps, and renders the floor as text.
//! Used by the wallboard, the demo's live view and the end-to-end tests as the display's eye.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use presence_wire::{
    AgentFrame, Body, HeatmapFrame, Level, Presence, QueueFrame, RosterFrame, Routing,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::topics::Topics;

/// The floor as decoded from MQTT.
#[derive(Clone, Debug, Default)]
pub struct Floor {
    /// Agent frames by user id.
    pub agents: BTreeMap<String, AgentFrame>,
    /// Queue frames by queue id.
    pub queues: BTreeMap<String, QueueFrame>,
    /// Last `$state` payload.
    pub gateway_state: Option<String>,
    /// Session of the newest frame.
    pub session: Option<u32>,
    /// Frames received.
    pub frames: u64,
    /// Frames that failed to decode (corrupt).
    pub bad_frames: u64,
    /// Frames of a body kind this decoder does not know (a newer gateway): skipped, not bad.
    pub unknown_kinds: u64,
    /// Retained topics cleared (empty payload).
    pub cleared: u64,
    /// Session of the newest frame per agent (which boot published it).
    pub agent_sessions: BTreeMap<String, u32>,
    /// Display names by user id.
    pub names: BTreeMap<String, String>,
    /// Queue display names by queue id.
    pub queue_names: BTreeMap<String, String>,
    /// The zone's roster frame.
    pub roster: Option<RosterFrame>,
    /// The zone's activity heatmap.
    pub heatmap: Option<HeatmapFrame>,
    /// `seq` of the newest live frame in the tracked session (docs/WIRE.md §8.3).
    pub last_seq: u32,
    /// Sequence gaps seen within one session (frames published but never received).
    pub seq_gaps: u64,
    /// Zone republish commands sent because of a gap.
    pub republish_requests: u64,
    /// Gap tracking: false after each (re)subscription and each `$state` `online`, true from
    /// the first live (not retained) frame on.
    pub live: bool,
    /// The session gap tracking follows.
    pub tracked: u32,
}

/// At most one zone republish command per this long (docs/WIRE.md §8.3: a few seconds).
const REPUBLISH_EVERY: Duration = Duration::from_secs(3);

/// A live subscription to one zone; the floor fills in as frames arrive.
pub struct Subscriber {
    /// The decoded floor.
    pub floor: Arc<Mutex<Floor>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscriber {
    /// Subscribes to `zone` and the gateway's `$state` on `broker` (host, port), plain TCP.
    pub fn start(broker: (String, u16), topics: &Topics, zone: &str) -> Subscriber {
        Subscriber::connect(broker, &super::BrokerSecurity::default(), topics, zone)
    }

    /// [`Subscriber::start`] over TLS and with credentials as `security` says.
    pub fn connect(
        broker: (String, u16),
        security: &super::BrokerSecurity,
        topics: &Topics,
        zone: &str,
    ) -> Subscriber {
        let floor = Arc::new(Mutex::new(Floor::default()));
        let id = format!("display-{}-{}", zone, fastrand::u32(..));
        let mut opts = MqttOptions::new(id, broker.0, broker.1);
        opts.set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(64 * 1024, 64 * 1024);
        security.apply(&mut opts);
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let zone_filter = topics.zone_filter(zone);
        let state_topic = topics.state();
        let zone_name = zone.to_string();
        let f = floor.clone();
        let task = tokio::spawn(async move {
            let mut asked: Option<std::time::Instant> = None;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        f.lock().unwrap_or_else(|e| e.into_inner()).live = false;
                        // QoS 0: a broker keeps no per-message queue for it, so a burst (a
                        // full republish, a resync) is never dropped at a queue limit, as
                        // QoS 1 is past mosquitto's `max_queued_messages` (1,000); what a
                        // broker does drop shows as a gap and is asked for again.
                        let _ = client.subscribe(&zone_filter, QoS::AtMostOnce).await;
                        let _ = client.subscribe(&state_topic, QoS::AtLeastOnce).await;
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let gap = {
                            let mut floor = f.lock().unwrap_or_else(|e| e.into_inner());
                            let gap =
                                apply(&mut floor, &p.topic, &p.payload, &state_topic, p.retain);
                            let due = asked.is_none_or(|t| t.elapsed() >= REPUBLISH_EVERY);
                            if gap && due {
                                floor.republish_requests += 1;
                            }
                            gap && due
                        };
                        if let (true, Some(cmd)) = (gap, command_topic(&p.topic)) {
                            asked = Some(std::time::Instant::now());
                            let ask = format!(
                                r#"{{"op":"republish","scope":"zone","zone":"{zone_name}"}}"#
                            );
                            let _ = client.try_publish(cmd, QoS::AtLeastOnce, false, ask);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        Subscriber { floor, task }
    }

    /// A copy of the floor now.
    pub fn snapshot(&self) -> Floor {
        self.floor.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Whether `topic` matches `filter`, where a `+` level of the filter matches any one level
/// (the display of `--site +` follows whichever site publishes).
fn matches(filter: &str, topic: &str) -> bool {
    let (mut f, mut t) = (filter.split('/'), topic.split('/'));
    loop {
        match (f.next(), t.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == "+" || a == b => {}
            _ => return false,
        }
    }
}

/// The gateway's command topic for a frame's topic: `{base}/zone/{zone}/…` →
/// `{base}/gateway/cmd` (the site is read from the topic, so `--site +` works too).
fn command_topic(frame_topic: &str) -> Option<String> {
    let (base, _) = frame_topic.rsplit_once("/zone/")?;
    Some(format!("{base}/gateway/cmd"))
}

/// Applies one message; true when it revealed a gap (frames of the zone never received).
fn apply(
    floor: &mut Floor,
    topic: &str,
    payload: &[u8],
    state_topic: &str,
    retained: bool,
) -> bool {
    if matches(state_topic, topic) {
        let state = String::from_utf8_lossy(payload).into_owned();
        if state == "online" {
            // The gateway (re)connected: it republishes everything, a gap is expected.
            floor.live = false;
        }
        floor.gateway_state = Some(state);
        return false;
    }
    let last = topic.rsplit('/').next().unwrap_or("");
    if last == "heatmap" {
        match presence_wire::decode_heatmap(payload) {
            Ok(h) => {
                // The heatmap has its own sequence: not part of the zone's gap count.
                floor.frames += 1;
                floor.heatmap = Some(h);
            }
            Err(_) if payload.is_empty() => floor.heatmap = None,
            Err(_) => floor.bad_frames += 1,
        }
        return false;
    }
    if last == "roster" {
        match presence_wire::decode(payload) {
            Ok(presence_wire::Frame {
                header,
                body: Body::Roster(r),
            }) => {
                floor.frames += 1;
                floor.roster = Some(r);
                return track_seq(floor, header, retained);
            }
            Err(_) if payload.is_empty() => floor.roster = None,
            _ => floor.bad_frames += 1,
        }
        return false;
    }
    let mut parts = topic.rsplit('/');
    let (Some(id), Some(kind)) = (parts.next(), parts.next()) else {
        return false;
    };
    if payload.is_empty() {
        floor.cleared += 1;
        match kind {
            "agent" => {
                floor.agents.remove(id);
            }
            "queue" => {
                floor.queues.remove(id);
            }
            "name" => {
                floor.names.remove(id);
            }
            "queue_name" => {
                floor.queue_names.remove(id);
            }
            _ => {}
        }
        return false;
    }
    match presence_wire::decode(payload) {
        Ok(frame) => {
            let fits = matches!(
                (kind, &frame.body),
                ("agent", Body::Agent(_))
                    | ("queue", Body::Queue(_))
                    | ("name" | "queue_name", Body::Name(_))
            );
            if !fits {
                // Ignored (WIRE.md §7.2), but it took a sequence number.
                floor.bad_frames += 1;
                return track_seq(floor, frame.header, retained);
            }
            floor.frames += 1;
            match frame.body {
                Body::Agent(a) => {
                    floor.agents.insert(id.to_string(), a);
                    floor
                        .agent_sessions
                        .insert(id.to_string(), frame.header.session);
                }
                Body::Queue(q) => {
                    floor.queues.insert(id.to_string(), q);
                }
                Body::Name(n) if kind == "queue_name" => {
                    floor
                        .queue_names
                        .insert(id.to_string(), n.as_str().to_string());
                }
                Body::Name(n) => {
                    floor.names.insert(id.to_string(), n.as_str().to_string());
                }
                Body::Roster(r) => floor.roster = Some(r),
            }
            return track_seq(floor, frame.header, retained);
        }
        Err(presence_wire::WireError::DecodeUnknownKind(_)) => {
            // A kind from a newer gateway: skipped, its sequence number counted (§7.2), or
            // every such frame would look like a gap.
            floor.unknown_kinds += 1;
            if let Ok(h) = presence_wire::decode_header(payload) {
                return track_seq(floor, h, retained);
            }
        }
        Err(_) => floor.bad_frames += 1,
    }
    false
}

/// Gap detection as docs/WIRE.md §8.3 specifies it: retained replays carry old numbers in the
/// broker's order and are not tracked; the first live frame (or one from a new session) starts
/// tracking; a forward jump of more than one is a gap (true); a duplicate or an older number
/// (a late arrival) is not.
fn track_seq(floor: &mut Floor, h: presence_wire::Header, retained: bool) -> bool {
    floor.session = Some(h.session);
    if retained {
        return false;
    }
    if !floor.live || floor.tracked != h.session {
        floor.live = true;
        floor.tracked = h.session;
        floor.last_seq = h.seq;
        return false;
    }
    let d = h.seq.wrapping_sub(floor.last_seq);
    if d == 0 || d >= 1 << 31 {
        return false;
    }
    floor.last_seq = h.seq;
    if d > 1 {
        floor.seq_gaps += 1;
        return true;
    }
    false
}

fn presence_colour(p: Presence) -> &'static str {
    match p {
        Presence::Available | Presence::OnQueue => "\x1b[32m",
        Presence::Busy | Presence::Meeting => "\x1b[31m",
        Presence::Away | Presence::Break | Presence::Meal | Presence::Idle => "\x1b[33m",
        Presence::Offline | Presence::Unknown | Presence::Training => "\x1b[90m",
    }
}

fn level_colour(l: Level) -> &'static str {
    match l {
        Level::Normal => "\x1b[32m",
        Level::Warning => "\x1b[33m",
        Level::Critical => "\x1b[31m",
    }
}

fn since(now_s: u64, at: u32) -> String {
    if at == 0 {
        return "-".into();
    }
    mm_ss(now_s.saturating_sub(u64::from(at)))
}

/// What a display shows for a figure the gateway says is unknown (WIRE.md §4.4): never 0.
pub const UNKNOWN: &str = "–";

/// A queue figure as text: the number, or [`UNKNOWN`].
pub fn figure<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| UNKNOWN.to_string(), |v| v.to_string())
}

fn mm_ss(secs: u64) -> String {
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

/// Renders the floor as an ANSI text screen (`now_s` = Unix seconds for timers).
pub fn render(floor: &Floor, now_s: u64, max_agents: usize) -> String {
    let mut out = String::new();
    let reset = "\x1b[0m";
    match floor.gateway_state.as_deref() {
        Some("online") => {}
        Some(s) => {
            let _ = writeln!(out, "\x1b[41;97m GATEWAY {} {reset}", s.to_uppercase());
        }
        None => {
            let _ = writeln!(out, "\x1b[43;30m waiting for the gateway {reset}");
        }
    }
    let _ = writeln!(
        out,
        "QUEUES ({})            waiting  longest  interacting  alerting  on-queue  off-queue  offered  answered  abandoned  SL%",
        floor.queues.len()
    );
    for (id, q) in &floor.queues {
        let _ = writeln!(
            out,
            "  {}{:<20}{reset} {:>7}  {:>7}  {:>11}  {:>8}  {:>8}  {:>9}  {:>7}  {:>8}  {:>9}  {:>3}",
            level_colour(q.level),
            floor
                .queue_names
                .get(id)
                .map_or(&id[..8.min(id.len())], |n| n.as_str())
                .chars()
                .take(20)
                .collect::<String>(),
            figure(q.waiting),
            q.longest_waiting_s
                .map_or(UNKNOWN.to_string(), |s| mm_ss(u64::from(s))),
            figure(q.interacting),
            figure(q.alerting),
            figure(q.on_queue),
            figure(q.off_queue),
            figure(q.offered),
            figure(q.answered),
            figure(q.abandoned),
            figure(q.service_level_pct),
        );
    }
    let _ = writeln!(
        out,
        "AGENTS ({})   presence     for     routing         for    interaction",
        floor.agents.len()
    );
    for (id, a) in floor.agents.iter().take(max_agents) {
        let wrap = if a.flags & AgentFrame::WRAPUP != 0 {
            " wrap-up"
        } else {
            ""
        };
        let stale = match (
            a.flags & AgentFrame::STALE != 0,
            a.flags & AgentFrame::OUT_OF_OFFICE != 0,
        ) {
            (true, true) => " (stale, out of office)",
            (true, false) => " (stale)",
            (false, true) => " (out of office)",
            (false, false) => "",
        };
        let interaction = if a.media == presence_wire::Media::None {
            String::new()
        } else {
            format!(
                "{:?} {:?} {}{wrap}",
                a.media,
                a.interaction,
                since(now_s, a.interaction_since)
            )
        };
        let _ = writeln!(
            out,
            "  {:<10} {}{:<11}{reset} {:>6}  {:<14} {:>6}  {interaction}{stale}",
            &id[..8.min(id.len())],
            presence_colour(a.presence),
            format!("{:?}", a.presence),
            since(now_s, a.presence_since),
            routing_name(a.routing),
            since(now_s, a.routing_since),
        );
    }
    if floor.agents.len() > max_agents {
        let _ = writeln!(out, "  … and {} more", floor.agents.len() - max_agents);
    }
    out
}

fn routing_name(r: Routing) -> String {
    format!("{r:?}")
}

/// The demo's live view: subscribe to `zone` and redraw every `every`.
pub async fn run(broker: (String, u16), topics: Topics, zone: String, every: Duration) {
    let sub = Subscriber::start(broker, &topics, &zone);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = crate::state::now_ms() / 1000;
        let screen = render(&sub.snapshot(), now, 30);
        print!("\x1b[2J\x1b[H{screen}\nzone {zone} · Ctrl-C to stop\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_site_matches_any_one_level() {
        assert!(matches("p/+/gateway/$state", "p/lyon-1/gateway/$state"));
        assert!(matches(
            "p/lyon-1/gateway/$state",
            "p/lyon-1/gateway/$state"
        ));
        assert!(!matches("p/+/gateway/$state", "p/lyon-1/gateway/health"));
        assert!(!matches("p/+/gateway/$state", "p/a/b/gateway/$state"));
    }
    use presence_wire::{Frame, Header};

    #[test]
    fn floor_decodes_frames_and_renders_timers() {
        let mut floor = Floor::default();
        let frame = Frame {
            header: Header { session: 2, seq: 1 },
            body: Body::Agent(AgentFrame {
                presence: Presence::OnQueue,
                presence_since: 1_000,
                ..AgentFrame::default()
            }),
        };
        let mut buf = [0u8; presence_wire::MAX_FRAME_LEN];
        let bytes = presence_wire::encode(&frame, &mut buf).unwrap().to_vec();
        apply(
            &mut floor,
            "p/s/zone/all/agent/abcdef12-x",
            &bytes,
            "p/s/gateway/$state",
            false,
        );
        apply(
            &mut floor,
            "p/s/gateway/$state",
            b"lost",
            "p/s/gateway/$state",
            false,
        );
        assert_eq!(floor.agents.len(), 1);
        assert_eq!(floor.session, Some(2));
        let text = render(&floor, 1_075, 10);
        assert!(text.contains("GATEWAY LOST"), "{text}");
        assert!(text.contains("OnQueue"), "{text}");
        assert!(text.contains("01:15"), "{text}");
        apply(
            &mut floor,
            "p/s/zone/all/agent/abcdef12-x",
            &[],
            "p/s/gateway/$state",
            false,
        );
        assert!(floor.agents.is_empty());
    }

    fn agent_frame(session: u32, seq: u32) -> Vec<u8> {
        let frame = Frame {
            header: Header { session, seq },
            body: Body::Agent(AgentFrame::default()),
        };
        let mut buf = [0u8; presence_wire::MAX_FRAME_LEN];
        presence_wire::encode(&frame, &mut buf).unwrap().to_vec()
    }

    #[test]
    fn gaps_count_from_the_first_live_frame_as_the_wire_spec_says() {
        let mut floor = Floor::default();
        let (t, st) = ("p/s/zone/all/agent/u", "p/s/gateway/$state");
        let see = |floor: &mut Floor, session, seq, retained| {
            apply(floor, t, &agent_frame(session, seq), st, retained)
        };
        // Retained replays in the broker's order: never a gap.
        assert!(!see(&mut floor, 1, 40, true));
        assert!(!see(&mut floor, 1, 7, true));
        // The first live frame starts tracking; in order, duplicate, late: no gap.
        assert!(!see(&mut floor, 1, 50, false));
        assert!(!see(&mut floor, 1, 51, false));
        assert!(!see(&mut floor, 1, 51, false));
        assert!(!see(&mut floor, 1, 30, false));
        // A jump: gap (frames 52..=54 never came).
        assert!(see(&mut floor, 1, 55, false));
        assert_eq!((floor.seq_gaps, floor.last_seq), (1, 55));
        // Wrapping u32 is in order.
        floor.last_seq = u32::MAX;
        assert!(!see(&mut floor, 1, 0, false));
        // A new session restarts tracking; `online` too (the gateway republishes anyway).
        assert!(!see(&mut floor, 2, 900, false));
        apply(&mut floor, st, b"online", st, true);
        assert!(!see(&mut floor, 2, 2000, false));
        assert!(see(&mut floor, 2, 2002, false));
        assert_eq!(floor.seq_gaps, 2);
        // A frame of a kind from a newer gateway, and a body on the wrong topic: skipped, but
        // their numbers count, so the frames after them are no gap (WIRE.md §7.2).
        let newer = [2u8, 2, 0xd3, 0x0f, 9, 0x42]; // session 2, seq 2003, kind 9
        assert!(!apply(&mut floor, t, &newer, st, false));
        assert_eq!((floor.unknown_kinds, floor.last_seq), (1, 2003));
        let mut roster = [0u8; presence_wire::MAX_FRAME_LEN];
        let roster = presence_wire::encode(
            &Frame {
                header: Header {
                    session: 2,
                    seq: 2004,
                },
                body: Body::Roster(presence_wire::RosterFrame::default()),
            },
            &mut roster,
        )
        .unwrap()
        .to_vec();
        assert!(!apply(&mut floor, t, &roster, st, false));
        assert!(
            floor.roster.is_none(),
            "a roster body on an agent topic is ignored"
        );
        assert!(!see(&mut floor, 2, 2005, false));
        assert_eq!(floor.seq_gaps, 2);
    }

    #[test]
    fn the_command_topic_comes_from_the_frame_topic() {
        assert_eq!(
            command_topic("presence/lyon-1/zone/floor-2/agent/u").as_deref(),
            Some("presence/lyon-1/gateway/cmd")
        );
        assert_eq!(
            command_topic("a/b/site/zone/all/roster").as_deref(),
            Some("a/b/site/gateway/cmd")
        );
        assert_eq!(command_topic("presence/lyon-1/gateway/$state"), None);
    }
}
