/* The alias matcher: kmod's fnmatch semantics on pci modalias strings,
 * and unknown subsystem ids matching any subsystem pattern.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linux.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)

int main(void)
{
  struct pci_device nic = { .vendor = 0x8086, .device = 0x10d3, .class_code = 0x020000 };
  struct pci_device raid = { .vendor = 0x1000, .device = 0x005b, .subvendor = 0x1028,
                             .subdevice = 0x1f2d, .class_code = 0x010400, .has_subsystem = true };
  struct pci_device sata = { .vendor = 0x8086, .device = 0x2922, .class_code = 0x010601 };
  char buf[96];

  lx_pci_modalias(&raid, buf, sizeof buf);
  CHECK(!strcmp(buf, "pci:v00001000d0000005Bsv00001028sd00001F2Dbc01sc04i00"));

  CHECK(lx_alias_match("pci:v00008086d000010D3sv*sd*bc*sc*i*", &nic));
  CHECK(!lx_alias_match("pci:v00008086d000010D4sv*sd*bc*sc*i*", &nic));
  CHECK(lx_alias_match("pci:v*d*sv*sd*bc01sc06i01*", &sata));
  CHECK(!lx_alias_match("pci:v*d*sv*sd*bc01sc06i01*", &nic));
  CHECK(lx_alias_match("pci:v0000100?d0000005[AB]sv*sd*bc*sc*i*", &raid));
  /* Known subsystem: must match exactly. */
  CHECK(lx_alias_match("pci:v00001000d0000005Bsv00001028sd00001F2Dbc*sc*i*", &raid));
  CHECK(!lx_alias_match("pci:v00001000d0000005Bsv00001028sd00001F2Ebc*sc*i*", &raid));
  /* Unknown subsystem (lspci -nn): any subsystem pattern matches. */
  CHECK(lx_alias_match("pci:v00008086d000010D3sv00001028sd00001F2Ebc*sc*i*", &nic));
  /* Not pci, and case matters as in kmod. */
  CHECK(!lx_alias_match("usb:v8086p*", &nic));
  CHECK(!lx_alias_match("pci:v00008086d000010d3sv*sd*bc*sc*i*", &nic));
  CHECK(lx_alias_specificity("pci:v00008086d000010D3sv*sd*bc*sc*i*") >
        lx_alias_specificity("pci:v*d*sv*sd*bc02sc00i*"));

  const char *pat, *mod;
  size_t plen, mlen;
  const char line[] = "alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e";
  CHECK(lx_alias_parse_line(line, strlen(line), &pat, &plen, &mod, &mlen));
  CHECK(plen == strlen("pci:v00008086d000010D3sv*sd*bc*sc*i*") && mlen == 6 && !memcmp(mod, "e1000e", 6));
  CHECK(!lx_alias_parse_line("alias onlyone", 14, &pat, &plen, &mod, &mlen));
  CHECK(!lx_alias_parse_line("# comment", 9, &pat, &plen, &mod, &mlen));

  char *name = lx_module_name("lib/modules/6.1/kernel/x/snd-hda-intel.ko.xz");
  CHECK(name && !strcmp(name, "snd_hda_intel"));
  free(name);
  CHECK(lx_module_name("lib/modules/6.1/modules.dep") == NULL);

  if (failures)
    return 1;
  puts("PASS: linux alias matcher");
  return 0;
}
