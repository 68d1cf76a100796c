/* Allocates argv[1] MiB (default 1024), touches one byte every argv[2] bytes (default 4096;
 * 0 touches nothing, leaving a sparse core), then aborts: a large core for benchmarks.
 * With argv[3] "mixed" it fills the memory as a real heap looks instead: a quarter of the
 * pages untouched (zeros), a quarter of repeated records, a quarter of text from a small
 * alphabet, a quarter of pseudo-random pointers and counters (hard to compress). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 1024;
  size_t step = argc > 2 ? strtoul(argv[2], 0, 10) : 4096;
  int mixed = argc > 3 && strcmp(argv[3], "mixed") == 0;
  volatile char *block = malloc(mib << 20);
  if (!block) return 1;
  if (mixed) {
    uint64_t x = 88172645463325252ull;
    for (size_t page = 0; page < (mib << 20) / 4096; page++) {
      volatile char *p = block + page * 4096;
      switch (page % 4) {
      case 0:
        break;
      case 1:
        for (size_t i = 0; i < 4096; i++) p[i] = "record:0042;state=ok;"[i % 21];
        break;
      case 2:
        for (size_t i = 0; i < 4096; i++) {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          p[i] = "etaoin shrdlu"[x % 13];
        }
        break;
      case 3:
        for (size_t i = 0; i < 4096; i += 8) {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          uint64_t v = (i % 16 == 0) ? (0x7f0000000000ull | (x & 0xffffff8ull)) : (x & 0xffff);
          memcpy((char *)p + i, &v, 8);
        }
        break;
      }
    }
  } else if (step > 0) {
    for (size_t i = 0; i < (mib << 20); i += step) block[i] = (char)(i >> 12);
  }
  abort();
}
