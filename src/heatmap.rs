//! Per-zone activity heatmaps: how many agent state transitions (presence or routing status
//! changes) each zone saw in each minute of the last 24 hours.
//!
//! Owns one fixed ring of [`HEATMAP_MINUTES`] saturating `u16` buckets per zone (2,884 B a
//! zone, allocated once for the configured zones; nothing grows), the rule for which minute
//! a transition counts in (the source event's time), and the persisted form (so a restart
//! keeps the day's history). The state table feeds it; the publisher snapshots it.

use presence_wire::{Minutes, HEATMAP_MINUTES};

/// How often each zone's heatmap is republished (publish stage) and saved to sled (state
/// stage): its resolution is a minute.
pub const PERIOD: std::time::Duration = std::time::Duration::from_secs(60);

/// Bytes one zone's ring occupies (buckets + end minute), for the board's memory arithmetic.
pub const RING_BYTES: u64 = (HEATMAP_MINUTES * 2 + 4) as u64;

/// Length of a persisted ring: end minute (u32 LE) then every bucket (u16 LE) by index.
const PERSISTED_LEN: usize = 4 + HEATMAP_MINUTES * 2;

/// Minutes are counted in a ring indexed by `minute % HEATMAP_MINUTES`.
#[derive(Clone)]
struct Ring {
    counts: Box<[u16; HEATMAP_MINUTES]>,
    /// Newest minute the ring covers (Unix minutes); 0 = never used.
    end: u32,
}

impl Ring {
    fn new() -> Ring {
        Ring {
            counts: Box::new([0; HEATMAP_MINUTES]),
            end: 0,
        }
    }

    fn slot(minute: u32) -> usize {
        // HEATMAP_MINUTES fits u32; the remainder is < HEATMAP_MINUTES.
        (minute % HEATMAP_MINUTES as u32) as usize
    }

    /// Moves the newest minute forward to `minute`, zeroing the buckets it passes.
    fn roll_to(&mut self, minute: u32) {
        if minute <= self.end {
            return;
        }
        let gap = minute - self.end;
        if self.end == 0 || gap as usize >= HEATMAP_MINUTES {
            self.counts.fill(0);
        } else {
            for m in self.end + 1..=minute {
                self.counts[Ring::slot(m)] = 0;
            }
        }
        self.end = minute;
    }

    /// Counts one transition in `minute`; older than 24 h before the newest minute: ignored.
    fn add(&mut self, minute: u32) -> bool {
        self.roll_to(minute);
        if self.end - minute >= HEATMAP_MINUTES as u32 {
            return false;
        }
        let c = &mut self.counts[Ring::slot(minute)];
        *c = c.saturating_add(1);
        true
    }

    /// The last 24 h ending at `now` (rolled forward first), oldest first.
    fn snapshot(&mut self, now: u32, out: &mut Minutes) -> u32 {
        self.roll_to(now);
        let end = self.end;
        for (i, slot) in out.0.iter_mut().enumerate() {
            // i < HEATMAP_MINUTES: fits u32.
            let back = (HEATMAP_MINUTES - 1 - i) as u32;
            *slot = match end.checked_sub(back) {
                Some(m) if end != 0 => self.counts[Ring::slot(m)],
                _ => 0,
            };
        }
        end
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PERSISTED_LEN);
        out.extend_from_slice(&self.end.to_le_bytes());
        for c in self.counts.iter() {
            out.extend_from_slice(&c.to_le_bytes());
        }
        out
    }

    fn from_bytes(b: &[u8]) -> Option<Ring> {
        if b.len() != PERSISTED_LEN {
            return None;
        }
        let mut r = Ring::new();
        r.end = u32::from_le_bytes(b[..4].try_into().ok()?);
        for (c, pair) in r.counts.iter_mut().zip(b[4..].chunks_exact(2)) {
            *c = u16::from_le_bytes([pair[0], pair[1]]);
        }
        Some(r)
    }
}

/// Every zone's ring, by zone index.
pub struct Heatmaps {
    rings: Vec<Ring>,
    /// Transitions older than the window (not counted).
    pub too_old: u64,
}

impl Heatmaps {
    /// Rings for `zones` zones, all empty.
    pub fn new(zones: usize) -> Heatmaps {
        Heatmaps {
            rings: vec![Ring::new(); zones],
            too_old: 0,
        }
    }

    /// Counts one transition at `minute` (Unix minutes) in every zone of `mask`.
    pub fn add(&mut self, mask: u64, minute: u32) {
        for z in crate::zones::Zones::bits(mask) {
            if let Some(r) = self.rings.get_mut(z) {
                if !r.add(minute) {
                    self.too_old += 1;
                }
            }
        }
    }

    /// Zone `zone`'s last 24 h ending at minute `now`, into `out`; returns the end minute
    /// (None for an unknown zone).
    pub fn snapshot(&mut self, zone: usize, now: u32, out: &mut Minutes) -> Option<u32> {
        self.rings.get_mut(zone).map(|r| r.snapshot(now, out))
    }

    /// The persisted form of zone `zone`'s ring.
    pub fn persisted(&self, zone: usize) -> Option<Vec<u8>> {
        self.rings.get(zone).map(Ring::to_bytes)
    }

    /// Restores zone `zone` from its persisted form; false when the bytes are not a ring.
    pub fn restore(&mut self, zone: usize, bytes: &[u8]) -> bool {
        match (self.rings.get_mut(zone), Ring::from_bytes(bytes)) {
            (Some(slot), Some(r)) => {
                *slot = r;
                true
            }
            _ => false,
        }
    }
}

/// Unix minute of a millisecond timestamp (saturating).
pub fn minute_of(ms: u64) -> u32 {
    u32::try_from(ms / 60_000).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u32 = 29_000_000;

    fn snap(h: &mut Heatmaps, now: u32) -> (u32, Minutes) {
        let mut m = Minutes::default();
        let end = h.snapshot(0, now, &mut m).unwrap();
        (end, m)
    }

    #[test]
    fn counts_land_in_their_minute_oldest_first() {
        let mut h = Heatmaps::new(2);
        h.add(0b01, T);
        h.add(0b01, T);
        h.add(0b11, T - 10);
        let (end, m) = snap(&mut h, T);
        assert_eq!(end, T);
        assert_eq!(m.0[HEATMAP_MINUTES - 1], 2);
        assert_eq!(m.0[HEATMAP_MINUTES - 11], 1);
        assert_eq!(m.0.iter().map(|&c| u32::from(c)).sum::<u32>(), 3);
        let mut other = Minutes::default();
        h.snapshot(1, T, &mut other).unwrap();
        assert_eq!(other.0[HEATMAP_MINUTES - 11], 1);
    }

    #[test]
    fn the_window_slides_and_forgets_after_a_day() {
        let mut h = Heatmaps::new(1);
        h.add(1, T);
        let (_, m) = snap(&mut h, T + 60);
        assert_eq!(
            m.0[HEATMAP_MINUTES - 61],
            1,
            "an hour later it moved back 60 buckets"
        );
        let (_, m) = snap(&mut h, T + HEATMAP_MINUTES as u32);
        assert!(m.0.iter().all(|&c| c == 0), "a day later it is gone");
        // Older than the window relative to the newest minute: not counted.
        h.add(1, T);
        assert_eq!(h.too_old, 1);
    }

    #[test]
    fn buckets_saturate_and_persisted_form_round_trips() {
        let mut h = Heatmaps::new(1);
        for _ in 0..70_000 {
            h.add(1, T);
        }
        h.add(1, T - 5);
        let bytes = h.persisted(0).unwrap();
        let mut back = Heatmaps::new(1);
        assert!(back.restore(0, &bytes));
        assert!(!back.restore(0, &bytes[1..]));
        let (_, m) = snap(&mut back, T);
        assert_eq!(m.0[HEATMAP_MINUTES - 1], u16::MAX);
        assert_eq!(m.0[HEATMAP_MINUTES - 6], 1);
    }
}
