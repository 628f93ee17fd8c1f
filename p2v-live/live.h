/* p2v-live: private declarations, by the file that defines them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_LIVE_H
#define P2V_LIVE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "drivers.h"

/* Exit codes (docs/p2v-live.md).  As PID 1 the program never exits: it
 * powers off instead. */
enum {
  LIVE_EXIT_OK = 0,
  LIVE_EXIT_ERROR = 1,       /* no disk, no network, a disk or TLS key unusable */
  LIVE_EXIT_USAGE = 2,       /* bad option or setting */
};

/* ---- settings.c: p2v.* settings (kernel command line, fw_cfg, text UI);
 * pure: no I/O but the messages ---- */
enum live_mode { LIVE_MODE_UNSET, LIVE_MODE_SERVE, LIVE_MODE_DIAL, LIVE_MODE_SHELL };
enum live_tls { LIVE_TLS_OFF, LIVE_TLS_ON, LIVE_TLS_REQUIRE };
enum live_net { LIVE_NET_DHCP, LIVE_NET_STATIC, LIVE_NET_NONE };
enum live_after { LIVE_AFTER_UNSET, LIVE_AFTER_POWEROFF, LIVE_AFTER_WAIT };

#define LIVE_DEFAULT_PORT 10809
#define LIVE_DEFAULT_CONNECTIONS 4
#define LIVE_MAX_DISKS 64
#define LIVE_MAX_SETTINGS_BYTES 65536   /* a command line is 2 KiB; fw_cfg any size */

struct live_settings {
  enum live_mode mode;         /* UNSET: ask (or serve with p2v.auto=1) */
  char *server;                /* dial: the converter's host */
  unsigned port;
  unsigned connections;        /* dial: sessions kept open */
  enum live_tls tls;
  char *tls_psk;               /* "user:hexkey" */
  bool insecure;               /* p2v.insecure=1: disks may cross the network in clear text */
  char **disks;                /* names ("sda"); NULL: all */
  size_t ndisks;
  bool unattended;             /* p2v.auto=1 */
  enum live_net net;
  char *ip;                    /* "192.0.2.7/24" */
  char *gateway, *dns, *interface;
  enum live_after after;       /* UNSET: poweroff with p2v.auto=1, else wait */
  bool dump;                   /* p2v.dump_settings */
};

void live_settings_init(struct live_settings *s);
void live_settings_clear(struct live_settings *s);
/* Set one key ("server", without "p2v.") from text.  -1 with one error
 * line naming p2v.KEY and what it allows; 1 if the key is unknown. */
int live_settings_set(struct live_settings *s, const char *key, const char *value);
/* Apply every p2v.KEY=VALUE word of text (a kernel command line or the
 * fw_cfg file; other words are ignored, double quotes group as the kernel
 * does).  Unknown p2v.* keys are warnings naming them.  origin names the
 * text in messages.  -1 with one error on the first bad value. */
int live_settings_parse(struct live_settings *s, const char *text, size_t len,
                        const char *origin);
/* What must hold before running (dial needs a server, static an address,
 * TLS a key); -1 with one error. */
int live_settings_check(const struct live_settings *s);
/* True when the settings say what to do (p2v.mode given or p2v.auto=1). */
bool live_settings_complete(const struct live_settings *s);
/* One "p2v.key=value" per line, every key, defaults filled in; the PSK's
 * key is not shown. */
void live_settings_dump(const struct live_settings *s, FILE *fp);
enum live_after live_settings_after(const struct live_settings *s);
const char *live_mode_name(enum live_mode mode);

/* ---- settings-ui.c: ask on the console ---- */
/* Ask for what the settings lack, with defaults; answers come from in, one
 * line each (a pipe works).  -1 when in ends before a needed answer or an
 * answer stays wrong. */
int live_settings_ask(struct live_settings *s, FILE *in, FILE *out);

/* ---- catalog and hardware check (hwcheck.c) ---- */
struct live_roots {
  const char *sysfs;           /* /sys */
  const char *modules;         /* /lib/modules */
  const char *firmware;        /* /lib/firmware */
  const char *catalog;         /* /usr/share/p2v/kernel-catalog.json */
  const char *dev;             /* /dev */
};

struct live_hw_finding {
  char slot[32];
  struct pci_device dev;       /* ids and class; no strings */
  char *module;                /* the catalog's best module, or NULL */
  bool module_in_image;
  char **missing_firmware;
  size_t nmissing_firmware;
};

struct live_hwcheck {
  unsigned nstorage, nnetwork;         /* controllers seen */
  struct live_hw_finding *findings;    /* those without a driver */
  size_t nfindings;
  char *kernel;                        /* the catalog's kernel, or NULL */
  bool have_catalog;
};

/* Walk roots->sysfs/bus/pci/devices.  A missing catalog is a warning (the
 * modules are then not named).  -1 only when out of memory. */
int live_hwcheck_run(const struct live_roots *roots, struct live_hwcheck *hw);
void live_hwcheck_print(const struct live_hwcheck *hw, FILE *fp);
void live_hwcheck_clear(struct live_hwcheck *hw);
/* "network", "storage". */
const char *live_hw_kind(const struct live_hw_finding *f);

/* ---- console.c: messages every console shows ---- */
/* Send console output to every active console (PID 1 in the image) or to
 * stdout (a host).  Also routes p2v_error/warning there. */
void live_console_init(const struct live_roots *roots, bool all_consoles);
void live_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A large boxed message: a headline in capitals and lines of advice. */
void live_banner(const char *headline, const char *const *lines);

/* ---- disks.c: which disks to serve ---- */
/* The machine's disks (/dev/NAME) minus the boot medium and devices that
 * are not disks, filtered by names when given.  -1 with one error. */
int live_disks_find(const struct live_roots *roots, char *const *names, size_t nnames,
                    char ***paths, size_t *npaths);
/* Does the device hold the ISO 9660 volume "P2V_LIVE" (our own medium)? */
bool live_is_boot_medium(const char *path);

/* ---- network.c ---- */
/* Bring interfaces up, wait (bounded, announced) for a link, configure as
 * the settings say.  Returns the number of interfaces with a link (0 is a
 * problem the caller reports), -1 with an error. */
int live_network_setup(const struct live_roots *roots, const struct live_settings *s);

/* ---- process.c ---- */
/* Run argv (PATH searched) on our console, wait at most timeout_s seconds
 * (then stop it: SIGTERM, a grace, SIGKILL; UINT32_MAX: no limit).
 * Its exit status, or -1 with an error. */
int live_run(const char *const *argv, unsigned timeout_s);
/* PID 1: run main_fn in a child, reap everything, power off when it ends
 * or when told (SIGUSR2, SIGTERM: busybox poweroff/reboot).  Never returns. */
void live_pid1(int (*main_fn)(void *), void *opaque, bool unattended) __attribute__((noreturn));
void live_power_off(void) __attribute__((noreturn));

/* ---- run.c: the job itself ---- */
struct live_options {
  struct live_roots roots;
  struct live_settings settings;
  char **disks;                /* --disk, instead of discovery */
  size_t ndisks;
  bool no_network;
  bool pid1;
  const char *listen;          /* --listen: instead of 0.0.0.0:PORT */
  bool all_blocks;
};
int live_run_job(struct live_options *o);

#endif
