//! Secret discovery (vault-k8s §1.2): which files the agent renders, from what, to where.

use std::collections::BTreeMap;

use ferrovault_contract::DefaultTemplate;
use ferrovault_contract::actions::{self, ReloadAction};

use super::annotations::{Annotations, parse_bool};
use super::catalogue as cat;
use super::error::InjectError;

/// Where a secret's template text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateBody {
    /// `agent-inject-template-<name>`.
    Inline(String),
    /// `agent-inject-template-file-<name>`: a path inside the agent container.
    File(String),
    /// The default template reading the secret's path.
    Default(DefaultTemplate),
}

/// One file the agent renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    /// The name as written in the annotation key (per-secret annotations use it).
    pub raw_name: String,
    /// The name used for the file (lower-cased unless preserve-case).
    pub name: String,
    /// `agent-inject-secret-<name>` (trimmed), if set.
    pub vault_path: Option<String>,
    /// The template.
    pub body: TemplateBody,
    /// Mount path of the secrets volume the file lands in.
    pub mount_path: String,
    /// Absolute, normalised destination inside `mount_path`.
    pub destination: String,
    /// `agent-inject-perms-<name>`.
    pub perms: Option<ferrovault_contract::FileMode>,
    /// `agent-inject-command-<name>`.
    pub command: Option<ferrovault_contract::Command>,
    /// `error-on-missing-key-<name>`.
    pub error_on_missing_key: bool,
    /// `agent-template-left-delim-<name>` (default `{{`).
    pub left_delimiter: String,
    /// `agent-template-right-delim-<name>` (default `}}`).
    pub right_delimiter: String,
    /// `ferrovault.dev/env-<name>`: keys that become env vars of the app containers.
    pub env_keys: Vec<String>,
    /// `ferrovault.dev/reload-{signal,http,exec}-<name>`, in that order.
    pub reload: Vec<ReloadAction>,
}

impl SecretSpec {
    /// The text of the template, if inline or default (a file template has none here).
    pub fn contents(&self) -> Option<String> {
        match &self.body {
            TemplateBody::Inline(text) => Some(text.clone()),
            TemplateBody::File(_) => None,
            TemplateBody::Default(kind) => Some(kind.contents(self.vault_path.as_deref().unwrap_or(""))),
        }
    }

    /// The annotation key holding the inline template.
    pub fn template_key(&self, annotations: &Annotations<'_>) -> String {
        annotations.key(cat::INJECT_TEMPLATE.of(&self.raw_name))
    }
}

/// Raw secret names defined by the annotations, in order of first appearance by key, deduplicated.
///
/// A key defines a secret when its value is non-blank and it starts with `agent-inject-secret-`,
/// `agent-inject-template-file-` or `agent-inject-template-` (first matching prefix wins) followed by a
/// non-empty name.
pub fn discover_names(annotations: &Annotations<'_>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    // The file one first: its name starts with the template one's.
    let defining = [
        &cat::INJECT_SECRET,
        &cat::INJECT_TEMPLATE_FILE,
        &cat::INJECT_TEMPLATE,
    ];
    for (_, raw, entry) in annotations.with_prefixes(&defining) {
        if entry.value.trim().is_empty() {
            continue;
        }
        if !raw.is_empty() && !names.iter().any(|n| n == raw) {
            names.push(raw.to_owned());
        }
    }
    names
}

/// Parses one reload annotation's value (`Err`: what is accepted).
type ReloadReader = fn(&str) -> Result<ReloadAction, String>;

/// Builds every secret, sorted by file name. `global_mount` is `secret-volume-path` (normalised).
pub fn parse(
    annotations: &Annotations<'_>,
    global_mount: &str,
    default_template: DefaultTemplate,
    global_preserve_case: bool,
) -> Result<Vec<SecretSpec>, InjectError> {
    let mut secrets = Vec::new();
    for raw in discover_names(annotations) {
        let per = |entry: &'static cat::Annotation| entry.of(&raw);
        let preserve = match annotations.get(per(&cat::PRESERVE_SECRET_CASE_FOR)) {
            Some(e) => parse_bool(e)?,
            None => global_preserve_case,
        };
        let name = if preserve { raw.clone() } else { raw.to_lowercase() };
        let vault_path = annotations
            .value(per(&cat::INJECT_SECRET))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let body = match (
            annotations.non_empty(per(&cat::INJECT_TEMPLATE)),
            annotations.non_empty(per(&cat::INJECT_TEMPLATE_FILE)),
        ) {
            (Some(text), _) => TemplateBody::Inline(text.to_owned()),
            (None, Some(file)) => TemplateBody::File(file.trim().to_owned()),
            (None, None) => TemplateBody::Default(default_template),
        };
        let mount_key = per(&cat::SECRET_VOLUME_PATH_FOR);
        let mount_path = match annotations.non_empty(mount_key) {
            Some(p) => mount_path(&annotations.key(mount_key), p)?,
            None => global_mount.to_owned(),
        };
        let file_key = per(&cat::INJECT_FILE);
        // the annotation that names the file; its key is built only for an error
        let (file, file_name) = match annotations.non_empty(file_key) {
            Some(file) => (file, file_key),
            None => (name.as_str(), per(&cat::INJECT_SECRET)),
        };
        let destination = destination(&mount_path, file).map_err(|reason| InjectError::Destination {
            name: name.clone(),
            key: annotations.key(file_name),
            mount_path: mount_path.clone(),
            reason,
        })?;
        let perms = match annotations.get(per(&cat::INJECT_PERMS)) {
            Some(e) if !e.value.is_empty() => Some(e.value.parse().ok().filter(|_| is_octal_mode(e.value)).ok_or_else(|| {
                InjectError::invalid(
                    e.key,
                    e.value,
                    "an octal file mode from 000 to 0777, such as 0600 or 0440 (setuid, setgid and sticky bits are refused)",
                )
            })?),
            _ => None,
        };
        let error_on_missing_key = annotations.bool_or(per(&cat::ERROR_ON_MISSING_KEY), false)?;
        let delim = |entry: &'static cat::Annotation, default: &str| {
            annotations.non_empty(per(entry)).unwrap_or(default).to_owned()
        };
        let command_key = per(&cat::INJECT_COMMAND);
        // The agent runs commands without a shell: one it could not run refuses the pod now.
        let command = match annotations.non_empty(command_key) {
            None => None,
            Some(text) => Some(text.parse::<ferrovault_contract::Command>().map_err(|_| {
                let why = ferrovault_contract::command_argv(text).err().unwrap_or_default();
                InjectError::invalid_secret(
                    annotations.key(command_key),
                    format!("a command the agent can run without a shell, but {why}"),
                )
            })?),
        };
        let env_keys = match annotations.get(per(&cat::ENV)) {
            None => Vec::new(),
            Some(e) => actions::env_keys(e.value).map_err(|why| {
                InjectError::invalid(
                    e.key,
                    e.value,
                    format!("comma-separated env file keys such as DB_USER,DB_PASSWORD, but {why}"),
                )
            })?,
        };
        let mut reload = Vec::new();
        let readers: [(&'static cat::Annotation, ReloadReader); 3] = [
            (&cat::RELOAD_SIGNAL, actions::signal_action),
            (&cat::RELOAD_HTTP, actions::http_action),
            (&cat::RELOAD_EXEC, actions::exec_action),
        ];
        for (entry, read) in readers {
            if let Some(e) = annotations.get(per(entry)) {
                reload
                    .push(read(e.value).map_err(|expected| InjectError::invalid(e.key, e.value, expected))?);
            }
        }
        secrets.push(SecretSpec {
            env_keys,
            reload,
            command,
            left_delimiter: delim(&cat::TEMPLATE_LEFT_DELIM, "{{"),
            right_delimiter: delim(&cat::TEMPLATE_RIGHT_DELIM, "}}"),
            raw_name: raw,
            name,
            vault_path,
            body,
            mount_path,
            destination,
            perms,
            error_on_missing_key,
        });
    }
    secrets.sort_by(|a, b| a.name.cmp(&b.name).then(a.raw_name.cmp(&b.raw_name)));
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for s in &secrets {
        if let Some(first) = seen.insert(&s.destination, &s.name) {
            return Err(InjectError::DuplicateDestination {
                first: first.to_owned(),
                second: s.name.clone(),
                destination: s.destination.clone(),
            });
        }
    }
    Ok(secrets)
}

/// Validates and normalises a mount path (`secret-volume-path[-<name>]`): absolute, no `..`.
pub fn mount_path(key: &str, value: &str) -> Result<String, InjectError> {
    let expected = "an absolute directory path without \"..\" such as /vault/secrets";
    if !value.starts_with('/') {
        return Err(InjectError::invalid(key, value, expected));
    }
    let parts = normalise(value).ok_or_else(|| InjectError::invalid(key, value, expected))?;
    if parts.is_empty() {
        return Err(InjectError::invalid(key, value, expected));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// `path.Join(mount, file)` with `file` re-rooted under `mount`; refuses `..` and an empty file name.
pub fn destination(mount: &str, file: &str) -> Result<String, &'static str> {
    let parts = normalise(file).ok_or("\"..\" is not allowed in a file name")?;
    if parts.is_empty() {
        return Err("the file name is empty");
    }
    let mount = mount.trim_end_matches('/');
    let mut path = String::with_capacity(mount.len() + file.len() + 1);
    path.push_str(mount);
    for part in parts {
        path.push('/');
        path.push_str(part);
    }
    Ok(path)
}

/// Splits a path into its components, dropping empty and `.` ones; `None` if any is `..`.
fn normalise(path: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts)
}

fn is_octal_mode(value: &str) -> bool {
    (3..=5).contains(&value.len())
        && value.bytes().all(|b| (b'0'..=b'7').contains(&b))
        && u32::from_str_radix(value, 8).is_ok_and(|m| m <= 0o777)
}
