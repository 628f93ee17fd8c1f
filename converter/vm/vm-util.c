/* Escaping, names and file helpers for the VM metadata writers.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "vm/vm-internal.h"

size_t p2v_utf8_seq_len(const unsigned char *s)
{
  unsigned c = s[0];
  size_t n;
  uint32_t cp, min;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; min = 0x10000; }
  else return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)             /* also stops at the terminating NUL */
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

/* A growing string built with open_memstream. */
/* fclose sets *buf: read it only afterwards. */
static char *finish_stream(FILE *fp, char **buf)
{
  if (fclose(fp) == EOF) {
    p2v_error("cannot build a string: %m");
    free(*buf);
    return NULL;
  }
  return *buf;
}

char *p2v_xml_escape(const char *str)
{
  char *buf = NULL;
  size_t size;
  FILE *fp = open_memstream(&buf, &size);
  if (!fp) {
    p2v_error("cannot build a string: %m");
    return NULL;
  }
  const unsigned char *s = (const unsigned char *) str;
  while (*s) {
    size_t n = p2v_utf8_seq_len(s);
    if (n == 0 || (*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r') || *s == 0x7f) {
      fputc('?', fp);
      s++;
      continue;
    }
    switch (*s) {
    case '&': fputs("&amp;", fp); break;
    case '<': fputs("&lt;", fp); break;
    case '>': fputs("&gt;", fp); break;
    case '\'': fputs("&apos;", fp); break;
    case '"': fputs("&quot;", fp); break;
    /* Attribute values would normalise these to spaces: keep them. */
    case '\t': fputs("&#9;", fp); break;
    case '\n': fputs("&#10;", fp); break;
    case '\r': fputs("&#13;", fp); break;
    default: fwrite(s, 1, n, fp);
    }
    s += n;
  }
  return finish_stream(fp, &buf);
}

char *p2v_vmx_escape(const char *str)
{
  char *buf = NULL;
  size_t size;
  FILE *fp = open_memstream(&buf, &size);
  if (!fp) {
    p2v_error("cannot build a string: %m");
    return NULL;
  }
  for (const unsigned char *s = (const unsigned char *) str; *s; s++) {
    if (*s == '"' || *s == '|' || *s < 0x20 || *s == 0x7f)
      fprintf(fp, "|%02X", *s);
    else
      fputc(*s, fp);
  }
  return finish_stream(fp, &buf);
}

void p2v_text_escape(FILE *fp, const char *str, bool keep_newlines)
{
  const unsigned char *s = (const unsigned char *) str;
  while (*s) {
    size_t n = p2v_utf8_seq_len(s);
    if (n == 0 || (*s < 0x20 && !(keep_newlines && *s == '\n') && *s != '\t') || *s == 0x7f) {
      fprintf(fp, "\\x%02x", *s);
      s++;
    } else if (*s == '\\') {
      fputs("\\\\", fp);       /* so "\x1b" in the output always means an escape */
      s++;
    } else {
      fwrite(s, 1, n, fp);
      s += n;
    }
  }
}

bool p2v_mac_valid(const char *mac)
{
  if (!mac || strlen(mac) != 17)
    return false;
  for (int i = 0; i < 17; i++) {
    if (i % 3 == 2 ? mac[i] != ':' : !isxdigit((unsigned char) mac[i]))
      return false;
  }
  return true;
}

int p2v_uuid_generate(char out[37])
{
  unsigned char b[16];
  if (getrandom(b, sizeof b, 0) != (ssize_t) sizeof b) {
    p2v_error("cannot generate a UUID: getrandom: %m");
    return -1;
  }
  b[6] = (b[6] & 0x0f) | 0x40;         /* version 4 */
  b[8] = (b[8] & 0x3f) | 0x80;         /* RFC 4122 variant */
  snprintf(out, 37,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
           b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return 0;
}

/* libosinfo short id -> VMware names.  An entry whose osinfo ends in '*'
 * is a prefix.  Only ids that virtualHW 19's oldest hosts (ESXi 7.0 U2,
 * Workstation 16.2) know are used: a newer release maps to its newest
 * known ancestor (debian12 -> debian11-64), which selects the same
 * defaults (vmxnet3, pvscsi, EFI).  Unknown guests get the generic entries
 * below the table. */
static const struct os_entry {
  const char *osinfo;
  struct p2v_os_names names;
} os_table[] = {
  { "debian6",  { "debian6-64",  "debian6_64Guest",  96 } },
  { "debian7",  { "debian7-64",  "debian7_64Guest",  96 } },
  { "debian8",  { "debian8-64",  "debian8_64Guest",  96 } },
  { "debian9",  { "debian9-64",  "debian9_64Guest",  96 } },
  { "debian10", { "debian10-64", "debian10_64Guest", 96 } },
  { "debian11", { "debian11-64", "debian11_64Guest", 96 } },
  { "debian*",  { "debian11-64", "debian11_64Guest", 96 } },
  { "ubuntu*",  { "ubuntu-64",   "ubuntu64Guest",    94 } },
  { "rhel6*",   { "rhel6-64",    "rhel6_64Guest",    80 } },
  { "rhel7*",   { "rhel7-64",    "rhel7_64Guest",    80 } },
  { "rhel8*",   { "rhel8-64",    "rhel8_64Guest",    80 } },
  { "rhel*",    { "rhel9-64",    "rhel9_64Guest",    80 } },
  { "centos6*", { "centos6-64",  "centos6_64Guest",  107 } },
  { "centos7*", { "centos7-64",  "centos7_64Guest",  107 } },
  { "centos*",  { "centos8-64",  "centos8_64Guest",  107 } },
  { "sles11*",  { "sles11-64",   "sles11_64Guest",   85 } },
  { "sles12*",  { "sles12-64",   "sles12_64Guest",   85 } },
  { "sles*",    { "sles15-64",   "sles15_64Guest",   85 } },
  { "fedora*",  { "fedora-64",   "fedora64Guest",    101 } },
  { "opensuse*", { "opensuse-64", "opensuse64Guest", 83 } },
  { "win2k3*",  { "winNetStandard-64", "winNetStandard64Guest", 70 } },
  { "win2k8r2", { "windows7srv-64", "windows7Server64Guest", 103 } },
  { "win2k8",   { "winLonghorn-64", "winLonghorn64Guest", 77 } },
  { "win2k12*", { "windows8srv-64", "windows8Server64Guest", 1 } },
  { "win2k16",  { "windows9srv-64", "windows9Server64Guest", 1 } },
  { "win2k19",  { "windows2019srv-64", "windows2019srv_64Guest", 1 } },
  { "win2k22",  { "windows2019srvNext-64", "windows2019srvNext_64Guest", 1 } },
  { "win7",     { "windows7-64", "windows7_64Guest", 105 } },
  { "win8*",    { "windows8-64", "windows8_64Guest", 1 } },
  { "win10",    { "windows9-64", "windows9_64Guest", 1 } },
  { "win11",    { "windows9-64", "windows9_64Guest", 1 } },
};

void p2v_vm_os_names(const struct p2v_vm *vm, struct p2v_os_names *names)
{
  const char *id = vm->osinfo ? vm->osinfo : "unknown";
  for (size_t i = 0; i < sizeof os_table / sizeof os_table[0]; i++) {
    const char *pat = os_table[i].osinfo;
    size_t len = strlen(pat);
    bool match = pat[len - 1] == '*' ? strncmp(id, pat, len - 1) == 0 : strcmp(id, pat) == 0;
    if (match) {
      *names = os_table[i].names;
      return;
    }
  }
  /* Generic, not "other5xlinux": the kernel's version is not known here. */
  static const struct p2v_os_names other_linux = { "otherlinux-64", "otherLinux64Guest", 101 };
  static const struct p2v_os_names other_windows = { "windows9srv-64", "windows9Server64Guest", 1 };
  static const struct p2v_os_names other = { "other-64", "otherGuest64", 102 };
  if (vm->os_type && strcmp(vm->os_type, "linux") == 0)
    *names = other_linux;
  else if (vm->os_type && strcmp(vm->os_type, "windows") == 0)
    *names = other_windows;
  else
    *names = other;
}

int p2v_vm_check(const struct p2v_vm *vm)
{
  if (!vm->name || !*vm->name) {
    p2v_error("the VM has no name: give one with --name");
    return -1;
  }
  for (const unsigned char *s = (const unsigned char *) vm->name; *s; ) {
    size_t n = p2v_utf8_seq_len(s);
    if (n == 0 || *s < 0x20 || *s == 0x7f || *s == '/') {
      p2v_error("the VM name has a control character, a '/' or invalid UTF-8 "
                "(byte %zu): give another with --name", (size_t) (s - (const unsigned char *) vm->name) + 1);
      return -1;
    }
    s += n;
  }
  if (vm->vcpus == 0 || vm->memory_bytes < 1024 * 1024) {
    p2v_error("VM %s: %u CPUs and %llu bytes of memory: at least 1 CPU and 1 MiB are needed",
              vm->name, vm->vcpus, (unsigned long long) vm->memory_bytes);
    return -1;
  }
  if (vm->ndisks == 0) {
    p2v_error("VM %s has no disks", vm->name);
    return -1;
  }
  for (size_t i = 0; i < vm->ndisks; i++) {
    if (!vm->disks[i].path || !*vm->disks[i].path || !vm->disks[i].format) {
      p2v_error("VM %s: disk %zu has no path or format", vm->name, i + 1);
      return -1;
    }
  }
  for (size_t i = 0; i < vm->nnics; i++) {
    if (vm->nics[i].mac && !p2v_mac_valid(vm->nics[i].mac)) {
      p2v_error("VM %s: NIC %zu has a malformed MAC address '%s' (expected six hex pairs "
                "separated by colons)", vm->name, i + 1, vm->nics[i].mac);
      return -1;
    }
  }
  return p2v_vm_check_hardware(vm);
}

char *p2v_vm_path(const char *out_dir, const char *path)
{
  char *r;
  if (path[0] == '/' || !out_dir || !*out_dir)
    r = strdup(path);
  else if (asprintf(&r, "%s/%s", out_dir, path) == -1)
    r = NULL;
  if (!r)
    p2v_error("cannot build the path of %s: %m", path);
  return r;
}

int p2v_commit_file(const char *tmp, const char *path)
{
  if (rename(tmp, path) == -1) {
    p2v_error("cannot rename %s to %s: %m", tmp, path);
    unlink(tmp);
    return -1;
  }
  CLEANUP_FREE char *copy = strdup(path);
  if (copy) {
    CLEANUP_CLOSE int dir = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0)
      fsync(dir);
  }
  return 0;
}

int p2v_write_file_atomic(const char *path, const char *data, size_t len)
{
  CLEANUP_FREE char *tmp = NULL;
  if (asprintf(&tmp, "%s.tmp", path) == -1) {
    p2v_error("cannot write %s: %m", path);
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd == -1) {
    p2v_error("cannot create %s: %m", tmp);
    return -1;
  }
  while (len > 0) {
    ssize_t r = write(fd, data, len);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      p2v_error("cannot write %s: %m", tmp);
      goto fail;
    }
    data += r;
    len -= (size_t) r;
  }
  if (fsync(fd) == -1) {
    p2v_error("cannot write %s: fsync: %m", tmp);
    goto fail;
  }
  if (close(fd) == -1) {
    fd = -1;
    p2v_error("cannot write %s: %m", tmp);
    goto fail;
  }
  return p2v_commit_file(tmp, path);

fail:
  if (fd >= 0)
    close(fd);
  unlink(tmp);
  return -1;
}

int p2v_vm_write_text(const struct p2v_vm *vm, const char *path, p2v_vm_emit_fn emit,
                      const void *ctx)
{
  CLEANUP_FREE char *buf = NULL;
  size_t len;
  FILE *fp = open_memstream(&buf, &len);
  if (!fp) {
    p2v_error("cannot write %s: %m", path);
    return -1;
  }
  int r = emit(vm, ctx, fp);
  if (fclose(fp) == EOF && r == 0) {
    p2v_error("cannot write %s: %m", path);
    r = -1;
  }
  if (r == -1)
    return -1;
  return p2v_write_file_atomic(path, buf, len);
}
