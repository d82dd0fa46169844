//! Conversion of Rust values into statement parameters.

use crate::{Date, DateTime, Decimal, Json, Time, Timestamptz, Uuid, Value};

/// A Rust value usable as a statement parameter.
pub trait ToValue {
    /// The SQL value to send.
    fn to_value(&self) -> Value;
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

macro_rules! to_value {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                let $v = self;
                $e
            }
        }
    )*};
}

to_value! {
    bool => |v| Value::Boolean(*v),
    i8 => |v| Value::Integer(i64::from(*v)),
    i16 => |v| Value::Integer(i64::from(*v)),
    i32 => |v| Value::Integer(i64::from(*v)),
    i64 => |v| Value::Integer(*v),
    u8 => |v| Value::Integer(i64::from(*v)),
    u16 => |v| Value::Integer(i64::from(*v)),
    u32 => |v| Value::Integer(i64::from(*v)),
    f32 => |v| Value::Float(f64::from(*v)),
    f64 => |v| Value::Float(*v),
    str => |v| Value::Text(v.to_string()),
    String => |v| Value::Text(v.clone()),
    [u8] => |v| Value::Bytes(v.to_vec()),
    Vec<u8> => |v| Value::Bytes(v.clone()),
    Decimal => |v| Value::Decimal(v.0.clone()),
    Uuid => |v| Value::Uuid(v.0.clone()),
    Json => |v| Value::Json(v.0.clone()),
    Date => |v| Value::Date(*v),
    Time => |v| Value::Time(*v),
    DateTime => |v| Value::Timestamp(*v),
    Timestamptz => |v| Value::Timestamptz(v.0),
}

/// A statement's parameter list: `()`, a tuple of [`ToValue`]s, a `Vec<Value>` or a
/// `&[Value]`. Tuple element `n` binds placeholder `$n+1`.
pub trait Params {
    /// The parameters, in placeholder order.
    fn into_values(self) -> Vec<Value>;
}

impl Params for () {
    fn into_values(self) -> Vec<Value> {
        Vec::new()
    }
}

impl Params for Vec<Value> {
    fn into_values(self) -> Vec<Value> {
        self
    }
}

impl Params for &[Value] {
    fn into_values(self) -> Vec<Value> {
        self.to_vec()
    }
}

macro_rules! tuple_params {
    ($($t:ident $i:tt),+) => {
        impl<$($t: ToValue),+> Params for ($($t,)+) {
            fn into_values(self) -> Vec<Value> {
                vec![$(self.$i.to_value()),+]
            }
        }
    };
}
tuple_params!(A 0);
tuple_params!(A 0, B 1);
tuple_params!(A 0, B 1, C 2);
tuple_params!(A 0, B 1, C 2, D 3);
tuple_params!(A 0, B 1, C 2, D 3, E 4);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
