//! ISO-8601 UTC timestamps as Genesys writes them (`2021-05-14T09:03:17.047Z`) → Unix
//! milliseconds, by pure arithmetic (days-from-civil). Owns nothing else: no time zones, no
//! clock, no allocation.

use crate::event::Millis;

/// Parses `YYYY-MM-DDTHH:MM:SS[.f…]Z` (0 to 9 fractional digits, truncated to ms; `+00:00`
/// accepted for `Z`) into milliseconds since the Unix epoch. Dates before 1970, impossible
/// dates (Feb 30, month 13, hour 24, second 60) and any other shape → `None`.
pub fn parse_timestamp(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    let date_time: &[u8; 19] = b.get(..19)?.try_into().ok()?;
    let rest = b.get(19..)?;
    if date_time[4] != b'-'
        || date_time[7] != b'-'
        || date_time[10] != b'T'
        || date_time[13] != b':'
        || date_time[16] != b':'
    {
        return None;
    }
    // Digits at fixed places of a fixed-size array: no loop, no bounds checks (issue 7: a
    // conversation frame carries a dozen timestamps).
    let digit = |i: usize| {
        let d = date_time[i].wrapping_sub(b'0');
        (d < 10).then_some(u32::from(d))
    };
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let year = two(0)? * 100 + two(2)?;
    let month = two(5)?;
    let day = two(8)?;
    let hour = two(11)?;
    let minute = two(14)?;
    let second = two(17)?;
    if year < 1970
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }

    let (millis, zone) = match rest.split_first() {
        Some((b'.', frac_and_zone)) => {
            let n = frac_and_zone
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if !(1..=9).contains(&n) {
                return None;
            }
            let mut ms = 0u64;
            for i in 0..3 {
                ms = ms * 10
                    + frac_and_zone
                        .get(i)
                        .filter(|_| i < n)
                        .map_or(0, |c| u64::from(c - b'0'));
            }
            (ms, &frac_and_zone[n..])
        }
        _ => (0, rest),
    };
    if zone != b"Z" && zone != b"+00:00" {
        return None;
    }

    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + u64::from(hour * 3600 + minute * 60 + second);
    Some(secs * 1000 + millis)
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian, year ≥ 1970), after
/// Howard Hinnant's `days_from_civil`, in unsigned arithmetic since the year is ≥ 1970.
fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
    let y = u64::from(if month <= 2 { year - 1 } else { year });
    let era = y / 400;
    let yoe = y - era * 400; // [0, 399]
    let m = u64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March-based month [0, 11]
    let doy = (153 * mp + 2) / 5 + u64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
                                                     // 719_468 = days from 0000-03-01 to 1970-01-01; the date is ≥ 1970 so this cannot wrap.
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:00.001Z"), Some(1));
        assert_eq!(
            parse_timestamp("2021-05-14T09:03:17.047Z"),
            Some(1_620_982_997_047)
        );
        assert_eq!(
            parse_timestamp("2021-02-03T17:59:07.650Z"),
            Some(1_612_375_147_650)
        );
        assert_eq!(
            parse_timestamp("2024-12-30T09:46:54.839Z"),
            Some(1_735_552_014_839)
        );
        assert_eq!(
            parse_timestamp("2038-01-19T03:14:08Z"),
            Some(2_147_483_648_000)
        );
    }

    #[test]
    fn leap_years() {
        // 2024 is a leap year: Feb 29 exists and is one day before Mar 1.
        let feb29 = parse_timestamp("2024-02-29T00:00:00Z").unwrap();
        let mar1 = parse_timestamp("2024-03-01T00:00:00Z").unwrap();
        assert_eq!(mar1 - feb29, 86_400_000);
        assert_eq!(feb29, 1_709_164_800_000);
        // 2000 is a leap year (divisible by 400), 1900 would not be, 2100 is not.
        assert!(parse_timestamp("2000-02-29T12:00:00Z").is_some());
        assert_eq!(parse_timestamp("2100-02-29T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2023-02-29T00:00:00Z"), None);
        // 2000-03-01 is 11017 days after the epoch.
        assert_eq!(
            parse_timestamp("2000-03-01T00:00:00Z"),
            Some(11_017 * 86_400_000)
        );
        assert_eq!(
            parse_timestamp("2100-03-01T00:00:00Z"),
            Some(4_107_542_400_000)
        );
    }

    #[test]
    fn fractions_and_zones() {
        let base = 1_612_375_147_000;
        assert_eq!(parse_timestamp("2021-02-03T17:59:07Z"), Some(base));
        assert_eq!(parse_timestamp("2021-02-03T17:59:07.6Z"), Some(base + 600));
        assert_eq!(parse_timestamp("2021-02-03T17:59:07.65Z"), Some(base + 650));
        assert_eq!(
            parse_timestamp("2021-02-03T17:59:07.123456789Z"),
            Some(base + 123)
        );
        assert_eq!(
            parse_timestamp("2021-02-03T17:59:07.650+00:00"),
            Some(base + 650)
        );
        assert_eq!(parse_timestamp("2021-02-03T17:59:07+00:00"), Some(base));
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "",
            "2021-02-03",
            "2021-02-03T17:59:07",
            "2021-02-03T17:59:07.Z",
            "2021-02-03T17:59:07.1234567890Z",
            "2021-02-03T17:59:07.650+01:00",
            "2021-02-03T17:59:07.650ZZ",
            "2021-02-03 17:59:07Z",
            "2021-13-03T17:59:07Z",
            "2021-00-03T17:59:07Z",
            "2021-04-31T17:59:07Z",
            "2021-02-00T17:59:07Z",
            "2021-02-03T24:00:00Z",
            "2021-02-03T17:60:07Z",
            "2021-02-03T17:59:60Z",
            "1969-12-31T23:59:59Z",
            "+021-02-03T17:59:07Z",
            "2021-0a-03T17:59:07Z",
            "2021-02-03T17:59:07.65é",
            "２021-02-03T17:59:07Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
