/* gen_templates.c - build-time generator: turns templates/<name>/ directories into a C file of (path, mode, bytes)
 * tables (cli/templates.h) that `mrun init` writes out, so an installed binary needs no data files.
 *
 *   gen_templates OUT.c SRC_DIR NAME...
 *
 * Each template is walked depth first, every directory in byte order, honouring the template's own .gitignore and
 * .mrunignore (so build leftovers such as __pycache__/ or dist/ never get embedded). Templates hold regular files
 * and directories only: a symlink, a device or a fifo is an error, as is a file over 1 MiB. The summary shown by
 * `mrun init --list` is the first sentence of the template's README.md. OUT.c is written to a temporary name and
 * renamed, so a failed run leaves no half file that make would take as up to date. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/archive.h"
#include "../common/auto.h"
#include "../common/err.h"

#define MAX_FILE_BYTES  (1u << 20)
#define MAX_TOTAL_BYTES (16u << 20)
#define MAX_FILES       512
#define MAX_DEPTH       16
#define MAX_SUMMARY     120

typedef struct entry {
    char *path;
    unsigned mode;
    bool text;
    size_t sym; /* the data array is f<sym> */
    size_t len;
} entry;

typedef struct gen {
    FILE *out;
    size_t next_sym;
    uint64_t total;
    entry files[MAX_FILES];
    size_t n;
} gen;

/* One byte of a C string literal: printable ASCII as itself except the escapes C needs (and '?', which could
 * start a trigraph under -std=c11), everything else as a 3-digit octal escape (never ambiguous with what follows). */
static void put_byte(FILE *f, unsigned char c)
{
    if (c == '"' || c == '\\' || c == '?')
        fprintf(f, "\\%c", c);
    else if (c == '\n')
        fputs("\\n", f);
    else if (c >= 0x20 && c < 0x7f)
        fputc(c, f);
    else
        fprintf(f, "\\%03o", c);
}

static void put_literal(FILE *f, const unsigned char *p, size_t len)
{
    size_t col = 0;
    fputs("\"", f);
    for (size_t i = 0; i < len; i++) {
        put_byte(f, p[i]);
        if ((p[i] == '\n' || ++col >= 100) && i + 1 < len) {
            fputs("\"\n    \"", f);
            col = 0;
        }
    }
    fputs("\"", f);
}

static int read_file(int dfd, const char *name, const char *path, unsigned char **ret, size_t *ret_len, mrun_err *err)
{
    mrun_autoclose int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return mrun_err_set(err, errno, "%s", path);
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)MAX_FILE_BYTES)
        return mrun_err_setx(err, E2BIG, "%s: not a regular file of at most %u bytes", path, MAX_FILE_BYTES);
    mrun_autofree unsigned char *buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return mrun_err_set(err, ENOMEM, "%s", path);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return mrun_err_set(err, r < 0 ? errno : EIO, "read %s", path);
        got += (size_t)r;
    }
    *ret_len = got;
    *ret = mrun_steal_ptr(&buf);
    return 0;
}

static int add_file(gen *g, int dfd, const char *name, const char *path, const struct stat *st, mrun_err *err)
{
    if (g->n >= MAX_FILES)
        return mrun_err_setx(err, E2BIG, "%s: more than %d files in one template", path, MAX_FILES);
    mrun_autofree unsigned char *data = NULL;
    size_t len = 0;
    if (read_file(dfd, name, path, &data, &len, err) < 0)
        return -1;
    g->total += len;
    if (g->total > MAX_TOTAL_BYTES)
        return mrun_err_setx(err, E2BIG, "%s: templates larger than %u bytes in all", path, MAX_TOTAL_BYTES);
    entry *e = &g->files[g->n];
    e->path = strdup(path);
    if (!e->path)
        return mrun_err_set(err, ENOMEM, "%s", path);
    g->n++;
    e->mode = (st->st_mode & 0111) ? 0755 : 0644;
    e->text = memchr(data, '\0', len) == NULL;
    e->sym = g->next_sym++;
    e->len = len;
    fprintf(g->out, "/* %s */\nstatic const unsigned char f%zu[] =\n    ", path, e->sym);
    put_literal(g->out, data, len);
    fputs(";\n\n", g->out);
    return 0;
}

static int walk(gen *g, int dfd, const char *rel, mrun_ignore *ig, int depth, mrun_err *err);

static int visit(gen *g, int dfd, const char *rel, const char *name, mrun_ignore *ig, int depth, mrun_err *err)
{
    char path[1024];
    if ((size_t)snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", name) >= sizeof(path))
        return mrun_err_setx(err, E2BIG, "%s/%s: path too long", rel, name);
    if (strcmp(name, ".git") == 0 || strcmp(path, ".mrun/cache") == 0)
        return 0;
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return mrun_err_set(err, errno, "%s", path);
    if (mrun_ignore_match(ig, path, S_ISDIR(st.st_mode)))
        return 0;
    if (S_ISREG(st.st_mode))
        return add_file(g, dfd, name, path, &st, err);
    if (!S_ISDIR(st.st_mode))
        return mrun_err_setx(err, EPERM, "%s: templates hold only files and directories (no symlinks)", path);
    if (depth >= MAX_DEPTH)
        return mrun_err_setx(err, E2BIG, "%s: deeper than %d directories", path, MAX_DEPTH);
    mrun_autoclose int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return mrun_err_set(err, errno, "%s", path);
    if (mrun_ignore_load_dir(ig, sub, path, err) < 0)
        return -1;
    return walk(g, sub, path, ig, depth + 1, err);
}

static int walk(gen *g, int dfd, const char *rel, mrun_ignore *ig, int depth, mrun_err *err)
{
    char **names = NULL;
    size_t n = 0;
    if (mrun_dir_names(dfd, &names, &n, err) < 0)
        return mrun_err_prefix(err, "%s", *rel ? rel : ".");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = visit(g, dfd, rel, names[i], ig, depth, err);
    mrun_dir_names_free(names, n);
    return rc;
}

/* The first sentence of README.md's first paragraph that is not a heading, at most MAX_SUMMARY bytes. */
static void summary_of(int tdir, char *out, size_t cap)
{
    out[0] = '\0';
    mrun_autofree unsigned char *buf = NULL;
    size_t len = 0;
    mrun_err ignored = MRUN_ERR_INIT;
    if (read_file(tdir, "README.md", "README.md", &buf, &len, &ignored) < 0)
        return;
    buf[len] = '\0';
    const char *line = (const char *)buf;
    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        if (n > 0 && line[0] != '#' && line[0] != '<') {
            size_t end = 0;
            while (end < n && !(line[end] == '.' && (end + 1 == n || line[end + 1] == ' ')))
                end++;
            if (end > MAX_SUMMARY)
                end = MAX_SUMMARY;
            snprintf(out, cap, "%.*s", (int)end, line);
            return;
        }
        line += n + (eol ? 1 : 0);
    }
}

static int gen_template(gen *g, int src, const char *name, size_t idx, char *summary, size_t cap, mrun_err *err)
{
    mrun_autoclose int tdir = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (tdir < 0)
        return mrun_err_set(err, errno, "template '%s'", name);
    if (faccessat(tdir, "README.md", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
        return mrun_err_setx(err, EINVAL, "template '%s' has no README.md (its first sentence is the summary)", name);
    mrun_cleanup(mrun_ignore_freep) mrun_ignore *ig = mrun_ignore_new();
    if (!ig)
        return mrun_err_set(err, ENOMEM, "template '%s'", name);
    g->n = 0;
    if (mrun_ignore_load_dir(ig, tdir, "", err) < 0 || walk(g, tdir, "", ig, 0, err) < 0)
        return mrun_err_prefix(err, "template '%s'", name);
    summary_of(tdir, summary, cap);
    fprintf(g->out, "static const mrun_tpl_file t%zu[] = {\n", idx);
    for (size_t i = 0; i < g->n; i++) {
        fputs("    {", g->out);
        put_literal(g->out, (const unsigned char *)g->files[i].path, strlen(g->files[i].path));
        fprintf(g->out, ", 0%o, %s, f%zu, %zu},\n", g->files[i].mode, g->files[i].text ? "true" : "false",
                g->files[i].sym, g->files[i].len);
        free(g->files[i].path);
    }
    fputs("};\n\n", g->out);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int generate(FILE *out, const char *src_dir, char **names, size_t n, mrun_err *err)
{
    mrun_autoclose int src = open(src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (src < 0)
        return mrun_err_set(err, errno, "%s", src_dir);
    static gen g; /* large (MAX_FILES entries); this program is single-threaded */
    g.out = out;
    char summaries[64][MAX_SUMMARY + 1];
    if (n > 64)
        return mrun_err_setx(err, E2BIG, "more than 64 templates");
    fputs("/* Generated by gen_templates (cli/gen_templates.c) from templates/: do not edit. */\n"
          "#include \"cli/templates.h\"\n\n",
          out);
    for (size_t i = 0; i < n; i++)
        if (gen_template(&g, src, names[i], i, summaries[i], sizeof(summaries[i]), err) < 0)
            return -1;
    fputs("const mrun_tpl mrun_tpl_all[] = {\n", out);
    for (size_t i = 0; i < n; i++) {
        fputs("    {", out);
        put_literal(out, (const unsigned char *)names[i], strlen(names[i]));
        fputs(", ", out);
        put_literal(out, (const unsigned char *)summaries[i], strlen(summaries[i]));
        fprintf(out, ", t%zu, sizeof(t%zu) / sizeof(t%zu[0])},\n", i, i, i);
    }
    fprintf(out, "};\nconst size_t mrun_tpl_count = %zu;\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: gen_templates OUT.c SRC_DIR NAME...\n");
        return 2;
    }
    qsort(argv + 3, (size_t)argc - 3, sizeof(char *), cmp_str);
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]) >= sizeof(tmp))
        return 2;
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fprintf(stderr, "gen_templates: %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    mrun_err err = MRUN_ERR_INIT;
    int rc = generate(out, argv[2], argv + 3, (size_t)argc - 3, &err);
    if (fclose(out) != 0 && rc == 0)
        rc = mrun_err_set(&err, errno, "write %s", tmp);
    if (rc == 0 && rename(tmp, argv[1]) < 0)
        rc = mrun_err_set(&err, errno, "rename to %s", argv[1]);
    if (rc < 0) {
        unlink(tmp);
        fprintf(stderr, "gen_templates: %s\n", err.msg);
        return 1;
    }
    return 0;
}
