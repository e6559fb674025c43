package stripe_test

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes stripe-mock die with the test binary, also when a panic
// or a -timeout kill skips TestMain's cleanup.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
