/*
 * libFuzzer target: the bridge's MessagePack reader, the engine-frame decoder and the JSON <->
 * MessagePack conversions, on arbitrary bytes. Besides crashes and sanitizer reports it checks the
 * properties the bridge relies on:
 *  - mp_skip accepts everything the readers accept, and stops at the same byte (an unknown field
 *    must never fail a frame that a reader could have read);
 *  - JSON made from MessagePack converts back, and the second round trip is stable;
 *  - MessagePack made from JSON always converts to JSON (the bridge writes command results so);
 *  - any valid MessagePack value, built from the input bytes as a recipe (every format, ext and
 *    uint 64 above INT64_MAX included, nested deeper than any reader allows), is skipped exactly,
 *    and an ack carrying it in an unknown field still decodes.
 * Built by `make fuzz` (clang -fsanitize=fuzzer,address,undefined); fuzz/replay.c runs the same
 * function over the kept regression inputs in the normal tests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"
#include "proto.h"

/* Keeps the JSON of a round trip, or leaves it NULL when a step refuses the input. */
static int to_json_of(const uint8_t *p, size_t n, buf_t *out) {
    mp_rd r;
    mp_rd_init(&r, p, n);
    out->len = 0;
    return mp_to_json(&r, out);
}

static void json_round_trips(const uint8_t *data, size_t n) {
    buf_t j1 = {0}, m2 = {0}, j2 = {0}, m3 = {0}, j3 = {0};
    char err[128];
    if (to_json_of(data, n, &j1) == 0 && mp_from_json((const char *)j1.p, j1.len, &m2, 80, 0, 0, err, sizeof err) == 0) {
        /* from_json wrote plain, valid MessagePack: it must read back as JSON */
        if (to_json_of(m2.p, m2.len, &j2) != 0) abort();
        if (mp_from_json((const char *)j2.p, j2.len, &m3, 80, 0, 0, err, sizeof err) != 0) abort();
        if (to_json_of(m3.p, m3.len, &j3) != 0) abort();
        /* the first trip normalises (-0 -> 0, 5.0 -> 5, big ints -> floats); after it nothing moves */
        if (j2.len != j3.len || memcmp(j2.p, j3.p, j2.len) != 0) abort();
    }
    buf_free(&j1);
    buf_free(&m2);
    buf_free(&j2);
    buf_free(&m3);
    buf_free(&j3);
}

/* ---- valid values from a recipe ---- */
typedef struct {
    const uint8_t *p, *end;
} recipe;

static uint8_t take(recipe *r) { return r->p < r->end ? *r->p++ : 0; }

static void put_tag(buf_t *b, uint8_t tag, recipe *r, int bytes) {
    buf_byte(b, tag);
    for (int i = 0; i < bytes; i++) buf_byte(b, take(r));
}

static void put_len(buf_t *b, uint8_t tag, uint32_t n, int width) {
    buf_byte(b, tag);
    for (int i = width - 1; i >= 0; i--) buf_byte(b, (uint8_t)(n >> (8 * i)));
}

static void put_bytes(buf_t *b, recipe *r, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) buf_byte(b, take(r));
}

static void gen(buf_t *b, recipe *r, int depth, int *budget) {
    if (--*budget < 0) {
        mp_nil(b);
        return;
    }
    uint8_t k = take(r);
    uint32_t n;
    switch (k % 16) {
    case 0: buf_byte(b, (const uint8_t[]){0xc0, 0xc2, 0xc3}[(k >> 4) % 3]); break; /* nil, false, true */
    case 1: buf_byte(b, (uint8_t)(k >> 4 & 1 ? 0xe0 | (k >> 3) : k >> 1)); break; /* fixints */
    case 2: put_tag(b, 0xcf, r, 8); break;                                      /* uint 64, any value */
    case 3: put_tag(b, (uint8_t)(0xcc + (k >> 4) % 8), r, 1 << ((k >> 4) % 4)); break; /* uint/int 8..64 */
    case 4: put_tag(b, k & 16 ? 0xca : 0xcb, r, k & 16 ? 4 : 8); break;             /* float 32/64, any bits */
    case 5: n = take(r) % 32; buf_byte(b, (uint8_t)(0xa0 | n)); put_bytes(b, r, n); break;
    case 6: n = take(r); put_len(b, (uint8_t)(0xd9 + (k >> 4) % 3), n, 1 << ((k >> 4) % 3)); put_bytes(b, r, n); break;
    case 7: n = take(r); put_len(b, (uint8_t)(0xc4 + (k >> 4) % 3), n, 1 << ((k >> 4) % 3)); put_bytes(b, r, n); break;
    case 8: put_tag(b, (uint8_t)(0xd4 + (k >> 4) % 5), r, 1 + (1 << ((k >> 4) % 5))); break; /* fixext */
    case 9: /* ext 8/16/32: length, type byte, data */
        n = take(r);
        put_len(b, (uint8_t)(0xc7 + (k >> 4) % 3), n, 1 << ((k >> 4) % 3));
        buf_byte(b, take(r));
        put_bytes(b, r, n);
        break;
    case 10:
    case 11:
    case 12: { /* array: fix, 16 or 32 */
        n = take(r) % 6;
        int form = (k >> 4) % 3;
        if (form == 0) buf_byte(b, (uint8_t)(0x90 | n)); else put_len(b, form == 1 ? 0xdc : 0xdd, n, form == 1 ? 2 : 4);
        for (uint32_t i = 0; i < n; i++) gen(b, r, depth + 1, budget);
        break;
    }
    case 13:
    case 14: { /* map: fix, 16 or 32; keys of any kind (valid MessagePack, not the protocol's subset) */
        n = take(r) % 4;
        int form = (k >> 4) % 3;
        if (form == 0) buf_byte(b, (uint8_t)(0x80 | n)); else put_len(b, form == 1 ? 0xde : 0xdf, n, form == 1 ? 2 : 4);
        for (uint32_t i = 0; i < 2 * n; i++) gen(b, r, depth + 1, budget);
        break;
    }
    default: /* a chain of one-item arrays: depth beyond what any reader allows */
        n = take(r);
        for (uint32_t i = 0; i < n; i++) buf_byte(b, 0x91);
        gen(b, r, depth + (int)n, budget);
        break;
    }
}

static void valid_values_skip(const uint8_t *data, size_t n) {
    recipe rc = {data, data + n};
    buf_t v = {0};
    int budget = 2000;
    gen(&v, &rc, 1, &budget);
    if (v.oom) return;
    mp_rd r;
    mp_rd_init(&r, v.p, v.len);
    if (mp_skip(&r) != 0 || r.p != r.end) abort();
    /* {"type":"ack","seq":7,"x":<the value>} */
    buf_t f = {0};
    mp_map(&f, 3);
    mp_cstr(&f, "type");
    mp_cstr(&f, "ack");
    mp_cstr(&f, "x");
    buf_put(&f, v.p, v.len);
    mp_cstr(&f, "seq");
    mp_int(&f, 7);
    engine_msg_t m;
    if (!f.oom && (proto_decode(f.p, f.len, &m) != 0 || m.type != EM_ACK || m.seq != 7)) abort();
    buf_free(&f);
    buf_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    valid_values_skip(data, n);

    /* one engine frame, as the I/O thread decodes it */
    engine_msg_t m;
    if (proto_decode(data, n, &m) == 0 && m.type == EM_COMMAND && m.payload) {
        buf_t js = {0};
        mp_rd pr;
        mp_rd_init(&pr, m.payload, m.payload_len);
        (void)mp_to_json(&pr, &js);
        buf_free(&js);
    }

    /* skip against the reader, value after value */
    mp_rd a, b;
    mp_rd_init(&a, data, n);
    mp_rd_init(&b, data, n);
    for (int i = 0; i < 64 && b.p < b.end; i++) {
        buf_t js = {0};
        int jr = mp_to_json(&b, &js);
        buf_free(&js);
        if (jr != 0) break;
        if (mp_skip(&a) != 0 || a.p != b.p) abort();
    }
    /* skip alone walks the whole input without reading past it */
    mp_rd_init(&a, data, n);
    while (a.p < a.end && mp_skip(&a) == 0) {
    }
    if (a.p > a.end) abort();

    json_round_trips(data, n);

    /* the input as JSON text, as a command result from an EA */
    buf_t mp = {0}, back = {0};
    char err[128];
    if (mp_from_json((const char *)data, n, &mp, 16, 10000, 0, err, sizeof err) == 0) {
        if (to_json_of(mp.p, mp.len, &back) != 0) abort();
        mp_rd s;
        mp_rd_init(&s, mp.p, mp.len);
        if (mp_skip(&s) != 0 || s.p != s.end) abort();
    }
    buf_free(&mp);
    buf_free(&back);
    return 0;
}
