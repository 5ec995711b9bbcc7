// stubs/WiFi.h: a WiFi that is always connected, for a host build of esp32_display.ino.
#ifndef HOST_WIFI_H
#define HOST_WIFI_H

#define WL_CONNECTED 3

struct WiFiClient {};

struct HostWiFi {
  void begin(const char *, const char *) {}
  int status() { return WL_CONNECTED; }
};
static HostWiFi WiFi;

#endif
