#!/bin/sh
# The e2e guest's /init. The kernel console and this script's stderr go to
# ttyS0; results go to ttyS1, which the test reads, in sections:
#   ==BEGIN NAME==
#   ...
#   ==END NAME rc=N==
# Lines the test should see at once (READY, hotplug output) are written
# there as they come. The test answers on ttyS1 with one line when the
# hotplug part is over.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
exec 2>/dev/console
out=/dev/ttyS1
stty -F $out raw -echo
say() { echo "$*" >$out; }
# section NAME CMD...: runs CMD, its stdout and stderr inside the markers.
section() {
	name=$1
	shift
	say "==BEGIN $name=="
	"$@" >/tmp/section 2>&1
	rc=$?
	cat /tmp/section >$out
	say "==END $name rc=$rc=="
}
arg() {
	for w in $(cat /proc/cmdline); do
		case $w in e2e.$1=*) echo "${w#*=}" ;; esac
	done
}

say "==GUEST $(cat /proc/sys/kernel/osrelease)=="
for m in $(cat /etc/modules); do
	insmod /lib/modules/$m.ko || say "==ERROR insmod $m=="
done

# Wait until the USB devices the test plugged in are all there, and every
# interface has a driver: enumeration goes on after insmod returns.
want=$(arg usbdevs)
i=0
while :; do
	n=$(ls /sys/bus/usb/devices | grep -vc :)
	unbound=0
	for f in /sys/bus/usb/devices/*:*; do
		[ -e "$f/driver" ] || unbound=$((unbound + 1))
	done
	[ "$n" -ge "$want" ] && [ "$unbound" = 0 ] && break
	i=$((i + 1))
	if [ $i -ge 300 ]; then
		say "==ERROR only $n USB devices of $want after 30 s, $unbound interfaces without driver=="
		break
	fi
	sleep 0.1
done
sleep 1

# Bind the functions the test names to vfio-pci, as libvirt does.
for a in $(arg vfio); do
	d=/sys/bus/pci/devices/$a
	echo vfio-pci >$d/driver_override
	[ -e $d/driver ] && echo $a >$d/driver/unbind
	echo $a >/sys/bus/pci/drivers_probe
done

# What the kernel says, with plain cat and readlink: "usb NAME ATTR VALUE",
# "usbif NAME driver VALUE", "pci NAME ATTR VALUE".
sysfs() {
	for d in /sys/bus/usb/devices/*; do
		n=${d##*/}
		case $n in
		*:*)
			[ -e $d/driver ] && echo "usbif $n driver $(basename $(readlink $d/driver))"
			echo "usbif $n bInterfaceNumber $(cat $d/bInterfaceNumber)"
			;;
		*)
			for a in busnum devnum devpath idVendor idProduct serial speed bDeviceClass; do
				[ -e $d/$a ] && echo "usb $n $a $(cat $d/$a)"
			done
			;;
		esac
	done
	for d in /sys/bus/pci/devices/*; do
		n=${d##*/}
		for a in vendor device class driver_override; do
			echo "pci $n $a $(cat $d/$a)"
		done
		[ -e $d/driver ] && echo "pci $n driver $(basename $(readlink $d/driver))"
		[ -e $d/iommu_group ] && echo "pci $n iommu_group $(basename $(readlink $d/iommu_group))"
	done
	return 0
}
section sysfs sysfs
section list hostdev-discover list --json
# The libusb build: its view of USB must be sysfs's.
section "usb-backend both" hostdev-discover-libusb list --usb-backend both
for r in $(arg resolve); do
	section "resolve $r" hostdev-discover resolve $r
done
section groups hostdev-discover groups --json
for c in $(arg check); do
	section "check $c" hostdev-discover check $c
done

# Hotplug: watch, follow and wait run while the test drives QMP.
if [ -n "$(arg hotplug)" ]; then
	sel=$(arg hotplug)
	# stdout as it comes, stderr in sections at the end.
	# watch and follow say "ready" once their first scan is done; the
	# test plugs nothing before READY, so nothing can come before they look.
	# wait prints no marker (its stdout is its answer): it is taken as
	# watching once it has its inotify instance, which the watcher makes
	# before its first scan, so a plug after that is seen either way.
	# Each awk writes whole lines to $out itself (a tee between would split
	# a long line, and another stream's line could land inside it) and
	# marks a file when it has passed the ready line on.
	hostdev-discover watch --json --initial 2>/tmp/watch.err | awk '{ print "W " $0; fflush() } /^\{"op":"ready"/ { system("touch /tmp/watch.ready") }' >$out &
	hostdev-discover follow $sel 2>/tmp/follow.err | awk '{ print "F " $0; fflush() } $2 == "ready" && NF == 2 { system("touch /tmp/follow.ready") }' >$out &
	(hostdev-discover wait $sel --timeout 300s; echo "rc=$?") 2>/tmp/wait.err | awk '{ print "A " $0; fflush() }' >$out &
	i=0
	watching() {
		n=0
		for p in $(pidof hostdev-discover); do
			if ls -l /proc/$p/fd 2>/dev/null | grep -q inotify; then
				n=$((n + 1))
			fi
		done
		[ $n -ge 3 ]
	}
	until [ -e /tmp/watch.ready ] && [ -e /tmp/follow.ready ] && watching; do
		i=$((i + 1))
		if [ $i -gt 600 ]; then
			say "==NOT READY: watch, follow or wait not watching after 60 s=="
			break
		fi
		sleep 0.1
	done
	say "==READY=="
	read -r line <$out
	sleep 0.5
	kill $(jobs -p) 2>/dev/null
	say "==HOTPLUG DONE $line=="
	for f in watch follow wait; do
		section "$f stderr" cat /tmp/$f.err
	done
	# The tablet is plugged in again; the PCI function is gone.
	section "usb-backend both after hotplug" hostdev-discover-libusb list --usb-backend both
fi
# vfio: a function on a host driver goes to vfio-pci and back; one whose
# group a host driver holds in another slot is refused.
if [ -n "$(arg vfiotake)" ]; then
	a=$(arg vfiotake)
	drv() { readlink /sys/bus/pci/devices/$1/driver | sed 's,.*/,,'; cat /sys/bus/pci/devices/$1/driver_override; }
	section "vfio before" drv $a
	section "vfio take" vfiotool take $a
	section "vfio taken" drv $a
	section "vfio devnodes" ls /dev/vfio
	section "vfio release" vfiotool release
	section "vfio after" drv $a
	for b in $(arg vfioblocked); do
		section "vfio plan $b" vfiotool plan $b
	done
fi
say "==POWEROFF=="
poweroff -f
