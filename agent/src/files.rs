//! Writing files the way Vault Agent does: confined to the allowed directories, atomically (temp file
//! in the same directory, fsync, chmod, rename, fsync of the directory) and only when the bytes change.
//!
//! The secrets volume is writable by the app, which may swap a directory for a symlink at any time:
//! a path checked first and written later could be redirected in between. So nothing here writes
//! through a path. A write opens the allowed directory, walks down one component at a time with
//! `openat(O_NOFOLLOW | O_DIRECTORY)` from the handle of the one before (creating what is missing
//! with `mkdirat`), and creates, renames and syncs inside the last handle. A symlink met on the way
//! is read and followed by the same walk — from the allowed directory for an absolute target, which
//! must lie inside it, from the current handle for a relative one, `..` never above the allowed
//! directory — so a link that stays inside works as before and one that leaves is refused, with
//! nothing created behind it. The file's own name is never followed: a symlink there is replaced
//! by the new file, not written through.

use std::ffi::{OsStr, OsString};
use std::io::{Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::{Error, Result};

/// Default mode of a template destination that does not exist yet.
pub const DEFAULT_MODE: u32 = 0o644;

/// Symlinks followed in one walk before giving up (Linux's own limit).
const MAX_LINKS: usize = 40;

/// A file inside an allowed directory, written through directory handles ([`write_atomic`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confined {
    /// The allowed directory the walk starts from.
    root: PathBuf,
    /// The directories between `root` and the file, as configured (no `..`).
    below: Vec<OsString>,
    /// The file's name in its directory.
    name: OsString,
    /// `root/below/name`, for messages.
    path: PathBuf,
}

impl Confined {
    /// The file's path as configured (for messages and reads that follow links harmlessly).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file directly in the agent's own directory (its home: not shared with the app).
    pub fn own(path: &Path) -> Result<Self> {
        let name = path.file_name().ok_or_else(|| {
            Error::io("writing", path)(std::io::Error::from(std::io::ErrorKind::InvalidInput))
        })?;
        let root = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        std::fs::create_dir_all(&root).map_err(Error::io("creating directory", &root))?;
        Ok(Self {
            root,
            below: Vec::new(),
            name: name.to_owned(),
            path: path.to_path_buf(),
        })
    }

    /// The handle of the file's directory, walked from `root` (see the module's doc).
    /// [`Walk::Escape`]: the walk would leave `root`.
    fn open_dir(&self) -> std::result::Result<OwnedFd, Walk> {
        let root = rustix::fs::open(&self.root, dir_flags(), Mode::empty())
            .map_err(|e| Walk::Io("opening", self.root.clone(), e))?;
        let root_real = std::fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        // the handles above the current one (for `..`), the current one, the path so far
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut current = rustix::fs::openat(&root, ".", dir_flags(), Mode::empty())
            .map_err(|e| Walk::Io("opening", self.root.clone(), e))?;
        let mut todo: std::collections::VecDeque<OsString> = self.below.iter().cloned().collect();
        let mut links = 0;
        let mut at = self.root.clone();
        while let Some(part) = todo.pop_front() {
            match part.as_bytes() {
                b"" | b"." => continue,
                b".." => {
                    current = stack.pop().ok_or(Walk::Escape)?;
                    at.pop();
                    continue;
                }
                _ => {}
            }
            let next = at.join(&part);
            match rustix::fs::openat(&current, part.as_os_str(), dir_flags(), Mode::empty()) {
                Ok(fd) => {
                    stack.push(std::mem::replace(&mut current, fd));
                    at = next;
                }
                Err(Errno::NOENT) => match rustix::fs::mkdirat(&current, part.as_os_str(), Mode::from(0o777))
                {
                    Ok(()) | Err(Errno::EXIST) => todo.push_front(part),
                    Err(e) => return Err(Walk::Io("creating directory", next, e)),
                },
                Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                    let stat = rustix::fs::statat(&current, part.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| Walk::Io("resolving", next.clone(), e))?;
                    if FileType::from_raw_mode(stat.st_mode) != FileType::Symlink {
                        return Err(Walk::Io("opening directory", next, e));
                    }
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Walk::Io("resolving", next, Errno::LOOP));
                    }
                    let target = rustix::fs::readlinkat(&current, part.as_os_str(), Vec::new())
                        .map_err(|e| Walk::Io("resolving", next.clone(), e))?;
                    let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                    let rest: Vec<OsString> = if target.is_absolute() {
                        let inside = target
                            .strip_prefix(&root_real)
                            .or_else(|_| target.strip_prefix(&self.root))
                            .map_err(|_| Walk::Escape)?;
                        // from the top: the handles above are dropped
                        stack.clear();
                        current = rustix::fs::openat(&root, ".", dir_flags(), Mode::empty())
                            .map_err(|e| Walk::Io("opening", self.root.clone(), e))?;
                        at = self.root.clone();
                        inside.iter().map(OsStr::to_owned).collect()
                    } else {
                        target.iter().map(OsStr::to_owned).collect()
                    };
                    for p in rest.into_iter().rev() {
                        todo.push_front(p);
                    }
                }
                Err(e) => return Err(Walk::Io("opening directory", next, e)),
            }
        }
        Ok(current)
    }
}

/// Why a walk stopped.
enum Walk {
    /// It would leave the allowed directory.
    Escape,
    /// An IO error: what was done, where.
    Io(&'static str, PathBuf, Errno),
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

fn walk_error(what: &str, target: &Confined, allowed: &str) -> impl FnOnce(Walk) -> Error {
    move |w| match w {
        Walk::Escape => Error::PathEscape {
            what: what.to_owned(),
            path: target.path.clone(),
            allowed: allowed.to_owned(),
        },
        Walk::Io(action, path, errno) => Error::io(action, path)(errno.into()),
    }
}

/// Checks that `path` lies inside one of `allowed` (lexically, and after resolving every symlink on
/// the way) and creates its missing directories, each only after the walk found the path so far
/// inside: a symlink pointing out of the secrets volume never gets directories created behind it.
/// Every later [`write_atomic`] walks again from the allowed directory. `what` names the file in
/// errors.
pub fn confine(what: &str, path: &Path, allowed: &[PathBuf]) -> Result<Confined> {
    let allowed_list = allowed
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let escape = || Error::PathEscape {
        what: what.to_owned(),
        path: path.to_path_buf(),
        allowed: allowed_list.clone(),
    };
    if !path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(escape());
    }
    let dir = allowed
        .iter()
        .filter(|d| path.starts_with(d) && path != d.as_path())
        .max_by_key(|d| d.as_os_str().len())
        .ok_or_else(escape)?;
    std::fs::create_dir_all(dir).map_err(Error::io("creating directory", dir))?;
    let name = path.file_name().ok_or_else(escape)?;
    let below = path
        .parent()
        .and_then(|p| p.strip_prefix(dir).ok())
        .ok_or_else(escape)?;
    let target = Confined {
        root: dir.clone(),
        below: below
            .components()
            .filter_map(|c| match c {
                Component::Normal(p) => Some(p.to_owned()),
                _ => None,
            })
            .collect(),
        name: name.to_owned(),
        path: path.to_path_buf(),
    };
    target
        .open_dir()
        .map_err(walk_error(what, &target, &allowed_list))?;
    Ok(target)
}

/// Writes `bytes` to `target` atomically unless it already holds exactly them. Mode: `mode` if given,
/// else the existing file's mode, else `default_mode`. Returns whether the file changed.
pub fn write_atomic(target: &Confined, bytes: &[u8], mode: Option<u32>, default_mode: u32) -> Result<bool> {
    let path = target.path();
    let dir = target.open_dir().map_err(walk_error(
        "destination",
        target,
        &target.root.display().to_string(),
    ))?;
    let name = target.name.as_os_str();
    // the file as it is, never through a link (a FIFO must not block us: O_NONBLOCK)
    let existing = rustix::fs::openat(
        &dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
    .and_then(|fd| {
        let stat = rustix::fs::fstat(&fd).ok()?;
        (FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile).then_some((fd, stat))
    });
    let mode = mode
        .or_else(|| existing.as_ref().map(|(_, st)| st.st_mode & 0o777))
        .unwrap_or(default_mode);
    if let Some((fd, stat)) = existing {
        let same_size = u64::try_from(stat.st_size).ok() == u64::try_from(bytes.len()).ok();
        let mut current = Vec::with_capacity(bytes.len());
        let mut file = std::fs::File::from(fd);
        if same_size && file.read_to_end(&mut current).is_ok() && current == bytes {
            if stat.st_mode & 0o777 != mode {
                rustix::fs::fchmod(&file, Mode::from(mode))
                    .map_err(|e| Error::io("chmod", path)(e.into()))?;
            }
            return Ok(false);
        }
    }
    let tmp_name = format!(
        ".{}.{}.{:x}.tmp",
        target.name.to_string_lossy(),
        std::process::id(),
        fastrand::u64(..)
    );
    let tmp_path = path.with_file_name(&tmp_name);
    let result = (|| {
        let fd = rustix::fs::openat(
            &dir,
            tmp_name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from(0o600),
        )
        .map_err(|e| Error::io("creating", &tmp_path)(e.into()))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes).map_err(Error::io("writing", &tmp_path))?;
        file.sync_all().map_err(Error::io("syncing", &tmp_path))?;
        rustix::fs::fchmod(&file, Mode::from(mode)).map_err(|e| Error::io("chmod", &tmp_path)(e.into()))?;
        rustix::fs::renameat(&dir, tmp_name.as_str(), &dir, name)
            .map_err(|e| Error::io("renaming into", path)(e.into()))?;
        rustix::fs::fsync(&dir).map_err(|e| Error::io("syncing directory", path)(e.into()))
    })();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(&dir, tmp_name.as_str(), AtFlags::empty());
    }
    result.map(|()| true)
}

/// Removes `target` (through the same walk as [`write_atomic`]); a missing file is not an error.
pub fn remove(target: &Confined) -> Result<()> {
    let dir = target
        .open_dir()
        .map_err(walk_error("file", target, &target.root.display().to_string()))?;
    match rustix::fs::unlinkat(&dir, target.name.as_os_str(), AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(Error::io("removing", target.path())(e.into())),
    }
}

/// Runs `argv` (no shell) with a timeout. Its output is discarded: it may contain secrets. Failures
/// are logged with the exit status only. Returns whether it ran and exited 0.
pub async fn run_command(template: &str, argv: &[String], timeout: Duration) -> bool {
    let Some(program) = argv.first() else {
        return false;
    };
    run_program(template, Path::new(program), argv, None, timeout).await
}

/// Runs `program` with `argv` (`argv[0]` as its name, no shell) and a timeout, like [`run_command`].
/// `env`: the program's whole environment instead of the agent's.
pub async fn run_program(
    template: &str,
    program: &Path,
    argv: &[String],
    env: Option<&[(&str, &str)]>,
    timeout: Duration,
) -> bool {
    let Some((name, args)) = argv.split_first() else {
        return false;
    };
    let mut command = tokio::process::Command::new(program);
    command.arg0(name).args(args);
    if let Some(env) = env {
        command.env_clear().envs(env.iter().copied());
    }
    let program = name;
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) => {
            tracing::error!(template, command = %program, error = %err, "command could not be started");
            return false;
        }
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => {
            tracing::info!(template, command = %program, "command ran");
            return true;
        }
        Ok(Ok(status)) => tracing::error!(template, command = %program, %status, "command failed"),
        Ok(Err(err)) => tracing::error!(template, command = %program, error = %err, "command failed"),
        Err(_) => {
            let _ = child.kill().await;
            tracing::error!(template, command = %program, ?timeout, "command timed out and was killed");
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{MetadataExt as _, symlink};

    use super::*;

    /// `dir/name` confined to `dir`.
    fn at(dir: &Path, name: &str) -> Confined {
        confine("t", &dir.join(name), &[dir.to_path_buf()]).unwrap()
    }

    #[test]
    fn unchanged_bytes_are_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        let target = at(dir.path(), "a.txt");
        assert!(write_atomic(&target, b"one", None, DEFAULT_MODE).unwrap());
        let before = fs::metadata(&path).unwrap();
        assert_eq!(before.mode() & 0o7777, 0o644);
        assert!(!write_atomic(&target, b"one", None, DEFAULT_MODE).unwrap());
        let after = fs::metadata(&path).unwrap();
        assert_eq!(
            (before.ino(), before.mtime_nsec()),
            (after.ino(), after.mtime_nsec())
        );
        assert!(write_atomic(&target, b"two", Some(0o600), DEFAULT_MODE).unwrap());
        let changed = fs::metadata(&path).unwrap();
        assert_ne!(before.ino(), changed.ino(), "a change is a rename of a new file");
        assert_eq!(changed.mode() & 0o7777, 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"two");
        // the same bytes with another mode: a chmod, no new file
        assert!(!write_atomic(&target, b"two", Some(0o640), DEFAULT_MODE).unwrap());
        let chmodded = fs::metadata(&path).unwrap();
        assert_eq!((chmodded.ino(), chmodded.mode() & 0o7777), (changed.ino(), 0o640));
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left behind"
        );
    }

    #[test]
    fn existing_mode_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = at(dir.path(), "a.txt");
        write_atomic(&target, b"one", Some(0o640), DEFAULT_MODE).unwrap();
        write_atomic(&target, b"two", None, DEFAULT_MODE).unwrap();
        assert_eq!(fs::metadata(target.path()).unwrap().mode() & 0o7777, 0o640);
    }

    #[test]
    fn escapes_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let secrets = root.path().join("secrets");
        let outside = root.path().join("outside");
        fs::create_dir_all(&secrets).unwrap();
        fs::create_dir_all(&outside).unwrap();
        symlink(&outside, secrets.join("link")).unwrap();
        let allowed = [secrets.clone()];
        for bad in [
            secrets.join("../outside/x"),
            secrets.join("link/x"),
            outside.join("x"),
            PathBuf::from("relative/x"),
            secrets.clone(),
        ] {
            let err = confine("template \"t\" destination", &bad, &allowed)
                .unwrap_err()
                .to_string();
            assert!(err.contains("outside the allowed directories"), "{bad:?}: {err}");
        }
        let ok = confine("t", &secrets.join("sub/dir/file"), &allowed).unwrap();
        assert!(secrets.join("sub/dir").is_dir());
        write_atomic(&ok, b"x", None, DEFAULT_MODE).unwrap();
        assert_eq!(fs::read(secrets.join("sub/dir/file")).unwrap(), b"x");
        // Links that stay inside are followed: absolute, and relative (with `..` inside the root).
        symlink(secrets.join("sub"), secrets.join("inner")).unwrap();
        symlink("sub/../sub", secrets.join("relative")).unwrap();
        for (via, content) in [("inner/dir/file", "y"), ("relative/dir/file", "z")] {
            let ok = confine("t", &secrets.join(via), &allowed).unwrap();
            write_atomic(&ok, content.as_bytes(), None, DEFAULT_MODE).unwrap();
            assert_eq!(fs::read_to_string(secrets.join("sub/dir/file")).unwrap(), content);
        }
        // `..` in a link never climbs above the allowed directory
        symlink("../outside", secrets.join("up")).unwrap();
        assert!(confine("t", &secrets.join("up/x"), &allowed).is_err());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn no_directory_is_created_behind_a_link_that_leaves_the_volume() {
        // Issue #8, finding 3: `link/a/b/c/x` created /outside/a/b/c, then refused the write.
        let root = tempfile::tempdir().unwrap();
        let secrets = root.path().join("secrets");
        let outside = root.path().join("outside");
        fs::create_dir_all(&secrets).unwrap();
        fs::create_dir_all(&outside).unwrap();
        symlink(&outside, secrets.join("link")).unwrap();
        fs::create_dir_all(secrets.join("real")).unwrap();
        symlink(&outside, secrets.join("real/deeper")).unwrap();
        for bad in ["link/a/b/c/x", "real/deeper/a/x", "new/../link/a/x"] {
            assert!(
                confine("t", &secrets.join(bad), std::slice::from_ref(&secrets)).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "created outside the volume"
        );
        assert!(!secrets.join("new").exists());
    }

    /// Issue #19, item 7: the app swaps a directory of the destination for a symlink after the agent
    /// checked the path (at start-up) and before it writes (a re-render). The check is `confine`; the
    /// swap happens in between; the write must land nowhere outside the volume.
    #[test]
    fn a_directory_swapped_for_a_link_after_the_check_redirects_nothing() {
        let root = tempfile::tempdir().unwrap();
        let secrets = root.path().join("secrets");
        let outside = root.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let allowed = [secrets.clone()];
        let target = confine("t", &secrets.join("app/conf/db.txt"), &allowed).unwrap();
        write_atomic(&target, b"first", None, DEFAULT_MODE).unwrap();
        // the swap: `app` (or `app/conf`) becomes a link to a directory outside the volume
        for swapped in ["app", "app/conf"] {
            if secrets.join("app").exists() {
                fs::remove_dir_all(secrets.join("app")).unwrap();
            }
            if swapped == "app/conf" {
                fs::create_dir(secrets.join("app")).unwrap();
            }
            fs::create_dir_all(outside.join("conf")).unwrap();
            let link_target = if swapped == "app" {
                outside.clone()
            } else {
                outside.join("conf")
            };
            symlink(&link_target, secrets.join(swapped)).unwrap();
            let err = write_atomic(&target, b"second", None, DEFAULT_MODE).unwrap_err();
            assert!(
                err.to_string().contains("outside the allowed directories"),
                "{err}"
            );
            assert!(
                walk(&outside).is_empty() || walk(&outside) == [outside.join("conf")],
                "written outside the volume: {:?}",
                walk(&outside)
            );
            fs::remove_file(secrets.join(swapped)).unwrap();
            fs::remove_dir_all(outside.join("conf")).unwrap();
        }
        // the app removes the directories instead: they are made again, inside
        fs::remove_dir_all(secrets.join("app")).unwrap();
        assert!(walk(&outside).is_empty(), "{:?}", walk(&outside));
        assert!(write_atomic(&target, b"third", None, DEFAULT_MODE).unwrap());
        assert_eq!(fs::read(secrets.join("app/conf/db.txt")).unwrap(), b"third");
    }

    /// The same race, live: a thread keeps swapping the directory and the link while the agent writes.
    #[test]
    fn a_directory_swapped_in_a_loop_during_writes_redirects_nothing() {
        let root = tempfile::tempdir().unwrap();
        let secrets = root.path().join("secrets");
        let outside = root.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let target = confine("t", &secrets.join("app/db.txt"), std::slice::from_ref(&secrets)).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swapper = {
            let (stop, secrets, outside) = (stop.clone(), secrets.clone(), outside.clone());
            std::thread::spawn(move || {
                let (dir, parked) = (secrets.join("app"), secrets.join("parked"));
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if fs::rename(&dir, &parked).is_ok() {
                        let _ = symlink(&outside, &dir);
                        let _ = fs::remove_file(&dir);
                        let _ = fs::rename(&parked, &dir);
                    }
                }
            })
        };
        for i in 0..2000 {
            let _ = write_atomic(&target, format!("v{i}").as_bytes(), None, DEFAULT_MODE);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        swapper.join().unwrap();
        assert!(walk(&outside).is_empty(), "written outside: {:?}", walk(&outside));
    }

    /// A symlink as the file's own name: the agent replaces the link, it does not write through it.
    #[test]
    fn a_link_as_the_file_name_is_replaced_not_written_through() {
        let root = tempfile::tempdir().unwrap();
        let secrets = root.path().join("secrets");
        let outside = root.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("victim"), b"untouched").unwrap();
        let target = confine("t", &secrets.join("db.txt"), std::slice::from_ref(&secrets)).unwrap();
        symlink(outside.join("victim"), secrets.join("db.txt")).unwrap();
        // the same bytes as the link's target: still replaced (the link is not "the file")
        assert!(write_atomic(&target, b"untouched", Some(0o600), DEFAULT_MODE).unwrap());
        assert!(!fs::symlink_metadata(secrets.join("db.txt")).unwrap().is_symlink());
        symlink(outside.join("victim"), secrets.join("other")).unwrap();
        fs::remove_file(secrets.join("db.txt")).unwrap();
        fs::rename(secrets.join("other"), secrets.join("db.txt")).unwrap();
        assert!(write_atomic(&target, b"secret", None, DEFAULT_MODE).unwrap());
        assert_eq!(fs::read(outside.join("victim")).unwrap(), b"untouched");
        let meta = fs::metadata(outside.join("victim")).unwrap();
        assert_ne!(meta.mode() & 0o777, 0o600, "chmod went through the link");
        assert_eq!(fs::read(secrets.join("db.txt")).unwrap(), b"secret");
        // a dangling link, and a FIFO (which must not block the agent), are replaced too
        for (i, make) in [0, 1].into_iter().zip([
            (|p: &Path| symlink("/nonexistent/x", p).unwrap()) as fn(&Path),
            |p: &Path| {
                assert!(
                    std::process::Command::new("mkfifo")
                        .arg(p)
                        .status()
                        .unwrap()
                        .success()
                );
            },
        ]) {
            fs::remove_file(secrets.join("db.txt")).unwrap();
            make(&secrets.join("db.txt"));
            assert!(write_atomic(&target, format!("{i}").as_bytes(), None, DEFAULT_MODE).unwrap());
            assert_eq!(
                fs::read_to_string(secrets.join("db.txt")).unwrap(),
                format!("{i}")
            );
        }
    }

    /// Everything under `dir`, recursively, links not followed.
    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap().flatten() {
            out.push(e.path());
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(&e.path()));
            }
        }
        out
    }
}
