/* p2v-drivers' commands (main.c dispatches); the catalogs they read are
 * in common/drivers/.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_DRIVERS_COMMANDS_H
#define P2V_DRIVERS_COMMANDS_H

/* ---- Linux (linux-*.c; the catalogs are in common/drivers/linux/) ---- */
int linux_check_command(int argc, char **argv);
int linux_add_command(int argc, char **argv);
int linux_list_command(int argc, char **argv);

/* ---- Windows (windows-commands.c; INF catalogs in common/drivers/windows/) ---- */
int windows_list_command(int argc, char **argv);
int windows_check_command(int argc, char **argv);

#endif
