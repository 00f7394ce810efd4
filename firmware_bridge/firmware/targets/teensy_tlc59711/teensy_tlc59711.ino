// SPDX-License-Identifier: BSD-3-Clause
// DMLINK v1 backlight on a native-USB board (Teensy 4.x, or RP2040 with the Arduino-Pico core)
// driving daisy-chained TLC59711 16-bit PWM chips over SPI. Wiring and setup: ../../README.md.
#include <Arduino.h>
#include <SPI.h>
#include <dmlink.h>
#include <drivers.h>

// ---- configure for your backlight -------------------------------------------------------
#define ZONES 144             // LED zones (must match the panel profile's LED count)
#define CHANNELS 3            // 3: RGB zones, 4 per chip; 1: white zones, 12 per chip
#define WATCHDOG_MS 500       // LEDs off after this long without a frame or ping
#define POWER_BUDGET 39321u   // firmware's cap on the mean level (x 65535): size it to supply and heat
#define GRID_COLS 16          // zones per row, for the checkerboard test pattern
#define OVER_TEMP_C10 700     // at 70.0 degC the budget halves (Teensy 4 die sensor)
#define TLC_BRIGHTNESS 127    // global brightness (7 bits) of every TLC59711 colour group
#define SPI_HZ 10000000       // TLC59711: at most 10 MHz; keep wires short
#define VSYNC_PIN -1          // a pin with the panel's vsync, or -1 to show frames at once
// ------------------------------------------------------------------------------------------

#define CHIPS ((ZONES * CHANNELS + DML_TLC59711_CHANNELS - 1) / DML_TLC59711_CHANNELS)

static dml_device dev;
static uint8_t spi_buf[CHIPS * DML_TLC59711_BYTES];
static volatile bool vsync_seen = false;

static void host_write(void *, const uint8_t *data, size_t len) { Serial.write(data, len); }

static void leds_show(void *, const uint16_t *values, size_t n, uint16_t, enum dml_show_kind, uint32_t)
{
    const size_t len = dml_tlc59711_pack(values, n, CHIPS, TLC_BRIGHTNESS, spi_buf);
    SPI.beginTransaction(SPISettings(SPI_HZ, MSBFIRST, SPI_MODE0));
    SPI.transfer(spi_buf, len);  // the chips latch after 8 idle clock periods
    SPI.endTransaction();
}

static int16_t temperature(void *)
{
#if defined(__IMXRT1062__)
    return (int16_t)(tempmonGetTemp() * 10.0f);
#else
    return DML_TEMP_UNKNOWN;
#endif
}

static void on_vsync() { vsync_seen = true; }

void setup()
{
    SPI.begin();
    static const uint16_t off[ZONES * CHANNELS] = {0};
    leds_show(NULL, off, ZONES * CHANNELS, 0, DML_SHOW_BLANK, 0);  // drivers power up in any state
    Serial.begin(2000000);                                          // USB CDC ignores the rate
    const dml_config cfg = {ZONES, CHANNELS, 16, WATCHDOG_MS, 1000, POWER_BUDGET, GRID_COLS, OVER_TEMP_C10,
                            "dmlink-teensy-tlc59711 1.0"};
    const dml_io io = {host_write, leds_show, temperature, NULL};
    dml_init(&dev, &cfg, &io, millis());
    if (VSYNC_PIN >= 0) {
        pinMode(VSYNC_PIN, INPUT);
        attachInterrupt(digitalPinToInterrupt(VSYNC_PIN), on_vsync, RISING);
    }
}

void loop()
{
    uint8_t buf[512];
    int avail;
    while ((avail = Serial.available()) > 0) {
        const size_t n = Serial.readBytes((char *)buf, avail < (int)sizeof buf ? avail : (int)sizeof buf);
        dml_rx(&dev, buf, n, millis());
    }
    const uint32_t now = millis();
    if (VSYNC_PIN < 0 || vsync_seen) {
        vsync_seen = false;
        dml_vsync(&dev, now);
    }
    dml_tick(&dev, now);
}
