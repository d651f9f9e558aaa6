//! Strict parameters: every call's parameters are checked against its method's signature
//! before jsonrpsee parses them, so that an unknown name (a `timeout` typo), an extra
//! positional parameter, a missing one or one of the wrong type is refused with a typed
//! `invalid_params` error naming the parameter (and the field, inside a request object),
//! instead of being ignored or answered with a bare "Invalid params".

use codexd_api::{ApiError, ErrorKind, ListQuery, LogStream, ResumeRequest, StartRequest};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// One parameter: its name, whether it may be left out, and its check.
type Param = (&'static str, bool, fn(&Value) -> Result<(), String>);

const REQUIRED: bool = false;
const OPTIONAL: bool = true;

/// The parameters of each method (without its `codexd_` namespace), in order (as in
/// `codexd_api::rpc`).
fn signature(method: &str) -> Option<&'static [Param]> {
    Some(match method {
        "version" => &[],
        "start" => &[("request", REQUIRED, fields::<StartRequest>)],
        "resume" => &[("request", REQUIRED, fields::<ResumeRequest>)],
        "list" => &[("query", REQUIRED, fields::<ListQuery>)],
        "get" | "cancel" => &[("id", REQUIRED, of::<String>)],
        "result" => &[
            ("id", REQUIRED, of::<String>),
            ("full", OPTIONAL, of::<Option<bool>>),
            ("peek", OPTIONAL, of::<Option<bool>>),
        ],
        "wait" => &[
            ("ids", REQUIRED, of::<Vec<String>>),
            ("timeout_ms", OPTIONAL, of::<Option<u64>>),
        ],
        "read_log" => &[
            ("id", REQUIRED, of::<String>),
            ("offset", REQUIRED, of::<u64>),
            ("max_bytes", OPTIONAL, of::<Option<u64>>),
            ("stream", OPTIONAL, of::<Option<LogStream>>),
        ],
        "watch" => &[
            ("id", REQUIRED, of::<String>),
            ("from_offset", OPTIONAL, of::<Option<u64>>),
        ],
        "prune" => &[
            ("older_than_ms", REQUIRED, of::<u64>),
            ("dry_run", OPTIONAL, of::<Option<bool>>),
        ],
        "shutdown" => &[("kill_tasks", OPTIONAL, of::<Option<bool>>)],
        "diff" | "apply" => &[("id", REQUIRED, of::<String>)],
        "discard" => &[
            ("ids", REQUIRED, of::<Vec<String>>),
            ("group", OPTIONAL, of::<Option<String>>),
            ("except", OPTIONAL, of::<Option<Vec<String>>>),
        ],
        "compare" => &[("group", REQUIRED, of::<String>)],
        _ => return None,
    })
}

/// serde's message without its " at line L column C" (meaningless to the caller).
fn plain(e: serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn of<T: DeserializeOwned>(value: &Value) -> Result<(), String> {
    T::deserialize(value).map(drop).map_err(plain)
}

/// A request object: each field on its own, so an error names its field.
fn fields<T: DeserializeOwned>(value: &Value) -> Result<(), String> {
    let Value::Object(object) = value else {
        return of::<T>(value);
    };
    for (key, field) in object {
        let single: Map<String, Value> = [(key.clone(), field.clone())].into_iter().collect();
        T::deserialize(&Value::Object(single))
            .map_err(|e| format!("field `{key}`: {}", plain(e)))?;
    }
    of::<T>(value)
}

fn invalid(method: &str, message: String) -> ApiError {
    ApiError::new(ErrorKind::InvalidParams, format!("{method}: {message}"))
}

/// Checks `params` (the raw JSON, if any) against `method`'s signature; methods not in the
/// table (unsubscribe, and any outside the `codexd_` namespace) are left to jsonrpsee.
pub(super) fn check(method: &str, params: Option<&str>) -> Result<(), ApiError> {
    let Some(signature) = method.strip_prefix("codexd_").and_then(signature) else {
        return Ok(());
    };
    let value: Value = match params {
        None => Value::Array(Vec::new()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| invalid(method, format!("parameters are not JSON: {}", plain(e))))?,
    };
    let named = |name: &str| format!("parameter `{name}`");
    match value {
        Value::Array(values) => {
            if values.len() > signature.len() {
                return Err(invalid(
                    method,
                    format!(
                        "takes at most {} parameter(s) ({}), got {}",
                        signature.len(),
                        names(signature),
                        values.len()
                    ),
                ));
            }
            for (i, &(name, optional, check)) in signature.iter().enumerate() {
                match values.get(i) {
                    Some(v) => {
                        check(v).map_err(|e| invalid(method, format!("{}: {e}", named(name))))?
                    }
                    None if optional => {}
                    None => return Err(invalid(method, format!("{} is missing", named(name)))),
                }
            }
        }
        Value::Object(object) => {
            if let Some(unknown) = object
                .keys()
                .find(|k| !signature.iter().any(|p| p.0 == k.as_str()))
            {
                return Err(invalid(
                    method,
                    format!(
                        "unknown parameter `{unknown}` (known: {})",
                        names(signature)
                    ),
                ));
            }
            for &(name, optional, check) in signature {
                match object.get(name) {
                    Some(v) => {
                        check(v).map_err(|e| invalid(method, format!("{}: {e}", named(name))))?
                    }
                    None if optional => {}
                    None => return Err(invalid(method, format!("{} is missing", named(name)))),
                }
            }
        }
        _ => {
            return Err(invalid(
                method,
                "parameters must be an array or an object".into(),
            ));
        }
    }
    Ok(())
}

fn names(signature: &[Param]) -> String {
    if signature.is_empty() {
        return "none".into();
    }
    signature
        .iter()
        .map(|p| format!("`{}`", p.0))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::check;
    use codexd_api::ErrorKind;

    fn refused(method: &str, params: &str) -> String {
        let err = check(method, Some(params)).expect_err(params);
        assert_eq!(err.kind, ErrorKind::InvalidParams);
        err.message
    }

    #[test]
    fn unknown_fields_extra_params_and_type_errors_name_the_parameter() {
        let typo = refused("codexd_start", r#"[{"prompt":"x","cwd":"/","timeout":5}]"#);
        assert!(
            typo.contains("field `timeout`") && typo.contains("unknown field"),
            "{typo}"
        );
        let extra = refused("codexd_get", r#"["abc", 1]"#);
        assert!(extra.contains("at most 1"), "{extra}");
        let named = refused("codexd_wait", r#"{"ids":["a"],"timeout":5}"#);
        assert!(named.contains("unknown parameter `timeout`"), "{named}");
        let ty = refused("codexd_wait", r#"[["a"], "soon"]"#);
        assert!(
            ty.contains("parameter `timeout_ms`") && ty.contains("invalid type"),
            "{ty}"
        );
        let inner = refused("codexd_start", r#"[{"prompt":"x","timeout_ms":"5"}]"#);
        assert!(inner.contains("field `timeout_ms`"), "{inner}");
        let missing = refused("codexd_read_log", r#"["abc"]"#);
        assert!(missing.contains("`offset` is missing"), "{missing}");
        assert!(check("codexd_read_log", Some(r#"["abc", 0, null, "stderr"]"#)).is_ok());
        assert!(check("codexd_version", None).is_ok());
        assert!(check("codexd_shutdown", Some("[]")).is_ok());
    }
}
