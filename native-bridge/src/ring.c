#include "ring.h"

#include <stdlib.h>
#include <string.h>

int ring_init(tick_ring *r, uint64_t cap) {
    if (cap < 2 || (cap & (cap - 1)) != 0) return -1;
    r->slots = malloc((size_t)cap * sizeof(ring_slot));
    if (!r->slots) return -1;
    /* touch every page now, so the EA thread never takes a page fault on its first pass */
    memset(r->slots, 0, (size_t)cap * sizeof(ring_slot));
    for (uint64_t i = 0; i < cap; i++) atomic_store_explicit(&r->slots[i].w[7], 0, memory_order_relaxed);
    r->cap = cap;
    r->mask = cap - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->dropped, 0);
    return 0;
}

void ring_free(tick_ring *r) {
    free(r->slots);
    r->slots = NULL;
}

static uint64_t bits_of(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static double double_of(uint64_t u) {
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static void slot_write(ring_slot *s, const tick_t *t) {
    atomic_store_explicit(&s->w[0], (uint64_t)t->time_msc, memory_order_relaxed);
    atomic_store_explicit(&s->w[1], bits_of(t->bid), memory_order_relaxed);
    atomic_store_explicit(&s->w[2], bits_of(t->ask), memory_order_relaxed);
    atomic_store_explicit(&s->w[3], bits_of(t->last), memory_order_relaxed);
    atomic_store_explicit(&s->w[4], (uint64_t)t->volume, memory_order_relaxed);
    atomic_store_explicit(&s->w[5], bits_of(t->volume_real), memory_order_relaxed);
    atomic_store_explicit(&s->w[6], (uint64_t)t->flags | (uint64_t)t->sym << 32, memory_order_relaxed);
    atomic_store_explicit(&s->w[7], (uint64_t)t->idx, memory_order_relaxed);
}

static void slot_read(ring_slot *s, tick_t *t) {
    t->time_msc = (int64_t)atomic_load_explicit(&s->w[0], memory_order_relaxed);
    t->bid = double_of(atomic_load_explicit(&s->w[1], memory_order_relaxed));
    t->ask = double_of(atomic_load_explicit(&s->w[2], memory_order_relaxed));
    t->last = double_of(atomic_load_explicit(&s->w[3], memory_order_relaxed));
    t->volume = (int64_t)atomic_load_explicit(&s->w[4], memory_order_relaxed);
    t->volume_real = double_of(atomic_load_explicit(&s->w[5], memory_order_relaxed));
    uint64_t w6 = atomic_load_explicit(&s->w[6], memory_order_relaxed);
    t->flags = (uint32_t)w6;
    t->sym = (uint16_t)(w6 >> 32);
    t->idx = (uint32_t)atomic_load_explicit(&s->w[7], memory_order_relaxed);
}

int ring_push(tick_ring *r, const tick_t *t, tick_t *dropped) {
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t tl = atomic_load_explicit(&r->tail, memory_order_acquire);
    int did_drop = 0;
    while (h - tl >= r->cap) {
        /* Full: take the oldest away from the consumer. Only this thread writes slots, so reading
           the slot here cannot race with a write. */
        tick_t old;
        slot_read(&r->slots[tl & r->mask], &old);
        if (atomic_compare_exchange_weak_explicit(&r->tail, &tl, tl + 1, memory_order_acq_rel, memory_order_acquire)) {
            if (dropped) *dropped = old;
            did_drop = 1;
            atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
            break;
        }
        /* the consumer took some (tl reloaded): there may be room now */
    }
    slot_write(&r->slots[h & r->mask], t);
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return did_drop;
}

uint32_t ring_pop(tick_ring *r, tick_t *out, uint32_t max) {
    for (;;) {
        uint64_t tl = atomic_load_explicit(&r->tail, memory_order_acquire);
        uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
        if (h <= tl) return 0;
        uint64_t n = h - tl;
        if (n > r->cap) n = r->cap;
        if (n > max) n = max;
        for (uint64_t i = 0; i < n; i++) slot_read(&r->slots[(tl + i) & r->mask], &out[i]);
        /* Succeeds only if the producer dropped none of them meanwhile (else what we read may be
           overwritten): then read again from the new tail. */
        if (atomic_compare_exchange_strong_explicit(&r->tail, &tl, tl + n, memory_order_acq_rel, memory_order_acquire))
            return (uint32_t)n;
    }
}

uint64_t ring_count(tick_ring *r) {
    uint64_t tl = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    return h > tl ? h - tl : 0;
}
