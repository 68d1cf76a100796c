/* A crash 40 frames deep in a recursive function. */
#include <stdio.h>

int descend(int depth, volatile int *p) {
  if (depth == 0) return *p;
  return descend(depth - 1, p) + 1;
}

int main(void) {
  printf("%d\n", descend(40, (int *)0));
  return 0;
}
