package discover

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/pciaddr"
)

// The JSON form of a device is a contract with other tools (see README):
// names only ever get added.

type commonJSON struct {
	Bus         Bus    `json:"bus"`
	Name        string `json:"name"`
	VendorID    ID     `json:"vendor_id"`
	ProductID   ID     `json:"product_id"`
	VendorName  string `json:"vendor_name,omitempty"`
	ProductName string `json:"product_name,omitempty"`
	SysfsPath   string `json:"sysfs_path"`
	Parent      string `json:"parent,omitempty"`
}

type usbJSON struct {
	commonJSON
	Busnum       int             `json:"busnum"`
	Devnum       int             `json:"devnum"`
	Port         PortPath        `json:"port"`
	Class        Class           `json:"class"`
	Subclass     hexByte         `json:"subclass"`
	Protocol     hexByte         `json:"protocol"`
	BCDDevice    BCD             `json:"bcd_device"`
	Speed        Speed           `json:"speed"`
	Manufacturer *string         `json:"manufacturer,omitempty"`
	Product      *string         `json:"product,omitempty"`
	Serial       *string         `json:"serial,omitempty"`
	Devnode      string          `json:"devnode,omitempty"`
	Controller   string          `json:"controller,omitempty"`
	Hub          bool            `json:"hub"`
	MaxChild     int             `json:"maxchild"`
	Interfaces   []interfaceJSON `json:"interfaces"`
	// Authorized is a pointer so that JSON from before it existed reads
	// back as authorized.
	Authorized *bool    `json:"authorized,omitempty"`
	Unclean    []string `json:"unclean,omitempty"`
}

type interfaceJSON struct {
	Name     string  `json:"name"`
	Number   int     `json:"number"`
	Class    Class   `json:"class"`
	Subclass hexByte `json:"subclass"`
	Protocol hexByte `json:"protocol"`
	Driver   string  `json:"driver,omitempty"`
}

type pciJSON struct {
	commonJSON
	Address            string         `json:"address,omitempty"`
	Class              PCIClass       `json:"class"`
	ClassName          string         `json:"class_name,omitempty"`
	SubclassName       string         `json:"subclass_name,omitempty"`
	Revision           *hexByte       `json:"revision,omitempty"`
	SubsystemVendorID  ID             `json:"subsystem_vendor_id"`
	SubsystemProductID ID             `json:"subsystem_product_id"`
	Driver             string         `json:"driver,omitempty"`
	DriverOverride     string         `json:"driver_override,omitempty"`
	IOMMUGroup         *int           `json:"iommu_group,omitempty"`
	NUMANode           *int           `json:"numa_node,omitempty"`
	PhysFn             string         `json:"physfn,omitempty"`
	VirtFns            []string       `json:"virtfns,omitempty"`
	ResetMethod        *string        `json:"reset_method,omitempty"`
	BootVGA            bool           `json:"boot_vga,omitempty"`
	HeaderType         *uint8         `json:"header_type,omitempty"`
	MdevTypes          []mdevTypeJSON `json:"mdev_types,omitempty"`
	Unclean            []string       `json:"unclean,omitempty"`
}

// mdevTypeJSON is one type of mdev_supported_types.
type mdevTypeJSON struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name,omitempty"`
	Description        string   `json:"description,omitempty"`
	DeviceAPI          string   `json:"device_api"`
	AvailableInstances *int     `json:"available_instances,omitempty"`
	Instances          []string `json:"instances,omitempty"`
}

// mdevJSON is a mediated device instance: bus "mdev", named by its UUID.
type mdevJSON struct {
	commonJSON
	UUID       string       `json:"uuid"`
	Type       mdevTypeJSON `json:"mdev_type"`
	ParentPath string       `json:"parent_path,omitempty"`
	Driver     string       `json:"driver,omitempty"`
	IOMMUGroup *int         `json:"iommu_group,omitempty"`
	Unclean    []string     `json:"unclean,omitempty"`
}

func mdevTypesJSON(ts []MdevType) []mdevTypeJSON {
	var out []mdevTypeJSON
	for _, t := range ts {
		out = append(out, mdevTypeJSON(t))
	}
	return out
}

func mdevTypesOf(js []mdevTypeJSON) []MdevType {
	var out []MdevType
	for _, j := range js {
		out = append(out, MdevType(j))
	}
	return out
}

// MarshalJSON writes the device in the form `list --json` prints.
func (d Device) MarshalJSON() ([]byte, error) {
	c := commonJSON{d.Bus, d.Name, d.VendorID, d.ProductID, d.VendorName, d.ProductName, d.SysfsPath, d.Parent}
	switch {
	case d.USB != nil:
		u := d.USB
		j := usbJSON{
			commonJSON: c,
			Busnum:     u.Busnum, Devnum: u.Devnum, Port: u.Port,
			Class: u.Class, Subclass: hexByte(u.Subclass), Protocol: hexByte(u.Protocol),
			BCDDevice: u.BCD, Speed: u.Speed,
			Manufacturer: u.Manufacturer, Product: u.Product, Serial: u.Serial,
			Devnode: u.Devnode, Controller: u.Controller,
			Hub: u.IsHub(), MaxChild: u.MaxChild,
			Interfaces: []interfaceJSON{},
			Authorized: new(!u.Unauthorized),
			Unclean:    unclean(d),
		}
		for _, in := range u.Interfaces {
			j.Interfaces = append(j.Interfaces, interfaceJSON{
				Name: in.Name, Number: int(in.Number),
				Class: in.Class, Subclass: hexByte(in.Subclass), Protocol: hexByte(in.Protocol),
				Driver: in.Driver,
			})
		}
		return json.Marshal(j)
	case d.PCI != nil:
		p := d.PCI
		j := pciJSON{
			commonJSON: c,
			Class:      p.Class, ClassName: p.ClassName, SubclassName: p.SubclassName,
			SubsystemVendorID: p.SubsystemVendorID, SubsystemProductID: p.SubsystemProductID,
			Driver: p.Driver, DriverOverride: p.DriverOverride,
			IOMMUGroup: p.IOMMUGroup, NUMANode: p.NUMANode,
			PhysFn: p.PhysFn, VirtFns: p.VirtFns,
			ResetMethod: p.ResetMethod,
			BootVGA:     p.BootVGA,
			HeaderType:  p.HeaderType,
			Revision:    (*hexByte)(p.Revision),
			MdevTypes:   mdevTypesJSON(p.MdevTypes),
			Unclean:     unclean(d),
		}
		if p.Address != nil {
			j.Address = p.Address.String()
		}
		return json.Marshal(j)
	case d.Mdev != nil:
		m := d.Mdev
		return json.Marshal(mdevJSON{
			commonJSON: c,
			UUID:       m.UUID, Type: mdevTypeJSON(m.Type), ParentPath: m.ParentPath,
			Driver: m.Driver, IOMMUGroup: m.IOMMUGroup,
			Unclean: unclean(d),
		})
	}
	return json.Marshal(c)
}

// UnmarshalJSON reads what MarshalJSON writes, so that Go tools can read
// `list --json` back into devices.
func (d *Device) UnmarshalJSON(b []byte) error {
	var probe struct {
		Bus Bus `json:"bus"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	switch probe.Bus {
	case BusUSB:
		var j usbJSON
		if err := json.Unmarshal(b, &j); err != nil {
			return err
		}
		*d = j.commonJSON.device()
		d.USB = &USB{
			Busnum: j.Busnum, Devnum: j.Devnum, Port: j.Port,
			Class: j.Class, Subclass: uint8(j.Subclass), Protocol: uint8(j.Protocol),
			BCD: j.BCDDevice, Speed: j.Speed, MaxChild: j.MaxChild,
			Manufacturer: j.Manufacturer, Product: j.Product, Serial: j.Serial,
			Devnode: j.Devnode, Controller: j.Controller,
			Unauthorized: j.Authorized != nil && !*j.Authorized,
		}
		for _, in := range j.Interfaces {
			d.USB.Interfaces = append(d.USB.Interfaces, Interface{
				Name: in.Name, Number: uint8(in.Number),
				Class: in.Class, Subclass: uint8(in.Subclass), Protocol: uint8(in.Protocol),
				Driver: in.Driver,
			})
		}
	case BusPCI:
		var j pciJSON
		if err := json.Unmarshal(b, &j); err != nil {
			return err
		}
		*d = j.commonJSON.device()
		d.PCI = &PCI{
			Class: j.Class, ClassName: j.ClassName, SubclassName: j.SubclassName,
			Revision:          (*uint8)(j.Revision),
			SubsystemVendorID: j.SubsystemVendorID, SubsystemProductID: j.SubsystemProductID,
			Driver: j.Driver, DriverOverride: j.DriverOverride,
			IOMMUGroup: j.IOMMUGroup, NUMANode: j.NUMANode,
			PhysFn: j.PhysFn, VirtFns: j.VirtFns,
			ResetMethod: j.ResetMethod,
			BootVGA:     j.BootVGA,
			HeaderType:  j.HeaderType,
			MdevTypes:   mdevTypesOf(j.MdevTypes),
		}
		if a, err := pciaddr.Parse(j.Address); err == nil {
			d.PCI.Address = &a
		}
	case BusMdev:
		var j mdevJSON
		if err := json.Unmarshal(b, &j); err != nil {
			return err
		}
		*d = j.commonJSON.device()
		d.Mdev = &Mdev{UUID: j.UUID, Type: MdevType(j.Type), ParentPath: j.ParentPath,
			Driver: j.Driver, IOMMUGroup: j.IOMMUGroup}
	default:
		return fmt.Errorf("device %s: unknown bus %q", b, probe.Bus)
	}
	return nil
}

// unclean lists, by their JSON names, the strings of d that the text
// output would quote (internal/quote); nil when all are printable. JSON
// carries them as they are, C1 controls and bidi overrides among them, so
// a consumer that prints them learns here that it must not print them
// raw. Strings read from a captured tree (paths, drivers) are anyone's,
// so they count as much as a device's own. An interface's field is named
// "interfaces[N].driver". Reading JSON back ignores it.
func unclean(d Device) []string {
	var out []string
	add := func(name, s string) {
		if !quote.Printable(s) {
			out = append(out, name)
		}
	}
	addPtr := func(name string, s *string) {
		if s != nil {
			add(name, *s)
		}
	}
	add("name", d.Name)
	add("vendor_name", d.VendorName)
	add("product_name", d.ProductName)
	add("sysfs_path", d.SysfsPath)
	add("parent", d.Parent)
	if u := d.USB; u != nil {
		add("speed", string(u.Speed))
		addPtr("manufacturer", u.Manufacturer)
		addPtr("product", u.Product)
		addPtr("serial", u.Serial)
		add("controller", u.Controller)
		for i, in := range u.Interfaces {
			add(fmt.Sprintf("interfaces[%d].name", i), in.Name)
			add(fmt.Sprintf("interfaces[%d].driver", i), in.Driver)
		}
	}
	if p := d.PCI; p != nil {
		add("class_name", p.ClassName)
		add("subclass_name", p.SubclassName)
		add("driver", p.Driver)
		add("driver_override", p.DriverOverride)
		add("physfn", p.PhysFn)
		for i, vf := range p.VirtFns {
			add(fmt.Sprintf("virtfns[%d]", i), vf)
		}
		addPtr("reset_method", p.ResetMethod)
		for i, t := range p.MdevTypes {
			addMdevType(add, fmt.Sprintf("mdev_types[%d].", i), t)
		}
	}
	if m := d.Mdev; m != nil {
		add("uuid", m.UUID)
		addMdevType(add, "mdev_type.", m.Type)
		add("parent_path", m.ParentPath)
		add("driver", m.Driver)
	}
	return out
}

// addMdevType adds a type's strings, prefixed with where the type is:
// "mdev_types[0].name", "mdev_type.description".
func addMdevType(add func(name, s string), prefix string, t MdevType) {
	add(prefix+"id", t.ID)
	add(prefix+"name", t.Name)
	add(prefix+"description", t.Description)
	add(prefix+"device_api", t.DeviceAPI)
	for i, u := range t.Instances {
		add(fmt.Sprintf("%sinstances[%d]", prefix, i), u)
	}
}

func (c commonJSON) device() Device {
	return Device{Bus: c.Bus, Name: c.Name, VendorID: c.VendorID, ProductID: c.ProductID,
		VendorName: c.VendorName, ProductName: c.ProductName, SysfsPath: c.SysfsPath, Parent: c.Parent}
}

// hexByte marshals as two hex digits: "03".
type hexByte uint8

func (h hexByte) MarshalText() ([]byte, error) { return fmt.Appendf(nil, "%02x", uint8(h)), nil }

func (h *hexByte) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 16, 8)
	if err != nil {
		return fmt.Errorf("%q is not 2 hex digits", b)
	}
	*h = hexByte(v)
	return nil
}
