//! The table: the latest value per agent and per queue, in fixed slots sized by the board
//! profile, and `apply`, the pure last-write-wins step (by source timestamp) that turns an
//! [`Update`] into a [`Change`]. Staleness (not confirmed by the cloud within the TTL) is
//! decided here, once. Does not own the dirty set's queues (`dirty`), the sled side
//! (`store`) nor any task (`stage`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use super::record::{decode_record, AgentRecord, Key, QueueRecord, Value};
use super::stage::now_ms;
use super::store::Reason;
use super::{Capacity, Change};
use crate::event::{
    ConversationChange, Event, Id, Interaction, Media, MemberChange, Millis, OutOfOfficeChange,
    Presence, PresenceChange, QueueAggregate, QueueObservation, RoutingChange,
};
use crate::heatmap::{minute_of, Heatmaps};
use crate::limits::MAX_DEFINITIONS;
use crate::message::{ListingPhase, Update};
use crate::metrics::Metrics;
use crate::zones::{ZoneMask, Zones};
use presence_wire::Minutes;

pub(super) struct Slot {
    pub(super) key: Key,
    pub(super) value: Value,
    /// Zones the key was last published to (to clear a zone it left).
    pub(super) published_zones: ZoneMask,
    pub(super) dirty: bool,
    /// Waiting in the sweep queue (a full republish).
    pub(super) sweep: bool,
    /// When the key became dirty (for publish latency).
    pub(super) dirty_since: Option<Instant>,
    /// The display name must be (re)published with the next publish of this key.
    pub(super) name_dirty: bool,
    /// Its last publish carried the STALE flag (a confirmation must republish it).
    pub(super) published_stale: bool,
    /// False once the agent is no longer watched: in no zone (displays get empty payloads), no
    /// record on disk; watched again by a later `Update::Watch`.
    pub(super) watched: bool,
    /// Epoch of the last complete member listing that named this agent (see
    /// [`Update::MemberListing`]).
    pub(super) listed: u32,
    /// Epoch of the member listing during which a live member event for this agent and the
    /// listed queue was applied: that listing's pages no longer change its membership.
    pub(super) live_member: u32,
    /// Changed since its record was last written to sled: waiting in the save queue.
    pub(super) unsaved: bool,
}

/// The table.
pub struct Table {
    pub(super) slots: Vec<Slot>,
    pub(super) index: HashMap<Key, u32>,
    pub(super) dirty: VecDeque<u32>,
    /// Keys to republish in a sweep (broker reconnect, command): drained after, and paced
    /// separately from, live changes so a sweep never delays a live update.
    pub(super) sweep: VecDeque<u32>,
    /// Keys whose record is to be written to sled (write-behind: each at most once, written
    /// by [`Table::save_unsaved`] every [`super::SAVE_EVERY`], at a checkpoint and at shutdown).
    pub(super) unsaved: VecDeque<u32>,
    pub(super) agents: usize,
    pub(super) queues: usize,
    pub(super) cap: Capacity,
    pub(super) definitions: HashMap<Id, Presence>,
    pub(super) zones: Arc<Zones>,
    /// Records in sled; None in memory-only tables and while the store is degraded.
    pub(super) tree: Option<sled::Tree>,
    pub(super) metrics: Arc<Metrics>,
    /// Per-zone activity heatmaps, fed by agent state transitions.
    pub(super) heat: Heatmaps,
    pub(super) heat_tree: Option<sled::Tree>,
    /// Names of the two trees, to open them again after the store was reopened.
    pub(super) tree_names: [Option<sled::IVec>; 2],
    /// A write failed: the trees are dropped and writes held back until
    /// [`Shared::maintain_store`] has reopened the store and rewritten the table.
    pub(super) degraded: bool,
    /// Why the store became degraded, until storage upkeep has reported it (audit).
    pub(super) fault: Option<Reason>,
    /// An agent not confirmed for this long is published with the STALE flag.
    pub(super) stale_ms: u64,
    /// A record was written since the last storage upkeep (whose flush is then skipped).
    pub(super) wrote: bool,
    /// The member listing in progress: (queue index, epoch).
    pub(super) listing: Option<(u16, u32)>,
    /// Epoch of the latest listing begun.
    pub(super) listing_epoch: u32,
    /// Wall clock for staleness (tests substitute their own).
    pub(super) clock: fn() -> Millis,
}

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
            unsaved: VecDeque::with_capacity(total),
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

    pub(super) fn insert_slot(&mut self, key: Key, value: Value) -> Option<u32> {
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
                    watched: true,
                    listed: 0,
                    live_member: 0,
                    unsaved: false,
                });
                self.index.insert(key, i);
                Some(i)
            }
        }
    }

    /// Slot of `key`, created empty if absent; None when the table is full (counted).
    pub(super) fn slot_for(&mut self, key: Key) -> Option<u32> {
        // Known keys (nearly every event) skip building an empty record.
        if let Some(&i) = self.index.get(&key) {
            return Some(i);
        }
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
            Update::QueueName { queue, name } => {
                let change = self.with_queue(*queue, now_ms, |q| {
                    if q.name == *name {
                        Change::Duplicate
                    } else {
                        q.name = name.clone();
                        Change::Applied
                    }
                });
                if change == Change::Applied {
                    if let Some(&i) = self.index.get(&Key::Queue(*queue)) {
                        self.slots[i as usize].name_dirty = true;
                    }
                }
                change
            }
            Update::MemberListing { queue, phase } => self.member_listing(queue, *phase),
            Update::Listed(m) => self.listed_member(m, now_ms),
            Update::Unwatch(user) => match self.index.get(&Key::Agent(*user)).copied() {
                Some(i) if self.slots[i as usize].watched => {
                    self.slots[i as usize].watched = false;
                    self.forget(i);
                    self.mark_dirty(Key::Agent(*user));
                    Change::Applied
                }
                _ => Change::Duplicate,
            },
            // Handled by the stage (a flush); nothing to change in the table.
            Update::Checkpoint(_) => Change::Ignored,
            Update::Watch(user) => match self.index.get(&Key::Agent(*user)).copied() {
                Some(i) if !self.slots[i as usize].watched => {
                    self.slots[i as usize].watched = true;
                    self.touch(i);
                    Change::Applied
                }
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

    pub(super) fn apply_event(&mut self, e: &Event, now: Millis) -> Change {
        match *e {
            Event::Presence(p) => self.apply_presence(p, now),
            Event::Routing(r) => self.apply_routing(r, now),
            Event::Activity(p, r, o) => {
                let a = p.map_or(Change::Ignored, |p| self.apply_presence(p, now));
                let b = r.map_or(Change::Ignored, |r| self.apply_routing(r, now));
                let c = o.map_or(Change::Ignored, |o| self.apply_out_of_office(o, now));
                merge(merge(a, b), c)
            }
            Event::Conversation(c) => self.apply_conversation(c, now),
            Event::Member(m) => {
                let Some(qi) = self.zones.queue_index(&m.queue) else {
                    return Change::Ignored;
                };
                let change = self.member_change(qi, &m, now);
                // Live during the listing of its queue: the pages (maybe read before it) no
                // longer change this agent's membership, and a join counts as named.
                if let Some((lq, epoch)) = self.listing {
                    if lq == qi {
                        if let Some(&i) = self.index.get(&Key::Agent(m.user)) {
                            let slot = &mut self.slots[i as usize];
                            slot.live_member = epoch;
                            if m.joined {
                                slot.listed = epoch;
                            }
                        }
                    }
                }
                change
            }
            Event::Observation(o) => self.apply_observation(o, now),
            Event::Aggregate(a) => self.apply_aggregate(a, now),
        }
    }

    pub(super) fn resolve(&self, p: &PresenceChange) -> Presence {
        match p.presence {
            Presence::Unknown => self
                .definitions
                .get(&p.definition)
                .copied()
                .unwrap_or(Presence::Unknown),
            known => known,
        }
    }

    pub(super) fn apply_presence(&mut self, p: PresenceChange, now: Millis) -> Change {
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
    pub(super) fn count_transition(&mut self, user: Id, at_ms: Millis) {
        let Some(&i) = self.index.get(&Key::Agent(user)) else {
            return;
        };
        let Value::Agent(a) = &self.slots[i as usize].value else {
            return;
        };
        let mask = self.zones.of_agent(&user, &a.queues);
        self.heat.add(mask, minute_of(at_ms));
    }

    pub(super) fn apply_routing(&mut self, r: RoutingChange, now: Millis) -> Change {
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

    pub(super) fn apply_out_of_office(&mut self, o: OutOfOfficeChange, now: Millis) -> Change {
        self.with_agent(o.user, now, |a| {
            match order(o.modified, a.out_of_office_ms, a.out_of_office == o.active) {
                Change::Applied => {
                    a.out_of_office = o.active;
                    if o.modified != 0 {
                        a.out_of_office_ms = o.modified;
                    }
                    Change::Applied
                }
                other => other,
            }
        })
    }

    pub(super) fn apply_conversation(&mut self, c: ConversationChange, now: Millis) -> Change {
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

    pub(super) fn apply_observation(&mut self, o: QueueObservation, now: Millis) -> Change {
        self.with_queue(o.queue, now, |q| {
            let mut next = q.clone();
            let set = |dst: &mut Option<u32>, v: Option<u32>| {
                if v.is_some() {
                    *dst = v;
                }
            };
            set(&mut next.waiting, o.waiting);
            set(&mut next.interacting, o.interacting);
            set(&mut next.alerting, o.alerting);
            set(&mut next.on_queue, o.on_queue);
            set(&mut next.off_queue, o.off_queue);
            if o.longest_waiting.is_some() {
                next.longest_waiting_ms = o.longest_waiting;
            } else if o.waiting == Some(0) {
                // Nobody waits: the longest wait is known to be none.
                next.longest_waiting_ms = Some(0);
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

    /// An interval's figures, from an aggregate notification or the resync's aggregates read.
    /// Both are snapshots of the same 30-minute interval taken at different times, and the
    /// counts only grow within an interval, so the larger of what is held and what arrives is
    /// the newer: arrival order does not matter. A metric the snapshot does not carry keeps
    /// what is held (unknown at the interval's start); the service level, which can fall,
    /// comes from the latest snapshot that carries it.
    pub(super) fn apply_aggregate(&mut self, g: QueueAggregate, now: Millis) -> Change {
        self.with_queue(g.queue, now, |q| {
            if g.interval_start < q.interval_start_ms {
                return Change::Stale;
            }
            let mut next = q.clone();
            if g.interval_start > q.interval_start_ms {
                // A new interval: what the old one held says nothing about it.
                next.offered = None;
                next.answered = None;
                next.abandoned = None;
                next.service_level_permille = None;
                next.interval_start_ms = g.interval_start;
            }
            let grow = |held: Option<u32>, got: Option<u32>| match (held, got) {
                (Some(h), Some(g)) => Some(h.max(g)),
                (h, g) => g.or(h),
            };
            next.offered = grow(next.offered, g.offered);
            next.answered = grow(next.answered, g.answered);
            next.abandoned = grow(next.abandoned, g.abandoned);
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

    pub(super) fn with_agent(
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

    /// `m` applied to the agent's queues (`qi`: the queue's index).
    fn member_change(&mut self, qi: u16, m: &MemberChange, now: Millis) -> Change {
        self.with_agent(m.user, now, |a| {
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
        })
    }

    /// [`Update::Listed`]: a listing page's member, unless a live event for it came first.
    pub(super) fn listed_member(&mut self, m: &MemberChange, now: Millis) -> Change {
        let Some(qi) = self.zones.queue_index(&m.queue) else {
            return Change::Ignored;
        };
        let listing = self.listing.filter(|&(lq, _)| lq == qi);
        let slot = self.index.get(&Key::Agent(m.user)).copied();
        if let (Some((_, epoch)), Some(i)) = (listing, slot) {
            if self.slots[i as usize].live_member == epoch {
                self.metrics.state.listed_superseded.inc();
                return Change::Ignored;
            }
        }
        let change = self.member_change(qi, m, now);
        if let (Some((_, epoch)), true) = (listing, m.joined) {
            if let Some(&i) = self.index.get(&Key::Agent(m.user)) {
                self.slots[i as usize].listed = epoch;
            }
        }
        change
    }

    /// [`Update::MemberListing`]: at `Complete`, removes `queue` from every agent it holds as
    /// a member that the listing did not name.
    pub(super) fn member_listing(&mut self, queue: &Id, phase: ListingPhase) -> Change {
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

    pub(super) fn is_stale(&self, confirmed_ms: Millis, now: Millis) -> bool {
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

    pub(super) fn with_queue(
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

    /// Queues slot `i`'s record for the next save and marks it dirty (coalescing either if
    /// it already is). A failed write never holds the key back from displays: it degrades the
    /// store (see the module doc).
    pub(super) fn touch(&mut self, i: u32) {
        let slot = &mut self.slots[i as usize];
        if slot.unsaved {
            self.metrics.state.saves_coalesced.inc();
        } else {
            slot.unsaved = true;
            self.unsaved.push_back(i);
        }
        if slot.dirty {
            self.metrics.state.coalesced.inc();
        } else {
            slot.dirty = true;
            slot.dirty_since = Some(Instant::now());
            self.dirty.push_back(i);
        }
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
