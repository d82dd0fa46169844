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
/// Decoding is strict about meaning and lenient about representation: `i64` accepts any
/// integer column, `bool` also accepts the integers 0 and 1 (SQLite, MySQL `TINYINT`), `f64`
/// accepts integers, and `String` accepts text, decimals, UUIDs and JSON.
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

impl FromValue for i64 {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        match value {
            Value::Integer(i) => Ok(i),
            other => mismatch("integer", &other),
        }
    }
}

macro_rules! narrow_int {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: Value) -> core::result::Result<Self, String> {
                let wide = i64::from_value(value)?;
                <$t>::try_from(wide).map_err(|_| format!("{wide} does not fit in {}", stringify!($t)))
            }
        }
    )*};
}
narrow_int!(i8, i16, i32, u8, u16, u32, u64);

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
            Value::Integer(i) => Ok(i as f64),
            other => mismatch("float", &other),
        }
    }
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
        match value {
            Value::Date(d) => Ok(d),
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
            Value::Timestamp(t) => Ok(t),
            other => mismatch("timestamp", &other),
        }
    }
}

impl FromValue for Timestamptz {
    fn from_value(value: Value) -> core::result::Result<Self, String> {
        match value {
            Value::Timestamptz(t) => Ok(Timestamptz(t)),
            other => mismatch("timestamptz", &other),
        }
    }
}
