//! Okta's timestamps: ISO 8601 / RFC 3339 in UTC with milliseconds and `Z`
//! (`2026-01-01T00:00:00.000Z`), the form of `published` and the form the System Log's `since` accepts.
//! Hand-written (Howard Hinnant's civil-date algorithms) so the connector needs no date crate.

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Unix ms → `YYYY-MM-DDTHH:MM:SS.mmmZ`, as Okta prints `published`.
pub fn format_ms(ms: u64) -> String {
    let (date, sod) = split(ms);
    format!("{date}T{}.{:03}Z", hms(sod), ms % 1000)
}

/// Unix ms → `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, for people).
pub fn format_s(ms: u64) -> String {
    let (date, sod) = split(ms);
    format!("{date}T{}Z", hms(sod))
}

fn split(ms: u64) -> (String, u64) {
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    (format!("{y:04}-{m:02}-{d:02}"), secs % 86_400)
}

fn hms(sod: u64) -> String {
    format!("{:02}:{:02}:{:02}", sod / 3600, (sod / 60) % 60, sod % 60)
}

/// Parses the forms Okta accepts for `since`, `until` and `published`: `YYYY-MM-DD`, or
/// `YYYY-MM-DDTHH:MM[:SS[.fff…]]` followed by `Z`, `±HH:MM`, `±HHMM`, `±HH` or nothing (UTC). Returns
/// Unix ms; `None` when malformed or before 1970. Fractions beyond milliseconds are cut.
pub fn parse_ms(s: &str) -> Option<u64> {
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

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: days since 1970-01-01 → (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_okta() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_ms(1_794_457_980_123), "2026-11-12T04:33:00.123Z");
        assert_eq!(format_ms(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(format_ms(1_627_500_044_869), "2021-07-28T19:20:44.869Z");
        assert_eq!(format_s(1_767_225_600_999), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn round_trip() {
        for ms in [0u64, 951_782_400_000, 1_627_500_044_869, 4_102_444_799_999] {
            assert_eq!(parse_ms(&format_ms(ms)), Some(ms));
        }
        // Every day boundary of four centuries round-trips through both directions.
        for day in 0..(400 * 366) {
            let ms = day * 86_400_000 + 12_345;
            assert_eq!(parse_ms(&format_ms(ms)), Some(ms), "day {day}");
        }
    }

    #[test]
    fn accepts_okta_forms() {
        let base = parse_ms("2021-07-28T19:20:44.869Z");
        assert_eq!(parse_ms("2021-07-28T21:20:44.869+02:00"), base);
        assert_eq!(parse_ms("2021-07-28T21:20:44.869+0200"), base);
        assert_eq!(parse_ms("2021-07-28T19:20:44.869000Z"), base);
        assert_eq!(parse_ms("2021-07-28"), parse_ms("2021-07-28T00:00:00Z"));
        assert_eq!(
            parse_ms("2021-07-28T19:20Z"),
            parse_ms("2021-07-28T19:20:00.000Z")
        );
        assert!(parse_ms("yesterday").is_none());
        assert!(parse_ms("2021-13-28T00:00:00Z").is_none());
        assert!(parse_ms("2021-07-28T00:00:00Zjunk").is_none());
        assert!(parse_ms("1969-12-31T23:59:59Z").is_none());
        assert!(parse_ms("2021-07-28T24:00:00Z").is_none());
    }
}
