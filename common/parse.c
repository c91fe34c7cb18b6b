/* parse.c - size, duration and number parsing with overflow checks. */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Reads digits[.digits] into an integer part and a fraction in 1e-9 units. */
static int read_decimal(const char **p, uint64_t *ret_int, uint64_t *ret_frac_nano, int *ret_has_frac)
{
    const char *s = *p;
    uint64_t v = 0;
    int digits = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
        s++;
        digits++;
    }
    uint64_t frac = 0;
    int has_frac = 0;
    if (*s == '.') {
        s++;
        has_frac = 1;
        uint64_t scale = 100000000;
        int fdigits = 0;
        while (isdigit((unsigned char)*s)) {
            frac += (uint64_t)(*s - '0') * scale;
            scale /= 10;
            s++;
            fdigits++;
        }
        if (fdigits == 0)
            return -EINVAL;
        digits += fdigits;
    }
    if (digits == 0)
        return -EINVAL;
    *p = s;
    *ret_int = v;
    *ret_frac_nano = frac;
    *ret_has_frac = has_frac;
    return 0;
}

/* v * mul + frac_nano * mul / 1e9, checking for overflow past INT64_MAX. */
static int scale(uint64_t v, uint64_t frac_nano, uint64_t mul, int64_t *ret)
{
    if (mul != 0 && v > (uint64_t)INT64_MAX / mul)
        return -ERANGE;
    uint64_t r = v * mul;
    /* frac_nano < 1e9 and mul <= 2^60: split to avoid overflow */
    uint64_t add = (mul / 1000000000u) * frac_nano + ((mul % 1000000000u) * frac_nano) / 1000000000u;
    if (r > (uint64_t)INT64_MAX - add)
        return -ERANGE;
    *ret = (int64_t)(r + add);
    return 0;
}

int mrun_parse_size(const char *s, int64_t *ret_bytes, mrun_err *err)
{
    if (!s || !*s)
        return mrun_err_setx(err, EINVAL, "empty size");
    const char *p = s;
    uint64_t v, frac;
    int has_frac;
    int r = read_decimal(&p, &v, &frac, &has_frac);
    if (r < 0)
        return mrun_err_setx(err, -r, "bad size '%.64s': expected a number with an optional unit (K, M, G, T)", s);
    uint64_t mul = 1;
    switch (toupper((unsigned char)*p)) {
    case 'K':
        mul = 1ull << 10;
        p++;
        break;
    case 'M':
        mul = 1ull << 20;
        p++;
        break;
    case 'G':
        mul = 1ull << 30;
        p++;
        break;
    case 'T':
        mul = 1ull << 40;
        p++;
        break;
    case 'P':
        mul = 1ull << 50;
        p++;
        break;
    default:
        break;
    }
    if (mul > 1 && (*p == 'i' || *p == 'I') && (p[1] == 'b' || p[1] == 'B'))
        p += 2;
    else if (*p == 'b' || *p == 'B')
        p++;
    if (*p != '\0')
        return mrun_err_setx(err, EINVAL, "bad size '%.64s': unknown unit '%.16s' (use K, M, G or T)", s, p);
    if (has_frac && mul == 1)
        return mrun_err_setx(err, EINVAL, "bad size '%.64s': a fraction needs a unit", s);
    int64_t out;
    if (scale(v, frac, mul, &out) < 0)
        return mrun_err_setx(err, ERANGE, "size '%.64s' is too large", s);
    *ret_bytes = out;
    return 0;
}

int mrun_parse_duration(const char *s, int64_t *ret_ms, mrun_err *err)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    if (!s || !*s)
        return mrun_err_setx(err, EINVAL, "empty duration");
    const char *p = s;
    int64_t total = 0;
    uint64_t last_unit = UINT64_MAX;
    while (*p) {
        uint64_t v, frac;
        int has_frac;
        int r = read_decimal(&p, &v, &frac, &has_frac);
        if (r < 0)
            return mrun_err_setx(err, -r, "bad duration '%.64s': expected e.g. 90s, 10m, 1h30m, 500ms", s);
        uint64_t mul = 0;
        if (*p == '\0') {
            if (p != s + strspn(s, "0123456789."))
                return mrun_err_setx(err, EINVAL, "bad duration '%.64s': a number without unit must stand alone", s);
            mul = 1000; /* a bare number is seconds */
        } else {
            for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                size_t n = strlen(units[i].unit);
                if (strncmp(p, units[i].unit, n) == 0 && !isalpha((unsigned char)p[n])) {
                    mul = units[i].ms;
                    p += n;
                    break;
                }
            }
            if (mul == 0)
                return mrun_err_setx(err, EINVAL, "bad duration '%.64s': unknown unit (use ms, s, m, h or d)", s);
        }
        if (mul >= last_unit)
            return mrun_err_setx(err, EINVAL, "bad duration '%.64s': units must go from large to small", s);
        last_unit = mul;
        int64_t part;
        if (scale(v, frac, mul, &part) < 0 || total > INT64_MAX - part)
            return mrun_err_setx(err, ERANGE, "duration '%.64s' is too long", s);
        total += part;
    }
    *ret_ms = total;
    return 0;
}

int mrun_parse_int(const char *s, int64_t min, int64_t max, int64_t *ret, mrun_err *err)
{
    if (!s || !*s)
        return mrun_err_setx(err, EINVAL, "empty number");
    const char *p = s;
    int neg = 0;
    if (*p == '-' && min < 0) {
        neg = 1;
        p++;
    }
    if (!isdigit((unsigned char)*p))
        return mrun_err_setx(err, EINVAL, "bad number '%.64s'", s);
    uint64_t v = 0;
    while (isdigit((unsigned char)*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return mrun_err_setx(err, ERANGE, "number '%.64s' is out of range", s);
        v = v * 10 + d;
        p++;
    }
    if (*p)
        return mrun_err_setx(err, EINVAL, "bad number '%.64s'", s);
    if (!neg && v > (uint64_t)INT64_MAX)
        return mrun_err_setx(err, ERANGE, "number '%.64s' is out of range", s);
    if (neg && v > (uint64_t)INT64_MAX + 1)
        return mrun_err_setx(err, ERANGE, "number '%.64s' is out of range", s);
    int64_t out = neg ? (int64_t)(0 - v) : (int64_t)v;
    if (out < min || out > max)
        return mrun_err_setx(err, ERANGE, "number '%.64s' is out of range [%lld, %lld]", s, (long long)min,
                             (long long)max);
    *ret = out;
    return 0;
}

int mrun_parse_milli(const char *s, int64_t max_milli, int64_t *ret_milli, mrun_err *err)
{
    if (!s || !*s)
        return mrun_err_setx(err, EINVAL, "empty number");
    const char *p = s;
    uint64_t v, frac;
    int has_frac;
    if (read_decimal(&p, &v, &frac, &has_frac) < 0 || *p)
        return mrun_err_setx(err, EINVAL, "bad number '%.64s': expected e.g. 1, 0.5, 2.25", s);
    if (frac % 1000000 != 0)
        return mrun_err_setx(err, EINVAL, "bad number '%.64s': at most 3 decimals", s);
    int64_t out;
    if (scale(v, frac, 1000, &out) < 0 || out > max_milli)
        return mrun_err_setx(err, ERANGE, "number '%.64s' is out of range", s);
    *ret_milli = out;
    return 0;
}

const char *mrun_format_size(int64_t bytes, char *buf, unsigned len)
{
    static const char units[] = "KMGTP";
    if (bytes < 1024) {
        snprintf(buf, len, "%lld", (long long)bytes);
        return buf;
    }
    int u = -1;
    double v = (double)bytes;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (v == (double)(int64_t)v)
        snprintf(buf, len, "%lld%c", (long long)v, units[u]);
    else
        snprintf(buf, len, "%.1f%c", v, units[u]);
    return buf;
}
