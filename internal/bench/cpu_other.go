//go:build !unix

package bench

import "time"

// cpuTime is unknown here: CPU metrics are left out.
func cpuTime() time.Duration { return 0 }
