//! Tool schemas as every MCP client can read them.
//!
//! schemars marks integers with `format: "uint32"`, `"uint64"`, `"int64"`, ... (and floats
//! with `"double"`). Those are not JSON Schema formats: Claude Code's validator prints a
//! warning line for every one (62 lines on `claude mcp list`). The bounds they imply are
//! kept as `minimum`/`maximum`, which schemars already emits for unsigned types and which
//! the fields that need a tighter range set themselves.

use rmcp::model::JsonObject;
use serde_json::Value;

/// Formats schemars emits for numbers, none of them defined by JSON Schema.
const NUMBER_FORMATS: [&str; 12] = [
    "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "int",
    "float", "double",
];

/// `schema` without the non-standard number formats, at any depth.
pub fn portable(schema: &JsonObject) -> JsonObject {
    let mut value = Value::Object(schema.clone());
    strip_number_formats(&mut value);
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// Removes `format` members naming a [`NUMBER_FORMATS`] entry, recursively.
fn strip_number_formats(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| NUMBER_FORMATS.contains(&f))
            {
                map.remove("format");
            }
            map.values_mut().for_each(strip_number_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_number_formats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codexd_client::ConnectOptions;

    #[test]
    fn number_formats_go_and_everything_else_stays() {
        let schema: JsonObject = serde_json::from_value(serde_json::json!({
            "type": "object",
            "properties": {
                "n": {"type": "integer", "format": "uint32", "minimum": 0},
                "at": {"type": "string", "format": "date-time"},
                "list": {"type": "array", "items": {"type": "integer", "format": "int64"}}
            }
        }))
        .unwrap();
        let clean = Value::Object(portable(&schema));
        assert_eq!(
            clean["properties"]["n"],
            serde_json::json!({"type": "integer", "minimum": 0})
        );
        assert_eq!(clean["properties"]["at"]["format"], "date-time");
        assert_eq!(
            clean["properties"]["list"]["items"],
            serde_json::json!({"type": "integer"})
        );
    }

    #[test]
    fn no_tool_schema_carries_a_number_format() {
        let tools = crate::CodexServer::new(ConnectOptions::new(None)).tools();
        assert!(tools.len() >= 7);
        for tool in tools {
            let text = serde_json::to_string(&tool).unwrap();
            for format in NUMBER_FORMATS {
                assert!(
                    !text.contains(&format!("\"format\":\"{format}\"")),
                    "{}: format {format} in {text}",
                    tool.name
                );
            }
        }
    }

    #[test]
    fn list_limit_is_bounded_as_documented() {
        let tools = crate::CodexServer::new(ConnectOptions::new(None)).tools();
        let list = tools
            .iter()
            .find(|t| t.name == "codex_list")
            .expect("codex_list");
        let limit = &list.input_schema["properties"]["limit"];
        assert_eq!(limit["minimum"], 1, "{limit}");
        assert_eq!(limit["maximum"], 100, "{limit}");
    }
}
