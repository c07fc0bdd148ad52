//! Field access on untyped JSON for the wire modules: each strict reader returns the value
//! or a [`WireError::InvalidRequest`] whose message names the field's path and what was
//! wrong (`messages[2].content: expected a string or an array of parts, got a number`); the
//! lenient readers are for upstream answers.
//!
//! Invariants: a missing field and a `null` one are the same (absent). Must never: panic or
//! accept a value of the wrong type silently.

use serde_json::{Map, Value};

use super::WireError;

pub(super) type Obj = Map<String, Value>;

/// `path.key` (or `key` at the top level).
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `path[i]`.
pub(super) fn at(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// An InvalidRequest about `path`.
pub(super) fn bad(path: &str, why: impl std::fmt::Display) -> WireError {
    WireError::InvalidRequest(format!("{path}: {why}"))
}

/// What kind of JSON value this is, for messages.
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// "expected X, got Y" about `path`.
pub(super) fn wrong(path: &str, expected: &str, got: &Value) -> WireError {
    bad(path, format!("expected {expected}, got {}", kind(got)))
}

/// A request body: one JSON object.
pub(super) fn request_object(body: &[u8]) -> Result<Obj, WireError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(other) => Err(wrong("body", "a JSON object", &other)),
        Err(e) => Err(bad("body", format!("not valid JSON ({e})"))),
    }
}

/// An upstream answer body: one JSON object.
pub(super) fn response_object(body: &[u8]) -> Result<Obj, WireError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(other) => Err(WireError::InvalidResponse(format!(
            "the answer is {}, not a JSON object",
            kind(&other)
        ))),
        Err(e) => Err(WireError::InvalidResponse(format!(
            "the answer is not valid JSON ({e}): {}",
            short(&String::from_utf8_lossy(body))
        ))),
    }
}

/// The field, unless missing or null.
pub(super) fn get<'a>(o: &'a Obj, key: &str) -> Option<&'a Value> {
    o.get(key).filter(|v| !v.is_null())
}

pub(super) fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Obj, WireError> {
    v.as_object().ok_or_else(|| wrong(path, "an object", v))
}

pub(super) fn opt_object<'a>(
    o: &'a Obj,
    key: &str,
    path: &str,
) -> Result<Option<&'a Obj>, WireError> {
    get(o, key).map(|v| object(v, &join(path, key))).transpose()
}

pub(super) fn opt_str<'a>(o: &'a Obj, key: &str, path: &str) -> Result<Option<&'a str>, WireError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(wrong(&join(path, key), "a string", v)),
    }
}

pub(super) fn req_str<'a>(o: &'a Obj, key: &str, path: &str) -> Result<&'a str, WireError> {
    opt_str(o, key, path)?.ok_or_else(|| bad(&join(path, key), "missing (a string is required)"))
}

pub(super) fn opt_array<'a>(
    o: &'a Obj,
    key: &str,
    path: &str,
) -> Result<Option<&'a Vec<Value>>, WireError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(v) => Err(wrong(&join(path, key), "an array", v)),
    }
}

pub(super) fn opt_bool(o: &Obj, key: &str, path: &str) -> Result<Option<bool>, WireError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(wrong(&join(path, key), "a boolean", v)),
    }
}

pub(super) fn opt_f64(o: &Obj, key: &str, path: &str) -> Result<Option<f64>, WireError> {
    match get(o, key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| wrong(&join(path, key), "a number", v)),
    }
}

pub(super) fn opt_i64(o: &Obj, key: &str, path: &str) -> Result<Option<i64>, WireError> {
    match get(o, key) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| wrong(&join(path, key), "an integer", v)),
    }
}

pub(super) fn opt_u32(o: &Obj, key: &str, path: &str) -> Result<Option<u32>, WireError> {
    match get(o, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| wrong(&join(path, key), "a non-negative integer (32 bits)", v)),
    }
}

/// A string or an array of strings (`stop`), as a list.
pub(super) fn string_list(o: &Obj, key: &str, path: &str) -> Result<Vec<String>, WireError> {
    let p = join(path, key);
    match get(o, key) {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| wrong(&at(&p, i), "a string", v))
            })
            .collect(),
        Some(v) => Err(wrong(&p, "a string or an array of strings", v)),
    }
}

/// A number at a JSON pointer, 0 when absent (lenient, for upstream usage).
pub(super) fn count(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// A string field of an upstream object, empty when absent.
pub(super) fn text_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The first 200 characters of `s`, trimmed (for messages quoting a body).
pub(super) fn short(s: &str) -> String {
    let t = s.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

/// `id` with `prefix` in front unless it already starts with it.
pub(super) fn prefixed(id: &str, prefix: &str) -> String {
    if id.starts_with(prefix) {
        id.to_string()
    } else {
        format!("{prefix}{id}")
    }
}

/// An error body's message: `error.message`, `error` as a string, or top-level `message`;
/// a short prefix of a body that is not JSON (or of a JSON body without any of them).
pub(super) fn error_message(body: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let found = v
                .pointer("/error/message")
                .and_then(Value::as_str)
                .or_else(|| v.get("error").and_then(Value::as_str))
                .or_else(|| v.get("message").and_then(Value::as_str));
            match found {
                Some(m) => Some(m.to_string()),
                None => Some(short(&v.to_string())).filter(|s| !s.is_empty()),
            }
        }
        Err(_) => Some(short(&String::from_utf8_lossy(body))).filter(|s| !s.is_empty()),
    }
}

/// Arguments JSON text as an object: empty text is `{}`; invalid JSON or a non-object is
/// passed as `{"_raw": text}`.
pub(super) fn arguments_object(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(Obj::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => serde_json::json!({ "_raw": text }),
    }
}
