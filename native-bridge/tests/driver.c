/*
 * driver: uses libmt5bridge the way EAs do, for the integration test (test/native-bridge.test.ts)
 * against a real engine. Each scenario prints JSON lines on stdout ({"event": ...}).
 *
 *   driver URL TOKEN stream   run=ID [handles=3] [seconds=6] [rate=2000]
 *       Several handles in one process, each fed by its own thread (an EA): single ticks
 *       (mt5b_tick), tick arrays with a first_index cursor (mt5b_ticks), deals, account and
 *       positions snapshots, status and logs. Prints progress, then a summary of everything it
 *       queued once the engine acknowledged all of it.
 *   driver URL TOKEN gap      run=ID [ring=256] [ticks=2000] [rate=0]
 *       One handle with a tiny tick ring; pushes `ticks` ticks (rate 0: at once, before any
 *       connection; else ticks per second) and reports how many the ring dropped.
 *   driver URL TOKEN commands run=ID
 *       One handle that polls commands and answers them as an EA must: duplicate for an id it has
 *       seen, expired past expires_at (engine clock), else accepted + command_result. Payload
 *       keys drive the test: "hold_ms" waits before deciding; "crash": true executes and then
 *       closes the handle without acking and opens a new one (an EA restart that remembers ids).
 *       Runs until stdin closes or says "quit".
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt5bridge.h"
#include "plat.h"

#define MAXH 8

static const char *g_url, *g_token, *g_run;
static plat_mutex g_out = PLAT_MUTEX_INIT;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void out(const char *fmt, ...) {
    va_list ap;
    plat_lock(&g_out);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    plat_unlock(&g_out);
}

static const char *arg(int argc, char **argv, const char *key, const char *def) {
    size_t n = strlen(key);
    for (int i = 4; i < argc; i++)
        if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=') return argv[i] + n + 1;
    return def;
}

#define B(s) ((const uint8_t *)(s)), ((int32_t)strlen(s))

static int64_t open_ea(const char *instance, int64_t login, int ring) {
    int64_t h = mt5b_open(B(g_url), B(g_token), B(instance));
    if (h <= 0) {
        out("{\"event\":\"error\",\"what\":\"mt5b_open\",\"rc\":%lld}", (long long)h);
        exit(2);
    }
    int rc = mt5b_set_account(h, login, B("DriverDemo"), B("Driver Ltd"), B("USD"), 100, 2, 0, 7200);
    rc |= mt5b_set_ea(h, B("DriverEA"), B("1.0"), 4242, B("EURUSD"), B("M1"), 4755);
    rc |= mt5b_set_limits(h, ring, 0, 0);
    rc |= mt5b_set_reconnect(h, 100, 1000);
    if (rc != 0 || mt5b_start(h) != 0) {
        out("{\"event\":\"error\",\"what\":\"configure/start\"}");
        exit(2);
    }
    return h;
}

static void stats(int64_t h, int64_t *s) {
    memset(s, 0, sizeof(int64_t) * MT5B_STAT_COUNT);
    mt5b_stats(h, s, MT5B_STAT_COUNT);
}

static int wait_connected(int64_t *hs, int n, int ms) {
    int64_t end = plat_mono_ms() + ms;
    while (plat_mono_ms() < end) {
        int all = 1;
        for (int i = 0; i < n; i++) {
            int64_t s[MT5B_STAT_COUNT];
            stats(hs[i], s);
            if (!s[MT5B_STAT_CONNECTED]) all = 0;
        }
        if (all) return 1;
        plat_sleep_ms(10);
    }
    return 0;
}

/* Waits until every handle has nothing queued and nothing in its ring. */
static int wait_flushed(int64_t *hs, int n, int ms) {
    int64_t end = plat_mono_ms() + ms;
    while (plat_mono_ms() < end) {
        int all = 1;
        for (int i = 0; i < n; i++) {
            int64_t s[MT5B_STAT_COUNT];
            stats(hs[i], s);
            if (s[MT5B_STAT_QUEUE_DEPTH] || s[MT5B_STAT_TICKS_QUEUED] || !s[MT5B_STAT_CONNECTED]) all = 0;
        }
        if (all) return 1;
        plat_sleep_ms(20);
    }
    return 0;
}

/* ---------------- stream ---------------- */

typedef struct {
    int64_t h;
    int index;
    char instance[64], sym_a[64], sym_b[64];
    int64_t login;
    double seconds;
    int rate;
    /* what was queued */
    int64_t ticks_a, ticks_b, deals, accounts, positions, logs, statuses, full_retries;
    int64_t deal_ticket_from;
} ea_t;

/* A durable call that keeps its data when the queue is full, like an EA that retries next timer. */
#define RETRY(e, call)                                   \
    do {                                                 \
        int64_t rc_;                                     \
        while ((rc_ = (call)) == MT5B_E_FULL) {          \
            (e)->full_retries++;                         \
            plat_sleep_ms(5);                            \
        }                                                \
        if (rc_ <= 0) {                                  \
            out("{\"event\":\"error\",\"what\":\"%s\",\"rc\":%lld}", #call, (long long)rc_); \
            exit(3);                                     \
        }                                                \
    } while (0)

static void stream_ea(void *arg) {
    ea_t *e = arg;
    int64_t t = 1732000000000LL + e->index * 1000;
    int64_t cursor_ms = 0, cursor_count = 0; /* symbol B: the EA's CopyTicksRange cursor */
    int64_t bt = t;
    int64_t deal_ticket = e->deal_ticket_from;
    int64_t start = plat_mono_ms();
    int64_t end = start + (int64_t)(e->seconds * 1000);
    int per_round = e->rate / 200 > 0 ? e->rate / 200 : 1; /* rounds every 5 ms */
    uint64_t x = 88172645463325252ULL + (uint64_t)e->index;
    int64_t round = 0;
    double bid = 1.08;
    /* symbol A quotes Bid (the 0.1.0 call, no chart_mode), symbol B trades on an exchange (Last) */
    RETRY(e, mt5b_symbol_spec(e->h, B(e->sym_a), 5, 1e-5, 100000, 1e-5, 1, 0.01, 100, 0.01));
    RETRY(e, mt5b_symbol_spec2(e->h, B(e->sym_b), 2, 0.01, 10, 0.01, 0.1, 1, 10000, 1, 1));
    while (plat_mono_ms() < end) {
        for (int i = 0; i < per_round; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (x % 5 != 0) t += 1 + (int64_t)(x % 13); /* now and then several ticks in one millisecond */
            bid += ((double)(x % 21) - 10) * 1e-5;
            if (bid < 0.5) bid = 0.5;
            int rc = mt5b_tick(e->h, B(e->sym_a), t, bid, bid + 0.00002, 0, 0, 0, 6);
            if (rc != 0) {
                out("{\"event\":\"error\",\"what\":\"mt5b_tick\",\"rc\":%d}", rc);
                exit(3);
            }
            e->ticks_a++;
        }
        if (round % 4 == 0) {
            /* symbol B: 12 ticks as CopyTicksRange returns them, 3 per millisecond; the array may
               start in the millisecond the previous one ended in (first_index = the cursor) */
            int64_t tm[12], vol[12];
            double b[12], a[12], l[12], vr[12];
            int32_t fl[12];
            int64_t ms, in_ms;
            if (round % 8 == 0 && cursor_ms == bt && cursor_count < 3) {
                ms = bt; /* continue the millisecond the last array ended in */
                in_ms = cursor_count;
            } else {
                ms = bt + 1;
                in_ms = 0;
            }
            int first_index = (int)in_ms;
            for (int k = 0; k < 12; k++) {
                if (in_ms == 3) {
                    ms++;
                    in_ms = 0;
                }
                tm[k] = ms;
                in_ms++;
                b[k] = 0;
                a[k] = 0;
                l[k] = 271.35 + k * 0.01;
                vol[k] = 1 + k;
                vr[k] = 1.5 + k;
                fl[k] = 88;
            }
            int rc = mt5b_ticks(e->h, B(e->sym_b), tm, b, a, l, vol, vr, fl, 12, first_index);
            if (rc != 12) {
                out("{\"event\":\"error\",\"what\":\"mt5b_ticks\",\"rc\":%d}", rc);
                exit(3);
            }
            e->ticks_b += 12;
            cursor_ms = ms;
            cursor_count = in_ms;
            bt = ms;
        }
        if (round % 10 == 0) {
            RETRY(e, mt5b_deal(e->h, deal_ticket, deal_ticket + 1, deal_ticket + 2, t, (int32_t)(deal_ticket % 2), 0,
                               B("EURUSD"), 0.1, bid, 0, -0.35, 0, 0, 4242, 3, B("driver")));
            deal_ticket++;
            e->deals++;
        }
        if (round % 25 == 0) {
            RETRY(e, mt5b_account_snapshot(e->h, t, 10000 + round, 10005 + round, 100, 9900, 10005, 5, 1, 0.1));
            e->accounts++;
        }
        if (round % 60 == 0) {
            RETRY(e, mt5b_positions_begin(e->h, t) == 0 ? 1 : -1);
            RETRY(e, mt5b_positions_add(e->h, 900 + e->index, 900 + e->index, B("EURUSD"), 0, 0.1, 1.08, bid, 0, 0,
                                        1.5, 0, 4242, 1732000000000LL));
            RETRY(e, mt5b_positions_add(e->h, 950 + e->index, 951 + e->index, B("XAUUSD"), 1, 0.02, 2650, 2649, 2700,
                                        2600, -1.2, -0.1, 4242, 1732000000000LL));
            RETRY(e, mt5b_positions_end(e->h));
            e->positions++;
        }
        if (round % 15 == 7) {
            char msg[96];
            snprintf(msg, sizeof msg, "driver %s log %lld", e->instance, (long long)e->logs);
            RETRY(e, mt5b_log(e->h, t, 1, B(msg)));
            e->logs++;
        }
        if (round % 100 == 50) {
            RETRY(e, mt5b_status(e->h, t, 0, 1, 1, 1, 0, B("")));
            e->statuses++;
        }
        round++;
        plat_sleep_ms(5);
    }
}

static int run_stream(int argc, char **argv) {
    int n = atoi(arg(argc, argv, "handles", "3"));
    double seconds = atof(arg(argc, argv, "seconds", "6"));
    int rate = atoi(arg(argc, argv, "rate", "2000"));
    if (n < 1 || n > MAXH) n = 3;
    ea_t eas[MAXH];
    int64_t hs[MAXH];
    memset(eas, 0, sizeof eas);
    for (int i = 0; i < n; i++) {
        ea_t *e = &eas[i];
        e->index = i;
        snprintf(e->instance, sizeof e->instance, "drv-%s-%d", g_run, i);
        snprintf(e->sym_a, sizeof e->sym_a, "DA%s%d", g_run, i);
        snprintf(e->sym_b, sizeof e->sym_b, "DB%s%d", g_run, i);
        e->login = 700000 + i;
        e->seconds = seconds;
        e->rate = rate;
        e->deal_ticket_from = 1000000LL * (i + 1);
        e->h = hs[i] = open_ea(e->instance, e->login, 0);
    }
    if (!wait_connected(hs, n, 30000)) {
        out("{\"event\":\"error\",\"what\":\"not connected within 30 s\"}");
        return 4;
    }
    out("{\"event\":\"connected\",\"handles\":%d}", n);
    plat_thread th[MAXH];
    for (int i = 0; i < n; i++) plat_thread_start(&th[i], stream_ea, &eas[i]);
    /* progress while the EAs run */
    int64_t end = plat_mono_ms() + (int64_t)(seconds * 1000);
    while (plat_mono_ms() < end) {
        plat_sleep_ms(250);
        char line[1024];
        int len = snprintf(line, sizeof line, "{\"event\":\"progress\",\"handles\":[");
        for (int i = 0; i < n; i++) {
            int64_t s[MT5B_STAT_COUNT];
            stats(hs[i], s);
            len += snprintf(line + len, sizeof line - (size_t)len,
                            "%s{\"connected\":%lld,\"acked\":%lld,\"queue\":%lld,\"ring\":%lld,\"reconnects\":%lld}",
                            i ? "," : "", (long long)s[MT5B_STAT_CONNECTED], (long long)s[MT5B_STAT_ACKED_SEQ],
                            (long long)s[MT5B_STAT_QUEUE_DEPTH], (long long)s[MT5B_STAT_TICKS_QUEUED],
                            (long long)s[MT5B_STAT_RECONNECTS]);
        }
        snprintf(line + len, sizeof line - (size_t)len, "]}");
        out("%s", line);
    }
    for (int i = 0; i < n; i++) plat_thread_join(th[i]);
    out("{\"event\":\"produced\"}");
    int flushed = wait_flushed(hs, n, 90000);
    for (int i = 0; i < n; i++) {
        ea_t *e = &eas[i];
        int64_t s[MT5B_STAT_COUNT];
        stats(e->h, s);
        uint8_t err[256];
        int32_t en = mt5b_last_error(e->h, err, sizeof err);
        if (en < 0) en = 0;
        for (int32_t k = 0; k < en; k++)
            if (err[k] == '"' || err[k] == '\\' || err[k] < 0x20) err[k] = '\'';
        out("{\"event\":\"summary\",\"instance\":\"%s\",\"login\":%lld,\"symbol_a\":\"%s\",\"symbol_b\":\"%s\","
            "\"ticks_a\":%lld,\"ticks_b\":%lld,\"dropped\":%lld,\"deals\":%lld,\"deal_from\":%lld,\"accounts\":%lld,"
            "\"positions\":%lld,\"logs\":%lld,\"statuses\":%lld,\"sent\":%lld,\"acked_seq\":%lld,\"seq_base\":%lld,"
            "\"reconnects\":%lld,\"full_retries\":%lld,\"flushed\":%s,\"last_error\":\"%.*s\"}",
            e->instance, (long long)e->login, e->sym_a, e->sym_b, (long long)e->ticks_a, (long long)e->ticks_b,
            (long long)s[MT5B_STAT_TICKS_DROPPED], (long long)e->deals, (long long)e->deal_ticket_from,
            (long long)e->accounts, (long long)e->positions, (long long)e->logs, (long long)e->statuses,
            (long long)s[MT5B_STAT_SENT], (long long)s[MT5B_STAT_ACKED_SEQ], (long long)s[MT5B_STAT_SEQ_BASE],
            (long long)s[MT5B_STAT_RECONNECTS], (long long)e->full_retries, flushed ? "true" : "false", (int)en, err);
    }
    for (int i = 0; i < n; i++) mt5b_close(hs[i], 3000);
    out("{\"event\":\"closed\"}");
    return flushed ? 0 : 5;
}

/* ---------------- gap ---------------- */

static int run_gap(int argc, char **argv) {
    int ring = atoi(arg(argc, argv, "ring", "256"));
    int ticks = atoi(arg(argc, argv, "ticks", "2000"));
    int rate = atoi(arg(argc, argv, "rate", "0"));
    char instance[64], sym[64];
    snprintf(instance, sizeof instance, "drv-gap-%s", g_run);
    snprintf(sym, sizeof sym, "G%s", g_run);
    int64_t h = open_ea(instance, 710000, ring);
    int64_t t = 1732000000000LL;
    if (rate <= 0) {
        for (int i = 0; i < ticks; i++) mt5b_tick(h, B(sym), t + i, 1.1, 1.1001, 0, 0, 0, 6);
    } else {
        int per = rate / 200 > 0 ? rate / 200 : 1;
        for (int i = 0; i < ticks;) {
            for (int k = 0; k < per && i < ticks; k++, i++) mt5b_tick(h, B(sym), t + i, 1.1, 1.1001, 0, 0, 0, 6);
            plat_sleep_ms(5);
        }
    }
    int64_t s[MT5B_STAT_COUNT];
    stats(h, s);
    out("{\"event\":\"pushed\",\"ticks\":%d,\"dropped\":%lld,\"queued\":%lld}", ticks, (long long)s[MT5B_STAT_TICKS_DROPPED],
        (long long)s[MT5B_STAT_TICKS_QUEUED]);
    int flushed = wait_flushed(&h, 1, 90000);
    stats(h, s);
    out("{\"event\":\"summary\",\"instance\":\"%s\",\"symbol\":\"%s\",\"ticks\":%d,\"dropped\":%lld,\"acked_seq\":%lld,"
        "\"flushed\":%s}",
        instance, sym, ticks, (long long)s[MT5B_STAT_TICKS_DROPPED], (long long)s[MT5B_STAT_ACKED_SEQ], flushed ? "true" : "false");
    mt5b_close(h, 3000);
    out("{\"event\":\"closed\"}");
    return flushed ? 0 : 5;
}

/* ---------------- commands ---------------- */

static _Atomic int g_quit;

static void stdin_reader(void *arg) {
    (void)arg;
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "quit", 4) == 0) break;
    }
    atomic_store(&g_quit, 1);
}

/* A number after "key": in a JSON text (enough for the test's payloads). */
static long json_num(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? atol(p + strlen(pat)) : 0;
}

static int run_commands(int argc, char **argv) {
    (void)argc;
    (void)argv;
    char instance[64];
    snprintf(instance, sizeof instance, "drv-cmd-%s", g_run);
    int64_t h = open_ea(instance, 720000, 0);
    if (!wait_connected(&h, 1, 30000)) {
        out("{\"event\":\"error\",\"what\":\"not connected\"}");
        return 4;
    }
    out("{\"event\":\"connected\",\"instance\":\"%s\"}", instance);
    plat_thread rd;
    plat_thread_start(&rd, stdin_reader, NULL);
    /* the ids this EA has seen (an EA keeps them in a file across restarts) */
    static char seen[256][130];
    static int executions[256];
    int nseen = 0;
    while (!atomic_load(&g_quit)) {
        uint8_t id[130], type[40];
        static uint8_t payload[65536];
        int32_t idn = 0, tn = 0, pn = 0;
        int64_t expires = 0;
        int rc = mt5b_poll_command(h, id, sizeof id - 1, &idn, type, sizeof type - 1, &tn, payload, sizeof payload - 1, &pn,
                                   &expires);
        if (rc == 0) {
            plat_sleep_ms(5);
            continue;
        }
        if (rc < 0) {
            out("{\"event\":\"error\",\"what\":\"mt5b_poll_command\",\"rc\":%d}", rc);
            return 3;
        }
        id[idn] = 0;
        type[tn] = 0;
        payload[pn] = 0;
        int k = -1;
        for (int i = 0; i < nseen; i++)
            if (strcmp(seen[i], (char *)id) == 0) k = i;
        if (k >= 0) {
            mt5b_command_ack(h, id, idn, MT5B_ACK_DUPLICATE, B("already seen"));
            out("{\"event\":\"command\",\"id\":\"%s\",\"type\":\"%s\",\"status\":\"duplicate\",\"executions\":%d}", id, type,
                executions[k]);
            continue;
        }
        if (nseen < 256) {
            k = nseen++;
            strcpy(seen[k], (char *)id);
        }
        long hold = json_num((char *)payload, "hold_ms");
        if (hold > 0) plat_sleep_ms((int)hold);
        int64_t now = mt5b_engine_time(h);
        if (now > expires) {
            char reason[64];
            snprintf(reason, sizeof reason, "expired %lld ms ago", (long long)(now - expires));
            mt5b_command_ack(h, id, idn, MT5B_ACK_EXPIRED, B(reason));
            out("{\"event\":\"command\",\"id\":\"%s\",\"type\":\"%s\",\"status\":\"expired\",\"late_ms\":%lld}", id, type,
                (long long)(now - expires));
            continue;
        }
        if (strstr((char *)payload, "\"crash\":true")) {
            /* executes, then "crashes" before its ack leaves: a new handle (EA restart) follows */
            if (k >= 0) executions[k]++;
            out("{\"event\":\"command\",\"id\":\"%s\",\"type\":\"%s\",\"status\":\"executed_then_crashed\"}", id, type);
            mt5b_close(h, 0);
            h = open_ea(instance, 720000, 0);
            if (!wait_connected(&h, 1, 30000)) {
                out("{\"event\":\"error\",\"what\":\"not reconnected\"}");
                return 4;
            }
            out("{\"event\":\"restarted\"}");
            continue;
        }
        mt5b_command_ack(h, id, idn, MT5B_ACK_ACCEPTED, NULL, 0);
        if (k >= 0) executions[k]++;
        static char result[70000];
        snprintf(result, sizeof result, "{\"echo\":%s,\"executions\":%d,\"type\":\"%s\"}", payload, k >= 0 ? executions[k] : 1,
                 type);
        int64_t r = mt5b_command_result(h, id, idn, 1, B(result), NULL, 0);
        out("{\"event\":\"command\",\"id\":\"%s\",\"type\":\"%s\",\"status\":\"accepted\",\"payload\":%s,\"result_rc\":%lld}", id,
            type, payload, (long long)r);
    }
    wait_flushed(&h, 1, 10000);
    mt5b_close(h, 3000);
    out("{\"event\":\"closed\"}");
    plat_thread_join(rd);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: driver URL TOKEN stream|gap|commands run=ID [key=value ...]\n");
        return 1;
    }
    g_url = argv[1];
    g_token = argv[2];
    g_run = arg(argc, argv, "run", "0");
    uint8_t v[16];
    int32_t vn = mt5b_version(v, sizeof v);
    out("{\"event\":\"start\",\"version\":\"%.*s\",\"scenario\":\"%s\"}", vn > 0 ? (int)vn : 0, v, argv[3]);
    if (strcmp(argv[3], "stream") == 0) return run_stream(argc, argv);
    if (strcmp(argv[3], "gap") == 0) return run_gap(argc, argv);
    if (strcmp(argv[3], "commands") == 0) return run_commands(argc, argv);
    fprintf(stderr, "unknown scenario %s\n", argv[3]);
    return 1;
}
