// Concurrent map writes: the runtime throws a fatal error (not a panic) and aborts.
package main

import "sync"

func writer(m map[int]int, base int, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := 0; ; i++ {
		m[base+i%1000] = i
	}
}

func main() {
	m := map[int]int{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go writer(m, w*1000, &wg)
	}
	wg.Wait()
}
