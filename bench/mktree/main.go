// Command mktree writes a synthetic sysfs tree, for benchmarks and for
// trying hostdev-discover on a tree of any size.
//
//	go run ./bench/mktree -usb 1000 -pci 10000 /tmp/tree
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hostdev/hostdev/sysfstest"
)

func main() {
	usb := flag.Int("usb", 0, "number of USB devices")
	pci := flag.Int("pci", 0, "number of PCI functions")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: mktree [-usb N] [-pci N] DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := sysfstest.Synthetic(flag.Arg(0), *usb, *pci); err != nil {
		fmt.Fprintln(os.Stderr, "mktree:", err)
		os.Exit(1)
	}
}
