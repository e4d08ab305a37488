//! IAM policy documents in rules: `policy_denies(policy_document, 'service:Action')`, a SQL
//! function that is true when the document has a `Deny` statement covering the action.
//!
//! `Action` entries match with IAM's wildcards (`*`, `?`, case-insensitive); a `Deny` with
//! `NotAction` covers every action it does not list. `Resource` and `Condition` are not
//! weighed: a deny of the action under some condition is still a deny of it. A document
//! that is not JSON covers nothing.

use std::sync::Arc;

use polars::prelude::*;
use polars::sql::FunctionRegistry;
use polars_plan::prelude::FunctionOptions;
use serde_json::Value;

/// The SQL name of the function.
pub const DENIES_FN: &str = "policy_denies";

/// True when `doc` (an IAM policy or SCP as JSON text) denies `action`.
pub fn denies(doc: &str, action: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(doc) else {
        return false;
    };
    let statements: Vec<&Value> = match v.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return false,
    };
    statements.into_iter().any(|s| statement_denies(s, action))
}

/// True when one statement is a deny covering `action`.
fn statement_denies(s: &Value, action: &str) -> bool {
    let effect = s.get("Effect").and_then(Value::as_str).unwrap_or("");
    if !effect.eq_ignore_ascii_case("deny") {
        return false;
    }
    if let Some(a) = s.get("Action") {
        return patterns(a).any(|p| wildcard_match(p, action));
    }
    if let Some(na) = s.get("NotAction") {
        return !patterns(na).any(|p| wildcard_match(p, action));
    }
    false
}

/// The strings of an `Action`/`NotAction` value (one string or a list).
fn patterns(v: &Value) -> Box<dyn Iterator<Item = &str> + '_> {
    match v {
        Value::String(s) => Box::new(std::iter::once(s.as_str())),
        Value::Array(a) => Box::new(a.iter().filter_map(Value::as_str)),
        _ => Box::new(std::iter::empty()),
    }
}

/// IAM wildcard matching: `*` any run of characters, `?` one character, ASCII
/// case-insensitive.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<u8> = pattern
        .trim()
        .bytes()
        .map(|b| b.to_ascii_lowercase())
        .collect();
    let t: Vec<u8> = text.bytes().map(|b| b.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// Applies [`denies`] to a column of documents and a column (or one value) of actions.
fn denies_columns(cols: &mut [Column]) -> PolarsResult<Column> {
    if cols.len() != 2 {
        polars_bail!(ComputeError: "{DENIES_FN}(policy_document, 'service:Action') takes two arguments");
    }
    let docs = cols[0].cast(&DataType::String)?;
    let actions = cols[1].cast(&DataType::String)?;
    let docs = docs.str()?;
    let actions = actions.str()?;
    // One side may be a single value (a literal) broadcast over the other. Rows are walked
    // with iterators (`get(i)` looks the chunk up again for every row), and a column of
    // documents that are all null (most of a table) is answered at once.
    let test = |d: Option<&str>, a: Option<&str>| {
        Some(matches!((d, a), (Some(d), Some(a)) if denies(d, a)))
    };
    let out: BooleanChunked = if docs.is_empty() || actions.is_empty() {
        BooleanChunked::full(PlSmallStr::EMPTY, false, 0)
    } else if docs.null_count() == docs.len() || actions.null_count() == actions.len() {
        BooleanChunked::full(PlSmallStr::EMPTY, false, docs.len().max(actions.len()))
    } else if actions.len() == 1 {
        let a = actions.get(0);
        docs.into_iter().map(|d| test(d, a)).collect()
    } else if docs.len() == 1 {
        let d = docs.get(0);
        actions.into_iter().map(|a| test(d, a)).collect()
    } else {
        docs.into_iter()
            .zip(actions)
            .map(|(d, a)| test(d, a))
            .collect()
    };
    Ok(out.with_name(DENIES_FN.into()).into_column())
}

/// The SQL functions keytrail adds to polars SQL.
pub struct Functions;

impl FunctionRegistry for Functions {
    fn register(&mut self, name: &str, _fun: UserDefinedFunction) -> PolarsResult<()> {
        polars_bail!(ComputeError: "cannot register {name}: keytrail's SQL functions are fixed")
    }

    fn get_udf(&self, name: &str) -> PolarsResult<Option<UserDefinedFunction>> {
        if !name.eq_ignore_ascii_case(DENIES_FN) {
            return Ok(None);
        }
        let udf = BaseColumnUdf::new(denies_columns, |_: &Schema, _: &[Field]| {
            Ok(Field::new(DENIES_FN.into(), DataType::Boolean))
        });
        let mut f = UserDefinedFunction::new(DENIES_FN.into(), udf);
        // Row by row: polars may then run it batch by batch on the streaming engine.
        // Without the flag the engine gathered every row of the table's columns first.
        f.options = FunctionOptions::elementwise();
        Ok(Some(f))
    }

    fn contains(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(DENIES_FN)
    }
}

/// The registry to give a SQL context.
pub fn registry() -> Arc<dyn FunctionRegistry> {
    Arc::new(Functions)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEARER: &str = "bedrock:CallWithBearerToken";
    const MANTLE: &str = "bedrock-mantle:CallWithBearerToken";

    #[test]
    fn a_deny_naming_only_bedrock_misses_mantle() {
        let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"bedrock:CallWithBearerToken","Resource":"*"}}"#;
        assert!(denies(doc, BEARER));
        assert!(!denies(doc, MANTLE));
        let both = r#"{"Statement":[{"Effect":"Deny","Action":["bedrock:CallWithBearerToken","bedrock-mantle:CallWithBearerToken"],"Resource":"*"}]}"#;
        assert!(denies(both, BEARER) && denies(both, MANTLE));
    }

    #[test]
    fn wildcards_not_action_and_allow_are_read_as_iam_does() {
        let star =
            r#"{"Statement":[{"Effect":"Deny","Action":"bedrock*:CallWith*","Resource":"*"}]}"#;
        assert!(denies(star, BEARER) && denies(star, MANTLE));
        let svc = r#"{"Statement":[{"Effect":"Deny","Action":"bedrock:*","Resource":"*"}]}"#;
        assert!(denies(svc, BEARER) && !denies(svc, MANTLE));
        let not =
            r#"{"Statement":[{"Effect":"Deny","NotAction":"bedrock-mantle:*","Resource":"*"}]}"#;
        assert!(denies(not, BEARER) && !denies(not, MANTLE));
        let allow = r#"{"Statement":[{"Effect":"Allow","Action":"bedrock:CallWithBearerToken","Resource":"*"}]}"#;
        assert!(!denies(allow, BEARER));
        assert!(!denies("not json", BEARER));
        assert!(wildcard_match(
            "bedrock:Call?ithBearerToken",
            "BEDROCK:callwithbearertoken"
        ));
        assert!(!wildcard_match("bedrock:Call", BEARER));
    }

    #[test]
    fn the_sql_function_reads_a_column_with_nulls_and_a_literal_action() {
        let deny = r#"{"Statement":[{"Effect":"Deny","Action":"bedrock:*","Resource":"*"}]}"#;
        let allow = r#"{"Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}"#;
        let answer = |docs: Vec<Option<&str>>| -> Vec<Option<bool>> {
            let mut cols = [
                Column::new("d".into(), docs),
                Column::new("a".into(), [BEARER]),
            ];
            let out = denies_columns(&mut cols).unwrap();
            out.bool().unwrap().into_iter().collect()
        };
        assert_eq!(
            answer(vec![Some(deny), None, Some(allow)]),
            vec![Some(true), Some(false), Some(false)]
        );
        assert_eq!(answer(vec![None, None]), vec![Some(false), Some(false)]);
    }
}
