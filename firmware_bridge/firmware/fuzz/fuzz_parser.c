/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the DMLINK packet parser: any byte stream into dml_rx, with the clock
 * advancing, must neither crash nor read or write out of bounds (built with ASan and UBSan), and
 * every frame the core shows must be one whose CRC-32 was valid: we re-check that here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/dmlink.h"

static dml_device dev;
static size_t bytes_out;

static void fz_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    /* every reply must be a COBS packet ending in exactly one delimiter */
    if (len < 2 || data[len - 1] != 0) {
        abort();
    }
    for (size_t i = 0; i + 1 < len; i++) {
        if (data[i] == 0) {
            abort();
        }
    }
    bytes_out += len;
}

static void fz_show(void *ctx, const uint16_t *values, size_t n, uint16_t seq, enum dml_show_kind kind,
                    uint32_t crc)
{
    (void)ctx;
    (void)seq;
    (void)kind;
    if (n != (size_t)dev.cfg.zones * dev.cfg.channels || dml_values_crc32(values, n) != crc) {
        abort();
    }
    /* the limiter must hold: the mean never exceeds the budget */
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += values[i];
    }
    if (total > (uint64_t)dev.cfg.power_budget * n) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const dml_config cfg = {.zones = 4, .channels = 3, .pwm_bits = 16, .watchdog_ms = 50, .max_fps = 240,
                            .power_budget = 40000, .grid_cols = 2, .over_temp_c10 = 700, .fw_version = "fuzz"};
    const dml_io io = {.write = fz_write, .show = fz_show, .temperature = NULL, .ctx = NULL};
    uint32_t t = 0;
    if (dml_init(&dev, &cfg, &io, t) != 0) {
        abort();
    }
    /* feed in pieces whose sizes come from the input, ticking the clock between them */
    size_t i = 0;
    while (i < size) {
        size_t step = 1u + (data[i] % 97u);
        if (step > size - i) {
            step = size - i;
        }
        dml_rx(&dev, data + i, step, t);
        t += data[i] & 31u;
        dml_tick(&dev, t);
        dml_vsync(&dev, t);
        i += step;
    }
    return 0;
}
