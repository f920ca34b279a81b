// Package hypervisor reads the ways QEMU, libvirt, Xen's xl and the 2007
// libvirt proposal (the "seed") name a host device, turns each into a
// match.Selector, and writes a resolved device back out in any of them.
//
// Reading:
//
//	ParseSelector  one argument in any dialect: a hostdev selector,
//	               a QEMU option string, an xl line, or XML
//	Refs           every device a whole document names (a libvirt domain,
//	               a seed document, an xl config, QEMU options one per line)
//
// Resolving: Ref.Resolve finds the device a reference means among a scan's.
// It fails with a *match.NoMatchError, or with an *AmbiguousError that wraps
// the *match.AmbiguousError and says in the reference's own dialect what
// picks each candidate (<address bus device> for libvirt, hostbus= and
// hostport= for QEMU, host:B.D for xl): no hypervisor selects by serial.
//
// Writing:
//
//	Write          devices in one Format: qemu, qmp, libvirt, xen,
//	               xen-legacy or seed
//	Fill           a document with every device resolved and its current
//	               address written in; everything else byte for byte
//
// Mediated device instances (mdev.go) are read from and written as
// libvirt's <hostdev type='mdev'> and QEMU's
// vfio-pci,sysfsdev=/sys/bus/mdev/devices/UUID; xl and the seed have no
// form for them, and Write refuses them there with errors.ErrUnsupported.
//
// Numbers follow each dialect's own rules, and where a dialect's rule is a
// trap the parser refuses rather than guesses: QEMU reads a bare
// vendorid=0483 as octal, so that is an error that says to write 0x0483.
package hypervisor
