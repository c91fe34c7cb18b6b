/* pipeline_int.h - private to coordinator/: the bounded YAML tree pipeline.c validates, and its arena. */
#ifndef MRUN_PIPELINE_INT_H
#define MRUN_PIPELINE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "coordinator/pipeline.h"

/* Bump allocator: everything a parse allocates goes here and is released at once, so half-built
 * results need no per-field cleanup. Memory is zeroed. */
typedef struct parena parena;
void *parena_alloc(parena **a, size_t size);
char *parena_strdup(parena **a, const char *s, size_t len);
void parena_free(parena *a);

typedef enum { PN_SCALAR, PN_MAP, PN_SEQ } pn_kind;

/* One YAML node. A mapping's children alternate key, value; keys are always scalars.
 * Scalars hold no NUL and are at most lim->max_string bytes. */
typedef struct pnode {
    pn_kind kind;
    unsigned line, col; /* 1-based */
    const char *str;    /* scalar text, NUL-terminated */
    size_t len;
    struct pnode *first, *last, *next;
    size_t n; /* children (keys and values both count in a mapping) */
} pnode;

/* Formats "file:line:col: message" into err with EINVAL; returns -1. */
int pl_fail(mrun_err *err, int sys_errno, const char *file, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Checks size, UTF-8 and NUL, then builds the tree with libyaml, rejecting anchors, aliases, tags and
 * more than one document, and enforcing every bound in lim. The tree lives in *a. */
int pl_tree_build(const char *file, const uint8_t *buf, size_t len, const mrun_pipeline_limits *lim, parena **a,
                  pnode **ret_root, mrun_err *err);

#endif
