//go:build linux

package proc

import "syscall"

// sysProcAttr puts each process in its own group (stop ends what it
// started, a shell's child included) and kills it if the suite dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// terminate signals the process group the suite started (by its id).
func terminate(pid int, sig syscall.Signal) { _ = syscall.Kill(-pid, sig) }
