/* A worker thread faults. Tests build it stripped (no symbols), so only module+offset names
 * the frame. argv[1] picks one of two different bugs: "a" (default) writes through a null
 * pointer, "b" reads through one. */
#include <pthread.h>
#include <string.h>

struct row { long id; long value; };

__attribute__((noinline)) void fill_row(struct row *r) {
  r->value = 42;
}

__attribute__((noinline)) long read_row(struct row *r) {
  return r->value;
}

static int which;

static void *worker(void *arg) {
  struct row *r = arg;
  if (which == 'b') return (void *)read_row(r);
  fill_row(r);
  return 0;
}

int main(int argc, char **argv) {
  pthread_t t;
  which = argc > 1 ? argv[1][0] : 'a';
  pthread_create(&t, 0, worker, 0);
  pthread_join(t, 0);
  return 0;
}
