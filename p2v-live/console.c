/* What the person at the machine (or a serial console log) reads: every
 * message goes to every active console, since /dev/console is only the
 * last console= of the command line and a test may watch ttyS0 while a
 * person watches tty0.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "live.h"
#include "log.h"

#define MAX_CONSOLES 8
#define BANNER_WIDTH 72

static int console_fds[MAX_CONSOLES];
static size_t nconsoles;       /* 0: stdout */
static pthread_mutex_t console_lock = PTHREAD_MUTEX_INITIALIZER;

static void write_all(int fd, const char *text, size_t len)
{
  while (len) {
    ssize_t n = write(fd, text, len);
    if (n <= 0)
      return;                  /* a console gone away is not worth stopping for */
    text += n;
    len -= (size_t)n;
  }
}

/* Serial consoles want "\r\n"; the tty layer adds the '\r' (onlcr). */
static void console_write(const char *text)
{
  pthread_mutex_lock(&console_lock);
  if (nconsoles == 0) {
    fputs(text, stdout);
    fflush(stdout);
  }
  for (size_t i = 0; i < nconsoles; i++)
    write_all(console_fds[i], text, strlen(text));
  pthread_mutex_unlock(&console_lock);
}

static void console_sink(enum p2v_log_level level, const char *message)
{
  char line[2048];
  snprintf(line, sizeof line, "%s: %s%s\n", p2v_program_name(),
           level == P2V_LOG_ERROR ? "error: " : level == P2V_LOG_WARNING ? "warning: " : "",
           message);
  console_write(line);
}

void live_console_init(const struct live_roots *roots, bool all_consoles)
{
  if (!all_consoles)
    return;
  char path[PATH_MAX], names[256] = "";
  snprintf(path, sizeof path, "%s/class/tty/console/active", roots->sysfs);
  CLEANUP_FCLOSE FILE *f = fopen(path, "re");
  if (f && !fgets(names, sizeof names, f))
    names[0] = '\0';
  for (char *save = NULL, *name = strtok_r(names, " \n", &save);
       name && nconsoles < MAX_CONSOLES; name = strtok_r(NULL, " \n", &save)) {
    if (strchr(name, '/') || !strcmp(name, ".."))
      continue;
    snprintf(path, sizeof path, "%s/%s", roots->dev, name);
    int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0)
      console_fds[nconsoles++] = fd;
  }
  if (nconsoles == 0) {        /* /dev/console at least */
    snprintf(path, sizeof path, "%s/console", roots->dev);
    int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0)
      console_fds[nconsoles++] = fd;
  }
  p2v_log_set_sink(console_sink);
}

void live_say(const char *fmt, ...)
{
  char text[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(text, sizeof text - 1, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  size_t len = strlen(text);
  if (len == 0 || text[len - 1] != '\n')
    strcat(text, "\n");
  console_write(text);
}

static void banner_line(char *out, size_t size, const char *text)
{
  size_t len = strlen(out);
  snprintf(out + len, size - len, "##  %-*.*s  ##\n", BANNER_WIDTH - 8, BANNER_WIDTH - 8, text);
}

void live_banner(const char *headline, const char *const *lines)
{
  char text[8192] = "", rule[BANNER_WIDTH + 2];
  memset(rule, '#', BANNER_WIDTH);
  rule[BANNER_WIDTH] = '\n';
  rule[BANNER_WIDTH + 1] = '\0';
  strcat(text, "\n");
  strcat(text, rule);
  strcat(text, rule);
  banner_line(text, sizeof text, "");
  banner_line(text, sizeof text, headline);
  banner_line(text, sizeof text, "");
  for (size_t i = 0; lines && lines[i] && i < 40; i++)
    banner_line(text, sizeof text, lines[i]);
  banner_line(text, sizeof text, "");
  strcat(text, rule);
  strcat(text, rule);
  console_write(text);
}
