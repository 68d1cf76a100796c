/* Failed assert: SIGABRT with the assertion text recorded by glibc. */
#include <assert.h>

int check_positive(int value) {
  assert(value > 0 && "value must be positive");
  return value;
}

int main(void) {
  return check_positive(-3);
}
