package notificationtest

import "testing"

func TestMemoryContract(t *testing.T) {
	Run(t, func(*testing.T) Store { return NewMemory() })
}
