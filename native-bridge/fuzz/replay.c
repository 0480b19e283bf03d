/*
 * Runs a fuzz target's LLVMFuzzerTestOneInput over kept inputs (files, or every file in a
 * folder), so the inputs that once crashed it are replayed by the normal sanitizer tests without
 * libFuzzer or clang. A failure aborts (the target's own checks) or is a sanitizer report.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        exit(2);
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *p = malloc(cap);
    size_t k;
    while (p && (k = fread(p + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) p = realloc(p, cap *= 2);
    }
    fclose(f);
    if (!p) exit(2);
    /* an exact-size copy, as libFuzzer gives it, so a read one byte past the input is caught */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) exit(2);
    memcpy(exact, p, n);
    free(p);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 1;
}

int main(int argc, char **argv) {
    int files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no such file or folder: %s\n", argv[i]);
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            files += run_file(argv[i]);
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            files += run_file(path);
        }
        if (d) closedir(d);
    }
    /* an empty folder would make this test pass without testing anything */
    if (files == 0) {
        fprintf(stderr, "replay: no inputs given\n");
        return 2;
    }
    printf("%s: %d inputs replayed, 0 failures\n", argv[0], files);
    return 0;
}
