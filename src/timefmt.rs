//! Time parsing and formatting: CloudTrail timestamps, `--since/--until` values, RFC 3339 output.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// Parses a CloudTrail-style timestamp into microseconds since the epoch (UTC).
///
/// Accepts RFC 3339, `2025-03-26 17:22:33.000000000` (no zone: UTC), epoch seconds and
/// IAM's `Nov 17, 2026, 9:14:03 AM`.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.fZ",
        "%b %d, %Y, %I:%M:%S %p",
        "%b %e, %Y, %I:%M:%S %p",
        "%b %d, %Y %I:%M:%S %p",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f %z") {
        return Some(t.timestamp_micros());
    }
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(|v| (v * 1e6) as i64)
}

/// Formats microseconds since the epoch as RFC 3339 UTC (`2026-11-17T09:14:03Z`).
pub fn format_micros(us: i64) -> String {
    match Utc.timestamp_micros(us).single() {
        Some(t) if us % 1_000_000 == 0 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => us.to_string(),
    }
}

/// Serde helper: an optional micros timestamp as an RFC 3339 string or null.
pub fn ser_micros<S: serde::Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(us) => s.serialize_str(&format_micros(*us)),
        None => s.serialize_none(),
    }
}

/// Parses a `--since`/`--until` value: RFC 3339, a date, or a duration back from `now`
/// (`90m`, `24h`, `7d`, `2w`).
pub fn parse_time_bound(s: &str, now: DateTime<Utc>) -> Result<i64, String> {
    let t = s.trim();
    if let Some(us) = parse_relative(t) {
        return Ok(now.timestamp_micros() - us);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_micros());
    }
    parse_timestamp(t).ok_or_else(|| {
        format!("'{s}' is not a time: use RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01) or a duration such as 30m, 24h, 7d")
    })
}

/// `30s`, `90m`, `24h`, `7d`, `2w` as microseconds.
pub fn parse_relative(t: &str) -> Option<i64> {
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    let secs = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return None,
    };
    // None when too large to hold (a rule parameter or --since of 10^17 hours).
    n.checked_mul(secs)?.checked_mul(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `rule_header` fuzz target (`-- param: window = 100000000143838280h`):
    /// an overflow, now refused.
    #[test]
    fn a_duration_too_large_to_hold_is_refused() {
        assert_eq!(parse_relative("100000000143838280h"), None);
        assert_eq!(parse_relative("2w"), Some(14 * 86_400_000_000));
    }

    #[test]
    fn parses_cloudtrail_time_shapes() {
        let z = parse_timestamp("2025-03-26T17:22:33Z").unwrap();
        assert_eq!(parse_timestamp("2025-03-26 17:22:33.000000000"), Some(z));
        assert_eq!(parse_timestamp("2025-03-26T17:22:33+00:00"), Some(z));
        assert_eq!(parse_timestamp("1743009753"), Some(z));
        assert_eq!(format_micros(z), "2025-03-26T17:22:33Z");
        let iam = parse_timestamp("Nov 17, 2026, 9:14:03 AM").unwrap();
        assert_eq!(format_micros(iam), "2026-11-17T09:14:03Z");
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn parses_relative_and_absolute_bounds() {
        let now = parse_timestamp("2026-11-23T00:00:00Z").unwrap();
        let now = Utc.timestamp_micros(now).unwrap();
        let d7 = parse_time_bound("7d", now).unwrap();
        assert_eq!(format_micros(d7), "2026-11-16T00:00:00Z");
        assert_eq!(
            format_micros(parse_time_bound("2026-11-01", now).unwrap()),
            "2026-11-01T00:00:00Z"
        );
        assert!(
            parse_time_bound("soon", now)
                .unwrap_err()
                .contains("not a time")
        );
    }
}
