// The service's health in the page's header, from GET <api>/health (no token needed, so it
// shows on the login form too): when the served data was collected and how the collector is
// doing ("collector ok", a crawl running, stale data, the last error). Owns #health only.
//
// /health (src/registry/status.rs `judge`, src/server/mod.rs `health_response`):
//   200 {status: "ok", last_success: <unix s | null>, snapshot_timestamp, repositories, tags,
//        crawl_running_for: <s | null>, warning?: "crawl running for N s, longer than usual ..."}
//   503 {status: "unavailable", reason: "no data yet" | "stale: last success at <RFC 3339>"
//        (either may end "; crawl running for N s..."), last_error: <one line | null>,
//        crawl_running_for}
//   either may carry projects: {mode, status: ok|off|refused|failed, projects, message}
// The line is not a live region: it is refreshed every 30 s and would keep interrupting a
// screen reader; the state is in its words, not only in its colour.

import { $, ago, apiUrl, num } from './common.js';

function duration(s) {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

const capital = (s) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * What to show for a /health body: {kind: 'ok'|'warn'|'error', text}. `loaded` is the
 * timestamp of the data the page shows (null before any), to say when newer data is served.
 */
export function describe(h, loaded, nowSeconds) {
  const parts = [];
  let kind;
  if (h && h.status === 'ok') {
    kind = 'ok';
    const ts = num(h.snapshot_timestamp);
    if (ts !== null) parts.push(`Collected ${ago(Math.max(0, nowSeconds - ts))}`);
    const running = num(h.crawl_running_for);
    if (typeof h.warning === 'string' && h.warning) {
      kind = 'warn';
      parts.push(h.warning);
    } else if (running !== null) {
      parts.push(`collector ok, crawl running for ${duration(running)}`);
    } else if (num(h.last_success) !== null) {
      parts.push('collector ok');
    } else {
      // No crawl of this run has finished: the collector is off, or the state file's data
      // is still fresh enough.
      parts.push('ok, data from the state file');
    }
    if (ts !== null && loaded !== null && ts > loaded + 0.5) parts.push('newer data available: Refresh');
  } else if (h && h.status === 'unavailable') {
    kind = 'error';
    parts.push(capital(typeof h.reason === 'string' && h.reason ? h.reason : 'unavailable'));
    if (typeof h.last_error === 'string' && h.last_error) parts.push(`last error: ${h.last_error}`);
  } else {
    return null;
  }
  // GitLab's projects ([registry] projects): said only when they could not be read.
  const p = h.projects;
  if (p && (p.status === 'refused' || p.status === 'failed')) {
    parts.push(p.status === 'refused' ? 'GitLab refused the project API: no projects' : 'GitLab projects: the previous crawl\'s kept');
  }
  return { kind, text: parts.join(' · ') };
}

/** Wires #health; `loaded()` gives the timestamp of the data on show (or null). */
export function initHealth({ loaded }) {
  let busy = false;

  function show(d) {
    const p = $('health');
    if (!d) {
      p.hidden = true;
      return;
    }
    $('health-text').textContent = d.text;
    p.className = `health ${d.kind}`;
    p.hidden = false;
  }

  async function check() {
    if (busy) return;
    busy = true;
    try {
      let resp;
      try {
        resp = await fetch(apiUrl('health'), {
          headers: { Accept: 'application/json' }, credentials: 'omit', cache: 'no-store', redirect: 'error',
        });
      } catch (e) {
        show({ kind: 'error', text: 'The service cannot be reached' });
        return;
      }
      let body = null;
      try {
        body = await resp.json();
      } catch (e) {
        body = null; // not ours (a proxy's page): say nothing rather than something wrong
      }
      show(describe(body, loaded(), Date.now() / 1000));
    } finally {
      busy = false;
    }
  }

  document.addEventListener('visibilitychange', () => { if (!document.hidden) check(); });
  return { check };
}
