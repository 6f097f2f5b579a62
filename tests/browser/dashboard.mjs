// Drives the built-in dashboard in Debian's headless chromium (playwright-core, no downloaded
// browser). Started by tests/dashboard.rs, which runs the real service and passes everything
// through the environment:
//   node dashboard.mjs <scenario>     scenario: full | first-crawl | large | stale | storage
//   BASE_URL        the page (http://127.0.0.1:PORT/prefix/)
//   LOGIN_USER, LOGIN_PASSWORD, EXPIRED_TOKEN, TOKEN, EXPECT (JSON), SCREENSHOT and
//   CLEANUP_SCREENSHOT (PNG paths)
// Exits 0 when every check passed; prints one line per step, and for `large` a line
// `TIMING {json}` with the measured times.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const TOKEN_KEY = 'gitlab-registry-usage.token';
const scenario = process.argv[2];
const env = (k) => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env('BASE_URL');
const ORIGIN = new URL(BASE).origin;

// The whole run is bounded, whatever hangs.
const overall = setTimeout(() => {
  console.error('dashboard.mjs: gave up after 150 s');
  process.exit(3);
}, 150_000);

const step = (text) => console.log(`- ${text}`);

async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'grur-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1366, height: 900 },
    locale: 'en-US',
    timezoneId: 'UTC',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  ctx.setDefaultTimeout(15_000);
  return { ctx, profile };
}

// Records what must never happen: script errors, CSP violations, requests to other origins.
function guard(page) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const t = m.text();
    if (m.type() === 'error' && !t.startsWith('Failed to load resource')) problems.push(`console: ${t}`);
    if (/Content Security Policy|Refused to/i.test(t)) problems.push(`CSP: ${t}`);
  });
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.origin !== ORIGIN) problems.push(`request to another origin: ${r.url()}`);
  });
  return () => assert.deepEqual(problems, [], 'the page misbehaved');
}

const repoNames = (page) => page.$$eval('#repo-body > tr:not(.detail)', (rows) => rows.map((r) => r.dataset.name));
const text = (page, sel) => page.locator(sel).innerText();

async function login(page, user, password) {
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

async function waitText(page, sel, re) {
  await page.locator(sel).filter({ hasText: re }).waitFor();
}

async function full(page) {
  const expect = JSON.parse(env('EXPECT'));
  const resp = await page.goto(BASE);
  const csp = resp.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.equal(resp.headers()['x-content-type-options'], 'nosniff');
  await page.locator('#login-view').waitFor();
  step('the login form is shown');

  await login(page, env('LOGIN_USER'), 'not-the-password');
  await waitText(page, '#login-error', /Wrong user name or password/);
  assert.equal(await page.locator('#app-view').isHidden(), true);
  step('a wrong password says so');

  await login(page, env('LOGIN_USER'), env('LOGIN_PASSWORD'));
  await page.locator('#repo-body tr').first().waitFor();
  assert.deepEqual(await repoNames(page), expect.by_disk_desc, 'default order: disk size, largest first');
  assert.equal(await page.evaluate(() => document.cookie), '', 'no cookie');
  assert.ok(await page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY), 'token in sessionStorage');
  assert.match(await text(page, '#who'), /alice/);
  assert.match(await text(page, '#total-repos'), new RegExp(`^${expect.repositories}$`));
  assert.match(await text(page, '#collected'), /minutes? ago|less than a minute ago/);
  step(`logged in: ${expect.by_disk_desc.length} rows, total ${await text(page, '#total-disk')}`);

  // Sorting, by mouse and by keyboard, with aria-sort on the sorted header.
  await page.locator('#repo-head button[data-key="name"]').click();
  assert.deepEqual(await repoNames(page), expect.by_name);
  assert.equal(await page.locator('#repo-head th[aria-sort]').count(), 1);
  assert.equal(await page.locator('#repo-head th:has(button[data-key="name"])').getAttribute('aria-sort'), 'ascending');
  await page.locator('#repo-head button[data-key="disk_size"]').focus();
  await page.keyboard.press('Enter');
  assert.deepEqual(await repoNames(page), expect.by_disk_desc);
  assert.equal(await page.locator('#repo-head th:has(button[data-key="disk_size"])').getAttribute('aria-sort'), 'descending');
  await page.keyboard.press('Space');
  assert.deepEqual(await repoNames(page), expect.by_disk_asc);
  assert.equal(await page.locator('#repo-head th:has(button[data-key="disk_size"])').getAttribute('aria-sort'), 'ascending');
  await page.locator('#repo-head button[data-key="disk_size"]').click();
  step('sorted by name, then by disk size both ways (keyboard too)');

  // Search.
  await page.getByLabel('Search repositories').fill(expect.search);
  await page.waitForFunction((n) => document.querySelectorAll('#repo-body > tr:not(.detail)').length === n, expect.search_hits.length);
  assert.deepEqual(await repoNames(page), expect.search_hits);
  await waitText(page, '#repo-count', new RegExp(`of ${expect.search_hits.length} repositories`));
  step(`search "${expect.search}" leaves ${expect.search_hits.length}`);

  // A name full of markup is shown as text.
  await page.getByLabel('Search repositories').fill('<b>');
  await page.waitForFunction(() => document.querySelectorAll('#repo-body > tr:not(.detail)').length === 1);
  assert.equal(await text(page, '#repo-body .repo-name'), expect.markup_name);
  assert.equal(await page.locator('#repo-body b, #repo-body img').count(), 0, 'no element from a name');
  step('a name with markup is rendered as text');

  await page.getByLabel('Search repositories').fill('');
  await page.waitForFunction((n) => document.querySelectorAll('#repo-body > tr:not(.detail)').length === n, expect.by_disk_desc.length);

  // Expand a repository: its tags.
  const repo = expect.expand;
  const button = page.locator(`#repo-body button[data-expand="${repo}"]`);
  await button.click();
  await page.locator('#repo-body table.tags').waitFor();
  assert.equal(await button.getAttribute('aria-expanded'), 'true');
  const tags = await page.$$eval('#repo-body table.tags tbody .tag-name', (c) => c.map((x) => x.textContent));
  assert.deepEqual(tags, expect.expand_tags);
  const tagText = await text(page, '#repo-body table.tags');
  assert.match(tagText, /sha256:[0-9a-f]{12}\b/);
  assert.match(tagText, new RegExp(expect.expand_created));
  step(`expanded ${repo}: tags ${tags.join(', ')}`);

  await page.screenshot({ path: env('SCREENSHOT') });
  step(`screenshot: ${env('SCREENSHOT')}`);

  await button.focus();
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('#repo-body table.tags').count(), 0);
  assert.equal(await button.getAttribute('aria-expanded'), 'false');
  step('collapsed again with the keyboard');

  // Units.
  const binary = await text(page, '#total-disk');
  await page.getByLabel('kB, MB (1000)').check();
  const decimal = await text(page, '#total-disk');
  assert.match(binary, /(KiB|MiB|GiB|TiB)$/);
  assert.match(decimal, /(kB|MB|GB|TB)$/);
  await page.getByLabel('KiB, MiB (1024)').check();
  step(`units: ${binary} / ${decimal}`);

  // Namespaces.
  await page.getByRole('tab', { name: 'Namespaces' }).click();
  await page.locator('#ns-body tr').first().waitFor();
  const nsNames = await page.$$eval('#ns-body tr', (rows) => rows.map((r) => r.dataset.name));
  assert.deepEqual([...nsNames].sort(), expect.namespaces);
  const nsRow = page.locator(`#ns-body tr[data-name="${expect.namespace}"]`);
  assert.match(await nsRow.innerText(), new RegExp(`\\b${expect.namespace_repositories}\\b`));
  await nsRow.getByRole('button').click();
  await page.waitForFunction((n) => document.querySelectorAll('#repo-body > tr:not(.detail)').length === n, expect.namespace_repositories);
  assert.equal(await page.getByRole('tab', { name: 'Repositories' }).getAttribute('aria-selected'), 'true');
  await page.getByLabel('Search repositories').fill('');
  step(`namespaces: ${nsNames.length}, "${expect.namespace}" shows its ${expect.namespace_repositories} repositories`);

  // Changes since: only the state file's crawl is recorded, so nothing changed.
  await waitText(page, '#growth-note', /One crawl recorded/);
  await page.getByLabel('Changes since').selectOption('7d');
  await page.locator('#repo-head button[data-key="disk_size_change"]').waitFor();
  assert.equal(await page.locator('#repo-head th:has(button[data-key="disk_size_change"])').getAttribute('aria-sort'), 'descending');
  await waitText(page, '#fastest-repos', /Nothing grew/);
  assert.match(await text(page, '#repo-body > tr:first-child'), /±0/);
  await page.getByLabel('Changes since').selectOption('');
  await page.locator('#repo-head button[data-key="disk_size_change"]').waitFor({ state: 'detached' });
  assert.equal(await page.locator('#fastest').isHidden(), true);
  step('changes since 7 days ago: a change column sorted by it, nothing grew; gone again without');

  // The clean-up what-if panel against the service's real /cleanup.
  const cu = expect.cleanup;
  await page.getByRole('tab', { name: 'Clean-up what-if' }).click();
  await page.getByRole('button', { name: 'Compute' }).click();
  await waitText(page, '#cu-error', /Enter a pattern for the tags to delete/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'cu-delete', 'focus on the missing field');
  assert.equal(await page.locator('#cu-delete').getAttribute('aria-invalid'), 'true');

  // The whole registry, typed and run from the keyboard (Enter in the last field).
  const a = cu.registry;
  await page.getByLabel(/Delete tags matching/).fill(a.delete);
  await page.getByLabel(/But keep tags matching/).fill(a.keep);
  await page.getByLabel('Only tags older than').fill(a.older_than);
  let asked = page.waitForRequest('**/cleanup?*');
  await page.getByLabel('Only tags older than').press('Enter');
  assert.equal(new URL((await asked).url()).search, a.query);
  await waitText(page, '#cu-freed', new RegExp(`^${a.freed_text}$`));
  assert.equal(await page.locator('#cu-delete').getAttribute('aria-invalid'), null, 'the mark went with the error');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'cu-result-title', 'focus on the result');
  assert.equal(await text(page, '#cu-freed-exact'), a.freed_exact);
  assert.match(await text(page, '#status'), new RegExp(`would free ${a.freed_text} by deleting ${a.tags_deleted} tags`));
  assert.equal(await page.locator('#status').getAttribute('role'), 'status');
  for (const [id, v] of [['#cu-deleted', a.tags_deleted], ['#cu-kept', a.tags_kept], ['#cu-unmatched', a.tags_not_matched], ['#cu-repos', a.repositories]]) {
    assert.equal(await text(page, id), String(v), id);
  }
  const cuRows = await page.$$eval('#cu-body tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
  assert.deepEqual(cuRows.map((r) => r[0]), a.rows, 'largest gain first, names as text');
  for (const [name, freed, deleted, kept] of a.cells) {
    const row = cuRows.find((r) => r[0] === name);
    assert.deepEqual(row.slice(1, 4), [freed, deleted, kept], name);
  }
  assert.equal(await page.locator('#cu-body b, #cu-body img').count(), 0, 'no element from a name');
  await page.screenshot({ path: env('CLEANUP_SCREENSHOT'), fullPage: true });
  // What a screen reader gets: a named form and result region, the table's row headers, and
  // no empty landmark (one page of results: no pager).
  const aria = await page.locator('#panel-cleanup').ariaSnapshot();
  assert.match(aria, /form "Clean-up policy"/);
  assert.match(aria, /region "What this policy would free":\n\s+- heading "What this policy would free" \[level=3\]/);
  assert.match(aria, /rowheader "alpha\/web"/);
  assert.doesNotMatch(aria, /navigation/);
  step(`clean-up of the whole registry: frees ${a.freed_text}, ${cuRows.length} rows (screenshot: ${env('CLEANUP_SCREENSHOT')})`);

  await page.getByLabel('kB, MB (1000)').check();
  assert.equal(await text(page, '#cu-freed'), a.freed_text_decimal);
  await page.getByLabel('KiB, MiB (1024)').check();

  // One namespace, keep_n, and a pattern with '+' and '|' (the service does not read '+' as a space).
  const b = cu.namespace;
  await page.getByLabel(/But keep tags matching/).fill('');
  await page.getByLabel('Only tags older than').fill('');
  await page.getByLabel(/Delete tags matching/).fill(b.delete);
  await page.getByLabel('Keep the newest N tags per repository').fill(b.keep_n);
  await page.getByLabel('Scope').selectOption('namespace');
  await page.getByLabel(/^Namespace \(group path/).fill(b.scope);
  asked = page.waitForRequest('**/cleanup?*');
  await page.getByRole('button', { name: 'Compute' }).click();
  assert.equal(new URL((await asked).url()).search, b.query);
  await waitText(page, '#cu-freed', new RegExp(`^${b.freed_text}$`));
  for (const [id, v] of [['#cu-deleted', b.tags_deleted], ['#cu-kept', b.tags_kept], ['#cu-unmatched', b.tags_not_matched], ['#cu-repos', b.repositories]]) {
    assert.equal(await text(page, id), String(v), id);
  }
  assert.match(await text(page, '#cu-body'), new RegExp(b.kept_text.replace(/[()]/g, '\\$&')));
  step(`clean-up below "${b.scope}" with keep_n: frees ${b.freed_text}`);

  // What the service refuses: the 400 names the parameter, the field is marked and focused.
  await page.getByLabel(/Delete tags matching/).fill('(');
  await page.getByRole('button', { name: 'Compute' }).click();
  await waitText(page, '#cu-error', /name_regex_delete: "\(" is not a valid RE2 regular expression/);
  assert.equal(await page.locator('#cu-result').isHidden(), true);
  assert.equal(await page.locator('#cu-delete').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'cu-delete');
  await page.getByLabel(/Delete tags matching/).fill('.*');
  await page.getByLabel('Keep the newest N tags per repository').fill('ten');
  await page.getByRole('button', { name: 'Compute' }).click();
  await waitText(page, '#cu-error', /keep_n: "ten" is not a whole number/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'cu-keepn');
  assert.equal(await page.locator('#cu-delete').getAttribute('aria-invalid'), null);
  await page.getByLabel('Keep the newest N tags per repository').fill('');
  // An unknown scope: the service's 404, in words.
  await page.getByLabel('Scope').selectOption('repository');
  await page.getByLabel(/^Repository name/).fill('no/such');
  await page.getByRole('button', { name: 'Compute' }).click();
  await waitText(page, '#cu-error', /no repository named "no\/such"/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'cu-scope');
  await page.getByRole('tab', { name: 'Repositories' }).click();
  step('clean-up refusals: a bad regex and keep_n (400, naming the parameter), an unknown repository (404)');

  // The service reports exclusive_size and has /namespaces: a sortable Freeable column, and
  // the namespaces' own Freeable column (only the service's namespaces have it).
  await page.locator('#repo-head button[data-key="exclusive_size"]').click();
  assert.deepEqual(await repoNames(page), expect.by_exclusive_desc, 'largest freeable first');
  assert.equal(await page.locator('#repo-head th:has(button[data-key="exclusive_size"])').getAttribute('aria-sort'), 'descending');
  await page.getByRole('tab', { name: 'Namespaces' }).click();
  await page.locator('#ns-head button[data-key="exclusive_size"]').waitFor();
  await page.getByRole('tab', { name: 'Repositories' }).click();
  await page.locator('#repo-head button[data-key="disk_size"]').click();
  step('a sortable Freeable column from exclusive_size; the namespaces from /namespaces');

  // The header's health line: this service has fresh data from its state file (collector off).
  assert.equal(await text(page, '#health-text'), 'Collected 10 minutes ago · ok, data from the state file');
  assert.match(await page.locator('#health').getAttribute('class'), /\bok\b/);
  // A crawl running longer than usual and newer data served than shown: only a faked answer
  // has both (no collector runs here).
  const now = Date.now() / 1000;
  await page.route('**/health', (route) => route.fulfill({
    json: { status: 'ok', last_success: now - 30, snapshot_timestamp: now - 30, repositories: 1, tags: 1, crawl_running_for: 250, warning: 'crawl running for 250 s, longer than usual (the last took 100 s)' },
  }));
  await page.getByRole('button', { name: 'Refresh' }).click();
  await waitText(page, '#health', /longer than usual/);
  assert.equal(await text(page, '#health-text'), 'Collected less than a minute ago · crawl running for 250 s, longer than usual (the last took 100 s) · newer data available: Refresh');
  assert.match(await page.locator('#health').getAttribute('class'), /\bwarn\b/);
  await page.unroute('**/health');
  await page.getByRole('button', { name: 'Refresh' }).click();
  await waitText(page, '#health', /data from the state file/);
  step(`health: "${await text(page, '#health-text')}"; a long crawl and newer data (faked) are called out`);

  // Log out.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.locator('#login-view').waitFor();
  await waitText(page, '#login-error', /logged out/);
  assert.equal(await page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY), null);
  assert.equal(await page.locator('#repo-body tr').count(), 0, 'no data left in the page');
  step('logged out');

  // A token that has expired: back to the login, saying so.
  await page.evaluate(([k, t]) => sessionStorage.setItem(k, t), [TOKEN_KEY, env('EXPIRED_TOKEN')]);
  await page.reload();
  await waitText(page, '#login-error', /session has expired/);
  assert.equal(await page.locator('#app-view').isHidden(), true);
  assert.equal(await page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY), null);
  step('an expired token leads back to the login with a message');
}

async function firstCrawl(page) {
  await page.goto(BASE);
  await login(page, env('LOGIN_USER'), env('LOGIN_PASSWORD'));
  await waitText(page, '#status', /still collecting its first data/);
  assert.match(await page.locator('#status').getAttribute('class'), /warn/);
  assert.match(await text(page, '#status'), /Retrying in \d+ seconds/);
  await waitText(page, '#health-text', /^No data yet/);
  assert.match(await page.locator('#health').getAttribute('class'), /\berror\b/);
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
  step(`before the first crawl: a message and a retry; health: "${await text(page, '#health-text')}"`);
  // The clean-up what-if cannot answer either (the service's own 503).
  await page.getByRole('tab', { name: 'Clean-up what-if' }).click();
  await page.getByLabel(/Delete tags matching/).fill('.*');
  await page.getByRole('button', { name: 'Compute' }).click();
  await waitText(page, '#cu-error', /still collecting its first data/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'cu-run', 'the focus stays on the button');
  step('the clean-up what-if says so too');
  await page.getByRole('button', { name: 'Log out' }).click();
  await login(page, env('LOGIN_USER'), 'wrong');
  await waitText(page, '#login-error', /Wrong user name or password/);
  await login(page, env('LOGIN_USER'), 'wrong');
  await waitText(page, '#login-error', /Too many failed logins.*Try again in \d+ seconds/);
  step('too many failed logins: 429 message');
}

async function large(page) {
  await page.goto(BASE);
  await login(page, 'alice', 'whatever');
  await waitText(page, '#login-error', /directory \(LDAP\) is unavailable/);
  step('directory down: message on the login form');

  await page.evaluate(([k, t]) => sessionStorage.setItem(k, t), [TOKEN_KEY, env('TOKEN')]);
  const t0 = Date.now();
  await page.reload();
  await page.locator('#repo-body tr').first().waitFor();
  const wall = Date.now() - t0;
  await page.waitForFunction(() => performance.getEntriesByName('dashboard:time-to-first-render').length > 0);
  const inPage = await page.evaluate(() => {
    const m = performance.getEntriesByName('dashboard:time-to-first-render')[0];
    const requested = performance.getEntriesByName('dashboard:data-requested')[0].startTime;
    const received = performance.getEntriesByName('dashboard:data-received')[0].startTime;
    return { since_navigation_ms: Math.round(m.startTime + m.duration), fetch_and_parse_ms: Math.round(received - requested), render_ms: Math.round(m.duration - (received - requested)), total_ms: Math.round(m.duration) };
  });
  assert.equal(await page.locator('#repo-body > tr').count(), 100, 'one page of rows');
  await waitText(page, '#repo-count', /1–100 of 10,000 repositories/);
  step(`10,000 repositories: first page in ${wall} ms (reload to rows)`);
  // /health relative to the page, below the prefix.
  await waitText(page, '#health-text', /^Collected 2 minutes ago · ok/);

  const s0 = Date.now();
  await page.locator('#repo-head button[data-key="name"]').click();
  await page.waitForFunction(() => document.querySelector('#repo-body > tr').dataset.name.endsWith('00000'));
  const sortMs = Date.now() - s0;
  await page.getByRole('button', { name: 'Next page' }).first().click();
  await waitText(page, '#repo-pager', /Page 2 of 100/);
  const q0 = Date.now();
  await page.getByLabel('Search repositories').fill('repo-09999');
  await page.waitForFunction(() => document.querySelectorAll('#repo-body > tr').length === 1);
  const searchMs = Date.now() - q0; // includes the 120 ms typing pause
  await page.getByRole('button', { name: /Show the tags of/ }).click();
  await page.locator('#repo-body table.tags tbody tr').nth(9).waitFor();
  await page.getByLabel('Search repositories').fill('');
  await page.getByRole('tab', { name: 'Namespaces' }).click();
  await page.locator('#ns-body tr').first().waitFor();
  await page.getByRole('tab', { name: 'Repositories' }).click();
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
  step(`sort by name ${sortMs} ms, search ${searchMs} ms, paging, tags, namespaces`);
  console.log(`TIMING ${JSON.stringify({ reload_to_rows_ms: wall, ...inPage, sort_ms: sortMs, search_ms: searchMs })}`);
}

// Data older than twice update_interval and a collector that fails: shown before logging in
// in one word (anonymous /health says no more), with the details once logged in, and the
// stale data is still served.
async function stale(page) {
  await page.goto(BASE);
  await page.locator('#login-view').waitFor();
  await waitText(page, '#health-text', /^Stale data \(log in for details\)$/);
  assert.match(await page.locator('#health').getAttribute('class'), /\berror\b/);
  step(`stale, before logging in: "${await text(page, '#health-text')}"`);
  await page.evaluate(([k, t]) => sessionStorage.setItem(k, t), [TOKEN_KEY, env('TOKEN')]);
  await page.reload();
  await page.locator('#repo-body tr').first().waitFor();
  await waitText(page, '#health-text', /^Stale: last success at \d{4}-\d\d-\d\dT[\d:]+Z(; crawl running for [^·]+)? · last error: \S/);
  step('the stale data is still shown, and the header gives the details');
}

// The Storage tab on a real registry's storage with garbage: the cards' figures, the breaks
// in words with the safe alternative, the repository with the most untagged bytes first.
async function storage(page) {
  const want = JSON.parse(env('EXPECT'));
  await page.goto(BASE);
  await page.evaluate(([k, t]) => sessionStorage.setItem(k, t), [TOKEN_KEY, env('TOKEN')]);
  await page.reload();
  await page.locator('#repo-body tr').first().waitFor();
  await page.getByRole('tab', { name: 'Storage' }).click();
  await page.locator('#st-cards .card').first().waitFor();
  const cards = await page.$$eval('#st-cards .card', (cs) => cs.map((c) => c.innerText.replace(/\s+/g, ' ').toLowerCase()));
  for (const w of want.cards) assert.ok(cards.some((c) => c.includes(w.toLowerCase())), `a card "${w}" in ${JSON.stringify(cards)}`);
  const breaks = await text(page, '#st-breaks');
  for (const w of want.breaks) assert.ok(breaks.includes(w), `"${w}" in the breaks: ${breaks}`);
  assert.match(breaks, /Safe alternative: run garbage-collect without --delete-untagged/);
  const rows = await page.$$eval('#st-body tr', (rs) => rs.map((r) => r.dataset.name));
  assert.equal(rows[0], want.top, `rows ${JSON.stringify(rows)}`);
  step(`storage tab: ${cards.join(' | ')}; breaks named; top ${rows[0]}`);
}

const scenarios = { full, 'first-crawl': firstCrawl, large, stale, storage };
if (!scenarios[scenario]) {
  console.error(`unknown scenario ${scenario}; one of ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
const { ctx, profile } = await launch();
let failed = false;
try {
  const page = await ctx.newPage();
  const check = guard(page);
  await scenarios[scenario](page);
  check();
  console.log(`dashboard.mjs ${scenario}: all checks passed`);
} catch (e) {
  failed = true;
  console.error(`dashboard.mjs ${scenario}: FAILED: ${e.stack || e}`);
  try {
    const [page] = ctx.pages();
    if (page) {
      const shot = join(tmpdir(), `grur-dashboard-failure-${scenario}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      console.error(`the page at the failure: ${shot}`);
    }
  } catch (e2) { /* nothing more to show */ }
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(overall);
}
process.exit(failed ? 1 : 0);
