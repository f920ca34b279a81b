package hypervisor

import (
	"fmt"
	"strings"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/match"
)

// AmbiguousError is a reference that several devices fit. It wraps the
// *match.AmbiguousError, whose picks (serial=A7022OOP, port=1-2.1) are
// hostdev's own terms, and adds what picks each candidate in the
// reference's own dialect: none of the hypervisors can select a USB device
// by serial. QEMU's usb-host can say the port (hostbus=3,hostport=2.1,
// which follows a replug into the same port); libvirt, xl and the seed
// can only say the bus and device number the device has now, libvirt
// with <address bus device> in <source>, as its own error asks.
//
// errors.As finds both this and the *match.AmbiguousError.
type AmbiguousError struct {
	Ref Ref
	// Picks gives, for each of Err.Candidates in order, what the dialect
	// writes to pick it alone: hostbus=1,hostport=2.1 (QEMU),
	// <address bus='1' device='8'/> (libvirt), host:1.8 (xl) or
	// device='001.008' (seed). It is nil for hostdev's own selectors, which
	// Err already advises, and when a candidate has no readable bus and
	// device number.
	Picks []string
	// Advice is Picks as a sentence in the dialect's terms, or "".
	Advice string
	Err    *match.AmbiguousError
}

// Error gives match's message and, on a second line, the dialect's advice:
//
//	2 devices match 1050:0407; add serial=A1 or serial=A2
//	hint: libvirt cannot select by serial; to pick one now, add <address bus='1' device='8'/> or ...
func (e *AmbiguousError) Error() string {
	msg := "several devices match"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Advice == "" {
		return msg
	}
	return msg + "\nhint: " + e.Advice
}

func (e *AmbiguousError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// ambiguous wraps amb, which r's selector gave, with r's dialect's advice.
func ambiguous(r Ref, amb *match.AmbiguousError) *AmbiguousError {
	e := &AmbiguousError{Ref: r, Err: amb}
	e.Picks, e.Advice = advice(r, amb)
	return e
}

// advice says, in r's own dialect, what picks each candidate of amb.
// Both are empty for hostdev's own selectors and when a candidate has no
// readable bus and device number.
func advice(r Ref, amb *match.AmbiguousError) ([]string, string) {
	if r.Dialect == DialectSelector || amb == nil {
		return nil, ""
	}
	var picks []string
	for _, c := range amb.Candidates {
		d := c.Device
		if d.Bus != discover.BusUSB || d.USB == nil || d.USB.Busnum == 0 || d.USB.Devnum == 0 {
			return nil, ""
		}
		u := d.USB
		switch r.Dialect {
		case DialectQEMU:
			picks = append(picks, fmt.Sprintf("hostbus=%d,hostport=%s", u.Busnum, quote.Text(string(u.Port))))
		case DialectLibvirt:
			picks = append(picks, fmt.Sprintf("<address bus='%d' device='%d'/>", u.Busnum, u.Devnum))
		case DialectXL:
			picks = append(picks, fmt.Sprintf("host:%d.%d", u.Busnum, u.Devnum))
		case DialectSeed:
			picks = append(picks, fmt.Sprintf("device='%03d.%03d'", u.Busnum, u.Devnum))
		case DialectProxmox:
			picks = append(picks, fmt.Sprintf("host=%d-%s", u.Busnum, quote.Text(string(u.Port))))
		default:
			return nil, ""
		}
	}
	if len(picks) == 0 {
		return nil, ""
	}
	list := picks[0]
	if n := len(picks); n > 1 {
		list = strings.Join(picks[:n-1], ", ") + " or " + picks[n-1]
	}
	switch r.Dialect {
	case DialectQEMU:
		return picks, "QEMU's usb-host cannot select by serial; to pick by port, use " + list
	case DialectLibvirt:
		return picks, "libvirt cannot select by serial; to pick one now, add " + list + " to <source> (hostdev fill keeps it current only while vendor and product are unique)"
	case DialectXL:
		return picks, "xl cannot select by serial; to pick one now, write " + list
	case DialectProxmox:
		return picks, "Proxmox cannot select by serial; to pick one by its port, write " + list
	default:
		return picks, "the <host> form cannot select by serial; to pick one now, write " + list
	}
}
