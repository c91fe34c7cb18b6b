/* coverage_int.h - private to the coverage parsers: the report as it is built (files by path, their line records),
 * shared by coverage.c (model, lcov) and coverage_xml.c (Cobertura). */
#ifndef MRUN_COVERAGE_INT_H
#define MRUN_COVERAGE_INT_H

#include "coverage.h"

#define COV_MAX_FILES   200000u
#define COV_MAX_RECORDS (16u << 20)
#define COV_MAX_LINE    100000000u /* a line number past this is not a source line */
#define COV_MAX_PATH    4096u

typedef struct cov_line {
    uint32_t line;
    uint32_t hit; /* 0 or 1 */
} cov_line;

typedef struct cov_file {
    mrun_cov_file pub;
    char *path;
    cov_line *lines;
    size_t n, cap;
    bool declared; /* the report gave LF/LH (lcov) for it */
    uint64_t decl_valid, decl_covered;
} cov_file;

struct mrun_cov_report {
    mrun_cov_format format;
    cov_file *files;
    size_t n_files, cap_files;
    uint32_t *index; /* open addressing over files by path hash; 0 is empty, else file index + 1 */
    size_t index_cap;
    size_t n_records;
    uint64_t valid, covered;
    bool has_summary; /* Cobertura root attributes or lcov LF/LH were present */
    bool sum_counts;  /* sum_valid and sum_covered were given */
    uint64_t sum_valid, sum_covered;
    double sum_rate; /* Cobertura line-rate in [0,1], or -1 */
    char note[256];
};

/* "name:line:col" of byte offset off in buf, into out. */
void cov_where(const char *name, const uint8_t *buf, size_t len, size_t off, char *out, size_t out_len);
/* The file named path[0..len) (created empty when new); *ret_idx its index. */
int cov_file_get(mrun_cov_report *r, const char *path, size_t len, uint32_t *ret_idx, mrun_err *err);
int cov_add_line(mrun_cov_report *r, uint32_t file, uint32_t line, bool hit, mrun_err *err);
/* A decimal unsigned integer of s[0..len): -1 when empty, signed, not a number or over max. */
int cov_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *ret);

int cov_parse_cobertura(mrun_cov_report *r, const char *name, const uint8_t *buf, size_t len, mrun_err *err);

#endif
