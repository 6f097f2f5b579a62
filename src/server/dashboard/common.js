// Shared by the dashboard's modules: DOM building (text only, never HTML), number and date
// formats with the chosen units, the status line, the API client (relative to the page's
// own URL, so any server_prefix works; the Bearer token is held in `session`) and the rows read
// from its HAL collection bodies.

export const PAGE_SIZE = 100;

export const $ = (id) => document.getElementById(id);

/** The logged-in session: the token, or null. */
export const session = { token: null };

const API = new URL('.', document.baseURI);

/** The URL of an API path (relative, e.g. `health`), below the page's own directory. */
export const apiUrl = (path) => new URL(path, API);

/** An element with properties (`text` sets textContent) and children (text or nodes). */
export function el(tag, props, ...children) {
  const e = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'className') e.className = v;
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (k === 'hidden') e.hidden = true;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return e;
}

const numberFormat = new Intl.NumberFormat('en-US');
export const fmtCount = (n) => (typeof n === 'number' ? numberFormat.format(n) : '–');

export const UNIT_NAMES = {
  binary: { base: 1024, names: ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] },
  decimal: { base: 1000, names: ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'] },
};

/** The units sizes are shown in: 'binary' (KiB, 1024) or 'decimal' (kB, 1000). */
export const display = { units: 'binary' };

export function fmtBytes(n) {
  if (typeof n !== 'number' || !isFinite(n)) return 'unknown';
  const { base, names } = UNIT_NAMES[display.units];
  if (n < base) return `${n} B`;
  let v = n;
  let i = 0;
  while (v >= base && i < names.length - 1) {
    v /= base;
    i += 1;
  }
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${names[i]}`;
}

const dateFormat = new Intl.DateTimeFormat('en-GB', {
  year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
});
export const fmtDate = (ms) => dateFormat.format(new Date(ms));

export function ago(seconds) {
  if (seconds < 60) return 'less than a minute ago';
  const m = Math.floor(seconds / 60);
  if (m < 120) return m === 1 ? '1 minute ago' : `${m} minutes ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} hours ago`;
  return `${Math.floor(h / 24)} days ago`;
}

export function setStatus(text, kind) {
  const s = $('status');
  s.textContent = text || '';
  s.className = `status${kind ? ` ${kind}` : ''}`;
}

export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export async function api(path, options) {
  const opts = options || {};
  const headers = { Accept: 'application/json' };
  if (opts.basic) headers.Authorization = `Basic ${opts.basic}`;
  else headers.Authorization = `Bearer ${session.token}`;
  let resp;
  try {
    // credentials 'omit': no cookies, and no browser password prompt on a 401.
    resp = await fetch(apiUrl(path), {
      headers, credentials: 'omit', cache: 'no-store', redirect: 'error',
    });
  } catch (e) {
    throw new ApiError(0, 'The service cannot be reached. Check your network and try again.');
  }
  let body = null;
  try {
    body = await resp.json();
  } catch (e) {
    body = null;
  }
  if (!resp.ok) {
    const text = body && (body.msg || body.message);
    const retry = parseInt(resp.headers.get('Retry-After') || '', 10);
    throw new ApiError(resp.status, text || `HTTP ${resp.status}`, isNaN(retry) ? null : retry);
  }
  return body;
}

export const isAuthError = (e) => e.status === 401 || e.status === 422;

export const num = (v) => (typeof v === 'number' && isFinite(v) ? v : null);

/** The `_embedded.items` of a HAL collection body, or none when it has no such list. */
export function embeddedItems(body) {
  return (body && body._embedded && Array.isArray(body._embedded.items)) ? body._embedded.items : [];
}

/** The fields a repository's and a namespace's table row share, from its API item. */
export const sizedRow = (item) => ({
  name: String(item.name),
  key: String(item.name).toLowerCase(),
  size: num(item.size),
  disk_size: num(item.disk_size),
  exclusive_size: num(item.exclusive_size),
});
