/*
 * The tick ring: bounded, lock-free, one producer (the EA thread) and one consumer (the I/O
 * thread). When it is full the producer drops the OLDEST tick (it moves the consumer's index with
 * a compare-and-swap) and reports which tick it dropped, so the caller can count the gap.
 *
 * Slots are arrays of relaxed atomics: the consumer may read a slot the producer is overwriting
 * after a drop; its compare-and-swap on `tail` then fails and it reads again. No locks, no waits.
 */
#ifndef MT5B_RING_H
#define MT5B_RING_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    int64_t time_msc;
    double bid, ask, last;
    int64_t volume;
    double volume_real;
    uint32_t flags;
    uint16_t sym; /* symbol number in the handle's table */
    uint32_t idx; /* index of the tick among its symbol's ticks of the same millisecond */
} tick_t;

typedef struct {
    _Atomic uint64_t w[8];
} ring_slot;

typedef struct {
    ring_slot *slots;
    uint64_t cap; /* a power of two */
    uint64_t mask;
    _Alignas(64) _Atomic uint64_t head; /* next position the producer writes */
    _Alignas(64) _Atomic uint64_t tail; /* next position the consumer reads */
    _Alignas(64) _Atomic uint64_t dropped;
} tick_ring;

/* cap must be a power of two >= 2. 0 on success. */
int ring_init(tick_ring *r, uint64_t cap);
void ring_free(tick_ring *r);

/* Producer: adds a tick; returns 1 when the oldest tick was dropped to make room (copied to *dropped). */
int ring_push(tick_ring *r, const tick_t *t, tick_t *dropped);

/* Consumer: takes up to max ticks, oldest first; returns how many. */
uint32_t ring_pop(tick_ring *r, tick_t *out, uint32_t max);

/* Ticks in the ring now (approximate while the producer runs). */
uint64_t ring_count(tick_ring *r);

#endif
