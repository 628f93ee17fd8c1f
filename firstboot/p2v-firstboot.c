/* p2v-firstboot.exe: the service "p2v-firstboot" the conversion installs
 * in a Windows guest (C:\Program Files\p2v\), or, with --run-once, the
 * same loop in the foreground.  See docs/firstboot.md.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <wchar.h>

#include "firstboot.h"

static SERVICE_STATUS_HANDLE status_handle;
static volatile LONG stop_requested;

static void report_status(DWORD state, DWORD exit_code)
{
  SERVICE_STATUS status = {
    .dwServiceType = SERVICE_WIN32_OWN_PROCESS,
    .dwCurrentState = state,
    .dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0,
    .dwWin32ExitCode = exit_code,
    .dwWaitHint = state == SERVICE_STOP_PENDING ? 30000 : 0,
  };
  SetServiceStatus(status_handle, &status);
}

/* Stop and shutdown: the loop ends after the running script. */
static DWORD WINAPI control_handler(DWORD control, DWORD type, void *data, void *context)
{
  switch (control) {
  case SERVICE_CONTROL_STOP:
  case SERVICE_CONTROL_SHUTDOWN:
    InterlockedExchange(&stop_requested, 1);
    report_status(SERVICE_STOP_PENDING, NO_ERROR);
    return NO_ERROR;
  case SERVICE_CONTROL_INTERROGATE:
    return NO_ERROR;
  default:
    return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

/* The folder p2v-firstboot.exe is in: its scripts and log are there. */
static bool own_folder(wchar_t *dir, DWORD size)
{
  DWORD n = GetModuleFileNameW(NULL, dir, size);
  if (n == 0 || n >= size)
    return false;
  wchar_t *slash = wcsrchr(dir, L'\\');
  if (!slash)
    return false;
  *slash = L'\0';
  return true;
}

static void WINAPI service_main(DWORD argc, wchar_t **argv)
{
  status_handle = RegisterServiceCtrlHandlerExW(FB_SERVICE_NAME, control_handler, NULL);
  if (!status_handle)
    return;
  report_status(SERVICE_RUNNING, NO_ERROR);
  wchar_t dir[1024];
  int left = own_folder(dir, 1024) ? fb_run(dir, &stop_requested, false) : -1;
  report_status(SERVICE_STOPPED, left < 0 ? ERROR_PATH_NOT_FOUND : NO_ERROR);
}

static void usage(FILE *fp)
{
  fputs("Usage: p2v-firstboot.exe [--run-once]\n"
        "Runs the scripts in firstboot\\*.cmd beside it once each, in name order,\n"
        "logging to firstboot.log beside it; a failed script is tried at most 3 times.\n"
        "Started by the service manager as the service p2v-firstboot, which removes\n"
        "itself when no script is left.\n"
        "  --run-once   run the scripts now, in the foreground (exit 0: none left,\n"
        "               2: some left for the next run, 1: error)\n"
        "  --help, --version\n", fp);
}

int wmain(int argc, wchar_t **argv);   /* -municode: the entry point */
int wmain(int argc, wchar_t **argv)
{
  if (argc == 2 && wcscmp(argv[1], L"--run-once") == 0) {
    wchar_t dir[1024];
    if (!own_folder(dir, 1024)) {
      fprintf(stderr, "p2v-firstboot: cannot find its own folder (error %lu)\n", GetLastError());
      return 1;
    }
    _setmode(_fileno(stdout), _O_BINARY);     /* the log's CRLF as they are */
    int left = fb_run(dir, NULL, true);
    return left < 0 ? 1 : left > 0 ? 2 : 0;
  }
  if (argc == 2 && (wcscmp(argv[1], L"--help") == 0 || wcscmp(argv[1], L"-h") == 0)) {
    usage(stdout);
    return 0;
  }
  if (argc == 2 && (wcscmp(argv[1], L"--version") == 0 || wcscmp(argv[1], L"-V") == 0)) {
    printf("p2v-firstboot %s\n", P2V_VERSION);
    return 0;
  }
  if (argc > 1) {
    fprintf(stderr, "p2v-firstboot: unknown option %ls: see --help\n", argv[1]);
    return 1;
  }
  SERVICE_TABLE_ENTRYW table[] = { { (wchar_t *)FB_SERVICE_NAME, service_main }, { NULL, NULL } };
  if (!StartServiceCtrlDispatcherW(table)) {
    if (GetLastError() == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
      fprintf(stderr, "p2v-firstboot: not started by the service manager: start the service "
                      "p2v-firstboot, or run p2v-firstboot.exe --run-once\n");
    else
      fprintf(stderr, "p2v-firstboot: cannot reach the service manager (error %lu)\n",
              GetLastError());
    return 1;
  }
  return 0;
}
