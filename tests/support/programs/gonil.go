// A nil pointer dereference in a Go method: the runtime turns SIGSEGV into a panic and,
// with GOTRACEBACK=crash, aborts with SIGABRT.
package main

import "fmt"

type Segment struct{ rows []int }

func (s *Segment) Search(i int) int {
	return s.rows[i]
}

func main() {
	var s *Segment
	fmt.Println(s.Search(3))
}
