//go:build !linux

package stripe_test

import "os/exec"

// dieWithTest does nothing here: TestMain's cleanup kills stripe-mock.
func dieWithTest(*exec.Cmd) {}
