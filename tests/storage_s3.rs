//! The storage scanner's S3 client against a real S3 server (moto, started by the tests on
//! 127.0.0.1), and Debian's `docker-registry` writing to that bucket through its own S3
//! driver: pagination, size-capped reads, multipart uploads, typed errors, and the sizes of
//! a pushed image as the registry stored them. Refused credentials, timeouts and non-XML
//! answers come from a fake endpoint: moto accepts any key pair on presigned URLs.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitlab_registry_usage_rest::storage::s3::{S3Client, S3Config, S3Error};
use support::collector::{push_standard, Truth};
use support::fake_registry::{MiniServer, Reply, Req, Resp};
use support::real_registry::{RealOptions, RealRegistry, Storage};
use support::s3::{Moto, Recording};

const BLOBS: &str = "docker/registry/v2/blobs/";

fn list_all(client: &S3Client, prefix: &str) -> (BTreeMap<String, u64>, u64) {
    let mut seen = BTreeMap::new();
    let pages = client
        .list(prefix, &mut |k, n| {
            assert!(seen.insert(k.to_string(), n).is_none(), "{k} listed twice");
        })
        .unwrap_or_else(|e| panic!("list {prefix}: {e}"));
    (seen, pages)
}

/// `n` blob-like keys `docker/registry/v2/blobs/sha256/XX/<hex>/data` of 1 to 97 bytes.
fn blob_objects(root: &str, n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let hex = format!("{i:064x}");
            let key = format!("{root}{BLOBS}sha256/{}/{hex}/data", &hex[62..]);
            (key, vec![b'x'; i % 97 + 1])
        })
        .collect()
}

#[test]
fn listing_pages_through_2500_keys_with_odd_names_under_a_root() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("paging");
    let started = Instant::now();
    let mut objects = blob_objects("registry/", 2500);
    // Keys S3 must encode: spaces, '+', '%', '&', '=', non-ASCII, a trailing space.
    let odd = ["a b+c", "100%", "x&y=z", "ünï cödé", "end "];
    for (i, o) in odd.iter().enumerate() {
        objects.push((format!("registry/{BLOBS}odd/{o}/data"), vec![b'o'; i + 1]));
    }
    // Outside the prefix or the root: never listed.
    objects.push((
        "registry/docker/registry/v2/repositories/r/_layers/x".into(),
        vec![1],
    ));
    objects.push((format!("{BLOBS}sha256/00/not-under-the-root/data"), vec![1]));
    moto.put_all("paging", &objects, 4);
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "putting took {:?}",
        started.elapsed()
    );

    let client = S3Client::new(&moto.config("paging", "/registry/")).unwrap();
    let before = moto.requests_matching("list-type=2");
    let (seen, pages) = list_all(&client, BLOBS);
    assert_eq!(pages, 3, "1,000 keys a page");
    assert_eq!(
        moto.requests_matching("list-type=2") - before,
        3,
        "one request a page"
    );
    let want: BTreeMap<String, u64> = objects[..2505]
        .iter()
        .map(|(k, v)| {
            (
                k.strip_prefix("registry/").unwrap().to_string(),
                v.len() as u64,
            )
        })
        .collect();
    assert_eq!(seen.len(), 2505);
    assert_eq!(
        seen, want,
        "every key round-trips, relative to the root, with its size"
    );

    // A prefix with the odd characters itself, and one that matches nothing.
    let (seen, pages) = list_all(&client, &format!("{BLOBS}odd/ünï cödé/"));
    assert_eq!((seen.len(), pages), (1, 1), "{seen:?}");
    assert_eq!(seen[&format!("{BLOBS}odd/ünï cödé/data")], 4);
    let (seen, pages) = list_all(&client, "docker/registry/v2/nothing/");
    assert_eq!((seen.len(), pages), (0, 1));

    // Root "/" sees the whole bucket, root keys included.
    let top = S3Client::new(&moto.config("paging", "/")).unwrap();
    let (seen, _) = list_all(&top, "");
    assert_eq!(seen.len(), objects.len());
}

#[test]
fn get_reads_up_to_max_bytes_and_names_missing_keys() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("reading");
    let body: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    moto.put(
        "reading",
        "root/docker/registry/v2/blobs/sha256/ab/abcd/data",
        &body,
    );
    moto.put("reading", "root/odd key+%/data", b"odd");
    let client = S3Client::new(&moto.config("reading", "root")).unwrap();

    let key = "docker/registry/v2/blobs/sha256/ab/abcd/data";
    assert_eq!(client.get(key, 1000).unwrap(), body);
    assert_eq!(client.get("odd key+%/data", 10).unwrap(), b"odd");
    match client.get(key, 999) {
        Err(S3Error::TooLarge {
            key: k, size, max, ..
        }) => {
            assert_eq!((k.as_str(), size, max), (key, Some(1000), 999));
        }
        other => panic!("{other:?}"),
    }
    let e = client
        .get("docker/registry/v2/blobs/sha256/ab/nope/data", 10)
        .unwrap_err();
    assert_eq!(
        e,
        S3Error::NoSuchKey {
            bucket: "reading".into(),
            key: "docker/registry/v2/blobs/sha256/ab/nope/data".into()
        }
    );
    client.check().unwrap();
}

#[test]
fn a_missing_bucket_is_a_typed_error_naming_it() {
    let Some(moto) = Moto::start() else { return };
    let client = S3Client::new(&moto.config("no-such-bucket", "/")).unwrap();
    let want = S3Error::NoSuchBucket {
        bucket: "no-such-bucket".into(),
    };
    assert_eq!(client.check().unwrap_err(), want);
    assert_eq!(client.list(BLOBS, &mut |_, _| {}).unwrap_err(), want);
    assert_eq!(client.get("x", 10).unwrap_err(), want);
    assert_eq!(client.multipart_uploads("").unwrap_err(), want);
    let text = want.to_string();
    assert!(
        text.contains("no-such-bucket") && text.contains("[storage] bucket"),
        "{text}"
    );
}

#[test]
fn multipart_uploads_are_listed_under_the_prefix() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("uploads");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let a = "reg/docker/registry/v2/repositories/app/_uploads/6f0c-1/data";
    let b = "reg/docker/registry/v2/repositories/odd name+1/_uploads/6f0c-2/data";
    let id_a = moto.create_multipart_upload("uploads", a);
    let id_b = moto.create_multipart_upload("uploads", b);
    moto.create_multipart_upload("uploads", "elsewhere/data");
    let client = S3Client::new(&moto.config("uploads", "/reg")).unwrap();

    let mut got = client
        .multipart_uploads("docker/registry/v2/repositories/")
        .unwrap();
    got.sort();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].0.as_str(), got[0].1.as_str()),
        (a.strip_prefix("reg/").unwrap(), id_a.as_str())
    );
    assert_eq!(
        (got[1].0.as_str(), got[1].1.as_str()),
        (b.strip_prefix("reg/").unwrap(), id_b.as_str())
    );
    // moto answers a fixed Initiated (2010-11-10T20:48:33.000Z), AWS the real start.
    for (_, _, initiated) in &got {
        assert!(
            *initiated == 1_289_422_113 || (before - 5..before + 60).contains(initiated),
            "{initiated} vs {before}"
        );
    }
    assert!(client
        .multipart_uploads("docker/registry/v2/blobs/")
        .unwrap()
        .is_empty());
}

fn fake_config(url: &str) -> S3Config {
    S3Config {
        bucket: "fake-bucket".into(),
        region: "us-east-1".into(),
        regionendpoint: url.into(),
        accesskey: "AKIAWRONG".into(),
        secretkey: "wrong-secret-never-logged".into(),
        rootdirectory: "/".into(),
        timeout: Duration::from_secs(2),
    }
}

fn aws_error(status: u16, code: &str) -> Reply {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>as \
         AWS says it</Message><RequestId>R</RequestId><HostId>H</HostId></Error>"
    );
    Reply::Send(Resp::new(status, body).header("Content-Type", "application/xml"))
}

#[test]
fn refused_credentials_timeouts_unreachable_endpoints_and_bad_xml_are_typed() {
    // The answers AWS gives, chosen by the key asked for.
    let server = MiniServer::start(Arc::new(|rq: &Req| {
        let q = rq.query();
        if rq.method == "HEAD" {
            return Reply::Send(Resp::new(403, ""));
        }
        if q.contains("prefix=bad-key") {
            aws_error(403, "InvalidAccessKeyId")
        } else if q.contains("prefix=bad-secret") || !q.contains("prefix=") {
            aws_error(403, "SignatureDoesNotMatch")
        } else if q.contains("prefix=denied") {
            aws_error(403, "AccessDenied")
        } else if q.contains("prefix=slow") {
            Reply::Hang(Duration::from_secs(5))
        } else if q.contains("prefix=html") {
            Reply::Send(Resp::new(200, "<html><body>a captive portal</body></html>"))
        } else if q.contains("prefix=loop") {
            let page = "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                <IsTruncated>true</IsTruncated><NextContinuationToken>same</NextContinuationToken>\
                <Contents><Key>loop/k</Key><Size>1</Size></Contents></ListBucketResult>";
            Reply::Send(Resp::new(200, page))
        } else {
            aws_error(503, "SlowDown")
        }
    }));
    let client = S3Client::new(&fake_config(&server.url())).unwrap();
    let list = |p: &str| client.list(p, &mut |_, _| {}).unwrap_err();

    let e = list("bad-key/");
    assert_eq!(
        e,
        S3Error::Credentials {
            bucket: "fake-bucket".into(),
            code: "InvalidAccessKeyId".into()
        }
    );
    assert!(e.to_string().contains("accesskey and secretkey"), "{e}");
    assert!(
        matches!(list("bad-secret/"), S3Error::Credentials { code, .. } if code == "SignatureDoesNotMatch")
    );
    // HEAD's bare 403 is explained by a one-key listing.
    assert!(
        matches!(client.check().unwrap_err(), S3Error::Credentials { code, .. } if code == "SignatureDoesNotMatch")
    );
    let e = list("denied/");
    assert!(
        matches!(
            e,
            S3Error::AccessDenied {
                action: "s3:ListBucket",
                ..
            }
        ),
        "{e}"
    );
    let t = Instant::now();
    assert!(matches!(list("slow/"), S3Error::Timeout { .. }));
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "bounded by the timeout: {:?}",
        t.elapsed()
    );
    assert!(matches!(
        list("html/"),
        S3Error::Xml {
            what: "ListObjectsV2",
            ..
        }
    ));
    assert!(
        matches!(list("loop/"), S3Error::Xml { .. }),
        "a repeated token ends the listing"
    );
    assert!(
        matches!(list("other/"), S3Error::Status { status: 503, code, .. } if code == "SlowDown")
    );
    for e in [list("bad-key/"), list("slow/"), list("html/")] {
        assert!(!e.to_string().contains("wrong-secret"), "{e}");
        assert!(!e.to_string().contains("X-Amz-Signature"), "{e}");
    }

    // Nobody listening.
    let port = support::free_port();
    let client = S3Client::new(&fake_config(&format!("http://127.0.0.1:{port}"))).unwrap();
    let e = client.check().unwrap_err();
    assert!(
        matches!(&e, S3Error::Unreachable { endpoint, .. } if endpoint == &format!("http://127.0.0.1:{port}")),
        "{e}"
    );
    assert!(e.to_string().contains("regionendpoint"), "{e}");
}

#[test]
fn blobs_a_real_registry_wrote_to_s3_have_the_pushed_sizes_and_gc_dry_run_agrees() {
    let Some(moto) = Moto::start() else { return };
    if support::real_registry::registry_binary().is_none() {
        return;
    }
    moto.create_bucket("registry");
    let Some(mut reg) = RealRegistry::start_with(RealOptions {
        storage: Storage::S3(moto.registry_storage("registry", "/")),
        ..RealOptions::default()
    }) else {
        return;
    };
    let mut rec = Recording::new(&mut reg);
    push_standard(&mut rec, &mut Truth::default(), 0);
    let sent = rec.sent;
    assert!(sent.len() > 10, "{sent:?}");

    let client = S3Client::new(&moto.config("registry", "/")).unwrap();
    client.check().unwrap();
    let (objects, pages) = list_all(&client, BLOBS);
    let stored: BTreeMap<String, u64> = objects
        .iter()
        .filter_map(|(k, n)| {
            let rest = k.strip_prefix(BLOBS)?.strip_suffix("/data")?;
            let (algo, rest) = rest.split_once('/')?;
            let (_, hex) = rest.split_once('/')?;
            Some((format!("{algo}:{hex}"), *n))
        })
        .collect();
    assert_eq!(
        stored, sent,
        "blob data objects in S3 = what was pushed, byte for byte"
    );
    assert_eq!(pages, 1);
    // A stored manifest reads back whole through GET.
    let (digest, size) = sent.iter().next().unwrap();
    let hex = digest.strip_prefix("sha256:").unwrap();
    let data = client
        .get(&format!("{BLOBS}sha256/{}/{hex}/data", &hex[..2]), *size)
        .unwrap();
    assert_eq!(data.len() as u64, *size);

    reg.stop();
    // push_standard leaves one blob that no manifest references (the "lonely" repository's).
    let out = reg.garbage_collect(&["--dry-run"]);
    let gc = GcSummary::parse(&out).unwrap_or_else(|| panic!("no summary in:\n{out}"));
    assert_eq!((gc.eligible_blobs, gc.eligible.len()), (1, 1), "{out}");
    assert_eq!(
        (gc.marked + gc.eligible.len(), gc.eligible_manifests),
        (stored.len(), 0),
        "every stored blob is marked or eligible:\n{out}"
    );
    assert!(stored.contains_key(&gc.eligible[0]), "{out}");
    let out = reg.garbage_collect(&["--dry-run", "--delete-untagged"]);
    assert!(GcSummary::parse(&out).is_some(), "{out}");
}

/// What `garbage-collect` printed: its summary `N blobs marked, M blobs and K manifests
/// eligible for deletion` and the `blob eligible for deletion: DIGEST` lines.
struct GcSummary {
    marked: usize,
    eligible_blobs: usize,
    eligible_manifests: usize,
    eligible: Vec<String>,
}

impl GcSummary {
    fn parse(out: &str) -> Option<GcSummary> {
        let line = out.lines().rev().find(|l| l.contains("blobs marked"))?;
        let nums: Vec<usize> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        match nums[..] {
            [marked, eligible_blobs, eligible_manifests] => {
                let eligible: Vec<String> = out
                    .lines()
                    .filter_map(|l| l.strip_prefix("blob eligible for deletion: "))
                    .map(|d| d.trim().to_string())
                    .collect();
                (eligible.len() == eligible_blobs).then_some(GcSummary {
                    marked,
                    eligible_blobs,
                    eligible_manifests,
                    eligible,
                })
            }
            _ => None,
        }
    }
}
