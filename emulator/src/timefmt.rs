//! Minimal UTC time helpers: Okta timestamps are ISO 8601 with milliseconds and `Z`, and the
//! crate avoids a date-time dependency for the two conversions it needs.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats epoch milliseconds the way Okta prints `published`: `2024-05-01T12:34:56.789Z`.
pub fn format_ms(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        ms % 1000
    )
}

/// Parses the ISO 8601 forms Okta accepts for `since`/`until`/`published`:
/// `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fff…]]` followed by `Z`, `±HH:MM`, `±HHMM` or nothing
/// (taken as UTC). Returns epoch milliseconds; `None` when malformed or before 1970.
pub fn parse_iso8601(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms_of_day: i64 = 0;
    let mut i = 10;
    if b.len() > 10 {
        if b[10] != b'T' && b[10] != b't' && b[10] != b' ' {
            return None;
        }
        let (h, mi) = (num(11, 2)?, num(14, 2)?);
        if b.get(13) != Some(&b':') {
            return None;
        }
        i = 16;
        let mut sec = 0;
        if b.get(16) == Some(&b':') {
            sec = num(17, 2)?;
            i = 19;
        }
        let mut frac_ms = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return None;
            }
            // Only millisecond precision matters; pad/truncate the fraction to 3 digits.
            let digits: String = s[start..i].chars().chain("000".chars()).take(3).collect();
            frac_ms = digits.parse().ok()?;
        }
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        ms_of_day = ((h * 60 + mi) * 60 + sec) * 1000 + frac_ms;
    }
    let mut offset_min: i64 = 0;
    match b.get(i) {
        None => {}
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => {}
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            let om = match b.len() - i {
                6 if b[i + 3] == b':' => num(i + 4, 2)?,
                5 => num(i + 3, 2)?,
                3 => 0,
                _ => return None,
            };
            offset_min = (oh * 60 + om) * if sign == b'+' { 1 } else { -1 };
        }
        _ => return None,
    }
    let ms = days_from_civil(y, mo as u32, d as u32) * 86_400_000 + ms_of_day - offset_min * 60_000;
    u64::try_from(ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for ms in [0u64, 951_782_400_000, 1_627_500_044_869, 4_102_444_799_999] {
            assert_eq!(parse_iso8601(&format_ms(ms)), Some(ms));
        }
        assert_eq!(format_ms(1_627_500_044_869), "2021-07-28T19:20:44.869Z");
    }

    #[test]
    fn accepts_okta_forms() {
        let base = parse_iso8601("2021-07-28T19:20:44.869Z");
        assert_eq!(parse_iso8601("2021-07-28T21:20:44.869+02:00"), base);
        assert_eq!(parse_iso8601("2021-07-28T19:20:44.869000Z"), base);
        assert_eq!(
            parse_iso8601("2021-07-28"),
            parse_iso8601("2021-07-28T00:00:00Z")
        );
        assert!(parse_iso8601("yesterday").is_none());
        assert!(parse_iso8601("2021-13-28T00:00:00Z").is_none());
        assert!(parse_iso8601("2021-07-28T00:00:00Zjunk").is_none());
    }
}
