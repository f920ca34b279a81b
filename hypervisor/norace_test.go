//go:build !race

package hypervisor

const raceEnabled = false
