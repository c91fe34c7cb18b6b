/* pipeline.c - validates the YAML tree of .mrun/pipeline.yml into an immutable mrun_pipeline: key tables,
 * types, names, needs resolution with cycle reporting, and the stable topological order. */
#include "coordinator/pipeline.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "../common/suggest.h"
#include "../common/parse.h"
#include "coordinator/pipeline_int.h"

struct mrun_pipeline {
    parena *arena; /* owns every string and array below */
    const char *name;
    int tier;
    mrun_pipeline_kv *env;
    size_t n_env;
    mrun_pipeline_res defaults;
    mrun_pipeline_stage *stages; /* topological order */
    size_t n_stages;
};

/* Key tables: the one place each section's keys are listed (docs/pipeline.md documents each). */
static const char *const top_keys[] = {"name", "tier", "env", "defaults", "stages", NULL};
static const char *const defaults_keys[] = {"limits", NULL};
static const char *const limits_keys[] = {"memory", "pids", "cpus", "timeout", NULL};
static const char *const stage_keys[] = {"needs", "runs-on", "retry", "limits", "secrets",
                                         "env",   "steps",   "artifacts", "if", NULL};
static const char *const step_keys[] = {"name", "run", "uses", "with", "continue-on-error", NULL};

#define MAX_RETRY 10
#define MAX_PIDS 4194304
#define MAX_CPUS_MILLI 1024000
#define MAX_NAME 63

typedef struct pctx {
    const char *file;
    mrun_err *err;
    const mrun_pipeline_limits *lim;
    const char *const *known_uses;
    parena **a;
} pctx;

/* Per-stage parse state, in file order, before the topological sort. */
typedef struct sbuild {
    mrun_pipeline_stage st;
    const pnode *key;
    const pnode **need_nodes; /* the needs entries, for error positions */
    size_t *need_file;        /* needs as file-order indexes */
    mrun_pipeline_res own;    /* this stage's limits before merging */
} sbuild;

#define FAIL(c, node, ...) pl_fail((c)->err, EINVAL, (c)->file, (node)->line, (node)->col, __VA_ARGS__)

static int oom(pctx *c)
{
    return mrun_err_set(c->err, ENOMEM, "%s", c->file);
}

/* Writes " (did you mean 'x'?)" for the closest candidate within reach, else "". */
static const char *suggest(const char *word, const char *const *cands, size_t n, char *buf, size_t len)
{
    size_t best = SIZE_MAX, wl = strlen(word);
    const char *pick = NULL;
    for (size_t i = 0; i < n && cands[i]; i++) {
        size_t d = mrun_edit_distance(word, wl, cands[i], strlen(cands[i]));
        if (wl >= 3 && strncmp(cands[i], word, wl) == 0)
            d = 1; /* an abbreviation: "mem" for "memory" */
        if (d < best) {
            best = d;
            pick = cands[i];
        }
    }
    buf[0] = '\0';
    if (pick && best <= 3 && best < wl && best * 2 <= wl + 1)
        snprintf(buf, len, " (did you mean '%.64s'?)", pick);
    return buf;
}

static size_t count_of(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* Every key known to the table, none twice. where is e.g. "in stage 'test'". */
static int check_keys(pctx *c, const pnode *map, const char *const *keys, const char *where)
{
    for (const pnode *k = map->first; k; k = k->next->next) {
        int known = 0;
        for (size_t i = 0; keys[i]; i++)
            known |= strcmp(k->str, keys[i]) == 0;
        if (!known) {
            char s[96];
            return FAIL(c, k, "unknown key '%.64s' %s%s", k->str, where, suggest(k->str, keys, count_of(keys), s, sizeof(s)));
        }
        for (const pnode *p = map->first; p != k; p = p->next->next)
            if (strcmp(p->str, k->str) == 0)
                return FAIL(c, k, "duplicate key '%.64s' %s", k->str, where);
    }
    return 0;
}

static int expect_map(pctx *c, const pnode *n, const char *what)
{
    if (n->kind != PN_MAP)
        return FAIL(c, n, "%s must be a mapping", what);
    return 0;
}

static int get_str(pctx *c, const pnode *n, const char *what, const char **ret)
{
    if (n->kind != PN_SCALAR)
        return FAIL(c, n, "'%s' must be a string", what);
    if (n->len == 0)
        return FAIL(c, n, "'%s' must not be empty", what);
    *ret = n->str; /* the tree's arena becomes the pipeline's, so no copy is needed */
    return 0;
}

static int get_int(pctx *c, const pnode *n, const char *what, int64_t min, int64_t max, int64_t *ret)
{
    mrun_err tmp = MRUN_ERR_INIT;
    if (n->kind != PN_SCALAR || mrun_parse_int(n->str, min, max, ret, &tmp) < 0)
        return FAIL(c, n, "'%s' must be an integer %lld-%lld", what, (long long)min, (long long)max);
    return 0;
}

static int get_bool(pctx *c, const pnode *n, const char *what, bool *ret)
{
    if (n->kind == PN_SCALAR && strcmp(n->str, "true") == 0)
        *ret = true;
    else if (n->kind == PN_SCALAR && strcmp(n->str, "false") == 0)
        *ret = false;
    else
        return FAIL(c, n, "'%s' must be true or false", what);
    return 0;
}

typedef int (*name_check)(const char *s);

static int is_stage_name(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')) || strlen(s) > MAX_NAME)
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(s);
}

static int is_secret_name(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || *s == '_') || strlen(s) > 128)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(s);
}

static int is_env_name(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_') || strlen(s) > 128)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s);
}

static int is_label(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')) || strlen(s) > MAX_NAME)
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == strlen(s);
}

/* Relative, no empty, '.' or '..' component, not in .mrun/ (the coordinator's attestations); a trailing '/' marks
 * a directory. */
static int is_artifact_path(const char *s)
{
    if (s[0] == '/' || s[0] == '\0' || strncmp(s, ".mrun/", 6) == 0 || strcmp(s, ".mrun") == 0)
        return 0;
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n;
        if (*p == '/')
            p++;
    }
    return 1;
}

/* A list of strings (a single string counts as a one-entry list), each passing ok, none repeated. */
static int get_list(pctx *c, const pnode *n, const char *what, name_check ok, const char *expect, const pnode ***ret_nodes,
                    const char ***ret, size_t *ret_n)
{
    size_t cnt = n->kind == PN_SEQ ? n->n : 1;
    if (n->kind == PN_MAP)
        return FAIL(c, n, "'%s' must be a list of %s", what, expect);
    const char **v = parena_alloc(c->a, (cnt + 1) * sizeof(*v));
    const pnode **nodes = parena_alloc(c->a, (cnt + 1) * sizeof(*nodes));
    if (!v || !nodes)
        return oom(c);
    size_t i = 0;
    for (const pnode *e = n->kind == PN_SEQ ? n->first : n; e && i < cnt; e = e->next, i++) {
        if (e->kind != PN_SCALAR || e->len == 0 || !ok(e->str))
            return FAIL(c, e, "'%s' must be a list of %s", what, expect);
        for (size_t j = 0; j < i; j++)
            if (strcmp(v[j], e->str) == 0)
                return FAIL(c, e, "'%.64s' is listed twice in '%s'", e->str, what);
        v[i] = e->str;
        nodes[i] = e;
    }
    *ret = v;
    *ret_n = cnt;
    if (ret_nodes)
        *ret_nodes = nodes;
    return 0;
}

static int get_kv(pctx *c, const pnode *n, const char *what, name_check key_ok, mrun_pipeline_kv **ret, size_t *ret_n)
{
    if (expect_map(c, n, what) < 0)
        return -1;
    size_t cnt = n->n / 2;
    mrun_pipeline_kv *kv = parena_alloc(c->a, (cnt + 1) * sizeof(*kv));
    if (!kv)
        return oom(c);
    size_t i = 0;
    for (const pnode *k = n->first; k; k = k->next->next, i++) {
        const pnode *v = k->next;
        if (k->len == 0 || (key_ok && !key_ok(k->str)))
            return FAIL(c, k, "bad name '%.64s' in %s (expected letters, digits and '_', not starting with a digit)", k->str,
                        what);
        for (size_t j = 0; j < i; j++)
            if (strcmp(kv[j].key, k->str) == 0)
                return FAIL(c, k, "duplicate key '%.64s' in %s", k->str, what);
        if (v->kind != PN_SCALAR)
            return FAIL(c, v, "value of '%.64s' in %s must be a string", k->str, what);
        kv[i].key = k->str;
        kv[i].value = v->str;
    }
    *ret = kv;
    *ret_n = cnt;
    return 0;
}

static int parse_limits(pctx *c, const pnode *n, const char *where, mrun_pipeline_res *r)
{
    char what[96], in[100];
    snprintf(what, sizeof(what), "'limits' %s", where);
    snprintf(in, sizeof(in), "in %s", what);
    if (expect_map(c, n, what) < 0 || check_keys(c, n, limits_keys, in) < 0)
        return -1;
    for (const pnode *k = n->first; k; k = k->next->next) {
        const pnode *v = k->next;
        mrun_err e = MRUN_ERR_INIT;
        if (strcmp(k->str, "memory") == 0) {
            if (v->kind != PN_SCALAR || mrun_parse_size(v->str, &r->memory_bytes, &e) < 0 || r->memory_bytes <= 0)
                return FAIL(c, v, "'memory' must be a size like 512M or 1G%s%.100s", e.msg[0] ? ": " : "", e.msg);
            r->memory_set = true;
        } else if (strcmp(k->str, "pids") == 0) {
            if (get_int(c, v, "pids", 1, MAX_PIDS, &r->pids) < 0)
                return -1;
            r->pids_set = true;
        } else if (strcmp(k->str, "cpus") == 0) {
            if (v->kind != PN_SCALAR || mrun_parse_milli(v->str, MAX_CPUS_MILLI, &r->cpus_milli, &e) < 0 ||
                r->cpus_milli <= 0)
                return FAIL(c, v, "'cpus' must be a number of CPUs like 1 or 0.5 (at most %d)", MAX_CPUS_MILLI / 1000);
            r->cpus_set = true;
        } else {
            if (v->kind != PN_SCALAR || mrun_parse_duration(v->str, &r->timeout_ms, &e) < 0 || r->timeout_ms <= 0)
                return FAIL(c, v, "'timeout' must be a duration like 10m or 1h30m%s%.100s", e.msg[0] ? ": " : "", e.msg);
            r->timeout_set = true;
        }
    }
    return 0;
}

static int is_known_use(pctx *c, const char *s)
{
    for (size_t i = 0; c->known_uses && c->known_uses[i]; i++)
        if (strcmp(c->known_uses[i], s) == 0)
            return 1;
    return 0;
}

static int parse_step(pctx *c, const pnode *n, const char *stage, size_t idx, mrun_pipeline_step *s)
{
    char where[96];
    snprintf(where, sizeof(where), "in step %zu of stage '%.40s'", idx + 1, stage);
    if (n->kind != PN_MAP)
        return FAIL(c, n, "step %zu of stage '%.40s' must be a mapping with 'run' or 'uses'", idx + 1, stage);
    if (check_keys(c, n, step_keys, where) < 0)
        return -1;
    s->line = n->line;
    s->col = n->col;
    const pnode *with = NULL, *with_key = NULL;
    for (const pnode *k = n->first; k; k = k->next->next) {
        const pnode *v = k->next;
        int r = 0;
        if (strcmp(k->str, "name") == 0)
            r = get_str(c, v, "name", &s->name);
        else if (strcmp(k->str, "run") == 0)
            r = get_str(c, v, "run", &s->run);
        else if (strcmp(k->str, "uses") == 0)
            r = get_str(c, v, "uses", &s->uses);
        else if (strcmp(k->str, "with") == 0) {
            with = v;
            with_key = k;
        } else
            r = get_bool(c, v, "continue-on-error", &s->continue_on_error);
        if (r < 0)
            return -1;
    }
    if (s->run && s->uses)
        return FAIL(c, n, "step %zu of stage '%.40s' has both 'run' and 'uses' (expected exactly one)", idx + 1, stage);
    if (!s->run && !s->uses)
        return FAIL(c, n, "step %zu of stage '%.40s' has neither 'run' nor 'uses' (expected exactly one)", idx + 1, stage);
    if (s->uses && !is_known_use(c, s->uses)) {
        const pnode *u = n->first;
        while (strcmp(u->str, "uses") != 0)
            u = u->next->next;
        char sg[96];
        return FAIL(c, u->next, "unknown uses '%.64s' %s%s", s->uses, where,
                    suggest(s->uses, c->known_uses, count_of(c->known_uses), sg, sizeof(sg)));
    }
    if (with && !s->uses)
        return FAIL(c, with_key, "'with' needs 'uses' %s", where);
    if (with) {
        mrun_pipeline_kv *kv = NULL;
        if (get_kv(c, with, "'with'", NULL, &kv, &s->n_with) < 0)
            return -1;
        s->with = kv;
    }
    if (!s->name)
        s->name = s->run ? s->run : s->uses;
    return 0;
}

static int parse_steps(pctx *c, const pnode *n, sbuild *sb)
{
    const char *stage = sb->st.name;
    if (n->kind != PN_SEQ || n->n == 0)
        return FAIL(c, n, "'steps' of stage '%.40s' must be a non-empty list", stage);
    if (n->n > c->lim->max_steps)
        return pl_fail(c->err, E2BIG, c->file, n->line, n->col, "stage '%.40s' has %zu steps, more than the limit of %zu",
                       stage, n->n, c->lim->max_steps);
    mrun_pipeline_step *steps = parena_alloc(c->a, n->n * sizeof(*steps));
    if (!steps)
        return oom(c);
    size_t i = 0;
    for (const pnode *e = n->first; e; e = e->next, i++)
        if (parse_step(c, e, stage, i, &steps[i]) < 0)
            return -1;
    sb->st.steps = steps;
    sb->st.n_steps = n->n;
    return 0;
}

static int parse_stage_field(pctx *c, const pnode *k, sbuild *sb, const char *where)
{
    const pnode *v = k->next;
    mrun_pipeline_stage *st = &sb->st;
    const char *key = k->str;
    const char **list = NULL;
    if (strcmp(key, "needs") == 0)
        return get_list(c, v, "needs", is_stage_name, "stage names", &sb->need_nodes, &list, &st->n_needs);
    if (strcmp(key, "runs-on") == 0) {
        if (get_list(c, v, "runs-on", is_label, "runner labels", NULL, &list, &st->n_runs_on) < 0)
            return -1;
        st->runs_on = list;
        return 0;
    }
    if (strcmp(key, "retry") == 0) {
        int64_t r = 0;
        if (get_int(c, v, "retry", 0, MAX_RETRY, &r) < 0)
            return -1;
        st->retry = (int)r;
        return 0;
    }
    if (strcmp(key, "limits") == 0)
        return parse_limits(c, v, where, &sb->own);
    if (strcmp(key, "secrets") == 0) {
        if (get_list(c, v, "secrets", is_secret_name, "secret names like PYPI_TOKEN ([A-Z_][A-Z0-9_]*)", NULL, &list,
                     &st->n_secrets) < 0)
            return -1;
        st->secrets = list;
        return 0;
    }
    if (strcmp(key, "env") == 0) {
        mrun_pipeline_kv *kv = NULL;
        if (get_kv(c, v, "'env'", is_env_name, &kv, &st->n_env) < 0)
            return -1;
        st->env = kv;
        return 0;
    }
    if (strcmp(key, "steps") == 0)
        return parse_steps(c, v, sb);
    if (strcmp(key, "artifacts") == 0) {
        if (get_list(c, v, "artifacts", is_artifact_path, "relative paths without '..', outside .mrun/", NULL, &list,
                     &st->n_artifacts) < 0)
            return -1;
        st->artifacts = list;
        return 0;
    }
    /* if: kept as text with its position; coordinator/expr parses it */
    if (get_str(c, v, "if", &st->if_text) < 0)
        return -1;
    st->if_line = v->line;
    st->if_col = v->col;
    return 0;
}

static int parse_stage(pctx *c, const pnode *k, sbuild *sb)
{
    const pnode *v = k->next;
    sb->key = k;
    sb->st.name = k->str;
    sb->st.line = k->line;
    sb->st.col = k->col;
    if (!is_stage_name(k->str))
        return FAIL(c, k, "bad stage name '%.64s' (expected [a-z0-9][a-z0-9_-]*, at most %d characters)", k->str, MAX_NAME);
    char where[96];
    snprintf(where, sizeof(where), "in stage '%.40s'", k->str);
    if (v->kind != PN_MAP)
        return FAIL(c, v, "stage '%.40s' must be a mapping with 'steps'", k->str);
    if (check_keys(c, v, stage_keys, where) < 0)
        return -1;
    for (const pnode *f = v->first; f; f = f->next->next)
        if (parse_stage_field(c, f, sb, where) < 0)
            return -1;
    if (!sb->st.steps)
        return FAIL(c, k, "stage '%.40s' has no 'steps'", k->str);
    return 0;
}

/* Resolves needs names to file-order indexes. */
static int resolve_needs(pctx *c, sbuild *sb, size_t n)
{
    const char **names = parena_alloc(c->a, (n + 1) * sizeof(*names));
    if (!names)
        return oom(c);
    for (size_t i = 0; i < n; i++)
        names[i] = sb[i].st.name;
    for (size_t i = 0; i < n; i++) {
        sb[i].need_file = parena_alloc(c->a, (sb[i].st.n_needs + 1) * sizeof(size_t));
        if (!sb[i].need_file)
            return oom(c);
        for (size_t j = 0; j < sb[i].st.n_needs; j++) {
            const pnode *e = sb[i].need_nodes[j];
            size_t t = 0;
            while (t < n && strcmp(names[t], e->str) != 0)
                t++;
            if (t == n) {
                char sg[96];
                return FAIL(c, e, "unknown stage '%.64s' in needs of stage '%.40s'%s", e->str, sb[i].st.name,
                            suggest(e->str, names, n, sg, sizeof(sg)));
            }
            sb[i].need_file[j] = t;
        }
    }
    return 0;
}

/* Depth-first search; on a back edge, prints the cycle in needs order: "a -> b -> a". */
static int find_cycle(pctx *c, sbuild *sb, size_t u, unsigned char *color, size_t *path, size_t depth)
{
    color[u] = 1;
    path[depth] = u;
    for (size_t j = 0; j < sb[u].st.n_needs; j++) {
        size_t v = sb[u].need_file[j];
        if (color[v] == 1) {
            char msg[200] = "";
            size_t start = depth;
            while (path[start] != v)
                start--;
            size_t off = 0;
            for (size_t i = start; i <= depth + 1 && off < sizeof(msg); i++) {
                const char *nm = i <= depth ? sb[path[i]].st.name : sb[v].st.name;
                int w = snprintf(msg + off, sizeof(msg) - off, "%s%s", i == start ? "" : " -> ", nm);
                off += w > 0 ? (size_t)w : 0;
            }
            return FAIL(c, sb[u].need_nodes[j], "cycle in needs: %s", msg);
        }
        if (color[v] == 0 && find_cycle(c, sb, v, color, path, depth + 1) < 0)
            return -1;
    }
    color[u] = 2;
    return 0;
}

static void merge_res(mrun_pipeline_res *dst, const mrun_pipeline_res *over)
{
    if (over->memory_set) {
        dst->memory_bytes = over->memory_bytes;
        dst->memory_set = true;
    }
    if (over->pids_set) {
        dst->pids = over->pids;
        dst->pids_set = true;
    }
    if (over->cpus_set) {
        dst->cpus_milli = over->cpus_milli;
        dst->cpus_set = true;
    }
    if (over->timeout_set) {
        dst->timeout_ms = over->timeout_ms;
        dst->timeout_set = true;
    }
}

/* Kahn's algorithm, always taking the ready stage that comes first in the file, so the order is stable. */
static int order_stages(pctx *c, sbuild *sb, size_t n, mrun_pipeline *pl)
{
    mrun_autofree unsigned char *color = calloc(n, 1);
    mrun_autofree size_t *path = calloc(n + 1, sizeof(size_t));
    mrun_autofree size_t *pos = calloc(n, sizeof(size_t)); /* file index -> topological index, SIZE_MAX if not placed */
    if (!color || !path || !pos)
        return oom(c);
    for (size_t i = 0; i < n; i++)
        if (color[i] == 0 && find_cycle(c, sb, i, color, path, 0) < 0)
            return -1;
    pl->stages = parena_alloc(c->a, n * sizeof(*pl->stages));
    if (!pl->stages)
        return oom(c);
    for (size_t i = 0; i < n; i++)
        pos[i] = SIZE_MAX;
    for (size_t placed = 0; placed < n; placed++) {
        size_t pick = n;
        for (size_t i = 0; i < n && pick == n; i++) {
            if (pos[i] != SIZE_MAX)
                continue;
            size_t j = 0;
            while (j < sb[i].st.n_needs && pos[sb[i].need_file[j]] != SIZE_MAX)
                j++;
            if (j == sb[i].st.n_needs)
                pick = i;
        }
        assert(pick < n); /* no cycle, so something is always ready */
        size_t *needs = parena_alloc(c->a, (sb[pick].st.n_needs + 1) * sizeof(size_t));
        if (!needs)
            return oom(c);
        for (size_t j = 0; j < sb[pick].st.n_needs; j++)
            needs[j] = pos[sb[pick].need_file[j]];
        pos[pick] = placed;
        pl->stages[placed] = sb[pick].st;
        pl->stages[placed].needs = needs;
        pl->stages[placed].limits = pl->defaults;
        merge_res(&pl->stages[placed].limits, &sb[pick].own);
    }
    pl->n_stages = n;
    return 0;
}

static int parse_stages(pctx *c, const pnode *n, mrun_pipeline *pl)
{
    if (n->kind != PN_MAP || n->n == 0)
        return FAIL(c, n, "'stages' must be a non-empty mapping of stage names to stages");
    size_t cnt = n->n / 2;
    if (cnt > c->lim->max_stages)
        return pl_fail(c->err, E2BIG, c->file, n->line, n->col, "%zu stages, more than the limit of %zu", cnt,
                       c->lim->max_stages);
    mrun_autofree sbuild *sb = calloc(cnt, sizeof(*sb));
    if (!sb)
        return oom(c);
    size_t i = 0;
    for (const pnode *k = n->first; k; k = k->next->next, i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(sb[j].st.name, k->str) == 0)
                return FAIL(c, k, "duplicate stage '%.64s' (first defined at line %u)", k->str, sb[j].st.line);
        if (parse_stage(c, k, &sb[i]) < 0)
            return -1;
    }
    if (resolve_needs(c, sb, cnt) < 0)
        return -1;
    return order_stages(c, sb, cnt, pl);
}

static int parse_top(pctx *c, const pnode *root, mrun_pipeline *pl)
{
    if (root->kind != PN_MAP)
        return FAIL(c, root, "top level must be a mapping with 'stages'");
    if (check_keys(c, root, top_keys, "at top level") < 0)
        return -1;
    const pnode *stages = NULL;
    for (const pnode *k = root->first; k; k = k->next->next) {
        const pnode *v = k->next;
        int r = 0;
        if (strcmp(k->str, "name") == 0) {
            r = get_str(c, v, "name", &pl->name);
        } else if (strcmp(k->str, "tier") == 0) {
            int64_t t = 0;
            r = get_int(c, v, "tier", 0, 3, &t);
            pl->tier = (int)t;
        } else if (strcmp(k->str, "env") == 0) {
            r = get_kv(c, v, "'env'", is_env_name, &pl->env, &pl->n_env);
        } else if (strcmp(k->str, "defaults") == 0) {
            r = expect_map(c, v, "'defaults'");
            if (r == 0)
                r = check_keys(c, v, defaults_keys, "in 'defaults'");
            if (r == 0 && v->first)
                r = parse_limits(c, v->first->next, "in 'defaults'", &pl->defaults);
        } else {
            stages = v; /* parsed last, so defaults apply whatever the key order */
        }
        if (r < 0)
            return -1;
    }
    if (!stages)
        return FAIL(c, root, "missing 'stages' at top level");
    return parse_stages(c, stages, pl);
}

int mrun_pipeline_parse(const char *name, const uint8_t *buf, size_t len, const mrun_pipeline_limits *lim,
                        const char *const *known_uses, mrun_pipeline **ret_pl, mrun_err *err)
{
    assert(name && (buf || len == 0) && lim && ret_pl);
    mrun_cleanup(mrun_pipeline_freep) mrun_pipeline *pl = calloc(1, sizeof(*pl));
    if (!pl)
        return mrun_err_set(err, ENOMEM, "%s", name);
    pctx c = {.file = name, .err = err, .lim = lim, .known_uses = known_uses, .a = &pl->arena};
    pnode *root = NULL;
    if (pl_tree_build(name, buf, len, lim, &pl->arena, &root, err) < 0)
        return -1;
    if (parse_top(&c, root, pl) < 0)
        return -1;
    if (!pl->name && !(pl->name = parena_strdup(&pl->arena, name, strlen(name))))
        return oom(&c);
    *ret_pl = mrun_steal_ptr(&pl);
    return 0;
}

void mrun_pipeline_free(mrun_pipeline *pl)
{
    if (!pl)
        return;
    parena_free(pl->arena);
    free(pl);
}

const char *mrun_pipeline_name(const mrun_pipeline *pl)
{
    return pl->name;
}

int mrun_pipeline_tier(const mrun_pipeline *pl)
{
    return pl->tier;
}

const mrun_pipeline_kv *mrun_pipeline_env(const mrun_pipeline *pl, size_t *ret_n)
{
    *ret_n = pl->n_env;
    return pl->env;
}

const mrun_pipeline_res *mrun_pipeline_defaults(const mrun_pipeline *pl)
{
    return &pl->defaults;
}

size_t mrun_pipeline_stage_count(const mrun_pipeline *pl)
{
    return pl->n_stages;
}

const mrun_pipeline_stage *mrun_pipeline_stage_at(const mrun_pipeline *pl, size_t i)
{
    assert(i < pl->n_stages);
    return &pl->stages[i];
}

long mrun_pipeline_stage_find(const mrun_pipeline *pl, const char *name)
{
    for (size_t i = 0; i < pl->n_stages; i++)
        if (strcmp(pl->stages[i].name, name) == 0)
            return (long)i;
    return -1;
}
