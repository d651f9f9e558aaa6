//! Reading one frame: a request line, within the size limit and the stall bound.
//!
//! A frame over the limit is read to its end and dropped (the caller answers it with one
//! error), so that one oversized line does not cost the peer its connection. A frame must
//! keep arriving: a peer that stops halfway is let go rather than held open forever.

use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// What [`read_frame`] found.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Frame {
    /// A whole line, now in the buffer (without its newline); also the last line when the
    /// peer closes without ending it.
    Line,
    /// A line over the limit, read to its end and discarded; the buffer is empty.
    TooLarge,
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
pub(super) async fn read_frame(
    reader: &mut (impl tokio::io::AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
    max: usize,
    stall: Duration,
) -> std::io::Result<Frame> {
    let mut too_large = false;
    let mut deadline = tokio::time::Instant::now() + stall;
    let (mut received, mut credited) = (0u64, 0u64);
    loop {
        let Ok(filled) = tokio::time::timeout_at(deadline, reader.fill_buf()).await else {
            return Ok(Frame::Stalled);
        };
        let available = filled?;
        if available.is_empty() {
            return Ok(if buf.is_empty() && !too_large {
                Frame::Eof
            } else if too_large {
                Frame::TooLarge
            } else {
                Frame::Line
            });
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(pos) => (&available[..pos], Some(pos + 1)),
            None => (available, None),
        };
        if !too_large {
            if buf.len() + chunk.len() > max {
                too_large = true;
                buf.clear();
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
            } else {
                Frame::Line
            });
        }
    }
}
