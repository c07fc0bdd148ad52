//! The `when` language of a policy rule: a predicate over the proposed arguments.
//!
//! ```text
//! expr    := or
//! or      := and (("or" | "||") and)*
//! and     := unary (("and" | "&&") unary)*
//! unary   := ("not" | "!") unary | "(" expr ")" | compare
//! compare := path op literal
//! path    := name ("." name | "[" index "]")*
//! op      := == != > >= < <= starts_with ends_with contains matches in
//! literal := number | "text" | 'text' | true | false | null | [literal, ...]
//! ```
//!
//! `amount > 500`, `recipient ends_with "@example.com"`, `env == "prod"`,
//! `path starts_with "/etc"`, `env in ["prod", "staging"]`, `body matches "(?i)password"`.
//! Numbers compare exactly (decimal). An argument that is missing, or of a type the
//! operator does not take (`"abc" > 5`), is an evaluation error, never a silent `false`:
//! the caller fails closed.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

/// A parsed predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare {
        path: Vec<PathPart>,
        op: Op,
        value: Value,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathPart {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    StartsWith,
    EndsWith,
    Contains,
    Matches,
    In,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::StartsWith => "starts_with",
            Self::EndsWith => "ends_with",
            Self::Contains => "contains",
            Self::Matches => "matches",
            Self::In => "in",
        }
    }
}

/// Why a predicate does not parse: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` does not parse at character {at}: {message}")]
pub struct ParseError {
    pub text: String,
    pub at: usize,
    pub message: String,
}

/// Why a predicate could not be evaluated on some arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Op(Op),
    And,
    Or,
    Not,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let err = |at: usize, message: String| ParseError {
        text: text.to_string(),
        at,
        message,
    };
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let next = chars.get(i + 1).map(|(_, c)| *c);
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | '[' | ']' | ',' | '.' => {
                out.push((
                    at,
                    match c {
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        '[' => Tok::LBracket,
                        ']' => Tok::RBracket,
                        ',' => Tok::Comma,
                        _ => Tok::Dot,
                    },
                ));
                i += 1;
            }
            '=' if next == Some('=') => {
                out.push((at, Tok::Op(Op::Eq)));
                i += 2;
            }
            '!' if next == Some('=') => {
                out.push((at, Tok::Op(Op::Ne)));
                i += 2;
            }
            '!' => {
                out.push((at, Tok::Not));
                i += 1;
            }
            '>' | '<' => {
                let eq = next == Some('=');
                let op = match (c, eq) {
                    ('>', true) => Op::Ge,
                    ('>', false) => Op::Gt,
                    ('<', true) => Op::Le,
                    _ => Op::Lt,
                };
                out.push((at, Tok::Op(op)));
                i += if eq { 2 } else { 1 };
            }
            '&' if next == Some('&') => {
                out.push((at, Tok::And));
                i += 2;
            }
            '|' if next == Some('|') => {
                out.push((at, Tok::Or));
                i += 2;
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&(_, ch)) = chars.get(i) else {
                        return Err(err(at, "a quoted text is not closed".into()));
                    };
                    i += 1;
                    match ch {
                        '\\' => {
                            let Some(&(_, esc)) = chars.get(i) else {
                                return Err(err(at, "a quoted text is not closed".into()));
                            };
                            i += 1;
                            s.push(match esc {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                        ch if ch == quote => break,
                        ch => s.push(ch),
                    }
                }
                out.push((at, Tok::Str(s)));
            }
            c if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) => {
                let mut s = String::from(c);
                i += 1;
                while let Some(&(_, ch)) = chars.get(i) {
                    if ch.is_ascii_digit() || ch == '.' || ch == 'e' || ch == 'E' {
                        s.push(ch);
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push((at, Tok::Num(s)));
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut s = String::new();
                while let Some(&(_, ch)) = chars.get(i) {
                    if ch.is_alphanumeric() || ch == '_' || ch == '-' {
                        s.push(ch);
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push((
                    at,
                    match s.as_str() {
                        "and" => Tok::And,
                        "or" => Tok::Or,
                        "not" => Tok::Not,
                        "starts_with" => Tok::Op(Op::StartsWith),
                        "ends_with" => Tok::Op(Op::EndsWith),
                        "contains" => Tok::Op(Op::Contains),
                        "matches" => Tok::Op(Op::Matches),
                        "in" => Tok::Op(Op::In),
                        _ => Tok::Ident(s),
                    },
                ));
            }
            other => return Err(err(at, format!("unexpected `{other}`"))),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<(usize, Tok)>,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            text: self.text.to_string(),
            at: self
                .toks
                .get(self.pos)
                .map_or(self.text.chars().count(), |(at, _)| *at),
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn bump(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Some(Tok::Not) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.or()?;
                if self.bump() != Some(Tok::RParen) {
                    self.pos -= 1;
                    return Err(self.err("expected `)`"));
                }
                Ok(e)
            }
            _ => self.compare(),
        }
    }

    fn compare(&mut self) -> Result<Expr, ParseError> {
        let path = self.path()?;
        let op = match self.bump() {
            Some(Tok::Op(op)) => op,
            _ => {
                self.pos -= 1;
                return Err(self.err(
                    "expected an operator: == != > >= < <= starts_with ends_with contains matches in",
                ));
            }
        };
        let value = self.literal()?;
        match (op, &value) {
            (Op::In, Value::Array(_)) => {}
            (Op::In, _) => {
                return Err(self.err("`in` takes a list: env in [\"prod\", \"staging\"]"));
            }
            (Op::StartsWith | Op::EndsWith | Op::Contains | Op::Matches, Value::String(_)) => {}
            (Op::StartsWith | Op::EndsWith | Op::Matches, _) => {
                return Err(self.err(format!("`{}` takes a quoted text", op.as_str())));
            }
            (Op::Gt | Op::Ge | Op::Lt | Op::Le, Value::Number(_) | Value::String(_)) => {}
            (Op::Gt | Op::Ge | Op::Lt | Op::Le, _) => {
                return Err(self.err(format!("`{}` takes a number or a text", op.as_str())));
            }
            _ => {}
        }
        if let (Op::Matches, Value::String(re)) = (op, &value)
            && let Err(e) = regex_lite::Regex::new(re)
        {
            return Err(self.err(format!("not a regular expression: {e}")));
        }
        Ok(Expr::Compare { path, op, value })
    }

    fn path(&mut self) -> Result<Vec<PathPart>, ParseError> {
        let mut parts = match self.bump() {
            Some(Tok::Ident(name)) => vec![PathPart::Key(name)],
            Some(Tok::Str(name)) => vec![PathPart::Key(name)],
            _ => {
                self.pos -= 1;
                return Err(self.err("expected an argument name"));
            }
        };
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.pos += 1;
                    match self.bump() {
                        Some(Tok::Ident(name)) => parts.push(PathPart::Key(name)),
                        _ => {
                            self.pos -= 1;
                            return Err(self.err("expected a name after `.`"));
                        }
                    }
                }
                Some(Tok::LBracket) => {
                    self.pos += 1;
                    match self.bump() {
                        Some(Tok::Num(n)) => {
                            let i = n
                                .parse::<usize>()
                                .map_err(|_| self.err("an index is a whole number from 0"))?;
                            parts.push(PathPart::Index(i));
                        }
                        Some(Tok::Str(k)) => parts.push(PathPart::Key(k)),
                        _ => {
                            self.pos -= 1;
                            return Err(self.err("expected an index or a quoted key"));
                        }
                    }
                    if self.bump() != Some(Tok::RBracket) {
                        self.pos -= 1;
                        return Err(self.err("expected `]`"));
                    }
                }
                _ => return Ok(parts),
            }
        }
    }

    fn literal(&mut self) -> Result<Value, ParseError> {
        match self.bump() {
            Some(Tok::Str(s)) => Ok(Value::String(s)),
            Some(Tok::Num(n)) => serde_json::from_str::<serde_json::Number>(&n)
                .map(Value::Number)
                .map_err(|_| {
                    self.pos -= 1;
                    self.err(format!("`{n}` is not a number"))
                }),
            Some(Tok::Ident(w)) if w == "true" => Ok(Value::Bool(true)),
            Some(Tok::Ident(w)) if w == "false" => Ok(Value::Bool(false)),
            Some(Tok::Ident(w)) if w == "null" => Ok(Value::Null),
            Some(Tok::LBracket) => {
                let mut items = Vec::new();
                if self.peek() == Some(&Tok::RBracket) {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.literal()?);
                    match self.bump() {
                        Some(Tok::Comma) => {}
                        Some(Tok::RBracket) => return Ok(Value::Array(items)),
                        _ => {
                            self.pos -= 1;
                            return Err(self.err("expected `,` or `]`"));
                        }
                    }
                }
            }
            Some(Tok::Ident(w)) => {
                self.pos -= 1;
                Err(self.err(format!("expected a value; quote texts: \"{w}\"")))
            }
            _ => {
                self.pos = self.pos.saturating_sub(1);
                Err(self
                    .err("expected a value: a number, a quoted text, true, false, null or a list"))
            }
        }
    }
}

/// Parses `text`.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let toks = lex(text)?;
    let mut p = Parser { text, toks, pos: 0 };
    if p.toks.is_empty() {
        return Err(p.err("the predicate is empty"));
    }
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(p.err("unexpected text after the predicate (join conditions with and / or)"));
    }
    Ok(e)
}

impl fmt::Display for PathPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(k) => write!(f, ".{k}"),
            Self::Index(i) => write!(f, "[{i}]"),
        }
    }
}

fn path_text(path: &[PathPart]) -> String {
    let s: String = path.iter().map(ToString::to_string).collect();
    s.trim_start_matches('.').to_string()
}

fn lookup<'v>(args: &'v Value, path: &[PathPart]) -> Option<&'v Value> {
    let mut cur = args;
    for p in path {
        cur = match p {
            PathPart::Key(k) => cur.get(k)?,
            PathPart::Index(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

fn decimal(n: &serde_json::Number) -> Option<Decimal> {
    let s = n.to_string();
    Decimal::from_str(&s)
        .ok()
        .or_else(|| Decimal::from_scientific(&s).ok())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (decimal(x), decimal(y)) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        _ => a == b,
    }
}

/// Evaluates `expr` on `args`.
pub fn eval(expr: &Expr, args: &Value) -> Result<bool, EvalError> {
    match expr {
        Expr::And(a, b) => Ok(eval(a, args)? && eval(b, args)?),
        Expr::Or(a, b) => {
            // Fail closed: an error on either side is an error, even when the other holds.
            let (x, y) = (eval(a, args)?, eval(b, args)?);
            Ok(x || y)
        }
        Expr::Not(e) => Ok(!eval(e, args)?),
        Expr::Compare { path, op, value } => {
            let name = path_text(path);
            let Some(actual) = lookup(args, path) else {
                return Err(EvalError(format!("the arguments have no `{name}`")));
            };
            let mismatch = || {
                EvalError(format!(
                    "`{name}` is {} and `{}` cannot compare it with {value}",
                    type_name(actual),
                    op.as_str()
                ))
            };
            match op {
                Op::Eq => Ok(equal(actual, value)),
                Op::Ne => Ok(!equal(actual, value)),
                Op::In => Ok(value
                    .as_array()
                    .is_some_and(|items| items.iter().any(|v| equal(actual, v)))),
                Op::Gt | Op::Ge | Op::Lt | Op::Le => {
                    let ord = match (actual, value) {
                        (Value::Number(x), Value::Number(y)) => match (decimal(x), decimal(y)) {
                            (Some(x), Some(y)) => x.cmp(&y),
                            _ => return Err(mismatch()),
                        },
                        (Value::String(x), Value::String(y)) => x.cmp(y),
                        _ => return Err(mismatch()),
                    };
                    Ok(match op {
                        Op::Gt => ord.is_gt(),
                        Op::Ge => ord.is_ge(),
                        Op::Lt => ord.is_lt(),
                        _ => ord.is_le(),
                    })
                }
                Op::StartsWith | Op::EndsWith | Op::Matches => {
                    let (Value::String(a), Value::String(b)) = (actual, value) else {
                        return Err(mismatch());
                    };
                    Ok(match op {
                        Op::StartsWith => a.starts_with(b.as_str()),
                        Op::EndsWith => a.ends_with(b.as_str()),
                        _ => regex_lite::Regex::new(b)
                            .map_err(|e| EvalError(e.to_string()))?
                            .is_match(a),
                    })
                }
                Op::Contains => match actual {
                    Value::String(a) => match value {
                        Value::String(b) => Ok(a.contains(b.as_str())),
                        _ => Err(mismatch()),
                    },
                    Value::Array(items) => Ok(items.iter().any(|v| equal(v, value))),
                    _ => Err(mismatch()),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_predicate_form_on_matching_and_other_arguments() {
        let cases: &[(&str, Value, Result<bool, &str>)] = &[
            ("amount > 500", json!({"amount": 501}), Ok(true)),
            ("amount > 500", json!({"amount": 500}), Ok(false)),
            ("amount >= 500", json!({"amount": 500.0}), Ok(true)),
            ("amount < 0.3", json!({"amount": 0.1}), Ok(true)),
            ("amount <= 10", json!({"amount": 10.000}), Ok(true)),
            // Exact decimals: 0.1 + 0.2 style errors cannot creep in.
            ("amount == 0.3", json!({"amount": 0.3}), Ok(true)),
            (
                r#"recipient ends_with "@example.com""#,
                json!({"recipient": "a@example.com"}),
                Ok(true),
            ),
            (
                r#"recipient ends_with "@example.com""#,
                json!({"recipient": "a@example.com.evil"}),
                Ok(false),
            ),
            (r#"env == "prod""#, json!({"env": "prod"}), Ok(true)),
            (r#"env != "prod""#, json!({"env": "prod"}), Ok(false)),
            (
                r#"path starts_with "/etc""#,
                json!({"path": "/etc/passwd"}),
                Ok(true),
            ),
            (
                r#"path starts_with "/etc""#,
                json!({"path": "/home/etc"}),
                Ok(false),
            ),
            (
                r#"env in ["prod", "staging"]"#,
                json!({"env": "staging"}),
                Ok(true),
            ),
            (
                r#"tags contains "pii""#,
                json!({"tags": ["a", "pii"]}),
                Ok(true),
            ),
            (
                r#"body contains "secret""#,
                json!({"body": "no"}),
                Ok(false),
            ),
            (
                r#"body matches "(?i)pass(word)?""#,
                json!({"body": "my PASSWORD"}),
                Ok(true),
            ),
            (
                "to.domain == 'x.org'",
                json!({"to": {"domain": "x.org"}}),
                Ok(true),
            ),
            (
                "items[1].qty > 2",
                json!({"items": [{"qty": 1}, {"qty": 3}]}),
                Ok(true),
            ),
            ("dry_run == true", json!({"dry_run": true}), Ok(true)),
            (
                r#"amount > 500 and (env == "prod" or force == true)"#,
                json!({"amount": 600, "env": "dev", "force": true}),
                Ok(true),
            ),
            (r#"not env == "prod""#, json!({"env": "prod"}), Ok(false)),
            (
                r#"!(env == "prod") && amount > 1"#,
                json!({"env": "dev", "amount": 2}),
                Ok(true),
            ),
            // Errors, never a silent false: the caller fails closed.
            ("amount > 500", json!({}), Err("no `amount`")),
            ("amount > 500", json!({"amount": "600"}), Err("is a text")),
            (
                r#"path starts_with "/etc""#,
                json!({"path": 7}),
                Err("is a number"),
            ),
            (
                r#"env == "x" or amount > 1"#,
                json!({"env": "x"}),
                Err("no `amount`"),
            ),
        ];
        for (text, args, want) in cases {
            let expr = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            match (eval(&expr, args), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, *w, "{text} on {args}"),
                (Err(e), Err(w)) => assert!(e.0.contains(w), "{text}: {e}"),
                (got, w) => panic!("{text} on {args}: got {got:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn predicates_that_do_not_parse_say_where_and_why() {
        let cases = [
            ("", "empty"),
            ("amount >", "expected a value"),
            ("amount 500", "expected an operator"),
            ("env == prod", "quote texts"),
            ("(amount > 1", "expected `)`"),
            ("amount > 1 env == \"x\"", "join conditions"),
            ("env in \"prod\"", "takes a list"),
            ("path starts_with 5", "takes a quoted text"),
            ("a matches \"(\"", "not a regular expression"),
            ("name == \"open", "not closed"),
            ("amount > 1 # comment", "unexpected `#`"),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
        let e = parse("amount 500").unwrap_err();
        assert_eq!(e.at, 7);
    }
}
