//! The CloudTrail key layout in S3 and the pruning it allows, as pure functions:
//! `[prefix/]AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>`, file names
//! `<account>_CloudTrail_<region>_YYYYMMDDTHHmmZ_<unique>.json.gz`.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, Utc};

/// Folder CloudTrail writes under, below the optional custom prefix.
pub const AWSLOGS: &str = "AWSLogs/";
/// The service folder under an account that holds events (not digests or insights).
pub const CLOUDTRAIL: &str = "CloudTrail";
/// Events are written before their file: a file named more than this before `--since` holds
/// nothing in the window (names have minute precision, clocks a little skew).
pub const EARLY_MARGIN_MICROS: i64 = 5 * 60 * 1_000_000;
/// A file named up to this long after `--until` may still hold events from inside the
/// window (CloudTrail delivers within about 5 minutes on average, not guaranteed).
pub const LATE_MARGIN_MICROS: i64 = 60 * 60 * 1_000_000;

/// A parsed `s3://bucket/prefix` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// Key prefix without a leading `/` ("" for the whole bucket).
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket[/prefix]`.
    pub fn parse(s: &str) -> Result<S3Url, String> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{s}: not an s3:// URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{s}: no bucket name after s3://"));
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.trim_start_matches('/').to_string(),
        })
    }

    /// The URL of a key in this bucket, as used in messages and the `source` column.
    pub fn key_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// Where a user's prefix points inside the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// Above `AWSLogs/`: the logs root is `<root>AWSLogs/`.
    AboveRoot { root: String },
    /// At or below `AWSLogs/`: the root and the whole path components given after it.
    Inside { root: String, parts: Vec<String> },
    /// Ends in the middle of a component below `AWSLogs/`: list it as it is.
    Partial,
}

/// Works out where `prefix` points in the CloudTrail layout.
pub fn position(prefix: &str) -> Position {
    let with_slash = |p: &str| {
        if p.is_empty() || p.ends_with('/') {
            p.to_string()
        } else {
            format!("{p}/")
        }
    };
    match prefix.find(AWSLOGS) {
        Some(i) if i == 0 || prefix.as_bytes()[i - 1] == b'/' => {
            let root = prefix[..i + AWSLOGS.len()].to_string();
            let after = &prefix[i + AWSLOGS.len()..];
            if !after.is_empty() && !after.ends_with('/') {
                return Position::Partial;
            }
            let parts = after
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            Position::Inside { root, parts }
        }
        _ if prefix.ends_with("AWSLogs") => Position::Inside {
            root: format!("{prefix}/"),
            parts: Vec::new(),
        },
        _ => Position::AboveRoot {
            root: format!("{}{AWSLOGS}", with_slash(prefix)),
        },
    }
}

/// True for a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// True for an AWS Organizations id folder (`o-` followed by letters and digits).
pub fn is_org_id(s: &str) -> bool {
    s.len() > 2 && s.starts_with("o-") && s[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The day folders (`YYYY/MM/DD/`) under a region folder that can hold events in
/// `[since, until)` (micros), margins included.
pub fn day_prefixes(region_prefix: &str, since: i64, until: i64) -> Vec<String> {
    let (Some(first), Some(last)) = (
        date_of(since - EARLY_MARGIN_MICROS),
        date_of(until.saturating_add(LATE_MARGIN_MICROS)),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut d = first;
    while d <= last {
        out.push(format!(
            "{region_prefix}{:04}/{:02}/{:02}/",
            d.year(),
            d.month(),
            d.day()
        ));
        match d.checked_add_days(Days::new(1)) {
            Some(n) => d = n,
            None => break,
        }
    }
    out
}

/// The UTC date of a time in micros.
fn date_of(micros: i64) -> Option<NaiveDate> {
    DateTime::<Utc>::from_timestamp_micros(micros).map(|t| t.date_naive())
}

/// The delivery time (micros) in a CloudTrail log file name, if the name has one.
pub fn name_time(key: &str) -> Option<i64> {
    let file = key.rsplit('/').next()?;
    file.split('_').find_map(|part| {
        if part.len() == 14 && part.as_bytes()[8] == b'T' && part.ends_with('Z') {
            NaiveDateTime::parse_from_str(&part[..13], "%Y%m%dT%H%M")
                .ok()
                .map(|t| t.and_utc().timestamp_micros())
        } else {
            None
        }
    })
}

/// True when a file with this name can hold events in `[since, until)`.
pub fn may_hold_window(key: &str, since: Option<i64>, until: Option<i64>) -> bool {
    let Some(t) = name_time(key) else {
        return true;
    };
    since.is_none_or(|s| t + EARLY_MARGIN_MICROS >= s)
        && until.is_none_or(|u| t < u.saturating_add(LATE_MARGIN_MICROS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timefmt::parse_timestamp;

    fn t(s: &str) -> i64 {
        parse_timestamp(s).expect("time")
    }

    #[test]
    fn s3_urls_split_into_bucket_and_prefix() {
        assert_eq!(
            S3Url::parse("s3://trail/custom/prefix").unwrap(),
            S3Url {
                bucket: "trail".into(),
                prefix: "custom/prefix".into()
            }
        );
        assert_eq!(S3Url::parse("s3://trail").unwrap().prefix, "");
        assert!(S3Url::parse("s3://").is_err());
        assert!(S3Url::parse("/tmp/x").is_err());
    }

    #[test]
    fn prefixes_are_placed_in_the_layout() {
        assert_eq!(
            position(""),
            Position::AboveRoot {
                root: "AWSLogs/".into()
            }
        );
        assert_eq!(
            position("custom/prefix"),
            Position::AboveRoot {
                root: "custom/prefix/AWSLogs/".into()
            }
        );
        assert_eq!(
            position("custom/AWSLogs/o-abc123/111122223333/"),
            Position::Inside {
                root: "custom/AWSLogs/".into(),
                parts: vec!["o-abc123".into(), "111122223333".into()]
            }
        );
        assert_eq!(
            position("AWSLogs"),
            Position::Inside {
                root: "AWSLogs/".into(),
                parts: vec![]
            }
        );
        assert_eq!(position("AWSLogs/1111"), Position::Partial);
    }

    #[test]
    fn day_prefixes_cover_the_window_and_its_margins() {
        let days = day_prefixes(
            "AWSLogs/1/CloudTrail/us-east-1/",
            t("2026-11-17T00:02:00Z"),
            t("2026-11-18T23:30:00Z"),
        );
        assert_eq!(
            days,
            vec![
                "AWSLogs/1/CloudTrail/us-east-1/2026/11/16/",
                "AWSLogs/1/CloudTrail/us-east-1/2026/11/17/",
                "AWSLogs/1/CloudTrail/us-east-1/2026/11/18/",
                "AWSLogs/1/CloudTrail/us-east-1/2026/11/19/",
            ]
        );
        let one = day_prefixes("r/", t("2026-11-17T06:00:00Z"), t("2026-11-17T07:00:00Z"));
        assert_eq!(one, vec!["r/2026/11/17/"]);
    }

    #[test]
    fn file_names_give_delivery_time_for_pruning() {
        let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T2150Z_c63PGRhUtCteQD84.json.gz";
        assert_eq!(name_time(key), Some(t("2026-11-20T21:50:00Z")));
        assert!(may_hold_window(key, Some(t("2026-11-20T21:53:00Z")), None));
        assert!(!may_hold_window(key, Some(t("2026-11-20T22:00:00Z")), None));
        assert!(may_hold_window(key, None, Some(t("2026-11-20T21:00:00Z"))));
        assert!(!may_hold_window(key, None, Some(t("2026-11-20T20:00:00Z"))));
        assert!(may_hold_window("exports/odd-name.json", Some(0), Some(1)));
    }

    #[test]
    fn account_and_org_folders_are_recognized() {
        assert!(is_account_id("111122223333"));
        assert!(!is_account_id("11112222333"));
        assert!(is_org_id("o-a1b2c3d4e5"));
        assert!(!is_org_id("o-"));
        assert!(!is_org_id("CloudTrail"));
    }
}
