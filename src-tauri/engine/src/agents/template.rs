//! Prompt templates (minijinja, strict): a template that does not parse is a config error; a
//! variable the input does not give is an error naming it, before any model is called.
//!
//! Variables: every top-level field of the task's input (when it is an object), and `input`
//! itself (the whole input, whatever its type).

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

/// Work a template may do (minijinja's fuel: roughly one unit per instruction), so a
/// template with runaway loops fails instead of holding a thread.
const FUEL: u64 = 2_000_000;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env
}

/// Checks that `source` parses as a template.
pub fn compile(source: &str) -> Result<(), String> {
    let env = environment();
    env.template_from_str(source)
        .map(|_| ())
        .map_err(|e| format!("the template does not parse: {e:#}"))
}

/// The variables `source` reads from outside, with their attribute paths (`user.name`);
/// globals (`range`) left out.
pub fn variables(source: &str) -> Result<std::collections::BTreeSet<String>, String> {
    let env = environment();
    let template = env
        .template_from_str(source)
        .map_err(|e| format!("the template does not parse: {e:#}"))?;
    Ok(template
        .undeclared_variables(true)
        .into_iter()
        .filter(|v| {
            let root = v.split('.').next().unwrap_or(v);
            env.globals().all(|(g, _)| g != root)
        })
        .collect())
}

/// The variables `input` gives a template.
fn context(input: &Value) -> serde_json::Map<String, Value> {
    let mut vars = match input {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    vars.insert("input".into(), input.clone());
    vars
}

/// `source` rendered with `input`'s variables; a missing variable is named.
pub fn render(source: &str, input: &Value) -> Result<String, String> {
    let env = environment();
    let template = env
        .template_from_str(source)
        .map_err(|e| format!("the template does not parse: {e:#}"))?;
    let vars = context(input);
    let mut missing: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !vars.contains_key(v) && env.globals().all(|(g, _)| g != v.as_str()))
        .collect();
    if !missing.is_empty() {
        missing.sort();
        return Err(format!(
            "the input gives no {} (it has: {})",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", "),
            {
                let mut have: Vec<&str> = vars.keys().map(String::as_str).collect();
                have.sort_unstable();
                have.join(", ")
            }
        ));
    }
    template
        .render(minijinja::Value::from(minijinja::value::Serde(&vars)))
        .map_err(|e| format!("the template could not be rendered: {e:#}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn templates_render_or_say_what_is_missing() {
        let cases: &[(&str, Value, Result<&str, &str>)] = &[
            ("Hello {{ name }}", json!({"name": "Ada"}), Ok("Hello Ada")),
            (
                "{% for i in items %}{{ i }},{% endfor %}",
                json!({"items": [1, 2]}),
                Ok("1,2,"),
            ),
            ("All: {{ input }}", json!("plain"), Ok("All: plain")),
            ("{{ user.name }}", json!({"user": {"name": "B"}}), Ok("B")),
            (
                "Hello {{ nmae }} and {{ other }}",
                json!({"name": "Ada"}),
                Err("the input gives no `nmae`, `other` (it has: input, name)"),
            ),
            (
                "{{ user.missing }}",
                json!({"user": {}}),
                Err("could not be rendered"),
            ),
            ("{% if %}", json!({}), Err("does not parse")),
        ];
        for (source, input, want) in cases {
            let got = render(source, input);
            match (want, &got) {
                (Ok(text), Ok(out)) => assert_eq!(out, text, "{source}"),
                (Err(why), Err(e)) => assert!(e.contains(why), "{source}: {e}"),
                _ => panic!("{source}: got {got:?}, want {want:?}"),
            }
        }
        let runaway = render(
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
            &json!({}),
        );
        assert!(runaway.unwrap_err().contains("could not be rendered"));
        assert!(compile("{{ ok }}").is_ok());
        assert!(compile("{% for %}").unwrap_err().contains("does not parse"));
    }
}
