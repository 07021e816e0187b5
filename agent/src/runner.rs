//! The render loop: log in, fetch what the templates need (concurrently, bounded, shared cache),
//! render, write changed files, then — outside init mode — keep every secret fresh and log in again
//! when the token must be replaced.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ferrovault_template::{Compiled, DataSource, Dependency, Rendered, TemplateSource};
use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::auth::{self, Session};
use crate::credential::AutoAuth;
use crate::fetch::{Fetched, Fetcher, describe};
use crate::files::{self, DEFAULT_MODE};
use crate::lease::{self, Entry, Policy, Renewal};
use crate::metrics::Metrics;
use crate::reload::{ReloadStats, Reloads};
use crate::settings::{Settings, TemplateSettings};
use crate::vault::Vault;
use crate::{Error, LastError, Result};

/// Render passes per template before giving up (each pass fetches what the last one found missing).
const MAX_PASSES: usize = 10;
/// Timeout of a template's `command`.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the agent runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Render everything once, then exit.
    Init,
    /// Keep rendering until stopped.
    Sidecar,
    /// Like sidecar, and create the ready marker after the first complete render.
    Native,
}

struct Slot {
    settings: TemplateSettings,
    destination: files::Confined,
    compiled: Compiled,
    deps: BTreeSet<Dependency>,
}

/// A template's data source over the cache, remembering what the template asked for.
struct Recorder<'a> {
    cache: &'a HashMap<Dependency, Entry>,
    seen: RefCell<BTreeSet<Dependency>>,
    /// The template's `sandbox_path`: a `file` outside it is refused even when another template
    /// (without one) had it read into the cache.
    sandbox: Option<&'a std::path::Path>,
    /// The first `file` refused by the sandbox (its message).
    refused: RefCell<Option<String>>,
}

impl DataSource for Recorder<'_> {
    fn get(&self, dep: &Dependency) -> Option<Value> {
        if let (Some(sandbox), Dependency::File { path }) = (self.sandbox, dep)
            && let Err(why) = crate::fetch::in_sandbox(sandbox, std::path::Path::new(path))
        {
            self.refused.borrow_mut().get_or_insert(why);
            return None;
        }
        self.seen.borrow_mut().insert(dep.clone());
        self.cache.get(dep).map(|e| e.value.clone())
    }
}

/// The agent: settings, compiled templates, Vault connection.
pub struct Agent {
    settings: Arc<Settings>,
    vault: Vault,
    slots: Vec<Slot>,
    sinks: Vec<(files::Confined, u32)>,
    policy: Policy,
    last_error: LastError,
    metrics: Arc<Metrics>,
    /// The current auto-auth token and its accessor, for the listener's proxy.
    token: watch::Sender<Option<AutoAuth>>,
    /// Reload actions run only once the app may be running (not in init mode).
    reloads: Reloads,
    reload_armed: bool,
}

impl Agent {
    /// Compiles every template and checks every output path before touching Vault.
    pub fn new(settings: Settings, last_error: LastError) -> Result<Self> {
        let vault = Vault::new(&settings.vault)?;
        let mut slots = Vec::with_capacity(settings.templates.len());
        for t in &settings.templates {
            let text = match (&t.contents, &t.source) {
                (Some(text), _) => text.clone(),
                (None, Some(source)) => {
                    std::fs::read_to_string(source).map_err(Error::io("reading template", source))?
                }
                (None, None) => String::new(),
            };
            let compiled = Compiled::compile(&TemplateSource {
                text: &text,
                left_delim: &t.left_delimiter,
                right_delim: &t.right_delimiter,
                error_on_missing_key: t.error_on_missing_key,
            })
            .map_err(|source| Error::Template {
                name: t.name.clone(),
                source,
            })?
            .deny(&t.function_denylist);
            let destination = files::confine(
                &format!("template {:?} destination", t.name),
                &t.destination,
                &settings.secrets_dirs,
            )?;
            slots.push(Slot {
                settings: t.clone(),
                destination,
                compiled,
                deps: BTreeSet::new(),
            });
        }
        let sink_dirs = settings.sink_dirs();
        let sinks = settings
            .sinks
            .iter()
            .map(|s| Ok((files::confine("token sink", &s.path, &sink_dirs)?, s.mode)))
            .collect::<Result<Vec<_>>>()?;
        let policy = Policy {
            static_interval: settings.static_secret_render_interval,
            renewal_threshold: settings.lease_renewal_threshold,
        };
        let metrics: Arc<Metrics> = Arc::default();
        let reloads = Reloads::new()
            .with_metrics(metrics.clone())
            .with_app_writable(settings.secrets_dirs.clone());
        Ok(Self {
            settings: Arc::new(settings),
            vault,
            slots,
            sinks,
            policy,
            last_error,
            metrics: metrics.clone(),
            token: watch::Sender::new(None),
            reloads,
            reload_armed: false,
        })
    }

    /// The agent's metrics (served on its listeners).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Follows the auto-auth token (`None` until the first login).
    pub fn token(&self) -> watch::Receiver<Option<AutoAuth>> {
        self.token.subscribe()
    }

    /// The agent's Vault client.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Counts a failed render against the template it names.
    fn render_failed(&self, err: &Error) {
        if let Some(name) = err.template() {
            self.metrics.render_failed(name);
        }
    }

    /// Records a freshly fetched lease's expiry, and forgets the leases no longer in `cache`.
    fn note_leases(&self, fresh: &[(Dependency, Duration)], cache: &HashMap<Dependency, Entry>) {
        for (dep, ttl) in fresh {
            self.metrics.lease("template", dep_path(dep), *ttl);
        }
        let held = cache
            .iter()
            .filter(|(_, e)| lease_ttl(&e.lifetime).is_some())
            .map(|(d, _)| dep_path(d).to_owned())
            .collect();
        self.metrics.keep_template_leases(&held);
    }

    /// The reload actions' counters.
    pub fn reload_stats(&self) -> Arc<ReloadStats> {
        self.reloads.stats()
    }

    /// Runs until done (init), until `shutdown` turns true, or until a fatal error.
    pub async fn run(mut self, mode: Mode, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        self.reload_armed = mode != Mode::Init;
        let mut ready = false;
        let mut failures = 0u32;
        // Consecutive sessions whose first render Vault refused with 403.
        let mut forbidden = 0u32;
        'session: loop {
            let last_error = self.last_error.clone();
            let metrics = self.metrics.clone();
            let login = auth::login_with_retry(&self.vault, &self.settings.auth, |e| {
                last_error.set(e);
                metrics.login_failed();
            });
            let session = tokio::select! {
                session = login => session?,
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            };
            tracing::info!(method = self.settings.auth.method.kind(), "authenticated");
            self.metrics.logged_in(session.info.ttl);
            self.token.send_replace(Some(AutoAuth {
                token: session.client.token().clone(),
                accessor: session.info.accessor.clone(),
            }));
            self.write_sinks(&session)?;
            let fetcher = Arc::new(Fetcher::new(
                session.client.clone(),
                self.settings.fetch_backoff,
                self.settings.max_retries,
                self.last_error.clone(),
            ));
            let mut cache = HashMap::new();
            let all: Vec<usize> = (0..self.slots.len()).collect();
            let first = tokio::select! {
                r = self.render(&fetcher, &mut cache, all) => r,
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            };
            if let Err(err) = first {
                self.last_error.set(&err);
                self.render_failed(&err);
                if err.is_forbidden() && forbidden < self.settings.max_retries {
                    // A revoked token is cured by a new login, at once; a missing policy is not,
                    // so later attempts back off and count against the retry budget.
                    let delay = match forbidden {
                        0 => Duration::ZERO,
                        n => self.settings.fetch_backoff.delay(n - 1),
                    };
                    forbidden += 1;
                    tracing::warn!(error = %err, retry_in = ?delay, "permission denied; logging in again");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => continue 'session,
                        _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
                    }
                }
                if mode == Mode::Init || self.settings.exit_on_retry_failure {
                    return Err(err);
                }
                let delay = self.settings.auth.backoff.delay(failures);
                failures = failures.saturating_add(1);
                tracing::error!(error = %err, retry_in = ?delay, "render failed");
                tokio::time::sleep(delay).await;
                continue 'session;
            }
            failures = 0;
            forbidden = 0;
            tracing::info!(templates = self.slots.len(), "all templates rendered");
            if mode == Mode::Init {
                return Ok(());
            }
            if mode == Mode::Native && !ready {
                let marker = files::Confined::own(&self.settings.ready_file)?;
                files::write_atomic(&marker, b"ready\n", Some(0o644), DEFAULT_MODE)?;
                ready = true;
            }
            let metrics = self.metrics.clone();
            let keep_alive = auth::keep_alive(&session, move |ttl| metrics.token_renewed(ttl));
            tokio::pin!(keep_alive);
            loop {
                let next = cache.values().map(|e: &Entry| e.due).min();
                let sleep = tokio::time::sleep_until(
                    next.unwrap_or_else(|| Instant::now() + Duration::from_secs(86400)),
                );
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => {
                        if self.settings.revoke_on_shutdown {
                            match session.client.revoke_self().await {
                                Ok(()) => tracing::info!("token revoked"),
                                Err(err) => tracing::warn!(error = %err, "token revocation failed"),
                            }
                        }
                        return Ok(());
                    }
                    _ = &mut keep_alive => {
                        self.metrics.token_lost();
                        tracing::info!("token must be replaced; logging in again");
                        continue 'session;
                    }
                    _ = sleep => {
                        match self.refresh(&fetcher, &mut cache).await {
                            Ok(()) => {}
                            Err(err) => {
                                self.last_error.set(&err);
                                self.render_failed(&err);
                                if err.is_forbidden() {
                                    // Typically a revoked token: log in again now, not after retries.
                                    tracing::warn!(error = %err, "permission denied; logging in again");
                                    continue 'session;
                                }
                                if self.settings.exit_on_retry_failure {
                                    return Err(err);
                                }
                                tracing::error!(error = %err, "refresh failed; keeping the last rendered files");
                            }
                        }
                    }
                }
            }
        }
    }

    fn write_sinks(&self, session: &Session) -> Result<()> {
        for (path, mode) in &self.sinks {
            if files::write_atomic(
                path,
                session.client.token().expose().as_bytes(),
                Some(*mode),
                *mode,
            )? {
                tracing::info!(sink = %path.path().display(), "token written");
            }
        }
        Ok(())
    }

    /// Renders the templates `pending` until complete, fetching what they miss.
    async fn render(
        &mut self,
        fetcher: &Arc<Fetcher>,
        cache: &mut HashMap<Dependency, Entry>,
        mut pending: Vec<usize>,
    ) -> Result<()> {
        let mut wanted: BTreeMap<Dependency, usize> = BTreeMap::new();
        for &i in &pending {
            for dep in self.slots[i].compiled.static_dependencies() {
                if !cache.contains_key(&dep) {
                    wanted.entry(dep).or_insert(i);
                }
            }
        }
        for _ in 0..MAX_PASSES {
            if !wanted.is_empty() {
                let fetched = self.fetch_all(fetcher, std::mem::take(&mut wanted)).await?;
                let mut fresh = Vec::new();
                for (dep, fetched) in fetched {
                    if let Some(ttl) = lease_ttl(&fetched.lifetime) {
                        fresh.push((dep.clone(), ttl));
                    }
                    cache.insert(dep, self.entry(fetched));
                }
                self.note_leases(&fresh, cache);
            }
            let mut still = Vec::new();
            for i in pending {
                let slot = &self.slots[i];
                let recorder = Recorder {
                    cache: &*cache,
                    seen: RefCell::new(BTreeSet::new()),
                    sandbox: slot.settings.sandbox_path.as_deref(),
                    refused: RefCell::new(None),
                };
                let rendered = slot.compiled.render(&recorder);
                if let Some(message) = recorder.refused.take() {
                    return Err(Error::Template {
                        name: slot.settings.name.clone(),
                        source: ferrovault_template::TemplateError {
                            line: 1,
                            column: 1,
                            message,
                        },
                    });
                }
                let rendered = rendered.map_err(|source| Error::Template {
                    name: slot.settings.name.clone(),
                    source,
                })?;
                match rendered {
                    Rendered::Complete(bytes) => {
                        let seen = recorder.seen.into_inner();
                        self.slots[i].deps = seen;
                        self.write(i, &bytes).await?;
                        self.metrics.rendered(&self.slots[i].settings.name);
                    }
                    Rendered::Incomplete { missing } => {
                        for dep in missing {
                            if !cache.contains_key(&dep) {
                                wanted.entry(dep).or_insert(i);
                            }
                        }
                        still.push(i);
                    }
                }
            }
            pending = still;
            if pending.is_empty() {
                return Ok(());
            }
            if wanted.is_empty() {
                break;
            }
        }
        Err(Error::TooManyPasses {
            name: self.slots[pending[0]].settings.name.clone(),
            passes: MAX_PASSES,
        })
    }

    async fn write(&self, i: usize, bytes: &[u8]) -> Result<()> {
        let slot = &self.slots[i];
        let (env_bytes, env_warnings) = if slot.settings.env_keys.is_empty() {
            (None, Vec::new())
        } else {
            let (bytes, warnings) =
                crate::envfile::prepare(bytes, &slot.settings.env_keys, slot.settings.env_format).map_err(
                    |message| Error::EnvFile {
                        name: slot.settings.name.clone(),
                        message,
                    },
                )?;
            (Some(bytes), warnings)
        };
        let bytes = env_bytes.as_deref().unwrap_or(bytes);
        // a reload is for an app that may have read the old file: not after the first render
        let replaces = std::fs::symlink_metadata(slot.destination.path()).is_ok();
        let perms = if slot.settings.env_keys.is_empty() {
            slot.settings.perms
        } else {
            Some(crate::envfile::mode(slot.settings.perms))
        };
        let changed = files::write_atomic(&slot.destination, bytes, perms, DEFAULT_MODE)?;
        if changed {
            tracing::info!(template = %slot.settings.name, destination = %slot.destination.path().display(), "rendered");
            for warning in env_warnings {
                tracing::warn!(template = %slot.settings.name, "env file: {warning}");
            }
            if let Some(argv) = &slot.settings.command {
                files::run_command(&slot.settings.name, argv, COMMAND_TIMEOUT).await;
            }
            if replaces && self.reload_armed && !slot.settings.reload.is_empty() {
                self.reloads.run(&slot.settings.name, &slot.settings.reload).await;
            }
        }
        Ok(())
    }

    /// Fetches `wanted` concurrently, at most `max_connections` at a time. The first failure names
    /// the template that needed the dependency.
    async fn fetch_all(
        &self,
        fetcher: &Arc<Fetcher>,
        wanted: BTreeMap<Dependency, usize>,
    ) -> Result<Vec<(Dependency, Fetched)>> {
        let limit = Arc::new(Semaphore::new(self.settings.vault.max_connections.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (dep, i) in wanted {
            let fetcher = fetcher.clone();
            let limit = limit.clone();
            let destination = self.slots[i].destination.path().to_path_buf();
            let sandbox = self.slots[i].settings.sandbox_path.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let result = fetcher.fetch(&dep, &destination, sandbox.as_deref()).await;
                (dep, i, result)
            });
        }
        let mut out = Vec::new();
        let mut first_err = None;
        while let Some(joined) = tasks.join_next().await {
            let Ok((dep, i, result)) = joined else { continue };
            match result {
                Ok(fetched) => out.push((dep, fetched)),
                Err(err) if first_err.is_none() => {
                    first_err = Some(Error::Fetch {
                        name: self.slots[i].settings.name.clone(),
                        source: Box::new(err),
                    });
                    tasks.abort_all();
                }
                Err(_) => {}
            }
        }
        match first_err {
            Some(err) => Err(err),
            None => Ok(out),
        }
    }

    /// Renews or re-fetches what is due, and re-renders the templates whose data changed.
    async fn refresh(
        &mut self,
        fetcher: &Arc<Fetcher>,
        cache: &mut HashMap<Dependency, Entry>,
    ) -> Result<()> {
        let now = Instant::now();
        let due: Vec<Dependency> = cache
            .iter()
            .filter(|(_, e)| e.due <= now)
            .map(|(d, _)| d.clone())
            .collect();
        let mut refetch = BTreeMap::new();
        for dep in due {
            let entry = cache.get_mut(&dep).expect("due entry");
            if lease::renew(entry, fetcher.client(), &self.policy, &describe(&dep)).await
                == Renewal::Rescheduled
            {
                if let Some(ttl) = entry.renewed_for {
                    self.metrics.lease("template", dep_path(&dep), ttl);
                }
                continue;
            }
            let owner = self.slots.iter().position(|s| s.deps.contains(&dep)).unwrap_or(0);
            refetch.insert(dep, owner);
        }
        if refetch.is_empty() {
            return Ok(());
        }
        let result = self.fetch_all(fetcher, refetch.clone()).await;
        let fetched = match result {
            Ok(fetched) => fetched,
            Err(err) => {
                // Keep the old data; try again after the longest fetch backoff.
                let retry = Instant::now() + self.settings.fetch_backoff.cap;
                for dep in refetch.keys() {
                    if let Some(entry) = cache.get_mut(dep) {
                        entry.due = retry;
                    }
                }
                return Err(err);
            }
        };
        let mut changed = BTreeSet::new();
        let mut fresh = Vec::new();
        for (dep, fetched) in fetched {
            if let Some(ttl) = lease_ttl(&fetched.lifetime) {
                fresh.push((dep.clone(), ttl));
            }
            let differs = cache
                .get(&dep)
                .is_none_or(|old| !same_data(&old.value, &fetched.value));
            tracing::debug!(dependency = %describe(&dep), changed = differs, "re-fetched");
            if differs {
                changed.insert(dep.clone());
            }
            cache.insert(dep, self.entry(fetched));
        }
        self.note_leases(&fresh, cache);
        let affected: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].deps.iter().any(|d| changed.contains(d)))
            .collect();
        if !affected.is_empty() {
            self.render(fetcher, cache, affected).await?;
            let used: BTreeSet<&Dependency> = self.slots.iter().flat_map(|s| s.deps.iter()).collect();
            let unused: Vec<Dependency> = cache.keys().filter(|d| !used.contains(d)).cloned().collect();
            for dep in unused {
                cache.remove(&dep);
            }
        }
        Ok(())
    }

    fn entry(&self, fetched: Fetched) -> Entry {
        Entry::new(fetched.value, fetched.lifetime, &self.policy)
    }
}

/// How long a fetched value's lease (or certificate) lasts, if it has one.
fn lease_ttl(lifetime: &lease::Lifetime) -> Option<Duration> {
    match lifetime {
        lease::Lifetime::Renewable { duration: d, .. }
        | lease::Lifetime::Lease(d)
        | lease::Lifetime::Expires(d) => Some(*d),
        lease::Lifetime::Static { .. } | lease::Lifetime::After(_) => None,
    }
}

/// The Vault path (or file) a dependency reads, for the lease metric's label.
fn dep_path(dep: &Dependency) -> &str {
    match dep {
        Dependency::Read { path }
        | Dependency::Write { path, .. }
        | Dependency::List { path }
        | Dependency::PkiCert { path, .. }
        | Dependency::File { path } => path,
    }
}

/// Whether two fetched values carry the same data (the per-request `RequestID` aside).
fn same_data(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| k == "RequestID" || b.get(k) == Some(v))
        }
        _ => a == b,
    }
}
