//! Reads `config.yaml` into flat `dotted.key = value` entries that remember their line, so that
//! every later error can name the file, the line and the key.

use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use super::telemetry::ValueProblem;

/// One scalar of the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The dotted path, e.g. `telemetry.sqlite.path`.
    pub key: String,
    /// The scalar as text (`true`, `90`, `~/x.db`), before `${VAR}` expansion.
    pub value: String,
    /// 1-based.
    pub line: usize,
}

/// A config file that cannot be used; the message starts with `file:line:`.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {problem}", path.display())]
pub struct FileError {
    pub path: PathBuf,
    pub line: usize,
    pub problem: FileProblem,
}

/// What is wrong at that line.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    #[error("invalid YAML: {0}")]
    InvalidYaml(String),
    #[error("keys must be plain words")]
    KeyNotAWord,
    #[error("the file must be a mapping (for example `telemetry:`)")]
    NotAMapping,
    #[error("{0}: a list is not allowed here")]
    List(String),
    #[error("{0}: unsupported YAML value (anchors and tags are not used)")]
    Unsupported(String),
    #[error("unknown key '{0}'")]
    UnknownKey(String),
    #[error("{0}: {1}")]
    Value(String, ValueProblem),
}

/// Parses YAML text into entries. An empty file has none.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Entry>, FileError> {
    let error = |line: usize, problem: FileProblem| FileError {
        path: path.to_path_buf(),
        line,
        problem,
    };
    let documents = MarkedYaml::load_from_str(text).map_err(|e| {
        error(
            e.marker().line(),
            FileProblem::InvalidYaml(e.info().to_string()),
        )
    })?;
    let mut entries = Vec::new();
    if let Some(root) = documents.first() {
        flatten(root, "", &mut entries).map_err(|(line, problem)| error(line, problem))?;
    }
    Ok(entries)
}

fn flatten(
    node: &MarkedYaml<'_>,
    prefix: &str,
    out: &mut Vec<Entry>,
) -> Result<(), (usize, FileProblem)> {
    let line = node.span.start.line();
    match &node.data {
        YamlData::Mapping(mapping) => {
            for (key, value) in mapping {
                let name = match &key.data {
                    YamlData::Value(Scalar::String(name)) => name.to_string(),
                    _ => return Err((key.span.start.line(), FileProblem::KeyNotAWord)),
                };
                let path = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}.{name}")
                };
                flatten(value, &path, out)?;
            }
            Ok(())
        }
        YamlData::Value(scalar) if !prefix.is_empty() => {
            let value = match scalar {
                Scalar::Null => String::new(),
                Scalar::Boolean(b) => b.to_string(),
                Scalar::Integer(i) => i.to_string(),
                Scalar::FloatingPoint(f) => f.to_string(),
                Scalar::String(s) => s.to_string(),
            };
            out.push(Entry {
                key: prefix.to_string(),
                value,
                line,
            });
            Ok(())
        }
        YamlData::Value(_) => Err((line, FileProblem::NotAMapping)),
        YamlData::Sequence(_) => Err((line, FileProblem::List(prefix.to_string()))),
        _ => Err((line, FileProblem::Unsupported(prefix.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_flatten_with_their_lines() {
        let text = "telemetry:\n  backend: sqlite\n  sqlite:\n    retention_days: 30\n    wal_mode: false\n";
        let entries = parse(Path::new("c.yaml"), text).unwrap();
        let flat: Vec<_> = entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect();
        assert_eq!(
            flat,
            [
                ("telemetry.backend", "sqlite", 2),
                ("telemetry.sqlite.retention_days", "30", 4),
                ("telemetry.sqlite.wal_mode", "false", 5),
            ]
        );
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let message = parse(Path::new("c.yaml"), "telemetry:\n  backend: [unclosed\n")
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("c.yaml:"), "{message}");
        assert!(message.contains("invalid YAML"), "{message}");
    }

    #[test]
    fn empty_file_is_fine() {
        assert!(parse(Path::new("c.yaml"), "").unwrap().is_empty());
        assert!(parse(Path::new("c.yaml"), "# only a comment\n")
            .unwrap()
            .is_empty());
    }
}
