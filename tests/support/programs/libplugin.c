/* The shared library of `plugin`: its search faults, so the crash lies in a library that is
 * the program's own, not the executable's code and not the C library. */
struct segment {
  long rows;
  long *data;
};

#ifdef PLUGIN_V2
long plugin_rows(struct segment *s) {
  return s ? s->rows : 0;
}
#endif

long plugin_search(struct segment *s, long i) {
  return s->data[i];
}
