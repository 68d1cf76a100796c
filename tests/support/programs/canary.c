/*
 * A crash whose memory, arguments and environment hold a secret: argv[1] and $AGENT_CANARY
 * are copied to the heap and the stack and passed down as arguments (gdb prints them in the
 * frames), then a null pointer is read: SIGSEGV in handle().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct request {
  const char *token;
  int *result;
};

int handle(const char *token, struct request *req) {
  char local[256];
  strncpy(local, token, sizeof local - 1);
  local[sizeof local - 1] = 0;
  return *req->result + (int)strlen(local);
}

int main(int argc, char **argv) {
  const char *env = getenv("AGENT_CANARY");
  char *heap = malloc(4096);
  snprintf(heap, 4096, "%s|%s", argc > 1 ? argv[1] : "", env ? env : "");
  struct request req = { heap, NULL };
  printf("%d\n", handle(heap, &req));
  return 0;
}
