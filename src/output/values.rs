//! Converts polars values to JSON and display text.

use polars::prelude::*;
use serde_json::Value as Json;

use crate::timefmt::format_micros;

/// A polars cell as JSON (datetimes as RFC 3339 UTC strings, lists as arrays without nulls).
pub fn any_to_json(v: &AnyValue) -> Json {
    match v {
        AnyValue::Null => Json::Null,
        AnyValue::Boolean(b) => Json::Bool(*b),
        AnyValue::String(s) => Json::String(s.to_string()),
        AnyValue::StringOwned(s) => Json::String(s.to_string()),
        AnyValue::Int8(x) => Json::from(*x),
        AnyValue::Int16(x) => Json::from(*x),
        AnyValue::Int32(x) => Json::from(*x),
        AnyValue::Int64(x) => Json::from(*x),
        AnyValue::UInt8(x) => Json::from(*x),
        AnyValue::UInt16(x) => Json::from(*x),
        AnyValue::UInt32(x) => Json::from(*x),
        AnyValue::UInt64(x) => Json::from(*x),
        AnyValue::Float32(x) => Json::from(*x as f64),
        AnyValue::Float64(x) => Json::from(*x),
        AnyValue::Datetime(x, unit, _) => Json::String(format_micros(to_micros(*x, *unit))),
        AnyValue::DatetimeOwned(x, unit, _) => Json::String(format_micros(to_micros(*x, *unit))),
        AnyValue::List(s) => Json::Array(
            s.iter()
                .filter(|x| !x.is_null())
                .map(|x| any_to_json(&x))
                .collect(),
        ),
        other => Json::String(other.to_string()),
    }
}

/// Converts a datetime value in `unit` to microseconds.
fn to_micros(x: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Nanoseconds => x / 1000,
        TimeUnit::Microseconds => x,
        TimeUnit::Milliseconds => x * 1000,
    }
}

/// JSON as short display text: strings bare, arrays joined with ", ", null empty.
pub fn json_text(v: &Json) -> String {
    match v {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        Json::Array(a) => a.iter().map(json_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// JSON as table-cell text: like [`json_text`], with each list item on a line of its own.
pub fn cell_text(v: &Json) -> String {
    match v {
        Json::Array(a) => a.iter().map(json_text).collect::<Vec<_>>().join("\n"),
        other => json_text(other),
    }
}

/// A data frame as rows of JSON objects keyed by column name.
pub fn frame_rows(df: &DataFrame) -> Vec<serde_json::Map<String, Json>> {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    (0..df.height())
        .map(|i| {
            names
                .iter()
                .zip(df.get_columns())
                .map(|(n, c)| {
                    (
                        n.clone(),
                        c.get(i).map(|v| any_to_json(&v)).unwrap_or(Json::Null),
                    )
                })
                .collect()
        })
        .collect()
}
