//! The Distribution HTTP API of an in-process registry, as one function of a request: `/v2/`,
//! catalog and tags pagination with `n`, `last` and `Link`, manifests by tag or digest (GET and
//! HEAD, Accept honoured, exact digests), blob HEADs and GETs of stored contents, and
//! Distribution's error envelope (`NAME_UNKNOWN`, `MANIFEST_UNKNOWN`, ...). `--demo` serves its
//! tree through it (`server.rs`); the tests' fake registry serves its own content through it.
//!
//! It owns the protocol only: who may read what is the caller's [`Access`] (the demo's is
//! GitLab's token flow), and it reads [`Content`] without changing it. No I/O, no clock, and
//! nothing here injects faults (the tests wrap it for that).

use std::sync::Arc;

use serde_json::{json, Value};

use super::content::{Content, Untagged};
use crate::http;

/// Distribution's page size when a catalog request names no `n`, and the most it returns.
const CATALOG_DEFAULT_N: usize = 100;
const CATALOG_MAX_N: usize = 1000;

/// Who may read what: the token service in front of the registry.
pub trait Access: Send + Sync {
    /// Whether a request with this `Authorization` value may read `scope`
    /// (`repository:<name>:pull` or `registry:catalog:*`; `None` for the `/v2/` check).
    fn grants(&self, authorization: Option<&str>, scope: Option<&str>) -> bool;
    /// The `Bearer` challenge's parameters before its scope: `realm="...",service="..."`.
    fn challenge(&self) -> String;
}

/// An answer, independent of the HTTP library so it can be tested directly.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `None` for a HEAD, which still states `length`.
    pub body: Option<Arc<[u8]>>,
    pub length: usize,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Reply {
        let bytes: Arc<[u8]> = serde_json::to_vec(body).unwrap_or_default().into();
        Reply {
            status,
            length: bytes.len(),
            body: Some(bytes),
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
        }
    }

    /// Distribution's error envelope.
    pub fn error(status: u16, code: &str, message: &str, detail: Value) -> Reply {
        Reply::json(
            status,
            &json!({"errors": [{"code": code, "message": message, "detail": detail}]}),
        )
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// On the wire every length is stated: a HEAD without the bytes (a layer's size) still
    /// says how long the GET would be.
    pub fn into_response(self) -> http::Response {
        let length = self.length as u64;
        http::Response {
            status: self.status,
            headers: self
                .headers
                .into_iter()
                .map(|(k, v)| (k.into(), v))
                .collect(),
            body: match self.body {
                Some(bytes) => http::Body::Shared(bytes),
                None => http::Body::stream(Some(length), |_| Ok(())),
            },
        }
    }
}

/// Answers one request (`url` as sent: path and query, still percent-encoded).
pub fn answer(
    content: &Content,
    access: &dyn Access,
    method: &str,
    url: &str,
    headers: &[(String, String)],
) -> Reply {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let Some(route) = route(&percent_decode(path)) else {
        // What Go's HTTP mux answers for a path no handler owns.
        let body: &[u8] = b"404 page not found\n";
        return Reply {
            status: 404,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: Some(Arc::from(body)),
            length: body.len(),
        };
    };
    let scope = match &route {
        Route::Base => None,
        Route::Catalog => Some("registry:catalog:*".to_string()),
        Route::Tags(name) | Route::Manifest(name, _) | Route::Blob(name, _) => {
            Some(format!("repository:{name}:pull"))
        }
    };
    if !access.grants(header(headers, "authorization"), scope.as_deref()) {
        let scope = scope.map_or(String::new(), |s| format!(",scope=\"{s}\""));
        return Reply::error(401, "UNAUTHORIZED", "authentication required", Value::Null).header(
            "WWW-Authenticate",
            format!("Bearer {}{scope}", access.challenge()),
        );
    }
    let head = method == "HEAD";
    if method != "GET" && !head {
        return Reply::error(
            405,
            "UNSUPPORTED",
            "The operation is unsupported.",
            Value::Null,
        )
        .header("Allow", "GET, HEAD");
    }
    let params = query_params(query);
    let result = match route {
        Route::Base => Ok(Reply::json(200, &json!({}))),
        Route::Catalog => catalog(content, &params),
        Route::Tags(name) => tags(content, &name, &params),
        Route::Manifest(name, reference) => Ok(manifest(
            content,
            &name,
            &reference,
            header(headers, "accept"),
            head,
        )),
        Route::Blob(name, digest) => Ok(blob(content, &name, &digest, head)),
    };
    result.unwrap_or_else(|reply| reply)
}

/// What a `/v2/` path asks for.
enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
}

fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() {
        return Some(Route::Base);
    }
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name.to_string()));
    }
    // Names contain slashes, references never do: split at the last marker.
    for (marker, manifest) in [("/manifests/", true), ("/blobs/", false)] {
        if let Some(pos) = rest.rfind(marker) {
            let (name, reference) = (&rest[..pos], &rest[pos + marker.len()..]);
            if name.is_empty() || reference.is_empty() || reference.contains('/') {
                return None;
            }
            let (name, reference) = (name.to_string(), reference.to_string());
            return Some(if manifest {
                Route::Manifest(name, reference)
            } else {
                Route::Blob(name, reference)
            });
        }
    }
    None
}

/// The first value of header `name` (names compare case-insensitively).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Decodes `%XX`; a malformed escape stays as written (such a name is answered 404 rather
/// than refused).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A query string as Go's `url.ParseQuery` reads it (`+` is a space; Distribution's `Link`
/// headers encode with `url.QueryEscape`).
pub fn query_params(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `n` and `last` of a paginated list. `Err` for an `n` that is not a number.
fn page_params(params: &[(String, String)]) -> Result<(Option<usize>, Option<String>), Reply> {
    let mut n = None;
    let mut last = None;
    for (k, v) in params {
        match k.as_str() {
            "n" => {
                n = Some(v.parse::<usize>().map_err(|_| {
                    Reply::error(
                        400,
                        "PAGINATION_NUMBER_INVALID",
                        "invalid number of results requested",
                        json!({"n": v}),
                    )
                })?)
            }
            "last" => last = Some(v.clone()),
            _ => {}
        }
    }
    Ok((n, last))
}

/// One page of `sorted` after `last`, and the `Link` to the next page if more remain.
fn paginate<'a>(
    sorted: &[&'a str],
    n: usize,
    last: Option<&str>,
    path: &str,
) -> (Vec<&'a str>, Option<String>) {
    let start = match last {
        Some(l) => sorted.partition_point(|x| *x <= l),
        None => 0,
    };
    let page: Vec<&str> = sorted[start..].iter().take(n).copied().collect();
    let more = start + page.len() < sorted.len();
    let link = match page.last() {
        Some(l) if more => Some(format!(
            "<{path}?last={}&n={n}>; rel=\"next\"",
            crate::http::percent::encode(l)
        )),
        _ => None,
    };
    (page, link)
}

/// A list page as JSON, with its `Link` when more remain.
fn listed(body: Value, link: Option<String>) -> Reply {
    let reply = Reply::json(200, &body);
    match link {
        Some(l) => reply.header("Link", l),
        None => reply,
    }
}

fn catalog(content: &Content, params: &[(String, String)]) -> Result<Reply, Reply> {
    let (n, last) = page_params(params)?;
    let n = n.unwrap_or(CATALOG_DEFAULT_N).min(CATALOG_MAX_N);
    let names: Vec<&str> = content.repos.keys().map(String::as_str).collect();
    let (page, link) = paginate(&names, n, last.as_deref(), "/v2/_catalog");
    Ok(listed(json!({"repositories": page}), link))
}

fn tags(content: &Content, name: &str, params: &[(String, String)]) -> Result<Reply, Reply> {
    let repo = content.repos.get(name).ok_or_else(|| name_unknown(name))?;
    if repo.tags.is_empty() {
        return match repo.untagged {
            Untagged::Null => Ok(Reply::json(200, &json!({"name": name, "tags": null}))),
            Untagged::NameUnknown => Err(name_unknown(name)),
        };
    }
    let (n, last) = page_params(params)?;
    let all: Vec<&str> = repo.tags.keys().map(String::as_str).collect();
    // Without `n`, the whole list, as Distribution 2.x answers; with it, pages with a
    // `Link`, as 3.x does.
    let (page, link) = match n {
        None => (all, None),
        Some(n) => paginate(&all, n, last.as_deref(), &format!("/v2/{name}/tags/list")),
    };
    Ok(listed(json!({"name": name, "tags": page}), link))
}

fn manifest(
    content: &Content,
    name: &str,
    reference: &str,
    accept: Option<&str>,
    head: bool,
) -> Reply {
    let Some(repo) = content.repos.get(name).filter(|r| r.known()) else {
        return name_unknown(name);
    };
    let Some((digest, m)) = content.manifest(repo, reference) else {
        let detail = if reference.contains(':') {
            json!({"Name": name, "Revision": reference})
        } else {
            json!({"Name": name, "Tag": reference})
        };
        return Reply::error(404, "MANIFEST_UNKNOWN", "manifest unknown", detail);
    };
    // A client that lists the types it understands gets nothing else (a real registry
    // would try to convert, or refuse); no Accept at all means "anything".
    if let Some(accept) = accept {
        let accepted = accept.split(',').any(|item| {
            let t = item.split(';').next().unwrap_or("").trim();
            t == m.media_type || t == "*/*" || t == "application/*"
        });
        if !accepted {
            return Reply::error(
                404,
                "MANIFEST_UNKNOWN",
                &format!("manifest of type {} not in the Accept header", m.media_type),
                json!({"Name": name, "Revision": digest}),
            );
        }
    }
    Reply {
        status: 200,
        headers: vec![
            ("Content-Type".into(), m.media_type.clone()),
            ("Docker-Content-Digest".into(), digest.to_string()),
            ("Etag".into(), format!("\"{digest}\"")),
        ],
        length: m.bytes.len(),
        body: (!head).then(|| m.bytes.clone()),
    }
}

fn blob(content: &Content, name: &str, digest: &str, head: bool) -> Reply {
    if !content.repos.contains_key(name) {
        return name_unknown(name);
    }
    let Some(blob) = content.blobs.get(digest) else {
        return Reply::error(
            404,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
            json!(digest),
        );
    };
    let Ok(length) = usize::try_from(blob.size) else {
        return Reply::error(500, "UNKNOWN", "blob too large", Value::Null);
    };
    let body = match (&blob.content, head) {
        (_, true) => None,
        (Some(content), false) => Some(content.clone()),
        (None, false) => {
            return Reply::error(
                404,
                "BLOB_UNKNOWN",
                "this registry keeps the blob's size, not its content",
                json!(digest),
            )
        }
    };
    Reply {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "application/octet-stream".into()),
            ("Docker-Content-Digest".into(), digest.to_string()),
            ("Accept-Ranges".into(), "bytes".into()),
            ("Etag".into(), format!("\"{digest}\"")),
        ],
        length,
        body,
    }
}

fn name_unknown(name: &str) -> Reply {
    Reply::error(
        404,
        "NAME_UNKNOWN",
        "repository name not known to registry",
        json!({"name": name}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything readable with the token `ok`.
    struct Open;

    impl Access for Open {
        fn grants(&self, authorization: Option<&str>, _: Option<&str>) -> bool {
            authorization == Some("Bearer ok")
        }
        fn challenge(&self) -> String {
            "realm=\"http://t/auth\",service=\"s\"".into()
        }
    }

    fn get(content: &Content, url: &str) -> Reply {
        let auth = [("Authorization".to_string(), "Bearer ok".to_string())];
        answer(content, &Open, "GET", url, &auth)
    }

    fn body(r: &Reply) -> Value {
        serde_json::from_slice(r.body.as_deref().unwrap_or_default()).unwrap_or(Value::Null)
    }

    #[test]
    fn routes() {
        assert!(matches!(route("/v2/"), Some(Route::Base)));
        assert!(matches!(route("/v2/_catalog"), Some(Route::Catalog)));
        assert!(matches!(route("/v2/a/b/c/tags/list"), Some(Route::Tags(n)) if n == "a/b/c"));
        assert!(matches!(
            route("/v2/a/manifests/b/manifests/latest"),
            Some(Route::Manifest(n, r)) if n == "a/manifests/b" && r == "latest"
        ));
        assert!(matches!(
            route("/v2/x/y/blobs/sha256:ab"),
            Some(Route::Blob(n, d)) if n == "x/y" && d == "sha256:ab"
        ));
        assert!(route("/v2/manifests/").is_none());
        assert!(route("/v1/_catalog").is_none());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%2fc"), "a/b/c");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(
            query_params("a+b%=c%2Bd&n=5"),
            vec![("a b%".into(), "c+d".into()), ("n".into(), "5".into())]
        );
        assert_eq!(
            crate::http::percent::encode("team-a/backend api"),
            "team-a%2Fbackend%20api"
        );
    }

    #[test]
    fn pagination_walks_everything_once() {
        let names = ["a", "b", "c", "d", "e"];
        let (p, link) = paginate(&names, 2, None, "/v2/_catalog");
        assert_eq!(p, ["a", "b"]);
        assert_eq!(
            link.as_deref(),
            Some("</v2/_catalog?last=b&n=2>; rel=\"next\"")
        );
        let (p, link) = paginate(&names, 2, Some("d"), "/v2/_catalog");
        assert_eq!(p, ["e"]);
        assert!(link.is_none());
        let (p, link) = paginate(&names, 5, None, "/v2/_catalog");
        assert_eq!(p.len(), 5);
        assert!(link.is_none());
        // `last` need not exist (it may have been deleted meanwhile).
        let (p, _) = paginate(&names, 9, Some("bb"), "/x");
        assert_eq!(p, ["c", "d", "e"]);
    }

    #[test]
    fn access_decides_and_the_challenge_names_the_scope() {
        let c = Content::default();
        assert_eq!(get(&c, "/v2/").status, 200);
        let r = answer(&c, &Open, "GET", "/v2/a%2Fb/tags/list", &[]);
        assert_eq!(r.status, 401);
        assert_eq!(
            header(&r.headers, "www-authenticate"),
            Some("Bearer realm=\"http://t/auth\",service=\"s\",scope=\"repository:a/b:pull\"")
        );
        let base = answer(&c, &Open, "GET", "/v2/", &[]);
        assert_eq!(
            header(&base.headers, "WWW-Authenticate"),
            Some("Bearer realm=\"http://t/auth\",service=\"s\"")
        );
        let auth = [("Authorization".to_string(), "Bearer ok".to_string())];
        assert_eq!(answer(&c, &Open, "DELETE", "/v2/", &auth).status, 405);
        assert_eq!(get(&c, "/v1/").status, 404);
    }

    #[test]
    fn lists_manifests_and_blobs() {
        let mut c = Content::default();
        c.put_manifest("r", Some("v1"), "sha256:m", "t/m", Arc::from(&b"{}"[..]));
        c.put_manifest("r", Some("v2"), "sha256:m", "t/m", Arc::from(&b"{}"[..]));
        c.repo("never");
        c.repo("emptied").untagged = Untagged::Null;
        c.put_blob("sha256:l", 7, None);
        let page = get(&c, "/v2/_catalog?n=2");
        assert_eq!(body(&page)["repositories"], json!(["emptied", "never"]));
        assert_eq!(
            header(&page.headers, "link"),
            Some("</v2/_catalog?last=never&n=2>; rel=\"next\"")
        );
        assert_eq!(get(&c, "/v2/_catalog?n=x").status, 400);
        assert_eq!(
            body(&get(&c, "/v2/r/tags/list"))["tags"],
            json!(["v1", "v2"])
        );
        let paged = get(&c, "/v2/r/tags/list?n=1");
        assert_eq!(
            header(&paged.headers, "link"),
            Some("</v2/r/tags/list?last=v1&n=1>; rel=\"next\"")
        );
        assert!(body(&get(&c, "/v2/emptied/tags/list"))["tags"].is_null());
        let never = get(&c, "/v2/never/manifests/sha256:m");
        assert_eq!(body(&never)["errors"][0]["code"], "NAME_UNKNOWN");
        let m = get(&c, "/v2/r/manifests/v2");
        assert_eq!(
            header(&m.headers, "docker-content-digest"),
            Some("sha256:m")
        );
        assert_eq!(header(&m.headers, "content-type"), Some("t/m"));
        let auth = [
            ("Authorization".to_string(), "Bearer ok".to_string()),
            ("Accept".to_string(), "t/other".to_string()),
        ];
        assert_eq!(
            answer(&c, &Open, "GET", "/v2/r/manifests/v1", &auth).status,
            404
        );
        let head = answer(&c, &Open, "HEAD", "/v2/r/blobs/sha256:l", &auth);
        assert_eq!(
            (head.status, head.length, head.body.is_none()),
            (200, 7, true)
        );
        let layer = get(&c, "/v2/r/blobs/sha256:l");
        assert_eq!(body(&layer)["errors"][0]["code"], "BLOB_UNKNOWN");
        let elsewhere = get(&c, "/v2/none/blobs/sha256:l");
        assert_eq!(body(&elsewhere)["errors"][0]["code"], "NAME_UNKNOWN");
    }
}
