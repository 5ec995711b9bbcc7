// presence-gateway wire decoder for JavaScript (ES module, no dependencies).
//
// Owns: decoding the payloads of docs/WIRE.md (version 2) from a Uint8Array: agent, queue,
// name, roster frames, the heatmap, and the empty "cleared" payload. Written from the
// specification, not from the Rust code: it is the independent second implementation that
// proves the spec (displays/web/check.sh compares it with `presence-gateway decode` on every
// golden file and corpus file, in CI), the routing of a topic to its decoder (§2.3) and the
// gap detection of §8.3 (GapTracker). Does not own MQTT, the floor model or the page.

export const WIRE_VERSION = 2;
export const MAX_FRAME_LEN = 64;
export const NAME_MAX = 32;
export const HEATMAP_MINUTES = 1440;

export const PRESENCE = ['Unknown', 'Available', 'Away', 'Busy', 'Offline', 'Idle', 'OnQueue', 'Meal', 'Training', 'Meeting', 'Break'];
export const ROUTING = ['Unknown', 'OffQueue', 'Idle', 'Interacting', 'NotResponding', 'Communicating'];
export const MEDIA = ['None', 'Call', 'Callback', 'Chat', 'Email', 'Message', 'Video', 'Other'];
export const INTERACTION = ['None', 'Alerting', 'Dialing', 'Connected', 'Held', 'Disconnected'];
export const LEVEL = ['Normal', 'Warning', 'Critical'];
export const KINDS = ['agent', 'queue', 'name', 'roster'];

export const FLAG_WRAPUP = 1;
export const FLAG_STALE = 2;
export const FLAG_OUT_OF_OFFICE = 4;

/** Why a payload did not decode (WIRE.md §7.2). `kind`: 'empty', 'version', 'unknown_kind', 'malformed'. */
export class WireError extends Error {
  constructor(kind, message, value) {
    super(message);
    this.kind = kind;
    this.value = value;
  }
}

const malformed = () => new WireError('malformed', 'decode: malformed body');

/** A cursor over the bytes after the version byte. */
class Reader {
  constructor(bytes, at) {
    this.b = bytes;
    this.i = at;
  }
  byte() {
    if (this.i >= this.b.length) throw malformed();
    return this.b[this.i++];
  }
  // LEB128 varint of at most `maxBytes` bytes whose last byte is at most `lastMax` (§3.1).
  varint(maxBytes, lastMax) {
    let out = 0;
    for (let n = 0; n < maxBytes; n++) {
      const b = this.byte();
      out += (b & 0x7f) * 2 ** (7 * n);
      if ((b & 0x80) === 0) {
        if (n === maxBytes - 1 && b > lastMax) throw malformed();
        return out;
      }
    }
    throw malformed();
  }
  u16() { return this.varint(3, 0x03); }
  u32() { return this.varint(5, 0x0f); }
  // A length (usize): up to 10 bytes, the tenth at most 0x01; only its size matters here.
  len() { return this.varint(10, 0x01); }
  u8() { return this.byte(); }
  option(read) {
    const tag = this.byte();
    if (tag === 0) return null;
    if (tag === 1) return read();
    throw malformed();
  }
  enumeration(names) {
    const v = this.u32();
    if (v >= names.length) throw malformed();
    return names[v];
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function header(r) {
  return { session: r.u32(), seq: r.u32() };
}

function versioned(bytes) {
  if (bytes.length === 0) throw new WireError('empty', 'decode: empty frame');
  if (bytes[0] !== WIRE_VERSION) {
    throw new WireError('version', `decode: unknown wire version ${bytes[0]}`, bytes[0]);
  }
  return new Reader(bytes, 1);
}

function body(r, kind) {
  switch (kind) {
    case 0: {
      const a = {
        presence: r.enumeration(PRESENCE),
        presence_since: r.u32(),
        routing: r.enumeration(ROUTING),
        routing_since: r.u32(),
        media: r.enumeration(MEDIA),
        interaction: r.enumeration(INTERACTION),
        interaction_since: r.u32(),
        flags: r.u8(),
      };
      a.wrapup = (a.flags & FLAG_WRAPUP) !== 0;
      a.stale = (a.flags & FLAG_STALE) !== 0;
      a.out_of_office = (a.flags & FLAG_OUT_OF_OFFICE) !== 0;
      return a;
    }
    case 1: {
      const u16 = () => r.option(() => r.u16());
      return {
        waiting: u16(),
        interacting: u16(),
        alerting: u16(),
        on_queue: u16(),
        off_queue: u16(),
        longest_waiting_s: r.option(() => r.u32()),
        observed: r.u32(),
        offered: u16(),
        answered: u16(),
        abandoned: u16(),
        service_level_pct: r.option(() => r.u8()),
        level: r.enumeration(LEVEL),
      };
    }
    case 2: {
      const n = r.len();
      if (n > r.b.length - r.i) throw malformed();
      const bytes = r.b.subarray(r.i, r.i + n);
      r.i += n;
      let name;
      try {
        name = utf8.decode(bytes);
      } catch {
        throw malformed();
      }
      if (n > NAME_MAX) throw malformed();
      return { name };
    }
    default:
      return { agents: r.u16(), queues: r.u16(), generation: r.u32() };
  }
}

/**
 * Decodes a frame (agent, queue, name, roster topics): `{kind, session, seq, ...fields}`.
 * Throws a WireError: 'empty', 'version', 'unknown_kind' (a whole header, then a kind > 3:
 * skip it, a newer gateway), 'malformed'. Trailing bytes are ignored.
 */
export function decode(bytes) {
  const r = versioned(bytes);
  const h = header(r);
  const kind = r.u32();
  if (kind >= KINDS.length) {
    const e = new WireError('unknown_kind', `decode: unknown body kind ${kind} (a newer gateway): skipped`, kind);
    e.session = h.session; // the header is whole: a display may still track it (§7.2)
    e.seq = h.seq;
    throw e;
  }
  return { kind: KINDS[kind], session: h.session, seq: h.seq, ...body(r, kind) };
}

/** Decodes a heatmap (the `heatmap` topic): `{kind: 'heatmap', session, seq, end_minute, counts}`. */
export function decodeHeatmap(bytes) {
  const r = versioned(bytes);
  const h = header(r);
  const end_minute = r.u32();
  const counts = new Array(HEATMAP_MINUTES);
  for (let i = 0; i < HEATMAP_MINUTES; i++) counts[i] = r.u16();
  return { kind: 'heatmap', session: h.session, seq: h.seq, end_minute, counts };
}

/**
 * What a topic carries (§2.3), for a topic under `{base}` = `{prefix}/{site}`:
 * `{kind: 'agent'|'queue'|'name'|'queue_name'|'roster'|'heatmap'|'state'|'gateway'|'other', zone, id}`.
 */
export function route(topic, base) {
  if (!topic.startsWith(base + '/')) return { kind: 'other' };
  const rest = topic.slice(base.length + 1).split('/');
  if (rest[0] === 'gateway') return { kind: rest[1] === '$state' ? 'state' : 'gateway' };
  if (rest[0] !== 'zone' || rest.length < 3) return { kind: 'other' };
  const zone = rest[1];
  if (rest.length === 3 && (rest[2] === 'roster' || rest[2] === 'heatmap')) return { kind: rest[2], zone };
  if (rest.length === 4 && ['agent', 'queue', 'name', 'queue_name'].includes(rest[2])) {
    return { kind: rest[2], zone, id: rest[3] };
  }
  return { kind: 'other' };
}

/** Topic levels whose payload is a frame, and the Body kind each must carry (§2.3). */
const FRAME_TOPICS = { agent: 'agent', queue: 'queue', name: 'name', queue_name: 'name', roster: 'roster' };

/**
 * Decodes one MQTT message by its topic (§2.3: never by its bytes), without throwing.
 * `base` is `{prefix}/{site}`. Returns `{route, status, value, error}` where `route` is
 * route()'s answer and `status` is one of:
 * - 'ok': `value` is the frame (`{kind, session, seq, …}`), the heatmap, `{kind: 'state',
 *   state}` for `$state`, or `{kind: 'json', json}` for another gateway document;
 * - 'cleared': an empty payload on a zone topic: forget the value held for it (§2.3);
 * - 'version': a first byte other than 2: ignore it, show "update needed" (`error.value`);
 * - 'unknown_kind': a Body kind > 3 after a whole header: skip it silently (`error.session`,
 *   `error.seq` are usable for gap tracking);
 * - 'mismatch': a good frame whose kind is not its topic's (`value` holds it): ignore it;
 * - 'malformed': corrupt (truncated, varint too long, out of range, bad name): count it;
 * - 'ignored': a topic this decoder does not know.
 * `error` is the WireError (or Error) for every status but 'ok', 'cleared' and 'ignored'.
 */
export function dispatch(topic, base, bytes) {
  const where = route(topic, base);
  const out = (status, value, error) => ({ route: where, status, value, error });
  if (where.kind === 'other') return out('ignored');
  if (where.kind === 'state' || where.kind === 'gateway') {
    let text;
    try {
      text = utf8.decode(bytes);
    } catch (e) {
      return out('malformed', undefined, e);
    }
    if (where.kind === 'state') return out('ok', { kind: 'state', state: text });
    try {
      return out('ok', { kind: 'json', json: JSON.parse(text) });
    } catch (e) {
      return out('malformed', undefined, e);
    }
  }
  if (bytes.length === 0) return out('cleared');
  try {
    if (where.kind === 'heatmap') return out('ok', decodeHeatmap(bytes));
    const frame = decode(bytes);
    return out(frame.kind === FRAME_TOPICS[where.kind] ? 'ok' : 'mismatch', frame);
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    return out(e.kind === 'empty' ? 'cleared' : e.kind, undefined, e);
  }
}

/**
 * Gap detection of §8.3, per zone: `see()` each frame's header (not the heatmap's: it has a
 * sequence of its own) with the message's RETAIN flag. Retained replays come in the broker's
 * order with old numbers and are not tracked; the first live frame, or one of a new session,
 * starts tracking; a forward jump (mod 2^32, below 2^31) of more than one is a gap. Call
 * `reset()` after each (re)subscription and when `$state` turns `online` (the gateway
 * republishes everything then, a gap is expected).
 */
export class GapTracker {
  constructor() {
    /** zone → {live, session, lastSeq}. */
    this.zones = new Map();
  }

  /** Restarts tracking of every zone (live = false). */
  reset() {
    for (const z of this.zones.values()) z.live = false;
  }

  /** Returns how many frames of `zone` were missed just before this one (0: none). */
  see(zone, session, seq, retained) {
    if (retained) return 0;
    const z = this.zones.get(zone);
    if (!z || !z.live || z.session !== session) {
      this.zones.set(zone, { live: true, session, lastSeq: seq });
      return 0;
    }
    const d = (seq - z.lastSeq) >>> 0;
    if (d === 0 || d >= 2 ** 31) return 0; // duplicate, or a late arrival already applied
    z.lastSeq = seq;
    return d - 1;
  }
}
