/* libFuzzer target: the IDX reader (MNIST / Fashion-MNIST, plain or gzip).  Built and run by
 * tools/run-fuzz.  Input: a little-endian u16 n, then n bytes of the labels file, then the
 * images file; both opened through memfds.  The reader must fail cleanly (no dataset) or
 * return a dataset whose pixels and labels are all inside its buffers and whose header sizes
 * the file really held (issue 20: a 70-byte header declaring 2^64 bytes). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lbbt/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd_with(const uint8_t *b, size_t n, char *path, size_t cap) {
  int fd = memfd_create("fuzz.idx", MFD_CLOEXEC);
  if (fd < 0) __builtin_trap();
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w <= 0) __builtin_trap();
    b += w;
    n -= (size_t)w;
  }
  snprintf(path, cap, "/proc/self/fd/%d", fd);
  return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t nl = (size_t)data[0] | (size_t)data[1] << 8;
  if (nl > size - 2) nl = size - 2;
  char lp[64], ip[64];
  int lfd = memfd_with(data + 2, nl, lp, sizeof lp);
  int ifd = memfd_with(data + 2 + nl, size - 2 - nl, ip, sizeof ip);
  lbbt_dataset *ds = NULL;
  lbbt_status s = lbbt_dataset_load_idx(ip, lp, (size & 1) ? "fashion-mnist" : NULL, &ds);
  if (s != LBBT_OK) {
    if (ds) __builtin_trap();
    if (s != LBBT_E_INPUT && s != LBBT_E_NOMEM) __builtin_trap();
  } else {
    int64_t per = (int64_t)ds->channels * ds->height * ds->width;
    /* a plain file holds its pixels; gzip at most ~1032x its size */
    if (per <= 0 || ds->n < 1 || (uint64_t)(ds->n * per) > 1100 * (uint64_t)size) __builtin_trap();
    unsigned sum = 0;
    for (int64_t i = 0; i < ds->n * per; i++) sum += ds->pixels[i];
    for (int64_t i = 0; i < ds->n; i++)
      if (ds->labels[i] < 0 || ds->labels[i] >= ds->num_classes) __builtin_trap();
    (void)sum;
    lbbt_dataset_free(ds);
  }
  close(lfd);
  close(ifd);
  return 0;
}
