// Shopfloor SLM operator console. Plain ES2020, no dependencies.
// Untrusted text is only ever inserted with textContent; the one innerHTML
// is the replay report, which the server sanitizes.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const ANSWERS_KEY = 'shopfloor.console.answers';
  const OPERATOR_KEY = 'shopfloor.console.operator';
  const MAX_POINTS = 120;
  const MAX_CLEARED = 200;
  const MAX_STORED_ANSWERS = 20;
  const MAX_SHOWN_ANSWERS = 50;
  const SPARK_W = 120;
  const SPARK_H = 24;

  const S = {
    csrf: null, es: null, retryTimer: null, retryDelay: 500, offset: 0, staleAfter: 10000, sources: new Map(), snapshotSeen: false,
    tags: new Map(), sorted: [], dirty: new Set(), rebuild: false, filter: '', filterDirty: false,
    alarms: new Map(), alarmsDirty: false, alarmsReset: false, alarmSeq: 0,
    items: [], ackKey: null, shelveKey: null, scheduled: false, reportSeq: 0,
  };

  const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });
  const cmpName = (a, b) => collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
  const nf = new Intl.NumberFormat('en-US');
  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false });

  const serverNow = () => Date.now() + S.offset;
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const noteNow = (ms) => { if (isNum(ms)) S.offset = ms - Date.now(); };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }

  // ---------- formatting ----------
  function trimZeros(s) {
    if (s.indexOf('e') >= 0) {
      const [m, x] = s.split('e');
      return trimZeros(m) + 'e' + x;
    }
    return s.indexOf('.') >= 0 ? s.replace(/\.?0+$/, '') : s;
  }
  function fmtNum(v) {
    if (!isNum(v)) return String(v);
    const a = Math.abs(v);
    let s = a !== 0 && a < 0.001 ? v.toPrecision(4) : v.toFixed(4);
    s = trimZeros(s);
    return s === '-0' ? '0' : s;
  }
  function fmtValue(v) {
    if (v === null || v === undefined) return '—';
    if (typeof v === 'number') return fmtNum(v);
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'string') return v;
    try { return JSON.stringify(v); } catch (_) { return String(v); }
  }
  function fmtLimits(lo, hi) {
    if (lo != null && hi != null) return fmtNum(lo) + ' … ' + fmtNum(hi);
    if (hi != null) return '≤ ' + fmtNum(hi);
    if (lo != null) return '≥ ' + fmtNum(lo);
    return '';
  }
  function fmtAge(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }
  function fmtTime(ms) {
    if (!isNum(ms)) return '—';
    return (Math.abs(serverNow() - ms) < 20 * 3600e3 ? timeFmt : dateFmt).format(new Date(ms));
  }
  function timeEl(ms, cls) {
    const t = el('time', cls, fmtTime(ms));
    if (isNum(ms)) t.dateTime = new Date(ms).toISOString();
    return t;
  }
  const pct = (c) => Math.round(c * 100) + '%';
  // Flex rows drop whitespace visually; the spaces keep screen readers from running words together.
  function spaced(parent) {
    const kids = Array.from(parent.childNodes);
    parent.replaceChildren();
    kids.forEach((k, i) => { if (i) parent.append(' '); parent.append(k); });
    return parent;
  }

  // ---------- HTTP ----------
  async function api(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') {
      opts.headers['Content-Type'] = 'application/json';
      if (S.csrf) opts.headers['X-CSRF-Token'] = S.csrf;
      opts.body = JSON.stringify(body || {});
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      return { ok: false, status: 0, data: null, error: { message: 'Cannot reach the gateway (' + ((e && e.message) || e) + ').', code: 'network' } };
    }
    let data = null;
    try { data = await res.json(); } catch (_) { /* not JSON */ }
    let error = null;
    if (!res.ok) {
      const e = data && typeof data === 'object' ? data.error : null;
      error = {
        message: (e && typeof e.message === 'string' && e.message) || ('Request failed: HTTP ' + res.status + (res.statusText ? ' ' + res.statusText : '')),
        code: (e && typeof e.code === 'string' && e.code) || String(res.status),
      };
    }
    return { ok: res.ok, status: res.status, data, error };
  }
  // API call made while logged in: a 401 sends the operator back to the login form.
  async function authed(method, path, body) {
    const r = await api(method, path, body);
    if (r.status === 401) showLogin((r.error && r.error.message) || 'Please sign in again.');
    return r;
  }

  // ---------- session ----------
  function showConsole(data) {
    S.csrf = typeof data.csrf === 'string' ? data.csrf : null;
    $('operator-name').textContent = data.operator ? String(data.operator) : '';
    $('boot').hidden = true;
    $('login').hidden = true;
    $('console').hidden = false;
    $('session-info').hidden = false;
    $('login-error').textContent = '';
    // A dataflow without an assistant (GATEWAY_CONSOLE_ASK=false) shows no question box.
    const canAsk = data.ask !== false;
    $('ask-panel').hidden = !canAsk;
    const askLink = document.querySelector('.section-nav a[href="#ask-panel"]');
    if (askLink) askLink.hidden = !canAsk;
    startEvents(false);
    loadReports();
  }
  function showLogin(message) {
    stopEvents();
    S.csrf = null;
    for (const id of ['ack-dialog', 'shelve-dialog']) closeDialog($(id));
    resetPlant();
    $('boot').hidden = true;
    $('console').hidden = true;
    $('session-info').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    const op = $('login-operator');
    (op.value ? $('login-key') : op).focus();
  }
  function resetPlant() {
    S.tags = new Map(); S.sorted = []; S.dirty.clear(); S.rebuild = false; S.snapshotSeen = false;
    $('tags-table').tBodies[0].replaceChildren();
    S.alarms = new Map(); S.alarmsDirty = false;
    $('alarms').replaceChildren();
    $('alarm-error').textContent = '';
    $('report-view').replaceChildren();
    updateCount(); updateAlarmSummary();
  }

  async function onLoginSubmit(ev) {
    ev.preventDefault();
    const opInput = $('login-operator');
    const operator = opInput.value.trim();
    const errEl = $('login-error');
    if (!operator) { errEl.textContent = 'Please enter your name.'; opInput.focus(); return; }
    const btn = $('login-submit');
    btn.disabled = true;
    errEl.textContent = '';
    const r = await api('POST', '/console/api/login', { operator, key: $('login-key').value });
    btn.disabled = false;
    if (r.ok && r.data && typeof r.data === 'object') {
      try { localStorage.setItem(OPERATOR_KEY, operator); } catch (_) { /* storage off */ }
      $('login-key').value = '';
      showConsole(r.data);
    } else {
      errEl.textContent = r.error ? r.error.message : 'Sign-in failed.';
      $('login-key').focus();
    }
  }
  async function onLogout() {
    const btn = $('logout');
    btn.disabled = true;
    await api('POST', '/console/api/logout', {});
    btn.disabled = false;
    // A shared tablet: the next operator does not see this one's questions.
    try { localStorage.removeItem(ANSWERS_KEY); } catch (_) { /* storage off */ }
    S.items = [];
    $('answers').replaceChildren();
    showLogin('');
  }

  // ---------- server-sent events ----------
  const CONN_TEXT = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' };
  function setConn(state) {
    const c = $('conn-status');
    if (c.dataset.state !== state) {
      c.dataset.state = state;
      c.textContent = CONN_TEXT[state] || state;
    }
  }
  function parse(ev) {
    try { const d = JSON.parse(ev.data); return d && typeof d === 'object' ? d : null; } catch (_) { return null; }
  }
  function startEvents(reconnecting) {
    stopEvents();
    setConn(reconnecting ? 'reconnecting' : 'connecting');
    if (typeof EventSource === 'undefined') { setConn('reconnecting'); return; }
    const es = new EventSource('/console/api/events');
    S.es = es;
    es.addEventListener('open', () => { if (S.es === es) setConn('live'); });
    es.addEventListener('snapshot', (ev) => { const d = parse(ev); if (d && S.es === es) { S.snapshotChars = ev.data.length; setConn('live'); S.retryDelay = 500; onSnapshot(d); } });
    es.addEventListener('tags', (ev) => { const d = parse(ev); if (d && S.es === es) onTags(d); });
    es.addEventListener('alarms', (ev) => { const d = parse(ev); if (d && S.es === es) onAlarms(d); });
    es.addEventListener('sources', (ev) => { const d = parse(ev); if (d && S.es === es) onSources(d); });
    es.addEventListener('error', () => {
      if (S.es !== es) return;
      setConn('reconnecting');
      // EventSource retries by itself unless the server refused the stream
      // (e.g. 401): then check the session and start a new stream.
      if (es.readyState === 2) { es.close(); S.es = null; scheduleRetry(); }
    });
  }
  function stopEvents() {
    clearTimeout(S.retryTimer);
    S.retryTimer = null;
    if (S.es) { S.es.close(); S.es = null; }
  }
  function scheduleRetry() {
    clearTimeout(S.retryTimer);
    const delay = S.retryDelay;
    S.retryDelay = Math.min(S.retryDelay * 2, 15000);
    S.retryTimer = setTimeout(async () => {
      const r = await api('GET', '/console/api/session');
      if ($('console').hidden) return;
      if (r.status === 401) { showLogin((r.error && r.error.message) || 'Your session has ended. Please sign in again.'); return; }
      if (r.ok && r.data && typeof r.data.csrf === 'string') S.csrf = r.data.csrf;
      if (r.ok) startEvents(true); else scheduleRetry();
    }, delay);
  }

  // ---------- timing ----------
  // A User Timing mark once the first table of a page load is on screen
  // (after the frame that drew it), read by `shopfloor-bench console`.
  function markTablePainted() {
    if (S.tablePainted || !S.tags.size) return;
    S.tablePainted = true;
    const detail = { tags: S.tags.size, snapshot_chars: S.snapshotChars || 0 };
    requestAnimationFrame(() => setTimeout(() => {
      try { performance.mark('shopfloor-table-painted', { detail }); } catch (_) { /* old browser */ }
    }, 0));
  }

  // ---------- batching ----------
  function schedule() {
    if (S.scheduled) return;
    S.scheduled = true;
    requestAnimationFrame(flush);
    setTimeout(flush, 250); // rAF is paused in background tabs
  }
  function flush() {
    if (!S.scheduled) return;
    S.scheduled = false;
    const now = serverNow();
    if (S.rebuild) {
      rebuildTable(now);
      markTablePainted();
    } else if (S.dirty.size) {
      for (const name of S.dirty) {
        const e = S.tags.get(name);
        if (!e) continue;
        if (!e.row) insertRow(e);
        renderRow(e, now);
      }
    }
    S.dirty.clear();
    if (S.filterDirty) applyFilter();
    updateCount();
    if (S.alarmsDirty) renderAlarms();
  }

  // ---------- tags ----------
  function cleanPoint(p) {
    return Array.isArray(p) && p.length >= 2 && isNum(p[0]) && isNum(p[1]) ? [p[0], p[1]] : null;
  }
  function applyTag(e, t, snapshot) {
    const has = (k) => Object.prototype.hasOwnProperty.call(t, k);
    if (has('value')) e.value = t.value;
    if (has('unit')) e.unit = typeof t.unit === 'string' ? t.unit : '';
    if (has('quality')) e.quality = t.quality;
    if (has('status_code')) e.status = t.status_code;
    if (has('ts_ms')) e.ts = isNum(t.ts_ms) ? t.ts_ms : null;
    if (has('low_limit')) e.low = isNum(t.low_limit) ? t.low_limit : null;
    if (has('high_limit')) e.high = isNum(t.high_limit) ? t.high_limit : null;
    if (has('description')) e.desc = typeof t.description === 'string' ? t.description : '';
    if (has('source')) e.source = typeof t.source === 'string' ? t.source : '';
    if (snapshot) {
      e.hist = Array.isArray(t.history) ? t.history.map(cleanPoint).filter(Boolean).slice(-MAX_POINTS) : [];
      e.histDirty = true;
    } else {
      const p = cleanPoint(t.point);
      if (p) {
        e.hist.push(p);
        if (e.hist.length > MAX_POINTS) e.hist.splice(0, e.hist.length - MAX_POINTS);
        e.histDirty = true;
      }
    }
    e.search = (e.name + '\n' + e.desc).toLowerCase();
  }
  function newEntry(name) {
    return {
      name, row: null, cells: null, r: {}, hidden: false, hist: [], histDirty: true,
      value: null, unit: '', quality: null, status: null, ts: null, low: null, high: null, desc: '', source: '', search: '',
    };
  }
  function onSnapshot(d) {
    noteNow(d.now_ms);
    if (isNum(d.stale_after_ms)) S.staleAfter = d.stale_after_ms;
    S.sources = new Map();
    noteSources(d.sources);
    const next = new Map();
    for (const t of Array.isArray(d.tags) ? d.tags : []) {
      if (!t || typeof t.tag !== 'string') continue;
      const e = newEntry(t.tag);
      const old = S.tags.get(t.tag);
      if (old && old.row) Object.assign(e, { row: old.row, cells: old.cells, r: old.r, hidden: old.hidden }); // reuse the row
      applyTag(e, t, true);
      next.set(t.tag, e);
    }
    S.tags = next;
    S.dirty.clear();
    S.rebuild = true;
    S.snapshotSeen = true;
    replaceAlarms(Array.isArray(d.alarms) ? d.alarms : []);
    schedule();
  }
  // When each source was last heard from: a value that does not change is
  // not stale while its source keeps reporting.
  function noteSources(sources) {
    if (!sources || typeof sources !== 'object') return;
    for (const [source, heard] of Object.entries(sources)) if (isNum(heard)) S.sources.set(source, heard);
  }
  function onSources(d) {
    noteNow(d.now_ms);
    noteSources(d.sources);
  }
  function onTags(d) {
    noteNow(d.now_ms);
    for (const t of Array.isArray(d.tags) ? d.tags : []) {
      if (!t || typeof t.tag !== 'string') continue;
      let e = S.tags.get(t.tag);
      if (!e) { e = newEntry(t.tag); S.tags.set(t.tag, e); }
      applyTag(e, t, false);
      S.dirty.add(t.tag);
    }
    schedule();
  }

  let rowProto = null;
  function makeRow(e) {
    if (!rowProto) {
      const tr = el('tr');
      const name = el('td', 'tag-name');
      name.append(el('span', 'tag-label'), el('span', 'tag-desc'));
      const value = el('td', 'tag-value');
      value.append(el('span', 'tag-num'), document.createTextNode(' '), el('span', 'tag-unit'));
      const q = el('td', 'tag-quality');
      q.append(el('span', 'tag-q'), document.createTextNode(' '), el('span', 'tag-age'));
      const lim = el('td', 'tag-limits');
      const trend = el('td', 'tag-trend');
      const svg = document.createElementNS(SVG_NS, 'svg');
      svg.setAttribute('class', 'spark');
      svg.setAttribute('width', String(SPARK_W));
      svg.setAttribute('height', String(SPARK_H));
      svg.setAttribute('viewBox', '0 0 ' + SPARK_W + ' ' + SPARK_H);
      svg.setAttribute('preserveAspectRatio', 'none');
      svg.setAttribute('aria-hidden', 'true');
      svg.setAttribute('focusable', 'false');
      const poly = document.createElementNS(SVG_NS, 'polyline');
      poly.setAttribute('points', '');
      svg.append(poly);
      trend.append(svg);
      tr.append(name, value, q, lim, trend);
      // the table's CSS display is grid, so keep the table semantics explicit
      tr.setAttribute('role', 'row');
      for (const td of tr.children) td.setAttribute('role', 'cell');
      rowProto = tr;
    }
    const tr = rowProto.cloneNode(true);
    const [name, value, q, lim, trend] = tr.children;
    tr.dataset.tag = e.name;
    name.firstChild.textContent = e.name;
    e.row = tr;
    e.r = {};
    e.cells = { name, desc: name.lastChild, num: value.firstChild, unit: value.lastChild, q, qLabel: q.firstChild, age: q.lastChild, lim, poly: trend.firstChild.firstChild };
    e.histDirty = true;
    e.hidden = false;
    matchFilter(e);
    return tr;
  }
  function rebuildTable(now) {
    S.rebuild = false;
    const names = Array.from(S.tags.keys()).sort(cmpName);
    const frag = document.createDocumentFragment();
    for (const n of names) {
      const e = S.tags.get(n);
      if (e.row) matchFilter(e); else makeRow(e);
      frag.append(e.row);
      renderRow(e, now);
    }
    S.sorted = names;
    $('tags-table').tBodies[0].replaceChildren(frag);
  }
  function insertRow(e) {
    const arr = S.sorted;
    let lo = 0;
    let hi = arr.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmpName(arr[mid], e.name) < 0) lo = mid + 1; else hi = mid;
    }
    arr.splice(lo, 0, e.name);
    makeRow(e);
    const after = lo + 1 < arr.length ? S.tags.get(arr[lo + 1]) : null;
    $('tags-table').tBodies[0].insertBefore(e.row, after && after.row ? after.row : null);
  }
  function renderRow(e, now) {
    const c = e.cells;
    const r = e.r;
    if (r.desc !== e.desc) {
      r.desc = e.desc;
      c.desc.textContent = e.desc;
      if (e.desc) c.name.title = e.desc; else c.name.removeAttribute('title');
      matchFilter(e);
    }
    const v = fmtValue(e.value);
    if (r.v !== v) { r.v = v; c.num.textContent = v; }
    if (r.unit !== e.unit) { r.unit = e.unit; c.unit.textContent = e.unit; }
    const lim = fmtLimits(e.low, e.high);
    if (r.lim !== lim) { r.lim = lim; c.lim.textContent = lim; }
    const beyond = isNum(e.value) && ((e.high != null && e.value > e.high) || (e.low != null && e.value < e.low));
    if (r.beyond !== beyond) { r.beyond = beyond; e.row.classList.toggle('beyond-limit', beyond); }
    const qt = [e.status ? 'status ' + e.status : '', e.source].filter(Boolean).join(' · ');
    if (r.qt !== qt) { r.qt = qt; if (qt) c.q.title = qt; else c.q.removeAttribute('title'); }
    updateQuality(e, now);
    if (e.histDirty) { e.histDirty = false; drawSpark(e); }
  }
  function qualityOf(e, now) {
    const heard = Math.max(e.ts != null ? e.ts : 0, S.sources.get(e.source) || 0);
    if (heard && now - heard > S.staleAfter) return 'stale';
    if (e.quality === 'good' || e.quality === 'uncertain' || e.quality === 'bad') return e.quality;
    return e.quality ? String(e.quality) : 'uncertain';
  }
  function updateQuality(e, now) {
    const c = e.cells;
    const q = qualityOf(e, now);
    if (e.r.q !== q) { e.r.q = q; c.q.dataset.quality = q; c.qLabel.textContent = q; }
    const age = e.ts != null ? fmtAge(now - e.ts) : '';
    if (e.r.age !== age) { e.r.age = age; c.age.textContent = age; }
  }
  function drawSpark(e) {
    const pts = e.hist;
    const n = pts.length;
    if (n < 2) { e.cells.poly.setAttribute('points', ''); return; }
    const t0 = pts[0][0];
    const span = pts[n - 1][0] - t0;
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of pts) { if (p[1] < lo) lo = p[1]; if (p[1] > hi) hi = p[1]; }
    const vr = hi - lo;
    const parts = new Array(n);
    for (let i = 0; i < n; i++) {
      const x = span > 0 ? ((pts[i][0] - t0) * SPARK_W) / span : (i * SPARK_W) / (n - 1);
      const y = vr > 0 ? SPARK_H - 2 - ((pts[i][1] - lo) * (SPARK_H - 4)) / vr : SPARK_H / 2;
      parts[i] = x.toFixed(1) + ',' + y.toFixed(1);
    }
    e.cells.poly.setAttribute('points', parts.join(' '));
  }
  function matchFilter(e) {
    const hide = !!S.filter && e.search.indexOf(S.filter) < 0;
    if (e.hidden !== hide) {
      e.hidden = hide;
      if (e.row) e.row.classList.toggle('filtered-out', hide);
    }
  }
  function applyFilter() {
    S.filterDirty = false;
    for (const e of S.tags.values()) if (e.row) matchFilter(e);
  }
  function updateCount() {
    const total = S.tags.size;
    let shown = total;
    if (S.filter) { shown = 0; for (const e of S.tags.values()) if (!e.hidden) shown++; }
    const text = S.filter ? nf.format(shown) + ' of ' + nf.format(total) + ' tags' : nf.format(total) + (total === 1 ? ' tag' : ' tags');
    const tc = $('tag-count');
    if (tc.textContent !== text) tc.textContent = text;
    const empty = $('tags-empty');
    let msg = '';
    if (!S.snapshotSeen) msg = 'Waiting for plant values…';
    else if (!total) msg = 'No plant values reported yet.';
    else if (!shown) msg = 'No tag matches the filter.';
    if (empty.textContent !== msg) empty.textContent = msg;
    empty.hidden = !msg;
  }

  // ---------- alarms ----------
  const UNACKED = new Set(['unacknowledged', 'returned_unacknowledged']);
  const STATE_TEXT = {
    unacknowledged: 'Unacknowledged, active',
    acknowledged: 'Acknowledged, active',
    returned_unacknowledged: 'Returned, unacknowledged',
    cleared: 'Cleared',
  };
  function replaceAlarms(list) {
    S.alarms = new Map();
    S.alarmsReset = true;
    for (const a of list) upsertAlarm(a, false);
    S.alarmsDirty = true;
  }
  function upsertAlarm(a, announce) {
    if (!a || typeof a !== 'object' || typeof a.key !== 'string') return;
    let e = S.alarms.get(a.key);
    if (e && e.a && isNum(e.a.changed_ms) && isNum(a.changed_ms) && a.changed_ms < e.a.changed_ms) return; // older news
    const wasUnacked = !!(e && UNACKED.has(e.a.state));
    if (!e) { e = { key: a.key, li: null, a: null }; S.alarms.set(a.key, e); }
    e.a = a;
    e.dirty = true;
    S.alarmsDirty = true;
    if (announce && UNACKED.has(a.state) && !wasUnacked && !a.shelved) {
      S.announce = (S.announce || []).concat((a.severity || 'alarm') + ' alarm' + (a.station ? ' at ' + a.station : '') + ': ' + (a.message || a.key));
    }
  }
  function onAlarms(d) {
    noteNow(d.now_ms);
    for (const a of Array.isArray(d.alarms) ? d.alarms : []) upsertAlarm(a, true);
    schedule();
  }
  function sortAlarms(x, y) {
    const a = x.a;
    const b = y.a;
    return ((b.raised_ms || 0) - (a.raised_ms || 0)) || ((b.changed_ms || 0) - (a.changed_ms || 0)) || cmpName(x.key, y.key);
  }
  function renderAlarms() {
    S.alarmsDirty = false;
    const list = $('alarms');
    if (S.alarmsReset) { S.alarmsReset = false; list.replaceChildren(); }
    // keep at most MAX_CLEARED cleared alarms, newest first
    const cleared = [];
    for (const e of S.alarms.values()) if (e.a.state === 'cleared') cleared.push(e);
    if (cleared.length > MAX_CLEARED) {
      cleared.sort((x, y) => (y.a.changed_ms || 0) - (x.a.changed_ms || 0));
      for (const e of cleared.slice(MAX_CLEARED)) { if (e.li) e.li.remove(); S.alarms.delete(e.key); }
    }
    for (const e of S.alarms.values()) if (e.dirty || !e.li) buildAlarm(e);
    const order = Array.from(S.alarms.values()).sort(sortAlarms);
    let ref = list.firstChild;
    for (const e of order) {
      if (e.li === ref) ref = ref.nextSibling;
      else list.insertBefore(e.li, ref);
    }
    updateAlarmSummary();
    if (S.announce && S.announce.length) {
      const msgs = S.announce;
      S.announce = [];
      $('alarm-live').textContent = msgs.length === 1 ? 'New ' + msgs[0] : msgs.length + ' new alarms. ' + msgs.join('. ');
    }
  }
  function updateAlarmSummary() {
    let n = 0;
    // A shelved alarm is suppressed until its shelf runs out (the server says when).
    for (const e of S.alarms.values()) if (UNACKED.has(e.a.state) && !e.a.shelved) n++;
    const c = $('alarm-count');
    const t = String(n);
    if (c.textContent !== t) c.textContent = t;
    c.dataset.count = t;
    c.parentElement.classList.toggle('has-unacked', n > 0);
    $('alarms-empty').hidden = S.alarms.size > 0;
  }
  function fmtPerson(o) { return o && o.operator ? String(o.operator) : 'someone'; }
  function safeCropUrl(u) { return typeof u === 'string' && u.charAt(0) === '/' && u.charAt(1) !== '/' && u.charAt(1) !== '\\' ? u : null; }
  function buildAlarm(e) {
    const a = e.a;
    e.dirty = false;
    let li = e.li;
    let focusCls = null;
    if (!li) {
      li = el('li');
      li.tabIndex = -1;
      e.li = li;
      e.msgId = 'alarm-msg-' + (++S.alarmSeq);
    } else if (li.contains(document.activeElement)) {
      const act = document.activeElement;
      focusCls = act === li ? '' : ['alarm-ack', 'alarm-shelve', 'alarm-unshelve', 'alarm-response-summary'].find((c) => act.classList.contains(c)) || '';
    }
    const state = typeof a.state === 'string' ? a.state : 'unacknowledged';
    const sev = typeof a.severity === 'string' ? a.severity : 'info';
    const unacked = UNACKED.has(state);
    li.className = 'alarm' + (unacked ? ' unacked' : '') + (a.shelved ? ' shelved' : '') + (state === 'cleared' ? ' cleared' : '');
    li.dataset.key = a.key;
    li.dataset.state = state;
    li.dataset.severity = sev;

    const head = el('div', 'alarm-head');
    head.append(el('span', 'alarm-severity', sev), el('span', 'alarm-state', STATE_TEXT[state] || state));
    if (a.station) head.append(el('span', 'alarm-station', a.station));
    if (a.tag) head.append(el('span', 'alarm-tag', a.tag));
    if (a.shelved) head.append(el('span', 'badge badge-shelved', 'shelved'));

    const msg = el('p', 'alarm-message', a.message || a.key);
    msg.id = e.msgId;

    const times = el('p', 'alarm-times');
    e.ageEl = el('span', 'alarm-age');
    e.r_age = '';
    times.append('Raised ', timeEl(a.raised_ms, 'alarm-raised'), ' (', e.ageEl, ')');
    if (isNum(a.changed_ms) && a.changed_ms !== a.raised_ms) times.append(' · changed ', timeEl(a.changed_ms, 'alarm-changed'));
    if (a.kind) times.append(' · ' + a.kind);
    if (a.source) times.append(' · ' + a.source);
    const parts = [spaced(head), msg, times];

    if (a.ack && typeof a.ack === 'object') {
      const p = el('p', 'alarm-ack-info');
      p.append('Acknowledged by ', el('strong', null, fmtPerson(a.ack)), ' at ', timeEl(a.ack.ts_ms));
      if (a.ack.comment) p.append(': ', el('q', 'alarm-comment', a.ack.comment));
      parts.push(p);
    }
    if (a.shelved && typeof a.shelved === 'object') {
      const p = el('p', 'alarm-shelved-info');
      p.append('Shelved by ', el('strong', null, fmtPerson(a.shelved)), ' until ', timeEl(a.shelved.until_ms));
      if (a.shelved.comment) p.append(': ', el('q', 'alarm-comment', a.shelved.comment));
      parts.push(p);
    }
    if (a.defect && typeof a.defect === 'object') parts.push(buildDefect(e, a.defect));
    const response = buildResponse(e, a.response);
    if (response) parts.push(response);

    const actions = el('div', 'alarm-actions');
    const btn = (cls, text) => {
      const b = el('button', 'btn ' + cls, text);
      b.type = 'button';
      b.setAttribute('aria-describedby', e.msgId);
      actions.append(b);
    };
    if (unacked) btn('alarm-ack btn-primary', 'Acknowledge');
    if (a.shelved) btn('alarm-unshelve', 'Unshelve');
    else if (state !== 'cleared') btn('alarm-shelve', 'Shelve…');
    if (actions.firstChild) parts.push(actions);

    li.replaceChildren(...parts);
    updateAlarmAge(e, serverNow());
    if (focusCls !== null) {
      const target = (focusCls && li.querySelector('.' + focusCls)) || li;
      target.focus();
    }
  }
  function buildDefect(e, d) {
    const box = el('div', 'alarm-defect');
    const url = safeCropUrl(d.crop_url);
    if (url) {
      if (!e.img || e.imgUrl !== url) {
        const img = el('img', 'alarm-crop');
        img.alt = 'Defect crop' + (d.location ? ' (' + d.location + ')' : '');
        img.loading = 'lazy';
        img.decoding = 'async';
        img.addEventListener('error', () => img.classList.add('broken'));
        img.src = url;
        e.img = img;
        e.imgUrl = url;
      }
      box.append(e.img);
    }
    const info = [];
    if (d.verdict) info.push('verdict ' + d.verdict);
    if (isNum(d.anomaly_score)) info.push('anomaly score ' + fmtNum(d.anomaly_score));
    if (d.location) info.push('location ' + d.location);
    const side = el('div', 'alarm-defect-info');
    if (info.length) side.append(el('p', null, info.join(' · ')));
    if (Array.isArray(d.regions) && d.regions.length) {
      const box2 = el('div', 'alarm-regions');
      box2.append(el('span', 'alarm-regions-label', 'Regions (frame pixels):'));
      for (const r of d.regions.slice(0, 20)) {
        if (!r || typeof r !== 'object') continue;
        let t = fmtNum(r.x) + ',' + fmtNum(r.y) + ' ' + fmtNum(r.width) + '×' + fmtNum(r.height);
        if (isNum(r.score)) t += ' score ' + fmtNum(r.score);
        box2.append(el('span', 'alarm-region', t));
      }
      side.append(box2);
    }
    box.append(side);
    return box;
  }
  // The site's documented response to the alarm: numbered steps, one a line.
  // Whether it is open survives the alarm being rebuilt on a state change.
  function buildResponse(e, r) {
    if (!r || typeof r !== 'object' || typeof r.text !== 'string') return null;
    const lines = r.text.split('\n').map((l) => l.trim()).filter(Boolean);
    if (!lines.length) return null;
    const det = el('details', 'alarm-response');
    det.open = !!e.responseOpen;
    det.addEventListener('toggle', () => { e.responseOpen = det.open; });
    const sum = el('summary', 'alarm-response-summary', 'What to do');
    if (typeof r.source === 'string' && r.source) sum.append(' ', el('span', 'alarm-response-source', r.source));
    det.append(sum);
    const ol = el('ol', 'alarm-response-steps');
    let step = null;
    for (const line of lines) {
      const m = /^(\d{1,3})[.)]\s+(.*)$/.exec(line);
      if (m) {
        if (!ol.firstChild && m[1] !== '1') ol.start = Number(m[1]);
        step = el('li', null, m[2]);
        ol.append(step);
      } else if (step) {
        step.append('\n' + line);
      } else {
        det.append(el('p', 'alarm-response-note', line));
      }
    }
    if (ol.firstChild) det.append(ol);
    return det;
  }
  function updateAlarmAge(e, now) {
    if (!e.ageEl) return;
    const t = isNum(e.a.raised_ms) ? fmtAge(now - e.a.raised_ms) : '';
    if (e.r_age !== t) { e.r_age = t; e.ageEl.textContent = t; }
  }

  // alarm actions
  function openDialog(d) {
    if (typeof d.showModal === 'function') { if (!d.open) d.showModal(); } else d.setAttribute('open', '');
  }
  function closeDialog(d) {
    if (!d || !d.open) return;
    if (typeof d.close === 'function') d.close(); else d.removeAttribute('open');
  }
  function alarmText(key) {
    const e = S.alarms.get(key);
    return e ? (e.a.severity ? e.a.severity.toUpperCase() + ': ' : '') + (e.a.message || key) : key;
  }
  function refocusAlarm(key, cls) {
    setTimeout(() => {
      const act = document.activeElement;
      if (act && act !== document.body && document.contains(act)) return;
      const e = S.alarms.get(key);
      if (e && e.li) ((cls && e.li.querySelector('.' + cls)) || e.li).focus();
    }, 0);
  }
  async function alarmAction(kind, body) {
    $('alarm-error').textContent = '';
    const r = await authed('POST', '/console/api/alarms/' + kind, body);
    if (r.ok) {
      if (r.data && typeof r.data === 'object') { upsertAlarm(r.data.alarm && r.data.alarm.key ? r.data.alarm : r.data, false); schedule(); }
    } else if (r.status !== 401) {
      $('alarm-error').textContent = 'Could not ' + (kind === 'ack' ? 'acknowledge' : kind) + ' the alarm: ' + r.error.message;
    }
  }
  function onAlarmClick(ev) {
    const b = ev.target.closest('button');
    if (!b) return;
    const li = b.closest('.alarm');
    if (!li) return;
    const key = li.dataset.key;
    if (b.classList.contains('alarm-ack')) {
      S.ackKey = key;
      $('ack-alarm').textContent = alarmText(key);
      $('ack-comment').value = '';
      openDialog($('ack-dialog'));
      $('ack-comment').focus();
    } else if (b.classList.contains('alarm-shelve')) {
      S.shelveKey = key;
      $('shelve-alarm').textContent = alarmText(key);
      $('shelve-minutes').value = '30';
      $('shelve-comment').value = '';
      openDialog($('shelve-dialog'));
      $('shelve-minutes').focus();
    } else if (b.classList.contains('alarm-unshelve')) {
      alarmAction('unshelve', { key });
    }
  }
  function onAckSubmit(ev) {
    ev.preventDefault();
    const key = S.ackKey;
    closeDialog($('ack-dialog'));
    if (!key) return;
    refocusAlarm(key, 'alarm-ack');
    alarmAction('ack', { key, comment: $('ack-comment').value.trim() });
  }
  function onShelveSubmit(ev) {
    ev.preventDefault();
    const input = $('shelve-minutes');
    const minutes = Number(input.value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) {
      input.setCustomValidity('Enter whole minutes between 1 and 1440.');
      input.reportValidity();
      return;
    }
    const key = S.shelveKey;
    closeDialog($('shelve-dialog'));
    if (!key) return;
    refocusAlarm(key, 'alarm-unshelve');
    alarmAction('shelve', { key, minutes, comment: $('shelve-comment').value.trim() });
  }

  // ---------- ask ----------
  const ERROR_TEXT = { busy: 'busy, ask again' };
  const WRITTEN_BY = {
    model: 'written by the model', composed: 'composed from the facts', replaced: 'replaced by the grounding check',
    documents: "quoted from the site's documents",
  };
  // The model name of answers quoted from the site's documents (no confidence: nothing was generated).
  const DOCS_MODEL = 'site documents';
  // An answer with this error is still an answer: no document covers the question.
  const NO_PROCEDURE = 'no_procedure';
  function loadAnswers() {
    let stored = [];
    try {
      const v = JSON.parse(localStorage.getItem(ANSWERS_KEY) || '[]');
      if (Array.isArray(v)) stored = v.filter((x) => x && typeof x.question === 'string').slice(0, MAX_STORED_ANSWERS);
    } catch (_) { /* ignore broken storage */ }
    const list = $('answers');
    for (const rec of stored) {
      rec.pending = false;
      const item = { rec, li: null };
      renderAnswer(item);
      S.items.push(item);
      list.append(item.li);
    }
  }
  function saveAnswers() {
    const recs = S.items.filter((i) => !i.rec.pending).slice(0, MAX_STORED_ANSWERS).map((i) => i.rec);
    try { localStorage.setItem(ANSWERS_KEY, JSON.stringify(recs)); } catch (_) { /* storage full or off */ }
  }
  function renderAnswer(item) {
    const rec = item.rec;
    const li = item.li || el('li');
    item.li = li;
    const res = rec.result && typeof rec.result === 'object' ? rec.result : null;
    const cls = ['answer'];
    const parts = [el('p', 'answer-question', rec.question)];
    const meta = el('div', 'answer-meta');
    if (rec.pending) {
      cls.push('pending');
      li.setAttribute('aria-busy', 'true');
      parts.push(el('p', 'answer-text', 'Checking the plant…'));
    } else {
      li.removeAttribute('aria-busy');
    }
    if (!rec.pending && !res) {
      const err = rec.error || { message: 'No answer.', code: 'error' };
      cls.push('answer-error');
      parts.push(el('p', 'answer-text', err.message));
      if (err.code) meta.append(el('span', 'badge badge-error answer-error-code', ERROR_TEXT[err.code] || err.code));
    }
    if (res) {
      if (res.id != null) li.dataset.id = String(res.id); else delete li.dataset.id;
      if (res.low_confidence) cls.push('low-confidence');
      const noProcedure = res.error === NO_PROCEDURE;
      const failed = res.error && !noProcedure;
      if (failed) cls.push('answer-error');
      if (noProcedure) cls.push('answer-no-procedure');
      const text = typeof res.answer === 'string' && res.answer ? res.answer : '';
      parts.push(el('p', 'answer-text', text || (noProcedure ? "No procedure found in the site's documents." : res.error ? 'No answer.' : '(empty answer)')));
      if (noProcedure && text) parts.push(el('p', 'answer-note', "No procedure found in the site's documents"));
      const sources = Array.isArray(res.sources) ? res.sources.filter((x) => typeof x === 'string' && x).slice(0, 10) : [];
      if (sources.length) {
        const p = el('p', 'answer-sources', sources.length > 1 ? 'Sources: ' : 'Source: ');
        sources.forEach((src, i) => {
          if (i) p.append('; ');
          p.append(el('cite', 'answer-source', src));
        });
        parts.push(p);
      }
      if (failed) meta.append(el('span', 'badge badge-error answer-error-code', ERROR_TEXT[res.error] || String(res.error)));
      if (res.low_confidence) meta.append(el('span', 'badge badge-low', 'low confidence'));
      if (res.left_site) meta.append(el('span', 'badge badge-left-site', 'left the site'));
      if (res.deadline_reached) meta.append(el('span', 'badge badge-deadline', 'deadline reached'));
      if (res.model) meta.append(el('span', 'answer-model', res.model));
      if (Array.isArray(res.route) && res.route.length) {
        const route = el('span', 'answer-route');
        res.route.forEach((h, i) => {
          if (!h || typeof h !== 'object') return;
          if (i) route.append(' → ');
          const hop = el('span', 'route-hop' + (h.outcome ? ' outcome-' + String(h.outcome).replace(/[^a-z0-9_-]/gi, '') : ''), h.tier || h.model || '?');
          const bits = [(h.tier || 'hop') + (h.model ? ' (' + h.model + ')' : '') + ': ' + (h.outcome || 'unknown')];
          if (isNum(h.confidence)) bits.push('confidence ' + pct(h.confidence));
          if (isNum(h.latency_ms)) bits.push(Math.round(h.latency_ms) + ' ms');
          if (h.reason) bits.push(String(h.reason));
          hop.title = bits.join(', ');
          route.append(hop);
        });
        meta.append(route);
      }
      if (res.class) meta.append(el('span', 'answer-class', res.class));
      if (isNum(res.confidence)) meta.append(el('span', 'answer-confidence', pct(res.confidence) + ' confidence'));
      if (isNum(res.latency_ms)) {
        const lat = el('span', 'answer-latency', Math.round(res.latency_ms) + ' ms');
        const tip = [];
        if (isNum(res.ttft_ms)) tip.push('first token after ' + Math.round(res.ttft_ms) + ' ms');
        if (isNum(res.prompt_tokens)) tip.push(res.prompt_tokens + ' prompt tokens');
        if (isNum(res.completion_tokens)) tip.push(res.completion_tokens + ' completion tokens');
        if (tip.length) lat.title = tip.join(', ');
        meta.append(lat);
      }
      // A document answer is "documents" (older gateways said "composed": a model name, no confidence);
      // a no_procedure answer quotes nothing, and its note already says the documents were searched.
      if (res.written_by && !noProcedure) {
        const by = res.written_by === 'composed' && res.model === DOCS_MODEL ? 'documents' : res.written_by;
        meta.append(el('span', 'answer-written-by', WRITTEN_BY[by] || 'written by ' + by));
      }
    }
    if (isNum(rec.asked_ms)) meta.append(timeEl(rec.asked_ms, 'answer-time'));
    parts.push(spaced(meta));
    if (res) {
      const facts = Array.isArray(res.facts) ? res.facts : [];
      const tools = Array.isArray(res.tools) ? res.tools : [];
      if (facts.length || tools.length) {
        const det = el('details', 'answer-facts');
        det.append(el('summary', null, 'Facts (' + facts.length + ')' + (tools.length ? ' and tools (' + tools.length + ')' : '')));
        const ul = el('ul');
        for (const f of facts) ul.append(el('li', null, typeof f === 'string' ? f : JSON.stringify(f)));
        for (const t of tools) ul.append(el('li', 'answer-tool', 'tool: ' + (typeof t === 'string' ? t : JSON.stringify(t))));
        det.append(ul);
        parts.push(det);
      }
    }
    li.className = cls.join(' ');
    li.replaceChildren(...parts);
  }
  async function ask(question) {
    const item = { rec: { question, asked_ms: Date.now(), pending: true }, li: null };
    renderAnswer(item);
    S.items.unshift(item);
    $('answers').prepend(item.li);
    while (S.items.length > MAX_SHOWN_ANSWERS) S.items.pop().li.remove();
    const r = await authed('POST', '/console/api/ask', { question });
    item.rec.pending = false;
    if (r.ok && r.data && typeof r.data === 'object') item.rec.result = r.data;
    else item.rec.error = r.error || { message: 'Unexpected answer from the gateway.', code: 'bad_response' };
    renderAnswer(item);
    saveAnswers();
  }
  function onAskSubmit(ev) {
    ev.preventDefault();
    const input = $('ask-input');
    const q = input.value.trim();
    if (!q) { input.focus(); return; }
    input.value = '';
    input.focus();
    ask(q);
  }
  function onAskKey(ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      const form = $('ask-form');
      if (typeof form.requestSubmit === 'function') form.requestSubmit();
      else onAskSubmit(new Event('submit'));
    }
  }

  // ---------- replay reports ----------
  async function loadReports() {
    const list = $('reports');
    const r = await authed('GET', '/console/api/reports');
    if (r.status === 401) return;
    if (!r.ok) {
      list.replaceChildren(el('li', 'reports-empty', 'Could not load replay reports: ' + r.error.message));
      return;
    }
    const reports = r.data && Array.isArray(r.data.reports) ? r.data.reports.filter((x) => x && typeof x.name === 'string') : [];
    if (!reports.length) {
      const li = el('li', 'reports-empty');
      li.append('No replay reports yet (run ', el('code', null, 'shopfloor replay'), ').');
      list.replaceChildren(li);
      return;
    }
    const items = reports.map((rep) => {
      const li = el('li');
      const b = el('button', 'report-button');
      b.type = 'button';
      b.dataset.name = rep.name;
      const verdict = typeof rep.verdict === 'string' ? rep.verdict : '';
      const v = el('span', 'report-verdict', verdict || 'no verdict');
      v.dataset.verdict = verdict || 'none';
      b.append(el('span', 'report-name', rep.name), v);
      if (isNum(rep.modified_ms)) b.append(timeEl(rep.modified_ms, 'report-time'));
      li.append(b);
      return li;
    });
    list.replaceChildren(...items);
  }
  async function openReport(name, button) {
    const seq = ++S.reportSeq;
    for (const b of $('reports').querySelectorAll('.report-button')) b.removeAttribute('aria-current');
    if (button) button.setAttribute('aria-current', 'true');
    const view = $('report-view');
    view.setAttribute('aria-busy', 'true');
    view.replaceChildren(el('p', 'muted', 'Loading report ' + name + '…'));
    const r = await authed('GET', '/console/api/reports/' + encodeURIComponent(name));
    if (seq !== S.reportSeq || r.status === 401) return;
    view.removeAttribute('aria-busy');
    if (r.ok && r.data && typeof r.data.html === 'string') {
      view.innerHTML = r.data.html; // sanitized by the gateway
    } else {
      view.replaceChildren(el('p', 'form-error', 'Could not load report ' + name + ': ' + (r.error ? r.error.message : 'empty report')));
    }
    view.focus({ preventScroll: true });
    view.scrollIntoView({ block: 'nearest' });
  }

  // ---------- clock ----------
  function tick() {
    if ($('console').hidden) return;
    const now = serverNow();
    for (const e of S.tags.values()) if (e.row) updateQuality(e, now);
    for (const e of S.alarms.values()) updateAlarmAge(e, now);
  }

  // ---------- start ----------
  async function init() {
    $('login-form').addEventListener('submit', onLoginSubmit);
    $('logout').addEventListener('click', onLogout);
    $('ask-form').addEventListener('submit', onAskSubmit);
    $('ask-input').addEventListener('keydown', onAskKey);
    $('tag-filter').addEventListener('input', (ev) => {
      S.filter = ev.target.value.trim().toLowerCase();
      S.filterDirty = true;
      schedule();
    });
    $('alarms').addEventListener('click', onAlarmClick);
    $('ack-form').addEventListener('submit', onAckSubmit);
    $('ack-cancel').addEventListener('click', () => closeDialog($('ack-dialog')));
    $('shelve-form').addEventListener('submit', onShelveSubmit);
    $('shelve-cancel').addEventListener('click', () => closeDialog($('shelve-dialog')));
    $('shelve-minutes').addEventListener('input', (ev) => ev.target.setCustomValidity(''));
    $('ack-dialog').addEventListener('close', () => { if (S.ackKey) refocusAlarm(S.ackKey, 'alarm-ack'); });
    $('shelve-dialog').addEventListener('close', () => { if (S.shelveKey) refocusAlarm(S.shelveKey, 'alarm-shelve'); });
    $('reports-refresh').addEventListener('click', loadReports);
    $('reports').addEventListener('click', (ev) => {
      const b = ev.target.closest('.report-button');
      if (b) openReport(b.dataset.name, b);
    });
    try { const op = localStorage.getItem(OPERATOR_KEY); if (op) $('login-operator').value = op; } catch (_) { /* storage off */ }
    loadAnswers();
    setInterval(tick, 1000);

    const r = await api('GET', '/console/api/session');
    if (r.ok && r.data && typeof r.data === 'object') showConsole(r.data);
    else if (r.status === 401) showLogin('');
    else showLogin(r.error ? r.error.message : 'The gateway did not answer.');
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
