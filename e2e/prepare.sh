#!/usr/bin/env bash
# Prepares what the e2e suite (e2e/) needs to boot a real Linux kernel under
# QEMU: qemu-system-x86, busybox-static, libusb-1.0-0-dev, and the current Debian 6.1 kernel
# package, fetched with apt-get download and unpacked with dpkg -x into a
# cache folder. Run as root (CI's .ci/run calls it). Idempotent: a kernel
# already unpacked in the cache is kept.
#
#   HOSTDEV_E2E_CACHE   the cache folder (default $HOME/.cache/hostdev-e2e)
#
# It prints the kernel folder last; the test finds it there by itself.
set -euo pipefail

cache=${HOSTDEV_E2E_CACHE:-${HOME:-/root}/.cache/hostdev-e2e}
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" = 0 ]; then
	# libusb-1.0-0-dev, pkg-config and gcc: the guest's second binary is
	# the -tags libusb build (cgo), checked against the default one.
	if ! dpkg -s qemu-system-x86 busybox-static libusb-1.0-0-dev pkg-config gcc >/dev/null 2>&1; then
		apt-get update -q
		apt-get install -y -q --no-install-recommends qemu-system-x86 busybox-static libusb-1.0-0-dev pkg-config gcc
	fi
fi

# The kernel package the meta package linux-image-amd64 points at now.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.1\.[0-9.-]*-amd64\)$/\1/p' | head -n1)
if [ -z "$pkg" ]; then
	apt-get update -q
	pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-6\.1\.[0-9.-]*-amd64\)$/\1/p' | head -n1)
fi
if [ -z "$pkg" ]; then
	echo "prepare.sh: no linux-image-6.1.*-amd64 behind linux-image-amd64" >&2
	exit 1
fi

dir=$cache/$pkg
if [ ! -f "$dir/.unpacked" ]; then
	mkdir -p "$cache/deb"
	rm -rf "$dir"
	(cd "$cache/deb" && apt-get download -q "$pkg")
	deb=$(ls -t "$cache/deb/${pkg}"_*.deb | head -n1)
	mkdir -p "$dir"
	dpkg -x "$deb" "$dir"
	touch "$dir/.unpacked"
	rm -f "$deb"
fi
echo "$dir"
