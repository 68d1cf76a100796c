/* A service that waits for a request on stdin (it prints "ready" first), then handles it in
 * its own library (libservice.so, beside it), which faults. Tests run it in a mount namespace
 * of its own, as a container's process: its files are at paths this host does not have. */
#include <stdio.h>

long handle_request(long *rows, long i);

int main(void) {
  char line[16];
  puts("ready");
  fflush(stdout);
  if (!fgets(line, sizeof line, stdin)) return 1;
  return (int)handle_request(0, 3);
}
