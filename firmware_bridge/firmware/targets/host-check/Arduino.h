// SPDX-License-Identifier: BSD-3-Clause
// The slice of the Arduino API the sketches use, for compiling and running them on the host
// (make sketch-check). Serial input comes from stdin, Serial output goes to stderr, every SPI
// transfer is printed on stdout as one hex line, and millis() advances 1 ms per loop().
#pragma once
#include <stddef.h>
#include <stdint.h>

#define INPUT 0
#define RISING 3
#define MSBFIRST 1
#define SPI_MODE0 0

uint32_t millis();
void pinMode(int pin, int mode);
int digitalPinToInterrupt(int pin);
void attachInterrupt(int irq, void (*fn)(), int mode);

class HostSerial {
  public:
    void begin(unsigned long) {}
    int available();
    size_t readBytes(char *buf, size_t n);
    size_t write(const uint8_t *data, size_t n);
};
extern HostSerial Serial;
