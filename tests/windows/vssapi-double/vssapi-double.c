/* A test double of vssapi.dll, for p2v-agent.exe under wine (VSS does not
 * run there): tests/test-agent-vss.sh puts it beside the agent and loads it
 * with WINEDLLOVERRIDES="vssapi=n".  It exports what the agent imports
 * (CreateVssBackupComponentsInternal, VssFreeSnapshotPropertiesInternal:
 * what mingw-w64's vsbackup.h binds C callers to) and fakes an
 * IVssBackupComponents that
 *   - appends one line per call to the file P2V_VSS_DOUBLE_LOG;
 *   - refuses calls out of order with VSS_E_BAD_STATE, as VSS does;
 *   - completes every IVssAsync at once;
 *   - fails the call P2V_VSS_DOUBLE_FAIL names ("DoSnapshotSet" or
 *     "DoSnapshotSet=0x8004231f"; VSS_E_UNEXPECTED by default; an
 *     asynchronous call fails through its IVssAsync, as VSS reports), or
 *     reports a failed writer ("writer-before": at prepare backup,
 *     "writer-after": at freeze);
 *   - gives volume i's shadow copy as the i-th path of
 *     P2V_VSS_DOUBLE_DEVICES ("Z:\a.img|Z:\b.img"), so the agent serves
 *     a plain file of the test's choosing;
 *   - says at the end what was left: "Release refs=0 snapshots-left=N
 *     backup=complete|aborted|open", and at unload "unload objects-alive=N".
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <windows.h>
#include <objbase.h>
#include <vss.h>
#include <vswriter.h>
#include <vsbackup.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VOLUMES 16

HRESULT STDAPICALLTYPE CreateVssBackupComponentsInternal(IVssBackupComponents **ppBackup);
void APIENTRY VssFreeSnapshotPropertiesInternal(VSS_SNAPSHOT_PROP *pProp);

static LONG objects_alive;      /* components and asyncs not yet released */

static void say(const char *fmt, ...)
{
  const char *path = getenv("P2V_VSS_DOUBLE_LOG");
  if (!path)
    return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 2, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if (n > (int) sizeof line - 3)
    n = (int) sizeof line - 3;
  line[n++] = '\n';
  HANDLE h = CreateFileA(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                         OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
  if (h == INVALID_HANDLE_VALUE)
    return;
  DWORD written;
  WriteFile(h, line, (DWORD) n, &written, NULL);
  CloseHandle(h);
}

/* The injected failure for method, or S_OK. */
static HRESULT injected(const char *method)
{
  const char *fail = getenv("P2V_VSS_DOUBLE_FAIL");
  size_t len = strlen(method);
  if (!fail || strncmp(fail, method, len) || (fail[len] != '\0' && fail[len] != '='))
    return S_OK;
  return fail[len] == '=' ? (HRESULT) strtoul(fail + len + 1, NULL, 16) : VSS_E_UNEXPECTED;
}

static bool writer_fails(const char *when)
{
  const char *fail = getenv("P2V_VSS_DOUBLE_FAIL");
  return fail && !strcmp(fail, when);
}

/* IVssAsync, finished before anyone asks. */
struct fake_async {
  IVssAsync iface;
  LONG refs;
  HRESULT result;
};

static HRESULT STDMETHODCALLTYPE async_query_interface(IVssAsync *This, REFIID riid, void **out)
{
  if (IsEqualIID(riid, &IID_IUnknown)) {
    *out = This;
    This->lpVtbl->AddRef(This);
    return S_OK;
  }
  *out = NULL;
  return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE async_add_ref(IVssAsync *This)
{
  return (ULONG) InterlockedIncrement(&((struct fake_async *) This)->refs);
}

static ULONG STDMETHODCALLTYPE async_release(IVssAsync *This)
{
  struct fake_async *a = (struct fake_async *) This;
  LONG refs = InterlockedDecrement(&a->refs);
  if (refs == 0) {
    free(a);
    InterlockedDecrement(&objects_alive);
  }
  return (ULONG) refs;
}

static HRESULT STDMETHODCALLTYPE async_cancel(IVssAsync *This)
{
  return VSS_S_ASYNC_FINISHED;
}

static HRESULT STDMETHODCALLTYPE async_wait(IVssAsync *This, DWORD ms)
{
  return S_OK;
}

static HRESULT STDMETHODCALLTYPE async_query_status(IVssAsync *This, HRESULT *result, INT *reserved)
{
  *result = ((struct fake_async *) This)->result;
  return S_OK;
}

static const IVssAsyncVtbl async_vtbl = {
  async_query_interface, async_add_ref, async_release,
  async_cancel, async_wait, async_query_status,
};

/* A finished IVssAsync whose status is result (failed: the call's failure). */
static HRESULT new_async(IVssAsync **out, HRESULT result)
{
  struct fake_async *a = calloc(1, sizeof *a);
  if (!a)
    return E_OUTOFMEMORY;
  a->iface.lpVtbl = (IVssAsyncVtbl *) &async_vtbl;
  a->refs = 1;
  a->result = FAILED(result) ? result : VSS_S_ASYNC_FINISHED;
  InterlockedIncrement(&objects_alive);
  *out = &a->iface;
  return S_OK;
}

/* IVssBackupComponents, as far as a requester of whole volumes goes. */
struct fake {
  IVssBackupComponents iface;
  LONG refs;
  bool initialized, state_set, metadata, set_started, prepared, taken;
  const char *ended;              /* "complete", "aborted" or NULL */
  int writer_gathers;
  VSS_ID set_id;
  int nvolumes;
  WCHAR volumes[MAX_VOLUMES][MAX_PATH];
  VSS_ID ids[MAX_VOLUMES];
  int snapshots;                  /* made by DoSnapshotSet, not yet deleted */
};

static struct fake *fake_of(IVssBackupComponents *This)
{
  return (struct fake *) This;
}

static HRESULT STDMETHODCALLTYPE bc_query_interface(IVssBackupComponents *This, REFIID riid,
                                                    void **out)
{
  if (IsEqualIID(riid, &IID_IUnknown)) {
    *out = This;
    This->lpVtbl->AddRef(This);
    return S_OK;
  }
  *out = NULL;
  return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE bc_add_ref(IVssBackupComponents *This)
{
  return (ULONG) InterlockedIncrement(&fake_of(This)->refs);
}

static ULONG STDMETHODCALLTYPE bc_release(IVssBackupComponents *This)
{
  struct fake *f = fake_of(This);
  LONG refs = InterlockedDecrement(&f->refs);
  if (refs == 0) {
    say("Release refs=0 snapshots-left=%d backup=%s", f->snapshots,
        f->ended ? f->ended : f->set_started ? "open" : "none");
    free(f);
    InterlockedDecrement(&objects_alive);
  }
  return (ULONG) refs;
}

/* Log the call (with detail, if any); the injected failure, or
 * VSS_E_BAD_STATE when ready is false. */
static HRESULT enter_with(const char *method, const char *detail, bool ready)
{
  HRESULT hr = ready ? injected(method) : VSS_E_BAD_STATE;
  char result[32] = "";
  if (hr != S_OK)
    snprintf(result, sizeof result, " -> 0x%08lx", (unsigned long) hr);
  say("%s%s%s%s", method, detail ? " " : "", detail ? detail : "", result);
  return hr;
}

static HRESULT enter(const char *method, bool ready)
{
  return enter_with(method, NULL, ready);
}

/* An asynchronous call: started, and finished with its (injected) result. */
static HRESULT enter_async(const char *method, bool ready, IVssAsync **async, HRESULT *result)
{
  if (!ready) {
    say("%s -> 0x%08lx", method, (unsigned long) VSS_E_BAD_STATE);
    return VSS_E_BAD_STATE;
  }
  *result = injected(method);
  if (*result == S_OK)
    say("%s", method);
  else
    say("%s -> async 0x%08lx", method, (unsigned long) *result);
  return new_async(async, *result);
}

static HRESULT STDMETHODCALLTYPE bc_initialize_for_backup(IVssBackupComponents *This, BSTR xml)
{
  HRESULT hr = enter("InitializeForBackup", !fake_of(This)->initialized);
  if (hr == S_OK)
    fake_of(This)->initialized = true;
  return hr;
}

static HRESULT STDMETHODCALLTYPE bc_set_backup_state(IVssBackupComponents *This, boolean select,
                                                     boolean bootable, VSS_BACKUP_TYPE type,
                                                     boolean partial)
{
  struct fake *f = fake_of(This);
  char detail[96];
  snprintf(detail, sizeof detail, "select=%d bootable=%d type=%s partial=%d", select, bootable,
           type == VSS_BT_COPY ? "copy" : type == VSS_BT_FULL ? "full" : "other", partial);
  HRESULT hr = enter_with("SetBackupState", detail, f->initialized);
  if (hr == S_OK)
    f->state_set = true;
  return hr;
}

static HRESULT STDMETHODCALLTYPE bc_gather_writer_metadata(IVssBackupComponents *This,
                                                           IVssAsync **async)
{
  struct fake *f = fake_of(This);
  HRESULT result, hr = enter_async("GatherWriterMetadata", f->initialized, async, &result);
  if (hr == S_OK && result == S_OK)
    f->metadata = true;
  return hr;
}

static HRESULT STDMETHODCALLTYPE bc_gather_writer_status(IVssBackupComponents *This,
                                                         IVssAsync **async)
{
  struct fake *f = fake_of(This);
  HRESULT result, hr = enter_async("GatherWriterStatus", f->metadata, async, &result);
  if (hr == S_OK)
    f->writer_gathers++;
  return hr;
}

static HRESULT STDMETHODCALLTYPE bc_get_writer_status_count(IVssBackupComponents *This, UINT *n)
{
  HRESULT hr = enter("GetWriterStatusCount", fake_of(This)->writer_gathers > 0);
  *n = hr == S_OK ? 2 : 0;
  return hr;
}

static HRESULT STDMETHODCALLTYPE bc_get_writer_status(IVssBackupComponents *This, UINT i,
                                                      VSS_ID *instance, VSS_ID *writer,
                                                      BSTR *name, VSS_WRITER_STATE *state,
                                                      HRESULT *failure)
{
  struct fake *f = fake_of(This);
  HRESULT hr = enter("GetWriterStatus", f->writer_gathers > 0 && i < 2);
  if (hr != S_OK)
    return hr;
  memset(instance, 0, sizeof *instance);
  memset(writer, 0, sizeof *writer);
  *name = SysAllocString(i == 0 ? L"System Writer" : L"SqlServerWriter");
  *state = VSS_WS_STABLE;
  *failure = S_OK;
  if (i == 1 && writer_fails("writer-before")) {
    *state = VSS_WS_FAILED_AT_PREPARE_BACKUP;
    *failure = VSS_E_WRITERERROR_NONRETRYABLE;
  } else if (i == 1 && f->taken && writer_fails("writer-after")) {
    *state = VSS_WS_FAILED_AT_FREEZE;
    *failure = VSS_E_WRITERERROR_TIMEOUT;
  }
  return S_OK;
}

static HRESULT STDMETHODCALLTYPE bc_free_writer_status(IVssBackupComponents *This)
{
  return enter("FreeWriterStatus", true);
}

static HRESULT STDMETHODCALLTYPE bc_start_snapshot_set(IVssBackupComponents *This, VSS_ID *id)
{
  struct fake *f = fake_of(This);
  HRESULT hr = enter("StartSnapshotSet", f->state_set && !f->set_started);
  if (hr == S_OK) {
    CoCreateGuid(&f->set_id);
    *id = f->set_id;
    f->set_started = true;
  }
  return hr;
}

static HRESULT STDMETHODCALLTYPE bc_add_to_snapshot_set(IVssBackupComponents *This,
                                                        VSS_PWSZ volume, VSS_ID provider,
                                                        VSS_ID *id)
{
  struct fake *f = fake_of(This);
  char name[MAX_PATH];
  WideCharToMultiByte(CP_UTF8, 0, volume, -1, name, sizeof name, NULL, NULL);
  bool ready = f->set_started && !f->prepared && f->nvolumes < MAX_VOLUMES;
  for (int i = 0; ready && i < f->nvolumes; i++)
    if (!lstrcmpiW(f->volumes[i], volume)) {
      say("AddToSnapshotSet %s -> 0x%08lx", name, (unsigned long) VSS_E_OBJECT_ALREADY_EXISTS);
      return VSS_E_OBJECT_ALREADY_EXISTS;
    }
  HRESULT hr = enter_with("AddToSnapshotSet", name, ready);
  if (hr == S_OK) {
    lstrcpynW(f->volumes[f->nvolumes], volume, MAX_PATH);
    CoCreateGuid(&f->ids[f->nvolumes]);
    *id = f->ids[f->nvolumes++];
  }
  return hr;
}

static HRESULT STDMETHODCALLTYPE bc_prepare_for_backup(IVssBackupComponents *This,
                                                       IVssAsync **async)
{
  struct fake *f = fake_of(This);
  HRESULT result, hr = enter_async("PrepareForBackup", f->metadata && f->nvolumes > 0 &&
                                   !f->prepared, async, &result);
  if (hr == S_OK && result == S_OK)
    f->prepared = true;
  return hr;
}

static HRESULT STDMETHODCALLTYPE bc_do_snapshot_set(IVssBackupComponents *This, IVssAsync **async)
{
  struct fake *f = fake_of(This);
  HRESULT result, hr = enter_async("DoSnapshotSet", f->prepared && !f->taken, async, &result);
  if (hr == S_OK && result == S_OK) {
    f->taken = true;
    f->snapshots = f->nvolumes;
  }
  return hr;
}

/* The i-th path of P2V_VSS_DOUBLE_DEVICES, or a device name like VSS's. */
static WCHAR *device_name(int i)
{
  char path[MAX_PATH];
  const char *list = getenv("P2V_VSS_DOUBLE_DEVICES");
  snprintf(path, sizeof path, "\\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy%d", i + 1);
  for (int k = 0; list && *list; k++) {
    const char *end = strchr(list, '|');
    size_t len = end ? (size_t) (end - list) : strlen(list);
    if (k == i && len < sizeof path) {
      memcpy(path, list, len);
      path[len] = '\0';
      break;
    }
    list = end ? end + 1 : NULL;
  }
  int n = MultiByteToWideChar(CP_ACP, 0, path, -1, NULL, 0);
  WCHAR *out = CoTaskMemAlloc((size_t) n * sizeof *out);
  if (out)
    MultiByteToWideChar(CP_ACP, 0, path, -1, out, n);
  return out;
}

static WCHAR *co_string(const WCHAR *s)
{
  size_t n = (size_t) lstrlenW(s) + 1;
  WCHAR *out = CoTaskMemAlloc(n * sizeof *out);
  if (out)
    memcpy(out, s, n * sizeof *out);
  return out;
}

static HRESULT STDMETHODCALLTYPE bc_get_snapshot_properties(IVssBackupComponents *This,
                                                            VSS_ID id, VSS_SNAPSHOT_PROP *prop)
{
  struct fake *f = fake_of(This);
  int i = 0;
  while (i < f->nvolumes && !IsEqualGUID(&f->ids[i], &id))
    i++;
  HRESULT hr = enter("GetSnapshotProperties", f->taken && f->snapshots > 0 && i < f->nvolumes);
  if (hr != S_OK)
    return hr;
  memset(prop, 0, sizeof *prop);
  prop->m_SnapshotId = id;
  prop->m_SnapshotSetId = f->set_id;
  prop->m_lSnapshotsCount = f->nvolumes;
  prop->m_pwszSnapshotDeviceObject = device_name(i);
  prop->m_pwszOriginalVolumeName = co_string(f->volumes[i]);
  prop->m_eStatus = VSS_SS_CREATED;
  return S_OK;
}

static HRESULT STDMETHODCALLTYPE bc_backup_complete(IVssBackupComponents *This, IVssAsync **async)
{
  struct fake *f = fake_of(This);
  HRESULT result, hr = enter_async("BackupComplete", f->taken && !f->ended, async, &result);
  if (hr == S_OK)
    f->ended = "complete";
  return hr;
}

static HRESULT STDMETHODCALLTYPE bc_abort_backup(IVssBackupComponents *This)
{
  struct fake *f = fake_of(This);
  HRESULT hr = enter("AbortBackup", f->set_started && !f->ended);
  if (hr == S_OK)
    f->ended = "aborted";
  return hr;
}

static HRESULT STDMETHODCALLTYPE bc_delete_snapshots(IVssBackupComponents *This, VSS_ID id,
                                                     VSS_OBJECT_TYPE type, BOOL force,
                                                     LONG *deleted, VSS_ID *not_deleted)
{
  struct fake *f = fake_of(This);
  bool ours = type == VSS_OBJECT_SNAPSHOT_SET && f->set_started && IsEqualGUID(&id, &f->set_id);
  char detail[64];
  snprintf(detail, sizeof detail, "set=%s snapshots=%d", ours ? "ours" : "other", f->snapshots);
  memset(not_deleted, 0, sizeof *not_deleted);
  *deleted = 0;
  HRESULT hr = enter_with("DeleteSnapshots", detail, ours);
  if (hr != S_OK)
    return hr;
  if (f->snapshots == 0)
    return VSS_E_OBJECT_NOT_FOUND;
  *deleted = f->snapshots;
  f->snapshots = 0;
  return S_OK;
}

/* Every slot the requester must not use. */
static HRESULT STDMETHODCALLTYPE bc_unexpected(IVssBackupComponents *This)
{
  say("unexpected call of an IVssBackupComponents method the double does not have");
  return E_NOTIMPL;
}

static IVssBackupComponentsVtbl bc_vtbl = {
  .QueryInterface = bc_query_interface, .AddRef = bc_add_ref, .Release = bc_release,
  .InitializeForBackup = bc_initialize_for_backup, .SetBackupState = bc_set_backup_state,
  .GatherWriterMetadata = bc_gather_writer_metadata,
  .GatherWriterStatus = bc_gather_writer_status,
  .GetWriterStatusCount = bc_get_writer_status_count,
  .GetWriterStatus = bc_get_writer_status, .FreeWriterStatus = bc_free_writer_status,
  .StartSnapshotSet = bc_start_snapshot_set, .AddToSnapshotSet = bc_add_to_snapshot_set,
  .PrepareForBackup = bc_prepare_for_backup, .DoSnapshotSet = bc_do_snapshot_set,
  .GetSnapshotProperties = bc_get_snapshot_properties,
  .BackupComplete = bc_backup_complete, .AbortBackup = bc_abort_backup,
  .DeleteSnapshots = bc_delete_snapshots,
};

/* The slots left empty above: the x64 calling convention lets one stub
 * stand for any of them (the caller cleans up its arguments). */
static void fill_vtbl(void)
{
  void **slots = (void **) &bc_vtbl;
  for (size_t i = 0; i < sizeof bc_vtbl / sizeof *slots; i++)
    if (!slots[i])
      slots[i] = (void *) bc_unexpected;
}

HRESULT STDAPICALLTYPE CreateVssBackupComponentsInternal(IVssBackupComponents **out)
{
  HRESULT hr = enter("CreateVssBackupComponents", true);
  *out = NULL;
  if (hr != S_OK)
    return hr;
  struct fake *f = calloc(1, sizeof *f);
  if (!f)
    return E_OUTOFMEMORY;
  f->iface.lpVtbl = &bc_vtbl;
  f->refs = 1;
  InterlockedIncrement(&objects_alive);
  *out = &f->iface;
  return S_OK;
}

void APIENTRY VssFreeSnapshotPropertiesInternal(VSS_SNAPSHOT_PROP *prop)
{
  say("VssFreeSnapshotProperties");
  CoTaskMemFree(prop->m_pwszSnapshotDeviceObject);
  CoTaskMemFree(prop->m_pwszOriginalVolumeName);
  CoTaskMemFree(prop->m_pwszOriginatingMachine);
  CoTaskMemFree(prop->m_pwszServiceMachine);
  CoTaskMemFree(prop->m_pwszExposedName);
  CoTaskMemFree(prop->m_pwszExposedPath);
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved);
BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
  if (reason == DLL_PROCESS_ATTACH) {
    fill_vtbl();
    say("load (test double)");
  } else if (reason == DLL_PROCESS_DETACH) {
    say("unload objects-alive=%ld", (long) objects_alive);
  }
  return TRUE;
}
