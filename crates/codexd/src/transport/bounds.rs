//! Tests of the bounds on what a peer can hold: the outbox's byte budget, and the stall
//! bound on a frame that is slow but keeps coming versus one that stops.

use super::Limits;
use super::frame::{Frame, FrameBudget, read_frame};
use super::outbox::Outbox;
use serde_json::value::RawValue;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};

/// A JSON string message of exactly `bytes` bytes (quotes included), to fill the budget by
/// known amounts.
fn message(bytes: usize) -> Box<RawValue> {
    RawValue::from_string(format!("\"{}\"", "x".repeat(bytes - 2))).unwrap()
}

/// A slow reader holds at most the byte budget: a message waits until earlier ones are
/// written, yet one larger than the whole budget still goes.
#[tokio::test]
async fn the_outbox_holds_a_byte_budget_until_messages_are_written() {
    let limits = Limits {
        send_buffer_bytes: 8 * 1024,
        ..Limits::default()
    };
    let (outbox, mut rx) = Outbox::new(&limits);
    outbox.send(message(6 * 1024)).await.unwrap();
    // 6 KiB are held: 4 KiB more do not fit until the first message is taken.
    let second = {
        let outbox = outbox.clone();
        tokio::spawn(async move { outbox.send(message(4 * 1024)).await })
    };
    tokio::task::yield_now().await;
    assert!(!second.is_finished());
    let first = rx.recv().await.unwrap();
    assert_eq!(first.message.get().len(), 6 * 1024);
    assert!(
        !second.is_finished(),
        "the budget is held until the message is dropped"
    );
    drop(first);
    second.await.unwrap().unwrap();
    drop(rx.recv().await.unwrap());
    // A message over the whole budget still goes, alone.
    outbox.send(message(100 * 1024)).await.unwrap();
    assert_eq!(rx.recv().await.unwrap().message.get().len(), 100 * 1024);
    drop(rx);
    assert!(outbox.send(message(10)).await.is_err());
}

/// The stall bound lets a huge frame through a busy machine but not a peer that stops.
#[tokio::test]
async fn a_huge_frame_that_keeps_coming_is_read_and_one_that_stops_is_stalled() {
    let stall = Duration::from_millis(500);
    let unlimited = FrameBudget::new(usize::MAX);
    // 8 chunks of 1.2 MiB, 100 ms apart: the whole frame takes longer than one stall
    // period, but every chunk earns the next one.
    let (client, server) = tokio::io::duplex(64 * 1024);
    let sender = tokio::spawn(async move {
        let mut client = client;
        let chunk = vec![b'a'; 1200 * 1024];
        for _ in 0..8 {
            client.write_all(&chunk).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        client.write_all(b"\n").await.unwrap();
        client
    });
    let mut reader = BufReader::new(server);
    let mut buf = Vec::new();
    let frame = read_frame(
        &mut reader,
        &mut buf,
        16 << 20,
        stall,
        &mut unlimited.charge(),
    )
    .await
    .unwrap();
    assert_eq!(frame, Frame::Line);
    assert_eq!(buf.len(), 8 * 1200 * 1024);
    let _client = sender.await.unwrap();

    // A peer that sends part of a frame and then nothing is let go.
    let (mut client, server) = tokio::io::duplex(1024);
    client.write_all(b"{\"jsonrpc\":").await.unwrap();
    let mut reader = BufReader::new(server);
    buf.clear();
    let frame = read_frame(
        &mut reader,
        &mut buf,
        16 << 20,
        stall,
        &mut unlimited.charge(),
    )
    .await
    .unwrap();
    assert_eq!(frame, Frame::Stalled);
    drop(client);
}
