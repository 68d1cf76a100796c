/* A double free: glibc detects it, prints a message and aborts from inside free(). */
#include <stdlib.h>
#include <string.h>

void release(char *p) {
  free(p);
}

void release_twice(char *p) {
  release(p);
  release(p);
}

int main(void) {
  char *p = malloc(32);
  strcpy(p, "row");
  release_twice(p);
  return 0;
}
