/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * LED driver encodings, portable C99: the bytes a target shifts out over SPI for the values the core
 * shows (u16, linear light, 65535 = full). No hardware access here, so the encodings are tested on
 * the host against independent implementations of the datasheets.
 */
#ifndef DMLINK_DRIVERS_H
#define DMLINK_DRIVERS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DML_TLC59711_CHANNELS 12u
#define DML_TLC59711_BYTES 28u

/*
 * TI TLC59711: 12 channels of 16-bit PWM per chip, daisy-chained on SPI (data and clock only; the
 * chips latch after 8 idle clock periods). Each chip takes 224 bits, MSB first: write command 0x25
 * (6 bits), OUTTMG=1 EXTGCK=0 TMGRST=1 DSPRPT=1 BLANK=0, global brightness for blue, green, red
 * (7 bits each), then grey scale OUTB3, OUTG3, OUTR3, ... OUTR0 (16 bits each). Value i drives
 * chip i / 12, output i % 12 in the order R0 G0 B0 R1 ... B3. The first chip on the wire ends up
 * farthest down the chain, so chips are sent last first.
 * Writes chips * 28 bytes to out (values past n are 0); returns the byte count.
 */
size_t dml_tlc59711_pack(const uint16_t *values, size_t n, size_t chips, uint8_t brightness, uint8_t *out);

/*
 * APA102 / SK9822: per LED 0xE0 | 5-bit global brightness, then B, G, R (8 bits each). The 16-bit
 * value is split "HD" style: brightness b = ceil(31 * max(r, g, b) / 65535), and each channel's
 * PWM = round(v * 31 * 255 / (65535 * b)), so light ~ b * pwm / (31 * 255) keeps about 13 bits of
 * range at the dark end. channels 1 drives R = G = B. Frame: 4 zero bytes (start), the LEDs, 4 zero
 * bytes (the SK9822 reset frame), then (leds + 15) / 16 zero bytes (the n/2 extra clock edges).
 * Returns the byte count, or 0 if cap is too small.
 */
size_t dml_apa102_pack(const uint16_t *values, size_t leds, uint8_t channels, uint8_t *out, size_t cap);
#define DML_APA102_FRAME_BYTES(leds) (4u + 4u * (leds) + 4u + ((leds) + 15u) / 16u) /* for static buffers */
size_t dml_apa102_frame_size(size_t leds);

/*
 * LED linearisation: the drive (u16, 65535 = full PWM) that makes an LED give light v (u16, 65535 =
 * full) through a measured table: table[k], k = 0 .. n - 1 (n >= 2), is the drive code, out of
 * max_code, at which the LED gives k / (n - 1) of its full light (monotone). Linear interpolation in
 * integers, rounded. `dualmod calibrate leds --header FILE` writes such a table (NAME, NAME_ENTRIES,
 * NAME_MAX_CODE); a target maps each shown value through this before packing it for its driver.
 */
uint16_t dml_linearize(uint16_t v, const uint16_t *table, size_t n, uint16_t max_code);

#ifdef __cplusplus
}
#endif
#endif
