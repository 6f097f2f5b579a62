// The "Policies" panel: what each GitLab project's clean-up policy deletes at its next run and
// what garbage collection then frees, and where switching a policy on would pay most. Owns
// #panel-policies; the project links in the other tables are app.js's (projectLink here).
//
// GET <api>/policies?sort=..&order=desc&limit=N (src/cleanup/policies_view.rs) ->
//   {timestamp, freed_bytes, tags_deleted, projects (enabled policies), total,
//    _embedded: {items: [{project, id, web_url, policy: project|gitlab_default, enabled,
//      cadence, next_run_at, keep_n, older_than, name_regex, name_regex_keep, protected,
//      evaluated_at, error?, freed_bytes, tags_deleted, freed_bytes_if_enabled?,
//      tags_deleted_if_enabled?, repositories: [...]}]}}
// 404 from an older service: the tab is hidden. GET <api>/health's `projects`
// ({status: ok|off|refused|failed, message}) says why there may be no projects.

import {
  $, api, apiUrl, el, embeddedItems, fmtBytes, fmtCount, isAuthError, num,
} from './common.js';

/** How many projects each table shows. */
const SHOWN = 20;

/** A link to a GitLab page, only for http(s) URLs (never javascript: or data:). */
export function projectLink(url, text) {
  if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) return null;
  return el('a', {
    href: url, className: 'gitlab', target: '_blank', rel: 'noopener noreferrer',
    title: `Open ${text} in GitLab`,
  }, text);
}

function policyText(it) {
  const parts = [];
  if (it.name_regex) parts.push(`delete ${it.name_regex}`);
  if (it.name_regex_keep) parts.push(`keep ${it.name_regex_keep}`);
  if (num(it.keep_n) !== null) parts.push(`keep newest ${it.keep_n}`);
  if (it.older_than) parts.push(`older than ${it.older_than}`);
  if (it.cadence) parts.push(`every ${it.cadence}`);
  return parts.join(', ') || 'deletes nothing';
}

function nextRun(it) {
  if (typeof it.next_run_at !== 'string' || !it.next_run_at) return '–';
  const t = Date.parse(it.next_run_at);
  return isNaN(t) ? it.next_run_at : new Date(t).toLocaleString('en-GB');
}

/** Wires the panel; `onAuthError(e)` is called when the session is no longer valid. */
export function initPolicies({ onAuthError }) {
  let body = null;
  let wins = [];
  let note = '';
  let generation = 0;

  function row(it, enabledView) {
    const name = projectLink(it.web_url, String(it.project)) || String(it.project);
    const cells = [el('td', null, name)];
    if (enabledView) {
      cells.push(el('td', { text: nextRun(it) }));
      cells.push(el('td', { className: 'num', text: fmtCount(num(it.tags_deleted)) }));
      cells.push(el('td', { className: 'num', text: fmtBytes(num(it.freed_bytes)) }));
    } else {
      cells.push(el('td', { text: it.policy === 'gitlab_default' ? 'none (GitLab\'s default shown)' : 'disabled' }));
      cells.push(el('td', { className: 'num', text: fmtCount(num(it.tags_deleted_if_enabled)) }));
      cells.push(el('td', { className: 'num', text: fmtBytes(num(it.freed_bytes_if_enabled)) }));
    }
    cells.push(el('td', { className: 'small', text: it.error ? `Error: ${it.error}` : policyText(it) }));
    return el('tr', null, ...cells);
  }

  function render() {
    if (!body) return;
    $('po-freed').textContent = fmtBytes(num(body.freed_bytes));
    $('po-deleted').textContent = fmtCount(num(body.tags_deleted));
    $('po-projects').textContent = fmtCount(num(body.projects));
    $('po-note').textContent = note;
    const items = embeddedItems(body);
    const enabled = items.filter((it) => it.enabled === true);
    const on = $('po-body');
    on.replaceChildren(...enabled.slice(0, SHOWN).map((it) => row(it, true)));
    $('po-table').hidden = enabled.length === 0;
    const off = $('po-wins-body');
    off.replaceChildren(...wins.slice(0, SHOWN).map((it) => row(it, false)));
    $('po-wins').hidden = wins.length === 0;
  }

  async function projectsNote() {
    try {
      const r = await fetch(apiUrl('health'), { headers: { Accept: 'application/json' }, credentials: 'omit', cache: 'no-store' });
      const h = await r.json();
      const p = h && h.projects;
      if (!p || p.status === 'ok') return '';
      if (p.status === 'off') return 'GitLab projects are not read ([registry] projects = false).';
      return `GitLab projects: ${p.status}${p.message ? ` (${p.message})` : ''}.`;
    } catch (e) {
      return '';
    }
  }

  async function load() {
    generation += 1;
    const mine = generation;
    let enabled;
    let all;
    try {
      [enabled, all] = await Promise.all([
        api('policies?sort=freed_bytes&order=desc&limit=100'),
        api('policies?sort=freed_bytes_if_enabled&order=desc&limit=200'),
      ]);
    } catch (e) {
      if (mine !== generation) return;
      if (isAuthError(e)) onAuthError(e);
      else if (e.status === 404) $('tab-policies').hidden = true;
      return;
    }
    const n = await projectsNote();
    if (mine !== generation) return;
    $('tab-policies').hidden = false;
    body = enabled;
    note = n;
    const items = embeddedItems(all);
    wins = items.filter((it) => !it.enabled && !it.error && num(it.freed_bytes_if_enabled) > 0);
    render();
  }

  function reset() {
    generation += 1;
    body = null;
    wins = [];
  }

  return { load, render, reset };
}
