//! Builds the columnar `events` table (a polars DataFrame) from normalized events.

use polars::prelude::*;

use crate::event::{COLUMNS, Event};

/// Builds a string column from a field of every event.
fn str_col(events: &[Event], name: &str, f: impl Fn(&Event) -> Option<&str>) -> Column {
    let v: Vec<Option<&str>> = events.iter().map(f).collect();
    Column::new(name.into(), v)
}

/// Builds a UTC datetime column (microseconds) from a field of every event.
fn time_col(events: &[Event], name: &str, f: impl Fn(&Event) -> Option<i64>) -> Column {
    let ca: Int64Chunked = events.iter().map(f).collect();
    ca.with_name(name.into())
        .into_datetime(TimeUnit::Microseconds, None)
        .into_series()
        .into()
}

/// The `events` table: one row per event, columns as listed in [`COLUMNS`].
pub fn events_frame(events: &[Event]) -> PolarsResult<DataFrame> {
    let e = events;
    let cols = vec![
        str_col(e, "event_id", |x| x.event_id.as_deref()),
        time_col(e, "event_time", |x| x.event_time),
        str_col(e, "event_source", |x| x.event_source.as_deref()),
        str_col(e, "event_name", |x| x.event_name.as_deref()),
        str_col(e, "event_type", |x| x.event_type.as_deref()),
        str_col(e, "aws_region", |x| x.aws_region.as_deref()),
        str_col(e, "account_id", |x| x.account_id.as_deref()),
        str_col(e, "source_ip", |x| x.source_ip.as_deref()),
        str_col(e, "user_agent", |x| x.user_agent.as_deref()),
        str_col(e, "error_code", |x| x.error_code.as_deref()),
        str_col(e, "error_message", |x| x.error_message.as_deref()),
        Column::new(
            "read_only".into(),
            e.iter().map(|x| x.read_only).collect::<Vec<_>>(),
        ),
        str_col(e, "identity_type", |x| x.identity_type.as_deref()),
        str_col(e, "principal_id", |x| x.principal_id.as_deref()),
        str_col(e, "principal_arn", |x| x.principal_arn.as_deref()),
        str_col(e, "access_key_id", |x| x.access_key_id.as_deref()),
        str_col(e, "user_name", |x| x.user_name.as_deref()),
        str_col(e, "session_issuer_arn", |x| x.session_issuer_arn.as_deref()),
        Column::new(
            "bearer_token".into(),
            e.iter().map(|x| x.bearer_token).collect::<Vec<_>>(),
        ),
        str_col(e, "bearer_token_type", |x| x.bearer_token_type.as_deref()),
        str_col(e, "model_id", |x| x.model_id.as_deref()),
        str_col(e, "target_user", |x| x.target_user.as_deref()),
        str_col(e, "service_name", |x| x.service_name.as_deref()),
        str_col(e, "credential_id", |x| x.credential_id.as_deref()),
        str_col(e, "service_user_name", |x| x.service_user_name.as_deref()),
        str_col(e, "credential_status", |x| x.credential_status.as_deref()),
        Column::new(
            "credential_age_days".into(),
            e.iter().map(|x| x.credential_age_days).collect::<Vec<_>>(),
        ),
        time_col(e, "credential_expiration", |x| x.credential_expiration),
        str_col(e, "policy_arn", |x| x.policy_arn.as_deref()),
        Column::new(
            "policy_mentions_bearer".into(),
            e.iter()
                .map(|x| x.policy_mentions_bearer)
                .collect::<Vec<_>>(),
        ),
        str_col(e, "activity", |x| x.activity),
        str_col(e, "key_kind", |x| x.key_kind),
        str_col(e, "key_basis", |x| x.key_basis),
        str_col(e, "source", |x| Some(x.source.as_str())),
    ];
    debug_assert_eq!(cols.len(), COLUMNS.len());
    DataFrame::new(cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_match_the_documented_list() {
        let df = events_frame(&[Event::default()]).unwrap();
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            names,
            COLUMNS.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        );
        assert_eq!(df.height(), 1);
    }
}
