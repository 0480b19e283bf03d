/*
 * MessagePack as docs/PROTOCOL.md uses it: a writer that always picks the smallest form (ints
 * beyond 32 bits as int 64, whole numbers in float fields as ints, other numbers as float 64), a
 * reader that accepts every plain format, and the JSON <-> MessagePack conversions for free-form
 * maps (command payloads and results).
 */
#ifndef MT5B_MP_H
#define MT5B_MP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define MP_MAX_SAFE 9007199254740991LL /* 2^53 - 1 */

void mp_nil(buf_t *b);
void mp_bool(buf_t *b, int v);
void mp_int(buf_t *b, int64_t v);
/* A float field: whole numbers within +-(2^53 - 1) as ints, everything else as float 64. */
void mp_double(buf_t *b, double v);
void mp_float64(buf_t *b, double v); /* always float 64 */
void mp_str(buf_t *b, const void *s, size_t n);
void mp_cstr(buf_t *b, const char *s);
void mp_array(buf_t *b, uint32_t n);
void mp_map(buf_t *b, uint32_t n);

/* Reader: a cursor over one buffer. Every call returns 0 on success, -1 (and sets err) on failure. */
typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    int err;
} mp_rd;

enum mp_kind { MP_NIL, MP_BOOL, MP_INT, MP_FLOAT, MP_STR, MP_BIN, MP_ARRAY, MP_MAP, MP_EXT, MP_INVALID, MP_END };

void mp_rd_init(mp_rd *r, const void *p, size_t n);
enum mp_kind mp_peek(const mp_rd *r);
int mp_read_nil(mp_rd *r);
int mp_read_bool(mp_rd *r, int *v);
/* Any int format within int64 (a uint 64 above INT64_MAX fails); a float with a whole value too. */
int mp_read_int(mp_rd *r, int64_t *v);
/* Any int or float format. */
int mp_read_double(mp_rd *r, double *v);
int mp_read_str(mp_rd *r, const char **s, uint32_t *n);
int mp_read_array(mp_rd *r, uint32_t *n);
int mp_read_map(mp_rd *r, uint32_t *n);
/* Skips one value of any valid MessagePack form (nested ones included, at any depth). */
int mp_skip(mp_rd *r);
/* Reads a key and tells whether it equals `key`. */
int mp_key_is(const char *s, uint32_t n, const char *key);

/*
 * JSON text -> one MessagePack value. `max_depth` limits nesting of arrays and maps (the outermost
 * is level 1), `max_values` the number of array items and map entries in all (0: no limit);
 * `want_object`: the top level must be an object. Returns 0, or -1 with a reason in err.
 */
int mp_from_json(const char *json, size_t n, buf_t *out, int max_depth, long max_values, int want_object, char *err,
                 size_t errcap);

/* One MessagePack value -> JSON text (UTF-8). Returns 0, or -1 on a value JSON cannot hold. */
int mp_to_json(mp_rd *r, buf_t *out);

/* UTF-8 validity (no overlong forms, no surrogates, nothing above U+10FFFF). */
int utf8_valid(const uint8_t *p, size_t n);

#endif
