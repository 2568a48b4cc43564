package eventstore

import "testing"

// Every value added comes back once, in order, however many chunks it
// took: none, one, at each chunk's edge, past the largest chunk.
func TestChunksHandOutEveryValueInOrder(t *testing.T) {
	for _, n := range []int{0, 1, firstChunk - 1, firstChunk, firstChunk + 1, 3*firstChunk + 1, maxChunk, 3*maxChunk + 7, 100_000} {
		var c Chunks[int]
		for i := range n {
			c.Add(i)
		}
		got := c.All()
		if len(got) != n {
			t.Fatalf("%d added: All has %d", n, len(got))
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("%d added: value %d is %d", n, i, v)
			}
		}
		if n == 0 && got != nil {
			t.Fatalf("nothing added: All = %v, want nil", got)
		}
	}
}
