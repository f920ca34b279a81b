package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hostdev/hostdev/hypervisor"
)

func fillCommand(e *env) *cobra.Command {
	var (
		flags   scanFlags
		inPlace bool
		pve     pveFlags
	)
	c := &cobra.Command{
		Use:   "fill FILE",
		Short: "Write the current address of every device into a config",
		Long: `Read a libvirt domain XML, a <host> document, an xl config, a Proxmox VE
VM config, a file of QEMU options (a script or a saved command line) or of
QMP commands, resolve every host device in it, and print the same document
with each device's current address written in:

  libvirt  a USB <hostdev> with <vendor> and <product> gets
           <address bus='B' device='D'/> in its <source>
  <host>   a USB <host> gets <target dev='BBB.DDD'/>
  xl       usbdevice='host:VVVV:PPPP' becomes 'host:B.D'; host:008.002
           becomes host:8.2, as the xl manual asks
  QEMU     a usb-host with vendorid and productid gets hostbus=B and
           hostport=P (its port path, which stays the same across a
           replug, where hostaddr does not), inside its quotes; in QMP,
           "hostbus":B,"hostport":"P"
  Proxmox  nothing changes: Proxmox finds each device itself at every
           start (by vendor:product or port), and has no form for the
           address a device has now. Every usbN and hostpciN is checked
           as Proxmox would at start: a vendor:product two devices share,
           a port with nothing or a hub in it, a function given twice, a
           mapping (--mapping FILE, --node NAME) whose hardware changed.

Devices named by an exact address are checked and left as they are, and so
are Incus configs and cloud-hypervisor and crosvm command lines: Incus
compares busnum and devnum as text at every start, so writing the numbers a
USB device has now would lose it at its next replug; a usb entry several
devices match is reported (Incus takes them all), and the fix is yours:
serial=, or busnum= and devnum= knowing that cost.
Everything else in the file is kept byte for byte: comments, spacing,
attribute and key order. A device that moved is reported on stderr.

An xl vendor:product has no place to be kept beside the address, so it is
replaced: keep your template and write the filled copy elsewhere rather
than using -i on it.

If any device does not resolve, nothing is printed or written, and the exit
status is that of resolve: 3 no match, 4 ambiguous. A USB <hostdev> with
startupPolicy='optional' may be missing. -i replaces FILE atomically
(temporary file, sync, rename), keeping its mode, owner, group and
extended attributes (SELinux labels, ACLs); when they cannot be kept (the
file belongs to someone else and you are not root), fill -i refuses
before writing anything.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			path := args[0]
			var (
				doc    []byte
				target string     // what -i replaces
				attrs  *fileAttrs // what it keeps
				err    error
			)
			if inPlace {
				target, doc, attrs, err = readInPlace(path)
			} else {
				doc, err = readConfig(path)
			}
			if err != nil {
				return err
			}
			// Check the document before paying for a scan.
			rd, err := hypervisor.Read(doc)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", path, err)}
			}
			warnSkipped(e.stderr, path, rd.Skipped)
			res, cleanup, err := flags.scan(c, e)
			defer cleanup()
			if err != nil {
				return err
			}
			out, filled, err := pve.fill(doc, res.Devices)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", path, err)}
			}
			var errs []error
			for _, f := range filled {
				at := fmt.Sprintf("%s:%d", path, f.Ref.Line)
				switch {
				case f.Err != nil:
					errs = append(errs, fmt.Errorf("%s: %w", at, f.Err))
				case f.Moved != nil && f.Note != "":
					fmt.Fprintf(e.stderr, "%s: %s; %s\n", at, f.Moved, text(f.Note))
				case f.Moved != nil:
					fmt.Fprintf(e.stderr, "%s: %s\n", at, f.Moved)
				case f.Note != "":
					fmt.Fprintf(e.stderr, "%s: %s\n", at, text(f.Note))
				}
			}
			if len(errs) > 0 {
				if len(errs) > 1 {
					errs = append(errs, fmt.Errorf("%d devices did not resolve; %s is unchanged", len(errs), path))
				}
				return errors.Join(errs...)
			}
			if !inPlace {
				_, err := e.stdout.Write(out)
				return err
			}
			if bytes.Equal(out, doc) {
				return nil
			}
			return writeAtomic(target, fillTemp, attrs, 0, bytes.NewReader(out))
		},
	}
	flags.register(c)
	pve.register(c)
	c.Flags().BoolVarP(&inPlace, "in-place", "i", false, "rewrite FILE instead of printing the result")
	return c
}

// readInPlace reads the file fill -i will replace: path, or the file a
// symlink at path points to, which must be a regular file. It is checked
// before it is opened, so that a FIFO is refused at once rather than
// waited on, and again once open (O_NONBLOCK, for a path swapped in
// between), and read up to maxConfig. attrs is what the rewritten file
// must keep; when this process could not keep its owner or group, that
// is said here, before anything is scanned or written.
func readInPlace(path string) (target string, doc []byte, attrs *fileAttrs, err error) {
	target, st, err := outputTarget(path)
	if err != nil {
		return "", nil, nil, err
	}
	if st == nil {
		return "", nil, nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	f, err := os.OpenFile(target, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", nil, nil, err
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return "", nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return "", nil, nil, &notRegularError{Path: path, Mode: st.Mode()}
	}
	if attrs, err = readAttrs(f); err != nil {
		return "", nil, nil, err
	}
	if err := attrs.check(path); err != nil {
		return "", nil, nil, err
	}
	if doc, err = readLimited(path, f); err != nil {
		return "", nil, nil, err
	}
	return target, doc, attrs, nil
}
