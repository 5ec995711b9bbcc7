//! The event generator: deterministic, seeded changes applied to the [`World`], each returned as the
//! notifications it causes.
//!
//! Owns: which changes happen (presence, routing status, conversation lifecycle, queue arrivals/abandons,
//! queue membership) and keeping the world consistent (routing status follows On Queue; conversations only for
//! idle on-queue members). Does not own delivery, fault injection or observation pacing (`hub.rs`).
//!
//! One call of [`next`] is one *event*: one logical change, which may produce several notifications
//! (e.g. a presence change → `.presence`, maybe `.routingStatus`, and `.activity`).

use serde_json::Value;

use crate::ids;
use crate::model::{Conversation, Media, Phase, Waiting, World, ON_QUEUE, PRESENCE_DEFS};
use crate::payload;

/// One notification to deliver: topic name (canonical casing) and event body.
#[derive(Debug, Clone)]
pub(crate) struct Notification {
    pub topic: String,
    pub body: Value,
}

/// Routing statuses (PY269 `routing_status.py`).
pub(crate) const ROUTING_STATUSES: [&str; 5] = [
    "OFF_QUEUE",
    "IDLE",
    "INTERACTING",
    "NOT_RESPONDING",
    "COMMUNICATING",
];

/// Wrap-up codes the generator submits.
const WRAPUP_CODES: [&str; 3] = [
    "7fe1b4b0-6a0d-4b5f-9a6c-1c7e2f1d0a01",
    "7fe1b4b0-6a0d-4b5f-9a6c-1c7e2f1d0a02",
    "7fe1b4b0-6a0d-4b5f-9a6c-1c7e2f1d0a03",
];

#[derive(Debug, Clone, Copy)]
enum Action {
    Presence,
    Routing,
    Arrive,
    Offer,
    Answer,
    Hangup,
    Wrapup,
    Abandon,
    Membership,
}

/// Relative weights of the actions.
const WEIGHTS: [(Action, u32); 9] = [
    (Action::Presence, 18),
    (Action::Routing, 5),
    (Action::Arrive, 16),
    (Action::Offer, 16),
    (Action::Answer, 13),
    (Action::Hangup, 11),
    (Action::Wrapup, 11),
    (Action::Abandon, 4),
    (Action::Membership, 6),
];

/// Generates one event at sim time `now`; `None` only if the world has nothing that can change.
pub(crate) fn next(world: &mut World, now: u64) -> Option<Vec<Notification>> {
    let total: u32 = WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut roll = world.rng.u32(..total);
    let mut action = Action::Presence;
    for (a, w) in WEIGHTS {
        if roll < w {
            action = a;
            break;
        }
        roll -= w;
    }
    let out = match action {
        Action::Presence => None,
        Action::Routing => routing(world, now),
        Action::Arrive => arrive(world, now),
        Action::Offer => offer(world, now),
        Action::Answer => answer(world, now),
        Action::Hangup => hangup(world, now),
        Action::Wrapup => wrapup(world, now),
        Action::Abandon => abandon(world, now),
        Action::Membership => membership(world, now),
    };
    out.or_else(|| presence(world, now))
        .or_else(|| arrive(world, now))
}

/// Scripted presence change: presence + activity only (no routing cascade, so a test sees exactly what it set).
pub(crate) fn set_presence(
    world: &mut World,
    user: &str,
    def: usize,
    now: u64,
) -> Option<Vec<Notification>> {
    let agent = world.agents.get_mut(user)?;
    agent.presence = def;
    agent.presence_ms = agent.stamp(now);
    let queues = agent.queues.clone();
    let out = user_notifications(world, user, true, false, true);
    for q in queues {
        world.refresh_queue(&q, now);
    }
    Some(out)
}

/// Scripted routing-status change: routingStatus + activity only.
pub(crate) fn set_routing(
    world: &mut World,
    user: &str,
    status: &'static str,
    now: u64,
) -> Option<Vec<Notification>> {
    let agent = world.agents.get_mut(user)?;
    agent.routing = status;
    agent.routing_ms = agent.stamp(now);
    Some(user_notifications(world, user, false, true, true))
}

fn user_notifications(
    world: &World,
    user: &str,
    presence: bool,
    routing: bool,
    activity: bool,
) -> Vec<Notification> {
    let Some(agent) = world.agents.get(user) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if presence {
        out.push(Notification {
            topic: format!("v2.users.{user}.presence"),
            body: payload::presence(agent),
        });
    }
    if routing {
        out.push(Notification {
            topic: format!("v2.users.{user}.routingStatus"),
            body: payload::routing_status(agent),
        });
    }
    if activity {
        out.push(Notification {
            topic: format!("v2.users.{user}.activity"),
            body: payload::activity(agent),
        });
    }
    out
}

fn conversation_notifications(world: &World, user: &str) -> Vec<Notification> {
    let Some(agent) = world.agents.get(user) else {
        return Vec::new();
    };
    let Some(c) = &agent.conversation else {
        return Vec::new();
    };
    let body = payload::conversation(world, agent, c);
    vec![
        Notification {
            topic: format!("v2.users.{user}.conversations"),
            body: body.clone(),
        },
        Notification {
            topic: format!("v2.users.{user}.conversations.{}", c.media.plural()),
            body,
        },
    ]
}

/// Picks an agent satisfying `pred`, probing from a random start (deterministic given the RNG).
fn pick_agent(world: &mut World, pred: impl Fn(&crate::model::Agent) -> bool) -> Option<String> {
    let n = world.agent_order.len();
    if n == 0 {
        return None;
    }
    let start = world.rng.usize(..n);
    (0..n)
        .map(|i| &world.agent_order[(start + i) % n])
        .find(|id| world.agents.get(*id).is_some_and(&pred))
        .cloned()
}

fn pick_queue(world: &mut World, pred: impl Fn(&crate::model::Queue) -> bool) -> Option<String> {
    let n = world.queue_order.len();
    if n == 0 {
        return None;
    }
    let start = world.rng.usize(..n);
    (0..n)
        .map(|i| &world.queue_order[(start + i) % n])
        .find(|id| world.queues.get(*id).is_some_and(&pred))
        .cloned()
}

fn presence(world: &mut World, now: u64) -> Option<Vec<Notification>> {
    let user = pick_agent(world, |a| !a.busy())?;
    let current = world.agents.get(&user)?.presence;
    let new = if current != ON_QUEUE && world.rng.bool() {
        ON_QUEUE
    } else {
        let mut d = world.rng.usize(..PRESENCE_DEFS.len() - 1);
        if d >= current {
            d += 1;
        }
        d
    };
    let agent = world.agents.get_mut(&user)?;
    agent.presence = new;
    agent.presence_ms = agent.stamp(now);
    let cascade = match (new == ON_QUEUE, agent.routing == "OFF_QUEUE") {
        (true, true) => Some("IDLE"),
        (false, false) => Some("OFF_QUEUE"),
        _ => None,
    };
    if let Some(status) = cascade {
        agent.routing = status;
        agent.routing_ms = agent.stamp(now);
    }
    let queues = agent.queues.clone();
    let out = user_notifications(world, &user, true, cascade.is_some(), true);
    for q in queues {
        world.refresh_queue(&q, now);
    }
    Some(out)
}

fn routing(world: &mut World, now: u64) -> Option<Vec<Notification>> {
    let user = pick_agent(world, |a| a.presence == ON_QUEUE && !a.busy())?;
    let roll = world.rng.u8(..3);
    let agent = world.agents.get_mut(&user)?;
    agent.routing = match (agent.routing, roll) {
        ("IDLE", 0) => "COMMUNICATING",
        ("IDLE", _) => "NOT_RESPONDING",
        _ => "IDLE",
    };
    agent.routing_ms = agent.stamp(now);
    Some(user_notifications(world, &user, false, true, true))
}

fn arrive(world: &mut World, now: u64) -> Option<Vec<Notification>> {
    let q = pick_queue(world, |_| true)?;
    let media = Media::ALL[world.rng.usize(..Media::ALL.len())];
    let conversation_id = ids::uuid(&mut world.rng);
    world.queues.get_mut(&q)?.waiting.push_back(Waiting {
        conversation_id,
        media,
        since_ms: now,
    });
    world.record_offer(&q, now);
    world.refresh_queue(&q, now);
    Some(Vec::new())
}

fn abandon(world: &mut World, now: u64) -> Option<Vec<Notification>> {
    let q = pick_queue(world, |q| !q.waiting.is_empty())?;
    let len = world.queues.get(&q)?.waiting.len();
    let i = world.rng.usize(..len);
    let gone = world.queues.get_mut(&q)?.waiting.remove(i)?;
    world.record_abandon(&q, now.saturating_sub(gone.since_ms), now);
    world.refresh_queue(&q, now);
    Some(Vec::new())
}

fn offer(world: &mut World, now: u64) -> Option<Vec<Notification>> {
    let ready =
        |a: &crate::model::Agent| a.presence == ON_QUEUE && a.routing == "IDLE" && !a.busy();
    let n = world.queue_order.len();
    if n == 0 {
        return None;
    }
    let first = world.rng.usize(..n);
    let q = (0..n)
        .map(|i| &world.queue_order[(first + i) % n])
        .find(|id| {
            world.queues.get(*id).is_some_and(|q| {
                !q.waiting.is_empty()
                    && q.members
                        .iter()
                        .any(|m| world.agents.get(m).is_some_and(ready))
            })
        })?
        .clone();
    let members = world.queues.get(&q)?.members.clone();
    let start = world.rng.usize(..members.len());
    let user = (0..members.len())
        .map(|i| &members[(start + i) % members.len()])
        .find(|m| world.agents.get(*m).is_some_and(ready))?
        .clone();
    let w = world.queues.get_mut(&q)?.waiting.pop_front()?;
    let rng = &mut world.rng;
    let phone = format!("+1614555{:04}", rng.u16(..10_000));
    let mut c = Conversation {
        id: w.conversation_id,
        media: w.media,
        queue_id: q.clone(),
        customer_pid: ids::uuid(rng),
        acd_pid: ids::uuid(rng),
        agent_pid: ids::uuid(rng),
        customer_cid: ids::uuid(rng),
        acd_cid: ids::uuid(rng),
        agent_cid: ids::uuid(rng),
        customer_phone: phone,
        entered_queue_ms: w.since_ms,
        alerting_ms: 0,
        connected_ms: None,
        disconnected_ms: None,
        wrapup_ms: None,
        wrapup_code: None,
        phase: Phase::Alerting,
    };
    let agent = world.agents.get_mut(&user)?;
    let ts = agent.stamp(now);
    c.alerting_ms = ts;
    agent.conversation = Some(c);
    agent.routing = "INTERACTING";
    agent.routing_ms = ts;
    let mut out = conversation_notifications(world, &user);
    out.extend(user_notifications(world, &user, false, true, true));
    world.refresh_queue(&q, now);
    Some(out)
}

fn in_phase(world: &mut World, phase: Phase) -> Option<String> {
    pick_agent(world, |a| {
        a.conversation.as_ref().is_some_and(|c| c.phase == phase)
    })
}

fn answer(world: &mut World, now: u64) -> Option<Vec<Notification>> {
    let user = in_phase(world, Phase::Alerting)?;
    let agent = world.agents.get_mut(&user)?;
    let ts = agent.stamp(now);
    let c = agent.conversation.as_mut()?;
    c.connected_ms = Some(ts);
    c.phase = Phase::Connected;
    let (q, waited) = (c.queue_id.clone(), ts.saturating_sub(c.entered_queue_ms));
    world.record_answer(&q, waited, now);
    let out = conversation_notifications(world, &user);
    world.refresh_queue(&q, now);
    Some(out)
}

fn hangup(world: &mut World, now: u64) -> Option<Vec<Notification>> {
    let user = in_phase(world, Phase::Connected)?;
    let agent = world.agents.get_mut(&user)?;
    let ts = agent.stamp(now);
    let c = agent.conversation.as_mut()?;
    c.disconnected_ms = Some(ts);
    c.phase = Phase::AfterCallWork;
    let q = c.queue_id.clone();
    let out = conversation_notifications(world, &user);
    world.refresh_queue(&q, now);
    Some(out)
}

fn wrapup(world: &mut World, now: u64) -> Option<Vec<Notification>> {
    let user = in_phase(world, Phase::AfterCallWork)?;
    let code = WRAPUP_CODES[world.rng.usize(..WRAPUP_CODES.len())];
    let agent = world.agents.get_mut(&user)?;
    let ts = agent.stamp(now);
    let c = agent.conversation.as_mut()?;
    c.wrapup_ms = Some(ts);
    c.wrapup_code = Some(code);
    c.phase = Phase::Done;
    let q = c.queue_id.clone();
    agent.routing = if agent.presence == ON_QUEUE {
        "IDLE"
    } else {
        "OFF_QUEUE"
    };
    agent.routing_ms = ts;
    let mut out = conversation_notifications(world, &user);
    out.extend(user_notifications(world, &user, false, true, true));
    world.refresh_queue(&q, now);
    Some(out)
}

fn membership(world: &mut World, now: u64) -> Option<Vec<Notification>> {
    let user = pick_agent(world, |a| !a.busy())?;
    let q = pick_queue(world, |_| true)?;
    let agent = world.agents.get_mut(&user)?;
    let joined = match (agent.queues.contains(&q), agent.queues.len()) {
        (true, n) if n > 1 => false,
        (false, n) if n < 3 => true,
        _ => return None,
    };
    agent.queues_ms = agent.stamp(now);
    if joined {
        agent.queues.push(q.clone());
        agent.queues.sort();
    } else {
        agent.queues.retain(|x| x != &q);
    }
    let queue = world.queues.get_mut(&q)?;
    if joined {
        queue.members.push(user.clone());
        queue.members.sort();
    } else {
        queue.members.retain(|x| x != &user);
    }
    let mut out = vec![Notification {
        topic: format!("v2.routing.queues.{q}.users"),
        body: payload::queue_user(&q, &user, joined),
    }];
    out.extend(user_notifications(world, &user, false, false, true));
    world.refresh_queue(&q, now);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_and_timestamps_increase() {
        let now = 1_700_000_000_000;
        let mut a = World::new(3, 20, 3, 1, now);
        let mut b = World::new(3, 20, 3, 1, now);
        let mut last: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for _ in 0..2000 {
            let na = next(&mut a, now).map(|v| v.into_iter().map(|n| n.topic).collect::<Vec<_>>());
            let nb = next(&mut b, now).map(|v| v.into_iter().map(|n| n.topic).collect::<Vec<_>>());
            assert_eq!(na, nb);
            for (id, agent) in &a.agents {
                let prev = last.entry(id.clone()).or_insert((0, 0));
                assert!(agent.presence_ms >= prev.0 && agent.routing_ms >= prev.1);
                *prev = (agent.presence_ms, agent.routing_ms);
                if let Some(c) = &agent.conversation {
                    assert!(c.phase == Phase::Done || agent.routing == "INTERACTING");
                }
            }
        }
        assert_eq!(a.truth(), b.truth());
        // The lifecycle actually ran.
        assert!(a.agents.values().any(|x| x
            .conversation
            .as_ref()
            .is_some_and(|c| c.phase == Phase::Done)));
    }
}
