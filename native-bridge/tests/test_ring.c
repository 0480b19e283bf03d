/*
 * The tick ring under a concurrent producer and consumer: every tick is either received (once,
 * in order, never torn) or reported dropped by the producer (the oldest first), and the counts
 * add up. Usage: test_ring [ops]  (default 4 million per run; the TSan build passes fewer).
 */
#include <stdatomic.h>
#include <stdint.h>

#include "plat.h"
#include "ring.h"
#include "testutil.h"

typedef struct {
    tick_ring *ring;
    uint64_t n;
    uint8_t *dropped; /* by the producer */
    uint64_t drops;
    int64_t last_dropped;
    int drop_order_ok;
    _Atomic int done;
} shared_t;

typedef struct {
    shared_t *sh;
    uint8_t *received;
    uint64_t got;
    int order_ok, torn;
    int slow; /* sleep now and then, so the ring overflows */
} consumer_t;

static void fill(tick_t *t, uint64_t seq) {
    t->time_msc = (int64_t)seq;
    t->bid = (double)seq;
    t->ask = (double)seq + 0.5;
    t->last = 0;
    t->volume = (int64_t)seq * 3;
    t->volume_real = (double)seq / 4;
    t->flags = (uint32_t)seq;
    t->sym = (uint16_t)(seq & 0xff);
    t->idx = (uint32_t)(seq ^ 0x5555);
}

static int consistent(const tick_t *t) {
    uint64_t s = (uint64_t)t->time_msc;
    return t->bid == (double)s && t->ask == (double)s + 0.5 && t->volume == (int64_t)s * 3 &&
           t->volume_real == (double)s / 4 && t->flags == (uint32_t)s && t->sym == (uint16_t)(s & 0xff) &&
           t->idx == (uint32_t)(s ^ 0x5555);
}

static void producer(void *arg) {
    shared_t *sh = arg;
    tick_t t, d;
    for (uint64_t i = 1; i <= sh->n; i++) {
        fill(&t, i);
        if (ring_push(sh->ring, &t, &d)) {
            uint64_t s = (uint64_t)d.time_msc;
            if (s < 1 || s > sh->n || sh->dropped[s] || (int64_t)s <= sh->last_dropped) sh->drop_order_ok = 0;
            if (s >= 1 && s <= sh->n) sh->dropped[s] = 1;
            sh->last_dropped = (int64_t)s;
            sh->drops++;
        }
    }
    atomic_store(&sh->done, 1);
}

static void consumer(void *arg) {
    consumer_t *c = arg;
    tick_t buf[512];
    int64_t last = 0;
    uint64_t rounds = 0;
    for (;;) {
        int done = atomic_load(&c->sh->done);
        uint32_t n = ring_pop(c->sh->ring, buf, 1 + (uint32_t)(rounds % 512));
        rounds++;
        for (uint32_t i = 0; i < n; i++) {
            if (!consistent(&buf[i])) c->torn++;
            uint64_t s = (uint64_t)buf[i].time_msc;
            if ((int64_t)s <= last) c->order_ok = 0;
            last = (int64_t)s;
            if (s >= 1 && s <= c->sh->n) {
                if (c->received[s]) c->order_ok = 0;
                c->received[s] = 1;
            }
            c->got++;
        }
        if (n == 0) {
            if (done && ring_count(c->sh->ring) == 0) break;
            plat_yield();
        }
        if (c->slow && rounds % 64 == 0) plat_sleep_ms(1);
    }
}

static void run(uint64_t n, uint64_t cap, int slow, const char *what) {
    tick_ring ring;
    CHECK(ring_init(&ring, cap) == 0, "ring_init");
    shared_t sh;
    memset(&sh, 0, sizeof sh);
    sh.ring = &ring;
    sh.n = n;
    sh.dropped = calloc(n + 1, 1);
    sh.drop_order_ok = 1;
    atomic_init(&sh.done, 0);
    consumer_t c;
    memset(&c, 0, sizeof c);
    c.sh = &sh;
    c.received = calloc(n + 1, 1);
    c.order_ok = 1;
    c.slow = slow;
    int64_t t0 = plat_mono_ns();
    plat_thread tp, tc;
    plat_thread_start(&tc, consumer, &c);
    plat_thread_start(&tp, producer, &sh);
    plat_thread_join(tp);
    plat_thread_join(tc);
    double ms = (double)(plat_mono_ns() - t0) / 1e6;
    uint64_t missing = 0, both = 0;
    for (uint64_t i = 1; i <= n; i++) {
        if (!c.received[i] && !sh.dropped[i]) missing++;
        if (c.received[i] && sh.dropped[i]) both++;
    }
    printf("%s: %llu ticks through a ring of %llu in %.0f ms: %llu received, %llu dropped\n", what,
           (unsigned long long)n, (unsigned long long)cap, ms, (unsigned long long)c.got, (unsigned long long)sh.drops);
    CHECK(c.got + sh.drops == n, "%s: received %llu + dropped %llu != %llu", what, (unsigned long long)c.got,
          (unsigned long long)sh.drops, (unsigned long long)n);
    CHECK(missing == 0, "%s: %llu ticks neither received nor dropped", what, (unsigned long long)missing);
    CHECK(both == 0, "%s: %llu ticks both received and dropped", what, (unsigned long long)both);
    CHECK(c.order_ok, "%s: consumer saw ticks out of order or twice", what);
    CHECK(c.torn == 0, "%s: %d torn ticks", what, c.torn);
    CHECK(sh.drop_order_ok, "%s: drops were not oldest-first", what);
    CHECK(atomic_load(&ring.dropped) == sh.drops, "%s: ring counter %llu", what, (unsigned long long)atomic_load(&ring.dropped));
    if (slow) CHECK(sh.drops > 0, "%s: expected the small ring to overflow", what);
    free(sh.dropped);
    free(c.received);
    ring_free(&ring);
}

static void single_thread(void) {
    tick_ring ring;
    CHECK(ring_init(&ring, 3) != 0, "capacity must be a power of two");
    ring_init(&ring, 4);
    tick_t t, d;
    int drops = 0;
    for (uint64_t i = 1; i <= 10; i++) {
        fill(&t, i);
        if (ring_push(&ring, &t, &d)) {
            drops++;
            CHECK(d.time_msc == (int64_t)drops, "dropped #%d is tick %lld (the oldest)", drops, (long long)d.time_msc);
        }
    }
    CHECK(drops == 6 && ring_count(&ring) == 4, "6 dropped, 4 kept");
    tick_t out[8];
    uint32_t n = ring_pop(&ring, out, 8);
    CHECK(n == 4 && out[0].time_msc == 7 && out[3].time_msc == 10, "the newest 4 remain, in order");
    CHECK(ring_pop(&ring, out, 8) == 0, "empty");
    fill(&t, 11);
    CHECK(ring_push(&ring, &t, &d) == 0 && ring_pop(&ring, out, 1) == 1 && out[0].time_msc == 11, "reuse after wrap");
    ring_free(&ring);
}

int main(int argc, char **argv) {
    uint64_t ops = argc > 1 ? strtoull(argv[1], NULL, 10) : 4000000;
    single_thread();
    run(ops, 1 << 16, 0, "fast consumer, 64k ring");
    run(ops / 2, 64, 1, "slow consumer, 64-tick ring");
    run(ops / 2, 2, 0, "2-tick ring, both racing");
    return t_done("test_ring");
}
