//! The tree of a Vault Agent config file → [`FileConfig`]: one function per stanza, each naming
//! the keys it accepts; anything else is an error with its block and line.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::listener::{api_proxy, cache, listener, telemetry};
use super::tree::{Entry, Kind, Node};
use super::{FileConfig, HclError};
use crate::{
    AuthMethod, AutoAuth, CONNECTION_COMPONENTS, Cache, Command, FileMode, INJECTABLE_AUTH_METHODS, Sink,
    Template, TemplateConfig, UseAutoAuthToken, VaultConnection, VaultDuration, go,
};

pub(super) type R<T> = Result<T, HclError>;

pub(super) fn err(line: usize, block: &str, message: impl Into<String>) -> HclError {
    HclError {
        line,
        block: block.to_owned(),
        message: message.into(),
    }
}

/// The entries of an object (a block body or `key = { … }`); HCL 1's JSON-ish `key = [{ … }]` with
/// one object is the same.
pub(super) fn object<'a>(node: &'a Node, block: &str) -> R<&'a [Entry]> {
    match &node.kind {
        Kind::Object(entries) => Ok(entries),
        Kind::List(items) if items.len() == 1 => object(&items[0], block),
        _ => Err(err(node.line, block, "expected a block { … }")),
    }
}

/// The blocks of a repeatable stanza: a list (JSON, or HCL 1's `template = [{ … }]`) or one block.
fn each(node: &Node) -> Vec<&Node> {
    match &node.kind {
        Kind::List(items) => items.iter().collect(),
        _ => vec![node],
    }
}

pub(super) fn unknown(entry: &Entry, block: &str, accepted: &[&str]) -> HclError {
    err(
        entry.node.line,
        block,
        format!(
            "{:?} is not supported here (accepted: {})",
            entry.key,
            accepted.join(", ")
        ),
    )
}

fn once<T>(slot: &mut Option<T>, entry: &Entry, block: &str, value: T) -> R<()> {
    if slot.is_some() {
        return Err(err(
            entry.node.line,
            block,
            format!("{:?} appears twice", entry.key),
        ));
    }
    *slot = Some(value);
    Ok(())
}

pub(super) fn string(node: &Node, block: &str) -> R<String> {
    match &node.kind {
        Kind::Str(s) | Kind::Num(s) => Ok(s.clone()),
        Kind::Bool(b) => Ok(b.to_string()),
        _ => Err(err(node.line, block, "expected a string")),
    }
}

pub(super) fn boolean(node: &Node, block: &str) -> R<bool> {
    match &node.kind {
        Kind::Bool(b) => Ok(*b),
        Kind::Str(s) => go::parse_bool(s)
            .ok_or_else(|| err(node.line, block, format!("{s:?} is not {}", go::BOOL_ACCEPTED))),
        _ => Err(err(node.line, block, "expected true or false")),
    }
}

fn integer(node: &Node, block: &str) -> R<i64> {
    match &node.kind {
        Kind::Num(s) | Kind::Str(s) => s
            .parse()
            .map_err(|_| err(node.line, block, format!("{s:?} is not a whole number"))),
        _ => Err(err(node.line, block, "expected a whole number")),
    }
}

pub(super) fn duration(node: &Node, block: &str) -> R<VaultDuration> {
    VaultDuration::from_str(&string(node, block)?).map_err(|m| err(node.line, block, m))
}

/// A mode: HCL 1 reads a number with a leading 0 as octal (`0640`); a string is octal text.
fn mode(node: &Node, block: &str) -> R<FileMode> {
    let text = match &node.kind {
        Kind::Num(raw) if raw.starts_with('0') => raw.clone(),
        Kind::Num(raw) => raw.parse::<u32>().map(|n| format!("0{n:o}")).map_err(|_| {
            err(
                node.line,
                block,
                format!("{raw:?} is not a file mode such as 0640"),
            )
        })?,
        _ => string(node, block)?,
    };
    FileMode::from_str(&text).map_err(|m| err(node.line, block, m))
}

/// A command as a string (split like a shell, without one) or a list of words.
fn command(node: &Node, block: &str) -> R<Command> {
    let text = match &node.kind {
        Kind::List(items) => {
            let words = items.iter().map(|i| string(i, block)).collect::<R<Vec<_>>>()?;
            shlex::try_join(words.iter().map(String::as_str)).map_err(|e| {
                err(
                    node.line,
                    block,
                    format!("the command cannot be written out: {e}"),
                )
            })?
        }
        _ => string(node, block)?,
    };
    Command::from_str(&text).map_err(|m| err(node.line, block, m))
}

fn components(node: &Node, block: &str) -> R<Vec<String>> {
    let list = match &node.kind {
        Kind::List(items) => items
            .iter()
            .map(|i| string(i, block))
            .collect::<R<Vec<_>>>()?
            .join(","),
        _ => string(node, block)?,
    };
    crate::connection_components(&list).map_err(|bad| {
        err(
            node.line,
            block,
            format!(
                "{bad:?} is not a component (accepted: {})",
                CONNECTION_COMPONENTS.join(", ")
            ),
        )
    })
}

/// A list of strings (`["a", "b"]`), or one string.
fn strings(node: &Node, block: &str) -> R<Vec<String>> {
    match &node.kind {
        Kind::List(items) => items.iter().map(|i| string(i, block)).collect(),
        _ => Ok(vec![string(node, block)?]),
    }
}

pub(super) fn not_supported(entry: &Entry, block: &str, why: &str) -> HclError {
    err(
        entry.node.line,
        block,
        format!("{:?} is not supported: {why}", entry.key),
    )
}

const TOP: &[&str] = &[
    "vault",
    "auto_auth",
    "template",
    "template_config",
    "exit_after_auth",
    "pid_file",
    "disable_idle_connections",
    "disable_keep_alives",
    "log_level",
    "log_format",
    "listener",
    "cache",
    "api_proxy",
    "telemetry",
];

pub(super) fn file(root: &Node) -> R<FileConfig> {
    let mut out = FileConfig::default();
    let (mut vault, mut auto_auth, mut template_config) = (None, None, None);
    let (mut idle, mut keep) = (None, None);
    let (mut cache, mut api_proxy): (Option<Cache>, Option<(usize, Option<UseAutoAuthToken>)>) = (None, None);
    for entry in object(root, "")? {
        let node = &entry.node;
        match entry.key.as_str() {
            "vault" => once(&mut vault, entry, "", self::vault(node)?)?,
            "auto_auth" => once(&mut auto_auth, entry, "", self::auto_auth(node)?)?,
            "template" => {
                for t in each(node) {
                    out.templates.push(template(t)?);
                }
            }
            "template_config" => once(&mut template_config, entry, "", self::template_config(node)?)?,
            "exit_after_auth" => out.exit_after_auth = boolean(node, "exit_after_auth")?,
            "pid_file" => out.pid_file = Some(string(node, "pid_file")?).filter(|p| !p.is_empty()),
            "disable_idle_connections" => once(&mut idle, entry, "", components(node, &entry.key)?)?,
            "disable_keep_alives" => once(&mut keep, entry, "", components(node, &entry.key)?)?,
            // vault-k8s always sets VAULT_LOG_LEVEL / VAULT_LOG_FORMAT, which override the file
            "log_level" | "log_format" => {
                string(node, &entry.key)?;
            }
            "log_file" => {
                return Err(not_supported(
                    entry,
                    "",
                    "the agent logs to stderr, which the kubelet keeps",
                ));
            }
            "exec" | "env_template" => {
                return Err(not_supported(
                    entry,
                    "",
                    "Vault Agent's process supervisor mode (run the app itself)",
                ));
            }
            "listener" => {
                for l in each(node) {
                    out.listeners.push(listener(&entry.labels, l)?);
                }
            }
            "cache" => once(&mut cache, entry, "", self::cache(node)?)?,
            "api_proxy" => once(&mut api_proxy, entry, "", self::api_proxy(node)?)?,
            "telemetry" => once(&mut out.telemetry, entry, "", self::telemetry(node)?)?,
            _ => return Err(unknown(entry, "", TOP)),
        }
    }
    out.vault = vault.unwrap_or_default();
    out.vault.disable_idle_connections = idle.unwrap_or_default();
    out.vault.disable_keep_alives = keep.unwrap_or_default();
    out.auto_auth = auto_auth;
    out.template_config = template_config;
    // Vault Agent: api_proxy's use_auto_auth_token supersedes the cache's
    if let Some((line, Some(token))) = api_proxy {
        match cache.as_mut() {
            Some(c) => c.use_auto_auth_token = token,
            None if token != UseAutoAuthToken::False => {
                return Err(err(
                    line,
                    "api_proxy",
                    "use_auto_auth_token without a cache {} block: ferrovault-agent's proxy adds the \
                     auto-auth token through its cache; add cache {}",
                ));
            }
            None => {}
        }
    }
    out.cache = cache;
    Ok(out)
}

fn vault(node: &Node) -> R<VaultConnection> {
    const KEYS: &[&str] = &[
        "address",
        "ca_cert",
        "ca_path",
        "client_cert",
        "client_key",
        "tls_skip_verify",
        "tls_server_name",
        "retry",
    ];
    let b = "vault";
    let mut v = VaultConnection::default();
    for entry in object(node, b)? {
        let n = &entry.node;
        let s = || string(n, b).map(|s| Some(s).filter(|s| !s.is_empty()));
        match entry.key.as_str() {
            "address" => v.address = string(n, b)?,
            "ca_cert" => v.ca_cert = s()?,
            "ca_path" => v.ca_path = s()?,
            "client_cert" => v.client_cert = s()?,
            "client_key" => v.client_key = s()?,
            "tls_skip_verify" => v.tls_skip_verify = boolean(n, b)?,
            "tls_server_name" => v.tls_server_name = s()?,
            "retry" => {
                for r in object(n, "vault.retry")? {
                    if r.key != "num_retries" {
                        return Err(unknown(r, "vault.retry", &["num_retries"]));
                    }
                    // Vault Agent: 0 = the default (12), -1 = no retries (one attempt)
                    v.max_retries = match integer(&r.node, "vault.retry")? {
                        0 => None,
                        -1 => Some(1),
                        n if n > 0 => Some(u32::try_from(n).unwrap_or(u32::MAX)),
                        n => {
                            return Err(err(
                                r.node.line,
                                "vault.retry",
                                format!("num_retries {n} is not -1, 0 or a positive number"),
                            ));
                        }
                    };
                }
            }
            _ => return Err(unknown(entry, b, KEYS)),
        }
    }
    Ok(v)
}

fn auto_auth(node: &Node) -> R<AutoAuth> {
    let b = "auto_auth";
    let mut method = None;
    let mut sinks = Vec::new();
    for entry in object(node, b)? {
        match entry.key.as_str() {
            "method" => once(&mut method, entry, b, self::method(&entry.labels, &entry.node)?)?,
            "sink" => {
                for s in each(&entry.node) {
                    sinks.push(sink(&entry.labels, s)?);
                }
            }
            _ => return Err(unknown(entry, b, &["method", "sink"])),
        }
    }
    let method = method.ok_or_else(|| err(node.line, b, "no method block: name the login method"))?;
    Ok(AutoAuth { method, sinks })
}

/// The type of a labelled block (`method "kubernetes" { … }`) or its `type = "…"`.
pub(super) fn block_type(labels: &[String], node: &Node, block: &str) -> R<String> {
    let from_key = object(node, block)?.iter().find(|e| e.key == "type");
    match (labels.first(), from_key) {
        (Some(label), _) => Ok(label.clone()),
        (None, Some(t)) => string(&t.node, block),
        (None, None) => Err(err(
            node.line,
            block,
            "no type: write a label (\"<type>\" { … }) or type = \"…\"",
        )),
    }
}

fn method(labels: &[String], node: &Node) -> R<AuthMethod> {
    const KEYS: &[&str] = &[
        "type",
        "mount_path",
        "namespace",
        "min_backoff",
        "max_backoff",
        "exit_on_err",
        "config",
    ];
    let b = "auto_auth.method";
    let kind = block_type(labels, node, b)?;
    if !INJECTABLE_AUTH_METHODS.contains(&kind.as_str()) {
        return Err(err(
            node.line,
            b,
            format!(
                "auth method {kind:?} is not supported (supported: {})",
                INJECTABLE_AUTH_METHODS.join(", ")
            ),
        ));
    }
    let mut m = AuthMethod {
        mount_path: format!("auth/{kind}"),
        kind,
        ..AuthMethod::default()
    };
    for e in object(node, b)? {
        let n = &e.node;
        match e.key.as_str() {
            "type" => {}
            "mount_path" => m.mount_path = string(n, b)?.trim_start_matches('/').to_owned(),
            "namespace" => m.namespace = Some(string(n, b)?).filter(|s| !s.is_empty()),
            "min_backoff" => m.min_backoff = Some(duration(n, b)?),
            "max_backoff" => m.max_backoff = Some(duration(n, b)?),
            "exit_on_err" => m.exit_on_err = boolean(n, b)?,
            "config" => m.config = config_map(n, "auto_auth.method.config")?,
            "wrap_ttl" => return Err(not_supported(e, b, "response-wrapped login tokens")),
            _ => return Err(unknown(e, b, KEYS)),
        }
    }
    Ok(m)
}

/// `config = { … }`: values as strings, as vault-k8s writes them.
fn config_map(node: &Node, block: &str) -> R<BTreeMap<String, String>> {
    object(node, block)?
        .iter()
        .map(|e| Ok((e.key.clone(), string(&e.node, block)?)))
        .collect()
}

fn sink(labels: &[String], node: &Node) -> R<Sink> {
    let b = "auto_auth.sink";
    let kind = block_type(labels, node, b)?;
    if kind != "file" {
        return Err(err(
            node.line,
            b,
            format!("sink type {kind:?} is not supported (supported: file)"),
        ));
    }
    let mut sink = None;
    for e in object(node, b)? {
        match e.key.as_str() {
            "type" => {}
            "config" => {
                let mut s = Sink::default();
                let mut has_path = false;
                for c in object(&e.node, "auto_auth.sink.config")? {
                    match c.key.as_str() {
                        "path" => {
                            s.path = string(&c.node, "auto_auth.sink.config")?;
                            has_path = true;
                        }
                        "mode" => s.mode = Some(mode(&c.node, "auto_auth.sink.config")?.mode()),
                        _ => return Err(unknown(c, "auto_auth.sink.config", &["path", "mode"])),
                    }
                }
                if !has_path || s.path.is_empty() {
                    return Err(err(
                        e.node.line,
                        "auto_auth.sink.config",
                        "no path: a file sink needs one",
                    ));
                }
                sink = Some(s);
            }
            "wrap_ttl" | "dh_type" | "dh_path" | "aad" | "aad_env_var" | "derive_key" => {
                return Err(not_supported(e, b, "wrapped or encrypted sinks"));
            }
            _ => return Err(unknown(e, b, &["type", "config"])),
        }
    }
    sink.ok_or_else(|| err(node.line, b, "no config block: config = { path = \"…\" }"))
}

fn template(node: &Node) -> R<Template> {
    const KEYS: &[&str] = &[
        "source",
        "contents",
        "destination",
        "create_dest_dirs",
        "perms",
        "error_on_missing_key",
        "left_delimiter",
        "right_delimiter",
        "command",
        "exec",
        "function_denylist",
        "function_blacklist",
        "sandbox_path",
    ];
    let b = "template";
    let mut t = Template {
        left_delimiter: "{{".to_owned(),
        right_delimiter: "}}".to_owned(),
        ..Template::default()
    };
    for e in object(node, b)? {
        let n = &e.node;
        match e.key.as_str() {
            "source" => t.source = Some(string(n, b)?).filter(|s| !s.is_empty()),
            "contents" => t.contents = Some(string(n, b)?),
            "destination" => t.destination = string(n, b)?,
            "create_dest_dirs" => {
                if !boolean(n, b)? {
                    return Err(not_supported(
                        e,
                        b,
                        "false (the agent creates the destination's directories)",
                    ));
                }
            }
            "perms" => t.perms = Some(mode(n, b)?),
            "error_on_missing_key" => t.error_on_missing_key = boolean(n, b)?,
            "left_delimiter" => t.left_delimiter = string(n, b)?,
            "right_delimiter" => t.right_delimiter = string(n, b)?,
            "command" => t.command = Some(command(n, b)?),
            "exec" => {
                for x in object(n, "template.exec")? {
                    match x.key.as_str() {
                        "command" => t.command = Some(command(&x.node, "template.exec")?),
                        _ => return Err(unknown(x, "template.exec", &["command"])),
                    }
                }
            }
            // consul-template merges the deprecated name into the new one
            "function_denylist" | "function_blacklist" => {
                for name in strings(n, b)? {
                    if !t.function_denylist.contains(&name) {
                        t.function_denylist.push(name);
                    }
                }
            }
            "sandbox_path" => {
                let path = string(n, b)?;
                if !path.is_empty() && !path.starts_with('/') {
                    return Err(err(
                        n.line,
                        b,
                        format!("sandbox_path {path:?} is not an absolute path"),
                    ));
                }
                t.sandbox_path = Some(path).filter(|p| !p.is_empty());
            }
            "backup" | "wait" | "error_fatal" | "command_timeout" => {
                return Err(not_supported(e, b, "not in this version of ferrovault-agent"));
            }
            _ => return Err(unknown(e, b, KEYS)),
        }
    }
    if t.destination.is_empty() {
        return Err(err(node.line, b, "no destination: every template needs one"));
    }
    if t.source.is_some() == t.contents.is_some() {
        return Err(err(node.line, b, "set exactly one of source and contents"));
    }
    t.name = t.destination.rsplit('/').next().unwrap_or_default().to_owned();
    Ok(t)
}

fn template_config(node: &Node) -> R<TemplateConfig> {
    const KEYS: &[&str] = &[
        "exit_on_retry_failure",
        "static_secret_render_interval",
        "max_connections_per_host",
        "lease_renewal_threshold",
    ];
    let b = "template_config";
    let mut c = TemplateConfig {
        exit_on_retry_failure: false,
        ..TemplateConfig::default()
    };
    for e in object(node, b)? {
        let n = &e.node;
        match e.key.as_str() {
            "exit_on_retry_failure" => c.exit_on_retry_failure = boolean(n, b)?,
            "static_secret_render_interval" => c.static_secret_render_interval = Some(duration(n, b)?),
            "max_connections_per_host" => {
                c.max_connections_per_host = Some(
                    u64::try_from(integer(n, b)?)
                        .map_err(|_| err(n.line, b, "max_connections_per_host must not be negative"))?,
                );
            }
            "lease_renewal_threshold" => {
                let s = string(n, b)?;
                let f: f64 = s
                    .parse()
                    .ok()
                    .filter(|f| (0.0..=1.0).contains(f))
                    .ok_or_else(|| {
                        err(
                            n.line,
                            b,
                            format!("{s:?} is not a fraction from 0 to 1 such as 0.9"),
                        )
                    })?;
                c.lease_renewal_threshold = Some(f);
            }
            _ => return Err(unknown(e, b, KEYS)),
        }
    }
    Ok(c)
}
