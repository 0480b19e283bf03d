/*
 * mt5bridge: handles, the EA-thread API, and the one I/O thread that serves every handle of the
 * process (connect, handshake, hello/welcome, numbering, acks, resend, flow control, commands).
 *
 * Threads: each handle is written by one EA thread (its producer) and served by the I/O thread.
 *  - ticks: a lock-free SPSC ring per handle (ring.c); the EA thread never waits for anything;
 *  - durable messages and commands: a per-handle mutex held for a few instructions;
 *  - counters: atomics.
 * Nothing runs at load time and nothing is allocated for the caller.
 */
#include "mt5bridge.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mp.h"
#include "plat.h"
#include "proto.h"
#include "ring.h"
#include "ws.h"

#define MT5B_VERSION "0.1.0"

#define MAX_HANDLES 256
#define MAX_SYMS 256
#define BATCH_INTERVAL_MS 20         /* ticks wait at most this long in the ring before a batch */
#define POP_CHUNK 8192               /* ticks taken from a ring per batch pass */
#define QUEUE_SLACK (POP_CHUNK + 64) /* queue slots beyond the EA's limit, for tick batches */
#define OUT_HIGH_WATER (256 * 1024)  /* bytes waiting for the socket before we stop adding frames */
#define MAX_IN_MESSAGE (16u << 20)
#define DEFAULT_MAX_FRAME 1048576
#define DEFAULT_MAX_BATCH 5000
#define DEFAULT_MAX_INFLIGHT 16
#define CONNECT_TIMEOUT_MS 5000
#define OPEN_TIMEOUT_MS 10000 /* handshake + welcome */
#define SILENCE_MS 45000
#define POLL_MS 10
#define TICK_BYTES_MAX 60 /* one tick's columns, at worst */

enum { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE, ST_WELCOME, ST_OPEN, ST_CLOSING };

typedef struct {
    int64_t dropped, from, to;
} gap_t;

typedef struct dmsg {
    int64_t num;
    uint32_t len;
    uint32_t fields;
    int type;
    /* a tick_batch: its symbol and its last tick's (time_msc, index + 1), for the acked cursor */
    int32_t tsym;
    int64_t tlast_msc;
    uint32_t tlast_count;
    uint8_t body[];
} dmsg;

typedef struct {
    uint8_t id[129];
    int32_t id_len;
    uint8_t type[33];
    int32_t type_len;
    char *payload;
    int32_t payload_len;
    int64_t expires_at;
} cmd_entry;

typedef struct {
    uint8_t name[64];
    uint8_t len;
} symname;

typedef struct {
    int state;
    plat_sock sock;
    int64_t deadline;
    int64_t next_attempt;
    int64_t backoff;
    int64_t opened_at;
    int64_t last_rx;
    int attempts;
    buf_t out;
    size_t out_off;
    buf_t in;
    ws_reader rx;
    char key[32];
    int base_set;
    int64_t base;
    int64_t sent_upto; /* highest number put on the wire on this connection */
    int64_t sent_max;  /* highest number ever put on the wire */
    int64_t acked;     /* highest number acknowledged */
    int64_t max_frame, max_batch, max_inflight;
    int64_t last_batch;
    int goodbye_sent;
    gap_t gap_pending[MAX_SYMS];
} session_t;

typedef struct handle {
    int64_t id;
    uint32_t slot;
    /* configuration (EA thread, before start) */
    char host[256];
    int port;
    char path[512];
    uint8_t token[257];
    int32_t token_len;
    uint8_t instance[129];
    int32_t instance_len;
    int has_account;
    int64_t login;
    uint8_t server[129], company[129], currency[129];
    int32_t server_len, company_len, currency_len;
    int32_t leverage, margin_mode, trade_mode, utc_offset;
    int has_ea;
    uint8_t ea_name[129], ea_version[129], ea_symbol[65], timeframe[4], strategy[129];
    int32_t ea_name_len, ea_version_len, ea_symbol_len, timeframe_len, strategy_len;
    int64_t magic;
    int32_t terminal_build;
    uint32_t ring_cap, queue_cap, inbox_cap;
    int64_t backoff_min, backoff_max;
    int started;

    /* EA thread (producer) */
    tick_ring ring;
    symname syms[MAX_SYMS];
    _Atomic uint32_t nsyms;
    uint32_t last_sym;
    struct {
        int64_t ms;
        uint32_t count;
    } cursor[MAX_SYMS];
    gap_t gap_priv[MAX_SYMS];
    uint8_t gap_dirty[MAX_SYMS];
    uint16_t dirty_list[MAX_SYMS];
    uint32_t ndirty;
    buf_t pos_rows;
    uint32_t pos_count;
    int pos_open;
    int64_t pos_time;

    /* gaps handed from the EA thread to the I/O thread (try-lock on the EA side: never waits) */
    atomic_flag gap_lock;
    gap_t gap_shared[MAX_SYMS];

    /* durable queue, command inbox, error text: under mu */
    plat_mutex mu;
    dmsg **q;
    uint32_t q_slots, q_head, q_count;
    int64_t next_num;
    cmd_entry *inbox;
    uint32_t in_head, in_count;
    char err_text[256];
    /* per symbol: the newest tick the engine acknowledged, as (time_msc, ticks of that millisecond
       up to and including it); count 0: none yet */
    struct {
        int64_t ms;
        uint32_t count;
    } acked_cursor[MAX_SYMS];

    _Atomic int64_t st[MT5B_STAT_COUNT];
    _Atomic int64_t engine_offset;
    _Atomic int has_offset;
    _Atomic int closing;
    _Atomic int64_t close_deadline;
    _Atomic int detached;

    /* I/O thread only */
    session_t s;
} handle;

/* ---------- registry and the I/O thread ---------- */

static plat_mutex g_mu = PLAT_MUTEX_INIT;   /* g_slots writes, g_active, g_gen */
static plat_mutex g_life = PLAT_MUTEX_INIT; /* starting and stopping the I/O thread */
static _Atomic(handle *) g_slots[MAX_HANDLES];
static uint32_t g_gen = 1;
static handle *g_active[MAX_HANDLES];
static int g_nactive;
static plat_thread g_thread;
static int g_running;
static _Atomic int g_stop;

static handle *lookup(int64_t hid) {
    if (hid <= 0) return NULL;
    uint32_t slot = (uint32_t)(hid & 0xffff);
    if (slot == 0 || slot > MAX_HANDLES) return NULL;
    handle *h = atomic_load_explicit(&g_slots[slot - 1], memory_order_acquire);
    if (!h || h->id != hid) return NULL;
    return h;
}

static void set_error(handle *h, int64_t code, const char *fmt, const char *a, const char *b) {
    plat_lock(&h->mu);
    snprintf(h->err_text, sizeof h->err_text, fmt, a ? a : "", b ? b : "");
    plat_unlock(&h->mu);
    if (code) atomic_store(&h->st[MT5B_STAT_LAST_ERROR], code);
}

/* ---------- argument checks ---------- */

static int check_str(const uint8_t *p, int32_t n, int32_t min, int32_t max) {
    if (n < 0 || n < min || n > max) return MT5B_E_ARG;
    if (n > 0 && !p) return MT5B_E_ARG;
    if (n > 0 && !utf8_valid(p, (size_t)n)) return MT5B_E_UTF8;
    return 0;
}

static int check_id(const uint8_t *p, int32_t n) {
    int rc = check_str(p, n, 1, 128);
    if (rc) return rc;
    for (int32_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] == 0x7f) return MT5B_E_ARG;
    return 0;
}

static int finite(double v) { return v == v && v != HUGE_VAL && v != -HUGE_VAL; }
static int price_ok(double v) { return finite(v) && v >= 0; }
static int time_ok(int64_t t) { return t >= 1 && t <= MP_MAX_SAFE; }
static int safe_int(int64_t v) { return v >= -MP_MAX_SAFE && v <= MP_MAX_SAFE; }

static ostr os(const uint8_t *p, int32_t n) {
    ostr o = {p, n, OPT_SET};
    return o;
}
static ostr os_opt(const uint8_t *p, int32_t n) {
    ostr o = {p, n, n > 0 ? OPT_SET : OPT_ABSENT};
    return o;
}
static ostr os_c(const char *s) {
    ostr o = {(const uint8_t *)s, (int32_t)strlen(s), OPT_SET};
    return o;
}

/* ---------- version, open, configuration ---------- */

MT5B_API int32_t MT5B_CALL mt5b_version(uint8_t *out, int32_t cap) {
    int32_t n = (int32_t)strlen(MT5B_VERSION);
    if (!out || cap < n) return MT5B_E_BUFFER;
    memcpy(out, MT5B_VERSION, (size_t)n);
    return n;
}

static int parse_url(handle *h, const uint8_t *url, int32_t n) {
    if (n < 6 || n > 700) return MT5B_E_ARG;
    char u[704];
    memcpy(u, url, (size_t)n);
    u[n] = 0;
    if (strncmp(u, "ws://", 5) != 0) return MT5B_E_ARG; /* wss: put a TLS proxy in front, see README */
    char *p = u + 5;
    char *host_end;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end) return MT5B_E_ARG;
        size_t hl = (size_t)(host_end - p - 1);
        if (hl == 0 || hl >= sizeof h->host) return MT5B_E_ARG;
        memcpy(h->host, p + 1, hl);
        h->host[hl] = 0;
        p = host_end + 1;
    } else {
        host_end = p;
        while (*host_end && *host_end != ':' && *host_end != '/') host_end++;
        size_t hl = (size_t)(host_end - p);
        if (hl == 0 || hl >= sizeof h->host) return MT5B_E_ARG;
        memcpy(h->host, p, hl);
        h->host[hl] = 0;
        p = host_end;
    }
    h->port = 80;
    if (*p == ':') {
        p++;
        long port = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            port = port * 10 + (*p - '0');
            p++;
            if (++digits > 5) return MT5B_E_ARG;
        }
        if (port < 1 || port > 65535) return MT5B_E_ARG;
        h->port = (int)port;
    }
    if (*p == 0) {
        strcpy(h->path, "/");
    } else if (*p == '/') {
        if (strlen(p) >= sizeof h->path) return MT5B_E_ARG;
        for (char *c = p; *c; c++)
            if ((unsigned char)*c <= 0x20 || *c == 0x7f) return MT5B_E_ARG;
        strcpy(h->path, p);
    } else {
        return MT5B_E_ARG;
    }
    return 0;
}

MT5B_API int64_t MT5B_CALL mt5b_open(const uint8_t *url, int32_t url_len, const uint8_t *token, int32_t token_len,
                                     const uint8_t *instance_id, int32_t instance_len) {
    if (check_str(url, url_len, 1, 700) || check_str(token, token_len, 1, 256)) return MT5B_E_ARG;
    int rc = check_id(instance_id, instance_len);
    if (rc) return rc;
    handle *h = calloc(1, sizeof *h);
    if (!h) return MT5B_E_NOMEM;
    if (parse_url(h, url, url_len) != 0) {
        free(h);
        return MT5B_E_ARG;
    }
    memcpy(h->token, token, (size_t)token_len);
    h->token_len = token_len;
    memcpy(h->instance, instance_id, (size_t)instance_len);
    h->instance_len = instance_len;
    h->ring_cap = 65536;
    h->queue_cap = 100000;
    h->inbox_cap = 256;
    h->backoff_min = 1000;
    h->backoff_max = 30000;
    h->next_num = 1;
    h->s.sock = PLAT_BAD_SOCK;
    atomic_flag_clear(&h->gap_lock);
    plat_mutex_init(&h->mu);
    for (int i = 0; i < MT5B_STAT_COUNT; i++) atomic_init(&h->st[i], 0);
    plat_lock(&g_mu);
    int slot = -1;
    for (int i = 0; i < MAX_HANDLES; i++) {
        if (atomic_load(&g_slots[i]) == NULL) {
            slot = i;
            break;
        }
    }
    if (slot < 0) {
        plat_unlock(&g_mu);
        plat_mutex_destroy(&h->mu);
        free(h);
        return MT5B_E_NOMEM;
    }
    h->slot = (uint32_t)slot;
    h->id = ((int64_t)(g_gen++ & 0x7fffffff) << 16) | (slot + 1);
    atomic_store_explicit(&g_slots[slot], h, memory_order_release);
    plat_unlock(&g_mu);
    return h->id;
}

MT5B_API int32_t MT5B_CALL mt5b_set_account(int64_t hid, int64_t login, const uint8_t *server, int32_t server_len,
                                            const uint8_t *company, int32_t company_len, const uint8_t *currency,
                                            int32_t currency_len, int32_t leverage, int32_t margin_mode,
                                            int32_t trade_mode, int32_t server_utc_offset_s) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    if (h->started) return MT5B_E_STATE;
    if (login < 1 || login > MP_MAX_SAFE || margin_mode > 2 || trade_mode > 2) return MT5B_E_ARG;
    int rc;
    if ((rc = check_str(server, server_len, 1, 128)) || (rc = check_str(company, company_len, 0, 128)) ||
        (rc = check_str(currency, currency_len, 0, 128)))
        return rc;
    h->login = login;
    memcpy(h->server, server, (size_t)server_len);
    h->server_len = server_len;
    if (company_len) memcpy(h->company, company, (size_t)company_len);
    h->company_len = company_len;
    if (currency_len) memcpy(h->currency, currency, (size_t)currency_len);
    h->currency_len = currency_len;
    h->leverage = leverage;
    h->margin_mode = margin_mode;
    h->trade_mode = trade_mode;
    h->utc_offset = server_utc_offset_s;
    h->has_account = 1;
    return 0;
}

static const char *const TIMEFRAMES[] = {"M1",  "M2",  "M3",  "M4", "M5", "M6", "M10", "M12", "M15", "M20", "M30",
                                         "H1",  "H2",  "H3",  "H4", "H6", "H8", "H12", "D1",  "W1",  "MN1"};

static int timeframe_ok(const uint8_t *tf, int32_t n) {
    for (size_t i = 0; i < sizeof TIMEFRAMES / sizeof *TIMEFRAMES; i++)
        if (strlen(TIMEFRAMES[i]) == (size_t)n && memcmp(TIMEFRAMES[i], tf, (size_t)n) == 0) return 1;
    return 0;
}

MT5B_API int32_t MT5B_CALL mt5b_set_strategy(int64_t hid, const uint8_t *strategy, int32_t strategy_len) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    if (h->started) return MT5B_E_STATE;
    int rc = check_str(strategy, strategy_len, 0, 128);
    if (rc) return rc;
    if (strategy_len) memcpy(h->strategy, strategy, (size_t)strategy_len);
    h->strategy_len = strategy_len;
    return 0;
}

MT5B_API int32_t MT5B_CALL mt5b_set_ea(int64_t hid, const uint8_t *name, int32_t name_len, const uint8_t *version,
                                       int32_t version_len, int64_t magic, const uint8_t *symbol, int32_t symbol_len,
                                       const uint8_t *timeframe, int32_t timeframe_len, int32_t terminal_build) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    if (h->started) return MT5B_E_STATE;
    int rc;
    if ((rc = check_str(name, name_len, 1, 128)) || (rc = check_str(version, version_len, 0, 128)) ||
        (rc = check_str(symbol, symbol_len, 0, 64)) || (rc = check_str(timeframe, timeframe_len, 0, 3)))
        return rc;
    if (!safe_int(magic)) return MT5B_E_ARG;
    if (timeframe_len > 0 && !timeframe_ok(timeframe, timeframe_len)) return MT5B_E_ARG;
    memcpy(h->ea_name, name, (size_t)name_len);
    h->ea_name_len = name_len;
    if (version_len) memcpy(h->ea_version, version, (size_t)version_len);
    h->ea_version_len = version_len;
    h->magic = magic;
    if (symbol_len) memcpy(h->ea_symbol, symbol, (size_t)symbol_len);
    h->ea_symbol_len = symbol_len;
    if (timeframe_len) memcpy(h->timeframe, timeframe, (size_t)timeframe_len);
    h->timeframe_len = timeframe_len;
    h->terminal_build = terminal_build;
    h->has_ea = 1;
    return 0;
}

MT5B_API int32_t MT5B_CALL mt5b_set_limits(int64_t hid, int32_t ring_size, int32_t durable_queue, int32_t command_inbox) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    if (h->started) return MT5B_E_STATE;
    if (ring_size < 0 || durable_queue < 0 || command_inbox < 0) return MT5B_E_ARG;
    if (ring_size && (ring_size < 16 || (ring_size & (ring_size - 1)) != 0 || ring_size > (1 << 26))) return MT5B_E_ARG;
    if (durable_queue > 10000000 || command_inbox > 100000) return MT5B_E_ARG;
    if (ring_size) h->ring_cap = (uint32_t)ring_size;
    if (durable_queue) h->queue_cap = (uint32_t)durable_queue;
    if (command_inbox) h->inbox_cap = (uint32_t)command_inbox;
    return 0;
}

MT5B_API int32_t MT5B_CALL mt5b_set_reconnect(int64_t hid, int32_t min_ms, int32_t max_ms) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    if (h->started) return MT5B_E_STATE;
    if (min_ms < 0 || max_ms < 0 || min_ms > 3600000 || max_ms > 3600000) return MT5B_E_ARG;
    int64_t lo = min_ms ? min_ms : h->backoff_min;
    int64_t hi = max_ms ? max_ms : h->backoff_max;
    if (lo < 10 || hi < lo) return MT5B_E_ARG;
    h->backoff_min = lo;
    h->backoff_max = hi;
    return 0;
}

static void io_main(void *arg);

MT5B_API int32_t MT5B_CALL mt5b_start(int64_t hid) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    if (h->started) return MT5B_E_STATE;
    if (!h->has_account || !h->has_ea) return MT5B_E_STATE;
    if (ring_init(&h->ring, h->ring_cap) != 0) return MT5B_E_NOMEM;
    h->q_slots = h->queue_cap + QUEUE_SLACK;
    h->q = calloc(h->q_slots, sizeof *h->q);
    h->inbox = calloc(h->inbox_cap, sizeof *h->inbox);
    if (!h->q || !h->inbox) {
        free(h->q);
        free(h->inbox);
        h->q = NULL;
        h->inbox = NULL;
        ring_free(&h->ring);
        return MT5B_E_NOMEM;
    }
    h->s.backoff = h->backoff_min;
    h->s.max_frame = DEFAULT_MAX_FRAME;
    h->s.max_batch = DEFAULT_MAX_BATCH;
    h->s.max_inflight = DEFAULT_MAX_INFLIGHT;
    ws_reader_init(&h->s.rx, MAX_IN_MESSAGE, 0);
    h->started = 1;

    plat_lock(&g_life);
    plat_lock(&g_mu);
    g_active[g_nactive++] = h;
    plat_unlock(&g_mu);
    int rc = 0;
    if (!g_running) {
        atomic_store(&g_stop, 0);
        if (plat_thread_start(&g_thread, io_main, NULL) == 0) {
            g_running = 1;
        } else {
            rc = MT5B_E_THREAD;
            plat_lock(&g_mu);
            g_nactive--;
            plat_unlock(&g_mu);
            h->started = 0;
        }
    }
    plat_unlock(&g_life);
    if (rc) {
        free(h->q);
        free(h->inbox);
        h->q = NULL;
        h->inbox = NULL;
        ring_free(&h->ring);
    }
    return rc;
}

/* ---------- ticks (EA thread) ---------- */

/* Publishes the EA thread's private gap counts if the I/O thread is not looking right now. */
static void gap_flush_try(handle *h) {
    if (atomic_flag_test_and_set_explicit(&h->gap_lock, memory_order_acquire)) return; /* busy: next time */
    for (uint32_t i = 0; i < h->ndirty; i++) {
        uint16_t s = h->dirty_list[i];
        gap_t *p = &h->gap_priv[s], *g = &h->gap_shared[s];
        if (g->dropped == 0) {
            *g = *p;
        } else {
            g->dropped += p->dropped;
            if (p->from < g->from) g->from = p->from;
            if (p->to > g->to) g->to = p->to;
        }
        p->dropped = 0;
        h->gap_dirty[s] = 0;
    }
    h->ndirty = 0;
    atomic_flag_clear_explicit(&h->gap_lock, memory_order_release);
}

static void gap_note(handle *h, const tick_t *t) {
    gap_t *p = &h->gap_priv[t->sym];
    if (p->dropped == 0) {
        p->from = p->to = t->time_msc;
    } else {
        if (t->time_msc < p->from) p->from = t->time_msc;
        if (t->time_msc > p->to) p->to = t->time_msc;
    }
    p->dropped++;
    if (!h->gap_dirty[t->sym]) {
        h->gap_dirty[t->sym] = 1;
        h->dirty_list[h->ndirty++] = t->sym;
    }
}

/* The symbol's number in the handle's table, adding it when new; < 0 on error. */
static int sym_of(handle *h, const uint8_t *s, int32_t n) {
    uint32_t ns = atomic_load_explicit(&h->nsyms, memory_order_relaxed); /* only this thread writes it */
    if (h->last_sym < ns && h->syms[h->last_sym].len == n && memcmp(h->syms[h->last_sym].name, s, (size_t)n) == 0)
        return (int)h->last_sym;
    for (uint32_t i = 0; i < ns; i++) {
        if (h->syms[i].len == n && memcmp(h->syms[i].name, s, (size_t)n) == 0) {
            h->last_sym = i;
            return (int)i;
        }
    }
    int rc = check_str(s, n, 1, 64);
    if (rc) return rc;
    if (ns >= MAX_SYMS) return MT5B_E_FULL;
    memcpy(h->syms[ns].name, s, (size_t)n);
    h->syms[ns].len = (uint8_t)n;
    h->cursor[ns].ms = 0;
    h->cursor[ns].count = 0;
    atomic_store_explicit(&h->nsyms, ns + 1, memory_order_release);
    h->last_sym = ns;
    return (int)ns;
}

static int tick_ok(int64_t time_msc, double bid, double ask, double last, int64_t volume, double volume_real) {
    return time_ok(time_msc) && price_ok(bid) && price_ok(ask) && price_ok(last) && volume >= 0 &&
           volume <= MP_MAX_SAFE && price_ok(volume_real);
}

static void push_tick(handle *h, tick_t *t) {
    tick_t dropped;
    if (ring_push(&h->ring, t, &dropped)) gap_note(h, &dropped);
}

MT5B_API int32_t MT5B_CALL mt5b_tick(int64_t hid, const uint8_t *symbol, int32_t symbol_len, int64_t time_msc,
                                     double bid, double ask, double last, int64_t volume, double volume_real,
                                     int32_t flags) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    if (!h->started) return MT5B_E_STATE;
    if (!tick_ok(time_msc, bid, ask, last, volume, volume_real)) return MT5B_E_ARG;
    if (symbol_len < 1 || symbol_len > 64 || !symbol) return MT5B_E_ARG;
    int sym = sym_of(h, symbol, symbol_len);
    if (sym < 0) return sym;
    tick_t t;
    t.time_msc = time_msc;
    t.bid = bid;
    t.ask = ask;
    t.last = last;
    t.volume = volume;
    t.volume_real = volume_real;
    t.flags = (uint32_t)flags;
    t.sym = (uint16_t)sym;
    if (h->cursor[sym].ms == time_msc) {
        t.idx = h->cursor[sym].count++;
    } else {
        h->cursor[sym].ms = time_msc;
        h->cursor[sym].count = 1;
        t.idx = 0;
    }
    push_tick(h, &t);
    if (h->ndirty) gap_flush_try(h);
    return 0;
}

MT5B_API int32_t MT5B_CALL mt5b_ticks(int64_t hid, const uint8_t *symbol, int32_t symbol_len, const int64_t *time_msc,
                                      const double *bid, const double *ask, const double *last,
                                      const int64_t *volume, const double *volume_real, const int32_t *flags,
                                      int32_t count, int32_t first_index) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    if (!h->started) return MT5B_E_STATE;
    if (count < 0 || first_index < 0) return MT5B_E_ARG;
    if (count == 0) return 0;
    if (!time_msc || !bid || !ask || !last || !volume || !volume_real || !flags) return MT5B_E_ARG;
    if (symbol_len < 1 || symbol_len > 64 || !symbol) return MT5B_E_ARG;
    for (int32_t i = 0; i < count; i++)
        if (!tick_ok(time_msc[i], bid[i], ask[i], last[i], volume[i], volume_real[i])) return MT5B_E_ARG;
    int sym = sym_of(h, symbol, symbol_len);
    if (sym < 0) return sym;
    /* the EA's cursor says how many ticks at time_msc[0] it sent before */
    h->cursor[sym].ms = time_msc[0];
    h->cursor[sym].count = (uint32_t)first_index;
    for (int32_t i = 0; i < count; i++) {
        tick_t t;
        t.time_msc = time_msc[i];
        t.bid = bid[i];
        t.ask = ask[i];
        t.last = last[i];
        t.volume = volume[i];
        t.volume_real = volume_real[i];
        t.flags = (uint32_t)flags[i];
        t.sym = (uint16_t)sym;
        if (h->cursor[sym].ms == time_msc[i]) {
            t.idx = h->cursor[sym].count++;
        } else {
            h->cursor[sym].ms = time_msc[i];
            h->cursor[sym].count = 1;
            t.idx = 0;
        }
        push_tick(h, &t);
    }
    if (h->ndirty) gap_flush_try(h);
    return count;
}

MT5B_API int32_t MT5B_CALL mt5b_tick_cursor(int64_t hid, const uint8_t *symbol, int32_t symbol_len, int64_t *time_msc,
                                            int32_t *count) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    if (!time_msc || !count) return MT5B_E_ARG;
    int rc = check_str(symbol, symbol_len, 1, 64);
    if (rc) return rc;
    /* the EA thread is the only writer of syms: no lock to look one up */
    uint32_t ns = atomic_load_explicit(&h->nsyms, memory_order_relaxed);
    int found = 0;
    plat_lock(&h->mu);
    for (uint32_t i = 0; i < ns; i++) {
        if (h->syms[i].len == symbol_len && memcmp(h->syms[i].name, symbol, (size_t)symbol_len) == 0) {
            if (h->acked_cursor[i].count > 0) {
                *time_msc = h->acked_cursor[i].ms;
                *count = (int32_t)h->acked_cursor[i].count;
                found = 1;
            }
            break;
        }
    }
    plat_unlock(&h->mu);
    return found;
}

/* ---------- durable messages (EA thread) ---------- */

static dmsg *dmsg_new(int type, const body_t *m) {
    dmsg *d = malloc(sizeof *d + m->b.len);
    if (!d) return NULL;
    d->num = 0;
    d->len = (uint32_t)m->b.len;
    d->fields = m->fields;
    d->type = type;
    d->tsym = -1;
    d->tlast_msc = 0;
    d->tlast_count = 0;
    if (m->b.len) memcpy(d->body, m->b.p, m->b.len);
    return d;
}

/* Queues under the lock; `limit`: the EA's capacity, or the slack-extended one for the I/O thread. */
static int64_t queue_put(handle *h, dmsg *d, uint32_t limit) {
    plat_lock(&h->mu);
    if (h->q_count >= limit) {
        plat_unlock(&h->mu);
        free(d);
        return MT5B_E_FULL;
    }
    int64_t num = d->num = h->next_num++;
    h->q[(h->q_head + h->q_count) % h->q_slots] = d;
    h->q_count++;
    atomic_store(&h->st[MT5B_STAT_QUEUE_DEPTH], h->q_count);
    plat_unlock(&h->mu);
    return num; /* d may be acknowledged and freed by now */
}

static int64_t enqueue(handle *h, int type, body_t *m) {
    if (m->b.oom) {
        buf_free(&m->b);
        return MT5B_E_NOMEM;
    }
    if (m->b.len + 64 > DEFAULT_MAX_FRAME) {
        buf_free(&m->b);
        return MT5B_E_ARG;
    }
    dmsg *d = dmsg_new(type, m);
    buf_free(&m->b);
    if (!d) return MT5B_E_NOMEM;
    int64_t num = queue_put(h, d, h->queue_cap);
    /* its seq under the current numbering (provisional before the first welcome: base 0) */
    return num > 0 ? num + atomic_load(&h->st[MT5B_STAT_SEQ_BASE]) : num;
}

#define DURABLE_PROLOGUE                         \
    handle *h = lookup(hid);                     \
    if (!h) return MT5B_E_HANDLE;                \
    if (!h->started) return MT5B_E_STATE;        \
    if (h->ndirty) gap_flush_try(h);

static odbl od_neg_absent(double v) {
    odbl o = {v, v >= 0 && finite(v) ? OPT_SET : OPT_ABSENT};
    return o;
}

MT5B_API int64_t MT5B_CALL mt5b_symbol_spec2(int64_t hid, const uint8_t *symbol, int32_t symbol_len, int32_t digits,
                                             double point, double contract_size, double tick_size, double tick_value,
                                             double volume_min, double volume_max, double volume_step,
                                             int32_t chart_mode) {
    DURABLE_PROLOGUE
    int rc = check_str(symbol, symbol_len, 1, 64);
    if (rc) return rc;
    if (digits < 0 || digits > 16 || !finite(point) || point <= 0) return MT5B_E_ARG;
    /* a mode MT5 adds later would be refused by the engine as BAD_FIELD: refuse it here instead */
    if (chart_mode < -1 || chart_mode > 1) return MT5B_E_ARG;
    symbol_spec_t s;
    memset(&s, 0, sizeof s);
    s.symbol = os(symbol, symbol_len);
    s.digits = digits;
    s.point = point;
    s.contract_size = od_neg_absent(contract_size);
    s.tick_size = od_neg_absent(tick_size);
    s.tick_value = od_neg_absent(tick_value);
    s.volume_min = od_neg_absent(volume_min);
    s.volume_max = od_neg_absent(volume_max);
    s.volume_step = od_neg_absent(volume_step);
    s.chart_mode.v = chart_mode;
    s.chart_mode.st = chart_mode < 0 ? OPT_ABSENT : OPT_SET;
    body_t m = {{0}, 0};
    body_symbol_spec(&m, &s);
    return enqueue(h, MT_SYMBOL_SPEC, &m);
}

/* The 0.1 signature, kept so that EAs compiled against it go on working with this DLL. */
MT5B_API int64_t MT5B_CALL mt5b_symbol_spec(int64_t hid, const uint8_t *symbol, int32_t symbol_len, int32_t digits,
                                            double point, double contract_size, double tick_size, double tick_value,
                                            double volume_min, double volume_max, double volume_step) {
    return mt5b_symbol_spec2(hid, symbol, symbol_len, digits, point, contract_size, tick_size, tick_value, volume_min,
                             volume_max, volume_step, -1);
}

MT5B_API int64_t MT5B_CALL mt5b_deal(int64_t hid, int64_t ticket, int64_t order, int64_t position_id, int64_t time_msc,
                                     int32_t deal_type, int32_t entry, const uint8_t *symbol, int32_t symbol_len,
                                     double volume, double price, double profit, double commission, double swap,
                                     double fee, int64_t magic, int32_t reason, const uint8_t *comment,
                                     int32_t comment_len) {
    DURABLE_PROLOGUE
    int rc;
    if ((rc = check_str(symbol, symbol_len, 0, 64)) || (rc = check_str(comment, comment_len, 0, 128))) return rc;
    if (ticket < 1 || ticket > MP_MAX_SAFE || order < 0 || order > MP_MAX_SAFE || position_id < 0 ||
        position_id > MP_MAX_SAFE || !time_ok(time_msc) || deal_type < 0 || deal_type > 17 || entry < 0 || entry > 3 ||
        !price_ok(volume) || !price_ok(price) || !finite(profit) || !finite(commission) || !finite(swap) ||
        !finite(fee) || !safe_int(magic) || reason < 0 || reason > 10)
        return MT5B_E_ARG;
    deal_t d;
    memset(&d, 0, sizeof d);
    d.ticket = ticket;
    d.order = order;
    d.position_id = position_id;
    d.time_msc = time_msc;
    d.deal_type = deal_type;
    d.entry = entry;
    d.symbol = os(symbol, symbol_len);
    d.volume = volume;
    d.price = price;
    d.profit = profit;
    d.commission = commission;
    d.swap = swap;
    d.fee = fee;
    d.magic = magic;
    d.reason = reason;
    d.comment = os(comment, comment_len);
    body_t m = {{0}, 0};
    body_deal(&m, &d);
    return enqueue(h, MT_DEAL, &m);
}

MT5B_API int32_t MT5B_CALL mt5b_positions_begin(int64_t hid, int64_t time_msc) {
    DURABLE_PROLOGUE
    if (!time_ok(time_msc)) return MT5B_E_ARG;
    h->pos_rows.len = 0;
    h->pos_rows.oom = 0;
    h->pos_count = 0;
    h->pos_time = time_msc;
    h->pos_open = 1;
    return 0;
}

MT5B_API int32_t MT5B_CALL mt5b_positions_add(int64_t hid, int64_t identifier, int64_t ticket, const uint8_t *symbol,
                                              int32_t symbol_len, int32_t position_type, double volume,
                                              double price_open, double price_current, double sl, double tp,
                                              double profit, double swap, int64_t magic, int64_t time_msc) {
    DURABLE_PROLOGUE
    if (!h->pos_open) return MT5B_E_STATE;
    int rc = check_str(symbol, symbol_len, 1, 64);
    if (rc) return rc;
    if (identifier < 1 || identifier > MP_MAX_SAFE || ticket < 1 || ticket > MP_MAX_SAFE || position_type < 0 ||
        position_type > 1 || !price_ok(volume) || !price_ok(price_open) || !price_ok(price_current) || !price_ok(sl) ||
        !price_ok(tp) || !finite(profit) || !finite(swap) || !safe_int(magic) || !time_ok(time_msc))
        return MT5B_E_ARG;
    if (h->pos_count >= 10000) return MT5B_E_FULL;
    position_t p;
    memset(&p, 0, sizeof p);
    p.identifier = identifier;
    p.ticket = ticket;
    p.symbol = os(symbol, symbol_len);
    p.position_type = position_type;
    p.volume = volume;
    p.price_open = price_open;
    p.price_current = price_current;
    p.sl = sl;
    p.tp = tp;
    p.profit = profit;
    p.swap = swap;
    p.magic = magic;
    p.time_msc = time_msc;
    proto_position(&h->pos_rows, &p);
    if (h->pos_rows.oom) return MT5B_E_NOMEM;
    h->pos_count++;
    return (int32_t)h->pos_count;
}

MT5B_API int64_t MT5B_CALL mt5b_positions_end(int64_t hid) {
    DURABLE_PROLOGUE
    if (!h->pos_open) return MT5B_E_STATE;
    h->pos_open = 0;
    body_t m = {{0}, 0};
    body_positions(&m, h->pos_time, h->pos_rows.p, h->pos_rows.len, h->pos_count);
    h->pos_rows.len = 0;
    h->pos_count = 0;
    return enqueue(h, MT_POSITIONS_SNAPSHOT, &m);
}

MT5B_API int64_t MT5B_CALL mt5b_account_snapshot(int64_t hid, int64_t time_msc, double balance, double equity,
                                                 double margin, double free_margin, double margin_level,
                                                 double profit, int32_t open_positions, double open_volume) {
    DURABLE_PROLOGUE
    if (!time_ok(time_msc) || !finite(balance) || !finite(equity) || !price_ok(margin) || !finite(free_margin) ||
        !price_ok(margin_level) || !finite(profit) || open_positions < 0 || !price_ok(open_volume))
        return MT5B_E_ARG;
    account_snapshot_t a = {time_msc, balance, equity, margin, free_margin, margin_level, profit, open_positions,
                            open_volume};
    body_t m = {{0}, 0};
    body_account_snapshot(&m, &a);
    return enqueue(h, MT_ACCOUNT_SNAPSHOT, &m);
}

static const char *const STATES[] = {"running", "paused", "stopping", "error"};
static const char *const LEVELS[] = {"debug", "info", "warn", "error"};
static const char *const ACKS[] = {"accepted", "rejected", "duplicate", "expired"};

MT5B_API int64_t MT5B_CALL mt5b_status(int64_t hid, int64_t time_msc, int32_t state, int32_t terminal_trade_allowed,
                                       int32_t ea_trade_allowed, int32_t connected, int32_t last_error,
                                       const uint8_t *message, int32_t message_len) {
    DURABLE_PROLOGUE
    int rc = check_str(message, message_len, 0, 8192);
    if (rc) return rc;
    if (!time_ok(time_msc) || state < 0 || state > 3) return MT5B_E_ARG;
    ea_status_t s;
    memset(&s, 0, sizeof s);
    s.time_msc = time_msc;
    s.state = os_c(STATES[state]);
    s.terminal_trade_allowed = terminal_trade_allowed != 0;
    s.ea_trade_allowed = ea_trade_allowed != 0;
    plat_lock(&h->mu);
    s.queue_depth = h->q_count;
    plat_unlock(&h->mu);
    s.dropped_ticks = (int64_t)atomic_load(&h->ring.dropped);
    s.last_error.v = last_error;
    s.last_error.st = last_error >= 0 ? OPT_SET : OPT_ABSENT;
    s.message = os_opt(message, message_len);
    s.connected.v = connected != 0;
    s.connected.st = connected >= 0 ? OPT_SET : OPT_ABSENT;
    body_t m = {{0}, 0};
    body_ea_status(&m, &s);
    return enqueue(h, MT_EA_STATUS, &m);
}

MT5B_API int64_t MT5B_CALL mt5b_log(int64_t hid, int64_t time_msc, int32_t level, const uint8_t *message,
                                    int32_t message_len) {
    DURABLE_PROLOGUE
    int rc = check_str(message, message_len, 0, 8192);
    if (rc) return rc;
    if (!time_ok(time_msc) || level < 0 || level > 3) return MT5B_E_ARG;
    body_t m = {{0}, 0};
    body_log(&m, time_msc, os_c(LEVELS[level]), os(message, message_len));
    return enqueue(h, MT_LOG, &m);
}

MT5B_API int64_t MT5B_CALL mt5b_command_ack(int64_t hid, const uint8_t *id, int32_t id_len, int32_t status,
                                            const uint8_t *reason, int32_t reason_len) {
    DURABLE_PROLOGUE
    int rc;
    if ((rc = check_id(id, id_len)) || (rc = check_str(reason, reason_len, 0, 8192))) return rc;
    if (status < 0 || status > 3) return MT5B_E_ARG;
    body_t m = {{0}, 0};
    body_command_ack(&m, os(id, id_len), os_c(ACKS[status]), os_opt(reason, reason_len));
    return enqueue(h, MT_COMMAND_ACK, &m);
}

MT5B_API int64_t MT5B_CALL mt5b_command_result(int64_t hid, const uint8_t *id, int32_t id_len, int32_t ok,
                                               const uint8_t *result_json, int32_t result_len,
                                               const uint8_t *error, int32_t error_len) {
    DURABLE_PROLOGUE
    int rc;
    if ((rc = check_id(id, id_len)) || (rc = check_str(error, error_len, 0, 8192)) ||
        (rc = check_str(result_json, result_len, 0, 1 << 20)))
        return rc;
    buf_t result = {0};
    if (result_len > 0) {
        char why[96];
        if (mp_from_json((const char *)result_json, (size_t)result_len, &result, 8, 1000, 1, why, sizeof why) != 0) {
            buf_free(&result);
            set_error(h, 0, "command_result: result_json: %s%s", why, NULL);
            return MT5B_E_ARG;
        }
    }
    body_t m = {{0}, 0};
    body_command_result(&m, os(id, id_len), ok != 0, result.p, result.len, os_opt(error, error_len));
    buf_free(&result);
    return enqueue(h, MT_COMMAND_RESULT, &m);
}

MT5B_API int64_t MT5B_CALL mt5b_bar_batch(int64_t hid, const uint8_t *symbol, int32_t symbol_len, const uint8_t *timeframe,
                                          int32_t timeframe_len, const int64_t *time_msc, const double *open,
                                          const double *high, const double *low, const double *close,
                                          const int64_t *tick_volume, const int64_t *real_volume, const int32_t *spread,
                                          int32_t count) {
    DURABLE_PROLOGUE
    int rc;
    if ((rc = check_str(symbol, symbol_len, 1, 64)) || (rc = check_str(timeframe, timeframe_len, 1, 3))) return rc;
    if (!timeframe_ok(timeframe, timeframe_len) || count < 1 || count > 5000 || !time_msc || !open || !high || !low ||
        !close || !tick_volume || !real_volume || !spread)
        return MT5B_E_ARG;
    for (int32_t i = 0; i < count; i++) {
        /* the engine refuses the whole batch for one bad bar: refuse it here, where the EA can say which */
        if (!time_ok(time_msc[i]) || !price_ok(open[i]) || !price_ok(high[i]) || !price_ok(low[i]) || !price_ok(close[i]) ||
            low[i] > open[i] || low[i] > close[i] || high[i] < open[i] || high[i] < close[i] || tick_volume[i] < 0 ||
            tick_volume[i] > MP_MAX_SAFE || real_volume[i] < 0 || real_volume[i] > MP_MAX_SAFE || spread[i] < 0)
            return MT5B_E_ARG;
    }
    bar_batch_t b = {symbol, timeframe, symbol_len, timeframe_len, (uint32_t)count, time_msc, open, high, low, close,
                     tick_volume, real_volume, spread};
    body_t m = {{0}, 0};
    body_bar_batch(&m, &b);
    return enqueue(h, MT_BAR_BATCH, &m);
}

MT5B_API int64_t MT5B_CALL mt5b_order_event(int64_t hid, int64_t ticket, int64_t time_msc, const uint8_t *symbol,
                                            int32_t symbol_len, int32_t order_type, int32_t state, double volume_initial,
                                            double volume_current, double price_open, double sl, double tp, int64_t magic,
                                            int64_t position_id, const uint8_t *comment, int32_t comment_len,
                                            int32_t event) {
    DURABLE_PROLOGUE
    int rc;
    if ((rc = check_str(symbol, symbol_len, 1, 64)) || (rc = check_str(comment, comment_len, 0, 128))) return rc;
    if (ticket < 1 || ticket > MP_MAX_SAFE || !time_ok(time_msc) || order_type < 0 || order_type > 8 || state < 0 ||
        state > 9 || !price_ok(volume_initial) || !price_ok(volume_current) || !price_ok(price_open) || !price_ok(sl) ||
        !price_ok(tp) || !safe_int(magic) || position_id < 0 || position_id > MP_MAX_SAFE || event < -1 || event > 10)
        return MT5B_E_ARG;
    order_event_t o;
    memset(&o, 0, sizeof o);
    o.ticket = ticket;
    o.time_msc = time_msc;
    o.symbol = os(symbol, symbol_len);
    o.order_type = order_type;
    o.state = state;
    o.volume_initial = volume_initial;
    o.volume_current = volume_current;
    o.price_open = price_open;
    /* MT5 reports every one of these (0 = none for SL/TP and position): always sent */
    o.sl.v = sl;
    o.sl.st = OPT_SET;
    o.tp.v = tp;
    o.tp.st = OPT_SET;
    o.magic.v = magic;
    o.magic.st = OPT_SET;
    o.position_id.v = position_id;
    o.position_id.st = OPT_SET;
    o.comment = os_opt(comment, comment_len);
    o.event.v = event;
    o.event.st = event >= 0 ? OPT_SET : OPT_ABSENT;
    body_t m = {{0}, 0};
    body_order_event(&m, &o);
    return enqueue(h, MT_ORDER_EVENT, &m);
}

static const char *const SIGNAL_TYPES[] = {"buy", "sell", "close", "hold"};

MT5B_API int64_t MT5B_CALL mt5b_signal(int64_t hid, int64_t time_msc, const uint8_t *symbol, int32_t symbol_len,
                                       const uint8_t *signal_type, int32_t signal_type_len, double price, double confidence,
                                       const uint8_t *strategy, int32_t strategy_len, const uint8_t *timeframe,
                                       int32_t timeframe_len, const uint8_t *reason, int32_t reason_len,
                                       const uint8_t *metadata_json, int32_t metadata_len, const uint8_t *signal_id,
                                       int32_t signal_id_len) {
    DURABLE_PROLOGUE
    int rc;
    if ((rc = check_str(symbol, symbol_len, 1, 64)) || (rc = check_str(signal_type, signal_type_len, 1, 5)) ||
        (rc = check_str(strategy, strategy_len, 0, 128)) || (rc = check_str(timeframe, timeframe_len, 0, 3)) ||
        (rc = check_str(reason, reason_len, 0, 8192)) || (rc = check_str(metadata_json, metadata_len, 0, 1 << 20)) ||
        (signal_id_len > 0 && (rc = check_id(signal_id, signal_id_len))))
        return rc;
    int type_ok = 0;
    for (size_t i = 0; i < sizeof SIGNAL_TYPES / sizeof *SIGNAL_TYPES; i++)
        if (strlen(SIGNAL_TYPES[i]) == (size_t)signal_type_len && memcmp(SIGNAL_TYPES[i], signal_type, (size_t)signal_type_len) == 0)
            type_ok = 1;
    /* confidence: < 0 leaves it out; NaN is refused, not taken for "none" */
    if (!type_ok || !time_ok(time_msc) || !price_ok(price) || confidence != confidence || confidence > 1 ||
        (timeframe_len > 0 && !timeframe_ok(timeframe, timeframe_len)))
        return MT5B_E_ARG;
    buf_t meta = {0};
    if (metadata_len > 0) {
        char why[96];
        /* the protocol's free-form maps (2.5): JSON-like, at most 8 levels and 1000 values */
        if (mp_from_json((const char *)metadata_json, (size_t)metadata_len, &meta, 8, 1000, 1, why, sizeof why) != 0) {
            buf_free(&meta);
            set_error(h, 0, "signal: metadata_json: %s%s", why, NULL);
            return MT5B_E_ARG;
        }
    }
    signal_t g;
    memset(&g, 0, sizeof g);
    g.time_msc = time_msc;
    g.symbol = os(symbol, symbol_len);
    g.signal_type = os(signal_type, signal_type_len);
    g.price = price;
    g.confidence.v = confidence;
    g.confidence.st = confidence >= 0 ? OPT_SET : OPT_ABSENT;
    g.strategy = os_opt(strategy, strategy_len);
    g.timeframe = os_opt(timeframe, timeframe_len);
    g.reason = os_opt(reason, reason_len);
    g.metadata = meta.p;
    g.metadata_len = meta.len;
    g.signal_id = os_opt(signal_id, signal_id_len);
    body_t m = {{0}, 0};
    body_signal(&m, &g);
    buf_free(&meta);
    return enqueue(h, MT_SIGNAL, &m);
}

/* ---------- commands, stats, errors (EA thread) ---------- */

MT5B_API int32_t MT5B_CALL mt5b_poll_command(int64_t hid, uint8_t *id, int32_t id_cap, int32_t *id_len, uint8_t *type,
                                             int32_t type_cap, int32_t *type_len, uint8_t *payload_json,
                                             int32_t payload_cap, int32_t *payload_len, int64_t *expires_at) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    if (!h->started) return MT5B_E_STATE;
    if (id_cap < 0 || type_cap < 0 || payload_cap < 0) return MT5B_E_ARG;
    plat_lock(&h->mu);
    if (h->in_count == 0) {
        plat_unlock(&h->mu);
        return 0;
    }
    cmd_entry *c = &h->inbox[h->in_head];
    if (id_len) *id_len = c->id_len;
    if (type_len) *type_len = c->type_len;
    if (payload_len) *payload_len = c->payload_len;
    if (expires_at) *expires_at = c->expires_at;
    if (!id || !type || !payload_json || id_cap < c->id_len || type_cap < c->type_len || payload_cap < c->payload_len) {
        plat_unlock(&h->mu);
        return MT5B_E_BUFFER;
    }
    memcpy(id, c->id, (size_t)c->id_len);
    memcpy(type, c->type, (size_t)c->type_len);
    memcpy(payload_json, c->payload, (size_t)c->payload_len);
    free(c->payload);
    c->payload = NULL;
    h->in_head = (h->in_head + 1) % h->inbox_cap;
    h->in_count--;
    atomic_store(&h->st[MT5B_STAT_COMMANDS_WAITING], h->in_count);
    plat_unlock(&h->mu);
    return 1;
}

MT5B_API int64_t MT5B_CALL mt5b_engine_time(int64_t hid) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    if (!atomic_load(&h->has_offset)) return 0;
    return plat_utc_ms() + atomic_load(&h->engine_offset);
}

MT5B_API int32_t MT5B_CALL mt5b_stats(int64_t hid, int64_t *out, int32_t n) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    if (n < 0 || (n > 0 && !out)) return MT5B_E_ARG;
    if (h->ndirty && h->started) gap_flush_try(h);
    if (n > MT5B_STAT_COUNT) n = MT5B_STAT_COUNT;
    for (int32_t i = 0; i < n; i++) {
        if (i == MT5B_STAT_TICKS_QUEUED)
            out[i] = h->started ? (int64_t)ring_count(&h->ring) : 0;
        else if (i == MT5B_STAT_TICKS_DROPPED)
            out[i] = h->started ? (int64_t)atomic_load(&h->ring.dropped) : 0;
        else
            out[i] = atomic_load(&h->st[i]);
    }
    return n;
}

MT5B_API int32_t MT5B_CALL mt5b_last_error(int64_t hid, uint8_t *out, int32_t cap) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    plat_lock(&h->mu);
    int32_t n = (int32_t)strlen(h->err_text);
    if (!out || cap < n) {
        plat_unlock(&h->mu);
        return MT5B_E_BUFFER;
    }
    memcpy(out, h->err_text, (size_t)n);
    plat_unlock(&h->mu);
    return n;
}

static void handle_free(handle *h) {
    if (h->started) {
        for (uint32_t i = 0; i < h->q_count; i++) free(h->q[(h->q_head + i) % h->q_slots]);
        for (uint32_t i = 0; i < h->in_count; i++) free(h->inbox[(h->in_head + i) % h->inbox_cap].payload);
        free(h->q);
        free(h->inbox);
        ring_free(&h->ring);
    }
    buf_free(&h->pos_rows);
    plat_mutex_destroy(&h->mu);
    free(h);
}

MT5B_API int32_t MT5B_CALL mt5b_close(int64_t hid, int32_t timeout_ms) {
    handle *h = lookup(hid);
    if (!h) return MT5B_E_HANDLE;
    if (timeout_ms < 0) timeout_ms = 0;
    /* no new calls on this handle from now on */
    plat_lock(&g_mu);
    atomic_store_explicit(&g_slots[h->slot], NULL, memory_order_release);
    plat_unlock(&g_mu);
    if (h->started) {
        if (h->ndirty) gap_flush_try(h);
        atomic_store(&h->close_deadline, plat_mono_ms() + timeout_ms);
        atomic_store(&h->closing, 1);
        /* the I/O thread sends goodbye, closes and lets go of the handle */
        while (!atomic_load(&h->detached)) plat_sleep_ms(1);
        plat_lock(&g_life);
        plat_lock(&g_mu);
        int last = g_nactive == 0;
        plat_unlock(&g_mu);
        if (last && g_running) {
            atomic_store(&g_stop, 1);
            plat_thread_join(g_thread);
            g_running = 0;
        }
        plat_unlock(&g_life);
    }
    handle_free(h);
    return 0;
}

/* ====================================================================================== */
/* The I/O thread                                                                          */
/* ====================================================================================== */

typedef struct {
    tick_t *pop, *sorted;
    int64_t *time_msc, *volume;
    double *bid, *ask, *last, *volume_real;
    uint32_t *flags;
    buf_t frame;
    buf_t payload;
    uint8_t rnd[256];
    size_t rnd_pos;
    uint64_t xs; /* fallback if the OS RNG fails */
} io_ctx;

static void io_random(io_ctx *c, void *out, size_t n) {
    uint8_t *o = out;
    for (size_t i = 0; i < n; i++) {
        if (c->rnd_pos >= sizeof c->rnd) {
            if (plat_random(c->rnd, sizeof c->rnd) != 0) {
                for (size_t k = 0; k < sizeof c->rnd; k++) {
                    c->xs ^= c->xs << 13;
                    c->xs ^= c->xs >> 7;
                    c->xs ^= c->xs << 17;
                    c->rnd[k] = (uint8_t)c->xs;
                }
            }
            c->rnd_pos = 0;
        }
        o[i] = c->rnd[c->rnd_pos++];
    }
}

static void write_frame(io_ctx *c, handle *h, int opcode, const uint8_t *p, size_t n) {
    uint8_t mask[4];
    io_random(c, mask, 4);
    ws_write_frame(&h->s.out, opcode, 1, p, n, mask);
}

static void write_close(io_ctx *c, handle *h, int code, const char *reason) {
    uint8_t mask[4];
    io_random(c, mask, 4);
    ws_write_close(&h->s.out, code, reason, mask);
}

static int engine_code(const char *s, uint32_t n) {
    static const char *const codes[] = {"BAD_FRAME",      "BAD_MESSAGE",   "UNKNOWN_TYPE",    "BAD_FIELD",
                                        "HELLO_REQUIRED", "UNSUPPORTED_PROTOCOL", "AUTH_FAILED", "FORBIDDEN",
                                        "FRAME_TOO_LARGE", "RATE_LIMITED", "SEQ_GAP",         "SEQ_REGRESSION",
                                        "STORAGE_FAILED", "REPLACED",      "SHUTTING_DOWN",   "INTERNAL"};
    for (int i = 0; i < 16; i++)
        if (mp_key_is(s, n, codes[i])) return MT5B_ERR_ENGINE + 1 + i;
    return MT5B_ERR_ENGINE + 99;
}

static void detach(handle *h) {
    session_t *s = &h->s;
    if (s->sock != PLAT_BAD_SOCK) plat_close(s->sock);
    s->sock = PLAT_BAD_SOCK;
    buf_free(&s->out);
    buf_free(&s->in);
    ws_reader_free(&s->rx);
    atomic_store(&h->st[MT5B_STAT_CONNECTED], 0);
    plat_lock(&g_mu);
    for (int i = 0; i < g_nactive; i++) {
        if (g_active[i] == h) {
            g_active[i] = g_active[--g_nactive];
            break;
        }
    }
    plat_unlock(&g_mu);
    atomic_store(&h->detached, 1);
}

/* Closes the connection and plans the next attempt. */
static void conn_drop(io_ctx *c, handle *h, int64_t now, int64_t code, const char *why, int close_code) {
    session_t *s = &h->s;
    if (s->sock != PLAT_BAD_SOCK) plat_close(s->sock);
    s->sock = PLAT_BAD_SOCK;
    s->out.len = 0;
    s->out_off = 0;
    s->in.len = 0;
    ws_reader_reset(&s->rx);
    s->sent_upto = s->acked;
    s->goodbye_sent = 0;
    atomic_store(&h->st[MT5B_STAT_CONNECTED], 0);
    if (s->opened_at && now - s->opened_at >= 60000) s->backoff = h->backoff_min;
    uint16_t r16;
    io_random(c, &r16, 2);
    double jitter = 0.8 + 0.4 * ((double)r16 / 65535.0);
    int64_t delay = (int64_t)((double)s->backoff * jitter);
    s->backoff = s->backoff * 2 > h->backoff_max ? h->backoff_max : s->backoff * 2;
    if (close_code == 4001 || close_code == 4003 || close_code == 4004 || close_code == 4009)
        if (delay < 60000) delay = 60000;
    s->next_attempt = now + delay;
    s->opened_at = 0;
    s->state = ST_IDLE;
    if (why) set_error(h, code, "%s%s", why, NULL);
}

static void conn_start(io_ctx *c, handle *h, int64_t now) {
    session_t *s = &h->s;
    char err[160];
    if (s->attempts++ > 0) atomic_fetch_add(&h->st[MT5B_STAT_RECONNECTS], 1);
    if (plat_connect_start(h->host, h->port, &s->sock, err, sizeof err) != 0) {
        s->sock = PLAT_BAD_SOCK;
        conn_drop(c, h, now, MT5B_ERR_CONNECT, err, 0);
        return;
    }
    s->state = ST_CONNECTING;
    s->deadline = now + CONNECT_TIMEOUT_MS;
}

static void send_hello(io_ctx *c, handle *h) {
    hello_t hl;
    memset(&hl, 0, sizeof hl);
    hl.token = os(h->token, h->token_len);
    hl.instance_id = os(h->instance, h->instance_len);
    hl.bridge_name = os_c("mt5bridge");
    hl.bridge_version = os_c(MT5B_VERSION);
    hl.terminal_build.v = h->terminal_build;
    hl.terminal_build.st = h->terminal_build >= 0 ? OPT_SET : OPT_ABSENT;
    hl.login = h->login;
    hl.server = os(h->server, h->server_len);
    hl.company = os_opt(h->company, h->company_len);
    hl.currency = os_opt(h->currency, h->currency_len);
    hl.leverage.v = h->leverage;
    hl.leverage.st = h->leverage > 0 ? OPT_SET : OPT_ABSENT;
    hl.margin_mode.v = h->margin_mode;
    hl.margin_mode.st = h->margin_mode >= 0 ? OPT_SET : OPT_ABSENT;
    hl.trade_mode.v = h->trade_mode;
    hl.trade_mode.st = h->trade_mode >= 0 ? OPT_SET : OPT_ABSENT;
    hl.server_utc_offset_s.v = h->utc_offset;
    hl.server_utc_offset_s.st = h->utc_offset >= -43200 && h->utc_offset <= 50400 ? OPT_SET : OPT_ABSENT;
    hl.ea_name = os(h->ea_name, h->ea_name_len);
    hl.ea_version = os_opt(h->ea_version, h->ea_version_len);
    hl.magic.v = h->magic;
    hl.magic.st = OPT_SET;
    hl.ea_symbol = os_opt(h->ea_symbol, h->ea_symbol_len);
    hl.timeframe = os_opt(h->timeframe, h->timeframe_len);
    hl.strategy = os_opt(h->strategy, h->strategy_len);
    if (h->s.base_set && h->s.base + h->s.acked > 0) {
        hl.last_acked_seq.v = h->s.base + h->s.acked;
        hl.last_acked_seq.st = OPT_SET;
    }
    c->payload.len = 0;
    proto_hello(&c->payload, &hl);
    write_frame(c, h, WS_OP_BINARY, c->payload.p, c->payload.len);
}

/* Drops acknowledged messages up to number `upto`. */
static void ack_upto(handle *h, int64_t upto) {
    session_t *s = &h->s;
    if (upto > s->sent_max) upto = s->sent_max; /* nothing we did not send can be acknowledged */
    if (upto <= s->acked) return;
    plat_lock(&h->mu);
    while (h->q_count > 0) {
        dmsg *d = h->q[h->q_head];
        if (d->num > upto) break;
        /* one symbol's batches are queued in tick order, so the last acknowledged is the newest */
        if (d->tsym >= 0) {
            h->acked_cursor[d->tsym].ms = d->tlast_msc;
            h->acked_cursor[d->tsym].count = d->tlast_count;
        }
        free(d);
        h->q[h->q_head] = NULL;
        h->q_head = (h->q_head + 1) % h->q_slots;
        h->q_count--;
    }
    atomic_store(&h->st[MT5B_STAT_QUEUE_DEPTH], h->q_count);
    plat_unlock(&h->mu);
    s->acked = upto;
    if (s->sent_upto < upto) s->sent_upto = upto;
    atomic_store(&h->st[MT5B_STAT_ACKED_SEQ], s->base + upto);
}

static void queue_internal_log(handle *h, const char *text) {
    body_t m = {{0}, 0};
    body_log(&m, plat_utc_ms(), os_c("error"), os_c(text));
    if (m.b.oom) {
        buf_free(&m.b);
        return;
    }
    dmsg *d = dmsg_new(MT_LOG, &m);
    buf_free(&m.b);
    if (d) queue_put(h, d, h->q_slots);
}

static void on_welcome(handle *h, const engine_msg_t *m, int64_t now) {
    session_t *s = &h->s;
    int64_t resume = m->resume_seq < 0 ? 0 : m->resume_seq;
    if (m->max_frame_bytes > 0) s->max_frame = m->max_frame_bytes;
    if (m->max_batch_ticks > 0) s->max_batch = m->max_batch_ticks;
    if (m->max_inflight > 0) s->max_inflight = m->max_inflight;
    if (m->server_time > 0) {
        atomic_store(&h->engine_offset, m->server_time - plat_utc_ms());
        atomic_store(&h->has_offset, 1);
    }
    if (!s->base_set) {
        s->base = resume;
        s->base_set = 1;
    } else {
        ack_upto(h, resume - s->base); /* resume_seq works like an ack */
    }
    /* Number what is kept from resume_seq + 1 (protocol 3.2). Normally that changes nothing; it
       does when the engine lost what it had acknowledged, or the stream holds more than we sent. */
    plat_lock(&h->mu);
    int64_t oldest = h->q_count ? h->q[h->q_head]->num : h->next_num;
    plat_unlock(&h->mu);
    int64_t base = resume + 1 - oldest;
    if (base != s->base) {
        char text[200];
        snprintf(text, sizeof text,
                 "mt5bridge: the engine resumes this stream at seq %lld, but %lld was expected; "
                 "unacknowledged messages renumbered from %lld",
                 (long long)resume, (long long)(s->base + s->acked), (long long)(resume + 1));
        s->base = base;
        queue_internal_log(h, text);
        set_error(h, 0, "%s%s", text, NULL);
    }
    atomic_store(&h->st[MT5B_STAT_SEQ_BASE], s->base);
    atomic_store(&h->st[MT5B_STAT_ACKED_SEQ], s->base + s->acked);
    s->sent_upto = s->acked;
    s->state = ST_OPEN;
    s->opened_at = now;
    s->last_batch = now;
    atomic_store(&h->st[MT5B_STAT_CONNECTED], 1);
}

static void on_command(io_ctx *c, handle *h, const engine_msg_t *m) {
    (void)c;
    if (!m->command_id || m->command_id_len < 1 || m->command_id_len > 128 || !m->command || m->command_len > 32)
        return; /* not answerable */
    buf_t json = {0};
    if (m->payload) {
        mp_rd r;
        mp_rd_init(&r, m->payload, m->payload_len);
        if (mp_to_json(&r, &json) != 0) json.len = 0;
    }
    if (json.len == 0) buf_put(&json, "{}", 2);
    if (json.oom) {
        buf_free(&json);
        return;
    }
    plat_lock(&h->mu);
    if (h->in_count < h->inbox_cap) {
        cmd_entry *e = &h->inbox[(h->in_head + h->in_count) % h->inbox_cap];
        memcpy(e->id, m->command_id, m->command_id_len);
        e->id_len = (int32_t)m->command_id_len;
        memcpy(e->type, m->command, m->command_len);
        e->type_len = (int32_t)m->command_len;
        e->payload = (char *)json.p; /* the inbox owns it now */
        e->payload_len = (int32_t)json.len;
        e->expires_at = m->expires_at;
        h->in_count++;
        atomic_store(&h->st[MT5B_STAT_COMMANDS_WAITING], h->in_count);
        plat_unlock(&h->mu);
        return;
    }
    plat_unlock(&h->mu);
    buf_free(&json);
    /* inbox full: refuse it rather than lose it silently */
    body_t b = {{0}, 0};
    body_command_ack(&b, os((const uint8_t *)m->command_id, (int32_t)m->command_id_len), os_c("rejected"),
                     os_c("the EA's command inbox is full"));
    if (!b.b.oom) {
        dmsg *d = dmsg_new(MT_COMMAND_ACK, &b);
        if (d) queue_put(h, d, h->q_slots);
    }
    buf_free(&b.b);
}

static void on_message(io_ctx *c, handle *h, const uint8_t *p, size_t n, int64_t now) {
    session_t *s = &h->s;
    engine_msg_t m;
    if (proto_decode(p, n, &m) != 0) {
        set_error(h, MT5B_ERR_PROTOCOL, "the engine sent an undecodable frame%s%s", NULL, NULL);
        return;
    }
    switch (m.type) {
    case EM_WELCOME:
        if (s->state == ST_WELCOME) on_welcome(h, &m, now);
        break;
    case EM_ACK:
        if (s->state == ST_OPEN && m.has_seq) ack_upto(h, m.seq - s->base);
        break;
    case EM_ERROR: {
        char code[40], msg[160];
        snprintf(code, sizeof code, "%.*s", (int)(m.code_len > 39 ? 39 : m.code_len), m.code ? m.code : "");
        snprintf(msg, sizeof msg, "%.*s", (int)(m.message_len > 150 ? 150 : m.message_len), m.message ? m.message : "");
        set_error(h, m.code ? engine_code(m.code, m.code_len) : MT5B_ERR_ENGINE + 99, "engine error %s: %s", code, msg);
        break;
    }
    case EM_PING:
        if (m.server_time > 0) {
            atomic_store(&h->engine_offset, m.server_time - plat_utc_ms());
            atomic_store(&h->has_offset, 1);
        }
        break;
    case EM_COMMAND:
        if (s->state == ST_OPEN) on_command(c, h, &m);
        break;
    default: break; /* unknown types are ignored (protocol 2.3) */
    }
}

static void flush_out(io_ctx *c, handle *h, int64_t now) {
    session_t *s = &h->s;
    char err[160];
    while (s->sock != PLAT_BAD_SOCK && s->out_off < s->out.len) {
        int w = plat_send(s->sock, s->out.p + s->out_off, s->out.len - s->out_off, err, sizeof err);
        if (w < 0) {
            conn_drop(c, h, now, MT5B_ERR_LOST, err, 0);
            return;
        }
        if (w == 0) break;
        s->out_off += (size_t)w;
    }
    if (s->out_off == s->out.len) {
        s->out.len = 0;
        s->out_off = 0;
    } else if (s->out_off > (1u << 20)) {
        buf_consume(&s->out, s->out_off);
        s->out_off = 0;
    }
}

static void process_input(io_ctx *c, handle *h, int64_t now) {
    session_t *s = &h->s;
    size_t off = 0;
    if (s->state == ST_HANDSHAKE) {
        char err[160];
        long used = ws_parse_response(s->in.p, s->in.len, s->key, err, sizeof err);
        if (used < 0) {
            conn_drop(c, h, now, MT5B_ERR_HANDSHAKE, err, 0);
            return;
        }
        if (used == 0) return;
        off = (size_t)used;
        s->state = ST_WELCOME;
        send_hello(c, h);
    }
    while (s->state == ST_WELCOME || s->state == ST_OPEN || s->state == ST_CLOSING) {
        size_t used;
        ws_frame_event ev;
        ws_read(&s->rx, s->in.p + off, s->in.len - off, &used, &ev);
        off += used;
        if (ev.type == WS_NEED_MORE) break;
        if (ev.type == WS_MESSAGE) {
            if (ev.opcode == WS_OP_BINARY) on_message(c, h, ev.data, ev.len, now);
            if (s->state == ST_IDLE) return; /* dropped meanwhile */
        } else if (ev.type == WS_PING) {
            if (s->state != ST_CLOSING) write_frame(c, h, WS_OP_PONG, ev.data, ev.len);
        } else if (ev.type == WS_PONG) {
            /* nothing: we do not ping */
        } else if (ev.type == WS_CLOSE) {
            int code = ev.close_code;
            if (s->state != ST_CLOSING) {
                write_close(c, h, code == 1005 ? 1000 : code, NULL);
                s->state = ST_CLOSING;
                s->deadline = now + 1000;
            }
            flush_out(c, h, now);
            char why[200];
            snprintf(why, sizeof why, "the engine closed the connection with %d%s%.*s", code, ev.len ? ": " : "",
                     (int)(ev.len > 120 ? 120 : ev.len), (const char *)ev.data);
            int64_t ecode = code == 1000 || code == 1005 ? 0 : code;
            if (code == 1009) ecode = MT5B_ERR_ENGINE + 9;
            /* when the handle is closing, step() lets it go at its next pass */
            conn_drop(c, h, now, ecode ? ecode : MT5B_ERR_LOST, why, code);
            return;
        } else if (ev.type == WS_ERROR) {
            write_close(c, h, ev.close_code, NULL);
            flush_out(c, h, now);
            conn_drop(c, h, now, MT5B_ERR_PROTOCOL, ev.err, 0);
            return;
        }
    }
    if (off) buf_consume(&s->in, off);
}

static void read_socket(io_ctx *c, handle *h, int64_t now) {
    session_t *s = &h->s;
    char err[160];
    for (int rounds = 0; rounds < 64 && s->sock != PLAT_BAD_SOCK; rounds++) {
        if (buf_reserve(&s->in, 65536) != 0) {
            conn_drop(c, h, now, MT5B_ERR_LOST, "out of memory", 0);
            return;
        }
        int r = plat_recv(s->sock, s->in.p + s->in.len, s->in.cap - s->in.len, err, sizeof err);
        if (r == 0) break;
        if (r < 0) {
            /* process what arrived before the end (a close frame may be in it) */
            process_input(c, h, now);
            if (s->sock == PLAT_BAD_SOCK || s->state == ST_IDLE) return;
            conn_drop(c, h, now, MT5B_ERR_LOST, err, 0);
            return;
        }
        s->in.len += (size_t)r;
        s->last_rx = now;
        if (s->in.len > MAX_IN_MESSAGE + 65536) break;
    }
    process_input(c, h, now);
}

/* Turns what the tick ring holds into tick_batch messages (one symbol each). */
static void form_batches(io_ctx *c, handle *h, int64_t now) {
    session_t *s = &h->s;
    uint64_t waiting = ring_count(&h->ring);
    if (waiting == 0) return;
    int64_t per_batch = s->max_batch;
    int64_t by_frame = (s->max_frame - 512) / TICK_BYTES_MAX;
    if (by_frame < per_batch) per_batch = by_frame;
    if (per_batch < 1) per_batch = 1;
    if ((int64_t)waiting < per_batch && now - s->last_batch < BATCH_INTERVAL_MS) return;
    plat_lock(&h->mu);
    int64_t unsent = (h->next_num - 1) - s->sent_upto;
    uint32_t qc = h->q_count;
    plat_unlock(&h->mu);
    /* Only when everything queued is on the wire: under back-pressure the ticks stay in the ring,
       which is bounded and drops the oldest; the durable queue keeps its room for deals etc. */
    if (unsent > 0 || qc >= h->queue_cap) return;
    s->last_batch = now;

    /* gaps first: what was dropped so far is older than anything still in the ring */
    uint32_t nsyms = atomic_load_explicit(&h->nsyms, memory_order_acquire);
    while (atomic_flag_test_and_set_explicit(&h->gap_lock, memory_order_acquire)) plat_yield();
    for (uint32_t i = 0; i < nsyms; i++) {
        gap_t *g = &h->gap_shared[i];
        if (g->dropped == 0) continue;
        gap_t *p = &s->gap_pending[i];
        if (p->dropped == 0) {
            *p = *g;
        } else {
            p->dropped += g->dropped;
            if (g->from < p->from) p->from = g->from;
            if (g->to > p->to) p->to = g->to;
        }
        g->dropped = 0;
    }
    atomic_flag_clear_explicit(&h->gap_lock, memory_order_release);

    uint32_t n = ring_pop(&h->ring, c->pop, POP_CHUNK);
    if (n == 0) return;
    nsyms = atomic_load_explicit(&h->nsyms, memory_order_acquire);
    /* stable counting sort by symbol */
    static uint32_t start[MAX_SYMS + 1]; /* I/O thread only */
    memset(start, 0, sizeof start);
    for (uint32_t i = 0; i < n; i++) start[c->pop[i].sym + 1]++;
    for (uint32_t i = 1; i <= MAX_SYMS; i++) start[i] += start[i - 1];
    uint32_t fill[MAX_SYMS];
    memcpy(fill, start, sizeof fill);
    for (uint32_t i = 0; i < n; i++) c->sorted[fill[c->pop[i].sym]++] = c->pop[i];

    for (uint32_t sym = 0; sym < MAX_SYMS; sym++) {
        uint32_t i = start[sym], end = start[sym + 1];
        while (i < end) {
            uint32_t j = i + 1;
            while (j < end && (int64_t)(j - i) < per_batch) {
                const tick_t *a = &c->sorted[j - 1], *b = &c->sorted[j];
                if (b->time_msc < a->time_msc) break;
                if (b->time_msc == a->time_msc ? b->idx != a->idx + 1 : b->idx != 0) break;
                j++;
            }
            uint32_t k = j - i;
            for (uint32_t x = 0; x < k; x++) {
                const tick_t *t = &c->sorted[i + x];
                c->time_msc[x] = t->time_msc;
                c->bid[x] = t->bid;
                c->ask[x] = t->ask;
                c->last[x] = t->last;
                c->volume[x] = t->volume;
                c->volume_real[x] = t->volume_real;
                c->flags[x] = t->flags;
            }
            tick_batch_t tb;
            memset(&tb, 0, sizeof tb);
            tb.symbol = h->syms[sym].name;
            tb.symbol_len = h->syms[sym].len;
            tb.count = k;
            tb.time_msc = c->time_msc;
            tb.bid = c->bid;
            tb.ask = c->ask;
            tb.last = c->last;
            tb.volume = c->volume;
            tb.volume_real = c->volume_real;
            tb.flags = c->flags;
            tb.first_index = c->sorted[i].idx;
            gap_t *g = &s->gap_pending[sym];
            if (g->dropped > 0) {
                tb.gap_dropped = g->dropped;
                tb.gap_from = g->from <= g->to ? g->from : g->to;
                tb.gap_to = g->from <= g->to ? g->to : g->from;
                g->dropped = 0;
            }
            body_t m = {{0}, 0};
            body_tick_batch(&m, &tb);
            dmsg *d = m.b.oom ? NULL : dmsg_new(MT_TICK_BATCH, &m);
            buf_free(&m.b);
            if (d) {
                d->tsym = (int32_t)sym;
                d->tlast_msc = c->sorted[j - 1].time_msc;
                d->tlast_count = c->sorted[j - 1].idx + 1;
                queue_put(h, d, h->q_slots);
            }
            i = j;
        }
    }
    (void)nsyms;
}

/* Puts queued messages on the wire while max_inflight allows. */
static void pump(io_ctx *c, handle *h) {
    session_t *s = &h->s;
    while (s->out.len - s->out_off < OUT_HIGH_WATER && s->sent_upto - s->acked < s->max_inflight) {
        int64_t want = s->sent_upto + 1;
        dmsg *d = NULL;
        plat_lock(&h->mu);
        if (h->q_count > 0) {
            int64_t first = h->q[h->q_head]->num;
            if (want >= first && want < first + h->q_count) d = h->q[(h->q_head + (uint32_t)(want - first)) % h->q_slots];
        }
        plat_unlock(&h->mu);
        if (!d) break;
        c->payload.len = 0;
        proto_frame(&c->payload, d->type, s->base + d->num, d->body, d->len, d->fields);
        if ((int64_t)c->payload.len > s->max_frame) {
            /* the engine would close 1009 forever: send a log in its place, with its number */
            char text[160];
            snprintf(text, sizeof text, "mt5bridge: a %s message of %lu bytes exceeds max_frame_bytes %lld and was dropped",
                     msg_type_name(d->type), (unsigned long)c->payload.len, (long long)s->max_frame);
            body_t m = {{0}, 0};
            body_log(&m, plat_utc_ms(), os_c("error"), os_c(text));
            c->payload.len = 0;
            proto_frame(&c->payload, MT_LOG, s->base + d->num, m.b.p, m.b.len, m.fields);
            buf_free(&m.b);
            set_error(h, MT5B_ERR_TOO_LARGE, "%s%s", text, NULL);
        }
        if (c->payload.oom) break;
        write_frame(c, h, WS_OP_BINARY, c->payload.p, c->payload.len);
        s->sent_upto = want;
        if (want > s->sent_max) s->sent_max = want;
        atomic_fetch_add(&h->st[MT5B_STAT_SENT], 1);
    }
}

static void begin_close(io_ctx *c, handle *h, int64_t now) {
    session_t *s = &h->s;
    c->payload.len = 0;
    proto_goodbye(&c->payload, os_c("mt5b_close"));
    write_frame(c, h, WS_OP_BINARY, c->payload.p, c->payload.len);
    write_close(c, h, 1000, "goodbye");
    s->goodbye_sent = 1;
    s->state = ST_CLOSING;
    s->deadline = now + 500;
    flush_out(c, h, now);
}

/* Timers and state changes; returns 0 when the handle was let go. */
static int step(io_ctx *c, handle *h, int64_t now) {
    session_t *s = &h->s;
    int closing = atomic_load(&h->closing);
    int64_t close_deadline = closing ? atomic_load(&h->close_deadline) : 0;
    if (closing) {
        int empty;
        plat_lock(&h->mu);
        empty = h->q_count == 0 && ring_count(&h->ring) == 0;
        plat_unlock(&h->mu);
        int done = empty || now >= close_deadline;
        if (s->state == ST_OPEN && done && !s->goodbye_sent) {
            begin_close(c, h, now);
            if (s->state == ST_IDLE) {
                detach(h);
                return 0;
            }
        } else if (s->state != ST_OPEN && s->state != ST_CLOSING && done) {
            detach(h);
            return 0;
        }
    }
    switch (s->state) {
    case ST_IDLE:
        if (now >= s->next_attempt) conn_start(c, h, now);
        break;
    case ST_CONNECTING:
    case ST_HANDSHAKE:
    case ST_WELCOME:
        if (now >= s->deadline) conn_drop(c, h, now, MT5B_ERR_TIMEOUT, "timed out opening the session", 0);
        break;
    case ST_OPEN:
        if (now - s->last_rx > SILENCE_MS) {
            conn_drop(c, h, now, MT5B_ERR_TIMEOUT, "nothing heard from the engine for 45 s", 0);
            break;
        }
        if (!closing || now < close_deadline) {
            pump(c, h); /* first, so durable messages queued meanwhile do not hold the ticks back */
            form_batches(c, h, now);
            pump(c, h);
        }
        flush_out(c, h, now);
        break;
    case ST_CLOSING:
        if (now >= s->deadline) {
            if (closing) {
                detach(h);
                return 0;
            }
            conn_drop(c, h, now, 0, NULL, 0);
        }
        break;
    }
    return 1;
}

/* Socket readiness. */
static void on_ready(io_ctx *c, handle *h, int revents, int64_t now) {
    session_t *s = &h->s;
    if (s->state == ST_CONNECTING) {
        if (!(revents & (PLAT_POLL_OUT | PLAT_POLL_ERR))) return;
        char err[160];
        if (plat_connect_result(s->sock, err, sizeof err) != 0) {
            conn_drop(c, h, now, MT5B_ERR_CONNECT, err, 0);
            return;
        }
        uint8_t raw[16];
        io_random(c, raw, sizeof raw);
        ws_base64(raw, sizeof raw, s->key);
        ws_build_request(&s->out, h->host, h->port, h->path, s->key);
        s->state = ST_HANDSHAKE;
        s->deadline = now + OPEN_TIMEOUT_MS;
        s->last_rx = now;
        flush_out(c, h, now);
        return;
    }
    if (revents & (PLAT_POLL_IN | PLAT_POLL_ERR)) read_socket(c, h, now);
    if (s->sock != PLAT_BAD_SOCK && (revents & PLAT_POLL_OUT)) flush_out(c, h, now);
    if (s->state == ST_OPEN && !atomic_load(&h->closing)) {
        pump(c, h);
        flush_out(c, h, now);
    }
}

static void io_main(void *arg) {
    (void)arg;
    plat_net_init();
    io_ctx c;
    memset(&c, 0, sizeof c);
    c.rnd_pos = sizeof c.rnd;
    c.xs = (uint64_t)plat_mono_ns() | 1;
    c.pop = malloc(sizeof(tick_t) * POP_CHUNK);
    c.sorted = malloc(sizeof(tick_t) * POP_CHUNK);
    c.time_msc = malloc(sizeof(int64_t) * POP_CHUNK);
    c.volume = malloc(sizeof(int64_t) * POP_CHUNK);
    c.bid = malloc(sizeof(double) * POP_CHUNK);
    c.ask = malloc(sizeof(double) * POP_CHUNK);
    c.last = malloc(sizeof(double) * POP_CHUNK);
    c.volume_real = malloc(sizeof(double) * POP_CHUNK);
    c.flags = malloc(sizeof(uint32_t) * POP_CHUNK);
    int ok = c.pop && c.sorted && c.time_msc && c.volume && c.bid && c.ask && c.last && c.volume_real && c.flags;
    handle *list[MAX_HANDLES];
    plat_pollfd fds[MAX_HANDLES];
    handle *fdh[MAX_HANDLES];
    while (!atomic_load(&g_stop)) {
        plat_lock(&g_mu);
        int n = g_nactive;
        memcpy(list, g_active, sizeof(handle *) * (size_t)n);
        plat_unlock(&g_mu);
        int64_t now = plat_mono_ms();
        int nf = 0;
        for (int i = 0; i < n; i++) {
            handle *h = list[i];
            if (!ok) { /* no scratch memory: refuse to run rather than crash */
                if (atomic_load(&h->closing)) detach(h);
                continue;
            }
            if (!step(&c, h, now)) continue;
            session_t *s = &h->s;
            if (s->sock == PLAT_BAD_SOCK) continue;
            int ev = PLAT_POLL_IN;
            if (s->state == ST_CONNECTING || s->out_off < s->out.len) ev |= PLAT_POLL_OUT;
            if (s->state == ST_CONNECTING) ev = PLAT_POLL_OUT;
            fds[nf].sock = s->sock;
            fds[nf].events = ev;
            fds[nf].revents = 0;
            fdh[nf] = h;
            nf++;
        }
        plat_poll(fds, nf, POLL_MS);
        now = plat_mono_ms();
        for (int i = 0; i < nf; i++)
            if (fds[i].revents) on_ready(&c, fdh[i], fds[i].revents, now);
    }
    free(c.pop);
    free(c.sorted);
    free(c.time_msc);
    free(c.volume);
    free(c.bid);
    free(c.ask);
    free(c.last);
    free(c.volume_real);
    free(c.flags);
    buf_free(&c.frame);
    buf_free(&c.payload);
    plat_net_done();
}
