/* One error-reporting path for every binary.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_LOG_H
#define P2V_LOG_H

#include <stdarg.h>

/* Messages follow git's rules: lower case, no full stop, say what failed,
 * on what, and (for errors a user can fix) what to do.  Every function keeps
 * errno, so "%m" works and callers can still test errno afterwards. */

enum p2v_log_level { P2V_LOG_ERROR, P2V_LOG_WARNING, P2V_LOG_INFO, P2V_LOG_DEBUG };

/* Where messages go.  Default: "PROGRAM: [warning: ]message\n" on stderr.
 * A service with no console (the Windows agent) installs its own sink. */
typedef void (*p2v_log_sink)(enum p2v_log_level level, const char *message);

/* The same with a pointer for the sink's own state (a command keeps its
 * first error in its own struct, not in a global).  Replaces any sink. */
typedef void (*p2v_log_sink_data)(void *data, enum p2v_log_level level, const char *message);

void p2v_log_init(const char *program_name);
void p2v_log_set_sink(p2v_log_sink sink);
void p2v_log_set_sink_data(p2v_log_sink_data sink, void *data);
void p2v_log_set_verbosity(int verbosity);   /* 0: errors+warnings, 1: +info, 2: +debug */
int  p2v_log_verbosity(void);
const char *p2v_program_name(void);

void p2v_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void p2v_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void p2v_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void p2v_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void p2v_vlog(enum p2v_log_level level, const char *fmt, va_list ap)
  __attribute__((format(printf, 2, 0)));

#endif
