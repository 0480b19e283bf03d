#include "ws.h"

#include <ctype.h>
#include <stdio.h> /* snprintf only: nothing here may read past `n` */
#include <string.h>

/* ---------- SHA-1 (FIPS 180-4) ---------- */

static uint32_t rol(uint32_t v, int s) { return (v << s) | (v >> (32 - s)); }

static void sha1_block(uint32_t h[5], const uint8_t *blk) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 | (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void ws_sha1(const void *data, size_t n, uint8_t out[20]) {
    uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    const uint8_t *p = data;
    size_t left = n;
    while (left >= 64) {
        sha1_block(h, p);
        p += 64;
        left -= 64;
    }
    uint8_t tail[128];
    memset(tail, 0, sizeof tail);
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tn = left + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++) tail[tn - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha1_block(h, tail);
    if (tn == 128) sha1_block(h, tail + 64);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

void ws_base64(const uint8_t *p, size_t n, char *out) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = 0;
}

void ws_accept_for(const char *key, char out[29]) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char cat[128];
    size_t kn = strlen(key);
    if (kn > 64) kn = 64;
    memcpy(cat, key, kn);
    memcpy(cat + kn, guid, sizeof guid - 1);
    uint8_t digest[20];
    ws_sha1(cat, kn + sizeof guid - 1, digest);
    ws_base64(digest, 20, out);
}

/* ---------- handshake ---------- */

void ws_build_request(buf_t *out, const char *host, int port, const char *path, const char *key) {
    char req[1024];
    int is_v6 = strchr(host, ':') != NULL;
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s%s%s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "User-Agent: mt5bridge\r\n"
                     "\r\n",
                     path, is_v6 ? "[" : "", host, is_v6 ? "]" : "", port, key);
    if (n > 0 && (size_t)n < sizeof req) buf_put(out, req, (size_t)n);
}

static int ieq(const char *a, size_t an, const char *b) {
    size_t bn = strlen(b);
    if (an != bn) return 0;
    for (size_t i = 0; i < an; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return 0;
    return 1;
}

/* Does the comma-separated header value contain `token` (case-insensitive)? */
static int has_token(const char *v, size_t n, const char *token) {
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t s = i;
        while (i < n && v[i] != ',') i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e > s && ieq(v + s, e - s, token)) return 1;
    }
    return 0;
}

long ws_parse_response(const uint8_t *in, size_t n, const char *key, char *err, size_t errcap) {
    const char *s = (const char *)in;
    size_t end = 0;
    for (size_t i = 0; i + 3 < n; i++) {
        if (s[i] == '\r' && s[i + 1] == '\n' && s[i + 2] == '\r' && s[i + 3] == '\n') {
            end = i + 4;
            break;
        }
    }
    if (end == 0) {
        if (n > 16384) {
            snprintf(err, errcap, "handshake response headers too long");
            return -1;
        }
        return 0;
    }
    /* status line */
    size_t le = 0;
    while (le < end && s[le] != '\r') le++;
    /* The status digits are read by hand: `in` has no terminating NUL, and sscanf would look for one
     * past the end of the response (glibc's sscanf runs strlen first). */
    int status = 0;
    int digits = le >= 12 && memcmp(s, "HTTP/1.1 ", 9) == 0;
    for (size_t k = 9; digits && k < 12; k++) {
        if (s[k] < '0' || s[k] > '9')
            digits = 0;
        else
            status = status * 10 + (s[k] - '0');
    }
    if (digits && le > 12 && s[12] != ' ') digits = 0; /* "HTTP/1.1 1010" is not status 101 */
    if (!digits) {
        snprintf(err, errcap, "handshake: not an HTTP response");
        return -1;
    }
    if (status != 101) {
        snprintf(err, errcap, "handshake refused: HTTP %d", status);
        return -1;
    }
    char want[29];
    ws_accept_for(key, want);
    int ok_upgrade = 0, ok_conn = 0, ok_accept = 0;
    size_t i = le + 2;
    while (i < end - 2) {
        size_t ls = i;
        while (i < end && s[i] != '\r') i++;
        size_t lend = i;
        i += 2;
        size_t colon = ls;
        while (colon < lend && s[colon] != ':') colon++;
        if (colon >= lend) continue;
        size_t vs = colon + 1;
        while (vs < lend && (s[vs] == ' ' || s[vs] == '\t')) vs++;
        size_t ve = lend;
        while (ve > vs && (s[ve - 1] == ' ' || s[ve - 1] == '\t')) ve--;
        const char *name = s + ls;
        size_t nn = colon - ls;
        if (ieq(name, nn, "upgrade"))
            ok_upgrade = has_token(s + vs, ve - vs, "websocket");
        else if (ieq(name, nn, "connection"))
            ok_conn = has_token(s + vs, ve - vs, "upgrade");
        else if (ieq(name, nn, "sec-websocket-accept"))
            ok_accept = ve - vs == 28 && memcmp(s + vs, want, 28) == 0;
        else if (ieq(name, nn, "sec-websocket-extensions") && ve > vs) {
            snprintf(err, errcap, "handshake: the server chose an extension we did not offer");
            return -1;
        }
    }
    if (!ok_upgrade || !ok_conn) {
        snprintf(err, errcap, "handshake: missing Upgrade/Connection headers");
        return -1;
    }
    if (!ok_accept) {
        snprintf(err, errcap, "handshake: wrong Sec-WebSocket-Accept");
        return -1;
    }
    return (long)end;
}

/* ---------- frames ---------- */

void ws_write_frame(buf_t *out, int opcode, int fin, const uint8_t *payload, size_t n, const uint8_t *mask) {
    uint8_t h[14];
    size_t hn = 2;
    h[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    uint8_t m = mask ? 0x80 : 0;
    if (n <= 125) {
        h[1] = (uint8_t)(m | n);
    } else if (n <= 0xffff) {
        h[1] = (uint8_t)(m | 126);
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
        hn = 4;
    } else {
        h[1] = (uint8_t)(m | 127);
        for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)n >> (8 * (7 - i)));
        hn = 10;
    }
    if (mask) {
        memcpy(h + hn, mask, 4);
        hn += 4;
    }
    if (buf_reserve(out, hn + n) != 0) return;
    memcpy(out->p + out->len, h, hn);
    out->len += hn;
    uint8_t *dst = out->p + out->len;
    if (mask) {
        for (size_t i = 0; i < n; i++) dst[i] = payload[i] ^ mask[i & 3];
    } else if (n) {
        memcpy(dst, payload, n);
    }
    out->len += n;
}

void ws_write_close(buf_t *out, int code, const char *reason, const uint8_t *mask) {
    uint8_t p[125];
    size_t n = 0;
    if (code > 0) {
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        n = 2;
        size_t rn = reason ? strlen(reason) : 0;
        if (rn > 123) rn = 123;
        if (rn) memcpy(p + 2, reason, rn);
        n += rn;
    }
    ws_write_frame(out, WS_OP_CLOSE, 1, p, n, mask);
}

void ws_reader_init(ws_reader *r, size_t max_message, int expect_masked) {
    memset(r, 0, sizeof *r);
    r->max_message = max_message;
    r->expect_masked = expect_masked;
}

void ws_reader_reset(ws_reader *r) {
    r->msg.len = 0;
    r->msg.oom = 0;
    r->in_message = 0;
    r->msg_opcode = 0;
}

void ws_reader_free(ws_reader *r) {
    buf_free(&r->msg);
    buf_free(&r->scratch);
}

static void ev_error(ws_frame_event *ev, int code, const char *why) {
    ev->type = WS_ERROR;
    ev->close_code = code;
    snprintf(ev->err, sizeof ev->err, "%s", why);
}

static void unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t *mask) {
    for (size_t i = 0; i < n; i++) dst[i] = src[i] ^ mask[i & 3];
}

void ws_read(ws_reader *r, const uint8_t *in, size_t n, size_t *used, ws_frame_event *ev) {
    memset(ev, 0, sizeof *ev);
    *used = 0;
    for (;;) {
        if (n < 2) return;
        int fin = in[0] & 0x80;
        int rsv = in[0] & 0x70;
        int op = in[0] & 0x0f;
        int masked = in[1] & 0x80;
        uint64_t len = in[1] & 0x7f;
        size_t hn = 2;
        if (len == 126) {
            if (n < 4) return;
            len = (uint64_t)in[2] << 8 | in[3];
            hn = 4;
        } else if (len == 127) {
            if (n < 10) return;
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | in[2 + i];
            hn = 10;
            if (len >> 63) {
                ev_error(ev, 1002, "frame length has the top bit set");
                return;
            }
        }
        if (rsv) {
            ev_error(ev, 1002, "reserved bits set (no extension was negotiated)");
            return;
        }
        if (masked != (r->expect_masked ? 0x80 : 0)) {
            ev_error(ev, 1002, r->expect_masked ? "client frame not masked" : "server frame is masked");
            return;
        }
        int control = op & 0x8;
        if (control) {
            if (op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG) {
                ev_error(ev, 1002, "unknown control opcode");
                return;
            }
            if (!fin || len > 125) {
                ev_error(ev, 1002, "control frame fragmented or longer than 125 bytes");
                return;
            }
        } else if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY) {
            ev_error(ev, 1002, "unknown data opcode");
            return;
        }
        /* check sizes before waiting for the bytes, so a huge frame fails at once */
        if (!control) {
            uint64_t total = (op == WS_OP_CONT ? r->msg.len : 0) + len;
            if (total > r->max_message) {
                ev_error(ev, 1009, "message larger than the limit");
                return;
            }
        }
        size_t mn = masked ? 4 : 0;
        if (n < hn + mn || (uint64_t)(n - hn - mn) < len) return; /* need more */
        const uint8_t *mask = masked ? in + hn : NULL;
        const uint8_t *payload = in + hn + mn;
        size_t total = hn + mn + (size_t)len;
        if (control) {
            if (mask) {
                unmask(r->ctl, payload, (size_t)len, mask);
            } else if (len) {
                memcpy(r->ctl, payload, (size_t)len);
            }
            *used += total;
            ev->data = r->ctl;
            ev->len = (size_t)len;
            if (op == WS_OP_PING) {
                ev->type = WS_PING;
            } else if (op == WS_OP_PONG) {
                ev->type = WS_PONG;
            } else {
                ev->type = WS_CLOSE;
                if (len == 1) {
                    ev_error(ev, 1002, "close payload of one byte");
                    return;
                }
                ev->close_code = len >= 2 ? (r->ctl[0] << 8 | r->ctl[1]) : 1005;
                ev->data = r->ctl + (len >= 2 ? 2 : 0);
                ev->len = len >= 2 ? (size_t)len - 2 : 0;
            }
            return;
        }
        if (op == WS_OP_CONT) {
            if (!r->in_message) {
                ev_error(ev, 1002, "continuation frame without a message");
                return;
            }
        } else if (r->in_message) {
            ev_error(ev, 1002, "new message before the previous one ended");
            return;
        }
        if (fin && op != WS_OP_CONT) {
            /* the common case: one frame, one message */
            *used += total;
            ev->type = WS_MESSAGE;
            ev->opcode = op;
            ev->len = (size_t)len;
            if (mask) {
                r->scratch.len = 0;
                if (buf_reserve(&r->scratch, (size_t)len + 1) != 0) {
                    ev_error(ev, 1009, "out of memory");
                    return;
                }
                unmask(r->scratch.p, payload, (size_t)len, mask);
                ev->data = r->scratch.p;
            } else {
                ev->data = payload;
            }
            return;
        }
        if (op != WS_OP_CONT) {
            r->in_message = 1;
            r->msg_opcode = op;
            r->msg.len = 0;
        }
        size_t at = r->msg.len;
        if (buf_reserve(&r->msg, (size_t)len) != 0) {
            ev_error(ev, 1009, "out of memory");
            return;
        }
        /* An empty fragment copies nothing: r->msg.p may still be NULL, and NULL + 0 is undefined. */
        if (len && mask)
            unmask(r->msg.p + at, payload, (size_t)len, mask);
        else if (len)
            memcpy(r->msg.p + at, payload, (size_t)len);
        r->msg.len += (size_t)len;
        in += total;
        n -= total;
        *used += total;
        if (fin) {
            r->in_message = 0;
            ev->type = WS_MESSAGE;
            ev->opcode = r->msg_opcode;
            ev->data = r->msg.p;
            ev->len = r->msg.len;
            return;
        }
        /* a non-final fragment was consumed: look at the next frame */
    }
}
