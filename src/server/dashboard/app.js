// The dashboard of gitlab-registry-usage-rest: logs in through the API's /auth_token, keeps
// the token in sessionStorage (never a cookie), and shows /repositories and /namespaces as
// sortable, searchable, paged tables. It talks to the API relative to its own URL, so it works
// below any server_prefix. Every name from the API is rendered with textContent, never as HTML.
// No framework, no build step, nothing from another origin (the page's CSP forbids it anyway).
// common.js has the helpers and the API client; cleanup.js the clean-up what-if panel;
// policies.js the Policies panel (and the GitLab project links used in the tables);
// storage.js the storage panel (the registry's own disk); health.js the service's health in
// the header; history.js the growth chart and the "fastest growing" lists (the "since"
// selector here adds a change column from since=).

import {
  $, PAGE_SIZE, UNIT_NAMES, ago, api, display, el, embeddedItems, fmtBytes, fmtCount, fmtDate,
  isAuthError, num, session, setStatus, sizedRow,
} from './common.js';
import { initCleanup } from './cleanup.js';
import { initPolicies, projectLink } from './policies.js';
import { initHealth } from './health.js';
import { initStorage } from './storage.js';
import { fmtChange, initHistory } from './history.js';

const TOKEN_KEY = 'gitlab-registry-usage.token';
const UNITS_KEY = 'gitlab-registry-usage.units';
const SEARCH_DELAY_MS = 120;

const state = {
  repos: [],
  hasExclusive: false,
  timestamp: null,
  namespaces: [],
  tags: new Map(), // repository name -> Promise of its tag list
  retryTimer: null,
  since: null, // {value: '7d', label: '7 days ago'} when a comparison is chosen
  generation: 0, // bumped on log-out, so answers to an old session are dropped
};

// ---------- the token ----------

function b64utf8(s) {
  let bin = '';
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return btoa(bin);
}

// The token's claims, for showing who is logged in; the server is what checks it.
function claims(token) {
  try {
    let part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    part += '='.repeat((4 - (part.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    return {};
  }
}

// ---------- session ----------

function storeToken(token) {
  session.token = token;
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch (e) {
    // storage disabled: the token lives in memory only, which is fine
  }
}

function savedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch (e) {
    return null;
  }
}

function showLogin(message, kind) {
  clearTimeout(state.retryTimer);
  $('app-view').hidden = true;
  $('session').hidden = true;
  $('login-view').hidden = false;
  const err = $('login-error');
  err.textContent = message || '';
  err.className = kind === 'info' ? 'notice' : 'alert';
  err.hidden = !message;
  setStatus('');
  $(($('user').value ? 'password' : 'user')).focus();
}

function forget() {
  state.generation += 1;
  clearTimeout(state.retryTimer);
  storeToken(null);
  state.repos = [];
  state.namespaces = [];
  state.tags.clear();
  state.timestamp = null;
  state.since = null;
  $('since').value = '';
  repoTable.setSince(false);
  nsTable.setSince(false);
  growth.reset();
  repoTable.reset();
  nsTable.reset();
  cleanup.reset();
  storage.reset();
  policies.reset();
  $('who').textContent = '';
  selectTab('tab-repositories');
}

function sessionLost(e) {
  forget();
  if (e.status === 401 && /expired/i.test(e.message)) {
    showLogin('Your session has expired. Please log in again.', 'info');
  } else {
    showLogin(`Your session is no longer valid (${e.message}). Please log in again.`, 'info');
  }
}


async function login(ev) {
  ev.preventDefault();
  const user = $('user').value;
  const password = $('password').value;
  if (!user || !password) {
    showLogin('Enter your user name and your password.');
    return;
  }
  const button = $('login-button');
  button.disabled = true;
  setStatus('Logging in…');
  try {
    const body = await api('auth_token', { basic: b64utf8(`${user}:${password}`) });
    $('password').value = '';
    $('login-error').hidden = true;
    storeToken(body.auth_token);
    enterApp();
  } catch (e) {
    let text;
    const wait = e.retryAfter ? ` Try again in ${e.retryAfter} seconds.` : ' Try again shortly.';
    if (e.status === 401) text = 'Wrong user name or password.';
    else if (e.status === 429) text = `Too many failed logins from your address.${wait}`;
    else if (e.status === 503) {
      text = `The login cannot be checked right now: the directory (LDAP) is unavailable or busy.${wait}`;
    } else if (e.status === 0) text = e.message;
    else text = `The login failed (HTTP ${e.status}: ${e.message}).`;
    showLogin(text);
    if (e.status === 401) $('password').select();
  } finally {
    button.disabled = false;
  }
}

function logout() {
  forget();
  $('password').value = '';
  showLogin('You are logged out.', 'info');
}

function enterApp() {
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('session').hidden = false;
  const sub = claims(session.token).sub;
  $('who').textContent = sub ? `Logged in as ${sub}` : '';
  renderSummary();
  $('main').focus();
  load();
  growth.load();
}

/** The query suffix of the chosen comparison (`&since=7d`), or nothing. */
const sinceQuery = () => (state.since ? `&since=${encodeURIComponent(state.since.value)}` : '');

// A since= the service cannot answer (no history kept): back to no comparison, said once.
function sinceRefused(e) {
  if (!state.since || e.status !== 400) return false;
  state.since = null;
  $('since').value = '';
  repoTable.setSince(false);
  nsTable.setSince(false);
  setStatus(`Changes cannot be shown: ${e.message}`, 'warn');
  return true;
}

// ---------- loading ----------

async function load() {
  clearTimeout(state.retryTimer);
  const generation = state.generation;
  setStatus('Loading the repositories…');
  performance.mark('dashboard:data-requested');
  let coll;
  try {
    // One level: each repository with its totals and tag count (tags load on expanding).
    coll = await api(`repositories?embed=1${sinceQuery()}`);
  } catch (e) {
    if (generation === state.generation && sinceRefused(e)) {
      load();
      return;
    }
    if (generation === state.generation) {
      loadFailed(e, load);
      health.check();
    }
    return;
  }
  if (generation !== state.generation) return;
  performance.mark('dashboard:data-received');
  ingest(coll);
  repoTable.render();
  renderSummary();
  health.check(); // after the data, so "newer data available" compares with what is shown
  // After the browser has painted the first page of rows.
  requestAnimationFrame(() => setTimeout(() => {
    performance.mark('dashboard:first-render');
    performance.measure('dashboard:time-to-first-render', 'dashboard:data-requested', 'dashboard:first-render');
  }, 0));
  setStatus(`Loaded ${fmtCount(state.repos.length)} repositories.`);
  loadNamespaces();
  policies.load();
}

function loadFailed(e, again) {
  if (isAuthError(e)) {
    sessionLost(e);
  } else if (e.status === 503) {
    const wait = Math.min(Math.max(e.retryAfter || 10, 2), 60);
    setStatus(`The service is still collecting its first data (the first crawl of the registry is running). Retrying in ${wait} seconds…`, 'warn');
    state.retryTimer = setTimeout(again, wait * 1000);
  } else {
    setStatus(`The data could not be loaded: ${e.message} Use Refresh to try again.`, 'error');
  }
}


function ingest(coll) {
  state.timestamp = num(coll && coll.timestamp);
  const items = embeddedItems(coll);
  state.hasExclusive = items.some((r) => r && 'exclusive_size' in r);
  state.repos = items.map((r) => ({
    ...sizedRow(r),
    tags: num(r.tags),
    stale_since: num(r.stale_since),
    project: r.project && typeof r.project === 'object' ? r.project : null,
    disk_size_change: num(r.disk_size_change),
    new: r.new === true,
  }));
  state.tags.clear();
  state.namespaces = namespacesFromRepos(state.repos);
  repoTable.setRows(state.repos, state.hasExclusive);
  nsTable.setRows(state.namespaces, false);
}

// The GitLab page of a namespace that is a project or one of its groups: GitLab's base URL
// is a project's web_url without its path, and a group's page is <base>/<group path>.
function groupUrl(ns) {
  for (const r of state.repos) {
    const p = r.project;
    if (!p || typeof p.path !== 'string' || typeof p.web_url !== 'string') continue;
    if (p.path !== ns && !p.path.startsWith(`${ns}/`)) continue;
    if (!p.web_url.endsWith(`/${p.path}`)) continue;
    return `${p.web_url.slice(0, p.web_url.length - p.path.length)}${ns}`;
  }
  return null;
}

// Namespace totals computed here when the server has no /namespaces: every proper path
// prefix of a repository name, summing the repositories below it (unknown sizes count 0).
function namespacesFromRepos(repos) {
  const by = new Map();
  for (const r of repos) {
    const parts = r.name.split('/');
    for (let i = 1; i < parts.length; i += 1) {
      const name = parts.slice(0, i).join('/');
      let ns = by.get(name);
      if (!ns) {
        ns = { name, key: name.toLowerCase(), size: 0, disk_size: 0, exclusive_size: null, repositories: 0, tags: 0 };
        by.set(name, ns);
      }
      ns.size += r.size || 0;
      ns.disk_size += r.disk_size || 0;
      ns.repositories += 1;
      ns.tags += r.tags || 0;
    }
  }
  return [...by.values()];
}

async function loadNamespaces() {
  const generation = state.generation;
  let body;
  try {
    body = await api(`namespaces?embed=1${sinceQuery()}`);
  } catch (e) {
    if (generation === state.generation && isAuthError(e)) sessionLost(e);
    // 404: an older server; the totals computed from the repositories stay.
    return;
  }
  if (generation !== state.generation) return;
  const items = embeddedItems(body);
  state.namespaces = items.map((n) => ({
    ...sizedRow(n),
    repositories: num(n.repositories),
    tags: num(n.tags),
    disk_size_change: num(n.disk_size_change),
    new: n.new === true,
  }));
  nsTable.setRows(state.namespaces, items.some((n) => n && 'exclusive_size' in n));
  nsTable.render();
  growth.fastest(state.since, state.repos, state.namespaces);
}

function tagsOf(name) {
  let p = state.tags.get(name);
  if (!p) {
    p = api(`repositories/${encodeURIComponent(name)}?embed=true`).then((repo) => {
      const tags = repo && repo._embedded && repo._embedded.related
        && repo._embedded.related._embedded && repo._embedded.related._embedded.items;
      return Array.isArray(tags) ? tags : [];
    });
    state.tags.set(name, p);
    p.catch(() => state.tags.delete(name));
  }
  return p;
}

// ---------- summary ----------

function renderSummary() {
  let disk = 0;
  let tags = 0;
  for (const r of state.repos) {
    disk += r.disk_size || 0;
    tags += r.tags || 0;
  }
  const loaded = state.timestamp !== null;
  const d = $('total-disk');
  d.textContent = loaded ? fmtBytes(disk) : '–';
  d.title = loaded ? `${fmtCount(disk)} bytes` : '';
  $('total-repos').textContent = loaded ? fmtCount(state.repos.length) : '–';
  $('total-tags').textContent = loaded ? fmtCount(tags) : '–';
  renderAgo();
}

function renderAgo() {
  if (state.timestamp === null) {
    $('collected').textContent = '–';
    $('collected-at').textContent = '';
    return;
  }
  const ms = state.timestamp * 1000;
  $('collected').textContent = ago(Math.max(0, (Date.now() - ms) / 1000));
  $('collected-at').textContent = fmtDate(ms);
}

// ---------- tables ----------

function bar(value, max, kind) {
  const wrap = el('span', { className: 'barcell' });
  wrap.append(el('span', { className: 'val', text: fmtBytes(value) }));
  const track = el('span', { className: 'bar', 'aria-hidden': 'true' });
  const fill = el('span', { className: `fill ${kind}` });
  const frac = max > 0 && typeof value === 'number' ? value / max : 0;
  fill.style.width = `${(frac * 100).toFixed(2)}%`; // CSSOM: allowed by style-src 'self'
  track.append(fill);
  wrap.append(track);
  if (typeof value === 'number') wrap.title = `${fmtCount(value)} bytes`;
  return wrap;
}

// A sortable, searchable, paged table. `columns`: {key, label, kind: 'text'|'count'|'bytes',
// bar, optional}; `cell(row, col)` may override a cell's content. Its elements' ids are
// `<ids>-head`, `-body`, `-pager`, `-count` and `-search`.
function makeTable(options) {
  const cfg = { ...options };
  for (const part of ['head', 'body', 'pager', 'count', 'search']) {
    cfg[part] = `${options.ids}-${part}`;
  }
  const t = {
    rows: [],
    sorted: [],
    shown: [],
    withOptional: false,
    sort: cfg.sort,
    order: cfg.order,
    q: '',
    page: 0,
    expanded: new Set(),
  };

  const columns = () => cfg.columns.filter((c) => (!c.optional || t.withOptional)
    && (!c.since || t.withSince));

  // The change column (since=): shown and sorted by, largest growth first; gone again without.
  t.setSince = (on) => {
    t.withSince = on;
    if (on) {
      t.sort = 'disk_size_change';
      t.order = 'desc';
    } else if (t.sort === 'disk_size_change') {
      t.sort = cfg.sort;
      t.order = cfg.order;
    }
    t.page = 0;
  };

  t.setRows = (rows, withOptional) => {
    t.rows = rows;
    t.withOptional = withOptional;
    if (!withOptional && columns().every((c) => c.key !== t.sort)) {
      t.sort = cfg.sort;
      t.order = cfg.order;
    }
    t.resort();
  };

  t.reset = () => {
    t.q = '';
    $(cfg.search).value = '';
    t.rows = [];
    t.sorted = [];
    t.shown = [];
    t.page = 0;
    t.expanded.clear();
    $(cfg.body).replaceChildren();
    $(cfg.head).replaceChildren();
    $(cfg.pager).replaceChildren();
    $(cfg.pager).hidden = true;
    $(cfg.count).textContent = '';
  };

  t.resort = () => {
    const k = t.sort;
    const dir = t.order === 'asc' ? 1 : -1;
    const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    const cmp = k === 'name'
      ? byName
      : (a, b) => ((a[k] || 0) - (b[k] || 0)) || -dir * byName(a, b);
    t.sorted = t.rows.slice().sort((a, b) => dir * cmp(a, b));
    t.refilter();
  };

  t.refilter = () => {
    const q = t.q.toLowerCase();
    t.shown = q ? t.sorted.filter((r) => r.key.includes(q)) : t.sorted;
    const pages = Math.max(1, Math.ceil(t.shown.length / PAGE_SIZE));
    t.page = Math.min(t.page, pages - 1);
  };

  t.setSort = (key) => {
    if (t.sort === key) t.order = t.order === 'asc' ? 'desc' : 'asc';
    else {
      t.sort = key;
      t.order = key === 'name' ? 'asc' : 'desc';
    }
    t.page = 0;
    t.resort();
    t.render();
    const col = cfg.columns.find((c) => c.key === key);
    setStatus(`Sorted by ${col.label}, ${t.order === 'asc' ? 'ascending' : 'descending'}.`);
    const btn = $(cfg.head).querySelector(`button[data-key="${key}"]`);
    if (btn) btn.focus();
  };

  t.search = (q) => {
    t.q = q.trim();
    t.page = 0;
    t.refilter();
    t.render();
  };

  t.renderHead = () => {
    const head = $(cfg.head);
    head.replaceChildren();
    for (const c of columns()) {
      const th = el('th', { scope: 'col', className: c.kind === 'text' ? '' : 'num' });
      if (c.sortable === false) {
        th.textContent = c.label;
      } else {
        const active = t.sort === c.key;
        if (active) th.setAttribute('aria-sort', t.order === 'asc' ? 'ascending' : 'descending');
        const arrow = active ? (t.order === 'asc' ? '▲' : '▼') : '↕';
        th.append(el('button', {
          type: 'button', className: `sort${active ? ' active' : ''}`, dataset: { key: c.key },
          title: c.help,
        }, c.label, el('span', { className: 'arrow', 'aria-hidden': 'true', text: ` ${arrow}` })));
      }
      head.append(th);
    }
  };

  t.render = () => {
    t.renderHead();
    const cols = columns();
    const start = t.page * PAGE_SIZE;
    const pageRows = t.shown.slice(start, start + PAGE_SIZE);
    const max = {};
    for (const c of cols) {
      if (c.bar) max[c.key] = t.shown.reduce((m, r) => Math.max(m, r[c.key] || 0), 0);
    }
    const frag = document.createDocumentFragment();
    for (const r of pageRows) {
      const tr = el('tr', { dataset: { name: r.name } });
      for (const c of cols) {
        const td = el(c.key === 'name' ? 'th' : 'td', {
          className: c.kind === 'text' ? 'name' : 'num',
          scope: c.key === 'name' ? 'row' : null,
        });
        const custom = cfg.cell && cfg.cell(r, c, t);
        if (custom) td.append(custom);
        else if (c.kind === 'bytes') td.append(c.bar ? bar(r[c.key], max[c.key], c.bar) : fmtBytes(r[c.key]));
        else if (c.kind === 'count') td.textContent = fmtCount(r[c.key]);
        else if (c.kind === 'change') {
          td.textContent = fmtChange(r[c.key]);
          if (r[c.key] > 0) td.classList.add('grow');
          else if (r[c.key] < 0) td.classList.add('shrink');
          if (typeof r[c.key] === 'number') td.title = `${fmtCount(r[c.key])} bytes`;
          if (r.new) td.append(' ', el('span', { className: 'badge', text: 'new' }));
        }
        else td.textContent = r[c.key];
        tr.append(td);
      }
      frag.append(tr);
      if (cfg.detail && t.expanded.has(r.name)) frag.append(cfg.detail(r, cols.length));
    }
    $(cfg.body).replaceChildren(frag);
    t.renderCount(start, pageRows.length);
    t.renderPager();
  };

  t.renderCount = (start, n) => {
    const total = t.rows.length;
    const filtered = t.shown.length;
    let text;
    if (filtered === 0) text = total === 0 ? `No ${cfg.noun}.` : `No ${cfg.noun} match "${t.q}".`;
    else text = `${fmtCount(start + 1)}–${fmtCount(start + n)} of ${fmtCount(filtered)} ${cfg.noun}`;
    if (t.q && filtered > 0) text += ` (search: "${t.q}", ${fmtCount(total)} in all)`;
    $(cfg.count).textContent = text;
  };

  t.renderPager = () => {
    const pager = $(cfg.pager);
    const pages = Math.max(1, Math.ceil(t.shown.length / PAGE_SIZE));
    pager.replaceChildren();
    pager.hidden = pages <= 1; // no empty navigation landmark
    if (pages <= 1) return;
    const go = (p, label, text) => el('button', {
      type: 'button', dataset: { page: String(p) }, 'aria-label': label,
      disabled: p < 0 || p >= pages || p === t.page,
    }, text);
    pager.append(
      go(0, 'First page', '« First'),
      go(t.page - 1, 'Previous page', '‹ Previous'),
      el('span', { className: 'pageno', tabindex: '-1', text: `Page ${t.page + 1} of ${pages}` }),
      go(t.page + 1, 'Next page', 'Next ›'),
      go(pages - 1, 'Last page', 'Last »'),
    );
  };

  $(cfg.head).addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-key]');
    if (b) t.setSort(b.dataset.key);
  });
  $(cfg.pager).addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-page]');
    if (!b || b.disabled) return;
    t.page = parseInt(b.dataset.page, 10);
    t.render();
    $(cfg.body).closest('table').scrollIntoView({ block: 'start' });
    const same = $(cfg.pager).querySelector(`button[aria-label="${b.getAttribute('aria-label')}"]`);
    if (same && !same.disabled) same.focus();
    else $(cfg.pager).querySelector('.pageno').focus();
  });
  let timer = null;
  $(cfg.search).addEventListener('input', (ev) => {
    clearTimeout(timer);
    const q = ev.target.value;
    timer = setTimeout(() => t.search(q), SEARCH_DELAY_MS);
  });
  return t;
}

const repoTable = makeTable({
  ids: 'repo', noun: 'repositories', sort: 'disk_size', order: 'desc',
  columns: [
    { key: 'name', label: 'Repository', kind: 'text' },
    { key: 'tags', label: 'Tags', kind: 'count' },
    { key: 'size', label: 'Size', kind: 'bytes', bar: 'size', help: 'The sum of its tags\' sizes: each tag counted as if it were alone' },
    { key: 'disk_size', label: 'Disk size', kind: 'bytes', bar: 'disk', help: 'What it is charged in the registry\'s storage: every shared layer counted once in the whole registry' },
    { key: 'exclusive_size', label: 'Freeable', kind: 'bytes', bar: 'free', optional: true, help: 'What deleting the repository (and garbage-collecting) would free: blobs no other repository uses' },
    { key: 'disk_size_change', label: 'Change', kind: 'change', since: true, help: 'How its disk size changed since the chosen time' },
  ],
  cell: (r, c, t) => {
    if (c.key !== 'name') return null;
    const open = t.expanded.has(r.name);
    const b = el('button', {
      type: 'button', className: 'expand', 'aria-expanded': open ? 'true' : 'false',
      'aria-controls': open ? detailId(r.name) : null, dataset: { expand: r.name },
    }, el('span', { className: 'chevron', 'aria-hidden': 'true', text: open ? '▾' : '▸' }),
    el('span', { className: 'visually-hidden', text: open ? 'Hide the tags of ' : 'Show the tags of ' }),
    el('span', { className: 'repo-name', text: r.name }));
    const frag = document.createDocumentFragment();
    frag.append(b);
    if (r.project) {
      const a = projectLink(r.project.web_url, 'GitLab');
      if (a) {
        a.setAttribute('aria-label', `GitLab project ${r.project.path}`);
        frag.append(' ', a);
      }
    }
    if (r.stale_since !== null) {
      frag.append(el('span', {
        className: 'badge',
        title: `The last crawls could not read it (since ${fmtDate(r.stale_since * 1000)}); these are its last good numbers`,
        text: 'stale',
      }));
    }
    if (r.size === null) {
      frag.append(el('span', { className: 'badge', title: 'Never read successfully', text: 'unknown' }));
    }
    return frag;
  },
  detail: (r, span) => tagDetailRow(r, span),
});

const nsTable = makeTable({
  ids: 'ns', noun: 'namespaces', sort: 'disk_size', order: 'desc',
  columns: [
    { key: 'name', label: 'Namespace', kind: 'text' },
    { key: 'repositories', label: 'Repositories', kind: 'count' },
    { key: 'tags', label: 'Tags', kind: 'count' },
    { key: 'size', label: 'Size', kind: 'bytes', bar: 'size' },
    { key: 'disk_size', label: 'Disk size', kind: 'bytes', bar: 'disk' },
    { key: 'exclusive_size', label: 'Freeable', kind: 'bytes', bar: 'free', optional: true, help: 'What deleting every repository below it would free' },
    { key: 'disk_size_change', label: 'Change', kind: 'change', since: true, help: 'How its disk size changed since the chosen time' },
    { key: 'show', label: 'Repositories below', kind: 'text', sortable: false },
  ],
  cell: (r, c) => {
    if (c.key === 'name') {
      const url = groupUrl(r.name);
      const a = url && projectLink(url, 'GitLab');
      if (a) a.setAttribute('aria-label', `${r.name} in GitLab`);
      return a ? el('span', null, el('span', { className: 'repo-name', text: r.name }), ' ', a)
        : el('span', { className: 'repo-name', text: r.name });
    }
    if (c.key !== 'show') return null;
    return el('button', {
      type: 'button', className: 'link', dataset: { ns: r.name },
      'aria-label': `Show the repositories of ${r.name}`,
    }, 'Show');
  },
});

// ---------- tags of one repository ----------

function tagDetailRow(r, span) {
  const td = el('td', { colspan: String(span) });
  const tr = el('tr', { className: 'detail', id: detailId(r.name) }, td);
  td.append(el('p', { className: 'loading', text: `Loading the tags of ${r.name}…` }));
  tagsOf(r.name).then((tags) => {
    td.replaceChildren(tagTable(r, tags));
  }, (e) => {
    if (isAuthError(e)) { sessionLost(e); return; }
    td.replaceChildren(el('p', { className: 'alert', text: `The tags could not be loaded: ${e.message}` }));
  });
  return tr;
}

const detailIds = new Map();
function detailId(name) {
  if (!detailIds.has(name)) detailIds.set(name, `tags-${detailIds.size + 1}`);
  return detailIds.get(name);
}

function tagTable(r, tags) {
  if (tags.length === 0) return el('p', { className: 'note', text: `${r.name} has no tags.` });
  const excl = tags.some((t) => t && 'exclusive_size' in t);
  const head = el('tr', null,
    el('th', { scope: 'col', text: 'Tag' }),
    el('th', { scope: 'col', className: 'num', text: 'Size' }),
    el('th', { scope: 'col', className: 'num', text: 'Disk size' }),
    excl ? el('th', { scope: 'col', className: 'num', text: 'Freeable' }) : null,
    el('th', { scope: 'col', text: 'Created' }),
    el('th', { scope: 'col', text: 'Digest' }));
  const body = el('tbody');
  const sorted = tags.slice().sort((a, b) => (b.disk_size || 0) - (a.disk_size || 0)
    || String(a.name).localeCompare(String(b.name)));
  for (const t of sorted) {
    const created = typeof t.created === 'string' ? Date.parse(t.created) : NaN;
    const digest = typeof t.digest === 'string' ? t.digest : '';
    const short = digest.replace(/^([a-z0-9]+):([0-9a-f]{12}).*$/, '$1:$2');
    const platforms = Array.isArray(t.platforms) && t.platforms.length
      ? el('span', { className: 'badge', title: t.platforms.map((p) => [p.os, p.architecture, p.variant].filter(Boolean).join('/')).join(', '), text: `${t.platforms.length} platforms` })
      : null;
    body.append(el('tr', null,
      el('th', { scope: 'row', className: 'name' }, el('span', { className: 'tag-name', text: String(t.name) }), platforms),
      el('td', { className: 'num', title: `${fmtCount(t.size)} bytes`, text: fmtBytes(num(t.size)) }),
      el('td', { className: 'num', title: `${fmtCount(t.disk_size)} bytes`, text: fmtBytes(num(t.disk_size)) }),
      excl ? el('td', { className: 'num', text: fmtBytes(num(t.exclusive_size)) }) : null,
      el('td', { text: isNaN(created) ? '–' : fmtDate(created) }),
      el('td', { className: 'digest' }, el('code', { title: digest, text: short || '–' }))));
  }
  return el('table', { className: 'tags' },
    el('caption', { text: `Tags of ${r.name} (${fmtCount(tags.length)}), largest disk size first` }),
    el('thead', null, head), body);
}

$('repo-body').addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-expand]');
  if (!b) return;
  const name = b.dataset.expand;
  const row = b.closest('tr');
  const open = repoTable.expanded.has(name);
  if (open) {
    repoTable.expanded.delete(name);
    const next = row.nextElementSibling;
    if (next && next.classList.contains('detail')) next.remove();
  } else {
    repoTable.expanded.add(name);
    row.after(tagDetailRow(repoTable.rows.find((r) => r.name === name), row.children.length));
  }
  b.setAttribute('aria-expanded', open ? 'false' : 'true');
  b.setAttribute('aria-controls', detailId(name));
  b.querySelector('.chevron').textContent = open ? '▸' : '▾';
  b.querySelector('.visually-hidden').textContent = open ? 'Show the tags of ' : 'Hide the tags of ';
});

$('ns-body').addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-ns]');
  if (!b) return;
  const q = `${b.dataset.ns}/`;
  $('repo-search').value = q;
  repoTable.search(q);
  selectTab('tab-repositories');
  $('repo-search').focus();
});

// ---------- tabs ----------

const TABS = ['tab-repositories', 'tab-namespaces', 'tab-cleanup', 'tab-policies', 'tab-storage'];

function selectTab(id) {
  for (const t of TABS) {
    const on = t === id;
    const tab = $(t);
    tab.setAttribute('aria-selected', on ? 'true' : 'false');
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute('aria-controls')).hidden = !on;
  }
  if (id === 'tab-namespaces') nsTable.render();
  if (id === 'tab-storage') storage.load();
}

document.querySelector('.tabs').addEventListener('click', (ev) => {
  const b = ev.target.closest('[role="tab"]');
  if (b) selectTab(b.id);
});
document.querySelector('.tabs').addEventListener('keydown', (ev) => {
  // Hidden tabs (Policies on a service without /policies) are skipped.
  const tabs = TABS.filter((t) => !$(t).hidden);
  const i = tabs.indexOf(document.activeElement && document.activeElement.id);
  if (i < 0) return;
  let j = null;
  if (ev.key === 'ArrowRight') j = (i + 1) % tabs.length;
  else if (ev.key === 'ArrowLeft') j = (i + tabs.length - 1) % tabs.length;
  else if (ev.key === 'Home') j = 0;
  else if (ev.key === 'End') j = tabs.length - 1;
  if (j === null) return;
  ev.preventDefault();
  selectTab(tabs[j]);
  $(tabs[j]).focus();
});

// ---------- Clean-up what-if (cleanup.js) and the service's health (health.js) ----------

const cleanup = initCleanup({ onAuthError: (e) => sessionLost(e) });
const storage = initStorage({ onAuthError: (e) => sessionLost(e) });
const policies = initPolicies({ onAuthError: (e) => sessionLost(e) });
const health = initHealth({ loaded: () => state.timestamp });
const growth = initHistory({ onAuthError: (e) => sessionLost(e) });

$('since').addEventListener('change', (ev) => {
  const opt = ev.target.selectedOptions[0];
  state.since = ev.target.value ? { value: ev.target.value, label: opt ? opt.textContent : ev.target.value } : null;
  repoTable.setSince(Boolean(state.since));
  nsTable.setSince(Boolean(state.since));
  growth.fastest(null);
  load();
});

// ---------- units and start-up ----------

function setUnits(u) {
  display.units = UNIT_NAMES[u] ? u : 'binary';
  try { localStorage.setItem(UNITS_KEY, display.units); } catch (e) { /* not kept */ }
  for (const r of document.querySelectorAll('input[name="units"]')) r.checked = r.value === display.units;
}

function rerender() {
  renderSummary();
  repoTable.render();
  if (!$('panel-namespaces').hidden) nsTable.render();
  cleanup.render();
  storage.render();
  policies.render();
  growth.render();
  growth.fastest(state.since, state.repos, state.namespaces);
}

document.querySelector('.units').addEventListener('change', (ev) => {
  if (ev.target.name !== 'units') return;
  setUnits(ev.target.value);
  rerender();
  setStatus(display.units === 'binary' ? 'Sizes in KiB, MiB, GiB (powers of 1024).' : 'Sizes in kB, MB, GB (powers of 1000).');
});

$('login-form').addEventListener('submit', login);
$('logout').addEventListener('click', logout);
$('refresh').addEventListener('click', () => {
  state.tags.clear();
  load();
  if (!$('panel-storage').hidden) storage.load();
  growth.load();
});
setInterval(() => {
  if (document.hidden) return;
  if (!$('app-view').hidden) renderAgo();
  health.check();
}, 30000);

let units = null;
try { units = localStorage.getItem(UNITS_KEY); } catch (e) { units = null; }
setUnits(units || 'binary');

const token = savedToken();
if (!token) health.check(); // with a token, load() asks once the data is in
if (token) {
  session.token = token;
  enterApp();
} else {
  showLogin('');
}
