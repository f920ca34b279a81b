// Package hypervisor reads the ways QEMU, libvirt, Xen's xl, the 2007
// libvirt proposal (the "seed"), Incus and LXD, cloud-hypervisor, crosvm
// and container device nodes name a host device, turns each into a
// match.Selector, and writes a resolved device back out in any of them.
//
// Reading:
//
//	ParseSelector  one argument in any dialect: a hostdev selector,
//	               a QEMU option string, an xl line, or XML
//	Refs           every device a whole document names (a libvirt domain,
//	               a seed document, an xl config, a QEMU script or saved
//	               command line, QMP commands, a Proxmox VE VM config or qm
//	               set command, an Incus config)
//	Read           Refs, and the elements it skipped: those that name a host
//	               device hostdev does not resolve (a SCSI <hostdev>), to warn
//	               about
//	QEMUArgs       every device of a QEMU command line given as words,
//	               read as QEMU reads them (QEMUArgsStart says where such
//	               words begin among selectors)
//	ProxmoxMappings.Apply  binds a Proxmox mapping=NAME to the cluster's
//	               /etc/pve/mapping/usb.cfg and pci.cfg, for one node
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
//	               xen-legacy, seed, proxmox, incus, cloud-hypervisor or
//	               devnode
//	Fill           a document with every device resolved and its current
//	               address written in (for QEMU, the port path a replug
//	               keeps); everything else byte for byte
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
