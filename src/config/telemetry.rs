//! Telemetry settings: defaults < config file < `EARLYEXIT_*` environment < flags, with a record
//! of where each value in force came from (shown by `earlyexit telemetry status`).
//!
//! Every setting is one row of [`KEYS`]: its dotted name in the file, the environment variable
//! derived from that name (`telemetry.sqlite.path` → `EARLYEXIT_TELEMETRY_SQLITE_PATH`), how to
//! parse it and how to show it. File and environment values go through the same parser.

use std::fmt;
use std::path::{Path, PathBuf};

use super::file::{self, FileError};

/// Where telemetry goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    File,
    None,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::File => "file",
            Backend::None => "none",
        }
    }

    fn parse(text: &str) -> Result<Backend, String> {
        match text {
            "sqlite" => Ok(Backend::Sqlite),
            "file" => Ok(Backend::File),
            "none" => Ok(Backend::None),
            other => Err(format!(
                "unknown backend '{other}' (expected sqlite, file or none)"
            )),
        }
    }
}

/// Compression of rotated JSON Lines files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

/// Where the value of a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File { path: PathBuf, line: usize },
    Environment(String),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Environment(name) => write!(f, "${name}"),
            Origin::Flag(flag) => write!(f, "{flag}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqliteSettings {
    pub path: PathBuf,
    pub wal_mode: bool,
    pub retention_days: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileSettings {
    pub path: PathBuf,
    /// Rotate before the file would grow past this many megabytes (10^6 bytes).
    pub rotate_size_mb: f64,
    pub compression: Compression,
}

/// Every resolved telemetry choice.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetrySettings {
    pub enabled: bool,
    pub backend: Backend,
    pub sqlite: SqliteSettings,
    pub file: FileSettings,
    /// Keep only the minimal detail in local sinks too.
    pub anonymize: bool,
    pub scrub_pii: bool,
    pub debug: bool,
    /// Print what would be written instead of writing it.
    pub dry_run: bool,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    origins: Vec<(&'static str, Origin)>,
}

/// The telemetry options given on the command line.
#[derive(Debug, Clone, Default)]
pub struct TelemetryFlags {
    pub config: Option<PathBuf>,
    pub backend: Option<String>,
    pub no_telemetry: bool,
    pub dry_run: bool,
}

/// A setting that cannot be used; `Display` is the one line the user sees.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Value { origin: String, message: String },
}

type Apply = fn(&mut TelemetrySettings, &str) -> Result<(), String>;
type Show = fn(&TelemetrySettings) -> String;

/// One setting: its name in the file, its parser and its display.
struct Key {
    name: &'static str,
    apply: Apply,
    show: Show,
}

const KEYS: &[Key] = &[
    Key {
        name: "telemetry.enabled",
        apply: |s, v| set_bool(&mut s.enabled, v),
        show: |s| s.enabled.to_string(),
    },
    Key {
        name: "telemetry.backend",
        apply: |s, v| {
            s.backend = Backend::parse(v)?;
            Ok(())
        },
        show: |s| s.backend.as_str().into(),
    },
    Key {
        name: "telemetry.sqlite.path",
        apply: |s, v| set_path(&mut s.sqlite.path, v),
        show: |s| s.sqlite.path.display().to_string(),
    },
    Key {
        name: "telemetry.sqlite.wal_mode",
        apply: |s, v| set_bool(&mut s.sqlite.wal_mode, v),
        show: |s| s.sqlite.wal_mode.to_string(),
    },
    Key {
        name: "telemetry.sqlite.retention_days",
        apply: |s, v| {
            s.sqlite.retention_days = v
                .parse()
                .map_err(|_| format!("expected a whole number of days, found '{v}'"))?;
            Ok(())
        },
        show: |s| s.sqlite.retention_days.to_string(),
    },
    Key {
        name: "telemetry.file.path",
        apply: |s, v| set_path(&mut s.file.path, v),
        show: |s| s.file.path.display().to_string(),
    },
    Key {
        name: "telemetry.file.rotate_size_mb",
        apply: |s, v| {
            s.file.rotate_size_mb = v
                .parse::<f64>()
                .ok()
                .filter(|mb| mb.is_finite() && *mb > 0.0)
                .ok_or_else(|| format!("expected a positive number of megabytes, found '{v}'"))?;
            Ok(())
        },
        show: |s| s.file.rotate_size_mb.to_string(),
    },
    Key {
        name: "telemetry.file.compression",
        apply: |s, v| {
            s.file.compression = match v {
                "gzip" => Compression::Gzip,
                "none" | "" => Compression::None,
                other => {
                    return Err(format!(
                        "unknown compression '{other}' (expected gzip or none)"
                    ))
                }
            };
            Ok(())
        },
        show: |s| match s.file.compression {
            Compression::Gzip => "gzip".into(),
            Compression::None => "none".into(),
        },
    },
    Key {
        name: "telemetry.anonymize",
        apply: |s, v| set_bool(&mut s.anonymize, v),
        show: |s| s.anonymize.to_string(),
    },
    Key {
        name: "telemetry.scrub_pii",
        apply: |s, v| set_bool(&mut s.scrub_pii, v),
        show: |s| s.scrub_pii.to_string(),
    },
    Key {
        name: "telemetry.debug",
        apply: |s, v| set_bool(&mut s.debug, v),
        show: |s| s.debug.to_string(),
    },
];

fn set_bool(target: &mut bool, value: &str) -> Result<(), String> {
    *target =
        parse_bool(value).ok_or_else(|| format!("expected true or false, found '{value}'"))?;
    Ok(())
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn set_path(target: &mut PathBuf, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("expected a path, found nothing".into());
    }
    *target = PathBuf::from(value);
    Ok(())
}

/// The environment variable that sets a key: `telemetry.sqlite.path` →
/// `EARLYEXIT_TELEMETRY_SQLITE_PATH`.
pub fn environment_variable(key: &str) -> String {
    format!("EARLYEXIT_{}", key.to_ascii_uppercase().replace('.', "_"))
}

impl TelemetrySettings {
    fn defaults(home: &Path) -> TelemetrySettings {
        let dir = home.join(".earlyexit");
        TelemetrySettings {
            enabled: true,
            backend: Backend::Sqlite,
            sqlite: SqliteSettings {
                path: dir.join("telemetry.db"),
                wal_mode: true,
                retention_days: 90,
            },
            file: FileSettings {
                path: dir.join("telemetry.jsonl"),
                rotate_size_mb: 100.0,
                compression: Compression::None,
            },
            anonymize: false,
            scrub_pii: true,
            debug: false,
            dry_run: false,
            config_file: None,
            origins: Vec::new(),
        }
    }

    /// Resolves the settings. `env` looks up an environment variable (a closure, so that tests
    /// need not touch the process environment).
    pub fn resolve(
        flags: &TelemetryFlags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<TelemetrySettings, ConfigError> {
        let home = PathBuf::from(env("HOME").unwrap_or_else(|| "/".into()));
        let expand = |value: &str| expand(value, &home, env);
        let mut settings = TelemetrySettings::defaults(&home);

        let (config_path, explicit) = match (&flags.config, env("EARLYEXIT_CONFIG")) {
            (Some(path), _) => (path.clone(), true),
            (None, Some(path)) if !path.is_empty() => (PathBuf::from(expand(&path)), true),
            _ => (home.join(".earlyexit").join("config.yaml"), false),
        };
        match std::fs::read_to_string(&config_path) {
            Ok(text) => {
                for entry in file::parse(&config_path, &text)? {
                    let file_error = |message: String| FileError {
                        path: config_path.clone(),
                        line: entry.line,
                        message,
                    };
                    let key = KEYS
                        .iter()
                        .find(|k| k.name == entry.key)
                        .ok_or_else(|| file_error(format!("unknown key '{}'", entry.key)))?;
                    (key.apply)(&mut settings, &expand(&entry.value))
                        .map_err(|message| file_error(format!("{}: {message}", entry.key)))?;
                    settings.set_origin(
                        key.name,
                        Origin::File {
                            path: config_path.clone(),
                            line: entry.line,
                        },
                    );
                }
                settings.config_file = Some(config_path);
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !explicit => {}
            Err(source) => {
                return Err(ConfigError::Read {
                    path: config_path,
                    source,
                })
            }
        }

        for key in KEYS {
            let variable = environment_variable(key.name);
            if let Some(value) = env(&variable) {
                (key.apply)(&mut settings, &expand(&value)).map_err(|message| {
                    ConfigError::Value {
                        origin: variable.clone(),
                        message,
                    }
                })?;
                settings.set_origin(key.name, Origin::Environment(variable));
            }
        }
        let disabled_by = [
            (
                "EARLYEXIT_NO_TELEMETRY",
                env("EARLYEXIT_NO_TELEMETRY").and_then(|v| parse_bool(&v)),
            ),
            (
                "OTEL_SDK_DISABLED",
                env("OTEL_SDK_DISABLED").map(|v| v.eq_ignore_ascii_case("true")),
            ),
        ];
        for (variable, disabled) in disabled_by {
            if disabled == Some(true) {
                settings.enabled = false;
                settings.set_origin("telemetry.enabled", Origin::Environment(variable.into()));
            }
        }

        if let Some(backend) = &flags.backend {
            settings.backend = Backend::parse(backend).map_err(|message| ConfigError::Value {
                origin: "--telemetry-backend".into(),
                message,
            })?;
            settings.set_origin("telemetry.backend", Origin::Flag("--telemetry-backend"));
        }
        if flags.no_telemetry {
            settings.enabled = false;
            settings.set_origin("telemetry.enabled", Origin::Flag("--no-telemetry"));
        }
        settings.dry_run = flags.dry_run;
        Ok(settings)
    }

    /// True when a run records anything at all.
    pub fn is_active(&self) -> bool {
        self.enabled && self.backend != Backend::None
    }

    fn set_origin(&mut self, key: &'static str, origin: Origin) {
        self.origins.retain(|(k, _)| *k != key);
        self.origins.push((key, origin));
    }

    /// Every setting with its value and where that value came from, in a stable order.
    pub fn describe(&self) -> Vec<(&'static str, String, Origin)> {
        KEYS.iter()
            .map(|key| {
                let origin = self
                    .origins
                    .iter()
                    .find(|(k, _)| *k == key.name)
                    .map_or(Origin::Default, |(_, o)| o.clone());
                (key.name, (key.show)(self), origin)
            })
            .collect()
    }
}

/// Expands `${VAR}` anywhere and a leading `~`. An unset variable expands to nothing, as in a
/// shell.
fn expand(value: &str, home: &Path, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(length) = rest[start + 2..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&env(&rest[start + 2..start + 2 + length]).unwrap_or_default());
        rest = &rest[start + 3 + length..];
    }
    out.push_str(rest);
    if out == "~" {
        return home.display().to_string();
    }
    match out.strip_prefix("~/") {
        Some(tail) => home.join(tail).display().to_string(),
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn environment_variables_follow_the_key_names() {
        assert_eq!(
            environment_variable("telemetry.backend"),
            "EARLYEXIT_TELEMETRY_BACKEND"
        );
        assert_eq!(
            environment_variable("telemetry.sqlite.path"),
            "EARLYEXIT_TELEMETRY_SQLITE_PATH"
        );
    }

    #[test]
    fn expansion_of_home_and_variables() {
        let env = env_of(&[("TEAM", "qa")]);
        let home = Path::new("/home/u");
        assert_eq!(expand("~/x/${TEAM}.db", home, &env), "/home/u/x/qa.db");
        assert_eq!(expand("${MISSING}x", home, &env), "x");
        assert_eq!(expand("a${unclosed", home, &env), "a${unclosed");
    }

    #[test]
    fn flags_beat_environment_beats_defaults() {
        let env = env_of(&[
            ("HOME", "/nonexistent-home"),
            ("EARLYEXIT_TELEMETRY_BACKEND", "file"),
        ]);
        let settings = TelemetrySettings::resolve(&TelemetryFlags::default(), &env).unwrap();
        assert_eq!(settings.backend, Backend::File);
        let flags = TelemetryFlags {
            backend: Some("none".into()),
            ..TelemetryFlags::default()
        };
        let settings = TelemetrySettings::resolve(&flags, &env).unwrap();
        assert_eq!(settings.backend, Backend::None);
        let origin = settings
            .describe()
            .into_iter()
            .find(|(k, _, _)| *k == "telemetry.backend")
            .unwrap()
            .2;
        assert_eq!(origin, Origin::Flag("--telemetry-backend"));
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let env = env_of(&[
            ("HOME", "/nonexistent-home"),
            ("EARLYEXIT_TELEMETRY_DEBUG", "maybe"),
        ]);
        let message = TelemetrySettings::resolve(&TelemetryFlags::default(), &env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "EARLYEXIT_TELEMETRY_DEBUG: expected true or false, found 'maybe'"
        );
    }
}
