/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMLINK v1 firmware core (DESIGN.md section 9): portable C99, no allocation, no platform headers.
 *
 * The platform owns the clock, the serial port and the LED driver. It feeds received bytes to
 * dml_rx(), calls dml_tick() from its main loop, and supplies two callbacks: write() sends bytes to
 * the host, show() drives the LEDs with u16 values (linear light, 65535 = full). The core decodes
 * COBS, checks length and CRC-32 before it touches any frame buffer, applies the power limiter, and
 * swaps the double buffer: a frame becomes visible only when it is complete and valid. A watchdog
 * on the injected millisecond clock blanks the LEDs when the host falls silent.
 */
#ifndef DMLINK_H
#define DMLINK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest zones x channels the build accepts; override with -DDML_MAX_VALUES=... */
#ifndef DML_MAX_VALUES
#define DML_MAX_VALUES 3072u
#endif

#define DML_PROTOCOL_VERSION 1u
#define DML_HEADER_SIZE 6u
#define DML_CRC_SIZE 4u
#define DML_MAX_PAYLOAD (4u + 2u * DML_MAX_VALUES)
#define DML_MAX_PACKET (DML_HEADER_SIZE + DML_MAX_PAYLOAD + DML_CRC_SIZE)
/* COBS adds one byte per 254 and one in front. */
#define DML_MAX_ENCODED (DML_MAX_PACKET + DML_MAX_PACKET / 254u + 2u)
#define DML_TEMP_UNKNOWN 0x7FFF

enum dml_type {
    DML_HELLO = 0x01, DML_FRAME = 0x10, DML_TEST_PATTERN = 0x11, DML_GET_STATUS = 0x12, DML_PING = 0x13,
    DML_BLANK = 0x14, DML_SET_LIMIT = 0x15,
    DML_INFO = 0x81, DML_ACK = 0x82, DML_NAK = 0x83, DML_STATUS = 0x84, DML_LOG = 0x85
};

enum dml_nak_reason {
    DML_NAK_CRC = 1, DML_NAK_COBS = 2, DML_NAK_LENGTH = 3, DML_NAK_TYPE = 4, DML_NAK_OVERSIZE = 5,
    DML_NAK_ZONES = 6, DML_NAK_VERSION = 7, DML_NAK_LIMIT = 8
};

/* What the show() callback is told about the values it receives. */
enum dml_show_kind { DML_SHOW_FRAME = 0, DML_SHOW_PATTERN = 1, DML_SHOW_BLANK = 2, DML_SHOW_WATCHDOG = 3 };

typedef struct dml_config {
    uint16_t zones;          /* LED zones */
    uint8_t channels;        /* 1 (white) or 3 (RGB) */
    uint8_t pwm_bits;        /* resolution of the LED driver, reported in INFO */
    uint16_t watchdog_ms;    /* blank after this long without a valid FRAME or PING; 0 disables */
    uint16_t max_fps;        /* reported in INFO */
    uint16_t power_budget;   /* firmware's own cap on the mean level, x 65535; the host may only lower it */
    uint16_t grid_cols;      /* zones per row for the checkerboard pattern; 0 = alternate by index */
    int16_t over_temp_c10;   /* at or above this temperature (deci-degC) the budget halves */
    const char *fw_version;  /* ASCII, at most 64 characters are sent */
} dml_config;

typedef struct dml_io {
    void (*write)(void *ctx, const uint8_t *data, size_t len);
    /* values: zones x channels u16 as they now drive the LEDs; seq: the packet that caused it */
    void (*show)(void *ctx, const uint16_t *values, size_t n, uint16_t seq, enum dml_show_kind kind,
                 uint32_t shown_crc32);
    /* optional: temperature in deci-degC or DML_TEMP_UNKNOWN */
    int16_t (*temperature)(void *ctx);
    void *ctx;
} dml_io;

typedef struct dml_counters {
    uint32_t packets, good, crc_errors, cobs_errors, oversize, frames_shown, watchdog_trips;
} dml_counters;

typedef struct dml_device {
    dml_config cfg;
    dml_io io;
    dml_counters count;
    uint16_t host_budget;      /* min(firmware budget, last SET_LIMIT) */
    uint16_t last_good_seq;
    uint16_t tx_seq;
    uint8_t limiter_active;
    uint8_t watchdog_flag;     /* tripped since the last ACK */
    uint8_t lit;               /* something non-zero is shown: the watchdog is armed */
    uint8_t staged;            /* a frame without show-now waits in the back buffer */
    uint16_t staged_seq;
    uint32_t boot_ms, now_ms, last_alive_ms;
    uint32_t shown_crc32;
    size_t rx_len;
    uint8_t rx_overflow;
    uint16_t *front, *back;    /* point into buf_a / buf_b */
    uint16_t buf_a[DML_MAX_VALUES];
    uint16_t buf_b[DML_MAX_VALUES];
    uint8_t rx[DML_MAX_ENCODED];
    uint8_t pkt[DML_MAX_PACKET];
    uint8_t tx[DML_MAX_ENCODED + 1u];
} dml_device;

/* ---- building blocks, exposed for tests and for other firmware ---- */

/* CRC-32/ISO-HDLC (zlib's crc32); chain calls by passing the previous result, start with 0. */
uint32_t dml_crc32(uint32_t crc, const uint8_t *data, size_t len);

/* COBS-decode src (no 0x00 delimiter) into dst. Returns the decoded length, or -1 when the input is
 * not valid COBS (a zero byte, a code running past the end) or would exceed dst_cap. */
long dml_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t dst_cap);

/* COBS-encode src into dst (no delimiter added). Returns the encoded length or -1 if dst_cap is short. */
long dml_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t dst_cap);

/* The power limiter of DESIGN section 9, in place; returns applied_scale (65535 = unchanged). */
uint16_t dml_limit(uint16_t *values, size_t n, uint16_t power_budget);

/* CRC-32 of u16 values as little-endian bytes (shown_crc32). */
uint32_t dml_values_crc32(const uint16_t *values, size_t n);

/* ---- the device ---- */

/* Returns 0, or -1 if cfg asks for more than DML_MAX_VALUES values or channels is not 1 or 3. */
int dml_init(dml_device *dev, const dml_config *cfg, const dml_io *io, uint32_t now_ms);
void dml_rx(dml_device *dev, const uint8_t *data, size_t len, uint32_t now_ms);
/* Watchdog, staged frames; call often (at least every few ms). */
void dml_tick(dml_device *dev, uint32_t now_ms);
/* Present a staged frame (a FRAME sent without show-now): wire to a vsync input on a real panel. */
void dml_vsync(dml_device *dev, uint32_t now_ms);
/* Send an unsolicited LOG packet. */
void dml_log(dml_device *dev, const char *text);
size_t dml_device_size(void);

#ifdef __cplusplus
}
#endif
#endif
