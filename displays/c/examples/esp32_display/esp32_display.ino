// esp32_display.ino: a minimal floor display for presence-gateway on an ESP32 (Arduino core,
// PubSubClient), printing the zone to Serial.
//
// Owns: the MQTT subscriptions of one zone (WIRE.md §2.3, §10), dispatch by topic, a fixed table
// of agents and queues (no malloc), gap detection by session/seq with the zone republish command
// (§8.3, §9), and the Serial lines. Does not own decoding: that is presence_wire.h (copy it next
// to this sketch; check.sh passes -I instead). A real panel would draw where this prints.
//
// Limits: PubSubClient publishes at QoS 0 only, so the republish command goes out at QoS 0
// (WIRE.md §9 asks for 1; a lost command is sent again at the next gap). PubSubClient does not
// expose the RETAIN flag, so frames of the first RETAINED_WINDOW_MS after subscribing are taken
// as the retained replay (§8.3).

#include <Arduino.h>
#include <PubSubClient.h>
#include <WiFi.h>
#include <string.h>

#define PRESENCE_WIRE_IMPLEMENTATION
#include "presence_wire.h"

// ---- site settings ------------------------------------------------------------------------
static const char WIFI_SSID[] = "floor-wifi";
static const char WIFI_PASSWORD[] = "change-me";
static const char BROKER_HOST[] = "192.168.1.10";
static const uint16_t BROKER_PORT = 1883;
static const char CLIENT_ID[] = "display-floor-1";
#define BASE "presence/lyon"  // {prefix}/{site}
#define ZONE "floor-1"

static const char ZONE_PREFIX[] = BASE "/zone/" ZONE "/";
static const char ZONE_FILTER[] = BASE "/zone/" ZONE "/#";
static const char STATE_TOPIC[] = BASE "/gateway/$state";
static const char CMD_TOPIC[] = BASE "/gateway/cmd";
static const char REPUBLISH_CMD[] = "{\"op\":\"republish\",\"scope\":\"zone\",\"zone\":\"" ZONE "\"}";

// ---- limits ---------------------------------------------------------------------------------
/** Agents and queues this display holds; more are dropped and counted (`table_full`). */
#define MAX_AGENTS 64
#define MAX_QUEUES 16
/** A userId or queueId: lowercase UUID text (§2.2). */
#define ID_LEN 36
/** MQTT packet buffer: a heatmap packet needs up to 4,486 bytes (§2.3). */
#define PACKET_BUFFER 4608
/** Frames this long after the SUBACK count as the retained replay, not live (§8.3). */
#define RETAINED_WINDOW_MS 3000UL
/** At most one republish command this often (§8.3). */
#define REPUBLISH_MIN_MS 5000UL

// ---- state ----------------------------------------------------------------------------------
struct AgentSlot {
  char id[ID_LEN + 1];  // empty string: a free slot
  bool has_state;
  pw_agent state;
  char name[PW_NAME_MAX + 1];
};

struct QueueSlot {
  char id[ID_LEN + 1];
  bool has_figures;
  pw_queue figures;
  char name[PW_NAME_MAX + 1];
};

/** Gap tracking of the zone's frame sequence (§8.3). */
struct GapTracker {
  bool live;                      // false until the first live frame after (re)subscribing
  uint32_t session;               // the session of the live frames
  uint32_t last_seq;              // the newest seq seen
  unsigned long subscribed_at;    // millis() of the subscription
  bool commanded;                 // a republish command was sent …
  unsigned long commanded_at;     // … at this millis()
};

static AgentSlot agents[MAX_AGENTS];
static QueueSlot queues[MAX_QUEUES];
static GapTracker gap;
static bool update_needed;       // a frame of a newer wire version was seen
static unsigned long malformed;  // frames dropped as malformed
static unsigned long table_full; // agents or queues dropped for lack of a slot

WiFiClient net;
PubSubClient client(net);

// ---- topics -----------------------------------------------------------------------------------
enum Key { KEY_AGENT, KEY_QUEUE, KEY_NAME, KEY_QUEUE_NAME, KEY_ROSTER, KEY_HEATMAP };

struct Route {
  Key key;
  const char *id;  // the last level for agent, queue, name, queue_name; NULL otherwise
};

/** Maps a topic of this zone to its key (§10 step 2); false for any other topic. */
static bool route_topic(const char *topic, Route *out) {
  static const struct { const char *level; Key key; } with_id[] = {
      {"agent/", KEY_AGENT}, {"queue/", KEY_QUEUE}, {"name/", KEY_NAME}, {"queue_name/", KEY_QUEUE_NAME}};
  size_t n = strlen(ZONE_PREFIX);
  if (strncmp(topic, ZONE_PREFIX, n) != 0) return false;
  const char *rest = topic + n;
  out->id = NULL;
  if (strcmp(rest, "roster") == 0) { out->key = KEY_ROSTER; return true; }
  if (strcmp(rest, "heatmap") == 0) { out->key = KEY_HEATMAP; return true; }
  for (size_t i = 0; i < sizeof with_id / sizeof with_id[0]; i++) {
    size_t l = strlen(with_id[i].level);
    if (strncmp(rest, with_id[i].level, l) != 0) continue;
    const char *id = rest + l;
    if (*id == 0 || strchr(id, '/') != NULL || strlen(id) > ID_LEN) return false;
    out->key = with_id[i].key;
    out->id = id;
    return true;
  }
  return false;
}

/** The Body a topic's frames must carry (§2.3). */
static uint32_t expected_body(Key key) {
  switch (key) {
    case KEY_AGENT: return PW_BODY_AGENT;
    case KEY_QUEUE: return PW_BODY_QUEUE;
    case KEY_ROSTER: return PW_BODY_ROSTER;
    default: return PW_BODY_NAME;
  }
}

// ---- the table --------------------------------------------------------------------------------
/** A new id with no free slot: dropped and counted (the table never grows). */
static void note_table_full(const char *id) {
  table_full++;
  Serial.printf("table full: %s dropped (%lu so far)\n", id, table_full);
}

/** The agent slot of `id`; with `create`, a free slot is taken for a new id (NULL when full). */
static AgentSlot *find_agent(const char *id, bool create) {
  AgentSlot *free_slot = NULL;
  for (size_t i = 0; i < MAX_AGENTS; i++) {
    if (strcmp(agents[i].id, id) == 0) return &agents[i];
    if (free_slot == NULL && agents[i].id[0] == 0) free_slot = &agents[i];
  }
  if (!create) return NULL;
  if (free_slot == NULL) { note_table_full(id); return NULL; }
  memset(free_slot, 0, sizeof *free_slot);
  strcpy(free_slot->id, id);
  return free_slot;
}

/** The queue slot of `id`, as find_agent. */
static QueueSlot *find_queue(const char *id, bool create) {
  QueueSlot *free_slot = NULL;
  for (size_t i = 0; i < MAX_QUEUES; i++) {
    if (strcmp(queues[i].id, id) == 0) return &queues[i];
    if (free_slot == NULL && queues[i].id[0] == 0) free_slot = &queues[i];
  }
  if (!create) return NULL;
  if (free_slot == NULL) { note_table_full(id); return NULL; }
  memset(free_slot, 0, sizeof *free_slot);
  strcpy(free_slot->id, id);
  return free_slot;
}

/** An empty payload: the agent or queue left the zone (§2.3). */
static void clear_topic(const Route &r) {
  if (r.key == KEY_AGENT || r.key == KEY_NAME) {
    AgentSlot *a = find_agent(r.id, false);
    if (a != NULL) memset(a, 0, sizeof *a);
    Serial.printf("agent %s left the zone\n", r.id);
  } else if (r.key == KEY_QUEUE || r.key == KEY_QUEUE_NAME) {
    QueueSlot *q = find_queue(r.id, false);
    if (q != NULL) memset(q, 0, sizeof *q);
    Serial.printf("queue %s left the zone\n", r.id);
  } else {
    Serial.printf("%s: no value\n", r.key == KEY_ROSTER ? "roster" : "heatmap");
  }
}

// ---- printing -----------------------------------------------------------------------------------
static void print_agent(const AgentSlot *a) {
  const pw_agent &s = a->state;
  Serial.printf("agent %s: %s/%s %s %s%s%s%s\n", a->name[0] ? a->name : a->id,
                pw_presence_name(s.presence), pw_routing_name(s.routing), pw_media_name(s.media),
                pw_interaction_name(s.interaction), (s.flags & PW_FLAG_WRAPUP) ? " wrap-up" : "",
                (s.flags & PW_FLAG_STALE) ? " (stale)" : "",
                (s.flags & PW_FLAG_OUT_OF_OFFICE) ? " out-of-office" : "");
}

/** One queue figure: the number, or "–" when unknown (never 0: WIRE.md §4.4). */
static void print_figure(const char *label, uint8_t known, uint32_t value, const char *unit) {
  if (known) Serial.printf(" %s %lu%s", label, (unsigned long)value, unit);
  else Serial.printf(" %s \xe2\x80\x93", label);  // U+2013 EN DASH
}

static void print_queue(const QueueSlot *q) {
  const pw_queue &f = q->figures;
  Serial.printf("queue %s:", q->name[0] ? q->name : q->id);
  print_figure("waiting", f.waiting.known, f.waiting.value, "");
  print_figure("interacting", f.interacting.known, f.interacting.value, "");
  print_figure("alerting", f.alerting.known, f.alerting.value, "");
  print_figure("on", f.on_queue.known, f.on_queue.value, "");
  print_figure("off", f.off_queue.known, f.off_queue.value, "");
  print_figure("longest", f.longest_waiting_s.known, f.longest_waiting_s.value, "s");
  print_figure("offered", f.offered.known, f.offered.value, "");
  print_figure("answered", f.answered.known, f.answered.value, "");
  print_figure("abandoned", f.abandoned.known, f.abandoned.value, "");
  print_figure("sl", f.service_level_pct.known, f.service_level_pct.value, "%");
  Serial.printf(" [%s]\n", pw_level_name(f.level));
}

// ---- applying frames ------------------------------------------------------------------------------
static void apply_frame(const Route &r, const pw_frame &f) {
  if (r.key == KEY_AGENT || r.key == KEY_NAME) {
    AgentSlot *a = find_agent(r.id, true);
    if (a == NULL) return;
    if (r.key == KEY_AGENT) {
      a->state = f.body.agent;
      a->has_state = true;
    } else {
      memcpy(a->name, f.body.name.text, sizeof a->name);
    }
    if (a->has_state) print_agent(a);
  } else if (r.key == KEY_QUEUE || r.key == KEY_QUEUE_NAME) {
    QueueSlot *q = find_queue(r.id, true);
    if (q == NULL) return;
    if (r.key == KEY_QUEUE) {
      q->figures = f.body.queue;
      q->has_figures = true;
    } else {
      memcpy(q->name, f.body.name.text, sizeof q->name);
    }
    if (q->has_figures) print_queue(q);
  } else {
    const pw_roster &ro = f.body.roster;
    Serial.printf("roster: %u agents, %u queues (generation %lu)\n", (unsigned)ro.agents,
                  (unsigned)ro.queues, (unsigned long)ro.generation);
  }
}

/** The heatmap, walked without an array: total and busiest minute, shown once it is whole. */
static void apply_heatmap(const uint8_t *payload, unsigned int length) {
  pw_heatmap h;
  uint16_t count, busiest = 0;
  uint32_t busiest_minute = 0;
  unsigned long total = 0;
  if (pw_heatmap_open(&h, payload, length) == PW_UNKNOWN_VERSION) update_needed = true;
  while (pw_heatmap_next(&h, &count)) {
    total += count;
    if (count > busiest) {
      busiest = count;
      busiest_minute = pw_heatmap_minute(&h, h.index - 1);
    }
  }
  if (h.result != PW_OK) {
    if (h.result == PW_MALFORMED) malformed++;
    return;
  }
  Serial.printf("heatmap: %lu transitions in 24 h, busiest minute %lu (%u)\n", total,
                (unsigned long)busiest_minute, (unsigned)busiest);
}

// ---- gaps (§8.3) ---------------------------------------------------------------------------------
static void request_republish() {
  unsigned long now = millis();
  if (gap.commanded && now - gap.commanded_at < REPUBLISH_MIN_MS) return;
  gap.commanded = true;
  gap.commanded_at = now;
  client.publish(CMD_TOPIC, REPUBLISH_CMD, false);  // not retained (§9)
  Serial.printf("republish requested\n");
}

/** Tracks the zone's sequence from the first live frame; a gap asks for the zone again. */
static void track_sequence(const pw_header &h) {
  if (millis() - gap.subscribed_at < RETAINED_WINDOW_MS) return;  // the retained replay
  if (!gap.live || h.session != gap.session) {
    gap.live = true;
    gap.session = h.session;
    gap.last_seq = h.seq;
    return;
  }
  uint32_t d = h.seq - gap.last_seq;  // modulo 2^32
  if (d == 0 || d >= 0x80000000UL) return;  // duplicate, or a late arrival
  if (d > 1) {
    Serial.printf("gap: %lu frame(s) missed\n", (unsigned long)(d - 1));
    request_republish();
  }
  gap.last_seq = h.seq;
}

// ---- MQTT ------------------------------------------------------------------------------------------
static void on_gateway_state(const byte *payload, unsigned int length) {
  char text[16];
  unsigned int n = length < sizeof text - 1 ? length : sizeof text - 1;
  memcpy(text, payload, n);
  text[n] = 0;
  if (strcmp(text, "online") == 0) gap.live = false;  // it republishes everything: no command
  Serial.printf("gateway %s%s\n", text,
                strcmp(text, "online") == 0 ? "" : ": values frozen (banner)");
}

void on_message(char *topic, byte *payload, unsigned int length) {
  if (strcmp(topic, STATE_TOPIC) == 0) {
    on_gateway_state(payload, length);
    return;
  }
  Route r;
  if (!route_topic(topic, &r)) return;  // a topic this display does not know
  if (length == 0) {
    clear_topic(r);
    return;
  }
  if (r.key == KEY_HEATMAP) {  // own layout and own sequence (§4.7)
    apply_heatmap(payload, length);
    return;
  }
  pw_frame f;
  switch (pw_decode_frame(payload, length, &f)) {
    case PW_OK: break;
    case PW_UNKNOWN_KIND: track_sequence(f.header); return;  // a newer kind: skip
    case PW_UNKNOWN_VERSION:
      if (!update_needed) Serial.printf("update needed: wire version %u\n", (unsigned)f.version);
      update_needed = true;
      return;
    default:
      malformed++;
      Serial.printf("malformed frame on %s (%lu so far)\n", topic, malformed);
      return;
  }
  track_sequence(f.header);
  if (f.kind != expected_body(r.key)) return;  // body does not match the topic: ignore
  apply_frame(r, f);
}

static void connect_broker() {
  if (!client.connect(CLIENT_ID)) return;
  client.subscribe(ZONE_FILTER, 0);  // QoS 0 (§2.1)
  client.subscribe(STATE_TOPIC, 1);
  gap.live = false;
  gap.subscribed_at = millis();
  Serial.printf("subscribed to %s\n", ZONE_FILTER);
}

void setup() {
  Serial.begin(115200);
  WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
  while (WiFi.status() != WL_CONNECTED) delay(200);
  client.setServer(BROKER_HOST, BROKER_PORT);
  client.setBufferSize(PACKET_BUFFER);
  client.setCallback(on_message);
  Serial.printf("waiting for the gateway\n");
}

void loop() {
  if (!client.connected()) connect_broker();
  client.loop();
}
