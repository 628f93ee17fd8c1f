/* Unit test for p2v-live's settings (p2v-live/settings.c, settings-ui.c):
 * kernel command lines parse into the right values, later text wins, bad
 * values give exactly one line naming the key, the console questions work
 * from a pipe.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live.h"
#include "log.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static char last_message[1024];
static int nmessages, nwarnings;

static void catch_message(enum p2v_log_level level, const char *message)
{
  snprintf(last_message, sizeof last_message, "%s", message);
  nmessages++;
  nwarnings += level == P2V_LOG_WARNING;
}

static int parse(struct live_settings *s, const char *text)
{
  nmessages = nwarnings = 0;
  last_message[0] = '\0';
  return live_settings_parse(s, text, strlen(text), "test");
}

/* text must fail with one error containing want. */
static void expect_bad(const char *text, const char *want)
{
  struct live_settings s;
  live_settings_init(&s);
  int r = parse(&s, text);
  if (r != -1 || nmessages != 1 || !strstr(last_message, want)) {
    fprintf(stderr, "'%s': r=%d, %d messages, last '%s', wanted '%s'\n", text, r, nmessages,
            last_message, want);
    exit(1);
  }
  live_settings_clear(&s);
}

static char *dump(const struct live_settings *s)
{
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  CHECK(f);
  live_settings_dump(s, f);
  fclose(f);
  return text;
}

static void test_full_cmdline(void)
{
  struct live_settings s;
  live_settings_init(&s);
  CHECK(parse(&s, "BOOT_IMAGE=/live/vmlinuz root=/dev/ram0 console=ttyS0 quiet "
                  "p2v.mode=dial p2v.server=10.0.2.2 p2v.port=10810 p2v.connections=2 "
                  "p2v.tls=require p2v.tls_psk=convert:00112233aabbccdd "
                  "p2v.disks=sda,/dev/nvme0n1 p2v.auto=1 p2v.net=static "
                  "p2v.ip=192.0.2.7/24 p2v.gateway=192.0.2.1 p2v.dns=192.0.2.53 "
                  "p2v.interface=eth1 p2v.after=wait\n") == 0);
  CHECK(nmessages == 0);
  CHECK(s.mode == LIVE_MODE_DIAL);
  CHECK(!strcmp(s.server, "10.0.2.2"));
  CHECK(s.port == 10810 && s.connections == 2);
  CHECK(s.tls == LIVE_TLS_REQUIRE && !strcmp(s.tls_psk, "convert:00112233aabbccdd"));
  CHECK(s.ndisks == 2 && !strcmp(s.disks[0], "sda") && !strcmp(s.disks[1], "nvme0n1"));
  CHECK(s.unattended && s.net == LIVE_NET_STATIC && !strcmp(s.ip, "192.0.2.7/24"));
  CHECK(!strcmp(s.gateway, "192.0.2.1") && !strcmp(s.dns, "192.0.2.53"));
  CHECK(!strcmp(s.interface, "eth1") && live_settings_after(&s) == LIVE_AFTER_WAIT);
  CHECK(live_settings_check(&s) == 0 && live_settings_complete(&s));
  char *text = dump(&s);
  CHECK(strstr(text, "p2v.mode=dial\np2v.server=10.0.2.2\np2v.port=10810\n"));
  CHECK(strstr(text, "p2v.tls_psk=convert:(hidden)\n"));   /* the key is never shown */
  CHECK(!strstr(text, "00112233"));
  CHECK(strstr(text, "p2v.tls_psk=convert:(hidden)\np2v.insecure=0\n"));
  CHECK(strstr(text, "p2v.disks=sda,nvme0n1\n"));
  CHECK(strstr(text, "p2v.after=wait\n"));
  free(text);

  /* fw_cfg after the command line: later values win, others stay. */
  CHECK(parse(&s, "p2v.port=10900 p2v.disks=all p2v.after=poweroff") == 0);
  CHECK(s.port == 10900 && s.ndisks == 0 && s.mode == LIVE_MODE_DIAL);
  CHECK(live_settings_after(&s) == LIVE_AFTER_POWEROFF);
  live_settings_clear(&s);
}

static void test_defaults_and_flags(void)
{
  struct live_settings s;
  live_settings_init(&s);
  CHECK(parse(&s, "") == 0 && !live_settings_complete(&s));
  char *text = dump(&s);
  CHECK(!strcmp(text, "p2v.mode=\np2v.server=\np2v.port=10809\np2v.connections=4\n"
                "p2v.tls=off\np2v.tls_psk=\np2v.insecure=0\np2v.disks=all\np2v.auto=0\np2v.net=dhcp\n"
                "p2v.ip=\np2v.gateway=\np2v.dns=\np2v.interface=\np2v.after=wait\n"));
  free(text);
  /* Flags without a value; quotes group as the kernel's parser does. */
  CHECK(parse(&s, "p2v.auto p2v.dump_settings \"p2v.server=conv.example\"") == 0);
  CHECK(s.unattended && s.dump && !strcmp(s.server, "conv.example"));
  CHECK(live_settings_complete(&s));
  CHECK(live_settings_after(&s) == LIVE_AFTER_POWEROFF);   /* auto: power off */
  text = dump(&s);
  CHECK(strstr(text, "p2v.mode=serve\n"));                 /* auto: serve */
  free(text);
  /* p2v.insecure alone allows clear text; =0 takes it back. */
  CHECK(!s.insecure && parse(&s, "p2v.insecure") == 0 && s.insecure);
  text = dump(&s);
  CHECK(strstr(text, "\np2v.insecure=1\n"));
  free(text);
  CHECK(parse(&s, "p2v.insecure=0") == 0 && !s.insecure);
  CHECK(parse(&s, "p2v.insecure=yes") == 0 && s.insecure);
  /* An unknown key is a warning that names it, not an error. */
  CHECK(parse(&s, "p2v.colour=blue p2v.port=2000") == 0);
  CHECK(nmessages == 1 && nwarnings == 1 && strstr(last_message, "p2v.colour"));
  CHECK(s.port == 2000);
  /* Other words, even ones starting like ours, are ignored. */
  CHECK(parse(&s, "p2vx=1 P2V.mode=shell p2v=1") == 0 && nmessages == 0);
  live_settings_clear(&s);
}

static void test_bad_values(void)
{
  expect_bad("p2v.mode=copy", "p2v.mode=copy: expected serve, dial or shell");
  expect_bad("p2v.port=0", "p2v.port=0: expected a TCP port from 1 to 65535");
  expect_bad("p2v.port=65536", "p2v.port");
  expect_bad("p2v.port=-1", "p2v.port");
  expect_bad("p2v.port=12ab", "p2v.port");
  expect_bad("p2v.connections=17", "p2v.connections=17: expected a number of connections from 1 to 16");
  expect_bad("p2v.tls=maybe", "p2v.tls=maybe: expected off, on or require");
  expect_bad("p2v.insecure=maybe", "p2v.insecure=maybe: expected 1 or 0");
  expect_bad("p2v.tls_psk=convert", "p2v.tls_psk");
  expect_bad("p2v.tls_psk=convert:abc", "p2v.tls_psk");      /* odd digits */
  expect_bad("p2v.tls_psk=:0011", "p2v.tls_psk");
  expect_bad("p2v.tls_psk=us/er:0011", "p2v.tls_psk");
  expect_bad("p2v.server=", "p2v.server=: expected a host name");
  expect_bad("p2v.server=a;b", "p2v.server");
  expect_bad("p2v.disks=sda,,sdb", "p2v.disks");
  expect_bad("p2v.disks=sda,sda", "names a disk twice");
  expect_bad("p2v.disks=../etc", "p2v.disks");
  expect_bad("p2v.auto=2", "p2v.auto=2: expected 1 or 0");
  expect_bad("p2v.net=wifi", "p2v.net=wifi: expected dhcp, static or none");
  expect_bad("p2v.ip=192.0.2.7", "p2v.ip=192.0.2.7: expected ADDRESS/PREFIX");
  expect_bad("p2v.ip=192.0.2.7/33", "p2v.ip");
  expect_bad("p2v.gateway=gw", "p2v.gateway=gw: expected an IP address");
  expect_bad("p2v.interface=a-very-long-interface", "p2v.interface");
  expect_bad("p2v.after=reboot", "p2v.after=reboot: expected poweroff or wait");
  expect_bad("p2v.server", "p2v.server needs a value");
  expect_bad("p2v.mode=\x01", "control character");
  /* The secret is not echoed even when it is wrong. */
  expect_bad("p2v.tls_psk=user:secretkey", "p2v.tls_psk");
  CHECK(!strstr(last_message, "secret"));
  /* The first bad value stops the parse. */
  struct live_settings s;
  live_settings_init(&s);
  CHECK(parse(&s, "p2v.port=1 p2v.port=x p2v.port=3") == -1 && s.port == 1);
  live_settings_clear(&s);
  /* Caps: a huge word, a huge text. */
  char *big = malloc(LIVE_MAX_SETTINGS_BYTES + 2);
  CHECK(big);
  memset(big, 'a', LIVE_MAX_SETTINGS_BYTES + 1);
  memcpy(big, "p2v.server=", 11);
  big[LIVE_MAX_SETTINGS_BYTES + 1] = '\0';
  live_settings_init(&s);
  CHECK(parse(&s, big) == -1 && nmessages == 1);
  big[8000] = '\0';
  CHECK(parse(&s, big) == -1 && nmessages == 1 && strstr(last_message, "longer than"));
  free(big);
  live_settings_clear(&s);
}

static void test_check(void)
{
  struct live_settings s;
  live_settings_init(&s);
  CHECK(parse(&s, "p2v.mode=dial") == 0);
  nmessages = 0;
  CHECK(live_settings_check(&s) == -1 && nmessages == 1 && strstr(last_message, "p2v.server"));
  live_settings_clear(&s);
  CHECK(parse(&s, "p2v.net=static") == 0);
  CHECK(live_settings_check(&s) == -1 && strstr(last_message, "p2v.ip"));
  live_settings_clear(&s);
  CHECK(parse(&s, "p2v.tls=on") == 0);
  CHECK(live_settings_check(&s) == -1 && strstr(last_message, "p2v.tls_psk"));
  live_settings_clear(&s);
}

/* The questions, answered through a pipe-like stream. */
static void test_ask(void)
{
  struct live_settings s;
  live_settings_init(&s);
  char *out = NULL;
  size_t outlen = 0;
  FILE *o = open_memstream(&out, &outlen);
  /* dial; a bad host first, then a good one; default connections, port;
   * TLS on (not required) with a key, clear text allowed; static network
   * with address, no gateway, a DNS. */
  const char answers[] = "dial\nbad;host\n10.0.2.2\n\n\non\nconvert:0a0b\n1\nstatic\n"
                         "192.0.2.9/24\n\n192.0.2.53\n";
  FILE *in = fmemopen((void *)answers, sizeof answers - 1, "r");
  CHECK(in && o);
  nmessages = 0;
  CHECK(live_settings_ask(&s, in, o) == 0);
  fclose(in);
  fclose(o);
  CHECK(s.mode == LIVE_MODE_DIAL && !strcmp(s.server, "10.0.2.2") && s.port == 10809);
  CHECK(s.tls == LIVE_TLS_ON && !strcmp(s.tls_psk, "convert:0a0b") && s.insecure);
  CHECK(s.net == LIVE_NET_STATIC && !strcmp(s.ip, "192.0.2.9/24") && !s.gateway);
  CHECK(!strcmp(s.dns, "192.0.2.53"));
  CHECK(nmessages == 1 && strstr(last_message, "p2v.server=bad;host"));
  CHECK(strstr(out, "Port [10809]: "));
  CHECK(strstr(out, "(a trusted network only)? 1 or 0 [0]: "));
  free(out);
  live_settings_clear(&s);

  /* TLS required: no question about clear text. */
  o = open_memstream(&out, &outlen);
  const char required[] = "serve\n\nrequire\nconvert:0a0b\nnone\n";
  in = fmemopen((void *)required, sizeof required - 1, "r");
  CHECK(live_settings_ask(&s, in, o) == 0);
  fclose(in);
  fclose(o);
  CHECK(s.tls == LIVE_TLS_REQUIRE && !s.insecure && s.net == LIVE_NET_NONE);
  CHECK(!strstr(out, "clear"));
  free(out);
  live_settings_clear(&s);

  /* Input that ends early takes the defaults where there are some... */
  o = open_memstream(&out, &outlen);
  in = fmemopen((void *)"\n", 1, "r");
  CHECK(live_settings_ask(&s, in, o) == 0 && s.mode == LIVE_MODE_SERVE && s.net == LIVE_NET_DHCP);
  fclose(in);
  fclose(o);
  free(out);
  live_settings_clear(&s);
  /* ...and fails where an answer is needed. */
  o = open_memstream(&out, &outlen);
  in = fmemopen((void *)"dial\n", 5, "r");
  nmessages = 0;
  CHECK(live_settings_ask(&s, in, o) == -1 && nmessages == 1 && strstr(last_message, "p2v.server"));
  fclose(in);
  fclose(o);
  free(out);
  live_settings_clear(&s);
}

int main(void)
{
  p2v_log_init("test-live-settings");
  p2v_log_set_sink(catch_message);
  test_full_cmdline();
  test_defaults_and_flags();
  test_bad_values();
  test_check();
  test_ask();
  printf("PASS: live settings\n");
  return 0;
}
