//! Unit tests of the state stage: the table, the dirty set, records and the store.

use std::sync::Arc;

use super::*;
use crate::event::{
    ConversationChange, Event, Id, Interaction, Media, Millis, Presence, PresenceChange,
};
use crate::heatmap::minute_of;
use crate::message::{ListingPhase, Update};
use crate::metrics::Metrics;
use crate::testkit::Tmpfs;
use crate::zones::Zones;
use presence_wire::Minutes;

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
        all_agents: false,
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

/// A member named by a listing page.
fn listed(user: u8, joined: bool) -> Update {
    Update::Listed(crate::event::MemberChange {
        queue: id(100),
        user: id(user),
        joined,
    })
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
    t.apply(&listed(1, true), 0);
    t.apply(&listed(3, true), 0);
    assert_eq!(
        t.apply(&listing(ListingPhase::Complete), 0),
        Change::Applied
    );
    assert!(member_of_queue(&t, 1));
    assert!(!member_of_queue(&t, 2), "not named: left");
    assert!(member_of_queue(&t, 3));
    // The same listing again changes nothing.
    t.apply(&listing(ListingPhase::Begin), 0);
    t.apply(&listed(1, true), 0);
    t.apply(&listed(3, true), 0);
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
    t.apply(&listed(1, true), 0);
    t.apply(&listing(ListingPhase::Begin), 0);
    t.apply(&listed(2, true), 0);
    t.apply(&listed(3, true), 0);
    t.apply(&listed(1, true), 0);
    assert_eq!(
        t.apply(&listing(ListingPhase::Complete), 0),
        Change::Duplicate
    );
    assert!((1..=3).all(|u| member_of_queue(&t, u)));
}

#[test]
fn a_live_member_event_during_a_listing_wins_over_its_pages() {
    let mut t = table(8);
    for u in 1..=2 {
        t.apply(&member(u, true), 0);
    }
    t.apply(&listing(ListingPhase::Begin), 0);
    // Agent 1 leaves live; the page, read before, still names it: the leave stands.
    assert_eq!(t.apply(&member(1, false), 0), Change::Applied);
    assert_eq!(t.apply(&listed(1, true), 0), Change::Ignored);
    assert_eq!(t.metrics.state.listed_superseded.get(), 1);
    // Agent 3 joins live; the page, read before, does not name it: the join stands.
    assert_eq!(t.apply(&member(3, true), 0), Change::Applied);
    t.apply(&listed(2, true), 0);
    t.apply(&listing(ListingPhase::Complete), 0);
    assert!(!member_of_queue(&t, 1), "left live during the listing");
    assert!(member_of_queue(&t, 2));
    assert!(member_of_queue(&t, 3), "joined live during the listing");
    // The next listing's pages apply again (the live mark was that listing's).
    t.apply(&listing(ListingPhase::Begin), 0);
    assert_eq!(t.apply(&listed(1, true), 0), Change::Applied);
    assert!(member_of_queue(&t, 1));
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
        assert_eq!(t.save_unsaved(usize::MAX), 1);
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
fn a_burst_of_changes_to_one_agent_is_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::default());
    let (store, _) = Store::open(&dir.path().join("state"), 1 << 20, 100).unwrap();
    let cap = Capacity {
        agents: 10,
        queues: 10,
    };
    let zones = Arc::new(Zones::new(vec![], &[]));
    let mut t = Table::new(cap, zones, Some(store.records.clone()), m.clone());
    for ms in 1..=10 {
        let p = if ms % 2 == 0 {
            Presence::Busy
        } else {
            Presence::Away
        };
        t.apply(&presence(7, p, ms), 0);
    }
    t.apply(&presence(8, Presence::Meal, 5), 0);
    // Nothing on disk before the save; then one write per agent, the latest value.
    assert!(store.records.is_empty());
    assert_eq!(t.unsaved_len(), 2);
    assert_eq!(m.state.saves_coalesced.get(), 9);
    assert_eq!(m.state.saves.get(), 0);
    assert_eq!(t.save_unsaved(usize::MAX), 2);
    assert_eq!(t.save_unsaved(usize::MAX), 0, "each record once");
    assert_eq!(m.state.saves.get(), 2, "the metric counts the writes");
    assert_eq!(store.records.len(), 2);
    let bytes = store
        .records
        .get(Key::Agent(id(7)).to_bytes())
        .unwrap()
        .unwrap();
    let Some(Value::Agent(a)) = decode_record(&bytes) else {
        panic!("agent 7 not written");
    };
    assert_eq!((a.presence, a.presence_ms), (Presence::Busy, 10));
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
    assert_eq!(shared.save_all_unsaved(), 40);
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
        shared.save_all_unsaved();
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
    assert_eq!(shared.save_all_unsaved(), 1);
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
    shared.save_all_unsaved();
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

#[test]
fn interval_figures_are_unknown_until_told_and_grow_whatever_the_order() {
    use crate::event::QueueAggregate;
    let mut t = table(4);
    let q = id(100);
    let agg = |start: Millis, offered, answered, abandoned| {
        Update::Event(Event::Aggregate(QueueAggregate {
            queue: q,
            interval_start: start,
            interval_end: start + 1_800_000,
            offered,
            answered,
            abandoned,
            service_level_permille: None,
        }))
    };
    let figures = |t: &Table| match t.get(&Key::Queue(q)) {
        Some(Value::Queue(r)) => (r.offered, r.answered, r.abandoned),
        other => panic!("{other:?}"),
    };
    // A notification without tAnswered: answered stays unknown.
    assert_eq!(t.apply(&agg(0, Some(3), None, Some(1)), 0), Change::Applied);
    assert_eq!(figures(&t), (Some(3), None, Some(1)));
    // The read of the same interval, taken before the notification (smaller counts): the
    // counts only grow within an interval, so the larger stays.
    t.apply(&agg(0, Some(2), Some(1), Some(0)), 0);
    assert_eq!(figures(&t), (Some(3), Some(1), Some(1)));
    // A newer interval starts unknown for what it does not carry.
    t.apply(&agg(1_800_000, Some(1), None, Some(0)), 0);
    assert_eq!(figures(&t), (Some(1), None, Some(0)));
    // An older interval is stale.
    assert_eq!(
        t.apply(&agg(0, Some(9), Some(9), Some(9)), 0),
        Change::Stale
    );
}
