// SPDX-License-Identifier: BSD-3-Clause
// DMLINK v1 backlight on a native-USB board driving an APA102 / SK9822 chain over SPI, with the
// 5-bit global brightness used to stretch 8-bit PWM towards 13 bits. Wiring: ../../README.md.
#include <Arduino.h>
#include <SPI.h>
#include <dmlink.h>
#include <drivers.h>

// ---- configure for your backlight -------------------------------------------------------
#define ZONES 144             // LEDs in the chain (must match the panel profile's LED count)
#define CHANNELS 3            // 3: RGB levels; 1: white levels (R = G = B)
#define WATCHDOG_MS 500
#define POWER_BUDGET 26214u   // 0.4 of full: a 144-LED APA102 chain at full white draws ~8.6 A at 5 V
#define GRID_COLS 16
#define OVER_TEMP_C10 700
#define SPI_HZ 8000000        // APA102 tolerates ~20 MHz on short runs, SK9822 less: start at 8
#define VSYNC_PIN -1
// ------------------------------------------------------------------------------------------

#define FRAME_BYTES DML_APA102_FRAME_BYTES(ZONES)

static dml_device dev;
static uint8_t spi_buf[FRAME_BYTES];
static volatile bool vsync_seen = false;

static void host_write(void *, const uint8_t *data, size_t len) { Serial.write(data, len); }

static void leds_show(void *, const uint16_t *values, size_t, uint16_t, enum dml_show_kind, uint32_t)
{
    const size_t len = dml_apa102_pack(values, ZONES, CHANNELS, spi_buf, sizeof spi_buf);
    SPI.beginTransaction(SPISettings(SPI_HZ, MSBFIRST, SPI_MODE0));
    SPI.transfer(spi_buf, len);
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
    leds_show(NULL, off, ZONES * CHANNELS, 0, DML_SHOW_BLANK, 0);
    Serial.begin(2000000);
    const dml_config cfg = {ZONES, CHANNELS, 8, WATCHDOG_MS, 1000, POWER_BUDGET, GRID_COLS, OVER_TEMP_C10,
                            "dmlink-apa102 1.0"};
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
