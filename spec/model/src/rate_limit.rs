//! Okta's rate-limit response headers. Every API response carries `X-Rate-Limit-Limit` (requests allowed
//! in the window), `X-Rate-Limit-Remaining` and `X-Rate-Limit-Reset` (when the window resets, Unix
//! seconds). A concurrency-limit 429 reports `0`/`0` and an estimated reset.

/// `X-Rate-Limit-Limit`, lowercase as HTTP/2 and our header lists carry it.
pub const LIMIT: &str = "x-rate-limit-limit";
/// `X-Rate-Limit-Remaining`.
pub const REMAINING: &str = "x-rate-limit-remaining";
/// `X-Rate-Limit-Reset`.
pub const RESET: &str = "x-rate-limit-reset";

/// The rate-limit headers of one response; a header that is missing or not a number is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in the window.
    pub limit: Option<u64>,
    /// Requests left in the window.
    pub remaining: Option<u64>,
    /// When the window resets, Unix seconds.
    pub reset_s: Option<u64>,
}

impl RateLimit {
    /// Reads the headers through `header`, which returns the first value of a lowercase header name.
    pub fn parse<'a>(header: impl Fn(&str) -> Option<&'a str>) -> RateLimit {
        let num = |name: &str| header(name).and_then(|v| v.trim().parse::<u64>().ok());
        RateLimit {
            limit: num(LIMIT),
            remaining: num(REMAINING),
            reset_s: num(RESET),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_ignores_the_rest() {
        let headers = [(LIMIT, " 600 "), (REMAINING, "x"), ("other", "1")];
        let get = |n: &str| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        assert_eq!(
            RateLimit::parse(get),
            RateLimit {
                limit: Some(600),
                remaining: None,
                reset_s: None
            }
        );
        assert_eq!(RateLimit::parse(|_| None), RateLimit::default());
        assert_eq!(
            RateLimit::parse(|_| Some("99999999999999999999")).limit,
            None,
            "out of range is not a number"
        );
    }
}
