//! The ground floor: domain types and records. Every value that crosses the edge (a path, a body
//! field, a stored item) becomes one of these through its `parse` constructor, so code past the
//! edge never holds an invalid one. The records the store keeps are here too, one module per
//! entity, the same on every backend (each lays them out its own way).

pub mod day;
mod delivery;
mod event;
mod names;
pub mod net;
mod notification;
mod organization;
pub mod rate;
mod recipient;
pub mod retry;
mod schema;
mod sealed;
mod settings;
pub mod timestamp;
pub mod token;
mod webhook;

pub use delivery::*;
pub use event::*;
pub use names::*;
pub use notification::*;
pub use organization::*;
pub use recipient::*;
pub use sealed::Sealed;
pub use settings::*;
pub use webhook::{PreviousSecret, WebhookTarget};

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use uuid::Uuid;

/// Declares a string newtype whose only constructor is `parse`; (de)serializes as the string and
/// refuses an invalid value when read back from storage.
macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $name::parse(&raw).map_err(|_| serde::de::Error::custom(concat!("invalid ", $what)))
            }
        }
    };
}

string_newtype!(
    /// An organization (tenant) id: `^(([a-fA-F0-9]{24})|([a-zA-Z0-9\-]{3,}))$`, capped at 128
    /// characters so that it always fits a DynamoDB key (a decision: the API sets no maximum).
    OrgId,
    "organization id"
);

impl OrgId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let ok_chars = raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if raw.len() < 3 || !ok_chars {
            return Err("must match ^(([a-fA-F0-9]{24})|([a-zA-Z0-9\\-]{3,}))$");
        }
        if raw.len() > Self::MAX_LEN {
            return Err("must be at most 128 characters");
        }
        Ok(Self(raw.to_owned()))
    }

    /// A new id in the API's 24-hex form.
    pub fn generate() -> Self {
        Self(object_id())
    }
}

string_newtype!(
    /// A notification id: 24 lowercase hex characters, time-ordered (4 bytes of seconds, then 8
    /// random bytes), so a list in id order is a list in creation order.
    NotificationId,
    "notification id"
);

impl NotificationId {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.len() == 24 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(raw.to_ascii_lowercase()))
        } else {
            Err("must be 24 hexadecimal characters")
        }
    }

    pub fn generate() -> Self {
        Self(object_id())
    }
}

/// 24 hex characters: big-endian Unix seconds, then 8 random bytes.
fn object_id() -> String {
    let secs = u32::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(u32::MAX);
    let random: u64 = rand::random();
    format!("{secs:08x}{random:016x}")
}

string_newtype!(
    /// A token's public id: the first 24 hex characters of its SHA-256 hash.
    TokenId,
    "token id"
);

impl TokenId {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.len() == 24 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(raw.to_owned()))
        } else {
            Err("must be 24 lowercase hexadecimal characters")
        }
    }

    /// The id of the token whose SHA-256 is `hash` (64 lowercase hex characters, as
    /// `auth::sha256_hex` makes it): its first 24 characters.
    pub fn of_hash(hash: &str) -> Self {
        Self(hash.chars().take(24).collect())
    }
}

string_newtype!(
    /// A username: 1–64 of `[A-Za-z0-9._-]`, starting with a letter or digit. `me` and anything
    /// shaped like a UUID are refused, because `{user}` in a path may be a UUID, a username or `me`.
    /// Compared case-insensitively (stored as given, unique in lowercase).
    Username,
    "username"
);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let mut bytes = raw.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
        let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !first_ok || !rest_ok || raw.len() > 64 {
            return Err(
                "must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit",
            );
        }
        if raw.eq_ignore_ascii_case("me") || Uuid::parse_str(raw).is_ok() {
            return Err("must not be 'me' or a UUID");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The form uniqueness is checked in.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

string_newtype!(
    /// An email address, lowercased: one `@`; a local part of 1–64 of the characters RFC 5322
    /// allows unquoted (letters, digits, `.` and ``!#$%&'*+/=?^_`{|}~-``); a domain of at least
    /// two dot-separated labels of letters, digits and inner `-`, at most 63 each; at most 254
    /// characters in all. ASCII only: an internationalized domain is given in its `xn--` form,
    /// as SES and most mail services take it.
    Email,
    "email"
);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        const MSG: &str = "must be a valid email address";
        if raw.len() > 254 {
            return Err(MSG);
        }
        let Some((local, domain)) = raw.split_once('@') else {
            return Err(MSG);
        };
        let local_ok = (1..=64).contains(&local.len())
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
        let labels: Vec<&str> = domain.split('.').collect();
        let labels_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                (1..=63).contains(&l.len())
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !local_ok || !labels_ok {
            return Err(MSG);
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }
}

string_newtype!(
    /// A phone number in E.164 form: `+` and 2–15 digits, not starting with 0.
    Phone,
    "phone number"
);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let digits = raw.strip_prefix('+').unwrap_or("");
        let ok = (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err("must be an E.164 phone number such as +14155550100")
        }
    }
}

/// Which of the 15 event types a notification is subscribed to. Serialized as an object with all
/// 15 keys (absent in a request = `false`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventSet(u16);

impl EventSet {
    pub fn with(mut self, event: EventType, on: bool) -> Self {
        let bit = 1u16 << (event as u16);
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
        self
    }

    /// This set with each event of `changes` turned on or off.
    pub fn apply(self, changes: impl IntoIterator<Item = (EventType, bool)>) -> Self {
        changes
            .into_iter()
            .fold(self, |set, (event, on)| set.with(event, on))
    }

    pub fn contains(self, event: EventType) -> bool {
        self.0 & (1u16 << (event as u16)) != 0
    }

    pub fn subscribed(self) -> impl Iterator<Item = EventType> {
        EventType::ALL
            .iter()
            .copied()
            .filter(move |e| self.contains(*e))
    }
}

impl Serialize for EventSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(EventType::ALL.len()))?;
        for event in EventType::ALL {
            map.serialize_entry(event.as_str(), &self.contains(*event))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for EventSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<EventType, bool>::deserialize(d)?;
        Ok(EventSet::default().apply(map))
    }
}

/// A JSON number that is a whole number however it is written (`349` or `349.0`: JSON Schema's
/// `integer` is both), as a `u64`; `None` for a fraction, a negative number, one past `u64`, or
/// anything that is not a number. Every integer a request body carries is read through this.
pub fn whole_number(value: &serde_json::Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        // Below 2^64 (18446744073709551616.0 is the first f64 past u64::MAX).
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 18_446_744_073_709_551_616.0)
            .map(|f| f as u64)
    })
}

/// The source of "now", injected so tests can move time.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock, truncated to milliseconds (the precision of every stored timestamp).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        timestamp::truncate(OffsetDateTime::now_utc())
    }
}

/// For `skip_serializing_if`: a count that is zero is left out of a record.
pub(crate) fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_id_accepts_the_seed_pattern_and_refuses_the_rest() {
        assert!(OrgId::parse("5c4f1b2e9d3e2a0012345678").is_ok());
        assert!(OrgId::parse("acme-corp").is_ok());
        assert!(OrgId::parse("ab").is_err());
        assert!(OrgId::parse("acme_corp").is_err());
        assert!(OrgId::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn generated_ids_are_24_lowercase_hex() {
        let id = NotificationId::generate();
        assert_eq!(id.as_str().len(), 24);
        assert_eq!(NotificationId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn username_refuses_me_and_uuids() {
        assert!(Username::parse("alice.b-2").is_ok());
        assert!(Username::parse("me").is_err());
        assert!(Username::parse("ME").is_err());
        assert!(Username::parse("44c3b230-5cfa-443d-9449-5626b48d8293").is_err());
        assert!(Username::parse("-lead").is_err());
        assert!(Username::parse("").is_err());
    }

    #[test]
    fn email_is_lowercased_and_checked() {
        assert_eq!(
            Email::parse("Ann@Example.COM").map(|e| e.0),
            Ok("ann@example.com".into())
        );
        for bad in [
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "ann@-x.com",
            "ann@x-.com",
            "a\"b@example.com",
            "ä@example.com",
            "ann@exämple.com",
            "ann@example..com",
            "a\u{85}b@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let longest_local = format!("{}@example.com", "a".repeat(64));
        assert!(Email::parse(&longest_local).is_ok());
        assert!(Email::parse(&format!("a{longest_local}")).is_err());
        for good in [
            "o'brien+tag@mail.example.co.uk",
            "x!#$%&*/=?^_`{|}~.-@xn--bcher-kva.example",
        ] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn phone_must_be_e164() {
        assert!(Phone::parse("+14155550100").is_ok());
        for bad in ["14155550100", "+0123", "+1", "+1415555010012345", "+1-415"] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_set_serializes_all_fifteen_keys() {
        let set = EventSet::default().with(EventType::BuildCreated, true);
        let json = serde_json::to_value(set).unwrap_or_default();
        let map = json.as_object().cloned().unwrap_or_default();
        assert_eq!(map.len(), 15);
        assert_eq!(map["buildCreated"], true);
        assert_eq!(map["inventoryItemRegistered"], false);
    }

    #[test]
    fn an_unknown_event_type_is_refused_naming_all_fifteen_in_order() {
        let names: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            EventType::parse("buildDeleted"),
            Err(format!("must be one of {}", names.join(", ")).as_str())
        );
    }

    #[test]
    fn timestamps_have_millisecond_precision() {
        let t =
            timestamp::parse("2019-01-28T16:57:42.293456Z").unwrap_or(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(timestamp::format(t), "2019-01-28T16:57:42.293Z");
    }
}
