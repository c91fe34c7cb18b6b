/* templates.h - the app templates `mrun init` writes, embedded into the binary at build time: gen_templates turns
 * templates/<name>/ into a generated C file (templates_data.c in the build tree) of these read-only tables. */
#ifndef MRUN_CLI_TEMPLATES_H
#define MRUN_CLI_TEMPLATES_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mrun_tpl_file {
    const char *path;          /* relative, '/'-separated, no "." or ".." component, no leading or trailing '/' */
    unsigned mode;             /* 0644 or 0755 */
    bool text;                 /* no NUL byte: placeholders are substituted */
    const unsigned char *data; /* len bytes (a NUL follows, not counted) */
    size_t len;
} mrun_tpl_file;

typedef struct mrun_tpl {
    const char *name;    /* the directory name under templates/ */
    const char *summary; /* first sentence of its README.md */
    const mrun_tpl_file *files;
    size_t n_files; /* in path order, byte-wise */
} mrun_tpl;

/* Defined in the generated file; sorted by name. Static data, safe from any thread. */
extern const mrun_tpl mrun_tpl_all[];
extern const size_t mrun_tpl_count;

#endif
