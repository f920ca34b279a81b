package discover

import (
	"errors"
	"fmt"
)

// USBBackend names where a scan reads USB devices from.
type USBBackend string

// The USB backends.
const (
	// USBSysfs reads /sys beneath Options.Root. It is the default: it
	// needs no privileges and no cgo, reads captured trees, and gives the
	// device strings and bound drivers.
	USBSysfs USBBackend = "sysfs"
	// USBLibusb asks libusb-1.0, through github.com/google/gousb, which is
	// how QEMU's usb-host sees the host. It needs a build with -tags
	// libusb (cgo and libusb-1.0), and reads only the live host, never a
	// tree under a root. It leaves empty what libusb gives only after
	// opening the device (strings, the hub descriptor) or not at all
	// (drivers, sysfs paths):
	//
	//   - USB.Manufacturer, USB.Product, USB.Serial (nil): string
	//     descriptors are read from an opened device.
	//   - USB.Interfaces[].Driver: libusb does not know the kernel's drivers.
	//   - USB.MaxChild: the hub descriptor is read from an opened hub.
	//   - USB.Controller, SysfsPath: libusb gives no sysfs path.
	//   - USB.Unauthorized: libusb does not say.
	//
	// Interfaces are those of the device's first configuration (lowest
	// bConfigurationValue) at alternate setting 0; without opening the
	// device libusb does not say which configuration is active, so for a
	// device with several configurations they may differ from what sysfs
	// shows.
	USBLibusb USBBackend = "libusb"
)

// ErrNoLibusb is what a scan with USBLibusb returns from a build without
// the libusb tag.
var ErrNoLibusb = errors.New("this build has no libusb backend; build with -tags libusb (needs cgo and libusb-1.0)")

func (o Options) usbBackend() (USBBackend, error) {
	switch o.USBBackend {
	case "", USBSysfs:
		return USBSysfs, nil
	case USBLibusb:
		if o.Root != "" && o.Root != "/" {
			return "", fmt.Errorf("the libusb backend reads only the live host, not a tree under %s", o.Root)
		}
		if o.Recorder != nil {
			return "", errors.New("the libusb backend reads no files a snapshot could record")
		}
		return USBLibusb, nil
	default:
		return "", fmt.Errorf("unknown USB backend %q: want sysfs or libusb", o.USBBackend)
	}
}
