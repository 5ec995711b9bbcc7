// Page smoke test (optional, not run by check.sh): loads index.html from file:// in jsdom with
// the vendored MQTT.js, against a mosquitto it starts with a websockets listener, publishes
// retained and live frames and checks window.floor, the DOM, the ready flag, the lost banner,
// the gap → republish command, deletion and a reload. Needs `mosquitto` on PATH and jsdom@24 +
// mqtt@5 installed somewhere (not dependencies of the page):
//   (cd /tmp/smoke && npm install --no-save jsdom@24 mqtt@5)
//   SMOKE_MODULES=/tmp/smoke node displays/web/test/page_smoke.mjs
// Owns nothing of the page; the main test of the page is the headless Chromium one.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(join(process.env.SMOKE_MODULES ?? '.', 'node_modules') + '/');
const { JSDOM, VirtualConsole } = require('jsdom');
const mqtt = require('mqtt');
const page = join(dirname(fileURLToPath(import.meta.url)), '..', 'index.html');
const TCP = 18831 + Math.floor(Math.random() * 1000);
const WS = TCP + 1000;
const dir = mkdtempSync(join(tmpdir(), 'wallboard-smoke-'));
writeFileSync(join(dir, 'mosquitto.conf'), `listener ${TCP} 127.0.0.1\nprotocol mqtt\nlistener ${WS} 127.0.0.1\nprotocol websockets\nallow_anonymous true\npersistence false\n`);
const broker = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
process.on('exit', () => broker.kill());
await new Promise((r) => setTimeout(r, 500));
const hex = (s) => s.trim().split(/\s+/).map((b) => parseInt(b, 16));
const utf8 = (s) => Array.from(new TextEncoder().encode(s));
const varint = (v) => { const o = []; do { let b = v & 0x7f; v = Math.floor(v / 128); if (v) b |= 0x80; o.push(b); } while (v); return o; };
const agent = (session, seq, presence, since = 1735551598, flags = 0) =>
  [2, session, seq, 0, presence, ...varint(since), 3, ...varint(since), 1, 3, ...varint(since), flags];
const name = (session, seq, t) => [2, session, seq, 2, utf8(t).length, ...utf8(t)];
const QUEUE = hex('02 01 02 01 01 0c 01 04 01 01 01 09 01 03 01 5f ee d4 c9 bb 06 01 78 00 01 0a 01 57 02');
const HEATMAP = [...hex('02 01 02 c0 82 ea 0d 01'), ...new Array(1438).fill(0), ...hex('ac 02')];
const Z = 'presence/s1/zone/all';
const STATE = 'presence/s1/gateway/$state';
const A1 = 'a1000000-0000-4000-8000-000000000001';
const A2 = 'a2000000-0000-4000-8000-000000000002';
const Q1 = 'q1000000-0000-4000-8000-000000000001';

const tool = await mqtt.connectAsync(`mqtt://127.0.0.1:${TCP}`);
const pub = (topic, bytes, retain = true) => tool.publishAsync(topic, Buffer.from(bytes), { qos: 1, retain });
let commands = '';
await tool.subscribeAsync('presence/s1/gateway/cmd');
tool.on('message', (t, p) => { commands += `${t} ${p}\n`; });

await pub(`${Z}/roster`, [2, 1, 5, 3, 2, 1, 1]);
await pub(`${Z}/agent/${A1}`, agent(1, 1, 6, 1735551598, 1));
await pub(`${Z}/name/${A1}`, name(1, 2, 'Chloé <b>Zoë</b>'));
await pub(`${Z}/queue/${Q1}`, QUEUE);
await pub(`${Z}/queue_name/${Q1}`, name(1, 4, 'Sales FR'));
await pub(`${Z}/heatmap`, HEATMAP);
await pub(STATE, utf8('online'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, ms = 5000) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    try { if (fn()) return; } catch { /* not yet */ }
    await sleep(50);
  }
  throw new Error(`timed out: ${what}`);
}
const errors = [];
async function open() {
  const vc = new VirtualConsole();
  vc.on('jsdomError', (e) => { if (!/Not implemented/.test(String(e.message))) errors.push(String(e.stack || e)); });
  const dom = await JSDOM.fromFile(page, {
    url: `file://${page}?site=s1&broker=ws://127.0.0.1:${WS}`,
    runScripts: 'dangerously',
    resources: 'usable',
    pretendToBeVisual: true,
    virtualConsole: vc,
    // jsdom has no TextDecoder/TextEncoder; every browser has.
    beforeParse(win) { win.TextDecoder = TextDecoder; win.TextEncoder = TextEncoder; },
  });
  return dom.window;
}

let w = await open();
const d = w.document;
const text = (sel) => d.querySelector(sel).textContent;
await until('retained floor', () => w.floor.agents[A1]?.name && w.floor.queues[Q1]?.name && w.floor.heatmapTotal === 301);
assert.equal(w.floor.state, 'online');
assert.equal(JSON.stringify(w.floor.roster), '{"agents":2,"queues":1,"generation":1}'); // another realm: compare as JSON
assert.equal(d.body.dataset.ready, undefined);
assert.equal(d.getElementById('loading').hidden, false);
assert.match(text('#queue-grid .tile'), /Sales FR.*CRITICAL.*Waiting12.*Answered–/);
assert.match(d.querySelector('#agent-grid .tile .name').innerHTML, /Chloé &lt;b&gt;Zoë&lt;\/b&gt;/);
assert.equal(d.getElementById('banner').hidden, true);
assert.match(text('#heatmap-label'), /to 21:20 UTC/);

const now = Math.floor(Date.now() / 1000);
await pub(`${Z}/agent/${A2}`, agent(1, 20, 2, now - 5)); // live: starts gap tracking
await until('ready', () => d.body.dataset.ready === '1');
assert.equal(d.getElementById('loading').hidden, true);
const timer = () => [...d.querySelectorAll('#agent-grid .tile')].find((t) => t.textContent.includes('Away')).querySelector('.t').textContent;
const t1 = timer();
await sleep(2100);
assert.notEqual(timer(), t1, 'time in status ticks');

await pub(`${Z}/agent/${A2}`, agent(1, 21, 3, now));
await pub(`${Z}/agent/${A2}`, agent(1, 25, 3, now)); // 22..24 missed
await until('gap', () => w.floor.gaps === 1);
await until('republish command', () => commands.includes('republish'));
assert.equal(commands.trim(), 'presence/s1/gateway/cmd {"op":"republish","scope":"zone","zone":"all"}');

await pub(STATE, utf8('lost'));
await until('lost banner', () => !d.getElementById('banner').hidden);
assert.match(d.getElementById('banner').className, /red/);

await pub(`${Z}/agent/${A2}`, []);
await until('deleted', () => !w.floor.agents[A2]);
assert.equal(d.body.dataset.ready, undefined);
assert.equal(d.querySelectorAll('#agent-grid .tile').length, 1);
w.close();

w = await open(); // a reload: everything again from retained values
await until('reloaded', () => w.floor.state === 'lost' && w.floor.agents[A1]?.name && w.floor.queues[Q1]?.name && w.floor.heatmapTotal === 301);
assert.equal(w.floor.agents[A1].wrapup, true);
w.close();
await tool.endAsync();
assert.deepEqual(errors, []);
console.log('page smoke: ok');
process.exit(0);
