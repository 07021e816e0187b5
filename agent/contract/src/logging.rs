//! One way to log for the webhook and the agent: Vault's and vault-k8s's JSON shape (hclog keys
//! `@level`, `@message`, `@module`, `@timestamp`, then the event's fields) so pipelines built for
//! them keep working, colour only on a terminal, and other crates' chatter (h2, rustls, hyper, kube)
//! kept at `warn` unless the level is `trace`.

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
        builder.with_target(false).try_init()
    };
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
