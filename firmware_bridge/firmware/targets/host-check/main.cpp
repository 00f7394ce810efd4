// SPDX-License-Identifier: BSD-3-Clause
// Runs a sketch on the host: host-check EXTRA_LOOPS < wire-bytes > spi-lines 2> replies
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <vector>

#include "Arduino.h"
#include "SPI.h"

void setup();
void loop();

HostSerial Serial;
HostSPI SPI;
static std::vector<uint8_t> input;
static size_t input_pos = 0;
static uint32_t now_ms = 0;

uint32_t millis() { return now_ms; }
void pinMode(int, int) {}
int digitalPinToInterrupt(int pin) { return pin; }
void attachInterrupt(int, void (*)(), int) {}

int HostSerial::available()
{
    const size_t left = input.size() - input_pos;
    return (int)(left < 64 ? left : 64);  // USB full-speed packets
}

size_t HostSerial::readBytes(char *buf, size_t n)
{
    size_t k = 0;
    while (k < n && input_pos < input.size()) {
        buf[k++] = (char)input[input_pos++];
    }
    return k;
}

size_t HostSerial::write(const uint8_t *data, size_t n) { return fwrite(data, 1, n, stderr); }

void HostSPI::transfer(void *buf, size_t n)
{
    const uint8_t *b = (const uint8_t *)buf;
    for (size_t i = 0; i < n; i++) {
        printf("%02x", b[i]);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    const long extra = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    uint8_t chunk[4096];
    ssize_t got;
    while ((got = read(0, chunk, sizeof chunk)) > 0) {
        input.insert(input.end(), chunk, chunk + got);
    }
    setup();
    while (input_pos < input.size()) {
        loop();
        now_ms++;
    }
    for (long i = 0; i < extra; i++) {
        loop();
        now_ms++;
    }
    fflush(stdout);
    fflush(stderr);
    return 0;
}
