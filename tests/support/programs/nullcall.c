/* A call through a NULL function pointer: pc is 0, the caller is where the bug is. */
#include <stddef.h>

typedef int (*handler_fn)(int);

struct ops { handler_fn on_event; };

int dispatch(struct ops *ops, int event) {
  return ops->on_event(event);
}

int main(void) {
  struct ops ops = { NULL };
  return dispatch(&ops, 7);
}
