// The browser wallboard: MQTT over WebSockets in, the floor drawn into index.html out.
//
// Owns: the connection (MQTT.js, vendored as the global `mqtt`, vendor/VENDOR.md), the
// subscriptions and the republish commands the model asks for, and the DOM: header, gateway
// banner, queue tiles, agent tiles with time in status ticking each second from this
// display's clock, the 24 h heatmap strip and the footer. Exposes the model as `window.floor`
// and sets `document.body.dataset.ready = "1"` while the roster is complete.
// Does not own: what a message means (model.js) or the bytes (wire.js).
//
// index.html loads it as wallboard.bundle.js, the classic script tools/bundle.mjs builds from
// wire.js, model.js and this file: browsers refuse ES modules from `file://`, and a TV on a
// site LAN may open the page that way. check.sh fails when the bundle is out of date.

import {
  FloorModel, settings, shortId, figure, elapsed, duration, banner, agentColour, levelColour,
  interactionText, clock, buckets, esc, PRESENCE_LABEL, ROUTING_LABEL, UNKNOWN,
} from './model.js';

/** Heatmap strip: minutes per bar (1440 / 10 = 144 bars over 24 h). */
const HEATMAP_BAR_MINUTES = 10;

/** Tile sizes by agent count, so a full floor still fits a 1080p TV (wallboard.css). */
const DENSITY = [[24, 'xl'], [60, 'l'], [140, 'm'], [Infinity, 's']];

const $ = (id) => document.getElementById(id);

function start() {
  const cfg = settings(location.search, location.hostname);
  if (!cfg.site) {
    $('banner').textContent = 'Add ?site=<site id> to the address (and broker=ws://host:port if the broker is elsewhere).';
    $('banner').className = 'banner grey';
    $('banner').hidden = false;
    return;
  }
  const model = new FloorModel(cfg);
  window.floor = model.floor;
  window.wallboard = model; // diagnostics (stats, heatmap, names) for people debugging a TV
  $('where').textContent = `site ${cfg.site} · zone ${cfg.zone}`;
  document.title = `Wallboard · ${cfg.site} · ${cfg.zone}`;

  let connected = false;
  if (typeof mqtt === 'undefined') {
    $('link').textContent = 'MQTT.js did not load (vendor/mqtt.min.js)';
    $('link').hidden = false;
    return;
  }
  const client = mqtt.connect(cfg.broker, {
    clientId: `wallboard-${Math.random().toString(16).slice(2, 10)}`,
    username: cfg.user ?? undefined,
    password: cfg.pass ?? undefined,
    protocolVersion: 4, // MQTT 3.1.1, as WIRE.md §2.1
    clean: true,
    keepalive: 30,
    reconnectPeriod: 2000,
    connectTimeout: 10000,
    // Plain setInterval for the keep-alive: MQTT.js's default runs its timers in a Web Worker
    // made from a blob: URL, which some TV browsers and strict CSPs refuse; a wallboard is a
    // visible page, so the browser does not throttle its timers.
    timerVariant: 'native',
  });
  client.on('connect', () => {
    connected = true;
    model.subscribed();
    for (const f of model.filters()) client.subscribe(f.topic, { qos: f.qos });
    draw();
  });
  const down = () => {
    connected = false;
    draw();
  };
  client.on('close', down);
  client.on('offline', down);
  client.on('error', down);
  client.on('message', (topic, payload, packet) => {
    const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    for (const cmd of model.apply(topic, bytes, packet.retain === true, Date.now())) {
      client.publish(cmd.topic, cmd.payload, { qos: cmd.qos, retain: false });
    }
    schedule();
  });

  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    // At most one redraw per animation frame however fast frames come (a resync burst).
    (window.requestAnimationFrame ?? ((fn) => setTimeout(fn, 16)))(() => {
      pending = false;
      draw();
    });
  }

  const agentTiles = new Map();
  const queueTiles = new Map();
  let heatmapDrawn = null;

  function draw() {
    const now = Date.now() / 1000;
    const f = model.floor;
    const done = model.complete();
    if (done) document.body.dataset.ready = '1';
    else delete document.body.dataset.ready;

    $('clock').textContent = `${clock(now)} UTC`;
    const nA = Object.keys(f.agents).length;
    const nQ = Object.keys(f.queues).length;
    $('counts').textContent = f.roster
      ? `agents ${nA}/${f.roster.agents} · queues ${nQ}/${f.roster.queues}`
      : `agents ${nA} · queues ${nQ}`;
    $('loading').hidden = done;
    $('update').hidden = model.updateNeeded === null;
    $('update').textContent = `update needed (wire ${model.updateNeeded})`;
    $('link').hidden = connected;
    $('link').textContent = `no connection to the broker ${cfg.broker}: retrying`;

    const b = banner(f.state);
    $('banner').hidden = b === null;
    if (b) {
      $('banner').textContent = b.text;
      $('banner').className = `banner ${b.tone}`;
    }

    $('queue-count').textContent = String(nQ);
    $('queues').hidden = nQ === 0;
    sync($('queue-grid'), queueTiles, model.sortedQueues(), (id, q) => queueTile(id, q));

    $('agent-count').textContent = String(nA);
    const grid = $('agent-grid');
    grid.dataset.density = DENSITY.find(([max]) => nA <= max)[1];
    sync(grid, agentTiles, model.sortedAgents(), (id, a) => agentTile(id, a, now));
    $('empty').hidden = nA + nQ > 0;

    if (model.heatmap !== heatmapDrawn) {
      heatmapDrawn = model.heatmap;
      drawHeatmap(model.heatmap);
    }
    const s = model.stats;
    $('stats').textContent = `frames ${f.frames} · gaps ${f.gaps} · bad ${s.bad} · cleared ${s.cleared}`
      + (model.session === null ? '' : ` · session ${model.session}`);
  }

  window.addEventListener('resize', () => {
    heatmapDrawn = undefined; // the canvas is sized to its box: redraw it
    schedule();
  });
  setInterval(draw, 1000); // time in status and the clock tick from this display's clock
  draw();
}

/** Makes `grid` hold one element per `[id, value]` of `items`, in order, each with the
 * `{cls, html}` that `tile` returns; touches only what changed. */
function sync(grid, tiles, items, tile) {
  const seen = new Set();
  let prev = null;
  for (const [id, v] of items) {
    seen.add(id);
    let el = tiles.get(id);
    if (!el) {
      el = document.createElement('div');
      tiles.set(id, el);
    }
    const { cls, html } = tile(id, v);
    if (el.className !== cls) el.className = cls;
    if (el._html !== html) {
      el.innerHTML = html;
      el._html = html;
    }
    const want = prev ? prev.nextSibling : grid.firstChild;
    if (want !== el) grid.insertBefore(el, want);
    prev = el;
  }
  for (const [id, el] of tiles) {
    if (!seen.has(id)) {
      el.remove();
      tiles.delete(id);
    }
  }
}

function queueTile(id, q) {
  const colour = levelColour(q.level);
  const cell = (label, value) => `<div class="cell"><span class="label">${label}</span><span class="value">${esc(value)}</span></div>`;
  const longest = q.longest_waiting_s === null ? UNKNOWN : duration(q.longest_waiting_s);
  const sl = q.service_level_pct === null ? UNKNOWN : `${q.service_level_pct}%`;
  return {
    cls: `tile queue ${colour}`,
    html: `<div class="title"><span class="name">${esc(q.name ?? shortId(id))}</span><span class="level">${esc((q.level ?? 'Normal').toUpperCase())}</span></div>`
      + `<div class="hero"><div class="big"><span class="label">Waiting</span><span class="value waiting">${esc(figure(q.waiting))}</span></div>`
      + `<div class="big"><span class="label">Longest</span><span class="value">${esc(longest)}</span></div></div>`
      + `<div class="cells">${cell('Interacting', figure(q.interacting))}${cell('Alerting', figure(q.alerting))}`
      + `${cell('On queue', figure(q.on_queue))}${cell('Off queue', figure(q.off_queue))}`
      + `${cell('Offered', figure(q.offered))}${cell('Answered', figure(q.answered))}`
      + `${cell('Abandoned', figure(q.abandoned))}${cell('SL', sl)}</div>`,
  };
}

function agentTile(id, a, now) {
  const colour = agentColour(a);
  const rows = [`<div class="row presence"><span>${esc(PRESENCE_LABEL[a.presence] ?? a.presence)}</span><span class="t">${elapsed(now, a.presence_since)}</span></div>`];
  const routing = ROUTING_LABEL[a.routing] ?? '';
  rows.push(routing
    ? `<div class="row routing"><span>${esc(routing)}</span><span class="t">${elapsed(now, a.routing_since)}</span></div>`
    : '<div class="row routing"></div>');
  const what = interactionText(a);
  if (what) {
    rows.push(`<div class="row interaction${a.wrapup ? ' wrapup' : ''}"><span>${esc(what)}</span><span class="t">${elapsed(now, a.interaction_since)}</span></div>`);
  }
  const marks = (a.out_of_office ? '<span class="mark ooo">OUT OF OFFICE</span>' : '')
    + (a.stale ? '<span class="mark stale">STALE</span>' : '');
  return {
    cls: `tile agent ${colour}${a.stale ? ' is-stale' : ''}`,
    html: `<div class="title"><span class="name">${esc(a.name ?? shortId(id))}</span></div>${rows.join('')}`
      + (marks ? `<div class="marks">${marks}</div>` : ''),
  };
}

/** The 24 h strip: one bar per HEATMAP_BAR_MINUTES, hour ticks, the last hour's peak and the total. */
function drawHeatmap(h) {
  const box = $('heatmap');
  box.hidden = h === null;
  if (h === null) return;
  const canvas = $('heatmap-canvas');
  const ctx = canvas.getContext && canvas.getContext('2d');
  const bars = buckets(h.counts, HEATMAP_BAR_MINUTES);
  const max = Math.max(1, ...bars);
  if (ctx) {
    const w = (canvas.width = canvas.clientWidth || 1440);
    const ht = (canvas.height = canvas.clientHeight || 60);
    ctx.clearRect(0, 0, w, ht);
    const bw = w / bars.length;
    // A tick at each UTC hour: bucket i starts at minute end_minute - 1439 + i·size.
    ctx.fillStyle = '#333';
    const first = h.end_minute - 1439;
    for (let m = 0; m < 1440; m++) {
      if ((first + m) % 60 === 0) ctx.fillRect((m / 1440) * w, 0, 1, ht);
    }
    ctx.fillStyle = '#4fc3f7';
    bars.forEach((c, i) => {
      if (c === 0) return;
      const bh = Math.max(2, (c / max) * (ht - 2));
      ctx.fillRect(i * bw + 1, ht - bh, Math.max(1, bw - 2), bh);
    });
  }
  const lastHour = h.counts.slice(-60);
  const total = h.counts.reduce((s, c) => s + c, 0);
  $('heatmap-label').textContent = `ACTIVITY 24 h to ${clock(h.end_minute * 60, false)} UTC`;
  $('heatmap-stats').textContent = `peak ${Math.max(0, ...lastHour)}/min last hour · ${total} changes`;
}

if (typeof document !== 'undefined') {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}
