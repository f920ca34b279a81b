package readiness

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/sysfstest"
)

// A verdict is the device's JSON with assignable and reasons added, and
// reads back as it was.
func TestVerdictJSON(t *testing.T) {
	rep := assess(t, func(tr *sysfstest.Host) {
		tr.AddPCI(with(rootPort, "pcieport", 1))
		tr.AddPCI(with(gpu, "vfio-pci", 1))
		tr.AddPCI(with(gpuAudio, "snd_hda_intel", 1))
		tr.AddPCI(with(sata, "vfio-pci", 2))
	}, Options{})
	for _, v := range rep.Devices {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		dev, err := json.Marshal(v.Device)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), string(dev[:len(dev)-1])+`,"assignable":`) {
			t.Errorf("%s: does not extend the device's JSON %s", b, dev)
		}
		var back Verdict
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if diff := cmp.Diff(v, back); diff != "" {
			t.Errorf("%s: round trip (-want +got):\n%s", v.Device.Name, diff)
		}
	}
	v, _ := rep.Verdict("0000:00:1f.2")
	b, _ := json.Marshal(v)
	if !strings.HasSuffix(string(b), `"assignable":true,"reasons":[]}`) {
		t.Errorf("assignable device: %s", b)
	}
	v, _ = rep.Verdict("0000:01:00.1")
	b, _ = json.Marshal(v.Reasons[0])
	var r map[string]any
	json.Unmarshal(b, &r)
	if r["code"] != "host-driver" || r["blocking"] != false || r["fix"] == nil {
		t.Errorf("reason: %s", b)
	}
}
