package readiness

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hostdev/hostdev/discover"
)

func usbReasons(d discover.Device, access func(string) error) []Reason {
	u := d.USB
	var rs []Reason
	// A hub is never assigned; what else is true of it changes nothing.
	switch {
	case u.IsRootHub():
		msg := "It is a root hub, the host controller's own: QEMU never passes hubs. Pass the devices behind it"
		if u.Controller != "" {
			msg += ", or the whole controller " + u.Controller + " as a PCI device"
		}
		return []Reason{{Code: RootHub, Message: msg + "."}}
	case u.IsHub():
		return []Reason{{Code: Hub, Message: "It is a hub: QEMU's usb-host never passes hubs. " +
			"Pass the devices plugged into it, one by one."}}
	}

	var bound []string
	storage := false
	for _, in := range u.Interfaces {
		if in.Driver == "" {
			continue
		}
		bound = append(bound, fmt.Sprintf("%s (%s)", in.Name, in.Driver))
		storage = storage || in.Driver == "usb-storage" || in.Driver == "uas"
	}
	if len(bound) > 0 {
		msg := "Interfaces bound to host drivers: " + strings.Join(bound, ", ") +
			". QEMU detaches them when it takes the device, and the host loses them while the VM runs."
		if slices.ContainsFunc(u.Interfaces, func(in discover.Interface) bool { return in.Driver == "usbfs" }) {
			msg += " usbfs means a program already holds it: another VM, or a libusb tool."
		}
		r := Reason{Code: HostDriver, Message: msg}
		if storage {
			r.Message += " Unmount its file systems first."
			r.Fix = []string{"# unmount what the host mounted from it (see lsblk), for example: umount /media/..."}
		}
		rs = append(rs, r)
	}
	if u.Unauthorized {
		rs = append(rs, Reason{Code: Unauthorized,
			Message: "authorized is 0: the kernel keeps the device unconfigured, as USBGuard does with a blocked device, " +
				"and QEMU cannot use it until it is allowed.",
			Fix: []string{
				"usbguard list-devices --blocked   # find its number",
				"usbguard allow-device -p N        # -p keeps the rule",
				"# without USBGuard:",
				"echo 1 > " + sysfsPath("/sys/bus/usb/devices/", d.Name, "/authorized"),
			}})
	}
	if access != nil && u.Devnode != "" {
		if err := access(u.Devnode); err != nil {
			rs = append(rs, Reason{Code: NoAccess,
				Message: accessError(u.Devnode, err) + ". QEMU needs read and write on it. " +
					"libvirt's system instance grants its QEMU access by itself; for QEMU run by you, " +
					"add a udev rule giving a group of yours the device.",
				Fix: []string{
					"# a line in /etc/udev/rules.d/70-hostdev.rules:",
					fmt.Sprintf(`SUBSYSTEM=="usb", ATTR{idVendor}=="%s", ATTR{idProduct}=="%s", MODE="0660", GROUP="kvm"`,
						d.VendorID, d.ProductID),
					"udevadm control --reload && udevadm trigger --subsystem-match=usb",
					"usermod -aG kvm $USER   # then log in again",
				}})
		}
	}
	return rs
}
