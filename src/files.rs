//! The files earlyexit reads from the user (config, certificates, keys) and the ones it keeps
//! in their home: inputs are read with a bound, outputs are private.
//!
//! May import: nothing (a leaf).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The largest file of settings read (a config, a certificate, a key): real ones are a few
/// kilobytes.
pub const MAX_SMALL_FILE: u64 = 1024 * 1024;

/// Only the owner may read or write what earlyexit keeps: command lines and matched output.
const PRIVATE_FILE: u32 = 0o600;
const PRIVATE_DIRECTORY: u32 = 0o700;

/// The bytes of a small regular file. It is opened without blocking: a link to a FIFO would
/// otherwise wait forever, one to `/dev/zero` grow without bound.
pub fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let too_large = || io::Error::other("larger than 1 MiB");
    if metadata.len() > MAX_SMALL_FILE {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(MAX_SMALL_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SMALL_FILE {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The directory earlyexit keeps its files in by default, `~/.earlyexit`.
const HOME_DIRECTORY: &str = ".earlyexit";

/// Creates `directory` and its missing parents, private (0700 whatever the umask). An
/// existing `.earlyexit` of ours is made private too (earlier versions made it 0755); any
/// other existing directory is the user's choice and left as it is.
pub fn private_directory(directory: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIRECTORY)
        .create(directory)?;
    if directory
        .file_name()
        .is_some_and(|name| name == HOME_DIRECTORY)
    {
        let metadata = std::fs::metadata(directory)?;
        if metadata.permissions().mode() & 0o077 != 0 && owned_by_us(&metadata) {
            std::fs::set_permissions(
                directory,
                std::fs::Permissions::from_mode(PRIVATE_DIRECTORY),
            )?;
        }
    }
    Ok(())
}

/// Opens (creating it if needed) a file for appending, 0600 whatever the umask.
pub fn append_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(PRIVATE_FILE)
        .open(path)?;
    tighten_open(&file)?;
    Ok(file)
}

/// Creates or truncates a file for writing, 0600 whatever the umask.
pub fn create_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(PRIVATE_FILE)
        .open(path)?;
    tighten_open(&file)?;
    Ok(file)
}

/// Makes sure the database file exists and is 0600 before SQLite opens it: SQLite gives its
/// WAL and shared-memory files the database's own permissions.
pub fn private_database(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        private_directory(parent)?;
    }
    match OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(PRIVATE_FILE)
        .open(path)
    {
        Ok(_) => Ok(()),
        // An existing database may be read-only to us: that is SQLite's to report.
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            let metadata = std::fs::metadata(path)?;
            tighten(&metadata, |mode| std::fs::set_permissions(path, mode))
        }
        Err(error) => Err(error),
    }
}

/// Removes group and other permissions from a file we own that has them.
fn tighten_open(file: &File) -> io::Result<()> {
    tighten(&file.metadata()?, |mode| file.set_permissions(mode))
}

fn tighten(
    metadata: &std::fs::Metadata,
    set: impl FnOnce(std::fs::Permissions) -> io::Result<()>,
) -> io::Result<()> {
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0 && owned_by_us(metadata) {
        set(std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

fn owned_by_us(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    metadata.uid() == unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_are_bounded() {
        assert!(read_small(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
    }
}
