// stubs/PubSubClient.h: the PubSubClient calls esp32_display.ino makes, for a host build.
//
// Owns: recording subscriptions and publishes (host_subscriptions, host_publishes) and
// delivering a message to the sketch's callback (host_deliver), as PubSubClient::loop would.
// Signatures follow knolleary/pubsubclient (the ESP32 core's std::function callback accepts
// the same plain function).
#ifndef HOST_PUBSUBCLIENT_H
#define HOST_PUBSUBCLIENT_H

#include <stdint.h>
#include <string.h>
#include <string>
#include <vector>

#include "WiFi.h"

typedef void (*host_callback)(char *, uint8_t *, unsigned int);

static std::vector<std::string> host_subscriptions;  // "topic qos"
static std::vector<std::string> host_publishes;      // "topic payload retained"
static host_callback host_cb = NULL;

class PubSubClient {
 public:
  explicit PubSubClient(WiFiClient &) {}
  PubSubClient &setServer(const char *, uint16_t) { return *this; }
  PubSubClient &setCallback(host_callback cb) { host_cb = cb; return *this; }
  bool setBufferSize(uint16_t) { return true; }
  bool connect(const char *) { connected_ = true; return true; }
  bool connected() { return connected_; }
  bool loop() { return connected_; }
  bool subscribe(const char *topic, uint8_t qos) {
    host_subscriptions.push_back(std::string(topic) + " " + std::to_string(qos));
    return true;
  }
  bool publish(const char *topic, const char *payload, bool retained) {
    host_publishes.push_back(std::string(topic) + " " + payload + (retained ? " retained" : ""));
    return true;
  }

 private:
  bool connected_ = false;
};

/** Hands one message to the sketch's callback, as PubSubClient::loop does. */
static inline void host_deliver(const char *topic, const std::vector<uint8_t> &payload) {
  std::vector<char> t(topic, topic + strlen(topic) + 1);
  std::vector<uint8_t> p(payload);
  p.push_back(0);  // PubSubClient's buffer is writable and longer than the payload
  host_cb(t.data(), p.data(), (unsigned int)payload.size());
}

#endif
