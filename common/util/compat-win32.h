/* What the Windows tree (mingw-w64) lacks of the POSIX and GNU functions
 * the shared sources use.  Included into every file of the Windows agent
 * by the compiler (-include, top-level CMakeLists.txt), so the shared
 * sources stay as they are; defined in compat-win32.c.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_COMPAT_WIN32_H
#define P2V_COMPAT_WIN32_H
#ifdef _WIN32

#include <stddef.h>

/* realloc(ptr, n * size), NULL with ENOMEM if that overflows. */
void *reallocarray(void *ptr, size_t n, size_t size);

/* fmt with each "%m" replaced by the text of err, into out; fmt itself if
 * it does not fit.  msvcrt's strerror (which mingw's "%m" uses) knows no
 * socket errors ("Unknown error" for EADDRINUSE); this does.  log.c. */
const char *p2v_expand_errno(const char *fmt, int err, char *out, size_t size);

/* The system's English text for Win32 error or HRESULT err, without its
 * trailing full stop and line end, into buf ("" when Windows has none);
 * returns its length. */
size_t p2v_win32_text(unsigned long err, char *buf, size_t size);
/* "error 5: Access is denied" (or "error 5" alone) into buf. */
void p2v_win32_message(unsigned long err, char *buf, size_t size);

#endif
#endif
