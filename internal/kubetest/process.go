package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one control-plane binary running for a test, its output in a
// log file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when it has exited and been reaped
	err  error         // Wait's error, once done is closed
}

func startProcess(dir, name, bin string, args ...string) (*process, error) {
	p := &process{name: name, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout = f
	p.cmd.Stderr = f
	p.cmd.SysProcAttr = sysProcAttr()
	if err := spawn(p.cmd.Start); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM to the process's group and SIGKILL after grace, and
// returns once it has been reaped.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
	// Anything it started in its group goes too.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail is the last n lines of the process's log.
func (p *process) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// portInUse reports whether the process failed because a port it was given
// was taken between freePorts and its bind.
func (p *process) portInUse() bool {
	b, _ := os.ReadFile(p.log)
	return bytes.Contains(b, []byte("address already in use"))
}

// waitReady calls check until it returns nil, the process exits, or
// timeout passes; the error names the process and ends with its log.
func (p *process) waitReady(timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	for {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(cctx)
		ccancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); the end of its log:\n%s", p.name, p.err, p.tail(30))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v (last check: %v); the end of its log:\n%s",
				p.name, time.Since(start).Round(time.Millisecond), err, p.tail(30))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errPortTaken is returned by a start function whose process lost a port
// to another program; its caller tries again with new ports.
var errPortTaken = errors.New("port taken")

// withPorts calls start with n free loopback ports, again with new ones
// (up to three times) when start returns errPortTaken.
func withPorts(n int, start func(ports []int) error) error {
	var err error
	for range 3 {
		var ports []int
		ports, err = freePorts(n)
		if err != nil {
			return err
		}
		if err = start(ports); !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago. Another program may still take one before the process binds
// it: withPorts retries then.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close() // held until all n are chosen, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// spawner starts every process from one goroutine that keeps its OS thread
// locked and never ends. The children are started with Pdeathsig, which
// the kernel ties to the thread that forked them, not to the process: if
// that thread could end (the Go runtime ends a thread when a goroutine
// that locked it exits), a control plane would be killed in the middle of
// a test. With the thread kept, they die with the test binary, whether it
// ends normally, panics on -timeout or is killed, and nothing is left.
var spawner struct {
	once sync.Once
	ch   chan func()
}

func spawn(start func() error) error {
	spawner.once.Do(func() {
		spawner.ch = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range spawner.ch {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	spawner.ch <- func() { errc <- start() }
	return <-errc
}

// args turns name=value pairs into --name=value flags, in order.
func args(pairs ...string) []string {
	var out []string
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, "--"+pairs[i]+"="+pairs[i+1])
	}
	return out
}

func joinComma(s []string) string { return strings.Join(s, ",") }
