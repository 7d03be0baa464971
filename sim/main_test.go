// Test setup for the package: the garbage collector's pace.
package sim

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestMain lets the heap grow 4× between collections (unless GOGC is set):
// the simulation allocates fast and keeps little, and under -race a
// collection costs several times more.
func TestMain(m *testing.M) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(m.Run())
}
