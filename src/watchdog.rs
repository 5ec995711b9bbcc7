//! systemd integration (sd_notify): `READY=1` once the stages are spawned, a one-line
//! `STATUS=` for `systemctl status`, and `WATCHDOG=1` every half of `WATCHDOG_USEC`, sent
//! only while the pipeline is alive. Owns the liveness decision; does not own the stages,
//! restarts (systemd's `Restart=always` does that) or the MQTT health document (`monitor`).
//!
//! # What "alive" means
//! Each tick (half the watchdog period, so one missed tick is tolerated before systemd's
//! `WatchdogSec` runs out) the pipeline is alive when both hold:
//! - **every stage task is still running**: the [`TaskTracker`] holds at least as many tasks
//!   as were spawned before the watchdog (the watchdog, spawned last on the same tracker,
//!   does not count itself). A stage that returned or panicked is gone for good: `app` never
//!   respawns one, so only a restart brings it back.
//! - **the state table can be locked within [`LOCK_TIMEOUT`]**: the lock is taken on a
//!   blocking thread, so a deadlocked or wedged holder (state stage, publisher) shows up as
//!   a timeout instead of freezing the runtime. A probe that timed out is kept; while it is
//!   still stuck no second one is started (at most one thread is ever parked on the lock).
//!
//! The watchdog task itself running on the tokio runtime proves the runtime still schedules.
//! Network state (upstream socket, broker connection) goes into `STATUS=` but **not** into
//! liveness: a restart does not bring a network back, and a restart loop during an outage
//! would only hammer the Genesys REST API on every boot. Outages are handled in-process by
//! backoff and resync, and reported on MQTT.
//!
//! When the pipeline is not alive the watchdog stops pinging, says why in `STATUS=` and the
//! log, and systemd kills (SIGABRT) and restarts the gateway after `WatchdogSec`; state
//! comes back from sled, then resync.
//!
//! Outside systemd (no `NOTIFY_SOCKET`) [`run`] returns a future that completes at once:
//! no timer, no thread, no socket. Under systemd without `WatchdogSec`, only `READY=1` and a
//! `STATUS=` every [`STATUS_INTERVAL`] are sent.
//!
//! Wiring (in `app::start`, after the three stages are spawned, as the last task):
//! ```ignore
//! tracker.spawn(watchdog::run(&tracker, shared.clone(), metrics.clone(), cancel.clone()));
//! ```

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;
use crate::state::Shared;

/// Longest wait for the state table lock before the pipeline counts as wedged. The state
/// stage holds it for one batch (≤ 256 updates, each a sled insert): milliseconds, or a
/// few hundred on a slow SD card. Capped at a quarter of the ping period.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// `STATUS=` period when systemd has no watchdog configured for the unit.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(10);

/// What the lock probe of one tick found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockProbe {
    /// Locked within the timeout; the dirty backlog seen under the lock.
    Acquired {
        /// Keys waiting to be published.
        backlog: usize,
    },
    /// This tick's probe did not get the lock in time.
    TimedOut,
    /// An earlier probe is still parked on the lock (no new one was started).
    StillBlocked,
}

/// The liveness decision of one tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Ping systemd.
    Alive,
    /// Withhold the ping; the reason goes into `STATUS=` and the log.
    Dead(&'static str),
}

/// Decides liveness from facts gathered by [`run`] (pure, unit-tested).
///
/// `spawned`: stage tasks on the tracker when the watchdog was created; `running`: tasks on
/// the tracker now, the watchdog excluded.
pub fn liveness(spawned: usize, running: usize, lock: LockProbe) -> Liveness {
    if running < spawned {
        return Liveness::Dead("a pipeline stage has stopped");
    }
    match lock {
        LockProbe::Acquired { .. } => Liveness::Alive,
        LockProbe::TimedOut => Liveness::Dead("state table lock not acquired in time"),
        LockProbe::StillBlocked => Liveness::Dead("state table lock still blocked"),
    }
}

/// The facts `STATUS=` reports, read from the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StatusFacts {
    /// The notification socket is up.
    pub upstream: bool,
    /// The broker connection is up.
    pub broker: bool,
    /// Agents in the table.
    pub agents: u64,
    /// Queues in the table.
    pub queues: u64,
    /// Resyncs completed.
    pub resyncs: u64,
}

impl StatusFacts {
    /// Reads the counters.
    pub fn from_metrics(m: &Metrics) -> StatusFacts {
        StatusFacts {
            upstream: m.upstream.connected.get() != 0,
            broker: m.publish.connected.get() != 0,
            agents: m.state.agents.get(),
            queues: m.state.queues.get(),
            resyncs: m.upstream.resyncs.get(),
        }
    }
}

/// The one-line `STATUS=` text (pure, unit-tested), e.g.
/// `running: upstream up, broker up, 500 agents, 20 queues, backlog 0, 3 resyncs`.
pub fn status_line(live: Liveness, facts: &StatusFacts, lock: LockProbe) -> String {
    let up = |b: bool| if b { "up" } else { "down" };
    let mut s = String::with_capacity(96);
    match live {
        Liveness::Alive if facts.upstream && facts.broker => s.push_str("running: "),
        Liveness::Alive => s.push_str("degraded: "),
        Liveness::Dead(why) => {
            let _ = write!(s, "UNHEALTHY ({why}): ");
        }
    }
    let _ = write!(
        s,
        "upstream {}, broker {}, {} agents, {} queues",
        up(facts.upstream),
        up(facts.broker),
        facts.agents,
        facts.queues
    );
    if let LockProbe::Acquired { backlog } = lock {
        let _ = write!(s, ", backlog {backlog}");
    }
    let _ = write!(s, ", {} resyncs", facts.resyncs);
    s
}

/// The ping period for a `WATCHDOG_USEC`: half of it (sd_watchdog_enabled(3) recommends
/// pinging at half the interval), never zero.
pub fn ping_period(watchdog_usec: Duration) -> Duration {
    (watchdog_usec / 2).max(Duration::from_millis(1))
}

/// The watchdog task. `tracker` must be the tracker the stages were spawned on, and the
/// returned future must be spawned on it last: the stage count is taken now, when `run` is
/// called, and the task excludes itself when counting.
///
/// Without `NOTIFY_SOCKET` in the environment the future completes at once.
pub fn run(
    tracker: &TaskTracker,
    shared: Shared,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let spawned = tracker.len();
    let tracker = tracker.clone();
    let under_systemd = std::env::var_os("NOTIFY_SOCKET").is_some();
    let watchdog = if under_systemd {
        sd_notify::watchdog_enabled()
    } else {
        None
    };
    async move {
        if !under_systemd {
            return;
        }
        Watchdog {
            spawned,
            tracker,
            shared,
            metrics,
            pending: None,
            last: Liveness::Alive,
            sink: Sink::Systemd,
        }
        .serve(watchdog, shutdown)
        .await;
    }
}

/// Where notifications go: systemd, or a recorder in tests.
enum Sink {
    Systemd,
    #[cfg(test)]
    Record(Arc<std::sync::Mutex<Vec<String>>>),
}

struct Watchdog {
    spawned: usize,
    tracker: TaskTracker,
    shared: Shared,
    metrics: Arc<Metrics>,
    /// A lock probe that timed out and has not finished yet.
    pending: Option<JoinHandle<usize>>,
    last: Liveness,
    sink: Sink,
}

impl Watchdog {
    async fn serve(mut self, watchdog: Option<Duration>, shutdown: CancellationToken) {
        let period = watchdog.map_or(STATUS_INTERVAL, ping_period);
        let lock_timeout = LOCK_TIMEOUT.min(period / 4);
        tracing::info!(
            watchdog = ?watchdog,
            period = ?period,
            stages = self.spawned,
            "systemd notify socket found: READY=1"
        );
        let facts = StatusFacts::from_metrics(&self.metrics);
        let hello = status_line(Liveness::Alive, &facts, LockProbe::Acquired { backlog: 0 });
        self.notify(&[NotifyState::Ready, NotifyState::Status(&hello)]);

        let mut tick = tokio::time::interval_at(Instant::now() + period, period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let lock = self.probe(lock_timeout).await;
            // The watchdog is one of the tracker's tasks: do not count it as a stage.
            let running = self.tracker.len().saturating_sub(1);
            let live = liveness(self.spawned, running, lock);
            let line = status_line(live, &StatusFacts::from_metrics(&self.metrics), lock);
            match live {
                Liveness::Alive => {
                    if self.last != Liveness::Alive {
                        tracing::warn!(status = %line, "pipeline alive again: watchdog pings resume");
                    }
                    if watchdog.is_some() {
                        self.notify(&[NotifyState::Watchdog, NotifyState::Status(&line)]);
                    } else {
                        self.notify(&[NotifyState::Status(&line)]);
                    }
                }
                Liveness::Dead(why) => {
                    if self.last != live {
                        tracing::error!(
                            reason = why,
                            spawned = self.spawned,
                            running,
                            "pipeline not alive: withholding the systemd watchdog ping"
                        );
                    }
                    self.notify(&[NotifyState::Status(&line)]);
                }
            }
            self.last = live;
        }
        self.notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// Takes the table lock on a blocking thread, waiting at most `timeout`.
    async fn probe(&mut self, timeout: Duration) -> LockProbe {
        if let Some(h) = &self.pending {
            if !h.is_finished() {
                return LockProbe::StillBlocked;
            }
            self.pending = None;
        }
        let shared = self.shared.clone();
        let mut handle = tokio::task::spawn_blocking(move || shared.lock().dirty_len());
        match tokio::time::timeout(timeout, &mut handle).await {
            Ok(Ok(backlog)) => LockProbe::Acquired { backlog },
            // The probe thread panicked: the lock is poisoned-but-usable (`Shared::lock`
            // recovers it), so count it as a failed probe, not a stuck one.
            Ok(Err(_)) => LockProbe::TimedOut,
            Err(_) => {
                self.pending = Some(handle);
                LockProbe::TimedOut
            }
        }
    }

    fn notify(&self, state: &[NotifyState<'_>]) {
        match &self.sink {
            Sink::Systemd => {
                if let Err(e) = sd_notify::notify(state) {
                    tracing::warn!(error = %e, "sd_notify failed");
                }
            }
            #[cfg(test)]
            Sink::Record(log) => {
                let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                log.extend(state.iter().map(ToString::to_string));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: LockProbe = LockProbe::Acquired { backlog: 3 };

    #[test]
    fn alive_only_with_every_stage_running_and_the_lock_free() {
        assert_eq!(liveness(3, 3, OK), Liveness::Alive);
        // More tasks than stages (a token held elsewhere) is still alive.
        assert_eq!(liveness(3, 4, OK), Liveness::Alive);
        assert!(matches!(liveness(3, 2, OK), Liveness::Dead(_)));
        assert!(matches!(liveness(3, 0, OK), Liveness::Dead(_)));
        assert!(matches!(
            liveness(3, 3, LockProbe::TimedOut),
            Liveness::Dead(_)
        ));
        assert!(matches!(
            liveness(3, 3, LockProbe::StillBlocked),
            Liveness::Dead(_)
        ));
    }

    #[test]
    fn a_stopped_stage_is_reported_before_the_lock() {
        assert_eq!(
            liveness(3, 2, LockProbe::TimedOut),
            Liveness::Dead("a pipeline stage has stopped")
        );
    }

    #[test]
    fn network_loss_is_degraded_not_dead() {
        let facts = StatusFacts {
            upstream: false,
            broker: true,
            agents: 500,
            queues: 20,
            resyncs: 2,
        };
        let live = liveness(3, 3, OK);
        assert_eq!(live, Liveness::Alive);
        assert_eq!(
            status_line(live, &facts, OK),
            "degraded: upstream down, broker up, 500 agents, 20 queues, backlog 3, 2 resyncs"
        );
        let all_up = StatusFacts {
            upstream: true,
            ..facts
        };
        assert!(status_line(live, &all_up, OK).starts_with("running: upstream up"));
    }

    #[test]
    fn dead_status_says_why() {
        let line = status_line(
            liveness(3, 3, LockProbe::StillBlocked),
            &StatusFacts::default(),
            LockProbe::StillBlocked,
        );
        assert!(
            line.starts_with("UNHEALTHY (state table lock still blocked): "),
            "{line}"
        );
        assert!(!line.contains("backlog"), "{line}");
    }

    #[test]
    fn pings_at_half_the_watchdog_interval() {
        assert_eq!(
            ping_period(Duration::from_secs(30)),
            Duration::from_secs(15)
        );
        assert_eq!(ping_period(Duration::ZERO), Duration::from_millis(1));
    }

    #[test]
    fn status_facts_read_the_counters() {
        let m = Metrics::default();
        m.upstream.connected.set(1);
        m.state.agents.set(7);
        m.upstream.resyncs.add(2);
        let f = StatusFacts::from_metrics(&m);
        assert_eq!(
            f,
            StatusFacts {
                upstream: true,
                broker: false,
                agents: 7,
                queues: 0,
                resyncs: 2
            }
        );
    }

    fn shared() -> Shared {
        use crate::state::{Capacity, Table};
        use crate::zones::Zones;
        Shared::new(Table::new(
            Capacity {
                agents: 4,
                queues: 4,
            },
            Arc::new(Zones::new(vec![], &[])),
            None,
            Arc::new(Metrics::default()),
        ))
    }

    #[test]
    fn outside_systemd_run_completes_at_once() {
        if std::env::var_os("NOTIFY_SOCKET").is_some() {
            return; // the test runner itself runs under systemd notify: nothing to prove
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let tracker = TaskTracker::new();
        let fut = run(
            &tracker,
            shared(),
            Arc::new(Metrics::default()),
            CancellationToken::new(),
        );
        // Paused-free: completes without any timer firing.
        rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(50), fut)
                .await
                .expect("no-op outside systemd");
        });
    }

    #[tokio::test]
    async fn a_held_lock_times_out_and_blocks_no_second_thread() {
        let s = shared();
        let mut w = Watchdog {
            spawned: 0,
            tracker: TaskTracker::new(),
            shared: s.clone(),
            metrics: Arc::new(Metrics::default()),
            pending: None,
            last: Liveness::Alive,
            sink: Sink::Record(Arc::default()),
        };
        assert_eq!(
            w.probe(Duration::from_millis(500)).await,
            LockProbe::Acquired { backlog: 0 }
        );
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (held_tx, held_rx) = tokio::sync::oneshot::channel();
        let holder = std::thread::spawn(move || {
            let _guard = s.lock();
            let _ = held_tx.send(());
            let _ = release_rx.recv();
        });
        held_rx.await.unwrap();
        assert_eq!(
            w.probe(Duration::from_millis(50)).await,
            LockProbe::TimedOut
        );
        assert_eq!(
            w.probe(Duration::from_millis(50)).await,
            LockProbe::StillBlocked
        );
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        // The parked probe finishes once the lock is free; the next tick probes afresh.
        for _ in 0..100 {
            if w.pending.as_ref().is_none_or(JoinHandle::is_finished) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            w.probe(Duration::from_millis(500)).await,
            LockProbe::Acquired { backlog: 0 }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pings_while_alive_then_stops_pinging_when_a_stage_ends() {
        let tracker = TaskTracker::new();
        let stop_stage = CancellationToken::new();
        let all = CancellationToken::new();
        for _ in 0..3 {
            let (a, b) = (stop_stage.clone(), all.clone());
            tracker.spawn(async move {
                tokio::select! { _ = a.cancelled() => {}, _ = b.cancelled() => {} }
            });
        }
        let log = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let w = Watchdog {
            spawned: 3,
            tracker: tracker.clone(),
            shared: shared(),
            metrics: Arc::new(Metrics::default()),
            pending: None,
            last: Liveness::Alive,
            sink: Sink::Record(log.clone()),
        };
        let shutdown = all.clone();
        tracker.spawn(w.serve(Some(Duration::from_millis(200)), shutdown));
        let count = |what: &str| log.lock().unwrap().iter().filter(|l| *l == what).count();
        let unhealthy =
            |l: &String| l.starts_with("STATUS=UNHEALTHY (a pipeline stage has stopped)");
        // Each wait below is for a fact of the log (bounded at 10 s), never for an amount of time.
        for _ in 0..1_000 {
            if count("WATCHDOG=1") >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(log.lock().unwrap()[0], "READY=1");
        assert!(count("WATCHDOG=1") >= 3, "{:?}", log.lock().unwrap());

        // Every stage waits on `stop_stage` or `all`: cancelling `stop_stage` ends all three.
        // Three ticks see them gone (three UNHEALTHY status lines); none of them pings.
        stop_stage.cancel();
        for _ in 0..1_000 {
            if log.lock().unwrap().iter().filter(|l| unhealthy(l)).count() >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let seen = log.lock().unwrap().clone();
        let first_dead = seen
            .iter()
            .position(unhealthy)
            .expect("the watchdog saw the stages end");
        assert!(
            seen.iter().filter(|l| unhealthy(l)).count() >= 3,
            "three ticks while dead: {seen:?}"
        );
        assert!(
            !seen[first_dead..].iter().any(|l| l == "WATCHDOG=1"),
            "no ping once a stage is gone: {seen:?}"
        );

        all.cancel();
        tracker.close();
        tokio::time::timeout(Duration::from_secs(2), tracker.wait())
            .await
            .unwrap();
        assert_eq!(log.lock().unwrap().last().unwrap(), "STATUS=stopping");
        assert!(log.lock().unwrap().iter().any(|l| l == "STOPPING=1"));
    }
}
