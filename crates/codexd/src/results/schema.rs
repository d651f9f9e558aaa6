//! A small JSON Schema checker for `--output-schema` results: the subset codex's
//! structured outputs use (`type` (one or a list), `properties`, `required`,
//! `additionalProperties: false`, `items`, `enum`, `const`, `minItems`/`maxItems`,
//! `minimum`/`maximum`, `minLength`/`maxLength`). Other keywords are accepted in a schema and
//! not checked. No `$ref`. (No JSON Schema crate: none builds offline in this workspace.)

use serde_json::Value;

/// The types `type` may name.
const TYPES: [&str; 7] = [
    "object", "array", "string", "number", "integer", "boolean", "null",
];

/// Checks that `schema` is a schema this checker understands: an object (or `true`), each
/// `type` a known type name, each nested schema the same.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    check_schema_at(schema, "$")
}

/// [`check_schema`] at JSON path `at`.
fn check_schema_at(schema: &Value, at: &str) -> Result<(), String> {
    let object = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Object(object) => object,
        _ => return Err(format!("the schema at {at} is not a JSON object")),
    };
    if let Some(kind) = object.get("type") {
        let names: Vec<&Value> = match kind {
            Value::Array(list) => list.iter().collect(),
            other => vec![other],
        };
        for name in names {
            if !name.as_str().is_some_and(|n| TYPES.contains(&n)) {
                return Err(format!("unknown type {name} at {at}"));
            }
        }
    }
    if let Some(properties) = object.get("properties") {
        let Value::Object(properties) = properties else {
            return Err(format!("properties at {at} is not an object"));
        };
        for (name, sub) in properties {
            check_schema_at(sub, &format!("{at}.{name}"))?;
        }
    }
    if let Some(items) = object.get("items") {
        check_schema_at(items, &format!("{at}[]"))?;
    }
    if let Some(required) = object.get("required")
        && !required
            .as_array()
            .is_some_and(|r| r.iter().all(Value::is_string))
    {
        return Err(format!("required at {at} is not a list of names"));
    }
    Ok(())
}

/// Checks `value` against `schema`; the first violation, with its JSON path.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    validate_at(schema, value, "$")
}

/// The JSON type name of `value` (`integer` for whole numbers).
fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// [`validate`] at JSON path `at`.
fn validate_at(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Value::Object(schema) = schema else {
        return Ok(());
    };
    if let Some(kind) = schema.get("type") {
        let actual = type_of(value);
        let allowed: Vec<&str> = match kind {
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        };
        let ok = allowed
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"));
        if !ok {
            return Err(format!(
                "{at}: expected {}, got {actual}",
                allowed.join(" or ")
            ));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.contains(value)
    {
        return Err(format!("{at}: {value} is not one of the allowed values"));
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        return Err(format!("{at}: expected {expected}"));
    }
    let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
    match value {
        Value::Object(object) => {
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(name) {
                    return Err(format!("{at}: missing required property {name:?}"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (name, sub) in object {
                match properties.and_then(|p| p.get(name)) {
                    Some(sub_schema) => validate_at(sub_schema, sub, &format!("{at}.{name}"))?,
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        return Err(format!("{at}: unexpected property {name:?}"));
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(min) = bound("minItems")
                && (items.len() as f64) < min
            {
                return Err(format!("{at}: fewer than {min} items"));
            }
            if let Some(max) = bound("maxItems")
                && (items.len() as f64) > max
            {
                return Err(format!("{at}: more than {max} items"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (n, item) in items.iter().enumerate() {
                    validate_at(item_schema, item, &format!("{at}[{n}]"))?;
                }
            }
        }
        Value::String(text) => {
            let chars = text.chars().count() as f64;
            if bound("minLength").is_some_and(|min| chars < min) {
                return Err(format!("{at}: string too short"));
            }
            if bound("maxLength").is_some_and(|max| chars > max) {
                return Err(format!("{at}: string too long"));
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or(0.0);
            if bound("minimum").is_some_and(|min| n < min) {
                return Err(format!("{at}: {n} is below the minimum"));
            }
            if bound("maximum").is_some_and(|max| n > max) {
                return Err(format!("{at}: {n} is above the maximum"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// `final_json` and `schema_error` of a task with an output schema: the final message
/// parsed as JSON and checked against `schema`.
pub fn check_answer(
    schema: &Value,
    final_message: Option<&str>,
) -> (Option<Value>, Option<String>) {
    let Some(text) = final_message else {
        return (None, Some("the task sent no final message".into()));
    };
    match serde_json::from_str::<Value>(text.trim()) {
        Err(e) => (None, Some(format!("the final message is not JSON: {e}"))),
        Ok(value) => match validate(schema, &value) {
            Ok(()) => (Some(value), None),
            Err(e) => (
                None,
                Some(format!("the final message does not match the schema: {e}")),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "verdict": {"type": "string", "enum": ["ok", "bad"]},
                "findings": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"line": {"type": "integer", "minimum": 1}},
                    "required": ["line"],
                    "additionalProperties": false
                }}
            },
            "required": ["verdict", "findings"],
            "additionalProperties": false
        })
    }

    #[test]
    fn conforming_answers_pass_and_violations_name_their_path() {
        let s = schema();
        check_schema(&s).unwrap();
        let (json, error) = check_answer(&s, Some(r#"{"verdict":"ok","findings":[{"line":3}]}"#));
        assert_eq!(json.unwrap()["findings"][0]["line"], 3);
        assert!(error.is_none());
        let (json, error) = check_answer(&s, Some(r#"{"verdict":"meh","findings":[]}"#));
        assert!(json.is_none());
        assert!(error.unwrap().contains("$.verdict"));
        let (_, error) = check_answer(&s, Some(r#"{"verdict":"ok","findings":[{"line":0}]}"#));
        assert!(error.unwrap().contains("$.findings[0].line"));
        let (_, error) = check_answer(&s, Some(r#"{"verdict":"ok","findings":[],"x":1}"#));
        assert!(error.unwrap().contains("unexpected property"));
        let (_, error) = check_answer(&s, Some("not json"));
        assert!(error.unwrap().contains("not JSON"));
    }

    #[test]
    fn schemas_it_cannot_check_are_refused() {
        assert!(check_schema(&json!("x")).is_err());
        assert!(check_schema(&json!({"type": "thing"})).is_err());
        assert!(check_schema(&json!({"properties": {"a": 3}})).is_err());
    }
}
