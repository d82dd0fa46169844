//! Typed decoding of rows and values coming from the host.

use crate::Column;
use crate::{Date, DateTime, Decimal, Error, Json, Result, Time, Timestamptz, Uuid, Value};

/// A type a query's rows decode into. Implemented by [`row!`](crate::row) structs (by column
/// name), tuples of [`FromValue`]s (by position) and `Vec<Value>` (every column, as is).
pub trait FromRow: Sized {
    /// Column names to match, in the order [`FromRow::from_row`] reads them; `None` reads
    /// columns by position.
    const FIELDS: Option<&'static [&'static str]>;
    /// Builds one row from the reader, calling [`RowReader::read`] once per field.
    fn from_row(row: &mut RowReader<'_>) -> Result<Self>;
}

/// Hands out one row's values in the order a [`FromRow`] asked for, without copying them.
pub struct RowReader<'a> {
    values: &'a mut [Value],
    order: &'a [usize],
    columns: &'a [Column],
    next: usize,
}

impl<'a> RowReader<'a> {
    pub(crate) fn new(values: &'a mut [Value], order: &'a [usize], columns: &'a [Column]) -> Self {
        RowReader {
            values,
            order,
            columns,
            next: 0,
        }
    }

    /// Decodes the next field. Errors name the column and the value's actual type.
    pub fn read<T: FromValue>(&mut self) -> Result<T> {
        let index = *self.order.get(self.next).ok_or_else(|| {
            Error::Conversion(format!("the row has only {} columns", self.order.len()))
        })?;
        self.next += 1;
        let value = self
            .values
            .get_mut(index)
            .map(|v| core::mem::replace(v, Value::Null))
            .ok_or_else(|| {
                Error::Conversion(format!("the host sent no value for column {index}"))
            })?;
        T::from_value(value).map_err(|message| {
            let name = self
                .columns
                .get(index)
                .map(|c| c.name.as_str())
                .unwrap_or("?");
            Error::Conversion(format!("column `{name}`: {message}"))
        })
    }

    /// Takes every remaining value as it is.
    pub fn rest(&mut self) -> Vec<Value> {
        let rest = self.order[self.next.min(self.order.len())..]
            .iter()
            .map(|&i| core::mem::replace(&mut self.values[i], Value::Null))
            .collect();
        self.next = self.order.len();
        rest
    }
}

impl FromRow for Vec<Value> {
    const FIELDS: Option<&'static [&'static str]> = None;
    fn from_row(row: &mut RowReader<'_>) -> Result<Self> {
        Ok(row.rest())
    }
}

macro_rules! tuple_from_row {
    ($($t:ident),+) => {
        impl<$($t: FromValue),+> FromRow for ($($t,)+) {
            const FIELDS: Option<&'static [&'static str]> = None;
            fn from_row(row: &mut RowReader<'_>) -> Result<Self> {
                Ok(($(row.read::<$t>()?,)+))
            }
        }
    };
}
tuple_from_row!(A);
tuple_from_row!(A, B);
tuple_from_row!(A, B, C);
tuple_from_row!(A, B, C, D);
tuple_from_row!(A, B, C, D, E);
tuple_from_row!(A, B, C, D, E, F);
tuple_from_row!(A, B, C, D, E, F, G);
tuple_from_row!(A, B, C, D, E, F, G, H);

/// A Rust type a single SQL value decodes into.
///
/// Decoding is strict about meaning and lenient about representation, so one row type
/// decodes the same rows on every engine (`docs/values.md`, "Decoding into a declared
/// type"). Lossless conversions are applied, lossy ones refused with the value:
/// - integers (`i64`, narrower, `u64`) accept an integer, a decimal with no fractional part
///   (`SUM()` on PostgreSQL and MySQL: `42`, `42.000`), and a float with an integral value
///   within ±2^53 (`3.0`); `42.5`, `1e300` or an out-of-range value are refused;
/// - `f64` accepts a float, an integer within ±2^53, and a decimal whose value the float
///   holds as written (`0.1`, `12.50`; not `0.1000000000000000001`);
/// - [`Decimal`] accepts a decimal, an integer and a finite float (its shortest form);
/// - `bool` accepts a boolean and the integers 0 and 1 (SQLite, MySQL `TINYINT`);
/// - [`DateTime`] (a timestamp) accepts a timestamp and a timestamptz as its UTC time (MariaDB
///   sends `TIMESTAMP` columns as timestamptz; Retort's sessions run in UTC); a
///   [`Timestamptz`] field refuses a timestamp, which has no zone to convert from;
/// - [`Date`] accepts a date and a timestamp or timestamptz at exactly midnight;
/// - `String` accepts text, decimals, UUIDs and JSON.
pub trait FromValue: Sized {
    /// Converts the value, or says why it cannot.
    fn from_value(value: Value) -> core::result::Result<Self, String>;
}

pub(crate) fn kind(value: &Value) -> &'static str {
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

fn mismatch<T>(expected: &str, got: &Value) -> core::result::Result<T, String> {
    Err(format!("expected {expected}, found {}", kind(got)))
}

impl FromValue for Value {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        Ok(value)
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// An integral value of an integer, decimal or float, or why it has none (lossless only).
fn integral(value: Value) -> core::result::Result<i128, String> {
    match value {
        Value::Integer(i) => Ok(i128::from(i)),
        Value::Decimal(s) => {
            let (sign, digits) = match s.strip_prefix('-') {
                Some(rest) => (-1, rest),
                None => (1, s.strip_prefix('+').unwrap_or(&s)),
            };
            let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
            let valid = !whole.is_empty()
                && whole.bytes().all(|b| b.is_ascii_digit())
                && fraction.bytes().all(|b| b.is_ascii_digit());
            if !valid {
                return Err(format!("expected integer, found the decimal {s:?}"));
            }
            if fraction.bytes().any(|b| b != b'0') {
                return Err(format!(
                    "expected integer, found the decimal {s}, which has a fractional part"
                ));
            }
            whole
                .parse::<i128>()
                .map(|n| sign * n)
                .map_err(|_| format!("the decimal {s} does not fit in a 128-bit integer"))
        }
        Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() <= MAX_EXACT_FLOAT => {
            Ok(f as i128)
        }
        Value::Float(f) => Err(format!(
            "expected integer, found the float {f}, which is not an integer it holds exactly"
        )),
        other => mismatch("integer", &other),
    }
}

/// The largest integer every smaller one of which a float holds exactly: 2^53.
const MAX_EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

macro_rules! int {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: Value) -> core::result::Result<Self, String> {
                let wide = integral(value)?;
                <$t>::try_from(wide).map_err(|_| format!("{wide} does not fit in {}", stringify!($t)))
            }
        }
    )*};
}
int!(i64, i8, i16, i32, u8, u16, u32, u64);

impl FromValue for bool {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        match value {
            Value::Boolean(b) => Ok(b),
            Value::Integer(0) => Ok(false),
            Value::Integer(1) => Ok(true),
            other => mismatch("boolean", &other),
        }
    }
}

impl FromValue for f64 {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        match value {
            Value::Float(f) => Ok(f),
            Value::Integer(i) if i.unsigned_abs() <= 1 << 53 => Ok(i as f64),
            Value::Integer(i) => Err(format!(
                "expected float, found the integer {i}, which a float does not hold exactly"
            )),
            Value::Decimal(s) => {
                let f: f64 = s
                    .parse()
                    .map_err(|_| format!("expected float, found the decimal {s:?}"))?;
                if f.is_finite() && same_number(&format!("{f}"), &s) {
                    Ok(f)
                } else {
                    Err(format!(
                        "expected float, found the decimal {s}, which a float does not hold as written"
                    ))
                }
            }
            other => mismatch("float", &other),
        }
    }
}

/// Whether two plain decimal numerals (`-12.50`, `12.5`, `+0`) have the same value.
fn same_number(a: &str, b: &str) -> bool {
    fn normal(s: &str) -> String {
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let whole = whole.trim_start_matches('0');
        let fraction = fraction.trim_end_matches('0');
        let body = match (whole.is_empty(), fraction.is_empty()) {
            (true, true) => return "0".into(),
            (_, true) => whole.to_string(),
            (true, false) => format!("0.{fraction}"),
            (false, false) => format!("{whole}.{fraction}"),
        };
        if negative { format!("-{body}") } else { body }
    }
    normal(a) == normal(b)
}

impl FromValue for String {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        match value {
            Value::Text(s) | Value::Decimal(s) | Value::Uuid(s) | Value::Json(s) => Ok(s),
            other => mismatch("text", &other),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        match value {
            Value::Bytes(b) => Ok(b),
            other => mismatch("bytes", &other),
        }
    }
}

impl FromValue for Decimal {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        match value {
            Value::Decimal(s) => Ok(Decimal(s)),
            Value::Integer(i) => Ok(Decimal(i.to_string())),
            // Rust prints a float's shortest form without an exponent.
            Value::Float(f) if f.is_finite() => Ok(Decimal(format!("{f}"))),
            other => mismatch("decimal", &other),
        }
    }
}

impl FromValue for Uuid {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        match value {
            Value::Uuid(s) | Value::Text(s) => Ok(Uuid(s)),
            // MariaDB's UUID type reaches the host as binary text (no type name on the wire).
            Value::Bytes(b) if b.len() == 36 => String::from_utf8(b)
                .map(|s| Uuid(s.to_ascii_lowercase()))
                .map_err(|_| "expected uuid, found 36 bytes that are not UUID text".to_string()),
            other => mismatch("uuid", &other),
        }
    }
}

impl FromValue for Json {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        match value {
            Value::Json(s) | Value::Text(s) => Ok(Json(s)),
            // MariaDB's JSON is a LONGTEXT alias that can reach the host as binary.
            Value::Bytes(b) => String::from_utf8(b)
                .map(Json)
                .map_err(|_| "expected json, found bytes that are not UTF-8".to_string()),
            other => mismatch("json", &other),
        }
    }
}

impl FromValue for Date {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        let found = kind(&value);
        match value {
            Value::Date(d) => Ok(d),
            Value::Timestamp(t) | Value::Timestamptz(t) if midnight(&t.time) => Ok(t.date),
            Value::Timestamp(t) | Value::Timestamptz(t) => Err(format!(
                "expected date, found a {found} at {:02}:{:02}:{:02}, not midnight",
                t.time.hour, t.time.minute, t.time.second
            )),
            other => mismatch("date", &other),
        }
    }
}

impl FromValue for Time {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        match value {
            Value::Time(t) => Ok(t),
            other => mismatch("time", &other),
        }
    }
}

impl FromValue for DateTime {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        match value {
            // Its UTC time: Retort's sessions run in UTC, where MariaDB's TIMESTAMP is written.
            Value::Timestamp(t) | Value::Timestamptz(t) => Ok(t),
            other => mismatch("timestamp", &other),
        }
    }
}

impl FromValue for Timestamptz {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        match value {
            Value::Timestamptz(t) => Ok(Timestamptz(t)),
            Value::Timestamp(_) => Err(
                "expected timestamptz, found a timestamp, which has no zone to convert from: \
                 declare the field DateTime"
                    .into(),
            ),
            other => mismatch("timestamptz", &other),
        }
    }
}

fn midnight(t: &Time) -> bool {
    t.hour == 0 && t.minute == 0 && t.second == 0 && t.nanosecond == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(h: u8) -> DateTime {
        DateTime {
            date: Date {
                year: 2026,
                month: 12,
                day: 3,
            },
            time: Time {
                hour: h,
                minute: 0,
                second: 0,
                nanosecond: 0,
            },
        }
    }

    fn dec(s: &str) -> Value {
        Value::Decimal(s.into())
    }

    #[test]
    fn integers_accept_integral_decimals_and_floats_and_refuse_the_rest() {
        assert_eq!(i64::from_value(dec("42")), Ok(42));
        assert_eq!(i64::from_value(dec("-42.000")), Ok(-42));
        assert_eq!(i32::from_value(Value::Float(3.0)), Ok(3));
        assert_eq!(u64::from_value(dec("18446744073709551615")), Ok(u64::MAX));
        assert!(
            i64::from_value(dec("42.5"))
                .unwrap_err()
                .contains("fractional part")
        );
        assert!(
            i64::from_value(dec("18446744073709551615"))
                .unwrap_err()
                .contains("does not fit")
        );
        assert!(
            i64::from_value(Value::Float(2.5))
                .unwrap_err()
                .contains("not an integer")
        );
        assert!(
            i64::from_value(Value::Float(1e300))
                .unwrap_err()
                .contains("not an integer")
        );
        assert!(
            u8::from_value(Value::Integer(300))
                .unwrap_err()
                .contains("does not fit in u8")
        );
        assert!(
            i64::from_value(Value::Text("1".into()))
                .unwrap_err()
                .contains("found text")
        );
    }

    #[test]
    fn floats_accept_exact_integers_and_decimals_as_written() {
        assert_eq!(f64::from_value(dec("0.1")), Ok(0.1));
        assert_eq!(f64::from_value(dec("12.50")), Ok(12.5));
        assert_eq!(f64::from_value(dec("-0.000")), Ok(-0.0));
        assert_eq!(
            f64::from_value(Value::Integer(1 << 53)),
            Ok(9_007_199_254_740_992.0)
        );
        assert!(
            f64::from_value(dec("0.1000000000000000001"))
                .unwrap_err()
                .contains("as written")
        );
        assert!(
            f64::from_value(Value::Integer((1 << 53) + 1))
                .unwrap_err()
                .contains("exactly")
        );
        assert_eq!(
            Decimal::from_value(Value::Float(0.1)),
            Ok(Decimal("0.1".into()))
        );
        assert_eq!(
            Decimal::from_value(Value::Integer(7)),
            Ok(Decimal("7".into()))
        );
    }

    #[test]
    fn timestamps_convert_where_no_zone_or_time_is_lost() {
        assert_eq!(DateTime::from_value(Value::Timestamptz(dt(9))), Ok(dt(9)));
        assert!(
            Timestamptz::from_value(Value::Timestamp(dt(9)))
                .unwrap_err()
                .contains("no zone")
        );
        assert_eq!(Date::from_value(Value::Timestamp(dt(0))), Ok(dt(0).date));
        assert_eq!(Date::from_value(Value::Timestamptz(dt(0))), Ok(dt(0).date));
        assert!(
            Date::from_value(Value::Timestamp(dt(9)))
                .unwrap_err()
                .contains("timestamp at 09:00:00, not midnight")
        );
    }
}
