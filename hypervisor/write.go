package hypervisor

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/internal/usbnum"
	"github.com/hostdev/hostdev/pciaddr"
)

// Format is an output dialect for Write.
type Format string

// The formats Write knows.
const (
	FormatQEMU      Format = "qemu"       // -device usb-host,id=...,hostbus=B,hostaddr=D
	FormatQMP       Format = "qmp"        // {"execute":"device_add",...}, one per line
	FormatLibvirt   Format = "libvirt"    // <hostdev> with vendor, product and address
	FormatXen       Format = "xen"        // usbdev=[...] and pci=[...]
	FormatXenLegacy Format = "xen-legacy" // usbdevice='host:B.D' and pci=[...]
	FormatSeed      Format = "seed"       // <host bus='usb'>...<target dev='BBB.DDD'/></host>

	FormatIncus           Format = "incus"            // incus config device add "$VM" NAME usb|pci ...
	FormatCloudHypervisor Format = "cloud-hypervisor" // --device path=/sys/bus/pci/devices/ADDRESS/
	FormatDevnode         Format = "devnode"          // /dev/bus/usb/BBB/DDD, /dev/vfio/N
	FormatProxmox         Format = "proxmox"          // usbN: host=VVVV:PPPP or host=BUS-PORT, hostpciN: DDDD:BB:SS.F
)

// Formats lists every Format. The slice is the caller's own.
func Formats() []Format { return slices.Clone(formats) }

var formats = []Format{FormatQEMU, FormatQMP, FormatLibvirt, FormatXen, FormatXenLegacy, FormatSeed,
	FormatProxmox, FormatIncus, FormatCloudHypervisor, FormatDevnode}

// Resolved is a device to write and, when it came from a config, the
// reference that named it: writing in the reference's own dialect keeps
// what the reference said beyond the device (libvirt's managed= and
// startupPolicy, xl's @VSLOT and options).
type Resolved struct {
	Device discover.Device
	Ref    *Ref
	// SerialShared says another device plugged in has the same vendor,
	// product and serial (cheap clones do), so the serial cannot make the
	// QEMU id unique: the port is used instead. SharedSerial sets it.
	SerialShared bool
	// IDUnique says no other device plugged in has the same vendor and
	// product, so Proxmox's vendor:product, which follows the device into
	// any port, names it alone; otherwise Proxmox is given the port.
	// UniqueID sets it.
	IDUnique bool
}

// SharedSerial says whether any other device in all has d's vendor,
// product and serial.
func SharedSerial(d discover.Device, all []discover.Device) bool {
	if d.USB == nil || d.USB.Serial == nil || *d.USB.Serial == "" {
		return false
	}
	for _, o := range all {
		if o.Name != d.Name && o.USB != nil && o.VendorID == d.VendorID && o.ProductID == d.ProductID && o.USB.Serial != nil && *o.USB.Serial == *d.USB.Serial {
			return true
		}
	}
	return false
}

// Write renders items in format f. Several items of one kind go in one
// xl list; XML elements and QEMU options go one after another. A device
// that f cannot name (no bus and device number, a 32-bit PCI domain for
// xl) is an error that errors.Is matches to errors.ErrUnsupported.
func Write(w io.Writer, f Format, items []Resolved) error {
	for _, it := range items {
		if err := writable(it.Device); err != nil {
			return err
		}
	}
	if err := mdevWritable(f, items); err != nil {
		return err
	}
	ids := deviceIDs(items)
	var b strings.Builder
	switch f {
	case FormatQEMU:
		for i, it := range items {
			d := it.Device
			if s, ok := qemuMdevOption(ids[i], d); ok {
				b.WriteString(s)
			} else if d.Bus == discover.BusPCI {
				fmt.Fprintf(&b, "-device vfio-pci,id=%s,%s=%s\n", qemuValue(ids[i]), vfioKey(d), qemuValue(vfioValue(d)))
			} else {
				fmt.Fprintf(&b, "-device usb-host,id=%s,hostbus=%d,hostaddr=%d\n", qemuValue(ids[i]), d.USB.Busnum, d.USB.Devnum)
			}
		}
	case FormatQMP:
		for i, it := range items {
			type usbArgs struct {
				Driver   string `json:"driver"`
				ID       string `json:"id"`
				Hostbus  int    `json:"hostbus"`
				Hostaddr int    `json:"hostaddr"`
			}
			type pciArgs struct {
				Driver   string `json:"driver"`
				ID       string `json:"id"`
				Host     string `json:"host,omitempty"`
				Sysfsdev string `json:"sysfsdev,omitempty"`
			}
			var args any
			d := it.Device
			if a, ok := qmpMdevArgs(ids[i], d); ok {
				args = a
			} else if d.Bus == discover.BusPCI {
				a := pciArgs{Driver: "vfio-pci", ID: ids[i]}
				if vfioKey(d) == "host" {
					a.Host = vfioValue(d)
				} else {
					a.Sysfsdev = vfioValue(d)
				}
				args = a
			} else {
				args = usbArgs{"usb-host", ids[i], d.USB.Busnum, d.USB.Devnum}
			}
			j, err := json.Marshal(struct {
				Execute   string `json:"execute"`
				Arguments any    `json:"arguments"`
			}{"device_add", args})
			if err != nil {
				return err
			}
			b.Write(j)
			b.WriteByte('\n')
		}
	case FormatLibvirt:
		for _, it := range items {
			s, err := libvirtHostdev(it)
			if err != nil {
				return err
			}
			b.WriteString(s)
			b.WriteByte('\n')
		}
	case FormatXen, FormatXenLegacy:
		var usb, pci []string
		wrote := map[*Ref]bool{}
		for _, it := range items {
			d := it.Device
			opts := ""
			if it.Ref != nil && it.Ref.Dialect == DialectXL {
				opts = it.Ref.xlOpts
				if it.Ref.All {
					// 0000:00:1f.*@3 means the slot's functions together,
					// in one virtual slot: keep it whole.
					if !wrote[it.Ref] {
						pci = append(pci, xlQuote(it.Ref.Text))
						wrote[it.Ref] = true
					}
					continue
				}
			}
			switch {
			case d.Bus == discover.BusPCI:
				if address(d).Domain > 0xffff {
					return unsupported{fmt.Sprintf("%s: xl reads PCI domains of 16 bits only, so it cannot be given %s", quote.Text(d.Name), address(d))}
				}
				pci = append(pci, xlQuote(address(d).String()+opts))
			case f == FormatXenLegacy:
				usb = append(usb, xlQuote(fmt.Sprintf("host:%d.%d", d.USB.Busnum, d.USB.Devnum)))
			default:
				if !strings.HasPrefix(opts, ",") {
					opts = "" // a usbdevice entry has no options to keep
				}
				usb = append(usb, xlQuote(fmt.Sprintf("type=hostdev,hostbus=%d,hostaddr=%d%s", d.USB.Busnum, d.USB.Devnum, opts)))
			}
		}
		switch {
		case len(usb) == 0:
		case f == FormatXenLegacy && len(usb) == 1:
			fmt.Fprintf(&b, "usbdevice = %s\n", usb[0])
		case f == FormatXenLegacy:
			fmt.Fprintf(&b, "usbdevice = [ %s ]\n", strings.Join(usb, ", "))
		default:
			fmt.Fprintf(&b, "usbdev = [ %s ]\n", strings.Join(usb, ", "))
		}
		if len(pci) > 0 {
			fmt.Fprintf(&b, "pci = [ %s ]\n", strings.Join(pci, ", "))
		}
	case FormatSeed:
		for _, it := range items {
			b.WriteString(seedElement(it.Device))
			b.WriteByte('\n')
		}
	case FormatProxmox:
		s, err := writeProxmox(items)
		if err != nil {
			return err
		}
		b.WriteString(s)
	case FormatIncus:
		if err := writeIncus(&b, items, ids); err != nil {
			return err
		}
	case FormatCloudHypervisor:
		if err := writeCloudHypervisor(&b, items); err != nil {
			return err
		}
	case FormatDevnode:
		if err := writeDevnode(&b, items); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown format %q; want one of %s", f, formatList())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	for _, f := range formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown format %q; want one of %s", s, formatList())
}

func formatList() string {
	s := make([]string, len(formats))
	for i, f := range formats {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// writable checks that d has what every format needs: a USB bus and
// device number, or a PCI address.
func writable(d discover.Device) error {
	switch {
	case d.Bus == discover.BusUSB && d.USB != nil && d.USB.Busnum > 0 && d.USB.Busnum <= 255 && usbnum.ValidDevnum(d.USB.Devnum):
		return nil
	case d.Bus == discover.BusPCI && d.PCI != nil && d.PCI.Address != nil:
		return nil
	case d.Bus == discover.BusMdev && d.Mdev != nil && discover.IsMdevUUID(d.Mdev.UUID):
		return nil
	}
	return unsupported{fmt.Sprintf("device %s has no readable bus and device number or PCI address, so no config can name it", quote.Text(d.Name))}
}

// unsupported is a device that a format cannot name; errors.Is matches it
// to errors.ErrUnsupported.
type unsupported struct{ msg string }

func (e unsupported) Error() string        { return e.msg }
func (e unsupported) Is(target error) bool { return target == errors.ErrUnsupported }

// xlQuote writes s as an xl string.
func xlQuote(s string) string {
	if !strings.ContainsAny(s, `'\`) {
		return "'" + s + "'"
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// qemuValue writes s as the value of a QEMU key=value option, where a
// comma is written twice. Every value Write puts in a -device line goes
// through it, whatever it holds; ids are plain already.
func qemuValue(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// deviceID gives the id QEMU's device_add and device_del use for d. It
// depends only on what the device is, so that writing the same device
// again gives the same id: hostdev-usb-VVVV-PPPP-SERIAL when the serial is
// plain, else hostdev-usb-VVVV-PPPP-pBUS-PORT; hostdev-pci-DDDD-BB-SS.F.
// It is built only from numbers and plain serials, so it is always in
// QEMU's id alphabet (a letter, then letters, digits, '-', '.' and '_').
func deviceID(d discover.Device) string {
	if d.Bus == discover.BusPCI && d.PCI != nil {
		return "hostdev-pci-" + strings.ReplaceAll(address(d).String(), ":", "-")
	}
	if d.Bus == discover.BusMdev && d.Mdev != nil {
		return "hostdev-mdev-" + d.Mdev.UUID // writable checked it is a UUID
	}
	base := fmt.Sprintf("hostdev-usb-%s-%s-", d.VendorID, d.ProductID)
	if d.USB != nil && d.USB.Serial != nil && plainSerial(*d.USB.Serial) {
		return base + *d.USB.Serial
	}
	return base + portID(d)
}

// portID is pBUS-PORT, or, for a device whose port path is not one (a
// Device built by hand; Scan never gives one), bBUS-dDEVNUM.
func portID(d discover.Device) string {
	if d.USB == nil {
		return "p0"
	}
	if p, err := discover.ParsePortPath(string(d.USB.Port)); err == nil {
		return fmt.Sprintf("p%d-%s", d.USB.Busnum, p)
	}
	return fmt.Sprintf("b%d-d%d", d.USB.Busnum, d.USB.Devnum)
}

// plainSerial says whether a serial can stand in a QEMU id: letters,
// digits, '-', '.' and '_', and not so long that the id becomes unwieldy.
func plainSerial(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '-' || c == '.' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// deviceIDs gives each item its deviceID, falling back to the port form
// for devices that share a serial with another item.
func deviceIDs(items []Resolved) []string {
	ids := make([]string, len(items))
	count := map[string]int{}
	for i, it := range items {
		ids[i] = deviceID(it.Device)
		count[ids[i]]++
	}
	for i, it := range items {
		if (count[ids[i]] > 1 || it.SerialShared) && it.Device.Bus == discover.BusUSB {
			ids[i] = fmt.Sprintf("hostdev-usb-%s-%s-%s", it.Device.VendorID, it.Device.ProductID, portID(it.Device))
		}
	}
	return ids
}

// libvirtHostdev writes a <hostdev> for the device; a libvirt reference's
// own element is kept, with the source filled in.
func libvirtHostdev(it Resolved) (string, error) {
	d := it.Device
	var h libvirtxml.DomainHostdev
	if it.Ref != nil && it.Ref.hostdev != nil {
		h = *it.Ref.hostdev
	}
	switch d.Bus {
	case discover.BusUSB:
		usb := &libvirtxml.DomainHostdevSubsysUSB{Source: &libvirtxml.DomainHostdevSubsysUSBSource{}}
		if h.SubsysUSB != nil && h.SubsysUSB.Source != nil {
			src := *h.SubsysUSB.Source
			usb.Source = &src
		}
		h.SubsysPCI = nil
		bus, dev := uint(d.USB.Busnum), uint(d.USB.Devnum)
		// No USB device has a vendor or product id of 0, and the libvirt
		// reader refuses one; a device whose idVendor could not be read
		// has 0, and its address alone names it.
		usb.Source.Vendor, usb.Source.Product = nil, nil
		if d.VendorID != 0 && d.ProductID != 0 {
			usb.Source.Vendor = &libvirtxml.DomainHostDevProductVendorID{ID: "0x" + d.VendorID.String()}
			usb.Source.Product = &libvirtxml.DomainHostDevProductVendorID{ID: "0x" + d.ProductID.String()}
		}
		usb.Source.Address = &libvirtxml.DomainAddressUSB{Bus: &bus, Device: &dev}
		h.SubsysUSB = usb
	case discover.BusPCI:
		pci := &libvirtxml.DomainHostdevSubsysPCI{}
		if h.SubsysPCI != nil {
			*pci = *h.SubsysPCI
		} else {
			h.Managed = "yes"
		}
		a := address(d)
		dom, bus, slot, fn := uint(a.Domain), uint(a.Bus), uint(a.Slot), uint(a.Function)
		src := libvirtxml.DomainHostdevSubsysPCISource{}
		if pci.Source != nil {
			src = *pci.Source
		}
		src.Address = &libvirtxml.DomainAddressPCI{Domain: &dom, Bus: &bus, Slot: &slot, Function: &fn}
		pci.Source = &src
		h.SubsysUSB = nil
		h.SubsysPCI = pci
	case discover.BusMdev:
		libvirtMdev(&h, d)
	}
	return marshalHostdev(h)
}

// marshalHostdev writes h with libvirtxml, in the form libvirt's own
// schema accepts and virsh dumpxml prints. libvirtxml v1.12008.0 writes a
// USB <source>'s children as address, product, vendor, and the schema
// (domaincommon.rng, "usbproduct") requires vendor, product, address: so
// the source is marshalled without its children, and they are encoded one
// by one, by libvirtxml, in the schema's order. Empty elements are then
// closed with "/>" and attributes quoted with ' as libvirt does; both are
// safe on encoding/xml's output, which escapes < > ' and " inside values.
func marshalHostdev(h libvirtxml.DomainHostdev) (string, error) {
	type child struct {
		name string
		v    any
	}
	var children []child
	if h.SubsysUSB != nil && h.SubsysUSB.Source != nil {
		src := *h.SubsysUSB.Source
		if src.Vendor != nil {
			children = append(children, child{"vendor", src.Vendor})
		}
		if src.Product != nil {
			children = append(children, child{"product", src.Product})
		}
		if src.Address != nil {
			children = append(children, child{"address", src.Address})
		}
		src.Vendor, src.Product, src.Address = nil, nil, nil
		usb := *h.SubsysUSB
		usb.Source = &src
		h.SubsysUSB = &usb
	}
	out, err := h.Marshal()
	if err != nil {
		return "", err
	}
	if len(children) > 0 {
		l, ok := layout(out, "hostdev", "source")
		if !ok || l.close < 0 {
			return "", fmt.Errorf("libvirtxml wrote an unexpected <source>: %s", out)
		}
		var b strings.Builder
		for _, c := range children {
			var e strings.Builder
			enc := xml.NewEncoder(&e)
			if err := enc.EncodeElement(c.v, xml.StartElement{Name: xml.Name{Local: c.name}}); err != nil {
				return "", err
			}
			enc.Flush()
			b.WriteString("\n    " + e.String())
		}
		b.WriteString("\n  ")
		out = out[:l.close] + b.String() + out[l.close:]
	}
	out = emptyElem.ReplaceAllString(out, "<$1$2/>")
	return strings.ReplaceAll(out, `"`, "'"), nil
}

// emptyElem is <name attrs></name> in encoding/xml's output.
var emptyElem = regexp.MustCompile(`<([A-Za-z][-\w.]*)([^<>]*)></([A-Za-z][-\w.]*)>`)

// seedElement writes the 2007 proposal's <host> for d: the permanent
// vendor and product with the current bus and device as <target dev>, or
// the PCI address.
func seedElement(d discover.Device) string {
	if d.Bus == discover.BusPCI {
		a := address(d).String()
		if address(d).Domain == 0 {
			a = address(d).Short()
		}
		return fmt.Sprintf("<host bus='pci'>\n  <source dev='%s'/>\n</host>", xmlText(a))
	}
	return fmt.Sprintf("<host bus='usb'>\n  <source vendor='%s' product='%s'/>\n  <target dev='%s'/>\n</host>",
		d.VendorID, d.ProductID, seedDev(d))
}

func seedDev(d discover.Device) string {
	return fmt.Sprintf("%03d.%03d", d.USB.Busnum, d.USB.Devnum)
}

func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// vfioKey and vfioValue name a PCI function for QEMU's vfio-pci: host=
// takes 16-bit domains only, so a function in a wider domain (VMD,
// Hyper-V) is named by its sysfs path.
func vfioKey(d discover.Device) string {
	if address(d).Domain > 0xffff {
		return "sysfsdev"
	}
	return "host"
}

func vfioValue(d discover.Device) string {
	if address(d).Domain > 0xffff {
		return "/sys/bus/pci/devices/" + address(d).String()
	}
	return address(d).String()
}

// address is d's PCI address; the zero address for a function whose name
// is not one, which writable refuses before a config is written.
func address(d discover.Device) pciaddr.Address {
	if d.PCI == nil || d.PCI.Address == nil {
		return pciaddr.Address{}
	}
	return *d.PCI.Address
}
