//! Where the team store's PostgreSQL is and how to reach it, as libpq users write it: a
//! `postgres://` URL with libpq's TLS parameters (`sslmode` up to `verify-full`,
//! `sslrootcert`, `sslcert`, `sslkey`), the `PGSSL*` variables as their defaults, and the
//! password from the URL, `--password-file`, `PGPASSWORD` or a password file (`passfile`,
//! `PGPASSFILE`, `~/.pgpass`), in that order, as libpq looks for it. tokio-postgres reads the
//! rest of the URL; it knows only `disable`, `prefer` and `require`, so the TLS parameters
//! are taken out before it sees the URL and the certificate checks are made by the connector
//! (`delivery::tls::postgres_connector`).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::config::telemetry::{ServerCheck, Trust};

/// libpq's `sslmode`: whether TLS is used, and what the server's certificate must prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    /// TLS when the server offers it, else plain text (libpq's default).
    #[default]
    Prefer,
    Require,
    /// TLS, with a certificate signed by a trusted CA.
    VerifyCa,
    /// TLS, with a certificate signed by a trusted CA for the host connected to.
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<SslMode, TargetError> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => return Err(TargetError::SslMode(other.to_string())),
        })
    }
}

/// How the connection to PostgreSQL is encrypted and what it trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTls {
    pub mode: SslMode,
    /// `sslrootcert` (trusted besides the system's store, as for every transport), and
    /// `sslcert`/`sslkey`, the client certificate PostgreSQL may ask for.
    pub trust: Trust,
}

impl PgTls {
    /// What the connector checks of the server's certificate. `require` with a root
    /// certificate given checks the chain, as libpq does.
    pub fn server_check(&self) -> ServerCheck {
        match self.mode {
            SslMode::Disable | SslMode::Prefer => ServerCheck::Nothing,
            SslMode::Require if self.trust.ca_file.is_none() => ServerCheck::Nothing,
            SslMode::Require | SslMode::VerifyCa => ServerCheck::Chain,
            SslMode::VerifyFull => ServerCheck::ChainAndName,
        }
    }
}

/// A PostgreSQL URL that cannot be used; `Display` is one line that never shows a password.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("sslmode '{0}' is not one of disable, prefer, require, verify-ca, verify-full")]
    SslMode(String),
    #[error("the PostgreSQL URL: {0}")]
    Url(String),
    #[error("{}: {source}", path.display())]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: the password file is empty", path.display())]
    EmptyPasswordFile { path: PathBuf },
}

/// The parameters taken out of the URL before tokio-postgres reads it.
const LIBPQ_ONLY: [&str; 5] = ["sslmode", "sslrootcert", "sslcert", "sslkey", "passfile"];

/// Where the password may come from besides the URL.
pub struct PasswordSources<'a> {
    /// `serve --password-file`: the first line of the file.
    pub file: Option<&'a Path>,
    /// The environment (`PGPASSWORD`, `PGPASSFILE`, `PGSSLMODE`, …, `HOME`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// The team store's PostgreSQL: what tokio-postgres connects to, and the TLS around it.
pub struct PgTarget {
    pub config: tokio_postgres::Config,
    pub tls: PgTls,
    /// The URL without credentials or query, for messages.
    pub shown: String,
}

impl PgTarget {
    pub fn parse(url: &str, sources: &PasswordSources) -> Result<PgTarget, TargetError> {
        let shown = crate::urls::redact_url(url);
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut given = std::collections::HashMap::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if LIBPQ_ONLY.contains(&key) {
                let value = percent_encoding::percent_decode_str(value)
                    .decode_utf8()
                    .map_err(|_| TargetError::Url(format!("{key} is not UTF-8")))?;
                given.insert(key, value.into_owned());
            } else {
                kept.push(pair);
            }
        }
        let mut setting =
            |key: &str, variable: &str| given.remove(key).or_else(|| (sources.env)(variable));
        let mode = match setting("sslmode", "PGSSLMODE") {
            Some(text) => text.parse()?,
            None => SslMode::default(),
        };
        let trust = Trust {
            ca_file: setting("sslrootcert", "PGSSLROOTCERT")
                .filter(|root| root != "system")
                .map(PathBuf::from),
            client_cert: setting("sslcert", "PGSSLCERT").map(PathBuf::from),
            client_key: setting("sslkey", "PGSSLKEY").map(PathBuf::from),
        };
        let passfile = setting("passfile", "PGPASSFILE");
        let rest = match kept.is_empty() {
            true => base.to_string(),
            false => format!("{base}?{}", kept.join("&")),
        };
        let mut config: tokio_postgres::Config = rest.parse().map_err(|error| {
            TargetError::Url(crate::urls::redact_urls_in(&crate::message::with_causes(
                &error,
            )))
        })?;
        config.ssl_mode(match mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        if config.get_password().is_none() {
            if let Some(password) = password(&config, sources, passfile)? {
                config.password(password);
            }
        }
        Ok(PgTarget {
            config,
            tls: PgTls { mode, trust },
            shown,
        })
    }
}

/// The password when the URL has none: `--password-file`, `PGPASSWORD`, then the password
/// file's line for this host, port, database and user.
fn password(
    config: &tokio_postgres::Config,
    sources: &PasswordSources,
    passfile: Option<String>,
) -> Result<Option<String>, TargetError> {
    if let Some(path) = sources.file {
        let text = crate::files::read_small(path).map_err(|source| TargetError::PasswordFile {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8_lossy(&text);
        let first = text.lines().next().unwrap_or_default();
        if first.is_empty() {
            return Err(TargetError::EmptyPasswordFile {
                path: path.to_path_buf(),
            });
        }
        return Ok(Some(first.to_string()));
    }
    if let Some(password) = (sources.env)("PGPASSWORD").filter(|p| !p.is_empty()) {
        return Ok(Some(password));
    }
    let path = match passfile {
        Some(path) => PathBuf::from(path),
        None => match (sources.env)("HOME") {
            Some(home) => Path::new(&home).join(".pgpass"),
            None => return Ok(None),
        },
    };
    Ok(super::passfile::lookup(
        &path,
        &super::passfile::Wanted::of(config),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str, env: &[(&str, &str)]) -> Result<PgTarget, TargetError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |key: &str| {
            env.iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value.clone())
        };
        PgTarget::parse(
            url,
            &PasswordSources {
                file: None,
                env: &lookup,
            },
        )
    }

    #[test]
    fn the_tls_parameters_are_taken_out_and_the_rest_is_read_by_tokio_postgres() {
        let target = parse(
            "postgres://team@db.example:6543/runs?sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20x.pem&application_name=ee&sslcert=c.pem&sslkey=k.pem",
            &[],
        )
        .unwrap();
        assert_eq!(target.tls.mode, SslMode::VerifyFull);
        assert_eq!(target.tls.server_check(), ServerCheck::ChainAndName);
        assert_eq!(
            target.tls.trust.ca_file.as_deref(),
            Some(Path::new("/etc/ca x.pem"))
        );
        assert_eq!(
            target.tls.trust.client_cert.as_deref(),
            Some(Path::new("c.pem"))
        );
        assert_eq!(target.config.get_application_name(), Some("ee"));
        assert_eq!(target.config.get_ports(), [6543]);
        assert_eq!(
            target.shown,
            "postgres://[REDACTED]@db.example:6543/runs?[REDACTED]"
        );
    }

    #[test]
    fn the_variables_are_defaults_that_the_url_overrides() {
        let env = [("PGSSLMODE", "verify-ca"), ("PGSSLROOTCERT", "/ca.pem")];
        let target = parse("postgres://team@db/runs", &env).unwrap();
        assert_eq!(target.tls.mode, SslMode::VerifyCa);
        assert_eq!(target.tls.server_check(), ServerCheck::Chain);
        let target = parse("postgres://team@db/runs?sslmode=require", &env).unwrap();
        assert_eq!(target.tls.mode, SslMode::Require);
        assert_eq!(
            target.tls.server_check(),
            ServerCheck::Chain,
            "require with a root certificate checks the chain, as libpq does"
        );
        let target = parse("postgres://team@db/runs?sslrootcert=system", &[]).unwrap();
        assert_eq!(target.tls.trust.ca_file, None);
        assert_eq!(target.tls.server_check(), ServerCheck::Nothing);
    }

    #[test]
    fn the_password_comes_from_the_url_then_pgpassword() {
        let target = parse("postgres://team:inurl@db/runs", &[("PGPASSWORD", "env")]).unwrap();
        assert_eq!(target.config.get_password(), Some(&b"inurl"[..]));
        let target = parse("postgres://team@db/runs", &[("PGPASSWORD", "env")]).unwrap();
        assert_eq!(target.config.get_password(), Some(&b"env"[..]));
        let target = parse("postgres://team@db/runs", &[("HOME", "/nonexistent")]).unwrap();
        assert_eq!(target.config.get_password(), None);
    }

    #[test]
    fn a_bad_mode_or_url_is_one_line_without_the_password() {
        let error = parse("postgres://team:hunter2@db/runs?sslmode=verify", &[])
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            error,
            "sslmode 'verify' is not one of disable, prefer, require, verify-ca, verify-full"
        );
        let error = parse("postgres://team:hunter2@db/runs?nosuch=1", &[])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("nosuch"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}
