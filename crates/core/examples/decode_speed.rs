//! Decoding speed of the NDJSON event decoder: `cargo run --release -p genesisdb-core --example decode_speed`.

use std::time::Instant;

use genesisdb_core::ndjson::{EventParser, LineDecoder};

fn main() {
    let n = 200_000;
    let mut body = String::new();
    for i in 0..n {
        body.push_str(&format!(
            "{{\"source\":\"io.genesisdb.app\",\"subject\":\"/customer/{i}\",\"type\":\"io.genesisdb.app.customer-added\",\"specversion\":\"1.0\",\"id\":\"0b7a4c2e-4f1e-4a8e-9d1c-{i:012}\",\"time\":\"2025-06-02T15:40:01.157792875Z\",\"datacontenttype\":\"application/json\",\"predecessorhash\":\"{z}\",\"data\":{{\"firstName\":\"Bruce\",\"lastName\":\"Wayne\",\"emailAddress\":\"bruce.wayne@enterprise.wayne\",\"n\":{i}}},\"hash\":\"{z}\"}}\n",
            z = "0".repeat(64)
        ));
    }
    let bytes = body.as_bytes();
    for chunk_size in [8 * 1024, 64 * 1024] {
        let start = Instant::now();
        let mut decoder = LineDecoder::new(32 << 20);
        let mut out = Vec::with_capacity(4096);
        let mut total = 0usize;
        for chunk in bytes.chunks(chunk_size) {
            if let Err(e) = decoder.feed(chunk, &mut EventParser, &mut out) {
                eprintln!("error: {e:?}");
                return;
            }
            total += out.len();
            out.clear();
        }
        let dt = start.elapsed();
        println!(
            "chunks of {chunk_size}: {total} events, {} bytes in {:?}: {:.0} events/s, {:.0} MB/s",
            bytes.len(),
            dt,
            total as f64 / dt.as_secs_f64(),
            bytes.len() as f64 / dt.as_secs_f64() / 1e6
        );
    }
}
