//go:build !linux

package kubetest

import "syscall"

// sysProcAttr puts each process in a group of its own (stop signals the
// group). Only Linux can have the kernel kill it with the test binary.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
