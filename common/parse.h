/* parse.h - strict parsers for the sizes, durations and numbers people type in flags and config files.
 * Pure functions: no I/O, no allocation. Errors are EINVAL (malformed) or ERANGE (out of range). */
#ifndef MRUN_PARSE_H
#define MRUN_PARSE_H

#include <stdint.h>

#include "err.h"

/* "512M", "1G", "64k", "100", "1.5G", "2GiB", "10MB": binary units (K=1024), case-insensitive, an optional
 * trailing "B" or "iB". Fractions are allowed with a unit. Result in bytes, at most INT64_MAX. */
int mrun_parse_size(const char *s, int64_t *ret_bytes, mrun_err *err);

/* "10m", "1h30m", "2.5s", "500ms", "90" (seconds), "1d": units ms s m h d, combinable in
 * descending order. Result in milliseconds, > 0 unless the input is "0". */
int mrun_parse_duration(const char *s, int64_t *ret_ms, mrun_err *err);

/* A decimal integer in [min, max]; no sign unless min < 0, no trailing garbage. */
int mrun_parse_int(const char *s, int64_t min, int64_t max, int64_t *ret, mrun_err *err);

/* A non-negative decimal like "1", "0.5", "2.25" with at most 3 fractional digits, as thousandths. */
int mrun_parse_milli(const char *s, int64_t max_milli, int64_t *ret_milli, mrun_err *err);

/* Writes a human size ("512M", "1.5G", "300") into buf; returns buf. */
const char *mrun_format_size(int64_t bytes, char *buf, unsigned len);

#endif
