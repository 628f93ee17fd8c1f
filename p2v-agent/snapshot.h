/* The snapshot provider: one point-in-time copy of several volumes at once
 * (on Windows a VSS snapshot set, snapshot-vss.c; elsewhere none,
 * snapshot-none.c), served instead of the live volumes so that what the
 * converter copies is one consistent instant (docs/p2v-agent.md, "Snapshot").
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_AGENT_SNAPSHOT_H
#define P2V_AGENT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

struct agent_snapshot;

/* Take one snapshot set over volumes ("C:", "D:\", a mount point
 * "C:\data\"); the application writers are asked to quiesce and their
 * state is checked before and after.  NULL with one error line naming the
 * step, the volume(s) and what to do; whatever was created is released
 * first.  Call from one thread; the snapshot belongs to that thread. */
struct agent_snapshot *agent_snapshot_create(char *const *volumes, size_t n);

/* The device that reads volume i (as given to create) at the snapshot's
 * instant: "\\?\GLOBALROOT\Device\HarddiskVolumeShadowCopyN". */
const char *agent_snapshot_device(const struct agent_snapshot *snapshot, size_t i);

/* Close every handle on the devices first.  Deletes the snapshot set and
 * ends the backup: copied says the converter has everything (writers hear
 * "backup complete"), otherwise the backup is aborted.  NULL: nothing. */
void agent_snapshot_release(struct agent_snapshot *snapshot, bool copied);

#endif
