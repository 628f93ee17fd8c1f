/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static const char *program_name = "p2v";
static p2v_log_sink sink;
static p2v_log_sink_data sink_data;
static void *sink_state;
static int verbosity;
/* One line at a time, even with many client threads. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void p2v_log_init(const char *name)
{
  const char *slash = strrchr(name, '/');
  program_name = slash ? slash + 1 : name;
}

void p2v_log_set_sink(p2v_log_sink s) { sink = s; sink_data = NULL; sink_state = NULL; }
void p2v_log_set_sink_data(p2v_log_sink_data s, void *data)
{
  sink = NULL;
  sink_data = s;
  sink_state = data;
}
void p2v_log_set_verbosity(int v) { verbosity = v; }
int p2v_log_verbosity(void) { return verbosity; }
const char *p2v_program_name(void) { return program_name; }

void p2v_vlog(enum p2v_log_level level, const char *fmt, va_list ap)
{
  int saved_errno = errno;
  char message[2048];

  if ((level == P2V_LOG_INFO && verbosity < 1) ||
      (level == P2V_LOG_DEBUG && verbosity < 2))
    return;
#ifdef _WIN32
  char expanded[1024];
  fmt = p2v_expand_errno(fmt, saved_errno, expanded, sizeof expanded);   /* compat-win32.h */
#endif
  vsnprintf(message, sizeof message, fmt, ap);   /* glibc expands %m from errno */

  pthread_mutex_lock(&log_lock);
  if (sink_data)
    sink_data(sink_state, level, message);
  else if (sink)
    sink(level, message);
  else {
    static const char *const prefix[] = { "", "warning: ", "", "debug: " };
    fprintf(stderr, "%s: %s%s\n", program_name, prefix[level], message);
  }
  pthread_mutex_unlock(&log_lock);
  errno = saved_errno;
}

#define DEFINE_LOG_FUNCTION(name, level)        \
  void name(const char *fmt, ...)               \
  {                                             \
    va_list ap;                                 \
    va_start(ap, fmt);                          \
    p2v_vlog(level, fmt, ap);                   \
    va_end(ap);                                 \
  }

DEFINE_LOG_FUNCTION(p2v_error, P2V_LOG_ERROR)
DEFINE_LOG_FUNCTION(p2v_warning, P2V_LOG_WARNING)
DEFINE_LOG_FUNCTION(p2v_info, P2V_LOG_INFO)
DEFINE_LOG_FUNCTION(p2v_debug, P2V_LOG_DEBUG)
