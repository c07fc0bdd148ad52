//! The unit a stream is made of: one complete SSE event ([`Frame`]), marked as structure
//! before the content, a content delta, or the end of the answer.
//!
//! The faults cut streams by these marks: a stream cut "after N chunks" keeps every head
//! frame up to the Nth delta and never a tail frame, in either protocol.

use axum::body::Bytes;

/// Where a frame sits in its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// Structure before or between content (role chunk, `message_start`, block start/stop,
    /// `ping`).
    Head,
    /// A content delta (text, or a piece of a tool call's arguments).
    Delta,
    /// The end of the answer (finish chunk, usage chunk, `[DONE]`, `message_delta`,
    /// `message_stop`).
    Tail,
}

/// One complete SSE event, ready to send.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub kind: FrameKind,
    pub bytes: Bytes,
}

impl Frame {
    /// `data: <json>\n\n`.
    pub fn data(kind: FrameKind, json: &[u8]) -> Self {
        let mut out = Vec::with_capacity(json.len() + 8);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(json);
        out.extend_from_slice(b"\n\n");
        Self {
            kind,
            bytes: Bytes::from(out),
        }
    }

    /// `event: <name>\ndata: <json>\n\n`.
    pub fn event(kind: FrameKind, name: &str, json: &[u8]) -> Self {
        let mut out = Vec::with_capacity(json.len() + name.len() + 16);
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(json);
        out.extend_from_slice(b"\n\n");
        Self {
            kind,
            bytes: Bytes::from(out),
        }
    }
}

/// The frames a stream cut after `after` deltas keeps: every head frame up to the `after`th
/// delta, and no tail frame.
pub(crate) fn cut(frames: Vec<Frame>, after: usize) -> Vec<Frame> {
    let mut kept = Vec::with_capacity(frames.len());
    let mut deltas = 0;
    for frame in frames {
        match frame.kind {
            FrameKind::Tail => break,
            FrameKind::Delta if deltas == after => break,
            FrameKind::Delta => deltas += 1,
            FrameKind::Head => {}
        }
        kept.push(frame);
    }
    kept
}

/// The frames before the first delta (and before any tail).
pub(crate) fn head(frames: Vec<Frame>) -> Vec<Frame> {
    cut(frames, 0)
}
