// The "Storage" panel: the registry's own storage as the service's last scan saw it — what is
// on disk, what tags reference, what the registry's garbage-collect would free now and with
// --delete-untagged, the multi-arch images that option would break, half-done uploads, and
// the repositories whose untagged manifests hold the most. Owns #panel-storage only.
//
// GET <api>/storage (src/storage/view.rs) -> {timestamp, driver, blobs: {count, bytes},
//   gc: {blobs, bytes}, gc_untagged: {manifests, blobs, bytes},
//   breaks: [{repository, tags: [..], manifests}], uploads: {count, bytes, oldest: RFC 3339|null},
//   duration, warnings: {count, first: [text]}, _embedded: {items: [{name, untagged_manifests,
//   untagged_bytes, uploads}]}} (items: most untagged bytes first);
// 404 {message} when [storage] driver is not set; 503 {message} before the first good scan.

import {
  $, api, el, embeddedItems, fmtBytes, fmtCount, fmtDate, isAuthError, num,
} from './common.js';

const TOP = 20;

const bytesCell = (n) => el('td', {
  className: 'num', text: fmtBytes(n), title: n === null ? null : `${fmtCount(n)} bytes`,
});

function card(label, value, detail, primary) {
  return el('div', { className: primary ? 'card primary' : 'card' },
    el('span', { className: 'label', text: label }),
    el('strong', { className: 'big', text: value }),
    detail ? el('span', { className: 'small', text: detail }) : null);
}

/** The breaks in words, with the safe alternative. */
function breaksText(breaks, gc) {
  const names = breaks.map((b) => `${b.repository}:${(b.tags || []).join(', ')}`
    + ` (${fmtCount(num(b.manifests))} platform ${num(b.manifests) === 1 ? 'image' : 'images'})`);
  return `Careful: garbage-collect --delete-untagged on Docker Distribution 2.x also deletes the`
    + ` platform images of tagged multi-arch images (manifest lists and OCI indexes), because no`
    + ` tag names them directly; these tags would stop working: ${names.join('; ')}.`
    + ` Safe alternative: run garbage-collect without --delete-untagged (it frees ${fmtBytes(gc)}`
    + ' now and breaks nothing), and delete untagged manifests by digest through the registry API'
    + ' (or with GitLab\'s clean-up policies) instead; Distribution 3.0 fixed this.';
}

/** Wires the panel; `onAuthError(e)` is called when the session is no longer valid. */
export function initStorage({ onAuthError }) {
  let body = null;
  let epoch = 0;

  function render() {
    if (!body) return;
    const blobs = body.blobs || {};
    const gc = body.gc || {};
    const gcm = body.gc_untagged || {};
    const up = body.uploads || {};
    const disk = num(blobs.bytes);
    const freed = num(gc.bytes);
    const referenced = disk === null || freed === null ? null : disk - freed;
    const oldest = up.oldest ? Date.parse(up.oldest) : NaN;
    $('st-cards').replaceChildren(
      card('On disk', fmtBytes(disk), `${fmtCount(num(blobs.count))} blobs`),
      card('Referenced', fmtBytes(referenced), 'by every manifest revision'),
      card('Reclaimable now', fmtBytes(freed), `garbage-collect: ${fmtCount(num(gc.blobs))} blobs`, true),
      card('With --delete-untagged', fmtBytes(num(gcm.bytes)),
        `${fmtCount(num(gcm.manifests))} untagged manifests, ${fmtCount(num(gcm.blobs))} blobs`),
      card('Half-done uploads', fmtCount(num(up.count)),
        num(up.count) ? `${fmtBytes(num(up.bytes))}${isNaN(oldest) ? '' : `, oldest ${fmtDate(oldest)}`}` : null));
    const breaks = Array.isArray(body.breaks) ? body.breaks : [];
    const br = $('st-breaks');
    br.hidden = breaks.length === 0;
    br.textContent = breaks.length ? breaksText(breaks, freed) : '';
    const ts = num(body.timestamp);
    const w = body.warnings || {};
    const warned = num(w.count) ? ` The scan met ${fmtCount(num(w.count))} problems in the storage (the service's log names each path and the fix).` : '';
    $('st-when').textContent = (ts === null ? '' : `Scanned ${fmtDate(ts * 1000)} (${body.driver || 'storage'}), read-only; the registry's garbage-collect needs the registry stopped or read-only.`) + warned;
    const items = embeddedItems(body);
    const top = items.filter((i) => num(i.untagged_bytes) || num(i.untagged_manifests) || num(i.uploads)).slice(0, TOP);
    $('st-table').hidden = top.length === 0;
    $('st-count').textContent = top.length === 0 ? 'No repository holds untagged manifests or uploads.'
      : `Repositories whose untagged manifests hold the most (bytes only they hold), top ${fmtCount(top.length)}.`;
    $('st-body').replaceChildren(...top.map((i) => el('tr', { dataset: { name: String(i.name) } },
      el('th', { scope: 'row', className: 'name', text: String(i.name) }),
      bytesCell(num(i.untagged_bytes)),
      el('td', { className: 'num', text: fmtCount(num(i.untagged_manifests)) }),
      el('td', { className: 'num', text: fmtCount(num(i.uploads)) }))));
  }

  function showMessage(text) {
    body = null;
    $('st-result').hidden = true;
    const m = $('st-message');
    m.hidden = false;
    m.textContent = text;
  }

  async function load() {
    const mine = ++epoch;
    $('st-message').hidden = false;
    $('st-message').textContent = 'Loading the last storage scan…';
    try {
      const b = await api('storage');
      if (mine !== epoch) return;
      body = b || {};
      $('st-message').hidden = true;
      $('st-result').hidden = false;
      render();
    } catch (e) {
      if (mine !== epoch) return;
      if (isAuthError(e)) onAuthError(e);
      else if (e.status === 404) showMessage('The service does not scan the registry\'s storage: set [storage] driver (filesystem or s3) in its configuration to see what garbage collection would free.');
      else showMessage(e.message);
    }
  }

  return {
    load,
    render,
    /** Forgets the scan (on log-out). */
    reset() {
      epoch += 1;
      body = null;
      $('st-result').hidden = true;
      $('st-message').hidden = true;
    },
  };
}
