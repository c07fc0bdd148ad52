//! Response bodies that are not one buffer: streams paced by a delay, and the faults that end
//! a body badly (cut off, stalled, never ending). A [`Plan`] is a list of byte pieces and how
//! the body ends once they are sent.
//!
//! Invariants: the call's [`CallGuard`] lives in the body, so a body dropped before its end
//! (the client went away) counts as disconnected; an [`End::Abort`] first lets hyper flush
//! what was sent (a short pause), then fails the body, which makes hyper close the
//! connection without finishing the message (no last chunk, or fewer bytes than the
//! `Content-Length`).

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures_util::stream;
use tokio::time::{Interval, MissedTickBehavior};

use crate::frame::{Frame, FrameKind};
use crate::state::CallGuard;

/// How long an aborting body waits for hyper to flush what it sent before failing.
const FLUSH_PAUSE: Duration = Duration::from_millis(20);

/// How a body ends after its pieces.
pub(crate) enum End {
    /// Normally.
    Finish,
    /// The connection is closed mid-message.
    Abort,
    /// Nothing more is sent until the client goes away.
    Stall,
    /// `piece` again and again, every `every` (zero: as fast as the client reads).
    Repeat { piece: Bytes, every: Duration },
}

/// A body to stream.
pub(crate) struct Plan {
    pub frames: VecDeque<Frame>,
    /// Pause before every delta frame but the first.
    pub delay: Duration,
    pub end: End,
    pub guard: CallGuard,
}

struct Run {
    plan: Plan,
    sent_delta: bool,
    finished: bool,
    interval: Option<Interval>,
}

impl Plan {
    pub fn new(frames: Vec<Frame>, delay: Duration, end: End, guard: CallGuard) -> Self {
        Self {
            frames: frames.into(),
            delay,
            end,
            guard,
        }
    }

    /// The plan as a response body.
    pub fn into_body(self) -> Body {
        let run = Run {
            plan: self,
            sent_delta: false,
            finished: false,
            interval: None,
        };
        Body::from_stream(stream::unfold(run, next))
    }
}

async fn next(mut run: Run) -> Option<(Result<Bytes, std::io::Error>, Run)> {
    if run.finished {
        return None;
    }
    if let Some(frame) = run.plan.frames.pop_front() {
        if frame.kind == FrameKind::Delta {
            if run.sent_delta && !run.plan.delay.is_zero() {
                tokio::time::sleep(run.plan.delay).await;
            }
            run.sent_delta = true;
        }
        if run.plan.frames.is_empty() && matches!(run.plan.end, End::Finish) {
            run.plan.guard.done();
        }
        return Some((Ok(frame.bytes), run));
    }
    match &run.plan.end {
        End::Finish => {
            run.plan.guard.done();
            None
        }
        End::Abort => {
            tokio::time::sleep(FLUSH_PAUSE).await;
            run.plan.guard.done();
            run.finished = true;
            Some((Err(std::io::Error::other("scripted truncation")), run))
        }
        End::Stall => {
            std::future::pending::<()>().await;
            None
        }
        End::Repeat { piece, every } => {
            let piece = piece.clone();
            if every.is_zero() {
                tokio::task::yield_now().await;
            } else {
                let every = *every;
                let interval = run.interval.get_or_insert_with(|| {
                    let mut interval = tokio::time::interval(every);
                    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
                    interval
                });
                interval.tick().await;
            }
            Some((Ok(piece), run))
        }
    }
}
