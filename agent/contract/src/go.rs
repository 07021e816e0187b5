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

/// Vault's `parseutil.ParseDurationSecond`, which Vault Agent reads `static_secret_render_interval`
/// and `VAULT_CLIENT_TIMEOUT` with: a base-10 integer (Go's `ParseInt`, so `+5` too) is seconds, an
/// integer followed by `d` is days, anything else is a Go duration. Negative values are rejected
/// (`None`), like every duration here.
pub fn parse_vault_duration(value: &str) -> Option<Duration> {
    fn whole(s: &str) -> Option<i64> {
        let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    }
    if let Some(seconds) = whole(value) {
        return u64::try_from(seconds).ok().map(Duration::from_secs);
    }
    if let Some(days) = value.strip_suffix('d').and_then(whole) {
        return u64::try_from(days)
            .ok()
            .and_then(|d| d.checked_mul(86_400))
            .filter(|s| *s <= i64::MAX as u64 / 1_000_000_000)
            .map(Duration::from_secs);
    }
    parse_duration(value)
}

/// What [`parse_vault_duration`] accepts, for error messages.
pub const VAULT_DURATION_ACCEPTED: &str =
    "a Vault duration: whole seconds (30), whole days (1d) or a Go duration such as 90s, 5m or 1h30m";

/// Whether `value` is a negative duration in Go's or Vault's syntax: it is well formed, so a message
/// should say that negative values are not allowed rather than that the syntax is wrong.
pub fn is_negative_duration(value: &str) -> bool {
    value.strip_prefix('-').is_some_and(|rest| {
        parse_vault_duration(rest).is_some_and(|d| !d.is_zero()) && !rest.starts_with(['+', '-'])
    })
}

/// The accepted-values text for a duration that did not parse: says "not negative" when that is
/// what is wrong.
pub fn duration_expectation(value: &str, accepted: &'static str) -> &'static str {
    if is_negative_duration(value) {
        "a duration that is not negative"
    } else {
        accepted
    }
}

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

    #[test]
    fn vault_durations_follow_parse_duration_second() {
        assert_eq!(parse_vault_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_vault_duration("+5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_vault_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_vault_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_vault_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_vault_duration("1h30m"), Some(Duration::from_secs(5400)));
        for bad in [
            "",
            "x",
            "1.5",
            "1.5d",
            "d",
            "-1",
            "-1d",
            "-1s",
            "99999999999999999999",
            "1 d",
        ] {
            assert_eq!(parse_vault_duration(bad), None, "{bad}");
        }
        for negative in ["-1", "-1s", "-1d", "-1h30m"] {
            assert!(is_negative_duration(negative), "{negative}");
        }
        for not in ["-0", "1s", "-x", "--1"] {
            assert!(!is_negative_duration(not), "{not}");
        }
    }
}
