// The "Clean-up what-if" panel: what a retention policy would free, computed by the service
// from the last crawl (nothing is deleted). Owns #panel-cleanup's form and result; everything
// else of the page is app.js's.
//
// GET <api>/cleanup?name_regex_delete=&name_regex_keep=&keep_n=&older_than=&(repository|namespace)=
// -> {freed_bytes, tags_deleted, tags_kept, tags_not_matched, repositories,
//     _embedded: {items: [{name, freed_bytes, delete: [tag], keep: [{name, reason}]}]}};
// 400 {message} names the wrong parameter; 404 {message: "The resource ..."} an unknown scope.

import {
  $, PAGE_SIZE, api, el, fmtBytes, fmtCount, isAuthError, num, setStatus,
} from './common.js';

const REASONS = {
  latest: 'latest is never deleted',
  regex: 'matches the keep pattern',
  keep_n: 'among the newest',
  age: 'too recent',
  not_matched: 'not matched by the delete pattern',
};

/** Wires the panel; `onAuthError(e)` is called when the session is no longer valid. */
export function initCleanup({ onAuthError }) {
  let body = null;
  let items = [];
  let page = 0;

  const list = (names, limit) => {
    const shown = names.slice(0, limit).join(', ');
    return names.length > limit ? `${shown}, and ${names.length - limit} more` : shown || '–';
  };

  function render() {
    if (!body) return;
    $('cu-freed').textContent = fmtBytes(num(body.freed_bytes));
    $('cu-deleted').textContent = fmtCount(num(body.tags_deleted));
    $('cu-kept').textContent = fmtCount(num(body.tags_kept));
    $('cu-unmatched').textContent = fmtCount(num(body.tags_not_matched));
    $('cu-unmatched-card').hidden = num(body.tags_not_matched) === null;
    $('cu-repos').textContent = fmtCount(num(body.repositories));
    $('cu-repos-card').hidden = num(body.repositories) === null;
    const start = page * PAGE_SIZE;
    const frag = document.createDocumentFragment();
    for (const it of items.slice(start, start + PAGE_SIZE)) {
      const del = Array.isArray(it.delete) ? it.delete.map(String) : [];
      const keep = Array.isArray(it.keep)
        ? it.keep.map((k) => `${k.name} (${REASONS[k.reason] || k.reason})`) : [];
      frag.append(el('tr', null,
        el('th', { scope: 'row', className: 'name', text: String(it.name) }),
        el('td', { className: 'num', text: fmtBytes(num(it.freed_bytes)) }),
        el('td', { className: 'taglist', text: list(del, 20) }),
        el('td', { className: 'taglist', text: list(keep, 20) })));
    }
    $('cu-body').replaceChildren(frag);
    const pages = Math.ceil(items.length / PAGE_SIZE);
    const pager = $('cu-pager');
    pager.replaceChildren();
    if (pages > 1) {
      pager.append(
        el('button', { type: 'button', dataset: { step: '-1' }, disabled: page === 0 }, '‹ Previous'),
        el('span', { className: 'pageno', text: `Page ${page + 1} of ${pages}` }),
        el('button', { type: 'button', dataset: { step: '1' }, disabled: page >= pages - 1 }, 'Next ›'));
    }
  }

  function show(b) {
    body = b || {};
    const all = body._embedded && Array.isArray(body._embedded.items) ? body._embedded.items : [];
    items = all.slice().sort((a, c) => (c.freed_bytes || 0) - (a.freed_bytes || 0));
    page = 0;
    render();
    $('cu-error').hidden = true;
    $('cu-result').hidden = false;
  }

  function showError(text) {
    const e = $('cu-error');
    e.textContent = text;
    e.hidden = false;
    $('cu-result').hidden = true;
  }

  async function run(ev) {
    ev.preventDefault();
    if ($('cu-delete').value.trim() === '') {
      showError('Enter a pattern for the tags to delete (.* for every tag).');
      $('cu-delete').focus();
      return;
    }
    // Percent-encoded by hand: URLSearchParams writes a space as '+', which a server that
    // decodes only %XX would read as a literal '+' (and '+' is common in patterns).
    const params = [];
    const add = (k, v) => params.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
    for (const id of ['cu-delete', 'cu-keep', 'cu-keepn', 'cu-older']) {
      const input = $(id);
      if (input.value.trim() !== '') add(input.name, input.value.trim());
    }
    const kind = $('cu-scope-kind').value;
    if (kind) {
      const scope = $('cu-scope').value.trim();
      if (!scope) {
        showError(`Enter the ${kind}'s name, or choose the whole registry.`);
        return;
      }
      add(kind, scope);
    }
    $('cu-error').hidden = true;
    $('cu-run').disabled = true;
    setStatus('Computing the clean-up…');
    try {
      const answer = await api(`cleanup?${params.join('&')}`);
      show(answer);
      setStatus(`The clean-up would free ${fmtBytes(num(answer && answer.freed_bytes))}.`);
    } catch (e) {
      if (isAuthError(e)) {
        onAuthError(e);
        return;
      }
      setStatus('');
      if (e.status === 400) showError(`The policy is not valid: ${e.message}`);
      else if (e.status === 404 && /^The resource/.test(e.message)) showError(`No such ${kind || 'scope'}: ${e.message}`);
      else if (e.status === 404) showError('This server cannot compute clean-ups yet (no /cleanup); update the service.');
      else if (e.status === 503) showError('The service is still collecting its first data; try again in a minute.');
      else showError(`The clean-up could not be computed: ${e.message}`);
    } finally {
      $('cu-run').disabled = false;
    }
  }

  $('cu-pager').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-step]');
    if (!b || b.disabled) return;
    page += parseInt(b.dataset.step, 10);
    render();
  });
  $('cu-scope-kind').addEventListener('change', () => {
    $('cu-scope').disabled = !$('cu-scope-kind').value;
  });
  $('cleanup-form').addEventListener('submit', run);

  return {
    /** Forgets the result and the form (on log-out). */
    reset() {
      body = null;
      items = [];
      page = 0;
      $('cleanup-form').reset();
      $('cu-scope').disabled = true;
      $('cu-result').hidden = true;
      $('cu-error').hidden = true;
      $('cu-body').replaceChildren();
      $('cu-pager').replaceChildren();
    },
    /** Shows the result again (after a change of units). */
    render,
  };
}
