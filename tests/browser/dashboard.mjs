// Drives the built-in dashboard in Debian's headless chromium (playwright-core, no downloaded
// browser). Started by tests/dashboard.rs, which runs the real service and passes everything
// through the environment:
//   node dashboard.mjs <scenario>     scenario: full | first-crawl | large
//   BASE_URL        the page (http://127.0.0.1:PORT/prefix/)
//   LOGIN_USER, LOGIN_PASSWORD, EXPIRED_TOKEN, TOKEN, EXPECT (JSON), SCREENSHOT (PNG path)
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

  // The clean-up what-if panel against its contract (the service's /cleanup is mocked here).
  await page.route('**/cleanup?*', (route) => route.fulfill({
    status: 200,
    contentType: 'application/json',
    body: JSON.stringify({
      timestamp: 1,
      freed_bytes: 3 * 1024 * 1024,
      tags_deleted: 2,
      tags_kept: 1,
      tags_not_matched: 4,
      repositories: 1,
      _embedded: { items: [{ name: 'x/<i>y</i>', freed_bytes: 3 * 1024 * 1024, delete: ['old-1', 'old-2'], keep: [{ name: 'latest', reason: 'latest' }, { name: 'v1', reason: 'regex' }], tags_not_matched: 4 }] },
    }),
  }));
  await page.getByRole('tab', { name: 'Clean-up what-if' }).click();
  await page.getByRole('button', { name: 'Compute' }).click();
  await waitText(page, '#cu-error', /Enter a pattern for the tags to delete/);
  await page.getByLabel(/Delete tags matching/).fill('old-.*');
  await page.getByLabel(/But keep tags matching/).fill('v\\d+');
  await page.getByLabel('Only tags older than').fill('2 weeks');
  await page.getByLabel('Scope').selectOption('namespace');
  await page.getByLabel('Namespace or repository name').fill('x');
  const asked = page.waitForRequest('**/cleanup?*');
  await page.getByRole('button', { name: 'Compute' }).click();
  await waitText(page, '#cu-freed', /3\.00 MiB/);
  assert.equal(new URL((await asked).url()).search, '?name_regex_delete=old-.*&name_regex_keep=v%5Cd%2B&older_than=2%20weeks&namespace=x');
  assert.equal(await text(page, '#cu-unmatched'), '4');
  assert.match(await text(page, '#cu-body'), /old-1, old-2/);
  assert.match(await text(page, '#cu-body'), /latest \(latest is never deleted\), v1 \(matches the keep pattern\)/);
  assert.equal(await page.locator('#cu-body i').count(), 0);
  await page.unroute('**/cleanup?*');
  await page.route('**/cleanup?*', (route) => route.fulfill({
    status: 400, contentType: 'application/json', body: JSON.stringify({ message: 'name_regex_delete: not a valid regular expression' }),
  }));
  await page.getByRole('button', { name: 'Compute' }).click();
  await waitText(page, '#cu-error', /not a valid regular expression/);
  await page.unroute('**/cleanup?*');
  await page.getByRole('tab', { name: 'Repositories' }).click();
  step('clean-up what-if: result and a 400 message');

  // What a service with exclusive_size and /namespaces shows (answers rewritten here, so this
  // holds whichever service runs): a Freeable column, sortable, and the server's namespaces.
  await page.route('**/repositories?embed=1', async (route) => {
    const real = await route.fetch();
    const body = await real.json();
    const names = body._embedded.items.map((r) => r.name).sort();
    for (const r of body._embedded.items) r.exclusive_size = (names.indexOf(r.name) + 1) * 1000;
    await route.fulfill({ response: real, json: body });
  });
  await page.route('**/namespaces?embed=1', (route) => route.fulfill({
    json: { timestamp: 1, _embedded: { items: [{ name: 'only/from-server', size: 5, disk_size: 4, exclusive_size: 3, repositories: 1, tags: 2 }] } },
  }));
  await page.getByRole('button', { name: 'Refresh' }).click();
  await page.locator('#repo-head button[data-key="exclusive_size"]').click();
  assert.deepEqual(await repoNames(page), [...expect.by_name].reverse(), 'largest freeable first');
  assert.equal(await page.locator('#repo-head th:has(button[data-key="exclusive_size"])').getAttribute('aria-sort'), 'descending');
  await page.getByRole('tab', { name: 'Namespaces' }).click();
  await page.locator('#ns-body tr[data-name="only/from-server"]').waitFor();
  assert.equal(await page.locator('#ns-body tr').count(), 1);
  assert.equal(await page.locator('#ns-head button[data-key="exclusive_size"]').count(), 1);
  await page.unroute('**/repositories?embed=1');
  await page.unroute('**/namespaces?embed=1');
  await page.getByRole('tab', { name: 'Repositories' }).click();
  step('with exclusive_size: a sortable Freeable column; /namespaces used when the service has it');

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
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
  step('before the first crawl: a message and a retry');
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

const scenarios = { full, 'first-crawl': firstCrawl, large };
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
