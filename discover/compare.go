package discover

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
)

// USBDifference is one way two views of the USB devices disagree: a
// device only one of them lists, or a field they read differently.
type USBDifference struct {
	// Device is the device's name, "1-3.1" or "usb1": its bus and port
	// path, which is how the views are matched.
	Device string `json:"device"`
	// Field is "device" when only one view has the device (the other
	// value is then empty), else the field: "devnum", "vendor_id",
	// "product_id", "class", "subclass", "protocol", "bcd_device",
	// "speed", "interfaces", or "interface N" for one interface's class,
	// subclass and protocol.
	Field string `json:"field"`
	A     string `json:"a"`
	B     string `json:"b"`
}

func (d USBDifference) String() string {
	return fmt.Sprintf("%s: %s: %q vs %q", d.Device, d.Field, d.A, d.B)
}

// CompareUSB matches the USB devices of two views, a and b, by bus and
// port path, and returns every difference, in bus and port order. It
// compares only what both backends can read (see USBLibusb): not
// strings, drivers, paths or names. PCI functions in either list are
// ignored.
func CompareUSB(a, b []Device) []USBDifference {
	type key struct {
		bus  int
		port PortPath
	}
	index := func(ds []Device) map[key]Device {
		m := map[key]Device{}
		for _, d := range ds {
			if d.USB != nil {
				m[key{d.USB.Busnum, d.USB.Port}] = d
			}
		}
		return m
	}
	ma, mb := index(a), index(b)
	var keys []key
	for k := range ma {
		keys = append(keys, k)
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y key) int {
		return cmp.Or(cmp.Compare(x.bus, y.bus), x.port.Compare(y.port))
	})
	var out []USBDifference
	for _, k := range keys {
		da, inA := ma[k]
		db, inB := mb[k]
		switch {
		case !inA:
			out = append(out, USBDifference{Device: db.Name, Field: "device", B: "present"})
			continue
		case !inB:
			out = append(out, USBDifference{Device: da.Name, Field: "device", A: "present"})
			continue
		}
		name := da.Name
		add := func(field, x, y string) {
			if x != y {
				out = append(out, USBDifference{Device: name, Field: field, A: x, B: y})
			}
		}
		ua, ub := da.USB, db.USB
		add("devnum", strconv.Itoa(ua.Devnum), strconv.Itoa(ub.Devnum))
		add("vendor_id", da.VendorID.String(), db.VendorID.String())
		add("product_id", da.ProductID.String(), db.ProductID.String())
		add("class", ua.Class.String(), ub.Class.String())
		add("subclass", hex2(ua.Subclass), hex2(ub.Subclass))
		add("protocol", hex2(ua.Protocol), hex2(ub.Protocol))
		add("bcd_device", fmt.Sprintf("%04x", uint16(ua.BCD)), fmt.Sprintf("%04x", uint16(ub.BCD)))
		add("speed", string(ua.Speed), string(ub.Speed))
		add("interfaces", interfaceNumbers(ua.Interfaces), interfaceNumbers(ub.Interfaces))
		for _, ia := range ua.Interfaces {
			i := slices.IndexFunc(ub.Interfaces, func(ib Interface) bool { return ib.Number == ia.Number })
			if i < 0 {
				continue // reported with "interfaces"
			}
			ib := ub.Interfaces[i]
			add("interface "+strconv.Itoa(int(ia.Number)), interfaceClass(ia), interfaceClass(ib))
		}
	}
	return out
}

func hex2(v uint8) string { return fmt.Sprintf("%02x", v) }

// interfaceNumbers is "0,1,2": the interfaces a device has.
func interfaceNumbers(ins []Interface) string {
	ns := make([]int, len(ins))
	for i, in := range ins {
		ns[i] = int(in.Number)
	}
	slices.Sort(ns)
	s := ""
	for i, n := range ns {
		if i > 0 {
			s += ","
		}
		s += strconv.Itoa(n)
	}
	return s
}

// interfaceClass is "03/01/02": class, subclass, protocol.
func interfaceClass(in Interface) string {
	return fmt.Sprintf("%s/%02x/%02x", in.Class, in.Subclass, in.Protocol)
}
