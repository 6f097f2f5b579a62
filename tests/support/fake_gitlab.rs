//! A fake of GitLab's REST API on 127.0.0.1 (on [`MiniServer`]), answering as GitLab's
//! documentation says: `GET /api/v4/projects` with offset pagination (`X-Page`, `X-Per-Page`,
//! `X-Next-Page` empty on the last page, `X-Total`, `X-Total-Pages`, `Link`) or keyset
//! pagination (`pagination=keyset&order_by=id`: `Link` with `id_after` only), a `per_page`
//! cap, `PRIVATE-TOKEN` checked (401 `{"message": "401 Unauthorized"}` for an unknown token,
//! 403 `insufficient_scope` when the token has `read_registry` only), and
//! `GET /api/v4/projects/:id/registry/protection/tag/rules` (or Grape's 404 for an unknown
//! route, as on GitLab before 17.x). Faults: a page that answers 500, a page that hangs.
//! Every request is logged with the `PRIVATE-TOKEN` it carried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::fake_registry::{query_param, MiniServer, Reply, Req, Resp};

/// The one token GitLab knows: the crawl's, so the real registry's issuer takes it too.
pub const API_TOKEN: &str = super::real_registry::CRAWL_TOKEN;

/// What the fake serves and how; change it between crawls.
pub struct GitlabState {
    /// Projects as GitLab lists them, in id order.
    pub projects: Vec<Value>,
    /// Project id → its tag protection rules' `tag_name_pattern`s.
    pub rules: HashMap<u64, Vec<String>>,
    /// GitLab's own cap on `per_page` (100 on gitlab.com; lower on some instances).
    pub max_per_page: usize,
    /// Whether `pagination=keyset` is understood (else offset pagination is served).
    pub keyset: bool,
    /// Whether offset pages carry `Link` (some proxies drop it: `X-Next-Page` only).
    pub links: bool,
    /// Whether the protection rules API exists (GitLab 17.x and later).
    pub rules_api: bool,
    /// The n-th page (1-based) of the project list answers 500.
    pub fail_page: Option<usize>,
    /// The n-th page hangs this long before closing the connection.
    pub slow_page: Option<(usize, Duration)>,
    /// The token's scopes: `read_api` (default), `read_registry` only (403 on the API), or
    /// anything else for a revoked token (401).
    pub token_scope: &'static str,
    /// The first page's `Link: rel="next"` points here instead (a hostile or broken proxy).
    pub next_override: Option<String>,
    /// Each request: path and query, and the `PRIVATE-TOKEN` it carried.
    pub log: Vec<(String, Option<String>)>,
}

impl Default for GitlabState {
    fn default() -> Self {
        GitlabState {
            projects: Vec::new(),
            rules: HashMap::new(),
            max_per_page: 100,
            keyset: true,
            links: true,
            rules_api: true,
            fail_page: None,
            slow_page: None,
            token_scope: "read_api",
            next_override: None,
            log: Vec::new(),
        }
    }
}

pub struct FakeGitlab {
    pub server: MiniServer,
    pub state: Arc<Mutex<GitlabState>>,
}

/// A project as `GET /api/v4/projects` lists it (a representative subset of its fields).
pub fn project_json(base: &str, id: u64, path: &str, policy: Option<Value>) -> Value {
    let (ns, name) = path.rsplit_once('/').unwrap_or(("", path));
    json!({
        "id": id,
        "description": null,
        "name": name,
        "name_with_namespace": path.replace('/', " / "),
        "path": name,
        "path_with_namespace": path,
        "created_at": "2025-01-01T00:00:00.000Z",
        "default_branch": "main",
        "ssh_url_to_repo": format!("git@gitlab.example:{path}.git"),
        "http_url_to_repo": format!("{base}/{path}.git"),
        "web_url": format!("{base}/{path}"),
        "namespace": {"id": id + 1000, "name": ns, "path": ns, "kind": "group", "full_path": ns},
        "container_registry_enabled": true,
        "container_registry_access_level": "enabled",
        "container_expiration_policy": policy,
        "archived": false,
        "visibility": "private",
        "last_activity_at": "2026-11-30T10:00:00.000Z",
    })
}

/// A `container_expiration_policy` object.
pub fn policy_json(
    enabled: bool,
    keep_n: Option<u64>,
    older_than: Option<&str>,
    name_regex: &str,
    name_regex_keep: Option<&str>,
) -> Value {
    json!({
        "cadence": "1month",
        "enabled": enabled,
        "keep_n": keep_n,
        "older_than": older_than,
        "name_regex": name_regex,
        "name_regex_keep": name_regex_keep,
        "next_run_at": "2026-12-04T01:00:00.000Z",
    })
}

impl FakeGitlab {
    pub fn start() -> FakeGitlab {
        let state = Arc::new(Mutex::new(GitlabState::default()));
        let s = state.clone();
        let base = Arc::new(Mutex::new(String::new()));
        let b = base.clone();
        let server = MiniServer::start(Arc::new(move |rq: &Req| {
            let base = b.lock().unwrap().clone();
            answer(&s, &base, rq)
        }));
        *base.lock().unwrap() = server.url();
        FakeGitlab { server, state }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Adds a project (ids must grow).
    pub fn add_project(&self, id: u64, path: &str, policy: Option<Value>) {
        let v = project_json(&self.url(), id, path, policy);
        self.state.lock().unwrap().projects.push(v);
    }

    pub fn set_rules(&self, id: u64, patterns: &[&str]) {
        let p = patterns.iter().map(|s| s.to_string()).collect();
        self.state.lock().unwrap().rules.insert(id, p);
    }

    /// Requests whose path starts with `prefix`.
    pub fn requests(&self, prefix: &str) -> usize {
        let st = self.state.lock().unwrap();
        st.log.iter().filter(|(p, _)| p.starts_with(prefix)).count()
    }
}

fn json_resp(status: u16, body: Value) -> Resp {
    Resp::json(status, body.to_string())
}

fn answer(state: &Mutex<GitlabState>, base: &str, rq: &Req) -> Reply {
    let mut st = state.lock().unwrap();
    let token = rq.header("private-token").map(String::from);
    st.log.push((rq.url.clone(), token.clone()));
    match token.as_deref() {
        Some(API_TOKEN) if st.token_scope == "read_api" => {}
        Some(API_TOKEN) if st.token_scope == "read_registry" => {
            return Reply::Send(
                json_resp(
                    403,
                    json!({"error": "insufficient_scope",
                       "error_description": "The request requires higher privileges than provided by the access token.",
                       "scope": "api read_api"}),
                )
                .header(
                    "WWW-Authenticate",
                    "Bearer realm=\"Protected by OAuth 2.0\", error=\"insufficient_scope\", \
                     error_description=\"The request requires higher privileges than provided \
                     by the access token.\", scope=\"api read_api\"",
                ),
            )
        }
        _ => return Reply::Send(json_resp(401, json!({"message": "401 Unauthorized"}))),
    }
    let path = rq.path().to_string();
    if path == "/api/v4/projects" {
        return projects_page(&st, base, rq.query());
    }
    if let Some(id) = path
        .strip_prefix("/api/v4/projects/")
        .and_then(|r| r.strip_suffix("/registry/protection/tag/rules"))
    {
        if !st.rules_api {
            return Reply::Send(json_resp(404, json!({"error": "404 Not Found"})));
        }
        let id: u64 = id.parse().unwrap_or(0);
        if !st.projects.iter().any(|p| p["id"] == id) {
            return Reply::Send(json_resp(404, json!({"message": "404 Project Not Found"})));
        }
        let rules: Vec<Value> = st
            .rules
            .get(&id)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, p)| {
                json!({"id": i + 1, "project_id": id, "tag_name_pattern": p,
                   "minimum_access_level_for_push": "maintainer",
                   "minimum_access_level_for_delete": "maintainer"})
            })
            .collect();
        return Reply::Send(json_resp(200, Value::Array(rules)));
    }
    Reply::Send(json_resp(404, json!({"error": "404 Not Found"})))
}

fn projects_page(st: &GitlabState, base: &str, query: &str) -> Reply {
    let per_page = query_param(query, "per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, st.max_per_page);
    let keyset = st.keyset && query_param(query, "pagination") == Some("keyset");
    let total = st.projects.len();
    let (start, page_no) = if keyset {
        let after: u64 = query_param(query, "id_after")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let start = st
            .projects
            .iter()
            .position(|p| p["id"].as_u64().unwrap_or(0) > after)
            .unwrap_or(total);
        (start, start / per_page + 1)
    } else {
        let page: usize = query_param(query, "page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
            .max(1);
        ((page - 1) * per_page, page)
    };
    if st.fail_page == Some(page_no) {
        return Reply::Send(json_resp(
            500,
            json!({"message": "500 Internal Server Error"}),
        ));
    }
    if let Some((n, d)) = st.slow_page {
        if n == page_no {
            return Reply::Hang(d);
        }
    }
    let items: Vec<Value> = st
        .projects
        .iter()
        .skip(start)
        .take(per_page)
        .cloned()
        .collect();
    let end = start + items.len();
    let url = |extra: String| {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !p.starts_with("page=") && !p.starts_with("id_after=") && !p.is_empty())
            .filter(|p| !p.starts_with("per_page="))
            .collect();
        format!(
            "{base}/api/v4/projects?{}&per_page={per_page}&{extra}",
            kept.join("&")
        )
    };
    let mut resp = json_resp(200, Value::Array(items.clone()));
    if let Some(next) = &st.next_override {
        return Reply::Send(resp.header("Link", &format!("<{next}>; rel=\"next\"")));
    }
    if keyset {
        if end < total {
            let last = items.last().and_then(|p| p["id"].as_u64()).unwrap_or(0);
            resp = resp.header(
                "Link",
                &format!("<{}>; rel=\"next\"", url(format!("id_after={last}"))),
            );
        }
        return Reply::Send(resp);
    }
    let pages = total.div_ceil(per_page).max(1);
    let next = if end < total {
        (page_no + 1).to_string()
    } else {
        String::new()
    };
    let prev = if page_no > 1 {
        (page_no - 1).to_string()
    } else {
        String::new()
    };
    let mut links = Vec::new();
    if end < total {
        links.push(format!(
            "<{}>; rel=\"next\"",
            url(format!("page={}", page_no + 1))
        ));
    }
    links.push(format!("<{}>; rel=\"first\"", url("page=1".into())));
    links.push(format!("<{}>; rel=\"last\"", url(format!("page={pages}"))));
    resp = resp
        .header("X-Page", &page_no.to_string())
        .header("X-Per-Page", &per_page.to_string())
        .header("X-Next-Page", &next)
        .header("X-Prev-Page", &prev)
        .header("X-Total", &total.to_string())
        .header("X-Total-Pages", &pages.to_string());
    if st.links {
        resp = resp.header("Link", &links.join(", "));
    }
    Reply::Send(resp)
}
