//go:build unix && !linux

package proc

import "syscall"

// sysProcAttr puts each process in its own group, so stop ends what it
// started, a shell's child included.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// terminate signals the process group the suite started (by its id).
func terminate(pid int, sig syscall.Signal) { _ = syscall.Kill(-pid, sig) }
