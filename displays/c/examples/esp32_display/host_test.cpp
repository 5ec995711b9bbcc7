// host_test.cpp: runs esp32_display.ino on the host (stubs/) and checks what it printed and
// published, for displays/c/check.sh.
//
// Owns: a short script of messages (golden frames from wire/golden/, plus hand-made frames for
// sequence numbers), the expected Serial text and republish commands. Usage:
// host_test GOLDEN_DIR (HOST_ECHO=1 echoes the Serial output).
#include "esp32_display.ino"

#include <string>
#include <vector>

static const char *golden_dir;
static size_t seen;  // host_serial already checked
static int failures;

static std::vector<uint8_t> golden(const char *name) {
  std::string path = std::string(golden_dir) + "/" + name;
  std::vector<uint8_t> bytes;
  FILE *fp = fopen(path.c_str(), "rb");
  if (fp == NULL) {
    fprintf(stderr, "host_test: cannot read %s\n", path.c_str());
    exit(1);
  }
  int c;
  while ((c = fgetc(fp)) != EOF) bytes.push_back((uint8_t)c);
  fclose(fp);
  return bytes;
}

/** A roster frame with this session and seq (both < 128: one varint byte each). */
static std::vector<uint8_t> roster(uint8_t session, uint8_t seq) {
  return std::vector<uint8_t>{2, session, seq, 3, 0xac, 0x02, 4, 2};
}

static std::vector<uint8_t> text(const char *s) {
  return std::vector<uint8_t>(s, s + strlen(s));
}

static void send(const std::string &level, const std::vector<uint8_t> &payload) {
  host_deliver((std::string(ZONE_PREFIX) + level).c_str(), payload);
}

/** The Serial text since the previous expectation contains `needle` (or, with want = false,
 *  does not). */
static void expect_printed(const char *needle, bool want = true) {
  std::string recent = host_serial.substr(seen);
  bool found = recent.find(needle) != std::string::npos;
  if (found != want) {
    fprintf(stderr, "host_test: FAIL: expected %s\"%s\" in:\n%s\n", want ? "" : "no ", needle,
            recent.c_str());
    failures++;
  }
  seen = host_serial.size();
}

static void expect_publishes(size_t n) {
  if (host_publishes.size() != n) {
    fprintf(stderr, "host_test: FAIL: %zu republish commands, expected %zu\n",
            host_publishes.size(), n);
    failures++;
  }
  if (n > 0 && host_publishes.back() != std::string(CMD_TOPIC) + " " + REPUBLISH_CMD) {
    fprintf(stderr, "host_test: FAIL: published %s\n", host_publishes.back().c_str());
    failures++;
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: host_test GOLDEN_DIR\n");
    return 2;
  }
  golden_dir = argv[1];
  const char *agent = "agent/9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f";
  const char *queue = "queue/0c8a41a5-93a4-4cd4-8c1c-7f0e8e9b1a22";

  setup();
  loop();  // connects and subscribes
  if (host_subscriptions.size() != 2 ||
      host_subscriptions[0] != std::string(ZONE_FILTER) + " 0") {
    fprintf(stderr, "host_test: FAIL: subscriptions %s\n", host_subscriptions[0].c_str());
    failures++;
  }

  // The retained replay (within RETAINED_WINDOW_MS of subscribing): values, no gap tracking.
  send(agent, golden("agent.bin"));
  expect_printed("OnQueue/Interacting Call Connected wrap-up");
  send(std::string("name/") + (agent + 6), golden("name.bin"));
  expect_printed("agent Ana: OnQueue/Interacting");
  send(queue, golden("queue.bin"));
  expect_printed("waiting 12 interacting 4 alerting 1 on 9 off 3 longest 95s offered 120 "
                 "answered \xe2\x80\x93 abandoned 10 sl 87% [Critical]");
  send(queue, golden("queue_unknown.bin"));
  expect_printed("waiting \xe2\x80\x93 interacting \xe2\x80\x93");
  send("roster", golden("roster.bin"));
  expect_printed("roster: 300 agents, 4 queues (generation 2)");
  send("heatmap", golden("heatmap.bin"));
  expect_printed("heatmap: 301 transitions in 24 h, busiest minute 29000000 (300)");
  send(queue, golden("agent.bin"));  // body does not match the topic: ignored
  expect_printed("queue", false);
  send(agent, golden("newer_kind.bin"));
  expect_printed("agent", false);
  send(agent, golden("newer_version.bin"));
  expect_printed("update needed: wire version 3");
  send(agent, std::vector<uint8_t>{2, 1, 1, 0, 11});  // presence 11: out of range
  expect_printed("malformed frame");
  host_deliver(STATE_TOPIC, text("online"));
  expect_printed("gateway online");

  // Live frames: the first sets the baseline, then a gap asks for the zone once per 5 s.
  host_millis += RETAINED_WINDOW_MS;
  send("roster", roster(4, 10));
  send("roster", roster(4, 11));
  send("roster", roster(4, 11));  // a duplicate
  expect_publishes(0);
  send("roster", roster(4, 14));
  expect_printed("gap: 2 frame(s) missed");
  expect_publishes(1);
  send("roster", roster(4, 13));  // late arrival: no gap
  send("roster", roster(4, 16));  // a gap within REPUBLISH_MIN_MS: no second command
  expect_publishes(1);
  host_millis += REPUBLISH_MIN_MS;
  send("roster", roster(4, 18));
  expect_printed("gap: 1 frame(s) missed");
  expect_publishes(2);
  send("roster", roster(5, 1));  // the gateway restarted: a new baseline, no command
  send("roster", roster(5, 2));
  expect_publishes(2);
  expect_printed("gap", false);

  send(agent, std::vector<uint8_t>());  // cleared: the agent left the zone
  expect_printed("left the zone");
  if (agents[0].id[0] != 0) {
    fprintf(stderr, "host_test: FAIL: the agent's slot was not freed\n");
    failures++;
  }
  host_deliver(STATE_TOPIC, text("lost"));
  expect_printed("gateway lost: values frozen");

  if (failures) return 1;
  printf("host_test: ok (%zu Serial bytes, %zu commands)\n", host_serial.size(),
         host_publishes.size());
  return 0;
}
