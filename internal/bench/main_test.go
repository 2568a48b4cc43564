package bench_test

import (
	"testing"

	"github.com/evented/evented/internal/testenv"
)

// TestMain says which tests were skipped for want of a broker.
func TestMain(m *testing.M) { testenv.Main(m) }
