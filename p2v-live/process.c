/* Processes: running busybox tools with a time limit, and being PID 1.
 * As PID 1 the program forks at once: the child does the job, the parent
 * only reaps (every orphan in the image becomes its child) and powers off
 * when the job ends or someone runs busybox poweroff.  A crash of the job
 * is then a message and a shell, not a kernel panic.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "live.h"
#include "log.h"

int live_run(const char *const *argv, unsigned timeout_s)
{
  /* Seconds past what a millisecond count holds: no limit. */
  struct p2v_command_options o = {
    .inherit_stdio = true,
    .timeout_ms = timeout_s < UINT_MAX / 1000 ? timeout_s * 1000 : 0,
  };
  struct p2v_command *c = p2v_command_run(argv, &o);
  if (!c)
    return -1;
  int status = p2v_command_status(c);
  if (p2v_command_timed_out(c))
    p2v_error("%s did not finish within %u seconds and was stopped", argv[0], timeout_s);
  else if (status == -1)
    p2v_error("%s was killed by signal %d", argv[0], p2v_command_signal(c));
  p2v_command_free(c);
  return status;
}

void live_power_off(void)
{
  live_say("p2v-live: powering off");
  sync();
  reboot(RB_POWER_OFF);
  /* Only a kernel without power management gets here. */
  live_say("p2v-live: power off failed: %s; switch the machine off", strerror(errno));
  for (;;)
    pause();
}

static volatile sig_atomic_t poweroff_requested;

static void on_poweroff_signal(int sig) { poweroff_requested = 1; }

/* A shell on the console for someone to look around; returns when it ends. */
static void console_shell(void)
{
  pid_t pid = fork();
  if (pid == 0) {
    execlp("sh", "sh", (char *)NULL);
    _exit(127);
  }
  while (pid > 0 && !poweroff_requested) {
    int status;
    pid_t r = wait(&status);
    if (r == pid || (r == -1 && errno == ECHILD))
      break;
  }
}

void live_pid1(int (*main_fn)(void *), void *opaque, bool unattended)
{
  struct sigaction sa = { .sa_handler = on_poweroff_signal };
  sigemptyset(&sa.sa_mask);
  /* busybox poweroff: SIGUSR2; halt: SIGUSR1; reboot: SIGTERM; ctrl-alt-del: SIGINT. */
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  pid_t job = fork();
  if (job == 0) {
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    _exit(main_fn(opaque));
  }
  if (job == -1) {
    live_say("p2v-live: cannot start: fork: %s", strerror(errno));
    live_power_off();
  }

  int job_status = 0;
  while (job > 0) {
    int status;
    pid_t r = wait(&status);
    if (r == job) {
      job_status = status;
      job = 0;
    } else if (r == -1 && errno == EINTR && poweroff_requested) {
      kill(job, SIGTERM);      /* let it close its sessions, briefly */
      for (int i = 0; i < 30 && waitpid(job, &status, WNOHANG) == 0; i++)
        usleep(100 * 1000);
      live_power_off();
    } else if (r == -1 && errno == ECHILD) {
      break;
    }
  }
  /* The job reports its own problems and waits as the settings say before
   * it exits; only a crash is left to say here. */
  if (!WIFSIGNALED(job_status))
    live_power_off();
  const char *lines[] = {
    "p2v-live crashed: this is a bug; please report it with the messages above.",
    unattended ? "The machine powers off in 30 seconds."
               : "A shell follows for a look around; leave it to power off.",
    NULL,
  };
  live_banner("P2V-LIVE STOPPED", lines);
  if (unattended) {
    for (int i = 0; i < 30 && !poweroff_requested; i++)
      sleep(1);
  } else {
    console_shell();
  }
  live_power_off();
}
