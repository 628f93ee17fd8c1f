/* Surveying a Linux machine: the host itself (OS, firmware, CPUs, memory)
 * here; disks, NICs and PCI devices in their own files.  Nothing fails:
 * what cannot be read stays unknown.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cleanup.h"
#include "disk.h"
#include "log.h"
#include "survey-internal.h"

/* The value of KEY in an os-release file: KEY="value", KEY='value' or
 * KEY=value, shell quoting simplified to backslash escapes. */
static char *os_release_value(const char *text, const char *key)
{
  size_t klen = strlen(key);
  for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
    if (strncmp(line, key, klen) != 0 || line[klen] != '=')
      continue;
    const char *v = line + klen + 1;
    size_t n = strcspn(v, "\n");
    char buf[P2V_SURVEY_MAX_STRING];
    size_t o = 0;
    char quote = (*v == '"' || *v == '\'') ? *v : 0;
    for (size_t i = quote ? 1 : 0; i < n && o < sizeof buf; i++) {
      if (quote && v[i] == quote)
        break;
      if (v[i] == '\\' && quote != '\'' && i + 1 < n)
        i++;
      buf[o++] = v[i];
    }
    return survey_clean_n(buf, o);
  }
  return NULL;
}

static void collect_os(struct p2v_survey_os *os)
{
  struct utsname u;
  os->family = P2V_OS_LINUX;
  if (uname(&u) == 0) {
    os->kernel = survey_clean(u.release);
    os->arch = survey_clean(u.machine);
  }
  /* os-release(5): /etc first, then the vendor's copy. */
  CLEANUP_FREE char *text = NULL;
  size_t size = 0;
  FILE *fp = fopen("/etc/os-release", "re");
  if (!fp)
    fp = fopen("/usr/lib/os-release", "re");
  if (fp) {
    CLEANUP_FCLOSE FILE *f = fp;
    text = calloc(1, 65536);
    if (text)
      size = fread(text, 1, 65535, f);
  }
  if (!text || size == 0) {
    p2v_warning("survey: no /etc/os-release or /usr/lib/os-release: the distribution is unknown");
    return;
  }
  os->id = os_release_value(text, "ID");
  os->name = os_release_value(text, "NAME");
  os->version = os_release_value(text, "VERSION_ID");
}

/* UEFI if the kernel booted through it; secure boot from the SecureBoot
 * EFI variable (4 bytes of attributes, then the value). */
static void collect_firmware(struct p2v_survey *s)
{
  struct stat st;
  if (stat("/sys/firmware/efi", &st) == -1) {
    s->firmware = P2V_FIRMWARE_BIOS;
    s->secure_boot = P2V_NO;           /* only UEFI has secure boot */
    return;
  }
  s->firmware = P2V_FIRMWARE_UEFI;
  s->secure_boot = P2V_UNKNOWN;
  FILE *fp = fopen("/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c", "re");
  if (fp) {
    CLEANUP_FCLOSE FILE *f = fp;
    unsigned char buf[5];
    if (fread(buf, 1, sizeof buf, f) == sizeof buf)
      s->secure_boot = buf[4] == 1 ? P2V_YES : P2V_NO;
  }
}

/* Threads: every CPU the system has, online or not (what nproc --all
 * counts).  Sockets and cores: distinct package ids and (package, core)
 * pairs in sysfs topology, which only online CPUs show. */
static void collect_cpus(struct p2v_survey_cpus *cpus)
{
  long conf = sysconf(_SC_NPROCESSORS_CONF);
  cpus->threads = conf > 0 ? (uint64_t)conf : P2V_SURVEY_UNKNOWN;
  cpus->sockets = cpus->cores = P2V_SURVEY_UNKNOWN;

  FILE *fp = fopen("/proc/cpuinfo", "re");
  if (fp) {
    CLEANUP_FCLOSE FILE *f = fp;
    CLEANUP_FREE char *line = NULL;
    size_t n = 0;
    while (!cpus->model && getline(&line, &n, f) != -1) {
      char *colon = strchr(line, ':');
      if (colon && (strncmp(line, "model name", 10) == 0 || strncmp(line, "Processor", 9) == 0))
        cpus->model = survey_clean(colon + 1);
    }
  }

  DIR *dir = opendir("/sys/devices/system/cpu");
  if (!dir)
    return;
  struct { uint64_t package, core; } *seen = NULL;
  size_t nseen = 0, capacity = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (strncmp(e->d_name, "cpu", 3) != 0 || !e->d_name[3] ||
        strspn(e->d_name + 3, "0123456789") != strlen(e->d_name + 3))
      continue;
    uint64_t package = survey_read_uint("/sys/devices/system/cpu/%s/topology/physical_package_id", e->d_name);
    uint64_t core = survey_read_uint("/sys/devices/system/cpu/%s/topology/core_id", e->d_name);
    if (package == P2V_SURVEY_UNKNOWN || core == P2V_SURVEY_UNKNOWN)
      continue;
    if (survey_grow((void **)&seen, &capacity, nseen, sizeof *seen) == -1)
      break;
    seen[nseen].package = package;
    seen[nseen++].core = core;
  }
  closedir(dir);
  if (nseen) {
    cpus->sockets = cpus->cores = 0;
    for (size_t i = 0; i < nseen; i++) {
      bool new_package = true, new_core = true;
      for (size_t j = 0; j < i; j++) {
        if (seen[j].package == seen[i].package) {
          new_package = false;
          if (seen[j].core == seen[i].core)
            new_core = false;
        }
      }
      cpus->sockets += new_package;
      cpus->cores += new_core;
    }
  }
  free(seen);
}

/* MemTotal: what the OS can use (installed memory less firmware and kernel
 * reservations), the figure a VM's memory size is planned from. */
static uint64_t collect_memory(void)
{
  FILE *fp = fopen("/proc/meminfo", "re");
  unsigned long long kib;
  if (fp) {
    CLEANUP_FCLOSE FILE *f = fp;
    CLEANUP_FREE char *line = NULL;
    size_t n = 0;
    while (getline(&line, &n, f) != -1)
      if (sscanf(line, "MemTotal: %llu kB", &kib) == 1 && kib <= INT64_MAX / 1024)
        return kib * 1024;
  }
  p2v_warning("survey: cannot read MemTotal from /proc/meminfo: the memory size is unknown");
  return P2V_SURVEY_UNKNOWN;
}

/* Are the disks to describe all image files (none a block device)? */
static bool only_image_files(const char *const *disk_paths, size_t ndisks)
{
  struct stat st;
  for (size_t i = 0; i < ndisks; i++)
    if (stat(disk_paths[i], &st) == -1 || !S_ISREG(st.st_mode))
      return false;
  return ndisks > 0;
}

static struct p2v_survey *collect(const char *const *disk_paths,
                                  struct p2v_disk *const *opened, size_t ndisks)
{
  struct p2v_survey *s = calloc(1, sizeof *s);
  if (!s) {
    p2v_error("survey: out of memory");
    return NULL;
  }
  s->schema_version = P2V_SURVEY_SCHEMA_VERSION;
  if (only_image_files(disk_paths, ndisks)) {
    /* The machine in the images is not the one running the survey: its
     * facts stay unknown rather than borrowed from this host. */
    s->os.family = P2V_OS_UNKNOWN;
    s->firmware = P2V_FIRMWARE_UNKNOWN;
    s->secure_boot = P2V_UNKNOWN;
    s->cpus.sockets = s->cpus.cores = s->cpus.threads = P2V_SURVEY_UNKNOWN;
    s->memory_bytes = P2V_SURVEY_UNKNOWN;
    survey_linux_disks(s, disk_paths, opened, ndisks);
    return s;
  }
  struct utsname u;
  if (uname(&u) == 0)
    s->hostname = survey_clean(u.nodename);
  collect_os(&s->os);
  collect_firmware(s);
  collect_cpus(&s->cpus);
  s->memory_bytes = collect_memory();
  survey_linux_disks(s, disk_paths, opened, ndisks);
  survey_linux_nics(s);
  survey_linux_pci(s);
  survey_pci_names(s);
  return s;
}

struct p2v_survey *p2v_survey_collect(const char *const *disk_paths, size_t ndisks)
{
  return collect(disk_paths, NULL, ndisks);
}

struct p2v_survey *p2v_survey_collect_disks(struct p2v_disk *const *disks, size_t ndisks)
{
  if (ndisks == 0) {
    p2v_error("survey: no disks given");
    return NULL;
  }
  const char **paths = calloc(ndisks, sizeof *paths);
  if (!paths) {
    p2v_error("survey: out of memory");
    return NULL;
  }
  for (size_t i = 0; i < ndisks; i++)
    paths[i] = disks[i]->path;
  struct p2v_survey *s = collect(paths, disks, ndisks);
  free(paths);
  return s;
}
