//! Measures the crawl history at its design size: REPOS repositories (default 100,000) crawled
//! every hour for DAYS days (default 365), thinned as the service thins it. Prints the file
//! size, the heap the loaded history holds, and the times to load it, record one more crawl,
//! save it, resolve a `since=30d` comparison point and read one repository's series.
//! Run with `cargo bench --bench history` (optionally `-- REPOS DAYS`).
//!
//! The generated registry: 1,000 groups of 10 subgroups of 10 projects; one repository in ten
//! is active and gets a push every 10 hours (so 1 % of all repositories change each hour), its
//! tag count going up and down with clean-ups; one in 200 exists for about 80 days only.
//! Only the crawls that thinning keeps at the end are generated (thinning merges the changes
//! of the others into them, so the file is the one a year of hourly crawls leaves).

use std::time::Instant;

use gitlab_registry_usage_rest::history::{codec, thinning, Frame, History, Kind, Values};

const H: f64 = 3600.0;
const MIB: f64 = 1024.0 * 1024.0;

fn name(r: usize) -> String {
    format!("group{}/sub{}/project-{r}", r / 100, (r / 10) % 10)
}

/// Repository `r` at hour `h`, or `None` when it does not exist then.
fn repo(r: usize, h: usize) -> Option<Values> {
    if r % 200 == 1 {
        let born = (r * 37) % 8000;
        if h < born || h >= born + 2000 {
            return None;
        }
    }
    let pushes = if r.is_multiple_of(10) {
        (h + r / 10) / 10
    } else {
        0
    } as u64;
    let disk = 50_000_000 + (r as u64 % 977) * 1_000_003 + pushes * 1_048_576;
    Some(Values {
        size: disk * 2,
        disk_size: disk,
        exclusive_size: disk / 3,
        repositories: 1,
        tags: 3 + pushes % 25,
    })
}

fn frame(repos: usize, h: usize, t0: f64) -> Frame {
    let mut repositories = Vec::with_capacity(repos);
    for r in 0..repos {
        if let Some(v) = repo(r, h) {
            repositories.push((r, v));
        }
    }
    // Namespaces: the sums over the repositories below them (inputs are in group order).
    let mut namespaces: Vec<(String, Values)> = Vec::new();
    let add = |ns: &mut Vec<(String, Values)>, key: String, v: &Values| {
        if ns.last().map(|(n, _)| n != &key).unwrap_or(true) {
            ns.push((key, Values::default()));
        }
        if let Some((_, s)) = ns.last_mut() {
            s.size += v.size;
            s.disk_size += v.disk_size;
            s.exclusive_size += v.exclusive_size;
            s.repositories += 1;
            s.tags += v.tags;
        }
    };
    let mut groups = Vec::new();
    for (r, v) in &repositories {
        add(&mut groups, format!("group{}", r / 100), v);
        add(
            &mut namespaces,
            format!("group{}/sub{}", r / 100, (r / 10) % 10),
            v,
        );
    }
    namespaces.extend(groups);
    namespaces.sort_by(|a, b| a.0.cmp(&b.0));
    let mut totals = Values::default();
    for (_, v) in &repositories {
        totals.size += v.size;
        totals.disk_size += v.disk_size;
        totals.exclusive_size += v.disk_size;
        totals.tags += v.tags;
    }
    totals.repositories = repositories.len() as u64;
    Frame {
        timestamp: t0 + h as f64 * H,
        totals,
        repositories: repositories
            .into_iter()
            .map(|(r, v)| (name(r), v))
            .collect(),
        namespaces,
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let repos = args.first().copied().unwrap_or(100_000);
    let days = args.get(1).copied().unwrap_or(365);
    let hours = days * 24;
    let t0 = 1_767_225_600.0; // 2026-01-01T00:00:00Z
    let keep = Some(2.0 * 365.0 * 86_400.0);
    let all: Vec<f64> = (0..hours).map(|h| t0 + h as f64 * H).collect();
    let now = all[hours - 1];
    let kept: Vec<usize> = thinning(&all, now, keep)
        .iter()
        .enumerate()
        .filter_map(|(h, k)| k.then_some(h))
        .collect();
    println!(
        "{repos} repositories, {days} days of hourly crawls ({hours}); thinning keeps {}",
        kept.len()
    );

    let started = Instant::now();
    let mut history = History::default();
    for &h in &kept {
        let f = frame(repos, h, t0);
        history.record(&f, f.timestamp, keep);
    }
    println!(
        "built in {:.1} s ({} points)",
        started.elapsed().as_secs_f64(),
        history.len()
    );

    let path = std::env::temp_dir().join(format!("grur-bench-{}.history", std::process::id()));
    let mut bytes = Vec::new();
    let t = Instant::now();
    codec::encode(&history, &mut bytes).expect("encode into memory");
    let encode = t.elapsed();
    std::fs::write(&path, &bytes).expect("write the bench file");
    drop(bytes);
    drop(history);

    let t = Instant::now();
    let file = std::fs::read(&path).expect("read the bench file");
    let mut loaded = codec::decode(&file).expect("decode");
    let load = t.elapsed();
    drop(file);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&path);

    // One more crawl: an hour after the last.
    let next = frame(repos, hours, t0);
    let t = Instant::now();
    loaded.record(&next, next.timestamp, keep);
    let record = t.elapsed();

    let t = Instant::now();
    let baseline = loaded.baseline(next.timestamp - 30.0 * 86_400.0);
    let resolve = t.elapsed();
    let t = Instant::now();
    let series = loaded
        .series(Kind::Repository, &name(10))
        .unwrap_or_default();
    let series_time = t.elapsed();

    println!("file size       {:8.1} MiB", size as f64 / MIB);
    println!(
        "heap (loaded)   {:8.1} MiB",
        loaded.heap_bytes() as f64 / MIB
    );
    println!("load            {:8.0} ms", load.as_secs_f64() * 1e3);
    println!("encode (save)   {:8.0} ms", encode.as_secs_f64() * 1e3);
    println!("record 1 crawl  {:8.0} ms", record.as_secs_f64() * 1e3);
    println!(
        "since=30d       {:8.0} ms ({} repositories then)",
        resolve.as_secs_f64() * 1e3,
        baseline.map_or(0, |b| b.repositories.len())
    );
    println!(
        "one series      {:8.0} ms ({} points)",
        series_time.as_secs_f64() * 1e3,
        series.len()
    );
}
