/* Unit test for common/util/command.c: exit codes, both output streams
 * larger than a pipe buffer at once, the time limit (SIGTERM, then
 * SIGKILL for a program that ignores it), the output bound, a program
 * that is not installed.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "command.h"
#include "log.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static char last_error[512];
static int errors;

static void sink(enum p2v_log_level level, const char *message)
{
  if (level == P2V_LOG_ERROR) {
    snprintf(last_error, sizeof last_error, "%s", message);
    errors++;
  }
}

static struct p2v_command *sh(const char *script, const struct p2v_command_options *o)
{
  const char *argv[] = { "sh", "-c", script, NULL };
  return p2v_command_run(argv, o);
}

static bool all(const char *s, size_t len, char c)
{
  for (size_t i = 0; i < len; i++)
    if (s[i] != c)
      return false;
  return true;
}

static void exit_codes(void)
{
  struct p2v_command *c = sh("exit 0", NULL);
  CHECK(c && p2v_command_status(c) == 0 && p2v_command_signal(c) == 0);
  p2v_command_free(c);
  c = sh("exit 3", NULL);
  char buf[64];
  CHECK(c && p2v_command_status(c) == 3 && !p2v_command_timed_out(c));
  CHECK(strcmp(p2v_command_ending(c, buf, sizeof buf), "exited with status 3") == 0);
  p2v_command_free(c);
  c = sh("kill -9 $$", NULL);
  CHECK(c && p2v_command_status(c) == -1 && p2v_command_signal(c) == SIGKILL);
  CHECK(strcmp(p2v_command_ending(c, buf, sizeof buf), "was killed by signal 9") == 0);
  p2v_command_free(c);
}

/* stderr filled first, then stdout: a runner that reads one stream to
 * its end before the other deadlocks here. */
static void both_streams(void)
{
  struct p2v_command_options o = { .max_stderr = 1 << 20, .timeout_ms = 30000 };
  struct p2v_command *c = sh("head -c 300000 /dev/zero | tr '\\0' e >&2; "
                             "head -c 1000000 /dev/zero | tr '\\0' o; printf '\\nlast words\\n' >&2", &o);
  CHECK(c && p2v_command_status(c) == 0 && !p2v_command_timed_out(c));
  size_t out_len, err_len;
  const char *out = p2v_command_stdout(c, &out_len), *err = p2v_command_stderr(c, &err_len);
  CHECK(out_len == 1000000 && all(out, out_len, 'o') && out[out_len] == '\0');
  CHECK(err_len == 300000 + 12 && all(err, 300000, 'e'));
  char *line = p2v_command_last_error_line(c);
  CHECK(line && strcmp(line, "last words") == 0);
  free(line);
  p2v_command_free(c);

  /* stderr keeps its end only. */
  o.max_stderr = 1000;
  c = sh("head -c 300000 /dev/zero | tr '\\0' e >&2; echo 'the reason' >&2", &o);
  CHECK(c && p2v_command_status(c) == 0);
  err = p2v_command_stderr(c, &err_len);
  CHECK(err_len == 1000 && strcmp(err + 1000 - 11, "the reason\n") == 0);
  p2v_command_free(c);
}

static void bounded_stdout(void)
{
  struct p2v_command_options o = { .max_stdout = 100000 };
  int64_t t = p2v_now_ms();
  struct p2v_command *c = sh("exec yes", &o);
  CHECK(!c && errors == 1);
  CHECK(strcmp(last_error, "cannot run sh: its output is larger than 100000 bytes") == 0);
  CHECK(p2v_now_ms() - t < 10000);
  errors = 0;
}

static void timeout(void)
{
  struct p2v_command_options o = { .timeout_ms = 200 };
  int64_t t = p2v_now_ms();
  struct p2v_command *c = sh("exec sleep 30", &o);
  int64_t took = p2v_now_ms() - t;
  CHECK(c && p2v_command_timed_out(c) && p2v_command_status(c) == -1);
  CHECK(p2v_command_signal(c) == SIGTERM);
  CHECK(took >= 200 && took < 1500);
  char buf[80];
  CHECK(strcmp(p2v_command_ending(c, buf, sizeof buf),
               "did not finish within 1 s and was stopped") == 0);
  p2v_command_free(c);

  /* Deaf to SIGTERM: killed after the grace. */
  t = p2v_now_ms();
  c = sh("trap '' TERM; exec sleep 30", &o);
  took = p2v_now_ms() - t;
  CHECK(c && p2v_command_timed_out(c) && p2v_command_signal(c) == SIGKILL);
  CHECK(took >= 200 + P2V_COMMAND_GRACE_MS && took < 200 + P2V_COMMAND_GRACE_MS + 2000);
  p2v_command_free(c);

  /* Output inherited: the limit holds too. */
  o.inherit_stdio = true;
  c = sh("exec sleep 30", &o);
  CHECK(c && p2v_command_timed_out(c) && p2v_command_signal(c) == SIGTERM);
  p2v_command_free(c);
  CHECK(errors == 0);
}

static void not_found(void)
{
  const char *argv[] = { "p2v-no-such-program", "x", NULL };
  struct p2v_command_options o = { .install_hint = "install it (apt-get install p2v-nothing)" };
  CHECK(!p2v_command_run(argv, &o) && errors == 1);
  CHECK(strcmp(last_error, "cannot run p2v-no-such-program: command not found; "
                           "install it (apt-get install p2v-nothing)") == 0);
  errors = 0;
  CHECK(!p2v_command_run(argv, NULL) && errors == 1);
  CHECK(strcmp(last_error, "cannot run p2v-no-such-program: command not found") == 0);
  errors = 0;
  const char *dir[] = { "/", NULL };
  CHECK(!p2v_command_run(dir, NULL) && errors == 1);
  CHECK(strcmp(last_error, "cannot run /: Permission denied") == 0);
  errors = 0;
}

static void environment(void)
{
  char *env[] = { (char *) "P2V_TEST=forty-two", NULL };
  struct p2v_command_options o = { .env = env };
  struct p2v_command *c = sh("printf %s \"$P2V_TEST\"", &o);
  CHECK(c && strcmp(p2v_command_stdout(c, NULL), "forty-two") == 0);
  p2v_command_free(c);
}

int main(void)
{
  p2v_log_init("test-command");
  p2v_log_set_sink(sink);
  /* Signals blocked here are not blocked in the program it runs. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, NULL);
  exit_codes();
  both_streams();
  bounded_stdout();
  timeout();
  not_found();
  environment();
  CHECK(errors == 0);
  return 0;
}
