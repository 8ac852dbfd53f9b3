//! Where the pid file and the upgrade socket go when the config names no
//! paths: a directory only the gateway's user can write, so another local
//! user cannot plant a socket or a pid file for it (as with a shared `/tmp`).
//!
//! `$XDG_RUNTIME_DIR/gateway` when that is set, `/run/gateway` for root,
//! otherwise `<temp dir>/gateway-<uid>`. It is created with mode 0700 at
//! startup; an existing one must be a directory owned by the user with no
//! access for others.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The default directory for this process's user and environment.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("gateway");
    }
    match euid() {
        0 => PathBuf::from("/run/gateway"),
        uid => std::env::temp_dir().join(format!("gateway-{uid}")),
    }
}

/// Creates `dir` with mode 0700 if missing, or checks that the existing one
/// is private to this user.
pub fn ensure_private(dir: &Path) -> io::Result<()> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.is_dir() && meta.uid() == euid() && meta.mode() & 0o077 == 0 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`{}` must be a directory owned by uid {} with mode 0700",
            dir.display(),
            euid()
        )))
    }
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_a_private_directory_and_refuses_a_shared_one() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("gateway");
        ensure_private(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        ensure_private(&dir).unwrap();

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = ensure_private(&dir).unwrap_err().to_string();
        assert!(err.contains("mode 0700"), "{err}");
    }

    #[test]
    fn the_default_is_not_the_shared_temp_dir() {
        let dir = default_dir();
        assert_ne!(dir, std::env::temp_dir());
        assert_ne!(dir, Path::new("/tmp"));
    }
}
