/* fuzz_parse.c - fuzz target for the size, duration and number parsers (they read flags and config files). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    mrun_err err = MRUN_ERR_INIT;
    int64_t v;
    if (mrun_parse_size(s, &v, &err) == 0 && v < 0)
        abort();
    if (mrun_parse_duration(s, &v, &err) == 0 && v < 0)
        abort();
    if (mrun_parse_int(s, INT64_MIN, INT64_MAX, &v, &err) < 0 && err.msg[0] == '\0')
        abort();
    if (mrun_parse_milli(s, INT64_MAX, &v, &err) == 0 && v < 0)
        abort();
    char buf[32];
    mrun_format_size((int64_t)size * 977, buf, sizeof(buf));
    free(s);
    return 0;
}
