//! libpq's password file (`~/.pgpass`, `PGPASSFILE`): lines of
//! `hostname:port:database:username:password`, `*` matching anything in the first four
//! fields, `\:` and `\\` for a colon and a backslash. As libpq does, a file that its group or
//! others may read is not used (with a warning saying so), and the first line that matches
//! gives the password.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The connection a password is looked up for.
pub struct Wanted {
    host: String,
    port: String,
    database: String,
    user: String,
}

impl Wanted {
    pub fn of(config: &tokio_postgres::Config) -> Wanted {
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(name)) => name.clone(),
            // libpq matches a connection over a Unix socket as `localhost`.
            _ => "localhost".to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or_default().to_string();
        Wanted {
            host,
            port: port.to_string(),
            database: config.get_dbname().unwrap_or(&user).to_string(),
            user,
        }
    }
}

/// The password of the first line that matches, if the file may be used.
pub fn lookup(path: &Path, wanted: &Wanted) -> Option<String> {
    let metadata = std::fs::metadata(path).ok()?;
    if metadata.permissions().mode() & 0o077 != 0 {
        crate::message::say(format!(
            "warning: password file {} has group or world access and is not used; \
             permissions should be u=rw (0600) or less",
            path.display()
        ));
        return None;
    }
    let text = crate::files::read_small(path).ok()?;
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| matching_password(line, wanted))
}

fn matching_password(line: &str, wanted: &Wanted) -> Option<String> {
    let fields = split_fields(line);
    let [host, port, database, user, password] = fields.as_slice() else {
        return None;
    };
    let matches = |field: &String, value: &str| field == "*" || field == value;
    (matches(host, &wanted.host)
        && matches(port, &wanted.port)
        && matches(database, &wanted.database)
        && matches(user, &wanted.user))
    .then(|| password.clone())
}

/// The line's fields, split at unescaped colons, with `\:` and `\\` unescaped. The fifth
/// field (the password) takes the rest of the line.
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut characters = line.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => fields
                .last_mut()
                .expect("one field at least")
                .extend(characters.next()),
            ':' if fields.len() < 5 => fields.push(String::new()),
            other => fields.last_mut().expect("one field at least").push(other),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(url: &str) -> Wanted {
        Wanted::of(&url.parse().unwrap())
    }

    #[test]
    fn the_first_matching_line_gives_the_password() {
        let directory = std::env::temp_dir().join(format!("pgpass-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("pgpass");
        std::fs::write(
            &path,
            "# comment\n\
             db.example:5432:other:team:wrong\n\
             db.example:*:runs:team:p\\:a\\\\ss:word\n\
             *:*:*:*:fallback\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            lookup(&path, &wanted("postgres://team@db.example/runs")).as_deref(),
            Some("p:a\\ss:word")
        );
        assert_eq!(
            lookup(&path, &wanted("postgres://someone@elsewhere:6000/x")).as_deref(),
            Some("fallback")
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            lookup(&path, &wanted("postgres://team@db.example/runs")),
            None,
            "a file others may read is not used"
        );
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn the_database_defaults_to_the_user_and_a_short_line_matches_nothing() {
        let wanted = wanted("postgres://team@db.example");
        assert_eq!(wanted.database, "team");
        assert_eq!(wanted.port, "5432");
        assert_eq!(matching_password("db.example:5432:team", &wanted), None);
    }
}
