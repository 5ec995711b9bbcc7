// stubs/Arduino.h: the few Arduino core pieces esp32_display.ino uses, for a host build.
//
// Owns: `byte`, millis()/delay() on a clock the host test sets (host_millis), and a Serial
// whose output is captured in host_serial (and echoed to stdout when HOST_ECHO is set). Does
// not try to be the Arduino API: only what the sketch calls, with the same signatures.
#ifndef HOST_ARDUINO_H
#define HOST_ARDUINO_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string>

typedef uint8_t byte;

/** The host test's clock, in ms. */
static unsigned long host_millis = 0;
static inline unsigned long millis() { return host_millis; }
static inline void delay(unsigned long ms) { host_millis += ms; }

/** Everything the sketch printed. */
static std::string host_serial;

struct HostSerial {
  void begin(unsigned long) {}
  __attribute__((format(printf, 2, 3))) size_t printf(const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    host_serial += line;
    if (getenv("HOST_ECHO") != NULL) fputs(line, stdout);
    return n < 0 ? 0 : (size_t)n;
  }
};
static HostSerial Serial;

#endif
