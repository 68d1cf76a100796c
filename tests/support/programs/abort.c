/* Plain abort(): SIGABRT without a glibc message. */
#include <stdlib.h>

void give_up(void) {
  abort();
}

int main(void) {
  give_up();
  return 0;
}
