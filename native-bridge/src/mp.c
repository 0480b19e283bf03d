#include "mp.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- writer ---------- */

static void put_be(buf_t *b, uint8_t tag, uint64_t v, int bytes) {
    uint8_t t[9];
    t[0] = tag;
    for (int i = 0; i < bytes; i++) t[1 + i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    buf_put(b, t, (size_t)bytes + 1);
}

void mp_nil(buf_t *b) { buf_byte(b, 0xc0); }
void mp_bool(buf_t *b, int v) { buf_byte(b, v ? 0xc3 : 0xc2); }

void mp_int(buf_t *b, int64_t v) {
    if (v >= 0) {
        if (v <= 0x7f)
            buf_byte(b, (uint8_t)v);
        else if (v <= 0xff)
            put_be(b, 0xcc, (uint64_t)v, 1);
        else if (v <= 0xffff)
            put_be(b, 0xcd, (uint64_t)v, 2);
        else if (v <= 0xffffffffLL)
            put_be(b, 0xce, (uint64_t)v, 4);
        else
            put_be(b, 0xd3, (uint64_t)v, 8);
    } else {
        if (v >= -32)
            buf_byte(b, (uint8_t)(int8_t)v);
        else if (v >= -128)
            put_be(b, 0xd0, (uint64_t)v & 0xff, 1);
        else if (v >= -32768)
            put_be(b, 0xd1, (uint64_t)v & 0xffff, 2);
        else if (v >= -2147483648LL)
            put_be(b, 0xd2, (uint64_t)v & 0xffffffffULL, 4);
        else
            put_be(b, 0xd3, (uint64_t)v, 8);
    }
}

void mp_float64(buf_t *b, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    put_be(b, 0xcb, bits, 8);
}

void mp_double(buf_t *b, double v) {
    if (v == v && v >= -(double)MP_MAX_SAFE && v <= (double)MP_MAX_SAFE && v == (double)(int64_t)v) {
        mp_int(b, (int64_t)v);
    } else {
        mp_float64(b, v);
    }
}

void mp_str(buf_t *b, const void *s, size_t n) {
    if (n <= 31)
        buf_byte(b, (uint8_t)(0xa0 | n));
    else if (n <= 0xff)
        put_be(b, 0xd9, n, 1);
    else if (n <= 0xffff)
        put_be(b, 0xda, n, 2);
    else
        put_be(b, 0xdb, n, 4);
    buf_put(b, s, n);
}

void mp_cstr(buf_t *b, const char *s) { mp_str(b, s, strlen(s)); }

void mp_array(buf_t *b, uint32_t n) {
    if (n <= 15)
        buf_byte(b, (uint8_t)(0x90 | n));
    else if (n <= 0xffff)
        put_be(b, 0xdc, n, 2);
    else
        put_be(b, 0xdd, n, 4);
}

void mp_map(buf_t *b, uint32_t n) {
    if (n <= 15)
        buf_byte(b, (uint8_t)(0x80 | n));
    else if (n <= 0xffff)
        put_be(b, 0xde, n, 2);
    else
        put_be(b, 0xdf, n, 4);
}

/* ---------- reader ---------- */

void mp_rd_init(mp_rd *r, const void *p, size_t n) {
    r->p = p;
    r->end = (const uint8_t *)p + n;
    r->err = 0;
}

static int fail(mp_rd *r) {
    r->err = 1;
    return -1;
}

static int need(mp_rd *r, size_t n) { return (size_t)(r->end - r->p) >= n ? 0 : fail(r); }

static uint64_t be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

enum mp_kind mp_peek(const mp_rd *r) {
    if (r->err) return MP_INVALID;
    if (r->p >= r->end) return MP_END;
    uint8_t c = *r->p;
    if (c <= 0x7f || c >= 0xe0) return MP_INT;
    if (c <= 0x8f) return MP_MAP;
    if (c <= 0x9f) return MP_ARRAY;
    if (c <= 0xbf) return MP_STR;
    switch (c) {
    case 0xc0: return MP_NIL;
    case 0xc2:
    case 0xc3: return MP_BOOL;
    case 0xc4:
    case 0xc5:
    case 0xc6: return MP_BIN;
    case 0xca:
    case 0xcb: return MP_FLOAT;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: return MP_INT;
    case 0xd9:
    case 0xda:
    case 0xdb: return MP_STR;
    case 0xdc:
    case 0xdd: return MP_ARRAY;
    case 0xde:
    case 0xdf: return MP_MAP;
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: return MP_EXT;
    default: return MP_INVALID;
    }
}

int mp_read_nil(mp_rd *r) {
    if (need(r, 1) || *r->p != 0xc0) return fail(r);
    r->p++;
    return 0;
}

int mp_read_bool(mp_rd *r, int *v) {
    if (need(r, 1) || (*r->p != 0xc2 && *r->p != 0xc3)) return fail(r);
    *v = *r->p == 0xc3;
    r->p++;
    return 0;
}

/* Reads an int or float; *is_int tells which. */
static int read_number(mp_rd *r, int64_t *iv, double *dv, int *is_int) {
    if (need(r, 1)) return -1;
    uint8_t c = *r->p;
    if (c <= 0x7f) {
        r->p++;
        *iv = c;
        *is_int = 1;
        return 0;
    }
    if (c >= 0xe0) {
        r->p++;
        *iv = (int8_t)c;
        *is_int = 1;
        return 0;
    }
    int n;
    switch (c) {
    case 0xcc: case 0xd0: n = 1; break;
    case 0xcd: case 0xd1: n = 2; break;
    case 0xce: case 0xd2: case 0xca: n = 4; break;
    case 0xcf: case 0xd3: case 0xcb: n = 8; break;
    default: return fail(r);
    }
    if (need(r, (size_t)n + 1)) return -1;
    uint64_t v = be(r->p + 1, n);
    r->p += n + 1;
    *is_int = 1;
    switch (c) {
    case 0xcc: case 0xcd: case 0xce: *iv = (int64_t)v; break;
    case 0xcf:
        if (v > (uint64_t)INT64_MAX) return fail(r);
        *iv = (int64_t)v;
        break;
    case 0xd0: *iv = (int8_t)v; break;
    case 0xd1: *iv = (int16_t)v; break;
    case 0xd2: *iv = (int32_t)(uint32_t)v; break;
    case 0xd3: *iv = (int64_t)v; break;
    case 0xca: {
        uint32_t b32 = (uint32_t)v;
        float f;
        memcpy(&f, &b32, 4);
        *dv = f;
        *is_int = 0;
        break;
    }
    case 0xcb: memcpy(dv, &v, 8); *is_int = 0; break;
    }
    return 0;
}

int mp_read_int(mp_rd *r, int64_t *v) {
    int64_t iv = 0;
    double dv = 0;
    int is_int = 0;
    if (read_number(r, &iv, &dv, &is_int)) return -1;
    if (is_int) {
        *v = iv;
        return 0;
    }
    if (dv != dv || dv < -9.2e18 || dv > 9.2e18 || dv != (double)(int64_t)dv) return fail(r);
    *v = (int64_t)dv;
    return 0;
}

int mp_read_double(mp_rd *r, double *v) {
    int64_t iv = 0;
    double dv = 0;
    int is_int = 0;
    if (read_number(r, &iv, &dv, &is_int)) return -1;
    *v = is_int ? (double)iv : dv;
    return 0;
}

int mp_read_str(mp_rd *r, const char **s, uint32_t *n) {
    if (need(r, 1)) return -1;
    uint8_t c = *r->p;
    uint64_t len;
    int hdr;
    if (c >= 0xa0 && c <= 0xbf) {
        len = c & 0x1f;
        hdr = 1;
    } else if (c == 0xd9 || c == 0xda || c == 0xdb) {
        int w = c == 0xd9 ? 1 : c == 0xda ? 2 : 4;
        if (need(r, (size_t)w + 1)) return -1;
        len = be(r->p + 1, w);
        hdr = 1 + w;
    } else {
        return fail(r);
    }
    if (need(r, hdr + len)) return -1;
    *s = (const char *)r->p + hdr;
    *n = (uint32_t)len;
    r->p += hdr + len;
    return 0;
}

static int read_container(mp_rd *r, uint32_t *n, uint8_t fixbase, uint8_t tag16, uint8_t tag32) {
    if (need(r, 1)) return -1;
    uint8_t c = *r->p;
    if ((c & 0xf0) == fixbase) {
        *n = c & 0x0f;
        r->p++;
        return 0;
    }
    int w = c == tag16 ? 2 : c == tag32 ? 4 : 0;
    if (!w || need(r, (size_t)w + 1)) return fail(r);
    *n = (uint32_t)be(r->p + 1, w);
    r->p += w + 1;
    /* every item takes at least one byte: refuse counts the buffer cannot hold */
    if (*n > (size_t)(r->end - r->p)) return fail(r);
    return 0;
}

int mp_read_array(mp_rd *r, uint32_t *n) { return read_container(r, n, 0x90, 0xdc, 0xdd); }
int mp_read_map(mp_rd *r, uint32_t *n) { return read_container(r, n, 0x80, 0xde, 0xdf); }

/*
 * Skipping checks only the bytes, never the values: a field we do not read may hold anything
 * MessagePack allows (a uint 64 above INT64_MAX, an ext, a bin, any depth). It is a loop over a
 * count of values still to skip instead of a recursion, so no nesting depth can exhaust the stack;
 * the count stays below the bytes left, since every value takes at least one byte.
 */
int mp_skip(mp_rd *r) {
    uint64_t pending = 1;
    while (pending) {
        if (need(r, 1)) return -1;
        if (pending > (uint64_t)(r->end - r->p)) return fail(r);
        pending--;
        uint8_t c = *r->p;
        uint64_t head = 1, body = 0, items = 0;
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            /* positive/negative fixint, nil, false, true */
        } else if (c <= 0x8f) {
            items = 2 * (uint64_t)(c & 0x0f);
        } else if (c <= 0x9f) {
            items = c & 0x0f;
        } else if (c <= 0xbf) {
            body = c & 0x1f;
        } else {
            int w = 0; /* width of a length or count that follows the tag */
            switch (c) {
            case 0xcc: case 0xd0: body = 1; break;
            case 0xcd: case 0xd1: body = 2; break;
            case 0xca: case 0xce: case 0xd2: body = 4; break;
            case 0xcb: case 0xcf: case 0xd3: body = 8; break;
            case 0xd4: body = 2; break;  /* fixext 1: type byte + 1 */
            case 0xd5: body = 3; break;  /* fixext 2 */
            case 0xd6: body = 5; break;  /* fixext 4 */
            case 0xd7: body = 9; break;  /* fixext 8 */
            case 0xd8: body = 17; break; /* fixext 16 */
            case 0xc4: case 0xd9: case 0xc7: w = 1; break;
            case 0xc5: case 0xda: case 0xc8: case 0xdc: case 0xde: w = 2; break;
            case 0xc6: case 0xdb: case 0xc9: case 0xdd: case 0xdf: w = 4; break;
            default: return fail(r); /* 0xc1: never used */
            }
            if (w) {
                if (need(r, (size_t)w + 1)) return -1;
                uint64_t v = be(r->p + 1, w);
                head = 1 + (uint64_t)w;
                if (c == 0xdc || c == 0xdd)
                    items = v;
                else if (c == 0xde || c == 0xdf)
                    items = 2 * v;
                else
                    body = v + (c == 0xc7 || c == 0xc8 || c == 0xc9); /* ext: its type byte */
            }
        }
        if ((uint64_t)(r->end - r->p) < head + body) return fail(r);
        r->p += head + body;
        pending += items;
    }
    return 0;
}


int mp_key_is(const char *s, uint32_t n, const char *key) { return strlen(key) == n && memcmp(s, key, n) == 0; }

/* ---------- UTF-8 ---------- */

int utf8_valid(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int extra;
        if (c >= 0xc2 && c <= 0xdf) {
            cp = c & 0x1f;
            extra = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            cp = c & 0x0f;
            extra = 2;
        } else if (c >= 0xf0 && c <= 0xf4) {
            cp = c & 0x07;
            extra = 3;
        } else {
            return 0;
        }
        if (i + (size_t)extra >= n) return 0;
        for (int k = 1; k <= extra; k++) {
            uint8_t d = p[i + (size_t)k];
            if ((d & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (d & 0x3f);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
        if (cp >= 0xd800 && cp <= 0xdfff) return 0;
        i += (size_t)extra + 1;
    }
    return 1;
}

/* ---------- MessagePack -> JSON ---------- */

static void json_string(buf_t *out, const char *s, uint32_t n) {
    static const char hex[] = "0123456789abcdef";
    buf_byte(out, '"');
    for (uint32_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == '"' || c == '\\') {
            buf_byte(out, '\\');
            buf_byte(out, c);
        } else if (c == '\n') {
            buf_put(out, "\\n", 2);
        } else if (c == '\r') {
            buf_put(out, "\\r", 2);
        } else if (c == '\t') {
            buf_put(out, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_put(out, e, 6);
        } else {
            buf_byte(out, c);
        }
    }
    buf_byte(out, '"');
}

/* Formats a double with the fewest digits that read back to the same value, with '.' always. */
static void json_double(buf_t *out, double v) {
    char tmp[40];
    if (v != v || v == HUGE_VAL || v == -HUGE_VAL) {
        buf_put(out, "null", 4);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        for (char *c = tmp; *c; c++)
            if (*c == ',') *c = '.';
        char back[40];
        memcpy(back, tmp, sizeof tmp);
        /* strtod follows the C locale's decimal point */
        const char *dp = localeconv()->decimal_point;
        if (dp && dp[0] && dp[0] != '.')
            for (char *c = back; *c; c++)
                if (*c == '.') *c = dp[0];
        if (strtod(back, NULL) == v || prec == 17) break;
    }
    buf_put(out, tmp, strlen(tmp));
}

static int to_json(mp_rd *r, buf_t *out, int depth) {
    if (depth > 64) return fail(r);
    switch (mp_peek(r)) {
    case MP_NIL: r->p++; buf_put(out, "null", 4); return 0;
    case MP_BOOL: {
        int v = 0;
        mp_read_bool(r, &v);
        if (v)
            buf_put(out, "true", 4);
        else
            buf_put(out, "false", 5);
        return 0;
    }
    case MP_INT:
    case MP_FLOAT: {
        int64_t iv;
        double dv;
        int is_int;
        if (read_number(r, &iv, &dv, &is_int)) return -1;
        if (is_int) {
            char tmp[24];
            snprintf(tmp, sizeof tmp, "%lld", (long long)iv);
            buf_put(out, tmp, strlen(tmp));
        } else {
            json_double(out, dv);
        }
        return 0;
    }
    case MP_STR: {
        const char *s;
        uint32_t n;
        if (mp_read_str(r, &s, &n)) return -1;
        json_string(out, s, n);
        return 0;
    }
    case MP_ARRAY: {
        uint32_t n;
        if (mp_read_array(r, &n)) return -1;
        buf_byte(out, '[');
        for (uint32_t i = 0; i < n; i++) {
            if (i) buf_byte(out, ',');
            if (to_json(r, out, depth + 1)) return -1;
        }
        buf_byte(out, ']');
        return 0;
    }
    case MP_MAP: {
        uint32_t n;
        if (mp_read_map(r, &n)) return -1;
        buf_byte(out, '{');
        for (uint32_t i = 0; i < n; i++) {
            if (i) buf_byte(out, ',');
            const char *s;
            uint32_t sn;
            if (mp_read_str(r, &s, &sn)) return -1; /* JSON keys are strings */
            json_string(out, s, sn);
            buf_byte(out, ':');
            if (to_json(r, out, depth + 1)) return -1;
        }
        buf_byte(out, '}');
        return 0;
    }
    default: return fail(r); /* bin, ext, invalid: not JSON-like */
    }
}

int mp_to_json(mp_rd *r, buf_t *out) {
    if (to_json(r, out, 1)) return -1;
    return out->oom ? -1 : 0;
}

/* ---------- JSON -> MessagePack ---------- */

typedef struct {
    const char *p;
    const char *end;
    const char *start;
    buf_t *out;
    int max_depth;
    long max_values;
    long values;
    char *err;
    size_t errcap;
    int failed;
} jp;

static int jfail(jp *j, const char *why) {
    if (!j->failed && j->err && j->errcap) snprintf(j->err, j->errcap, "%s at byte %ld", why, (long)(j->p - j->start));
    j->failed = 1;
    return -1;
}

static void jws(jp *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int hex4(const char *p, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = (*v << 4) | (uint32_t)d;
    }
    return 0;
}

static void put_utf8(buf_t *b, uint32_t cp) {
    uint8_t t[4];
    if (cp < 0x80) {
        buf_byte(b, (uint8_t)cp);
    } else if (cp < 0x800) {
        t[0] = (uint8_t)(0xc0 | (cp >> 6));
        t[1] = (uint8_t)(0x80 | (cp & 0x3f));
        buf_put(b, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (uint8_t)(0xe0 | (cp >> 12));
        t[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        t[2] = (uint8_t)(0x80 | (cp & 0x3f));
        buf_put(b, t, 3);
    } else {
        t[0] = (uint8_t)(0xf0 | (cp >> 18));
        t[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        t[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        t[3] = (uint8_t)(0x80 | (cp & 0x3f));
        buf_put(b, t, 4);
    }
}

/* Parses a JSON string (j->p at the opening quote) into tmp as UTF-8. */
static int jstring(jp *j, buf_t *tmp) {
    tmp->len = 0;
    j->p++;
    const char *run = j->p;
    for (;;) {
        if (j->p >= j->end) return jfail(j, "unterminated string");
        uint8_t c = (uint8_t)*j->p;
        if (c == '"') {
            buf_put(tmp, run, (size_t)(j->p - run));
            j->p++;
            break;
        }
        if (c < 0x20) return jfail(j, "control character in string");
        if (c != '\\') {
            j->p++;
            continue;
        }
        buf_put(tmp, run, (size_t)(j->p - run));
        if (j->end - j->p < 2) return jfail(j, "bad escape");
        char e = j->p[1];
        j->p += 2;
        switch (e) {
        case '"': buf_byte(tmp, '"'); break;
        case '\\': buf_byte(tmp, '\\'); break;
        case '/': buf_byte(tmp, '/'); break;
        case 'b': buf_byte(tmp, '\b'); break;
        case 'f': buf_byte(tmp, '\f'); break;
        case 'n': buf_byte(tmp, '\n'); break;
        case 'r': buf_byte(tmp, '\r'); break;
        case 't': buf_byte(tmp, '\t'); break;
        case 'u': {
            uint32_t cp;
            if (j->end - j->p < 4 || hex4(j->p, &cp)) return jfail(j, "bad \\u escape");
            j->p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || hex4(j->p + 2, &lo) || lo < 0xdc00 ||
                    lo > 0xdfff)
                    return jfail(j, "lone surrogate");
                j->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return jfail(j, "lone surrogate");
            }
            put_utf8(tmp, cp);
            break;
        }
        default: return jfail(j, "bad escape");
        }
        run = j->p;
    }
    if (!utf8_valid(tmp->p, tmp->len)) return jfail(j, "invalid UTF-8");
    return 0;
}

static int jnumber(jp *j) {
    const char *s = j->p;
    int is_float = 0;
    if (j->p < j->end && *j->p == '-') j->p++;
    if (j->p >= j->end || !(*j->p >= '0' && *j->p <= '9')) return jfail(j, "bad number");
    if (*j->p == '0') {
        j->p++;
    } else {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    if (j->p < j->end && *j->p == '.') {
        is_float = 1;
        j->p++;
        if (j->p >= j->end || !(*j->p >= '0' && *j->p <= '9')) return jfail(j, "bad number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        is_float = 1;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (j->p >= j->end || !(*j->p >= '0' && *j->p <= '9')) return jfail(j, "bad number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    size_t n = (size_t)(j->p - s);
    char tmp[64];
    if (n >= sizeof tmp) {
        /* very long literals: parse what fits (precision beyond 63 characters is noise) */
        n = sizeof tmp - 1;
    }
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (!is_float && n <= 17) {
        long long v = strtoll(tmp, NULL, 10);
        if (v >= -MP_MAX_SAFE && v <= MP_MAX_SAFE) {
            mp_int(j->out, v);
            return 0;
        }
    }
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.')
        for (char *c = tmp; *c; c++)
            if (*c == '.') *c = dp[0];
    double d = strtod(tmp, NULL);
    if (d != d || d == HUGE_VAL || d == -HUGE_VAL) return jfail(j, "number out of range");
    mp_double(j->out, d);
    return 0;
}

/* Writes a container header for `count` items in front of the `start..len` bytes already written. */
static void fix_header(buf_t *b, size_t start, uint32_t count, int is_map) {
    uint8_t h[5];
    size_t hn;
    if (count <= 15) {
        h[0] = (uint8_t)((is_map ? 0x80 : 0x90) | count);
        hn = 1;
    } else if (count <= 0xffff) {
        h[0] = is_map ? 0xde : 0xdc;
        h[1] = (uint8_t)(count >> 8);
        h[2] = (uint8_t)count;
        hn = 3;
    } else {
        h[0] = is_map ? 0xdf : 0xdd;
        h[1] = (uint8_t)(count >> 24);
        h[2] = (uint8_t)(count >> 16);
        h[3] = (uint8_t)(count >> 8);
        h[4] = (uint8_t)count;
        hn = 5;
    }
    if (b->oom) return;
    /* 5 bytes were reserved at start */
    memmove(b->p + start + hn, b->p + start + 5, b->len - start - 5);
    memcpy(b->p + start, h, hn);
    b->len -= 5 - hn;
}

static int jvalue(jp *j, int depth, buf_t *tmp);

static int count_value(jp *j) {
    if (j->max_values > 0 && ++j->values > j->max_values) return jfail(j, "too many values");
    return 0;
}

static int jcontainer(jp *j, int depth, buf_t *tmp, int is_map) {
    if (depth > j->max_depth) return jfail(j, "nested too deeply");
    j->p++;
    size_t start = j->out->len;
    static const uint8_t reserve[5] = {0, 0, 0, 0, 0};
    buf_put(j->out, reserve, 5);
    uint32_t count = 0;
    jws(j);
    if (j->p < j->end && *j->p == (is_map ? '}' : ']')) {
        j->p++;
    } else {
        for (;;) {
            jws(j);
            if (is_map) {
                if (j->p >= j->end || *j->p != '"') return jfail(j, "expected a key");
                if (jstring(j, tmp)) return -1;
                mp_str(j->out, tmp->p, tmp->len);
                jws(j);
                if (j->p >= j->end || *j->p != ':') return jfail(j, "expected ':'");
                j->p++;
            }
            if (count_value(j) || jvalue(j, depth + 1, tmp)) return -1;
            count++;
            jws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == (is_map ? '}' : ']')) {
                j->p++;
                break;
            }
            return jfail(j, is_map ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    fix_header(j->out, start, count, is_map);
    return 0;
}

static int jvalue(jp *j, int depth, buf_t *tmp) {
    jws(j);
    if (j->p >= j->end) return jfail(j, "unexpected end");
    char c = *j->p;
    if (c == '{') return jcontainer(j, depth, tmp, 1);
    if (c == '[') return jcontainer(j, depth, tmp, 0);
    if (c == '"') {
        if (jstring(j, tmp)) return -1;
        mp_str(j->out, tmp->p, tmp->len);
        return 0;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return jnumber(j);
    if (j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) {
        j->p += 4;
        mp_bool(j->out, 1);
        return 0;
    }
    if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) {
        j->p += 5;
        mp_bool(j->out, 0);
        return 0;
    }
    if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
        j->p += 4;
        mp_nil(j->out);
        return 0;
    }
    return jfail(j, "unexpected character");
}

int mp_from_json(const char *json, size_t n, buf_t *out, int max_depth, long max_values, int want_object, char *err,
                 size_t errcap) {
    jp j = {json, json + n, json, out, max_depth, max_values, 0, err, errcap, 0};
    buf_t tmp = {0};
    size_t start = out->len;
    jws(&j);
    if (want_object && (j.p >= j.end || *j.p != '{')) {
        jfail(&j, "expected a JSON object");
    } else if (jvalue(&j, 1, &tmp) == 0) {
        jws(&j);
        if (j.p != j.end) jfail(&j, "trailing characters");
    }
    buf_free(&tmp);
    if (!j.failed && out->oom) jfail(&j, "out of memory");
    if (j.failed) {
        out->len = start;
        return -1;
    }
    return 0;
}
