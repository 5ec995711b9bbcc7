// Unit tests of model.js: the wallboard's floor model fed MQTT messages as the page feeds
// them (topic, bytes, RETAIN flag, clock), the shape of `window.floor`, the roster's
// "loading…" rule, gap → republish command (at most one per 3 s), and the drawing helpers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FloorModel, settings, duration, elapsed, figure, banner, agentColour, interactionText, clock, buckets, esc, shortId,
} from '../model.js';

const hex = (s) => Uint8Array.from(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));
const utf8 = (s) => new TextEncoder().encode(s);
const cat = (...parts) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));

const BASE = 'presence/lyon-1';
const Z = `${BASE}/zone/all`;
const A1 = '9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f';
const A2 = '0a000000-0000-4000-8000-000000000002';
const Q1 = 'q1000000-0000-4000-8000-000000000001';

/** An agent frame: session, seq, presence index, since, flags. */
const agent = (session, seq, presence = 6, since = 1735551598, flags = 0) =>
  cat([2, session, seq, 0, presence], hex('ee d4 c9 bb 06'), [3], hex('8f d5 c9 bb 06'), [1, 3], since ? hex('8f d5 c9 bb 06') : [0], [flags]);
const name = (session, seq, text) => cat([2, session, seq, 2, utf8(text).length], utf8(text));
const roster = (session, seq, agents, queues) => hex(`02 0${session} ${seq.toString(16).padStart(2, '0')} 03 0${agents} 0${queues} 01`);
const QUEUE = hex('02 01 02 01 01 0c 01 04 01 01 01 09 01 03 01 5f ee d4 c9 bb 06 01 78 00 01 0a 01 57 02');
const QUEUE_UNKNOWN = hex('02 01 01 01 00 00 00 00 00 00 00 00 00 00 00 00');

const model = () => new FloorModel({ prefix: 'presence', site: 'lyon-1', zone: 'all' });

test('subscriptions: the zone at QoS 0, $state at QoS 1', () => {
  assert.deepEqual(model().filters(), [
    { topic: 'presence/lyon-1/zone/all/#', qos: 0 },
    { topic: 'presence/lyon-1/gateway/$state', qos: 1 },
  ]);
});

test('window.floor shape: agents, queues, names in any order, unknowns null', () => {
  const m = model();
  assert.deepEqual(m.floor, { state: null, agents: {}, queues: {}, roster: null, heatmapTotal: null, frames: 0, gaps: 0 });
  m.apply(`${Z}/name/${A1}`, name(1, 3, 'Ana'), true, 0); // the name before its agent
  m.apply(`${Z}/agent/${A1}`, agent(1, 1, 6, 1735551598, 1), true, 0);
  m.apply(`${Z}/agent/${A2}`, agent(1, 2, 2, 0, 6), true, 0);
  m.apply(`${Z}/queue/${Q1}`, QUEUE, true, 0);
  m.apply(`${Z}/queue_name/${Q1}`, name(1, 5, 'Sales FR'), true, 0);
  m.apply(`${BASE}/gateway/$state`, utf8('online'), true, 0);
  assert.deepEqual(m.floor.agents[A1], {
    name: 'Ana', presence: 'OnQueue', routing: 'Interacting', media: 'Call', interaction: 'Connected',
    wrapup: true, stale: false, out_of_office: false,
    presence_since: 1735551598, routing_since: 1735551631, interaction_since: 1735551631,
  });
  assert.deepEqual(m.floor.agents[A2], {
    name: null, presence: 'Away', routing: 'Interacting', media: 'Call', interaction: 'Connected',
    wrapup: false, stale: true, out_of_office: true,
    presence_since: 1735551598, routing_since: 1735551631, interaction_since: null,
  });
  assert.deepEqual(m.floor.queues[Q1], {
    name: 'Sales FR', waiting: 12, interacting: 4, alerting: 1, on_queue: 9, off_queue: 3,
    longest_waiting_s: 95, offered: 120, answered: null, abandoned: 10, service_level_pct: 87, level: 'Critical',
  });
  assert.equal(m.floor.state, 'online');
  assert.equal(m.floor.frames, 5);
  m.apply(`${Z}/queue/${Q1}`, QUEUE_UNKNOWN, false, 0);
  assert.equal(m.floor.queues[Q1].waiting, null);
  assert.equal(m.floor.queues[Q1].name, 'Sales FR');
  assert.equal(m.floor.queues[Q1].level, 'Normal');
});

test('empty payloads delete; bad frames are counted and change nothing', () => {
  const m = model();
  m.apply(`${Z}/agent/${A1}`, agent(1, 1), true, 0);
  m.apply(`${Z}/name/${A1}`, name(1, 2, 'Ana'), true, 0);
  m.apply(`${Z}/name/${A1}`, new Uint8Array(0), false, 0);
  assert.equal(m.floor.agents[A1].name, null);
  m.apply(`${Z}/agent/${A1}`, QUEUE, false, 0); // a queue on an agent topic: ignored
  assert.equal(m.floor.agents[A1].presence, 'OnQueue');
  assert.equal(m.stats.mismatched, 1);
  m.apply(`${Z}/agent/${A1}`, hex('02 01'), false, 0);
  m.apply(`${Z}/agent/${A1}`, hex('03 01 01 00'), false, 0);
  m.apply(`${Z}/agent/${A1}`, hex('02 01 09 07'), false, 0);
  assert.deepEqual([m.stats.bad, m.updateNeeded, m.stats.unknownKinds], [1, 3, 1]);
  assert.ok(m.floor.agents[A1]);
  m.apply(`${Z}/agent/${A1}`, new Uint8Array(0), false, 0);
  assert.deepEqual(m.floor.agents, {});
  m.apply(`${Z}/roster`, roster(1, 9, 0, 0), false, 0);
  m.apply(`${Z}/roster`, new Uint8Array(0), false, 0);
  assert.equal(m.floor.roster, null);
});

test('roster completeness ("loading…" until it holds roster.agents agents and roster.queues queues)', () => {
  const m = model();
  assert.equal(m.complete(), false);
  m.apply(`${Z}/roster`, roster(1, 9, 2, 1), true, 0);
  assert.deepEqual(m.floor.roster, { agents: 2, queues: 1, generation: 1 });
  m.apply(`${Z}/agent/${A1}`, agent(1, 1), true, 0);
  m.apply(`${Z}/queue/${Q1}`, QUEUE, true, 0);
  assert.equal(m.complete(), false);
  m.apply(`${Z}/agent/${A2}`, agent(1, 2), true, 0);
  assert.equal(m.complete(), true);
  m.apply(`${Z}/agent/${A2}`, new Uint8Array(0), false, 0);
  assert.equal(m.complete(), false);
});

test('heatmap: total, own sequence (never a gap), cleared', () => {
  const m = model();
  const h = cat(hex('02 01 02 c0 82 ea 0d 01'), new Uint8Array(1438), hex('ac 02'));
  m.apply(`${Z}/agent/${A1}`, agent(1, 10), false, 0);
  m.apply(`${Z}/heatmap`, h, false, 0);
  m.apply(`${Z}/agent/${A1}`, agent(1, 11), false, 0);
  assert.equal(m.floor.heatmapTotal, 301);
  assert.equal(m.floor.gaps, 0);
  m.apply(`${Z}/heatmap`, new Uint8Array(0), false, 0);
  assert.equal(m.floor.heatmapTotal, null);
  assert.equal(m.heatmap, null);
});

test('a gap asks for the zone once per 3 s; retained replays and `online` never do', () => {
  const m = model();
  assert.deepEqual(m.apply(`${Z}/agent/${A1}`, agent(1, 40), true, 0), []);
  assert.deepEqual(m.apply(`${Z}/agent/${A1}`, agent(1, 7), true, 0), []);
  assert.deepEqual(m.apply(`${Z}/agent/${A1}`, agent(1, 50), false, 1000), []);
  const cmd = m.apply(`${Z}/agent/${A1}`, agent(1, 52), false, 1000);
  assert.deepEqual(cmd, [{ topic: 'presence/lyon-1/gateway/cmd', payload: '{"op":"republish","scope":"zone","zone":"all"}', qos: 1 }]);
  assert.deepEqual(m.apply(`${Z}/agent/${A1}`, agent(1, 54), false, 3999), []); // a gap, too soon
  assert.equal(m.apply(`${Z}/agent/${A1}`, agent(1, 56), false, 4000).length, 1);
  assert.equal(m.floor.gaps, 3);
  assert.equal(m.stats.republishes, 2);
  m.apply(`${BASE}/gateway/$state`, utf8('online'), false, 5000); // the gateway republishes anyway
  assert.deepEqual(m.apply(`${Z}/agent/${A1}`, agent(2, 1), false, 9000), []);
  m.subscribed(); // reconnect: retained replays, then tracking restarts
  assert.deepEqual(m.apply(`${Z}/agent/${A1}`, agent(2, 90), false, 9000), []);
  assert.equal(m.floor.gaps, 3);
});

test('a zone + display tracks and asks per zone', () => {
  const m = new FloorModel({ prefix: 'p', site: 's', zone: '+' });
  m.apply('p/s/zone/a/agent/x', agent(1, 1), false, 0);
  m.apply('p/s/zone/b/agent/x', agent(1, 7), false, 0);
  const cmd = m.apply('p/s/zone/b/agent/x', agent(1, 9), false, 10000);
  assert.equal(cmd[0].payload, '{"op":"republish","scope":"zone","zone":"b"}');
});

test('settings from the URL', () => {
  assert.deepEqual(settings('?site=lyon-1', 'wall.lan'), {
    broker: 'ws://wall.lan:9001', prefix: 'presence', site: 'lyon-1', zone: 'all', user: null, pass: null,
  });
  assert.equal(settings('', '').broker, 'ws://localhost:9001'); // file://
  const s = settings('?site=s&zone=floor-2&broker=wss://b:8443/mqtt&prefix=a/b&user=u&pass=p%26q', 'h');
  assert.deepEqual([s.broker, s.zone, s.prefix, s.user, s.pass], ['wss://b:8443/mqtt', 'floor-2', 'a/b', 'u', 'p&q']);
});

test('drawing helpers', () => {
  assert.equal(duration(75), '01:15');
  assert.equal(duration(3600 + 61), '1:01:01');
  assert.equal(duration(2 * 86400 + 5 * 3600), '2d 05h');
  assert.equal(elapsed(1075, 1000), '01:15');
  assert.equal(elapsed(1000, 1075), '00:00'); // clock skew
  assert.equal(elapsed(1000, null), '--:--');
  assert.equal(figure(null), '–');
  assert.equal(figure(0), '0');
  assert.equal(banner('online'), null);
  assert.equal(banner('lost').tone, 'red');
  assert.equal(banner('offline').tone, 'red');
  assert.equal(banner(null).tone, 'grey');
  const a = { presence: 'OnQueue', routing: 'Idle', media: 'None', interaction: 'None', wrapup: false };
  assert.equal(agentColour(a), 'green');
  assert.equal(agentColour({ ...a, routing: 'Interacting' }), 'cyan');
  assert.equal(agentColour({ ...a, wrapup: true }), 'magenta');
  assert.equal(agentColour({ ...a, presence: 'Offline' }), 'grey');
  assert.equal(interactionText({ ...a, media: 'Call', interaction: 'Held' }), 'Call held');
  assert.equal(interactionText({ ...a, media: 'Call', wrapup: true }), 'Wrap-up Call');
  assert.equal(interactionText(a), '');
  assert.equal(clock(29000000 * 60, false), '21:20');
  assert.deepEqual(buckets([1, 2, 3, 4, 5], 2), [3, 7, 5]);
  assert.equal(esc('<b>"Zoë" & co\'</b>'), '&lt;b&gt;&quot;Zoë&quot; &amp; co&#39;&lt;/b&gt;');
  assert.equal(shortId(A1), '9ed7d9f6');
});
