package localaws

import "syscall"

// orphanGuard makes the kernel stop moto when the process that started it dies without Close
// (a test binary killed by its timeout, a crashed demo).
func orphanGuard(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
