/* The library of `service`: reads the row it is asked for, through a null table. */
long handle_request(long *rows, long i) {
  long row = rows[i];
  return row + 1;
}
