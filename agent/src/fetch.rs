//! Fetching template dependencies from Vault (and the filesystem), Vault Agent style: KV v2 path
//! shimming via `sys/internal/ui/mounts`, the secret struct with lease data, retries with backoff,
//! and when each result must be fetched again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrovault_template::Dependency;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::lease::Lifetime;
use crate::settings::Backoff;
use crate::vault::{TokenClient, api_errors};
use crate::{Error, LastError, Result};

/// One fetched dependency.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// The value the template sees.
    pub value: Value,
    /// When to look again.
    pub lifetime: Lifetime,
}

/// A KV mount found by `sys/internal/ui/mounts/<path>`.
#[derive(Debug, Clone)]
struct Mount {
    path: String,
    kv2: bool,
}

/// Fetches dependencies with one session's client; remembers mounts.
pub struct Fetcher {
    client: Arc<TokenClient>,
    mounts: Mutex<Vec<Mount>>,
    /// Serialises mount lookups so concurrent fetches under one mount look it up once.
    lookup: tokio::sync::Mutex<()>,
    backoff: Backoff,
    max_retries: u32,
    /// Every failed attempt is recorded here, so an init timeout during retries names the cause.
    last_error: LastError,
}

impl Fetcher {
    /// A fetcher for one login session.
    pub fn new(client: Arc<TokenClient>, backoff: Backoff, max_retries: u32, last_error: LastError) -> Self {
        Self {
            client,
            mounts: Mutex::new(Vec::new()),
            lookup: tokio::sync::Mutex::new(()),
            backoff,
            max_retries,
            last_error,
        }
    }

    /// The session's client (lease renewal goes through it too).
    pub fn client(&self) -> &TokenClient {
        &self.client
    }

    /// Fetches `dep` for the template writing `destination`, retrying up to `max_retries` attempts.
    /// A `file` is read only inside `sandbox` when given ([`read_sandboxed`]).
    pub async fn fetch(
        &self,
        dep: &Dependency,
        destination: &Path,
        sandbox: Option<&Path>,
    ) -> Result<Fetched> {
        let mut attempt = 0;
        loop {
            match self.fetch_once(dep, destination, sandbox).await {
                Ok(fetched) => return Ok(fetched),
                Err(err) => {
                    self.last_error.set(&err);
                    attempt += 1;
                    // A 403 is the token's or the policy's: the runner logs in again.
                    if attempt >= self.max_retries || err.is_forbidden() {
                        return Err(err);
                    }
                    let delay = self.backoff.delay(attempt - 1);
                    tracing::warn!(dependency = %describe(dep), error = %err, attempt, retry_in = ?delay, "fetch failed");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn fetch_once(
        &self,
        dep: &Dependency,
        destination: &Path,
        sandbox: Option<&Path>,
    ) -> Result<Fetched> {
        match dep {
            Dependency::Read { path } => {
                let (path, query) = split_query(path);
                let full = self.shim(path, false).await;
                let resp = self.call(Method::GET, "read", &full, query, None).await?;
                if resp.status == StatusCode::NOT_FOUND || resp.body.is_null() {
                    return Err(no_secret(path));
                }
                check(&resp, "read", &full)?;
                if self.is_kv2(path)
                    && resp.body["data"]["metadata"]["deletion_time"]
                        .as_str()
                        .is_some_and(|t| !t.is_empty())
                {
                    return Err(no_secret(path));
                }
                Ok(secret_value(&resp.body))
            }
            Dependency::Write { path, args } => {
                let full = self.shim(path, false).await;
                let mut data: Map<String, Value> = args
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                if self.is_kv2(path) {
                    data = Map::from_iter([("data".to_owned(), Value::Object(data))]);
                }
                let resp = self
                    .call(Method::PUT, "write", &full, "", Some(&Value::Object(data)))
                    .await?;
                check(&resp, "write", &full)?;
                Ok(secret_value(&resp.body))
            }
            Dependency::List { path } => {
                let full = self.shim(path, true).await;
                let list = Method::from_bytes(b"LIST").expect("LIST is a valid method");
                let resp = self.call(list, "list", &full, "", None).await?;
                let mut keys: Vec<String> = if resp.status == StatusCode::NOT_FOUND {
                    Vec::new()
                } else {
                    check(&resp, "list", &full)?;
                    resp.body["data"]["keys"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                        .unwrap_or_default()
                };
                keys.sort();
                Ok(Fetched {
                    value: json!(keys),
                    lifetime: Lifetime::Static { exact: true },
                })
            }
            Dependency::PkiCert { path, args } => {
                if let Some(existing) = crate::pki::reusable(destination) {
                    return Ok(existing);
                }
                let full = self.shim(path, false).await;
                let data: Map<String, Value> = args
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                let resp = self
                    .call(Method::PUT, "write", &full, "", Some(&Value::Object(data)))
                    .await?;
                check(&resp, "write", &full)?;
                Ok(crate::pki::from_response(&resp.body["data"]))
            }
            Dependency::File { path } => {
                let text = match sandbox {
                    None => tokio::fs::read_to_string(path)
                        .await
                        .map_err(Error::io("reading", PathBuf::from(path)))?,
                    Some(sandbox) => {
                        let (path, sandbox) = (PathBuf::from(path), sandbox.to_path_buf());
                        tokio::task::spawn_blocking(move || read_sandboxed(&sandbox, &path))
                            .await
                            .map_err(|e| Error::Client(e.to_string()))??
                    }
                };
                Ok(Fetched {
                    value: Value::String(text),
                    lifetime: Lifetime::Static { exact: false },
                })
            }
        }
    }

    async fn call(
        &self,
        method: Method,
        operation: &'static str,
        path: &str,
        query: &str,
        body: Option<&Value>,
    ) -> Result<crate::vault::Response> {
        let target = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        self.client
            .request(method, &target, body)
            .await
            .map_err(|message| Error::Vault {
                operation,
                path: path.to_owned(),
                message,
                status: None,
            })
    }

    fn is_kv2(&self, path: &str) -> bool {
        self.cached_mount(path).is_some_and(|m| m.kv2)
    }

    fn cached_mount(&self, path: &str) -> Option<Mount> {
        let mounts = self.mounts.lock().expect("mount cache");
        mounts
            .iter()
            .filter(|m| path.starts_with(&m.path) || format!("{path}/") == m.path)
            .max_by_key(|m| m.path.len())
            .cloned()
    }

    /// The API path for a logical path: on KV v2, `data/` (or `metadata/` for LIST) after the mount.
    async fn shim(&self, path: &str, list: bool) -> String {
        let mount = match self.cached_mount(path) {
            Some(mount) => mount,
            None => {
                let _one_at_a_time = self.lookup.lock().await;
                match self.cached_mount(path) {
                    Some(mount) => mount,
                    None => {
                        let mount = self.lookup_mount(path).await;
                        self.mounts.lock().expect("mount cache").push(mount.clone());
                        mount
                    }
                }
            }
        };
        if !mount.kv2 {
            return path.to_owned();
        }
        shim_kv2(path, &mount.path, list)
    }

    async fn lookup_mount(&self, path: &str) -> Mount {
        let lookup = format!("sys/internal/ui/mounts/{path}");
        match self.client.request(Method::GET, &lookup, None).await {
            Ok(resp) if resp.status.is_success() => {
                let data = &resp.body["data"];
                let mount_path = data["path"].as_str().unwrap_or_default().to_owned();
                let kv2 = data["type"] == "kv" && data["options"]["version"] == "2";
                if mount_path.is_empty() {
                    // No mount information: assume KV v1 for this first path segment.
                    let first = path.split('/').next().unwrap_or(path);
                    return Mount {
                        path: format!("{first}/"),
                        kv2: false,
                    };
                }
                Mount {
                    path: mount_path,
                    kv2,
                }
            }
            _ => {
                let first = path.split('/').next().unwrap_or(path);
                Mount {
                    path: format!("{first}/"),
                    kv2: false,
                }
            }
        }
    }
}

/// Inserts `data/` (or `metadata/` when listing) after `mount` unless the rest already starts with
/// `data/` or `metadata/`.
pub fn shim_kv2(path: &str, mount: &str, list: bool) -> String {
    let rest = path.strip_prefix(mount).unwrap_or("");
    let prefix = if list { "metadata/" } else { "data/" };
    if rest.starts_with("data/") || rest.starts_with("metadata/") || rest == "data" || rest == "metadata" {
        return path.to_owned();
    }
    format!("{mount}{prefix}{rest}")
}

fn split_query(path: &str) -> (&str, &str) {
    match path.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path, ""),
    }
}

fn check(resp: &crate::vault::Response, operation: &'static str, path: &str) -> Result<()> {
    if resp.status.is_success() {
        Ok(())
    } else {
        Err(Error::Vault {
            operation,
            path: path.to_owned(),
            message: api_errors(resp),
            status: Some(resp.status.as_u16()),
        })
    }
}

fn no_secret(path: &str) -> Error {
    Error::Vault {
        operation: "read",
        path: path.to_owned(),
        message: format!("no secret exists at {path}"),
        status: Some(404),
    }
}

/// A human name of a dependency (paths only, never arguments: they may carry secrets).
pub fn describe(dep: &Dependency) -> String {
    match dep {
        Dependency::Read { path } => format!("secret {path:?}"),
        Dependency::Write { path, .. } => format!("secret {path:?} (write)"),
        Dependency::List { path } => format!("secrets {path:?}"),
        Dependency::PkiCert { path, .. } => format!("pkiCert {path:?}"),
        Dependency::File { path } => format!("file {path:?}"),
    }
}

/// Vault's API secret as the struct consul-template hands to templates.
pub fn secret_value(body: &Value) -> Fetched {
    let lease_id = body["lease_id"].as_str().unwrap_or_default();
    let lease = Duration::from_secs(body["lease_duration"].as_u64().unwrap_or(0));
    let renewable = body["renewable"].as_bool().unwrap_or(false);
    let data = &body["data"];
    let auth = match &body["auth"] {
        Value::Object(a) => json!({
            "ClientToken": a.get("client_token").cloned().unwrap_or(Value::Null),
            "Accessor": a.get("accessor").cloned().unwrap_or(Value::Null),
            "Policies": a.get("policies").cloned().unwrap_or(Value::Null),
            "Metadata": a.get("metadata").cloned().unwrap_or(Value::Null),
            "LeaseDuration": a.get("lease_duration").cloned().unwrap_or(Value::Null),
            "Renewable": a.get("renewable").cloned().unwrap_or(Value::Null),
        }),
        _ => Value::Null,
    };
    let wrap = match &body["wrap_info"] {
        Value::Object(w) => json!({
            "Token": w.get("token").cloned().unwrap_or(Value::Null),
            "TTL": w.get("ttl").cloned().unwrap_or(Value::Null),
            "CreationTime": w.get("creation_time").cloned().unwrap_or(Value::Null),
            "WrappedAccessor": w.get("wrapped_accessor").cloned().unwrap_or(Value::Null),
        }),
        _ => Value::Null,
    };
    let value = json!({
        "RequestID": body["request_id"].clone(),
        "LeaseID": lease_id,
        "LeaseDuration": lease.as_secs(),
        "Renewable": renewable,
        "Data": data.clone(),
        "Warnings": body["warnings"].clone(),
        "Auth": auth,
        "WrapInfo": wrap,
    });
    let lifetime = if let (Some(_), Some(ttl)) = (data.get("rotation_period"), data["ttl"].as_u64()) {
        Lifetime::After(Duration::from_secs(ttl + 1))
    } else if renewable && !lease_id.is_empty() && !lease.is_zero() {
        Lifetime::Renewable {
            lease_id: lease_id.to_owned(),
            duration: lease,
        }
    } else if !lease.is_zero() {
        Lifetime::Lease(lease)
    } else if let Some(expiration) = data["expiration"].as_u64() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        Lifetime::Expires(Duration::from_secs(expiration.saturating_sub(now)))
    } else {
        Lifetime::Static { exact: false }
    };
    Fetched { value, lifetime }
}

/// Cache key type used by the runner.
pub type Cache = HashMap<Dependency, Fetched>;

/// consul-template's `sandbox_path` check: `path` with every symlink resolved (relative paths against
/// the agent's working directory, as consul-template) must lie inside `sandbox` (resolved too).
/// `Err`: consul-template's message.
pub fn in_sandbox(sandbox: &Path, path: &Path) -> std::result::Result<(), String> {
    let outside = || format!("error calling file: '{}' is outside of sandbox", path.display());
    let real = std::fs::canonicalize(path).map_err(|_| outside())?;
    let sandbox = std::fs::canonicalize(sandbox).unwrap_or_else(|_| sandbox.to_path_buf());
    if real.starts_with(&sandbox) {
        Ok(())
    } else {
        Err(outside())
    }
}

/// Reads `path` for a template with a `sandbox_path`, without a race: the file is opened (following
/// links), then the path the kernel reports for the open file (`/proc/self/fd/N`) must lie inside
/// `sandbox`; only then is it read, from the same handle. A swap after the check changes nothing.
pub fn read_sandboxed(sandbox: &Path, path: &Path) -> Result<String> {
    use std::io::Read as _;
    use std::os::fd::AsRawFd as _;
    let refused = |why: String| Error::Template {
        name: "file".to_owned(),
        source: ferrovault_template::TemplateError {
            line: 1,
            column: 1,
            message: why,
        },
    };
    let mut file = std::fs::File::open(path).map_err(Error::io("reading", path))?;
    let opened = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(Error::io("resolving", path))?;
    let sandbox_real = std::fs::canonicalize(sandbox).unwrap_or_else(|_| sandbox.to_path_buf());
    if !opened.starts_with(&sandbox_real) {
        return Err(refused(format!(
            "error calling file: '{}' is outside of sandbox",
            path.display()
        )));
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(Error::io("reading", path))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_path_confines_file_to_its_directory_links_resolved() {
        let root = tempfile::tempdir().unwrap();
        let sandbox = root.path().join("sandbox");
        std::fs::create_dir_all(sandbox.join("sub")).unwrap();
        std::fs::write(root.path().join("token"), "s.secret").unwrap();
        std::fs::write(sandbox.join("sub/ok"), "fine").unwrap();
        std::os::unix::fs::symlink(root.path().join("token"), sandbox.join("out")).unwrap();
        std::os::unix::fs::symlink("sub/ok", sandbox.join("in")).unwrap();
        assert_eq!(read_sandboxed(&sandbox, &sandbox.join("sub/ok")).unwrap(), "fine");
        assert_eq!(read_sandboxed(&sandbox, &sandbox.join("in")).unwrap(), "fine");
        in_sandbox(&sandbox, &sandbox.join("in")).unwrap();
        for bad in [
            root.path().join("token"),
            sandbox.join("out"),
            sandbox.join("sub/../out"),
        ] {
            let err = read_sandboxed(&sandbox, &bad).unwrap_err().to_string();
            assert!(err.contains("is outside of sandbox"), "{bad:?}: {err}");
            assert!(!err.contains("s.secret"), "{err}");
            assert!(
                in_sandbox(&sandbox, &bad)
                    .unwrap_err()
                    .contains("is outside of sandbox")
            );
        }
        // a sibling whose name starts with the sandbox's is outside
        std::fs::create_dir_all(root.path().join("sandbox2")).unwrap();
        std::fs::write(root.path().join("sandbox2/x"), "no").unwrap();
        assert!(read_sandboxed(&sandbox, &root.path().join("sandbox2/x")).is_err());
    }

    #[test]
    fn kv2_shim_inserts_data_once() {
        assert_eq!(
            shim_kv2("secret/my-secret", "secret/", false),
            "secret/data/my-secret"
        );
        assert_eq!(
            shim_kv2("secret/data/my-secret", "secret/", false),
            "secret/data/my-secret"
        );
        assert_eq!(
            shim_kv2("secret/metadata/x", "secret/", false),
            "secret/metadata/x"
        );
        assert_eq!(shim_kv2("secret/app", "secret/", true), "secret/metadata/app");
        assert_eq!(shim_kv2("team/kv/a/b", "team/kv/", false), "team/kv/data/a/b");
    }

    #[test]
    fn secret_struct_keeps_raw_data_and_lease() {
        let body = json!({
            "request_id": "r", "lease_id": "", "lease_duration": 2764800, "renewable": false,
            "data": {"username": "alice"}, "warnings": null, "auth": null, "wrap_info": null
        });
        let fetched = secret_value(&body);
        assert_eq!(fetched.value["Data"]["username"], "alice");
        assert_eq!(fetched.value["LeaseDuration"], 2764800);
        assert_eq!(fetched.lifetime, Lifetime::Lease(Duration::from_secs(2764800)));
        let kv2 = secret_value(&json!({"lease_duration": 0, "data": {"data": {}, "metadata": {}}}));
        assert_eq!(kv2.lifetime, Lifetime::Static { exact: false });
    }
}
