//! Full-jitter exponential backoff (AWS architecture blog's "full jitter"): the n-th retry
//! waits a uniformly random time in `[0, min(max, base · 2ⁿ)]`, so a fleet of gateways that
//! lost the cloud at the same instant does not reconnect in lockstep. A server's
//! `Retry-After` overrides the draw. Pure apart from the random draw.

use std::time::Duration;

/// Backoff state for one retried operation.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// `base` = ceiling of the first wait, `max` = cap of every wait.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            attempt: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// Deterministic draws (tests).
    pub fn with_seed(base: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            rng: fastrand::Rng::with_seed(seed),
            ..Backoff::new(base, max)
        }
    }

    /// Ceiling of the next wait.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The next wait: `retry_after` when the server named one (capped at 10 × max, so a
    /// hostile header cannot park the gateway for a day), else a full-jitter draw.
    pub fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        if let Some(ra) = retry_after {
            return ra.min(self.max.saturating_mul(10));
        }
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.u64(0..=nanos))
    }

    /// Success: the next failure starts from `base` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap_and_draws_stay_below() {
        let mut b = Backoff::with_seed(Duration::from_millis(500), Duration::from_secs(30), 7);
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            let c = b.ceiling();
            let d = b.next(None);
            assert!(d <= c, "{d:?} > {c:?}");
            ceilings.push(c.as_millis());
        }
        assert_eq!(&ceilings[..7], &[500, 1000, 2000, 4000, 8000, 16000, 30000]);
        assert!(ceilings.iter().all(|&c| c <= 30_000));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(500));
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        assert_eq!(
            b.next(Some(Duration::from_secs(59))),
            Duration::from_secs(59)
        );
        assert_eq!(
            b.next(Some(Duration::from_secs(86_400))),
            Duration::from_secs(300)
        );
    }
}
