/* auto.h - scope-bound cleanup for locals (gcc/clang cleanup attribute). */
#ifndef MRUN_AUTO_H
#define MRUN_AUTO_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define mrun_cleanup(fn) __attribute__((cleanup(fn)))

static inline void mrun_freep(void *p)
{
    free(*(void **)p);
}

static inline void mrun_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno; /* cleanup must not clobber the errno a caller is about to read */
        close(*fd);
        errno = saved;
    }
}

static inline void mrun_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

#define mrun_autofree mrun_cleanup(mrun_freep)
#define mrun_autoclose_file mrun_cleanup(mrun_fclosep)
#define mrun_autoclose mrun_cleanup(mrun_closep)

/* Hands a pointer over: returns it and leaves NULL behind, so the cleanup does nothing. */
static inline void *mrun_steal_ptr_(void *pp)
{
    void **p = (void **)pp;
    void *v = *p;
    *p = NULL;
    return v;
}
#define mrun_steal_ptr(pp) ((__typeof__(*(pp)))mrun_steal_ptr_(pp))

static inline int mrun_steal_fd(int *fd)
{
    int v = *fd;
    *fd = -1;
    return v;
}

#endif
