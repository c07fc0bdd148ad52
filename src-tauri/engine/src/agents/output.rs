//! An agent's answer against its output JSON Schema (the `jsonschema` crate): common
//! near-misses are coerced first (JSON wrapped in prose or code fences, numbers and booleans
//! sent as strings where the schema wants them), then the answer is validated; what is
//! still wrong comes back as a list of errors, each naming where, for the re-ask.

use jsonschema::Validator;
use serde_json::Value;

/// Most validation errors reported for one answer.
const MAX_ERRORS: usize = 10;

/// Compiles `schema` (any draft the crate knows; draft 2020-12 by default).
pub fn compile(schema: &Value) -> Result<Validator, String> {
    if !schema.is_object() && !schema.is_boolean() {
        return Err("must be a JSON Schema object (e.g. { type = \"object\", ... })".into());
    }
    jsonschema::validator_for(schema).map_err(|e| format!("is not a valid JSON Schema: {e}"))
}

/// The JSON in `text`: all of it, the inside of a code fence, or the outermost object or
/// array in surrounding prose.
pub fn extract_json(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str(trimmed) {
        return Some(v);
    }
    if let Some(start) = trimmed.find("```") {
        let after = &trimmed[start + 3..];
        // Skip a language tag (```json).
        let body = after.split_once('\n').map_or(after, |(_, rest)| rest);
        if let Some(end) = body.find("```")
            && let Ok(v) = serde_json::from_str(body[..end].trim())
        {
            return Some(v);
        }
    }
    for (open, close) in [('{', '}'), ('[', ']')] {
        if let (Some(a), Some(b)) = (trimmed.find(open), trimmed.rfind(close))
            && a < b
            && let Ok(v) = serde_json::from_str(&trimmed[a..=b])
        {
            return Some(v);
        }
    }
    None
}

/// Turns strings into the numbers and booleans `schema` asks for, recursively through
/// `properties` and `items`.
pub fn coerce(value: &mut Value, schema: &Value) {
    let kind = schema.get("type").and_then(Value::as_str);
    match (kind, &mut *value) {
        (Some("integer"), Value::String(s)) => {
            if let Ok(n) = s.trim().parse::<i64>() {
                *value = Value::from(n);
            }
        }
        (Some("number"), Value::String(s)) => {
            if let Some(n) = s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
            {
                *value = Value::Number(n);
            }
        }
        (Some("boolean"), Value::String(s)) => match s.trim() {
            "true" => *value = Value::Bool(true),
            "false" => *value = Value::Bool(false),
            _ => {}
        },
        (_, Value::Object(map)) => {
            if let Some(Value::Object(props)) = schema.get("properties") {
                for (k, sub) in props {
                    if let Some(v) = map.get_mut(k) {
                        coerce(v, sub);
                    }
                }
            }
        }
        (_, Value::Array(items)) => {
            if let Some(sub) = schema.get("items") {
                for v in items {
                    coerce(v, sub);
                }
            }
        }
        _ => {}
    }
}

/// `text` as the agent's result: coerced and valid, or what is wrong.
pub fn check(text: &str, schema: &Value, validator: &Validator) -> Result<Value, Vec<String>> {
    let Some(mut value) = extract_json(text) else {
        return Err(vec!["the answer holds no JSON".into()]);
    };
    coerce(&mut value, schema);
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .take(MAX_ERRORS)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                format!("(root): {e}")
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "score": {"type": "integer", "minimum": 0},
                "ratio": {"type": "number"},
                "ok": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "integer"}}
            },
            "required": ["score"],
            "additionalProperties": false
        })
    }

    #[test]
    fn near_misses_are_coerced_and_the_rest_reported() {
        let s = schema();
        let v = compile(&s).unwrap();
        let cases: &[(&str, Result<Value, &str>)] = &[
            (r#"{"score": 3}"#, Ok(json!({"score": 3}))),
            (
                "Here you go:\n```json\n{\"score\": \"4\", \"ok\": \"true\"}\n```\nThanks",
                Ok(json!({"score": 4, "ok": true})),
            ),
            (
                "The answer is {\"score\": 5, \"ratio\": \"0.5\", \"tags\": [\"1\", 2]} as asked.",
                Ok(json!({"score": 5, "ratio": 0.5, "tags": [1, 2]})),
            ),
            ("no json here", Err("the answer holds no JSON")),
            (
                r#"{"score": -1}"#,
                Err("/score: -1 is less than the minimum of 0"),
            ),
            (
                r#"{"ratio": 1}"#,
                Err("(root): \"score\" is a required property"),
            ),
            (
                r#"{"score": "many"}"#,
                Err("/score: \"many\" is not of type \"integer\""),
            ),
            (
                r#"{"score": 1, "extra": 2}"#,
                Err("(root): Additional properties"),
            ),
        ];
        for (text, want) in cases {
            match (want, check(text, &s, &v)) {
                (Ok(w), Ok(got)) => assert_eq!(&got, w, "{text}"),
                (Err(why), Err(errors)) => {
                    assert!(errors.iter().any(|e| e.contains(why)), "{text}: {errors:?}")
                }
                (_, got) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn only_real_schemas_compile() {
        assert!(compile(&json!({"type": "object"})).is_ok());
        assert!(
            compile(&json!("text"))
                .unwrap_err()
                .contains("JSON Schema object")
        );
        assert!(
            compile(&json!({"type": "nonsense"}))
                .unwrap_err()
                .contains("not a valid JSON Schema")
        );
    }
}
