/* tree.c - what walking a workspace safely needs beside the ignore rules: a sorted listing of a directory and
 * loading its .gitignore/.mrunignore. Shared by the packer (archive_pack.c) and the checks' walk (scan_walk.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "auto.h"

#define MAX_IGNORE_FILE (1 << 20)

static int cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

void mrun_dir_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int mrun_dir_names(int dfd, char ***ret_names, size_t *ret_n, mrun_err *err)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return mrun_err_set(err, e, "read directory");
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **nn = realloc(names, ncap * sizeof(*nn));
            if (!nn) {
                r = mrun_err_set(err, ENOMEM, "read directory");
                break;
            }
            names = nn;
            cap = ncap;
        }
        if (!(names[n] = strdup(de->d_name)))
            r = mrun_err_set(err, ENOMEM, "read directory");
        else
            n++;
    }
    closedir(d);
    if (r < 0) {
        mrun_dir_names_free(names, n);
        return -1;
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    *ret_names = names;
    *ret_n = n;
    return 0;
}

/* Adds dfd's ignore file `name` to the rules; a missing one or a symlink is not read. */
static int load_one(mrun_ignore *ig, int dfd, const char *rel, const char *name, mrun_err *err)
{
    mrun_autoclose int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    char source[PATH_MAX];
    snprintf(source, sizeof(source), "%s%s%s", rel, *rel ? "/" : "", name);
    if (st.st_size > MAX_IGNORE_FILE)
        return mrun_err_setx(err, E2BIG, "'%s': larger than %d bytes", source, MAX_IGNORE_FILE);
    mrun_autofree char *text = malloc((size_t)st.st_size + 1);
    if (!text)
        return mrun_err_set(err, ENOMEM, "'%s'", source);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return mrun_err_set(err, errno, "read '%s'", source);
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return mrun_ignore_add_file(ig, rel, text, got, source, err);
}

int mrun_ignore_load_dir(mrun_ignore *ig, int dfd, const char *rel, mrun_err *err)
{
    if (load_one(ig, dfd, rel, ".gitignore", err) < 0 || load_one(ig, dfd, rel, ".mrunignore", err) < 0)
        return -1;
    return 0;
}
