//! The frames a display sees: an agent record or a queue record (with its zone's colour
//! thresholds) turned into the `presence-wire` frame bodies. Pure, no I/O.

use presence_wire::{AgentFrame, Level, QueueFrame};

use crate::state::{AgentRecord, QueueRecord};
use crate::zones::ZoneSpec;

fn secs(ms: u64) -> u32 {
    u32::try_from(ms / 1000).unwrap_or(u32::MAX)
}

/// The frame a display sees for an agent; `stale` is the table's verdict
/// ([`crate::state::DirtyItem::stale`]: not confirmed by the cloud within the board's TTL).
pub fn agent_frame(a: &AgentRecord, stale: bool) -> AgentFrame {
    let mut flags = 0;
    if a.wrapup {
        flags |= AgentFrame::WRAPUP;
    }
    if stale {
        flags |= AgentFrame::STALE;
    }
    if a.out_of_office {
        flags |= AgentFrame::OUT_OF_OFFICE;
    }
    AgentFrame {
        presence: a.presence,
        presence_since: secs(a.presence_ms),
        routing: a.routing,
        routing_since: secs(a.routing_ms),
        media: a.media,
        interaction: a.interaction,
        interaction_since: secs(a.conversation_ms),
        flags,
    }
}

/// The frame a display sees for a queue in a zone (thresholds are per zone).
pub fn queue_frame(q: &QueueRecord, zone: &ZoneSpec) -> QueueFrame {
    let sat = |v: Option<u32>| v.map(|v| u16::try_from(v).unwrap_or(u16::MAX));
    let level = match q.waiting {
        Some(w) if w >= zone.waiting_critical => Level::Critical,
        Some(w) if w >= zone.waiting_warning => Level::Warning,
        _ => Level::Normal,
    };
    QueueFrame {
        waiting: sat(q.waiting),
        interacting: sat(q.interacting),
        alerting: sat(q.alerting),
        on_queue: sat(q.on_queue),
        off_queue: sat(q.off_queue),
        longest_waiting_s: q.longest_waiting_ms.map(secs),
        observed: secs(q.observed_ms),
        offered: sat(q.offered),
        answered: sat(q.answered),
        abandoned: sat(q.abandoned),
        service_level_pct: q
            .service_level_permille
            .map(|p| u8::try_from((p / 10).min(100)).unwrap_or(100)),
        level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> ZoneSpec {
        ZoneSpec {
            name: "all".into(),
            users: vec![],
            queues: vec![],
            members_of_queues: true,
            all_agents: false,
            waiting_warning: 5,
            waiting_critical: 10,
        }
    }

    #[test]
    fn queue_levels_follow_zone_thresholds() {
        let mut q = QueueRecord::default();
        // Nothing observed yet: every figure unknown, the level Normal.
        let f = queue_frame(&q, &zone());
        assert_eq!((f.waiting, f.longest_waiting_s), (None, None));
        assert_eq!((f.offered, f.answered, f.abandoned), (None, None, None));
        assert_eq!(f.level, Level::Normal);
        q.waiting = Some(4);
        assert_eq!(queue_frame(&q, &zone()).level, Level::Normal);
        q.waiting = Some(5);
        assert_eq!(queue_frame(&q, &zone()).level, Level::Warning);
        q.waiting = Some(10);
        assert_eq!(queue_frame(&q, &zone()).level, Level::Critical);
        assert_eq!(queue_frame(&q, &zone()).service_level_pct, None);
        q.service_level_permille = Some(875);
        assert_eq!(queue_frame(&q, &zone()).service_level_pct, Some(87));
        // Known zeros stay zeros; counts past u16 saturate.
        q.answered = Some(0);
        q.offered = Some(70_000);
        let f = queue_frame(&q, &zone());
        assert_eq!((f.offered, f.answered), (Some(u16::MAX), Some(0)));
    }

    #[test]
    fn agent_stale_and_wrapup_flags() {
        let a = AgentRecord {
            wrapup: true,
            confirmed_ms: 1_000,
            presence_ms: 5_999,
            ..AgentRecord::default()
        };
        let f = agent_frame(&a, false);
        assert_eq!(f.flags, AgentFrame::WRAPUP);
        assert_eq!(f.presence_since, 5);
        let f = agent_frame(&a, true);
        assert_eq!(f.flags, AgentFrame::WRAPUP | AgentFrame::STALE);
    }
}
