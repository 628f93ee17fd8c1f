/* Unit test for run_disk_stem (converter/run-command.c): an output disk is
 * named after its export without the image file's extension, unless two
 * exports would then share a name, when both keep theirs.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/run.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static void expect(const char *const *names, size_t n, size_t i, const char *want)
{
  char *got = run_disk_stem(names, n, i);
  if (!got || strcmp(got, want) != 0) {
    fprintf(stderr, "export %s: stem '%s', expected '%s'\n", names[i], got ? got : "(null)", want);
    exit(1);
  }
  free(got);
}

int main(void)
{
  const char *one[] = { "debian12.raw" };
  expect(one, 1, 0, "debian12");
  const char *devices[] = { "sda", "sdb" };
  expect(devices, 2, 0, "sda");
  expect(devices, 2, 1, "sdb");
  const char *kinds[] = { "a.img", "b.qcow2", "c.VMDK", "d.tar", "e.1", "" };
  expect(kinds, 6, 0, "a");
  expect(kinds, 6, 1, "b");
  expect(kinds, 6, 2, "c");
  expect(kinds, 6, 3, "d.tar");          /* not a disk image's extension */
  expect(kinds, 6, 4, "e.1");
  expect(kinds, 6, 5, "disk");           /* the default export */
  const char *clash[] = { "disk.raw", "disk.img", "other.raw" };
  expect(clash, 3, 0, "disk.raw");       /* both would be "disk": kept */
  expect(clash, 3, 1, "disk.img");
  expect(clash, 3, 2, "other");
  const char *bare[] = { "disk", "disk.raw" };
  expect(bare, 2, 0, "disk");
  expect(bare, 2, 1, "disk.raw");
  const char *dotfile[] = { ".img", "x/y.raw" };
  expect(dotfile, 2, 0, ".img");         /* nothing left without it */
  expect(dotfile, 2, 1, "x_y");
  printf("ok\n");
  return 0;
}
