/* Whole reads and writes (EINTR and short counts handled), and files
 * replaced atomically.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_FILE_IO_H
#define P2V_FILE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read until count bytes or end of file: the bytes read (fewer than
 * count only at end of file), or -1 with errno. */
ssize_t p2v_read_full(int fd, void *buf, size_t count);
ssize_t p2v_pread_full(int fd, void *buf, size_t count, uint64_t offset);

/* Write all count bytes: 0, or -1 with errno (ENOSPC for a write that
 * wrote nothing).  Nothing is reported. */
int p2v_write_full(int fd, const void *buf, size_t count);
int p2v_pwrite_full(int fd, const void *buf, size_t count, uint64_t offset);

/* Write len bytes to path as PATH.tmp (mode 0644 less the umask), fsync,
 * rename, sync the folder.  -1 reported, PATH.tmp removed. */
int p2v_write_file_atomic(const char *path, const void *data, size_t len);
/* The same through tmp (in path's folder), which must not exist yet. */
int p2v_write_file_via(const char *path, const char *tmp, const void *data, size_t len);

/* Rename tmp to path and sync the folder; -1 reported (tmp removed). */
int p2v_commit_file(const char *tmp, const char *path);

#endif
