package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// The one device set, booted once: every check runs in this boot.
var boot = vmConfig{
	disks: []string{"da", "db", "dss"},
	devices: []string{
		"qemu-xhci,id=xhci,addr=0x4",
		"usb-ehci,id=ehci,addr=0x5",
		"edu,addr=0x6",
		"pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x7",
		// The identical pair: same vendor and product, told apart by serial.
		"usb-storage,bus=ehci.0,port=1,drive=da,serial=E2E-A",
		"usb-storage,bus=ehci.0,port=2,drive=db,serial=E2E-B",
		// A hub behind a hub, and a keyboard behind both.
		"usb-hub,bus=xhci.0,port=1,id=hub1",
		"usb-hub,bus=xhci.0,port=1.1,id=hub2",
		"usb-kbd,bus=xhci.0,port=1.1.2,serial=KBD-DEEP",
		// SuperSpeed storage: xHCI puts it on its USB 3 root hub.
		"usb-storage,bus=xhci.0,port=2,drive=dss,serial=E2E-SS",
	},
	params: []string{
		"e2e.usbdevs=9",
		"e2e.vfio=0000:00:06.0", "e2e.vfio=0000:00:1f.3",
		"e2e.resolve=host:46f4:0001", "e2e.resolve=serial=E2E-B",
		"e2e.check=00:06.0", "e2e.check=00:1f.3",
		"e2e.hotplug=serial=HOT1",
	},
}

func TestGuest(t *testing.T) {
	v := bootVM(t, boot)
	ready, _ := v.expect(0, 120*time.Second, regexp.MustCompile(`^==READY==$`))
	_ = ready
	v.send("done")
	v.expect(ready, 30*time.Second, regexp.MustCompile(`^==POWEROFF==$`))
	v.waitExit(30 * time.Second)
	t.Log(strings.Join(v.snapshotLines(), "\n"))
}
