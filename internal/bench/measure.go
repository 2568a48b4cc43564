package bench

import (
	"bufio"
	"context"
	"errors"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxOps bounds every measuring loop in count, beside its time bound.
const maxOps = 50_000_000

// phases of a timed run.
const (
	warming int32 = iota
	measuring
	stopped
)

// run is what timed measured.
type run struct {
	units  int64           // reported by op within the window
	window time.Duration   // the measured window's length
	cpu    time.Duration   // CPU time the process used in the window (0: unknown)
	lat    []time.Duration // latency of each op that ended within the window
}

// rate is units per second.
func (r run) rate() float64 { return float64(r.units) / r.window.Seconds() }

// addCPU adds the CPU time per unit, in microseconds, to s as name, when
// it is known. The process runs one side at a time, so it is the side's.
func (r run) addCPU(s sample, name string) sample {
	if r.cpu > 0 && r.units > 0 {
		s[name] = float64(r.cpu.Microseconds()) / float64(r.units)
	}
	return s
}

// timed runs op in n goroutines: a warm-up of warm (longer if needed for
// every goroutine to finish one op: connections are up, caches filled),
// then a measured window of d (longer if needed for one op to end in it).
// It ends early when ctx ends or after maxOps ops, and returns op's first
// error.
func timed(ctx context.Context, n int, warm, d time.Duration, op func(ctx context.Context, worker int) (units int, err error)) (run, error) {
	var (
		phase  atomic.Int32
		total  atomic.Int64
		ops    atomic.Int64
		warmed atomic.Int64 // goroutines that have finished an op
		mu     sync.Mutex
		first  error
		lats   = make([][]time.Duration, n)
		wg     sync.WaitGroup
		cancel context.CancelFunc
	)
	ctx, cancel = context.WithCancel(ctx)
	defer cancel()
	for w := range n {
		wg.Go(func() {
			for i := 0; phase.Load() != stopped && ctx.Err() == nil && ops.Add(1) <= maxOps; i++ {
				t0 := time.Now()
				u, err := op(ctx, w)
				if err != nil {
					if ctx.Err() == nil { // not an echo of the end of the run
						mu.Lock()
						if first == nil {
							first = err
						}
						mu.Unlock()
					}
					cancel()
					return
				}
				if phase.Load() == measuring {
					total.Add(int64(u))
					lats[w] = append(lats[w], time.Since(t0))
				}
				if i == 0 {
					warmed.Add(1)
				}
			}
		})
	}
	if !sleepCtx(ctx, warm) || !waitFor(ctx, func() bool { return warmed.Load() == int64(n) }) {
		phase.Store(stopped)
		wg.Wait()
		return run{}, errors.Join(first, ctx.Err())
	}
	phase.Store(measuring)
	t0, c0 := time.Now(), cpuTime()
	if sleepCtx(ctx, d) {
		waitFor(ctx, func() bool { return total.Load() > 0 })
	}
	phase.Store(stopped)
	out := run{window: time.Since(t0), units: total.Load()}
	if c0 > 0 {
		out.cpu = cpuTime() - c0
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if first != nil {
		return run{}, first
	}
	if err := ctx.Err(); err != nil {
		return run{}, err
	}
	for _, l := range lats {
		out.lat = append(out.lat, l...)
	}
	return out, nil
}

// repeated is what repeat measured.
type repeated struct {
	times []time.Duration // of each measured call
	cpu   time.Duration   // CPU time the process used in them (0: unknown)
}

// sample is the median time of a call as name and, when known, the CPU
// time per call as "cpu "+name, both in milliseconds.
func (r repeated) sample(name string) sample {
	s := sample{name: percentile(r.times, 50)}
	if r.cpu > 0 {
		s["cpu "+name] = ms(r.cpu) / float64(len(r.times))
	}
	return s
}

// repeat calls op until d has passed (at least once, at most maxOps times)
// after one unmeasured call.
func repeat(ctx context.Context, d time.Duration, op func(ctx context.Context) error) (repeated, error) {
	if err := op(ctx); err != nil {
		return repeated{}, err
	}
	var out repeated
	c0 := cpuTime()
	end := time.Now().Add(d)
	for i := 0; i < maxOps && (i == 0 || time.Now().Before(end)); i++ {
		if err := ctx.Err(); err != nil {
			return repeated{}, err
		}
		t0 := time.Now()
		if err := op(ctx); err != nil {
			return repeated{}, err
		}
		out.times = append(out.times, time.Since(t0))
	}
	if c0 > 0 {
		out.cpu = cpuTime() - c0
	}
	return out, nil
}

// waitFor polls cond every millisecond until it holds (true) or ctx ends
// (false).
func waitFor(ctx context.Context, cond func() bool) bool {
	for !cond() {
		if !sleepCtx(ctx, time.Millisecond) {
			return false
		}
	}
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile returns the p-th percentile (0 < p <= 100) of d by the
// nearest-rank method, in milliseconds.
func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	rank = max(0, min(rank, len(s)-1))
	return ms(s[rank])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func machine() Machine {
	m := Machine{
		OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), LoadAtStart: loadavg(),
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// loadavg is the first three fields of /proc/loadavg, or "".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
