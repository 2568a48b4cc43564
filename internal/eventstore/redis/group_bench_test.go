package redis_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/evented/evented/internal/eventstore/storetest"
)

// BenchmarkAppendGroup: the store's part of firing 10,000 deadlines due at
// once (storetest.BenchAppendGroup), under a fresh prefix each wave. The
// CPU per append is the client's; server-cpu-µs/deadline is Redis's (INFO
// cpu, user and system), for scheduling and firing each deadline, so it
// counts whatever else the server ran meanwhile.
func BenchmarkAppendGroup(b *testing.B) {
	c := admin(b)
	cpu0 := serverCPU(b, c.Info(context.Background(), "cpu").Val())
	storetest.BenchAppendGroup(b, func(b *testing.B) storetest.GroupStore { return open(b, freshPrefix(b)) }, benchTypeURL, benchPayload)
	cpu := serverCPU(b, c.Info(context.Background(), "cpu").Val()) - cpu0
	b.ReportMetric(cpu*1e6/float64(b.N*10000), "server-cpu-µs/deadline")
}

// serverCPU is the seconds of CPU of the Redis process in an INFO cpu reply.
func serverCPU(b testing.TB, info string) float64 {
	var sum float64
	for line := range strings.SplitSeq(info, "\n") {
		name, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (name == "used_cpu_user" || name == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu: %s", line)
			}
			sum += f
		}
	}
	return sum
}
