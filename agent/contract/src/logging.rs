//! One way to log for the webhook and the agent: Vault's and vault-k8s's JSON shape (hclog keys
//! `@level`, `@message`, `@module`, `@timestamp`, then the event's fields) so pipelines built for
//! them keep working, colour only on a terminal, and other crates' chatter (h2, rustls, hyper, kube)
//! kept at `warn` unless the level is `trace`.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the global subscriber on stderr. `program` names the binary (`ferrovault-agent`) and
/// prefixes `@module`; `crates` are ours, logged at `level` (a [`crate::log_level`] name); every
/// other crate logs warnings only, unless `level` is `trace`. `RUST_LOG` overrides the filter.
pub fn init(program: &'static str, crates: &[&str], level: &str, json: bool) {
    let level = crate::log_level(level).unwrap_or("info");
    let directives = if level == "trace" {
        "trace".to_owned()
    } else {
        let ours: Vec<String> = crates.iter().map(|c| format!("{c}={level}")).collect();
        format!("warn,rustify=off,vaultrs=off,{}", ours.join(","))
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if json {
        builder.event_format(HclogJson { program }).try_init()
    } else {
        builder.with_target(false).fmt_fields(escaped_fields()).try_init()
    };
}

/// The standard format's fields as tracing-subscriber writes them (the message, then `name=value`),
/// with control characters escaped ([`printable`]): a field carrying a pod's, a request's or an owner
/// reference's name (`%name` is written as it is) cannot break a log line in two, forge one, or
/// recolour a terminal. The JSON format needs nothing: JSON escapes them.
pub fn escaped_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    use tracing_subscriber::field::MakeExt as _;
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = format!("{value:?}");
        let text = printable(&text);
        match field.name() {
            "message" => write!(w, "{text}"),
            name => write!(w, "{name}={text}"),
        }
    })
    .delimited(" ")
}

/// `text` with its control characters (newlines, carriage returns, escape sequences …) and Unicode's
/// bidirectional overrides escaped as Rust writes them (`\n`, `\r`, `\u{1b}`), for a string from a
/// pod or a request that reaches a log line or a table. Other text is returned as it is.
pub fn printable(text: &str) -> Cow<'_, str> {
    fn escape(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Never lets a panic message (which could hold request or secret data) reach the logs: `program`
/// reports the location only, saying what the withheld details may contain.
pub fn install_panic_hook(program: &'static str, may_contain: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "{program}: internal error at {location} (details withheld: they may contain {may_contain})"
        );
    }));
}

/// hclog's JSON line: `{"@level":"info","@message":"…","@module":"ferrovault-agent.runner",
/// "@timestamp":"…",<fields>}`.
#[derive(Debug, Clone, Copy)]
pub struct HclogJson {
    /// Prefix of `@module`.
    pub program: &'static str,
}

impl<S, N> FormatEvent<S, N> for HclogJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let module = match meta.target().split_once("::") {
            Some((_, rest)) => format!("{}.{}", self.program, rest.replace("::", ".")),
            None => self.program.to_owned(),
        };
        let mut map = Map::new();
        map.insert(
            "@level".into(),
            Value::from(meta.level().as_str().to_ascii_lowercase()),
        );
        map.insert("@message".into(), Value::from(""));
        map.insert("@module".into(), Value::from(module));
        map.insert("@timestamp".into(), Value::from(timestamp));
        event.record(&mut Fields(&mut map));
        writeln!(writer, "{}", Value::Object(map))
    }
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let key = match field.name() {
            "message" => "@message",
            name => name,
        };
        self.0.insert(key.to_owned(), value);
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Issue #19 §10: a name with a newline, a carriage return and an ANSI colour stays on one line,
    /// escaped, in the standard format.
    #[test]
    fn standard_lines_escape_control_characters_in_fields() {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .with_ansi(false)
            .fmt_fields(escaped_fields())
            .finish();
        let hostile = "rs\nERROR forged line\x1b[31m\rred\u{202e}";
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(owner = %hostile, pod = hostile, count = 2u64, "missed {}", hostile);
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\x1b') && !text.contains('\r'), "{text:?}");
        assert!(
            text.contains(r"owner=rs\nERROR forged line\u{1b}[31m\rred\u{202e}"),
            "{text}"
        );
        assert!(text.contains(r"missed rs\nERROR"), "{text}");
        assert!(text.contains("count=2"), "{text}");
    }

    #[test]
    fn printable_escapes_control_characters_only() {
        assert!(matches!(printable("app-1/ReplicaSet"), Cow::Borrowed(_)));
        assert_eq!(printable("a\nb\x1b[31m\r\t"), r"a\nb\u{1b}[31m\r\t");
        assert_eq!(printable("naïve ✓"), "naïve ✓");
    }

    #[test]
    fn json_lines_use_the_keys_vault_emits() {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .event_format(HclogJson {
                program: "ferrovault-agent",
            })
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "ferrovault_agent::runner", template = "db", attempt = 3u64, "fetch failed");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["@level"], "warn");
        assert_eq!(line["@message"], "fetch failed");
        assert_eq!(line["@module"], "ferrovault-agent.runner");
        assert_eq!(line["template"], "db");
        assert_eq!(line["attempt"], 3);
        assert!(line["@timestamp"].as_str().unwrap().starts_with("20"), "{line}");
        assert!(line.get("fields").is_none(), "nothing nested: {line}");
    }
}
