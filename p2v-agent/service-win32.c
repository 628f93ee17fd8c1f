/* p2v-agent.exe as the Windows service "p2v-agent" (docs/p2v-agent.md,
 * "Windows service"): install, uninstall, start, stop, status, and
 * 'service', what the service manager runs.  The service is 'serve' with
 * the options given to install, stored in its ImagePath; STOP and
 * SHUTDOWN set the same stop flag as Ctrl-C does on the console.  It logs
 * to p2v-agent.log beside the exe: no console, and the event log would
 * need a registered message table to show more than "description not
 * found".
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <windows.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "disk.h"
#include "log.h"

#define SERVICE_NAME "p2v-agent"
#define SERVICE_DISPLAY "p2v agent"
#define SERVICE_ABOUT "Serves this machine's disks read-only over NBD to the p2v converter " \
  "(p2v-agent.exe; uninstall it after the migration)"
#define LOG_NAME "p2v-agent.log"
#define LOG_ROTATE_BYTES (4 * 1024 * 1024)   /* then p2v-agent.log.old */
#define START_WAIT_MS 60000     /* 'start' waits this long for RUNNING */
#define STOP_WAIT_MS 30000      /* 'stop', 'uninstall': for STOPPED */
#define POLL_MS 100
#define RESTART_DELAY_MS 10000
#define FAILURE_RESET_S (24 * 3600)
#define COMMAND_LINE_MAX 32767  /* CreateProcess's limit */

/* --- Messages --- */

static const char *win32_text(DWORD err, char *buf, size_t size)
{
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, err,
                           0, buf, (DWORD) size, NULL);
  while (n > 0 && strchr(" .\r\n", buf[n - 1]))
    buf[--n] = '\0';
  if (n == 0)
    snprintf(buf, size, "error %lu", (unsigned long) err);
  return buf;
}

/* One line for a failed service manager call: what failed, why, what to do. */
static void scm_error(const char *what)
{
  DWORD err = GetLastError();
  const char *fix = NULL;
  switch (err) {
  case ERROR_ACCESS_DENIED:
    fix = "access denied: run from an elevated prompt (Run as administrator)"; break;
  case ERROR_SERVICE_DOES_NOT_EXIST:
    fix = "it is not installed: run 'p2v-agent install [OPTIONS] DISK...' first"; break;
  case ERROR_SERVICE_EXISTS:
    fix = "it is already installed: run 'p2v-agent uninstall' first to change its options, "
          "or 'p2v-agent start'"; break;
  case ERROR_SERVICE_MARKED_FOR_DELETE:
    fix = "it is being removed: close the Services console and anything else that has it "
          "open, then try again"; break;
  case ERROR_SERVICE_DISABLED:
    fix = "it is disabled: run 'p2v-agent uninstall', then 'p2v-agent install' again"; break;
  case ERROR_SERVICE_DATABASE_LOCKED:
    fix = "the service database is locked: try again in a moment"; break;
  case ERROR_DUPLICATE_SERVICE_NAME:
    fix = "another service is displayed as \"" SERVICE_DISPLAY "\": remove or rename it"; break;
  case ERROR_SERVICE_REQUEST_TIMEOUT:
    fix = "it did not answer in time: see " LOG_NAME " beside p2v-agent.exe"; break;
  }
  if (fix) {
    p2v_error("%s: %s", what, fix);
  } else {
    char text[256];
    p2v_error("%s: %s (error %lu)", what, win32_text(err, text, sizeof text), (unsigned long) err);
  }
}

/* --- The service process --- */

static SERVICE_STATUS_HANDLE status_handle;
static FILE *log_file;          /* p2v-agent.log; NULL: no log */
static SRWLOCK status_lock = SRWLOCK_INIT;
static SERVICE_STATUS service_status = { .dwServiceType = SERVICE_WIN32_OWN_PROCESS };
static int service_argc, service_exit;
static char **service_argv;

static const char *timestamp(char *buf, size_t size)
{
  SYSTEMTIME t;
  GetLocalTime(&t);
  snprintf(buf, size, "%04u-%02u-%02u %02u:%02u:%02u", t.wYear, t.wMonth, t.wDay, t.wHour,
           t.wMinute, t.wSecond);
  return buf;
}

/* The log sink: every p2v_* message with the time, errors marked so that
 * 'start' can quote the last one. */
static void log_to_file(enum p2v_log_level level, const char *message)
{
  static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
  char when[32];
  if (log_file)
    fprintf(log_file, "%s %s: %s%s\n", timestamp(when, sizeof when), p2v_program_name(),
            prefix[level], message);
}

/* The service's own lines (start, stop), whatever the verbosity. */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
  char when[32], message[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  if (log_file)
    fprintf(log_file, "%s %s: %s\n", timestamp(when, sizeof when), p2v_program_name(), message);
}

/* LOG_NAME in program's folder. */
static void log_path_of(const char *program, char *out, size_t size)
{
  const char *slash = strrchr(program, '\\');
  int folder = slash ? (int) (slash - program) : 0;
  snprintf(out, size, "%.*s%s" LOG_NAME, folder, program, slash ? "\\" : "");
}

/* The log sink into p2v-agent.log beside the exe; into the temporary
 * folder if that cannot be written.  Not stderr: a service has none, and
 * the C runtime cannot reopen what it never had (freopen fails). */
static void open_service_log(void)
{
  char exe[MAX_PATH], path[MAX_PATH + 32], old[MAX_PATH + 40];
  DWORD n = GetModuleFileNameA(NULL, exe, sizeof exe);
  if (n == 0 || n >= sizeof exe)
    exe[0] = '\0';
  log_path_of(exe, path, sizeof path);
  WIN32_FILE_ATTRIBUTE_DATA attributes;
  if (GetFileAttributesExA(path, GetFileExInfoStandard, &attributes) &&
      (attributes.nFileSizeHigh || attributes.nFileSizeLow > LOG_ROTATE_BYTES)) {
    snprintf(old, sizeof old, "%s.old", path);
    MoveFileExA(path, old, MOVEFILE_REPLACE_EXISTING);
  }
  if (!(log_file = fopen(path, "a"))) {
    char temp[MAX_PATH];
    DWORD t = GetTempPathA(sizeof temp, temp);
    if (t == 0 || t >= sizeof temp)
      return;
    snprintf(path, sizeof path, "%s" LOG_NAME, temp);
    if (!(log_file = fopen(path, "a")))
      return;
  }
  setvbuf(log_file, NULL, _IONBF, 0);   /* each line whole, at once */
  p2v_log_set_sink(log_to_file);
}

/* Report state (exit_status: the agent's exit code once STOPPED).  A
 * RUNNING that comes after a STOP is not reported: stopping goes on. */
static void report_status(DWORD state, int exit_status)
{
  AcquireSRWLockExclusive(&status_lock);
  DWORD now = service_status.dwCurrentState;
  if (state == SERVICE_RUNNING && now != SERVICE_START_PENDING) {
    ReleaseSRWLockExclusive(&status_lock);
    return;
  }
  bool pending = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING;
  service_status.dwCurrentState = state;
  service_status.dwControlsAccepted = state == SERVICE_START_PENDING || state == SERVICE_RUNNING ?
    SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
  service_status.dwWin32ExitCode = exit_status ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR;
  service_status.dwServiceSpecificExitCode = (DWORD) exit_status;
  service_status.dwCheckPoint = pending ? service_status.dwCheckPoint + 1 : 0;
  service_status.dwWaitHint = state == SERVICE_START_PENDING ? START_WAIT_MS :
    state == SERVICE_STOP_PENDING ? STOP_WAIT_MS : 0;
  SetServiceStatus(status_handle, &service_status);
  ReleaseSRWLockExclusive(&status_lock);
}

void agent_serving(const char *bound)
{
  if (!status_handle)           /* 'serve --console' said it on stderr */
    return;
  note("serving on %s", bound);
  report_status(SERVICE_RUNNING, 0);
}

static DWORD WINAPI control_handler(DWORD control, DWORD type, void *data, void *context)
{
  switch (control) {
  case SERVICE_CONTROL_STOP:
  case SERVICE_CONTROL_SHUTDOWN:
    note(control == SERVICE_CONTROL_STOP ? "stop asked by the service manager" :
         "stopping: the system shuts down");
    report_status(SERVICE_STOP_PENDING, 0);
    agent_request_stop();
    return NO_ERROR;
  case SERVICE_CONTROL_INTERROGATE:
    return NO_ERROR;
  default:
    return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

/* The service's thread: serve with the ImagePath's options (the
 * process's own argv; StartService's arguments are ignored). */
static void WINAPI service_main(DWORD argc, char **argv)
{
  status_handle = RegisterServiceCtrlHandlerExA(SERVICE_NAME, control_handler, NULL);
  if (!status_handle) {
    service_exit = EXIT_ERROR;
    return;
  }
  report_status(SERVICE_START_PENDING, 0);
  open_service_log();
  note("starting (pid %lu): %s", (unsigned long) GetCurrentProcessId(), GetCommandLineA());
  service_exit = agent_serve(service_argc, service_argv);
  if (service_exit == EXIT_OK)
    note("stopped");
  else
    note("stopped with exit code %d (the error is above)", service_exit);
  report_status(SERVICE_STOPPED, service_exit);
}

static int run_service(int argc, char **argv)
{
  service_argc = argc;
  service_argv = argv;
  SERVICE_TABLE_ENTRYA table[] = { { (char *) SERVICE_NAME, service_main }, { NULL, NULL } };
  if (!StartServiceCtrlDispatcherA(table)) {
    if (GetLastError() != ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
      scm_error("cannot reach the service manager");
      return EXIT_ERROR;
    }
    p2v_error("'p2v-agent service' is what the service manager runs: use 'p2v-agent start', "
              "or 'p2v-agent serve --console' in the foreground");
    return EXIT_USAGE;
  }
  return service_exit;
}

/* --- Managing the service --- */

struct handles {
  SC_HANDLE manager, service;
};

static void close_handles(struct handles *h)
{
  if (h->service)
    CloseServiceHandle(h->service);
  if (h->manager)
    CloseServiceHandle(h->manager);
}

/* 0; or the Win32 error, reported as "what: ..." unless it is
 * ERROR_SERVICE_DOES_NOT_EXIST and missing_ok. */
static DWORD open_service(const char *what, DWORD access, bool missing_ok, struct handles *h)
{
  *h = (struct handles) { 0 };
  if (!(h->manager = OpenSCManagerA(NULL, NULL, SC_MANAGER_CONNECT))) {
    DWORD err = GetLastError();
    scm_error(what);
    return err;
  }
  if (!(h->service = OpenServiceA(h->manager, SERVICE_NAME, access))) {
    DWORD err = GetLastError();
    if (!(missing_ok && err == ERROR_SERVICE_DOES_NOT_EXIST))
      scm_error(what);
    close_handles(h);
    return err;
  }
  return 0;
}

static bool query(SC_HANDLE service, SERVICE_STATUS_PROCESS *st)
{
  DWORD needed;
  if (QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, (BYTE *) st, sizeof *st, &needed))
    return true;
  scm_error("cannot ask the state of the service " SERVICE_NAME);
  return false;
}

/* Polls until the state is no longer `leave` (or, with leave 0, until
 * STOPPED), at most limit_ms.  1 when there, 0 on time out, -1 reported. */
static int wait_state(SC_HANDLE service, DWORD leave, DWORD limit_ms, SERVICE_STATUS_PROCESS *st)
{
  for (DWORD waited = 0;; waited += POLL_MS) {
    if (!query(service, st))
      return -1;
    DWORD now = st->dwCurrentState;
    if (leave ? now != leave : now == SERVICE_STOPPED)
      return 1;
    if (waited >= limit_ms)
      return 0;
    Sleep(POLL_MS);
  }
}

/* What the service is configured to do, from its ImagePath. */
struct config {
  bool dial;                    /* --connect */
  char address[256];            /* "" if the options cannot be read */
  char log[MAX_PATH + 32];
};

static void quiet(enum p2v_log_level level, const char *message) { }

static void read_config(SC_HANDLE service, struct config *c)
{
  *c = (struct config) { 0 };
  snprintf(c->log, sizeof c->log, LOG_NAME " beside p2v-agent.exe");
  DWORD needed = 0;
  QueryServiceConfigA(service, NULL, 0, &needed);
  QUERY_SERVICE_CONFIGA *q = needed ? malloc(needed) : NULL;
  if (!q || !QueryServiceConfigA(service, q, needed, &needed) || !q->lpBinaryPathName) {
    free(q);
    return;
  }
  int argc;
  char **argv = agent_cmdline_split(q->lpBinaryPathName, &argc);
  if (argv && argc >= 1)
    log_path_of(argv[0], c->log, sizeof c->log);
  if (argv && argc >= 2 && !strcmp(argv[1], "service")) {
    struct agent_serve_summary s;
    p2v_log_set_sink(quiet);   /* someone else's options: no warnings here */
    if (agent_serve_check(argc - 1, argv + 1, false, &s) == EXIT_OK && !s.help_shown) {
      c->dial = s.connect_address != NULL;
      snprintf(c->address, sizeof c->address, "%s", c->dial ? s.connect_address : s.listen_address);
    }
    p2v_log_set_sink(NULL);
  }
  free(argv);
  free(q);
}

/* The last "error: " line of the log (its message), or "". */
static void last_error_in_log(const char *path, char *out, size_t size)
{
  out[0] = '\0';
  FILE *f = fopen(path, "rb");
  if (!f)
    return;
  char tail[8192];
  long start = 0;
  if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long) sizeof tail - 1)
    start = ftell(f) - (long) sizeof tail + 1;
  fseek(f, start, SEEK_SET);
  size_t n = fread(tail, 1, sizeof tail - 1, f);
  fclose(f);
  tail[n] = '\0';
  for (char *line = strtok(tail, "\r\n"); line; line = strtok(NULL, "\r\n")) {
    char *e = strstr(line, ": error: ");
    if (e)
      snprintf(out, size, "%s", e + strlen(": error: "));
  }
}

/* The one status line on stdout; the exit code of 'status'. */
static int print_status(SC_HANDLE service, const SERVICE_STATUS_PROCESS *st)
{
  struct config c;
  read_config(service, &c);
  char where[300] = "";
  if (c.address[0])
    snprintf(where, sizeof where, "%s %s", c.dial ? "dialling the converter at" : "listening on",
             c.address);
  else
    snprintf(where, sizeof where, "options unreadable (see its ImagePath)");
  unsigned long pid = st->dwProcessId;
  switch (st->dwCurrentState) {
  case SERVICE_RUNNING:
    printf("p2v-agent: running (pid %lu), %s\n", pid, where);
    return EXIT_OK;
  case SERVICE_START_PENDING:
    printf("p2v-agent: starting (pid %lu), to be %s\n", pid, where);
    return EXIT_NOT_RUNNING;
  case SERVICE_STOP_PENDING:
    printf("p2v-agent: stopping (pid %lu)\n", pid);
    return EXIT_NOT_RUNNING;
  case SERVICE_STOPPED: {
    char failed[400] = "";
    if (st->dwWin32ExitCode == ERROR_SERVICE_SPECIFIC_ERROR)
      snprintf(failed, sizeof failed, "; its last run failed with exit code %lu: see %s",
               (unsigned long) st->dwServiceSpecificExitCode, c.log);
    else if (st->dwWin32ExitCode != NO_ERROR && st->dwWin32ExitCode != ERROR_SERVICE_NEVER_STARTED) {
      char text[200];
      snprintf(failed, sizeof failed, "; its last run ended with: %s",
               win32_text(st->dwWin32ExitCode, text, sizeof text));
    }
    printf("p2v-agent: stopped (when started: %s)%s\n", where, failed);
    return EXIT_NOT_RUNNING;
  }
  default:
    printf("p2v-agent: state %lu (pid %lu)\n", (unsigned long) st->dwCurrentState, pid);
    return EXIT_NOT_RUNNING;
  }
}

static int cmd_status(int argc, char **argv)
{
  struct handles h;
  DWORD err = open_service("cannot ask the service " SERVICE_NAME,
                           SERVICE_QUERY_STATUS | SERVICE_QUERY_CONFIG, true, &h);
  if (err == ERROR_SERVICE_DOES_NOT_EXIST) {
    printf("p2v-agent: not installed\n");
    return EXIT_NOT_INSTALLED;
  }
  if (err)
    return EXIT_ERROR;
  SERVICE_STATUS_PROCESS st;
  int status = query(h.service, &st) ? print_status(h.service, &st) : EXIT_ERROR;
  close_handles(&h);
  return status;
}

static int cmd_start(int argc, char **argv)
{
  struct handles h;
  if (open_service("cannot start the service " SERVICE_NAME,
                   SERVICE_START | SERVICE_QUERY_STATUS | SERVICE_QUERY_CONFIG, false, &h))
    return EXIT_ERROR;
  int status = EXIT_ERROR;
  SERVICE_STATUS_PROCESS st;
  if (!StartServiceA(h.service, 0, NULL) && GetLastError() != ERROR_SERVICE_ALREADY_RUNNING) {
    scm_error("cannot start the service " SERVICE_NAME);
    goto out;
  }
  int r = wait_state(h.service, SERVICE_START_PENDING, START_WAIT_MS, &st);
  if (r < 0)
    goto out;
  struct config c;
  read_config(h.service, &c);
  if (r == 0) {
    p2v_error("the service " SERVICE_NAME " is still starting after %d s: 'p2v-agent status' "
              "says when it serves; its log is %s", START_WAIT_MS / 1000, c.log);
  } else if (st.dwCurrentState == SERVICE_RUNNING) {
    status = print_status(h.service, &st);
  } else if (st.dwWin32ExitCode == ERROR_SERVICE_SPECIFIC_ERROR) {
    char why[600];
    last_error_in_log(c.log, why, sizeof why);
    p2v_error("the service " SERVICE_NAME " stopped as it started%s%s (exit code %lu; log: %s)",
              why[0] ? ": " : "", why, (unsigned long) st.dwServiceSpecificExitCode, c.log);
  } else {                      /* it never reported: a crash, or no such program */
    char text[256];
    p2v_error("the service " SERVICE_NAME " stopped as it started: %s (see %s)",
              win32_text(st.dwWin32ExitCode, text, sizeof text), c.log);
  }
out:
  close_handles(&h);
  return status;
}

/* Stop and wait for STOPPED.  1 if it was not running, 0 stopped, -1 reported. */
static int stop_service(SC_HANDLE service)
{
  SERVICE_STATUS ss;
  SERVICE_STATUS_PROCESS st;
  if (!ControlService(service, SERVICE_CONTROL_STOP, &ss)) {
    DWORD err = GetLastError();
    if (err == ERROR_SERVICE_NOT_ACTIVE)
      return 1;
    if (err != ERROR_SERVICE_CANNOT_ACCEPT_CTRL) {   /* that: already stopping */
      scm_error("cannot stop the service " SERVICE_NAME);
      return -1;
    }
  }
  int r = wait_state(service, 0, STOP_WAIT_MS, &st);
  if (r == 0) {
    struct config c;
    read_config(service, &c);
    p2v_error("the service " SERVICE_NAME " did not stop within %d s: see %s; "
              "'taskkill /f /pid %lu' ends it", STOP_WAIT_MS / 1000, c.log,
              (unsigned long) st.dwProcessId);
  }
  return r == 1 ? 0 : -1;
}

static int cmd_stop(int argc, char **argv)
{
  struct handles h;
  if (open_service("cannot stop the service " SERVICE_NAME,
                   SERVICE_STOP | SERVICE_QUERY_STATUS | SERVICE_QUERY_CONFIG, false, &h))
    return EXIT_ERROR;
  int r = stop_service(h.service);
  close_handles(&h);
  if (r < 0)
    return EXIT_ERROR;
  printf(r ? "p2v-agent: stopped (it was not running)\n" : "p2v-agent: stopped\n");
  return EXIT_OK;
}

static int cmd_uninstall(int argc, char **argv)
{
  struct handles h;
  DWORD err = open_service("cannot remove the service " SERVICE_NAME,
                           DELETE | SERVICE_STOP | SERVICE_QUERY_STATUS | SERVICE_QUERY_CONFIG,
                           true, &h);
  if (err == ERROR_SERVICE_DOES_NOT_EXIST) {
    printf("p2v-agent: not installed; nothing to remove\n");
    return EXIT_OK;
  }
  if (err)
    return EXIT_ERROR;
  int status = EXIT_ERROR;
  struct config c;
  read_config(h.service, &c);
  if (stop_service(h.service) < 0)
    goto out;
  if (!DeleteService(h.service)) {
    scm_error("cannot remove the service " SERVICE_NAME);
    goto out;
  }
  printf("p2v-agent: uninstalled (its log %s is kept)\n", c.log);
  status = EXIT_OK;
out:
  close_handles(&h);
  return status;
}

/* What wine says of a ChangeServiceConfig2 level it does not have. */
static bool unknown_level(DWORD err)
{
  return err == ERROR_INVALID_LEVEL || err == ERROR_INVALID_PARAMETER;
}

/* The delayed start, failure actions and description; false reported. */
static bool configure(SC_HANDLE service)
{
  SERVICE_DESCRIPTIONA about = { (char *) SERVICE_ABOUT };
  if (!ChangeServiceConfig2A(service, SERVICE_CONFIG_DESCRIPTION, &about)) {
    scm_error("cannot describe the service " SERVICE_NAME);
    return false;
  }
  /* Restart 10 s after a failure, twice; then leave it stopped for a
   * person to read the log (the count resets after a day). */
  SC_ACTION actions[] = {
    { SC_ACTION_RESTART, RESTART_DELAY_MS }, { SC_ACTION_RESTART, RESTART_DELAY_MS },
    { SC_ACTION_NONE, 0 },
  };
  SERVICE_FAILURE_ACTIONSA failure = {
    .dwResetPeriod = FAILURE_RESET_S, .cActions = 3, .lpsaActions = actions,
  };
  if (!ChangeServiceConfig2A(service, SERVICE_CONFIG_FAILURE_ACTIONS, &failure)) {
    scm_error("cannot set the failure actions of the service " SERVICE_NAME);
    return false;
  }
  /* Failures are also a non-zero exit code, not only a crash.  Wine has
   * no such level: nothing lost but this. */
  SERVICE_FAILURE_ACTIONS_FLAG flag = { TRUE };
  if (!ChangeServiceConfig2A(service, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &flag) &&
      !unknown_level(GetLastError())) {
    scm_error("cannot set the failure actions of the service " SERVICE_NAME);
    return false;
  }
  SERVICE_DELAYED_AUTO_START_INFO delayed = { TRUE };
  if (ChangeServiceConfig2A(service, SERVICE_CONFIG_DELAYED_AUTO_START_INFO, &delayed))
    return true;
  if (!unknown_level(GetLastError())) {
    scm_error("cannot make the service " SERVICE_NAME " start delayed");
    return false;
  }
  /* Wine's service manager reads the value Windows keeps it in, but
   * cannot set it: the value itself. */
  DWORD one = 1;
  LSTATUS e = RegSetKeyValueA(HKEY_LOCAL_MACHINE, "SYSTEM\\CurrentControlSet\\Services\\" SERVICE_NAME,
                              "DelayedAutostart", REG_DWORD, &one, sizeof one);
  if (e != ERROR_SUCCESS) {
    SetLastError((DWORD) e);
    scm_error("cannot make the service " SERVICE_NAME " start delayed");
    return false;
  }
  return true;
}

static void print_install_usage(FILE *out)
{
  fputs("Usage: p2v-agent install [SERVE OPTIONS] DISK...\n"
        "\n"
        "Register the Windows service p2v-agent, which runs 'p2v-agent serve' with\n"
        "these options (see 'p2v-agent serve --help') from the place this\n"
        "p2v-agent.exe is in now: copy it somewhere to stay first.  The options\n"
        "are checked and every DISK opened first; relative DISK paths are made\n"
        "absolute.  Delayed automatic start, as LocalSystem; restarted 10 s after\n"
        "a failure, twice.  Logs to " LOG_NAME " beside p2v-agent.exe.  Needs an\n"
        "elevated prompt.  Then: p2v-agent start, status, stop, uninstall.\n", out);
}

/* argv with each DISK absolute: the service runs in System32. */
static char **absolute_disks(int argc, char **argv, int first_disk)
{
  char **out = calloc((size_t) argc + 1, sizeof *out);
  if (!out)
    return NULL;
  for (int i = 0; i < argc; i++) {
    if (i < first_disk) {
      out[i] = argv[i];
      continue;
    }
    DWORD n = GetFullPathNameA(argv[i], 0, NULL, NULL);
    if (n == 0 || !(out[i] = malloc(n)) || GetFullPathNameA(argv[i], n, out[i], NULL) >= n) {
      p2v_error("cannot make the disk path %s absolute; give it whole (C:\\...)", argv[i]);
      for (int j = first_disk; j <= i; j++)
        free(out[j]);
      free(out);
      return NULL;
    }
  }
  return out;
}

static int cmd_install(int argc, char **argv)
{
  if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    print_install_usage(stdout);
    return EXIT_OK;
  }
  struct agent_serve_summary s;
  int status = agent_serve_check(argc, argv, true, &s);
  if (status != EXIT_OK || s.help_shown)
    return status;
  char **args = absolute_disks(argc, argv, s.first_disk);
  if (!args)
    return EXIT_ERROR;
  struct p2v_disk_options disk_options = { .all_blocks = true };   /* a check, not a probe */
  struct p2v_disk **disks = NULL;
  struct handles h = { 0 };
  char exe[MAX_PATH], *line = NULL;
  status = EXIT_ERROR;
  size_t ndisks = (size_t) (argc - s.first_disk);
  if (!(disks = p2v_disks_open(args + s.first_disk, ndisks, &disk_options)))
    goto out;
  p2v_disks_close(disks, ndisks);

  DWORD n = GetModuleFileNameA(NULL, exe, sizeof exe);
  if (n == 0 || n >= sizeof exe) {
    p2v_error("cannot find where p2v-agent.exe is (error %lu)", (unsigned long) GetLastError());
    goto out;
  }
  if (!(line = calloc(1, COMMAND_LINE_MAX + 1))) {
    p2v_error("out of memory");
    goto out;
  }
  bool fits = agent_cmdline_append(line, COMMAND_LINE_MAX + 1, exe, true) == 0 &&
              agent_cmdline_append(line, COMMAND_LINE_MAX + 1, "service", false) == 0;
  for (int i = 1; fits && i < argc; i++)
    fits = agent_cmdline_append(line, COMMAND_LINE_MAX + 1, args[i], false) == 0;
  if (!fits) {
    p2v_error("the service's command line would be longer than %d characters: "
              "serve fewer disks, or shorter paths", COMMAND_LINE_MAX);
    goto out;
  }
  if (!(h.manager = OpenSCManagerA(NULL, NULL, SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE))) {
    scm_error("cannot install the service " SERVICE_NAME);
    goto out;
  }
  /* LocalSystem: raw disks and VSS need it. */
  h.service = CreateServiceA(h.manager, SERVICE_NAME, SERVICE_DISPLAY,
                             SERVICE_CHANGE_CONFIG | SERVICE_QUERY_CONFIG | DELETE,
                             SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL,
                             line, NULL, NULL, NULL, NULL, NULL);
  if (!h.service) {
    scm_error("cannot install the service " SERVICE_NAME);
    goto out;
  }
  if (!configure(h.service)) {
    DeleteService(h.service);   /* all or nothing */
    goto out;
  }
  printf("p2v-agent: installed (delayed automatic start, %s %s); 'p2v-agent start' starts it now\n",
         s.connect_address ? "dialling the converter at" : "listening on",
         s.connect_address ? s.connect_address : s.listen_address);
  status = EXIT_OK;
out:
  close_handles(&h);
  free(line);
  for (int i = s.first_disk; i < argc; i++)
    free(args[i]);
  free(args);
  return status;
}

int agent_service_command(int argc, char **argv)
{
  const char *command = argv[0];
  if (!strcmp(command, "service"))
    return run_service(argc, argv);
  if (!strcmp(command, "install"))
    return cmd_install(argc, argv);
  if (argc > 1) {
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
      printf("Usage: p2v-agent %s\n\nSee 'p2v-agent --help' and docs/p2v-agent.md "
             "(\"Windows service\").\n", command);
      return EXIT_OK;
    }
    usage_error(command, "'%s' takes no arguments", command);
    return EXIT_USAGE;
  }
  if (!strcmp(command, "uninstall"))
    return cmd_uninstall(argc, argv);
  if (!strcmp(command, "start"))
    return cmd_start(argc, argv);
  if (!strcmp(command, "stop"))
    return cmd_stop(argc, argv);
  return cmd_status(argc, argv);
}
