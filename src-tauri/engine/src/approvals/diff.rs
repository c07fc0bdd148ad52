//! The difference between proposed and edited arguments: one change per JSON Pointer where
//! they differ (objects compared key by key, arrays of equal length item by item, anything
//! else replaced whole). Kept on the request and shown to the approvers.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    /// A JSON Pointer (`/amount`, `/items/0/qty`; `` for the whole value).
    pub path: String,
    /// Absent: added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    /// Absent: removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The changes from `a` to `b` (empty when equal).
pub fn diff(a: &Value, b: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk("", a, b, &mut out);
    out
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<Change>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let p = format!("{path}/{}", escape(k));
                match y.get(k) {
                    Some(vb) => walk(&p, va, vb, out),
                    None => out.push(Change {
                        path: p,
                        from: Some(va.clone()),
                        to: None,
                    }),
                }
            }
            for (k, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                out.push(Change {
                    path: format!("{path}/{}", escape(k)),
                    from: None,
                    to: Some(vb.clone()),
                });
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                walk(&format!("{path}/{i}"), va, vb, out);
            }
        }
        _ if a != b => out.push(Change {
            path: path.to_string(),
            from: Some(a.clone()),
            to: Some(b.clone()),
        }),
        _ => {}
    }
}

/// `value` with every object's keys sorted, as compact JSON: the same arguments always give
/// the same text (standing approvals compare it).
pub fn canonical(value: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    if let Some(x) = m.get(k) {
                        out.insert(k.clone(), sort(x));
                    }
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_are_listed_by_pointer() {
        let a = json!({"amount": 900, "to": {"name": "a/b"}, "tags": ["x", "y"], "gone": 1});
        let b = json!({"amount": 500, "to": {"name": "a/b"}, "tags": ["x", "z"], "new": true});
        let d = diff(&a, &b);
        let paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["/amount", "/gone", "/tags/1", "/new"]);
        assert_eq!(d[0].from, Some(json!(900)));
        assert_eq!(d[0].to, Some(json!(500)));
        assert_eq!(d[1].to, None);
        assert!(diff(&a, &a).is_empty());
        assert_eq!(
            canonical(&json!({"b": 1, "a": {"d": 2, "c": 3}})),
            r#"{"a":{"c":3,"d":2},"b":1}"#
        );
    }
}
