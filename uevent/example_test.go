package uevent_test

import (
	"fmt"

	"github.com/hostdev/hostdev/uevent"
)

func ExampleParse() {
	msg := []byte("add@/devices/pci0000:00/0000:00:14.0/usb3/3-2\x00" +
		"ACTION=add\x00DEVPATH=/devices/pci0000:00/0000:00:14.0/usb3/3-2\x00SUBSYSTEM=usb\x00" +
		"DEVTYPE=usb_device\x00PRODUCT=483/2016/200\x00BUSNUM=003\x00DEVNUM=009\x00SEQNUM=5121\x00")
	ev, err := uevent.Parse(msg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ev.Action, ev.Subsystem, ev.Devtype, ev.Devpath)
	fmt.Println(ev.Env["PRODUCT"], ev.Seqnum)

	_, err = uevent.Parse([]byte("add@/devices/x\x00FOO\x00"))
	fmt.Println(err)
	// Output:
	// add usb usb_device /devices/pci0000:00/0000:00:14.0/usb3/3-2
	// 483/2016/200 5121
	// uevent: byte 15: "FOO" has no '='
}
