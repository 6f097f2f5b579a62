//! S3 listing benchmark (a program printing measurements): puts N small blob-like objects
//! (`docker/registry/v2/blobs/sha256/XX/<hex>/data`) into a bucket of moto's S3 server on
//! 127.0.0.1, then lists them with the storage scanner's client, printing LIST pages, the
//! requests moto logged, seconds and keys per second; and the time of 100 size-capped GETs.
//!
//! Run: `cargo bench --bench s3_list` (options: `-- --keys N`, default 10,000; `--rounds R`
//! listings, default 3). Needs moto (scripts/test.sh installs it). Every loop is bounded by
//! N and R; nothing leaves 127.0.0.1.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use gitlab_registry_usage_rest::storage::s3::S3Client;
use support::s3::Moto;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let keys = arg("--keys", 10_000);
    let rounds = arg("--rounds", 3).max(1);
    let Some(moto) = Moto::start() else {
        eprintln!("s3_list: moto is not installed (run scripts/test.sh once)");
        return;
    };
    moto.create_bucket("bench");
    let objects: Vec<(String, Vec<u8>)> = (0..keys)
        .map(|i| {
            let hex = format!("{i:064x}");
            let key = format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[62..]);
            (key, vec![b'x'; i % 97 + 1])
        })
        .collect();
    let want: u64 = objects.iter().map(|(_, v)| v.len() as u64).sum();
    let t = Instant::now();
    moto.put_all("bench", &objects, 4);
    println!(
        "put {keys} objects (4 connections): {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let client = S3Client::new(&moto.config("bench", "/")).expect("client");
    for round in 1..=rounds {
        let before = moto.requests_matching("list-type=2");
        let (mut n, mut bytes) = (0u64, 0u64);
        let t = Instant::now();
        let pages = client
            .list("docker/registry/v2/blobs/", &mut |_, size| {
                n += 1;
                bytes += size;
            })
            .expect("list");
        let secs = t.elapsed().as_secs_f64();
        assert_eq!((n, bytes), (keys as u64, want), "every key, every byte");
        let requests = moto.requests_matching("list-type=2") - before;
        println!(
            "list round {round}: {n} keys, {bytes} bytes in {pages} pages / {requests} requests, \
             {secs:.2} s ({:.0} keys/s, {:.0} ms/page)",
            n as f64 / secs,
            secs * 1000.0 / pages as f64
        );
    }
    let t = Instant::now();
    for (key, body) in objects.iter().take(100) {
        let got = client.get(key, 1024).expect("get");
        assert_eq!(got.len(), body.len());
    }
    let n = objects.len().min(100);
    println!(
        "get: {n} objects in {:.2} s ({:.1} ms each)",
        t.elapsed().as_secs_f64(),
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
}
