/* suggest.h - edit distance for "did you mean ...?" hints in parser errors. */
#ifndef MRUN_SUGGEST_H
#define MRUN_SUGGEST_H

#include <stddef.h>

/* Levenshtein distance between a[0..la) and b[0..lb); SIZE_MAX when either is longer than 64 bytes (long
 * words are not worth suggesting for). Pure, no allocation. */
size_t mrun_edit_distance(const char *a, size_t la, const char *b, size_t lb);

#endif
