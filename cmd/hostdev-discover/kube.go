package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/dra/draattr"
	"github.com/hostdev/hostdev/hypervisor"
)

// writeCEL prints, one per line, the CEL selector of each device under
// hostdev's DRA driver.
func writeCEL(w io.Writer, items []hypervisor.Resolved, all []discover.Device) error {
	if err := draPublished(items); err != nil {
		return err
	}
	for _, it := range items {
		if _, err := fmt.Fprintln(w, draattr.Selector(it.Device, all)); err != nil {
			return err
		}
	}
	return nil
}

// writeClaim prints a ResourceClaimTemplate with one request per device,
// each in its bus's DeviceClass with its CEL selector: what a pod or a
// KubeVirt VM names to get exactly these devices on whichever node has
// them. Every string in it is hostdev's own or a CEL literal (Go's
// quoting, all ASCII-printable or escaped), so the YAML needs no quoting
// beyond the block scalar the expression sits in.
func writeClaim(w io.Writer, items []hypervisor.Resolved, all []discover.Device) error {
	if err := draPublished(items); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("apiVersion: resource.k8s.io/v1\nkind: ResourceClaimTemplate\nmetadata:\n")
	fmt.Fprintf(&b, "  name: %s\n", claimName(items))
	b.WriteString("spec:\n  spec:\n    devices:\n      requests:\n")
	seen := map[string]int{}
	for _, it := range items {
		name := requestName(it.Device)
		seen[name]++
		if n := seen[name]; n > 1 {
			name = fmt.Sprintf("%s-%d", name, n)
		}
		fmt.Fprintf(&b, "      - name: %s\n        exactly:\n          deviceClassName: %s\n", name, draattr.DeviceClass(it.Device))
		fmt.Fprintf(&b, "          selectors:\n          - cel:\n              expression: |-\n                %s\n", draattr.Selector(it.Device, all))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// draPublished refuses the devices hostdev-dra does not publish:
// mediated device instances.
func draPublished(items []hypervisor.Resolved) error {
	for _, it := range items {
		if it.Device.USB == nil && it.Device.PCI == nil {
			return fmt.Errorf("%s: hostdev-dra publishes USB devices and PCI functions only, not mediated devices; "+
				"a Kubernetes claim cannot name it", text(it.Device.Name))
		}
	}
	return nil
}

// requestName names a device's request: usb-0483-2016, pci-10de-2684,
// from the numbers alone, so always a DNS label.
func requestName(d discover.Device) string {
	return fmt.Sprintf("%s-%s-%s", d.Bus, d.VendorID, d.ProductID)
}

// claimName names the template after its first device.
func claimName(items []hypervisor.Resolved) string {
	if len(items) == 0 {
		return "hostdev"
	}
	return "hostdev-" + requestName(items[0].Device)
}
