/* A healthy program that waits for signals: killed with kill -ABRT by another process, it
 * leaves the core of a process that did not crash. */
#include <unistd.h>

void wait_for_work(void) {
  for (;;) pause();
}

int main(void) {
  wait_for_work();
  return 0;
}
