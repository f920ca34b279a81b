package main

import (
	"strings"
	"testing"

	resourceapi "k8s.io/api/resource/v1"
	"sigs.k8s.io/yaml"
)

// resolve --format cel prints a selector by serial for a unique serial,
// by bus and port for twins whose serial is shared, and by address for
// PCI (whether each picks its device through the real allocator is
// dra's TestSelectorPicksOne).
func TestResolveCEL(t *testing.T) {
	root := smallHost(t)
	code, out, errs := hostdev(t, "resolve", "--root", root, "--format", "cel", "serial=A7022OO1", "00:1f.3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := `device.attributes["hostdev.io"].busType == "usb" && device.attributes["hostdev.io"].vendorID == "0403" && device.attributes["hostdev.io"].productID == "6001" && device.attributes["hostdev.io"].serial == "A7022OO1"
device.attributes["hostdev.io"].busType == "pci" && device.attributes["hostdev.io"].vendorID == "8086" && device.attributes["hostdev.io"].productID == "a348" && device.attributes["resource.kubernetes.io"].pciBusID == "0000:00:1f.3"
`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// resolve --format claim prints a ResourceClaimTemplate that the API's
// own types read strictly, with one request per device, each in its
// bus's DeviceClass with the selector --format cel prints.
func TestResolveClaim(t *testing.T) {
	tr := hostileTwins(t) // two sticks alike, with hostile serials
	tr.Plug(stick("3", "K3"))
	args := []string{"resolve", "--root", tr.Root(), "serial=K3", "port=1-1"}
	code, out, errs := hostdev(t, append(args, "--format", "claim")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	checkClean(t, "the claim", out)
	var tmpl resourceapi.ResourceClaimTemplate
	if err := yaml.UnmarshalStrict([]byte(out), &tmpl); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	_, cel, _ := hostdev(t, append(args, "--format", "cel")...)
	exprs := strings.Split(strings.TrimSuffix(cel, "\n"), "\n")
	reqs := tmpl.Spec.Spec.Devices.Requests
	if tmpl.Kind != "ResourceClaimTemplate" || tmpl.APIVersion != "resource.k8s.io/v1" || tmpl.Name != "hostdev-usb-0483-2016" || len(reqs) != 2 {
		t.Fatalf("template %+v:\n%s", tmpl, out)
	}
	for i, r := range reqs {
		if r.Exactly == nil || r.Exactly.DeviceClassName != "usb.hostdev.io" || len(r.Exactly.Selectors) != 1 ||
			r.Exactly.Selectors[0].CEL == nil || r.Exactly.Selectors[0].CEL.Expression != exprs[i] {
			t.Errorf("request %d: %+v, want usb.hostdev.io and %s", i, r, exprs[i])
		}
	}
	if reqs[0].Name == reqs[1].Name {
		t.Errorf("two requests named %s", reqs[0].Name)
	}
	// The stick at port 1 has a serial unlike its twin's (the colour
	// differs): it goes by serial, published as list prints it (a Go
	// literal), and that literal is quoted again for CEL.
	if !strings.Contains(exprs[1], `serial == "\"K\\x1b[31mX\\a\""`) {
		t.Errorf("the hostile serial is not a CEL escape: %s", exprs[1])
	}
}
