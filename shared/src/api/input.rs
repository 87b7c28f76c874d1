//! The edge: request bodies, path parameters and paging queries, read into domain values with every
//! broken field collected (serde's derive stops at the first error; one 400 names them all).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::api::error::{ApiError, Problems};

/// The largest request body accepted: larger gets 413 1002.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON object request body. Bodies over [`MAX_BODY_BYTES`] are 413 1002; anything that is not a
/// JSON object is 400 1000; one that names a key twice in an object is 400 1001 naming it. The `Content-Type` header is not required (a decision: clients that
/// forget it still get a precise answer about the body itself).
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::Malformed(rejection.body_text())
            }
        })?;
        match parse_strict(&bytes) {
            Ok((Value::Object(map), repeated)) if repeated.is_empty() => Ok(Self(map)),
            Ok((Value::Object(_), repeated)) => {
                let mut problems = Problems::default();
                for path in repeated {
                    problems.add(path, "appears twice in one object");
                }
                problems.finish(|| None)
            }
            Ok(_) => Err(ApiError::Malformed("the body must be a JSON object".into())),
            Err(e) => Err(ApiError::Malformed(e.to_string())),
        }
    }
}

/// A request body that reads itself from a JSON object: every broken field is recorded in
/// `problems` under its full path (so one 400 names them all), and the value comes back only when
/// nothing was broken. The same type gives the route's OpenAPI schema. Handlers parse after they
/// authorize: a caller without the permission learns nothing about a body's rules.
///
/// Bodies that name things only the store can check (users that must exist) are read with their
/// own `read(fields, problems) -> Self` instead, which keeps every part that did read, so the
/// handler adds what the lookups find to the same problems before it answers (tokens, settings,
/// recipients).
pub trait FromBody: Sized {
    fn read(body: &Fields<'_>, problems: &mut Problems) -> Option<Self>;

    /// Reads a whole body: the value, or the one 400 that lists every broken field.
    fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut problems = Problems::default();
        let value = Self::read(&Fields::new(body, ""), &mut problems);
        problems.finish(|| value)
    }
}

/// Reads a JSON body, collecting the path of every key that an object names twice (`serde_json`
/// alone keeps the last one silently; a body such as `{"type": "slack", "type": "webhook"}` is
/// ambiguous, so it is refused: 400 1001, one detail per repeated key, "appears twice").
fn parse_strict(bytes: &[u8]) -> Result<(Value, Vec<String>), serde_json::Error> {
    use serde::de::DeserializeSeed;
    let repeated = std::cell::RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict {
        at: &At::Root,
        repeated: &repeated,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok((value, repeated.into_inner()))
}

/// Where a value sits in the body, built only when a repeated key has to be named.
enum At<'a> {
    Root,
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl At<'_> {
    fn path(&self) -> String {
        match self {
            At::Root => String::new(),
            At::Key(parent, key) => match parent.path() {
                p if p.is_empty() => (*key).to_owned(),
                p => format!("{p}.{key}"),
            },
            At::Index(parent, i) => format!("{}[{i}]", parent.path()),
        }
    }
}

#[derive(Clone, Copy)]
struct Strict<'a> {
    at: &'a At<'a>,
    repeated: &'a std::cell::RefCell<Vec<String>>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let at = At::Index(self.at, items.len());
            let seed = Strict {
                at: &at,
                repeated: self.repeated,
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = At::Key(self.at, &key);
            let value = map.next_value_seed(Strict {
                at: &at,
                repeated: self.repeated,
            })?;
            if out.contains_key(&key) {
                self.repeated.borrow_mut().push(at.path());
            } else {
                out.insert(key, value);
            }
        }
        Ok(Value::Object(out))
    }
}

/// Path parameters. A parameter that cannot even be decoded names nothing that exists: 404 3001.
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Self(v))
            .map_err(|_| ApiError::NotFound)
    }
}

/// `/v1/organizations/{organizationId}/...`
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgPath {
    pub organization_id: String,
}

/// `?limit=&cursor=` of every list route: `limit` 1–100 (default 50), `cursor` the opaque value of
/// a previous page's `nextCursor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageQuery {
    pub limit: usize,
    /// The decoded cursor: the sort key of the last item already seen.
    pub after: Option<String>,
}

impl PageQuery {
    pub const DEFAULT_LIMIT: usize = 50;
    pub const MAX_LIMIT: usize = 100;

    pub fn parse(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let mut problems = Problems::default();
        let limit = match query.get("limit") {
            None => Some(Self::DEFAULT_LIMIT),
            Some(raw) => problems.check(
                "limit",
                raw.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=Self::MAX_LIMIT).contains(n))
                    .ok_or("must be an integer from 1 to 100"),
            ),
        };
        let after = match query.get("cursor").filter(|c| !c.is_empty()) {
            None => Some(None),
            Some(raw) => problems.check("cursor", decode_cursor(raw).map(Some)),
        };
        problems.finish(|| {
            Some(Self {
                limit: limit?,
                after: after?,
            })
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(query) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::field("query", "must be a valid query string"))?;
        Self::parse(&query)
    }
}

/// The opaque cursor handed to clients for "after this key": the key in unpadded base64url.
pub fn encode_cursor(after: &str) -> String {
    URL_SAFE_NO_PAD.encode(after.as_bytes())
}

/// What a `cursor` may be, as the OpenAPI document says: unpadded base64url of 1 to 254 bytes.
/// Any such cursor is accepted (a page after whatever key it names); one from `nextCursor`
/// continues the list.
pub const CURSOR_PATTERN: &str = "^(?:[A-Za-z0-9_-]{4}){0,84}(?:[A-Za-z0-9_-]{2,3})?$";

fn decode_cursor(raw: &str) -> Result<String, &'static str> {
    const MSG: &str = "must be a nextCursor returned by this list";
    // The pattern's length; the decoder refuses what else the pattern does (other characters,
    // padding, a length of 4n + 1).
    if raw.len() > 84 * 4 + 3 {
        return Err(MSG);
    }
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    );
    let bytes = LENIENT.decode(raw).map_err(|_| MSG)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The error of a field reader: the problem is already recorded in [`Problems`]; the caller has
/// nothing more to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reported;

/// Field readers over a JSON object, each reporting into [`Problems`] under the field's full path.
/// `null` reads as absent.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>, prefix: &str) -> Self {
        Self {
            map,
            prefix: prefix.to_owned(),
        }
    }

    /// The full path of `key`, as `details[].field` names it.
    pub fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// The value of `key` as sent (`null` reads as absent), for fields with their own shape.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.get(key)
    }

    /// The value of `key` even when it is `null` (for fields where `null` is an error).
    pub fn present(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Reports every key not in `allowed` as unknown.
    pub fn deny_unknown(&self, allowed: &[&str], problems: &mut Problems) {
        for key in self.map.keys().filter(|k| !allowed.contains(&k.as_str())) {
            problems.add(self.path(key), "is not a known field");
        }
    }

    /// An optional string of at most `max` characters.
    pub fn opt_str(
        &self,
        key: &str,
        max: usize,
        problems: &mut Problems,
    ) -> Result<Option<&'a str>, Reported> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s)),
            Some(Value::String(_)) => {
                problems.add(self.path(key), format!("must be at most {max} characters"));
                Err(Reported)
            }
            Some(_) => {
                problems.add(self.path(key), "must be a string");
                Err(Reported)
            }
        }
    }

    /// A required string of at most `max` characters.
    pub fn str(&self, key: &str, max: usize, problems: &mut Problems) -> Option<&'a str> {
        match self.opt_str(key, max, problems) {
            Ok(Some(s)) => Some(s),
            Ok(None) => {
                problems.add(self.path(key), "is required");
                None
            }
            Err(Reported) => None,
        }
    }

    /// An optional string of at most `max` characters, read by `parse` (its error is the
    /// field's message).
    pub fn opt_parsed<T>(
        &self,
        key: &str,
        max: usize,
        parse: impl FnOnce(&str) -> Result<T, &'static str>,
        problems: &mut Problems,
    ) -> Result<Option<T>, Reported> {
        match self.opt_str(key, max, problems)? {
            None => Ok(None),
            Some(raw) => parse(raw).map(Some).map_err(|why| {
                problems.add(self.path(key), why);
                Reported
            }),
        }
    }

    /// A required string of at most `max` characters, read by `parse`.
    pub fn parsed<T>(
        &self,
        key: &str,
        max: usize,
        parse: impl FnOnce(&str) -> Result<T, &'static str>,
        problems: &mut Problems,
    ) -> Option<T> {
        match self.opt_parsed(key, max, parse, problems) {
            Ok(Some(v)) => Some(v),
            Ok(None) => {
                problems.add(self.path(key), "is required");
                None
            }
            Err(Reported) => None,
        }
    }

    /// An optional nested object, as `Fields` with its path.
    pub fn opt_object(
        &self,
        key: &str,
        problems: &mut Problems,
    ) -> Result<Option<Fields<'a>>, Reported> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Fields::new(map, &self.path(key)))),
            Some(_) => {
                problems.add(self.path(key), "must be an object");
                Err(Reported)
            }
        }
    }

    /// A required nested object.
    pub fn object(&self, key: &str, problems: &mut Problems) -> Option<Fields<'a>> {
        match self.opt_object(key, problems) {
            Ok(Some(f)) => Some(f),
            Ok(None) => {
                problems.add(self.path(key), "is required");
                None
            }
            Err(Reported) => None,
        }
    }

    /// An optional array of strings.
    pub fn opt_str_array(
        &self,
        key: &str,
        problems: &mut Problems,
    ) -> Result<Option<Vec<(String, &'a str)>>, Reported> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    let path = format!("{}[{i}]", self.path(key));
                    match item {
                        Value::String(s) => out.push((path, s.as_str())),
                        _ => {
                            problems.add(path, "must be a string");
                            ok = false;
                        }
                    }
                }
                if ok { Ok(Some(out)) } else { Err(Reported) }
            }
            Some(_) => {
                problems.add(self.path(key), "must be an array of strings");
                Err(Reported)
            }
        }
    }

    /// Every entry of the object, for maps keyed by data (e.g. `events`).
    pub fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.map.values().all(Value::is_null)
    }
}

/// A notification id from a path: one that cannot be an id names nothing (404 3001).
pub fn notification_id(raw: &str) -> crate::api::error::ApiResult<crate::model::NotificationId> {
    crate::model::NotificationId::parse(raw).map_err(|_| ApiError::NotFound)
}

/// The request header that carries an idempotency key (the IETF draft's, Stripe's).
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// An idempotency key's rules, wherever it comes from: 1–255 printable ASCII characters.
pub fn check_idempotency_key(field: &str, key: &str, problems: &mut Problems) {
    if key.is_empty() {
        problems.add(field, "must not be empty");
    } else if !key.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        problems.add(
            field,
            "must be printable ASCII (no control or non-ASCII characters)",
        );
    } else if key.len() > MAX_IDEMPOTENCY_KEY {
        problems.add(
            field,
            format!("must be at most {MAX_IDEMPOTENCY_KEY} characters"),
        );
    }
}

/// The `Idempotency-Key` header, its problems added to `problems` (given twice, empty, too long,
/// not printable ASCII): `None` when it is absent.
pub fn idempotency_header(
    headers: &axum::http::HeaderMap,
    problems: &mut Problems,
) -> Option<String> {
    let mut given = headers.get_all(IDEMPOTENCY_KEY).iter();
    match (given.next(), given.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => {
            problems.add(IDEMPOTENCY_KEY, "must be given once");
            None
        }
        (Some(value), None) => {
            // Bytes outside visible ASCII (obs-text) are refused like control characters.
            let key = String::from_utf8_lossy(value.as_bytes()).into_owned();
            check_idempotency_key(IDEMPOTENCY_KEY, &key, problems);
            Some(key)
        }
    }
}

/// Only the `Idempotency-Key` header of a request without a body: the key, or the 400 naming
/// what is wrong with it.
pub fn idempotency_key_only(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let mut problems = Problems::default();
    let key = idempotency_header(headers, &mut problems);
    problems.finish(|| Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_named_by_their_full_path_at_any_depth() {
        let body = br#"{"a": [{"b": 1}, {"b": 2, "b": 3}], "c": {"d": {"e": 1, "e": 2}}, "a": 0}"#;
        let (value, repeated) = parse_strict(body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(repeated, ["a[1].b", "c.d.e", "a"]);
        // The first of each stays (the body is refused anyway).
        assert_eq!(value["a"][1]["b"], 2);
    }

    #[test]
    fn a_cursor_is_any_unpadded_base64url_within_the_pattern() {
        assert_eq!(
            decode_cursor(&encode_cursor("2026#x")),
            Ok("2026#x".to_owned())
        );
        assert!(decode_cursor("AB").is_ok());
        assert!(decode_cursor("ABC").is_ok());
        assert!(decode_cursor(&"A".repeat(84 * 4 + 3)).is_ok());
        for bad in [
            "A",
            "ABCDE",
            "AB==",
            "AB+/",
            "A B",
            "é",
            &"A".repeat(85 * 4),
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_body_without_repeats_reads_as_serde_json_reads_it() {
        let body =
            br#"{"n": [1, -2, 3.5, 18446744073709551615], "s": "x\u00e9", "t": true, "z": null}"#;
        let (value, repeated) = parse_strict(body).unwrap_or_else(|e| panic!("{e}"));
        assert!(repeated.is_empty());
        let plain: Value = serde_json::from_slice(body).unwrap_or_default();
        assert_eq!(value, plain);
        assert!(
            parse_strict(b"{\"a\": 1} x").is_err(),
            "trailing characters"
        );
        assert!(parse_strict(b"{\"a\": ").is_err());
    }
}
