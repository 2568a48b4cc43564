package nats

import (
	"testing"

	"github.com/evented/evented/internal/testenv"
)

// TestMain says which tests were skipped for want of a server or a tool,
// and how to run them (package testenv).
func TestMain(m *testing.M) { testenv.Main(m) }
