/* Four threads; a worker (not main) writes through a null pointer three calls deep. */
#include <pthread.h>
#include <unistd.h>

static void *idle_worker(void *arg) {
  (void)arg;
  for (;;) pause();
  return 0;
}

void write_value(volatile int *p) {
  *p = 42;
}

void store_result(volatile int *p) {
  write_value(p);
}

static void *faulting_worker(void *arg) {
  usleep(100000);
  store_result((int *)arg);
  return 0;
}

int main(void) {
  pthread_t t[3];
  pthread_create(&t[0], 0, idle_worker, 0);
  pthread_create(&t[1], 0, idle_worker, 0);
  pthread_create(&t[2], 0, faulting_worker, 0);
  pthread_join(t[2], 0);
  return 0;
}
