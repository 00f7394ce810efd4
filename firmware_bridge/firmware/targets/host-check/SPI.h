// SPDX-License-Identifier: BSD-3-Clause
#pragma once
#include "Arduino.h"

struct SPISettings {
    SPISettings(uint32_t, int, int) {}
};

class HostSPI {
  public:
    void begin() {}
    void beginTransaction(const SPISettings &) {}
    void transfer(void *buf, size_t n);
    void endTransaction() {}
};
extern HostSPI SPI;
