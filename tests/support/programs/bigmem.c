/* Touches SIZE_MIB MiB of memory (argv[1], default 1024), then aborts: a large core. */
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 1024;
  char *block = malloc(mib << 20);
  if (!block) return 1;
  for (size_t i = 0; i < (mib << 20); i += 4096) block[i] = (char)i;
  abort();
}
