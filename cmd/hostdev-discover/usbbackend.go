package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hostdev/hostdev/discover"
)

// exitBackendsDiffer is list --usb-backend both's status when sysfs and
// libusb disagree.
const exitBackendsDiffer = 6

// backendsDiffer is the error of list --usb-backend both when the two
// views differ; each difference has already been printed.
type backendsDiffer struct{ n int }

func (e *backendsDiffer) Error() string {
	return fmt.Sprintf("sysfs and libusb differ on the USB devices (%d differences)", e.n)
}

// The values of --usb-backend beyond discover's own.
const usbBoth = "both"

func (f *scanFlags) registerUSBBackend(c *cobra.Command) {
	c.Flags().StringVar(&f.usbBackend, "usb-backend", "", "read USB devices from `sysfs`, libusb, or both and compare them (default sysfs; libusb where there is no /sys, in a build with -tags libusb)")
}

// usbBackendFor checks --usb-backend against the other flags and returns
// the backend the USB devices are listed from: libusb for "libusb",
// sysfs for "both" (the richer view, which libusb is then compared to).
func (f *scanFlags) usbBackendFor(c *cobra.Command) (discover.USBBackend, error) {
	switch f.usbBackend {
	case "":
		if c.Flags().Changed("usb-backend") {
			return "", usageError{errors.New(`--usb-backend "": want sysfs, libusb or both`)}
		}
		if discover.HasLibusb && f.root == "/" {
			if _, err := os.Stat(filepath.Join(f.root, "sys")); errors.Is(err, os.ErrNotExist) {
				return discover.USBLibusb, nil
			}
		}
		return discover.USBSysfs, nil
	case string(discover.USBSysfs):
		return discover.USBSysfs, nil
	case string(discover.USBLibusb), usbBoth:
		if f.bus == string(discover.BusPCI) && f.usbBackend == usbBoth {
			return "", usageError{errors.New("--usb-backend both compares USB devices; it cannot be used with --bus pci")}
		}
		if !discover.HasLibusb {
			return "", usageError{fmt.Errorf("--usb-backend %s: %w", f.usbBackend, discover.ErrNoLibusb)}
		}
		if f.root != "/" {
			return "", usageError{fmt.Errorf("--usb-backend %s reads the live host's USB devices; it cannot be used with --root %s", f.usbBackend, f.root)}
		}
		if f.usbBackend == usbBoth {
			return discover.USBSysfs, nil
		}
		return discover.USBLibusb, nil
	default:
		return "", usageError{fmt.Errorf("--usb-backend %q: want sysfs, libusb or both", f.usbBackend)}
	}
}

// compareUSB scans the USB devices through libusb, compares them with the
// sysfs scan's, and prints each difference to e.stderr. It returns a
// *backendsDiffer when there is any.
func compareUSB(c *cobra.Command, e *env, sysfsDevs []discover.Device) error {
	lib, err := discover.Scan(c.Context(), discover.Options{
		USBBackend: discover.USBLibusb,
		Buses:      []discover.Bus{discover.BusUSB},
		Numeric:    true,
	})
	if err != nil {
		return err
	}
	for _, w := range lib.Warnings {
		fmt.Fprintf(e.stderr, "warning: libusb: %s\n", text(w.Error()))
	}
	return reportUSBDifferences(e.stderr, sysfsDevs, lib.Devices)
}

// reportUSBDifferences compares the two views and prints each difference,
// or that they agree, to w. It returns a *backendsDiffer when they differ.
func reportUSBDifferences(w io.Writer, sysfsDevs, libusbDevs []discover.Device) error {
	diffs := discover.CompareUSB(sysfsDevs, libusbDevs)
	for _, d := range diffs {
		if d.Field == "device" {
			only := "sysfs"
			if d.A == "" {
				only = "libusb"
			}
			fmt.Fprintf(w, "usb-backend: %s: only in %s\n", text(d.Device), only)
			continue
		}
		fmt.Fprintf(w, "usb-backend: %s: %s: sysfs %s, libusb %s\n", text(d.Device), d.Field, value(d.A), value(d.B))
	}
	if len(diffs) > 0 {
		return &backendsDiffer{len(diffs)}
	}
	n := 0
	for _, d := range sysfsDevs {
		if d.USB != nil {
			n++
		}
	}
	fmt.Fprintf(w, "usb-backend: sysfs and libusb agree on %d USB devices\n", n)
	return nil
}
