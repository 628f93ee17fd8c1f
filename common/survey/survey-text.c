/* The survey as a summary for a person (p2v-agent survey without --json).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "survey.h"

/* A string from the survey, or "?"; control characters (a hostile
 * document could carry terminal escapes) print as '?'. */
static void put(FILE *fp, const char *s)
{
  if (!s || !*s) {
    fputc('?', fp);
    return;
  }
  for (; *s; s++)
    fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, fp);
}

/* "40.0 GiB", "512 B", or "?". */
static const char *size(uint64_t bytes, char *buf, size_t n)
{
  static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
  if (bytes == P2V_SURVEY_UNKNOWN)
    return "?";
  if (bytes < 1024) {
    snprintf(buf, n, "%" PRIu64 " B", bytes);
    return buf;
  }
  double v = (double)bytes;
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof units / sizeof *units) {
    v /= 1024;
    u++;
  }
  snprintf(buf, n, "%.1f %s", v, units[u]);
  return buf;
}

static const char *number(uint64_t v, char *buf, size_t n)
{
  if (v == P2V_SURVEY_UNKNOWN)
    return "?";
  snprintf(buf, n, "%" PRIu64, v);
  return buf;
}

static const char *yes_no(enum p2v_tristate t, const char *yes, const char *no)
{
  return t == P2V_YES ? yes : t == P2V_NO ? no : "?";
}

static void print_disk(const struct p2v_survey_disk *d, FILE *fp)
{
  char b1[32], b2[32];
  fputs("  ", fp);
  put(fp, d->name);
  fputs("  ", fp);
  put(fp, d->path);
  fprintf(fp, "  %s  ", size(d->size_bytes, b1, sizeof b1));
  put(fp, d->bus);
  if (d->vendor || d->model) {
    fputs("  ", fp);
    if (d->vendor) {
      put(fp, d->vendor);
      fputc(' ', fp);
    }
    put(fp, d->model);
  }
  if (d->serial) {
    fputs("  serial ", fp);
    put(fp, d->serial);
  }
  fprintf(fp, "\n    sectors %s/%s, %s, %s, table ",
          number(d->logical_sector_size, b1, sizeof b1),
          number(d->physical_sector_size, b2, sizeof b2),
          yes_no(d->rotational, "rotational", "non-rotational"),
          yes_no(d->removable, "removable", "fixed"));
  fputs(d->table_type ? "" : "none", fp);
  if (d->table_type)
    put(fp, d->table_type);
  fprintf(fp, ", used %s\n", size(d->used_bytes, b1, sizeof b1));
  if (!d->partitions_known)
    fputs("    partitions: could not be read\n", fp);
  for (size_t i = 0; i < d->npartitions; i++) {
    const struct p2v_survey_partition *p = &d->partitions[i];
    fprintf(fp, "    %-3s ", number(p->number, b1, sizeof b1));
    put(fp, p->filesystem);
    if (p->label) {
      fputs(" \"", fp);
      put(fp, p->label);
      fputc('"', fp);
    }
    fprintf(fp, "  %s", size(p->length, b1, sizeof b1));
    fprintf(fp, ", used %s\n", size(p->used_bytes, b1, sizeof b1));
  }
}

static void print_nic(const struct p2v_survey_nic *n, FILE *fp)
{
  char b[32];
  fputs("  ", fp);
  put(fp, n->name);
  fputs("  ", fp);
  put(fp, n->mac);
  fputs("  ", fp);
  put(fp, n->driver);
  if (n->is_virtual)
    fputs(" (virtual)", fp);
  if (n->pci_slot) {
    fputs("  pci ", fp);
    put(fp, n->pci_slot);
  }
  fprintf(fp, "  link %s", yes_no(n->link_up, "up", "down"));
  if (n->speed_mbps != P2V_SURVEY_UNKNOWN)
    fprintf(fp, " %" PRIu64 " Mb/s", n->speed_mbps);
  fprintf(fp, "  mtu %s\n", number(n->mtu, b, sizeof b));
  for (size_t i = 0; i < n->naddresses; i++) {
    fputs("    ", fp);
    put(fp, n->addresses[i].address);
    fprintf(fp, "/%s\n", number(n->addresses[i].prefix, b, sizeof b));
  }
}

static void print_pci_device(const struct p2v_survey_pci_device *p, FILE *fp)
{
  fputs("  ", fp);
  put(fp, p->slot);
  fputs("  ", fp);
  put(fp, p->class_code);
  fputs(" ", fp);
  put(fp, p->class_name);
  fputs("  ", fp);
  put(fp, p->ids.vendor_id);
  fputc(':', fp);
  put(fp, p->ids.device_id);
  if (p->vendor_name || p->device_name) {
    fputs("  ", fp);
    put(fp, p->vendor_name);
    fputc(' ', fp);
    put(fp, p->device_name);
  }
  fputs("  driver ", fp);
  fputs(p->driver ? "" : "none", fp);
  if (p->driver)
    put(fp, p->driver);
  fputc('\n', fp);
}

/* Image files only: the survey describes no machine (survey-linux.c). */
static bool only_image_files(const struct p2v_survey *s)
{
  for (size_t i = 0; i < s->ndisks; i++)
    if (!s->disks[i].bus || strcmp(s->disks[i].bus, "file") != 0)
      return false;
  return s->ndisks > 0 && !s->hostname;
}

void p2v_survey_print_text(const struct p2v_survey *s, FILE *fp)
{
  char b1[32], b2[32], b3[32];
  if (only_image_files(s))
    fputs("(the disks are image files: the machine in them is not surveyed)\n", fp);
  fputs("hostname:  ", fp);
  put(fp, s->hostname);
  fputs("\nos:        ", fp);
  put(fp, s->os.name);
  fputc(' ', fp);
  put(fp, s->os.version);
  fputs(" (", fp);
  put(fp, p2v_survey_os_family_name(s->os.family));
  fputs("), kernel ", fp);
  put(fp, s->os.kernel);
  fputs(", ", fp);
  put(fp, s->os.arch);
  fputs("\nfirmware:  ", fp);
  put(fp, p2v_survey_firmware_name(s->firmware));
  fprintf(fp, ", secure boot %s\n", yes_no(s->secure_boot, "on", "off"));
  fputs("cpus:      ", fp);
  put(fp, s->cpus.model);
  fprintf(fp, "; %s sockets, %s cores, %s threads\n",
          number(s->cpus.sockets, b1, sizeof b1), number(s->cpus.cores, b2, sizeof b2),
          number(s->cpus.threads, b3, sizeof b3));
  fprintf(fp, "memory:    %s\n", size(s->memory_bytes, b1, sizeof b1));
  fprintf(fp, "disks:     %zu\n", s->ndisks);
  for (size_t i = 0; i < s->ndisks; i++)
    print_disk(&s->disks[i], fp);
  fprintf(fp, "nics:      %zu\n", s->nnics);
  for (size_t i = 0; i < s->nnics; i++)
    print_nic(&s->nics[i], fp);
  fprintf(fp, "pci devices: %zu\n", s->npci_devices);
  for (size_t i = 0; i < s->npci_devices; i++)
    print_pci_device(&s->pci_devices[i], fp);
  if (s->nproblems)
    fprintf(fp, "problems:  %zu\n", s->nproblems);
  for (size_t i = 0; i < s->nproblems; i++)
    fprintf(fp, "  %s: %s\n", s->problems[i].code, s->problems[i].message);
}
