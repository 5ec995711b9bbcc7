//! Proves `decode::parse` does no heap allocation per frame: a counting global allocator
//! (allowed here: `tests/` is its own crate, outside the lib's `forbid(unsafe_code)`)
//! counts allocations made by this thread while each sample is decoded.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use presence_gateway::decode;

/// Counts allocations of threads that opted in, forwarding everything to `System`.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Only the measuring thread counts (the test harness allocates on its own threads).
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// an atomic and a const-initialised thread-local `Cell` (neither allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (ALLOCATIONS.load(Ordering::Relaxed) - before, r)
}

/// One sample per event type and control message, plus frames that take rejection paths.
const FRAMES: [(&str, &[u8]); 17] = [
    ("presence", include_bytes!("fixtures/genesys/presence.json")),
    ("presence.full", include_bytes!("fixtures/genesys/presence.full.json")),
    ("routingStatus", include_bytes!("fixtures/genesys/routingStatus.json")),
    ("queueUsers", include_bytes!("fixtures/genesys/queueUsers.json")),
    ("queueObservations", include_bytes!("fixtures/genesys/queueObservations.json")),
    ("userConversations", include_bytes!("fixtures/genesys/userConversations.json")),
    ("heartbeat", include_bytes!("fixtures/genesys/heartbeat.json")),
    ("pong", include_bytes!("fixtures/genesys/pong.json")),
    ("socketClosing", include_bytes!("fixtures/genesys/socketClosing.json")),
    ("noLongerSubscribed", include_bytes!("fixtures/genesys/noLongerSubscribed.json")),
    ("channel.gone", include_bytes!("fixtures/genesys/ws.channel.gone.json")),
    ("subscribe.ack", include_bytes!("fixtures/genesys/ws.subscribe.ack.json")),
    ("subscribe.error", include_bytes!("fixtures/genesys/ws.subscribe.error.json")),
    ("activity", br#"{"topicName":"v2.users.9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f.activity","eventBody":{"routingStatus":{"status":"IDLE","startTime":"2024-12-30T09:41:12.000Z"},"presence":{"presenceDefinition":{"id":"e08eaf1b-ee47-4fa9-a231-1200e284798f","systemPresence":"ON_QUEUE"},"presenceMessage":"caf\u00e9 \"x\"","modifiedDate":"2024-12-30T09:39:58.512Z"}}}"#),
    ("aggregate", br#"{"topicName":"v2.analytics.queues.788c3a6d-8b4f-4a2d-a2bc-ffc815bba881.observations","eventBody":{"data":[{"interval":"2024-12-30T09:30:00.000Z/2024-12-30T10:00:00.000Z","metrics":[{"metric":"nOffered","stats":{"count":3}},{"metric":"oServiceLevel","stats":{"ratio":0.5}}]}]}}"#),
    ("rejected: unknown topic", br#"{"topicName":"v2.users.9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f.station","eventBody":{}}"#),
    ("rejected: malformed", br#"{"topicName":"channel.metadata","eventBody":{"message":"\q"}}"#),
];

#[test]
fn parse_does_not_allocate() {
    for (name, frame) in FRAMES {
        // Warm-up (nothing lazy is expected, but a first call must not hide one).
        let warm = decode::parse(frame, 1 << 20);
        let (n, again) = allocations(|| decode::parse(frame, 1 << 20));
        assert_eq!(again, warm, "{name}");
        assert_eq!(n, 0, "{name}: {n} heap allocations");
        if !name.starts_with("rejected") {
            assert!(again.is_ok(), "{name}: {again:?}");
        }
    }
    // The counter itself works.
    let (n, v) = allocations(|| vec![1u8; 10]);
    assert!(n >= 1 && v.len() == 10);
}
