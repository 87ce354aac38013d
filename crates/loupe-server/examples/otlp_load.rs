//! OTLP/HTTP load generator for `bench/server-vs-phoenix.sh`: sends N spans
//! (synthetic GenAI sessions, protobuf batches) over K keep-alive
//! connections to `{url}/v1/traces`, retrying 429/503 as the OTLP
//! specification asks, and prints one JSON line with the acknowledged span
//! count and rate. Bodies are encoded before the clock starts so the client
//! spends its CPU on sending only; any server gets exactly the same bytes.
//!
//! ```text
//! cargo run --release -p loupe-server --example otlp_load -- \
//!     --url http://127.0.0.1:4318 --spans 1000000 [--connections 4] \
//!     [--spans-per-session 100] [--sessions-per-request 10] [--run 1]
//! ```

#[path = "../tests/load_common/mod.rs"]
mod load_common;

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use load_common::{encode, request, Client, Delivery};

struct Args {
    url: String,
    spans: u64,
    connections: usize,
    spans_per_session: u64,
    sessions_per_request: u64,
    run: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: "http://127.0.0.1:4318".to_owned(),
        spans: 100_000,
        connections: 4,
        spans_per_session: 100,
        sessions_per_request: 10,
        run: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--url" => args.url = value.clone(),
            "--spans" => args.spans = number()?,
            "--connections" => args.connections = number()? as usize,
            "--spans-per-session" => args.spans_per_session = number()?,
            "--sessions-per-request" => args.sessions_per_request = number()?,
            "--run" => args.run = number()?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if args.spans_per_session == 0 || args.sessions_per_request == 0 || args.connections == 0 {
        return Err("counts must be greater than zero".to_owned());
    }
    if args.spans_per_session >= 1 << 20 {
        return Err("--spans-per-session must be below 1048576".to_owned());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("otlp_load: {e}");
            return ExitCode::from(2);
        }
    };
    let sessions = args.spans.div_ceil(args.spans_per_session);
    let start_nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let bodies: Vec<(u64, Vec<u8>)> = (0..sessions)
        .step_by(args.sessions_per_request as usize)
        .map(|first| {
            let range = first..(first + args.sessions_per_request).min(sessions);
            let spans = (range.end - range.start) * args.spans_per_session;
            let body = encode(&request(
                args.run,
                range,
                args.spans_per_session,
                start_nanos,
            ));
            (spans, body)
        })
        .collect();
    let bytes: usize = bodies.iter().map(|(_, b)| b.len()).sum();
    eprintln!(
        "otlp_load: {} spans in {} requests ({} MiB of protobuf) to {} over {} connections",
        sessions * args.spans_per_session,
        bodies.len(),
        bytes >> 20,
        args.url,
        args.connections
    );

    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new((0u64, Delivery::default(), 0u64)));
    let started = Instant::now();
    // Wall clock of the first send, so a caller can time "until queryable" from it.
    let send_started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let threads: Vec<_> = (0..args.connections)
        .map(|_| {
            let (bodies, next, results, url) = (
                bodies.clone(),
                next.clone(),
                results.clone(),
                args.url.clone(),
            );
            std::thread::spawn(move || {
                let mut client = Client::new(&url);
                client.max_retry_wait = Duration::from_secs(1);
                while let Some((spans, body)) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let d = client.deliver(body);
                    let Ok(mut r) = results.lock() else { return };
                    if d.acknowledged {
                        r.0 += spans;
                    } else {
                        r.2 += 1;
                    }
                    r.1.too_many_requests += d.too_many_requests;
                    r.1.unavailable += d.unavailable;
                    r.1.connection_errors += d.connection_errors;
                    if d.failed_status.is_some() {
                        r.1.failed_status = d.failed_status;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let seconds = started.elapsed().as_secs_f64();
    let Ok(r) = results.lock() else {
        return ExitCode::FAILURE;
    };
    let (acknowledged, d, failed_requests) = *r;
    println!(
        "{}",
        serde_json::json!({
            "url": args.url,
            "spans_sent": sessions * args.spans_per_session,
            "spans_acknowledged": acknowledged,
            "seconds": seconds,
            "acknowledged_spans_per_second": acknowledged as f64 / seconds,
            "answers_429": d.too_many_requests,
            "answers_503": d.unavailable,
            "connection_errors": d.connection_errors,
            "failed_requests": failed_requests,
            "last_failed_status": d.failed_status,
            "send_started_unix_seconds": send_started_unix,
        })
    );
    if failed_requests > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
