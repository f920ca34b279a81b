//go:build race

package hypervisor

// raceEnabled: the race detector moves values to the heap, so allocation
// bounds are checked only without it (CI runs both).
const raceEnabled = true
