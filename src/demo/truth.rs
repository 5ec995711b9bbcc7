//! The display's view against the simulator's ground truth: what a display must show for each
//! agent and queue of a [`Truth`], and every difference from a decoded [`Floor`]. The one
//! comparison the end-to-end tests, the fault tests and the bench all judge by.

use genesys_sim::Truth;
use presence_wire::{AgentFrame, Interaction, Media, Presence, Routing};

use crate::display::floor::Floor;

/// The wire presence of a simulator system presence (UPPER_SNAKE).
pub fn wire_presence(s: &str) -> Presence {
    match s {
        "AVAILABLE" => Presence::Available,
        "AWAY" => Presence::Away,
        "BUSY" => Presence::Busy,
        "OFFLINE" => Presence::Offline,
        "IDLE" => Presence::Idle,
        "ON_QUEUE" => Presence::OnQueue,
        "MEAL" => Presence::Meal,
        "TRAINING" => Presence::Training,
        "MEETING" => Presence::Meeting,
        "BREAK" => Presence::Break,
        _ => Presence::Unknown,
    }
}

fn routing(s: &str) -> Routing {
    match s {
        "OFF_QUEUE" => Routing::OffQueue,
        "IDLE" => Routing::Idle,
        "INTERACTING" => Routing::Interacting,
        "NOT_RESPONDING" => Routing::NotResponding,
        "COMMUNICATING" => Routing::Communicating,
        _ => Routing::Unknown,
    }
}

fn media(s: &str) -> Media {
    match s {
        "call" => Media::Call,
        "callback" => Media::Callback,
        "chat" => Media::Chat,
        "email" => Media::Email,
        "message" => Media::Message,
        _ => Media::Other,
    }
}

fn interaction(s: &str) -> Interaction {
    match s {
        "alerting" => Interaction::Alerting,
        "dialing" | "contacting" => Interaction::Dialing,
        "connected" => Interaction::Connected,
        "held" => Interaction::Held,
        "disconnected" => Interaction::Disconnected,
        _ => Interaction::None,
    }
}

fn secs(ms: u64) -> u32 {
    u32::try_from(ms / 1000).expect("timestamp fits u32 seconds")
}

/// A queue's figures as a display shows them: `live` = waiting, interacting, alerting, on
/// queue, off queue; `interval` = offered, answered, abandoned (every one `None` = "–").
#[derive(Debug, PartialEq, Eq)]
struct QueueFigures {
    live: [Option<u16>; 5],
    longest_waiting_s: Option<u32>,
    interval: [Option<u16>; 3],
    service_level_pct: Option<u8>,
}

fn queue_figures(q: &presence_wire::QueueFrame) -> QueueFigures {
    QueueFigures {
        live: [
            q.waiting,
            q.interacting,
            q.alerting,
            q.on_queue,
            q.off_queue,
        ],
        longest_waiting_s: q.longest_waiting_s,
        interval: [q.offered, q.answered, q.abandoned],
        service_level_pct: q.service_level_pct,
    }
}

/// The percent a display shows for a service level in per mille: truncated to whole percent.
fn pct(permille: u16) -> u8 {
    u8::try_from((permille / 10).min(100)).unwrap_or(100)
}

/// Every difference between what the display decoded and the ground truth (empty = equal):
/// each agent's presence, routing status, conversation (media, state, since, wrap-up) and
/// out-of-office, agents on one side only, and every figure of each queue (all but `observed`,
/// a timestamp, and `level`, computed from `waiting`).
pub fn diff(floor: &Floor, truth: &Truth) -> Vec<String> {
    diff_with(floor, truth, true)
}

/// [`diff`] without `answered`: the one figure no notification carries, read by REST every
/// `genesys.queue_figures_secs` (so it is as old as that, by design). For measurements of the
/// event pipeline (the bench), where waiting for the next read would time the poll, not the
/// pipeline; every test uses [`diff`].
pub fn diff_events(floor: &Floor, truth: &Truth) -> Vec<String> {
    diff_with(floor, truth, false)
}

/// Only each agent's presence and routing status (with their since-times): the part of the
/// floor a resync makes exact first (the bench times it apart from the rest).
pub fn diff_presence_routing(floor: &Floor, truth: &Truth) -> Vec<String> {
    let mut out = Vec::new();
    for (id, t) in &truth.agents {
        let Some(a) = floor.agents.get(id) else {
            out.push(format!("agent {id}: missing on the display"));
            continue;
        };
        let want = (
            wire_presence(&t.system_presence),
            secs(t.presence_modified_ms),
            routing(&t.routing_status),
            secs(t.routing_start_ms),
        );
        let got = (a.presence, a.presence_since, a.routing, a.routing_since);
        if got != want {
            out.push(format!("agent {id}: display {got:?} != truth {want:?}"));
        }
    }
    out
}

fn diff_with(floor: &Floor, truth: &Truth, answered: bool) -> Vec<String> {
    let mut out = Vec::new();
    for (id, t) in &truth.agents {
        let Some(a) = floor.agents.get(id) else {
            out.push(format!("agent {id}: missing on the display"));
            continue;
        };
        let mut want = AgentFrame {
            presence: wire_presence(&t.system_presence),
            presence_since: secs(t.presence_modified_ms),
            routing: routing(&t.routing_status),
            routing_since: secs(t.routing_start_ms),
            ..AgentFrame::default()
        };
        if t.out_of_office {
            want.flags |= AgentFrame::OUT_OF_OFFICE;
        }
        if let Some(c) = &t.conversation {
            let ended = c.state == "disconnected" && !c.wrapup;
            if !ended {
                want.media = media(&c.media);
                want.interaction = interaction(&c.state);
                want.interaction_since = secs(c.changed_ms);
                if c.wrapup {
                    want.flags |= AgentFrame::WRAPUP;
                }
            }
        }
        let mut got = *a;
        got.flags &= !AgentFrame::STALE;
        if want.media == Media::None {
            got.interaction_since = 0;
        }
        if got != want {
            out.push(format!("agent {id}: display {got:?} != truth {want:?}"));
        }
    }
    for id in floor.agents.keys() {
        if !truth.agents.contains_key(id) {
            out.push(format!("agent {id}: on the display but not in the org"));
        }
    }
    for (id, t) in &truth.queues {
        let Some(q) = floor.queues.get(id) else {
            out.push(format!("queue {id}: missing on the display"));
            continue;
        };
        let got = queue_figures(q);
        let want = QueueFigures {
            live: [
                t.waiting,
                t.interacting,
                t.alerting,
                t.on_queue,
                t.off_queue,
            ]
            .map(|v| Some(u16::try_from(v).unwrap_or(u16::MAX))),
            longest_waiting_s: Some(t.longest_waiting_ms.map_or(0, secs)),
            interval: [t.offered, t.answered, t.abandoned]
                .map(|v| Some(u16::try_from(v).unwrap_or(u16::MAX))),
            service_level_pct: t.service_level_permille.map(pct),
        };
        let mut want = want;
        if !answered {
            want.interval[1] = got.interval[1];
        }
        if got != want {
            out.push(format!("queue {id}: display {got:?} != truth {want:?}"));
        }
    }
    out
}
