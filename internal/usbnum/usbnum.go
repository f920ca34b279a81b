// Package usbnum holds the kernel's range of USB device numbers, so that
// every reader and parser of one (sysfs's devnum, /dev/bus/usb/BBB/DDD,
// /sys/dev/char/189:M, selectors and hypervisor references) agrees on it.
package usbnum

// The kernel allocates device numbers round-robin from 1 to 127
// (drivers/usb/core/hub.c, choose_devnum); minors of major 189 leave 128
// per bus, the last one unused.
const (
	MinDevnum = 1
	MaxDevnum = 127
)

// ValidDevnum reports whether n can be a USB device number.
func ValidDevnum(n int) bool { return MinDevnum <= n && n <= MaxDevnum }
