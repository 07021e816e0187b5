//! Env files (`ferrovault.dev/env-<secret>`): the kubelet reads each listed key from the rendered
//! file when an app container starts (`env[].valueFrom.fileKeyRef`, feature gate `EnvFiles`).
//!
//! Templates render `KEY=VALUE` lines on every release ([`check`] holds them to the rules below);
//! [`prepare`] then writes them in the format of the cluster's kubelet, which the webhook learnt from
//! the API server's version ([`EnvFileFormat`]): unchanged for 1.34, `KEY='value'` for 1.35 and
//! later, whose parser (`pkg/kubelet/util/env`, unchanged from 1.35 to 1.37) takes single-quoted
//! values only — nothing is escaped inside them, so a value holding a `'` cannot be written.
//!
//! The 1.34 parser reads `KEY=VALUE` lines: leading
//! blanks skipped, blank lines and `#` lines ignored, a trailing `\` joins the next line, key and
//! value trimmed, no quoting, the first line of a key wins, an empty value counts as missing, and
//! values are capped at 32 KiB. A render it would misread must not be written: this checks the bytes
//! against those rules, stricter where a value would silently change (a newline inside a value
//! ends it, leading or trailing white space is dropped, a final `\` joins lines). A listed key that
//! is missing or empty is only warned about: the file is read right, and the kubelet refuses to
//! start the container with its own message naming the key, where `kubectl get pods` shows it.
//! Messages name lines and keys, never values.

use ferrovault_contract::actions::{ENV_VALUE_MAX, EnvFileFormat};

/// Mode of an env file without `agent-inject-perms-<secret>`: only the kubelet reads it, as root (it
/// opens `fileKeyRef` files from the host side of the volume before the container starts), and the
/// app gets the values as environment variables — so no other uid of the pod needs it.
pub const MODE: u32 = 0o600;

/// The mode an env file is written with: `perms` if the pod set one, else [`MODE`] (forced over an
/// existing file's mode, unlike other templates, which keep it).
pub fn mode(perms: Option<u32>) -> u32 {
    perms.unwrap_or(MODE)
}

/// The longest line Go's `bufio.Scanner` (the kubelet's reader) accepts.
const LINE_MAX: usize = 64 * 1024 - 1;

/// The bytes to write for the rendered `bytes` in the kubelet's `format`, and the warnings of
/// [`check`]. `Err` names the line or key and why, never a value.
pub fn prepare(
    bytes: &[u8],
    keys: &[String],
    format: EnvFileFormat,
) -> Result<(Vec<u8>, Vec<String>), String> {
    let warnings = check(bytes, keys)?;
    match format {
        EnvFileFormat::Plain => Ok((bytes.to_vec(), warnings)),
        EnvFileFormat::SingleQuoted => {
            let text =
                std::str::from_utf8(bytes).map_err(|_| "the rendered file is not UTF-8 text".to_owned())?;
            let mut out = String::with_capacity(text.len() + 2 * keys.len());
            for line in text.split('\n') {
                let line = line.trim_start_matches([' ', '\t']);
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                // check() saw KEY=VALUE with a listed key and no edge white space
                let Some((key, value)) = line.split_once('=') else {
                    continue;
                };
                let key = key.trim();
                if value.contains('\'') {
                    return Err(format!(
                        "the value of {key:?} contains a single quote, which the env file format of \
                         Kubernetes 1.35 and later (KEY='value', nothing escaped) cannot carry"
                    ));
                }
                out.push_str(key);
                out.push_str("='");
                out.push_str(value);
                out.push_str("'\n");
            }
            Ok((out.into_bytes(), warnings))
        }
    }
}

/// Checks that the kubelet reads `bytes` as written: only the keys `keys`, each at most once. `Err`
/// says which line or key and why; `Ok` holds warnings (a key missing or empty: the kubelet will
/// refuse to start the container).
pub fn check(bytes: &[u8], keys: &[String]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the rendered file is not UTF-8 text".to_owned())?;
    if text.contains('\0') {
        return Err("the rendered file contains a NUL byte, which no environment variable can hold".into());
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut warnings = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        if line.len() > LINE_MAX {
            return Err(format!("line {n} is longer than the kubelet reads (64 KiB)"));
        }
        if line.contains('\r') {
            return Err(format!(
                "line {n} contains a carriage return (the kubelet drops one at the end of a line)"
            ));
        }
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.trim_end_matches([' ', '\t']).ends_with('\\') {
            return Err(format!(
                "line {n} ends with a backslash, which the kubelet reads as a line continuation"
            ));
        }
        let Some((key, raw)) = line.split_once('=') else {
            return Err(format!(
                "line {n} is not KEY=VALUE (does a value contain a newline?)"
            ));
        };
        let key = key.trim();
        if !keys.iter().any(|k| k == key) {
            return Err(format!(
                "line {n} sets {key:?}, which is not a listed key (does a value contain a newline?)"
            ));
        }
        if seen.contains(&key) {
            return Err(format!(
                "line {n} sets {key:?} a second time (does a value contain a newline?)"
            ));
        }
        seen.push(key);
        if raw.is_empty() {
            warnings.push(format!(
                "the value of {key:?} is empty, which the kubelet treats as a missing key: containers \
                 reading it will not start"
            ));
            continue;
        }
        if raw.trim() != raw {
            return Err(format!(
                "the value of {key:?} starts or ends with white space, which the kubelet drops"
            ));
        }
        if raw.len() > ENV_VALUE_MAX {
            return Err(format!(
                "the value of {key:?} is longer than the kubelet's limit of 32 KiB"
            ));
        }
    }
    let missing: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .filter(|k| !seen.contains(k))
        .collect();
    if !missing.is_empty() {
        warnings.push(format!(
            "the rendered file does not set {}: containers reading it will not start",
            missing.join(", ")
        ));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn what_the_kubelet_reads_as_written_passes() {
        let text = "# made by ferrovault\n\nDB_USER=alice\n  DB_PASSWORD=s3cr3t=with#chars\"'\n";
        assert!(
            check(text.as_bytes(), &keys(&["DB_USER", "DB_PASSWORD"]))
                .unwrap()
                .is_empty()
        );
        assert!(check(b"A=1", &keys(&["A"])).unwrap().is_empty());
        // read right, but the kubelet will refuse to start the container: warned about
        let warnings = check(b"A=\n", &keys(&["A", "B"])).unwrap();
        assert!(warnings[0].contains("\"A\" is empty"), "{warnings:?}");
        assert!(warnings[1].contains("does not set B"), "{warnings:?}");
    }

    #[test]
    fn from_1_35_the_lines_are_written_single_quoted_as_the_kubelet_reads_them() {
        let text = "# made by ferrovault\n\nDB_USER=alice\n  DB_PASSWORD=s3cr3t=with#chars\"\n";
        let ab = keys(&["DB_USER", "DB_PASSWORD"]);
        let (plain, _) = prepare(text.as_bytes(), &ab, EnvFileFormat::Plain).unwrap();
        assert_eq!(plain, text.as_bytes());
        let (quoted, warnings) = prepare(text.as_bytes(), &ab, EnvFileFormat::SingleQuoted).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(
            String::from_utf8(quoted).unwrap(),
            "DB_USER='alice'\nDB_PASSWORD='s3cr3t=with#chars\"'\n"
        );
        // the same checks first: a line the template got wrong is refused in either format
        let err = prepare(b"A=x\nsecond line\n", &keys(&["A"]), EnvFileFormat::SingleQuoted).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        // a quote cannot be carried; the message names the key, never the value
        let err = prepare(b"A=it's-evil\n", &keys(&["A"]), EnvFileFormat::SingleQuoted).unwrap_err();
        assert!(err.contains("\"A\"") && err.contains("single quote"), "{err}");
        assert!(!err.contains("evil"), "{err}");
        // an empty value is still only warned about (the kubelet refuses the container)
        let (quoted, warnings) = prepare(b"A=\n", &keys(&["A"]), EnvFileFormat::SingleQuoted).unwrap();
        assert_eq!(quoted, b"A=''\n");
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn what_the_kubelet_would_misread_is_refused_without_the_value() {
        let ab = keys(&["A", "B"]);
        for (text, why) in [
            ("A=x\nsecond line\nB=y\n", "line 2 is not KEY=VALUE"),
            ("A=x\nB=evil\nB=y\n", "line 3 sets \"B\" a second time"),
            ("A=x\nC=1\nB=y\n", "line 2 sets \"C\", which is not a listed key"),
            ("A=x\\\nB=y\n", "line 1 ends with a backslash"),
            ("A=x\r\nB=y\n", "carriage return"),
            ("A= x\nB=y\n", "white space"),
            ("A=x \nB=y\n", "white space"),
            ("A=x\0\nB=y", "NUL"),
        ] {
            let err = check(text.as_bytes(), &ab).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
            assert!(!err.contains("evil"), "a value in the message: {err}");
        }
        let long = format!("A={}\nB=y", "v".repeat(ENV_VALUE_MAX + 1));
        assert!(check(long.as_bytes(), &ab).unwrap_err().contains("32 KiB"));
        assert!(
            check(&[b'A', b'=', 0xff], &keys(&["A"]))
                .unwrap_err()
                .contains("UTF-8")
        );
    }
}
