/* The first-boot service of a converted Windows guest: p2v-firstboot.exe
 * (built from firstboot/ with mingw-w64) and the scripts collected during
 * the conversion go to C:\Program Files\p2v\, and the service
 * "p2v-firstboot" is registered in the current control set.  What the
 * service does in the guest: docs/firstboot.md.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "guest/windows/windows-internal.h"

#define FIRSTBOOT_EXE      "p2v-firstboot.exe"
#define FIRSTBOOT_SERVICE  "p2v-firstboot"
#define SCRIPT_NAME_MAX    32
#define SCRIPT_NUMBER_MAX  9999

struct gw_firstboot_script {
  char *name;                  /* "drivers" */
  char *text;                  /* CRLF line ends */
};

struct gw_firstboot {
  struct gw_firstboot_script *scripts;
  size_t n;
  char *exe;                   /* the host's p2v-firstboot.exe, once found */
};

struct gw_firstboot *gw_firstboot_new(void)
{
  struct gw_firstboot *fb = calloc(1, sizeof *fb);
  if (!fb)
    p2v_error("cannot collect the first-boot scripts: out of memory");
  return fb;
}

void gw_firstboot_free(struct gw_firstboot *fb)
{
  if (!fb)
    return;
  for (size_t i = 0; i < fb->n; i++) {
    free(fb->scripts[i].name);
    free(fb->scripts[i].text);
  }
  free(fb->scripts);
  free(fb->exe);
  free(fb);
}

/* TEXT with every line ended by CRLF (cmd.exe reads LF-only files, but
 * labels and long lines misbehave). */
static char *crlf_text(const char *text)
{
  size_t len = strlen(text), extra = 2;
  for (size_t i = 0; i < len; i++)
    extra += text[i] == '\n';
  char *out = malloc(len + extra + 1), *p = out;
  if (!out)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
      *p++ = '\r';
    *p++ = text[i];
  }
  if (p == out || p[-1] != '\n') {
    *p++ = '\r';
    *p++ = '\n';
  }
  *p = '\0';
  return out;
}

static bool valid_script_name(const char *name)
{
  size_t n = strlen(name);
  if (n == 0 || n > SCRIPT_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_')
      return false;
  return true;
}

int gw_firstboot_add(struct gw_firstboot *fb, const char *name, const char *cmd)
{
  if (!valid_script_name(name)) {
    p2v_error("cannot add the first-boot script '%s': a name is 1 to %d letters, digits, "
              "'-' or '_'", name, SCRIPT_NAME_MAX);
    return -1;
  }
  struct gw_firstboot_script s = { .name = strdup(name), .text = crlf_text(cmd) };
  struct gw_firstboot_script *v = realloc(fb->scripts, (fb->n + 1) * sizeof *v);
  if (!s.name || !s.text || !v) {
    free(s.name);
    free(s.text);
    if (v)
      fb->scripts = v;
    p2v_error("cannot add the first-boot script %s: out of memory", name);
    return -1;
  }
  fb->scripts = v;
  fb->scripts[fb->n++] = s;
  return 0;
}

/* ---- the host's p2v-firstboot.exe ---- */

/* share/p2v/NAME beside the binary (installed, or the build tree, where
 * the Windows build puts it), then the usual prefixes. */
static char *find_data_file(const char *name)
{
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *p;
    if (asprintf(&p, "%s/../share/p2v/%s", dirname(exe), name) >= 0) {
      if (access(p, R_OK) == 0)
        return p;
      free(p);
    }
  }
  static const char *const prefixes[] = { "/usr/local/share/p2v", "/usr/share/p2v", NULL };
  for (size_t i = 0; prefixes[i]; i++) {
    char *p;
    if (asprintf(&p, "%s/%s", prefixes[i], name) < 0)
      return NULL;
    if (access(p, R_OK) == 0)
      return p;
    free(p);
  }
  return NULL;
}

/* A Windows program at least: "MZ" first. */
static int check_exe(const char *path)
{
  CLEANUP_FCLOSE FILE *fp = fopen(path, "re");
  char magic[2];
  if (!fp || fread(magic, 1, 2, fp) != 2) {
    p2v_error("cannot read the first-boot service %s: %m", path);
    return -1;
  }
  if (memcmp(magic, "MZ", 2) != 0) {
    p2v_error("the first-boot service %s is not a Windows program: rebuild p2v", path);
    return -1;
  }
  return 0;
}

int gw_firstboot_preflight(struct gw_firstboot *fb, const struct p2v_convert_options *o)
{
  if (fb->exe)
    return 0;
  const char *given = o ? o->firstboot_exe : NULL;
  char *path = given ? strdup(given) : find_data_file(FIRSTBOOT_EXE);
  if (!path) {
    if (given)
      p2v_error("cannot install the first-boot service %s: out of memory", given);
    else
      p2v_error("cannot convert a Windows guest: the first-boot service " FIRSTBOOT_EXE
                " is missing (share/p2v/ beside p2v-convert): build p2v with mingw-w64 "
                "(x86_64-w64-mingw32-gcc) installed");
    return -1;
  }
  if (check_exe(path) == -1) {
    free(path);
    return -1;
  }
  fb->exe = path;
  return 0;
}

/* ---- files in the guest ---- */

/* PARENT/NAME as the guest spells it (NTFS keeps case, ntfs-3g shows it),
 * made a folder when it is not there.  Caller frees; NULL reported. */
static char *guest_folder(struct p2v_guest *gg, const char *parent, const char *name)
{
  CLEANUP_FREE char *wanted = NULL;
  if (asprintf(&wanted, "%s/%s", strcmp(parent, "/") == 0 ? "" : parent, name) < 0) {
    p2v_error("cannot install the first-boot service: out of memory");
    return NULL;
  }
  char *path = guestfs_case_sensitive_path(gg->g, wanted);
  if (!path) {
    p2v_guest_error(gg->g, "cannot look for the first-boot folder in the guest");
    return NULL;
  }
  if (guestfs_is_dir(gg->g, path) > 0)
    return path;
  if (guestfs_mkdir(gg->g, path) == -1) {
    CLEANUP_FREE char *what = NULL;
    if (asprintf(&what, "cannot make the folder %s in the guest", path) < 0)
      what = NULL;
    p2v_guest_error(gg->g, what ? what : path);
    free(path);
    return NULL;
  }
  return path;
}

/* The number of a script name "NNNN-NAME.cmd" (any case), or 0. */
static unsigned script_number(const char *file)
{
  size_t len = strlen(file);
  if (len < 10 || strcasecmp(file + len - 4, ".cmd") != 0 || file[4] != '-')
    return 0;
  for (size_t i = 0; i < 4; i++)
    if (!isdigit((unsigned char)file[i]))
      return 0;
  return (unsigned)atoi(file);
}

/* The highest script number in FOLDER (0 when none or no folder). */
static int highest_number(struct p2v_guest *gg, const char *folder, unsigned *highest)
{
  CLEANUP_FREE char *path = guestfs_case_sensitive_path(gg->g, folder);
  if (!path || guestfs_is_dir(gg->g, path) <= 0)
    return 0;
  char **names = guestfs_ls(gg->g, path);
  if (!names) {
    p2v_guest_error(gg->g, "cannot list the first-boot scripts already in the guest");
    return -1;
  }
  for (size_t i = 0; names[i]; i++) {
    unsigned n = script_number(names[i]);
    if (n > *highest)
      *highest = n;
    free(names[i]);
  }
  free(names);
  return 0;
}

/* A script of the same name and text already waits in FOLDER (an earlier
 * conversion whose guest never booted): not added twice. */
static bool already_waiting(struct p2v_guest *gg, const char *folder,
                            const struct gw_firstboot_script *s)
{
  char **names = guestfs_ls(gg->g, folder);
  if (!names)
    return false;
  bool found = false;
  size_t want = strlen(s->name);
  for (size_t i = 0; names[i]; i++) {
    const char *f = names[i];
    size_t len = strlen(f);
    if (!found && script_number(f) && len == want + 9 && strncasecmp(f + 5, s->name, want) == 0) {
      CLEANUP_FREE char *path = NULL;
      size_t size;
      if (asprintf(&path, "%s/%s", folder, f) >= 0) {
        CLEANUP_FREE char *text = guestfs_read_file(gg->g, path, &size);
        found = text && size == strlen(s->text) && memcmp(text, s->text, size) == 0;
      }
    }
    free(names[i]);
  }
  free(names);
  return found;
}

static int copy_scripts(struct p2v_guest *gg, const char *scripts_dir, struct gw_firstboot *fb,
                        struct p2v_changes *changes)
{
  unsigned next = 0;
  static const char *const subfolders[] = { "", "/done", "/failed", NULL };
  for (size_t i = 0; subfolders[i]; i++) {
    CLEANUP_FREE char *folder = NULL;
    if (asprintf(&folder, "%s%s", scripts_dir, subfolders[i]) < 0 ||
        highest_number(gg, folder, &next) == -1)
      return -1;
  }
  for (size_t i = 0; i < fb->n; i++) {
    const struct gw_firstboot_script *s = &fb->scripts[i];
    if (already_waiting(gg, scripts_dir, s)) {
      p2v_info("firstboot: the script %s waits in the guest already (an earlier conversion)",
               s->name);
      continue;
    }
    if (++next > SCRIPT_NUMBER_MAX) {
      p2v_error("cannot add the first-boot script %s: the guest has %d scripts already: "
                "empty %s", s->name, SCRIPT_NUMBER_MAX, scripts_dir);
      return -1;
    }
    CLEANUP_FREE char *path = NULL;
    if (asprintf(&path, "%s/%04u-%s.cmd", scripts_dir, next, s->name) < 0) {
      p2v_error("cannot add the first-boot script %s: out of memory", s->name);
      return -1;
    }
    if (guestfs_write(gg->g, path, s->text, strlen(s->text)) == -1) {
      p2v_guest_error(gg->g, "cannot write a first-boot script in the guest");
      return -1;
    }
    if (p2v_changes_add(changes, "firstboot", path, "runs once at first boot: %s", s->name) == -1)
      return -1;
  }
  return 0;
}

/* ---- the service in SYSTEM ---- */

/* "C:\Program Files\p2v\p2v-firstboot.exe" from the guest path, on the
 * system drive.  Caller frees. */
static char *windows_path(const struct gw_system *sys, const char *guest_path)
{
  char drive = 'C';
  if (sys->system_root && isalpha((unsigned char)sys->system_root[0]) &&
      sys->system_root[1] == ':')
    drive = (char)toupper((unsigned char)sys->system_root[0]);
  char *p;
  if (asprintf(&p, "%c:%s", drive, guest_path) < 0)
    return NULL;
  for (char *c = p; *c; c++)
    if (*c == '/')
      *c = '\\';
  return p;
}

int gw_firstboot_register(struct gw_hive *system, const struct gw_system *sys,
                          const char *exe_windows, struct p2v_changes *changes)
{
  CLEANUP_FREE char *key = NULL, *image_path = NULL, *file = NULL;
  if (asprintf(&key, "%s\\Services\\" FIRSTBOOT_SERVICE, sys->control_set) < 0 ||
      asprintf(&image_path, "\"%s\"", exe_windows) < 0 ||   /* quoted: "Program Files" */
      asprintf(&file, "HKLM\\SYSTEM\\%s", key) < 0) {
    p2v_error("cannot register the first-boot service: out of memory");
    return -1;
  }
  int existed = gw_reg_key_exists(system, key);
  if (existed == -1)
    return -1;
  unsigned long edits = gw_hive_edits(system);
  if (gw_reg_set_dword(system, key, "Type", 0x10) == -1 ||          /* own process */
      gw_reg_set_dword(system, key, "Start", 2) == -1 ||            /* automatic */
      gw_reg_set_dword(system, key, "ErrorControl", 1) == -1 ||     /* normal */
      gw_reg_set_expand_string(system, key, "ImagePath", image_path) == -1 ||
      gw_reg_set_string(system, key, "ObjectName", "LocalSystem") == -1 ||
      gw_reg_set_string(system, key, "DisplayName", "p2v first boot") == -1 ||
      gw_reg_set_string(system, key, "Description",
                        "Runs the p2v conversion's first-boot scripts once each, logs to "
                        "firstboot.log beside it, then removes itself") == -1)
    return -1;
  if (gw_hive_edits(system) == edits)      /* an earlier conversion's, as it is */
    return 0;
  return p2v_changes_add(changes, "firstboot", file,
                         "service %s %s: automatic start, LocalSystem, ImagePath %s",
                         FIRSTBOOT_SERVICE, existed ? "updated" : "registered", image_path);
}

/* The same bytes are there already (an earlier conversion): nothing to copy. */
static bool same_file(struct p2v_guest *gg, const char *guest_path, const char *local_path)
{
  if (guestfs_is_file(gg->g, guest_path) <= 0)
    return false;
  CLEANUP_FCLOSE FILE *fp = fopen(local_path, "re");
  size_t size;
  CLEANUP_FREE char *theirs = guestfs_read_file(gg->g, guest_path, &size);
  if (!fp || !theirs)
    return false;
  CLEANUP_FREE char *ours = malloc(size + 1);
  return ours && fread(ours, 1, size + 1, fp) == size && memcmp(ours, theirs, size) == 0;
}

int gw_firstboot_install(struct p2v_guest *gg, struct gw_hive *system,
                         const struct gw_system *sys, struct gw_firstboot *fb,
                         struct p2v_changes *changes)
{
  if (!fb || fb->n == 0)
    return 0;
  if (gw_firstboot_preflight(fb, NULL) == -1)
    return -1;
  CLEANUP_FREE char *program_files = guest_folder(gg, "/", "Program Files");
  CLEANUP_FREE char *p2v_dir = program_files ? guest_folder(gg, program_files, "p2v") : NULL;
  CLEANUP_FREE char *scripts_dir = p2v_dir ? guest_folder(gg, p2v_dir, "firstboot") : NULL;
  if (!scripts_dir)
    return -1;

  CLEANUP_FREE char *exe_guest = NULL;
  if (asprintf(&exe_guest, "%s/" FIRSTBOOT_EXE, p2v_dir) < 0) {
    p2v_error("cannot install the first-boot service: out of memory");
    return -1;
  }
  /* An earlier conversion's copy may be spelt in another case. */
  CLEANUP_FREE char *exe_path = guestfs_case_sensitive_path(gg->g, exe_guest);
  if (!exe_path) {
    p2v_guest_error(gg->g, "cannot look for the first-boot service in the guest");
    return -1;
  }
  if (!same_file(gg, exe_path, fb->exe)) {
    if (guestfs_upload(gg->g, fb->exe, exe_path) == -1) {
      p2v_guest_error(gg->g, "cannot copy the first-boot service into the guest");
      return -1;
    }
    if (p2v_changes_add(changes, "firstboot", exe_path,
                        "the first-boot service p2v-firstboot (from %s)", fb->exe) == -1)
      return -1;
  }
  if (copy_scripts(gg, scripts_dir, fb, changes) == -1)
    return -1;
  CLEANUP_FREE char *exe_windows = windows_path(sys, exe_path);
  if (!exe_windows) {
    p2v_error("cannot register the first-boot service: out of memory");
    return -1;
  }
  return gw_firstboot_register(system, sys, exe_windows, changes);
}
