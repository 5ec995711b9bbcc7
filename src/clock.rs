//! The clock the protocol timers run on: the heartbeat watchdog, channel rotation before
//! `expires` and token refresh. Owns "what time is it" and "wake me at that time" for them;
//! nothing else (backoff, pacing, `Retry-After` and drain waits are plain tokio sleeps).
//!
//! In a gateway it is [`Clock::monotonic`]: milliseconds since the Unix epoch *as read once at
//! boot*, advanced by the monotonic clock. An edge box without a real-time clock (a Raspberry Pi)
//! may boot hours or years off and have NTP step its clock later; timers on this clock neither
//! fire early nor stall when that happens. Absolute times from the server (a channel's
//! `expires`) are never compared with it directly: they are read against the server's own
//! `Date` header (see `upstream::rest`).
//!
//! Tests hand in [`Clock::external`] (the simulator's clock), so 24 hours of channel life or
//! 45 seconds of heartbeat silence pass in simulated time, not in wall-clock waits.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, on some [`Clock`].
pub type Ms = u64;

/// How often a sleeper re-reads an external clock (which can jump at any time).
const EXTERNAL_POLL: Duration = Duration::from_millis(10);

/// A source of "now" for the protocol timers. Cheap to clone.
#[derive(Clone)]
pub struct Clock {
    source: Source,
}

#[derive(Clone)]
enum Source {
    /// Wall time at boot plus the monotonic time elapsed since.
    Monotonic {
        boot: std::time::Instant,
        boot_ms: Ms,
    },
    /// Someone else's clock (the simulator's in tests).
    External(Arc<dyn Fn() -> Ms + Send + Sync>),
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Monotonic { boot_ms, .. } => {
                write!(f, "Clock::monotonic(boot at {boot_ms} ms)")
            }
            Source::External(_) => f.write_str("Clock::external"),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::monotonic()
    }
}

impl Clock {
    /// The gateway's clock: the wall time read now, then advanced monotonically.
    pub fn monotonic() -> Self {
        let boot_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self {
            source: Source::Monotonic {
                boot: std::time::Instant::now(),
                boot_ms,
            },
        }
    }

    /// A clock read from `now` (milliseconds since the epoch; it should not go backwards).
    pub fn external(now: impl Fn() -> Ms + Send + Sync + 'static) -> Self {
        Self {
            source: Source::External(Arc::new(now)),
        }
    }

    /// Now, in milliseconds since the epoch.
    pub fn now_ms(&self) -> Ms {
        match &self.source {
            Source::Monotonic { boot, boot_ms } => {
                boot_ms.saturating_add(u64::try_from(boot.elapsed().as_millis()).unwrap_or(0))
            }
            Source::External(now) => now(),
        }
    }

    /// `d` from now.
    pub fn after(&self, d: Duration) -> Ms {
        self.now_ms()
            .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Completes once the clock reads `at` or later.
    pub async fn sleep_until(&self, at: Ms) {
        match &self.source {
            Source::Monotonic { .. } => {
                let left = at.saturating_sub(self.now_ms());
                tokio::time::sleep(Duration::from_millis(left)).await;
            }
            Source::External(_) => {
                while self.now_ms() < at {
                    tokio::time::sleep(EXTERNAL_POLL).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn monotonic_starts_at_the_wall_time_and_never_goes_back() {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let c = Clock::monotonic();
        let a = c.now_ms();
        assert!(a.abs_diff(wall) < 1_000, "boot reading {a} vs wall {wall}");
        let b = c.now_ms();
        assert!(b >= a);
        assert_eq!(c.after(Duration::from_secs(2)) / 1000, (b + 2_000) / 1000);
    }

    #[tokio::test]
    async fn sleepers_on_an_external_clock_wake_when_it_jumps() {
        let t = Arc::new(AtomicU64::new(1_000));
        let c = {
            let t = t.clone();
            Clock::external(move || t.load(Ordering::SeqCst))
        };
        let at = c.after(Duration::from_secs(3_600));
        let sleeper = tokio::spawn({
            let c = c.clone();
            async move { c.sleep_until(at).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!sleeper.is_finished(), "woke before the clock moved");
        t.store(at, Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woke after the jump")
            .unwrap();
    }

    #[tokio::test]
    async fn monotonic_sleep_until_the_past_returns_at_once() {
        let c = Clock::monotonic();
        let past = c.now_ms() - 10;
        tokio::time::timeout(Duration::from_millis(500), c.sleep_until(past))
            .await
            .expect("a deadline in the past is due now");
    }
}
