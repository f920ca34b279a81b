package kubetest

import (
	"errors"
	"net"
	"strconv"
	"testing"
)

// A process that loses its port to another program is started again on
// new ports, at most three times; any other error is returned at once.
func TestWithPortsRetries(t *testing.T) {
	var seen [][]int
	err := withPorts(2, func(ports []int) error {
		seen = append(seen, ports)
		if ports[0] == ports[1] {
			t.Errorf("freePorts gave the same port twice: %v", ports)
		}
		for _, p := range ports {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				t.Errorf("port %d was not free: %v", p, err)
				continue
			}
			l.Close()
		}
		return errPortTaken
	})
	if !errors.Is(err, errPortTaken) || len(seen) != 3 {
		t.Errorf("withPorts = %v after %d tries, want errPortTaken after 3", err, len(seen))
	}

	other := errors.New("bad flag")
	tries := 0
	err = withPorts(1, func([]int) error { tries++; return other })
	if err != other || tries != 1 {
		t.Errorf("withPorts = %v after %d tries, want %v after 1", err, tries, other)
	}
}
