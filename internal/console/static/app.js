// The evented console: one page per hash route (#/overview, #/events, …),
// each rendered from the JSON API under /api/. Text is always set as text,
// never as HTML. A bearer token, when the server asks for one, is kept in
// sessionStorage (gone when the tab closes) and sent in the Authorization
// header; the live tail reads the event stream with fetch for that reason
// (EventSource cannot send headers).

const main = document.getElementById('main');
const TOKEN = 'evented.token';

// h builds an element: h('p', {class: 'x'}, 'text', child, …).
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class AuthError extends Error {}

async function api(path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  const token = sessionStorage.getItem(TOKEN);
  if (token) headers.Authorization = 'Bearer ' + token;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method: opts.method || (opts.body !== undefined ? 'POST' : 'GET'),
    headers, body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    signal: opts.signal,
  });
  if (opts.stream) {
    if (res.status === 401 || res.status === 403) throw new AuthError(await res.text());
    return res;
  }
  const text = await res.text();
  let data;
  try { data = JSON.parse(text); } catch { data = { error: text }; }
  if (res.status === 401 || res.status === 403) throw new AuthError(data.error || text);
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

const fmtNum = (n, d = 0) => Number(n || 0).toLocaleString('en-US', { maximumFractionDigits: d });
function fmtSecs(s) {
  if (!s || s <= 0) return '0 s';
  if (s < 90) return fmtNum(s, 1) + ' s';
  if (s < 5400) return fmtNum(s / 60, 1) + ' min';
  return fmtNum(s / 3600, 1) + ' h';
}
const fmtTime = (t) => (t ? new Date(t).toLocaleString() : '');
const status = (ok, yes = 'reachable', no = 'unreachable') => h('span', { class: ok ? 'ok' : 'bad' }, ok ? '● ' + yes : '● ' + no);
const payloadText = (p) => (p.payload !== undefined ? JSON.stringify(p.payload) : p.payload_base64 ? 'base64:' + p.payload_base64 : '(empty)');

// payloadView is payloadText with every string field of several lines (a
// receipt's formatted_text) shown as its lines, under the JSON of the
// other fields, as the CLI prints it.
function payloadView(p) {
  const v = p.payload;
  if (!v || typeof v !== 'object' || Array.isArray(v)) return payloadText(p);
  const rest = {};
  const blocks = [];
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'string' && x.includes('\n')) blocks.push(h('div', { class: 'text-field' }, h('span', { class: 'muted' }, k), h('pre', { class: 'block' }, x)));
    else rest[k] = x;
  }
  if (!blocks.length) return payloadText(p);
  return h('div', {}, Object.keys(rest).length ? JSON.stringify(rest) : null, blocks);
}
const aggName = (a) => (a.name ? `${a.name} (${a.root.slice(0, 8)}…)` : a.root);

function table(head, rows, opts = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', {}, opts.caption ? h('caption', { class: 'muted' }, opts.caption) : null,
      h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col', class: /^(lag|rate|checkpoint|head|#|seq|position|attempts|eta|pending|delivered|retries|parked)/i.test(c) ? 'num' : null }, c)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: head.length, class: 'muted' }, opts.empty || 'Nothing here.')))));
}
const td = (v, cls) => h('td', { class: cls }, v);

function errorBox(e) { return h('div', { class: 'error', role: 'alert' }, e.message || String(e)); }

// confirmDialog resolves true when the user confirms.
function confirmDialog(title, text, okLabel = 'Confirm') {
  const d = document.getElementById('confirm');
  d.querySelector('#confirm-title').textContent = title;
  d.querySelector('#confirm-text').textContent = text;
  d.querySelector('#confirm-ok').textContent = okLabel;
  d.returnValue = '';
  d.showModal();
  return new Promise((resolve) => d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true }));
}

// chart draws values as a small SVG line chart with its latest value.
function chart(title, samples, key, unit) {
  const values = samples.map((s) => s[key] || 0);
  const w = 300, ht = 80, max = Math.max(1e-9, ...values);
  const pts = values.map((v, i) => [values.length > 1 ? (i / (values.length - 1)) * w : w, ht - (v / max) * (ht - 6) - 2]);
  const svgNS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(svgNS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${ht}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const last = values.length ? values[values.length - 1] : 0;
  svg.setAttribute('aria-label', `${title}: latest ${fmtNum(last, 1)} ${unit}, highest ${fmtNum(max, 1)} ${unit}, ${values.length} samples`);
  if (pts.length) {
    const line = pts.map((p) => p.join(',')).join(' ');
    const area = document.createElementNS(svgNS, 'polygon');
    area.setAttribute('class', 'area');
    area.setAttribute('points', `0,${ht} ${line} ${w},${ht}`);
    const pl = document.createElementNS(svgNS, 'polyline');
    pl.setAttribute('class', 'line');
    pl.setAttribute('points', line);
    svg.append(area, pl);
  }
  const span = samples.length > 1 ? Math.round((new Date(samples.at(-1).at) - new Date(samples[0].at)) / 60000) : 0;
  return h('div', { class: 'card chart' }, h('h2', {}, title),
    h('div', { class: 'big' }, fmtNum(last, 1), ' ', h('span', { class: 'muted' }, unit)),
    svg, h('div', { class: 'muted' }, values.length ? `last ${span || '<1'} min, peak ${fmtNum(max, 1)} ${unit}` : 'no samples yet'));
}

// --- pages

async function overview(signal) {
  const o = await api('/api/overview', { signal });
  const unreachable = o.services.filter((s) => !s.reachable).length;
  return [
    h('h1', {}, 'Overview'),
    h('div', { class: 'grid' },
      h('div', { class: 'card' }, h('h2', {}, 'Version'), h('div', { class: 'big' }, o.version), h('div', { class: 'muted' }, 'up ' + fmtSecs(o.uptime_seconds))),
      h('div', { class: 'card' }, h('h2', {}, 'Storage'), h('div', { class: 'mono' }, o.storage), h('h2', {}, 'Bus'), h('div', { class: 'mono' }, o.bus)),
      h('div', { class: 'card' }, h('h2', {}, 'Log head'), h('div', { class: 'big' }, fmtNum(o.head)), h('div', { class: 'muted' }, 'events committed')),
      h('div', { class: 'card' }, h('h2', {}, 'Health'),
        h('div', {}, unreachable ? h('span', { class: 'bad' }, `${unreachable} service(s) unreachable`) : h('span', { class: 'ok' }, 'all services reachable')),
        h('div', {}, o.parked ? h('a', { href: '#/parked', class: 'warn' }, `${o.parked} parked event(s)`) : h('span', { class: 'muted' }, 'nothing parked')))),
    h('div', { class: 'grid mt' },
      chart('Event rate', o.samples, 'rate', 'events/s'),
      chart('Command latency', o.samples, 'latency_ms', 'ms')),
    h('h2', {}, 'Services evented calls'),
    table(['Kind', 'Name', 'Address', 'Reachability', 'Since', 'Last error', 'At'], o.services.map((s) => h('tr', {},
      td(s.kind.replace('_', ' ')), td(s.name), td(s.address, 'mono'), td(status(s.reachable)), td(fmtTime(s.since)),
      td(s.delivery_error || s.last_error || ''), td(fmtTime(s.last_error_at)))),
    { empty: 'No business logic, projector, saga or broker is configured: the placeholder business logic answers every domain.' }),
    h('h2', {}, 'Subscriptions'),
    subsTable(o.subscriptions, false),
  ];
}

function subsTable(subs, actions, reload) {
  const head = ['Name', 'Kind', 'State', 'Checkpoint', 'Lag', 'Lag time', 'Rate', 'ETA', 'Retries', 'Parked', 'Last error'];
  if (actions) head.push('Segments', 'Actions');
  return table(head, subs.map((s) => {
    const cells = [td(s.name), td(s.kind + (s.synchronous ? ' (sync)' : '')), td(s.state + (s.version > 1 || s.projector ? ` v${s.version}` : '')),
      td(`${fmtNum(s.checkpoint)} / ${fmtNum(s.head)}`, 'num'), td(fmtNum(s.lag), 'num'), td(fmtSecs(s.lag_seconds), 'num'),
      td(fmtNum(s.rate, 1) + '/s', 'num'), td(s.lag ? (s.eta_seconds > 0 ? fmtSecs(s.eta_seconds) : '–') : 'caught up', 'num'),
      td(fmtNum(s.retries), 'num'),
      td(s.parked ? h('a', { href: '#/parked', class: 'warn' }, String(s.parked)) : '0', 'num'), td(s.last_error || '', s.last_error ? 'bad' : null)];
    if (actions) {
      cells.push(td(s.segments.map((g) => `${g.index + 1}/${g.of} ${g.owner || '(free)'} @${g.position}`).join('\n'), 'mono'));
      const btns = [h('button', { type: 'button', class: 'secondary', onclick: () => resetSub(s, reload) }, 'Reset…')];
      if (s.projector && s.state === 'candidate') btns.push(h('button', { type: 'button', onclick: () => cutOver(s, reload) }, 'Cut over'));
      cells.push(td(h('div', { class: 'row' }, btns)));
    }
    return h('tr', {}, cells);
  }), { empty: 'No projector, saga or bus relay is configured.' });
}

async function resetSub(s, reload) {
  if (!(await confirmDialog(`Reset ${s.name}?`, `${s.name} goes back to the beginning of the log and gets every event again, marked as a replay. Parked events stay parked.`, 'Reset'))) return;
  try {
    const r = await api(`/api/subscriptions/${encodeURIComponent(s.name)}/reset`, { body: { confirm: true } });
    flash(`${s.name} reset after position ${r.position}; it replays up to ${r.replay_until}.`);
  } catch (e) { flash(e, true); }
  reload();
}

async function cutOver(s, reload) {
  if (!(await confirmDialog(`Cut over ${s.projector} to version ${s.version}?`, 'Its inline projections become the ones in command replies; older versions retire.', 'Cut over'))) return;
  try {
    const r = await api('/api/cutover', { body: { projector: s.projector, version: s.version } });
    flash(`${r.projector}: version ${r.version} is active (was ${r.previous}).`);
  } catch (e) { flash(e, true); }
  reload();
}

async function subscriptions(signal, reload) {
  const o = await api('/api/subscriptions', { signal });
  return [h('h1', {}, 'Subscriptions'),
    h('p', { class: 'muted' }, `Each projector, saga and the bus relay reads the log (head ${fmtNum(o.head)}) from its checkpoint.`),
    subsTable(o.subscriptions, true, reload),
    h('section', { id: 'live-queries', 'aria-labelledby': 'live-queries-title' },
      h('h2', { id: 'live-queries-title' }, 'Live subscription queries'),
      h('p', { class: 'muted' }, 'Clients of this replica watching a projector\'s projections (ProjectionQuery.Subscribe); each replica serves its own.'),
      table(['Projector', 'Key', 'Client', 'Since', 'Version', 'Updates'], o.queries.map((q) => h('tr', {},
        td(q.projector), td(q.key, 'mono'), td(q.client, 'mono'), td(fmtTime(q.since)), td(fmtNum(q.version), 'num'), td(fmtNum(q.updates), 'num'))),
      { empty: 'No client is watching a projection on this replica.' }))];
}

// Pending deadlines, earliest first: what `evented deadlines` lists.
async function deadlines(signal) {
  const o = await api('/api/deadlines', { signal });
  const out = [h('h1', {}, 'Deadlines'),
    h('p', { class: 'muted' }, 'Commands business logic and sagas scheduled for later, fired at their due time by the replica holding their segment.' +
      (o.pending !== undefined ? ` ${fmtNum(o.pending)} pending, ${fmtNum(o.due)} due.` : ''))];
  if (!o.deadlines.length) return out.concat(h('p', { class: 'notice' }, 'No deadline is pending.'));
  out.push(table(['Due', 'ID', 'Aggregate', 'Command', 'Idempotency key', 'Scheduled'], o.deadlines.map((d) => h('tr', {},
    td(fmtTime(d.due), d.overdue ? 'warn' : null), td(d.id, 'mono'), td(`${d.domain}/${d.root}`, 'mono'),
    td((d.commands || []).join(', ')), td(d.key, 'mono'), td(fmtTime(d.created_at))))));
  if (o.more) out.push(h('p', { class: 'muted' }, 'Only the earliest are listed.'));
  return out;
}

// Each domain's snapshot policy and what its snapshots and loads did on
// this replica (the metrics evented_snapshots_* and
// evented_aggregate_load_seconds).
async function snapshots(signal) {
  const o = await api('/api/snapshots', { signal });
  const policy = (d) => [d.every && `every ${d.every}`, d.load_over && `load over ${d.load_over}`, d.idle && `idle ${d.idle}`].filter(Boolean).join(', ') || 'none';
  const counts = (m) => Object.entries(m || {}).map(([k, v]) => `${k} ${fmtNum(v)}`).join(', ');
  return [h('h1', {}, 'Snapshots'),
    h('p', { class: 'muted' }, 'Per domain: the automatic snapshot policy, how many snapshots each aggregate keeps, and since this replica started the snapshots taken, those skipped, and the loads of aggregates for commands. An aggregate\'s kept snapshots are listed with its events.'),
    table(['Domain', 'Automatic', 'Keep', 'State type', 'Taken', 'Skipped', 'Events folded', 'Loads', 'Mean load'], o.domains.map((d) => h('tr', {},
      td(d.domain), td(policy(d)), td(String(d.keep), 'num'), td(d.state_type || '', 'mono'),
      td(d.taken ? `${fmtNum(d.taken)} (${counts(d.taken_by)})` : '0', 'num'), td(counts(d.skipped) || '0'),
      td(fmtNum(d.events_folded), 'num'), td(fmtNum(d.loads), 'num'), td(d.loads ? `${d.load_mean_ms.toFixed(2)} ms` : '', 'num'))),
    { empty: 'No business logic is configured.' })];
}

async function parked(signal, reload) {
  const o = await api('/api/parked', { signal });
  const subs = Object.keys(o.counts);
  const act = async (name, what, aggs) => {
    const verb = what === 'replay' ? 'Replay' : 'Discard';
    const scope = aggs.length ? `the parked events of ${aggs[0].domain}/${aggs[0].name || aggs[0].root}` : `every parked event of ${name}`;
    if (what === 'discard' && !(await confirmDialog(`Discard for ${name}?`, `Discard ${scope}: they are never delivered to ${name}, and the aggregate flows again. The server logs the discard with your name.`, 'Discard'))) return;
    try {
      const r = await api(`/api/parked/${encodeURIComponent(name)}/${what}`, { body: { aggregates: aggs.map((a) => ({ domain: a.domain, root: a.root })), confirm: what === 'discard' } });
      if (what === 'replay') flash(`${name}: ${r.replayed} event(s) delivered and unparked` + (r.failed.length ? `; still parked: ${r.failed.map((f) => `${f.domain}/${f.root}: ${f.error}`).join('; ')}` : ''), r.failed.length > 0);
      else flash(`${name}: ${r.discarded} parked event(s) discarded.`);
    } catch (e) { flash(e, true); }
    reload();
  };
  const out = [h('h1', {}, 'Parked events'),
    h('p', { class: 'muted' }, 'Events a subscriber gave up on after its attempts; later events of the same aggregate wait behind them, so that its order holds.')];
  if (!o.parked.length) out.push(h('p', { class: 'notice' }, subs.length ? 'Nothing is parked.' : 'No subscriber is configured.'));
  for (const name of subs.filter((n) => o.counts[n] > 0)) {
    const items = o.parked.filter((p) => p.subscriber === name);
    out.push(h('h2', {}, `${name}: ${o.counts[name]} parked`),
      h('div', { class: 'row mb' },
        h('button', { type: 'button', onclick: () => act(name, 'replay', []) }, `Replay all of ${name}`),
        h('button', { type: 'button', class: 'danger', onclick: () => act(name, 'discard', []) }, `Discard all of ${name}…`)),
      table(['Position', 'Aggregate', 'Seq', 'Type', 'Attempts', 'Reason', 'Parked at', 'Actions'], items.map((p) => h('tr', {},
        td(String(p.position), 'num'), td(`${p.domain}/${aggName(p)}`, 'mono'), td(String(p.sequence), 'num'), td(p.type),
        td(String(p.attempts), 'num'), td(p.reason, 'bad'), td(fmtTime(p.parked_at)),
        td(h('div', { class: 'row' },
          h('details', {}, h('summary', {}, 'Payload'), h('pre', {}, JSON.stringify(p.payload ?? p.payload_base64, null, 2)), p.cause ? h('pre', { class: 'muted' }, JSON.stringify(p.cause, null, 2)) : null),
          h('button', { type: 'button', onclick: () => act(name, 'replay', [p]) }, 'Replay'),
          h('button', { type: 'button', class: 'danger', onclick: () => act(name, 'discard', [p]) }, 'Discard…')))))));
  }
  return out;
}

// liveTail streams new events of the log into a table until signal aborts.
function liveTail(signal, filter = {}) {
  const body = h('tbody', {}, h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'Waiting for new events…')));
  const state = h('span', { class: 'muted', role: 'status' }, 'connecting…');
  const el = h('section', { 'aria-labelledby': 'tail-title' },
    h('h2', { id: 'tail-title' }, 'Live tail of the log ', state),
    h('div', { class: 'table-wrap tail', id: 'tail' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Position', 'Aggregate', 'Seq', 'Type', 'Payload'].map((c) => h('th', { scope: 'col' }, c)))), body)));
  let first = true;
  (async () => {
    try {
      const q = new URLSearchParams(Object.entries(filter).filter(([, v]) => v));
      const res = await api('/api/tail?' + q, { stream: true, signal });
      state.textContent = '● live';
      state.className = 'ok';
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = chunk.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (!data || chunk.startsWith('event:')) continue;
          const e = JSON.parse(data);
          if (first) { body.textContent = ''; first = false; }
          body.prepend(h('tr', {}, td(String(e.position), 'num'), td(`${e.domain}/${aggName(e)}`, 'mono'), td(String(e.sequence), 'num'), td(e.type), td(payloadText(e), 'mono')));
          while (body.children.length > 200) body.lastChild.remove();
        }
      }
      state.textContent = 'stopped';
    } catch (e) {
      if (signal.aborted) return;
      state.textContent = 'disconnected: ' + e.message;
      state.className = 'bad';
    }
  })();
  return el;
}

async function events(signal, reload, params) {
  const sel = { domain: params.get('domain') || '', agg: params.get('agg') || '', type: params.get('type') || '', since: params.get('since') || '' };
  const go = (p) => { location.hash = '#/events?' + new URLSearchParams(Object.entries({ ...sel, ...p }).filter(([, v]) => v)); };
  const aggs = await api('/api/aggregates' + (sel.domain ? '?domain=' + encodeURIComponent(sel.domain) : ''), { signal });
  const domains = Object.keys(aggs.domains).sort();
  const q = new URLSearchParams({ limit: '50' });
  if (sel.domain) q.set('domain', sel.domain);
  if (sel.type) q.set('type', sel.type);
  if (sel.since) q.set('since', new Date(sel.since).toISOString().replace(/\.\d+Z$/, 'Z'));
  const [log, book] = await Promise.all([
    api('/api/log?' + q, { signal }),
    sel.agg && sel.domain ? api(`/api/aggregates/${encodeURIComponent(sel.domain)}/${encodeURIComponent(sel.agg)}`, { signal }) : null,
  ]);
  const filters = h('form', { class: 'form card', onsubmit: (ev) => { ev.preventDefault(); const f = new FormData(ev.target); go({ domain: f.get('domain'), type: f.get('type'), since: f.get('since'), agg: f.get('domain') === sel.domain ? sel.agg : '' }); } },
    h('div', {}, h('label', { for: 'f-domain' }, 'Domain'), h('select', { id: 'f-domain', name: 'domain' }, h('option', { value: '' }, 'all domains'), domains.map((d) => h('option', { value: d, selected: d === sel.domain }, d)))),
    h('div', {}, h('label', { for: 'f-type' }, 'Type contains'), h('input', { id: 'f-type', name: 'type', value: sel.type, placeholder: 'e.g. CustomerCreated' })),
    h('div', {}, h('label', { for: 'f-since' }, 'Since'), h('input', { id: 'f-since', name: 'since', type: 'datetime-local', value: sel.since })),
    h('div', {}, h('button', { type: 'submit' }, 'Filter')));
  const domainList = h('ul', { class: 'list', 'aria-label': 'Domains' }, domains.length ? domains.map((d) => h('li', {},
    h('button', { type: 'button', 'aria-pressed': String(d === sel.domain), onclick: () => go({ domain: d, agg: '' }) }, `${d} (${aggs.domains[d]})`))) : h('li', { class: 'muted' }, 'No events yet.'));
  const aggList = h('ul', { class: 'list', 'aria-label': 'Aggregates' }, sel.domain ? aggs.aggregates.map((a) => h('li', {},
    h('button', { type: 'button', 'aria-pressed': String(a.root === sel.agg || a.name === sel.agg), onclick: () => go({ agg: a.name || a.root }) }, a.name ? [a.name, h('br'), h('span', { class: 'muted mono' }, a.root)] : h('span', { class: 'mono' }, a.root)))) : h('li', { class: 'muted' }, 'Pick a domain.'));
  let detail = h('p', { class: 'muted' }, 'Pick an aggregate to see its events.');
  if (book) {
    const b = book.book;
    detail = h('div', {},
      h('h2', {}, `${b.domain} / ${book.name || b.root}`), book.name ? h('p', { class: 'muted mono' }, b.root) : null,
      b.snapshot ? h('details', {}, h('summary', {}, `Snapshot at sequence ${b.snapshot.sequence} (${b.snapshot.type})`), h('pre', { class: 'block' }, JSON.stringify(b.snapshot.state ?? b.snapshot.state_base64, null, 2))) : h('p', { class: 'muted' }, 'No snapshot.'),
      (book.snapshots || []).length > 1 ? h('details', { id: 'kept-snapshots' }, h('summary', {}, `${book.snapshots.length} snapshots kept (snapshots.keep), newest first`),
        table(['Seq', 'Type', 'Bytes', 'Taken'], book.snapshots.map((s, i) => h('tr', {},
          td(String(s.sequence) + (i === 0 ? ' (loaded)' : ''), 'num'), td(s.type), td(fmtNum(s.bytes), 'num'), td(fmtTime(s.created_at)))))) : null,
      table(['Seq', 'Type', 'Payload', 'Created', 'Cause'], b.events.map((e) => h('tr', {},
        td(String(e.sequence), 'num'), td(e.type), td(payloadText(e), 'mono'), td(fmtTime(e.created_at)),
        td(e.cause ? h('pre', { class: 'muted' }, [e.cause.correlation_id && 'correlation ' + e.cause.correlation_id, e.cause.command_id && 'command ' + e.cause.command_id, e.cause.caused_by && 'caused by ' + e.cause.caused_by, 'depth ' + e.cause.depth].filter(Boolean).join('\n')) : ''))), { empty: 'No events.' }));
  }
  return [h('h1', {}, 'Events'), filters,
    h('div', { class: 'cols mt' },
      h('section', { 'aria-label': 'Domains' }, h('h2', {}, 'Domains'), domainList),
      h('section', { 'aria-label': 'Aggregates' }, h('h2', {}, 'Aggregates', aggs.truncated ? ' (first 1000)' : ''), aggList),
      h('section', { 'aria-label': 'Aggregate events' }, detail)),
    h('h2', {}, `Latest events${sel.domain || sel.type || sel.since ? ' (filtered)' : ''}`),
    table(['Position', 'Aggregate', 'Seq', 'Type', 'Payload', 'Created'], log.events.slice().reverse().map((e) => h('tr', {},
      td(String(e.position), 'num'), td(h('a', { href: '#/events?' + new URLSearchParams({ domain: e.domain, agg: e.name || e.root }) }, `${e.domain}/${aggName(e)}`), 'mono'),
      td(String(e.sequence), 'num'), td(e.type), td(payloadText(e), 'mono'), td(fmtTime(e.created_at)))), { empty: 'No events match.' }),
    liveTail(signal, { domain: sel.domain, type: sel.type })];
}

async function send(signal) {
  const t = await api('/api/types', { signal });
  const out = h('div', { 'aria-live': 'polite', id: 'reply' });
  const form = h('form', { class: 'form card', id: 'send-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    let payload;
    try { payload = JSON.parse(f.get('payload') || '{}'); } catch (e) { out.replaceChildren(errorBox(new Error('The payload is not JSON: ' + e.message))); return; }
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      const r = await api('/api/send', { body: { domain: f.get('domain'), id: f.get('id'), type: f.get('type'), payload } });
      out.replaceChildren(renderReply(r));
    } catch (e) {
      if (e instanceof AuthError) throw e;
      out.replaceChildren(errorBox(e));
    } finally { btn.disabled = false; }
  } },
  h('div', {}, h('label', { for: 's-domain' }, 'Domain'), h('input', { id: 's-domain', name: 'domain', required: true, list: 's-domains', autocomplete: 'off' }),
    h('datalist', { id: 's-domains' }, t.domains.map((d) => h('option', { value: d })))),
  h('div', {}, h('label', { for: 's-id' }, 'Aggregate (UUID or name)'), h('input', { id: 's-id', name: 'id', required: true, placeholder: 'cust-001' })),
  h('div', {}, h('label', { for: 's-type' }, 'Command type'), h('input', { id: 's-type', name: 'type', required: true, list: 's-types', autocomplete: 'off', placeholder: 'examples.CreateCustomer' }),
    h('datalist', { id: 's-types' }, t.types.map((d) => h('option', { value: d })))),
  h('div', { class: 'wide' }, h('label', { for: 's-payload' }, 'Payload (protobuf JSON)'), h('textarea', { id: 's-payload', name: 'payload', spellcheck: 'false' }, '{}')),
  h('div', {}, h('button', { type: 'submit' }, 'Send command')));
  return [h('h1', {}, 'Send a command'),
    h('p', { class: 'muted' }, 'Like evented send: a name that is not a UUID stands for its name-based UUID, the same in every SDK.'),
    form, out, liveTail(signal)];
}

function renderReply(r) {
  const v = r.reply;
  const n = v.books.reduce((a, b) => a + b.events.length, 0);
  const parts = [h('h2', {}, `Reply for ${r.domain}/${r.name || r.root}`),
    h('p', { class: n ? 'notice' : 'muted' }, n ? `${n} event(s) stored.` : 'Accepted; the business logic returned no events, nothing was stored.')];
  for (const b of v.books) {
    if (!b.events.length) continue;
    parts.push(table(['Aggregate', 'Seq', 'Type', 'Payload'], b.events.map((e) => h('tr', {}, td(`${b.domain}/${b.root}`, 'mono'), td(String(e.sequence), 'num'), td(e.type), td(payloadText(e), 'mono')))));
  }
  if (v.projections?.length) parts.push(h('h2', {}, 'Projections'), table(['Projector', 'Seq', 'Type', 'Projection'], v.projections.map((p) => h('tr', {}, td(p.projector), td(String(p.sequence), 'num'), td(p.type), td(payloadView(p), 'mono')))));
  if (v.commands?.length) parts.push(h('h2', {}, 'Saga commands'), table(['To', 'Commands'], v.commands.map((c) => h('tr', {}, td(`${c.domain}/${c.root}`, 'mono'), td(c.commands.map((p) => p.type + ' ' + payloadText(p)).join('\n'), 'mono')))));
  if (v.delivery_failures?.length) parts.push(h('h2', {}, 'Synchronous consumers that failed'), h('div', { class: 'error' }, v.delivery_failures.join('\n')));
  return h('div', {}, parts);
}

async function configPage(signal) {
  const c = await api('/api/config', { signal });
  return [h('h1', {}, 'Configuration'),
    h('p', { class: 'muted' }, 'The effective configuration, each value with its source (default, file or environment variable). ',
      c.files.length ? 'Files: ' + c.files.join(', ') + '. ' : 'No configuration file. ', 'Passwords in URLs are hidden; token and key files are shown by path only.'),
    h('pre', { class: 'block', tabindex: '0', 'aria-label': 'Effective configuration' }, c.yaml)];
}

function login(message) {
  const form = h('form', { class: 'card form', method: 'post', onsubmit: (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN, new FormData(form).get('token').trim());
    route();
  } },
  h('div', { class: 'wide' }, h('label', { for: 'token' }, 'Bearer token with role admin'),
    h('input', { id: 'token', name: 'token', type: 'password', required: true, autocomplete: 'off', class: 'full' })),
  h('div', {}, h('button', { type: 'submit' }, 'Sign in')));
  return [h('h1', {}, 'Sign in'),
    h('p', {}, 'Authentication is on: the console needs a token with role admin (evented token new NAME --role admin makes one). It is kept in this tab only.'),
    message && sessionStorage.getItem(TOKEN) ? h('div', { class: 'error', role: 'alert' }, message) : null, form];
}

// --- routing

const pages = { overview, events, subscriptions, parked, deadlines, snapshots, send, config: configPage };
let current;

function flash(msg, bad = false) {
  const el = h('div', { class: bad ? 'error' : 'notice', role: bad ? 'alert' : 'status', id: 'flash' }, msg.message || msg);
  document.getElementById('flash')?.remove();
  main.prepend(el);
  pendingFlash = el;
}
let pendingFlash;

async function route() {
  current?.abort();
  const ctl = new AbortController();
  current = ctl;
  const [path, query] = (location.hash.slice(2) || 'overview').split('?');
  const name = pages[path] ? path : 'overview';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === '#/' + name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.getElementById('signout').hidden = !sessionStorage.getItem(TOKEN);
  const reload = () => { const f = pendingFlash; pendingFlash = null; render(f); };
  const render = async (keep) => {
    try {
      const nodes = await pages[name](ctl.signal, reload, new URLSearchParams(query || ''));
      if (ctl.signal.aborted) return;
      main.replaceChildren(...(keep ? [keep] : []), ...nodes.filter(Boolean));
      document.title = `${name[0].toUpperCase() + name.slice(1)} · evented console`;
      main.dataset.page = name;
      main.dataset.loaded = String(Date.now());
    } catch (e) {
      if (ctl.signal.aborted) return;
      if (e instanceof AuthError) { main.replaceChildren(...login(e.message).filter(Boolean)); main.dataset.page = 'login'; return; }
      main.replaceChildren(h('h1', {}, 'Could not load this page'), errorBox(e));
      main.dataset.page = 'error';
    }
  };
  await render();
}

document.getElementById('signout').addEventListener('click', () => { sessionStorage.removeItem(TOKEN); route(); });
window.addEventListener('hashchange', () => { route(); main.focus(); });
route();
