//go:build !race

package server_test

// raceEnabled: the race detector is on (tests scale their load down).
const raceEnabled = false
