// presence-gateway wire decoder for JavaScript (ES module, no dependencies).
//
// Owns: decoding the payloads of docs/WIRE.md (version 2) from a Uint8Array: agent, queue,
// name, roster frames, the heatmap, and the empty "cleared" payload. Written from the
// specification, not from the Rust code: it is the independent second implementation that
// proves the spec (displays/web/check.sh compares it with `presence-gateway decode` on every
// golden file and corpus file, in CI). Does not own MQTT, the page, or gap tracking.

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
  let h;
  try {
    h = header(r);
  } catch (e) {
    throw e;
  }
  const kind = r.u32();
  if (kind >= KINDS.length) {
    throw new WireError('unknown_kind', `decode: unknown body kind ${kind} (a newer gateway): skipped`, kind);
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
