/* notebook.h - Jupyter notebooks (.ipynb, nbformat 4) for the line-based checks: the code cells' source laid out
 * as a Python text whose line N is what the notebook file shows on its line N, so findings name notebook lines.
 * Parsing is pure (no I/O, no globals): fuzz_notebook.c. */
#ifndef MRUN_NOTEBOOK_H
#define MRUN_NOTEBOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

#define MRUN_NOTEBOOK_MAX_BYTES ((size_t)16 << 20) /* larger notebooks are refused (E2BIG) */
#define MRUN_NOTEBOOK_MAX_CELLS 20000u

/* True when path names a notebook (ends in .ipynb). */
bool mrun_notebook_is(const char *path);

/* Reads the notebook buf (name is for messages) and returns in *ret_text (malloc'd, NUL-terminated, *ret_len
 * without the NUL) its code cells' source: each source line is put on the line where the notebook file holds its
 * JSON string, indented to that string's column (+1 for the quote), so a line/column found in the text is the
 * notebook's (exact for nbformat's one-string-per-line layout; a cell stored as one multi-line string gets its later
 * lines on the following lines). Lines not holding code are empty. IPython magics and shell escapes (`%`, `!`
 * lines, `%%` cells) are left out. A notebook whose kernel language is not Python yields an empty text.
 * Errors: EPROTO with line:col (not JSON, duplicate keys, not nbformat 4: no cells array, a cell without
 * cell_type/source, source not a string or array of strings), E2BIG past MRUN_NOTEBOOK_MAX_BYTES or
 * MRUN_NOTEBOOK_MAX_CELLS, ENOMEM. Thread-safe. */
int mrun_notebook_code(const char *name, const uint8_t *buf, size_t len, char **ret_text, size_t *ret_len,
                       mrun_err *err);

#endif
