package kubetest

import "syscall"

// sysProcAttr puts each process in a group of its own (stop signals the
// group) and has the kernel kill it when the test binary dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
