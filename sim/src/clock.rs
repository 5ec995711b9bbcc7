//! The simulated clock and the timestamp formats Genesys uses.
//!
//! Owns: sim time (`start + real_elapsed * speed + advanced offsets`, in ms since the Unix epoch) and
//! ISO-8601 formatting (`2021-02-03T17:59:07.650Z`, the shape of `expires`, `modifiedDate`, `startTime`).
//! Does not own: any timer. Timers live in `hub.rs` and compare against [`Clock::now_ms`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Sim time source shared by every task.
#[derive(Debug)]
pub(crate) struct Clock {
    /// Real instant at which the sim started.
    real_start: Instant,
    /// Sim time (ms since epoch) at `real_start`: the wall clock when the sim started, so absolute
    /// timestamps such as a channel's `expires` look plausible to a client comparing them to its own clock.
    sim_start_ms: u64,
    /// Sim ms per real ms.
    speed: f64,
    /// Total ms added by [`Clock::advance`].
    offset_ms: AtomicU64,
}

impl Clock {
    /// A clock starting at the current wall-clock time. A non-finite or negative speed is treated as 0 (frozen).
    pub(crate) fn new(speed: f64) -> Self {
        let sim_start_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2))
            .unwrap_or(0);
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            0.0
        };
        Clock {
            real_start: Instant::now(),
            sim_start_ms,
            speed,
            offset_ms: AtomicU64::new(0),
        }
    }

    /// Sim time in ms since the Unix epoch.
    pub(crate) fn now_ms(&self) -> u64 {
        let real = self.real_start.elapsed().as_secs_f64() * 1000.0;
        // Float-to-int `as` saturates; sim runs never approach u64::MAX ms.
        let scaled = (real * self.speed) as u64;
        self.sim_start_ms + scaled + self.offset_ms.load(Ordering::SeqCst)
    }

    /// Jumps sim time forward by `d`.
    pub(crate) fn advance(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

/// Formats ms since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn iso(ms: u64) -> String {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    if y > 9999 {
        return format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        );
    }
    // Hot path (every event body carries timestamps): fixed-width digits without the fmt machinery.
    let mut out = [0u8; 24];
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (0..width).rev() {
            // `v % 10` is a single digit.
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, rem / 3600);
    put(14, 2, (rem % 3600) / 60);
    put(17, 2, rem % 60);
    put(20, 3, millis);
    for (at, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        out[at] = c;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// Formats an interval `start/end` as analytics notifications do.
pub(crate) fn iso_interval(start_ms: u64, end_ms: u64) -> String {
    format!("{}/{}", iso(start_ms), iso(end_ms))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_matches_known_instants() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        // 2021-02-03T17:59:07.650Z, the channel sample's `expires`.
        assert_eq!(iso(1_612_375_147_650), "2021-02-03T17:59:07.650Z");
        // Leap day.
        assert_eq!(iso(1_709_164_800_001), "2024-02-29T00:00:00.001Z");
        // End of a day, and the five-digit-year fallback.
        assert_eq!(iso(1_700_006_399_999), "2023-11-14T23:59:59.999Z");
        assert_eq!(iso(253_402_300_800_000), "10000-01-01T00:00:00.000Z");
    }

    #[test]
    fn advance_moves_time_forward() {
        let c = Clock::new(0.0);
        let t0 = c.now_ms();
        c.advance(Duration::from_secs(30));
        assert_eq!(c.now_ms(), t0 + 30_000);
    }
}
