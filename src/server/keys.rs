//! API keys: made here, kept only as their SHA-256 (a key holds 244 random bits, so a fast hash
//! is enough and a stolen database holds no key), and looked up by that hash at every request
//! (so a revoked key stops working at once; the lookup compares hashes, which tell nothing of
//! a key). A key writes (runners) or reads (the report and the JSON API), not both.

use sha2::{Digest, Sha256};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyRole {
    /// Send runs: `POST /api/v1/events`, `/v1/traces`, `/v1/logs`
    Write,
    /// Read the report at `/` and the JSON API
    Read,
}

impl KeyRole {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Write => "write",
            KeyRole::Read => "read",
        }
    }
}

impl std::str::FromStr for KeyRole {
    type Err = String;

    fn from_str(text: &str) -> Result<KeyRole, String> {
        <KeyRole as clap::ValueEnum>::from_str(text, false)
    }
}

/// A new key: `eek_` and 64 hex digits from the system's random source (two v4 UUIDs, 244
/// random bits).
pub fn generate() -> String {
    let random = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
    format!("eek_{}{}", random[0].simple(), random[1].simple())
}

/// A key given on standard input (its first line), for runners that already send one. Never
/// echoed, in an error either.
pub fn read_given(input: impl std::io::Read) -> Result<String, String> {
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(input.take(MAX_GIVEN_KEY as u64 + 2)),
        &mut line,
    )
    .map_err(|e| format!("cannot read the key from standard input: {e}"))?;
    let key = line.trim_end_matches(['\r', '\n']);
    if !(MIN_GIVEN_KEY..=MAX_GIVEN_KEY).contains(&key.len())
        || !key.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(format!(
            "the key on standard input must be {MIN_GIVEN_KEY} to {MAX_GIVEN_KEY} printable \
             characters without spaces"
        ));
    }
    Ok(key.to_string())
}

/// Bounds of a given key: long enough not to be guessed online, short enough for a header.
const MIN_GIVEN_KEY: usize = 16;
const MAX_GIVEN_KEY: usize = 200;

/// The hash a key is kept as.
pub fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A key that was recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: KeyRole,
}

impl Caller {
    /// The caller of a key in force, from its name and role as the store keeps them.
    pub fn of(name: String, role: &str) -> Option<Caller> {
        Some(Caller {
            name,
            role: role.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_key_is_its_first_line_within_bounds() {
        assert_eq!(
            read_given(&b"test-key-9f8e7d6c\nmore"[..]).unwrap(),
            "test-key-9f8e7d6c"
        );
        for bad in [&b"short\n"[..], b"has a space in it here\n", &[b'k'; 300]] {
            let error = read_given(bad).unwrap_err();
            assert!(error.contains("16 to 200"), "{error}");
        }
    }

    #[test]
    fn keys_are_new_each_time_and_kept_as_hashes() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), a);
        assert_eq!("read".parse(), Ok(KeyRole::Read));
        assert!("admin".parse::<KeyRole>().is_err());
    }
}
