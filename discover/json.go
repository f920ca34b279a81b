package discover

import (
	"encoding/json"
	"fmt"
	"strconv"

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
	Port         string          `json:"port"`
	Class        hexByte         `json:"class"`
	Subclass     hexByte         `json:"subclass"`
	Protocol     hexByte         `json:"protocol"`
	BCDDevice    ID              `json:"bcd_device"`
	Speed        string          `json:"speed"`
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
	Authorized *bool `json:"authorized,omitempty"`
}

type interfaceJSON struct {
	Name     string  `json:"name"`
	Number   int     `json:"number"`
	Class    hexByte `json:"class"`
	Subclass hexByte `json:"subclass"`
	Protocol hexByte `json:"protocol"`
	Driver   string  `json:"driver,omitempty"`
}

type pciJSON struct {
	commonJSON
	Address            string   `json:"address,omitempty"`
	Class              hexClass `json:"class"`
	ClassName          string   `json:"class_name,omitempty"`
	SubclassName       string   `json:"subclass_name,omitempty"`
	Revision           *hexByte `json:"revision,omitempty"`
	SubsystemVendorID  ID       `json:"subsystem_vendor_id"`
	SubsystemProductID ID       `json:"subsystem_product_id"`
	Driver             string   `json:"driver,omitempty"`
	DriverOverride     string   `json:"driver_override,omitempty"`
	IOMMUGroup         *int     `json:"iommu_group,omitempty"`
	NUMANode           *int     `json:"numa_node,omitempty"`
	PhysFn             string   `json:"physfn,omitempty"`
	VirtFns            []string `json:"virtfns,omitempty"`
	ResetMethod        *string  `json:"reset_method,omitempty"`
	BootVGA            bool     `json:"boot_vga,omitempty"`
	HeaderType         *int     `json:"header_type,omitempty"`
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
			Class: hexByte(u.Class), Subclass: hexByte(u.Subclass), Protocol: hexByte(u.Protocol),
			BCDDevice: ID(u.BCD), Speed: u.Speed,
			Manufacturer: present(u.Manufacturer, u.HasManufacturer),
			Product:      present(u.Product, u.HasProduct),
			Serial:       present(u.Serial, u.HasSerial),
			Devnode:      u.Devnode, Controller: u.Controller,
			Hub: u.IsHub(), MaxChild: u.MaxChild,
			Interfaces: []interfaceJSON{},
			Authorized: new(!u.Unauthorized),
		}
		for _, in := range u.Interfaces {
			j.Interfaces = append(j.Interfaces, interfaceJSON{
				Name: in.Name, Number: int(in.Number),
				Class: hexByte(in.Class), Subclass: hexByte(in.Subclass), Protocol: hexByte(in.Protocol),
				Driver: in.Driver,
			})
		}
		return json.Marshal(j)
	case d.PCI != nil:
		p := d.PCI
		j := pciJSON{
			commonJSON: c,
			Class:      hexClass(p.Class), ClassName: p.ClassName, SubclassName: p.SubclassName,
			SubsystemVendorID: p.SubsystemVendorID, SubsystemProductID: p.SubsystemProductID,
			Driver: p.Driver, DriverOverride: p.DriverOverride,
			PhysFn: p.PhysFn, VirtFns: p.VirtFns,
			ResetMethod: present(p.ResetMethod, p.HasResetMethod),
			BootVGA:     p.BootVGA,
		}
		if p.HasHeaderType {
			j.HeaderType = new(int(p.HeaderType))
		}
		if p.HasAddress {
			j.Address = p.Address.String()
		}
		if p.HasRevision {
			r := hexByte(p.Revision)
			j.Revision = &r
		}
		if p.HasIOMMUGroup {
			j.IOMMUGroup = &p.IOMMUGroup
		}
		if p.HasNUMANode {
			j.NUMANode = &p.NUMANode
		}
		return json.Marshal(j)
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
			Class: uint8(j.Class), Subclass: uint8(j.Subclass), Protocol: uint8(j.Protocol),
			BCD: uint16(j.BCDDevice), Speed: j.Speed, MaxChild: j.MaxChild,
			Devnode: j.Devnode, Controller: j.Controller,
			Unauthorized: j.Authorized != nil && !*j.Authorized,
		}
		u := d.USB
		u.Manufacturer, u.HasManufacturer = deref(j.Manufacturer)
		u.Product, u.HasProduct = deref(j.Product)
		u.Serial, u.HasSerial = deref(j.Serial)
		for _, in := range j.Interfaces {
			d.USB.Interfaces = append(d.USB.Interfaces, Interface{
				Name: in.Name, Number: uint8(in.Number),
				Class: uint8(in.Class), Subclass: uint8(in.Subclass), Protocol: uint8(in.Protocol),
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
			Class: uint32(j.Class), ClassName: j.ClassName, SubclassName: j.SubclassName,
			SubsystemVendorID: j.SubsystemVendorID, SubsystemProductID: j.SubsystemProductID,
			Driver: j.Driver, DriverOverride: j.DriverOverride,
			PhysFn: j.PhysFn, VirtFns: j.VirtFns,
			BootVGA: j.BootVGA,
		}
		d.PCI.ResetMethod, d.PCI.HasResetMethod = deref(j.ResetMethod)
		if j.HeaderType != nil {
			d.PCI.HeaderType, d.PCI.HasHeaderType = uint8(*j.HeaderType), true
		}
		if a, err := pciaddr.Parse(j.Address); err == nil {
			d.PCI.Address, d.PCI.HasAddress = a, true
		}
		if j.Revision != nil {
			d.PCI.Revision, d.PCI.HasRevision = uint8(*j.Revision), true
		}
		if j.IOMMUGroup != nil {
			d.PCI.IOMMUGroup, d.PCI.HasIOMMUGroup = *j.IOMMUGroup, true
		}
		if j.NUMANode != nil {
			d.PCI.NUMANode, d.PCI.HasNUMANode = *j.NUMANode, true
		}
	default:
		return fmt.Errorf("device %s: unknown bus %q", b, probe.Bus)
	}
	return nil
}

// present gives a string that the device supplied, empty or not, and nil
// for one it did not.
func present(s string, has bool) *string {
	if !has {
		return nil
	}
	return &s
}

func deref(s *string) (string, bool) {
	if s == nil {
		return "", false
	}
	return *s, true
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

// hexClass marshals a PCI class as six hex digits: "0c0330".
type hexClass uint32

func (h hexClass) MarshalText() ([]byte, error) { return fmt.Appendf(nil, "%06x", uint32(h)), nil }

func (h *hexClass) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 16, 24)
	if err != nil {
		return fmt.Errorf("%q is not 6 hex digits", b)
	}
	*h = hexClass(v)
	return nil
}
