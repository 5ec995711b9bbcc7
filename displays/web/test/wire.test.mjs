// Unit tests of wire.js: the worked examples of docs/WIRE.md §5 (wire version 2), the edge
// cases of §3 and §7.2, topic dispatch (§2.3) and gap detection (§8.3). Run by check.sh with
// `node --test`; the comparison with the Rust decoder is check.sh's other half.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, decodeHeatmap, dispatch, route, GapTracker, WireError } from '../wire.js';

const hex = (s) => Uint8Array.from(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));
const cat = (...parts) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));
const fails = (bytes, kind, message) => {
  assert.throws(() => decode(bytes), (e) => e instanceof WireError && e.kind === kind && (!message || e.message === message));
};
const malformed = (bytes) => fails(bytes, 'malformed', 'decode: malformed body');

const AGENT = hex('02 03 e8 07 00 06 ee d4 c9 bb 06 03 8f d5 c9 bb 06 01 03 8f d5 c9 bb 06 01');
const NAME = hex('02 02 05 02 03 41 6e 61');
const ROSTER = hex('02 01 09 03 ac 02 04 02');
const QUEUE = hex('02 01 02 01 01 0c 01 04 01 01 01 09 01 03 01 5f ee d4 c9 bb 06 01 78 00 01 0a 01 57 02');
const QUEUE_UNKNOWN = hex('02 01 01 01 00 00 00 00 00 00 00 00 00 00 00 00');
const HEATMAP = cat(hex('02 01 02 c0 82 ea 0d 01'), new Uint8Array(1438), hex('ac 02'));

test('§5.1 agent frame', () => {
  assert.deepEqual(decode(AGENT), {
    kind: 'agent', session: 3, seq: 1000,
    presence: 'OnQueue', presence_since: 1735551598, routing: 'Interacting', routing_since: 1735551631,
    media: 'Call', interaction: 'Connected', interaction_since: 1735551631,
    flags: 1, wrapup: true, stale: false, out_of_office: false,
  });
});

test('§4.3 reserved flag bits are ignored, stale and out of office read', () => {
  const a = decode(cat(AGENT.subarray(0, 24), [0xfe]));
  assert.equal(a.flags, 0xfe);
  assert.deepEqual([a.wrapup, a.stale, a.out_of_office], [false, true, true]);
});

test('§5.2 name frame, every truncation, 33 bytes, invalid UTF-8', () => {
  assert.deepEqual(decode(NAME), { kind: 'name', session: 2, seq: 5, name: 'Ana' });
  for (let k = 1; k < NAME.length; k++) malformed(NAME.subarray(0, k));
  malformed(cat(hex('02 01 01 02 21'), new Uint8Array(33).fill(0x78)));
  assert.equal(decode(cat(hex('02 01 01 02 20'), new Uint8Array(32).fill(0x78))).name, 'x'.repeat(32));
  malformed(hex('02 01 01 02 02 c3 28'));
  malformed(hex('02 01 01 02 03 ed a0 80')); // a UTF-16 surrogate in UTF-8: invalid
  malformed(hex('02 01 01 02 01 c3')); // a character cut in two
  assert.equal(decode(hex('02 01 01 02 00')).name, '');
  assert.equal(decode(hex('02 01 01 02 02 c3 a9')).name, 'é');
});

test('§5.3 roster frame, trailing bytes ignored', () => {
  const r = { kind: 'roster', session: 1, seq: 9, agents: 300, queues: 4, generation: 2 };
  assert.deepEqual(decode(ROSTER), r);
  assert.deepEqual(decode(cat(ROSTER, [0xde, 0xad, 0xbe, 0xef])), r);
});

test('§5.4 heatmap', () => {
  assert.equal(HEATMAP.length, 1448);
  const h = decodeHeatmap(HEATMAP);
  assert.equal(h.session, 1);
  assert.equal(h.seq, 2);
  assert.equal(h.end_minute, 29000000);
  assert.equal(h.counts.length, 1440);
  assert.equal(h.counts[0], 1);
  assert.equal(h.counts[1439], 300);
  assert.equal(h.counts.reduce((a, b) => a + b), 301);
  assert.throws(() => decodeHeatmap(HEATMAP.subarray(0, 1447)), (e) => e.kind === 'malformed');
  assert.throws(() => decodeHeatmap(cat([3], HEATMAP.subarray(1))), (e) => e.kind === 'version');
});

test('§5.5 queue frame, every figure unknown, tag 2 anywhere', () => {
  assert.deepEqual(decode(QUEUE), {
    kind: 'queue', session: 1, seq: 2, waiting: 12, interacting: 4, alerting: 1, on_queue: 9, off_queue: 3,
    longest_waiting_s: 95, observed: 1735551598, offered: 120, answered: null, abandoned: 10,
    service_level_pct: 87, level: 'Critical',
  });
  assert.deepEqual(decode(QUEUE_UNKNOWN), {
    kind: 'queue', session: 1, seq: 1, waiting: null, interacting: null, alerting: null, on_queue: null,
    off_queue: null, longest_waiting_s: null, observed: 0, offered: null, answered: null, abandoned: null,
    service_level_pct: null, level: 'Normal',
  });
  for (let k = 4; k < QUEUE_UNKNOWN.length - 1; k++) {
    const b = Uint8Array.from(QUEUE_UNKNOWN);
    b[k] = 2;
    if (k === 10) continue; // byte 10 is `observed` (a varint, not a tag): 2 is a fine value
    malformed(b);
  }
  for (let k = 1; k < QUEUE.length; k++) malformed(QUEUE.subarray(0, k));
  // service_level_pct is a raw byte after its tag: 0xff is 255, not a varint start.
  const sl = Uint8Array.from(QUEUE);
  sl[27] = 0xff;
  assert.equal(decode(sl).service_level_pct, 255);
});

test('§3.1 varints: limits, overflow, non-minimal forms', () => {
  const roster = (agents) => cat(hex('02 01 01 03'), agents, hex('00 00'));
  assert.equal(decode(roster(hex('ff ff 03'))).agents, 65535);
  malformed(roster(hex('ff ff 04'))); // u16 overflow
  malformed(roster(hex('80 80 80 00'))); // u16 too long
  assert.equal(decode(roster(hex('80 00'))).agents, 0); // non-minimal, accepted
  assert.equal(decode(roster(hex('80 80 00'))).agents, 0);
  const seq = (bytes) => cat([2, 1], bytes, hex('03 00 00 00'));
  assert.equal(decode(seq(hex('ff ff ff ff 0f'))).seq, 4294967295);
  malformed(seq(hex('ff ff ff ff 10'))); // u32 overflow
  malformed(seq(hex('80 80 80 80 80 00'))); // u32 too long
  assert.equal(decode(seq(hex('80 80 80 80 00'))).seq, 0);
});

test('§4.8 enum ranges', () => {
  const agent = (p, r, m, i) => hex(`02 01 01 00 ${p} 00 ${r} 00 ${m} ${i} 00 00`);
  assert.equal(decode(agent('0a', '05', '07', '05')).presence, 'Break');
  malformed(agent('0b', '00', '00', '00'));
  malformed(agent('00', '06', '00', '00'));
  malformed(agent('00', '00', '08', '00'));
  malformed(agent('00', '00', '00', '06'));
  malformed(agent('80', '00', '00', '00')); // a continuation with nothing sensible after
  assert.equal(decode(agent('86 00', '00', '00', '00')).presence, 'OnQueue'); // non-minimal index
  const q = Uint8Array.from(QUEUE_UNKNOWN);
  q[15] = 3;
  malformed(q);
});

test('§7.2 empty, unknown version, unknown kind after a whole header', () => {
  fails(new Uint8Array(0), 'empty', 'decode: empty frame');
  fails(hex('01 01 01 03 00 00 00'), 'version', 'decode: unknown wire version 1');
  fails(hex('03'), 'version', 'decode: unknown wire version 3');
  fails(hex('02 03 07 04 42 42'), 'unknown_kind', 'decode: unknown body kind 4 (a newer gateway): skipped');
  fails(hex('02 03 07 80 01'), 'unknown_kind', 'decode: unknown body kind 128 (a newer gateway): skipped');
  try {
    decode(hex('02 03 07 04'));
  } catch (e) {
    assert.deepEqual([e.session, e.seq, e.value], [3, 7, 4]);
  }
  malformed(hex('02 03')); // header cut: malformed, not an unknown kind
  malformed(hex('02 03 07')); // no kind
  malformed(hex('02 03 07 80')); // kind cut
});

test('§2.3 route and dispatch by topic', () => {
  const base = 'presence/lyon-1';
  const id = '9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f';
  assert.deepEqual(route(`${base}/zone/all/agent/${id}`, base), { kind: 'agent', zone: 'all', id });
  assert.deepEqual(route(`${base}/zone/f2/queue_name/${id}`, base), { kind: 'queue_name', zone: 'f2', id });
  assert.deepEqual(route(`${base}/zone/f2/roster`, base), { kind: 'roster', zone: 'f2' });
  assert.deepEqual(route(`${base}/gateway/$state`, base), { kind: 'state' });
  assert.equal(route(`${base}/zone/f2/sparkles/x`, base).kind, 'other');
  assert.equal(route(`other/lyon-1/zone/f2/roster`, base).kind, 'other');
  assert.equal(route('a/b/lyon/zone/z/roster', 'a/b/lyon').kind, 'roster'); // a two-level prefix

  const d = (t, b) => dispatch(`${base}/${t}`, base, b);
  assert.equal(d(`zone/all/agent/${id}`, AGENT).status, 'ok');
  assert.equal(d(`zone/all/name/${id}`, NAME).value.name, 'Ana');
  assert.equal(d(`zone/all/queue_name/${id}`, NAME).status, 'ok');
  assert.equal(d(`zone/all/queue/${id}`, QUEUE).value.waiting, 12);
  assert.equal(d('zone/all/roster', ROSTER).value.agents, 300);
  assert.equal(d('zone/all/heatmap', HEATMAP).value.counts[1439], 300);
  assert.equal(d(`zone/all/agent/${id}`, QUEUE).status, 'mismatch');
  assert.equal(d(`zone/all/queue_name/${id}`, AGENT).status, 'mismatch');
  assert.equal(d('zone/all/heatmap', ROSTER).status, 'malformed'); // a frame is not a heatmap
  assert.equal(d(`zone/all/agent/${id}`, new Uint8Array(0)).status, 'cleared');
  assert.equal(d('zone/all/roster', new Uint8Array(0)).status, 'cleared');
  assert.equal(d(`zone/all/agent/${id}`, hex('09 01 02')).status, 'version');
  assert.equal(d(`zone/all/agent/${id}`, hex('02 01 02 05')).status, 'unknown_kind');
  assert.equal(d(`zone/all/agent/${id}`, hex('02 01')).status, 'malformed');
  assert.deepEqual(d('gateway/$state', new TextEncoder().encode('lost')).value, { kind: 'state', state: 'lost' });
  assert.equal(d('gateway/birth', new TextEncoder().encode('{"session":4}')).value.json.session, 4);
  assert.equal(d('gateway/health', new TextEncoder().encode('{nope')).status, 'malformed');
  assert.equal(d('zone/all/whatever', AGENT).status, 'ignored');
});

test('§8.3 gap detection', () => {
  const g = new GapTracker();
  assert.equal(g.see('z', 1, 40, true), 0); // retained replays: never a gap
  assert.equal(g.see('z', 1, 7, true), 0);
  assert.equal(g.see('z', 1, 50, false), 0); // first live frame
  assert.equal(g.see('z', 1, 51, false), 0); // in order
  assert.equal(g.see('z', 1, 51, false), 0); // duplicate
  assert.equal(g.see('z', 1, 30, false), 0); // late
  assert.equal(g.see('z', 1, 55, false), 3); // 52, 53, 54 missed
  assert.equal(g.see('other', 1, 9, false), 0); // zones are tracked apart
  assert.equal(g.see('other', 1, 10, false), 0);
  assert.equal(g.see('z', 1, 56, false), 0);
  g.zones.get('z').lastSeq = 4294967295;
  assert.equal(g.see('z', 1, 0, false), 0); // wraps in order
  assert.equal(g.see('z', 1, 2, false), 1);
  assert.equal(g.see('z', 2, 900, false), 0); // a new session restarts tracking
  g.reset();
  assert.equal(g.see('z', 2, 2000, false), 0); // after a reset: first live frame again
  assert.equal(g.see('z', 2, 2002, false), 1);
  assert.equal(g.see('z', 2, 2002 + 2 ** 31, false), 0); // half the ring away: "older", ignored
});
