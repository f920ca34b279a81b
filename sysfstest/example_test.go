package sysfstest_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/hostdev/hostdev/sysfstest"
)

func ExampleHost_AddUSB() {
	root, err := os.MkdirTemp("", "sysfs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	tr := sysfstest.NewHostAt(root)
	tr.AddUSB(sysfstest.RootHub(1, "480"))
	tr.AddUSB(sysfstest.Hub(1, "3"))
	dir := tr.AddUSB(sysfstest.USBDevice{
		Bus: 1, Port: "3.1", IDVendor: 0x1050, IDProduct: 0x0407,
		Serial:     new("12345678"),
		Interfaces: []sysfstest.USBInterface{{Number: 0, Class: 0x03, Driver: "usbhid"}},
	})
	if err := tr.Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(dir)
	link, _ := os.Readlink(filepath.Join(root, "sys/bus/usb/devices/1-3.1:1.0"))
	fmt.Println(link)
	v, _ := os.ReadFile(filepath.Join(root, "sys/bus/usb/devices/1-3.1/idVendor"))
	fmt.Printf("%q\n", v)
	// Output:
	// sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3.1
	// ../../../devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3.1/1-3.1:1.0
	// "1050\n"
}
