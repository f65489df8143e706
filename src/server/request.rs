//! What a request carries besides its body: the key it presents (Bearer, X-API-Key, or a
//! browser's Basic prompt) and its query string.

use std::io::Read;
use std::time::{Duration, SystemTime};

use hyper::header::HeaderMap;

use crate::analysis::report::Filter;
use crate::outcome::Outcome;
use crate::urls::percent_decode;

/// The report's period when the query does not say.
const DEFAULT_PERIOD: Duration = Duration::from_secs(30 * 86_400);

/// The key a request presents: Bearer, X-API-Key, or Basic's password (a browser's prompt).
pub fn presented_key(headers: &HeaderMap) -> Option<String> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(key) = text("x-api-key").filter(|k| !k.is_empty()) {
        return Some(key.to_string());
    }
    let authorization = text("authorization")?;
    if let Some(key) = authorization.strip_prefix("Bearer ") {
        return Some(key.trim().to_string());
    }
    let basic = authorization.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64_decode(basic.trim())?).ok()?;
    let (_, password) = decoded.split_once(':')?;
    Some(password.to_string())
}

/// Standard base64, as HTTP Basic uses it.
/// A request's media type, lowercase, without parameters.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Why a gzip body could not be inflated.
#[derive(Debug, PartialEq, Eq)]
pub enum Gunzip {
    Damaged,
    /// Inflated, it is over the limit (a gzip bomb stops here, `max` + 1 bytes in).
    TooLarge,
}

/// Inflates gzip, reading at most `max` + 1 bytes of its output: shared by bodies sent with
/// `Content-Encoding: gzip` and by gRPC's compressed frames.
pub fn gunzip_within(compressed: &[u8], max: usize) -> Result<Vec<u8>, Gunzip> {
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(compressed)
        .take(max as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|_| Gunzip::Damaged)?;
    if inflated.len() > max {
        return Err(Gunzip::TooLarge);
    }
    Ok(inflated)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    if text.len() > 4096 {
        return None;
    }
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// A query string's part: `+` is a space there, then `%XX` escapes.
fn form_decode(text: &str) -> String {
    percent_decode(&text.replace('+', " "))
}

/// A request's query string, decoded.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(text: &str) -> Query {
        Query(
            text.split('&')
                .filter(|pair| !pair.is_empty())
                .take(32)
                .map(|pair| {
                    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (form_decode(name), form_decode(value))
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    }

    /// The page's filter: `branch`, `repository`, `command`, `place` (ci or local) and
    /// `outcome` (of the failures listed).
    pub fn filter(&self) -> Result<Filter, String> {
        let place = self.get("place").map(|text| text.parse()).transpose()?;
        let outcome = self
            .get("outcome")
            .map(|text| {
                text.parse::<Outcome>()
                    .ok()
                    .filter(|outcome| outcome.is_failed())
                    .ok_or_else(|| format!("outcome: '{text}' is not a failed outcome"))
            })
            .transpose()?;
        Ok(Filter {
            branch: self.get("branch"),
            repository: self.get("repository"),
            command: self.get("command"),
            place,
            outcome,
        })
    }

    /// `since=7d` or `since=2026-12-01`: the start of the period, and how it was asked for.
    pub fn since(&self) -> Result<(SystemTime, String), String> {
        match self.get("since") {
            Some(text) => crate::since::parse_since(&text)
                .map(|start| (start, text))
                .map_err(|error| format!("since: {error}")),
            None => Ok((
                crate::timestamp::before(SystemTime::now(), DEFAULT_PERIOD),
                "30d".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    #[test]
    fn keys_are_found_in_every_header_a_client_uses() {
        let headers = |name: &'static str, value: &str| {
            let mut map = HeaderMap::new();
            map.insert(name, HeaderValue::from_str(value).unwrap());
            map
        };
        assert_eq!(
            presented_key(&headers("authorization", "Bearer k1")).as_deref(),
            Some("k1")
        );
        assert_eq!(
            presented_key(&headers("x-api-key", "k2")).as_deref(),
            Some("k2")
        );
        // "user:k3"
        assert_eq!(
            presented_key(&headers("authorization", "Basic dXNlcjprMw==")).as_deref(),
            Some("k3")
        );
        assert_eq!(presented_key(&headers("authorization", "Basic !!!")), None);
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }

    #[test]
    fn the_query_is_decoded_and_bounded() {
        let query = Query::parse("branch=feature%2Fx&command=cargo+test&since=7d");
        assert_eq!(query.get("branch").as_deref(), Some("feature/x"));
        assert_eq!(query.get("command").as_deref(), Some("cargo test"));
        assert!(query.since().is_ok());
        assert!(Query::parse("since=forever").since().is_err());
    }
}
