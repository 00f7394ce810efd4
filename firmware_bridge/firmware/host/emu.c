/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmlink-emu: the DMLINK v1 firmware core on Linux, on a pseudo-terminal or an existing serial device.
 *
 *   dmlink-emu --pty [--pty-link PATH] [--zones N] [--channels 1|3] [--watchdog-ms MS]
 *              [--power-budget FRACTION] [--shown-log FILE] [--grid-cols N] [--temperature DEGC]
 *   dmlink-emu --port /dev/ttyX ...
 *
 * With --pty the first line on stdout is the path of the pseudo-terminal to open; --pty-link also
 * points a symlink there, a stable name across restarts. --shown-log writes one line per change of
 * what drives the LEDs: "SEQ CRC32 KIND TIME" (KIND frame, pattern, blank or watchdog; CRC32 the
 * CRC-32 of the u16 values as little-endian bytes, shown_crc32, in hex; TIME CLOCK_MONOTONIC in
 * seconds, the clock Python's time.monotonic() reads on Linux).
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../core/dmlink.h"

#define TX_RING 65536u

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

typedef struct emu {
    int fd;
    FILE *shown_log;
    int16_t temperature_c10;
    uint8_t ring[TX_RING];
    size_t head, tail; /* bytes [tail, head) wait to be written; a full ring drops replies */
    unsigned long tx_dropped;
} emu;

static uint32_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static void flush_tx(emu *e)
{
    while (e->tail != e->head) {
        const size_t start = e->tail % TX_RING;
        size_t n = e->head - e->tail;
        if (n > TX_RING - start) {
            n = TX_RING - start;
        }
        const ssize_t w = write(e->fd, e->ring + start, n);
        if (w <= 0) {
            return; /* EAGAIN: the host is not reading; try again when poll says so */
        }
        e->tail += (size_t)w;
    }
}

static void io_write(void *ctx, const uint8_t *data, size_t len)
{
    emu *e = ctx;
    if (e->head - e->tail + len > TX_RING) {
        e->tx_dropped++;
        return;
    }
    for (size_t i = 0; i < len; i++) {
        e->ring[(e->head + i) % TX_RING] = data[i];
    }
    e->head += len;
    flush_tx(e);
}

static void io_show(void *ctx, const uint16_t *values, size_t n, uint16_t seq, enum dml_show_kind kind,
                    uint32_t crc)
{
    static const char *names[] = {"frame", "pattern", "blank", "watchdog"};
    emu *e = ctx;
    (void)values;
    (void)n;
    if (e->shown_log) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        fprintf(e->shown_log, "%u %08x %s %lld.%06ld\n", (unsigned)seq, (unsigned)crc, names[kind],
                (long long)ts.tv_sec, (long)(ts.tv_nsec / 1000));
        fflush(e->shown_log);
    }
}

static int16_t io_temperature(void *ctx) { return ((emu *)ctx)->temperature_c10; }

static int make_raw(int fd)
{
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        return -1;
    }
    cfmakeraw(&t);
    return tcsetattr(fd, TCSANOW, &t);
}

static void usage(FILE *f)
{
    fputs("usage: dmlink-emu (--pty [--pty-link PATH] | --port PATH) [--zones N] [--channels 1|3]\n"
          "                  [--watchdog-ms MS] [--power-budget FRACTION] [--shown-log FILE]\n"
          "                  [--grid-cols N] [--pwm-bits N] [--max-fps N] [--temperature DEGC]\n",
          f);
}

static long parse_long(const char *flag, const char *s, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    const long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "dmlink-emu: %s must be an integer in [%ld, %ld], got '%s'\n", flag, lo, hi, s);
        exit(2);
    }
    return v;
}

static double parse_double(const char *flag, const char *s, double lo, double hi)
{
    char *end = NULL;
    errno = 0;
    const double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "dmlink-emu: %s must be a number in [%g, %g], got '%s'\n", flag, lo, hi, s);
        exit(2);
    }
    return v;
}

static dml_device device; /* static: tens of kilobytes, like the firmware's RAM */
static emu state;

int main(int argc, char **argv)
{
    dml_config cfg = {.zones = 144, .channels = 3, .pwm_bits = 16, .watchdog_ms = 500, .max_fps = 1000,
                      .power_budget = 65535, .grid_cols = 0, .over_temp_c10 = 700,
                      .fw_version = "dmlink-emu 1.0"};
    const char *port = NULL, *log_path = NULL, *link_path = NULL;
    int use_pty = 0;
    state.temperature_c10 = DML_TEMP_UNKNOWN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (!strcmp(a, "--pty")) {
            use_pty = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (v == NULL) {
            fprintf(stderr, "dmlink-emu: unknown flag or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--port")) {
            port = v;
        } else if (!strcmp(a, "--pty-link")) {
            link_path = v;
        } else if (!strcmp(a, "--zones")) {
            cfg.zones = (uint16_t)parse_long(a, v, 1, 65535);
        } else if (!strcmp(a, "--channels")) {
            cfg.channels = (uint8_t)parse_long(a, v, 1, 3);
        } else if (!strcmp(a, "--watchdog-ms")) {
            cfg.watchdog_ms = (uint16_t)parse_long(a, v, 0, 65535);
        } else if (!strcmp(a, "--power-budget")) {
            cfg.power_budget = (uint16_t)lround(parse_double(a, v, 0.0, 1.0) * 65535.0);
        } else if (!strcmp(a, "--shown-log")) {
            log_path = v;
        } else if (!strcmp(a, "--grid-cols")) {
            cfg.grid_cols = (uint16_t)parse_long(a, v, 0, 65535);
        } else if (!strcmp(a, "--pwm-bits")) {
            cfg.pwm_bits = (uint8_t)parse_long(a, v, 1, 16);
        } else if (!strcmp(a, "--max-fps")) {
            cfg.max_fps = (uint16_t)parse_long(a, v, 1, 65535);
        } else if (!strcmp(a, "--temperature")) {
            state.temperature_c10 = (int16_t)lround(parse_double(a, v, -100.0, 200.0) * 10.0);
        } else {
            fprintf(stderr, "dmlink-emu: unknown flag: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (use_pty == (port != NULL)) {
        fputs("dmlink-emu: give exactly one of --pty and --port\n", stderr);
        usage(stderr);
        return 2;
    }
    if ((size_t)cfg.zones * cfg.channels > DML_MAX_VALUES || cfg.channels == 2) {
        fprintf(stderr, "dmlink-emu: zones x channels must be at most %u and channels 1 or 3\n",
                (unsigned)DML_MAX_VALUES);
        return 2;
    }
    if (log_path) {
        state.shown_log = fopen(log_path, "w");
        if (!state.shown_log) {
            fprintf(stderr, "dmlink-emu: cannot write %s: %s\n", log_path, strerror(errno));
            return 1;
        }
    }

    int keep_slave = -1;
    if (use_pty) {
        state.fd = posix_openpt(O_RDWR | O_NOCTTY);
        if (state.fd < 0 || grantpt(state.fd) != 0 || unlockpt(state.fd) != 0) {
            perror("dmlink-emu: pseudo-terminal");
            return 1;
        }
        const char *slave = ptsname(state.fd);
        /* hold the slave open so the master never sees a hang-up between host connections */
        keep_slave = open(slave, O_RDWR | O_NOCTTY);
        if (keep_slave < 0 || make_raw(keep_slave) != 0) {
            perror("dmlink-emu: pseudo-terminal slave");
            return 1;
        }
        if (link_path) {
            char tmp[4096];
            snprintf(tmp, sizeof tmp, "%s.%ld.tmp", link_path, (long)getpid());
            unlink(tmp);
            if (symlink(slave, tmp) != 0 || rename(tmp, link_path) != 0) {
                fprintf(stderr, "dmlink-emu: cannot link %s: %s\n", link_path, strerror(errno));
                return 1;
            }
        }
        printf("%s\n", slave);
        fflush(stdout);
    } else {
        state.fd = open(port, O_RDWR | O_NOCTTY);
        if (state.fd < 0) {
            fprintf(stderr, "dmlink-emu: cannot open %s: %s\n", port, strerror(errno));
            return 1;
        }
        make_raw(state.fd); /* not a tty (a FIFO, say): leave it as it is */
    }
    fcntl(state.fd, F_SETFL, fcntl(state.fd, F_GETFL) | O_NONBLOCK);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    const dml_io io = {.write = io_write, .show = io_show, .temperature = io_temperature, .ctx = &state};
    if (dml_init(&device, &cfg, &io, now_ms()) != 0) {
        fputs("dmlink-emu: invalid configuration\n", stderr);
        return 2;
    }
    int rc = 0;
    uint8_t buf[4096];
    while (!stop_requested) {
        struct pollfd p = {.fd = state.fd, .events = POLLIN};
        if (state.head != state.tail) {
            p.events |= POLLOUT;
        }
        const int r = poll(&p, 1, 2);
        if (r < 0 && errno != EINTR) {
            perror("dmlink-emu: poll");
            rc = 1;
            break;
        }
        if (r > 0 && (p.revents & POLLIN)) {
            const ssize_t n = read(state.fd, buf, sizeof buf);
            if (n > 0) {
                dml_rx(&device, buf, (size_t)n, now_ms());
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                if (!use_pty) {
                    fputs("dmlink-emu: port closed\n", stderr);
                    rc = 1;
                    break;
                }
            }
        } else if (r > 0 && (p.revents & (POLLHUP | POLLERR)) && !use_pty) {
            fputs("dmlink-emu: port hung up\n", stderr);
            rc = 1;
            break;
        }
        if (r > 0 && (p.revents & POLLOUT)) {
            flush_tx(&state);
        }
        const uint32_t t = now_ms();
        dml_vsync(&device, t); /* no vsync input here: staged frames show at the next loop turn */
        dml_tick(&device, t);
    }
    if (link_path) {
        unlink(link_path);
    }
    if (state.shown_log) {
        fclose(state.shown_log);
    }
    if (keep_slave >= 0) {
        close(keep_slave);
    }
    close(state.fd);
    return rc;
}
