package eventstore

import (
	"runtime"
	"time"
)

// RequeueWait bounds how long a group-commit writer waits for the callers
// of its last group to queue their next appends: a few goroutine switches,
// far less than the commit (a disk sync, a round trip) the waiting saves.
const RequeueWait = 100 * time.Microsecond

// AwaitRequeue is for a writer that commits what is queued as one group:
// it lets the callers answered by the last group, which may be queueing
// their next appends right now, join the next one, rather than commit the
// first of them now and the others in another group (one more commit). It
// yields while the queue grows (queued reports its length), until it holds
// as many appends as the last group did (last) or RequeueWait has passed.
// Callers that have other work before their next append (a command's
// reply, a new command's load and business logic) do not make the queue
// grow: then it stops after two idle yields, and adds little latency.
func AwaitRequeue(last int, queued func() int) {
	runtime.Gosched()
	if last <= 1 {
		return
	}
	deadline := time.Now().Add(RequeueWait)
	n, still := queued(), 0
	for n+1 < last && still < 2 && time.Now().Before(deadline) {
		runtime.Gosched()
		if m := queued(); m > n {
			n, still = m, 0
		} else {
			still++
		}
	}
}
