/* A growable byte buffer. A failed allocation sets `oom` and turns later writes into no-ops. */
#ifndef MT5B_BUF_H
#define MT5B_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *p;
    size_t len;
    size_t cap;
    int oom;
} buf_t;

static inline int buf_reserve(buf_t *b, size_t extra) {
    if (b->oom) return -1;
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline void buf_put(buf_t *b, const void *data, size_t n) {
    if (n == 0 || buf_reserve(b, n) != 0) return;
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static inline void buf_byte(buf_t *b, uint8_t v) {
    if (buf_reserve(b, 1) != 0) return;
    b->p[b->len++] = v;
}

/* Drops the first n bytes. */
static inline void buf_consume(buf_t *b, size_t n) {
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

static inline void buf_free(buf_t *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

#endif
