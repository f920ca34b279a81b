package dra

import (
	"bytes"
	"os"
	"strings"
	"testing"

	resourceapi "k8s.io/api/resource/v1"
	"sigs.k8s.io/yaml"

	"github.com/hostdev/hostdev/dra/draattr"
)

// The DeviceClasses in deploy/ read strictly as the API's types, carry the
// names hostdev-discover's claims use, and select as the allocator tests'
// classes do, which those tests run through the real allocator.
func TestDeployedDeviceClasses(t *testing.T) {
	data, err := os.ReadFile("../deploy/deviceclasses.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var dc resourceapi.DeviceClass
		if err := yaml.UnmarshalStrict(doc, &dc); err != nil {
			t.Fatalf("%v:\n%s", err, doc)
		}
		if dc.Kind != "DeviceClass" || dc.APIVersion != "resource.k8s.io/v1" || len(dc.Spec.Selectors) != 1 || dc.Spec.Selectors[0].CEL == nil {
			t.Fatalf("%+v", dc)
		}
		expr, ok := strings.CutPrefix(dc.Spec.Selectors[0].CEL.Expression, `device.driver == "hostdev.io" && `)
		if !ok {
			t.Errorf("%s: %q does not pick the driver first", dc.Name, dc.Spec.Selectors[0].CEL.Expression)
		}
		got[dc.Name] = expr
	}
	for _, name := range []string{draattr.ClassUSB, draattr.ClassPCI, "viable-pci.hostdev.io"} {
		if got[name] == "" || got[name] != testClasses[name] {
			t.Errorf("%s: deployed %q, tested %q", name, got[name], testClasses[name])
		}
	}
}
