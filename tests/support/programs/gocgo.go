// A null dereference in C code called through cgo: the Go runtime aborts with SIGABRT.
package main

/*
#include <stddef.h>
static int segcore_search(int *rows, int i) {
	return rows[i];
}
*/
import "C"

import "fmt"

func search() int {
	return int(C.segcore_search(nil, 3))
}

func main() {
	fmt.Println(search())
}
