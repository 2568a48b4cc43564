package bench

import (
	"os"
	"syscall"
)

// dataSync makes f's data durable, as SQLite syncs its WAL on Linux
// (fdatasync: no sync of metadata the data does not need).
func dataSync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
