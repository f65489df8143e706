//! The outbox's ledger of accepted claims: what makes "exactly once" survive a full disk.
//!
//! A sender deletes its rows only after the remote accepted them. On a full disk that delete
//! can fail (SQLite needs room in its log even to delete), and the rows would go out again
//! with the next sender. So the claim's token is written here instead: a file of fixed size,
//! its blocks reserved when the outbox was first used, so that writing a slot needs no new
//! room. The next claim deletes the rows of every token listed, in its own transaction,
//! before it selects anything; only once that has committed are the tokens forgotten. A claim
//! that cannot delete them fails, so nothing listed here is ever sent twice.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Slots of one claim token each (a UUID, 36 bytes, padded with zeros).
const SLOTS: usize = 64;
const SLOT: usize = 64;
const SIZE: usize = SLOTS * SLOT;

/// The ledger beside a database (`telemetry.db.delivered`).
#[derive(Debug, Clone)]
pub struct Ledger {
    path: PathBuf,
}

impl Ledger {
    pub fn of(database: &Path) -> Ledger {
        let mut name = database.as_os_str().to_owned();
        name.push(".delivered");
        Ledger {
            path: PathBuf::from(name),
        }
    }

    /// Creates the file with its room reserved, if it does not exist yet. Called after a run
    /// was committed to the outbox, when the disk had room.
    pub fn prepare(&self) -> io::Result<()> {
        if self.path.exists() {
            return Ok(());
        }
        let file = crate::files::append_private(&self.path)?;
        reserve(&file)
    }

    /// Remembers that the rows of `token` were accepted.
    pub fn remember(&self, token: &str) -> io::Result<()> {
        let file = self.open_locked()?;
        let slots = read_slots(&file)?;
        let free = slots
            .iter()
            .position(|slot| slot.is_none())
            .ok_or_else(|| io::Error::other("the ledger of delivered batches is full"))?;
        let mut slot = [0u8; SLOT];
        let bytes = token.as_bytes();
        if bytes.len() >= SLOT {
            return Err(io::Error::other("claim token too long"));
        }
        slot[..bytes.len()].copy_from_slice(bytes);
        file.write_all_at(&slot, (free * SLOT) as u64)
    }

    /// The tokens listed, if any (no file, none).
    pub fn tokens(&self) -> io::Result<Vec<String>> {
        match File::open(&self.path) {
            Ok(file) => Ok(read_slots(&file)?.into_iter().flatten().collect()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(error),
        }
    }

    /// Clears the slots of these tokens, once their rows are gone.
    pub fn forget(&self, tokens: &[String]) -> io::Result<()> {
        let file = self.open_locked()?;
        for (index, slot) in read_slots(&file)?.into_iter().enumerate() {
            if slot.is_some_and(|token| tokens.contains(&token)) {
                file.write_all_at(&[0u8; SLOT], (index * SLOT) as u64)?;
            }
        }
        Ok(())
    }

    /// The file, locked against the other senders' read-modify-write.
    fn open_locked(&self) -> io::Result<File> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)?;
        file.lock()?;
        Ok(file)
    }
}

fn read_slots(file: &File) -> io::Result<Vec<Option<String>>> {
    let mut bytes = vec![0u8; SIZE];
    let read = file.read_at(&mut bytes, 0)?;
    bytes.truncate(read - read % SLOT);
    Ok(bytes
        .chunks(SLOT)
        .map(|slot| {
            let end = slot.iter().position(|&b| b == 0).unwrap_or(SLOT);
            (end > 0).then(|| String::from_utf8_lossy(&slot[..end]).into_owned())
        })
        .collect())
}

/// Reserves the file's blocks, so that writing a slot later needs no room on the disk.
fn reserve(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: posix_fallocate only reads its arguments; the descriptor is open for writing.
    let reserved = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, SIZE as libc::off_t) };
    if reserved != 0 {
        // A file system without fallocate: written zeros, flushed, hold the blocks as well.
        file.write_all_at(&[0u8; SIZE], 0)?;
    }
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_forgets_tokens() {
        let directory = std::env::temp_dir().join(format!("ledger-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let ledger = Ledger::of(&directory.join("t.db"));
        assert!(ledger.tokens().unwrap().is_empty());
        ledger.prepare().unwrap();
        ledger.remember("a-token").unwrap();
        ledger.remember("b-token").unwrap();
        assert_eq!(ledger.tokens().unwrap(), ["a-token", "b-token"]);
        ledger.forget(&["a-token".to_string()]).unwrap();
        assert_eq!(ledger.tokens().unwrap(), ["b-token"]);
        assert_eq!(std::fs::metadata(&ledger.path).unwrap().len(), SIZE as u64);
        std::fs::remove_dir_all(directory).unwrap();
    }
}
