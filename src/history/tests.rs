//! Unit tests of the history's pure core: thinning and `since` resolution at injected times,
//! recording, merging on thinning, the file form.

use super::*;

const H: f64 = 3600.0;

fn v(disk: u64) -> Values {
    Values {
        size: disk * 2,
        disk_size: disk,
        exclusive_size: disk / 2,
        repositories: 1,
        tags: disk % 7,
    }
}

fn frame(t: f64, repos: &[(&str, u64)]) -> Frame {
    let repositories: Vec<(String, Values)> =
        repos.iter().map(|(n, d)| (n.to_string(), v(*d))).collect();
    let total: u64 = repos.iter().map(|r| r.1).sum();
    Frame {
        timestamp: t,
        totals: Values {
            disk_size: total,
            repositories: repos.len() as u64,
            ..Values::default()
        },
        namespaces: vec![(
            "g".into(),
            Values {
                disk_size: total,
                ..Values::default()
            },
        )],
        repositories,
    }
}

#[test]
fn thinning_keeps_recent_daily_weekly_and_drops_beyond_keep() {
    let now = 400.0 * DAY;
    // hourly crawls for 200 days
    let ts: Vec<f64> = (0..200 * 24)
        .map(|h| now - 200.0 * DAY + h as f64 * H)
        .collect();
    let keep = thinning(&ts, now, None);
    let kept: Vec<f64> = ts
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(t, _)| *t)
        .collect();
    let recent = kept.iter().filter(|t| now - **t < RECENT).count();
    // the crawls of the last 48 hours: ages 1 h to 47 h
    assert_eq!(recent, 47);
    let daily = kept
        .iter()
        .filter(|t| (RECENT..DAILY).contains(&(now - **t)))
        .count();
    // days 2..90: 88 whole days, plus the partly recent day's first crawl
    assert!((88..=89).contains(&daily), "{daily}");
    let weekly = kept.iter().filter(|t| now - **t >= DAILY).count();
    // 110 days beyond the daily range: about 16 weeks
    assert!((15..=17).contains(&weekly), "{weekly}");
    // the first crawl of each day is the one kept (the day cut by the 90-day line aside)
    assert!(kept
        .iter()
        .filter(|t| (RECENT..DAILY - DAY).contains(&(now - **t)))
        .all(|t| t % DAY == 0.0));
    // an age limit of 100 days drops everything older
    let limited = thinning(&ts, now, Some(100.0 * DAY));
    assert!(ts
        .iter()
        .zip(&limited)
        .all(|(t, k)| !*k || now - t <= 100.0 * DAY));
    // the newest is kept whatever its age
    assert_eq!(thinning(&[0.0], 1e9, Some(1.0)), vec![true]);
    assert!(thinning(&[], now, None).is_empty());
}

#[test]
fn since_resolves_to_the_newest_at_or_before_else_the_oldest() {
    let ts = [100.0, 200.0, 300.0];
    assert_eq!(resolve(&ts, 50.0), Some(0));
    assert_eq!(resolve(&ts, 100.0), Some(0));
    assert_eq!(resolve(&ts, 250.0), Some(1));
    assert_eq!(resolve(&ts, 300.0), Some(2));
    assert_eq!(resolve(&ts, 1e12), Some(2));
    assert_eq!(resolve(&[], 1.0), None);
}

#[test]
fn since_values_parse_at_an_injected_now() {
    let now = 1_796_000_000.0;
    assert_eq!(parse_since("7d", now), Some(now - 7.0 * DAY));
    assert_eq!(parse_since("24h", now), Some(now - DAY));
    assert_eq!(parse_since("30m", now), Some(now - 1800.0));
    assert_eq!(parse_since("2w", now), Some(now - 2.0 * WEEK));
    assert_eq!(parse_since("1795000000", now), Some(1_795_000_000.0));
    assert_eq!(
        parse_since("2026-12-01T00:00:00Z", now),
        Some(1_796_083_200.0)
    );
    for bad in [
        "",
        "yesterday",
        "7 parsecs",
        "d",
        "2026-13-01T00:00:00Z",
        "inf",
    ] {
        assert_eq!(parse_since(bad, now), None, "{bad}");
    }
}

#[test]
fn recording_keeps_only_changes_and_lookups_replay_them() {
    let mut h = History::default();
    assert!(h.record(&frame(1.0 * H, &[("a", 10), ("b", 20)]), 1.0 * H, None));
    assert!(h.record(&frame(2.0 * H, &[("a", 10), ("b", 25)]), 2.0 * H, None));
    assert!(h.record(&frame(3.0 * H, &[("b", 25), ("c", 5)]), 3.0 * H, None));
    // not newer: ignored
    assert!(!h.record(&frame(3.0 * H, &[]), 3.0 * H, None));
    let second = h.replay(1).1;
    assert_eq!(second[0], vec![(1, Some(v(25)))], "only b changed");
    let third = h.replay(2).1;
    assert_eq!(third[0], vec![(0, None), (2, Some(v(5)))], "a gone, c new");
    let b = h.baseline(2.5 * H).unwrap();
    assert_eq!(b.timestamp, 2.0 * H);
    assert_eq!(b.repositories.len(), 2);
    assert_eq!(b.repositories["b"], v(25));
    assert_eq!(b.namespaces["g"].disk_size, 35);
    let a = h.series(Kind::Repository, "a").unwrap();
    assert_eq!(
        a.iter().map(|s| s.timestamp).collect::<Vec<_>>(),
        vec![H, 2.0 * H]
    );
    assert!(h.series(Kind::Repository, "nope").is_none());
    assert_eq!(h.totals()[2].values.disk_size, 30);
}

#[test]
fn thinning_merges_dropped_changes_forward() {
    let mut h = History::default();
    let mut states = Vec::new();
    // a crawl every hour for 10 days; "a" grows every hour, "b" appears on day 3 and goes
    // on day 6, "c" changes once a day
    for hour in 0..240u64 {
        let t = hour as f64 * H;
        let mut repos = vec![("a", hour), ("c", hour / 24)];
        if (72..144).contains(&hour) {
            repos.push(("b", 7));
        }
        h.record(&frame(t, &repos), t, Some(6.0 * DAY));
        states.push((t, repos));
    }
    let now = 239.0 * H;
    assert!(h.len() < 60, "{}", h.len());
    assert!(h.points[0].timestamp >= now - 6.0 * DAY);
    // every kept point still shows exactly what was crawled then
    for p in h.timestamps() {
        let b = h.baseline(p).unwrap();
        let (_, repos) = states.iter().find(|(t, _)| *t == p).unwrap();
        let want: HashMap<Box<str>, Values> =
            repos.iter().map(|(n, d)| ((*n).into(), v(*d))).collect();
        assert_eq!(b.repositories, want, "at {p}");
    }
    // the first point is a full listing without "gone" entries
    let first = h.replay(0).1;
    assert!(first[0].iter().all(|(_, v)| v.is_some()));
}

#[test]
fn the_file_form_round_trips_and_damage_is_detected() {
    let mut h = History::default();
    h.record(&frame(H, &[("a", 10), ("b/ü", 20)]), H, None);
    h.record(&frame(2.0 * H, &[("a", 11)]), 2.0 * H, None);
    // shrinking and huge values survive the difference coding
    h.record(
        &frame(3.0 * H, &[("a", 3), ("b/ü", u64::MAX / 2)]),
        3.0 * H,
        None,
    );
    h.record(&frame(4.0 * H, &[("a", 0), ("b/ü", 1)]), 4.0 * H, None);
    assert_eq!(h.replay(2).0[0][1], Some(v(u64::MAX / 2)));
    assert_eq!(h.replay(3).1[0], vec![(0, Some(v(0))), (1, Some(v(1)))]);
    let mut bytes = Vec::new();
    codec::encode(&h, &mut bytes).unwrap();
    let back = codec::decode(&bytes).unwrap();
    assert_eq!(back, h);
    assert!(codec::decode(&bytes[..bytes.len() - 1]).is_err());
    let mut flipped = bytes.clone();
    flipped[12] ^= 1;
    assert!(codec::decode(&flipped).is_err());
    assert!(codec::decode(b"").is_err());
    // a valid checksum over a wrong body is still refused
    let mut forged = b"GRUHIST\x01\x05".to_vec();
    forged.extend_from_slice(&crc32fast::hash(&forged).to_le_bytes());
    assert!(codec::decode(&forged).is_err());
}
