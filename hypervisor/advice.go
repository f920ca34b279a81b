package hypervisor

import (
	"fmt"
	"strings"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/match"
)

// Advice says, in r's own dialect, what picks each candidate of an
// ambiguity: match's advice (serial=A7022OOP) is hostdev's language, and
// none of the hypervisors can select by serial. QEMU's usb-host can say
// the port (hostbus=3,hostport=2.1, which follows a replug into the same
// port); libvirt, xl and the seed can only say the bus and device number
// that the device has now. Empty for hostdev's own selectors and when a
// candidate has no readable address.
func Advice(r Ref, amb *match.AmbiguousError) string {
	if r.Dialect == DialectSelector || amb == nil {
		return ""
	}
	var picks []string
	for _, c := range amb.Candidates {
		d := c.Device
		if d.Bus != discover.BusUSB || d.USB == nil || d.USB.Busnum == 0 || d.USB.Devnum == 0 {
			return ""
		}
		u := d.USB
		switch r.Dialect {
		case DialectQEMU:
			picks = append(picks, fmt.Sprintf("hostbus=%d,hostport=%s", u.Busnum, u.Port))
		case DialectLibvirt:
			picks = append(picks, fmt.Sprintf("<address bus='%d' device='%d'/>", u.Busnum, u.Devnum))
		case DialectXL:
			picks = append(picks, fmt.Sprintf("host:%d.%d", u.Busnum, u.Devnum))
		case DialectSeed:
			picks = append(picks, fmt.Sprintf("device='%03d.%03d'", u.Busnum, u.Devnum))
		}
	}
	if len(picks) == 0 {
		return ""
	}
	list := picks[0]
	if n := len(picks); n > 1 {
		list = strings.Join(picks[:n-1], ", ") + " or " + picks[n-1]
	}
	switch r.Dialect {
	case DialectQEMU:
		return "QEMU's usb-host cannot select by serial; to pick by port, use " + list
	case DialectLibvirt:
		return "libvirt cannot select by serial; to pick one now, add " + list + " to <source> (hostdev fill keeps it current only while vendor and product are unique)"
	case DialectXL:
		return "xl cannot select by serial; to pick one now, write " + list
	default:
		return "the <host> form cannot select by serial; to pick one now, write " + list
	}
}
