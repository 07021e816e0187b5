//! Small helpers: SHA-256 in hex (the `sha2` crate) and UTC timestamps.

/// Lower-case hex SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    let digest = sha2::Sha256::digest(data);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// consul-template's `timestamp`: RFC 3339 in UTC by default, `"unix"` for epoch seconds, or a Go
/// layout (`time.Format`) in UTC: 2006 06 January Jan 1 01 Monday Mon 2 _2 02 __2 002 15 3 03 4 04
/// 5 05 PM pm MST Z07:00 Z0700 Z07 -07:00 -0700 -07 and fractions of a second (.000, .999, ,000).
pub(crate) fn timestamp(epoch_secs: u64, nanos: u32, format: Option<&str>) -> Result<String, String> {
    let layout = match format {
        None => "2006-01-02T15:04:05Z07:00",
        Some("unix") => return Ok(epoch_secs.to_string()),
        Some(f) => f,
    };
    Ok(go_format(epoch_secs as i64, nanos, layout))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's `Time.Format` for a UTC time of whole seconds.
fn go_format(secs: i64, nanos: u32, layout: &str) -> String {
    let frac = format!("{:09}", nanos % 1_000_000_000);
    let days = secs.div_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let yday = days - days_from_civil(y, 1, 1) + 1;
    let weekday = (days + 4).rem_euclid(7) as usize;
    let rem = secs.rem_euclid(86_400);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let h12 = if h % 12 == 0 { 12 } else { h % 12 };
    let month = MONTHS[(mo - 1) as usize];
    let day = DAYS[weekday];
    // Longest tokens first where one is a prefix of another (Go's `nextStdChunk` order).
    let tokens: [(&str, String); 34] = [
        ("January", month.to_owned()),
        ("Jan", month[..3].to_owned()),
        ("Monday", day.to_owned()),
        ("Mon", day[..3].to_owned()),
        ("MST", "UTC".to_owned()),
        ("2006", format!("{y:04}")),
        ("01", format!("{mo:02}")),
        ("02", format!("{d:02}")),
        ("03", format!("{h12:02}")),
        ("04", format!("{mi:02}")),
        ("05", format!("{s:02}")),
        ("06", format!("{:02}", y.rem_euclid(100))),
        ("002", format!("{yday:03}")),
        ("__2", format!("{yday:>3}")),
        ("_2", format!("{d:>2}")),
        ("15", format!("{h:02}")),
        ("1", mo.to_string()),
        ("2", d.to_string()),
        ("3", h12.to_string()),
        ("4", mi.to_string()),
        ("5", s.to_string()),
        ("PM", if h >= 12 { "PM" } else { "AM" }.to_owned()),
        ("pm", if h >= 12 { "pm" } else { "am" }.to_owned()),
        ("Z07:00:00", "Z".to_owned()),
        ("-07:00:00", "+00:00:00".to_owned()),
        ("Z07:00", "Z".to_owned()),
        ("Z0700", "Z".to_owned()),
        ("Z07", "Z".to_owned()),
        ("-07:00", "+00:00".to_owned()),
        ("-0700", "+0000".to_owned()),
        ("-07", "+00".to_owned()),
        ("Z070000", "Z".to_owned()),
        ("-070000", "+000000".to_owned()),
        ("Z", "Z".to_owned()),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        // Fractional seconds (.000 fixed width, .999 without trailing zeros), only when not
        // followed by another digit.
        if let Some(after) = rest.strip_prefix(['.', ',']) {
            let digit = after.chars().next().filter(|c| *c == '0' || *c == '9');
            if let Some(dc) = digit {
                let n = after.chars().take_while(|c| *c == dc).count();
                if !after[n..].starts_with(|c: char| c.is_ascii_digit()) {
                    let digits = &frac[..n.min(9)];
                    let digits = if dc == '9' {
                        digits.trim_end_matches('0')
                    } else {
                        digits
                    };
                    if !digits.is_empty() {
                        out.push_str(&rest[..1]);
                        out.push_str(digits);
                    }
                    rest = &after[n..];
                    continue;
                }
            }
        }
        for (tok, val) in &tokens {
            if *tok == "Z" {
                continue;
            }
            if let Some(r) = rest.strip_prefix(tok) {
                // Go reads "Jan"/"Mon" only when not followed by a lower-case letter.
                if matches!(*tok, "Jan" | "Mon") && r.starts_with(|c: char| c.is_ascii_lowercase()) {
                    continue;
                }
                out.push_str(val);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(
            sha256_hex(&long),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0, 0, None).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_709_210_096, 0, None).unwrap(), "2024-02-29T12:34:56Z");
        assert_eq!(timestamp(1_709_210_096, 0, Some("unix")).unwrap(), "1709210096");
        assert_eq!(
            timestamp(1_709_210_096, 0, Some("2006/01/02")).unwrap(),
            "2024/02/29"
        );
        assert_eq!(timestamp(0, 0, Some("Jan 2")).unwrap(), "Jan 1");
        // 2026-11-30T23:13:27Z, as `bao agent` rendered these layouts.
        let t = 1_796_080_407;
        assert_eq!(
            timestamp(
                t,
                879_000_000,
                Some("2006-01-02 15:04:05.000 MST Mon Jan _2 3:4:5 PM pm -0700 Z0700 -07:00 .999")
            )
            .unwrap(),
            "2026-11-30 23:13:27.879 UTC Mon Nov 30 11:13:27 PM pm +0000 Z +00:00 .879"
        );
        assert_eq!(
            timestamp(t, 0, Some("Monday January 06 002 __2")).unwrap(),
            "Monday November 26 334 334"
        );
    }
}
