/* Calls into its own shared library (libplugin.so, beside it), which faults. */
struct segment;
long plugin_search(struct segment *s, long i);

int main(void) {
  return (int)plugin_search(0, 3);
}
