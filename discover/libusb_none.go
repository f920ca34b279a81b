//go:build !libusb

package discover

// HasLibusb reports whether this build has the libusb backend.
const HasLibusb = false

func scanLibusb(opts Options, res *Result) error { return ErrNoLibusb }
