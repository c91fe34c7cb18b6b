/* fuzz_notebook.c - fuzz target for Jupyter notebooks (.ipynb in the workspace): the code-cell layout, then the
 * llm-lint rules over it, as `uses: llm-lint` runs them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stages/findings.h"
#include "stages/lint.h"
#include "stages/notebook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mrun_err err = MRUN_ERR_INIT;
    char *text = NULL;
    size_t len = 0;
    if (mrun_notebook_code("fuzz.ipynb", data, size, &text, &len, &err) == 0) {
        if (strlen(text) > len || len > 2 * size + 1) /* NUL-terminated (code may hold none), bounded */
            abort();
        free(text);
    }
    mrun_findings *f = NULL;
    if (mrun_findings_new(&f, &err) < 0)
        return 0;
    mrun_lint_scan("fuzz.ipynb", data, size, f, &err);
    mrun_findings_free(f);
    return 0;
}
