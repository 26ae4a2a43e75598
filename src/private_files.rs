//! Records created private: every file lp-rfq creates to keep what it saw
//! (the blotter, logs, FIX audit logs) is 0600 and every directory it
//! creates for them 0700, whatever the umask. Quotes, orders and P&L are
//! the desk's business, not every local user's. Files and directories
//! that already exist keep the modes their owner gave them.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// The mode of a file lp-rfq creates.
pub(crate) const FILE_MODE: u32 = 0o600;
/// The mode of a directory lp-rfq creates.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents, each 0700.
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Opens `path` for appending, creating it 0600 if it is missing.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options.open(path)
}

/// Creates `path` empty and 0600 if it does not exist yet; an existing
/// file is left as it is. SQLite creates a database's `-wal` and `-shm`
/// with the database file's own mode, so a blotter made here first keeps
/// all three private.
pub(crate) fn create_if_missing(path: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn what_is_created_is_private_and_what_exists_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a").join("b");
        create_dir_all(&nested).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        let log = nested.join("x.log");
        open_append(&log).unwrap();
        assert_eq!(mode(&log), 0o600);
        let db = nested.join("x.db");
        create_if_missing(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        let shared = dir.path().join("shared.db");
        std::fs::write(&shared, "").unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
        create_if_missing(&shared).unwrap();
        open_append(&shared).unwrap();
        assert_eq!(mode(&shared), 0o640);
    }
}
