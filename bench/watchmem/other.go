//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "watchmem: reads /proc/PID/status, so it runs on Linux only")
	os.Exit(1)
}
