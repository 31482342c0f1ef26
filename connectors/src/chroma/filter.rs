//! Metadata filters (`where` clauses) written on a command line: see [`parse_where`].

use serde_json::{Map, Value, json};

use super::ChromaError;

/// A comparison operator of the command-line filter syntax, with its Chroma spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Op {
    fn chroma(self) -> &'static str {
        match self {
            Op::Eq => "$eq",
            Op::Ne => "$ne",
            Op::Gt => "$gt",
            Op::Gte => "$gte",
            Op::Lt => "$lt",
            Op::Lte => "$lte",
        }
    }

    fn is_ordering(self) -> bool {
        matches!(self, Op::Gt | Op::Gte | Op::Lt | Op::Lte)
    }
}

/// Turns command-line conditions such as `["type=Incident", "language=de"]` into a Chroma
/// `where` filter.
///
/// Chroma filters records by metadata with a small JSON language: `{"type": {"$eq": "Incident"}}`
/// for one condition, `{"$and": [cond, cond, ...]}` for several. So:
///
/// - no condition gives `Ok(None)` (no filter at all);
/// - one condition gives it alone: `{"type": {"$eq": "Incident"}}`;
/// - several are joined with `$and`: `{"$and": [{"type": ...}, {"language": ...}]}`.
///
/// Operators: `=` (or `==`), `!=`, `>`, `>=`, `<`, `<=`; the ordering ones need a number,
/// because Chroma orders only numbers.
///
/// Chroma is *type-strict*: the string `"3"` does not match the integer `3`. Values are
/// therefore typed the way a person reading them would:
///
/// | written            | JSON value        |
/// | ------------------ | ----------------- |
/// | `true`, `false`    | boolean           |
/// | `42`, `-7`         | integer           |
/// | `0.5`, `1e-3`      | float             |
/// | `"42"` (quoted)    | the string `42`   |
/// | anything else      | string, verbatim  |
///
/// A malformed condition (no operator, empty key or value, a key starting with `$`, an
/// ordering operator with a non-number) is an error naming the condition, never a silently
/// wrong filter.
pub fn parse_where(expr: &[String]) -> Result<Option<Value>, ChromaError> {
    let mut clauses = expr
        .iter()
        .map(|e| parse_condition(e))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match clauses.len() {
        0 => None,
        1 => clauses.pop(),
        _ => Some(json!({ "$and": clauses })),
    })
}

/// Parses one `key<op>value` condition into `{"key": {"$op": value}}`.
fn parse_condition(expr: &str) -> Result<Value, ChromaError> {
    let bad = |reason: &str| ChromaError::Where {
        expr: expr.to_owned(),
        reason: reason.to_owned(),
    };
    // The key ends at the first operator character; what follows decides which operator it is.
    let at = expr
        .find(['=', '!', '<', '>'])
        .ok_or_else(|| bad("expected key=value (or !=, >, >=, <, <=)"))?;
    let (key, rest) = expr.split_at(at);
    let (op, raw) = if let Some(v) = rest.strip_prefix("!=") {
        (Op::Ne, v)
    } else if let Some(v) = rest.strip_prefix(">=") {
        (Op::Gte, v)
    } else if let Some(v) = rest.strip_prefix("<=") {
        (Op::Lte, v)
    } else if let Some(v) = rest.strip_prefix("==") {
        (Op::Eq, v)
    } else if let Some(v) = rest.strip_prefix('=') {
        (Op::Eq, v)
    } else if let Some(v) = rest.strip_prefix('>') {
        (Op::Gt, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Op::Lt, v)
    } else {
        return Err(bad("`!` must be followed by `=`"));
    };

    let key = key.trim();
    if key.is_empty() {
        return Err(bad("empty key"));
    }
    if key.starts_with('$') {
        return Err(bad(
            "keys starting with `$` are Chroma operators, not metadata",
        ));
    }
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(bad("empty value (write \"\" for the empty string)"));
    }
    let value = parse_value(raw);
    if op.is_ordering() && !value.is_number() {
        return Err(bad("<, <=, > and >= compare numbers only"));
    }

    let mut inner = Map::new();
    inner.insert(op.chroma().to_owned(), value);
    let mut clause = Map::new();
    clause.insert(key.to_owned(), Value::Object(inner));
    Ok(Value::Object(clause))
}

/// Infers the JSON type of a written value (see the table on [`parse_where`]).
fn parse_value(raw: &str) -> Value {
    if let Some(quoted) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return Value::String(quoted.to_owned());
    }
    match raw {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = raw.parse::<i64>() {
        return Value::from(i);
    }
    // `f64::from_str` also accepts "inf" and "NaN"; those stay strings (and JSON has no NaN).
    if let Some(n) = raw
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .and_then(serde_json::Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(exprs: &[&str]) -> Result<Option<Value>, ChromaError> {
        let owned: Vec<String> = exprs.iter().map(|s| (*s).to_owned()).collect();
        parse_where(&owned)
    }

    #[test]
    fn no_condition_is_no_filter() {
        assert_eq!(parse(&[]).ok(), Some(None));
    }

    #[test]
    fn one_condition_stands_alone() {
        let got = parse(&["type=Incident"]).ok().flatten();
        assert_eq!(got, Some(json!({"type": {"$eq": "Incident"}})));
    }

    #[test]
    fn several_conditions_are_anded_in_order() {
        let got = parse(&["type=Incident", "language=de"]).ok().flatten();
        assert_eq!(
            got,
            Some(json!({"$and": [
                {"type": {"$eq": "Incident"}},
                {"language": {"$eq": "de"}},
            ]}))
        );
    }

    #[test]
    fn operators_map_to_chroma_spelling() {
        let cases = [
            ("n==1", json!({"n": {"$eq": 1}})),
            ("n!=1", json!({"n": {"$ne": 1}})),
            ("n>1", json!({"n": {"$gt": 1}})),
            ("n>=1", json!({"n": {"$gte": 1}})),
            ("n<1.5", json!({"n": {"$lt": 1.5}})),
            ("n<=-2", json!({"n": {"$lte": -2}})),
        ];
        for (expr, want) in cases {
            assert_eq!(parse(&[expr]).ok().flatten(), Some(want), "{expr}");
        }
    }

    #[test]
    fn values_are_typed_like_a_reader_would() {
        let cases = [
            ("k=true", json!(true)),
            ("k=false", json!(false)),
            ("k=42", json!(42)),
            ("k=0.25", json!(0.25)),
            ("k=\"42\"", json!("42")),
            ("k=\"\"", json!("")),
            ("k=NaN", json!("NaN")),
            ("k=inf", json!("inf")),
            ("k=a=b", json!("a=b")),
            ("k = spaced value ", json!("spaced value")),
            ("k=\"", json!("\"")),
        ];
        for (expr, want) in cases {
            let got = parse(&[expr]).ok().flatten();
            let want = json!({"k": {"$eq": want}});
            assert_eq!(got, Some(want), "{expr}");
        }
    }

    #[test]
    fn malformed_conditions_are_errors_naming_them() {
        for expr in [
            "type", "=x", " =x", "type=", "type!x", "$and=1", "n>abc", "n<=true",
        ] {
            match parse(&["ok=1", expr]) {
                Err(ChromaError::Where { expr: got, .. }) => assert_eq!(got, expr),
                other => panic!("{expr}: expected a Where error, got {other:?}"),
            }
        }
    }

    #[test]
    fn where_errors_are_permanent() {
        let err = parse(&["type"]).err();
        assert!(err.is_some_and(|e| !e.is_transient()));
    }
}
