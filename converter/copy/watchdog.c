/* A deadline on the requests made before the copy (first-sector reads,
 * block status for the space estimate, the survey), which the copy
 * engine's stall timeout does not cover.  A thread waits; if no step
 * completes within the time, it says which step stalled (one line) and
 * cancels the source, so the blocked call fails at once.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "copy/copy.h"
#include "log.h"

struct watchdog {
  struct p2v_image *img;
  const char *source;            /* for the message; outlives the watchdog */
  unsigned seconds;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct timespec deadline;      /* CLOCK_MONOTONIC */
  char step[160];                /* what is being waited for */
  bool stopping, fired;
};

static void set_deadline(struct watchdog *w)
{
  clock_gettime(CLOCK_MONOTONIC, &w->deadline);
  w->deadline.tv_sec += w->seconds;
}

static bool passed(const struct timespec *t)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void *watch(void *arg)
{
  struct watchdog *w = arg;
  pthread_mutex_lock(&w->lock);
  while (!w->stopping) {
    int r = pthread_cond_timedwait(&w->cond, &w->lock, &w->deadline);
    if (r == ETIMEDOUT && !w->stopping && passed(&w->deadline)) {
      w->fired = true;
      /* First the reason, then the cancel: the failure of the blocked
       * call is a consequence and comes second. */
      p2v_error("the source at %s stopped answering: no reply to %s within %u s; check "
                "the source, or raise --connect-timeout", w->source, w->step, w->seconds);
      w->img->ops->cancel(w->img);
      break;
    }
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

struct watchdog *watchdog_start(struct p2v_image *img, unsigned seconds, const char *source)
{
  if (!seconds || !img->ops->cancel)
    return NULL;
  struct watchdog *w = calloc(1, sizeof *w);
  if (!w) {
    p2v_warning("out of memory: no deadline on the requests to %s", source);
    return NULL;
  }
  *w = (struct watchdog) { .img = img, .source = source, .seconds = seconds };
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&w->lock, NULL);
  snprintf(w->step, sizeof w->step, "the first request");
  set_deadline(w);
  /* Signals go to the thread doing the work (a blocked poll returns). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int r = pthread_create(&w->thread, NULL, watch, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (r != 0) {
    p2v_warning("cannot start a thread (%s): no deadline on the requests to %s",
                strerror(r), source);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return NULL;
  }
  return w;
}

void watchdog_step(struct watchdog *w, const char *fmt, ...)
{
  if (!w)
    return;
  pthread_mutex_lock(&w->lock);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->step, sizeof w->step, fmt, ap);
  va_end(ap);
  set_deadline(w);
  pthread_mutex_unlock(&w->lock);
}

bool watchdog_stop(struct watchdog *w)
{
  if (!w)
    return false;
  pthread_mutex_lock(&w->lock);
  w->stopping = true;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  bool fired = w->fired;
  pthread_cond_destroy(&w->cond);
  pthread_mutex_destroy(&w->lock);
  free(w);
  return fired;
}
