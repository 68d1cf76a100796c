/* Integer division by zero: SIGFPE (integer divide by zero). */
#include <stdio.h>

int divide(int a, volatile int b) {
  return a / b;
}

int main(void) {
  printf("%d\n", divide(10, 0));
  return 0;
}
