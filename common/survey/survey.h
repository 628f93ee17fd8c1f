/* The survey of a source machine: what the converter needs to know before it
 * copies anything (OS, firmware, CPUs, memory, disks and how full they are,
 * NICs, PCI devices).  Collected by the agent and the live image, sent as
 * JSON (docs/survey.md), read back by the converter from the network.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_SURVEY_H
#define P2V_SURVEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The major version of the JSON document.  Readers reject any other. */
#define P2V_SURVEY_SCHEMA_VERSION 1

/* "Not known" for every uint64_t field below; JSON null.  Known values never
 * exceed INT64_MAX, so the two cannot meet. */
#define P2V_SURVEY_UNKNOWN UINT64_MAX

/* Limits p2v_survey_from_json enforces on untrusted documents. */
#define P2V_SURVEY_MAX_JSON_BYTES  (4u << 20)
#define P2V_SURVEY_MAX_ITEMS       4096    /* entries in any one array */
#define P2V_SURVEY_MAX_STRING      4096    /* bytes in any one string */
#define P2V_SURVEY_MAX_VALUES      (1 << 18)  /* '{', '[' and ',' in all */

/* Every char * below is NULL when not known (JSON null).  Strings hold UTF-8
 * without control characters: the collector replaces them with '?'. */

enum p2v_tristate { P2V_UNKNOWN = -1, P2V_NO = 0, P2V_YES = 1 };
enum p2v_firmware { P2V_FIRMWARE_UNKNOWN, P2V_FIRMWARE_BIOS, P2V_FIRMWARE_UEFI };
enum p2v_os_family { P2V_OS_UNKNOWN, P2V_OS_LINUX, P2V_OS_WINDOWS };

struct p2v_survey_os {
  enum p2v_os_family family;
  char *id;                    /* "debian", "windows"; os-release ID */
  char *name;                  /* "Debian GNU/Linux", "Windows Server 2012 R2" */
  char *version;               /* "12", "6.3.9600" */
  char *kernel;                /* "6.1.0-18-amd64" */
  char *arch;                  /* "x86_64" */
};

struct p2v_survey_cpus {
  char *model;
  uint64_t sockets, cores, threads;   /* cores and threads: totals, all sockets */
};

struct p2v_survey_partition {
  uint64_t number;             /* as the partition table numbers it */
  uint64_t offset, length;     /* bytes */
  char *filesystem;            /* "ext4", "ntfs", "linux-swap" */
  char *label;
  uint64_t used_bytes;         /* P2V_SURVEY_UNKNOWN: the filesystem was not read */
};

struct p2v_survey_disk {
  char *name;                  /* "sda", or a file's base name */
  char *path;                  /* "/dev/sda", or the file as given */
  char *model, *vendor, *serial;
  char *bus;                   /* "sata", "scsi", "nvme", "virtio", "usb", "file" */
  uint64_t size_bytes;         /* always known */
  uint64_t logical_sector_size, physical_sector_size;
  enum p2v_tristate rotational, removable;
  char *table_type;            /* "gpt", "msdos"; NULL: none or unreadable */
  bool partitions_known;       /* false: the disk could not be read (JSON null) */
  struct p2v_survey_partition *partitions;
  size_t npartitions;
  /* Sum of the partitions' used bytes, an unknown one counting as its whole
   * length; without partitions, what the filesystem reader found in use on
   * the whole disk (all of it when unknown).  Always known, never more
   * than size_bytes. */
  uint64_t used_bytes;
};

struct p2v_survey_address {
  bool ipv6;
  char *address;               /* "192.0.2.7", "fe80::1" */
  uint64_t prefix;             /* 0..32 or 0..128 */
};

/* PCI identity of a device, 4 lower-case hex digits each, e.g. "8086". */
struct p2v_survey_pci_ids {
  char *vendor_id, *device_id;
  char *subsystem_vendor_id, *subsystem_device_id;
};

struct p2v_survey_nic {
  char *name;                  /* "eth0", "Ethernet 2" */
  char *mac;                   /* "52:54:00:12:34:56" */
  char *driver;                /* "e1000e" */
  bool is_virtual;             /* no hardware behind it (bridge, tunnel, ifb) */
  char *pci_slot;              /* "0000:00:03.0"; NULL if not on PCI */
  struct p2v_survey_pci_ids pci;
  enum p2v_tristate link_up;
  uint64_t speed_mbps, mtu;
  struct p2v_survey_address *addresses;
  size_t naddresses;
};

struct p2v_survey_pci_device {
  char *slot;                  /* "0000:00:1f.2"; never NULL */
  char *class_code;            /* "010601": class, subclass, prog-if; never NULL */
  char *class_name;            /* "SATA controller" */
  struct p2v_survey_pci_ids ids;   /* vendor_id and device_id never NULL */
  char *vendor_name, *device_name; /* from pci.ids when the machine has it */
  char *driver;                /* bound driver, NULL if none */
};

/* Something the live image found that stops or endangers the migration
 * (optional member "problems"; absent in older documents). */
struct p2v_survey_problem {
  char *code;                  /* "no-disk", "no-network-link", "missing-driver"; never NULL */
  char *message;               /* one line for a person; never NULL */
};

/* A storage or network controller no driver claimed (optional member
 * "missing_drivers"), with what the kernel catalog says it needs. */
struct p2v_survey_missing_driver {
  char *slot;                  /* "0000:00:03.0"; never NULL */
  char *class_code;            /* "020000"; never NULL */
  char *vendor_id, *device_id; /* "8086", "100e"; never NULL */
  char *module;                /* "e1000"; NULL: no module known */
  enum p2v_tristate module_in_image;   /* unknown when module is NULL */
  char **missing_firmware;     /* firmware files the module asks for that are absent */
  size_t nmissing_firmware;
};

struct p2v_survey {
  uint64_t schema_version;     /* P2V_SURVEY_SCHEMA_VERSION */
  char *hostname;
  struct p2v_survey_os os;
  enum p2v_firmware firmware;
  enum p2v_tristate secure_boot;
  struct p2v_survey_cpus cpus;
  uint64_t memory_bytes;
  struct p2v_survey_disk *disks;
  size_t ndisks;
  struct p2v_survey_nic *nics;
  size_t nnics;
  struct p2v_survey_pci_device *pci_devices;
  size_t npci_devices;
  /* Optional: written only when not empty (the live image fills them). */
  struct p2v_survey_problem *problems;
  size_t nproblems;
  struct p2v_survey_missing_driver *missing_drivers;
  size_t nmissing_drivers;
};

/* Survey this machine.  disk_paths: disks or image files to describe; with
 * ndisks 0, every real disk in the system (not loop, ram, zram, dm, md,
 * nbd, optical or floppy devices).  Missing facts are left unknown, with a
 * warning for important ones; returns NULL only when out of memory. */
struct p2v_survey *p2v_survey_collect(const char *const *disk_paths, size_t ndisks);
/* The same, describing disks the caller has already opened (and so
 * probed) with p2v_disk_open: their partitions and usage come from that
 * probe, so no disk is read twice and its warnings are not repeated. */
struct p2v_disk;
struct p2v_survey *p2v_survey_collect_disks(struct p2v_disk *const *disks, size_t ndisks);

/* The JSON document (docs/survey.md); the caller frees it.  NULL with an
 * error reported only when out of memory. */
char *p2v_survey_to_json(const struct p2v_survey *survey, bool pretty);

/* Parse and validate an untrusted JSON document of len bytes (no NUL
 * terminator needed).  NULL with one error line naming the bad field. */
struct p2v_survey *p2v_survey_from_json(const char *text, size_t len);

/* A readable summary for a person. */
void p2v_survey_print_text(const struct p2v_survey *survey, FILE *fp);

void p2v_survey_free(struct p2v_survey *survey);

/* Append a problem (copies of code and message); -1 when out of memory. */
int p2v_survey_add_problem(struct p2v_survey *survey, const char *code, const char *message);

/* Names as the JSON spells them; NULL for unknown. */
const char *p2v_survey_firmware_name(enum p2v_firmware firmware);
const char *p2v_survey_os_family_name(enum p2v_os_family family);

#endif
