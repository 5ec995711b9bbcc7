//! The simulated organisation: population (agents, queues, groups, presence definitions) and the ground truth.
//!
//! Owns: the mutable world state every event is applied to, the public [`Truth`] snapshot types, and the
//! queue bookkeeping (snapshot observations and 30-minute aggregates). Does not own: choosing events
//! (`generate.rs`), JSON shapes (`payload.rs`), or delivery (`hub.rs`).
//!
//! Derived state kept in step with the agents so that no event walks the population or a queue's members
//! (10,000 agents at >100k events/s): per-queue member counts (`sync_agent` after every agent change,
//! `membership_changed` after a join/leave), and ordered indexes of free agents, agents per conversation
//! phase, queues with someone waiting and queues a conversation can be offered from. The generator's unit
//! test checks every index and count against a full walk after each event.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use fastrand::Rng;
use serde::{Deserialize, Serialize};

use crate::ids;

/// One org presence definition. Ids and labels are the real ones from a captured
/// `GET /api/v2/presencedefinitions` (TF-PD, `samples/presencedefinitions.legacy.response.json`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PresenceDef {
    /// Definition id (stable across orgs for the primary ones).
    pub id: &'static str,
    /// System presence in legacy REST casing (`On Queue`).
    pub legacy: &'static str,
    /// en_US label.
    pub label: &'static str,
    /// Primary (system) definition vs a custom secondary one.
    pub primary: bool,
}

/// The definitions the sim's org has: 10 primary + 3 custom (two Break, one Away).
pub(crate) const PRESENCE_DEFS: [PresenceDef; 13] = [
    PresenceDef {
        id: "6a3af858-942f-489d-9700-5f9bcdcdae9b",
        legacy: "Available",
        label: "Available",
        primary: true,
    },
    PresenceDef {
        id: "992c2437-1833-4737-9ff4-eafdc4a360c8",
        legacy: "Break",
        label: "Updated Java Presence",
        primary: false,
    },
    PresenceDef {
        id: "09dd6ff4-ff90-4d98-a3de-88a63db56e64",
        legacy: "Break",
        label: "Another Break Presence",
        primary: false,
    },
    PresenceDef {
        id: "31fe3bac-dea6-44b7-bed7-47f91660a1a0",
        legacy: "Busy",
        label: "Busy",
        primary: true,
    },
    PresenceDef {
        id: "7ffa01cd-7866-4ad7-8faa-31e11b42f51f",
        legacy: "Idle",
        label: "Idle",
        primary: true,
    },
    PresenceDef {
        id: "5e5c5c66-ea97-4e7f-ac41-6424784829f2",
        legacy: "Away",
        label: "Away",
        primary: true,
    },
    PresenceDef {
        id: "bbdff279-7ae1-48ea-bade-7831d7234c64",
        legacy: "Meeting",
        label: "Meeting",
        primary: true,
    },
    PresenceDef {
        id: "2fa68d50-5edb-4e01-9390-522615f12243",
        legacy: "Away",
        label: "Away From Keyboard V2",
        primary: false,
    },
    PresenceDef {
        id: "3fd96123-badb-4f69-bc03-1b1ccc6d8014",
        legacy: "Meal",
        label: "Meal",
        primary: true,
    },
    PresenceDef {
        id: "d2390a99-8546-bad9-8f0a-219548e8aeb0",
        legacy: "Training",
        label: "Training",
        primary: true,
    },
    PresenceDef {
        id: "e08eaf1b-ee47-4fa9-a231-1200e284798f",
        legacy: "On Queue",
        label: "On Queue",
        primary: true,
    },
    PresenceDef {
        id: "227b37e2-f1d0-4dd0-8f50-badd7cf6d158",
        legacy: "Break",
        label: "Break",
        primary: true,
    },
    PresenceDef {
        id: "ccf3c10a-aa2c-4845-8e8d-f59fa48c58e5",
        legacy: "Offline",
        label: "Offline",
        primary: true,
    },
];

/// Index of On Queue in [`PRESENCE_DEFS`].
pub(crate) const ON_QUEUE: usize = 10;
/// Index of Available in [`PRESENCE_DEFS`].
pub(crate) const AVAILABLE: usize = 0;
/// Index of Offline in [`PRESENCE_DEFS`].
pub(crate) const OFFLINE: usize = 12;

impl PresenceDef {
    /// Notification casing: `ON_QUEUE`.
    pub(crate) fn upper_snake(&self) -> String {
        self.legacy.to_ascii_uppercase().replace(' ', "_")
    }

    /// New REST casing (`/api/v2/presence/definitions`): `OnQueue`.
    pub(crate) fn camel(&self) -> String {
        self.legacy.replace(' ', "")
    }
}

/// Index of a definition id (case-insensitive).
pub(crate) fn presence_index(id: &str) -> Option<usize> {
    PRESENCE_DEFS
        .iter()
        .position(|d| d.id.eq_ignore_ascii_case(id))
}

/// Interaction media the generator uses, with their conversation-body array names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Media {
    Call,
    Callback,
    Chat,
    Email,
    Message,
}

impl Media {
    /// All media, in generator pick order.
    pub(crate) const ALL: [Media; 5] = [
        Media::Call,
        Media::Callback,
        Media::Chat,
        Media::Email,
        Media::Message,
    ];

    /// Singular name used in the truth (`call`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Media::Call => "call",
            Media::Callback => "callback",
            Media::Chat => "chat",
            Media::Email => "email",
            Media::Message => "message",
        }
    }

    /// Participant array / topic suffix name (`calls`).
    pub(crate) fn plural(self) -> &'static str {
        match self {
            Media::Call => "calls",
            Media::Callback => "callbacks",
            Media::Chat => "chats",
            Media::Email => "emails",
            Media::Message => "messages",
        }
    }
}

/// Where a conversation is in the agent's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Alerting,
    Connected,
    /// Disconnected, agent in after-call work (participant `wrapupRequired:true`, no `wrapup` yet).
    AfterCallWork,
    /// Wrap-up submitted; the conversation is over for the agent.
    Done,
}

/// Slot of an open phase in `World::phase_index` (`Done` is not indexed: nothing looks agents up by it).
pub(crate) fn phase_slot(phase: Phase) -> Option<usize> {
    match phase {
        Phase::Alerting => Some(0),
        Phase::Connected => Some(1),
        Phase::AfterCallWork => Some(2),
        Phase::Done => None,
    }
}

/// A conversation as the agent participant sees it; every timestamp is sim ms.
#[derive(Debug, Clone)]
pub(crate) struct Conversation {
    pub id: String,
    pub media: Media,
    pub queue_id: String,
    pub customer_pid: String,
    pub acd_pid: String,
    pub agent_pid: String,
    pub customer_cid: String,
    pub acd_cid: String,
    pub agent_cid: String,
    pub customer_phone: String,
    pub entered_queue_ms: u64,
    pub alerting_ms: u64,
    pub connected_ms: Option<u64>,
    pub disconnected_ms: Option<u64>,
    pub wrapup_ms: Option<u64>,
    pub wrapup_code: Option<&'static str>,
    pub phase: Phase,
}

impl Conversation {
    /// Newest timestamp carried by the agent participant (the truth's `changed_ms`).
    pub(crate) fn changed_ms(&self) -> u64 {
        [
            Some(self.alerting_ms),
            self.connected_ms,
            self.disconnected_ms,
            self.wrapup_ms,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(self.alerting_ms)
    }

    /// Truth state string.
    pub(crate) fn state(&self) -> &'static str {
        match self.phase {
            Phase::Alerting => "alerting",
            Phase::Connected => "connected",
            Phase::AfterCallWork | Phase::Done => "disconnected",
        }
    }
}

/// One simulated agent.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    pub id: String,
    pub name: String,
    pub email: String,
    /// Index into [`PRESENCE_DEFS`].
    pub presence: usize,
    pub presence_message: String,
    pub presence_ms: u64,
    pub routing: &'static str,
    pub routing_ms: u64,
    /// Queue ids this agent is a (joined) member of, sorted.
    pub queues: Vec<String>,
    pub queues_ms: u64,
    pub conversation: Option<Conversation>,
    /// The conversation before `conversation` (what a lagging details index may still show).
    pub previous: Option<Conversation>,
    /// Out of office (`outOfOffice.active`), and when that last changed (0: never).
    pub out_of_office: bool,
    pub out_of_office_ms: u64,
    /// Newest timestamp issued for this agent: every new one is strictly greater.
    pub last_ts: u64,
}

impl Agent {
    /// A timestamp for a new change: sim now, but strictly after every earlier one of this agent.
    pub(crate) fn stamp(&mut self, now: u64) -> u64 {
        let ts = now.max(self.last_ts + 1);
        self.last_ts = ts;
        ts
    }

    /// Whether the agent is busy with a conversation (anything but none/done).
    pub(crate) fn busy(&self) -> bool {
        self.conversation
            .as_ref()
            .is_some_and(|c| c.phase != Phase::Done)
    }

    /// Presence definition.
    pub(crate) fn def(&self) -> &'static PresenceDef {
        &PRESENCE_DEFS[self.presence]
    }
}

/// A customer waiting in a queue.
#[derive(Debug, Clone)]
pub(crate) struct Waiting {
    pub conversation_id: String,
    pub media: Media,
    pub since_ms: u64,
}

/// Snapshot ("observation") metrics of a queue at `observed_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Snapshot {
    pub waiting: u32,
    pub interacting: u32,
    pub alerting: u32,
    pub on_queue: u32,
    pub off_queue: u32,
    /// Oldest waiting customer's entry time (the longest-waiting duration is computed at `observed_ms`).
    pub oldest_waiting_since: Option<u64>,
}

/// Count/sum/min/max of a duration metric.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DurationStats {
    pub count: u32,
    pub sum: u64,
    pub min: u64,
    pub max: u64,
}

impl DurationStats {
    fn add(&mut self, v: u64) {
        self.min = if self.count == 0 { v } else { self.min.min(v) };
        self.max = self.max.max(v);
        self.count += 1;
        self.sum += v;
    }
}

/// 30-minute aggregate of a queue.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Aggregate {
    pub interval_start: u64,
    pub offered: u32,
    pub answered: DurationStats,
    pub abandoned: DurationStats,
    /// Answered within [`SERVICE_LEVEL_TARGET_MS`].
    pub sl_numerator: u32,
}

impl Aggregate {
    /// Service-level denominator: answered + abandoned.
    pub(crate) fn sl_denominator(&self) -> u32 {
        self.answered.count + self.abandoned.count
    }

    /// Service level in percent, if anything was answered or abandoned.
    /// `oServiceLevel`'s ratio as a consumer keeps it: per mille, rounded.
    pub(crate) fn sl_permille(&self) -> Option<u16> {
        let den = self.sl_denominator();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (den > 0).then(|| (f64::from(self.sl_numerator) / f64::from(den) * 1000.0).round() as u16)
    }

    pub(crate) fn sl_pct(&self) -> Option<f32> {
        let den = self.sl_denominator();
        (den > 0).then(|| {
            100.0 * f32::from(u16::try_from(self.sl_numerator).unwrap_or(u16::MAX))
                / f32::from(u16::try_from(den).unwrap_or(u16::MAX))
        })
    }
}

/// Aggregate interval length (analytics notifications: 30-minute intervals).
pub(crate) const AGGREGATE_INTERVAL_MS: u64 = 30 * 60 * 1000;
/// Service-level answer target (the common 80/20 setting: 20 s).
pub(crate) const SERVICE_LEVEL_TARGET_MS: u64 = 20_000;
/// Service-level ratio target reported in `oServiceLevel.stats.target`.
pub(crate) const SERVICE_LEVEL_TARGET_RATIO: f64 = 0.8;
/// Observation notifications per queue are paced to at most one per this much sim time (AN-NOTIF).
pub(crate) const OBSERVATION_MIN_GAP_MS: u64 = 1000;

/// One simulated queue.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    pub id: String,
    pub name: String,
    /// Joined members, sorted.
    pub members: Vec<String>,
    pub waiting: VecDeque<Waiting>,
    pub snapshot: Snapshot,
    pub observed_ms: u64,
    pub aggregate: Aggregate,
    /// A snapshot change not yet notified.
    pub snapshot_dirty: bool,
    /// An aggregate change not yet notified.
    pub aggregate_dirty: bool,
    /// When the last observation notification for this queue went out.
    pub last_notified_ms: Option<u64>,
}

/// One group.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
}

/// The whole simulated org.
#[derive(Debug)]
pub(crate) struct World {
    pub agents: BTreeMap<String, Agent>,
    /// Agent ids in creation order (the generator picks by index, so choices depend only on the seed).
    pub agent_order: Vec<String>,
    pub queues: BTreeMap<String, Queue>,
    pub queue_order: Vec<String>,
    pub groups: Vec<Group>,
    /// Deterministic generator RNG.
    pub rng: Rng,
    /// Organisation id put in system messages.
    pub org_id: String,
    /// Division id put in conversation bodies.
    pub division_id: String,
    /// Index of each agent id in `agent_order`.
    agent_pos: HashMap<String, usize>,
    /// Positions (in `agent_order`) of the agents whose conversation is in each open [`Phase`] (see
    /// [`phase_slot`]): the generator finds "an agent in phase P after position i" in O(log n) instead of
    /// walking the population. Kept in step by [`World::reindex_phase`].
    phase_index: [BTreeSet<usize>; 3],
    /// Index of each queue id in `queue_order`.
    queue_pos: HashMap<String, usize>,
    /// What each agent (by position) currently adds to the counts of the queues it is a member of.
    contributions: Vec<Contribution>,
    /// Member counts of each queue (by position), kept up to date by [`World::sync_agent`] and
    /// [`World::membership_changed`], so a snapshot refresh is O(1) in the queue's membership.
    counts: Vec<QueueCounts>,
    /// Positions of the queues a conversation can be offered from right now: someone waiting and at least
    /// one ready member (On Queue, IDLE, no open conversation).
    offerable: BTreeSet<usize>,
    /// Positions of the queues with someone waiting.
    waiting: BTreeSet<usize>,
    /// Start of the newest aggregate interval every queue has been rolled to (skips the walk in
    /// [`World::roll_aggregates`] within an interval).
    rolled_to: u64,
    /// Positions of the agents without an open conversation ([`Pick::Free`]).
    free: BTreeSet<usize>,
    /// Positions of the On Queue agents without an open conversation ([`Pick::FreeOnQueue`]).
    free_on_queue: BTreeSet<usize>,
}

/// Indexed agent sets the generator picks from (see [`World::first_agent_from`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// No open conversation (`!Agent::busy()`).
    Free,
    /// On Queue and no open conversation.
    FreeOnQueue,
}

/// What one agent adds to the counts of a queue it is a member of (see [`World::sync_agent`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Contribution {
    on_queue: bool,
    /// Not On Queue and not Offline.
    off_queue: bool,
    /// On Queue, IDLE and no open conversation: a conversation can be offered to this agent.
    ready: bool,
    /// Position of the queue of the agent's open conversation, and whether it is alerting (else connected);
    /// `None` without a conversation in those phases.
    conversation: Option<(usize, bool)>,
    /// No open conversation (member of [`Pick::Free`]; not a queue count).
    free: bool,
}

/// Per-queue member counts (the member-derived part of a [`Snapshot`], plus ready members).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct QueueCounts {
    on_queue: u32,
    off_queue: u32,
    ready: u32,
    alerting: u32,
    interacting: u32,
}

const FIRST: [&str; 16] = [
    "Agnes", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Kaia", "Luis", "Mira", "Nils", "Olga", "Pavel",
];
const LAST: [&str; 12] = [
    "Agent", "Berg", "Costa", "Dahl", "Eriksen", "Fischer", "Garcia", "Haas", "Ivanova", "Jensen",
    "Kowalski", "Lund",
];
const QUEUE_NAMES: [&str; 8] = [
    "Support",
    "Sales",
    "Billing",
    "Retention",
    "Technical",
    "Claims",
    "VIP",
    "Outbound",
];

impl World {
    /// Builds the population deterministically from `seed` with every timestamp before `now`.
    pub(crate) fn new(seed: u64, agents: usize, queues: usize, groups: usize, now: u64) -> World {
        let mut rng = Rng::with_seed(seed);
        let org_id = ids::uuid(&mut rng);
        let division_id = ids::uuid(&mut rng);
        let queue_order: Vec<String> = (0..queues).map(|_| ids::uuid(&mut rng)).collect();
        let mut queue_map: BTreeMap<String, Queue> = BTreeMap::new();
        for (i, id) in queue_order.iter().enumerate() {
            let base = QUEUE_NAMES[i % QUEUE_NAMES.len()];
            let name = if i < QUEUE_NAMES.len() {
                base.to_owned()
            } else {
                format!("{base} {}", i / QUEUE_NAMES.len() + 1)
            };
            let interval_start = now - now % AGGREGATE_INTERVAL_MS;
            queue_map.insert(
                id.clone(),
                Queue {
                    id: id.clone(),
                    name,
                    members: Vec::new(),
                    waiting: VecDeque::new(),
                    snapshot: Snapshot::default(),
                    observed_ms: now,
                    aggregate: Aggregate {
                        interval_start,
                        ..Aggregate::default()
                    },
                    snapshot_dirty: false,
                    aggregate_dirty: false,
                    last_notified_ms: None,
                },
            );
        }
        let mut agent_map = BTreeMap::new();
        let mut agent_order = Vec::with_capacity(agents);
        for i in 0..agents {
            let id = ids::uuid(&mut rng);
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i / FIRST.len() + i) % LAST.len()];
            let name = if i < FIRST.len() * LAST.len() {
                format!("{first} {last}")
            } else {
                format!("{first} {last} {i}")
            };
            let email = format!(
                "{}.{}{}@sim.example.invalid",
                first.to_lowercase(),
                last.to_lowercase(),
                i
            );
            let roll = rng.u32(0..100);
            let presence = match roll {
                0..=59 => ON_QUEUE,
                60..=74 => AVAILABLE,
                75..=84 => OFFLINE,
                _ => rng.usize(..PRESENCE_DEFS.len()),
            };
            let presence_ms = now.saturating_sub(rng.u64(60_000..7_200_000));
            let routing = if presence == ON_QUEUE {
                "IDLE"
            } else {
                "OFF_QUEUE"
            };
            let routing_ms = presence_ms + rng.u64(1..5_000);
            let mut member_of = Vec::new();
            if queues > 0 {
                let n = rng.usize(1..=3.min(queues));
                while member_of.len() < n {
                    let q = queue_order[rng.usize(..queues)].clone();
                    if !member_of.contains(&q) {
                        member_of.push(q);
                    }
                }
                member_of.sort();
            }
            let queues_ms = now.saturating_sub(rng.u64(86_400_000..172_800_000));
            for q in &member_of {
                if let Some(queue) = queue_map.get_mut(q) {
                    queue.members.push(id.clone());
                }
            }
            agent_order.push(id.clone());
            agent_map.insert(
                id.clone(),
                Agent {
                    id,
                    name,
                    email,
                    presence,
                    presence_message: String::new(),
                    presence_ms,
                    routing,
                    routing_ms,
                    queues: member_of,
                    queues_ms,
                    conversation: None,
                    previous: None,
                    out_of_office: false,
                    out_of_office_ms: 0,
                    last_ts: presence_ms.max(routing_ms).max(queues_ms),
                },
            );
        }
        let mut group_list = Vec::with_capacity(groups);
        for g in 0..groups {
            let id = ids::uuid(&mut rng);
            let mut members: Vec<String> =
                agent_order.iter().filter(|_| rng.bool()).cloned().collect();
            if members.is_empty() {
                if let Some(first) = agent_order.first() {
                    members.push(first.clone());
                }
            }
            members.sort();
            group_list.push(Group {
                id,
                name: format!("Sim Group {}", g + 1),
                members,
            });
        }
        let agent_pos = agent_order
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let mut world = World {
            agents: agent_map,
            agent_order,
            queues: queue_map,
            queue_order,
            groups: group_list,
            rng,
            org_id,
            division_id,
            agent_pos,
            phase_index: Default::default(),
            queue_pos: HashMap::new(),
            contributions: Vec::new(),
            counts: Vec::new(),
            offerable: BTreeSet::new(),
            waiting: BTreeSet::new(),
            rolled_to: now - now % AGGREGATE_INTERVAL_MS,
            free: BTreeSet::new(),
            free_on_queue: BTreeSet::new(),
        };
        world.queue_pos = world
            .queue_order
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        world.counts = vec![QueueCounts::default(); world.queue_order.len()];
        world.contributions = vec![Contribution::default(); world.agent_order.len()];
        for user in world.agent_order.clone() {
            world.sync_agent(&user);
        }
        for q in world.queue_order.clone() {
            if let Some(queue) = world.queues.get_mut(&q) {
                queue.members.sort();
            }
            world.refresh_queue(&q, now);
            if let Some(queue) = world.queues.get_mut(&q) {
                queue.snapshot_dirty = false;
            }
        }
        world
    }

    /// Records that `user`'s conversation moved from phase `before` to `after` (`None`: no conversation).
    pub(crate) fn reindex_phase(
        &mut self,
        user: &str,
        before: Option<Phase>,
        after: Option<Phase>,
    ) {
        let Some(&pos) = self.agent_pos.get(user) else {
            return;
        };
        if let Some(slot) = before.and_then(phase_slot) {
            self.phase_index[slot].remove(&pos);
        }
        if let Some(slot) = after.and_then(phase_slot) {
            self.phase_index[slot].insert(pos);
        }
    }

    /// The first agent (in `agent_order`, wrapping around) at or after position `start` whose conversation is
    /// in `phase` — exactly what a walk of `agent_order` from `start` would find, without the walk.
    pub(crate) fn first_in_phase_from(&self, phase: Phase, start: usize) -> Option<&String> {
        let set = &self.phase_index[phase_slot(phase)?];
        let pos = set.range(start..).next().or_else(|| set.iter().next())?;
        self.agent_order.get(*pos)
    }

    /// What `agent` adds to the counts of its queues now.
    fn contribution(&self, agent: &Agent) -> Contribution {
        let conversation = agent.conversation.as_ref().and_then(|c| {
            let alerting = match c.phase {
                Phase::Alerting => true,
                Phase::Connected => false,
                Phase::AfterCallWork | Phase::Done => return None,
            };
            self.queue_pos.get(&c.queue_id).map(|&q| (q, alerting))
        });
        Contribution {
            on_queue: agent.presence == ON_QUEUE,
            off_queue: agent.presence != ON_QUEUE && agent.presence != OFFLINE,
            ready: agent.presence == ON_QUEUE && agent.routing == "IDLE" && !agent.busy(),
            conversation,
            free: !agent.busy(),
        }
    }

    /// Adds (`add`) or removes one member's contribution to queue `q`.
    fn apply(&mut self, q: usize, c: Contribution, add: bool) {
        let Some(counts) = self.counts.get_mut(q) else {
            return;
        };
        let step = |n: &mut u32, on: bool| {
            if on {
                *n = if add { *n + 1 } else { n.saturating_sub(1) };
            }
        };
        step(&mut counts.on_queue, c.on_queue);
        step(&mut counts.off_queue, c.off_queue);
        step(&mut counts.ready, c.ready);
        if let Some((cq, alerting)) = c.conversation {
            if cq == q {
                step(&mut counts.alerting, alerting);
                step(&mut counts.interacting, !alerting);
            }
        }
        if c.ready {
            self.reindex_offerable(q);
        }
    }

    /// Brings the queue counts and the agent indexes up to date with `user`'s current state. Call after every
    /// change to an agent's presence, routing status or conversation (membership changes go through
    /// [`World::membership_changed`]).
    pub(crate) fn sync_agent(&mut self, user: &str) {
        let (Some(&pos), Some(agent)) = (self.agent_pos.get(user), self.agents.get(user)) else {
            return;
        };
        let new = self.contribution(agent);
        let old = self.contributions[pos];
        if new == old {
            return;
        }
        for (set, was, is) in [
            (&mut self.free, old.free, new.free),
            (
                &mut self.free_on_queue,
                old.free && old.on_queue,
                new.free && new.on_queue,
            ),
        ] {
            if is && !was {
                set.insert(pos);
            } else if was && !is {
                set.remove(&pos);
            }
        }
        let (old_counts, new_counts) = (
            Contribution { free: false, ..old },
            Contribution { free: false, ..new },
        );
        if old_counts != new_counts {
            let queues: Vec<usize> = agent
                .queues
                .iter()
                .filter_map(|q| self.queue_pos.get(q).copied())
                .collect();
            for q in queues {
                self.apply(q, old, false);
                self.apply(q, new, true);
            }
        }
        self.contributions[pos] = new;
    }

    /// Whether a conversation can be offered to `user` now: On Queue, IDLE, no open conversation.
    pub(crate) fn is_ready(&self, user: &str) -> bool {
        self.agent_pos
            .get(user)
            .and_then(|&pos| self.contributions.get(pos))
            .is_some_and(|c| c.ready)
    }

    /// Brings the counts of queue `queue_id` up to date after `user` joined (or left) it. Call after changing
    /// both `Agent::queues` and `Queue::members`.
    pub(crate) fn membership_changed(&mut self, user: &str, queue_id: &str, joined: bool) {
        let (Some(&pos), Some(&q)) = (self.agent_pos.get(user), self.queue_pos.get(queue_id))
        else {
            return;
        };
        let c = self.contributions[pos];
        self.apply(q, c, joined);
    }

    /// Updates queue `q`'s membership of the offerable index from its ready count and the waiting index.
    fn reindex_offerable(&mut self, q: usize) {
        let ready = self.counts.get(q).is_some_and(|c| c.ready > 0);
        if ready && self.waiting.contains(&q) {
            self.offerable.insert(q);
        } else {
            self.offerable.remove(&q);
        }
    }

    /// The first queue (in `queue_order`, wrapping around) at or after position `start` with someone waiting.
    pub(crate) fn first_waiting_from(&self, start: usize) -> Option<&String> {
        let pos = self
            .waiting
            .range(start..)
            .next()
            .or_else(|| self.waiting.iter().next())?;
        self.queue_order.get(*pos)
    }

    /// The first agent of set `pick` (in `agent_order`, wrapping around) at or after position `start` — what a
    /// walk of `agent_order` testing each agent would find, without the walk.
    pub(crate) fn first_agent_from(&self, pick: Pick, start: usize) -> Option<&String> {
        let set = match pick {
            Pick::Free => &self.free,
            Pick::FreeOnQueue => &self.free_on_queue,
        };
        let pos = set.range(start..).next().or_else(|| set.iter().next())?;
        self.agent_order.get(*pos)
    }

    /// The first queue (in `queue_order`, wrapping around) at or after position `start` with someone waiting
    /// and a ready member — what a walk of `queue_order` checking every member would find, without the walk.
    pub(crate) fn first_offerable_from(&self, start: usize) -> Option<&String> {
        let pos = self
            .offerable
            .range(start..)
            .next()
            .or_else(|| self.offerable.iter().next())?;
        self.queue_order.get(*pos)
    }

    /// Recomputes a queue's snapshot; if it changed, records `ts` as `observed_ms` and marks it dirty. O(1) in
    /// the membership (member counts are maintained incrementally); O(waiting) for the oldest waiting entry.
    pub(crate) fn refresh_queue(&mut self, queue_id: &str, ts: u64) {
        let Some(&pos) = self.queue_pos.get(queue_id) else {
            return;
        };
        let counts = self.counts[pos];
        let Some(queue) = self.queues.get_mut(queue_id) else {
            return;
        };
        let snap = Snapshot {
            waiting: u32::try_from(queue.waiting.len()).unwrap_or(u32::MAX),
            oldest_waiting_since: queue.waiting.iter().map(|w| w.since_ms).min(),
            on_queue: counts.on_queue,
            off_queue: counts.off_queue,
            alerting: counts.alerting,
            interacting: counts.interacting,
        };
        if queue.snapshot != snap {
            queue.snapshot = snap;
            queue.observed_ms = ts;
            queue.snapshot_dirty = true;
        }
        if queue.waiting.is_empty() {
            self.waiting.remove(&pos);
        } else {
            self.waiting.insert(pos);
        }
        self.reindex_offerable(pos);
    }

    /// The snapshot a full walk of the queue's members computes (the definition the incremental counts must
    /// match; used by tests).
    #[cfg(test)]
    pub(crate) fn walked_snapshot(&self, queue_id: &str) -> Option<Snapshot> {
        let queue = self.queues.get(queue_id)?;
        let mut snap = Snapshot {
            waiting: u32::try_from(queue.waiting.len()).unwrap_or(u32::MAX),
            oldest_waiting_since: queue.waiting.iter().map(|w| w.since_ms).min(),
            ..Snapshot::default()
        };
        // Agents only get conversations from queues they belong to and cannot leave a queue while busy,
        // so walking the members finds every conversation of this queue.
        for member in &queue.members {
            let Some(agent) = self.agents.get(member) else {
                continue;
            };
            if agent.presence == ON_QUEUE {
                snap.on_queue += 1;
            } else if agent.presence != OFFLINE {
                snap.off_queue += 1;
            }
            if let Some(c) = &agent.conversation {
                if c.queue_id == queue_id {
                    match c.phase {
                        Phase::Alerting => snap.alerting += 1,
                        Phase::Connected => snap.interacting += 1,
                        Phase::AfterCallWork | Phase::Done => {}
                    }
                }
            }
        }
        Some(snap)
    }

    /// Whether a full walk finds queue `queue_id` offerable (someone waiting, a ready member); used by tests.
    #[cfg(test)]
    pub(crate) fn walked_offerable(&self, queue_id: &str) -> bool {
        self.queues.get(queue_id).is_some_and(|q| {
            !q.waiting.is_empty()
                && q.members.iter().any(|m| {
                    self.agents
                        .get(m)
                        .is_some_and(|a| a.presence == ON_QUEUE && a.routing == "IDLE" && !a.busy())
                })
        })
    }

    /// Starts a new aggregate interval for every queue whose current one ended before `now`.
    pub(crate) fn roll_aggregates(&mut self, now: u64) {
        let start = now - now % AGGREGATE_INTERVAL_MS;
        if start <= self.rolled_to {
            return; // every queue is already in this interval
        }
        self.rolled_to = start;
        for q in self.queues.values_mut() {
            if q.aggregate.interval_start < start {
                q.aggregate = Aggregate {
                    interval_start: start,
                    ..Aggregate::default()
                };
                q.aggregate_dirty = true;
            }
        }
    }

    /// Records an answered conversation that waited `waited_ms`.
    pub(crate) fn record_answer(&mut self, queue_id: &str, waited_ms: u64, now: u64) {
        self.roll_aggregates(now);
        if let Some(q) = self.queues.get_mut(queue_id) {
            q.aggregate.answered.add(waited_ms);
            if waited_ms <= SERVICE_LEVEL_TARGET_MS {
                q.aggregate.sl_numerator += 1;
            }
            q.aggregate_dirty = true;
        }
    }

    /// Records an offered (entered queue) conversation.
    pub(crate) fn record_offer(&mut self, queue_id: &str, now: u64) {
        self.roll_aggregates(now);
        if let Some(q) = self.queues.get_mut(queue_id) {
            q.aggregate.offered += 1;
            q.aggregate_dirty = true;
        }
    }

    /// Records an abandoned conversation that waited `waited_ms`.
    pub(crate) fn record_abandon(&mut self, queue_id: &str, waited_ms: u64, now: u64) {
        self.roll_aggregates(now);
        if let Some(q) = self.queues.get_mut(queue_id) {
            q.aggregate.abandoned.add(waited_ms);
            q.aggregate_dirty = true;
        }
    }

    /// Snapshot of the ground truth.
    pub(crate) fn truth(&self) -> Truth {
        let agents = self
            .agents
            .values()
            .map(|a| {
                let conversation = a.conversation.as_ref().map(|c| ConversationTruth {
                    id: c.id.clone(),
                    media: c.media.name().to_owned(),
                    state: c.state().to_owned(),
                    wrapup: c.phase == Phase::AfterCallWork,
                    changed_ms: c.changed_ms(),
                });
                (
                    a.id.clone(),
                    AgentTruth {
                        name: a.name.clone(),
                        presence_id: a.def().id.to_owned(),
                        system_presence: a.def().upper_snake(),
                        presence_modified_ms: a.presence_ms,
                        routing_status: a.routing.to_owned(),
                        routing_start_ms: a.routing_ms,
                        conversation,
                        queues: a.queues.clone(),
                        out_of_office: a.out_of_office,
                    },
                )
            })
            .collect();
        let queues = self
            .queues
            .values()
            .map(|q| {
                let s = q.snapshot;
                (
                    q.id.clone(),
                    QueueTruth {
                        members: q.members.clone(),
                        waiting: s.waiting,
                        interacting: s.interacting,
                        alerting: s.alerting,
                        on_queue: s.on_queue,
                        off_queue: s.off_queue,
                        longest_waiting_ms: s
                            .oldest_waiting_since
                            .map(|since| q.observed_ms.saturating_sub(since)),
                        observed_ms: q.observed_ms,
                        offered: q.aggregate.offered,
                        answered: q.aggregate.answered.count,
                        abandoned: q.aggregate.abandoned.count,
                        service_level_pct: q.aggregate.sl_pct(),
                        service_level_permille: q.aggregate.sl_permille(),
                        aggregate_interval_start_ms: q.aggregate.interval_start,
                    },
                )
            })
            .collect();
        Truth { agents, queues }
    }
}

/// Ground truth: what a perfect consumer of every event would know right now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// Agents by user id.
    pub agents: BTreeMap<String, AgentTruth>,
    /// Queues by queue id.
    pub queues: BTreeMap<String, QueueTruth>,
}

/// One agent's current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentTruth {
    /// Display name.
    pub name: String,
    /// Presence definition id.
    pub presence_id: String,
    /// System presence in notification casing (`ON_QUEUE`).
    pub system_presence: String,
    /// `modifiedDate` of the presence, ms since epoch.
    pub presence_modified_ms: u64,
    /// Routing status (`IDLE`, `INTERACTING`, `OFF_QUEUE`, `NOT_RESPONDING`, `COMMUNICATING`).
    pub routing_status: String,
    /// `startTime` of the routing status, ms since epoch.
    pub routing_start_ms: u64,
    /// The agent's latest conversation (kept after wrap-up until the next one), if any.
    pub conversation: Option<ConversationTruth>,
    /// Queue ids the agent is a joined member of, sorted.
    pub queues: Vec<String>,
    /// Out of office.
    #[serde(default)]
    pub out_of_office: bool,
}

/// The agent's latest conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationTruth {
    /// Conversation id.
    pub id: String,
    /// `call`, `callback`, `chat`, `email` or `message`.
    pub media: String,
    /// Agent communication state: `alerting`, `connected` or `disconnected`.
    pub state: String,
    /// True while in after-call work (disconnected, wrap-up not yet submitted).
    pub wrapup: bool,
    /// Newest timestamp in the agent participant of the last conversation event.
    pub changed_ms: u64,
}

/// One queue's current state: snapshot metrics as of `observed_ms` and the current 30-minute aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueTruth {
    /// Joined member user ids, sorted.
    pub members: Vec<String>,
    /// `oWaiting`.
    pub waiting: u32,
    /// `oInteracting`.
    pub interacting: u32,
    /// `oAlerting`.
    pub alerting: u32,
    /// `oOnQueueUsers`.
    pub on_queue: u32,
    /// `oOffQueueUsers` (members neither On Queue nor Offline).
    pub off_queue: u32,
    /// `oLongestWaiting`: how long the oldest waiting customer had waited at `observed_ms`.
    pub longest_waiting_ms: Option<u64>,
    /// When the snapshot last changed.
    pub observed_ms: u64,
    /// `nOffered` in the current interval.
    pub offered: u32,
    /// `tAnswered.count` in the current interval.
    pub answered: u32,
    /// `tAbandon.count` in the current interval.
    pub abandoned: u32,
    /// `oServiceLevel` ratio × 100, if anything was answered or abandoned.
    pub service_level_pct: Option<f32>,
    /// The same ratio in per mille, rounded (what the gateway keeps), if any.
    #[serde(default)]
    pub service_level_permille: Option<u16>,
    /// Start of the current 30-minute aggregate interval.
    pub aggregate_interval_start_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn population_is_deterministic_and_consistent() {
        let a = World::new(42, 30, 4, 2, 1_700_000_000_000);
        let b = World::new(42, 30, 4, 2, 1_700_000_000_000);
        assert_eq!(a.truth(), b.truth());
        assert_eq!(a.agent_order, b.agent_order);
        for agent in a.agents.values() {
            assert!((1..=3).contains(&agent.queues.len()));
            for q in &agent.queues {
                assert!(a.queues[q].members.contains(&agent.id));
            }
        }
        assert_eq!(PRESENCE_DEFS[ON_QUEUE].upper_snake(), "ON_QUEUE");
        assert_eq!(PRESENCE_DEFS[ON_QUEUE].camel(), "OnQueue");
    }
}
