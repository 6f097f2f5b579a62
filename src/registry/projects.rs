//! GitLab's REST API, as the collector reads it with each crawl (`[registry] projects`): every
//! project (`GET /api/v4/projects`, keyset pagination, every page) with its clean-up policy,
//! and the tag protection rules of the projects whose enabled policy applies to repositories
//! of the registry (`GET /api/v4/projects/:id/registry/protection/tag/rules`).
//!
//! The token goes in `PRIVATE-TOKEN`, only to origins that [`Client::check_realm`] trusts with
//! it (the same rules as for the registry's token endpoint), never to a redirect target
//! elsewhere; requests are debug-logged by the client without it. A refusal (401/403) in
//! `auto` mode is warned about once and the crawl goes on without projects; any other failure
//! (timeout, 5xx, a broken page) keeps the previous crawl's projects. It knows nothing about
//! snapshots beyond the plain [`Project`] data it returns.
//!
//! Not incremental, by choice: `last_activity_after` misses policy changes (they are no
//! activity) and deleted projects, so every crawl lists all projects again; keyset pagination
//! (`pagination=keyset&order_by=id`) keeps that cheap for GitLab at any depth and stable while
//! projects are created. Without keyset support GitLab falls back to offset pages, which are
//! followed through `Link` or `X-Next-Page` just the same.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Deserialize;

use super::client::{lock, next_link, origin, resolve, Client, HttpError, Method, Reply};
use super::token::RealmError;
use super::Kind;
use crate::snapshot::{ExpirationPolicy, Project};

/// Projects asked for per page: GitLab's maximum (an instance may cap it lower; the pages
/// are followed whatever their size).
pub(crate) const PER_PAGE: usize = 100;
/// Pages followed at most (a million projects at 100 a page): beyond, GitLab seems to loop.
const MAX_PAGES: usize = 10_000;

/// `[registry] projects`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProjectsMode {
    /// Read them; if GitLab refuses the token, warn once and go on without.
    #[default]
    Auto,
    /// Read them; a refusal is warned about at every crawl.
    On,
    /// Never ask GitLab.
    Off,
}

impl ProjectsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectsMode::Auto => "auto",
            ProjectsMode::On => "true",
            ProjectsMode::Off => "false",
        }
    }
}

/// How the last reading of projects went, for `/health` and the dashboard. Messages hold no
/// credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProjectsState {
    /// `[registry] projects`.
    pub mode: ProjectsMode,
    /// `ok`, `off` (not asked), `refused` (GitLab refused the token) or `failed` (the
    /// previous projects are kept).
    pub status: &'static str,
    /// Projects in the snapshot.
    pub projects: usize,
    /// What went wrong, and what to do.
    pub message: Option<String>,
}

/// Why GitLab's project API gave nothing usable.
#[derive(Debug)]
pub(crate) enum ProjectsError {
    /// 401 or 403: the token may not read the API (it needs `read_api`).
    Refused {
        what: String,
        status: u16,
    },
    /// Another status after retries.
    Status {
        what: String,
        status: u16,
    },
    /// 200 with a body that is not what GitLab sends.
    BadResponse {
        what: String,
        reason: String,
    },
    Http(HttpError),
    /// The URL's origin may not receive the token.
    Untrusted(RealmError),
    /// The pages loop or never end.
    Loops {
        what: String,
    },
}

impl fmt::Display for ProjectsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProjectsError::Refused { what, status: 404 } => write!(
                f,
                "GitLab has no project API at {what} (404): check [registry] gitlab_base_url \
                 (GitLab's external_url), or set [registry] projects = false"
            ),
            ProjectsError::Refused { what, status } => write!(
                f,
                "GitLab refused the access token for {what} ({status}): give [registry] \
                 access_token the read_api scope (of an administrator, to see every project), \
                 or set [registry] projects = false"
            ),
            ProjectsError::Status { what, status } => write!(
                f,
                "GitLab answered {status} for {what}: check [registry] gitlab_base_url and that \
                 GitLab is up"
            ),
            ProjectsError::BadResponse { what, reason } => write!(
                f,
                "GitLab's answer to {what} is not a project list ({reason}): does [registry] \
                 gitlab_base_url point at GitLab?"
            ),
            ProjectsError::Http(e) => write!(f, "GitLab's project API: {e}"),
            ProjectsError::Untrusted(e) => write!(
                f,
                "GitLab's project API was not asked, so the access token stays home: {e}"
            ),
            ProjectsError::Loops { what } => {
                write!(
                    f,
                    "GitLab's project list {what} does not end: it seems to loop"
                )
            }
        }
    }
}

/// A project as `GET /api/v4/projects` lists it (the fields we read).
#[derive(Deserialize)]
struct ApiProject {
    id: u64,
    path_with_namespace: String,
    #[serde(default)]
    web_url: String,
    #[serde(default)]
    container_expiration_policy: Option<ExpirationPolicy>,
}

#[derive(Deserialize)]
struct ApiRule {
    tag_name_pattern: String,
}

/// One page of the project list.
fn parse_projects(body: &[u8]) -> Result<Vec<Project>, String> {
    let list: Vec<ApiProject> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(list
        .into_iter()
        .map(|p| Project {
            id: p.id,
            path: p.path_with_namespace,
            web_url: p.web_url,
            policy: p.container_expiration_policy,
            protected: Vec::new(),
        })
        .collect())
}

fn parse_rules(body: &[u8]) -> Result<Vec<String>, String> {
    let list: Vec<ApiRule> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(list.into_iter().map(|r| r.tag_name_pattern).collect())
}

/// The next page: `Link: <..>; rel="next"` (keyset and offset pagination), else
/// `X-Next-Page: N` (empty on the last page) as `page=N` on the current URL.
fn next_page(reply: &Reply, current: &str) -> Option<String> {
    if let Some(next) = reply.link.as_deref().and_then(next_link) {
        return resolve(next, current);
    }
    let n = reply
        .next_page
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())?;
    let n: u64 = n.parse().ok()?;
    let mut url = url::Url::parse(current).ok()?;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("page", &n.to_string());
    Some(url.into())
}

/// A URL as logs and messages show it: its path and query (GitLab's origin is configured).
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        },
        Err(_) => url.to_string(),
    }
}

/// The GitLab side of [`Client`].
impl Client {
    /// `GET url` with `PRIVATE-TOKEN`, if the URL's origin is trusted with the token.
    fn gitlab_get(&self, kind: Kind, url: &str) -> Result<Reply, ProjectsError> {
        self.check_realm(url).map_err(ProjectsError::Untrusted)?;
        let auth = (!self.credentials.access_token.is_empty()).then(|| super::token::AuthHeader {
            name: "PRIVATE-TOKEN",
            value: self.credentials.access_token.clone(),
            origin: origin(url),
        });
        self.execute(
            kind,
            Method::Get,
            url,
            auth.as_ref(),
            Some("application/json"),
        )
        .map_err(ProjectsError::Http)
    }

    /// Every project, following the pages.
    fn list_projects(&self) -> Result<Vec<Project>, ProjectsError> {
        let mut url = format!(
            "{}/api/v4/projects?pagination=keyset&order_by=id&sort=asc&per_page={PER_PAGE}",
            self.gitlab_base_url
        );
        let mut projects = Vec::new();
        let mut visited = HashSet::new();
        for _ in 0..MAX_PAGES {
            let what = format!("GET {}", shown(&url));
            if !visited.insert(url.clone()) {
                return Err(ProjectsError::Loops { what });
            }
            let reply = self.gitlab_get(Kind::Projects, &url)?;
            match reply.status {
                200 => {}
                401 | 403 | 404 => {
                    return Err(ProjectsError::Refused {
                        what,
                        status: reply.status,
                    })
                }
                status => return Err(ProjectsError::Status { what, status }),
            }
            let page = parse_projects(&reply.body)
                .map_err(|reason| ProjectsError::BadResponse { what, reason })?;
            projects.extend(page);
            match next_page(&reply, &url) {
                Some(next) => url = next,
                None => return Ok(projects),
            }
        }
        Err(ProjectsError::Loops {
            what: "GET /api/v4/projects".into(),
        })
    }

    /// One project's tag protection patterns: `Ok(None)` when GitLab has no such rules
    /// for it (404, 403: an older GitLab, or a registry without the metadata database).
    /// `Err(NoEndpoint)` when the endpoint does not exist at all (ask no other project).
    fn protection_rules(&self, id: u64) -> Result<Option<Vec<String>>, RulesError> {
        let url = format!(
            "{}/api/v4/projects/{id}/registry/protection/tag/rules",
            self.gitlab_base_url
        );
        let reply = self
            .gitlab_get(Kind::ProtectionRules, &url)
            .map_err(RulesError::Failed)?;
        match reply.status {
            200 => parse_rules(&reply.body).map(Some).map_err(|reason| {
                RulesError::Failed(ProjectsError::BadResponse {
                    what: format!("GET /api/v4/projects/{id}/registry/protection/tag/rules"),
                    reason,
                })
            }),
            // Grape's answer for a route it does not know, unlike a missing project's
            // `{"message": "404 Project Not Found"}`.
            404 if is_unknown_route(&reply.body) => Err(RulesError::NoEndpoint),
            403 | 404 => Ok(None),
            status => Err(RulesError::Failed(ProjectsError::Status {
                what: format!("GET /api/v4/projects/{id}/registry/protection/tag/rules"),
                status,
            })),
        }
    }
}

fn is_unknown_route(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct E {
        error: Option<String>,
    }
    serde_json::from_slice::<E>(body)
        .ok()
        .and_then(|e| e.error)
        .is_some_and(|e| e.starts_with("404"))
}

enum RulesError {
    /// This GitLab has no tag protection API.
    NoEndpoint,
    Failed(ProjectsError),
}

/// Reads projects with each crawl and remembers what it warned about.
pub(crate) struct ProjectsReader {
    mode: ProjectsMode,
    /// Threads for the rules requests (`[registry] concurrency`).
    concurrency: usize,
    warned_refusal: AtomicBool,
}

impl ProjectsReader {
    pub(crate) fn new(mode: ProjectsMode, concurrency: usize) -> ProjectsReader {
        ProjectsReader {
            mode,
            concurrency: concurrency.max(1),
            warned_refusal: AtomicBool::new(false),
        }
    }

    /// The projects for the crawl that just read `repositories` (names): GitLab's, or the
    /// `previous` crawl's when GitLab fails, or none when it refuses or `projects = false`.
    pub(crate) fn read(
        &self,
        client: &Client,
        previous: &[Project],
        repositories: &[&str],
    ) -> (Vec<Project>, ProjectsState) {
        let state = |status, projects, message| ProjectsState {
            mode: self.mode,
            status,
            projects,
            message,
        };
        if self.mode == ProjectsMode::Off || client.gitlab_base_url.is_empty() {
            return (Vec::new(), state("off", 0, None));
        }
        let mut projects = match client.list_projects() {
            Ok(p) => p,
            Err(e @ ProjectsError::Refused { .. }) => {
                let first = !self.warned_refusal.swap(true, Ordering::SeqCst);
                if first || self.mode == ProjectsMode::On {
                    log::warn!("{e}; going on without GitLab projects");
                }
                return (Vec::new(), state("refused", 0, Some(e.to_string())));
            }
            Err(e) => {
                let msg = format!(
                    "{e}; keeping the {} projects of the previous crawl",
                    previous.len()
                );
                log::warn!("{msg}");
                return (
                    previous.to_vec(),
                    state("failed", previous.len(), Some(msg)),
                );
            }
        };
        self.warned_refusal.store(false, Ordering::SeqCst);
        let asked = self.read_rules(client, &mut projects, previous, repositories);
        log::info!(
            "GitLab: {} projects, tag protection rules of {asked}",
            projects.len()
        );
        let n = projects.len();
        (projects, state("ok", n, None))
    }

    /// Fills in `protected` of the projects whose enabled policy owns a repository; a
    /// project whose rules cannot be read keeps the previous crawl's. Returns how many
    /// projects were asked.
    fn read_rules(
        &self,
        client: &Client,
        projects: &mut Vec<Project>,
        previous: &[Project],
        repositories: &[&str],
    ) -> usize {
        let owners = crate::snapshot::projects::assign(projects, repositories);
        let owning: HashSet<u32> = owners.into_iter().flatten().collect();
        let wanted: Vec<usize> = (0..projects.len())
            .filter(|&i| owning.contains(&(i as u32)))
            .filter(|&i| projects[i].policy.as_ref().is_some_and(|p| p.enabled))
            .collect();
        let before: HashMap<u64, &Vec<String>> =
            previous.iter().map(|p| (p.id, &p.protected)).collect();
        let ids: Vec<u64> = wanted.iter().map(|&i| projects[i].id).collect();
        // One project's patterns; `None`: this GitLab has no such API (ask nobody else).
        let ask = |k: usize| -> Option<Vec<String>> {
            match client.protection_rules(ids[k]) {
                Ok(r) => Some(r.unwrap_or_default()),
                Err(RulesError::NoEndpoint) => None,
                Err(RulesError::Failed(e)) => {
                    let kept = before.get(&ids[k]).map_or(0, |r| r.len());
                    log::warn!(
                        "project {}: {e}; keeping its {kept} tag protection rules of the \
                         previous crawl",
                        ids[k]
                    );
                    Some(before.get(&ids[k]).map(|r| r.to_vec()).unwrap_or_default())
                }
            }
        };
        let found: Mutex<Vec<(usize, Vec<String>)>> = Mutex::new(Vec::new());
        // The first alone: on a GitLab without the API it is the only request.
        match ids.first().map(|_| ask(0)) {
            None => return 0,
            Some(None) => {
                log::info!("GitLab has no tag protection API (before 17.x): no protected tags");
                return 1;
            }
            Some(Some(rules)) => lock(&found).push((wanted[0], rules)),
        }
        let next = AtomicUsize::new(1);
        std::thread::scope(|s| {
            for _ in 0..self.concurrency.min(ids.len() - 1) {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(rules) = ids.get(k).and_then(|_| ask(k)) else {
                        return;
                    };
                    lock(&found).push((wanted[k], rules));
                });
            }
        });
        for (i, rules) in found.into_inner().unwrap_or_else(|e| e.into_inner()) {
            projects[i].protected = rules;
        }
        wanted.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gitlab_page_is_read_with_its_policies() {
        let body = br#"[
          {"id": 3, "description": null, "name": "project", "path": "project",
           "path_with_namespace": "group/project", "web_url": "https://gitlab.example/group/project",
           "container_expiration_policy": {"cadence": "1month", "enabled": true, "keep_n": null,
             "older_than": "30d", "name_regex": ".*", "name_regex_keep": "v1\\.1\\.0",
             "next_run_at": "2026-12-04T01:00:00.000Z"}},
          {"id": 4, "path_with_namespace": "group/old", "web_url": "https://gitlab.example/group/old"}
        ]"#;
        let p = parse_projects(body).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].path, "group/project");
        let pol = p[0].policy.as_ref().unwrap();
        assert!(pol.enabled);
        assert_eq!(pol.keep_n, None);
        assert_eq!(pol.name_regex_keep.as_deref(), Some(r"v1\.1\.0"));
        assert_eq!(pol.next_run_at.as_deref(), Some("2026-12-04T01:00:00.000Z"));
        assert_eq!(p[1].policy, None);
        assert!(parse_projects(b"{\"message\": \"401 Unauthorized\"}").is_err());
        let rules = br#"[{"id": 1, "project_id": 3, "tag_name_pattern": "^v.*",
            "minimum_access_level_for_push": "maintainer", "minimum_access_level_for_delete": "owner"}]"#;
        assert_eq!(parse_rules(rules).unwrap(), ["^v.*"]);
        assert!(is_unknown_route(br#"{"error": "404 Not Found"}"#));
        assert!(!is_unknown_route(
            br#"{"message": "404 Project Not Found"}"#
        ));
    }
}
