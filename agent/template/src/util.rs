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
/// layout made of the reference-time tokens `2006 01 02 15 04 05 Z07:00`.
pub(crate) fn timestamp(epoch_secs: u64, format: Option<&str>) -> Result<String, String> {
    let secs = epoch_secs as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let layout = match format {
        None => "2006-01-02T15:04:05Z07:00",
        Some("unix") => return Ok(epoch_secs.to_string()),
        Some(f) => f,
    };
    let tokens: [(&str, String); 7] = [
        ("2006", format!("{y:04}")),
        ("Z07:00", "Z".to_owned()),
        ("01", format!("{mo:02}")),
        ("02", format!("{d:02}")),
        ("15", format!("{h:02}")),
        ("04", format!("{mi:02}")),
        ("05", format!("{s:02}")),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (tok, val) in &tokens {
            if let Some(r) = rest.strip_prefix(tok) {
                out.push_str(val);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_ascii_digit() || matches!(c, 'J' | 'M' | 'P' | 'p' | 'Z') {
            return Err(format!(
                "layout element at {c:?} is not supported (supported: \"unix\", 2006 01 02 15 04 05 Z07:00)"
            ));
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
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
        assert_eq!(timestamp(0, None).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_709_210_096, None).unwrap(), "2024-02-29T12:34:56Z");
        assert_eq!(timestamp(1_709_210_096, Some("unix")).unwrap(), "1709210096");
        assert_eq!(
            timestamp(1_709_210_096, Some("2006/01/02")).unwrap(),
            "2024/02/29"
        );
        assert!(timestamp(0, Some("Jan 2")).is_err());
    }
}
