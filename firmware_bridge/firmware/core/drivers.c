/* SPDX-License-Identifier: BSD-3-Clause */
/* LED driver encodings: see drivers.h. */
#include "drivers.h"

size_t dml_tlc59711_pack(const uint16_t *values, size_t n, size_t chips, uint8_t brightness, uint8_t *out)
{
    const uint32_t bc = brightness & 0x7Fu;
    const uint32_t head = (0x25u << 26) | (0x16u << 21) | (bc << 14) | (bc << 7) | bc;
    size_t o = 0;
    for (size_t k = chips; k-- > 0;) {
        out[o++] = (uint8_t)(head >> 24);
        out[o++] = (uint8_t)(head >> 16);
        out[o++] = (uint8_t)(head >> 8);
        out[o++] = (uint8_t)head;
        for (size_t ch = DML_TLC59711_CHANNELS; ch-- > 0;) {
            const size_t i = k * DML_TLC59711_CHANNELS + ch;
            const uint16_t v = i < n ? values[i] : 0u;
            out[o++] = (uint8_t)(v >> 8);
            out[o++] = (uint8_t)(v & 0xFFu);
        }
    }
    return o;
}

size_t dml_apa102_frame_size(size_t leds) { return DML_APA102_FRAME_BYTES(leds); }

static uint8_t hd_pwm(uint32_t v, uint32_t b)
{
    if (b == 0u) {
        return 0u;
    }
    const uint32_t den = 65535u * b;
    const uint32_t pwm = (v * 31u * 255u + den / 2u) / den;
    return (uint8_t)(pwm > 255u ? 255u : pwm);
}

size_t dml_apa102_pack(const uint16_t *values, size_t leds, uint8_t channels, uint8_t *out, size_t cap)
{
    const size_t size = dml_apa102_frame_size(leds);
    if (cap < size || (channels != 1u && channels != 3u)) {
        return 0u;
    }
    size_t o = 0;
    for (int k = 0; k < 4; k++) {
        out[o++] = 0u;
    }
    for (size_t i = 0; i < leds; i++) {
        const uint16_t *v = values + i * channels;
        const uint32_t r = v[0], g = channels == 3u ? v[1] : v[0], b = channels == 3u ? v[2] : v[0];
        uint32_t m = r > g ? r : g;
        m = m > b ? m : b;
        const uint32_t gb = (m * 31u + 65534u) / 65535u; /* ceil */
        out[o++] = (uint8_t)(0xE0u | gb);
        out[o++] = hd_pwm(b, gb);
        out[o++] = hd_pwm(g, gb);
        out[o++] = hd_pwm(r, gb);
    }
    while (o < size) {
        out[o++] = 0u;
    }
    return o;
}

uint16_t dml_linearize(uint16_t v, const uint16_t *table, size_t n, uint16_t max_code)
{
    if (n < 2u || max_code == 0u) {
        return v;
    }
    const uint64_t pos = (uint64_t)v * (uint64_t)(n - 1u); /* table position, scaled by 65535 */
    const size_t k = (size_t)(pos / 65535u);
    const uint64_t frac = pos % 65535u;
    uint64_t code; /* drive code, scaled by 65535 */
    if (k >= n - 1u) {
        code = (uint64_t)table[n - 1u] * 65535u;
    } else {
        code = (uint64_t)table[k] * (65535u - frac) + (uint64_t)table[k + 1u] * frac;
    }
    const uint64_t drive = (code + max_code / 2u) / max_code; /* code * 65535 / max_code, rounded */
    return (uint16_t)(drive > 65535u ? 65535u : drive);
}
