// Package e2e holds the end-to-end suite: it boots a real Linux kernel
// under QEMU with real USB and PCI devices, runs hostdev-discover inside
// the guest, checks it against what the guest's own sysfs says, and
// hotplugs devices over QMP while watch, wait and follow run. A second
// binary, built with -tags libusb and dynamically linked (its libusb,
// libudev, libc and loader are copied into the initramfs by the paths ldd
// gives), runs list --usb-backend both before and after the hotplug: the
// sysfs and libusb views must agree on every USB device.
//
// The suite needs qemu-system-x86_64, a static busybox, an unpacked
// Debian linux-image package, and cgo with libusb-1.0-0-dev. e2e/prepare.sh (as root) installs and
// unpacks them. Without them the tests skip, or fail when
// HOSTDEV_REQUIRE_ALL=1.
//
//	HOSTDEV_E2E_KERNEL_DIR  an unpacked linux-image package (boot/vmlinuz-*, lib/modules/*)
//	HOSTDEV_E2E_CACHE       where prepare.sh unpacked it (default $HOME/.cache/hostdev-e2e)
//	HOSTDEV_E2E_BUSYBOX     a static busybox (default /bin/busybox)
//	HOSTDEV_E2E_KEEP=1      keep the run's folder (console log, initramfs) and print it
package e2e
