/* Running the outside tools p2v-drivers needs (depmod, xorriso): stdin
 * from /dev/null, output to a log the caller reads for its one error line.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include "linux.h"
#include "log.h"

int lx_spawn_wait(const char *prog, char *const argv[], char *const env[],
                  const char *out_path, const char *err_path, int *status)
{
  extern char **environ;
  posix_spawn_file_actions_t fa;
  int e = posix_spawn_file_actions_init(&fa);
  if (e != 0) {
    errno = e;
    return -1;
  }
  pid_t pid;
  e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  e = e ?: posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null",
                                            O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (err_path)
    e = e ?: posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  else
    e = e ?: posix_spawn_file_actions_adddup2(&fa, 1, 2);
  e = e ?: posix_spawnp(&pid, prog, &fa, NULL, argv, env ? env : environ);
  posix_spawn_file_actions_destroy(&fa);
  if (e != 0) {
    errno = e;
    return -1;
  }
  while (waitpid(pid, status, 0) == -1)
    if (errno != EINTR)
      return -1;
  return 0;
}
