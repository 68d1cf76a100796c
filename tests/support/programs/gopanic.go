// A Go panic with a string value three calls deep (GOTRACEBACK=crash aborts with SIGABRT).
package main

func check(n int) {
	if n > 2 {
		panic("querynode: segment 42 is corrupt")
	}
	check(n + 1)
}

func main() {
	check(0)
}
