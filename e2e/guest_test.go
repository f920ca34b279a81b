package e2e

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hostdev/hostdev/internal/cpio"
	"github.com/hostdev/hostdev/internal/testenv"
)

// kernel is an unpacked Debian linux-image package.
type kernel struct {
	dir     string // the package's root
	vmlinuz string
	modules string // lib/modules/VERSION
}

// findKernel finds the kernel from HOSTDEV_E2E_KERNEL_DIR, or the newest
// one prepare.sh unpacked into the cache, or skips.
func findKernel(t *testing.T) kernel {
	t.Helper()
	var dirs []string
	if d := os.Getenv("HOSTDEV_E2E_KERNEL_DIR"); d != "" {
		dirs = []string{d}
	} else {
		cache := os.Getenv("HOSTDEV_E2E_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				testenv.Skip(t, "no kernel: set HOSTDEV_E2E_CACHE or HOSTDEV_E2E_KERNEL_DIR (%v)", err)
			}
			cache = filepath.Join(home, ".cache", "hostdev-e2e")
		}
		m, _ := filepath.Glob(filepath.Join(cache, "linux-image-*", ".unpacked"))
		sort.Sort(sort.Reverse(sort.StringSlice(m)))
		for _, p := range m {
			dirs = append(dirs, filepath.Dir(p))
		}
		if len(dirs) == 0 {
			testenv.Skip(t, "no kernel unpacked in %s: run e2e/prepare.sh as root, or set HOSTDEV_E2E_KERNEL_DIR", cache)
		}
	}
	k := kernel{dir: dirs[0]}
	vm, _ := filepath.Glob(filepath.Join(k.dir, "boot", "vmlinuz-*"))
	mods, _ := filepath.Glob(filepath.Join(k.dir, "lib", "modules", "*", "kernel"))
	if len(vm) != 1 || len(mods) != 1 {
		testenv.Skip(t, "%s holds no single boot/vmlinuz-* and lib/modules/*/kernel: run e2e/prepare.sh", k.dir)
	}
	k.vmlinuz, k.modules = vm[0], filepath.Dir(mods[0])
	return k
}

// findQEMU finds qemu-system-x86_64, or skips.
func findQEMU(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		testenv.Skip(t, "no qemu-system-x86_64 (Debian qemu-system-x86; e2e/prepare.sh installs it)")
	}
	return p
}

// findBusybox finds a statically linked busybox, or skips.
func findBusybox(t *testing.T) string {
	t.Helper()
	p := os.Getenv("HOSTDEV_E2E_BUSYBOX")
	if p == "" {
		p = "/bin/busybox"
	}
	f, err := elf.Open(p)
	if err != nil {
		testenv.Skip(t, "no busybox at %s (Debian busybox-static; e2e/prepare.sh installs it): %v", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			testenv.Skip(t, "%s is dynamically linked: install busybox-static", p)
		}
	}
	return p
}

// buildBinary builds hostdev-discover statically into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	return buildStatic(t, dir, "./cmd/hostdev-discover")
}

// buildStatic builds the command pkg statically into dir.
func buildStatic(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, path.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = testenv.ModuleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// modName is a module's name as the kernel writes it in depends=: with
// underscores for dashes.
func modName(s string) string {
	s = strings.TrimSuffix(path.Base(s), ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// moduleIndex maps every module's name to its file under dir.
func moduleIndex(dir string) (map[string]string, error) {
	idx := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			idx[modName(p)] = p
		}
		return nil
	})
	return idx, err
}

// moduleDepends reads depends= from a module's .modinfo section. The
// Debian package ships no modules.dep (depmod makes it on install).
func moduleDepends(file string) ([]string, error) {
	f, err := elf.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%s: no .modinfo", file)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(string(v), ","), nil
		}
	}
	return nil, nil
}

// moduleOrder returns the files of the wanted modules and all they depend
// on, each after its dependencies.
func moduleOrder(modules string, want []string) ([]string, error) {
	idx, err := moduleIndex(filepath.Join(modules, "kernel"))
	if err != nil {
		return nil, err
	}
	builtin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(modules, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			builtin[modName(l)] = true
		}
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string) error
	visit = func(name string) error {
		name = modName(name)
		switch {
		case state[name] == 2 || builtin[name]:
			return nil
		case state[name] == 1:
			return fmt.Errorf("module dependency cycle at %s", name)
		}
		file, ok := idx[name]
		if !ok {
			return fmt.Errorf("module %s is not in %s", name, modules)
		}
		state[name] = 1
		deps, err := moduleDepends(file)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		state[name] = 2
		order = append(order, file)
		return nil
	}
	for _, w := range want {
		if err := visit(w); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// guestModules are what the device set needs: USB core and controllers,
// storage, HID for the keyboards and tablets, AHCI so that 00:1f.2 is held
// by a host driver, and VFIO.
var guestModules = []string{
	"usb-common", "usbcore", "xhci-hcd", "xhci-pci", "ehci-hcd", "ehci-pci",
	"scsi_common", "scsi_mod", "usb-storage",
	"hid", "usbhid", "hid-generic",
	"libata", "libahci", "ahci",
	// A NIC alone in its group, on a host driver, for vfio's take and release.
	"e1000e",
	"irqbypass", "vfio", "vfio_iommu_type1", "vfio_virqfd", "vfio-pci-core", "vfio-pci",
}

// busyboxApplets are linked to /bin/busybox in the guest.
var busyboxApplets = []string{
	"sh", "mount", "mkdir", "cat", "readlink", "ls", "echo", "insmod", "sleep",
	"poweroff", "stty", "awk", "grep", "wc", "basename", "kill", "sed", "cut",
	"tr", "head", "tail", "dmesg", "test", "[", "printf", "true", "false", "find", "sort",
}

// buildInitramfs writes the guest's initramfs: busybox, the binary, the
// modules in load order (listed in /etc/modules), and init.
func buildInitramfs(t *testing.T, out string, k kernel, busybox, binary, vfiotool string, lib libusbBinary, init []byte) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := cpio.NewWriter(f)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("initramfs: %v", err)
		}
	}
	for _, d := range []string{"bin", "sbin", "dev", "proc", "sys", "tmp", "etc", "lib", "lib/modules", "run"} {
		check(w.Dir(d, 0o755))
	}
	check(w.CharDev("dev/console", 0o600, 5, 1))
	check(w.CharDev("dev/null", 0o666, 1, 3))
	read := func(p string) []byte {
		t.Helper()
		b, err := os.ReadFile(p)
		check(err)
		return b
	}
	check(w.File("bin/busybox", 0o755, read(busybox)))
	for _, a := range busyboxApplets {
		check(w.Symlink("bin/"+a, "busybox"))
	}
	check(w.File("bin/hostdev-discover", 0o755, read(binary)))
	check(w.File("bin/vfiotool", 0o755, read(vfiotool)))
	// The libusb build and the shared objects it loads.
	check(w.File("bin/hostdev-discover-libusb", 0o755, read(lib.path)))
	made := map[string]bool{"lib": true}
	addLibs(t, func(d string) {
		if !made[d] {
			made[d] = true
			check(w.Dir(d, 0o755))
		}
	}, func(name string, b []byte) { check(w.File(name, 0o755, b)) }, lib.libs)
	mods, err := moduleOrder(k.modules, guestModules)
	check(err)
	var list []string
	for _, m := range mods {
		name := modName(m)
		check(w.File("lib/modules/"+name+".ko", 0o644, read(m)))
		list = append(list, name)
	}
	check(w.File("etc/modules", 0o644, []byte(strings.Join(list, "\n")+"\n")))
	check(w.File("init", 0o755, init))
	check(w.Close())
	check(f.Close())
}

func TestModuleOrder(t *testing.T) {
	k := findKernel(t)
	mods, err := moduleOrder(k.modules, guestModules)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range mods {
		pos[modName(m)] = i
	}
	for _, m := range mods {
		deps, err := moduleDepends(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range deps {
			if p, ok := pos[modName(d)]; ok && p > pos[modName(m)] {
				t.Errorf("%s comes before its dependency %s", modName(m), d)
			}
		}
	}
	for _, w := range []string{"usbcore", "usb_common", "vfio_pci_core", "usb_storage", "ahci"} {
		if _, ok := pos[w]; !ok {
			t.Errorf("%s is not loaded", w)
		}
	}
	t.Logf("%d modules: %v", len(mods), func() (s []string) {
		for _, m := range mods {
			s = append(s, modName(m))
		}
		return
	}())
}
