/* SPDX-License-Identifier: BSD-3-Clause */
/* DMLINK v1 firmware core: see dmlink.h and DESIGN.md section 9. */
#include "dmlink.h"

/* ------------------------------------------------------------------ CRC-32/ISO-HDLC */
/* Reflected polynomial 0xEDB88320, init and xorout 0xFFFFFFFF, 16-entry table (64 bytes of flash). */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t dml_crc32(uint32_t crc, const uint8_t *data, size_t len)
{
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return ~crc;
}

uint32_t dml_values_crc32(const uint16_t *values, size_t n)
{
    uint32_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t le[2] = {(uint8_t)(values[i] & 0xFFu), (uint8_t)(values[i] >> 8)};
        crc = dml_crc32(crc, le, 2);
    }
    return crc;
}

/* ------------------------------------------------------------------ COBS */
long dml_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t dst_cap)
{
    size_t in = 0, out = 0;
    while (in < len) {
        const uint8_t code = src[in++];
        if (code == 0u) {
            return -1;
        }
        const size_t run = (size_t)code - 1u;
        if (run > len - in || out + run > dst_cap) {
            return -1;
        }
        for (size_t k = 0; k < run; k++) {
            if (src[in] == 0u) {
                return -1;
            }
            dst[out++] = src[in++];
        }
        /* a zero follows every block except a full one (0xFF) and the last */
        if (code != 0xFFu && in < len) {
            if (out >= dst_cap) {
                return -1;
            }
            dst[out++] = 0u;
        }
    }
    return (long)out;
}

long dml_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t dst_cap)
{
    size_t code_at = 0, out = 1;
    uint8_t code = 1;
    if (dst_cap < 1u) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (src[i] != 0u) {
            if (out >= dst_cap) {
                return -1;
            }
            dst[out++] = src[i];
            if (++code != 0xFFu || i + 1u == len) {
                continue;
            }
        }
        /* close the block: at a zero byte, or when it is full and more data follows */
        dst[code_at] = code;
        if (out >= dst_cap) {
            return -1;
        }
        code_at = out++;
        code = 1;
    }
    dst[code_at] = code;
    return (long)out;
}

/* ------------------------------------------------------------------ limiter */
uint16_t dml_limit(uint16_t *values, size_t n, uint16_t power_budget)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += values[i];
    }
    const uint64_t allowed = (uint64_t)power_budget * (uint64_t)n;
    if (n == 0u || total <= allowed) {
        return 0xFFFFu;
    }
    const uint32_t scale = (uint32_t)((65535u * allowed) / total); /* < 65535 since total > allowed */
    for (size_t i = 0; i < n; i++) {
        values[i] = (uint16_t)(((uint32_t)values[i] * scale) / 65535u);
    }
    return (uint16_t)scale;
}

/* ------------------------------------------------------------------ helpers */
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint8_t *wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}
static uint8_t *wr32(uint8_t *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) {
        p[k] = (uint8_t)(v >> (8 * k));
    }
    return p + 4;
}

static size_t n_values(const dml_device *dev) { return (size_t)dev->cfg.zones * dev->cfg.channels; }

static int16_t temperature(const dml_device *dev)
{
    return dev->io.temperature ? dev->io.temperature(dev->io.ctx) : (int16_t)DML_TEMP_UNKNOWN;
}

static int over_temperature(const dml_device *dev)
{
    const int16_t t = temperature(dev);
    return t != (int16_t)DML_TEMP_UNKNOWN && t >= dev->cfg.over_temp_c10;
}

/* The budget in force: the firmware's own, lowered by SET_LIMIT, halved when over temperature. */
static uint16_t budget(const dml_device *dev, int hot)
{
    return hot ? (uint16_t)(dev->host_budget / 2u) : dev->host_budget;
}

/* Send one packet: header and CRC around payload[len], COBS, 0x00. */
static void send(dml_device *dev, uint8_t type, uint16_t seq, const uint8_t *payload, size_t len)
{
    uint8_t *p = dev->pkt; /* the received packet is fully handled before any reply is sent */
    if (len > DML_MAX_PAYLOAD) {
        return;
    }
    p[0] = DML_PROTOCOL_VERSION;
    p[1] = type;
    wr16(p + 2, seq);
    wr16(p + 4, (uint16_t)len);
    for (size_t i = 0; i < len; i++) {
        p[DML_HEADER_SIZE + i] = payload[i];
    }
    const size_t body = DML_HEADER_SIZE + len;
    wr32(p + body, dml_crc32(0, p, body));
    const long enc = dml_cobs_encode(p, body + DML_CRC_SIZE, dev->tx, sizeof dev->tx - 1u);
    if (enc < 0) {
        return;
    }
    dev->tx[enc] = 0u;
    dev->io.write(dev->io.ctx, dev->tx, (size_t)enc + 1u);
}

static void nak(dml_device *dev, uint8_t reason)
{
    uint8_t pl[3];
    wr16(pl, dev->last_good_seq);
    pl[2] = reason;
    send(dev, DML_NAK, 0, pl, sizeof pl); /* never echoes a sequence number from the damaged packet */
}

/* hot: the over-temperature bit to report (for a frame: the one its limit used, not a second reading) */
static void ack(dml_device *dev, uint16_t seq, uint16_t scale, int hot)
{
    uint8_t pl[5];
    wr16(pl, seq);
    wr16(pl + 2, scale);
    pl[4] = (uint8_t)((dev->limiter_active ? 1u : 0u) | (dev->watchdog_flag ? 2u : 0u) | (hot ? 4u : 0u));
    dev->watchdog_flag = 0;
    send(dev, DML_ACK, seq, pl, sizeof pl);
}

/* Swap the double buffer and drive the LEDs with what is now in front. */
static void present(dml_device *dev, uint16_t seq, enum dml_show_kind kind)
{
    uint16_t *t = dev->front;
    dev->front = dev->back;
    dev->back = t;
    const size_t n = n_values(dev);
    uint8_t lit = 0;
    for (size_t i = 0; i < n; i++) {
        lit |= (dev->front[i] != 0u);
    }
    dev->lit = lit;
    dev->shown_crc32 = dml_values_crc32(dev->front, n);
    dev->count.frames_shown++;
    dev->io.show(dev->io.ctx, dev->front, n, seq, kind, dev->shown_crc32);
}

/* Limit the back buffer, show it now or leave it staged for dml_vsync(), and acknowledge it. */
static void commit(dml_device *dev, uint16_t seq, enum dml_show_kind kind, int show_now)
{
    const int hot = over_temperature(dev); /* read once: the ACK reports what the limit used */
    const uint16_t scale = dml_limit(dev->back, n_values(dev), budget(dev, hot));
    dev->limiter_active = scale != 0xFFFFu;
    if (show_now) {
        dev->staged = 0;
        present(dev, seq, kind);
    } else {
        dev->staged = 1;
        dev->staged_seq = seq;
    }
    ack(dev, seq, scale, hot);
}

static void blank(dml_device *dev, uint16_t seq, enum dml_show_kind kind)
{
    const size_t n = n_values(dev);
    for (size_t i = 0; i < n; i++) {
        dev->back[i] = 0u;
    }
    dev->staged = 0;
    dev->limiter_active = 0;
    present(dev, seq, kind);
}

/* ------------------------------------------------------------------ packet handlers */
static void on_hello(dml_device *dev, uint16_t seq, const uint8_t *pl, size_t len)
{
    if (len != 5u) {
        nak(dev, DML_NAK_LENGTH);
        return;
    }
    if (pl[0] != DML_PROTOCOL_VERSION) {
        nak(dev, DML_NAK_VERSION);
        return;
    }
    uint8_t out[19 + 1 + 64];
    uint8_t *p = out;
    *p++ = DML_PROTOCOL_VERSION;
    p = wr32(p, rd32(pl + 1));
    p = wr16(p, dev->cfg.zones);
    *p++ = dev->cfg.channels;
    *p++ = dev->cfg.pwm_bits;
    p = wr16(p, (uint16_t)DML_MAX_PACKET);
    p = wr16(p, dev->cfg.watchdog_ms);
    p = wr16(p, dev->cfg.max_fps);
    p = wr16(p, dev->host_budget);
    uint8_t n = 0;
    const char *v = dev->cfg.fw_version ? dev->cfg.fw_version : "";
    while (v[n] != '\0' && n < 64u) {
        p[1 + n] = (uint8_t)v[n];
        n++;
    }
    *p = n;
    p += 1 + n;
    send(dev, DML_INFO, seq, out, (size_t)(p - out));
}

static void on_frame(dml_device *dev, uint16_t seq, const uint8_t *pl, size_t len)
{
    if (len < 4u) {
        nak(dev, DML_NAK_LENGTH);
        return;
    }
    const uint16_t zones = rd16(pl + 1);
    const uint8_t channels = pl[3];
    if (zones != dev->cfg.zones || channels != dev->cfg.channels) {
        nak(dev, DML_NAK_ZONES);
        return;
    }
    const size_t n = n_values(dev);
    if (len != 4u + 2u * n) {
        nak(dev, DML_NAK_LENGTH);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        dev->back[i] = rd16(pl + 4 + 2 * i);
    }
    dev->last_alive_ms = dev->now_ms;
    commit(dev, seq, DML_SHOW_FRAME, pl[0] & 1u);
}

static void on_pattern(dml_device *dev, uint16_t seq, const uint8_t *pl, size_t len)
{
    if (len != 5u) {
        nak(dev, DML_NAK_LENGTH);
        return;
    }
    const uint8_t pattern = pl[0];
    const uint16_t zone = rd16(pl + 1), level = rd16(pl + 3);
    const uint16_t zones = dev->cfg.zones, cols = dev->cfg.grid_cols;
    const uint8_t ch = dev->cfg.channels;
    if (pattern > 3u || (pattern == 2u && zone >= zones)) {
        nak(dev, DML_NAK_ZONES);
        return;
    }
    for (uint16_t z = 0; z < zones; z++) {
        uint16_t v = 0;
        if (pattern == 1u || (pattern == 2u && z == zone)) {
            v = level;
        } else if (pattern == 3u) {
            const unsigned parity = cols ? (unsigned)(z / cols + z % cols) : (unsigned)z;
            v = (parity & 1u) ? 0u : level;
        }
        for (uint8_t c = 0; c < ch; c++) {
            dev->back[(size_t)z * ch + c] = v;
        }
    }
    dev->last_alive_ms = dev->now_ms;
    commit(dev, seq, DML_SHOW_PATTERN, 1);
}

static void on_status(dml_device *dev, uint16_t seq)
{
    uint8_t out[9 * 4 + 1 + 2];
    uint8_t *p = out;
    p = wr32(p, dev->count.packets);
    p = wr32(p, dev->count.good);
    p = wr32(p, dev->count.crc_errors);
    p = wr32(p, dev->count.cobs_errors);
    p = wr32(p, dev->count.oversize);
    p = wr32(p, dev->count.frames_shown);
    p = wr32(p, dev->count.watchdog_trips);
    p = wr32(p, dev->now_ms - dev->boot_ms);
    p = wr32(p, dev->shown_crc32);
    *p++ = dev->limiter_active;
    wr16(p, (uint16_t)temperature(dev));
    send(dev, DML_STATUS, seq, out, sizeof out);
}

static void on_set_limit(dml_device *dev, uint16_t seq, const uint8_t *pl, size_t len)
{
    if (len != 2u) {
        nak(dev, DML_NAK_LENGTH);
        return;
    }
    const uint16_t b = rd16(pl);
    if (b > dev->cfg.power_budget) {
        nak(dev, DML_NAK_LIMIT); /* the host can only lower the firmware's own limit */
        return;
    }
    dev->host_budget = b;
    ack(dev, seq, 0xFFFFu, over_temperature(dev));
}

/* One complete packet in dev->pkt[0..len): validate, then dispatch. */
static void on_packet(dml_device *dev, size_t len)
{
    const uint8_t *p = dev->pkt;
    if (len < DML_HEADER_SIZE + DML_CRC_SIZE) {
        nak(dev, DML_NAK_LENGTH);
        return;
    }
    /* the CRC first: a length field that disagrees is as likely damage as a bad CRC */
    if (dml_crc32(0, p, len - DML_CRC_SIZE) != rd32(p + len - DML_CRC_SIZE)) {
        dev->count.crc_errors++;
        nak(dev, DML_NAK_CRC);
        return;
    }
    const size_t plen = rd16(p + 4);
    if (DML_HEADER_SIZE + plen + DML_CRC_SIZE != len) {
        nak(dev, DML_NAK_LENGTH);
        return;
    }
    if (p[0] != DML_PROTOCOL_VERSION) {
        nak(dev, DML_NAK_VERSION);
        return;
    }
    const uint8_t type = p[1];
    const uint16_t seq = rd16(p + 2);
    if (type != DML_HELLO && type != DML_FRAME && type != DML_TEST_PATTERN && type != DML_GET_STATUS &&
        type != DML_PING && type != DML_BLANK && type != DML_SET_LIMIT) {
        nak(dev, DML_NAK_TYPE); /* intact, but not a request this device takes */
        return;
    }
    dev->count.good++;
    dev->last_good_seq = seq;
    /* Replies are built in dev->pkt: copy short payloads out first (FRAME reads its values before it replies). */
    uint8_t small[5] = {0, 0, 0, 0, 0};
    const uint8_t *pl = p + DML_HEADER_SIZE;
    for (size_t i = 0; i < sizeof small && i < plen; i++) {
        small[i] = pl[i];
    }
    switch (type) {
    case DML_HELLO:
        on_hello(dev, seq, small, plen);
        break;
    case DML_FRAME:
        on_frame(dev, seq, pl, plen);
        break;
    case DML_TEST_PATTERN:
        on_pattern(dev, seq, small, plen);
        break;
    case DML_GET_STATUS:
        on_status(dev, seq);
        break;
    case DML_PING:
        dev->last_alive_ms = dev->now_ms;
        ack(dev, seq, 0xFFFFu, over_temperature(dev));
        break;
    case DML_BLANK:
        blank(dev, seq, DML_SHOW_BLANK);
        ack(dev, seq, 0xFFFFu, over_temperature(dev));
        break;
    default: /* DML_SET_LIMIT */
        on_set_limit(dev, seq, small, plen);
        break;
    }
}

/* ------------------------------------------------------------------ public */
size_t dml_device_size(void) { return sizeof(dml_device); }

int dml_init(dml_device *dev, const dml_config *cfg, const dml_io *io, uint32_t now_ms)
{
    if ((size_t)cfg->zones * cfg->channels > DML_MAX_VALUES || cfg->zones == 0u ||
        (cfg->channels != 1u && cfg->channels != 3u) || io->write == 0 || io->show == 0) {
        return -1;
    }
    uint8_t *raw = (uint8_t *)dev;
    for (size_t i = 0; i < sizeof *dev; i++) {
        raw[i] = 0u;
    }
    dev->cfg = *cfg;
    dev->io = *io;
    dev->host_budget = cfg->power_budget;
    dev->front = dev->buf_a;
    dev->back = dev->buf_b;
    dev->boot_ms = dev->now_ms = dev->last_alive_ms = now_ms;
    dev->shown_crc32 = dml_values_crc32(dev->front, n_values(dev));
    return 0;
}

void dml_rx(dml_device *dev, const uint8_t *data, size_t len, uint32_t now_ms)
{
    dev->now_ms = now_ms;
    for (size_t i = 0; i < len; i++) {
        const uint8_t b = data[i];
        if (b != 0u) {
            if (dev->rx_len < sizeof dev->rx) {
                dev->rx[dev->rx_len++] = b;
            } else {
                dev->rx_overflow = 1; /* drop until the next delimiter */
            }
            continue;
        }
        const size_t n = dev->rx_len;
        const uint8_t over = dev->rx_overflow;
        dev->rx_len = 0;
        dev->rx_overflow = 0;
        if (n == 0u && !over) {
            continue; /* a lone delimiter flushes, it is not a packet */
        }
        dev->count.packets++;
        if (over) {
            dev->count.oversize++;
            nak(dev, DML_NAK_OVERSIZE);
            continue;
        }
        const long dec = dml_cobs_decode(dev->rx, n, dev->pkt, sizeof dev->pkt);
        if (dec < 0) {
            dev->count.cobs_errors++;
            nak(dev, DML_NAK_COBS);
            continue;
        }
        on_packet(dev, (size_t)dec);
    }
}

void dml_tick(dml_device *dev, uint32_t now_ms)
{
    dev->now_ms = now_ms;
    if (dev->cfg.watchdog_ms != 0u && (dev->lit || dev->staged) &&
        (uint32_t)(now_ms - dev->last_alive_ms) >= dev->cfg.watchdog_ms) {
        dev->count.watchdog_trips++;
        dev->watchdog_flag = 1;
        blank(dev, dev->last_good_seq, DML_SHOW_WATCHDOG);
    }
}

void dml_vsync(dml_device *dev, uint32_t now_ms)
{
    dev->now_ms = now_ms;
    if (dev->staged) {
        dev->staged = 0;
        present(dev, dev->staged_seq, DML_SHOW_FRAME);
    }
}

void dml_log(dml_device *dev, const char *text)
{
    size_t n = 0;
    while (text[n] != '\0' && n < 240u) {
        n++;
    }
    send(dev, DML_LOG, 0, (const uint8_t *)text, n);
}
