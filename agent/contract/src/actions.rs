//! What a template can do besides being written: become environment variables of the app
//! containers (`ferrovault.dev/env-<secret>`, the kubelet's `fileKeyRef`) and trigger reload
//! actions after it changed (`ferrovault.dev/reload-{signal,http,exec}-<secret>`).
//!
//! Both sides check the same rules here: the webhook at admission (so a pod that could not work is
//! refused with the annotation's name), the agent when it reads its config.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How the kubelet reads an env file (`fileKeyRef`): its format changed when `EnvFiles` went beta.
/// Templates render `KEY=VALUE` lines either way; the agent writes them in this format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvFileFormat {
    /// Kubernetes 1.34 (`EnvFiles` alpha): `KEY=VALUE` lines, no quoting. The default on the wire,
    /// so a config from a webhook that predates the field means what it meant then.
    #[default]
    Plain,
    /// Kubernetes 1.35 and later (`EnvFiles` beta): `KEY='value'`, single-quoted, nothing escaped
    /// (so a value cannot hold a `'`).
    SingleQuoted,
}

impl EnvFileFormat {
    /// The format of a cluster whose API server is `server` (major, minor); a cluster whose version
    /// is not known is taken to be a current one.
    pub fn for_server(server: Option<(u32, u32)>) -> Self {
        match server {
            Some((1, minor)) if minor < 35 => Self::Plain,
            _ => Self::SingleQuoted,
        }
    }

    /// Whether this is the wire default (for `skip_serializing_if`).
    pub fn is_plain(&self) -> bool {
        *self == Self::Plain
    }
}

/// The longest key the kubelet reads from an env file while `EnvFiles` is alpha (1.34).
pub const ENV_KEY_MAX: usize = 128;
/// The longest value the kubelet takes from an env file while `EnvFiles` is alpha (1.34).
pub const ENV_VALUE_MAX: usize = 32 * 1024;

/// Why `key` cannot be both an env file key the kubelet finds and an environment variable name
/// the API server accepts (`IsRelaxedEnvVarName`: printable ASCII but `=`), or `None` if it can.
pub fn env_key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("it is empty");
    }
    if key.len() > ENV_KEY_MAX {
        return Some("it is longer than 128 characters (the kubelet's limit while EnvFiles is alpha)");
    }
    if !key.bytes().all(|b| (0x20..0x7f).contains(&b)) || key.contains('=') {
        return Some("only printable ASCII characters other than '=' are allowed");
    }
    if key.trim() != key {
        return Some("the kubelet trims spaces around a key, so it would never match");
    }
    if key.starts_with('#') {
        return Some("a line starting with '#' is a comment in an env file");
    }
    None
}

/// Parses `ferrovault.dev/env-<secret>`: comma-separated keys (items trimmed, empty ones skipped),
/// each an env var of the same name. `Err` names the offending key and why; duplicates are refused.
pub fn env_keys(value: &str) -> Result<Vec<String>, String> {
    let mut keys: Vec<String> = Vec::new();
    for key in value.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        if let Some(why) = env_key_problem(key) {
            return Err(format!("key {key:?} cannot be an environment variable: {why}"));
        }
        if keys.iter().any(|k| k == key) {
            return Err(format!("key {key:?} is listed twice"));
        }
        keys.push(key.to_owned());
    }
    if keys.is_empty() {
        return Err("no key is listed".to_owned());
    }
    Ok(keys)
}

/// One thing the agent does after a re-render changed a template's file (never after the first
/// render, when the app has not read the file yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ReloadAction {
    /// Send `signal` to every process of the pod named `process` (its `/proc/<pid>/comm` or the
    /// last part of its `argv[0]`); needs `shareProcessNamespace` and the right to signal it.
    Signal {
        /// The signal.
        signal: Signal,
        /// The process name.
        process: String,
    },
    /// `method http://127.0.0.1:<port><path>`, with a timeout; a 2xx answer is success.
    Http {
        /// `GET`, `POST` or `PUT`.
        method: String,
        /// The app's port on the pod's loopback.
        port: u16,
        /// The path (and query), starting with `/`.
        path: String,
    },
    /// Run `argv` in the agent container, without a shell, with a timeout.
    Exec {
        /// Program (absolute path) and arguments.
        argv: Vec<String>,
    },
}

impl ReloadAction {
    /// `signal`, `http` or `exec`.
    pub fn kind(&self) -> &'static str {
        match self {
            ReloadAction::Signal { .. } => "signal",
            ReloadAction::Http { .. } => "http",
            ReloadAction::Exec { .. } => "exec",
        }
    }
}

/// A signal a reload may send: the ones apps use to reload, reopen or restart (`SIGKILL` and
/// `SIGSTOP` are not reloads). Written `SIGHUP`; `HUP` and lower case are read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Signal {
    name: &'static str,
    number: i32,
}

/// The signals [`Signal`] accepts, with their Linux numbers.
pub const SIGNALS: &[(&str, i32)] = &[
    ("SIGHUP", 1),
    ("SIGINT", 2),
    ("SIGQUIT", 3),
    ("SIGUSR1", 10),
    ("SIGUSR2", 12),
    ("SIGALRM", 14),
    ("SIGTERM", 15),
    ("SIGCONT", 18),
    ("SIGWINCH", 28),
];

impl Signal {
    /// `SIGHUP`, …
    pub fn name(self) -> &'static str {
        self.name
    }

    /// The Linux signal number.
    pub fn number(self) -> i32 {
        self.number
    }
}

impl FromStr for Signal {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let upper = text.trim().to_ascii_uppercase();
        let full = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        SIGNALS
            .iter()
            .find(|(name, _)| *name == full)
            .map(|&(name, number)| Signal { name, number })
            .ok_or_else(|| {
                let names: Vec<&str> = SIGNALS.iter().map(|(n, _)| *n).collect();
                format!("{text:?} is not one of {}", names.join(", "))
            })
    }
}

impl<'de> Deserialize<'de> for Signal {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl From<Signal> for String {
    fn from(s: Signal) -> String {
        s.name.to_owned()
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// Parses `ferrovault.dev/reload-signal-<secret>`: `"<signal> <process name>"`, e.g. `SIGHUP nginx`.
pub fn signal_action(value: &str) -> Result<ReloadAction, String> {
    let mut words = value.split_whitespace();
    let (Some(signal), Some(process), None) = (words.next(), words.next(), words.next()) else {
        return Err("a signal and a process name, such as \"SIGHUP nginx\"".to_owned());
    };
    let signal = signal.parse::<Signal>()?;
    if process.contains('/') {
        return Err(format!(
            "the process name {process:?} contains '/': give the program's name, not its path"
        ));
    }
    Ok(ReloadAction::Signal {
        signal,
        process: process.to_owned(),
    })
}

/// The HTTP methods a reload may use.
pub const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT"];

/// Parses `ferrovault.dev/reload-http-<secret>`: `"[METHOD] http://127.0.0.1:<port>/<path>"`
/// (`POST` when no method is given). Only the pod's loopback (`127.0.0.1`, or `localhost`, which
/// means it) over plain HTTP, with an explicit port.
pub fn http_action(value: &str) -> Result<ReloadAction, String> {
    let mut words = value.split_whitespace();
    let (method, url) = match (words.next(), words.next(), words.next()) {
        (Some(url), None, None) => ("POST".to_owned(), url),
        (Some(method), Some(url), None) => (method.to_ascii_uppercase(), url),
        _ => return Err("[METHOD] URL, such as \"POST http://127.0.0.1:8080/-/reload\"".to_owned()),
    };
    if !HTTP_METHODS.contains(&method.as_str()) {
        return Err(format!(
            "the method {method:?} is not one of {}",
            HTTP_METHODS.join(", ")
        ));
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} does not start with http:// (the app is on the pod's loopback)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("{url:?} has no port: write it, such as http://127.0.0.1:8080/"))?;
    if !matches!(host, "127.0.0.1" | "localhost") {
        return Err(format!(
            "{url:?} is not on the pod's loopback: only 127.0.0.1 and localhost are allowed"
        ));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("{url:?} has no valid port (1 to 65535)"))?;
    if path.contains('#') || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "the path of {url:?} has a fragment, a space or a control character"
        ));
    }
    Ok(ReloadAction::Http {
        method,
        port,
        path: path.to_owned(),
    })
}

/// Parses `ferrovault.dev/reload-exec-<secret>`: a JSON array of strings, the first an absolute
/// path (run without a shell).
pub fn exec_action(value: &str) -> Result<ReloadAction, String> {
    let argv: Vec<String> = serde_json::from_str(value)
        .map_err(|_| "a JSON array of strings, such as [\"/bin/notify\", \"--reload\"]".to_owned())?;
    match argv.first() {
        None => Err("the array is empty: it needs at least the program".to_owned()),
        Some(program) if !program.starts_with('/') => Err(format!(
            "the program {program:?} is not an absolute path (there is no shell and no PATH search)"
        )),
        Some(_) if argv.iter().any(|a| a.contains('\0')) => {
            Err("an argument contains a NUL character".to_owned())
        }
        Some(_) => Ok(ReloadAction::Exec { argv }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keys_are_what_the_kubelet_and_the_api_server_take() {
        assert_eq!(env_keys(" A, B_2 ,,c.d").unwrap(), ["A", "B_2", "c.d"]);
        for (bad, why) in [
            ("", "no key"),
            ("A,A", "twice"),
            ("A=B", "'='"),
            ("#A", "comment"),
            ("ä", "printable ASCII"),
            (&"K".repeat(129), "128"),
        ] {
            let err = env_keys(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn signals_are_named_like_kill_names_them() {
        for (text, name, number) in [
            ("SIGHUP", "SIGHUP", 1),
            ("hup", "SIGHUP", 1),
            ("USR2", "SIGUSR2", 12),
        ] {
            let s: Signal = text.parse().unwrap();
            assert_eq!((s.name(), s.number()), (name, number), "{text}");
        }
        for bad in ["KILL", "SIGSTOP", "9", "HUPP"] {
            assert!(
                bad.parse::<Signal>().unwrap_err().contains("is not one of"),
                "{bad}"
            );
        }
        let action = signal_action("SIGHUP  nginx").unwrap();
        assert_eq!(
            serde_json::to_value(&action).unwrap(),
            serde_json::json!({"type": "signal", "signal": "SIGHUP", "process": "nginx"})
        );
        assert!(signal_action("SIGHUP").is_err());
        assert!(signal_action("SIGHUP a b").is_err());
        assert!(
            signal_action("SIGHUP /usr/sbin/nginx")
                .unwrap_err()
                .contains("path")
        );
    }

    #[test]
    fn http_reloads_stay_on_the_loopback() {
        assert_eq!(
            http_action("http://127.0.0.1:8080/-/reload?x=1").unwrap(),
            ReloadAction::Http {
                method: "POST".into(),
                port: 8080,
                path: "/-/reload?x=1".into()
            }
        );
        assert_eq!(
            http_action("get http://localhost:9").unwrap(),
            ReloadAction::Http {
                method: "GET".into(),
                port: 9,
                path: "/".into()
            }
        );
        for (bad, why) in [
            ("POST https://127.0.0.1:8443/", "http://"),
            ("POST http://10.0.0.1:80/", "loopback"),
            ("POST http://127.0.0.1/", "no port"),
            ("POST http://127.0.0.1:0/", "valid port"),
            ("DELETE http://127.0.0.1:80/", "method"),
            ("POST http://127.0.0.1:80/a#b", "fragment"),
            ("", "METHOD"),
        ] {
            let err = http_action(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn exec_reloads_are_an_argv() {
        assert_eq!(
            exec_action(r#"["/bin/x", "a b"]"#).unwrap(),
            ReloadAction::Exec {
                argv: vec!["/bin/x".into(), "a b".into()]
            }
        );
        for (bad, why) in [
            ("/bin/x a", "JSON array"),
            ("[]", "empty"),
            (r#"["x"]"#, "absolute"),
            (r#"[1]"#, "JSON array"),
        ] {
            let err = exec_action(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
