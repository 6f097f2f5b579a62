// The registry's growth: its disk size over time from GET <api>/history, drawn as an SVG line
// by this file's own few lines (no chart library, nothing from another origin), and the
// "fastest growing" lists for the chosen "since" period. Owns #growth and #fastest only;
// app.js owns the tables, the since selector and the data they show.
//
// /history (src/server/resources.rs): {points: [{timestamp, size, disk_size, exclusive_size,
// repositories, tags}, ...]}, oldest first; an empty list when the service keeps no history.

import { $, api, el, fmtBytes, fmtCount, fmtDate, isAuthError, num } from './common.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 180;
const PAD = { left: 70, right: 12, top: 10, bottom: 26 };
const FASTEST = 5;

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}

/** The chart's geometry for `points` ({t, v}): the polyline and the axis labels. Pure. */
export function chartGeometry(points) {
  const ts = points.map((p) => p.t);
  const vs = points.map((p) => p.v);
  const t0 = Math.min(...ts);
  const t1 = Math.max(...ts);
  const v1 = Math.max(...vs, 1);
  const v0 = Math.min(...vs, v1);
  // Start the axis at zero unless the line would be flat at the top.
  const lo = v0 > v1 * 0.8 ? v0 - (v1 - v0 || v1 * 0.05) : 0;
  const x = (t) => PAD.left + (t1 === t0 ? (W - PAD.left - PAD.right) : ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right));
  const y = (v) => PAD.top + (1 - (v - lo) / (v1 - lo || 1)) * (H - PAD.top - PAD.bottom);
  return {
    line: points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '),
    lo, hi: v1, t0, t1, yTop: y(v1), yBottom: y(lo),
  };
}

function drawChart(points) {
  const box = $('growth-chart');
  const note = $('growth-note');
  if (points.length < 2) {
    box.replaceChildren();
    note.textContent = points.length === 0
      ? 'No crawl history is kept yet.'
      : 'One crawl recorded so far: the chart starts with the second.';
    return;
  }
  const g = chartGeometry(points.map((p) => ({ t: p.timestamp, v: p.disk_size })));
  const last = points[points.length - 1];
  const first = points[0];
  const title = `Registry disk size from ${fmtDate(first.timestamp * 1000)} (${fmtBytes(first.disk_size)}) to ${fmtDate(last.timestamp * 1000)} (${fmtBytes(last.disk_size)}), ${fmtCount(points.length)} crawls`;
  const chart = svg('svg', {
    viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, class: 'chart-svg',
  },
  svg('title', {}, title),
  svg('line', { x1: PAD.left, x2: W - PAD.right, y1: g.yBottom, y2: g.yBottom, class: 'axis' }),
  svg('line', { x1: PAD.left, x2: PAD.left, y1: g.yTop, y2: g.yBottom, class: 'axis' }),
  svg('text', { x: PAD.left - 6, y: g.yTop + 4, 'text-anchor': 'end', class: 'tick' }, fmtBytes(g.hi)),
  svg('text', { x: PAD.left - 6, y: g.yBottom, 'text-anchor': 'end', class: 'tick' }, fmtBytes(g.lo)),
  svg('text', { x: PAD.left, y: H - 6, class: 'tick' }, fmtDate(g.t0 * 1000)),
  svg('text', { x: W - PAD.right, y: H - 6, 'text-anchor': 'end', class: 'tick' }, fmtDate(g.t1 * 1000)),
  svg('polyline', { points: g.line, class: 'growth-line' }));
  box.replaceChildren(chart);
  note.textContent = `${fmtCount(points.length)} recorded crawls; now ${fmtBytes(last.disk_size)}.`;
}

/** A signed size: "+1.5 MiB", "−300 B", "±0". */
export function fmtChange(n) {
  if (typeof n !== 'number' || !isFinite(n)) return '–';
  if (n === 0) return '±0';
  return `${n > 0 ? '+' : '−'}${fmtBytes(Math.abs(n))}`;
}

function fastestList(id, rows) {
  const top = rows.filter((r) => num(r.disk_size_change) !== null && r.disk_size_change > 0)
    .sort((a, b) => b.disk_size_change - a.disk_size_change || (a.name < b.name ? -1 : 1))
    .slice(0, FASTEST);
  const list = $(id);
  list.replaceChildren(...top.map((r) => el('li', null,
    el('span', { className: 'repo-name', text: r.name }), ' ',
    el('strong', { text: fmtChange(r.disk_size_change), title: `${fmtCount(r.disk_size_change)} bytes` }),
    r.new ? el('span', { className: 'badge', text: 'new' }) : null)));
  if (top.length === 0) list.append(el('li', { className: 'note', text: 'Nothing grew.' }));
}

export function initHistory({ onAuthError }) {
  let points = [];
  const h = {
    async load() {
      try {
        const body = await api('history');
        points = (body && Array.isArray(body.points)) ? body.points.filter((p) => num(p.timestamp) !== null) : [];
      } catch (e) {
        if (isAuthError(e)) { onAuthError(e); return; }
        points = []; // 404: an older server without history
      }
      $('growth').hidden = false;
      drawChart(points);
    },
    render() {
      if (!$('growth').hidden) drawChart(points);
    },
    /** The "fastest growing" lists, or hidden without a since period. */
    fastest(since, repos, namespaces) {
      $('fastest').hidden = !since;
      if (!since) return;
      $('fastest-since').textContent = since.label;
      fastestList('fastest-ns', namespaces);
      fastestList('fastest-repos', repos);
    },
    reset() {
      points = [];
      $('growth').hidden = true;
      $('fastest').hidden = true;
      $('growth-chart').replaceChildren();
    },
  };
  return h;
}
