//! Which floor-display zones each agent and queue belongs to, as bit masks.
//!
//! Owns the mapping from config (zone → explicit users, queues, "members of my queues") to
//! a `ZoneMask` per key. Pure lookups: no I/O, built once at start, never grows.

use std::collections::HashMap;

use crate::event::Id;

/// One bit per zone (zone index = bit). Boards allow at most 64 zones.
pub type ZoneMask = u64;

/// Most zones a site may configure (one bit each in a [`ZoneMask`]).
pub const MAX_ZONES: usize = 64;

/// Most distinct queues the table indexes (an agent's membership list holds 16-bit queue
/// indices); boards cap `max_queues` at this (config validation), and a queue past it is
/// left unindexed rather than sharing another's slot.
pub const MAX_QUEUES: usize = 1 << 16;

/// Most watched-queue memberships tracked per agent; more are ignored for zoning (counted
/// by the state stage). Agents in more than 16 of one site's watched queues are rare.
pub const MAX_AGENT_QUEUES: usize = 16;

/// One zone as configured.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneSpec {
    /// Name, used as an MQTT topic level.
    pub name: String,
    /// Agents listed explicitly.
    pub users: Vec<Id>,
    /// Queues shown in this zone.
    pub queues: Vec<Id>,
    /// Agents who are members of this zone's queues belong to it too.
    pub members_of_queues: bool,
    /// Every watched agent belongs to it, however it is watched (config, queue or group):
    /// the implicit zone `all`.
    pub all_agents: bool,
    /// Waiting count at which a queue turns amber.
    pub waiting_warning: u32,
    /// Waiting count at which a queue turns red.
    pub waiting_critical: u32,
}

/// The zone table.
#[derive(Clone, Debug)]
pub struct Zones {
    specs: Vec<ZoneSpec>,
    user_mask: HashMap<Id, ZoneMask>,
    queue_mask: HashMap<Id, ZoneMask>,
    /// Zones that take the members of each known queue, by queue index (an agent's
    /// membership list holds indices: no hashing per published frame).
    member_mask: Vec<ZoneMask>,
    /// Zones that hold every watched agent.
    everyone: ZoneMask,
    /// Index of each known queue, for compact membership lists.
    queue_index: HashMap<Id, u16>,
    queues: Vec<Id>,
}

impl Zones {
    /// Builds the table; `extra_queues` are watched queues outside every zone (indexed too).
    /// Zones beyond [`MAX_ZONES`] are ignored (config validation refuses them earlier).
    pub fn new(specs: Vec<ZoneSpec>, extra_queues: &[Id]) -> Zones {
        let mut z = Zones {
            specs: Vec::new(),
            user_mask: HashMap::new(),
            queue_mask: HashMap::new(),
            member_mask: Vec::new(),
            everyone: 0,
            queue_index: HashMap::new(),
            queues: Vec::new(),
        };
        for (i, spec) in specs.into_iter().take(MAX_ZONES).enumerate() {
            let bit: ZoneMask = 1 << i;
            if spec.all_agents {
                z.everyone |= bit;
            }
            for u in &spec.users {
                *z.user_mask.entry(*u).or_default() |= bit;
            }
            for q in &spec.queues {
                *z.queue_mask.entry(*q).or_default() |= bit;
                let qi = z.index_queue(*q);
                if spec.members_of_queues {
                    if let Some(m) = qi.and_then(|i| z.member_mask.get_mut(usize::from(i))) {
                        *m |= bit;
                    }
                }
            }
            z.specs.push(spec);
        }
        for q in extra_queues {
            z.index_queue(*q);
        }
        z
    }

    /// The index of queue `q`, given one if it is new; `None` once [`MAX_QUEUES`] are
    /// indexed (never two queues in one slot).
    fn index_queue(&mut self, q: Id) -> Option<u16> {
        if let Some(&i) = self.queue_index.get(&q) {
            return Some(i);
        }
        let i = u16::try_from(self.queues.len()).ok()?;
        self.queue_index.insert(q, i);
        self.queues.push(q);
        self.member_mask.push(0);
        Some(i)
    }

    /// The zones, in bit order.
    pub fn specs(&self) -> &[ZoneSpec] {
        &self.specs
    }

    /// Bit index of the zone called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.specs.iter().position(|s| s.name == name)
    }

    /// Name of zone `i` ("" when out of range).
    pub fn name(&self, i: usize) -> &str {
        self.specs.get(i).map_or("", |s| s.name.as_str())
    }

    /// Index of a known queue.
    pub fn queue_index(&self, q: &Id) -> Option<u16> {
        self.queue_index.get(q).copied()
    }

    /// Zones of a queue.
    pub fn of_queue(&self, q: &Id) -> ZoneMask {
        self.queue_mask.get(q).copied().unwrap_or(0)
    }

    /// Zones of an agent, given the indices of the queues it is a member of.
    pub fn of_agent(&self, user: &Id, member_of: &[u16]) -> ZoneMask {
        let mut m = self.everyone;
        // Most sites zone by queue: no explicit users, no lookup.
        if !self.user_mask.is_empty() {
            m |= self.user_mask.get(user).copied().unwrap_or(0);
        }
        for &qi in member_of {
            m |= self.member_mask.get(usize::from(qi)).copied().unwrap_or(0);
        }
        m
    }

    /// Iterates the set bits of a mask as zone indices.
    pub fn bits(mask: ZoneMask) -> impl Iterator<Item = usize> {
        // One step per set bit (three calls per published key: not 64 tests each).
        let mut rest = mask;
        std::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            // trailing_zeros of a non-zero u64 is < 64.
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            Some(i)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Id {
        Id([n; 16])
    }

    #[test]
    fn masks_follow_explicit_users_and_queue_membership() {
        let zones = Zones::new(
            vec![
                ZoneSpec {
                    name: "floor-1".into(),
                    users: vec![id(1)],
                    queues: vec![id(10)],
                    members_of_queues: true,
                    all_agents: false,
                    waiting_warning: 5,
                    waiting_critical: 10,
                },
                ZoneSpec {
                    name: "wall".into(),
                    users: vec![],
                    queues: vec![id(10), id(11)],
                    members_of_queues: false,
                    all_agents: false,
                    waiting_warning: 5,
                    waiting_critical: 10,
                },
            ],
            &[id(12)],
        );
        assert_eq!(zones.of_queue(&id(10)), 0b11);
        assert_eq!(zones.of_queue(&id(11)), 0b10);
        assert_eq!(zones.of_queue(&id(12)), 0);
        assert_eq!(zones.of_agent(&id(1), &[]), 0b01);
        let q10 = zones.queue_index(&id(10)).unwrap();
        let q11 = zones.queue_index(&id(11)).unwrap();
        assert_eq!(zones.of_agent(&id(2), &[q10]), 0b01);
        assert_eq!(zones.of_agent(&id(2), &[q11]), 0);
        assert!(zones.queue_index(&id(12)).is_some());
        assert_eq!(Zones::bits(0b101).collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(Zones::bits(0).count(), 0);
        assert_eq!(Zones::bits(1 << 63).collect::<Vec<_>>(), vec![63]);
        assert_eq!(
            Zones::bits(ZoneMask::MAX).collect::<Vec<_>>(),
            (0..MAX_ZONES).collect::<Vec<_>>()
        );
    }

    #[test]
    fn queues_past_sixteen_bit_indices_are_left_unindexed() {
        let queue = |n: usize| {
            let mut b = [0u8; 16];
            b[8..].copy_from_slice(&(n as u64).to_be_bytes());
            Id(b)
        };
        let extra: Vec<Id> = (0..=MAX_QUEUES).map(queue).collect();
        let zones = Zones::new(vec![], &extra);
        assert_eq!(zones.queue_index(&queue(0)), Some(0));
        assert_eq!(zones.queue_index(&queue(MAX_QUEUES - 1)), Some(u16::MAX));
        // Clamped, it would have shared the last slot with the queue before it.
        assert_eq!(zones.queue_index(&queue(MAX_QUEUES)), None);
    }

    #[test]
    fn the_implicit_zone_holds_every_watched_agent() {
        let all = ZoneSpec {
            name: "all".into(),
            users: vec![],
            queues: vec![id(10)],
            members_of_queues: true,
            all_agents: true,
            waiting_warning: 5,
            waiting_critical: 10,
        };
        let zones = Zones::new(vec![all], &[]);
        // Watched through a group, in no watched queue: still on the floor.
        assert_eq!(zones.of_agent(&id(7), &[]), 0b1);
    }
}
