/* Progress for people (a bar on a terminal) and for programs (one JSON
 * object per line), computed from the same numbers.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "copy/copy.h"

#define BAR_INTERVAL  0.2        /* seconds between bar redraws */
#define JSON_INTERVAL 1.0        /* seconds between JSON lines */
#define BAR_WIDTH     30

struct progress {
  enum progress_mode mode;       /* BAR, JSON or NONE once resolved */
  int fd;
  double start, last_print;
  double rate_time;              /* rate: bytes/s, smoothed */
  uint64_t rate_done;
  double rate;
  bool drawn;                    /* the bar's line is on screen */
};

struct progress *progress_new(enum progress_mode mode, int fd)
{
  struct progress *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  if (mode == PROGRESS_AUTO)
    mode = isatty(fd) ? PROGRESS_BAR : PROGRESS_NONE;
  p->mode = mode;
  p->fd = fd;
  p->start = p->rate_time = p2v_now_s();
  return p;
}

/* a - b, or 0 when b is larger: counts are unsigned, and a difference
 * that wraps would show an absurd rate or ETA. */
static uint64_t minus(uint64_t a, uint64_t b)
{
  return a > b ? a - b : 0;
}

static void update_rate(struct progress *p, uint64_t done, double t)
{
  double dt = t - p->rate_time;
  if (dt < 0.5)
    return;
  double instant = (double) minus(done, p->rate_done) / dt;
  /* Smooth over a few seconds so the ETA does not jump at each hole. */
  p->rate = p->rate == 0 ? instant : 0.7 * p->rate + 0.3 * instant;
  p->rate_time = t;
  p->rate_done = done;
}

static void print_bar(struct progress *p, uint64_t done, uint64_t total, bool final)
{
  double fraction = total ? (double) done / (double) total : 1.0;
  int filled = (int) (fraction * BAR_WIDTH);
  char bar[BAR_WIDTH + 1];
  for (int i = 0; i < BAR_WIDTH; i++)
    bar[i] = i < filled ? '#' : '-';
  bar[BAR_WIDTH] = '\0';

  double elapsed = p2v_now_s() - p->start;
  double rate = final && elapsed > 0 ? (double) done / elapsed : p->rate;
  char eta[32] = "--:--";
  if (final)
    snprintf(eta, sizeof eta, "in %d:%02d", (int) elapsed / 60, (int) elapsed % 60);
  else if (rate > 0) {
    int s = (int) ((double) minus(total, done) / rate);
    snprintf(eta, sizeof eta, "ETA %d:%02d", s / 60, s % 60);
  }
  dprintf(p->fd, "\r%5.1f%% [%s] %8.1f MB/s %s\033[K%s", fraction * 100, bar, rate / 1e6,
          eta, final ? "\n" : "");
  p->drawn = !final;
}

static void print_json(struct progress *p, uint64_t done, uint64_t total)
{
  double rate = p->rate;
  double eta = rate > 0 ? (double) minus(total, done) / rate : -1;
  if (done == total)
    eta = 0;
  dprintf(p->fd,
          "{\"percent\":%.1f,\"bytes_done\":%llu,\"bytes_total\":%llu,"
          "\"rate\":%.0f,\"eta\":%.0f,\"elapsed\":%.1f}\n",
          total ? 100.0 * (double) done / (double) total : 100.0, (unsigned long long) done,
          (unsigned long long) total, rate, eta, p2v_now_s() - p->start);
}

void progress_update(struct progress *p, uint64_t done, uint64_t total)
{
  if (!p || p->mode == PROGRESS_NONE)
    return;
  double t = p2v_now_s();
  update_rate(p, done, t);
  double interval = p->mode == PROGRESS_BAR ? BAR_INTERVAL : JSON_INTERVAL;
  if (t - p->last_print < interval)
    return;
  p->last_print = t;
  if (p->mode == PROGRESS_BAR)
    print_bar(p, done, total, false);
  else
    print_json(p, done, total);
}

void progress_end(struct progress *p, uint64_t done, uint64_t total)
{
  if (!p || p->mode == PROGRESS_NONE)
    return;
  update_rate(p, done, p2v_now_s());
  if (p->mode == PROGRESS_BAR)
    print_bar(p, done, total, true);
  else
    print_json(p, done, total);
}

void progress_clear_line(struct progress *p)
{
  if (p && p->mode == PROGRESS_BAR && p->drawn) {
    dprintf(p->fd, "\r\033[K");
    p->drawn = false;
  }
}

void progress_free(struct progress *p)
{
  free(p);
}
