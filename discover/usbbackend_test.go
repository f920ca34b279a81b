package discover

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestScanLibusbRefusesRoot(t *testing.T) {
	_, err := Scan(context.Background(), Options{Root: t.TempDir(), USBBackend: USBLibusb})
	if err == nil || !strings.Contains(err.Error(), "live host") {
		t.Errorf("libusb under a root: got %v, want an error about the live host", err)
	}
	_, err = Scan(context.Background(), Options{Root: t.TempDir(), USBBackend: "usbfs"})
	if err == nil || !strings.Contains(err.Error(), "usbfs") {
		t.Errorf("unknown backend: got %v", err)
	}
}

func TestScanLibusbWithoutTag(t *testing.T) {
	if HasLibusb {
		t.Skip("this build has the libusb backend")
	}
	_, err := Scan(context.Background(), Options{USBBackend: USBLibusb})
	if !errors.Is(err, ErrNoLibusb) {
		t.Errorf("got %v, want ErrNoLibusb", err)
	}
	if !strings.Contains(ErrNoLibusb.Error(), "-tags libusb") {
		t.Errorf("ErrNoLibusb %q does not say how to build", ErrNoLibusb)
	}
}
