// The "Clean-up what-if" panel: what a retention policy would free, computed by the service
// from the last crawl (nothing is deleted). Owns #panel-cleanup's form and result; everything
// else of the page is app.js's.
//
// GET <api>/cleanup?name_regex_delete=&name_regex_keep=&keep_n=&older_than=&(repository|namespace)=
// (src/cleanup/view.rs) -> {timestamp, freed_bytes, tags_deleted, tags_kept, tags_not_matched,
//   repositories (in scope, tags known), _embedded: {items: [{name, freed_bytes, delete: [tag],
//   keep: [{name, reason: latest|regex|keep_n|age}], tags_not_matched}]}}, items by name;
// 400 {message: "<parameter>: <reason>"}; 404 {message: "The resource ... does not exist"} for
// an unknown repository or a namespace with nothing below it; 503 before the first crawl.
// The service decodes only %XX in this query (a '+' stays a '+'), so values are encoded with
// encodeURIComponent (space as %20, '+' as %2B), never URLSearchParams (space as '+').

import {
  $, PAGE_SIZE, api, el, embeddedItems, fmtBytes, fmtCount, fmtDate, isAuthError, num, setStatus,
} from './common.js';

/** The inputs, by the query parameter they fill (400 messages name the parameter). */
const FIELDS = {
  name_regex_delete: 'cu-delete',
  name_regex_keep: 'cu-keep',
  keep_n: 'cu-keepn',
  older_than: 'cu-older',
  repository: 'cu-scope',
  namespace: 'cu-scope',
};

const SCOPE_LABELS = {
  '': 'Namespace or repository name',
  namespace: 'Namespace (group path, e.g. group/sub)',
  repository: 'Repository name (e.g. group/project)',
};

/** Why a tag the delete pattern matched is kept, in words; `rule` is what was asked. */
function reasonText(reason, rule) {
  switch (reason) {
    case 'latest': return 'latest is never deleted';
    case 'regex': return 'matches the keep pattern';
    case 'keep_n': return `among the newest ${rule.keep_n || 'N'}`;
    case 'age': return `not older than ${rule.older_than || 'the limit'}, or age unknown`;
    default: return String(reason);
  }
}

/** Wires the panel; `onAuthError(e)` is called when the session is no longer valid. */
export function initCleanup({ onAuthError }) {
  let body = null;
  let rule = {};
  let items = [];
  let page = 0;

  const list = (names, limit) => {
    const shown = names.slice(0, limit).join(', ');
    return names.length > limit ? `${shown}, and ${names.length - limit} more` : shown || '–';
  };

  function render() {
    if (!body) return;
    const freed = num(body.freed_bytes);
    $('cu-freed').textContent = fmtBytes(freed);
    $('cu-freed-exact').textContent = freed === null ? '' : `${fmtCount(freed)} bytes`;
    $('cu-deleted').textContent = fmtCount(num(body.tags_deleted));
    $('cu-kept').textContent = fmtCount(num(body.tags_kept));
    $('cu-unmatched').textContent = fmtCount(num(body.tags_not_matched));
    $('cu-repos').textContent = fmtCount(num(body.repositories));
    const ts = num(body.timestamp);
    $('cu-when').textContent = ts === null ? ''
      : `Computed from the data collected ${fmtDate(ts * 1000)}. A repository's own figure counts only the blobs no other repository uses; blobs shared by several repositories' deleted tags count in the total only.`;
    $('cu-count').textContent = items.length === 0
      ? 'The delete pattern matches no tag in scope.'
      : `${fmtCount(items.length)} ${items.length === 1 ? 'repository has' : 'repositories have'} tags the delete pattern matches; largest gain first.`;
    $('cu-table').hidden = items.length === 0;
    const start = page * PAGE_SIZE;
    const frag = document.createDocumentFragment();
    for (const it of items.slice(start, start + PAGE_SIZE)) {
      const del = Array.isArray(it.delete) ? it.delete.map(String) : [];
      const keep = Array.isArray(it.keep)
        ? it.keep.map((k) => `${k.name} (${reasonText(k.reason, rule)})`) : [];
      const itemFreed = num(it.freed_bytes);
      frag.append(el('tr', { dataset: { name: String(it.name) } },
        el('th', { scope: 'row', className: 'name', text: String(it.name) }),
        el('td', {
          className: 'num', text: fmtBytes(itemFreed),
          title: itemFreed === null ? null : `${fmtCount(itemFreed)} bytes`,
        }),
        el('td', { className: 'taglist', text: list(del, 20) }),
        el('td', { className: 'taglist', text: list(keep, 20) }),
        el('td', { className: 'num', text: fmtCount(num(it.tags_not_matched)) })));
    }
    $('cu-body').replaceChildren(frag);
    const pages = Math.ceil(items.length / PAGE_SIZE);
    const pager = $('cu-pager');
    pager.replaceChildren();
    pager.hidden = pages <= 1; // no empty navigation landmark
    if (pages > 1) {
      pager.append(
        el('button', { type: 'button', dataset: { step: '-1' }, disabled: page === 0 }, '‹ Previous'),
        el('span', { className: 'pageno', tabindex: '-1', text: `Page ${page + 1} of ${pages}` }),
        el('button', { type: 'button', dataset: { step: '1' }, disabled: page >= pages - 1 }, 'Next ›'));
    }
  }

  function clearInvalid() {
    for (const id of new Set(Object.values(FIELDS))) {
      $(id).removeAttribute('aria-invalid');
      $(id).removeAttribute('aria-errormessage');
    }
  }

  function show(b, asked) {
    body = b || {};
    rule = asked;
    const all = embeddedItems(body);
    // Stable: equal gains stay in the service's order (by name).
    items = all.slice().sort((a, c) => (num(c.freed_bytes) || 0) - (num(a.freed_bytes) || 0));
    page = 0;
    $('cu-error').hidden = true;
    $('cu-result').hidden = false;
    render();
    // Keyboard and screen-reader users land on the answer (the status line also says it).
    $('cu-result-title').focus();
  }

  /** Shows `text` as the panel's alert; `field` (an input id) is marked invalid and focused. */
  function showError(text, field) {
    const e = $('cu-error');
    e.textContent = '';
    e.hidden = false;
    e.textContent = text; // a change inside the shown alert is announced
    $('cu-result').hidden = true;
    if (field) {
      const input = $(field);
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-errormessage', 'cu-error');
      input.focus();
    }
  }

  let running = false;
  let epoch = 0; // bumped by reset(): an answer to a request from before a log-out is dropped

  async function run(ev) {
    ev.preventDefault();
    if (running) return;
    clearInvalid();
    if ($('cu-delete').value.trim() === '') {
      showError('Enter a pattern for the tags to delete (.* for every tag).', 'cu-delete');
      return;
    }
    const params = [];
    const asked = {};
    const add = (k, v) => {
      asked[k] = v;
      params.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
    };
    for (const id of ['cu-delete', 'cu-keep', 'cu-keepn', 'cu-older']) {
      const input = $(id);
      if (input.value.trim() !== '') add(input.name, input.value.trim());
    }
    const kind = $('cu-scope-kind').value;
    const scope = $('cu-scope').value.trim().replace(/^\/+|\/+$/g, '');
    if (kind) {
      if (!scope) {
        showError(`Enter the ${kind}'s name, or choose the whole registry.`, 'cu-scope');
        return;
      }
      add(kind, scope);
    }
    $('cu-error').hidden = true;
    // Not `disabled`: a focused button that becomes disabled drops the focus to the page.
    running = true;
    $('cu-run').setAttribute('aria-disabled', 'true');
    $('cu-result').setAttribute('aria-busy', 'true');
    setStatus('Computing the clean-up…');
    const mine = epoch;
    try {
      const answer = await api(`cleanup?${params.join('&')}`);
      if (mine !== epoch) return;
      show(answer, asked);
      const n = num(answer && answer.tags_deleted);
      setStatus(`The clean-up would free ${fmtBytes(num(answer && answer.freed_bytes))} by deleting ${fmtCount(n)} ${n === 1 ? 'tag' : 'tags'}.`);
    } catch (e) {
      if (mine !== epoch) return;
      if (isAuthError(e)) {
        onAuthError(e);
        return;
      }
      setStatus('');
      if (e.status === 400) {
        const param = e.message.split(':', 1)[0];
        showError(`The policy is not valid: ${e.message}`, FIELDS[param] || null);
      } else if (e.status === 404 && kind === 'repository') {
        showError(`The last crawl found no repository named "${scope}".`, 'cu-scope');
      } else if (e.status === 404 && kind === 'namespace') {
        showError(`The last crawl found no repository below the namespace "${scope}".`, 'cu-scope');
      } else if (e.status === 503) {
        showError('The service is still collecting its first data; try again in a minute.');
      } else {
        showError(`The clean-up could not be computed: ${e.message}`);
      }
    } finally {
      running = false;
      $('cu-run').removeAttribute('aria-disabled');
      $('cu-result').removeAttribute('aria-busy');
    }
  }

  function scopeChanged() {
    const kind = $('cu-scope-kind').value;
    $('cu-scope').disabled = !kind;
    $('cu-scope-label').textContent = SCOPE_LABELS[kind] || SCOPE_LABELS[''];
    if (!kind) $('cu-scope').removeAttribute('aria-invalid');
  }

  $('cu-pager').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-step]');
    if (!b || b.disabled) return;
    page += parseInt(b.dataset.step, 10);
    render();
    const same = $('cu-pager').querySelector(`button[data-step="${b.dataset.step}"]`);
    if (same && !same.disabled) same.focus();
    else $('cu-pager').querySelector('.pageno').focus();
  });
  $('cu-scope-kind').addEventListener('change', scopeChanged);
  $('cleanup-form').addEventListener('submit', run);

  return {
    /** Forgets the result and the form (on log-out). */
    reset() {
      epoch += 1;
      body = null;
      rule = {};
      items = [];
      page = 0;
      $('cleanup-form').reset();
      clearInvalid();
      scopeChanged();
      $('cu-result').hidden = true;
      $('cu-error').hidden = true;
      $('cu-body').replaceChildren();
      $('cu-pager').replaceChildren();
      $('cu-pager').hidden = true;
    },
    /** Shows the result again (after a change of units). */
    render,
  };
}
