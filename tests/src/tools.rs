//! Locations of the real tools the tests drive.

use std::path::PathBuf;

/// The OpenBao binary: env `BAO_BIN`, else `$HOME/.cache/ferrovault/bin/bao` if it exists, else `bao`
/// (looked up on `PATH`).
pub fn bao_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("BAO_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let cached = PathBuf::from(home).join(".cache/ferrovault/bin/bao");
        if cached.is_file() {
            return cached;
        }
    }
    PathBuf::from("bao")
}
