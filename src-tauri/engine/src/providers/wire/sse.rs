//! Server-sent events: an incremental parser for upstream streams ([`SseParser`]) and the
//! framing of events sent to gateway clients ([`frame`]).
//!
//! Invariants: the parser accepts bytes split anywhere (inside a `\r\n` or a UTF-8
//! character), ends lines at `\n`, `\r\n` or `\r`, skips `:` comment lines, joins several
//! `data:` lines with `\n` and dispatches an event at a blank line (only when it carried
//! data, as the SSE spec says). Memory stays bounded: a line or an event longer than
//! `max_event_bytes` is an error. Must never: panic on any bytes, or drop a complete event.

use super::WireError;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// An incremental SSE parser.
#[derive(Debug)]
pub struct SseParser {
    max: usize,
    line: Vec<u8>,
    /// The last byte pushed ended a line with `\r`: a `\n` right after belongs to it.
    after_cr: bool,
    /// No line was ended yet (a leading BOM is dropped from the first line).
    first_line: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            max: max_event_bytes.max(1),
            line: Vec::new(),
            after_cr: false,
            first_line: true,
            event: None,
            data: String::new(),
            has_data: false,
        }
    }

    /// Feeds bytes; returns the events they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, WireError> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(&mut out)?,
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut out)?;
                }
                _ => {
                    if self.line.len() >= self.max {
                        return Err(WireError::InvalidResponse(format!(
                            "stream: a line is longer than {} bytes",
                            self.max
                        )));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(out)
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) -> Result<(), WireError> {
        let raw = std::mem::take(&mut self.line);
        let mut line = String::from_utf8(raw)
            .map_err(|_| WireError::InvalidResponse("stream: a line is not UTF-8".into()))?;
        if self.first_line {
            self.first_line = false;
            if let Some(rest) = line.strip_prefix('\u{feff}') {
                line = rest.to_string();
            }
        }
        if line.is_empty() {
            if self.has_data {
                let mut data = std::mem::take(&mut self.data);
                data.pop(); // the `\n` after the last data line
                out.push(SseEvent {
                    event: self.event.take(),
                    data,
                });
            }
            self.event = None;
            self.data.clear();
            self.has_data = false;
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            _ => {} // id, retry and unknown fields
        }
        let size = self.data.len() + self.event.as_ref().map_or(0, String::len);
        if size > self.max {
            return Err(WireError::InvalidResponse(format!(
                "stream: an event is longer than {} bytes",
                self.max
            )));
        }
        Ok(())
    }
}

/// One event as SSE text: `event: x\n` (when named), one `data:` line per line of `data`,
/// then a blank line.
pub fn frame(event: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(e) = event {
        out.push_str("event: ");
        out.push_str(e);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
        }
    }

    #[test]
    fn any_split_yields_the_same_events() {
        let input = "\u{feff}: comment\r\nevent: message_start\r\ndata: {\"a\":\"é😀\"}\r\n\r\n\
                     data: one\ndata: two\n\ndata:three\rid: 4\r\rdata: [DONE]\n\n";
        let want = vec![
            ev(Some("message_start"), "{\"a\":\"é😀\"}"),
            ev(None, "one\ntwo"),
            ev(None, "three"),
            ev(None, "[DONE]"),
        ];
        let bytes = input.as_bytes();
        for cut in 0..=bytes.len() {
            let mut p = SseParser::new(1024);
            let mut got = p.push(&bytes[..cut]).unwrap();
            got.extend(p.push(&bytes[cut..]).unwrap());
            assert_eq!(got, want, "cut at {cut}");
        }
        let mut p = SseParser::new(1024);
        let mut got = Vec::new();
        for b in bytes {
            got.extend(p.push(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(got, want);
    }

    #[test]
    fn long_lines_and_events_are_errors() {
        let mut p = SseParser::new(8);
        assert!(p.push(b"data: 0123456789").is_err());
        let mut p = SseParser::new(11);
        assert!(p.push(b"data: 12345\ndata: 12345\n").is_err());
    }

    #[test]
    fn frames_parse_back() {
        let f = frame(Some("x"), "a\nb");
        assert_eq!(f, "event: x\ndata: a\ndata: b\n\n");
        assert_eq!(
            SseParser::new(64).push(f.as_bytes()).unwrap(),
            vec![ev(Some("x"), "a\nb")]
        );
    }
}
