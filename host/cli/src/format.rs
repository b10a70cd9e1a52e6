//! How the command shows and reads times: instants (`when`), durations (`HumanDuration`, `lag`).

use std::time::Duration;

/// A Unix-ms instant for people: `2026-01-01T00:00:00Z`, or `never`.
pub fn when(ms: Option<i64>) -> String {
    match ms
        .and_then(|ms| u64::try_from(ms).ok())
        .filter(|ms| *ms > 0)
    {
        Some(ms) => okta_ingest_model::time::format_s(ms),
        None => "never".into(),
    }
}

/// A lag rounded to seconds (`2m 5s`), or `-` before the first event.
pub fn lag(d: Option<Duration>) -> String {
    match d {
        Some(d) if d.as_secs() == 0 => "0s".into(),
        Some(d) => humantime::format_duration(Duration::from_secs(d.as_secs())).to_string(),
        None => "-".into(),
    }
}

/// Parses `5m`, `30s`, `1h`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 5m, 30s, 1h)"))
}

/// A duration flag: parsed and shown the way people write it (`2m`), so defaults taken from the library
/// read naturally in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl std::str::FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<HumanDuration, String> {
        parse_duration(s).map(HumanDuration)
    }
}

impl std::fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_lags_read_well() {
        assert_eq!(when(Some(1_767_225_600_000)), "2026-01-01T00:00:00Z");
        assert_eq!(when(None), "never");
        assert_eq!(when(Some(0)), "never");
        assert_eq!(lag(None), "-");
        assert_eq!(lag(Some(Duration::from_millis(300))), "0s");
        assert_eq!(lag(Some(Duration::from_millis(125_400))), "2m 5s");
    }

    #[test]
    fn durations_round_trip_through_their_text() {
        for text in ["2m", "15m", "1s", "500ms", "60s"] {
            let d: HumanDuration = text.parse().unwrap();
            assert_eq!(d.to_string().parse::<HumanDuration>().unwrap(), d);
        }
        assert_eq!(HumanDuration(Duration::from_secs(60)).to_string(), "1m");
        assert!("soon"
            .parse::<HumanDuration>()
            .unwrap_err()
            .contains("examples"));
    }
}
