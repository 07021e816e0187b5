//! Writing a CA certificate and a serving certificate + key into a directory.
//!
//! Every file is written to a temporary file in the same directory, synced, and then moved into
//! place, so a reader (the webhook's cert reloader, a `kubectl create secret --from-file`) never sees
//! half a file. The key is created with mode 0600 from the start. Without `force`, existing files are
//! never replaced: the final link step itself fails if the name exists, so there is no window in
//! which a concurrently created key could be clobbered.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use crate::{Error, Leaf, Result};

/// File name of the CA certificate.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the serving certificate.
pub const TLS_CERT_FILE: &str = "tls.crt";
/// File name of the serving private key.
pub const TLS_KEY_FILE: &str = "tls.key";

const CERT_MODE: u32 = 0o644;
const KEY_MODE: u32 = 0o600;

/// Paths of the files [`write_bundle`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFiles {
    /// `<dir>/ca.crt`.
    pub ca_cert: PathBuf,
    /// `<dir>/tls.crt`.
    pub tls_cert: PathBuf,
    /// `<dir>/tls.key` (mode 0600).
    pub tls_key: PathBuf,
}

/// Writes `ca.crt`, `tls.crt` and `tls.key` into `dir` (created if missing, mode 0700 when new).
///
/// Without `force`, fails with [`Error::Exists`] naming the first existing file and writes nothing.
pub fn write_bundle(dir: &Path, ca_cert_pem: &str, leaf: &Leaf, force: bool) -> Result<WrittenFiles> {
    let files = WrittenFiles {
        ca_cert: dir.join(CA_CERT_FILE),
        tls_cert: dir.join(TLS_CERT_FILE),
        tls_key: dir.join(TLS_KEY_FILE),
    };
    if !force {
        for path in [&files.tls_key, &files.tls_cert, &files.ca_cert] {
            if fs::symlink_metadata(path).is_ok() {
                return Err(Error::Exists { path: path.clone() });
            }
        }
    }
    create_dir(dir)?;
    // The key first: if anything fails later, rerunning with --force is the obvious fix and no
    // certificate on disk refers to a key that was never written.
    write_atomic(&files.tls_key, leaf.key_pem.as_bytes(), KEY_MODE, force)?;
    write_atomic(&files.tls_cert, leaf.cert_pem.as_bytes(), CERT_MODE, force)?;
    write_atomic(&files.ca_cert, ca_cert_pem.as_bytes(), CERT_MODE, force)?;
    Ok(files)
}

/// Writes `contents` to `path` via a temporary sibling file created with `mode`. With `replace`
/// false, fails with [`Error::Exists`] if `path` appeared in the meantime.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32, replace: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { action, path, source }
    };

    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        file.write_all(contents).map_err(io("write", &tmp))?;
        file.sync_all().map_err(io("sync", &tmp))?;
        if replace {
            fs::rename(&tmp, path).map_err(io("replace", path))
        } else {
            fs::hard_link(&tmp, path).map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::Exists {
                        path: path.to_owned(),
                    }
                } else {
                    Error::Io {
                        action: "create",
                        path: path.to_owned(),
                        source,
                    }
                }
            })
        }
    })();
    // After a rename the temporary name is gone; after a hard link or a failure it must go.
    let _ = fs::remove_file(&tmp);
    result?;
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| Error::Io {
            action: "create directory",
            path: dir.to_owned(),
            source,
        })
}
