/* Null pointer dereference: SIGSEGV (address not mapped) at 0x0 in deref(). */
#include <stdio.h>

int deref(volatile int *p) {
  return *p;
}

int main(void) {
  printf("%d\n", deref((int *)0));
  return 0;
}
