/* Run a libFuzzer harness over files without libFuzzer: each argument is
 * a file, or a folder whose files are all fed in turn.  Lets the ordinary
 * build replay seeds and past crashes as a regression test.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    perror(path);
    return -1;
  }
  size_t size = 0, cap = 4096;
  uint8_t *data = malloc(cap);
  size_t n;
  while (data && (n = fread(data + size, 1, cap - size, fp)) > 0) {
    size += n;
    if (size == cap) {
      uint8_t *grown = realloc(data, cap *= 2);
      if (!grown)
        free(data);
      data = grown;
    }
  }
  fclose(fp);
  if (!data) {
    fprintf(stderr, "%s: out of memory\n", path);
    return -1;
  }
  LLVMFuzzerTestOneInput(data, size);
  free(data);
  return 0;
}

int main(int argc, char **argv)
{
  int files = 0, status = 0;
  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize(&argc, &argv);
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) == -1) {
      perror(argv[i]);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      status |= run_file(argv[i]);
      files++;
      continue;
    }
    DIR *dir = opendir(argv[i]);
    if (!dir) {
      perror(argv[i]);
      return 1;
    }
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
      if (d->d_name[0] == '.')
        continue;
      size_t len = strlen(argv[i]) + strlen(d->d_name) + 2;
      char *path = malloc(len);
      if (!path)
        return 1;
      snprintf(path, len, "%s/%s", argv[i], d->d_name);
      status |= run_file(path);
      files++;
      free(path);
    }
    closedir(dir);
  }
  printf("%d inputs run\n", files);
  return status ? 1 : 0;
}
