/* The first-boot loop: DIR\firstboot\*.cmd run once each in name order,
 * logged to DIR\firstboot.log, moved to done\ (or failed\ after
 * FB_MAX_ATTEMPTS), the attempts counted in DIR\firstboot\attempts.txt;
 * "p2v-firstboot: started" / "done" also go to COM1 for the boot test.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <io.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "firstboot.h"

#define FB_PATH 1024            /* our paths are short: C:\Program Files\p2v\... */
#define FB_MAX_SCRIPTS 256

struct fb_log {
  HANDLE file;                 /* DIR\firstboot.log, appended; INVALID_HANDLE_VALUE if not */
  HANDLE serial;               /* \\.\COM1, or INVALID_HANDLE_VALUE */
  bool echo;                   /* --run-once: the log on stdout too */
};

/* Attempts so far, by script name (UTF-8): the state kept across boots. */
struct fb_attempts {
  char *names[FB_MAX_SCRIPTS];
  unsigned counts[FB_MAX_SCRIPTS];
  size_t n;
};

static void write_all(HANDLE h, const char *s, size_t len)
{
  while (h != INVALID_HANDLE_VALUE && len > 0) {
    DWORD done = 0;
    if (!WriteFile(h, s, len > 65536 ? 65536 : (DWORD)len, &done, NULL) || done == 0)
      return;
    s += done;
    len -= done;
  }
}

static void log_raw(struct fb_log *log, const char *s, size_t len)
{
  write_all(log->file, s, len);
  if (log->echo) {
    fwrite(s, 1, len, stdout);
    fflush(stdout);
  }
}

static void log_line(struct fb_log *log, const char *fmt, ...)
  __attribute__((format(gnu_printf, 2, 3)));
static void log_line(struct fb_log *log, const char *fmt, ...)
{
  char line[2048];
  SYSTEMTIME t;
  GetLocalTime(&t);
  int n = snprintf(line, sizeof line, "%04u-%02u-%02u %02u:%02u:%02u ", t.wYear, t.wMonth,
                   t.wDay, t.wHour, t.wMinute, t.wSecond);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 2, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 3)
    len = sizeof line - 3;
  line[len++] = '\r';
  line[len++] = '\n';
  log_raw(log, line, len);
}

/* A line for the boot test on the first serial port; no port, no matter. */
static void serial_line(struct fb_log *log, const char *text)
{
  char line[512];
  int n = snprintf(line, sizeof line, "%s\r\n", text);
  if (n > 0)
    write_all(log->serial, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static HANDLE open_serial(void)
{
  HANDLE h = CreateFileW(L"\\\\.\\COM1", GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
  if (h == INVALID_HANDLE_VALUE)
    return h;
  /* Never hang on a port nobody reads (flow control, no cable). */
  COMMTIMEOUTS timeouts = { .WriteTotalTimeoutConstant = 2000,
                            .WriteTotalTimeoutMultiplier = 10 };
  SetCommTimeouts(h, &timeouts);
  return h;
}

static char *to_utf8(const wchar_t *w)
{
  int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
  char *s = n > 0 ? malloc((size_t)n) : NULL;
  if (s && WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL) != n) {
    free(s);
    s = NULL;
  }
  return s;
}

/* PATH = A\B (\C); false when it does not fit. */
static bool join(wchar_t *path, const wchar_t *a, const wchar_t *b, const wchar_t *c)
{
  int n = c ? swprintf(path, FB_PATH, L"%ls\\%ls\\%ls", a, b, c)
            : swprintf(path, FB_PATH, L"%ls\\%ls", a, b);
  return n > 0 && n < FB_PATH;
}

/* ---- attempts.txt: "COUNT NAME" lines ---- */

static void attempts_load(struct fb_attempts *a, const wchar_t *path)
{
  a->n = 0;
  FILE *fp = _wfopen(path, L"rb");
  if (!fp)
    return;
  char line[512];
  while (a->n < FB_MAX_SCRIPTS && fgets(line, sizeof line, fp)) {
    line[strcspn(line, "\r\n")] = '\0';
    char *end;
    unsigned long count = strtoul(line, &end, 10);
    if (end == line || *end != ' ' || !end[1] || count > 1000)
      continue;
    if (!(a->names[a->n] = strdup(end + 1)))
      break;
    a->counts[a->n++] = (unsigned)count;
  }
  fclose(fp);
}

/* Written to a new file, then moved over the old one: a power cut
 * leaves one or the other. */
static bool attempts_save(const struct fb_attempts *a, const wchar_t *path)
{
  wchar_t tmp[FB_PATH];
  if (swprintf(tmp, FB_PATH, L"%ls.new", path) < 0)
    return false;
  FILE *fp = _wfopen(tmp, L"wb");
  if (!fp)
    return false;
  for (size_t i = 0; i < a->n; i++)
    fprintf(fp, "%u %s\r\n", a->counts[i], a->names[i]);
  bool ok = fflush(fp) == 0 && _commit(_fileno(fp)) == 0;
  ok = fclose(fp) == 0 && ok;
  return ok && MoveFileExW(tmp, path, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH);
}

static unsigned *attempts_slot(struct fb_attempts *a, const char *name, bool create)
{
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->names[i], name) == 0)
      return &a->counts[i];
  if (!create || a->n == FB_MAX_SCRIPTS || !(a->names[a->n] = strdup(name)))
    return NULL;
  a->counts[a->n] = 0;
  return &a->counts[a->n++];
}

static void attempts_forget(struct fb_attempts *a, const char *name)
{
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->names[i], name) == 0) {
      free(a->names[i]);
      a->names[i] = a->names[a->n - 1];
      a->counts[i] = a->counts[a->n - 1];
      a->n--;
      return;
    }
}

static void attempts_free(struct fb_attempts *a)
{
  for (size_t i = 0; i < a->n; i++)
    free(a->names[i]);
  a->n = 0;
}

/* ---- the scripts ---- */

static bool is_cmd(const wchar_t *name)
{
  /* FindFirstFile's "*.cmd" also matches "x.cmdx" through its 8.3 name. */
  size_t n = wcslen(name);
  return n > 4 && _wcsicmp(name + n - 4, L".cmd") == 0;
}

static int compare_names(const void *a, const void *b)
{
  return wcscmp(*(wchar_t *const *)a, *(wchar_t *const *)b);
}

/* The script names in SCRIPTS\*.cmd, sorted, the first FB_MAX_SCRIPTS
 * of them (*MORE: how many others wait for a later run); -1 when the
 * folder cannot be read. */
static int list_scripts(const wchar_t *scripts, wchar_t **names, size_t *n, size_t *more)
{
  wchar_t pattern[FB_PATH];
  *n = 0;
  *more = 0;
  if (!join(pattern, scripts, L"*.cmd", NULL))
    return -1;
  WIN32_FIND_DATAW fd;
  HANDLE h = FindFirstFileW(pattern, &fd);
  if (h == INVALID_HANDLE_VALUE)
    /* No folder, no script: nothing left to do. */
    return GetLastError() == ERROR_FILE_NOT_FOUND || GetLastError() == ERROR_PATH_NOT_FOUND
             ? 0 : -1;
  do {
    if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY || !is_cmd(fd.cFileName))
      continue;
    if (*n < FB_MAX_SCRIPTS && (names[*n] = _wcsdup(fd.cFileName)))
      (*n)++;
    else
      (*more)++;
  } while (FindNextFileW(h, &fd));
  FindClose(h);
  qsort(names, *n, sizeof *names, compare_names);
  return 0;
}

/* The script's output into the log, each line indented. */
static void log_output(struct fb_log *log, HANDLE pipe)
{
  char buf[4096];
  bool line_start = true;
  DWORD got;
  while (ReadFile(pipe, buf, sizeof buf, &got, NULL) && got > 0) {
    for (DWORD i = 0; i < got; i++) {
      if (line_start)
        log_raw(log, "    ", 4);
      log_raw(log, buf + i, 1);
      line_start = buf[i] == '\n';
    }
  }
  if (!line_start)
    log_raw(log, "\r\n", 2);
}

/* cmd.exe /c NAME in SCRIPTS, output to the log; its exit code, or -1 when
 * it could not be started (said in the log). */
static long run_script(struct fb_log *log, const wchar_t *scripts, const wchar_t *name)
{
  wchar_t cmd_exe[FB_PATH], command[FB_PATH * 2];
  UINT n = GetSystemDirectoryW(cmd_exe, FB_PATH - 16);
  if (n == 0 || n >= FB_PATH - 16)
    return -1;
  wcscat(cmd_exe, L"\\cmd.exe");
  if (swprintf(command, FB_PATH * 2, L"\"%ls\" /d /c \"%ls\"", cmd_exe, name) < 0)
    return -1;
  SECURITY_ATTRIBUTES inherit = { .nLength = sizeof inherit, .bInheritHandle = TRUE };
  HANDLE out_read, out_write;
  if (!CreatePipe(&out_read, &out_write, &inherit, 0)) {
    log_line(log, "cannot make a pipe for the script's output (error %lu)", GetLastError());
    return -1;
  }
  SetHandleInformation(out_read, HANDLE_FLAG_INHERIT, 0);
  HANDLE nul = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inherit,
                           OPEN_EXISTING, 0, NULL);
  STARTUPINFOW si = { .cb = sizeof si, .dwFlags = STARTF_USESTDHANDLES,
                      .hStdInput = nul, .hStdOutput = out_write, .hStdError = out_write };
  PROCESS_INFORMATION pi;
  BOOL started = CreateProcessW(cmd_exe, command, NULL, NULL, TRUE, CREATE_NO_WINDOW, NULL,
                                scripts, &si, &pi);
  DWORD error = GetLastError();
  CloseHandle(out_write);       /* so the read ends when the script does */
  if (nul != INVALID_HANDLE_VALUE)
    CloseHandle(nul);
  if (!started) {
    CloseHandle(out_read);
    log_line(log, "cannot start %ls (error %lu)", cmd_exe, error);
    return -1;
  }
  log_output(log, out_read);
  CloseHandle(out_read);
  WaitForSingleObject(pi.hProcess, INFINITE);
  DWORD code = 1;
  GetExitCodeProcess(pi.hProcess, &code);
  CloseHandle(pi.hProcess);
  CloseHandle(pi.hThread);
  return (long)code;
}

static void move_script(struct fb_log *log, const wchar_t *scripts, const wchar_t *name,
                        const wchar_t *folder)
{
  wchar_t from[FB_PATH], to[FB_PATH], dir[FB_PATH];
  if (!join(from, scripts, name, NULL) || !join(dir, scripts, folder, NULL) ||
      !join(to, scripts, folder, name))
    return;
  CreateDirectoryW(dir, NULL);
  if (!MoveFileExW(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    /* It must not run again: then at least out of the way by name. */
    log_line(log, "cannot move %ls to %ls\\ (error %lu): deleting it", name, folder,
             GetLastError());
    DeleteFileW(from);
  }
}

/* DeleteService on ourselves: the service manager removes the entry once
 * the service has stopped.  The files stay, for the record. */
static void remove_service(struct fb_log *log)
{
  SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
  if (!scm) {
    log_line(log, "cannot open the service manager (error %lu): the service stays",
             GetLastError());
    return;
  }
  SC_HANDLE svc = OpenServiceW(scm, FB_SERVICE_NAME, DELETE);
  if (!svc) {
    DWORD error = GetLastError();
    if (error == ERROR_SERVICE_DOES_NOT_EXIST)
      log_line(log, "no service p2v-firstboot is registered: nothing to remove");
    else
      log_line(log, "cannot open the service p2v-firstboot (error %lu): it stays", error);
  } else {
    if (DeleteService(svc) || GetLastError() == ERROR_SERVICE_MARKED_FOR_DELETE)
      log_line(log, "service p2v-firstboot removed");
    else
      log_line(log, "cannot remove the service p2v-firstboot (error %lu)", GetLastError());
    CloseServiceHandle(svc);
  }
  CloseServiceHandle(scm);
}

/* One script: its attempt counted (and saved) before it runs, so a script
 * that hangs or crashes the machine counts too.  Returns true when it is
 * left for a later run. */
static bool run_one(struct fb_log *log, const wchar_t *scripts, const wchar_t *name,
                    struct fb_attempts *attempts, const wchar_t *state)
{
  char *utf8 = to_utf8(name);
  if (!utf8)
    return true;
  unsigned *count = attempts_slot(attempts, utf8, true);
  bool left = false;
  if (!count) {
    log_line(log, "%s: cannot count its attempts: not run", utf8);
    left = true;
  } else if (*count >= FB_MAX_ATTEMPTS) {
    log_line(log, "%s: failed %u times: moved to failed\\", utf8, *count);
    move_script(log, scripts, name, L"failed");
    attempts_forget(attempts, utf8);
  } else {
    unsigned attempt = ++*count;
    if (!attempts_save(attempts, state))
      log_line(log, "cannot save %ls (error %lu)", state, GetLastError());
    log_line(log, "%s: attempt %u of %u", utf8, attempt, FB_MAX_ATTEMPTS);
    long code = run_script(log, scripts, name);
    log_line(log, "%s: exit code %ld", utf8, code);
    char msg[400];
    if (code == 0) {
      move_script(log, scripts, name, L"done");
      attempts_forget(attempts, utf8);
    } else if (attempt >= FB_MAX_ATTEMPTS) {
      log_line(log, "%s: failed %u times: moved to failed\\", utf8, attempt);
      snprintf(msg, sizeof msg, "p2v-firstboot: %s failed (exit code %ld), given up", utf8,
               code);
      serial_line(log, msg);
      move_script(log, scripts, name, L"failed");
      attempts_forget(attempts, utf8);
    } else {
      log_line(log, "%s: will run again at the next start", utf8);
      snprintf(msg, sizeof msg, "p2v-firstboot: %s failed (exit code %ld), attempt %u of %u",
               utf8, code, attempt, FB_MAX_ATTEMPTS);
      serial_line(log, msg);
      left = true;
    }
  }
  attempts_save(attempts, state);
  free(utf8);
  return left;
}

int fb_run(const wchar_t *dir, volatile LONG *stop, bool echo)
{
  wchar_t log_path[FB_PATH], scripts[FB_PATH], state[FB_PATH];
  if (!join(log_path, dir, L"firstboot.log", NULL) || !join(scripts, dir, L"firstboot", NULL) ||
      !join(state, scripts, L"attempts.txt", NULL))
    return -1;
  /* One run at a time: the service and an operator's --run-once would
   * run the same scripts twice. */
  HANDLE running = CreateMutexW(NULL, FALSE, L"Global\\p2v-firstboot-run");
  if (running && GetLastError() == ERROR_ALREADY_EXISTS) {
    CloseHandle(running);
    if (echo)
      fprintf(stderr, "p2v-firstboot: another run is in progress (the service?): wait until "
                      "firstboot.log says done, then try again\n");
    return -1;
  }
  struct fb_log log = { .echo = echo, .serial = open_serial() };
  log.file = CreateFileW(log_path, FILE_APPEND_DATA, FILE_SHARE_READ, NULL, OPEN_ALWAYS,
                         FILE_ATTRIBUTE_NORMAL, NULL);
  serial_line(&log, "p2v-firstboot: started");
  log_line(&log, "p2v-firstboot: started");

  wchar_t *names[FB_MAX_SCRIPTS];
  size_t n, more;
  int left = 0;
  if (list_scripts(scripts, names, &n, &more) == -1) {
    log_line(&log, "cannot list the scripts in %ls (error %lu)", scripts, GetLastError());
    left = -1;
  } else {
    struct fb_attempts attempts;
    attempts_load(&attempts, state);
    for (size_t i = 0; i < n; i++) {
      if (stop && *stop)
        left++;
      else if (run_one(&log, scripts, names[i], &attempts, state))
        left++;
      free(names[i]);
    }
    attempts_free(&attempts);
    left += (int)more;            /* beyond this run's list: not removed yet */
    if (stop && *stop)
      log_line(&log, "stopped: %d script(s) left for the next start", left);
    else if (left > 0)
      log_line(&log, "%d script(s) left for the next start", left);
    else
      remove_service(&log);
  }
  log_line(&log, "p2v-firstboot: done");
  serial_line(&log, "p2v-firstboot: done");
  if (log.file != INVALID_HANDLE_VALUE)
    CloseHandle(log.file);
  if (log.serial != INVALID_HANDLE_VALUE)
    CloseHandle(log.serial);
  if (running)
    CloseHandle(running);
  return left;
}
