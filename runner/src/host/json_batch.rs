//! The JSON forms of row batches and parameter sets (`retort:migration/json-batches@0.2.0`).
//!
//! A JavaScript runtime's bindings lift each `value` variant into an object in SpiderMonkey's
//! interpreter, which made reading rows the bulk of a data migration's time (BENCHMARKS.md);
//! one JSON string per batch is parsed by the engine's native `JSON.parse` instead. The
//! encoding gives exactly what the JavaScript helper's value mapping gives for each value
//! (numbers, strings, `BigInt`, `Uint8Array`, parsed JSON), so a migration cannot tell which
//! path its rows took.

use crate::bindings::{Date, Time, Value};

/// The largest integer a JavaScript number holds exactly: `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A batch of rows as the JSON the `json-batches` interface documents.
pub fn encode(rows: &[Vec<Value>]) -> String {
    let mut out = String::with_capacity(rows.len() * 32 + 2);
    out.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        for (j, v) in row.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            value(&mut out, v);
        }
        out.push(']');
    }
    out.push(']');
    out
}

fn string(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

fn value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(n) if n.unsigned_abs() <= MAX_SAFE_INTEGER => out.push_str(&n.to_string()),
        Value::Integer(n) => out.push_str(&format!("{{\"int\":\"{n}\"}}")),
        Value::Float(f) if f.is_finite() => out.push_str(&serde_json::Value::from(*f).to_string()),
        Value::Float(f) => out.push_str(match () {
            _ if f.is_nan() => r#"{"float":"NaN"}"#,
            _ if *f > 0.0 => r#"{"float":"Infinity"}"#,
            _ => r#"{"float":"-Infinity"}"#,
        }),
        Value::Text(s) | Value::Decimal(s) | Value::Uuid(s) => string(out, s),
        Value::Bytes(b) => {
            out.push_str("{\"bytes\":[");
            for (i, byte) in b.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&byte.to_string());
            }
            out.push_str("]}");
        }
        Value::Date(d) => string(out, &date(d)),
        Value::Time(t) => string(out, &time(t)),
        Value::Timestamp(dt) => string(out, &format!("{}T{}", date(&dt.date), time(&dt.time))),
        Value::Timestamptz(dt) => {
            string(out, &format!("{}T{}Z", date(&dt.date), time(&dt.time)));
        }
        Value::Json(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(doc) => out.push_str(&format!("{{\"json\":{doc}}}")),
            Err(_) => {
                out.push_str("{\"json_text\":");
                string(out, text);
                out.push('}');
            }
        },
    }
}

/// `String(n).padStart(width, "0")`, as the JavaScript helper formats dates and times.
fn pad(n: impl ToString, width: usize) -> String {
    format!("{:0>width$}", n.to_string())
}

fn date(d: &Date) -> String {
    format!("{}-{}-{}", pad(d.year, 4), pad(d.month, 2), pad(d.day, 2))
}

fn time(t: &Time) -> String {
    let frac = if t.nanosecond == 0 {
        String::new()
    } else {
        format!(".{}", pad(t.nanosecond / 1000, 6))
    };
    format!(
        "{}:{}:{}{frac}",
        pad(t.hour, 2),
        pad(t.minute, 2),
        pad(t.second, 2)
    )
}

/// Parameter sets from the JSON the `json-batches` interface documents, or why not.
pub fn decode(sets: &str) -> Result<Vec<Vec<Value>>, String> {
    let parsed: Vec<Vec<serde_json::Value>> = serde_json::from_str(sets)
        .map_err(|e| format!("the parameter sets are not a JSON array of arrays: {e}"))?;
    parsed
        .into_iter()
        .map(|set| set.into_iter().map(param).collect())
        .collect()
}

fn param(v: serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Boolean(b),
        J::String(s) => Value::Text(s),
        J::Number(n) if n.is_i64() => Value::Integer(n.as_i64().unwrap_or_default()),
        J::Number(n) if n.is_u64() => {
            return Err(format!(
                "the integer {n} does not fit a 64-bit signed integer"
            ));
        }
        J::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        other => {
            return Err(format!(
                "a parameter in JSON form is null, a boolean, a number or a string, not {other}"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::Datetime;

    #[test]
    fn every_value_encodes_as_the_javascript_helper_maps_it() {
        let dt = Datetime {
            date: Date {
                year: 2026,
                month: 1,
                day: 9,
            },
            time: Time {
                hour: 7,
                minute: 5,
                second: 3,
                nanosecond: 120_000,
            },
        };
        let row = vec![
            Value::Null,
            Value::Boolean(true),
            Value::Integer(-42),
            Value::Integer(9_007_199_254_740_992),
            Value::Float(0.5),
            Value::Float(f64::NEG_INFINITY),
            Value::Text("a \"quoted\"\nline".into()),
            Value::Bytes(vec![0, 255]),
            Value::Decimal("-1234.5600".into()),
            Value::Date(dt.date),
            Value::Time(dt.time),
            Value::Timestamp(dt),
            Value::Timestamptz(dt),
            Value::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
            Value::Json(r#"{"a": [1, null]}"#.into()),
            Value::Json("not json".into()),
        ];
        assert_eq!(
            encode(&[row, vec![]]),
            concat!(
                r#"[[null,true,-42,{"int":"9007199254740992"},0.5,{"float":"-Infinity"},"#,
                r#""a \"quoted\"\nline",{"bytes":[0,255]},"-1234.5600","2026-01-09","#,
                r#""07:05:03.000120","2026-01-09T07:05:03.000120","2026-01-09T07:05:03.000120Z","#,
                r#""67e55044-10b1-426f-9247-bb680e5fe0c8",{"json":{"a":[1,null]}},"#,
                r#"{"json_text":"not json"}],[]]"#
            )
        );
    }

    #[test]
    fn parameter_sets_decode_to_their_values_and_anything_else_is_refused() {
        assert_eq!(
            decode(r#"[[null, true, 7, -9223372036854775808, 1.5, 1e-7, "x"], []]"#).unwrap(),
            vec![
                vec![
                    Value::Null,
                    Value::Boolean(true),
                    Value::Integer(7),
                    Value::Integer(i64::MIN),
                    Value::Float(1.5),
                    Value::Float(1e-7),
                    Value::Text("x".into()),
                ],
                vec![],
            ]
        );
        assert!(
            decode("[[9223372036854775808]]")
                .unwrap_err()
                .contains("does not fit")
        );
        assert!(decode(r#"[[{"a": 1}]]"#).unwrap_err().contains("not {"));
        assert!(decode(r#"[1]"#).unwrap_err().contains("array of arrays"));
    }
}
