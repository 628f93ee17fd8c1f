/* Default sanitizer options, compiled into every program of a sanitizer
 * or fuzzing build (see common/CMakeLists.txt).
 *
 * Debian 12's libparted runs strchr past the end of a getdelim() buffer in
 * its GPT initialiser, before main, and ASan's strchr check aborts on it.
 * It is not our bug and nothing reaches it from our code, so that one
 * check is off; every other check stays on.
 * SPDX-License-Identifier: GPL-3.0-or-later */

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);

const char *__asan_default_options(void)
{
  return "intercept_strchr=0:detect_leaks=1:abort_on_error=1";
}

const char *__ubsan_default_options(void)
{
  return "print_stacktrace=1:halt_on_error=1";
}
