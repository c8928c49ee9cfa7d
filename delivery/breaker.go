package delivery

import "fmt"

// breaker watches the last attempts of a run. When nearly all of them
// failed, the fault is not with the recipients but with the relay (down,
// refusing the sender, rejecting the credentials), and the run stops
// instead of marking the whole list deferred or failed.
type breaker struct {
	size   int
	ratio  float64
	ring   []bool // true: failed
	next   int
	filled int
	fails  int
	last   string
}

func newBreaker(size int, ratio float64) *breaker {
	return &breaker{size: size, ratio: ratio, ring: make([]bool, size)}
}

func (b *breaker) record(ok bool, reply string) {
	if b.filled == b.size {
		if b.ring[b.next] {
			b.fails--
		}
	} else {
		b.filled++
	}
	b.ring[b.next] = !ok
	if !ok {
		b.fails++
		b.last = reply
	}
	b.next = (b.next + 1) % b.size
}

// open reports whether the window is full and failures reach the ratio.
func (b *breaker) open() bool {
	return b.filled == b.size && float64(b.fails) >= b.ratio*float64(b.size)
}

func (b *breaker) String() string {
	return fmt.Sprintf("%d of the last %d attempts failed, the last with %q", b.fails, b.filled, b.last)
}
