/* A few helpers for the C unit tests: checks that count failures and print where they happened. */
#ifndef MT5B_TESTUTIL_H
#define MT5B_TESTUTIL_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic int t_failures;
static _Atomic int t_checks;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        t_checks++;                                                         \
        if (!(cond)) {                                                      \
            t_failures++;                                                   \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
        }                                                                   \
    } while (0)

static inline int t_done(const char *name) {
    printf("%s: %d checks, %d failures\n", name, atomic_load(&t_checks), atomic_load(&t_failures));
    return atomic_load(&t_failures) ? 1 : 0;
}

static inline char *t_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) {
        p[len] = 0;
        *n = (size_t)len;
    }
    return p;
}

static inline void t_hex(const uint8_t *p, size_t n, char *out) {
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

static inline size_t t_unhex(const char *s, size_t n, uint8_t *out) {
    size_t k = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        int a = s[i] <= '9' ? s[i] - '0' : (s[i] | 32) - 'a' + 10;
        int b = s[i + 1] <= '9' ? s[i + 1] - '0' : (s[i + 1] | 32) - 'a' + 10;
        out[k++] = (uint8_t)(a << 4 | b);
    }
    return k;
}

#endif
