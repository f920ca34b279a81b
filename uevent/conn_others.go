//go:build !linux

package uevent

import (
	"fmt"
	"runtime"
)

// Conn is a socket bound to the kernel's uevent multicast group. It exists
// only on Linux.
type Conn struct{}

// Listen fails: uevents are a Linux feature.
func Listen() (*Conn, error) {
	return nil, fmt.Errorf("uevent: not supported on %s/%s", runtime.GOOS, runtime.GOARCH)
}

// Read fails: there is no socket.
func (c *Conn) Read() (Event, error) {
	return Event{}, fmt.Errorf("uevent: not supported on %s/%s", runtime.GOOS, runtime.GOARCH)
}

// Rejected is always 0.
func (c *Conn) Rejected() uint64 { return 0 }

// Close does nothing.
func (c *Conn) Close() error { return nil }
