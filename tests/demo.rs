//! Demo mode seen from outside: the built-in registry answers over real HTTP the way a
//! Distribution registry behind GitLab's token endpoint does (challenge, token, pagination,
//! exact digests, errors), and the settings and banner `--demo` hands to the service.
//!
//! These tests only talk HTTP to 127.0.0.1 and never start the API server itself.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use base64::Engine as _;
use gitlab_registry_usage_rest::auth::Authenticator;
use gitlab_registry_usage_rest::demo::{self, Demo, DemoAuthenticator};
use ring::digest::{digest, SHA256};
use serde_json::Value;

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .max_redirects(0)
        .build()
        .into()
}

struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
}

struct Got {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

fn fetch(agent: &ureq::Agent, method: &str, url: &str, headers: &[(&str, &str)]) -> Got {
    let mut resp = match method {
        "GET" => {
            let mut r = agent.get(url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        "HEAD" => {
            let mut r = agent.head(url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        other => panic!("{other}"),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        resp.body_mut().read_to_vec().expect("body")
    };
    Got {
        status,
        headers,
        body,
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}").as_bytes())
    )
}

fn login(d: &Demo) -> Client {
    let agent = agent();
    let base = d
        .config
        .registry
        .registry_base_url
        .trim_end_matches('/')
        .to_string();
    // The flow a client follows: the challenge names the realm and the service.
    let challenge = fetch(&agent, "GET", &format!("{base}/v2/"), &[]);
    assert_eq!(challenge.status, 401);
    let www = challenge.header("www-authenticate").expect("challenge");
    assert_eq!(
        www,
        format!("Bearer realm=\"{base}/jwt/auth\",service=\"container_registry\"")
    );
    let r = &d.config.registry;
    let url = format!("{base}/jwt/auth?service=container_registry&scope=registry:catalog:*");
    let got = fetch(
        &agent,
        "GET",
        &url,
        &[("Authorization", &basic(&r.username, &r.access_token))],
    );
    assert_eq!(got.status, 200);
    let body = got.json();
    assert_eq!(body["expires_in"], 900);
    let token = body["token"].as_str().expect("token").to_string();
    Client { agent, base, token }
}

impl Client {
    fn get(&self, path: &str, accept: Option<&str>) -> Got {
        self.call("GET", path, accept)
    }
    fn call(&self, method: &str, path: &str, accept: Option<&str>) -> Got {
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![("Authorization", auth.as_str())];
        if let Some(a) = accept {
            headers.push(("Accept", a));
        }
        fetch(
            &self.agent,
            method,
            &format!("{}{path}", self.base),
            &headers,
        )
    }
}

/// Follows `Link: <...>; rel="next"` from `first` and returns every page's list under `key`.
fn walk(c: &Client, first: &str, key: &str) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut next = Some(first.to_string());
    let mut pages = 0;
    while let Some(path) = next {
        let got = c.get(&path, None);
        assert_eq!(got.status, 200, "{path}");
        pages += 1;
        for v in got.json()[key].as_array().expect("list") {
            out.push(v.as_str().expect("string").to_string());
        }
        next = got.header("link").map(|l| {
            assert!(l.ends_with("; rel=\"next\""), "{l}");
            l[1..l.find('>').expect(">")].to_string()
        });
        assert!(pages < 100, "pagination does not end");
    }
    (out, pages)
}

fn sha256(bytes: &[u8]) -> String {
    let d = digest(&SHA256, bytes);
    format!(
        "sha256:{}",
        d.as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

#[test]
fn settings_point_at_the_running_registry() {
    let d = demo::start(5123).expect("demo starts");
    let c = &d.config;
    assert_eq!(c.general.socket_host, "127.0.0.1");
    assert_eq!(c.general.socket_port, 5123);
    assert!(c.jwt.secret_key.len() >= 32);
    c.check_secret(std::path::Path::new("x"))
        .expect("a real secret");
    assert_eq!(c.registry.state_file, std::path::PathBuf::new());
    assert_eq!(c.registry.update_interval, Duration::from_secs(60));
    assert!(c
        .registry
        .registry_base_url
        .starts_with("http://127.0.0.1:"));
    assert_eq!(c.registry.gitlab_base_url, c.registry.registry_base_url);
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    // Two demos never share a secret or a password.
    let other = demo::start(5123).expect("second demo");
    assert_ne!(other.config.jwt.secret_key, c.jwt.secret_key);
    assert_ne!(other.password, d.password);
    assert_ne!(
        other.config.registry.registry_base_url,
        c.registry.registry_base_url
    );
}

#[test]
fn authenticator_and_banner() {
    let d = demo::start(5000).expect("demo starts");
    let a = DemoAuthenticator::new(&d);
    assert_eq!(a.authenticate(&d.user, &d.password), Ok(d.user.clone()));
    assert!(a.authenticate(&d.user, "wrong").is_err());
    assert!(a.authenticate("admin", &d.password).is_err());

    let b = demo::banner(&d, "127.0.0.1:5000");
    assert!(b.contains(&format!(
        "curl -u {}:{} http://127.0.0.1:5000/auth_token",
        d.user, d.password
    )));
    assert!(b.contains(
        "curl -H \"Authorization: Bearer $TOKEN\" 'http://127.0.0.1:5000/repositories?embed=true'"
    ));
    assert!(b.contains("loopback"), "{b}");
    assert!(
        b.contains("Dashboard: http://127.0.0.1:5000/  (open it in a browser"),
        "{b}"
    );
    assert!(b.contains(&d.config.registry.registry_base_url));
    assert_eq!(
        demo::banner(&d, "http://127.0.0.1:5000/"),
        b,
        "both address forms give the same text"
    );
}

#[test]
fn registry_refuses_without_a_valid_token() {
    let d = demo::start(5000).expect("demo starts");
    let agent = agent();
    let base = d.config.registry.registry_base_url.trim_end_matches('/');
    let got = fetch(&agent, "GET", &format!("{base}/v2/_catalog"), &[]);
    assert_eq!(got.status, 401);
    assert_eq!(got.json()["errors"][0]["code"], "UNAUTHORIZED");
    assert!(got
        .header("www-authenticate")
        .unwrap_or("")
        .ends_with(",scope=\"registry:catalog:*\""));
    let got = fetch(
        &agent,
        "GET",
        &format!("{base}/v2/team-a/backend/api/tags/list"),
        &[("Authorization", "Bearer forged")],
    );
    assert_eq!(got.status, 401);
    assert!(got
        .header("www-authenticate")
        .unwrap_or("")
        .contains("scope=\"repository:team-a/backend/api:pull\""));
    let got = fetch(
        &agent,
        "GET",
        &format!("{base}/jwt/auth?service=container_registry"),
        &[("Authorization", &basic(&d.user, &d.password))],
    );
    assert_eq!(got.status, 401, "the API login is not a registry login");
    assert_eq!(
        got.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
}

#[test]
fn catalog_pagination_lists_every_repository_once() {
    let d = demo::start(5000).expect("demo starts");
    let c = login(&d);
    let (all, pages) = walk(&c, "/v2/_catalog?n=1000", "repositories");
    assert_eq!(pages, 1);
    assert!(all.len() >= 36, "{}", all.len());
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "the catalog is in lexical order");
    for n in [1, 7, 10] {
        let (paged, pages) = walk(&c, &format!("/v2/_catalog?n={n}"), "repositories");
        assert_eq!(paged, all, "n={n}");
        assert_eq!(pages, all.len().div_ceil(n), "n={n}");
    }
    // The Link is exactly Distribution's form, with `last` query-escaped.
    let got = c.get("/v2/_catalog?n=2", None);
    let first: Vec<String> = serde_json::from_value(got.json()["repositories"].clone()).unwrap();
    assert_eq!(
        got.header("link"),
        Some(
            format!(
                "</v2/_catalog?last={}&n=2>; rel=\"next\"",
                first[1].replace('/', "%2F")
            )
            .as_str()
        )
    );
    assert!(all.contains(&"platform/base/alpine".to_string()));
    assert!(all.contains(&"team-a/backend/api".to_string()));
    // Without n: Distribution's page of 100 holds the whole demo.
    assert_eq!(walk(&c, "/v2/_catalog", "repositories").0, all);
    assert_eq!(c.get("/v2/_catalog?n=many", None).status, 400);
}

#[test]
fn every_manifest_and_blob_is_served_with_its_digest() {
    let d = demo::start(5000).expect("demo starts");
    let c = login(&d);
    let (repos, _) = walk(&c, "/v2/_catalog?n=10", "repositories");
    let mut tagless = BTreeSet::new();
    let mut alias = false;
    let mut shared_across_platforms = false;
    let mut media_types = BTreeSet::new();
    for repo in &repos {
        let got = c.get(&format!("/v2/{repo}/tags/list"), None);
        if got.status == 404 {
            assert_eq!(got.json()["errors"][0]["code"], "NAME_UNKNOWN");
            tagless.insert(repo.clone());
            continue;
        }
        assert_eq!(got.status, 200);
        let body = got.json();
        assert_eq!(body["name"], repo.as_str());
        let Some(tags) = body["tags"].as_array() else {
            assert!(body["tags"].is_null());
            tagless.insert(repo.clone());
            continue;
        };
        // Tags pagination (Distribution 3 style) gives the same list.
        let (paged, _) = walk(&c, &format!("/v2/{repo}/tags/list?n=3"), "tags");
        let listed: Vec<String> = tags
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        assert_eq!(paged, listed, "{repo}");

        let mut seen: HashMap<String, String> = HashMap::new();
        for tag in &listed {
            let got = c.get(&format!("/v2/{repo}/manifests/{tag}"), Some(ACCEPT));
            assert_eq!(got.status, 200, "{repo}:{tag}");
            let digest = got
                .header("docker-content-digest")
                .expect("digest")
                .to_string();
            assert_eq!(sha256(&got.body), digest, "{repo}:{tag}");
            let manifest = got.json();
            let media_type = manifest["mediaType"].as_str().expect("mediaType");
            assert_eq!(got.header("content-type"), Some(media_type));
            media_types.insert(media_type.to_string());
            if seen.insert(digest.clone(), tag.clone()).is_some() {
                alias = true;
            }
            // HEAD by tag and GET by digest agree with the GET by tag.
            let head = c.call("HEAD", &format!("/v2/{repo}/manifests/{tag}"), Some(ACCEPT));
            assert_eq!(head.status, 200);
            assert_eq!(head.header("docker-content-digest"), Some(digest.as_str()));
            assert_eq!(
                head.header("content-length"),
                Some(got.body.len().to_string().as_str())
            );
            let by_digest = c.get(&format!("/v2/{repo}/manifests/{digest}"), Some(ACCEPT));
            assert_eq!(by_digest.body, got.body);

            let images: Vec<Value> = match manifest["manifests"].as_array() {
                Some(children) => {
                    let mut layer_count: HashMap<String, usize> = HashMap::new();
                    let mut out = Vec::new();
                    for child in children {
                        let cd = child["digest"].as_str().expect("child digest");
                        let got = c.get(&format!("/v2/{repo}/manifests/{cd}"), Some(ACCEPT));
                        assert_eq!(got.status, 200);
                        assert_eq!(sha256(&got.body), cd);
                        assert_eq!(child["size"], got.body.len());
                        assert_eq!(got.header("content-type"), child["mediaType"].as_str());
                        assert!(child["platform"]["architecture"].is_string());
                        let m = got.json();
                        for l in m["layers"].as_array().expect("layers") {
                            *layer_count
                                .entry(l["digest"].as_str().unwrap().to_string())
                                .or_default() += 1;
                        }
                        out.push(m);
                    }
                    if layer_count.values().any(|n| *n > 1) {
                        shared_across_platforms = true;
                    }
                    out
                }
                None => vec![manifest],
            };
            for image in images {
                let config = &image["config"];
                let cd = config["digest"].as_str().expect("config digest");
                let got = c.get(&format!("/v2/{repo}/blobs/{cd}"), None);
                assert_eq!(got.status, 200);
                assert_eq!(sha256(&got.body), cd);
                assert_eq!(config["size"], got.body.len());
                for l in image["layers"].as_array().expect("layers") {
                    let ld = l["digest"].as_str().expect("layer digest");
                    let head = c.call("HEAD", &format!("/v2/{repo}/blobs/{ld}"), None);
                    assert_eq!(head.status, 200, "{repo} {ld}");
                    assert_eq!(
                        head.header("content-length")
                            .map(|s| s.parse::<u64>().unwrap()),
                        l["size"].as_u64()
                    );
                }
            }
        }
    }
    assert_eq!(
        tagless,
        BTreeSet::from([
            "research/legacy/old-app".to_string(),
            "research/sandbox/scratch".to_string()
        ])
    );
    assert!(alias, "two tags on one manifest");
    assert!(
        shared_across_platforms,
        "an index whose platforms share a layer"
    );
    assert_eq!(media_types.len(), 4, "{media_types:?}");
}

#[test]
fn errors_follow_distribution() {
    let d = demo::start(5000).expect("demo starts");
    let c = login(&d);
    let got = c.get("/v2/no/such/repo/tags/list", None);
    assert_eq!(got.status, 404);
    assert_eq!(got.json()["errors"][0]["code"], "NAME_UNKNOWN");
    assert_eq!(
        got.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let got = c.get("/v2/no/such/repo/manifests/latest", Some(ACCEPT));
    assert_eq!(got.json()["errors"][0]["code"], "NAME_UNKNOWN");
    let got = c.get("/v2/team-a/backend/api/manifests/9.9.9", Some(ACCEPT));
    assert_eq!(got.status, 404);
    assert_eq!(got.json()["errors"][0]["code"], "MANIFEST_UNKNOWN");
    let zero = format!("sha256:{}", "0".repeat(64));
    let got = c.get(
        &format!("/v2/team-a/backend/api/manifests/{zero}"),
        Some(ACCEPT),
    );
    assert_eq!(got.json()["errors"][0]["code"], "MANIFEST_UNKNOWN");
    let got = c.get(&format!("/v2/team-a/backend/api/blobs/{zero}"), None);
    assert_eq!(got.json()["errors"][0]["code"], "BLOB_UNKNOWN");
    // A client that cannot read an index is not handed one.
    let got = c.get(
        "/v2/team-a/frontend/web/manifests/latest",
        Some("application/vnd.docker.distribution.manifest.v2+json"),
    );
    assert_eq!(got.status, 404);
    // A base image and an application image share their base layer's blob.
    let base = c
        .get("/v2/platform/base/python/manifests/3.12-slim", Some(ACCEPT))
        .json();
    let app = c
        .get("/v2/team-a/backend/api/manifests/latest", Some(ACCEPT))
        .json();
    assert_eq!(base["layers"][0]["digest"], app["layers"][0]["digest"]);
}

#[test]
fn dropping_the_demo_stops_the_registry() {
    let d = demo::start(5000).expect("demo starts");
    let base = d.config.registry.registry_base_url.clone();
    let before = agent();
    assert_eq!(
        fetch(&before, "GET", &format!("{base}v2/"), &[]).status,
        401
    );
    drop(d);
    let fresh = agent();
    assert!(
        fresh.get(&format!("{base}v2/")).call().is_err(),
        "still answering after drop"
    );
}
