//! Writing files the way Vault Agent does: confined to the allowed directories, atomically (temp file
//! in the same directory, fsync, chmod, rename, fsync of the directory) and only when the bytes change.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::{Error, Result};

/// Default mode of a template destination that does not exist yet.
pub const DEFAULT_MODE: u32 = 0o644;

/// Checks that `path` lies inside one of `allowed` (lexically, and after resolving every symlink on
/// the way) and returns it with its parent resolved. Missing directories below the allowed one are
/// created one at a time, each only after the path so far was found inside: a symlink pointing
/// out of the secrets volume never gets directories created behind it. `what` names the file in
/// errors.
pub fn confine(what: &str, path: &Path, allowed: &[PathBuf]) -> Result<PathBuf> {
    let escape = || Error::PathEscape {
        what: what.to_owned(),
        path: path.to_path_buf(),
        allowed: allowed
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    if !path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(escape());
    }
    let dir = allowed
        .iter()
        .filter(|d| path.starts_with(d) && path != d.as_path())
        .max_by_key(|d| d.as_os_str().len())
        .ok_or_else(escape)?;
    fs::create_dir_all(dir).map_err(Error::io("creating directory", dir))?;
    let real_dir = fs::canonicalize(dir).map_err(Error::io("resolving", dir))?;
    let file_name = path.file_name().ok_or_else(escape)?;
    let below = path
        .parent()
        .and_then(|p| p.strip_prefix(dir).ok())
        .ok_or_else(escape)?;
    let mut real_parent = real_dir.clone();
    for part in below.components() {
        let next = real_parent.join(part);
        match fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::canonicalize(&next).map_err(Error::io("resolving", &next))?;
                if !target.starts_with(&real_dir) {
                    return Err(escape());
                }
                real_parent = target;
            }
            Ok(_) => real_parent = next,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match fs::create_dir(&next) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::io("creating directory", &next)(e));
                }
                _ => real_parent = next,
            },
            Err(e) => return Err(Error::io("resolving", &next)(e)),
        }
    }
    Ok(real_parent.join(file_name))
}

/// Writes `bytes` to `path` atomically unless it already holds exactly them. Mode: `mode` if given,
/// else the existing file's mode, else `default_mode`. Returns whether the file changed.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>, default_mode: u32) -> Result<bool> {
    let existing = fs::symlink_metadata(path).ok().filter(|m| m.is_file());
    let mode = mode
        .or_else(|| existing.as_ref().map(|m| m.permissions().mode() & 0o777))
        .unwrap_or(default_mode);
    if existing.is_some() && fs::read(path).is_ok_and(|current| current == bytes) {
        let current_mode = existing.map(|m| m.permissions().mode() & 0o777);
        if current_mode != Some(mode) {
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(Error::io("chmod", path))?;
        }
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{:x}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(Error::io("creating", &tmp))?;
        file.write_all(bytes).map_err(Error::io("writing", &tmp))?;
        file.sync_all().map_err(Error::io("syncing", &tmp))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(Error::io("chmod", &tmp))?;
        fs::rename(&tmp, path).map_err(Error::io("renaming into", path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::io("syncing directory", dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| true)
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
    use std::os::unix::fs::MetadataExt as _;

    use super::*;

    #[test]
    fn unchanged_bytes_are_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        assert!(write_atomic(&path, b"one", None, DEFAULT_MODE).unwrap());
        let before = fs::metadata(&path).unwrap();
        assert_eq!(before.mode() & 0o7777, 0o644);
        assert!(!write_atomic(&path, b"one", None, DEFAULT_MODE).unwrap());
        let after = fs::metadata(&path).unwrap();
        assert_eq!(
            (before.ino(), before.mtime_nsec()),
            (after.ino(), after.mtime_nsec())
        );
        assert!(write_atomic(&path, b"two", Some(0o600), DEFAULT_MODE).unwrap());
        let changed = fs::metadata(&path).unwrap();
        assert_ne!(before.ino(), changed.ino(), "a change is a rename of a new file");
        assert_eq!(changed.mode() & 0o7777, 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left behind"
        );
    }

    #[test]
    fn existing_mode_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"one", Some(0o640), DEFAULT_MODE).unwrap();
        write_atomic(&path, b"two", None, DEFAULT_MODE).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o640);
    }

    #[test]
    fn escapes_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let secrets = root.path().join("secrets");
        let outside = root.path().join("outside");
        fs::create_dir_all(&secrets).unwrap();
        fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, secrets.join("link")).unwrap();
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
        assert!(ok.starts_with(fs::canonicalize(&secrets).unwrap()));
        assert!(secrets.join("sub/dir").is_dir());
        // A link that stays inside is followed.
        std::os::unix::fs::symlink(secrets.join("sub"), secrets.join("inner")).unwrap();
        let ok = confine("t", &secrets.join("inner/dir/file"), &allowed).unwrap();
        assert_eq!(
            ok,
            fs::canonicalize(secrets.join("sub/dir")).unwrap().join("file")
        );
    }

    #[test]
    fn no_directory_is_created_behind_a_link_that_leaves_the_volume() {
        // Issue #8, finding 3: `link/a/b/c/x` created /outside/a/b/c, then refused the write.
        let root = tempfile::tempdir().unwrap();
        let secrets = root.path().join("secrets");
        let outside = root.path().join("outside");
        fs::create_dir_all(&secrets).unwrap();
        fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, secrets.join("link")).unwrap();
        fs::create_dir_all(secrets.join("real")).unwrap();
        std::os::unix::fs::symlink(&outside, secrets.join("real/deeper")).unwrap();
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
}
