/* The network: the configuration keeps working on the VM's new NIC.
 *
 * The configuration (ifupdown, netplan, NetworkManager keyfiles,
 * systemd-networkd, ifcfg files) names interfaces; on the VM the NIC
 * would get another name (ens3 instead of enp2s0).  Rather than editing
 * every format, the converter pins the old name: a systemd .link file
 * per NIC gives the interface with the source's MAC (kept by default) its
 * old name, whatever PCI slot the hypervisor gives it.  A single
 * configured interface on a VM with a single NIC is pinned to that NIC's
 * MAC (the one the VM's description carries, chosen by run when the
 * survey names no NIC); without any MAC, it is matched by the target's
 * NIC driver instead.  Systems without systemd get the same as a
 * udev rule.  Stale persistent-net rules (old MAC to name) are removed.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "guest/guest-internal.h"
#include "log.h"
#include "survey.h"

static int scan_files(struct p2v_guest *gg, struct gt_names *ns, const char *pattern,
                      const char *key)
{
  char **files = guestfs_glob_expand(gg->g, pattern);
  if (!files) {
    p2v_guest_error(gg->g, "cannot list the guest's network configuration");
    return -1;
  }
  int r = 0;
  for (size_t i = 0; files[i]; i++) {
    CLEANUP_FREE char *text = NULL;
    if (r == 0 && gl_read(gg, files[i], &text) == -1)
      r = -1;
    if (text) {
      if (key)
        gt_scan_key(ns, text, key);
      else
        gt_scan_netplan(ns, text);
    }
    free(files[i]);
  }
  free(files);
  return r;
}

static const char *survey_mac(const struct p2v_survey *s, const char *name)
{
  for (size_t i = 0; s && i < s->nnics; i++)
    if (s->nics[i].name && s->nics[i].mac && !s->nics[i].is_virtual &&
        strcmp(s->nics[i].name, name) == 0)
      return s->nics[i].mac;
  return NULL;
}

int gl_convert_network(struct p2v_guest *gg, const struct p2v_convert_options *o,
                       struct p2v_changes *changes)
{
  struct gt_names ns = { 0 };
  int r = -1;
  if (scan_files(gg, &ns, "/etc/network/interfaces", "iface ") == -1 ||
      scan_files(gg, &ns, "/etc/network/interfaces.d/*", "iface ") == -1 ||
      scan_files(gg, &ns, "/etc/netplan/*.yaml", NULL) == -1 ||
      scan_files(gg, &ns, "/etc/NetworkManager/system-connections/*", "interface-name=") == -1 ||
      scan_files(gg, &ns, "/etc/systemd/network/*.network", "Name=") == -1 ||
      scan_files(gg, &ns, "/etc/sysconfig/network-scripts/ifcfg-*", "DEVICE=") == -1 ||
      scan_files(gg, &ns, "/etc/sysconfig/network/ifcfg-*", "DEVICE=") == -1)
    goto out;
  /* NICs the survey saw that no file names (DHCP by NetworkManager). */
  for (size_t i = 0; o->survey && i < o->survey->nnics; i++) {
    const struct p2v_survey_nic *nic = &o->survey->nics[i];
    if (nic->name && nic->mac && !nic->is_virtual && nic->pci_slot)
      gt_names_add(&ns, nic->name, strlen(nic->name));
  }

  const char *driver = o->target == P2V_TARGET_KVM ? "virtio_net" : "vmxnet3";
  bool systemd = gl_exists(gg, "/lib/systemd/systemd-udevd") ||
                 gl_exists(gg, "/usr/lib/systemd/systemd-udevd");
  if (systemd && !gl_exists(gg, "/etc/systemd/network") &&
      guestfs_mkdir_p(gg->g, "/etc/systemd/network") == -1) {
    p2v_guest_error(gg->g, "cannot create /etc/systemd/network in the guest");
    goto out;
  }
  struct gl_buf rules = { 0 };
  for (size_t i = 0; i < ns.n; i++) {
    const char *name = ns.v[i];
    const char *mac = o->keep_mac ? survey_mac(o->survey, name) : NULL;
    if (!mac && ns.n == 1)
      mac = o->vm_mac;         /* one interface, one NIC: pin it by the MAC the VM gets */
    if (!mac && ns.n > 1) {
      p2v_warning("cannot tell which new NIC is %s (no MAC kept): its configuration may "
                  "need the new name after the first boot", name);
      continue;
    }
    CLEANUP_FREE char *match = NULL;
    if (asprintf(&match, mac ? "MACAddress=%s" : "Driver=%s", mac ? mac : driver) < 0) {
      match = NULL;
      goto out_rules;
    }
    if (systemd) {
      CLEANUP_FREE char *path = NULL, *text = NULL;
      if (asprintf(&path, "/etc/systemd/network/10-p2v-%s.link", name) < 0 ||
          asprintf(&text, "# p2v: the NIC keeps the name %s that the network configuration uses\n"
                   "[Match]\n%s\n\n[Link]\nName=%s\n", name, match, name) < 0)
        goto out_rules;
      if (gl_write(gg, path, text) == -1 ||
          p2v_changes_add(changes, "network", path, "the NIC with %s is named %s", match,
                          name) == -1)
        goto out_rules;
    } else if (gl_buf_printf(&rules, "SUBSYSTEM==\"net\", ACTION==\"add\", %s==\"%s\", NAME=\"%s\"\n",
                             mac ? "ATTR{address}" : "DRIVERS", mac ? mac : driver, name) == -1) {
      goto out_rules;
    }
  }
  if (rules.len > 0) {
    static const char path[] = "/etc/udev/rules.d/70-p2v-net.rules";
    struct gl_buf text = { 0 };
    int w = gl_buf_printf(&text, "# p2v: NICs keep the names the network configuration uses\n%s",
                          rules.s);
    if (w == 0)
      w = gl_write(gg, path, text.s);
    free(text.s);
    if (w == -1 || p2v_changes_add(changes, "network", path, "udev names the NICs %s",
                                   "as on the source") == -1)
      goto out_rules;
  }
  static const char *const stale[] = { "/etc/udev/rules.d/70-persistent-net.rules", NULL };
  for (size_t i = 0; stale[i]; i++) {
    if (!gl_exists(gg, stale[i]))
      continue;
    if (guestfs_rm_f(gg->g, stale[i]) == -1) {
      p2v_guest_error(gg->g, "cannot remove the guest's persistent-net rules");
      goto out_rules;
    }
    if (p2v_changes_add(changes, "network", stale[i],
                        "removed (names of the physical NICs)") == -1)
      goto out_rules;
  }
  if (ns.n == 0)
    p2v_info("the guest's network configuration names no NIC; nothing to pin");
  r = 0;
out_rules:
  free(rules.s);
out:
  gt_names_clear(&ns);
  return r;
}
