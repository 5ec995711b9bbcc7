//! A token-bucket pacer: `burst` operations at once, then `per_min` per minute, so any
//! 60-second window holds at most `burst + per_min`. Used for REST requests (the Genesys
//! per-token budget) and for republish sweeps (a restarted broker is not flooded).

use std::time::Duration;

use tokio::time::Instant;

/// Paces requests with a token bucket: `burst` requests at once, then `per_min` per minute,
/// so any 60-second window holds at most `burst + per_min` requests.
#[derive(Debug)]
pub struct Pacer {
    tokens: f64,
    burst: f64,
    per_sec: f64,
    last: Instant,
}

impl Pacer {
    /// A full bucket.
    pub fn new(per_min: u32, burst: u32) -> Pacer {
        Pacer {
            tokens: f64::from(burst.max(1)),
            burst: f64::from(burst.max(1)),
            per_sec: f64::from(per_min.max(1)) / 60.0,
            last: Instant::now(),
        }
    }

    /// Whether `n` requests can go now without waiting, with a reserve of 2 left for
    /// whatever comes next (takes nothing): what a low-priority read checks, so it never
    /// waits in the pacer itself nor leaves an urgent request an empty bucket.
    pub fn has_spare(&mut self, n: u32) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        self.tokens >= f64::from(n) + 2.0
    }

    /// How long to wait before the next request may go (and takes its token).
    pub fn reserve(&mut self) -> Duration {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_sec)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pacer_allows_a_burst_then_the_rate() {
        let mut p = Pacer::new(240, 60);
        for _ in 0..60 {
            assert_eq!(p.reserve(), Duration::ZERO);
        }
        let w = p.reserve();
        assert!(
            w > Duration::from_millis(240) && w <= Duration::from_millis(251),
            "{w:?}"
        );
    }
}
