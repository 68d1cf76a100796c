/* Allocates argv[1] MiB (default 1024), touches one byte every argv[2] bytes (default 4096;
 * 0 touches nothing, leaving a sparse core), then aborts: a large core for benchmarks. */
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 1024;
  size_t step = argc > 2 ? strtoul(argv[2], 0, 10) : 4096;
  volatile char *block = malloc(mib << 20);
  if (!block) return 1;
  if (step > 0)
    for (size_t i = 0; i < (mib << 20); i += step) block[i] = (char)(i >> 12);
  abort();
}
