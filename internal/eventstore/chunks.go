package eventstore

// Chunks collects values of a count not known in advance (the events of a
// read to the head) in chunks that grow, and hands them out as one slice
// of their exact length: each value is copied once at the end, rather than
// several times by a slice grown by doubling (each growth a copy of the
// whole slice, pointers and all, under the garbage collector's write
// barrier, and a larger block to clear). On PostgreSQL that was half the
// CPU of a load of 100,000 events. The zero value is empty.
type Chunks[T any] struct {
	full [][]T
	cur  []T
	n    int
}

// Chunk sizes: the first (what a short aggregate fills), the largest.
const (
	firstChunk = 64
	maxChunk   = 16384
)

// Add appends v.
func (c *Chunks[T]) Add(v T) {
	if len(c.cur) == cap(c.cur) {
		if c.cur != nil {
			c.full = append(c.full, c.cur)
		}
		c.cur = make([]T, 0, min(max(2*cap(c.cur), firstChunk), maxChunk))
	}
	c.cur = append(c.cur, v)
	c.n++
}

// All returns every value added, in order (nil if none). The first chunk
// is handed out as it is when it holds them all.
func (c *Chunks[T]) All() []T {
	if len(c.full) == 0 {
		return c.cur
	}
	out := make([]T, 0, c.n)
	for _, f := range c.full {
		out = append(out, f...)
	}
	return append(out, c.cur...)
}
