//! The current-state table: the latest value per agent and per queue, persisted in sled so
//! it survives kill -9 and power cuts, with a coalescing dirty set feeding the publisher.
//!
//! Owns last-write-wins ordering (by source timestamp), capacity (a full table refuses new
//! keys and counts them; it never grows), persistence and the dirty set. Does not own any
//! socket: `apply` is pure apart from the sled write, and the publisher reads the table
//! through [`Shared`].
//!
//! The dirty set holds each key at most once (a flag per slot plus a FIFO of slot indices
//! sized to the table), so a slow broker costs no memory: a key changed ten times while the
//! broker was slow is published once, with its latest value, and nine coalesces are counted.
//!
//! # When the disk fails (full, I/O error)
//!
//! The table in memory is the truth; sled is its copy. sled 0.34 accepts writes into memory
//! and reports a failed write only when its background flush (every 500 ms) hits the disk;
//! from then on the whole database is poisoned: every later write and flush fails, even
//! once space is back, until it is closed and reopened. So a failed write puts the table in a
//! bounded *degraded* state instead of being retried: the trees are dropped, later writes are
//! held back (counted, never queued), the publisher keeps serving displays from memory, and
//! the health document raises `storage_alarm`. [`Shared::maintain_store`], run on the
//! publisher's metrics tick, then reopens the store through [`Disk`] and rewrites every slot
//! of the table (and the heatmaps) from memory; the first flush that succeeds clears the
//! alarm. Memory stays fixed: the rewrite of the whole bounded table replaces a retry queue.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::event::{
    ConversationChange, Event, Id, Interaction, Media, Millis, Presence, PresenceChange,
    QueueAggregate, QueueObservation, Routing, RoutingChange,
};
use crate::heatmap::{minute_of, Heatmaps};
use crate::limits::NAME_LEN;
use crate::metrics::Metrics;
use crate::zones::{ZoneMask, Zones, MAX_AGENT_QUEUES};
use presence_wire::Minutes;

/// Format version of a persisted record (first byte of every sled value). A record with
/// another version is dropped at boot and rebuilt through resync, never misread.
pub const RECORD_VERSION: u8 = 1;

/// Largest encoded record, for the fixed encode buffer.
const RECORD_BUF: usize = 256;

/// A key of the table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Key {
    /// An agent (user id).
    Agent(Id),
    /// A queue (queue id).
    Queue(Id),
}

impl Key {
    /// sled key: a kind byte then the 16 id bytes.
    pub fn to_bytes(self) -> [u8; 17] {
        let (kind, id) = match self {
            Key::Agent(id) => (b'a', id),
            Key::Queue(id) => (b'q', id),
        };
        let mut out = [0u8; 17];
        out[0] = kind;
        out[1..].copy_from_slice(&id.0);
        out
    }

    /// Inverse of [`Key::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Option<Key> {
        let id = Id(b.get(1..17)?.try_into().ok()?);
        match b.first()? {
            b'a' => Some(Key::Agent(id)),
            b'q' => Some(Key::Queue(id)),
            _ => None,
        }
    }

    /// The id.
    pub fn id(self) -> Id {
        match self {
            Key::Agent(id) | Key::Queue(id) => id,
        }
    }
}

/// Everything known about one agent.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentRecord {
    /// System presence.
    pub presence: Presence,
    /// Presence definition id.
    pub definition: Id,
    /// Source time of the presence.
    pub presence_ms: Millis,
    /// Routing status.
    pub routing: Routing,
    /// Source time of the routing status.
    pub routing_ms: Millis,
    /// Media of the current interaction.
    pub media: Media,
    /// State of the current interaction.
    pub interaction: Interaction,
    /// In after-call work.
    pub wrapup: bool,
    /// Current (or last) conversation.
    pub conversation: Id,
    /// Source time of the interaction state.
    pub conversation_ms: Millis,
    /// Indices (see [`Zones::queue_index`]) of the watched queues the agent is a member of.
    pub queues: heapless::Vec<u16, MAX_AGENT_QUEUES>,
    /// Display name from REST.
    pub name: heapless::String<NAME_LEN>,
    /// Local wall-clock time the cloud last confirmed this record (event or resync).
    pub confirmed_ms: Millis,
}

/// Everything known about one queue.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct QueueRecord {
    /// Waiting interactions.
    pub waiting: u32,
    /// Interactions being handled.
    pub interacting: u32,
    /// Interactions alerting.
    pub alerting: u32,
    /// Members on queue.
    pub on_queue: u32,
    /// Members off queue.
    pub off_queue: u32,
    /// Longest wait, ms.
    pub longest_waiting_ms: u64,
    /// Source time of the observation.
    pub observed_ms: Millis,
    /// Offered in the current interval.
    pub offered: u32,
    /// Answered in the current interval.
    pub answered: u32,
    /// Abandoned in the current interval.
    pub abandoned: u32,
    /// Service level, per mille.
    pub service_level_permille: Option<u16>,
    /// Start of the 30-minute interval the aggregates belong to.
    pub interval_start_ms: Millis,
    /// Local wall-clock time of the last confirmation.
    pub confirmed_ms: Millis,
}

/// A record of either kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// Agent.
    Agent(AgentRecord),
    /// Queue.
    Queue(QueueRecord),
}

/// What the state stage receives.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// A decoded notification or REST resync result.
    Event(Event),
    /// A presence definition (custom presences map to a system presence through it).
    Definition {
        /// Definition id.
        id: Id,
        /// Its system presence.
        presence: Presence,
    },
    /// An agent's display name (REST).
    Name {
        /// Agent.
        user: Id,
        /// Name, truncated.
        name: heapless::String<NAME_LEN>,
    },
    /// An agent is watched (discovered via config, queue or group membership): make sure a
    /// record exists so displays list the agent even before its first event.
    Watch(Id),
    /// A complete listing of a queue's members (REST) begins or ends; in between, its
    /// members arrive as joined [`MemberChange`](crate::event::MemberChange)s. At the end, an
    /// agent the table holds as a member but the listing did not name has left (during a gap,
    /// or while the gateway was off): the queue is removed from it and its zones follow.
    MemberListing {
        /// The queue.
        queue: Id,
        /// Begin or complete.
        phase: ListingPhase,
    },
    /// A durability point: once every update sent before it is applied, the state stage
    /// flushes sled and acknowledges `seq` on its [`Durable`] watch. Upstream sends one at the
    /// end of every resync and reports the resync done only after the acknowledgement, so a
    /// completed resync is on disk (a power cut after it cannot lose what it read).
    Checkpoint(u64),
}

/// The state stage's acknowledgement of the latest [`Update::Checkpoint`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Durable {
    /// The checkpoint acknowledged.
    pub seq: u64,
    /// sled's flush succeeded: everything applied before the checkpoint is on disk. False for a
    /// memory-only table, a degraded store or a failed flush (which degrades the store).
    pub on_disk: bool,
    /// How long the flush took, µs.
    pub flush_us: u64,
}

/// Phase of an [`Update::MemberListing`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ListingPhase {
    /// The listing starts.
    Begin,
    /// Every page was read; members not named have left. (A listing cut short by a paging
    /// limit never completes and removes nobody.)
    Complete,
}

/// Outcome of one update.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Change {
    /// The record changed and is marked dirty.
    Applied,
    /// Same timestamp and value as the record.
    Duplicate,
    /// Older than the record.
    Stale,
    /// New key refused: the table is full.
    Refused,
    /// Nothing to do (control message, unknown queue, …).
    Ignored,
}

/// Why the state store failed to open, or a write to it failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another process (a second gateway, a manual run beside the service) holds the store:
    /// its lock was still held after [`LOCK_WAIT`].
    #[error("state store at {path} is in use by another process (still locked after {} s): {source}", LOCK_WAIT.as_secs())]
    Locked {
        /// Directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// sled refused to open the directory even after quarantining it.
    #[error("state store at {path}: {source}")]
    Open {
        /// Directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// The disk holding the store is full. The store is intact (a full disk is not corruption,
    /// so it is never quarantined); sled cannot open even an existing store without free space.
    #[error("state store at {path}: the disk is full ({source}); free space and start again")]
    Full {
        /// Directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// A write or flush failed, or the store was closed for reopening (storage upkeep).
    #[error("state store write failed: {0}")]
    Write(sled::Error),
}

/// Sizes of the table, from the board profile.
#[derive(Clone, Copy, Debug)]
pub struct Capacity {
    /// Most agents.
    pub agents: usize,
    /// Most queues.
    pub queues: usize,
}

struct Slot {
    key: Key,
    value: Value,
    /// Zones the key was last published to (to clear a zone it left).
    published_zones: ZoneMask,
    dirty: bool,
    /// Waiting in the sweep queue (a full republish).
    sweep: bool,
    /// When the key became dirty (for publish latency).
    dirty_since: Option<Instant>,
    /// The display name must be (re)published with the next publish of this key.
    name_dirty: bool,
    /// Its last publish carried the STALE flag (a confirmation must republish it).
    published_stale: bool,
    /// Epoch of the last complete member listing that named this agent (see
    /// [`Update::MemberListing`]).
    listed: u32,
}

/// One dirty key as the publisher takes it.
#[derive(Clone, Debug)]
pub struct DirtyItem {
    /// Key.
    pub key: Key,
    /// Latest value.
    pub value: Value,
    /// Zones to publish to now.
    pub zones: ZoneMask,
    /// Zones it was in before but is not any more (retained topic to clear).
    pub left_zones: ZoneMask,
    /// Zones it is in now but was not at its previous publish (roster joins).
    pub joined_zones: ZoneMask,
    /// Publish the agent's display name too (it changed, or this is a full republish).
    pub name: bool,
    /// The agent's state was not confirmed by the cloud within the stale TTL.
    pub stale: bool,
    /// When it became dirty.
    pub since: Option<Instant>,
}

/// The table.
pub struct Table {
    slots: Vec<Slot>,
    index: HashMap<Key, u32>,
    dirty: VecDeque<u32>,
    /// Keys to republish in a sweep (broker reconnect, command): drained after, and paced
    /// separately from, live changes so a sweep never delays a live update.
    sweep: VecDeque<u32>,
    agents: usize,
    queues: usize,
    cap: Capacity,
    definitions: HashMap<Id, Presence>,
    zones: Arc<Zones>,
    /// Records in sled; None in memory-only tables and while the store is degraded.
    tree: Option<sled::Tree>,
    metrics: Arc<Metrics>,
    /// Per-zone activity heatmaps, fed by agent state transitions.
    heat: Heatmaps,
    heat_tree: Option<sled::Tree>,
    /// Names of the two trees, to open them again after the store was reopened.
    tree_names: [Option<sled::IVec>; 2],
    /// A write failed: the trees are dropped and writes held back until
    /// [`Shared::maintain_store`] has reopened the store and rewritten the table.
    degraded: bool,
    /// Why the store became degraded, until storage upkeep has reported it (audit).
    fault: Option<Reason>,
    /// An agent not confirmed for this long is published with the STALE flag.
    stale_ms: u64,
    /// A record was written since the last storage upkeep (whose flush is then skipped).
    wrote: bool,
    /// The member listing in progress: (queue index, epoch).
    listing: Option<(u16, u32)>,
    /// Epoch of the latest listing begun.
    listing_epoch: u32,
    /// Wall clock for staleness (tests substitute their own).
    clock: fn() -> Millis,
}

/// Most presence definitions kept (system ones plus an org's custom ones).
pub const MAX_DEFINITIONS: usize = 512;

impl Table {
    /// An empty table; `tree` = None keeps it in memory only (tests, benchmarks).
    pub fn new(
        cap: Capacity,
        zones: Arc<Zones>,
        tree: Option<sled::Tree>,
        metrics: Arc<Metrics>,
    ) -> Table {
        let total = cap.agents + cap.queues;
        Table {
            slots: Vec::with_capacity(total),
            index: HashMap::with_capacity(total),
            dirty: VecDeque::with_capacity(total),
            sweep: VecDeque::with_capacity(total),
            agents: 0,
            queues: 0,
            cap,
            definitions: HashMap::with_capacity(MAX_DEFINITIONS),
            heat: Heatmaps::new(zones.specs().len()),
            zones,
            tree_names: [tree.as_ref().map(sled::Tree::name), None],
            tree,
            metrics,
            heat_tree: None,
            degraded: false,
            fault: None,
            stale_ms: u64::MAX,
            wrote: false,
            listing: None,
            listing_epoch: 0,
            clock: now_ms,
        }
    }

    /// Loads every persisted record (boot) and marks it dirty, so displays get the last
    /// known state before the cloud answers. Returns the number loaded.
    pub fn load(&mut self) -> usize {
        let Some(tree) = self.tree.clone() else {
            return 0;
        };
        let mut n = 0;
        for item in tree.iter() {
            let Ok((k, v)) = item else {
                self.metrics.state.records_dropped.inc();
                continue;
            };
            let (Some(key), Some(value)) = (Key::from_bytes(&k), decode_record(&v)) else {
                self.metrics.state.records_dropped.inc();
                let _ = tree.remove(k);
                continue;
            };
            if self.insert_slot(key, value).is_some() {
                n += 1;
            }
        }
        self.mark_all_dirty();
        n
    }

    fn insert_slot(&mut self, key: Key, value: Value) -> Option<u32> {
        if let Some(&i) = self.index.get(&key) {
            return Some(i);
        }
        match key {
            Key::Agent(_) if self.agents >= self.cap.agents => None,
            Key::Queue(_) if self.queues >= self.cap.queues => None,
            _ => {
                match key {
                    Key::Agent(_) => self.agents += 1,
                    Key::Queue(_) => self.queues += 1,
                }
                self.metrics.state.agents.set(self.agents as u64);
                self.metrics.state.queues.set(self.queues as u64);
                let i = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Slot {
                    key,
                    value,
                    published_zones: 0,
                    dirty: false,
                    sweep: false,
                    dirty_since: None,
                    name_dirty: false,
                    published_stale: false,
                    listed: 0,
                });
                self.index.insert(key, i);
                Some(i)
            }
        }
    }

    /// Slot of `key`, created empty if absent; None when the table is full (counted).
    fn slot_for(&mut self, key: Key) -> Option<u32> {
        let empty = match key {
            Key::Agent(_) => Value::Agent(AgentRecord::default()),
            Key::Queue(_) => Value::Queue(QueueRecord::default()),
        };
        let slot = self.insert_slot(key, empty);
        if slot.is_none() {
            self.metrics.state.refused_full.inc();
        }
        slot
    }

    /// Applies one update. `now_ms` is local wall-clock time (for `confirmed_ms`).
    pub fn apply(&mut self, update: &Update, now_ms: Millis) -> Change {
        let change = match update {
            Update::Event(e) => self.apply_event(e, now_ms),
            Update::Definition { id, presence } => {
                if self.definitions.len() < MAX_DEFINITIONS || self.definitions.contains_key(id) {
                    self.definitions.insert(*id, *presence);
                }
                Change::Ignored
            }
            Update::Name { user, name } => {
                let change = self.with_agent(*user, now_ms, |a| {
                    if a.name == *name {
                        Change::Duplicate
                    } else {
                        a.name = name.clone();
                        Change::Applied
                    }
                });
                if change == Change::Applied {
                    if let Some(&i) = self.index.get(&Key::Agent(*user)) {
                        self.slots[i as usize].name_dirty = true;
                    }
                }
                change
            }
            Update::MemberListing { queue, phase } => self.member_listing(queue, *phase),
            // Handled by the stage (a flush); nothing to change in the table.
            Update::Checkpoint(_) => Change::Ignored,
            Update::Watch(user) => match self.index.get(&Key::Agent(*user)) {
                Some(_) => Change::Duplicate,
                None => match self.slot_for(Key::Agent(*user)) {
                    Some(i) => {
                        self.touch(i);
                        Change::Applied
                    }
                    None => Change::Refused,
                },
            },
        };
        match change {
            Change::Applied => self.metrics.state.applied.inc(),
            Change::Duplicate => self.metrics.state.duplicates.inc(),
            Change::Stale => self.metrics.state.stale.inc(),
            Change::Refused | Change::Ignored => {}
        }
        change
    }

    fn apply_event(&mut self, e: &Event, now: Millis) -> Change {
        match *e {
            Event::Presence(p) => self.apply_presence(p, now),
            Event::Routing(r) => self.apply_routing(r, now),
            Event::Activity(p, r) => {
                let a = p.map_or(Change::Ignored, |p| self.apply_presence(p, now));
                let b = r.map_or(Change::Ignored, |r| self.apply_routing(r, now));
                merge(a, b)
            }
            Event::Conversation(c) => self.apply_conversation(c, now),
            Event::Member(m) => {
                let Some(qi) = self.zones.queue_index(&m.queue) else {
                    return Change::Ignored;
                };
                let change = self.with_agent(m.user, now, |a| {
                    let pos = a.queues.iter().position(|&q| q == qi);
                    match (m.joined, pos) {
                        (true, None) => {
                            // Full list: zoning by this queue is lost for this agent (bounded).
                            let _ = a.queues.push(qi);
                            Change::Applied
                        }
                        (false, Some(p)) => {
                            a.queues.swap_remove(p);
                            Change::Applied
                        }
                        _ => Change::Duplicate,
                    }
                });
                if let (true, Some((lq, epoch))) = (m.joined, self.listing) {
                    if lq == qi {
                        if let Some(&i) = self.index.get(&Key::Agent(m.user)) {
                            self.slots[i as usize].listed = epoch;
                        }
                    }
                }
                change
            }
            Event::Observation(o) => self.apply_observation(o, now),
            Event::Aggregate(a) => self.apply_aggregate(a, now),
            Event::Control(_) => Change::Ignored,
        }
    }

    fn resolve(&self, p: &PresenceChange) -> Presence {
        match p.presence {
            Presence::Unknown => self
                .definitions
                .get(&p.definition)
                .copied()
                .unwrap_or(Presence::Unknown),
            known => known,
        }
    }

    fn apply_presence(&mut self, p: PresenceChange, now: Millis) -> Change {
        let presence = self.resolve(&p);
        let mut moved = false;
        let change = self.with_agent(p.user, now, |a| {
            let same = a.presence == presence && a.definition == p.definition;
            match order(p.modified, a.presence_ms, same) {
                Change::Applied => {
                    // A transition: the value changed from a state that was known.
                    moved = a.presence != presence && a.presence_ms != 0;
                    a.presence = presence;
                    a.definition = p.definition;
                    if p.modified != 0 {
                        a.presence_ms = p.modified;
                    }
                    Change::Applied
                }
                other => other,
            }
        });
        if moved {
            self.count_transition(p.user, if p.modified != 0 { p.modified } else { now });
        }
        change
    }

    /// Counts one agent state transition at `at_ms` in the heatmap of each of its zones.
    fn count_transition(&mut self, user: Id, at_ms: Millis) {
        let Some(&i) = self.index.get(&Key::Agent(user)) else {
            return;
        };
        let Value::Agent(a) = &self.slots[i as usize].value else {
            return;
        };
        let mask = self.zones.of_agent(&user, &a.queues);
        self.heat.add(mask, minute_of(at_ms));
    }

    fn apply_routing(&mut self, r: RoutingChange, now: Millis) -> Change {
        let mut moved = false;
        let change = self.with_agent(r.user, now, |a| {
            match order(r.started, a.routing_ms, a.routing == r.routing) {
                Change::Applied => {
                    moved = a.routing != r.routing && a.routing_ms != 0;
                    a.routing = r.routing;
                    if r.started != 0 {
                        a.routing_ms = r.started;
                    }
                    Change::Applied
                }
                other => other,
            }
        });
        if moved {
            self.count_transition(r.user, if r.started != 0 { r.started } else { now });
        }
        change
    }

    fn apply_conversation(&mut self, c: ConversationChange, now: Millis) -> Change {
        let (media, interaction, wrapup) = if c.ended {
            (Media::None, Interaction::None, false)
        } else {
            (c.media, c.interaction, c.wrapup)
        };
        self.with_agent(c.user, now, |a| {
            if c.ended && a.media == Media::None && a.interaction == Interaction::None {
                // Already idle: nothing to show; keep the newest time so an older event
                // arriving late cannot bring an ended conversation back.
                if c.changed > a.conversation_ms {
                    a.conversation_ms = c.changed;
                    return Change::Duplicate;
                }
                return if c.changed < a.conversation_ms {
                    Change::Stale
                } else {
                    Change::Duplicate
                };
            }
            let same = a.media == media
                && a.interaction == interaction
                && a.wrapup == wrapup
                && a.conversation == c.conversation;
            match order(c.changed, a.conversation_ms, same) {
                Change::Applied => {
                    a.media = media;
                    a.interaction = interaction;
                    a.wrapup = wrapup;
                    a.conversation = c.conversation;
                    if c.changed != 0 {
                        a.conversation_ms = c.changed;
                    }
                    Change::Applied
                }
                other => other,
            }
        })
    }

    fn apply_observation(&mut self, o: QueueObservation, now: Millis) -> Change {
        self.with_queue(o.queue, now, |q| {
            let mut next = q.clone();
            let set = |dst: &mut u32, v: Option<u32>| {
                if let Some(v) = v {
                    *dst = v;
                }
            };
            set(&mut next.waiting, o.waiting);
            set(&mut next.interacting, o.interacting);
            set(&mut next.alerting, o.alerting);
            set(&mut next.on_queue, o.on_queue);
            set(&mut next.off_queue, o.off_queue);
            if let Some(l) = o.longest_waiting {
                next.longest_waiting_ms = l;
            } else if o.waiting == Some(0) {
                next.longest_waiting_ms = 0;
            }
            next.observed_ms = q.observed_ms.max(o.observed);
            let same = next == *q;
            match order(o.observed, q.observed_ms, same) {
                Change::Applied => {
                    *q = next;
                    Change::Applied
                }
                other => other,
            }
        })
    }

    fn apply_aggregate(&mut self, g: QueueAggregate, now: Millis) -> Change {
        self.with_queue(g.queue, now, |q| {
            if g.interval_start < q.interval_start_ms {
                return Change::Stale;
            }
            let mut next = q.clone();
            if g.interval_start > q.interval_start_ms {
                // A new interval starts from zero.
                next.offered = 0;
                next.answered = 0;
                next.abandoned = 0;
                next.service_level_permille = None;
                next.interval_start_ms = g.interval_start;
            }
            next.offered = g.offered.unwrap_or(next.offered);
            next.answered = g.answered.unwrap_or(next.answered);
            next.abandoned = g.abandoned.unwrap_or(next.abandoned);
            if g.service_level_permille.is_some() {
                next.service_level_permille = g.service_level_permille;
            }
            if next == *q {
                Change::Duplicate
            } else {
                *q = next;
                Change::Applied
            }
        })
    }

    fn with_agent(
        &mut self,
        user: Id,
        now: Millis,
        f: impl FnOnce(&mut AgentRecord) -> Change,
    ) -> Change {
        let Some(i) = self.slot_for(Key::Agent(user)) else {
            return Change::Refused;
        };
        let Value::Agent(a) = &mut self.slots[i as usize].value else {
            return Change::Ignored;
        };
        let change = f(a);
        a.confirmed_ms = now;
        // Applied, or confirmed after being shown stale: displays must see the change.
        if change == Change::Applied || self.slots[i as usize].published_stale {
            self.touch(i);
        }
        change
    }

    /// [`Update::MemberListing`]: at `Complete`, removes `queue` from every agent it holds as
    /// a member that the listing did not name.
    fn member_listing(&mut self, queue: &Id, phase: ListingPhase) -> Change {
        let Some(qi) = self.zones.queue_index(queue) else {
            return Change::Ignored;
        };
        match phase {
            ListingPhase::Begin => {
                self.listing_epoch = self.listing_epoch.wrapping_add(1).max(1);
                self.listing = Some((qi, self.listing_epoch));
                Change::Ignored
            }
            ListingPhase::Complete => {
                let Some((lq, epoch)) = self.listing.take() else {
                    return Change::Ignored;
                };
                if lq != qi {
                    return Change::Ignored;
                }
                let mut removed = 0u32;
                for i in 0..self.slots.len() {
                    let slot = &mut self.slots[i];
                    if slot.listed == epoch {
                        continue;
                    }
                    let Value::Agent(a) = &mut slot.value else {
                        continue;
                    };
                    let Some(p) = a.queues.iter().position(|&q| q == qi) else {
                        continue;
                    };
                    a.queues.swap_remove(p);
                    removed += 1;
                    self.touch(i as u32);
                }
                if removed == 0 {
                    return Change::Duplicate;
                }
                tracing::info!(%queue, removed, "members the listing no longer names left the queue");
                Change::Applied
            }
        }
    }

    /// Sets the TTL after which an unconfirmed agent is published as STALE.
    pub fn set_stale_ttl(&mut self, ttl: std::time::Duration) {
        self.stale_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    }

    fn is_stale(&self, confirmed_ms: Millis, now: Millis) -> bool {
        confirmed_ms != 0 && now.saturating_sub(confirmed_ms) > self.stale_ms
    }

    /// Marks dirty every agent whose confirmation expired since its last publish, so
    /// displays see the STALE flag without waiting for a change; returns how many.
    pub fn mark_expired(&mut self) -> usize {
        let now = (self.clock)();
        let mut n = 0;
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            let Value::Agent(a) = &slot.value else {
                continue;
            };
            if slot.published_stale || slot.dirty || !self.is_stale(a.confirmed_ms, now) {
                continue;
            }
            let slot = &mut self.slots[i];
            slot.dirty = true;
            slot.dirty_since = None;
            // i < slots.len() ≤ u32::MAX, checked at insert.
            self.dirty.push_back(i as u32);
            n += 1;
        }
        n
    }

    fn with_queue(
        &mut self,
        queue: Id,
        now: Millis,
        f: impl FnOnce(&mut QueueRecord) -> Change,
    ) -> Change {
        let Some(i) = self.slot_for(Key::Queue(queue)) else {
            return Change::Refused;
        };
        let Value::Queue(q) = &mut self.slots[i as usize].value else {
            return Change::Ignored;
        };
        let change = f(q);
        q.confirmed_ms = now;
        if change == Change::Applied {
            self.touch(i);
        }
        change
    }

    /// Persists slot `i` and marks it dirty (coalescing if it already is). A failed write
    /// never holds the key back from displays: it degrades the store (see the module doc).
    fn touch(&mut self, i: u32) {
        let _ = self.persist(i);
        let slot = &mut self.slots[i as usize];
        if slot.dirty {
            self.metrics.state.coalesced.inc();
        } else {
            slot.dirty = true;
            slot.dirty_since = Some(Instant::now());
            self.dirty.push_back(i);
        }
    }

    /// Writes slot `i` to sled. While the store is degraded the write is held back (counted
    /// in `persist_errors`; the recovery rewrites it from the table); a failed write degrades
    /// the store. A memory-only table has nothing to write.
    fn persist(&mut self, i: u32) -> Result<(), StateError> {
        let Some(tree) = &self.tree else {
            if self.degraded {
                self.metrics.state.persist_errors.inc();
                return Err(StateError::Write(closed()));
            }
            return Ok(());
        };
        let slot = &self.slots[i as usize];
        let mut buf = [0u8; RECORD_BUF];
        let Some(bytes) = encode_record(&slot.value, &mut buf) else {
            // A record larger than RECORD_BUF is a bug in the record types, not a disk fault.
            self.metrics.state.persist_errors.inc();
            return Ok(());
        };
        match tree.insert(slot.key.to_bytes(), bytes) {
            Ok(_) => {
                self.wrote = true;
                Ok(())
            }
            Err(e) => {
                self.store_fault(&e);
                Err(StateError::Write(e))
            }
        }
    }

    /// A sled write or flush failed: drop the trees (sled is poisoned now, see the module doc)
    /// and, the first time, enter the degraded state: alarm on, fault counted and kept for the
    /// audit trail.
    fn store_fault(&mut self, e: &sled::Error) {
        self.metrics.state.persist_errors.inc();
        self.tree = None;
        self.heat_tree = None;
        if self.degraded {
            return;
        }
        self.degraded = true;
        self.metrics.state.store_faults.inc();
        self.metrics.state.store_degraded.set(1);
        tracing::error!(error = %e, "state store writes failing: serving displays from memory, alarm raised");
        self.fault = Some(reason(e));
    }

    /// True while the store is degraded (writes held back, alarm raised).
    pub fn store_degraded(&self) -> bool {
        self.degraded
    }

    /// Marks every key dirty as live changes (boot: displays need the state at once).
    pub fn mark_all_dirty(&mut self) {
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            slot.name_dirty = true;
            if !slot.dirty {
                slot.dirty = true;
                slot.dirty_since = None;
                // i < slots.len() ≤ u32::MAX, checked at insert.
                self.dirty.push_back(i as u32);
            }
        }
    }

    /// Queues every key for a paced republish sweep (broker reconnect, command).
    pub fn sweep_all(&mut self) {
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            slot.name_dirty = true;
            if !slot.sweep && !slot.dirty {
                slot.sweep = true;
                // i < slots.len() ≤ u32::MAX, checked at insert.
                self.sweep.push_back(i as u32);
            }
        }
    }

    /// Takes up to `max` keys of the sweep (keys already published live since are skipped).
    pub fn take_sweep(&mut self, out: &mut Vec<DirtyItem>, max: usize) {
        while out.len() < max {
            let Some(i) = self.sweep.pop_front() else {
                break;
            };
            if !self.slots[i as usize].sweep {
                continue;
            }
            out.push(self.take_slot(i));
        }
    }

    /// Keys waiting in the sweep.
    pub fn sweep_len(&self) -> usize {
        self.sweep.len()
    }

    /// Marks one key dirty; false when unknown.
    pub fn mark_dirty(&mut self, key: Key) -> bool {
        let Some(&i) = self.index.get(&key) else {
            return false;
        };
        let slot = &mut self.slots[i as usize];
        slot.name_dirty = true;
        if !slot.dirty {
            slot.dirty = true;
            slot.dirty_since = None;
            self.dirty.push_back(i);
        }
        true
    }

    /// Marks every key published in zone `zone` (by index) dirty, names included; returns
    /// how many.
    pub fn mark_zone_dirty(&mut self, zone: usize) -> usize {
        let Some(bit) = 1u64.checked_shl(u32::try_from(zone).unwrap_or(u32::MAX)) else {
            return 0;
        };
        let mut n = 0;
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            if slot.published_zones & bit == 0 {
                continue;
            }
            n += 1;
            slot.name_dirty = true;
            if !slot.dirty {
                slot.dirty = true;
                slot.dirty_since = None;
                // i < slots.len() ≤ u32::MAX, checked at insert.
                self.dirty.push_back(i as u32);
            }
        }
        n
    }

    /// Number of keys in the table.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when the table holds no key.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Zone `zone`'s activity heatmap for the 24 h ending at Unix minute `now`, into `out`;
    /// returns the end minute, None for an unknown zone.
    pub fn heatmap(&mut self, zone: usize, now: u32, out: &mut Minutes) -> Option<u32> {
        self.heat.snapshot(zone, now, out)
    }

    /// Persists heatmaps in `tree` (keyed by zone name) and restores the saved ones.
    pub fn set_heat_tree(&mut self, tree: sled::Tree) {
        self.tree_names[1] = Some(tree.name());
        for (z, spec) in self.zones.specs().iter().enumerate() {
            if let Ok(Some(bytes)) = tree.get(spec.name.as_bytes()) {
                if !self.heat.restore(z, &bytes) {
                    self.metrics.state.records_dropped.inc();
                }
            }
        }
        self.heat_tree = Some(tree);
    }

    /// Writes every zone's heatmap to sled (each minute; a few KiB per zone). Nothing while
    /// the store is degraded: the recovery saves them.
    pub fn save_heatmaps(&mut self) -> Result<(), StateError> {
        let Some(tree) = &self.heat_tree else {
            return Ok(());
        };
        for (z, spec) in self.zones.specs().iter().enumerate() {
            if let Some(bytes) = self.heat.persisted(z) {
                if let Err(e) = tree.insert(spec.name.as_bytes(), bytes) {
                    self.store_fault(&e);
                    return Err(StateError::Write(e));
                }
            }
        }
        Ok(())
    }

    /// Takes up to `max` dirty keys with their latest values into `out`.
    pub fn take_dirty(&mut self, out: &mut Vec<DirtyItem>, max: usize) {
        while out.len() < max {
            let Some(i) = self.dirty.pop_front() else {
                break;
            };
            out.push(self.take_slot(i));
        }
    }

    fn take_slot(&mut self, i: u32) -> DirtyItem {
        let stale = match &self.slots[i as usize].value {
            Value::Agent(a) => self.is_stale(a.confirmed_ms, (self.clock)()),
            Value::Queue(_) => false,
        };
        let slot = &mut self.slots[i as usize];
        slot.published_stale = stale;
        slot.dirty = false;
        slot.sweep = false;
        let zones = match (&slot.key, &slot.value) {
            (Key::Agent(id), Value::Agent(a)) => self.zones.of_agent(id, &a.queues),
            (Key::Queue(id), _) => self.zones.of_queue(id),
            _ => 0,
        };
        let left_zones = slot.published_zones & !zones;
        let joined_zones = zones & !slot.published_zones;
        slot.published_zones = zones;
        let name = std::mem::take(&mut slot.name_dirty);
        DirtyItem {
            key: slot.key,
            value: slot.value.clone(),
            zones,
            left_zones,
            joined_zones,
            name,
            stale,
            since: slot.dirty_since.take(),
        }
    }

    /// Number of keys waiting to be published.
    pub fn dirty_len(&self) -> usize {
        self.dirty.len()
    }

    /// Current value of a key.
    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.slots[i as usize].value)
    }

    /// Every key and value (tests, the demo view).
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.slots.iter().map(|s| (&s.key, &s.value))
    }

    /// The zone table.
    pub fn zones(&self) -> &Zones {
        &self.zones
    }

    /// The zone table, shared (cheap to clone; no copy of the maps).
    pub fn zones_arc(&self) -> Arc<Zones> {
        self.zones.clone()
    }
}

/// Orders an update against the record's timestamp: newer applies (even with the same
/// value: a new `since` is a new time in status), older is stale, equal is a duplicate when
/// the value is the same. Timestamp 0 (the source had none) applies only when the value
/// differs.
fn order(incoming: Millis, current: Millis, same_value: bool) -> Change {
    if incoming == 0 || incoming == current {
        // Same instant with a different value: the later arrival wins (Genesys sends no
        // sequence numbers; within one millisecond arrival order is all there is).
        return if same_value {
            Change::Duplicate
        } else {
            Change::Applied
        };
    }
    if incoming > current {
        Change::Applied
    } else {
        Change::Stale
    }
}

fn merge(a: Change, b: Change) -> Change {
    use Change::*;
    match (a, b) {
        (Applied, _) | (_, Applied) => Applied,
        (Refused, _) | (_, Refused) => Refused,
        (Stale, _) | (_, Stale) => Stale,
        (Duplicate, _) | (_, Duplicate) => Duplicate,
        _ => Ignored,
    }
}

/// `[RECORD_VERSION][postcard(Value)]` into `buf`.
pub fn encode_record<'a>(v: &Value, buf: &'a mut [u8; RECORD_BUF]) -> Option<&'a [u8]> {
    buf[0] = RECORD_VERSION;
    let n = postcard::to_slice(v, &mut buf[1..]).ok()?.len();
    Some(&buf[..=n])
}

/// Inverse of [`encode_record`]; None for an unknown version or a corrupt record.
pub fn decode_record(b: &[u8]) -> Option<Value> {
    let (&version, body) = b.split_first()?;
    if version != RECORD_VERSION {
        return None;
    }
    postcard::from_bytes(body).ok()
}

/// The sled database of one gateway, opened with bounded cache.
pub struct Store {
    /// The database, behind a handle that can reopen it in place.
    pub db: Disk,
    /// Records.
    pub records: sled::Tree,
    /// Session counter of this boot (incremented and flushed at open).
    pub session: u32,
}

/// How long an open waits for another handle's lock on the store to go. sled releases its
/// directory lock when the last handle on a database is dropped, and its background flusher
/// (woken every flush period) can hold one for a moment after the store was dropped in this
/// process: a reopen (the disk-full recovery, a restart in the same process) waits for that
/// instead of racing it. A lock still held after this long is another process's.
pub const LOCK_WAIT: Duration = Duration::from_secs(3);

/// How often a held lock is tried again within [`LOCK_WAIT`].
const LOCK_POLL: Duration = Duration::from_millis(10);

/// Opens sled in `dir` with the gateway's settings (bounded cache, low-space mode, the
/// flush period), without any recovery: a fresh `Config` each time, since a `Config` that
/// opened a database carries that database's state (its poisoned-error flag included).
/// A held lock is tried again until [`LOCK_WAIT`] has passed; the error at that bound is the
/// lock error (blocking: callers run it at boot or off the async workers).
fn open_db(dir: &Path, cache_bytes: u64, flush_ms: u64) -> sled::Result<sled::Db> {
    let started = Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::LowSpace)
            .flush_every_ms(Some(flush_ms))
            .open();
        match opened {
            Err(e) if is_lock_error(&e) && started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(LOCK_POLL);
            }
            other => return other,
        }
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`. A directory sled cannot open (truncated or
    /// corrupt) is moved aside to `<dir>.corrupt-<unix secs>` and a fresh store is created:
    /// the state is rebuilt through resync, never a crash loop. A held lock and a full disk
    /// are not corruption: they are refused ([`StateError::Locked`], [`StateError::Full`])
    /// and the store is left where it is.
    pub fn open(dir: &Path, cache_bytes: u64, flush_ms: u64) -> Result<(Store, bool), StateError> {
        let open = || {
            open_db(dir, cache_bytes, flush_ms).and_then(|db| {
                let records = db.open_tree("records")?;
                Ok((db, records))
            })
        };
        let (db, records, quarantined) = match open() {
            Ok((db, r)) => (db, r, false),
            // A held lock is not corruption: never move a live store aside.
            Err(e) if is_lock_error(&e) => {
                return Err(StateError::Locked {
                    path: dir.to_path_buf(),
                    source: e,
                })
            }
            // Nor is a full disk: sled needs free space to open even an intact store.
            Err(e) if is_full_error(&e) => {
                return Err(StateError::Full {
                    path: dir.to_path_buf(),
                    source: e,
                })
            }
            Err(first) => {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let aside = PathBuf::from(format!("{}.corrupt-{secs}", dir.display()));
                tracing::error!(path = %dir.display(), error = %first, aside = %aside.display(), "state store unreadable: quarantined, rebuilding through resync");
                std::fs::rename(dir, &aside).map_err(|e| StateError::Open {
                    path: dir.to_path_buf(),
                    source: sled::Error::Io(e),
                })?;
                let (db, r) = open().map_err(|source| StateError::Open {
                    path: dir.to_path_buf(),
                    source,
                })?;
                (db, r, true)
            }
        };
        let prev = db
            .get(b"session")
            .ok()
            .flatten()
            .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
            .map_or(0, u32::from_le_bytes);
        let session = prev.wrapping_add(1);
        let persisted = db
            .insert(b"session", &session.to_le_bytes())
            .and_then(|_| db.flush());
        if let Err(e) = persisted {
            tracing::warn!(error = %e, "could not persist the session counter");
        }
        Ok((
            Store {
                db: Disk {
                    inner: Arc::new(DiskInner {
                        dir: dir.to_path_buf(),
                        cache_bytes,
                        flush_ms,
                        db: Mutex::new(Some(db)),
                    }),
                },
                records,
                session,
            },
            quarantined,
        ))
    }
}

/// The gateway's sled database as every stage holds it: one shared handle, so that after a
/// write fault (sled stays poisoned until reopened, see the module doc) storage upkeep can
/// close it and open it again in place. sled locks its directory until the last handle on a
/// database is dropped, so no stage keeps a `sled::Db` of its own: they call through this.
#[derive(Clone)]
pub struct Disk {
    inner: Arc<DiskInner>,
}

struct DiskInner {
    dir: PathBuf,
    cache_bytes: u64,
    flush_ms: u64,
    /// None between closing a poisoned database and a successful reopen.
    db: Mutex<Option<sled::Db>>,
}

impl Disk {
    fn lock(&self) -> MutexGuard<'_, Option<sled::Db>> {
        self.inner.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open database (a cheap clone of sled's handle, held only for one call).
    fn current(&self) -> sled::Result<sled::Db> {
        self.lock().clone().ok_or_else(closed)
    }

    /// Flushes sled's log to disk; this is also where sled reports a failed background flush.
    pub fn flush(&self) -> sled::Result<usize> {
        self.current()?.flush()
    }

    /// [`Disk::flush`] without blocking the runtime (shutdown).
    pub async fn flush_async(&self) -> sled::Result<usize> {
        self.current()?.flush_async().await
    }

    /// sled's size on disk, bytes (metrics).
    pub fn size_on_disk(&self) -> sled::Result<u64> {
        self.lock().as_ref().ok_or_else(closed)?.size_on_disk()
    }

    /// Opens (or creates) the tree `name`.
    pub fn open_tree(&self, name: impl AsRef<[u8]>) -> sled::Result<sled::Tree> {
        self.lock().as_ref().ok_or_else(closed)?.open_tree(name)
    }

    /// Closes the database and opens it again. Never quarantines: the store was readable at
    /// boot, and what failed since is the disk. Every tree of the old database must have been
    /// dropped first, or sled's directory lock refuses the reopen (an error, retried later).
    fn reopen(&self) -> sled::Result<()> {
        let mut db = self.lock();
        *db = None;
        let i = &self.inner;
        *db = Some(open_db(&i.dir, i.cache_bytes, i.flush_ms)?);
        Ok(())
    }
}

/// The error of an operation on a [`Disk`] closed for reopening.
fn closed() -> sled::Error {
    sled::Error::Io(std::io::Error::other(
        "state store closed: reopening after a write fault",
    ))
}

/// Why the store became degraded, as the audit trail shows it (truncated).
pub type Reason = heapless::String<120>;

fn reason(e: &sled::Error) -> Reason {
    let text = match e {
        // sled wraps the OS error in a custom one whose text is a Debug dump: name the kind.
        sled::Error::Io(io) => format!("{}: {io}", io.kind()),
        other => other.to_string(),
    };
    let mut out = Reason::new();
    for c in text.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

/// A change of the store's health, reported by [`Shared::maintain_store`] for the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreEvent {
    /// Writes failed: displays are served from memory, the alarm is raised.
    Degraded {
        /// What sled said.
        reason: Reason,
    },
    /// The store was reopened and every record rewritten from the table: alarm cleared.
    Recovered {
        /// Records rewritten.
        records: usize,
    },
}

impl std::fmt::Display for StoreEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreEvent::Degraded { reason } => write!(
                f,
                "state store degraded ({reason}): publishing from memory, retrying"
            ),
            StoreEvent::Recovered { records } => write!(
                f,
                "state store recovered: {records} records rewritten from memory"
            ),
        }
    }
}

fn is_full_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            // sled passes ENOSPC on as is at open, wrapped in a custom error of the same kind
            // from its flusher.
            io.kind() == std::io::ErrorKind::StorageFull
        }
        _ => false,
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock")
        }
        _ => false,
    }
}

/// The table shared between the state task (writer) and the publisher (reader).
#[derive(Clone)]
pub struct Shared {
    table: Arc<Mutex<Table>>,
    /// Signalled when keys become dirty.
    pub notify: Arc<Notify>,
}

impl Shared {
    /// Wraps a table.
    pub fn new(table: Table) -> Shared {
        Shared {
            table: Arc::new(Mutex::new(table)),
            notify: Arc::new(Notify::new()),
        }
    }

    /// Locks the table. A poisoned lock (a panic while held) still yields the table: every
    /// mutation leaves it consistent, and the gateway must keep publishing.
    pub fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Slots rewritten per table lock while the store recovers: each is one in-memory sled
/// insert, so the state stage and the publisher never wait for more than this many.
const REWRITE_CHUNK: usize = 256;

impl Shared {
    /// One step of storage upkeep (blocking sled I/O: the publisher runs it off the async
    /// workers, once per metrics interval). Healthy and written to since the last upkeep:
    /// nothing (sled flushes in the background every `SLED_FLUSH_MS`, and a failed background
    /// flush fails the next write, which degrades the store). Healthy and quiet: a flush, which
    /// has nothing to write and is how a failed background flush is seen when no write follows
    /// it. (An explicit flush on every interval under load made the resident set grow by
    /// ~2.5 MiB per 12,000-event burst in `tests/burst.rs`.) Degraded: close and reopen the store,
    /// rewrite every record and heatmap from the table, flush; success clears the alarm.
    /// Entering and leaving the degraded state are reported to `report` (the audit trail).
    pub fn maintain_store(&self, disk: &Disk, mut report: impl FnMut(StoreEvent)) {
        if !self.lock().degraded {
            if std::mem::take(&mut self.lock().wrote) {
                return;
            }
            match disk.flush() {
                Ok(_) => return,
                Err(e) => self.lock().store_fault(&e),
            }
        }
        if let Some(reason) = self.lock().fault.take() {
            report(StoreEvent::Degraded { reason });
        }
        self.lock().metrics.state.store_recovery_attempts.inc();
        match self.recover(disk) {
            Ok(records) => {
                tracing::info!(records, "state store recovered: alarm cleared");
                report(StoreEvent::Recovered { records });
            }
            Err(e) => tracing::debug!(error = %e, "state store still failing"),
        }
    }

    fn recover(&self, disk: &Disk) -> Result<usize, StateError> {
        let names = {
            let mut t = self.lock();
            t.tree = None;
            t.heat_tree = None;
            t.tree_names.clone()
        };
        disk.reopen().map_err(StateError::Write)?;
        let [records, heat] = names.map(|n| n.map(|n| disk.open_tree(n)).transpose());
        let (records, heat) = (
            records.map_err(StateError::Write)?,
            heat.map_err(StateError::Write)?,
        );
        {
            // From here on, live changes are written through again; the rewrite below may
            // write a key twice, never an older value over a newer one (both under the lock).
            let mut t = self.lock();
            t.tree = records;
            t.heat_tree = heat;
        }
        let mut done = 0;
        loop {
            let mut t = self.lock();
            let end = (done + REWRITE_CHUNK).min(t.slots.len());
            for i in done..end {
                // i < slots.len() ≤ u32::MAX, checked at insert.
                t.persist(i as u32)?;
            }
            done = end;
            if done == t.slots.len() {
                t.save_heatmaps()?;
                break;
            }
        }
        if let Err(e) = disk.flush() {
            self.lock().store_fault(&e);
            return Err(StateError::Write(e));
        }
        let mut t = self.lock();
        if t.tree.is_none() && t.tree_names[0].is_some() {
            // A live write failed after the flush: still degraded.
            return Err(StateError::Write(closed()));
        }
        t.degraded = false;
        t.metrics.state.store_degraded.set(0);
        t.metrics.state.store_recoveries.inc();
        Ok(done)
    }
}

/// The state stage: applies updates from upstream until the channel closes or shutdown, and
/// answers checkpoints with a flush.
pub struct StateStage {
    /// The table.
    pub shared: Shared,
    /// Incoming updates.
    pub rx: mpsc::Receiver<Update>,
    /// The store's database (None: a memory-only table).
    pub disk: Option<Disk>,
    /// Where checkpoints are acknowledged.
    pub durable: watch::Sender<Durable>,
}

/// Most updates applied under one lock before the publisher is woken.
const BATCH: usize = 256;

impl StateStage {
    /// Runs the stage.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                n = self.rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    let now = now_ms();
                    let mut any = false;
                    let mut checkpoint = None;
                    {
                        let mut t = self.shared.lock();
                        for u in batch.drain(..) {
                            match u {
                                Update::Checkpoint(seq) => checkpoint = Some(seq),
                                u => any |= t.apply(&u, now) == Change::Applied,
                            }
                        }
                    }
                    if any {
                        self.shared.notify.notify_one();
                    }
                    if let Some(seq) = checkpoint {
                        let ack = self.checkpoint(seq).await;
                        self.durable.send_replace(ack);
                    }
                }
            }
        }
    }

    /// Flushes sled: every update applied so far (the checkpoint's and any after it in the
    /// same batch) reaches the disk. A failed flush degrades the store, as a failed write does.
    async fn checkpoint(&self, seq: u64) -> Durable {
        let started = Instant::now();
        let writable = self.shared.lock().tree.is_some();
        let on_disk = match &self.disk {
            Some(disk) if writable => match disk.flush_async().await {
                Ok(_) => true,
                Err(e) => {
                    self.shared.lock().store_fault(&e);
                    false
                }
            },
            _ => false,
        };
        let flush_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let m = self.shared.lock().metrics.clone();
        m.state.checkpoints.inc();
        m.state.checkpoint_flush_us.set(flush_us);
        Durable {
            seq,
            on_disk,
            flush_us,
        }
    }
}

/// Local wall-clock time, ms since the Unix epoch.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Id {
        Id([n; 16])
    }

    fn table(agents: usize) -> Table {
        Table::new(
            Capacity { agents, queues: 4 },
            Arc::new(Zones::new(vec![], &[id(100)])),
            None,
            Arc::new(Metrics::default()),
        )
    }

    fn presence(user: u8, p: Presence, ms: Millis) -> Update {
        Update::Event(Event::Presence(PresenceChange {
            user: id(user),
            definition: id(50),
            presence: p,
            modified: ms,
        }))
    }

    #[test]
    fn last_write_wins_by_source_time() {
        let mut t = table(10);
        assert_eq!(
            t.apply(&presence(1, Presence::Available, 100), 0),
            Change::Applied
        );
        assert_eq!(t.apply(&presence(1, Presence::Busy, 90), 0), Change::Stale);
        assert_eq!(
            t.apply(&presence(1, Presence::Available, 100), 0),
            Change::Duplicate
        );
        assert_eq!(
            t.apply(&presence(1, Presence::OnQueue, 110), 0),
            Change::Applied
        );
        // Same value, newer time: a new time in status, published.
        assert_eq!(
            t.apply(&presence(1, Presence::OnQueue, 120), 0),
            Change::Applied
        );
        assert_eq!(
            t.apply(&presence(1, Presence::OnQueue, 115), 0),
            Change::Stale
        );
        let Some(Value::Agent(a)) = t.get(&Key::Agent(id(1))) else {
            panic!("no agent");
        };
        assert_eq!((a.presence, a.presence_ms), (Presence::OnQueue, 120));
        assert_eq!(t.metrics.state.stale.get(), 2);
        assert_eq!(t.metrics.state.duplicates.get(), 1);
    }

    /// The contract with `upstream`'s conversation resync: its "no open conversation" clear is
    /// stamped one millisecond before the resync began. It still ends a conversation last seen
    /// before the resync (its end missed during the gap), and it loses to a conversation that
    /// starts at the resync's first millisecond, in either arrival order (a clear stamped at the
    /// resync's instant tied with it, and the tie went to the clear when it arrived last).
    #[test]
    fn resync_clear_ends_the_past_and_never_beats_a_live_conversation() {
        let began: Millis = 1_000;
        let offered = |user: u8, ms: Millis| {
            Update::Event(Event::Conversation(ConversationChange {
                user: id(user),
                conversation: id(60 + user),
                media: Media::Callback,
                interaction: Interaction::Alerting,
                wrapup: false,
                ended: false,
                changed: ms,
            }))
        };
        let clear = |user: u8| {
            Update::Event(Event::Conversation(ConversationChange {
                user: id(user),
                conversation: Id::default(),
                media: Media::None,
                interaction: Interaction::None,
                wrapup: false,
                ended: true,
                changed: began - 1,
            }))
        };
        let media = |t: &Table, user: u8| match t.get(&Key::Agent(id(user))) {
            Some(Value::Agent(a)) => a.media,
            _ => panic!("no agent {user}"),
        };
        let mut t = table(4);
        // Seen before the gap, ended during it: the clear ends it.
        assert_eq!(t.apply(&offered(1, 500), 0), Change::Applied);
        assert_eq!(t.apply(&clear(1), 0), Change::Applied);
        assert_eq!(media(&t, 1), Media::None);
        // Offered at the resync's first millisecond, the live event first…
        assert_eq!(t.apply(&offered(2, began), 0), Change::Applied);
        assert_eq!(t.apply(&clear(2), 0), Change::Stale);
        assert_eq!(media(&t, 2), Media::Callback);
        // …or the clear first.
        assert_eq!(t.apply(&clear(3), 0), Change::Duplicate);
        assert_eq!(t.apply(&offered(3, began), 0), Change::Applied);
        assert_eq!(media(&t, 3), Media::Callback);
    }

    thread_local! {
        static FAKE_NOW: std::cell::Cell<Millis> = const { std::cell::Cell::new(0) };
    }

    fn fake_now() -> Millis {
        FAKE_NOW.with(|c| c.get())
    }

    #[test]
    fn stale_flag_is_published_on_expiry_and_cleared_on_confirmation() {
        let mut t = table(4);
        t.set_stale_ttl(std::time::Duration::from_secs(60));
        t.clock = fake_now;
        let now = 1_800_000_000_000;
        let at = |ms: Millis| FAKE_NOW.with(|c| c.set(ms));
        at(now);
        let mut out = Vec::new();
        // Confirmed just now: not stale.
        t.apply(&presence(1, Presence::Available, 100), now);
        t.take_dirty(&mut out, 8);
        assert!(!out[0].stale);
        out.clear();
        at(now + 30_000);
        assert_eq!(t.mark_expired(), 0);
        // Confirmed two minutes ago (a record from sled, or an upstream silent since):
        // published stale by the expiry sweep, once.
        t.apply(&presence(2, Presence::Busy, 100), now - 120_000);
        t.take_dirty(&mut out, 8);
        assert!(out[0].stale);
        out.clear();
        t.apply(&presence(3, Presence::Busy, 100), now);
        t.take_dirty(&mut out, 8);
        out.clear();
        at(now + 62_000);
        assert_eq!(t.mark_expired(), 2, "agents 1 and 3 expire");
        t.take_dirty(&mut out, 8);
        assert!(out.iter().all(|i| i.stale));
        out.clear();
        at(now + 70_000);
        assert_eq!(t.mark_expired(), 0, "already shown stale");
        // A confirmation that changes nothing (a duplicate) still republishes, unflagged.
        assert_eq!(
            t.apply(&presence(2, Presence::Busy, 100), now + 70_000),
            Change::Duplicate
        );
        t.take_dirty(&mut out, 8);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].key, Key::Agent(id(2)));
        assert!(!out[0].stale);
    }

    #[test]
    fn heatmap_counts_transitions_from_a_known_state_only() {
        let zone = crate::zones::ZoneSpec {
            name: "z".into(),
            users: vec![id(1)],
            queues: vec![],
            members_of_queues: false,
            waiting_warning: 5,
            waiting_critical: 10,
        };
        let mut t = Table::new(
            Capacity {
                agents: 4,
                queues: 4,
            },
            Arc::new(Zones::new(vec![zone], &[])),
            None,
            Arc::new(Metrics::default()),
        );
        let minute = minute_of(6_000_000);
        // First sight of an agent (from nothing) is not a transition.
        t.apply(&presence(1, Presence::Available, 6_000_000), 0);
        // A new time in the same status is not either; a new status is.
        t.apply(&presence(1, Presence::Available, 6_001_000), 0);
        t.apply(&presence(1, Presence::Busy, 6_002_000), 0);
        let mut m = Minutes::default();
        let end = t.heatmap(0, minute, &mut m).unwrap();
        assert_eq!(end, minute);
        assert_eq!(m.0.iter().map(|&c| u32::from(c)).sum::<u32>(), 1);
        assert_eq!(m.0[presence_wire::HEATMAP_MINUTES - 1], 1);
    }

    fn member(user: u8, joined: bool) -> Update {
        Update::Event(Event::Member(crate::event::MemberChange {
            queue: id(100),
            user: id(user),
            joined,
        }))
    }

    fn listing(phase: ListingPhase) -> Update {
        Update::MemberListing {
            queue: id(100),
            phase,
        }
    }

    fn member_of_queue(t: &Table, user: u8) -> bool {
        match t.get(&Key::Agent(id(user))) {
            Some(Value::Agent(a)) => !a.queues.is_empty(),
            other => panic!("agent {user}: {other:?}"),
        }
    }

    #[test]
    fn a_complete_member_listing_removes_those_it_no_longer_names() {
        let mut t = table(8);
        for u in 1..=3 {
            assert_eq!(t.apply(&member(u, true), 0), Change::Applied);
        }
        // Agent 2 left while we were away: the new listing names 1 and 3 only.
        t.apply(&listing(ListingPhase::Begin), 0);
        t.apply(&member(1, true), 0);
        t.apply(&member(3, true), 0);
        assert_eq!(
            t.apply(&listing(ListingPhase::Complete), 0),
            Change::Applied
        );
        assert!(member_of_queue(&t, 1));
        assert!(!member_of_queue(&t, 2), "not named: left");
        assert!(member_of_queue(&t, 3));
        // The same listing again changes nothing.
        t.apply(&listing(ListingPhase::Begin), 0);
        t.apply(&member(1, true), 0);
        t.apply(&member(3, true), 0);
        assert_eq!(
            t.apply(&listing(ListingPhase::Complete), 0),
            Change::Duplicate
        );
    }

    #[test]
    fn a_listing_cut_short_removes_nobody() {
        let mut t = table(8);
        for u in 1..=3 {
            t.apply(&member(u, true), 0);
        }
        // Paging stopped early (hostile nextUri, page limit): no Complete, then a new Begin.
        t.apply(&listing(ListingPhase::Begin), 0);
        t.apply(&member(1, true), 0);
        t.apply(&listing(ListingPhase::Begin), 0);
        t.apply(&member(2, true), 0);
        t.apply(&member(3, true), 0);
        t.apply(&member(1, true), 0);
        assert_eq!(
            t.apply(&listing(ListingPhase::Complete), 0),
            Change::Duplicate
        );
        assert!((1..=3).all(|u| member_of_queue(&t, u)));
    }

    #[test]
    fn full_table_refuses_and_counts() {
        let mut t = table(2);
        assert_eq!(t.apply(&presence(1, Presence::Busy, 1), 0), Change::Applied);
        assert_eq!(t.apply(&presence(2, Presence::Busy, 1), 0), Change::Applied);
        assert_eq!(t.apply(&presence(3, Presence::Busy, 1), 0), Change::Refused);
        assert_eq!(t.metrics.state.refused_full.get(), 1);
        assert_eq!(t.iter().count(), 2);
    }

    #[test]
    fn dirty_set_coalesces_to_latest_value() {
        let mut t = table(10);
        for ms in 1..=10 {
            t.apply(&presence(1, Presence::Busy, ms * 2), 0);
            t.apply(&presence(1, Presence::Away, ms * 2 + 1), 0);
        }
        assert_eq!(t.dirty_len(), 1);
        assert_eq!(t.metrics.state.coalesced.get(), 19);
        let mut out = Vec::new();
        t.take_dirty(&mut out, 10);
        assert_eq!(out.len(), 1);
        let Value::Agent(a) = &out[0].value else {
            panic!("not an agent");
        };
        assert_eq!(a.presence, Presence::Away);
        assert_eq!(t.dirty_len(), 0);
    }

    #[test]
    fn sweep_never_delays_live_changes_and_skips_keys_already_sent() {
        let mut t = table(10);
        for u in 1..=3 {
            t.apply(&presence(u, Presence::Busy, 1), 0);
        }
        let mut out = Vec::new();
        t.take_dirty(&mut out, 10);
        assert_eq!(out.len(), 3);
        t.sweep_all();
        assert_eq!(t.sweep_len(), 3);
        // A live change while the sweep waits: it goes first, and the sweep skips it.
        t.apply(&presence(2, Presence::Away, 2), 0);
        out.clear();
        t.take_dirty(&mut out, 10);
        assert_eq!(out.len(), 1);
        out.clear();
        t.take_sweep(&mut out, 10);
        assert_eq!(out.len(), 2, "agent 2 was already published live");
    }

    #[test]
    fn custom_presence_maps_through_definitions() {
        let mut t = table(10);
        t.apply(
            &Update::Definition {
                id: id(50),
                presence: Presence::Break,
            },
            0,
        );
        t.apply(&presence(1, Presence::Unknown, 5), 0);
        let Some(Value::Agent(a)) = t.get(&Key::Agent(id(1))) else {
            panic!("no agent");
        };
        assert_eq!(a.presence, Presence::Break);
    }

    #[test]
    fn records_round_trip_and_reject_unknown_versions() {
        let v = Value::Agent(AgentRecord {
            presence: Presence::Meal,
            presence_ms: 77,
            name: heapless::String::try_from("Agnes Agent").unwrap(),
            ..AgentRecord::default()
        });
        let mut buf = [0u8; RECORD_BUF];
        let bytes = encode_record(&v, &mut buf).unwrap().to_vec();
        assert_eq!(decode_record(&bytes), Some(v));
        let mut old = bytes.clone();
        old[0] = 0;
        assert_eq!(decode_record(&old), None);
        assert_eq!(decode_record(&bytes[..bytes.len() - 2]), None);
    }

    #[test]
    fn store_persists_and_counts_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let m = Arc::new(Metrics::default());
        let zones = Arc::new(Zones::new(vec![], &[]));
        let cap = Capacity {
            agents: 10,
            queues: 10,
        };
        {
            let (store, q) = Store::open(&path, 1 << 20, 100).unwrap();
            assert!(!q);
            assert_eq!(store.session, 1);
            let mut t = Table::new(cap, zones.clone(), Some(store.records.clone()), m.clone());
            t.apply(&presence(7, Presence::Training, 42), 0);
            store.db.flush().unwrap();
        }
        let (store, _) = Store::open(&path, 1 << 20, 100).unwrap();
        assert_eq!(store.session, 2);
        let mut t = Table::new(cap, zones, Some(store.records.clone()), m);
        assert_eq!(t.load(), 1);
        assert_eq!(t.dirty_len(), 1);
        let Some(Value::Agent(a)) = t.get(&Key::Agent(id(7))) else {
            panic!("not restored");
        };
        assert_eq!(a.presence, Presence::Training);
    }

    #[test]
    fn a_store_in_use_is_refused_not_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let (_held, _) = Store::open(&path, 1 << 20, 100).unwrap();
        let err = Store::open(&path, 1 << 20, 100)
            .err()
            .expect("second open refused");
        assert!(matches!(err, StateError::Locked { .. }), "{err}");
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().contains("corrupt"));
        assert!(!aside, "a live store must never be moved aside");
    }

    #[test]
    fn corrupt_store_is_quarantined_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("conf"), b"\xff\xfe garbage").unwrap();
        std::fs::write(path.join("db"), vec![0xAB; 4096]).unwrap();
        let (store, quarantined) = Store::open(&path, 1 << 20, 100).unwrap();
        assert!(quarantined);
        assert_eq!(store.session, 1);
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("state.corrupt-")
            });
        assert!(aside);
    }

    /// A tmpfs of the test's own, so a full disk is real; unmounted on drop.
    struct Tmpfs {
        dir: tempfile::TempDir,
    }

    impl Tmpfs {
        /// Mounts one of `size` (`mount -o size=`); Err(why) where that is not permitted
        /// (not root, no mount binary): the test then says so and skips.
        fn mount(size: &str) -> Result<Tmpfs, String> {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let out = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path())
                .output()
                .map_err(|e| format!("cannot run mount: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "mount -t tmpfs refused (needs root): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(Tmpfs { dir })
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }

        /// Grows a filler file until the disk refuses (ENOSPC); returns its path.
        fn fill(&self) -> PathBuf {
            use std::io::Write;
            let path = self.path().join("filler");
            let mut f = std::fs::File::create(&path).unwrap();
            let block = [0u8; 4096];
            while f.write_all(&block).is_ok() {}
            path
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let umount = |lazy: bool| {
                let mut c = std::process::Command::new("umount");
                if lazy {
                    c.arg("-l");
                }
                c.arg(self.dir.path()).status().is_ok_and(|s| s.success())
            };
            if !umount(false) {
                umount(true);
            }
        }
    }

    #[test]
    fn a_full_disk_degrades_the_store_and_a_rewrite_from_memory_recovers_it() {
        let fs = match Tmpfs::mount("4m") {
            Ok(fs) => fs,
            Err(why) => {
                eprintln!("SKIPPED a_full_disk_degrades_the_store…: {why}");
                return;
            }
        };
        let path = fs.path().join("state");
        let m = Arc::new(Metrics::default());
        let zones = Arc::new(Zones::new(vec![], &[]));
        let cap = Capacity {
            agents: 64,
            queues: 4,
        };
        let (Store { db, records, .. }, _) = Store::open(&path, 1 << 20, 100).unwrap();
        let shared = Shared::new(Table::new(cap, zones.clone(), Some(records), m.clone()));
        let mut ms = 1_000;
        for u in 1..=40 {
            shared
                .lock()
                .apply(&presence(u, Presence::Available, ms), 0);
        }
        let mut events = Vec::new();
        shared.maintain_store(&db, |e| events.push(e));
        assert!(events.is_empty(), "{events:?}");
        assert!(!shared.lock().store_degraded());

        let filler = fs.fill();
        // sled finds the disk full when it flushes (in the background, or the upkeep's
        // flush): keep changing every agent until it does.
        for _ in 0..500 {
            ms += 1;
            for u in 1..=40 {
                shared.lock().apply(&presence(u, Presence::Busy, ms), 0);
            }
            shared.maintain_store(&db, |e| events.push(e));
            if shared.lock().store_degraded() {
                break;
            }
        }
        assert!(
            shared.lock().store_degraded(),
            "a full disk never degraded the store"
        );
        assert!(
            matches!(&events[..], [StoreEvent::Degraded { .. }]),
            "{events:?}"
        );
        assert_eq!(m.state.store_faults.get(), 1);
        assert_eq!(m.state.store_degraded.get(), 1);

        // Degraded: changes still reach the dirty set (displays); the write is held back.
        let mut out = Vec::new();
        shared.lock().take_dirty(&mut out, 100);
        out.clear();
        let held = m.state.persist_errors.get();
        ms += 1;
        shared.lock().apply(&presence(7, Presence::Meal, ms), 0);
        assert_eq!(m.state.persist_errors.get(), held + 1, "held back, counted");
        shared.lock().take_dirty(&mut out, 100);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].key, Key::Agent(id(7)));

        // Still full: the retry fails, the alarm stays, nothing more is reported.
        shared.maintain_store(&db, |e| events.push(e));
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(shared.lock().store_degraded());

        // Space is back: reopened, every record rewritten from memory, alarm cleared.
        std::fs::remove_file(filler).unwrap();
        shared.maintain_store(&db, |e| events.push(e));
        assert_eq!(events.last(), Some(&StoreEvent::Recovered { records: 40 }));
        assert!(!shared.lock().store_degraded());
        assert_eq!(m.state.store_degraded.get(), 0);
        assert_eq!(m.state.store_recoveries.get(), 1);
        // Written through again.
        ms += 1;
        shared.lock().apply(&presence(8, Presence::Training, ms), 0);
        db.flush().unwrap();

        // The store on disk holds what memory holds, the held-back change included.
        let want: Vec<(Key, Value)> = shared.lock().iter().map(|(k, v)| (*k, v.clone())).collect();
        drop(shared);
        drop(db);
        let (store, _) = Store::open(&path, 1 << 20, 100).unwrap();
        let mut t = Table::new(cap, zones, Some(store.records.clone()), Arc::default());
        assert_eq!(t.load(), want.len());
        for (k, v) in &want {
            assert_eq!(t.get(k), Some(v), "{k:?}");
        }
        let Some(Value::Agent(a)) = t.get(&Key::Agent(id(7))) else {
            panic!("agent 7 not stored");
        };
        assert_eq!(a.presence, Presence::Meal);
    }

    #[test]
    fn a_full_disk_at_boot_is_refused_not_quarantined() {
        let fs = match Tmpfs::mount("4m") {
            Ok(fs) => fs,
            Err(why) => {
                eprintln!("SKIPPED a_full_disk_at_boot_is_refused_not_quarantined: {why}");
                return;
            }
        };
        let path = fs.path().join("state");
        {
            let (store, _) = Store::open(&path, 1 << 20, 100).unwrap();
            store.records.insert(b"k", b"v".as_slice()).unwrap();
            store.db.flush().unwrap();
        }
        let filler = fs.fill();
        let err = Store::open(&path, 1 << 20, 100)
            .err()
            .expect("sled cannot open without free space");
        assert!(matches!(err, StateError::Full { .. }), "{err}");
        let aside = std::fs::read_dir(fs.path())
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().contains("corrupt"));
        assert!(!aside, "a full disk is not corruption");
        std::fs::remove_file(filler).unwrap();
        let (store, quarantined) = Store::open(&path, 1 << 20, 100).unwrap();
        assert!(!quarantined);
        assert_eq!(store.session, 2);
        assert_eq!(
            store.records.get(b"k").unwrap().as_deref(),
            Some(b"v".as_slice())
        );
    }
}
