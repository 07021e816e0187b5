//! Go value syntax that vault-k8s and Vault Agent accept, reproduced exactly.

use std::time::Duration;

/// Go's `strconv.ParseBool` as used through `parseutil.ParseBool`: the empty string is `false`;
/// otherwise `1 t T TRUE true True` and `0 f F FALSE false False`. Anything else (`tRuE`, `yes`) is `None`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "" | "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        _ => None,
    }
}

/// The values [`parse_bool`] accepts, for error messages.
pub const BOOL_ACCEPTED: &str = "one of true, false, 1, 0, t, f, T, F, TRUE, FALSE, True, False";

/// Go's `time.ParseDuration`: a possibly signed sequence of decimal numbers with optional fraction and a
/// unit suffix (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), such as `300ms`, `1.5h` or `2h45m`; `0`
/// alone is allowed. Negative durations are rejected (`None`) since no setting here accepts them.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let mut s = value;
    if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    } else if let Some(rest) = s.strip_prefix('-') {
        // Go accepts a sign; a negative delay makes no sense for any of our settings except -0.
        return (rest == "0").then_some(Duration::ZERO);
    }
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let digits_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let number = &s[..digits_end];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        s = &s[digits_end..];
        let unit_end = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let nanos_per_unit = match &s[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        s = &s[unit_end..];
        total += value * nanos_per_unit;
    }
    if !total.is_finite() || total > i64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(total.round() as u64))
}

/// What [`parse_duration`] accepts, for error messages.
pub const DURATION_ACCEPTED: &str =
    "a Go duration such as 500ms, 1s, 1m30s or 2h (units ns, us, ms, s, m, h)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_follow_go() {
        for ok in ["true", "TRUE", "True", "t", "T", "1"] {
            assert_eq!(parse_bool(ok), Some(true), "{ok}");
        }
        for ok in ["false", "FALSE", "False", "f", "F", "0", ""] {
            assert_eq!(parse_bool(ok), Some(false), "{ok}");
        }
        for bad in ["tRuE", "fAlSe", "yes", "on", " true", "2"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_follow_go() {
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("2h45m"), Some(Duration::from_secs(9900)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_duration("10us"), Some(Duration::from_micros(10)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "x", "1", "5 s", "1d", "s", ".s", "1..2s", "-1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
