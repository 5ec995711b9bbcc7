//! The dirty set: each key at most once (a flag per slot plus a FIFO of slot indices sized
//! to the table), so a slow broker costs no memory: a key changed ten times while the broker
//! was slow is published once, with its latest value, and nine coalesces are counted. Also
//! the sweep (a paced full republish, after live changes). The publisher only takes from
//! here.

use std::time::Instant;

use super::record::{Key, Value};
use super::table::Table;
use crate::zones::ZoneMask;

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

impl Table {
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

    /// Takes up to `max` dirty keys with their latest values into `out`.
    pub fn take_dirty(&mut self, out: &mut Vec<DirtyItem>, max: usize) {
        while out.len() < max {
            let Some(i) = self.dirty.pop_front() else {
                break;
            };
            out.push(self.take_slot(i));
        }
    }

    pub(super) fn take_slot(&mut self, i: u32) -> DirtyItem {
        let stale = match &self.slots[i as usize].value {
            Value::Agent(a) => self.is_stale(a.confirmed_ms, (self.clock)()),
            Value::Queue(_) => false,
        };
        let slot = &mut self.slots[i as usize];
        slot.published_stale = stale;
        slot.dirty = false;
        slot.sweep = false;
        let zones = match (&slot.key, &slot.value) {
            (Key::Agent(_), _) if !slot.watched => 0,
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
}
