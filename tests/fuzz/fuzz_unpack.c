/* fuzz_unpack.c - fuzz target for safe extraction: each input is unpacked (small limits) into a fresh temp
 * directory, which must be empty again whenever the archive is refused, and is then removed. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/archive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    remove(p);
    return 0;
}

static int is_empty(int dfd)
{
    DIR *d = fdopendir(dup(dfd));
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/mrun-fuzz-unpack-XXXXXX";
    if (!mkdtemp(path))
        abort();
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        abort();
    mrun_unpack_limits lim = {.max_bytes = 1 << 20, .max_entries = 1000};
    mrun_unpack_stats st;
    mrun_err err = MRUN_ERR_INIT;
    int r = mrun_archive_unpack(data, size, dfd, &lim, &st, &err);
    if (r < 0 && (err.msg[0] == '\0' || !is_empty(dfd)))
        abort(); /* a refusal always says why and leaves nothing behind */
    if (r == 0 && (st.bytes > lim.max_bytes || st.entries > lim.max_entries))
        abort();
    close(dfd);
    nftw(path, rm_cb, 32, FTW_DEPTH | FTW_PHYS);
    return 0;
}
