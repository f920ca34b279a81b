package uevent

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	// kernelGroup is the multicast group the kernel sends uevents to;
	// udev re-broadcasts on group 2.
	kernelGroup = 1
	// rcvBuf is the receive buffer asked for, so bursts (a hub with many
	// devices, a driver load) do not overflow it.
	rcvBuf = 4 << 20
	// msgBuf holds one message. The kernel's env buffer is 2 KiB, and the
	// header adds the devpath; 16 KiB leaves ample room.
	msgBuf = 16 << 10
)

// Conn is a socket bound to the kernel's uevent multicast group.
//
// It keeps only messages the kernel sent: from port 0, with credentials of
// uid 0. That stops ordinary processes; a process with CAP_SYS_ADMIN over
// the network namespace can still have the kernel relay a message for it.
type Conn struct {
	f  *os.File
	rc syscall.RawConn

	mu  sync.Mutex // serialises Read, which shares buf and oob
	buf []byte
	oob []byte

	closed   atomic.Bool
	rejected atomic.Uint64
}

// Listen opens a socket for kernel uevents. Unprivileged users may listen;
// the larger receive buffer may then be capped by net.core.rmem_max.
//
// The kernel sends uevents only into network namespaces owned by the
// initial user namespace. In a rootless container Listen succeeds, but no
// event ever comes.
func Listen() (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("uevent: %w", os.NewSyscallError("socket", err))
	}
	if err := setup(fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "uevent")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("uevent: %w", err)
	}
	return &Conn{
		f:   f,
		rc:  rc,
		buf: make([]byte, msgBuf),
		oob: make([]byte, unix.CmsgSpace(unix.SizeofUcred)),
	}, nil
}

func setup(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		return fmt.Errorf("uevent: %w", os.NewSyscallError("setsockopt SO_PASSCRED", err))
	}
	// SO_RCVBUFFORCE passes net.core.rmem_max but needs CAP_NET_ADMIN.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf); err != nil {
			return fmt.Errorf("uevent: %w", os.NewSyscallError("setsockopt SO_RCVBUF", err))
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: kernelGroup}); err != nil {
		return fmt.Errorf("uevent: %w", os.NewSyscallError("bind", err))
	}
	return nil
}

// Read blocks until the next kernel message and parses it.
//
// Messages not from the kernel are skipped and counted by Rejected. After an
// error the Conn stays usable, unless it was closed (the error then wraps
// os.ErrClosed). An error wrapping ErrOverflow means events were lost,
// and one about a message longer than the buffer means one was: rescan in
// either case. A *SyntaxError is one message that could not be read; nothing
// else was lost, so report it and go on (discover's watcher does, and
// leaves what that message said to its periodic rescan).
func (c *Conn) Read() (Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msg, err := c.readMsg()
	if err != nil {
		return Event{}, err
	}
	return Parse(msg)
}

// Rejected counts the messages Read skipped because the kernel did not
// send them.
func (c *Conn) Rejected() uint64 { return c.rejected.Load() }

// Close unblocks a pending Read and closes the socket. Later calls do
// nothing and return nil.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := c.f.Close(); err != nil {
		return fmt.Errorf("uevent: close: %w", err)
	}
	return nil
}

// readMsg returns the next message the kernel sent, in c.buf. The caller
// holds c.mu.
func (c *Conn) readMsg() ([]byte, error) {
	for {
		var (
			n, oobn, flags int
			from           unix.Sockaddr
			rerr           error
		)
		err := c.rc.Read(func(fd uintptr) bool {
			for {
				// MSG_TRUNC makes n the message's real length.
				n, oobn, flags, from, rerr = unix.Recvmsg(int(fd), c.buf, c.oob, unix.MSG_TRUNC)
				if rerr != unix.EINTR {
					return rerr != unix.EAGAIN
				}
			}
		})
		if err != nil {
			if c.closed.Load() {
				// The poller says "use of closed file", which is not
				// os.ErrClosed.
				return nil, fmt.Errorf("uevent: read: %w", os.ErrClosed)
			}
			return nil, fmt.Errorf("uevent: read: %w", err)
		}
		if rerr != nil {
			return nil, recvError(rerr)
		}
		if !fromKernel(from, c.oob[:oobn]) {
			c.rejected.Add(1)
			continue
		}
		if flags&unix.MSG_TRUNC != 0 || n > len(c.buf) {
			return nil, fmt.Errorf("uevent: read: message of %d bytes is longer than the %d-byte buffer", n, len(c.buf))
		}
		return c.buf[:n], nil
	}
}

// recvError wraps an error from recvmsg; ENOBUFS means overflow.
func recvError(err error) error {
	if errors.Is(err, unix.ENOBUFS) {
		return fmt.Errorf("%w: %w", ErrOverflow, os.NewSyscallError("recvmsg", err))
	}
	return fmt.Errorf("uevent: %w", os.NewSyscallError("recvmsg", err))
}

// fromKernel reports whether a message came from the kernel: sent from
// port 0 and carrying credentials of uid 0.
func fromKernel(from unix.Sockaddr, oob []byte) bool {
	sa, ok := from.(*unix.SockaddrNetlink)
	if !ok || sa.Pid != 0 {
		return false
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return false
	}
	for i := range cmsgs {
		if cmsgs[i].Header.Level != unix.SOL_SOCKET || cmsgs[i].Header.Type != unix.SCM_CREDENTIALS {
			continue
		}
		cred, err := unix.ParseUnixCredentials(&cmsgs[i])
		return err == nil && cred.Uid == 0
	}
	return false
}
