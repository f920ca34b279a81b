package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/hostdev/hostdev/internal/testenv"
)

// movedDoc is a domain whose tablet fill moves from 003.126 to 001.005 on
// smallHost, so that fill -i rewrites it.
var movedDoc = strings.Replace(domainXML, "<vendor id='0x0403'/>\n        <product id='0x6001'/>",
	"<vendor id='0x0627'/>\n        <product id='0x0001'/>", 1)

// fillInPlace runs fill -i on path and checks that it rewrote it.
func fillInPlace(t *testing.T, root, path string) {
	t.Helper()
	code, out, errs := hostdev(t, "fill", "-n", "--root", root, "-i", path)
	if code != 0 || out != "" {
		t.Fatalf("fill -i: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
	if got, _ := os.ReadFile(path); !strings.Contains(string(got), "<address bus='1' device='5'/>") {
		t.Fatalf("fill -i did not rewrite %s:\n%s", path, got)
	}
}

func xattrs(t *testing.T, path string) map[string]string {
	t.Helper()
	n, err := unix.Listxattr(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	n, err = unix.Listxattr(path, buf)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for name := range strings.SplitSeq(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 4096)
		m, err := unix.Getxattr(path, name, v)
		if err != nil {
			t.Fatal(err)
		}
		got[name] = string(v[:m])
	}
	return got
}

// fill -i keeps every extended attribute: user.* always, and as root the
// security.* (where SELinux keeps its label) and trusted.* ones.
func TestFillKeepsXattrs(t *testing.T) {
	root := smallHost(t)
	p := writeFile(t, "vm.xml", movedDoc)
	if err := unix.Setxattr(p, "user.hostdev.note", []byte("kept"), 0); err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			testenv.Skip(t, "the filesystem of %s refuses user.* extended attributes: %v", p, err)
		}
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		for _, name := range []string{"security.hostdev", "trusted.hostdev"} {
			if err := unix.Setxattr(p, name, []byte("label"), 0); err != nil {
				t.Fatalf("as root, setxattr %s: %v", name, err)
			}
		}
	}
	want := xattrs(t, p)
	fillInPlace(t, root, p)
	if diff := cmp.Diff(want, xattrs(t, p)); diff != "" {
		t.Errorf("extended attributes after fill -i (-want +got):\n%s", diff)
	}
}

// As root, fill -i keeps a file's owner and group, and its setgid bit,
// which chown would clear were it done after chmod.
func TestFillKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "only root can give a file to another user")
	}
	root := smallHost(t)
	p := writeFile(t, "vm.xml", movedDoc)
	const uid, gid = 12345, 23456
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o640|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	fillInPlace(t, root, p)
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if sys.Uid != uid || sys.Gid != gid || st.Mode()&(os.ModePerm|os.ModeSetgid) != 0o640|os.ModeSetgid {
		t.Errorf("after fill -i: uid %d, gid %d, mode %v; want %d, %d, %v", sys.Uid, sys.Gid, st.Mode(), uid, gid, 0o640|os.ModeSetgid)
	}
}

// A user who is not root cannot keep another user's ownership: fill -i
// says so and writes nothing, rather than leaving the file theirs. Run as
// root, the test runs the command as nobody.
func TestFillRefusesOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root to run the command as another user")
	}
	const nobody = 65534
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Everything the child touches is its to read and write, except the
	// file's ownership.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hostdev-discover")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sysroot := smallHost(t)
	if err := os.Chmod(filepath.Dir(sysroot), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "vm.xml")
	if err := os.WriteFile(p, []byte(movedDoc), 0o666); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "fill", "-n", "--root", sysroot, "-i", p)
	cmd.Env = append(os.Environ(), runMainVar+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	want := p + " belongs to uid 0, and only root can give the rewritten file that owner"
	if err == nil || !strings.Contains(stderr.String(), want) {
		t.Errorf("fill -i as nobody of root's file: %v, stderr %q; want a failure with %q", err, stderr.String(), want)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != movedDoc || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("the file changed: owner %d\n%s", st.Sys().(*syscall.Stat_t).Uid, got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".hostdev-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// An extended attribute that cannot be set on the new file fails the
// write: the temporary file is removed and the original is untouched.
func TestWriteAtomicXattrFails(t *testing.T) {
	p := writeFile(t, "vm.xml", "old")
	keep := &fileAttrs{mode: 0o644, uid: os.Geteuid(), gid: os.Getegid(),
		xattrs: []xattr{{name: "nosuchnamespace.x", value: []byte("1")}}}
	err := writeAtomic(p, fillTemp, keep, 0, strings.NewReader("new"))
	if err == nil || !strings.Contains(err.Error(), p+": cannot keep its extended attribute nosuchnamespace.x") {
		t.Errorf("writeAtomic: %v; want an error about the attribute", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Errorf("the original became %q", got)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".hostdev-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// The temporary file is named after what it becomes, for whoever finds
// one after a crash: inotify sees the names fill -i and snapshot -o create.
func TestTempNames(t *testing.T) {
	root := smallHost(t)
	dir := t.TempDir()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	created := func() []string {
		var names []string
		buf := make([]byte, 64<<10)
		n, _ := unix.Read(fd, buf)
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafePointer(buf[off:]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			names = append(names, name)
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
		return names
	}
	p := filepath.Join(dir, "vm.xml")
	if err := os.WriteFile(p, []byte(movedDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	created()
	fillInPlace(t, root, p)
	if names := created(); len(names) != 1 || !strings.HasPrefix(names[0], ".hostdev-fill-") {
		t.Errorf("fill -i created %q; want one .hostdev-fill-*", names)
	}
	if code, _, errs := hostdev(t, "snapshot", "--root", root, "-o", filepath.Join(dir, "s.tar.gz")); code != 0 {
		t.Fatalf("snapshot: exit %d: %s", code, errs)
	}
	if names := created(); len(names) != 1 || !strings.HasPrefix(names[0], ".hostdev-snapshot-") {
		t.Errorf("snapshot -o created %q; want one .hostdev-snapshot-*", names)
	}
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }
