/* A growable byte buffer and a growable string vector, with growth that
 * checks for overflow.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_BUF_H
#define P2V_BUF_H

#include <stdbool.h>
#include <stddef.h>

/* items (malloc'd or NULL, *cap of size bytes each) grown to hold at
 * least need: doubling from 16, the product checked for overflow.  The
 * array (maybe moved; *cap updated), or NULL with errno (ENOMEM, or
 * EOVERFLOW) and items untouched. */
void *p2v_grow(void *items, size_t *cap, size_t need, size_t size);

/* Bytes, always NUL-terminated once anything was added (data is NULL
 * before). */
struct p2v_buf {
  char *data;
  size_t len, cap;
};
#define P2V_BUF_INIT { NULL, 0, 0 }

/* Room for more bytes (and the NUL): 0, or -1 with errno (ENOMEM, or
 * EOVERFLOW when len + more does not fit a size_t). */
int p2v_buf_reserve(struct p2v_buf *b, size_t more);
int p2v_buf_append(struct p2v_buf *b, const void *data, size_t n);
int p2v_buf_printf(struct p2v_buf *b, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
/* Forget the first n bytes (all of them if n >= len). */
void p2v_buf_drop_front(struct p2v_buf *b, size_t n);
/* The bytes as a malloc'd string ("" if none; NULL with errno if out of
 * memory); b is empty after. */
char *p2v_buf_steal(struct p2v_buf *b);
void p2v_buf_free(struct p2v_buf *b);

/* Strings, v NULL-terminated once anything was added (an argv).  After
 * a failed add, failed stays set and further adds do nothing, so an argv
 * can be built with one check at the end. */
struct p2v_strvec {
  char **v;
  size_t n, cap;
  bool failed;
};
#define P2V_STRVEC_INIT { NULL, 0, 0, false }

/* Add a copy of s, or a printf-formatted string: 0, or -1 with errno. */
int p2v_strvec_push(struct p2v_strvec *sv, const char *s);
int p2v_strvec_printf(struct p2v_strvec *sv, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
void p2v_strvec_free(struct p2v_strvec *sv);

#endif
