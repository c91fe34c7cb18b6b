/* store_int.h - private to coordinator/store*.c: the store struct and the small SQLite helpers they share. */
#ifndef MRUN_STORE_INT_H
#define MRUN_STORE_INT_H

#include <sqlite3.h>
#include <stdarg.h>

#include "store.h"

/* One connection and the two directory fds; used by one thread at a time (see store.h). */
struct mrun_store {
    sqlite3 *db;
    int dir_fd;   /* data_dir */
    int blobs_fd; /* data_dir/blobs */
};

static inline void store_stmt_freep(sqlite3_stmt **s)
{
    sqlite3_finalize(*s); /* accepts NULL */
}
#define store_autostmt mrun_cleanup(store_stmt_freep)

/* Copies sqlite3_errmsg at once; maps SQLITE_BUSY to ETIMEDOUT, SQLITE_FULL to ENOSPC, the rest to EIO. */
int store_db_err(mrun_store *st, int rc, const char *what, mrun_err *err);

/* Prepares sql and binds the variadic arguments by `types`, one letter per parameter:
 * s = const char * (NULL binds NULL), t = const char *, size_t (text with length), b = const void *, size_t (blob),
 * i = int, I = int64_t, d = double. err comes before sql only because the arguments are variadic. */
int store_prep(mrun_store *st, sqlite3_stmt **ret_stmt, mrun_err *err, const char *sql, const char *types, ...);
/* Prepares, binds and steps to completion a statement that returns no rows. Returns sqlite3_changes() or -1. */
int store_exec(mrun_store *st, mrun_err *err, const char *sql, const char *types, ...);
/* Returns SQLITE_ROW or SQLITE_DONE, or -1 with err filled. */
int store_step(mrun_store *st, sqlite3_stmt *s, mrun_err *err);

/* BEGIN IMMEDIATE (take the write lock up front, so a transaction never fails halfway on a lock upgrade). */
int store_begin(mrun_store *st, mrun_err *err);
int store_commit(mrun_store *st, mrun_err *err);
void store_rollback(mrun_store *st);

/* Fills out with 2 * nbytes lowercase hex characters of RAND_bytes and a NUL. */
int store_random_hex(char *out, size_t nbytes, mrun_err *err);
void store_hex(const unsigned char *in, size_t n, char *out);
/* 64 lowercase hex characters. */
bool store_digest_valid(const char *digest);
/* Column text or "" for NULL. */
const char *store_col(sqlite3_stmt *s, int i);

#endif
