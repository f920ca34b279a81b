package dra

import (
	"errors"
	"fmt"
	"strings"

	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Chunks splits the devices into the slices of the pool: untainted devices
// in scan order, at most MaxDevicesPerSlice a slice, then tainted ones, at
// most MaxTaintedDevicesPerSlice a slice (the API's limit for a slice in
// which a device has taints). The allocator tries slices in order, so
// devices that can be prepared come first. There is always at least one
// slice, empty for a node without devices.
func (inv *Inventory) Chunks() [][]resourceapi.Device {
	var plain, tainted []resourceapi.Device
	for _, d := range inv.Devices {
		if len(d.API.Taints) > 0 {
			tainted = append(tainted, d.API)
		} else {
			plain = append(plain, d.API)
		}
	}
	var out [][]resourceapi.Device
	for len(plain) > 0 {
		n := min(len(plain), MaxDevicesPerSlice)
		out = append(out, plain[:n:n])
		plain = plain[n:]
	}
	for len(tainted) > 0 {
		n := min(len(tainted), MaxTaintedDevicesPerSlice)
		out = append(out, tainted[:n:n])
		tainted = tainted[n:]
	}
	if len(out) == 0 {
		out = append(out, []resourceapi.Device{})
	}
	return out
}

// Slices gives the ResourceSlices of the node's pool (named after the
// node) at a generation: Chunks, each with the pool's generation and
// number of slices. Their names, NODE-hostdev.io-N, are for a dry run or a
// test; the kubelet plugin's publisher names the slices it writes itself.
func (inv *Inventory) Slices(nodeName string, generation int64) []*resourceapi.ResourceSlice {
	chunks := inv.Chunks()
	out := make([]*resourceapi.ResourceSlice, len(chunks))
	for i, devs := range chunks {
		out[i] = &resourceapi.ResourceSlice{
			TypeMeta:   metav1.TypeMeta{APIVersion: resourceapi.SchemeGroupVersion.String(), Kind: "ResourceSlice"},
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s-%d", nodeName, DriverName, i)},
			Spec: resourceapi.ResourceSliceSpec{
				Driver:   DriverName,
				NodeName: &nodeName,
				Pool: resourceapi.ResourcePool{Name: nodeName, Generation: generation,
					ResourceSliceCount: int64(len(chunks))},
				Devices: devs,
			},
		}
	}
	return out
}

// validateSlice checks a slice against what the API server checks of the
// fields this package fills in (k8s.io/kubernetes pkg/apis/resource/validation).
func validateSlice(s *resourceapi.ResourceSlice) error {
	var errs []error
	for _, m := range validation.IsDNS1123Subdomain(s.Name) {
		errs = append(errs, fmt.Errorf("name %q: %s", s.Name, m))
	}
	errs = append(errs, validateDomain(s.Spec.Driver)...)
	for _, m := range validation.IsDNS1123Subdomain(s.Spec.Pool.Name) {
		errs = append(errs, fmt.Errorf("pool %q: %s", s.Spec.Pool.Name, m))
	}
	if s.Spec.Pool.ResourceSliceCount < 1 {
		errs = append(errs, fmt.Errorf("pool %q: resourceSliceCount %d", s.Spec.Pool.Name, s.Spec.Pool.ResourceSliceCount))
	}
	if s.Spec.NodeName == nil || *s.Spec.NodeName == "" {
		errs = append(errs, errors.New("no nodeName"))
	}
	limit := MaxDevicesPerSlice
	names := map[string]bool{}
	for _, d := range s.Spec.Devices {
		if len(d.Taints) > 0 {
			limit = MaxTaintedDevicesPerSlice
		}
		if names[d.Name] {
			errs = append(errs, fmt.Errorf("device %q twice", d.Name))
		}
		names[d.Name] = true
		if err := validateDevice(d); err != nil {
			errs = append(errs, err)
		}
	}
	if len(s.Spec.Devices) > limit {
		errs = append(errs, fmt.Errorf("%d devices, more than %d", len(s.Spec.Devices), limit))
	}
	return errors.Join(errs...)
}

// validateDevice checks one device as the API server does.
func validateDevice(d resourceapi.Device) error {
	var errs []error
	for _, m := range validation.IsDNS1123Label(d.Name) {
		errs = append(errs, fmt.Errorf("name %q: %s", d.Name, m))
	}
	if n := len(d.Attributes) + len(d.Capacity); n > MaxAttributes {
		errs = append(errs, fmt.Errorf("device %q: %d attributes and capacities, more than %d", d.Name, n, MaxAttributes))
	}
	for name, a := range d.Attributes {
		for _, err := range validateQualifiedName(name) {
			errs = append(errs, fmt.Errorf("device %q: %w", d.Name, err))
		}
		n := 0
		for _, set := range []bool{a.IntValue != nil, a.BoolValue != nil, a.StringValue != nil, a.VersionValue != nil,
			a.IntValues != nil, a.BoolValues != nil, a.StringValues != nil, a.VersionValues != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Errorf("device %q: attribute %s has %d values, not one", d.Name, name, n))
		}
		if a.StringValue != nil && len(*a.StringValue) > MaxStringLength {
			errs = append(errs, fmt.Errorf("device %q: attribute %s: %d bytes, more than %d", d.Name, name, len(*a.StringValue), MaxStringLength))
		}
	}
	if len(d.Taints) > resourceapi.DeviceTaintsMaxLength {
		errs = append(errs, fmt.Errorf("device %q: %d taints", d.Name, len(d.Taints)))
	}
	for _, t := range d.Taints {
		for _, m := range content.IsLabelKey(t.Key) {
			errs = append(errs, fmt.Errorf("device %q: taint key %q: %s", d.Name, t.Key, m))
		}
		if t.Value != "" {
			for _, m := range content.IsLabelValue(t.Value) {
				errs = append(errs, fmt.Errorf("device %q: taint value %q: %s", d.Name, t.Value, m))
			}
		}
		switch t.Effect {
		case resourceapi.DeviceTaintEffectNone, resourceapi.DeviceTaintEffectNoSchedule, resourceapi.DeviceTaintEffectNoExecute:
		default:
			errs = append(errs, fmt.Errorf("device %q: taint effect %q", d.Name, t.Effect))
		}
	}
	return errors.Join(errs...)
}

// validateQualifiedName checks an attribute name: a C identifier of at
// most 32 characters, after a domain of at most 63 and a slash.
func validateQualifiedName(name resourceapi.QualifiedName) []error {
	domain, id, qualified := strings.Cut(string(name), "/")
	if !qualified {
		domain, id = "", domain
	}
	var errs []error
	if qualified {
		errs = append(errs, validateDomain(domain)...)
	}
	if len(id) > resourceapi.DeviceMaxIDLength {
		errs = append(errs, fmt.Errorf("attribute %s: %q is longer than %d", name, id, resourceapi.DeviceMaxIDLength))
	}
	for _, m := range content.IsCIdentifier(id) {
		errs = append(errs, fmt.Errorf("attribute %s: %s", name, m))
	}
	return errs
}

// validateDomain checks a driver name, or an attribute's domain.
func validateDomain(s string) []error {
	var errs []error
	if len(s) > resourceapi.DriverNameMaxLength {
		errs = append(errs, fmt.Errorf("%q is longer than %d", s, resourceapi.DriverNameMaxLength))
	}
	for _, m := range validation.IsDNS1123Subdomain(s) {
		errs = append(errs, fmt.Errorf("%q: %s", s, m))
	}
	return errs
}
