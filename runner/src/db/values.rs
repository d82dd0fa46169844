//! Conversions shared by the backends: WIT date/time records ⇄ chrono, and the text forms
//! SQLite stores them in.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

use crate::bindings::{Date, Datetime, Time, Value};

/// A date or time a migration sent that is not one (February 30th, 25:00).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{shown} is not a valid {kind}")]
pub struct InvalidValue {
    /// `date` or `time`.
    pub kind: &'static str,
    /// The value as sent.
    pub shown: String,
}

/// A WIT date as chrono's.
pub fn date_to_chrono(d: Date) -> Result<NaiveDate, InvalidValue> {
    NaiveDate::from_ymd_opt(d.year, d.month.into(), d.day.into()).ok_or_else(|| InvalidValue {
        kind: "date",
        shown: format!("{}-{}-{}", d.year, d.month, d.day),
    })
}

/// A WIT time as chrono's.
pub fn time_to_chrono(t: Time) -> Result<NaiveTime, InvalidValue> {
    NaiveTime::from_hms_nano_opt(
        t.hour.into(),
        t.minute.into(),
        t.second.into(),
        t.nanosecond,
    )
    .ok_or_else(|| InvalidValue {
        kind: "time",
        shown: format!("{}:{}:{}.{}", t.hour, t.minute, t.second, t.nanosecond),
    })
}

/// A WIT date and time as chrono's.
pub fn datetime_to_chrono(dt: Datetime) -> Result<NaiveDateTime, InvalidValue> {
    Ok(NaiveDateTime::new(
        date_to_chrono(dt.date)?,
        time_to_chrono(dt.time)?,
    ))
}

pub fn date_from_chrono(d: NaiveDate) -> Date {
    Date {
        year: d.year(),
        month: d.month() as u8,
        day: d.day() as u8,
    }
}

pub fn time_from_chrono(t: NaiveTime) -> Time {
    Time {
        hour: t.hour() as u8,
        minute: t.minute() as u8,
        second: t.second() as u8,
        nanosecond: t.nanosecond(),
    }
}

pub fn datetime_from_chrono(dt: NaiveDateTime) -> Datetime {
    Datetime {
        date: date_from_chrono(dt.date()),
        time: time_from_chrono(dt.time()),
    }
}

pub fn utc_from_chrono(dt: DateTime<Utc>) -> Datetime {
    datetime_from_chrono(dt.naive_utc())
}

/// A WIT date and time, read as UTC, as chrono's.
pub fn utc_to_chrono(dt: Datetime) -> Result<DateTime<Utc>, InvalidValue> {
    Ok(datetime_to_chrono(dt)?.and_utc())
}

/// `HH:MM:SS` with as many fraction digits as the value needs (none, 6 or 9).
pub fn format_time(t: NaiveTime) -> String {
    let ns = t.nanosecond();
    if ns == 0 {
        t.format("%H:%M:%S").to_string()
    } else if ns.is_multiple_of(1000) {
        t.format("%H:%M:%S%.6f").to_string()
    } else {
        t.format("%H:%M:%S%.9f").to_string()
    }
}

/// The text SQLite stores for date and time values (SQLite's own `datetime()` format, and
/// RFC 3339 with `Z` for instants).
pub fn sqlite_text(value: &Value) -> Result<Option<String>, InvalidValue> {
    Ok(Some(match value {
        Value::Date(d) => date_to_chrono(*d)?.format("%Y-%m-%d").to_string(),
        Value::Time(t) => format_time(time_to_chrono(*t)?),
        Value::Timestamp(dt) => {
            let dt = datetime_to_chrono(*dt)?;
            format!("{} {}", dt.format("%Y-%m-%d"), format_time(dt.time()))
        }
        Value::Timestamptz(dt) => {
            let dt = datetime_to_chrono(*dt)?;
            format!("{}T{}Z", dt.format("%Y-%m-%d"), format_time(dt.time()))
        }
        _ => return Ok(None),
    }))
}

/// A value as text, for assertions and reports: `None` for NULL, dates and times as SQLite
/// stores them, bytes as lowercase hex.
pub fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Boolean(b) => Some(b.to_string()),
        Value::Integer(n) => Some(n.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Text(s) | Value::Decimal(s) | Value::Json(s) => Some(s.clone()),
        Value::Bytes(b) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
        Value::Uuid(u) => Some(u.clone()),
        other => sqlite_text(other).ok().flatten(),
    }
}

pub fn parse_date(s: &str) -> Option<Date> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(date_from_chrono)
}

pub fn parse_time(s: &str) -> Option<Time> {
    NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
        .ok()
        .map(time_from_chrono)
}

/// Accepts `YYYY-MM-DD HH:MM:SS[.f]` and the same with `T`.
pub fn parse_timestamp(s: &str) -> Option<Datetime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
        .map(datetime_from_chrono)
}

/// Accepts RFC 3339 (any offset, converted to UTC) and a zone-less timestamp taken as UTC.
pub fn parse_timestamptz(s: &str) -> Option<Datetime> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|dt| utc_from_chrono(dt.with_timezone(&Utc)))
        .or_else(|| {
            DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z")
                .ok()
                .map(|dt| utc_from_chrono(dt.with_timezone(&Utc)))
        })
        .or_else(|| parse_timestamp(s))
}

/// A short description of a value for error messages: its case, never its content.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) => "integer",
        Value::Float(_) => "float",
        Value::Text(_) => "text",
        Value::Bytes(_) => "bytes",
        Value::Decimal(_) => "decimal",
        Value::Date(_) => "date",
        Value::Time(_) => "time",
        Value::Timestamp(_) => "timestamp",
        Value::Timestamptz(_) => "timestamptz",
        Value::Uuid(_) => "uuid",
        Value::Json(_) => "json",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_text_round_trips() {
        let dt = Datetime {
            date: Date {
                year: 2026,
                month: 11,
                day: 22,
            },
            time: Time {
                hour: 4,
                minute: 5,
                second: 6,
                nanosecond: 123_456_000,
            },
        };
        let ts = sqlite_text(&Value::Timestamp(dt)).unwrap().unwrap();
        assert_eq!(ts, "2026-11-22 04:05:06.123456");
        assert_eq!(parse_timestamp(&ts), Some(dt));
        let tz = sqlite_text(&Value::Timestamptz(dt)).unwrap().unwrap();
        assert_eq!(tz, "2026-11-22T04:05:06.123456Z");
        assert_eq!(parse_timestamptz(&tz), Some(dt));
        assert_eq!(
            parse_timestamptz("2026-11-22T06:05:06.123456+02:00"),
            Some(dt)
        );
        assert_eq!(parse_date("2026-11-22"), Some(dt.date));
        assert_eq!(parse_time("04:05:06.123456"), Some(dt.time));
        assert!(
            sqlite_text(&Value::Date(Date {
                year: 2026,
                month: 2,
                day: 30
            }))
            .is_err()
        );
    }
}
