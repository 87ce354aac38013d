//! Writes an OTLP/JSON export as binary OTLP, for benchmarks
//! (`bench/otlp-large.sh`): a single request document becomes one binary
//! `ExportTraceServiceRequest`; a file of one request per line becomes
//! length-framed requests, one per line, as the OpenTelemetry Collector's
//! file exporter writes its `proto` format.
//!
//!     cargo run --release -p loupe-formats --example otlp_to_protobuf -- IN.json OUT.pb
//!     cargo run --release -p loupe-formats --example otlp_to_protobuf -- IN.jsonl OUT.pb --framed

use std::io::{BufRead, BufWriter, Write};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, rest @ ..] = &args[..] else {
        return Err("usage: otlp_to_protobuf IN OUT [--framed]".into());
    };
    let framed = rest.iter().any(|a| a == "--framed");
    let mut out = BufWriter::new(std::fs::File::create(output)?);
    if framed {
        let file = std::io::BufReader::new(std::fs::File::open(input)?);
        for (n, line) in file.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let request = loupe_formats::otlp::decode_request_json(line.as_bytes())
                .map_err(|e| format!("{input}:{}: {e}", n + 1))?;
            let frame = request.encode_to_vec();
            out.write_all(&u32::try_from(frame.len())?.to_be_bytes())?;
            out.write_all(&frame)?;
        }
    } else {
        let bytes = std::fs::read(input)?;
        let request = loupe_formats::otlp::decode_request_json(&bytes)
            .map_err(|e| format!("{input}: {e}"))?;
        out.write_all(&request.encode_to_vec())?;
    }
    out.flush()?;
    Ok(())
}
