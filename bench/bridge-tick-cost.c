/*
 * bridge-tick-cost: what mt5b_tick costs the EA thread, call by call, while the library's I/O
 * thread talks to an engine that is up, slow or down. Prints one JSON line:
 *   {"label", "calls", "p50_ns", "p99_ns", "p999_ns", "max_ns", "timer_ns", "dropped", "acked_seq", ...}
 *
 *   bridge-tick-cost URL TOKEN LABEL [seconds=3] [rate=20000] [ring=65536]
 *
 * Ticks come in bursts every millisecond (rate / 1000 per burst), as a busy EA's OnTimer would
 * push them. Built by `make -C native-bridge bench`; bench/bridge-tick-cost.ts runs the three cases.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt5bridge.h"
#include "plat.h"

#define B(s) ((const uint8_t *)(s)), ((int32_t)strlen(s))

static int cmp(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bridge-tick-cost URL TOKEN LABEL [seconds] [rate] [ring]\n");
        return 1;
    }
    const char *url = argv[1], *token = argv[2], *label = argv[3];
    double seconds = argc > 4 ? atof(argv[4]) : 3;
    int rate = argc > 5 ? atoi(argv[5]) : 20000;
    int ring = argc > 6 ? atoi(argv[6]) : 65536;
    char instance[64];
    snprintf(instance, sizeof instance, "bench-tick-cost-%s", label);
    int64_t h = mt5b_open(B(url), B(token), B(instance));
    if (h <= 0 || mt5b_set_account(h, 990001, B("BenchDemo"), B(""), B("USD"), 100, 2, 0, 7200) != 0 ||
        mt5b_set_ea(h, B("TickCost"), B("1"), 1, B("EURUSD"), B("M1"), -1) != 0 || mt5b_set_limits(h, ring, 0, 0) != 0 ||
        mt5b_set_reconnect(h, 100, 1000) != 0 || mt5b_start(h) != 0) {
        fprintf(stderr, "bridge-tick-cost: could not open the handle\n");
        return 2;
    }
    int64_t st[MT5B_STAT_COUNT];
    if (strcmp(label, "down") != 0) {
        int64_t end = plat_mono_ms() + 15000;
        do {
            mt5b_stats(h, st, MT5B_STAT_COUNT);
            if (st[MT5B_STAT_CONNECTED]) break;
            plat_sleep_ms(10);
        } while (plat_mono_ms() < end);
    }
    int per_ms = rate / 1000 > 0 ? rate / 1000 : 1;
    size_t cap = (size_t)(seconds * 1000 + 10) * (size_t)per_ms;
    int64_t *ns = malloc(sizeof *ns * cap);
    if (!ns) return 2;
    /* the timer's own cost, for reference */
    int64_t timer = INT64_MAX;
    for (int i = 0; i < 10000; i++) {
        int64_t a = plat_mono_ns(), b = plat_mono_ns();
        if (b - a < timer) timer = b - a;
    }
    int64_t t = 1732000000000LL;
    double bid = 1.08;
    for (int i = 0; i < 2000; i++) mt5b_tick(h, B("EURUSD"), ++t, bid, bid + 0.0002, 0, 0, 0, 6); /* warm up */
    size_t n = 0;
    int64_t end = plat_mono_ms() + (int64_t)(seconds * 1000);
    while (plat_mono_ms() < end && n + (size_t)per_ms <= cap) {
        for (int k = 0; k < per_ms; k++) {
            t += k % 3 == 0;
            bid += (k % 2 ? 1e-5 : -1e-5);
            int64_t a = plat_mono_ns();
            mt5b_tick(h, (const uint8_t *)"EURUSD", 6, t, bid, bid + 0.0002, 0, 0, 0, 6);
            int64_t b = plat_mono_ns();
            ns[n++] = b - a;
        }
        plat_sleep_ms(1);
    }
    mt5b_stats(h, st, MT5B_STAT_COUNT);
    qsort(ns, n, sizeof *ns, cmp);
    int64_t p50 = ns[n / 2], p99 = ns[(size_t)((double)n * 0.99)], p999 = ns[(size_t)((double)n * 0.999)], max = ns[n - 1];
    int64_t over10us = 0;
    for (size_t i = 0; i < n; i++)
        if (ns[i] > 10000) over10us++;
    printf("{\"label\":\"%s\",\"calls\":%zu,\"p50_ns\":%lld,\"p99_ns\":%lld,\"p999_ns\":%lld,\"max_ns\":%lld,"
           "\"over_10us\":%lld,\"timer_ns\":%lld,\"dropped\":%lld,\"acked_seq\":%lld,\"connected\":%lld,\"reconnects\":%lld}\n",
           label, n, (long long)p50, (long long)p99, (long long)p999, (long long)max, (long long)over10us, (long long)timer,
           (long long)st[MT5B_STAT_TICKS_DROPPED], (long long)st[MT5B_STAT_ACKED_SEQ], (long long)st[MT5B_STAT_CONNECTED],
           (long long)st[MT5B_STAT_RECONNECTS]);
    fflush(stdout);
    free(ns);
    mt5b_close(h, strcmp(label, "down") == 0 ? 0 : 1000);
    return 0;
}
