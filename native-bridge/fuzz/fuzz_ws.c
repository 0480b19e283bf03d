/*
 * libFuzzer target: the WebSocket handshake-response parser and the frame reader, on arbitrary
 * bytes. Besides crashes and sanitizer reports it checks that
 *  - the handshake parser never claims more bytes than it was given;
 *  - the reader never consumes more than it was given, and always makes progress on an event;
 *  - the same bytes delivered whole and in small pieces give the same events (what a TCP stream
 *    may do to us);
 *  - a frame the writer makes reads back as the same message, masked or not.
 * The first input byte picks the reader's side (masked or not) and the piece size.
 */
#define _DEFAULT_SOURCE /* mmap, MAP_ANONYMOUS under -std=c11 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ws.h"

#define MAX_EVENTS 64

typedef struct {
    int type, opcode, close_code;
    size_t len;
    uint32_t sum; /* the event's bytes, summed: also makes ASan check that they are readable */
} ev_rec;

static uint32_t checksum(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Feeds `in` `step` bytes at a time; returns how many events it recorded. */
static int feed(const uint8_t *in, size_t n, size_t step, int masked, ev_rec *out) {
    ws_reader r;
    ws_reader_init(&r, 1 << 16, masked);
    buf_t pending = {0};
    size_t given = 0;
    int count = 0;
    int done = 0;
    while (!done && given < n) {
        size_t k = n - given < step ? n - given : step;
        buf_put(&pending, in + given, k);
        given += k;
        for (;;) {
            size_t used = 0;
            ws_frame_event ev;
            ws_read(&r, pending.p, pending.len, &used, &ev);
            if (used > pending.len) abort();
            if (ev.type == WS_NEED_MORE) {
                buf_consume(&pending, used);
                break;
            }
            if (ev.type != WS_ERROR && used == 0) abort(); /* an event without progress would spin */
            if (ev.len && !ev.data) abort();
            if (count < MAX_EVENTS) {
                ev_rec *e = &out[count++];
                e->type = ev.type;
                e->opcode = ev.opcode;
                e->close_code = ev.close_code;
                e->len = ev.len;
                e->sum = ev.data ? checksum(ev.data, ev.len) : 0;
            }
            buf_consume(&pending, used);
            if (ev.type == WS_ERROR || count >= MAX_EVENTS) {
                done = 1;
                break;
            }
        }
    }
    buf_free(&pending);
    ws_reader_free(&r);
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n < 1) return 0;
    int masked = data[0] & 1;
    size_t step = (size_t)((data[0] >> 1) & 15) + 1;
    data++;
    n--;

    /* handshake: the response placed to end exactly where readable memory ends. A heap copy is not
     * enough: an overread inside libc (sscanf's strlen) is not instrumented, a guard page is. */
    static uint8_t *region;
    static size_t region_n;
    if (!region) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        region_n = (1 << 20) + page; /* inputs up to 1 MiB, then the guard page */
        region = mmap(NULL, region_n + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (region == MAP_FAILED || mprotect(region + region_n, page, PROT_NONE) != 0) abort();
    }
    if (n <= region_n) {
        uint8_t *at = region + region_n - n;
        if (n) memcpy(at, data, n);
        char err[128];
        long used = ws_parse_response(at, n, "dGhlIHNhbXBsZSBub25jZQ==", err, sizeof err);
        if (used > (long)n) abort();
    }

    /* frames: whole, then in pieces */
    static ev_rec whole[MAX_EVENTS], pieces[MAX_EVENTS];
    int a = feed(data, n, n ? n : 1, masked, whole);
    int b = feed(data, n, step, masked, pieces);
    if (a != b) abort();
    for (int i = 0; i < a; i++) {
        /* an error's text may differ only where the input ended mid-frame; its code may not */
        if (whole[i].type != pieces[i].type || whole[i].close_code != pieces[i].close_code) abort();
        if (whole[i].type != WS_ERROR &&
            (whole[i].opcode != pieces[i].opcode || whole[i].len != pieces[i].len || whole[i].sum != pieces[i].sum))
            abort();
    }

    /* writer -> reader: the input as one binary message's payload */
    if (n <= 70000) {
        static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
        buf_t w = {0};
        ws_write_frame(&w, WS_OP_BINARY, 1, data, n, masked ? mask : NULL);
        ws_reader r;
        ws_reader_init(&r, 1 << 17, masked);
        size_t u = 0;
        ws_frame_event ev;
        ws_read(&r, w.p, w.len, &u, &ev);
        if (ev.type != WS_MESSAGE || u != w.len || ev.len != n || (n && memcmp(ev.data, data, n) != 0)) abort();
        ws_reader_free(&r);
        buf_free(&w);
    }
    return 0;
}
