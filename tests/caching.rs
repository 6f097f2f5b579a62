//! Serving from the render cache, through the real binary: validators and `304`, gzip bodies
//! that decompress to the identity body, `Vary`, bodies too large for the cache budget
//! streamed, a new crawl invalidating everything, and responses byte for byte what the
//! renderer makes when a client sends none of the new headers.

mod support;

use std::io::Read;
use std::time::{Duration, Instant};

use gitlab_registry_usage_rest::hal::{self, Listing, Query, Resource};
use gitlab_registry_usage_rest::snapshot::Snapshot;
use support::collector::*;
use support::fake_registry::*;
use support::service::{self, Options, Service};

/// A state file of `n` repositories with two tags each.
fn state(n: usize) -> Vec<u8> {
    let d = |k: usize| format!("sha256:{k:064x}");
    let repos: Vec<_> = (0..n)
        .map(|r| {
            serde_json::json!({"name": format!("group{}/app-{r}", r % 3), "tags": [
                {"name": "latest", "digest": d(900_000 + r), "media_type": "application/vnd.oci.image.manifest.v1+json",
                 "blobs": [d(1), d(1000 + r)], "created": 1_700_000_000 + r},
                {"name": "v1", "digest": d(800_000 + r), "media_type": "application/vnd.oci.image.manifest.v1+json",
                 "blobs": [d(1), d(2000 + r)]}]})
        })
        .collect();
    let mut blobs = serde_json::Map::new();
    blobs.insert(d(1), 5_000_000.into());
    for r in 0..n {
        blobs.insert(d(1000 + r), (1000 + r as u64).into());
        blobs.insert(d(2000 + r), (2000 + r as u64).into());
    }
    serde_json::to_vec(
        &serde_json::json!({"version": 1, "timestamp": 1_800_000_000.25,
        "repositories": repos, "blobs": blobs}),
    )
    .unwrap()
}

fn service(n: usize, budget: &str) -> Service {
    Service::start(Options {
        general: format!("cache_budget = {budget}\n"),
        state: Some(state(n)),
        ..Options::default()
    })
}

/// The renderer's body of `res` for `query`, without a prefix or listing parameters.
fn render(snap: &Snapshot, res: Resource<'_>, query: &str) -> Vec<u8> {
    hal::render_json(snap, res, Query::parse(query), &Listing::default(), "")
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn without_new_headers_the_bytes_are_the_renderers() {
    let bytes = state(40);
    let snap = Snapshot::from_state_json(&bytes).unwrap();
    let s = service(40, "64 MiB");
    for target in [
        "/repositories?embed=true",
        "/repositories?embed=2&links=true",
        "/repositories",
        "/namespaces?embed=1",
    ] {
        let (path, q) = target.split_once('?').unwrap_or((target, ""));
        let res = if path == "/namespaces" {
            Resource::Namespaces
        } else {
            Resource::Collection
        };
        let want = render(&snap, res, q);
        for round in 0..2 {
            let r = s.get_auth(target);
            assert_eq!(r.status, 200, "{target}");
            assert_eq!(r.body, want, "{target} (request {round})");
            assert_eq!(r.header("Content-Encoding"), None);
            assert_eq!(r.header("Content-Type"), Some("application/hal+json"));
        }
    }
    // One repository and one tag too (cached like the rest), the second time from the cache.
    let repo = snap.repository("group1/app-1").unwrap();
    let want = render(&snap, Resource::Repository(repo), "embed=true&links=true");
    let tag = repo.tag("v1").unwrap();
    let want_tag = render(&snap, Resource::Tag(repo, tag), "");
    for _ in 0..2 {
        assert_eq!(
            s.get_auth("/repositories/group1%2Fapp-1?embed=true&links=true")
                .body,
            want
        );
        assert_eq!(
            s.get_auth("/repositories/group1/app-1/tags/v1").body,
            want_tag
        );
    }
}

#[test]
fn one_repository_is_compressed_and_revalidated_too() {
    let s = service(20, "64 MiB");
    let target = "/repositories/group1%2Fapp-1?embed=true&links=true";
    let plain = s.get_auth(target);
    let bearer = s.bearer();
    let z = service::request(
        &s.addr,
        "GET",
        target,
        &[("Authorization", &bearer), ("Accept-Encoding", "gzip")],
    );
    assert_eq!(z.header("Content-Encoding"), Some("gzip"));
    assert_eq!(gunzip(&z.body), plain.body);
    for (r, enc) in [(&plain, None), (&z, Some("gzip"))] {
        let tag = r.header("ETag").unwrap();
        let mut h = vec![("Authorization", bearer.as_str()), ("If-None-Match", tag)];
        h.extend(enc.map(|e| ("Accept-Encoding", e)));
        assert_eq!(service::request(&s.addr, "GET", target, &h).status, 304);
    }
}

#[test]
fn etag_last_modified_and_304() {
    let s = service(20, "64 MiB");
    for target in [
        "/repositories?embed=true",
        "/repositories/group0%2Fapp-0/tags/latest",
        "/namespaces/group2",
    ] {
        let r = s.get_auth(target);
        assert_eq!(r.status, 200, "{target}");
        let etag = r.header("ETag").unwrap().to_string();
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "strong: {etag}"
        );
        assert_eq!(
            r.header("Last-Modified"),
            Some("Fri, 15 Jan 2027 08:00:00 GMT")
        );
        assert_eq!(r.header("Cache-Control"), Some("private, no-cache"));
        assert_eq!(r.header("Vary"), Some("Accept, Accept-Encoding"));
        let bearer = s.bearer();
        let cond = |h: (&str, &str)| {
            service::request(&s.addr, "GET", target, &[("Authorization", &bearer), h])
        };
        let r304 = cond(("If-None-Match", &etag));
        assert_eq!(r304.status, 304, "{target}");
        assert!(r304.body.is_empty());
        assert_eq!(r304.header("ETag"), Some(etag.as_str()));
        assert_eq!(r304.header("Vary"), Some("Accept, Accept-Encoding"));
        assert_eq!(
            cond(("If-None-Match", &format!("\"other\", W/{etag}"))).status,
            304
        );
        assert_eq!(cond(("If-None-Match", "\"other\"")).status, 200);
        assert_eq!(
            cond(("If-Modified-Since", "Fri, 15 Jan 2027 08:00:00 GMT")).status,
            304
        );
        assert_eq!(
            cond(("If-Modified-Since", "Fri, 15 Jan 2027 07:59:59 GMT")).status,
            200
        );
        // A token is still needed to learn that nothing changed.
        assert_eq!(
            service::request(&s.addr, "GET", target, &[("If-None-Match", &etag)]).status,
            401
        );
    }
    // Different resources and representations have different validators.
    let a = s.get_auth("/repositories?embed=true");
    let b = s.get_auth("/repositories?embed=1");
    assert_ne!(a.header("ETag"), b.header("ETag"));
}

#[test]
fn gzip_is_the_same_body_compressed_once() {
    let s = service(200, "64 MiB");
    let plain = s.get_auth("/repositories?embed=true");
    let bearer = s.bearer();
    let gz = |extra: &[(&str, &str)]| {
        let mut h = vec![("Authorization", bearer.as_str())];
        h.extend_from_slice(extra);
        service::request(&s.addr, "GET", "/repositories?embed=true", &h)
    };
    let z = gz(&[("Accept-Encoding", "gzip, deflate, br")]);
    assert_eq!(z.status, 200);
    assert_eq!(z.header("Content-Encoding"), Some("gzip"));
    assert!(
        z.body.len() * 3 < plain.body.len(),
        "{} vs {}",
        z.body.len(),
        plain.body.len()
    );
    assert_eq!(gunzip(&z.body), plain.body);
    let tag = z.header("ETag").unwrap().to_string();
    assert_ne!(Some(tag.as_str()), plain.header("ETag"));
    assert_eq!(z.header("Vary"), Some("Accept, Accept-Encoding"));
    // The same compressed bytes again, and its own validator revalidates it.
    assert_eq!(gz(&[("Accept-Encoding", "gzip")]).body, z.body);
    assert_eq!(
        gz(&[("Accept-Encoding", "gzip"), ("If-None-Match", &tag)]).status,
        304
    );
    // gzip refused: identity.
    let r = gz(&[("Accept-Encoding", "gzip;q=0, identity")]);
    assert_eq!(
        (r.header("Content-Encoding"), r.body.len()),
        (None, plain.body.len())
    );
    // HEAD: the GET's length, no body.
    let h = service::request(
        &s.addr,
        "HEAD",
        "/repositories?embed=true",
        &[("Authorization", &bearer), ("Accept-Encoding", "gzip")],
    );
    assert_eq!(
        h.header("Content-Length"),
        Some(z.body.len().to_string().as_str())
    );
    assert!(h.body.is_empty());
}

#[test]
fn a_body_over_the_budget_is_streamed_and_still_right() {
    let bytes = state(300);
    let snap = Snapshot::from_state_json(&bytes).unwrap();
    let want = render(&snap, Resource::Collection, "embed=true&links=true");
    assert!(want.len() > 50_000);
    let s = service(300, "50000");
    let bearer = s.bearer();
    for round in 0..3 {
        let r = service::request(
            &s.addr,
            "GET",
            "/repositories?embed=true&links=true",
            &[("Authorization", &bearer), ("Accept-Encoding", "gzip")],
        );
        assert_eq!(r.status, 200);
        // Never compressed (that would cost a compression per request), same bytes each time.
        assert_eq!(r.header("Content-Encoding"), None);
        assert_eq!(r.body, want, "request {round}");
        if round > 0 {
            assert_eq!(
                r.header("Transfer-Encoding"),
                Some("chunked"),
                "streamed once known too big"
            );
        }
    }
    // Small bodies are still cached and compressed under the same budget.
    let r = service::request(
        &s.addr,
        "GET",
        "/namespaces?embed=1",
        &[("Authorization", &bearer), ("Accept-Encoding", "gzip")],
    );
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
}

#[test]
fn a_new_crawl_replaces_every_cached_body() {
    let mut reg = FakeRegistry::start(FakeOptions::default());
    let mut truth = Truth::default();
    push_standard(&mut reg, &mut truth, 2);
    let (user, token) = reg.opts.auth.clone().unwrap();
    let s = Service::start(Options {
        registry: format!(
            "registry_base_url = {0}\ngitlab_base_url = {0}\nusername = {user}\naccess_token = {token}\nupdate_interval = 1 s\ntimeout = 5 s\n",
            reg.url
        ),
        ..Options::default()
    });
    let first = wait_for(&s, |r| r.status == 200);
    let etag = first.header("ETag").unwrap().to_string();
    assert!(!String::from_utf8_lossy(&first.body).contains("fresh/repository"));
    reg.add_repo("fresh/repository");
    let bearer = s.bearer();
    let deadline = Instant::now() + Duration::from_secs(12);
    loop {
        let r = service::request(
            &s.addr,
            "GET",
            "/repositories?embed=true",
            &[("Authorization", &bearer), ("If-None-Match", &etag)],
        );
        if r.status == 200 && String::from_utf8_lossy(&r.body).contains("fresh/repository") {
            assert_ne!(r.header("ETag"), Some(etag.as_str()));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new crawl was never served: {}",
            r.status
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_for(s: &Service, ok: impl Fn(&service::HttpResponse) -> bool) -> service::HttpResponse {
    let deadline = Instant::now() + Duration::from_secs(12);
    loop {
        let r = s.get_auth("/repositories?embed=true");
        if ok(&r) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no data: {} {}",
            r.status,
            r.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
