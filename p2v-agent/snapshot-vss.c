/* The snapshot provider on Windows: a VSS requester in C (COBJMACROS over
 * mingw-w64's vsbackup.h, whose C vtables are the ones its C++ users, such
 * as qemu-ga's requester, run on real Windows).
 *
 * One snapshot set over all volumes, in the backup context (VSS_CTX_BACKUP,
 * the default): writers quiesce their applications, and the shadow copies
 * are not persistent, so Windows deletes them when this process ends, even
 * if it dies before agent_snapshot_release.  The backup type is
 * VSS_BT_COPY, not VSS_BT_FULL: a full backup tells writers a backup was
 * taken, and Exchange or SQL Server then truncate their logs and start a new
 * differential base, breaking the customer's own backup chain; a copy
 * backup leaves their history as it was.
 *
 * Order (Microsoft's requester sequence): CreateVssBackupComponents,
 * InitializeForBackup, SetBackupState, GatherWriterMetadata,
 * StartSnapshotSet, AddToSnapshotSet per volume, PrepareForBackup, writer
 * status (failed writers refuse), DoSnapshotSet, writer status again,
 * GetSnapshotProperties per volume.  Release: BackupComplete if the
 * converter has everything, else AbortBackup; DeleteSnapshots; Release.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define COBJMACROS
#include <windows.h>
#include <objbase.h>
#include <vss.h>
#include <vswriter.h>
#include <vsbackup.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "snapshot.h"

struct agent_snapshot {
  IVssBackupComponents *vss;
  bool com_initialized;       /* CoUninitialize at the end */
  bool set_started;           /* StartSnapshotSet: the set is ours to end and delete */
  bool taken;                 /* DoSnapshotSet succeeded */
  VSS_ID set_id;
  size_t n;
  char **names;               /* the volumes for people: "C:", "C:\data" */
  WCHAR **volumes;            /* for VSS: "C:\", "C:\data\" */
  VSS_ID *ids;                /* each volume's snapshot */
  char **devices;             /* each snapshot's device */
  char *set_names;            /* "C:", "C: and D:", "C:, D: and E:" */
};

/* What an HRESULT means, and what to do about it.  {v} stands for the
 * volume(s) concerned. */
struct hresult_text {
  HRESULT hr;
  const char *name, *words, *fix;
};

static const struct hresult_text hresult_texts[] = {
  { VSS_E_INSUFFICIENT_STORAGE, "VSS_E_INSUFFICIENT_STORAGE",
    "not enough shadow storage on {v}",
    "make room with 'vssadmin resize shadowstorage /for={v} /on={v} /maxsize=20%', "
    "or free space on {v}, then run again" },
  { VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED, "VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED",
    "{v} holds as many shadow copies as it can",
    "delete old ones ('vssadmin delete shadows /for={v} /oldest') and run again" },
  { VSS_E_MAXIMUM_DIFFAREA_ASSOCIATIONS_REACHED, "VSS_E_MAXIMUM_DIFFAREA_ASSOCIATIONS_REACHED",
    "too many shadow storage associations for {v}",
    "'vssadmin list shadowstorage' shows them; delete unused ones and run again" },
  { VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED, "VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED",
    "too many volumes in one snapshot set", "serve fewer volumes at once" },
  { VSS_E_VOLUME_NOT_SUPPORTED, "VSS_E_VOLUME_NOT_SUPPORTED",
    "VSS cannot snapshot {v} (not a local NTFS or ReFS volume?)",
    "give only local NTFS or ReFS volumes; clone {v} cold from the p2v live image" },
  { VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER, "VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER",
    "no shadow copy provider supports {v}",
    "give only local NTFS or ReFS volumes; clone {v} cold from the p2v live image" },
  { VSS_E_VOLUME_NOT_LOCAL, "VSS_E_VOLUME_NOT_LOCAL", "{v} is not a local volume",
    "give only this machine's own volumes" },
  { VSS_E_OBJECT_NOT_FOUND, "VSS_E_OBJECT_NOT_FOUND", "{v} is not a volume VSS knows",
    "give a drive letter (C:) or a mount point of a local volume ('mountvol' lists them)" },
  { VSS_E_OBJECT_ALREADY_EXISTS, "VSS_E_OBJECT_ALREADY_EXISTS",
    "{v} is in the snapshot set twice", "name each volume once" },
  { VSS_E_SNAPSHOT_SET_IN_PROGRESS, "VSS_E_SNAPSHOT_SET_IN_PROGRESS",
    "another snapshot is being taken (a backup running?)",
    "wait until it is done and run again" },
  { VSS_E_FLUSH_WRITES_TIMEOUT, "VSS_E_FLUSH_WRITES_TIMEOUT",
    "the writes to {v} could not be flushed in time",
    "run again when the server writes less" },
  { VSS_E_HOLD_WRITES_TIMEOUT, "VSS_E_HOLD_WRITES_TIMEOUT",
    "the writes to {v} could not be held for long enough",
    "run again when the server writes less" },
  { VSS_E_WRITERERROR_TIMEOUT, "VSS_E_WRITERERROR_TIMEOUT", "a VSS writer took too long",
    "'vssadmin list writers' shows which; run again when the server is quieter" },
  { VSS_E_WRITER_NOT_RESPONDING, "VSS_E_WRITER_NOT_RESPONDING", "a VSS writer does not answer",
    "'vssadmin list writers' shows which; restart the service behind it and run again" },
  { VSS_E_WRITER_INFRASTRUCTURE, "VSS_E_WRITER_INFRASTRUCTURE",
    "the VSS writer infrastructure does not work",
    "restart the 'Volume Shadow Copy' and 'COM+ Event System' services and run again" },
  { VSS_E_UNEXPECTED_WRITER_ERROR, "VSS_E_UNEXPECTED_WRITER_ERROR", "a VSS writer failed",
    "'vssadmin list writers' shows which; restart the service behind it and run again" },
  { VSS_E_WRITERERROR_RETRYABLE, "VSS_E_WRITERERROR_RETRYABLE",
    "a VSS writer failed, for now", "run again" },
  { VSS_E_WRITERERROR_NONRETRYABLE, "VSS_E_WRITERERROR_NONRETRYABLE", "a VSS writer failed",
    "restart the service behind it ('vssadmin list writers') and run again" },
  { VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT, "VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT",
    "a VSS writer's data on {v} would not be consistent",
    "snapshot every volume that application uses, together" },
  { VSS_E_WRITERERROR_OUTOFRESOURCES, "VSS_E_WRITERERROR_OUTOFRESOURCES",
    "a VSS writer ran out of resources", "free memory or disk space and run again" },
  { VSS_E_PROVIDER_VETO, "VSS_E_PROVIDER_VETO", "the shadow copy provider refused",
    "the System and Application event logs say why" },
  { VSS_E_UNEXPECTED_PROVIDER_ERROR, "VSS_E_UNEXPECTED_PROVIDER_ERROR",
    "the shadow copy provider failed", "the System and Application event logs say why" },
  { VSS_E_BAD_STATE, "VSS_E_BAD_STATE", "VSS calls out of order",
    "a bug in p2v-agent: report it with the output of -vv" },
  { VSS_E_UNEXPECTED, "VSS_E_UNEXPECTED", "VSS failed",
    "the Application event log (source VSS) says why; restart the 'Volume Shadow Copy' "
    "service and run again" },
  { E_UNEXPECTED, "E_UNEXPECTED", "VSS failed",
    "the Application event log (source VSS) says why; restart the 'Volume Shadow Copy' "
    "service and run again" },
  { E_ACCESSDENIED, "E_ACCESSDENIED", "access denied",
    "run p2v-agent as an administrator (or as its service)" },
  { HRESULT_FROM_WIN32(ERROR_SERVICE_DISABLED), "ERROR_SERVICE_DISABLED",
    "the Volume Shadow Copy service is disabled",
    "enable it ('sc config VSS start= demand') and run again" },
  { E_OUTOFMEMORY, "E_OUTOFMEMORY", "out of memory", "free memory and run again" },
  { E_INVALIDARG, "E_INVALIDARG", "VSS refused an argument",
    "give a drive letter (C:) or a mount point of a local volume" },
};

/* template with each {v} replaced by volume. */
static void expand(char *out, size_t size, const char *template, const char *volume)
{
  size_t used = 0;
  for (const char *p = template; *p && used + 1 < size; ) {
    if (!strncmp(p, "{v}", 3)) {
      used += (size_t) snprintf(out + used, size - used, "%s", volume);
      if (used >= size)
        used = size - 1;
      p += 3;
    } else {
      out[used++] = *p++;
    }
  }
  out[used] = '\0';
}

/* "not enough shadow storage on C: (VSS_E_INSUFFICIENT_STORAGE); make room
 * ...".  volume may name several ("C: and D:"): commands then say X: and
 * what X: is. */
static void describe(char *out, size_t size, HRESULT hr, const char *volume, bool several)
{
  for (size_t i = 0; i < sizeof hresult_texts / sizeof hresult_texts[0]; i++) {
    const struct hresult_text *t = &hresult_texts[i];
    if (t->hr != hr)
      continue;
    several = several && strstr(t->fix, "{v}");
    char words[256], fix[320];
    expand(words, sizeof words, t->words, volume);
    expand(fix, sizeof fix, t->fix, several ? "X:" : volume);
    snprintf(out, size, "%s (%s); %s%s%s", words, t->name, several ? "for each X: of " : "",
             several ? volume : "", several ? ", " : "");
    size_t used = strlen(out);
    snprintf(out + used, size - used, "%s", fix);
    return;
  }
  char text[256];
  size_t n = p2v_win32_text((unsigned long) hr, text, sizeof text);
  snprintf(out, size, "error 0x%08lx%s%s; the Application event log (source VSS) says more, "
           "and 'vssadmin list writers' shows the writers' state", (unsigned long) hr,
           n ? ": " : "", n ? text : "");
}

#define ALL_VOLUMES SIZE_MAX

/* One line: "snapshot of C: failed at DoSnapshotSet: ...", about volume i
 * or ALL_VOLUMES. */
static void step_failed(const struct agent_snapshot *s, size_t i, const char *step, HRESULT hr)
{
  const char *volume = i == ALL_VOLUMES ? s->set_names : s->names[i];
  char why[768];
  describe(why, sizeof why, hr, volume, i == ALL_VOLUMES && s->n > 1);
  p2v_error("snapshot of %s failed at %s: %s", volume, step, why);
}

/* Finish an asynchronous call whose start returned hr and set *asyncp
 * (a pointer: the call is an argument of this one, evaluated in any
 * order): its result, VSS_S_ASYNC_FINISHED on success.  The wait has no
 * limit of ours: VSS bounds each phase itself (writers' freeze 60 s, held
 * writes 10 s), and IVssAsync documents no timeout result. */
static HRESULT finish(HRESULT hr, IVssAsync **asyncp)
{
  if (FAILED(hr))
    return hr;
  IVssAsync *async = *asyncp;
  *asyncp = NULL;
  HRESULT result = VSS_E_UNEXPECTED;
  hr = IVssAsync_Wait(async, INFINITE);
  if (SUCCEEDED(hr))
    hr = IVssAsync_QueryStatus(async, &result, NULL);
  if (FAILED(hr))
    result = hr;
  else if (result == VSS_S_ASYNC_CANCELLED || result == VSS_S_ASYNC_PENDING)
    result = E_ABORT;
  IVssAsync_Release(async);
  return result;
}

static const char *const writer_states[VSS_WS_COUNT] = {
  [VSS_WS_UNKNOWN] = "unknown", [VSS_WS_STABLE] = "stable",
  [VSS_WS_WAITING_FOR_FREEZE] = "waiting for freeze",
  [VSS_WS_WAITING_FOR_THAW] = "waiting for thaw",
  [VSS_WS_WAITING_FOR_POST_SNAPSHOT] = "waiting for post-snapshot",
  [VSS_WS_WAITING_FOR_BACKUP_COMPLETE] = "waiting for backup complete",
  [VSS_WS_FAILED_AT_IDENTIFY] = "failed at identify",
  [VSS_WS_FAILED_AT_PREPARE_BACKUP] = "failed at prepare backup",
  [VSS_WS_FAILED_AT_PREPARE_SNAPSHOT] = "failed at prepare snapshot",
  [VSS_WS_FAILED_AT_FREEZE] = "failed at freeze",
  [VSS_WS_FAILED_AT_THAW] = "failed at thaw",
  [VSS_WS_FAILED_AT_POST_SNAPSHOT] = "failed at post-snapshot",
  [VSS_WS_FAILED_AT_BACKUP_COMPLETE] = "failed at backup complete",
  [VSS_WS_FAILED_AT_PRE_RESTORE] = "failed at pre-restore",
  [VSS_WS_FAILED_AT_POST_RESTORE] = "failed at post-restore",
  [VSS_WS_FAILED_AT_BACKUPSHUTDOWN] = "failed at backup shutdown",
};

static bool writer_failed(VSS_WRITER_STATE state)
{
  return state >= VSS_WS_FAILED_AT_IDENTIFY && state < VSS_WS_COUNT;
}

/* A BSTR (UTF-16) for a message, as UTF-8. */
static void narrow(char *out, size_t size, const WCHAR *in)
{
  if (!in || !WideCharToMultiByte(CP_UTF8, 0, in, -1, out, (int) size, NULL, NULL))
    snprintf(out, size, "?");
}

/* Every writer's state; the first failed writer fails the step. */
static int check_writers(struct agent_snapshot *s, const char *when)
{
  char step[96];
  snprintf(step, sizeof step, "the writer check %s DoSnapshotSet", when);
  HRESULT failure = S_OK;
  IVssAsync *async = NULL;
  HRESULT hr = finish(IVssBackupComponents_GatherWriterStatus(s->vss, &async), &async);
  UINT count = 0;
  if (SUCCEEDED(hr))
    hr = IVssBackupComponents_GetWriterStatusCount(s->vss, &count);
  if (FAILED(hr)) {
    step_failed(s, ALL_VOLUMES, step, hr);
    return -1;
  }
  char failed_writer[256] = "";
  VSS_WRITER_STATE failed_state = VSS_WS_UNKNOWN;
  for (UINT i = 0; i < count && !failed_writer[0]; i++) {
    VSS_ID instance, writer;
    BSTR name = NULL;
    VSS_WRITER_STATE state = VSS_WS_UNKNOWN;
    HRESULT writer_hr = S_OK;
    hr = IVssBackupComponents_GetWriterStatus(s->vss, i, &instance, &writer, &name, &state,
                                              &writer_hr);
    if (FAILED(hr))
      break;
    char writer_name[200];
    narrow(writer_name, sizeof writer_name, name);
    p2v_debug("VSS writer '%s': %s", writer_name,
              state < VSS_WS_COUNT ? writer_states[state] : "?");
    if (writer_failed(state)) {
      snprintf(failed_writer, sizeof failed_writer, "%s", writer_name);
      failed_state = state;
      failure = writer_hr;
    }
    SysFreeString(name);
  }
  IVssBackupComponents_FreeWriterStatus(s->vss);
  if (FAILED(hr)) {
    step_failed(s, ALL_VOLUMES, step, hr);
    return -1;
  }
  if (failed_writer[0]) {
    char why[768] = "restart the service behind that writer ('vssadmin list writers' "
                    "shows its state) and run again";
    if (FAILED(failure))
      describe(why, sizeof why, failure, s->set_names, s->n > 1);
    p2v_error("snapshot of %s failed at %s: VSS writer '%s' %s: %s", s->set_names, step,
              failed_writer, writer_states[failed_state], why);
    return -1;
  }
  return 0;
}

/* "C:" for "C:\" and "C:"; "C:\data" for "C:\data\". */
static char *display_name(const char *volume)
{
  size_t len = strlen(volume);
  while (len > 2 && (volume[len - 1] == '\\' || volume[len - 1] == '/'))
    len--;
  char *out = malloc(len + 1);
  if (out) {
    memcpy(out, volume, len);
    out[len] = '\0';
  }
  return out;
}

/* VSS wants volume names and mount points with a trailing backslash. */
static WCHAR *vss_volume_name(const char *display)
{
  size_t len = strlen(display);
  int wide = MultiByteToWideChar(CP_ACP, 0, display, (int) len, NULL, 0);
  if (len > 0 && wide <= 0)
    return NULL;
  WCHAR *out = calloc((size_t) wide + 2, sizeof *out);
  if (!out)
    return NULL;
  if (len > 0)
    MultiByteToWideChar(CP_ACP, 0, display, (int) len, out, wide);
  if (wide == 0 || (out[wide - 1] != L'\\' && out[wide - 1] != L'/'))
    out[wide] = L'\\';
  return out;
}

/* "C:", "C: and D:", "C:, D: and E:". */
static char *join_names(char *const *names, size_t n)
{
  size_t size = 1;
  for (size_t i = 0; i < n; i++)
    size += strlen(names[i]) + 5;
  char *out = malloc(size);
  if (!out)
    return NULL;
  out[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      strcat(out, i + 1 == n ? " and " : ", ");
    strcat(out, names[i]);
  }
  return out;
}

static struct agent_snapshot *snapshot_new(char *const *volumes, size_t n)
{
  struct agent_snapshot *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->n = n;
  s->names = calloc(n, sizeof *s->names);
  s->volumes = calloc(n, sizeof *s->volumes);
  s->ids = calloc(n, sizeof *s->ids);
  s->devices = calloc(n, sizeof *s->devices);
  if (!s->names || !s->volumes || !s->ids || !s->devices)
    goto fail;
  for (size_t i = 0; i < n; i++)
    if (!(s->names[i] = display_name(volumes[i])) || !(s->volumes[i] = vss_volume_name(s->names[i])))
      goto fail;
  if (!(s->set_names = join_names(s->names, n)))
    goto fail;
  return s;
fail:
  agent_snapshot_release(s, false);
  return NULL;
}

/* COM for this thread, and the security VSS needs to call us back
 * (Microsoft's requester sample: identify-level impersonation); another
 * part of the process having set it first is fine. */
static HRESULT start_com(struct agent_snapshot *s)
{
  HRESULT hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);
  if (FAILED(hr))
    return hr;
  s->com_initialized = true;
  hr = CoInitializeSecurity(NULL, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
                            RPC_C_IMP_LEVEL_IDENTIFY, NULL, EOAC_DYNAMIC_CLOAKING, NULL);
  return hr == RPC_E_TOO_LATE ? S_OK : hr;
}

/* The device of snapshot i, in the code page CreateFileA reads. */
static int get_device(struct agent_snapshot *s, size_t i)
{
  VSS_SNAPSHOT_PROP prop;
  memset(&prop, 0, sizeof prop);
  HRESULT hr = IVssBackupComponents_GetSnapshotProperties(s->vss, s->ids[i], &prop);
  if (FAILED(hr)) {
    step_failed(s, i, "GetSnapshotProperties", hr);
    return -1;
  }
  int r = -1;
  BOOL lossy = FALSE;
  int size = prop.m_pwszSnapshotDeviceObject ?
    WideCharToMultiByte(CP_ACP, WC_NO_BEST_FIT_CHARS, prop.m_pwszSnapshotDeviceObject, -1,
                        NULL, 0, NULL, &lossy) : 0;
  if (size > 1 && !lossy && (s->devices[i] = malloc((size_t) size)) &&
      WideCharToMultiByte(CP_ACP, WC_NO_BEST_FIT_CHARS, prop.m_pwszSnapshotDeviceObject, -1,
                          s->devices[i], size, NULL, NULL) == size)
    r = 0;
  else
    p2v_error("snapshot of %s failed at GetSnapshotProperties: VSS gave no usable device "
              "name; report it with the output of -vv", s->names[i]);
  VssFreeSnapshotProperties(&prop);
  return r;
}

/* Each step of the requester's sequence; -1 reported at the first failure. */
static int take(struct agent_snapshot *s)
{
  IVssAsync *async = NULL;
  HRESULT hr = start_com(s);
  if (FAILED(hr)) {
    step_failed(s, ALL_VOLUMES, "CoInitializeEx", hr);
    return -1;
  }
  if (FAILED(hr = CreateVssBackupComponents(&s->vss))) {
    s->vss = NULL;
    step_failed(s, ALL_VOLUMES, "CreateVssBackupComponents", hr);
    return -1;
  }
  if (FAILED(hr = IVssBackupComponents_InitializeForBackup(s->vss, NULL))) {
    step_failed(s, ALL_VOLUMES, "InitializeForBackup", hr);
    return -1;
  }
  /* Whole volumes, no components selected; a copy backup (see above). */
  if (FAILED(hr = IVssBackupComponents_SetBackupState(s->vss, FALSE, FALSE, VSS_BT_COPY, FALSE))) {
    step_failed(s, ALL_VOLUMES, "SetBackupState", hr);
    return -1;
  }
  if (FAILED(hr = finish(IVssBackupComponents_GatherWriterMetadata(s->vss, &async), &async))) {
    step_failed(s, ALL_VOLUMES, "GatherWriterMetadata", hr);
    return -1;
  }
  if (FAILED(hr = IVssBackupComponents_StartSnapshotSet(s->vss, &s->set_id))) {
    step_failed(s, ALL_VOLUMES, "StartSnapshotSet", hr);
    return -1;
  }
  s->set_started = true;
  for (size_t i = 0; i < s->n; i++) {
    hr = IVssBackupComponents_AddToSnapshotSet(s->vss, s->volumes[i], GUID_NULL, &s->ids[i]);
    if (FAILED(hr)) {
      step_failed(s, i, "AddToSnapshotSet", hr);
      return -1;
    }
  }
  if (FAILED(hr = finish(IVssBackupComponents_PrepareForBackup(s->vss, &async), &async))) {
    step_failed(s, ALL_VOLUMES, "PrepareForBackup", hr);
    return -1;
  }
  if (check_writers(s, "before") == -1)
    return -1;
  p2v_info("taking the snapshot of %s (writers freeze for a few seconds)", s->set_names);
  if (FAILED(hr = finish(IVssBackupComponents_DoSnapshotSet(s->vss, &async), &async))) {
    step_failed(s, ALL_VOLUMES, "DoSnapshotSet", hr);
    return -1;
  }
  s->taken = true;
  if (check_writers(s, "after") == -1)
    return -1;
  for (size_t i = 0; i < s->n; i++)
    if (get_device(s, i) == -1)
      return -1;
  return 0;
}

struct agent_snapshot *agent_snapshot_create(char *const *volumes, size_t n)
{
  struct agent_snapshot *s = snapshot_new(volumes, n);
  if (!s) {
    p2v_error("cannot snapshot %zu volume(s): out of memory", n);
    return NULL;
  }
  if (take(s) == -1) {
    agent_snapshot_release(s, false);
    return NULL;
  }
  return s;
}

const char *agent_snapshot_device(const struct agent_snapshot *snapshot, size_t i)
{
  return i < snapshot->n ? snapshot->devices[i] : NULL;
}

/* The end of the backup and of the snapshot set, whatever state it got to.
 * Failures here are warnings: the set is non-persistent, so Windows
 * deletes it when this process ends anyway. */
static void end_backup(struct agent_snapshot *s, bool copied)
{
  HRESULT hr;
  IVssAsync *async = NULL;
  if (s->taken && copied) {
    hr = finish(IVssBackupComponents_BackupComplete(s->vss, &async), &async);
    if (FAILED(hr))
      p2v_warning("VSS BackupComplete for %s failed (error 0x%08lx); the copy is complete "
                  "all the same", s->set_names, (unsigned long) hr);
  } else {
    hr = IVssBackupComponents_AbortBackup(s->vss);
    if (FAILED(hr))
      p2v_debug("VSS AbortBackup: error 0x%08lx", (unsigned long) hr);
  }
  LONG deleted = 0;
  VSS_ID not_deleted;
  hr = IVssBackupComponents_DeleteSnapshots(s->vss, s->set_id, VSS_OBJECT_SNAPSHOT_SET, TRUE,
                                            &deleted, &not_deleted);
  if (FAILED(hr) && hr != VSS_E_OBJECT_NOT_FOUND)
    p2v_warning("cannot delete the snapshot of %s (error 0x%08lx); Windows deletes it when "
                "p2v-agent exits", s->set_names, (unsigned long) hr);
  else if (s->taken)
    p2v_info("snapshot of %s released (%ld shadow copies deleted)", s->set_names, (long) deleted);
}

void agent_snapshot_release(struct agent_snapshot *s, bool copied)
{
  if (!s)
    return;
  if (s->vss) {
    if (s->set_started)
      end_backup(s, copied);
    IVssBackupComponents_Release(s->vss);
  }
  if (s->com_initialized)
    CoUninitialize();
  for (size_t i = 0; i < s->n; i++) {
    if (s->names)
      free(s->names[i]);
    if (s->volumes)
      free(s->volumes[i]);
    if (s->devices)
      free(s->devices[i]);
  }
  free(s->names);
  free(s->volumes);
  free(s->ids);
  free(s->devices);
  free(s->set_names);
  free(s);
}
