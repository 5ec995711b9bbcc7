/* pwdecode.c: `pwdecode FILE…` prints one JSON line per file, byte for byte the line that
 * `presence-gateway decode FILE` prints (file mode: no topic, so the kind is guessed from the
 * bytes: a payload over 64 bytes is tried as a heatmap first, anything else is a frame).
 *
 * Owns: reading files, the JSON line format (key order, serde_json string escaping, error
 * lines with the Rust tool's error texts and at most 96 bytes of hex). Does not own decoding:
 * that is presence_wire.h. Exit status: 0 if every file decoded, 1 if one did not (its line
 * has an "error"), 2 on a file that cannot be read.
 */
#define PRESENCE_WIRE_IMPLEMENTATION
#include "presence_wire.h"

#include <stdio.h>
#include <stdlib.h>

/** Payload bytes shown as hex in an error line (the Rust tool's ERROR_HEX_BYTES). */
#define ERROR_HEX_BYTES 96

/* ---- JSON pieces ---- */

/* A JSON string as serde_json writes it: \" \\ \b \f \n \r \t, other control characters as
 * \u00xx (lower-case hex), everything else (DEL and UTF-8 included) raw. */
static void put_json_string(const char *s, size_t n) {
    size_t i;
    putchar('"');
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\b': fputs("\\b", stdout); break;
        case '\f': fputs("\\f", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        default:
            if (c < 0x20) printf("\\u%04x", c);
            else putchar(c);
        }
    }
    putchar('"');
}

static void put_key_str(const char *key, const char *value) {
    printf(",\"%s\":\"%s\"", key, value);
}

static void put_key_u32(const char *key, uint32_t value) {
    printf(",\"%s\":%lu", key, (unsigned long)value);
}

static void put_key_bool(const char *key, int value) {
    printf(",\"%s\":%s", key, value ? "true" : "false");
}

static void put_opt(const char *key, int known, uint32_t value) {
    if (known) put_key_u32(key, value);
    else printf(",\"%s\":null", key);
}

static void put_head(const char *kind, pw_header h) {
    printf("{\"kind\":\"%s\"", kind);
    put_key_u32("session", h.session);
    put_key_u32("seq", h.seq);
}

/* ---- one line per kind ---- */

static void put_agent(pw_header h, const pw_agent *a) {
    put_head("agent", h);
    put_key_str("presence", pw_presence_name(a->presence));
    put_key_u32("presence_since", a->presence_since);
    put_key_str("routing", pw_routing_name(a->routing));
    put_key_u32("routing_since", a->routing_since);
    put_key_str("media", pw_media_name(a->media));
    put_key_str("interaction", pw_interaction_name(a->interaction));
    put_key_u32("interaction_since", a->interaction_since);
    put_key_u32("flags", a->flags);
    put_key_bool("wrapup", a->flags & PW_FLAG_WRAPUP);
    put_key_bool("stale", a->flags & PW_FLAG_STALE);
    put_key_bool("out_of_office", a->flags & PW_FLAG_OUT_OF_OFFICE);
    puts("}");
}

static void put_queue(pw_header h, const pw_queue *q) {
    put_head("queue", h);
    put_opt("waiting", q->waiting.known, q->waiting.value);
    put_opt("interacting", q->interacting.known, q->interacting.value);
    put_opt("alerting", q->alerting.known, q->alerting.value);
    put_opt("on_queue", q->on_queue.known, q->on_queue.value);
    put_opt("off_queue", q->off_queue.known, q->off_queue.value);
    put_opt("longest_waiting_s", q->longest_waiting_s.known, q->longest_waiting_s.value);
    put_key_u32("observed", q->observed);
    put_opt("offered", q->offered.known, q->offered.value);
    put_opt("answered", q->answered.known, q->answered.value);
    put_opt("abandoned", q->abandoned.known, q->abandoned.value);
    put_opt("service_level_pct", q->service_level_pct.known, q->service_level_pct.value);
    put_key_str("level", pw_level_name(q->level));
    puts("}");
}

static void put_name(pw_header h, const pw_name *n) {
    put_head("name", h);
    fputs(",\"name\":", stdout);
    put_json_string(n->text, n->len);
    puts("}");
}

static void put_roster(pw_header h, const pw_roster *r) {
    put_head("roster", h);
    put_key_u32("agents", r->agents);
    put_key_u32("queues", r->queues);
    put_key_u32("generation", r->generation);
    puts("}");
}

/* Error line: {"kind":"unknown","error":…,"len":…,"hex":…} (no topic in file mode). */
static void put_error(const char *error, const uint8_t *buf, size_t len) {
    size_t i, shown = len < ERROR_HEX_BYTES ? len : ERROR_HEX_BYTES;
    fputs("{\"kind\":\"unknown\",\"error\":", stdout);
    put_json_string(error, strlen(error));
    printf(",\"len\":%lu,\"hex\":\"", (unsigned long)len);
    for (i = 0; i < shown; i++) printf("%02x", buf[i]);
    puts("\"}");
}

/* The Rust tool's texts (WireError's Display). */
static void put_frame_error(pw_result res, const pw_frame *f, const uint8_t *buf, size_t len) {
    char text[96];
    switch (res) {
    case PW_EMPTY: strcpy(text, "decode: empty frame"); break;
    case PW_UNKNOWN_VERSION:
        sprintf(text, "decode: unknown wire version %u", (unsigned)f->version);
        break;
    case PW_UNKNOWN_KIND:
        sprintf(text, "decode: unknown body kind %lu (a newer gateway): skipped",
                (unsigned long)f->kind);
        break;
    default: strcpy(text, "decode: malformed body"); break;
    }
    put_error(text, buf, len);
}

/* Heatmap line, or 0 if the bytes are not a whole heatmap. Walks the counts twice (check and
 * total, then print) so no 1,440-entry array is needed. */
static int put_heatmap(const uint8_t *buf, size_t len) {
    pw_heatmap h;
    uint16_t c;
    unsigned long long total = 0;
    const char *sep = "";
    if (pw_heatmap_open(&h, buf, len) != PW_OK) return 0;
    while (pw_heatmap_next(&h, &c)) total += c;
    if (h.result != PW_OK) return 0;
    put_head("heatmap", h.header);
    put_key_u32("end_minute", h.end_minute);
    printf(",\"end\":%llu,\"total\":%llu,\"counts\":[",
           (unsigned long long)h.end_minute * 60u, total);
    pw_heatmap_open(&h, buf, len);
    while (pw_heatmap_next(&h, &c)) {
        printf("%s%u", sep, (unsigned)c);
        sep = ",";
    }
    puts("]}");
    return 1;
}

/* The line for one payload; returns whether it decoded. */
static int describe(const uint8_t *buf, size_t len) {
    pw_frame f;
    pw_result res;
    if (len > PW_MAX_FRAME_LEN && put_heatmap(buf, len)) return 1;
    res = pw_decode_frame(buf, len, &f);
    if (res != PW_OK) {
        put_frame_error(res, &f, buf, len);
        return 0;
    }
    switch (f.kind) {
    case PW_BODY_AGENT: put_agent(f.header, &f.body.agent); break;
    case PW_BODY_QUEUE: put_queue(f.header, &f.body.queue); break;
    case PW_BODY_NAME: put_name(f.header, &f.body.name); break;
    default: put_roster(f.header, &f.body.roster); break;
    }
    return 1;
}

/* ---- files ---- */

/* Reads a whole file into a malloc'd buffer (a host tool: files may be of any size). */
static uint8_t *read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n;
    *len = 0;
    if (!fp) return NULL;
    do {
        if (*len == cap) {
            uint8_t *grown;
            cap = cap ? cap * 2 : 8192;
            grown = (uint8_t *)realloc(buf, cap);
            if (!grown) { free(buf); fclose(fp); return NULL; }
            buf = grown;
        }
        n = fread(buf + *len, 1, cap - *len, fp);
        *len += n;
    } while (n > 0);
    if (ferror(fp)) { free(buf); buf = NULL; }
    fclose(fp);
    return buf;
}

int main(int argc, char **argv) {
    int i, status = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: pwdecode FILE...\n");
        return 2;
    }
    for (i = 1; i < argc; i++) {
        size_t len;
        uint8_t *buf = read_file(argv[i], &len);
        if (!buf) {
            fprintf(stderr, "pwdecode: read %s failed\n", argv[i]);
            status = 2;
            continue;
        }
        if (!describe(buf, len) && status == 0) status = 1;
        free(buf);
    }
    return status;
}
