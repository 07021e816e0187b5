//! Reload actions (`ferrovault.dev/reload-{signal,http,exec}-<secret>`): after a re-render replaced
//! a template's file, tell the app without a shell. A failed action is logged and counted, never
//! fatal: the file is already written and the next change tries again.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferrovault_contract::{ReloadAction, Signal};

use crate::files;

/// Timeout of an `http` reload.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of an `exec` reload.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// How many reload actions ran and failed, by kind (`signal`, `http`, `exec`): for logs now and
/// the agent's metrics later.
#[derive(Debug, Default)]
pub struct ReloadStats {
    ran: [AtomicU64; 3],
    failed: [AtomicU64; 3],
}

/// The kinds, in the order of [`ReloadStats`]' counters.
pub const KINDS: [&str; 3] = ["signal", "http", "exec"];

impl ReloadStats {
    fn index(kind: &str) -> usize {
        KINDS.iter().position(|k| *k == kind).unwrap_or(0)
    }

    fn record(&self, kind: &str, ok: bool) {
        let i = Self::index(kind);
        self.ran[i].fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failed[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Actions of `kind` run so far.
    pub fn ran(&self, kind: &str) -> u64 {
        self.ran[Self::index(kind)].load(Ordering::Relaxed)
    }

    /// Actions of `kind` that failed so far.
    pub fn failed(&self, kind: &str) -> u64 {
        self.failed[Self::index(kind)].load(Ordering::Relaxed)
    }
}

/// The whole environment of an `exec` reload's program: nothing of the agent's own (its config,
/// `VAULT_*` settings, proxy settings) is passed on.
pub const EXEC_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs reload actions.
#[derive(Debug)]
pub struct Reloads {
    http: Option<reqwest::Client>,
    stats: Arc<ReloadStats>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Directories an `exec` program must not lie in (the secrets volumes, which the app can write).
    app_writable: Vec<PathBuf>,
}

impl Default for Reloads {
    fn default() -> Self {
        Self::new()
    }
}

impl Reloads {
    /// A runner with its own HTTP client (no proxy: the target is the pod's loopback; no redirects:
    /// a `Location` could send the request anywhere, so a 3xx is a failed action).
    pub fn new() -> Self {
        let http = crate::vault::no_tls_config()
            .and_then(|tls| {
                reqwest::Client::builder()
                    .no_proxy()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(HTTP_TIMEOUT)
                    .tls_backend_preconfigured(tls)
                    .build()
                    .map_err(|e| crate::Error::Client(crate::error::chain(&e)))
            })
            .map_err(|err| tracing::error!(error = %err, "no HTTP client for reload actions"))
            .ok();
        Self {
            http,
            stats: Arc::default(),
            metrics: None,
            app_writable: Vec::new(),
        }
    }

    /// Refuses `exec` programs inside `dirs` (the secrets volumes) on top of [`program_is_safe`]'s rule.
    pub fn with_app_writable(mut self, dirs: Vec<PathBuf>) -> Self {
        self.app_writable = dirs;
        self
    }

    /// Also counts every outcome in `metrics` (`ferrovault_agent_reload_actions_total`).
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The counters.
    pub fn stats(&self) -> Arc<ReloadStats> {
        self.stats.clone()
    }

    /// Runs `actions` of template `template` in order; each outcome is logged and counted.
    pub async fn run(&self, template: &str, actions: &[ReloadAction]) {
        for action in actions {
            let kind = action.kind();
            let result = match action {
                ReloadAction::Signal { signal, process } => signal_processes(*signal, process),
                ReloadAction::Http { method, port, path } => self.http(method, *port, path).await,
                ReloadAction::Exec { argv } => match safe_program(Path::new(&argv[0]), &self.app_writable) {
                    Err(why) => Err(format!("{} was not run: {why}", argv[0])),
                    Ok(program) => {
                        let env = [("PATH", EXEC_PATH)];
                        if files::run_program(template, &program, argv, Some(&env), EXEC_TIMEOUT).await {
                            Ok(format!("ran {}", argv[0]))
                        } else {
                            Err(format!("{} failed (see the command's log line)", argv[0]))
                        }
                    }
                },
            };
            match &result {
                Ok(what) => tracing::info!(template, reload = kind, "reload action done: {what}"),
                Err(why) => tracing::error!(template, reload = kind, "reload action failed: {why}"),
            }
            self.stats.record(kind, result.is_ok());
            if let Some(metrics) = &self.metrics {
                metrics.reload(kind, result.is_ok());
            }
        }
    }

    async fn http(&self, method: &str, port: u16, path: &str) -> Result<String, String> {
        let client = self.http.as_ref().ok_or("no HTTP client could be built")?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let url = format!("http://127.0.0.1:{port}{path}");
        // the answer's body is never read: it could echo anything
        match client.request(method.clone(), &url).send().await {
            Ok(answer) if answer.status().is_success() => Ok(format!("{method} {url}: {}", answer.status())),
            Ok(answer) if answer.status().is_redirection() => Err(format!(
                "{method} {url} answered {}: redirects are not followed",
                answer.status()
            )),
            Ok(answer) => Err(format!("{method} {url} answered {}", answer.status())),
            Err(err) if err.is_timeout() => Err(format!("{method} {url}: no answer within {HTTP_TIMEOUT:?}")),
            Err(err) => Err(format!("{method} {url}: {}", crate::error::chain(&err))),
        }
    }
}

/// What one part of an `exec` program's resolved path is, for [`program_is_safe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathPart {
    /// Owner uid.
    pub uid: u32,
    /// Permission bits (with the sticky bit, `0o1000`).
    pub mode: u32,
    /// A directory (else the program itself).
    pub dir: bool,
}

/// Whether no one but root can replace the program: every directory of its resolved path and the
/// file itself are owned by root and writable by neither group nor others — except a sticky
/// directory writable by all (`/tmp`), where only an entry's owner (root, checked next) may replace
/// it. So a program the app (any non-root uid) wrote, or could swap, is refused; what the agent
/// image or root installed passes. `Err` says which part and why.
pub fn program_is_safe(parts: &[(PathBuf, PathPart)]) -> Result<(), String> {
    for (path, part) in parts {
        let what = if part.dir { "directory" } else { "program" };
        if part.uid != 0 {
            return Err(format!(
                "the {what} {} is owned by uid {}, not root: a process of that uid could replace the \
                 program",
                path.display(),
                part.uid
            ));
        }
        let others_may_write = part.mode & 0o022 != 0;
        let sticky_dir = part.dir && part.mode & 0o1000 != 0;
        if others_may_write && !sticky_dir {
            return Err(format!(
                "the {what} {} is writable by group or others (mode {:o})",
                path.display(),
                part.mode & 0o7777
            ));
        }
    }
    Ok(())
}

/// Resolves `program` (every symlink) and checks it: not inside one of `app_writable` (the secrets
/// volumes, whatever their modes), a regular file, and [`program_is_safe`]. Returns the resolved
/// path, which is what runs: nothing on it can be swapped by a non-root process after the check.
fn safe_program(program: &Path, app_writable: &[PathBuf]) -> Result<PathBuf, String> {
    let real = std::fs::canonicalize(program).map_err(|e| format!("cannot resolve it: {e}"))?;
    for dir in app_writable {
        let dir_real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        if real.starts_with(&dir_real) || real.starts_with(dir) {
            return Err(format!(
                "it lies in the secrets volume {} (resolved: {}), which the app can write",
                dir.display(),
                real.display()
            ));
        }
    }
    let mut parts = Vec::new();
    for path in real.ancestors().collect::<Vec<_>>().into_iter().rev() {
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let dir = path != real;
        if !dir && !meta.is_file() {
            return Err(format!("{} is not a regular file", real.display()));
        }
        parts.push((
            path.to_path_buf(),
            PathPart {
                uid: meta.uid(),
                mode: meta.mode() & 0o7777,
                dir,
            },
        ));
    }
    program_is_safe(&parts)?;
    Ok(real)
}

/// Sends `signal` to every process of this PID namespace (other than the agent) whose name is
/// `name`: the last part of its `argv[0]`, or its `comm` (which the kernel cuts to 15 bytes).
fn signal_processes(signal: Signal, name: &str) -> Result<String, String> {
    let pids = find_processes(Path::new("/proc"), name, std::process::id());
    if pids.is_empty() {
        return Err(format!(
            "no process named {name:?} is visible: is the app running, and does the pod share its \
             process namespace (shareProcessNamespace)?"
        ));
    }
    let sig = rustix::process::Signal::from_named_raw(signal.number())
        .ok_or_else(|| format!("{signal} is not a signal on this system"))?;
    let mut refused = Vec::new();
    for &pid in &pids {
        let target = rustix::process::Pid::from_raw(pid).ok_or("pid 0")?;
        match rustix::process::kill_process(target, sig) {
            Ok(()) => {}
            Err(rustix::io::Errno::PERM) => refused.push(format!(
                "pid {pid}: not permitted (the agent runs as uid {}: it may signal only processes of \
                 the same uid)",
                rustix::process::getuid().as_raw()
            )),
            // gone since it was listed
            Err(rustix::io::Errno::SRCH) => {}
            Err(err) => refused.push(format!("pid {pid}: {err}")),
        }
    }
    if refused.is_empty() {
        Ok(format!("{signal} sent to {name:?} (pids {pids:?})"))
    } else {
        Err(format!("{signal} to {name:?}: {}", refused.join("; ")))
    }
}

/// The pids under `proc` (a procfs) named `name`, `own` left out, in ascending order.
fn find_processes(proc: &Path, name: &str, own: u32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(proc) else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid > 0 && u32::try_from(pid).ok() != Some(own))
        .filter(|&pid| {
            let dir = proc.join(pid.to_string());
            let argv0 = std::fs::read(dir.join("cmdline")).ok().and_then(|c| {
                let first = c.split(|b| *b == 0).next()?.to_vec();
                String::from_utf8(first).ok()
            });
            let by_argv = argv0
                .as_deref()
                .is_some_and(|a| a.rsplit('/').next() == Some(name));
            by_argv
                || std::fs::read_to_string(dir.join("comm")).is_ok_and(|comm| {
                    let comm = comm.trim_end_matches('\n');
                    comm == name || (comm.len() == 15 && name.len() > 15 && name.starts_with(comm))
                })
        })
        .collect();
    pids.sort_unstable();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_are_found_by_argv0_or_comm_but_never_the_agent() {
        let proc = tempfile::tempdir().unwrap();
        let add = |pid: &str, cmdline: &[u8], comm: &str| {
            let dir = proc.path().join(pid);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("cmdline"), cmdline).unwrap();
            std::fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
        };
        add("1", b"/pause\0", "pause");
        add("7", b"/usr/sbin/nginx\0-g\0daemon off;\0", "nginx");
        add("8", b"nginx: worker process\0", "nginx");
        add("9", b"/bin/busybox\0sh\0-c\0x\0", "sh");
        add("10", b"/ferrovault-agent\0native\0", "ferrovault-agen");
        add("11", b"/opt/a-very-long-program-name\0", "a-very-long-pro");
        std::fs::create_dir(proc.path().join("self")).unwrap();
        assert_eq!(find_processes(proc.path(), "nginx", 10), [7, 8]);
        assert_eq!(find_processes(proc.path(), "busybox", 10), [9]);
        assert_eq!(find_processes(proc.path(), "sh", 10), [9]);
        assert!(find_processes(proc.path(), "ferrovault-agent", 10).is_empty());
        assert_eq!(find_processes(proc.path(), "a-very-long-program-name", 10), [11]);
        assert!(find_processes(proc.path(), "apache", 10).is_empty());
    }

    #[tokio::test]
    async fn failures_are_counted_not_raised() {
        let reloads = Reloads::new();
        // nothing listens on port 1 of this host's loopback; no process has this name
        reloads
            .run(
                "t",
                &[
                    ferrovault_contract::actions::http_action("POST http://127.0.0.1:1/").unwrap(),
                    ferrovault_contract::actions::signal_action("SIGHUP no-such-process-here").unwrap(),
                    ferrovault_contract::actions::exec_action(r#"["/no/such/program"]"#).unwrap(),
                    ferrovault_contract::actions::exec_action(r#"["/bin/true"]"#).unwrap(),
                ],
            )
            .await;
        let stats = reloads.stats();
        for kind in KINDS {
            assert_eq!(stats.failed(kind), 1, "{kind}");
        }
        assert_eq!(stats.ran("exec"), 2);
    }

    #[tokio::test]
    async fn a_signal_reaches_a_process_of_the_same_uid_and_an_http_reload_its_endpoint() {
        // a program of our own name, so that nothing else on this host matches
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("fv-reload-test");
        std::fs::copy("/bin/sleep", &program).unwrap();
        let mut child = tokio::process::Command::new(&program)
            .arg("300")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // signal it by name only once it runs under that name (after its exec, not while forking)
        let comm = format!("/proc/{}/comm", child.id().unwrap());
        for _ in 0..1000 {
            if std::fs::read_to_string(&comm).is_ok_and(|c| c.trim() == "fv-reload-test") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let reloads = Reloads::new();
        let term = ferrovault_contract::actions::signal_action("SIGTERM fv-reload-test").unwrap();
        reloads.run("t", &[term]).await;
        let status = child.wait().await.unwrap();
        assert!(!status.success(), "the process was not ended by the signal");
        assert_eq!(
            (reloads.stats().ran("signal"), reloads.stats().failed("signal")),
            (1, 0)
        );

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let n = conn.read(&mut buf).await.unwrap();
            conn.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let action =
            ferrovault_contract::actions::http_action(&format!("PUT http://localhost:{port}/-/reload?a=b"))
                .unwrap();
        reloads.run("t", &[action]).await;
        let request = server.await.unwrap();
        assert!(request.starts_with("PUT /-/reload?a=b HTTP/1.1\r\n"), "{request}");
        assert_eq!(
            (reloads.stats().ran("http"), reloads.stats().failed("http")),
            (1, 0)
        );
    }

    #[tokio::test]
    async fn an_http_reload_does_not_follow_a_redirect() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        // the place a redirect points to records every connection it gets
        let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let elsewhere_port = elsewhere.local_addr().unwrap().port();
        let hits = Arc::new(AtomicU64::new(0));
        let counted = hits.clone();
        let recorder = tokio::spawn(async move {
            loop {
                let (mut conn, _) = elsewhere.accept().await.unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = conn
                    .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        let app = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = app.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut conn, _) = app.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let _ = conn.read(&mut buf).await.unwrap();
            let answer = format!(
                "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{elsewhere_port}/steal\r\n\
                 content-length: 0\r\nconnection: close\r\n\r\n"
            );
            conn.write_all(answer.as_bytes()).await.unwrap();
        });
        let reloads = Reloads::new();
        let action =
            ferrovault_contract::actions::http_action(&format!("POST http://127.0.0.1:{port}/-/reload"))
                .unwrap();
        reloads.run("t", &[action]).await;
        server.await.unwrap();
        // give a (wrongly) followed redirect time to land
        tokio::time::sleep(Duration::from_millis(200)).await;
        recorder.abort();
        assert_eq!(hits.load(Ordering::SeqCst), 0, "the redirect was followed");
        assert_eq!(
            (reloads.stats().ran("http"), reloads.stats().failed("http")),
            (1, 1),
            "a redirect is a failed action"
        );
    }

    #[tokio::test]
    async fn an_exec_reload_gets_only_a_minimal_environment() {
        // the test process has cargo's variables (and whatever the caller set: VAULT_*, proxies)
        assert!(std::env::vars().any(|(k, _)| k.starts_with("CARGO_")));
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("env");
        let action = ferrovault_contract::actions::exec_action(
            &serde_json::json!(["/bin/sh", "-c", format!("env > {}", dump.display())]).to_string(),
        )
        .unwrap();
        let reloads = Reloads::new();
        reloads.run("t", &[action]).await;
        assert_eq!(
            (reloads.stats().ran("exec"), reloads.stats().failed("exec")),
            (1, 0)
        );
        let env = std::fs::read_to_string(&dump).unwrap();
        let names: Vec<&str> = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, _)| k)
            .collect();
        for name in &names {
            // dash adds PWD itself
            assert!(["PATH", "PWD"].contains(name), "{name} was passed on: {names:?}");
        }
        assert!(env.lines().any(|l| l == format!("PATH={EXEC_PATH}")), "{env}");
    }

    #[test]
    fn only_programs_no_one_but_root_can_replace_pass() {
        let part = |uid, mode, dir| PathPart { uid, mode, dir };
        let ok = [
            (PathBuf::from("/"), part(0, 0o755, true)),
            (PathBuf::from("/tmp"), part(0, 0o1777, true)),
            (PathBuf::from("/tmp/x"), part(0, 0o700, true)),
            (PathBuf::from("/tmp/x/p"), part(0, 0o755, false)),
        ];
        program_is_safe(&ok).unwrap();
        for (i, bad, why) in [
            (3, part(1000, 0o755, false), "owned by uid 1000"),
            (2, part(0, 0o777, true), "writable by group or others"),
            (2, part(100, 0o700, true), "owned by uid 100"),
            (3, part(0, 0o1777, false), "writable by group or others"),
            (1, part(0, 0o775, true), "writable by group or others"),
        ] {
            let mut parts = ok.clone();
            parts[i].1 = bad;
            let err = program_is_safe(&parts).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[tokio::test]
    async fn an_exec_reload_refuses_a_program_the_app_could_have_written() {
        let root = tempfile::tempdir().unwrap();
        let secrets = root.path().join("secrets");
        let tools = root.path().join("tools");
        std::fs::create_dir_all(&secrets).unwrap();
        std::fs::create_dir_all(&tools).unwrap();
        let ran = root.path().join("ran");
        let script = format!("#!/bin/sh\ntouch {}\n", ran.display());
        let write_program = |path: &Path| {
            std::fs::write(path, &script).unwrap();
            std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        };
        // in the secrets volume, directly and through a link from a safe place
        write_program(&secrets.join("notify"));
        std::os::unix::fs::symlink(secrets.join("notify"), tools.join("notify")).unwrap();
        // in a directory others may write (an emptyDir is 0777)
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        write_program(&shared.join("notify"));
        let reloads = Reloads::new().with_app_writable(vec![secrets.clone()]);
        for program in [
            secrets.join("notify"),
            tools.join("notify"),
            shared.join("notify"),
        ] {
            let action =
                ferrovault_contract::actions::exec_action(&serde_json::json!([program]).to_string()).unwrap();
            reloads.run("t", &[action]).await;
        }
        assert_eq!(
            (reloads.stats().ran("exec"), reloads.stats().failed("exec")),
            (3, 3)
        );
        assert!(!ran.exists(), "a refused program ran");
        let err = safe_program(&tools.join("notify"), std::slice::from_ref(&secrets)).unwrap_err();
        assert!(err.contains("secrets volume"), "{err}");
        let err = safe_program(&shared.join("notify"), &[]).unwrap_err();
        assert!(
            err.contains("writable by group or others") || err.contains("owned by uid"),
            "{err}"
        );
        if rustix::process::geteuid().is_root() {
            // a root-owned program in a root-owned directory runs (the test runs as root)
            write_program(&tools.join("real"));
            assert!(safe_program(&tools.join("real"), std::slice::from_ref(&secrets)).is_ok());
        }
    }
}
