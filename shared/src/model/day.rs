//! UTC days as `YYYY-MM-DD` (SMS counters and usage summaries are keyed by them).

use serde::{Deserialize, Deserializer, Serializer};
use time::Date;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

const FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// The UTC day of `now`: the key of the SMS counters a send takes from (a new day starts at
/// zero whether or not the quota-reset job has run).
pub fn today(now: time::OffsetDateTime) -> Date {
    now.to_offset(time::UtcOffset::UTC).date()
}

pub fn format(d: Date) -> String {
    d.format(FORMAT).unwrap_or_default()
}

pub fn parse(raw: &str) -> Result<Date, &'static str> {
    Date::parse(raw, FORMAT).map_err(|_| "must be a day such as 2026-11-23")
}

pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
    parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}
