/* presence_wire.h: a C99 decoder of the presence-gateway wire format, version 2 (docs/WIRE.md).
 *
 * Owns: decoding frames (agent, queue, name, roster bodies), the heatmap (walked count by count
 * without an array, or into a caller's array), the enum tables and their names, and the result
 * codes. Does not own: MQTT, topic dispatch (a caller chooses frame or heatmap by topic, WIRE.md
 * §2.3), gap tracking (§8) or any output format. No allocation, no globals, no dependency beyond
 * <stdint.h>, <stddef.h> and <string.h>.
 *
 * Single header, stb style: include it anywhere for the declarations; in exactly one C or C++
 * file write
 *
 *     #define PRESENCE_WIRE_IMPLEMENTATION
 *     #include "presence_wire.h"
 *
 * to compile the implementation there.
 *
 * Usage:
 *
 *     pw_frame f;
 *     switch (pw_decode_frame(payload, len, &f)) {
 *     case PW_OK:             use f.header, f.kind, f.body.agent / queue / name / roster
 *     case PW_EMPTY:          the retained value was cleared: delete what you hold
 *     case PW_UNKNOWN_VERSION: f.version is the first byte: show "update needed"
 *     case PW_UNKNOWN_KIND:   f.header is whole, f.kind > 3: a newer gateway; skip
 *     case PW_MALFORMED:      drop it, count it
 *     }
 */
#ifndef PRESENCE_WIRE_H
#define PRESENCE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants (WIRE.md §4.9) ---------------------------------------------------------- */

/** First byte of every frame and heatmap. */
#define PW_WIRE_VERSION 2
/** A buffer of this size holds any frame (the heatmap excepted). */
#define PW_MAX_FRAME_LEN 64
/** A buffer of this size holds any heatmap: 1 + 10 + 5 + 1440 x 3. */
#define PW_MAX_HEATMAP_LEN 4336
/** Buckets in a heatmap: one per minute over 24 h. */
#define PW_HEATMAP_MINUTES 1440
/** Longest display name, bytes of UTF-8 (no terminator on the wire). */
#define PW_NAME_MAX 32

/** Agent flags bits (§4.3); bits 3-7 are reserved and must be ignored. */
#define PW_FLAG_WRAPUP 1u
#define PW_FLAG_STALE 2u
#define PW_FLAG_OUT_OF_OFFICE 4u

/* ---- results ----------------------------------------------------------------------------- */

/** What a decode call found (§7.2). */
typedef enum {
    PW_OK = 0,          /**< decoded */
    PW_EMPTY,           /**< zero bytes: a cleared retained topic, not a frame */
    PW_UNKNOWN_VERSION, /**< first byte is not PW_WIRE_VERSION (the byte is in `version`) */
    PW_UNKNOWN_KIND,    /**< whole header, then a body index > 3 (the index is in `kind`) */
    PW_MALFORMED        /**< truncated, bad varint, enum or option tag, bad name */
} pw_result;

/* ---- enumerations (§4.8): the wire value is the index ---------------------------------- */

typedef enum { PW_BODY_AGENT = 0, PW_BODY_QUEUE, PW_BODY_NAME, PW_BODY_ROSTER, PW_BODY_COUNT } pw_body;

typedef enum {
    PW_PRESENCE_UNKNOWN = 0, PW_PRESENCE_AVAILABLE, PW_PRESENCE_AWAY, PW_PRESENCE_BUSY,
    PW_PRESENCE_OFFLINE, PW_PRESENCE_IDLE, PW_PRESENCE_ON_QUEUE, PW_PRESENCE_MEAL,
    PW_PRESENCE_TRAINING, PW_PRESENCE_MEETING, PW_PRESENCE_BREAK, PW_PRESENCE_COUNT
} pw_presence;

typedef enum {
    PW_ROUTING_UNKNOWN = 0, PW_ROUTING_OFF_QUEUE, PW_ROUTING_IDLE, PW_ROUTING_INTERACTING,
    PW_ROUTING_NOT_RESPONDING, PW_ROUTING_COMMUNICATING, PW_ROUTING_COUNT
} pw_routing;

typedef enum {
    PW_MEDIA_NONE = 0, PW_MEDIA_CALL, PW_MEDIA_CALLBACK, PW_MEDIA_CHAT, PW_MEDIA_EMAIL,
    PW_MEDIA_MESSAGE, PW_MEDIA_VIDEO, PW_MEDIA_OTHER, PW_MEDIA_COUNT
} pw_media;

typedef enum {
    PW_INTERACTION_NONE = 0, PW_INTERACTION_ALERTING, PW_INTERACTION_DIALING,
    PW_INTERACTION_CONNECTED, PW_INTERACTION_HELD, PW_INTERACTION_DISCONNECTED,
    PW_INTERACTION_COUNT
} pw_interaction;

typedef enum { PW_LEVEL_NORMAL = 0, PW_LEVEL_WARNING, PW_LEVEL_CRITICAL, PW_LEVEL_COUNT } pw_level;

/* ---- decoded values ---------------------------------------------------------------------- */

/** Frame header (§4.2). */
typedef struct {
    uint32_t session; /**< gateway boot counter: compare with != */
    uint32_t seq;     /**< per-zone frame counter, wraps modulo 2^32 */
} pw_header;

/** An option figure (§3): `known` 0 = unknown (show "–", never 0), 1 = `value` holds it. */
typedef struct { uint8_t known; uint8_t value; } pw_opt_u8;
typedef struct { uint8_t known; uint16_t value; } pw_opt_u16;
typedef struct { uint8_t known; uint32_t value; } pw_opt_u32;

/** Agent body (§4.3); times are Unix seconds, 0 = unknown. Enums are already range-checked. */
typedef struct {
    uint8_t presence;  /**< pw_presence */
    uint32_t presence_since;
    uint8_t routing;   /**< pw_routing */
    uint32_t routing_since;
    uint8_t media;       /**< pw_media */
    uint8_t interaction; /**< pw_interaction */
    uint32_t interaction_since;
    uint8_t flags; /**< PW_FLAG_* bits */
} pw_agent;

/** Queue body (§4.4, version 2): every figure but `observed` and `level` may be unknown. */
typedef struct {
    pw_opt_u16 waiting, interacting, alerting, on_queue, off_queue;
    pw_opt_u32 longest_waiting_s; /**< some(0) = nobody waits */
    uint32_t observed;            /**< Unix seconds; 0 = never observed */
    pw_opt_u16 offered, answered, abandoned;
    pw_opt_u8 service_level_pct;
    uint8_t level; /**< pw_level */
} pw_queue;

/** Name body (§4.5): valid UTF-8, at most 32 bytes, NUL-terminated copy. */
typedef struct {
    uint8_t len;
    char text[PW_NAME_MAX + 1];
} pw_name;

/** Roster body (§4.6). */
typedef struct {
    uint16_t agents, queues;
    uint32_t generation;
} pw_roster;

/** A decoded frame. Which fields are meaningful depends on the result (see the file header). */
typedef struct {
    uint8_t version;  /**< the first byte (set whenever the input is not empty) */
    pw_header header; /**< PW_OK, PW_UNKNOWN_KIND */
    uint32_t kind;    /**< body index: pw_body on PW_OK, > 3 on PW_UNKNOWN_KIND */
    union {
        pw_agent agent;
        pw_queue queue;
        pw_name name;
        pw_roster roster;
    } body;
} pw_frame;

/** Decodes one frame (agent, queue, name or roster topic). Bytes after the body are ignored. */
pw_result pw_decode_frame(const uint8_t *buf, size_t len, pw_frame *out);

/* ---- heatmap (§4.7): its own topic and layout, not a frame ------------------------------ */

/** A cursor over a heatmap's 1,440 counts: no array needed. */
typedef struct {
    pw_header header;
    uint32_t end_minute; /**< Unix minute of the last bucket (counts[1439]) */
    uint32_t index;      /**< buckets read so far */
    const uint8_t *p;    /**< next unread byte */
    size_t left;         /**< bytes left from p */
    pw_result result;    /**< PW_OK until something is wrong */
} pw_heatmap;

/** Reads the heatmap's version, header and end_minute; the counts are read by pw_heatmap_next.
 *  Returns PW_OK, PW_EMPTY, PW_UNKNOWN_VERSION or PW_MALFORMED (also kept in h->result). */
pw_result pw_heatmap_open(pw_heatmap *h, const uint8_t *buf, size_t len);

/** Reads the next count into *count; returns 1 while it did, 0 after the 1,440th count or on
 *  an error (then h->result is PW_MALFORMED). Counts read before an error were not checked
 *  against the rest: act on them only once h->result is PW_OK after the last one. */
int pw_heatmap_next(pw_heatmap *h, uint16_t *count);

/** Unix minute of bucket `index` (0 = oldest, 1439 = end_minute). */
uint32_t pw_heatmap_minute(const pw_heatmap *h, uint32_t index);

/** Convenience: decodes a whole heatmap into the caller's 1,440 counts (3 KiB). Bytes after the
 *  last count are ignored. `counts` is written even on PW_MALFORMED (up to the bad count). */
pw_result pw_decode_heatmap(const uint8_t *buf, size_t len, pw_header *header,
                            uint32_t *end_minute, uint16_t counts[PW_HEATMAP_MINUTES]);

/* ---- names ------------------------------------------------------------------------------- */

/** The names of §4.8 ("OnQueue", "NotResponding", …); NULL for a value out of range. */
const char *pw_body_name(uint32_t v);
const char *pw_presence_name(uint32_t v);
const char *pw_routing_name(uint32_t v);
const char *pw_media_name(uint32_t v);
const char *pw_interaction_name(uint32_t v);
const char *pw_level_name(uint32_t v);
/** "ok", "empty", "unknown version", "unknown kind", "malformed". */
const char *pw_result_name(pw_result r);

/** 1 if the n bytes are valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
int pw_utf8_valid(const uint8_t *s, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* PRESENCE_WIRE_H */

/* ======================================================================================== */
#ifdef PRESENCE_WIRE_IMPLEMENTATION
#ifndef PRESENCE_WIRE_IMPLEMENTED
#define PRESENCE_WIRE_IMPLEMENTED

#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A bounded reader: every read checks `left`; the first fault sets `err` and later reads
 * return 0, so a decoder reads its fields in a row and checks `err` once. */
typedef struct {
    const uint8_t *p;
    size_t left;
    int err;
} pw_reader_;

static uint8_t pw_read_u8_(pw_reader_ *r) {
    if (r->err || r->left == 0) {
        r->err = 1;
        return 0;
    }
    r->left--;
    return *r->p++;
}

/* LEB128 varint (§3.1): at most max_bytes bytes, the max_bytes-th at most last_max.
 * Longer-than-needed forms are accepted within those limits, as the reference decoder does. */
static uint32_t pw_read_varint_(pw_reader_ *r, int max_bytes, uint8_t last_max) {
    uint32_t out = 0;
    int i;
    for (i = 0; i < max_bytes; i++) {
        uint8_t b = pw_read_u8_(r);
        if (r->err) return 0;
        out |= (uint32_t)(b & 0x7fu) << (7 * i);
        if ((b & 0x80u) == 0) {
            if (i == max_bytes - 1 && b > last_max) break; /* overflow */
            return out;
        }
    }
    r->err = 1; /* too long, or overflow */
    return 0;
}

static uint32_t pw_read_u32_(pw_reader_ *r) { return pw_read_varint_(r, 5, 0x0f); }
static uint16_t pw_read_u16_(pw_reader_ *r) { return (uint16_t)pw_read_varint_(r, 3, 0x03); }

/* Unit enum: a u32 varint index below `variants`. */
static uint8_t pw_read_enum_(pw_reader_ *r, uint32_t variants) {
    uint32_t v = pw_read_u32_(r);
    if (v >= variants) r->err = 1;
    return r->err ? 0 : (uint8_t)v;
}

/* Option tag (§3): raw byte 0 = none, 1 = some; anything else is malformed. */
static uint8_t pw_read_tag_(pw_reader_ *r) {
    uint8_t t = pw_read_u8_(r);
    if (t > 1) r->err = 1;
    return r->err ? 0 : t;
}

static pw_opt_u8 pw_read_opt_u8_(pw_reader_ *r) {
    pw_opt_u8 o;
    o.known = pw_read_tag_(r);
    o.value = o.known ? pw_read_u8_(r) : 0;
    return o;
}

static pw_opt_u16 pw_read_opt_u16_(pw_reader_ *r) {
    pw_opt_u16 o;
    o.known = pw_read_tag_(r);
    o.value = o.known ? pw_read_u16_(r) : 0;
    return o;
}

static pw_opt_u32 pw_read_opt_u32_(pw_reader_ *r) {
    pw_opt_u32 o;
    o.known = pw_read_tag_(r);
    o.value = o.known ? pw_read_u32_(r) : 0;
    return o;
}

int pw_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t need, k;
        uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c < 0x80) { i++; continue; }
        if (c >= 0xc2 && c <= 0xdf) need = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0) lo = 0xa0;      /* no overlong */
            if (c == 0xed) hi = 0x9f;      /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0) lo = 0x90;      /* no overlong */
            if (c == 0xf4) hi = 0x8f;      /* at most U+10FFFF */
        } else return 0;
        if (n - i - 1 < need) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (k = 2; k <= need; k++)
            if ((s[i + k] & 0xc0) != 0x80) return 0;
        i += need + 1;
    }
    return 1;
}

static void pw_read_agent_(pw_reader_ *r, pw_agent *a) {
    a->presence = pw_read_enum_(r, PW_PRESENCE_COUNT);
    a->presence_since = pw_read_u32_(r);
    a->routing = pw_read_enum_(r, PW_ROUTING_COUNT);
    a->routing_since = pw_read_u32_(r);
    a->media = pw_read_enum_(r, PW_MEDIA_COUNT);
    a->interaction = pw_read_enum_(r, PW_INTERACTION_COUNT);
    a->interaction_since = pw_read_u32_(r);
    a->flags = pw_read_u8_(r);
}

static void pw_read_queue_(pw_reader_ *r, pw_queue *q) {
    q->waiting = pw_read_opt_u16_(r);
    q->interacting = pw_read_opt_u16_(r);
    q->alerting = pw_read_opt_u16_(r);
    q->on_queue = pw_read_opt_u16_(r);
    q->off_queue = pw_read_opt_u16_(r);
    q->longest_waiting_s = pw_read_opt_u32_(r);
    q->observed = pw_read_u32_(r);
    q->offered = pw_read_opt_u16_(r);
    q->answered = pw_read_opt_u16_(r);
    q->abandoned = pw_read_opt_u16_(r);
    q->service_level_pct = pw_read_opt_u8_(r);
    q->level = pw_read_enum_(r, PW_LEVEL_COUNT);
}

/* A string's byte length (§3): a varint of at most 10 bytes, the tenth at most 0x01 (a
 * postcard usize); only whether it exceeds 32 matters, so larger values read as 33. */
static uint32_t pw_read_len_(pw_reader_ *r) {
    uint32_t out = 0;
    int big = 0, i;
    for (i = 0; i < 10; i++) {
        uint8_t b = pw_read_u8_(r);
        uint8_t bits = (uint8_t)(b & 0x7fu);
        if (r->err) return 0;
        if (i < 5) out |= (uint32_t)bits << (7 * i);
        if (bits != 0 && (i >= 5 || (i == 4 && bits > 0x0f))) big = 1;
        if ((b & 0x80u) == 0) {
            if (i == 9 && b > 0x01) break; /* overflow */
            return big ? PW_NAME_MAX + 1 : out;
        }
    }
    r->err = 1; /* too long, or overflow */
    return 0;
}

/* String (§3, §4.5): a length varint (at most 32), then that many UTF-8 bytes. */
static void pw_read_name_(pw_reader_ *r, pw_name *n) {
    uint32_t len = pw_read_len_(r);
    n->len = 0;
    n->text[0] = 0;
    if (r->err || len > PW_NAME_MAX || len > r->left || !pw_utf8_valid(r->p, len)) {
        r->err = 1;
        return;
    }
    memcpy(n->text, r->p, len);
    n->text[len] = 0;
    n->len = (uint8_t)len;
    r->p += len;
    r->left -= len;
}

static void pw_read_roster_(pw_reader_ *r, pw_roster *ro) {
    ro->agents = pw_read_u16_(r);
    ro->queues = pw_read_u16_(r);
    ro->generation = pw_read_u32_(r);
}

/* The first byte: empty, or a version this decoder speaks. */
static pw_result pw_check_version_(const uint8_t *buf, size_t len, uint8_t *version) {
    if (len == 0) return PW_EMPTY;
    *version = buf[0];
    return buf[0] == PW_WIRE_VERSION ? PW_OK : PW_UNKNOWN_VERSION;
}

pw_result pw_decode_frame(const uint8_t *buf, size_t len, pw_frame *out) {
    pw_reader_ r;
    pw_result res;
    memset(out, 0, sizeof *out);
    res = pw_check_version_(buf, len, &out->version);
    if (res != PW_OK) return res;
    r.p = buf + 1;
    r.left = len - 1;
    r.err = 0;
    out->header.session = pw_read_u32_(&r);
    out->header.seq = pw_read_u32_(&r);
    out->kind = pw_read_u32_(&r);
    if (r.err) return PW_MALFORMED;
    switch (out->kind) {
    case PW_BODY_AGENT: pw_read_agent_(&r, &out->body.agent); break;
    case PW_BODY_QUEUE: pw_read_queue_(&r, &out->body.queue); break;
    case PW_BODY_NAME: pw_read_name_(&r, &out->body.name); break;
    case PW_BODY_ROSTER: pw_read_roster_(&r, &out->body.roster); break;
    default: return PW_UNKNOWN_KIND; /* a newer gateway's kind: skip, not corrupt */
    }
    return r.err ? PW_MALFORMED : PW_OK; /* trailing bytes are ignored */
}

pw_result pw_heatmap_open(pw_heatmap *h, const uint8_t *buf, size_t len) {
    pw_reader_ r;
    uint8_t version = 0;
    memset(h, 0, sizeof *h);
    h->result = pw_check_version_(buf, len, &version);
    if (h->result != PW_OK) return h->result;
    r.p = buf + 1;
    r.left = len - 1;
    r.err = 0;
    h->header.session = pw_read_u32_(&r);
    h->header.seq = pw_read_u32_(&r);
    h->end_minute = pw_read_u32_(&r);
    h->p = r.p;
    h->left = r.left;
    if (r.err) h->result = PW_MALFORMED;
    return h->result;
}

int pw_heatmap_next(pw_heatmap *h, uint16_t *count) {
    pw_reader_ r;
    if (h->result != PW_OK || h->index >= PW_HEATMAP_MINUTES) return 0;
    r.p = h->p;
    r.left = h->left;
    r.err = 0;
    *count = pw_read_u16_(&r);
    if (r.err) {
        h->result = PW_MALFORMED;
        return 0;
    }
    h->p = r.p;
    h->left = r.left;
    h->index++;
    return 1;
}

uint32_t pw_heatmap_minute(const pw_heatmap *h, uint32_t index) {
    return h->end_minute - (uint32_t)(PW_HEATMAP_MINUTES - 1) + index; /* modulo 2^32 */
}

pw_result pw_decode_heatmap(const uint8_t *buf, size_t len, pw_header *header,
                            uint32_t *end_minute, uint16_t counts[PW_HEATMAP_MINUTES]) {
    pw_heatmap h;
    uint16_t c;
    if (pw_heatmap_open(&h, buf, len) != PW_OK) return h.result;
    *header = h.header;
    *end_minute = h.end_minute;
    while (pw_heatmap_next(&h, &c)) counts[h.index - 1] = c;
    return h.result;
}

/* ---- names ---- */

static const char *pw_name_of_(const char *const *names, uint32_t count, uint32_t v) {
    return v < count ? names[v] : NULL;
}

const char *pw_body_name(uint32_t v) {
    static const char *const n[] = {"Agent", "Queue", "Name", "Roster"};
    return pw_name_of_(n, PW_BODY_COUNT, v);
}

const char *pw_presence_name(uint32_t v) {
    static const char *const n[] = {"Unknown", "Available", "Away", "Busy", "Offline", "Idle",
                                    "OnQueue", "Meal", "Training", "Meeting", "Break"};
    return pw_name_of_(n, PW_PRESENCE_COUNT, v);
}

const char *pw_routing_name(uint32_t v) {
    static const char *const n[] = {"Unknown", "OffQueue", "Idle", "Interacting",
                                    "NotResponding", "Communicating"};
    return pw_name_of_(n, PW_ROUTING_COUNT, v);
}

const char *pw_media_name(uint32_t v) {
    static const char *const n[] = {"None", "Call", "Callback", "Chat",
                                    "Email", "Message", "Video", "Other"};
    return pw_name_of_(n, PW_MEDIA_COUNT, v);
}

const char *pw_interaction_name(uint32_t v) {
    static const char *const n[] = {"None", "Alerting", "Dialing",
                                    "Connected", "Held", "Disconnected"};
    return pw_name_of_(n, PW_INTERACTION_COUNT, v);
}

const char *pw_level_name(uint32_t v) {
    static const char *const n[] = {"Normal", "Warning", "Critical"};
    return pw_name_of_(n, PW_LEVEL_COUNT, v);
}

const char *pw_result_name(pw_result r) {
    static const char *const n[] = {"ok", "empty", "unknown version", "unknown kind",
                                    "malformed"};
    return (unsigned)r < sizeof n / sizeof n[0] ? n[r] : "?";
}

#ifdef __cplusplus
}
#endif

#endif /* PRESENCE_WIRE_IMPLEMENTED */
#endif /* PRESENCE_WIRE_IMPLEMENTATION */
