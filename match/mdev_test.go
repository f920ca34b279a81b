package match

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/pciaddr"
)

const (
	gvtUUID  = "f1d3c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	mttyUUID = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
)

// mdevDevices is an Intel GPU offering two GVT-g types, an instance of
// one, an mtty sample instance, and a GPU that is no mdev parent.
func mdevDevices() []discover.Device {
	gvt4 := discover.MdevType{ID: "i915-GVTg_V5_4", Name: "GVTg_V5_4", DeviceAPI: "vfio-pci", AvailableInstances: new(2)}
	return []discover.Device{
		{Bus: discover.BusPCI, Name: "0000:00:02.0", VendorID: 0x8086, ProductID: 0x3e92, PCI: &discover.PCI{
			Address: new(pciaddr.MustParse("0000:00:02.0")), Class: 0x030000, Driver: "i915", IOMMUGroup: new(0),
			MdevTypes: []discover.MdevType{gvt4, {ID: "i915-GVTg_V5_8", DeviceAPI: "vfio-pci", AvailableInstances: new(0)}}}},
		{Bus: discover.BusPCI, Name: "0000:01:00.0", VendorID: 0x10de, ProductID: 0x1c82, PCI: &discover.PCI{
			Address: new(pciaddr.MustParse("0000:01:00.0")), Class: 0x030000, Driver: "nouveau", IOMMUGroup: new(1)}},
		{Bus: discover.BusMdev, Name: gvtUUID, Parent: "0000:00:02.0", Mdev: &discover.Mdev{
			UUID: gvtUUID, Type: gvt4, Driver: "vfio_mdev", IOMMUGroup: new(12)}},
		{Bus: discover.BusMdev, Name: mttyUUID, Parent: "mtty", Mdev: &discover.Mdev{
			UUID: mttyUUID, Type: discover.MdevType{ID: "mtty-2", DeviceAPI: "vfio-pci"}, Driver: "mtty", IOMMUGroup: new(13)}},
	}
}

func TestMdevParse(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{in: "mdev-type=i915-GVTg_V5_4", want: "mdev-type=i915-GVTg_V5_4"},
		{in: "mdev-type=nvidia-*|mtty-2", want: "mdev-type=mtty-2|nvidia-*"},
		{in: "uuid=F1D3C2B4-5E6F-4A7B-8C9D-0E1F2A3B4C5D", want: "uuid=" + gvtUUID},
		{in: "uuid=f1d3c2b45e6f4a7b8c9d0e1f2a3b4c5d", want: "uuid=" + gvtUUID},
		{in: "uuid=f1d3c2b4-*", want: "uuid=f1d3c2b4-*"},
		{in: "bus=mdev,uuid=" + gvtUUID, want: "bus=mdev,uuid=" + gvtUUID},
		{in: "address=00:02.0,mdev-type=i915-GVTg_V5_4", want: "address=0000:00:02.0,mdev-type=i915-GVTg_V5_4"},
		{in: "uuid=f1d3c2b4-5e6f-4a7b-8c9d", err: `selector "uuid=f1d3c2b4-5e6f-4a7b-8c9d": uuid "f1d3c2b4-5e6f-4a7b-8c9d" is not a UUID (want 8-4-4-4-12 hex digits, as in 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001)`},
		{in: "uuid=f1d3c2b45-e6f-4a7b-8c9d-0e1f2a3b4c5d", err: `selector "uuid=f1d3c2b45-e6f-4a7b-8c9d-0e1f2a3b4c5d": uuid "f1d3c2b45-e6f-4a7b-8c9d-0e1f2a3b4c5d" is not a UUID (want 8-4-4-4-12 hex digits, as in 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001)`},
		{in: "mdev-type=GVTg V5 4", err: `selector "mdev-type=GVTg V5 4": mdev-type "GVTg V5 4" is not a mediated device type such as i915-GVTg_V5_4 or nvidia-63 (letters, digits, '-', '_' and '.'; the directory names of mdev_supported_types)`},
		{in: "mdev_type=mtty-2", err: `selector "mdev_type=mtty-2": unknown key "mdev_type"; did you mean mdev-type?`},
		{in: "uid=" + gvtUUID, err: `selector "uid=f1d3c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d": unknown key "uid"; did you mean uuid?`},
		{in: "bus=vfio", err: `selector "bus=vfio": bus "vfio" is not usb, pci or mdev`},
	} {
		t.Run(tt.in, func(t *testing.T) {
			s, err := Parse(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("Parse error = %v\nwant %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.String() != tt.want {
				t.Errorf("String() = %q, want %q", s, tt.want)
			}
			back, err := Parse(s.String())
			if err != nil || !cmp.Equal(back, s) {
				t.Errorf("Parse(String()) = %v, %v; want %v", back, err, s)
			}
		})
	}
}

func TestMdevMatch(t *testing.T) {
	devs := mdevDevices()
	for _, tt := range []struct {
		sel  string
		want []string
	}{
		// A parent offering the type, and an instance of it.
		{"mdev-type=i915-GVTg_V5_4", []string{"0000:00:02.0", gvtUUID}},
		// A type nobody has an instance of: only the parent offers it.
		{"mdev-type=i915-GVTg_V5_8", []string{"0000:00:02.0"}},
		{"bus=pci,mdev-type=i915-*", []string{"0000:00:02.0"}},
		{"bus=mdev,mdev-type=i915-*", []string{gvtUUID}},
		{"address=00:02.0,mdev-type=i915-GVTg_V5_4", []string{"0000:00:02.0"}},
		{"address=01:00.0,mdev-type=i915-GVTg_V5_4", nil},
		{"mdev-type=*", []string{"0000:00:02.0", gvtUUID, mttyUUID}},
		{"uuid=" + mttyUUID, []string{mttyUUID}},
		{"uuid=*", []string{gvtUUID, mttyUUID}},
		{"bus=mdev", []string{gvtUUID, mttyUUID}},
		{"bus=mdev,driver=mtty", []string{mttyUUID}},
		{"iommu-group=12", []string{gvtUUID}},
		{"class=03", []string{"0000:00:02.0", "0000:01:00.0"}},
	} {
		var got []string
		for _, d := range devs {
			if must(Parse(tt.sel)).Match(d) {
				got = append(got, d.Name)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.sel, diff)
		}
	}
}

func TestMdevResolveErrors(t *testing.T) {
	devs := mdevDevices()
	for _, tt := range []struct{ sel, want string }{
		{"mdev-type=i915-GVTg_V5_4",
			"2 devices match mdev-type=i915-GVTg_V5_4; add address=0000:00:02.0 or uuid=" + gvtUUID},
		{"uuid=00000000-0000-0000-0000-000000000001",
			"no device matches uuid=00000000-0000-0000-0000-000000000001; nearest: " +
				gvtUUID + " (mdev i915-GVTg_V5_4) uuid is " + gvtUUID + ", " +
				mttyUUID + " (mdev mtty-2) uuid is " + mttyUUID},
		{"address=01:00.0,mdev-type=i915-GVTg_V5_4",
			"no device matches address=0000:01:00.0,mdev-type=i915-GVTg_V5_4; nearest: 0000:00:02.0 (8086:3e92) address is 0000:00:02.0, " +
				"0000:01:00.0 (10de:1c82) offers no mdev-type"},
		{"bus=mdev,mdev-type=nvidia-63",
			"no device matches bus=mdev,mdev-type=nvidia-63; nearest: " +
				gvtUUID + " (mdev i915-GVTg_V5_4) mdev-type is i915-GVTg_V5_4, " +
				mttyUUID + " (mdev mtty-2) mdev-type is mtty-2"},
	} {
		_, err := Resolve(must(Parse(tt.sel)), devs)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.sel, err, tt.want)
		}
	}
}
