/* The snapshot provider where there is none (Linux): --snapshot refuses.
 * A Linux source is copied cold, from the p2v live image, or its disks are
 * served while nothing writes to them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "log.h"
#include "snapshot.h"

struct agent_snapshot *agent_snapshot_create(char *const *volumes, size_t n)
{
  p2v_error("--snapshot takes a VSS snapshot, which only the Windows agent (p2v-agent.exe) "
            "can; on Linux serve disks nothing writes to, or boot the source from the p2v "
            "live image");
  return NULL;
}

const char *agent_snapshot_device(const struct agent_snapshot *snapshot, size_t i)
{
  return NULL;
}

void agent_snapshot_release(struct agent_snapshot *snapshot, bool copied)
{
}
