//! The built-in dashboard: one page (HTML, CSS, JS in `src/server/dashboard/`, embedded at compile
//! time) that a browser user opens at `<prefix>/`. This module owns those files, the paths they
//! answer on and the headers they are served with (a strict Content-Security-Policy, so the
//! page can run only its own script and load nothing from another origin).
//!
//! It does no I/O and knows nothing about the API: the page talks to the API like any other
//! client (`/auth_token`, then Bearer requests), relative to its own URL so `server_prefix`
//! works. The assets need no authentication: they hold no data.

/// One embedded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Asset {
    pub(crate) content_type: &'static str,
    pub(crate) body: &'static [u8],
}

/// What a path below the prefix is, for the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Serve this file.
    Asset(Asset),
    /// The prefix itself without the trailing slash (`/usage`): the page must be opened at
    /// `/usage/`, or its relative URLs would resolve one level too high.
    AddSlash,
}

/// Every dashboard response carries these (the page's own and its assets').
pub(crate) const HEADERS: [(&str, &str); 4] = [
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    // Small files, and a new binary may bring new ones: revalidate each time.
    ("Cache-Control", "no-cache"),
];

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// One row of [`ASSETS`] (a function, so each row is one line).
const fn asset(content_type: &'static str, body: &'static [u8]) -> Asset {
    Asset { content_type, body }
}

const PAGE: Asset = asset("text/html; charset=utf-8", include_bytes!("index.html"));

/// The files below `/dashboard/`. The scripts are ES modules: app.js imports the others.
const ASSETS: [(&str, Asset); 9] = [
    ("app.js", asset(JS, include_bytes!("app.js"))),
    ("common.js", asset(JS, include_bytes!("common.js"))),
    ("cleanup.js", asset(JS, include_bytes!("cleanup.js"))),
    ("storage.js", asset(JS, include_bytes!("storage.js"))),
    ("health.js", asset(JS, include_bytes!("health.js"))),
    ("policies.js", asset(JS, include_bytes!("policies.js"))),
    ("history.js", asset(JS, include_bytes!("history.js"))),
    ("app.css", asset(CSS, include_bytes!("app.css"))),
    ("icon.svg", asset(SVG, include_bytes!("icon.svg"))),
];

/// Whether `rest` (the request path after the prefix, without the query) is one of the
/// dashboard's paths, and what to answer. `None`: not the dashboard's (the API's or nobody's).
pub(crate) fn lookup(rest: &str) -> Option<Lookup> {
    match rest {
        "" => Some(Lookup::AddSlash),
        "/" | "/index.html" => Some(Lookup::Asset(PAGE)),
        _ => {
            let name = rest.strip_prefix("/dashboard/")?;
            ASSETS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, a)| Lookup::Asset(*a))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(a: Lookup) -> (&'static str, String) {
        match a {
            Lookup::Asset(a) => (
                a.content_type,
                String::from_utf8(a.body.to_vec()).expect("assets are UTF-8"),
            ),
            Lookup::AddSlash => panic!("not an asset"),
        }
    }

    #[test]
    fn paths() {
        assert_eq!(lookup(""), Some(Lookup::AddSlash));
        assert_eq!(lookup("/"), lookup("/index.html"));
        assert!(text(lookup("/").unwrap()).0.starts_with("text/html"));
        assert!(text(lookup("/dashboard/app.js").unwrap())
            .0
            .starts_with("text/javascript"));
        assert!(text(lookup("/dashboard/app.css").unwrap())
            .0
            .starts_with("text/css"));
        for (name, _) in ASSETS {
            assert!(lookup(&format!("/dashboard/{name}")).is_some(), "{name}");
        }
        for other in [
            "/dashboard/",
            "/dashboard",
            "/dashboard/../app.js",
            "/dashboard/app.js/",
            "/index.htm",
            "/repositories",
            "/auth_token",
        ] {
            assert_eq!(lookup(other), None, "{other}");
        }
    }

    #[test]
    fn the_page_loads_only_its_own_files_and_runs_no_inline_script() {
        let (_, html) = text(lookup("/").unwrap());
        // relative URLs, so the page works below any server_prefix
        assert!(html.contains("src=\"dashboard/app.js\""));
        assert!(html.contains("href=\"dashboard/app.css\""));
        for forbidden in ["http:", "https:", "javascript:", "style=", "<style"] {
            assert!(!html.contains(forbidden), "{forbidden:?} in the page");
        }
        // no inline event handler attributes (` onclick=` and the like)
        let handlers = html
            .split(" on")
            .skip(1)
            .filter(|rest| {
                let word: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                !word.is_empty() && rest[word.len()..].starts_with('=')
            })
            .count();
        assert_eq!(handlers, 0, "inline event handlers in the page");
        assert_eq!(html.matches("<script").count(), 1, "one external script");
        for (name, asset) in ASSETS.iter().filter(|(n, _)| n.ends_with(".js")) {
            let (_, js) = text(Lookup::Asset(*asset));
            for forbidden in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
            ] {
                assert!(
                    !js.contains(forbidden),
                    "{name}: names are rendered as text only"
                );
            }
            assert!(!js.contains("eval("), "{name}");
            assert!(
                !js.contains("document.cookie"),
                "{name}: the token is never a cookie"
            );
            // imports are relative, so they come from this same directory
            for line in js.lines().filter(|l| l.contains(" from '")) {
                assert!(line.contains(" from './"), "{name}: {line}");
            }
        }
    }

    #[test]
    fn the_policy_allows_only_the_same_origin() {
        let csp = HEADERS
            .iter()
            .find(|(k, _)| *k == "Content-Security-Policy")
            .unwrap()
            .1;
        assert!(csp.starts_with("default-src 'none';"));
        assert!(csp.contains("script-src 'self';"));
        assert!(!csp.contains("unsafe"));
    }
}
