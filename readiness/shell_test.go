package readiness

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/sysfstest"
)

// A Device built by hand may carry any name. The commands a verdict
// advises put it in single quotes, where a shell runs none of it.
func TestFixCommandsQuoteNames(t *testing.T) {
	root := t.TempDir()
	tr := sysfstest.NewHostAt(root)
	tr.AddPCI(rootPort)
	tr.AddPCI(with(gpu, "nouveau", 1))
	tr.AddPCI(with(gpuAudio, "snd_hda_intel", 1))
	tr.AddUSB(sysfstest.RootHub(1, "480"))
	tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "2", IDVendor: 0x0483, IDProduct: 0x2016, Unauthorized: true})
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := discover.Scan(context.Background(), discover.Options{Root: root, Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range res.Devices {
		res.Devices[i].Name += "$(reboot);reboot `reboot`'reboot"
	}
	rep, err := Assess(res.Devices, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	quoted := regexp.MustCompile(`'[^']*'`)
	var checked int
	for _, v := range rep.Devices {
		v = UnmanagedHostdev(v)
		for _, r := range v.Reasons {
			for _, line := range r.Fix {
				if strings.HasPrefix(line, "#") || !strings.Contains(line, "reboot") {
					continue
				}
				checked++
				// '\'' is a quote outside single quotes: drop it first.
				bare := quoted.ReplaceAllString(strings.ReplaceAll(line, `'\''`, ""), "")
				if strings.ContainsAny(bare, "$;`") || strings.Contains(bare, "reboot") {
					t.Errorf("%s: %s: %q leaves %q to the shell", v.Device.Name, r.Code, line, bare)
				}
			}
		}
	}
	if checked < 5 {
		t.Errorf("%d commands named a device; want the detach, unbind, probe, authorize and group ones", checked)
	}
}
