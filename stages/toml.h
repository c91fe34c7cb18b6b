/* toml.h - a small TOML 1.0 reader for lockfiles (Cargo.lock, poetry.lock, uv.lock), private to stages/. It reads a
 * whole document into a read-only tree: tables, arrays (and arrays of tables), strings, integers, booleans, floats
 * and date-times (both kept as their source text). Hostile input: the nesting depth, the number of values and the
 * number of key parts are bounded, the document must be UTF-8, and every error says "line:col: reason" (EPROTO;
 * E2BIG past a bound; ENOMEM). One thread; pure (no I/O, no globals). */
#ifndef MRUN_TOML_H
#define MRUN_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

#define MRUN_TOML_MAX_DEPTH  64       /* nested arrays / inline tables */
#define MRUN_TOML_MAX_KEYS   32       /* parts of one dotted key or table header */
#define MRUN_TOML_MAX_VALUES 4000000u /* values and tables in one document (about 120 bytes each) */

typedef enum mrun_toml_type {
    MRUN_TOML_TABLE = 0,
    MRUN_TOML_ARRAY,
    MRUN_TOML_STRING,
    MRUN_TOML_INTEGER,
    MRUN_TOML_FLOAT, /* text as written, e.g. "6.02e23", "inf" */
    MRUN_TOML_BOOL,
    MRUN_TOML_DATETIME, /* text as written, e.g. "1979-05-27T07:32:00Z" */
} mrun_toml_type;

typedef struct mrun_toml mrun_toml; /* one value; the root is a table. Owned by the root. */

/* Parses a document. The tree is freed with mrun_toml_free(root). */
int mrun_toml_parse(const uint8_t *buf, size_t len, mrun_toml **ret_root, mrun_err *err);
void mrun_toml_free(mrun_toml *root);
void mrun_toml_freep(mrun_toml **root);

mrun_toml_type mrun_toml_type_of(const mrun_toml *v);
unsigned mrun_toml_line(const mrun_toml *v); /* 1-based line where the value (or table header) starts */

/* Tables: the value under key, or NULL when absent or when t is NULL or not a table. */
const mrun_toml *mrun_toml_get(const mrun_toml *t, const char *key);
/* Typed lookups: NULL (or false / 0 returned) when absent or of another type. */
const char *mrun_toml_get_str(const mrun_toml *t, const char *key);
const mrun_toml *mrun_toml_get_table(const mrun_toml *t, const char *key);
const mrun_toml *mrun_toml_get_array(const mrun_toml *t, const char *key);
bool mrun_toml_get_bool(const mrun_toml *t, const char *key, bool *ret);
bool mrun_toml_get_int(const mrun_toml *t, const char *key, int64_t *ret);

/* Arrays and tables: the number of elements (entries); 0 for scalars and NULL. */
size_t mrun_toml_len(const mrun_toml *v);
/* The i-th element of an array or entry of a table (in document order); the key of a table entry. */
const mrun_toml *mrun_toml_at(const mrun_toml *v, size_t i);
const char *mrun_toml_key_at(const mrun_toml *t, size_t i);

/* Scalars: the string (NUL-terminated; a string may hold "\u0000", so see len) or the text of a float or date-time;
 * NULL for other types. */
const char *mrun_toml_str(const mrun_toml *v, size_t *ret_len);
int64_t mrun_toml_int(const mrun_toml *v);
bool mrun_toml_bool(const mrun_toml *v);

#endif
