//! Section 1, the RPC floor: `get` of one task through the client crate, against a bare
//! Unix-socket echo that moves the same number of bytes each way, measured in the same run
//! and interleaved in blocks so drift hits both alike.

use crate::daemon::{Codexd, fake_request};
use crate::report::{Report, Section, Target};
use crate::sections::Ctx;
use crate::stats::{dur, ratio, summarize, times};
use anyhow::Context;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// Serves `listener` with a thread per connection: reads a line, answers `reply_len` bytes
/// and a newline (blocking std I/O: the barest floor).
fn std_echo_server(listener: UnixListener, reply_len: usize) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reply = vec![b'x'; reply_len];
                reply.push(b'\n');
                let mut writer = stream.try_clone().expect("clone stream");
                let mut reader = BufReader::new(stream);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {
                            if writer.write_all(&reply).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}

/// The same echo on a multi-threaded tokio runtime, as the daemon serves its socket.
fn tokio_echo_server(path: &Path, reply_len: usize) -> anyhow::Result<()> {
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    listener.set_nonblocking(true)?;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("echo runtime");
        runtime.block_on(async move {
            let listener = tokio::net::UnixListener::from_std(listener).expect("echo listener");
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut reply = vec![b'x'; reply_len];
                    reply.push(b'\n');
                    let (read, mut write) = stream.into_split();
                    let mut reader = tokio::io::BufReader::new(read);
                    let mut line = Vec::new();
                    loop {
                        line.clear();
                        match reader.read_until(b'\n', &mut line).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {
                                if write.write_all(&reply).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
    });
    Ok(())
}

/// `n` round trips over a blocking std client: send `request_len` bytes, read one line.
fn std_round_trips(path: &Path, request_len: usize, n: usize) -> anyhow::Result<Vec<Duration>> {
    let stream = UnixStream::connect(path)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut request = vec![b'x'; request_len];
    request.push(b'\n');
    let mut line = Vec::new();
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        writer.write_all(&request)?;
        line.clear();
        reader.read_until(b'\n', &mut line)?;
        samples.push(t.elapsed());
    }
    Ok(samples)
}

/// `n` round trips over a tokio client on the caller's runtime (as `codexctl` uses it).
async fn tokio_round_trips(
    path: &Path,
    request_len: usize,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    let stream = tokio::net::UnixStream::connect(path).await?;
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read);
    let mut request = vec![b'x'; request_len];
    request.push(b'\n');
    let mut line = Vec::new();
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        write.write_all(&request).await?;
        write.flush().await?;
        line.clear();
        reader.read_until(b'\n', &mut line).await?;
        samples.push(t.elapsed());
    }
    Ok(samples)
}

/// Runs section 1.
pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let dir = ctx.scratch.join("rpc");
    let daemon = Codexd::start(&ctx.bins, &dir.join("codexd"), &ctx.bins.fake_codex, 4)?;
    let client = daemon.client().await?;
    let task = client.start(fake_request(&ctx.work, &[])).await?;
    client.wait(&[task.id.to_string()], None).await?;
    let id = task.id.to_string();
    // Bytes on the wire for one `get`: the request line as jsonrpsee writes it, and the reply.
    let got = client.get(&id).await?;
    let request_len =
        serde_json::json!({"jsonrpc": "2.0", "id": 12345, "method": "codexd_get", "params": [id]})
            .to_string()
            .len();
    let reply_len = serde_json::json!({"jsonrpc": "2.0", "id": 12345, "result": got})
        .to_string()
        .len();
    let std_sock = dir.join("echo-std.sock");
    std_echo_server(UnixListener::bind(&std_sock)?, reply_len);
    let tokio_sock = dir.join("echo-tokio.sock");
    tokio_echo_server(&tokio_sock, reply_len)?;

    let blocks = 10;
    let per_block = ctx.plan.rpc_iters.div_ceil(blocks);
    let (mut rpc, mut echo_tokio, mut echo_std) = (Vec::new(), Vec::new(), Vec::new());
    // Warm-up of every path.
    for _ in 0..50 {
        client.get(&id).await?;
    }
    tokio_round_trips(&tokio_sock, request_len, 50).await?;
    std_round_trips(&std_sock, request_len, 50)?;
    for _ in 0..blocks {
        for _ in 0..per_block {
            let t = Instant::now();
            client.get(&id).await.context("get")?;
            rpc.push(t.elapsed());
        }
        echo_tokio.extend(tokio_round_trips(&tokio_sock, request_len, per_block).await?);
        echo_std.extend(std_round_trips(&std_sock, request_len, per_block)?);
    }
    let (r, et, es) = (
        summarize(&rpc),
        summarize(&echo_tokio),
        summarize(&echo_std),
    );
    let mut section = Section::new(
        "1. RPC floor",
        &format!(
            "Round trip of `get` (one task) through `codexd-client` (jsonrpsee client on a \
             current-thread runtime, as `codexctl` runs it) against a bare Unix-socket echo \
             that sends the same {request_len} bytes and answers the same {reply_len} bytes, \
             in {blocks} interleaved blocks of {per_block}. The tokio echo uses the daemon's \
             runtime kind (multi-threaded server) and the client's (current-thread); the std \
             echo is blocking threads on both sides, the absolute floor."
        ),
        &[
            "path",
            "n",
            "p50",
            "p99",
            "p50 ratio to tokio echo",
            "p50 ratio to std echo",
        ],
    );
    for (name, s) in [
        ("`client.get` → codexd", r),
        ("tokio echo", et),
        ("std echo", es),
    ] {
        section.row(vec![
            name.into(),
            s.n.to_string(),
            dur(s.median),
            dur(s.p99),
            times(ratio(s.median, et.median)),
            times(ratio(s.median, es.median)),
        ]);
    }
    let to_tokio = ratio(r.median, et.median);
    let to_std = ratio(r.median, es.median);
    report.targets.push(Target {
        figure: "1. RPC floor".into(),
        target: "p50 within 5x of a bare echo of the same size".into(),
        measured: format!(
            "{} vs {} (tokio echo): {}; vs std echo {}: {}",
            dur(r.median),
            dur(et.median),
            times(to_tokio),
            dur(es.median),
            times(to_std)
        ),
        met: Some(to_tokio <= 5.0),
    });
    section.note("The target is judged against the tokio echo (same runtimes as daemon and client); the std ratio is shown as well.");
    report.sections.push(section);
    Ok(())
}
