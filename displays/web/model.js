// The wallboard's floor model (ES module, no DOM, no MQTT, no clock of its own).
//
// Owns: what the browser wallboard knows of one zone, built message by message from wire.js's
// dispatch(): agents with their names, queues with their names, the roster, the heatmap, the
// gateway's `$state`, counters, gap detection and the zone republish command it asks for
// (docs/WIRE.md §8.3, §9: at most one per REPUBLISH_EVERY_MS). Also the pure helpers the page
// draws with (labels, colours, durations, URL parameters), so node --test covers them.
// Does not own: the MQTT connection and the DOM (wallboard.js), decoding (wire.js).
//
// `model.floor` is the plain object the page exposes as `window.floor` for tests:
//   {state, agents: {id: {name, presence, routing, media, interaction, wrapup, stale,
//    out_of_office, presence_since, routing_since, interaction_since}},
//    queues: {id: {name, waiting, interacting, alerting, on_queue, off_queue,
//    longest_waiting_s, offered, answered, abandoned, service_level_pct, level}},
//    roster, heatmapTotal, frames, gaps}
// Enums are their WIRE.md names; anything unknown is null: `state` before any `$state`, a
// name not received yet, a queue figure sent as none, a `*_since` time sent as 0, `roster`
// and `heatmapTotal` before their topic (or after it was cleared).

import { dispatch, GapTracker } from './wire.js';

/** At most one zone republish command per this long (WIRE.md §8.3: "at most once per few seconds"). */
export const REPUBLISH_EVERY_MS = 3000;

/** What the page shows for a figure the gateway does not know (WIRE.md §4.4): never 0. */
export const UNKNOWN = '–';

/** The wallboard's model of one zone (or of every zone, with zone `+`). */
export class FloorModel {
  /** `prefix` (one or more levels), `site`, `zone` (a name, or `+`). */
  constructor({ prefix, site, zone }) {
    this.base = `${prefix}/${site}`;
    this.zone = zone;
    /** The test-visible model (see the file comment). */
    this.floor = { state: null, agents: {}, queues: {}, roster: null, heatmapTotal: null, frames: 0, gaps: 0 };
    /** Display names by user id and by queue id: a name may come before its agent or queue. */
    this.names = new Map();
    this.queueNames = new Map();
    /** Queue `observed` times by queue id (not part of `floor`). */
    this.observed = new Map();
    /** The last heatmap (`{session, seq, end_minute, counts}`), or null. */
    this.heatmap = null;
    /** Session of the newest frame. */
    this.session = null;
    /** Diagnostics shown in the footer. */
    this.stats = { bad: 0, unknownKinds: 0, mismatched: 0, cleared: 0, missed: 0, republishes: 0 };
    /** The newer wire version seen (WIRE.md §7.2: show "update needed"), or null. */
    this.updateNeeded = null;
    this.tracker = new GapTracker();
    this.lastAskMs = -Infinity;
  }

  /** The subscriptions, in order: the zone at QoS 0 (WIRE.md §2.1), `$state` at QoS 1. */
  filters() {
    return [
      { topic: `${this.base}/zone/${this.zone}/#`, qos: 0 },
      { topic: `${this.base}/gateway/$state`, qos: 1 },
    ];
  }

  /** Call on each (re)subscription: retained replays follow, tracking restarts (§8.3). */
  subscribed() {
    this.tracker.reset();
  }

  /** Whether the model holds every agent and queue the zone's roster counts (§4.6). */
  complete() {
    const r = this.floor.roster;
    return r !== null
      && Object.keys(this.floor.agents).length >= r.agents
      && Object.keys(this.floor.queues).length >= r.queues;
  }

  /**
   * Applies one MQTT message (`bytes`: Uint8Array, `retained`: its RETAIN flag, `nowMs`: the
   * display's clock). Returns the messages to publish: `[{topic, payload, qos: 1}]`, a zone
   * republish command after a gap, or nothing.
   */
  apply(topic, bytes, retained, nowMs) {
    const d = dispatch(topic, this.base, bytes);
    const { route } = d;
    const f = this.floor;
    switch (d.status) {
      case 'ignored':
        return [];
      case 'cleared':
        this.stats.cleared += 1;
        this.clear(route);
        return [];
      case 'version':
        this.updateNeeded = d.error.value;
        return [];
      case 'malformed':
        this.stats.bad += 1;
        return [];
      case 'unknown_kind':
        // A newer gateway's kind, published into the zone with a number of its own: track it,
        // or each one would look like a gap.
        this.stats.unknownKinds += 1;
        return this.track(route.zone, d.error.session, d.error.seq, retained, nowMs);
      case 'mismatch':
        this.stats.mismatched += 1;
        return this.track(route.zone, d.value.session, d.value.seq, retained, nowMs);
      default:
        break;
    }
    const v = d.value;
    switch (v.kind) {
      case 'state':
        if (v.state === 'online') this.tracker.reset(); // it republishes everything: no gap
        f.state = v.state;
        return [];
      case 'json':
        return [];
      case 'heatmap': {
        // Its own sequence (§8.2): not part of the zone's gap detection.
        f.frames += 1;
        this.heatmap = v;
        let total = 0;
        for (const c of v.counts) total += c;
        f.heatmapTotal = total;
        return [];
      }
      case 'agent':
        f.agents[route.id] = {
          name: this.names.get(route.id) ?? null,
          presence: v.presence,
          routing: v.routing,
          media: v.media,
          interaction: v.interaction,
          wrapup: v.wrapup,
          stale: v.stale,
          out_of_office: v.out_of_office,
          presence_since: v.presence_since || null,
          routing_since: v.routing_since || null,
          interaction_since: v.interaction_since || null,
        };
        break;
      case 'queue':
        f.queues[route.id] = {
          name: this.queueNames.get(route.id) ?? null,
          waiting: v.waiting,
          interacting: v.interacting,
          alerting: v.alerting,
          on_queue: v.on_queue,
          off_queue: v.off_queue,
          longest_waiting_s: v.longest_waiting_s,
          offered: v.offered,
          answered: v.answered,
          abandoned: v.abandoned,
          service_level_pct: v.service_level_pct,
          level: v.level,
        };
        this.observed.set(route.id, v.observed);
        break;
      case 'name':
        if (route.kind === 'queue_name') {
          this.queueNames.set(route.id, v.name);
          if (f.queues[route.id]) f.queues[route.id].name = v.name;
        } else {
          this.names.set(route.id, v.name);
          if (f.agents[route.id]) f.agents[route.id].name = v.name;
        }
        break;
      case 'roster':
        f.roster = { agents: v.agents, queues: v.queues, generation: v.generation };
        break;
      default:
        return [];
    }
    f.frames += 1;
    this.session = v.session;
    return this.track(route.zone, v.session, v.seq, retained, nowMs);
  }

  /** Forgets what an empty payload on `route` cleared (§2.3). */
  clear(route) {
    const f = this.floor;
    switch (route.kind) {
      case 'agent': delete f.agents[route.id]; break;
      case 'queue': delete f.queues[route.id]; this.observed.delete(route.id); break;
      case 'name':
        this.names.delete(route.id);
        if (f.agents[route.id]) f.agents[route.id].name = null;
        break;
      case 'queue_name':
        this.queueNames.delete(route.id);
        if (f.queues[route.id]) f.queues[route.id].name = null;
        break;
      case 'roster': f.roster = null; break;
      case 'heatmap': this.heatmap = null; f.heatmapTotal = null; break;
      default: break;
    }
  }

  /** Gap detection for one frame header; the republish command when one is due. */
  track(zone, session, seq, retained, nowMs) {
    const missed = this.tracker.see(zone, session, seq, retained);
    if (missed === 0) return [];
    this.floor.gaps += 1;
    this.stats.missed += missed;
    if (nowMs - this.lastAskMs < REPUBLISH_EVERY_MS) return [];
    this.lastAskMs = nowMs;
    this.stats.republishes += 1;
    return [{
      topic: `${this.base}/gateway/cmd`,
      payload: JSON.stringify({ op: 'republish', scope: 'zone', zone }),
      qos: 1,
    }];
  }

  /** Agents as `[id, agent]`, sorted by the name shown (case-insensitive), then id. */
  sortedAgents() {
    return Object.entries(this.floor.agents)
      .map(([id, a]) => [id, a, (a.name ?? shortId(id)).toLowerCase()])
      .sort((x, y) => (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
      .map(([id, a]) => [id, a]);
  }

  /** Queues as `[id, queue]`, sorted by id (the terminal wallboard's order). */
  sortedQueues() {
    return Object.entries(this.floor.queues).sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  }
}

// ---- Pure helpers the page draws with ----------------------------------------------------

/**
 * The page's settings from its URL query (`search`, e.g. `?site=lyon-1`) and the page's host
 * name (empty for `file://`): broker (default ws://<host>:9001, localhost without one),
 * prefix (`presence`), site (required), zone (`all`), user and pass (optional).
 */
export function settings(search, hostname) {
  const q = new URLSearchParams(search);
  const get = (k) => {
    const v = q.get(k);
    return v === null || v === '' ? null : v;
  };
  return {
    broker: get('broker') ?? `ws://${hostname || 'localhost'}:9001`,
    prefix: get('prefix') ?? 'presence',
    site: get('site'),
    zone: get('zone') ?? 'all',
    user: get('user'),
    pass: get('pass'),
  };
}

/** An id cut to its first 8 characters (a UUID's first group), for a tile without a name. */
export function shortId(id) {
  return Array.from(id).slice(0, 8).join('');
}

/** A duration in seconds as `mm:ss`, `h:mm:ss`, or `Nd hhh` from a day on. */
export function duration(secs) {
  const s = Math.max(0, Math.floor(secs));
  const two = (n) => String(n).padStart(2, '0');
  if (s < 3600) return `${two(Math.floor(s / 60))}:${two(s % 60)}`;
  if (s < 86400) return `${Math.floor(s / 3600)}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
  return `${Math.floor(s / 86400)}d ${two(Math.floor(s / 3600) % 24)}h`;
}

/** Time in status since `since` (Unix seconds, null = unknown) at `nowS`; `--:--` when unknown,
 * `00:00` for a time in the future (clock skew, WIRE.md §4.3). */
export function elapsed(nowS, since) {
  return since ? duration(Math.max(0, nowS - since)) : '--:--';
}

/** A queue figure as text: the number, or UNKNOWN. */
export function figure(v) {
  return v === null || v === undefined ? UNKNOWN : String(v);
}

export const PRESENCE_LABEL = {
  Unknown: 'Unknown', Available: 'Available', Away: 'Away', Busy: 'Busy', Offline: 'Offline', Idle: 'Idle',
  OnQueue: 'On Queue', Meal: 'Meal', Training: 'Training', Meeting: 'Meeting', Break: 'Break',
};
export const ROUTING_LABEL = {
  Unknown: '', OffQueue: 'Off queue', Idle: 'Idle', Interacting: 'Interacting',
  NotResponding: 'Not responding', Communicating: 'Communicating',
};
export const MEDIA_LABEL = {
  None: '', Call: 'Call', Callback: 'Callback', Chat: 'Chat', Email: 'Email', Message: 'Message', Video: 'Video', Other: 'Other',
};
export const INTERACTION_LABEL = {
  None: '', Alerting: 'ringing', Dialing: 'dialing', Connected: 'connected', Held: 'held', Disconnected: 'ended',
};

/** Colour class of an agent tile, as the terminal wallboard: wrap-up magenta; on queue or
 * available: red not responding, cyan on an interaction, else green; busy/meeting red;
 * away/break/meal/idle yellow; training blue; offline/unknown grey. */
export function agentColour(a) {
  if (a.wrapup) return 'magenta';
  switch (a.presence) {
    case 'OnQueue':
    case 'Available':
      if (a.routing === 'NotResponding') return 'red';
      if (a.routing === 'Interacting' || a.routing === 'Communicating' || a.media !== 'None') return 'cyan';
      return 'green';
    case 'Busy':
    case 'Meeting':
      return 'red';
    case 'Away':
    case 'Break':
    case 'Meal':
    case 'Idle':
      return 'yellow';
    case 'Training':
      return 'blue';
    default:
      return 'grey';
  }
}

/** Colour class of a queue tile: the gateway's `level` (WIRE.md §4.4). */
export function levelColour(level) {
  return level === 'Critical' ? 'red' : level === 'Warning' ? 'yellow' : 'green';
}

/** The interaction row of an agent tile (`Wrap-up Call`, `Call connected`), or '' without one. */
export function interactionText(a) {
  if (a.wrapup) return `Wrap-up ${MEDIA_LABEL[a.media] ?? ''}`.trim();
  if (a.media === 'None') return '';
  return `${MEDIA_LABEL[a.media] ?? ''} ${INTERACTION_LABEL[a.interaction] ?? ''}`.trim();
}

/** The banner for a `$state` other than `online` (WIRE.md §8.4): `{text, tone}` or null.
 * `lost` and `offline` are red ("values are frozen"); no `$state` yet is grey. */
export function banner(state) {
  switch (state) {
    case 'online':
      return null;
    case 'lost':
      return { text: 'GATEWAY LOST: figures are frozen at the last known state', tone: 'red' };
    case 'offline':
      return { text: 'GATEWAY OFFLINE: the gateway stopped; figures are the last known state', tone: 'red' };
    case null:
    case undefined:
      return { text: 'WAITING FOR THE GATEWAY: no $state yet', tone: 'grey' };
    default:
      return { text: `GATEWAY ${String(state).toUpperCase()}: state unknown`, tone: 'grey' };
  }
}

/** Seconds of the day as `HH:MM` or `HH:MM:SS` (UTC). */
export function clock(unixS, seconds = true) {
  const d = ((Math.floor(unixS) % 86400) + 86400) % 86400;
  const two = (n) => String(n).padStart(2, '0');
  const hm = `${two(Math.floor(d / 3600))}:${two(Math.floor(d / 60) % 60)}`;
  return seconds ? `${hm}:${two(d % 60)}` : hm;
}

/** Sums `counts` in groups of `size` (the heatmap strip's bars: 1440 minutes → 1440/size). */
export function buckets(counts, size) {
  const out = [];
  for (let i = 0; i < counts.length; i += size) {
    let s = 0;
    for (let j = i; j < Math.min(i + size, counts.length); j++) s += counts[j];
    out.push(s);
  }
  return out;
}

/** Escapes text for HTML (names come from the cloud: never trust them as markup). */
export function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
