//go:build !linux

package localaws

import "syscall"

// orphanGuard has nothing to set outside Linux: an orphaned moto must be stopped by hand.
func orphanGuard(*syscall.SysProcAttr) {}
