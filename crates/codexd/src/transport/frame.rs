//! Reading one frame: a request line, within the size limit and the stall bound.
//!
//! A frame over the limit is read to its end and dropped (the caller answers it with one
//! error), so that one oversized line does not cost the peer its connection. A frame must
//! keep arriving: a peer that stops halfway is let go rather than held open forever.
//!
//! The bytes of frames in progress are charged to one [`FrameBudget`] shared by every
//! connection, so that many connections each sending most of a large frame cannot make the
//! daemon hold their total: a frame that would pass the budget is dropped like one over the
//! size limit (read to its end, answered with one error).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// The bytes of request frames in progress that all connections together may hold.
#[derive(Clone, Debug)]
pub(super) struct FrameBudget {
    used: Arc<AtomicUsize>,
    limit: usize,
}

impl FrameBudget {
    /// A budget of `limit` bytes.
    pub(super) fn new(limit: usize) -> FrameBudget {
        FrameBudget {
            used: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// The budget's size in bytes.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// One connection's share, empty.
    pub(super) fn charge(&self) -> FrameCharge {
        FrameCharge {
            budget: self.clone(),
            held: 0,
        }
    }
}

/// What one connection's frame holds of the [`FrameBudget`]; given back by
/// [`FrameCharge::release`] (once the frame is handled) or on drop.
#[derive(Debug)]
pub(super) struct FrameCharge {
    budget: FrameBudget,
    held: usize,
}

impl FrameCharge {
    /// Grows the share to `bytes`; false (and nothing taken) if the budget has no room.
    fn grow_to(&mut self, bytes: usize) -> bool {
        let Some(more) = bytes.checked_sub(self.held).filter(|&m| m > 0) else {
            return true;
        };
        let limit = self.budget.limit;
        let taken = self
            .budget
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(more).filter(|&total| total <= limit)
            })
            .is_ok();
        if taken {
            self.held = bytes;
        }
        taken
    }

    /// Gives the share back.
    pub(super) fn release(&mut self) {
        if self.held > 0 {
            self.budget.used.fetch_sub(self.held, Ordering::AcqRel);
            self.held = 0;
        }
    }
}

impl Drop for FrameCharge {
    fn drop(&mut self) {
        self.release();
    }
}

/// What [`read_frame`] found.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Frame {
    /// A whole line, now in the buffer (without its newline); also the last line when the
    /// peer closes without ending it.
    Line,
    /// A line over the limit, read to its end and discarded; the buffer is empty.
    TooLarge,
    /// A line that would have passed the shared [`FrameBudget`], read to its end and
    /// discarded; the buffer is empty.
    Overloaded,
    /// The peer closed before sending any byte of a frame.
    Eof,
    /// The frame stopped coming (see [`read_frame`]).
    Stalled,
}

/// A frame in progress earns another stall period with every this many bytes that arrive.
const FRAME_PROGRESS_BYTES: u64 = 1024 * 1024;

/// Reads one newline-terminated frame into `buf` (without the newline). A frame longer than
/// `max` is consumed and discarded. A frame must keep coming: it has `stall` to arrive, and
/// `stall` more whenever another [`FRAME_PROGRESS_BYTES`] of it have, so that a peer that
/// stops mid-frame is let go while a huge frame sent through a busy machine is only slow.
/// The buffer's bytes are charged to `charge` as they arrive (the caller releases them once
/// the frame is handled); a frame the shared budget has no room for is discarded.
pub(super) async fn read_frame(
    reader: &mut (impl tokio::io::AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
    max: usize,
    stall: Duration,
    charge: &mut FrameCharge,
) -> std::io::Result<Frame> {
    let mut too_large = false;
    let mut overloaded = false;
    let mut deadline = tokio::time::Instant::now() + stall;
    let (mut received, mut credited) = (0u64, 0u64);
    loop {
        let Ok(filled) = tokio::time::timeout_at(deadline, reader.fill_buf()).await else {
            return Ok(Frame::Stalled);
        };
        let available = filled?;
        if available.is_empty() {
            return Ok(if too_large {
                Frame::TooLarge
            } else if overloaded {
                Frame::Overloaded
            } else if buf.is_empty() {
                Frame::Eof
            } else {
                Frame::Line
            });
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(pos) => (&available[..pos], Some(pos + 1)),
            None => (available, None),
        };
        if !too_large && !overloaded {
            if buf.len() + chunk.len() > max {
                too_large = true;
                *buf = Vec::new(); // give the memory back, not just the budget
                charge.release();
            } else if !charge.grow_to(buf.len() + chunk.len()) {
                overloaded = true;
                *buf = Vec::new();
                charge.release();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let consumed = done.unwrap_or(available.len());
        reader.consume(consumed);
        received += consumed as u64;
        if received - credited >= FRAME_PROGRESS_BYTES {
            credited = received;
            deadline = tokio::time::Instant::now() + stall;
        }
        if done.is_some() {
            return Ok(if too_large {
                Frame::TooLarge
            } else if overloaded {
                Frame::Overloaded
            } else {
                Frame::Line
            });
        }
    }
}
