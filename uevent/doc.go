// Package uevent receives the kernel's device events (uevents) over a
// NETLINK_KOBJECT_UEVENT socket, so a watcher learns of USB and PCI add,
// remove, bind and unbind within milliseconds.
//
//	c, err := uevent.Listen()
//	if err != nil { ... }
//	defer c.Close()
//	for {
//		ev, err := c.Read()
//		switch {
//		case errors.Is(err, os.ErrClosed):
//			return
//		case errors.As(err, new(*uevent.SyntaxError)):
//			// one message that did not parse: report it, go on
//		case err != nil:
//			// ErrOverflow, or a message too long: events were lost, rescan sysfs
//		default:
//			// look at ev.Action and ev.Devpath, then re-read sysfs
//		}
//	}
//
// An event says which device changed, not what it now is: a USB device's
// event carries no serial, and its interfaces come in later events. Read
// sysfs again after an event rather than trusting its fields.
//
// Parse reads one message without a socket, for tests and captures.
package uevent
