/*
 * WebSocket (RFC 6455) edge cases: SHA-1/base64 and the accept value, the handshake response,
 * frame headers with 7/16/64-bit lengths, masking, fragmentation with control frames between the
 * fragments, close frames, byte-by-byte delivery, and the protocol errors a reader must refuse.
 */
/* mmap, MAP_ANONYMOUS and sysconf under -std=c11 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ws.h"
#include "testutil.h"

typedef struct {
    int type, opcode, close_code;
    size_t len;
    uint8_t data[200000];
} event_copy;

/* Feeds `in` to the reader `step` bytes at a time and collects up to `max` events. */
static int feed(ws_reader *r, const uint8_t *in, size_t n, size_t step, event_copy *evs, int max) {
    buf_t pending = {0};
    int count = 0;
    size_t given = 0;
    while (given < n || pending.len) {
        if (given < n) {
            size_t k = n - given < step ? n - given : step;
            buf_put(&pending, in + given, k);
            given += k;
        }
        for (;;) {
            size_t used;
            ws_frame_event ev;
            ws_read(r, pending.p, pending.len, &used, &ev);
            if (ev.type != WS_NEED_MORE && count < max) {
                evs[count].type = ev.type;
                evs[count].opcode = ev.opcode;
                evs[count].close_code = ev.close_code;
                evs[count].len = ev.len;
                if (ev.len && ev.data) memcpy(evs[count].data, ev.data, ev.len < sizeof evs[count].data ? ev.len : sizeof evs[count].data);
                count++;
            }
            buf_consume(&pending, used);
            if (ev.type == WS_ERROR) {
                buf_free(&pending);
                return count;
            }
            if (ev.type == WS_NEED_MORE) break;
        }
        if (given >= n) break;
    }
    buf_free(&pending);
    return count;
}

static event_copy evs[8];

static void test_hashes(void) {
    uint8_t d[20];
    char hex[41];
    ws_sha1("abc", 3, d);
    t_hex(d, 20, hex);
    CHECK(strcmp(hex, "a9993e364706816aba3e25717850c26c9cd0d89d") == 0, "sha1(abc) = %s", hex);
    ws_sha1("", 0, d);
    t_hex(d, 20, hex);
    CHECK(strcmp(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709") == 0, "sha1('') = %s", hex);
    const char *m56 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ws_sha1(m56, strlen(m56), d);
    t_hex(d, 20, hex);
    CHECK(strcmp(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1") == 0, "sha1(56 bytes) = %s", hex);
    static char million[1000000];
    memset(million, 'a', sizeof million);
    ws_sha1(million, sizeof million, d);
    t_hex(d, 20, hex);
    CHECK(strcmp(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f") == 0, "sha1(a x 1e6) = %s", hex);
    char b64[64];
    ws_base64((const uint8_t *)"foobar", 6, b64);
    CHECK(strcmp(b64, "Zm9vYmFy") == 0, "base64 %s", b64);
    ws_base64((const uint8_t *)"fooba", 5, b64);
    CHECK(strcmp(b64, "Zm9vYmE=") == 0, "base64 %s", b64);
    ws_base64((const uint8_t *)"foob", 4, b64);
    CHECK(strcmp(b64, "Zm9vYg==") == 0, "base64 %s", b64);
    char acc[29];
    ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", acc); /* RFC 6455 section 1.3 */
    CHECK(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0, "accept %s", acc);
}

static void test_handshake(void) {
    buf_t req = {0};
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    ws_build_request(&req, "127.0.0.1", 8787, "/v1", key);
    buf_byte(&req, 0);
    const char *s = (const char *)req.p;
    CHECK(strncmp(s, "GET /v1 HTTP/1.1\r\n", 18) == 0, "request line");
    CHECK(strstr(s, "Host: 127.0.0.1:8787\r\n") && strstr(s, "Upgrade: websocket\r\n") &&
              strstr(s, "Connection: Upgrade\r\n") && strstr(s, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n") &&
              strstr(s, "Sec-WebSocket-Version: 13\r\n") && strstr(s, "\r\n\r\n"),
          "request headers:\n%s", s);
    buf_free(&req);
    ws_build_request(&req, "::1", 80, "/", key);
    buf_byte(&req, 0);
    CHECK(strstr((const char *)req.p, "Host: [::1]:80\r\n") != NULL, "IPv6 host");
    buf_free(&req);

    char err[128];
    const char *ok = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, Upgrade\r\n"
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x82\x01X";
    size_t okn = strlen(ok);
    CHECK(ws_parse_response((const uint8_t *)ok, 20, key, err, sizeof err) == 0, "partial response needs more");
    long used = ws_parse_response((const uint8_t *)ok, okn, key, err, sizeof err);
    CHECK(used == (long)okn - 3, "101 parsed, frame bytes left over (%ld): %s", used, err);
    const char *wrong = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
    CHECK(ws_parse_response((const uint8_t *)wrong, strlen(wrong), key, err, sizeof err) < 0, "wrong accept refused");
    const char *refused = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    CHECK(ws_parse_response((const uint8_t *)refused, strlen(refused), key, err, sizeof err) < 0 && strstr(err, "400"),
          "HTTP 400 refused: %s", err);
    const char *noup = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    CHECK(ws_parse_response((const uint8_t *)noup, strlen(noup), key, err, sizeof err) < 0, "missing Upgrade refused");
    const char *ext = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    CHECK(ws_parse_response((const uint8_t *)ext, strlen(ext), key, err, sizeof err) < 0, "unoffered extension refused");
}

static void test_lengths_and_masking(void) {
    static uint8_t payload[70000];
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 31 + 7);
    const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
    size_t hdr[] = {2, 2, 2, 4, 4, 4, 10, 10};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        buf_t f = {0};
        ws_write_frame(&f, WS_OP_BINARY, 1, payload, n, mask);
        CHECK(f.len == hdr[k] + 4 + n, "frame of %zu bytes is %zu long", n, f.len);
        CHECK(f.p[0] == 0x82, "FIN + binary");
        CHECK(f.p[1] & 0x80, "mask bit set");
        size_t len7 = f.p[1] & 0x7f;
        if (n <= 125)
            CHECK(len7 == n, "7-bit length %zu", n);
        else if (n <= 65535)
            CHECK(len7 == 126 && ((size_t)f.p[2] << 8 | f.p[3]) == n, "16-bit length %zu", n);
        else {
            uint64_t l = 0;
            for (int i = 0; i < 8; i++) l = l << 8 | f.p[2 + i];
            CHECK(len7 == 127 && l == n, "64-bit length %zu", n);
        }
        CHECK(memcmp(f.p + hdr[k], mask, 4) == 0, "mask key follows the length");
        int masked_differs = n == 0 || memcmp(f.p + hdr[k] + 4, payload, n < 8 ? n : 8) != 0;
        CHECK(masked_differs, "payload is masked on the wire");
        /* a server reads it back unmasked */
        ws_reader srv;
        ws_reader_init(&srv, 1 << 20, 1);
        int c = feed(&srv, f.p, f.len, f.len, evs, 8);
        CHECK(c == 1 && evs[0].type == WS_MESSAGE && evs[0].opcode == WS_OP_BINARY && evs[0].len == n &&
                  memcmp(evs[0].data, payload, n) == 0,
              "server reads the %zu-byte frame back", n);
        ws_reader_free(&srv);
        /* unmasked (server) frames: same lengths */
        buf_t u = {0};
        ws_write_frame(&u, WS_OP_BINARY, 1, payload, n, NULL);
        CHECK(u.len == hdr[k] + n && !(u.p[1] & 0x80), "unmasked frame of %zu", n);
        ws_reader cli;
        ws_reader_init(&cli, 1 << 20, 0);
        c = feed(&cli, u.p, u.len, 7, evs, 8); /* in 7-byte pieces */
        CHECK(c == 1 && evs[0].type == WS_MESSAGE && evs[0].len == n && memcmp(evs[0].data, payload, n) == 0,
              "client reads the %zu-byte frame in 7-byte pieces", n);
        ws_reader_free(&cli);
        buf_free(&f);
        buf_free(&u);
    }
}

/*
 * A response that ends exactly at the end of readable memory: the parser must not look one byte
 * further (sscanf did: glibc's looks for a terminating NUL the network buffer never has, and the
 * next page is not mapped). The guard page turns such a read into a crash in any build.
 */
static void test_handshake_at_page_end(void) {
    long page = sysconf(_SC_PAGESIZE);
    uint8_t *mem = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(mem != MAP_FAILED, "mmap");
    if (mem == MAP_FAILED) return;
    CHECK(mprotect(mem + page, (size_t)page, PROT_NONE) == 0, "guard page");
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    char err[128];
    const char *cases[] = {
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        "HTTP/1.1 101\r\n\r\n", /* digits run up to the end of the status line */
        "HTTP/1.1 503 Service Unavailable\r\n\r\n",
    };
    long want[] = {(long)strlen(cases[0]), -1, -1};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(cases[i]);
        uint8_t *at = mem + page - n;
        memcpy(at, cases[i], n);
        long got = ws_parse_response(at, n, key, err, sizeof err);
        CHECK(got == want[i], "case %d at the page end: %ld (%s)", i, got, got < 0 ? err : "");
    }
    /* the status digits are checked, not just scanned */
    const char *bad[] = {"HTTP/1.1 1x1 OK\r\n\r\n", "HTTP/1.1 1010 OK\r\n\r\n", "HTTP/1.1  101 OK\r\n\r\n", "HTTP/1.1 10\r\n\r\n"};
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(bad[i]);
        uint8_t *at = mem + page - n;
        memcpy(at, bad[i], n);
        err[0] = 0;
        CHECK(ws_parse_response(at, n, key, err, sizeof err) < 0 && strstr(err, "not an HTTP response"), "bad status line %d: %s",
              i, err);
    }
    const char *s400 = "HTTP/1.1 400 Bad Request\r\n\r\n";
    memcpy(mem + page - strlen(s400), s400, strlen(s400));
    CHECK(ws_parse_response(mem + page - strlen(s400), strlen(s400), key, err, sizeof err) < 0 && strstr(err, "HTTP 400"),
          "status 400 read by hand: %s", err);
    munmap(mem, (size_t)page * 2);
}

/* An empty masked non-final fragment first: nothing to copy into a buffer not yet allocated. */
static void test_empty_fragments(void) {
    const uint8_t mask[4] = {9, 8, 7, 6};
    buf_t w = {0};
    ws_write_frame(&w, WS_OP_BINARY, 0, NULL, 0, mask);
    ws_write_frame(&w, WS_OP_CONT, 0, NULL, 0, mask);
    ws_write_frame(&w, WS_OP_CONT, 1, (const uint8_t *)"ok", 2, mask);
    ws_write_frame(&w, WS_OP_TEXT, 0, NULL, 0, mask);
    ws_write_frame(&w, WS_OP_CONT, 1, NULL, 0, mask);
    ws_reader s;
    ws_reader_init(&s, 1024, 1);
    int c = feed(&s, w.p, w.len, w.len, evs, 8);
    CHECK(c == 2, "two messages, got %d", c);
    CHECK(evs[0].type == WS_MESSAGE && evs[0].opcode == WS_OP_BINARY && evs[0].len == 2 && memcmp(evs[0].data, "ok", 2) == 0,
          "empty fragments then 'ok'");
    CHECK(evs[1].type == WS_MESSAGE && evs[1].opcode == WS_OP_TEXT && evs[1].len == 0, "a message of empty fragments only");
    ws_reader_free(&s);
    buf_free(&w);
}

static void test_fragments(void) {
    buf_t w = {0};
    ws_write_frame(&w, WS_OP_BINARY, 0, (const uint8_t *)"abc", 3, NULL);
    ws_write_frame(&w, WS_OP_PING, 1, (const uint8_t *)"p1", 2, NULL);
    ws_write_frame(&w, WS_OP_CONT, 0, (const uint8_t *)"def", 3, NULL);
    ws_write_frame(&w, WS_OP_PONG, 1, NULL, 0, NULL);
    ws_write_frame(&w, WS_OP_CONT, 1, (const uint8_t *)"gh", 2, NULL);
    ws_write_frame(&w, WS_OP_BINARY, 1, (const uint8_t *)"next", 4, NULL);
    for (size_t step = 1; step <= w.len; step += step < 4 ? 1 : 13) {
        ws_reader r;
        ws_reader_init(&r, 1024, 0);
        int c = feed(&r, w.p, w.len, step, evs, 8);
        CHECK(c == 4, "4 events (step %zu), got %d", step, c);
        CHECK(evs[0].type == WS_PING && evs[0].len == 2 && memcmp(evs[0].data, "p1", 2) == 0, "ping between fragments");
        CHECK(evs[1].type == WS_PONG, "pong between fragments");
        CHECK(evs[2].type == WS_MESSAGE && evs[2].opcode == WS_OP_BINARY && evs[2].len == 8 &&
                  memcmp(evs[2].data, "abcdefgh", 8) == 0,
              "reassembled message (step %zu)", step);
        CHECK(evs[3].type == WS_MESSAGE && evs[3].len == 4 && memcmp(evs[3].data, "next", 4) == 0, "next message");
        ws_reader_free(&r);
    }
    buf_free(&w);
    /* masked fragments on the server side */
    const uint8_t mask[4] = {1, 2, 3, 4};
    ws_write_frame(&w, WS_OP_TEXT, 0, (const uint8_t *)"hel", 3, mask);
    ws_write_frame(&w, WS_OP_CONT, 1, (const uint8_t *)"lo", 2, mask);
    ws_reader s;
    ws_reader_init(&s, 1024, 1);
    int c = feed(&s, w.p, w.len, 1, evs, 8);
    CHECK(c == 1 && evs[0].opcode == WS_OP_TEXT && evs[0].len == 5 && memcmp(evs[0].data, "hello", 5) == 0, "masked fragments");
    ws_reader_free(&s);
    buf_free(&w);
}

static void test_close(void) {
    buf_t w = {0};
    ws_write_close(&w, 4001, "bad token", NULL);
    ws_reader r;
    ws_reader_init(&r, 1024, 0);
    int c = feed(&r, w.p, w.len, w.len, evs, 8);
    CHECK(c == 1 && evs[0].type == WS_CLOSE && evs[0].close_code == 4001 && evs[0].len == 9 &&
              memcmp(evs[0].data, "bad token", 9) == 0,
          "close 4001 with a reason");
    w.len = 0;
    ws_write_close(&w, 0, NULL, NULL);
    CHECK(w.len == 2 && w.p[0] == 0x88 && w.p[1] == 0, "empty close frame");
    c = feed(&r, w.p, w.len, 1, evs, 8);
    CHECK(c == 1 && evs[0].type == WS_CLOSE && evs[0].close_code == 1005, "close without a code reads as 1005");
    w.len = 0;
    const uint8_t mask[4] = {9, 8, 7, 6};
    ws_write_close(&w, 1000, "goodbye", mask);
    CHECK(w.p[0] == 0x88 && w.p[1] == (0x80 | 9), "masked close frame header");
    ws_reader s;
    ws_reader_init(&s, 1024, 1);
    c = feed(&s, w.p, w.len, 3, evs, 8);
    CHECK(c == 1 && evs[0].type == WS_CLOSE && evs[0].close_code == 1000 && evs[0].len == 7, "server reads masked close");
    ws_reader_free(&s);
    ws_reader_free(&r);
    buf_free(&w);
}

static int one_error(const uint8_t *bytes, size_t n, int expect_masked, size_t max) {
    ws_reader r;
    ws_reader_init(&r, max, expect_masked);
    int c = feed(&r, bytes, n, n, evs, 8);
    ws_reader_free(&r);
    return c >= 1 && evs[c - 1].type == WS_ERROR ? evs[c - 1].close_code : 0;
}

static void test_errors(void) {
    const uint8_t masked_from_server[] = {0x82, 0x81, 1, 2, 3, 4, 'x'};
    CHECK(one_error(masked_from_server, sizeof masked_from_server, 0, 1024) == 1002, "masked server frame refused");
    const uint8_t unmasked_from_client[] = {0x82, 0x01, 'x'};
    CHECK(one_error(unmasked_from_client, sizeof unmasked_from_client, 1, 1024) == 1002, "unmasked client frame refused");
    const uint8_t rsv[] = {0xc2, 0x01, 'x'};
    CHECK(one_error(rsv, sizeof rsv, 0, 1024) == 1002, "RSV1 without an extension refused");
    const uint8_t long_ping[] = {0x89, 126, 0, 126};
    CHECK(one_error(long_ping, sizeof long_ping, 0, 1024) == 1002, "ping longer than 125 refused");
    const uint8_t frag_ping[] = {0x09, 0x00};
    CHECK(one_error(frag_ping, sizeof frag_ping, 0, 1024) == 1002, "fragmented ping refused");
    const uint8_t stray_cont[] = {0x80, 0x01, 'x'};
    CHECK(one_error(stray_cont, sizeof stray_cont, 0, 1024) == 1002, "continuation without a start refused");
    const uint8_t interleaved[] = {0x02, 0x01, 'a', 0x82, 0x01, 'b'};
    CHECK(one_error(interleaved, sizeof interleaved, 0, 1024) == 1002, "new message inside a fragmented one refused");
    const uint8_t opcode3[] = {0x83, 0x00};
    CHECK(one_error(opcode3, sizeof opcode3, 0, 1024) == 1002, "reserved opcode refused");
    const uint8_t opcodeB[] = {0x8b, 0x00};
    CHECK(one_error(opcodeB, sizeof opcodeB, 0, 1024) == 1002, "reserved control opcode refused");
    const uint8_t close1[] = {0x88, 0x01, 0x03};
    CHECK(one_error(close1, sizeof close1, 0, 1024) == 1002, "1-byte close payload refused");
    const uint8_t big[] = {0x82, 127, 0, 0, 0, 0, 0, 0x10, 0, 0};
    CHECK(one_error(big, sizeof big, 0, 1024) == 1009, "a frame above the limit is refused before its bytes arrive");
    const uint8_t topbit[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
    CHECK(one_error(topbit, sizeof topbit, 0, 1024) == 1002, "64-bit length with the top bit set refused");
    /* fragments adding up beyond the limit */
    buf_t w = {0};
    uint8_t chunk[600];
    memset(chunk, 'z', sizeof chunk);
    ws_write_frame(&w, WS_OP_BINARY, 0, chunk, sizeof chunk, NULL);
    ws_write_frame(&w, WS_OP_CONT, 1, chunk, sizeof chunk, NULL);
    CHECK(one_error(w.p, w.len, 0, 1024) == 1009, "reassembled message above the limit refused");
    buf_free(&w);
}

int main(void) {
    test_hashes();
    test_handshake();
    test_lengths_and_masking();
    test_handshake_at_page_end();
    test_fragments();
    test_empty_fragments();
    test_close();
    test_errors();
    return t_done("test_ws");
}
