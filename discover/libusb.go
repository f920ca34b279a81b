//go:build libusb

package discover

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/gousb"
)

// HasLibusb reports whether this build has the libusb backend.
const HasLibusb = true

// scanLibusb appends the USB devices libusb lists to res, sorted as the
// sysfs scan sorts them, with names from usb.ids unless opts.Numeric.
func scanLibusb(opts Options, res *Result) error {
	descs, err := libusbDescs()
	if err != nil && len(descs) == 0 {
		return fmt.Errorf("libusb: %w", err)
	}
	if err != nil {
		// OpenDevices goes on past a device whose descriptors it cannot
		// read and returns the last such error: the others were read.
		res.Warnings = append(res.Warnings, Warning{Err: fmt.Errorf("libusb: a device was left out: %w", err)})
	}
	devs := make([]Device, 0, len(descs))
	for _, d := range descs {
		devs = append(devs, fromLibusb(d))
	}
	slices.SortFunc(devs, compareDevices)
	names := opts.usbNamer("/", len(devs), res)
	for i := range devs {
		devs[i].VendorName, devs[i].ProductName = names.names(uint16(devs[i].VendorID), uint16(devs[i].ProductID))
	}
	res.Devices = append(res.Devices, devs...)
	return nil
}

// libusbDescs lists every device's descriptors without opening any.
// gousb.NewContext panics when libusb fails to start; that comes back as
// an error.
func libusbDescs() (descs []*gousb.DeviceDesc, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("starting libusb: %v", r)
		}
	}()
	ctx := gousb.NewContext()
	defer ctx.Close()
	devs, err := ctx.OpenDevices(func(d *gousb.DeviceDesc) bool {
		descs = append(descs, d)
		return false
	})
	for _, d := range devs { // none, as the opener opens none
		d.Close()
	}
	return descs, err
}

// libusbSpeeds maps libusb's speeds to what sysfs's speed file says.
// libusb's SUPER_PLUS (5) and SUPER_PLUS_X2 (6) have no gousb names.
var libusbSpeeds = map[gousb.Speed]Speed{
	gousb.SpeedLow:   SpeedLow,
	gousb.SpeedFull:  SpeedFull,
	gousb.SpeedHigh:  SpeedHigh,
	gousb.SpeedSuper: SpeedSuper,
	5:                SpeedSuperPlus,
	6:                SpeedSuperPlusX2,
}

// fromLibusb is the Device a libusb device descriptor describes, with the
// fields USBLibusb says it leaves empty. It reads only d.
func fromLibusb(d *gousb.DeviceDesc) Device {
	port := "0" // libusb gives a root hub an empty path
	name := "usb" + strconv.Itoa(d.Bus)
	parent := ""
	if len(d.Path) > 0 {
		port = joinPorts(d.Path)
		name = strconv.Itoa(d.Bus) + "-" + port
		if len(d.Path) == 1 {
			parent = "usb" + strconv.Itoa(d.Bus)
		} else {
			parent = strconv.Itoa(d.Bus) + "-" + joinPorts(d.Path[:len(d.Path)-1])
		}
	}
	u := &USB{
		Busnum:   d.Bus,
		Devnum:   d.Address,
		Port:     PortPath(port),
		Class:    Class(d.Class),
		Subclass: uint8(d.SubClass),
		Protocol: uint8(d.Protocol),
		BCD:      BCD(d.Device),
		Speed:    libusbSpeeds[d.Speed],
	}
	if d.Bus > 0 && d.Address > 0 {
		u.Devnode = fmt.Sprintf("/dev/bus/usb/%03d/%03d", d.Bus, d.Address)
	}
	if cfg, ok := firstConfig(d.Configs); ok {
		for _, in := range cfg.Interfaces {
			if len(in.AltSettings) == 0 {
				continue
			}
			alt := in.AltSettings[0]
			for _, a := range in.AltSettings {
				if a.Alternate == 0 {
					alt = a
					break
				}
			}
			u.Interfaces = append(u.Interfaces, Interface{
				Name:     fmt.Sprintf("%d-%s:%d.%d", d.Bus, port, cfg.Number, in.Number),
				Number:   uint8(in.Number),
				Class:    Class(alt.Class),
				Subclass: uint8(alt.SubClass),
				Protocol: uint8(alt.Protocol),
			})
		}
		slices.SortFunc(u.Interfaces, func(a, b Interface) int { return cmp.Compare(a.Number, b.Number) })
	}
	return Device{
		Bus:       BusUSB,
		Name:      name,
		VendorID:  ID(d.Vendor),
		ProductID: ID(d.Product),
		Parent:    parent,
		USB:       u,
	}
}

// firstConfig is the configuration with the lowest number, the one the
// kernel picks for most devices.
func firstConfig(cfgs map[int]gousb.ConfigDesc) (gousb.ConfigDesc, bool) {
	var best gousb.ConfigDesc
	found := false
	for _, c := range cfgs {
		if !found || c.Number < best.Number {
			best, found = c, true
		}
	}
	return best, found
}

func joinPorts(path []int) string {
	s := make([]string, len(path))
	for i, p := range path {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ".")
}
