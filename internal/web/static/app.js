// Portcullis dashboard. Uses only the public REST API (/api/v1): polls the
// state every few seconds and follows /api/v1/events/stream for live events.
// No framework, no build step; every value from the API is inserted as text,
// never as HTML.
'use strict';

const POLL_MS = 2000;
// A network above these sizes is large: the page asks for the counts, the
// blocks, the suspects and the selected switch's hosts each poll, and the
// switch list every LARGE_SWITCH_POLLS polls, instead of the whole network
// (GET /api/v1/hosts?dpid=), and draws every switch as a cell of a grid.
const LARGE_SWITCHES = 32;
const LARGE_HOSTS = 512;
const LARGE_SWITCH_POLLS = 5;
const SELECTED_HOST_LIMIT = 512;
// A block on more switches than this shows counts by state, not a tag each.
const BLOCK_SWITCH_TAGS = 8;
const MAX_EVENTS = 200;
const TOKEN_KEY = 'portcullis.token';
const SVG = 'http://www.w3.org/2000/svg';

const state = {
  switches: [], hosts: [], suspects: [], blocks: [], stats: null, status: null,
  events: [], lastEventId: 0, samples: [], needToken: false,
  large: false, selected: '', hostsTotal: 0, polls: 0,
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

// ---- API ------------------------------------------------------------------

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

function headers(extra) {
  const h = Object.assign({ Accept: 'application/json' }, extra || {});
  const t = token();
  if (t) h.Authorization = 'Bearer ' + t;
  return h;
}

async function api(method, path, body) {
  const init = { method, headers: headers(), cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  if (r.status === 204) return null;
  let data = null;
  try { data = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) {
    const msg = data && data.error && data.error.message ? data.error.message : r.status + ' ' + r.statusText;
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }
  return data;
}

// ---- helpers --------------------------------------------------------------

function ago(iso) {
  if (!iso) return '-';
  const d = (Date.now() - Date.parse(iso)) / 1000;
  const fmt = (s) => s < 60 ? Math.floor(s) + 's' : s < 3600 ? Math.floor(s / 60) + 'm'
    : s < 172800 ? Math.floor(s / 3600) + 'h' + String(Math.floor(s % 3600 / 60)).padStart(2, '0') + 'm'
      : Math.floor(s / 86400) + 'd';
  return d < 0 ? 'in ' + fmt(-d >= 60 ? Math.round(-d / 60) * 60 : -d) : fmt(d) + ' ago';
}

function clock(iso) {
  const t = new Date(iso);
  return isNaN(t) ? '' : t.toLocaleTimeString([], { hour12: false });
}

function shortDpid(dpid) {
  // "0000000000000001" (16 hex digits, as Open vSwitch prints it) -> "dpid 1":
  // strip the leading zeros (and zero bytes of the older colon form).
  const s = String(dpid || '').replace(/^(00:)+/, '').replace(/^0+(?=.)/, '');
  return s.length <= 5 ? 'dpid ' + s : s;
}

let toastTimer = 0;
function toast(msg, isError) {
  const t = $('#toast');
  t.textContent = msg;
  t.className = 'toast' + (isError ? ' error' : '');
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

function banner(msg) {
  const b = $('#banner');
  b.textContent = msg || '';
  b.hidden = !msg;
}

// blockFor returns the active block that covers a host, if any.
function blockFor(h) {
  return state.blocks.find((b) => (b.mac && b.mac === h.mac) ||
    (b.ips || []).some((ip) => (h.ips || []).includes(ip)));
}

function suspectFor(h) {
  return state.suspects.find((s) => (s.mac && s.mac === h.mac) ||
    (s.ips || []).some((ip) => (h.ips || []).includes(ip)));
}

// ---- rendering ------------------------------------------------------------

function renderSummary() {
  const s = state.status;
  const box = $('#summary');
  box.replaceChildren();
  if (!s) return;
  const item = (label, value) => el('span', {}, label + ' ', el('b', { text: String(value) }));
  const up = s.uptime_seconds || 0;
  box.append(
    item('switches', s.switches), item('hosts', s.hosts), item('active blocks', s.active_blocks),
    item('suspects', s.suspects),
    item('up', up < 3600 ? Math.floor(up / 60) + 'm' : Math.floor(up / 3600) + 'h' + String(Math.floor(up % 3600 / 60)).padStart(2, '0') + 'm'),
    item('version', s.version || 'dev'));
}

// renderRole shows this instance's cluster role in the header (docs/ha.md); hidden for a single
// instance.
function renderRole(c) {
  const r = $('#role');
  if (!c || !c.enabled) { r.hidden = true; return; }
  r.hidden = false;
  r.className = 'role ' + (c.role === 'leader' ? 'leader' : 'follower');
  r.textContent = c.role + ' · ' + c.name;
  r.title = 'cluster role of ' + c.name + '; leader ' + (c.leader || 'unknown') + ', generation ' + c.generation;
}

// ellipsePoints returns k points evenly spaced by arc length on an ellipse,
// starting at the top (so nodes do not crowd where the curve is steep).
function ellipsePoints(c, rx, ry, k) {
  const N = 720, arc = [0];
  const at = (i) => { const a = -Math.PI / 2 + 2 * Math.PI * i / N; return { x: c.x + rx * Math.cos(a), y: c.y + ry * Math.sin(a) }; };
  let prev = at(0);
  for (let i = 1; i <= N; i++) {
    const p = at(i);
    arc.push(arc[i - 1] + Math.hypot(p.x - prev.x, p.y - prev.y));
    prev = p;
  }
  const out = [];
  const offset = k % 2 === 0 ? 0.5 : 0; // even counts: none straight above the switch label
  for (let j = 0, i = 0; j < k; j++) {
    const target = arc[N] * (j + offset) / k;
    while (i < N && arc[i + 1] < target) i++;
    out.push(at(i));
  }
  return out;
}

function renderNetwork() {
  const root = $('#network');
  const W = 800;
  root.replaceChildren();
  const switches = state.switches.slice().sort((a, b) => a.datapath_id - b.datapath_id);
  if (state.large) { renderLargeNetwork(root, switches); return; }
  $('#network-count').textContent = switches.length + ' switch' + (switches.length === 1 ? '' : 'es') +
    ', ' + state.hosts.length + ' host' + (state.hosts.length === 1 ? '' : 's');
  if (switches.length === 0) {
    root.setAttribute('viewBox', '0 0 800 460');
    root.append(svg('text', { x: W / 2, y: 230, class: 'empty-note', text: 'No switch connected yet' }));
    return;
  }
  // Each switch gets a cell of a grid (one switch: the whole picture), with
  // the switch in the middle and its hosts on an ellipse around it, by port.
  const n = switches.length;
  const cols = n <= 4 ? n : Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const cellW = W / cols;
  const cellH = rows === 1 ? 460 : 300;
  const H = rows * cellH;
  root.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const byDpid = new Map();
  for (const h of state.hosts) {
    if (!byDpid.has(h.dpid)) byDpid.set(h.dpid, []);
    byDpid.get(h.dpid).push(h);
  }
  const links = svg('g', {});
  const nodes = svg('g', {});
  root.append(links, nodes);
  switches.forEach((sw, i) => {
    const c = { x: cellW * (i % cols + 0.5), y: cellH * (Math.floor(i / cols) + 0.5) };
    drawSwitch(links, nodes, c, cellW, cellH, sw, byDpid.get(sw.dpid) || []);
  });
}

// drawSwitch draws a switch at c in a cell of cellW x cellH, with its hosts
// on an ellipse around it, by port.
function drawSwitch(links, nodes, c, cellW, cellH, sw, hostList) {
  const hosts = hostList.slice().sort((a, b) => a.port - b.port || (a.mac < b.mac ? -1 : 1));
  const k = hosts.length;
  // Room for the node (radius up to 18) and two label lines below it.
  const rx = Math.max(40, Math.min(cellW / 2 - 60, 120 + 14 * k));
  const ry = Math.max(40, Math.min(cellH / 2 - 58, 90 + 10 * k));
  const pts = ellipsePoints(c, rx, ry, k);
  const spacing = k > 1 ? Math.hypot(pts[1].x - pts[0].x, pts[1].y - pts[0].y) : 100;
  const nodeR = Math.max(5, Math.min(18, spacing / 2.4));
  hosts.forEach((h, j) => {
    const { x, y } = pts[j];
    const blk = blockFor(h);
    const sus = blk ? null : suspectFor(h);
    const cls = 'host' + (blk ? ' blocked' : sus ? ' suspect' : '');
    links.append(svg('line', { x1: c.x, y1: c.y, x2: x, y2: y, class: 'link' + (blk ? ' blocked' : '') }));
    const g = svg('g', { class: cls, 'data-mac': h.mac, transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` });
    g.append(svg('title', { text: `${h.mac}\n${(h.ips || []).join(', ')}\nport ${h.port}, seen ${ago(h.last_seen)}` }));
    g.append(svg('circle', { r: nodeR.toFixed(1) }));
    if (nodeR >= 12) g.append(svg('text', { y: 4, class: 'sub', text: 'p' + h.port }));
    if (k <= 28) g.append(svg('text', { y: nodeR + 16, text: (h.ips && h.ips[0]) || h.mac }));
    if (blk) g.append(svg('text', { y: nodeR + 30, class: 'sub tag', text: 'BLOCKED' }));
    else if (sus) g.append(svg('text', { y: nodeR + 30, class: 'sub tag', text: 'score ' + Math.round(100 * sus.score) + '%' }));
    else if (h.ips && h.ips[0] && k <= 16) g.append(svg('text', { y: nodeR + 30, class: 'sub', text: h.mac }));
    nodes.append(g);
  });
  const g = svg('g', { class: 'switch', 'data-dpid': sw.dpid, transform: `translate(${c.x},${c.y})` });
  const up = (sw.ports || []).filter((p) => p.state === 'up').length;
  g.append(svg('title', { text: `${sw.dpid}\n${sw.address}\nconnected ${ago(sw.connected_since)}` }));
  g.append(svg('rect', { x: -55, y: -22, width: 110, height: 44, rx: 8 }));
  g.append(svg('text', { y: -3, text: shortDpid(sw.dpid) }));
  g.append(svg('text', { y: 13, class: 'sub', text: `${up}/${(sw.ports || []).length} ports up` }));
  nodes.append(g);
}

// renderLargeNetwork draws a large network: every switch a cell of a grid
// (red with a block on it, amber with a suspect behind it), and below it
// the selected switch with its hosts. A click on a cell selects its switch.
function renderLargeNetwork(root, switches) {
  const W = 800, DETAIL = 460;
  const st = state.status || {};
  const sel = switches.find((s) => s.dpid === state.selected);
  $('#network-count').textContent = (st.switches ?? switches.length) + ' switches, ' + (st.hosts ?? 0) + ' hosts' +
    (sel ? ' · ' + shortDpid(sel.dpid) + ': ' + state.hostsTotal + ' host' + (state.hostsTotal === 1 ? '' : 's') +
      (state.hostsTotal > state.hosts.length ? ', ' + state.hosts.length + ' shown' : '') : '');
  const n = Math.max(1, switches.length);
  const cols = Math.min(n, Math.max(8, Math.ceil(Math.sqrt(n * 4))));
  const cell = W / cols;
  const rows = Math.ceil(n / cols);
  const gridH = rows * cell;
  root.setAttribute('viewBox', `0 0 ${W} ${gridH + DETAIL}`);
  const blocked = new Set(state.blocks.map((b) => b.dpid).filter(Boolean));
  const suspect = new Set(state.suspects.map((s) => s.dpid).filter(Boolean));
  const grid = svg('g', { class: 'grid' });
  switches.forEach((sw, i) => {
    const cls = 'cell' + (blocked.has(sw.dpid) ? ' blocked' : suspect.has(sw.dpid) ? ' suspect' : '') +
      (sw.dpid === state.selected ? ' selected' : '');
    const r = svg('rect', { class: cls, 'data-dpid': sw.dpid, x: ((i % cols) * cell + 1).toFixed(1),
      y: (Math.floor(i / cols) * cell + 1).toFixed(1), width: (cell - 2).toFixed(1), height: (cell - 2).toFixed(1), rx: 2 });
    r.append(svg('title', { text: `${sw.dpid}\n${sw.address}\n${(sw.ports || []).length} ports` }));
    r.addEventListener('click', () => select(sw.dpid));
    grid.append(r);
  });
  root.append(grid);
  if (!sel) {
    root.append(svg('text', { x: W / 2, y: gridH + DETAIL / 2, class: 'empty-note', text: 'Select a switch' }));
    return;
  }
  const links = svg('g', {});
  const nodes = svg('g', {});
  root.append(links, nodes);
  drawSwitch(links, nodes, { x: W / 2, y: gridH + DETAIL / 2 }, W, DETAIL, sel, state.hosts);
}

// select shows a switch's hosts in a large network.
function select(dpid) {
  if (state.selected === dpid) return;
  state.selected = dpid;
  state.hosts = [];
  state.hostsTotal = 0;
  renderNetwork();
  refreshSoon();
}

function renderBlocks() {
  const tbody = $('#blocks tbody');
  tbody.replaceChildren();
  $('#block-count').textContent = state.blocks.length ? String(state.blocks.length) : '';
  $('#no-blocks').hidden = state.blocks.length > 0;
  $('#blocks').hidden = state.blocks.length === 0;
  for (const b of state.blocks) {
    const btn = el('button', { class: 'unblock', type: 'button', 'data-id': b.id, text: 'Unblock' });
    btn.addEventListener('click', () => unblock(b.id, btn));
    const source = el('td', {}, b.mac || '', (b.ips || []).length ? el('br') : null, (b.ips || []).join(', '));
    const where = b.dpid ? shortDpid(b.dpid) + ' port ' + b.port : (b.scope || '-');
    const reason = el('td', {}, b.reason || '-');
    if ((b.evidence || []).length) {
      reason.append(el('div', { class: 'evidence', text: b.evidence.slice(0, 3).join(' · ') }));
    }
    tbody.append(el('tr', { 'data-id': b.id },
      el('td', { text: b.id }), source, el('td', { text: where }),
      el('td', { text: (b.kind || '-') + (b.level ? ' (level ' + b.level + ')' : '') }),
      reason, el('td', { text: b.expires ? ago(b.expires) : 'never' }), blockSwitches(b), el('td', {}, btn)));
  }
}

// blockSwitches is the cell saying on which switches a block is confirmed:
// one tag per switch, green when the switch holds the block's flows.
function blockSwitches(b) {
  const td = el('td', { class: 'switches' });
  const sws = b.switches || [];
  if (!sws.length) td.append('-');
  const mark = { confirmed: '\u2713', pending: '\u2026', failed: '\u2717' };
  let shown = sws;
  if (sws.length > BLOCK_SWITCH_TAGS) {
    // Many switches: a count per state, and tags for the ones not confirmed.
    const n = {};
    for (const s of sws) n[s.state] = (n[s.state] || 0) + 1;
    td.append(el('span', { class: 'sw-counts', text: Object.keys(n).sort().map((k) => (mark[k] || k) + ' ' + n[k]).join(' \u00b7 ') + ' switches' }));
    shown = sws.filter((s) => s.state !== 'confirmed').slice(0, BLOCK_SWITCH_TAGS);
  }
  for (const s of shown) {
    const title = s.state === 'confirmed' ? 'confirmed ' + ago(s.confirmed_at) : s.state + (s.error ? ': ' + s.error : '');
    td.append(el('span', { class: 'sw ' + s.state, 'data-dpid': s.dpid, title: title,
      text: shortDpid(s.dpid) + ' ' + (mark[s.state] || s.state) }));
  }
  return td;
}

function renderSuspects() {
  const ul = $('#suspects');
  ul.replaceChildren();
  const list = state.suspects.slice().sort((a, b) => b.score - a.score).slice(0, 12);
  $('#no-suspects').hidden = list.length > 0;
  for (const s of list) {
    const pct = Math.max(0, Math.min(1, s.score || 0)) * 100;
    const fill = el('span');
    fill.style.width = pct.toFixed(1) + '%'; // CSSOM, allowed by the CSP (a style attribute is not)
    const bar = el('div', { class: 'bar' }, fill);
    ul.append(el('li', { 'data-mac': s.mac },
      el('div', { class: 'who' }, (s.ips && s.ips[0]) || s.mac,
        el('small', { text: `${s.kind || 'probing'} · ${s.failures} failed / ${s.successes} ok · ${s.probes} probes` })),
      bar, el('div', { class: 'score', text: Math.round(pct) + '%' })));
  }
}

function eventItem(e, fresh) {
  const src = [e.mac, e.ip].filter(Boolean).join(' ');
  const where = e.dpid ? shortDpid(e.dpid) + (e.port ? ' port ' + e.port : '') : '';
  let msg = e.message || [e.kind, e.reason].filter(Boolean).join(': ') || e.type;
  const li = el('li', { class: `sev-${e.severity || 'info'} type-${e.type}` + (fresh ? ' fresh' : ''), 'data-id': String(e.id) },
    el('time', { datetime: e.time, text: clock(e.time) }),
    el('span', { class: 'type', text: e.type }),
    el('span', { class: 'msg' }, msg, (src || where) ? el('small', { text: [src, where].filter(Boolean).join(' @ ') }) : null));
  return li;
}

function renderEvents() {
  const ol = $('#events');
  ol.replaceChildren(...state.events.slice().reverse().map((e) => eventItem(e, false)));
  $('#event-count').textContent = state.events.length ? String(state.events.length) : '';
}

function addEvent(e) {
  if (e.id && e.id <= state.lastEventId) return;
  if (e.id) state.lastEventId = e.id;
  state.events.push(e);
  const ol = $('#events');
  ol.prepend(eventItem(e, true));
  while (state.events.length > MAX_EVENTS) {
    state.events.shift();
    ol.lastElementChild && ol.lastElementChild.remove();
  }
  $('#event-count').textContent = String(state.events.length);
  if (['blocked', 'unblocked', 'block_expired', 'scan_detected', 'switch_up', 'switch_down'].includes(e.type)) {
    refreshSoon();
  }
}

// Charts: per-minute series from /api/v1/stats when the controller keeps
// them; otherwise the differences between polls of the totals.
function renderCharts() {
  const st = state.stats;
  if (!st) return;
  const keys = ['packet_ins', 'probes', 'blocks'];
  let series = st.series || [];
  if (series.length < 2) {
    series = [];
    const s = state.samples;
    for (let i = 1; i < s.length; i++) {
      const dt = Math.max(1, (s[i].t - s[i - 1].t) / 60000);
      const p = {};
      for (const k of keys) p[k] = Math.max(0, (s[i][k] - s[i - 1][k]) / dt);
      series.push(p);
    }
  }
  for (const k of keys) {
    const fig = document.getElementById('chart-' + k);
    const box = fig.querySelector('svg');
    box.replaceChildren();
    fig.querySelector('b').textContent = String(st[k] ?? 0) + ' total';
    const vals = series.map((p) => Number(p[k]) || 0);
    if (vals.length < 2) continue;
    const max = Math.max(1, ...vals);
    const step = 300 / (vals.length - 1);
    const pts = vals.map((v, i) => [i * step, 58 - 54 * v / max]);
    const line = pts.map((p, i) => (i ? 'L' : 'M') + p[0].toFixed(1) + ' ' + p[1].toFixed(1)).join(' ');
    box.append(svg('path', { class: 'area', d: line + ` L300 60 L0 60 Z` }));
    box.append(svg('path', { class: 'line', d: line }));
    box.append(svg('title', { text: `last minute: ${Math.round(vals[vals.length - 1])}, peak ${Math.round(max)}` }));
  }
}

function renderAll() {
  renderSummary();
  renderNetwork();
  renderBlocks();
  renderSuspects();
  renderCharts();
}

// ---- polling --------------------------------------------------------------

let refreshing = false, again = false, pollTimer = 0;

// isLarge reports whether the network is too large to fetch and draw whole
// every poll.
function isLarge(st) {
  return (st.switches || 0) > LARGE_SWITCHES || (st.hosts || 0) > LARGE_HOSTS;
}

async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    const status = await api('GET', '/api/v1/status');
    const large = isLarge(status);
    let sw, hosts, sus, blocks, stats;
    if (!large) {
      [sw, hosts, sus, blocks, stats] = await Promise.all([
        api('GET', '/api/v1/switches'), api('GET', '/api/v1/hosts'), api('GET', '/api/v1/suspects'),
        api('GET', '/api/v1/blocks'), api('GET', '/api/v1/stats')]);
    } else {
      // The switch list every few polls (and when the count changed); the
      // hosts of the selected switch only.
      const needSwitches = !state.large || state.polls % LARGE_SWITCH_POLLS === 0 ||
        state.switches.length !== status.switches;
      let selected = state.selected;
      [sw, sus, blocks, stats] = await Promise.all([
        needSwitches ? api('GET', '/api/v1/switches') : Promise.resolve({ switches: state.switches }),
        api('GET', '/api/v1/suspects'), api('GET', '/api/v1/blocks'), api('GET', '/api/v1/stats')]);
      const list = sw.switches || [];
      if (!list.some((s) => s.dpid === selected)) {
        // The first switch with a block on it, else one with a suspect, else the first.
        const pick = blocks.blocks.find((b) => b.dpid && list.some((s) => s.dpid === b.dpid)) ||
          sus.suspects.find((s) => s.dpid && list.some((x) => x.dpid === s.dpid));
        const first = list.slice().sort((a, b) => a.datapath_id - b.datapath_id)[0];
        selected = pick ? pick.dpid : first ? first.dpid : '';
        state.selected = selected;
      }
      hosts = selected ? await api('GET', '/api/v1/hosts?dpid=' + encodeURIComponent(selected) + '&limit=' + SELECTED_HOST_LIMIT)
        : { hosts: [], total: 0 };
      if (state.selected !== selected) hosts = { hosts: [], total: 0 }; // another switch was chosen meanwhile
    }
    state.large = large;
    state.polls++;
    state.switches = sw.switches || [];
    state.hosts = hosts.hosts || [];
    state.hostsTotal = hosts.total ?? state.hosts.length;
    state.suspects = sus.suspects || [];
    state.blocks = blocks.blocks || [];
    state.stats = stats;
    state.status = status;
    state.samples.push({ t: Date.now(), packet_ins: stats.packet_ins, probes: stats.probes, blocks: stats.blocks });
    if (state.samples.length > 60) state.samples.shift();
    state.needToken = false;
    banner('');
    renderAll();
    api('GET', '/api/v1/cluster').then(renderRole, () => renderRole(null));
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      state.needToken = true;
      banner('This controller needs a token to read its state: ' + e.message + ' Use "Set token".');
    } else {
      banner('Cannot reach the controller API: ' + e.message);
    }
  } finally {
    refreshing = false;
    if (again) { again = false; refreshSoon(); }
  }
}

let soonTimer = 0;
function refreshSoon() {
  clearTimeout(soonTimer);
  soonTimer = setTimeout(refresh, 150);
}

function poll() {
  clearTimeout(pollTimer);
  refresh().finally(() => { pollTimer = setTimeout(poll, POLL_MS); });
}

// ---- live events (SSE over fetch, so the token can be sent) ---------------

function setLive(on) {
  const l = $('#live');
  l.className = 'live ' + (on ? 'on' : 'off');
  l.textContent = on ? 'live' : 'offline';
}

async function loadEvents() {
  try {
    const page = await api('GET', '/api/v1/events?limit=50&newest=true');
    state.events = page.events || [];
    state.lastEventId = page.next_after_id || 0;
    renderEvents();
  } catch (e) { /* the banner from refresh says why */ }
}

async function stream() {
  for (;;) {
    try {
      const h = headers({ Accept: 'text/event-stream' });
      h['Last-Event-ID'] = String(state.lastEventId);
      const r = await fetch('/api/v1/events/stream', { headers: h, cache: 'no-store' });
      if (!r.ok) throw new Error('stream: ' + r.status);
      setLive(true);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n/g, '\n');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).replace(/^ /, '')).join('\n');
          if (!data) continue;
          try { addEvent(JSON.parse(data)); } catch (e) { /* skip a bad event */ }
        }
      }
    } catch (e) { /* reconnect below */ }
    setLive(false);
    await new Promise((res) => setTimeout(res, state.needToken ? 5000 : 2000));
  }
}

// ---- changes --------------------------------------------------------------

function askToken() {
  const d = $('#token-dialog');
  const input = $('#token-input');
  input.value = '';
  return new Promise((resolve) => {
    d.addEventListener('close', () => {
      const t = d.returnValue === 'ok' ? input.value.trim() : '';
      if (t) {
        sessionStorage.setItem(TOKEN_KEY, t);
        updateTokenButton();
      }
      resolve(t);
    }, { once: true });
    d.showModal();
    input.focus();
  });
}

function updateTokenButton() {
  $('#token-button').textContent = token() ? 'Forget token' : 'Set token';
}

async function unblock(id, btn) {
  if (!token() && !(await askToken())) return;
  btn.disabled = true;
  try {
    await api('DELETE', '/api/v1/blocks/' + encodeURIComponent(id));
    state.blocks = state.blocks.filter((b) => b.id !== id);
    renderBlocks();
    renderNetwork();
    toast('Block ' + id + ' lifted');
    refreshSoon();
  } catch (e) {
    btn.disabled = false;
    if (e.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      updateTokenButton();
      toast('The token was refused: ' + e.message, true);
    } else if (e.status === 404) {
      toast('Block ' + id + ' is already gone', false);
      refreshSoon();
    } else {
      toast('Unblock failed: ' + e.message, true);
    }
  }
}

function init() {
  updateTokenButton();
  $('#token-button').addEventListener('click', async () => {
    if (token()) {
      sessionStorage.removeItem(TOKEN_KEY);
      updateTokenButton();
      toast('Token forgotten');
      return;
    }
    if (await askToken()) { toast('Token saved for this tab'); poll(); }
  });
  poll();
  loadEvents().then(stream);
  setInterval(() => { renderBlocks(); }, 15000); // keep "expires in" fresh
}

document.addEventListener('DOMContentLoaded', init);
