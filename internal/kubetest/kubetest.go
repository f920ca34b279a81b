// Package kubetest starts a real Kubernetes control plane for a test: etcd
// and kube-apiserver, and on request kube-scheduler and
// kube-controller-manager, as plain processes on free loopback ports, with
// a Node the scheduler can place Pods on. No kubelet runs: a test plays it.
//
// The binaries are built once by prepare.sh (beside this file) into a cache
// folder, $HOSTDEV_KUBE_BIN or $HOME/.cache/hostdev/kube-v1.37.2. Without
// them a test skips with a message that says so, and fails instead under
// HOSTDEV_REQUIRE_ALL=1 (as in CI).
//
// Everything Start starts is stopped, and its folder removed, in the test's
// Cleanup; the processes are also killed by the kernel if the test binary
// dies first (a -timeout panic), so none outlives it.
package kubetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hostdev/hostdev/internal/testenv"
)

// Version is the Kubernetes release prepare.sh builds and the harness runs.
const Version = "v1.37.2"

// BinVar names the folder holding the binaries, if not the default.
const BinVar = "HOSTDEV_KUBE_BIN"

// DefaultNode is the Node Start creates unless Options say otherwise.
const DefaultNode = "node-1"

var binaries = []string{"etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager"}

// BinDir is the folder holding the control-plane binaries. When one is
// missing it skips the test, or fails it under HOSTDEV_REQUIRE_ALL=1.
func BinDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv(BinVar)
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			testenv.Skip(tb, "no home folder to find the Kubernetes binaries in (%v): set %s", err, BinVar)
		}
		dir = filepath.Join(home, ".cache", "hostdev", "kube-"+Version)
	}
	var missing []string
	for _, b := range binaries {
		if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		script := filepath.Join(testenv.ModuleRoot(tb), "internal", "kubetest", "prepare.sh")
		testenv.Skip(tb, "no Kubernetes %s control plane in %s (missing %s): run %s once "+
			"(about 12 minutes on 2 cores; it needs Go and the module proxy, not root), "+
			"with %s set if you want it elsewhere",
			Version, dir, strings.Join(missing, ", "), script, BinVar)
	}
	return dir
}

// Options says what Start starts besides etcd and kube-apiserver.
type Options struct {
	// Scheduler starts kube-scheduler, which allocates ResourceClaims
	// (DRA) while it schedules.
	Scheduler bool
	// Controllers, when not empty, starts kube-controller-manager running
	// only these controllers, for example "resourceclaim-controller"
	// (which makes ResourceClaims from a Pod's ResourceClaimTemplates).
	// Leave out "node-lifecycle-controller": no kubelet sends heartbeats,
	// so it would taint the Node unreachable and evict its Pods.
	Controllers []string
	// Node names the Node Start creates; "" means DefaultNode.
	Node string
	// NoNode creates no Node.
	NoNode bool
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	// Config is an admin client's configuration (system:masters).
	Config *rest.Config
	// Client is a clientset made from Config.
	Client kubernetes.Interface
	// Kubeconfig is a file holding the same admin credentials, for
	// processes a test starts itself.
	Kubeconfig string
	// Node is the name of the Node Start created, or "".
	Node string

	tb    testing.TB
	dir   string
	mu    sync.Mutex
	procs []*process // in start order
	stop  sync.Once
}

// Start starts a control plane for the test and registers its stop in the
// test's Cleanup. It fails the test if the control plane does not come up.
func Start(tb testing.TB, opts Options) *ControlPlane {
	tb.Helper()
	bin := BinDir(tb)
	sweep()
	dir, err := os.MkdirTemp("", fmt.Sprintf("kubetest-%d-", os.Getpid()))
	if err != nil {
		tb.Fatal(err)
	}
	cp := &ControlPlane{tb: tb, dir: dir}
	tb.Cleanup(cp.Stop)
	if err := cp.start(bin, opts); err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	if !opts.NoNode {
		name := opts.Node
		if name == "" {
			name = DefaultNode
		}
		cp.AddNode(tb, name)
		cp.Node = name
	}
	return cp
}

// sweep removes the folders left by test binaries that died before their
// Cleanup ran (a -timeout panic): their processes are gone (Pdeathsig), but
// not their folders. A folder is named after its test binary's pid.
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "kubetest-*-*"))
	for _, dir := range dirs {
		pid, err := strconv.Atoi(strings.Split(filepath.Base(dir), "-")[1])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(dir)
		}
	}
}

func (cp *ControlPlane) add(p *process) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.procs = append(cp.procs, p)
}

func (cp *ControlPlane) start(bin string, opts Options) error {
	began := time.Now()
	pki, err := newPKI(cp.dir)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}

	// etcd, its data on the folder's file system (tmpfs in CI), without
	// fsync: nothing here needs to survive a crash.
	var etcdURL string
	err = withPorts(2, func(ports []int) error {
		client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
		peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
		p, err := startProcess(cp.dir, "etcd", filepath.Join(bin, "etcd"), args(
			"name", "kubetest",
			"data-dir", filepath.Join(cp.dir, "etcd-"+strconv.Itoa(ports[0])), // a retry's own
			"listen-client-urls", client,
			"advertise-client-urls", client,
			"listen-peer-urls", peer,
			"initial-advertise-peer-urls", peer,
			"initial-cluster", "kubetest="+peer,
			"unsafe-no-fsync", "true",
			"log-level", "warn",
		)...)
		if err != nil {
			return err
		}
		cp.add(p)
		err = p.waitReady(30*time.Second, func(ctx context.Context) error {
			return get(ctx, http.DefaultClient, client+"/health", `"health":"true"`)
		})
		if err != nil && p.exited() && p.portInUse() {
			return errPortTaken
		}
		etcdURL = client
		return err
	})
	if err != nil {
		return err
	}

	// kube-apiserver, serving with a certificate of our CA and trusting
	// client certificates it signed. No ServiceAccount admission: nothing
	// here creates the default ServiceAccount (a controller's job).
	err = withPorts(1, func(ports []int) error {
		host := "https://127.0.0.1:" + strconv.Itoa(ports[0])
		p, err := startProcess(cp.dir, "kube-apiserver", filepath.Join(bin, "kube-apiserver"), args(
			"etcd-servers", etcdURL,
			"bind-address", "127.0.0.1",
			"advertise-address", "127.0.0.1",
			"secure-port", strconv.Itoa(ports[0]),
			"cert-dir", filepath.Join(cp.dir, "apiserver-certs"),
			"tls-cert-file", pki.serverCert,
			"tls-private-key-file", pki.serverKey,
			"client-ca-file", pki.caFile,
			"authorization-mode", "RBAC",
			"service-account-issuer", "https://kubernetes.default.svc.cluster.local",
			"service-account-key-file", pki.serviceAccountPub,
			"service-account-signing-key-file", pki.serviceAccountKey,
			"service-cluster-ip-range", "10.0.0.0/24",
			"disable-admission-plugins", "ServiceAccount",
			"endpoint-reconciler-type", "none",
			"allow-privileged", "true",
		)...)
		if err != nil {
			return err
		}
		cp.add(p)
		cfg := &rest.Config{
			Host: host,
			TLSClientConfig: rest.TLSClientConfig{
				CAData:   pki.caPEM,
				CertData: pki.clientCertPEM,
				KeyData:  pki.clientKeyPEM,
			},
			QPS:   200,
			Burst: 400,
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		err = p.waitReady(90*time.Second, func(ctx context.Context) error {
			body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			if err != nil {
				return fmt.Errorf("/readyz: %w: %s", err, body)
			}
			// Objects a test makes go to "default", which the API
			// server creates a moment after it is ready.
			_, err = client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
			return err
		})
		if err != nil && p.exited() && p.portInUse() {
			return errPortTaken
		}
		if err != nil {
			return err
		}
		cp.Config, cp.Client = cfg, client
		cp.Kubeconfig = filepath.Join(cp.dir, "admin.kubeconfig")
		return os.WriteFile(cp.Kubeconfig, pki.kubeconfig(host), 0o600)
	})
	if err != nil {
		return err
	}

	// The scheduler and the controller manager talk to the API server as
	// the admin; their own secure ports serve only the health checks we
	// poll (always allowed, no authentication needed).
	if opts.Scheduler {
		if err := cp.startComponent(bin, "kube-scheduler", "/readyz"); err != nil {
			return err
		}
	}
	if len(opts.Controllers) > 0 {
		if err := cp.startComponent(bin, "kube-controller-manager", "/healthz",
			"controllers", joinComma(opts.Controllers),
			"use-service-account-credentials", "false",
		); err != nil {
			return err
		}
	}
	cp.tb.Logf("kubetest: control plane %s up in %v at %s", Version, time.Since(began).Round(time.Millisecond), cp.Config.Host)
	return nil
}

// startComponent starts kube-scheduler or kube-controller-manager and
// waits for its health endpoint.
func (cp *ControlPlane) startComponent(bin, name, health string, extra ...string) error {
	insecure := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // its own self-signed certificate, on loopback
	}}
	defer insecure.CloseIdleConnections()
	return withPorts(1, func(ports []int) error {
		p, err := startProcess(cp.dir, name, filepath.Join(bin, name), append(args(
			"kubeconfig", cp.Kubeconfig,
			"leader-elect", "false",
			"bind-address", "127.0.0.1",
			"secure-port", strconv.Itoa(ports[0]),
			"cert-dir", filepath.Join(cp.dir, name+"-certs"),
		), args(extra...)...)...)
		if err != nil {
			return err
		}
		cp.add(p)
		url := "https://127.0.0.1:" + strconv.Itoa(ports[0]) + health
		err = p.waitReady(60*time.Second, func(ctx context.Context) error {
			return get(ctx, insecure, url, "ok")
		})
		if err != nil && p.exited() && p.portInUse() {
			return errPortTaken
		}
		return err
	})
}

// get fetches url and wants a 200 whose body contains want.
func get(ctx context.Context, c *http.Client, url, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: %s: %q", url, resp.Status, body)
	}
	return nil
}

// Stop stops every process, the last started first, and removes the
// control plane's folder. If the test has failed it first logs the end of
// each process's log. Cleanup calls it; calling it again does nothing.
func (cp *ControlPlane) Stop() {
	cp.stop.Do(func() {
		cp.mu.Lock()
		procs := cp.procs
		cp.mu.Unlock()
		if cp.tb.Failed() {
			for _, p := range procs {
				cp.tb.Logf("kubetest: the end of %s's log:\n%s", p.name, p.tail(40))
			}
		}
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop(5 * time.Second)
		}
		if err := os.RemoveAll(cp.dir); err != nil {
			cp.tb.Errorf("kubetest: %v", err)
		}
	})
}

// Pids are the process ids of the control plane's processes, in start
// order (for a test that checks none is left).
func (cp *ControlPlane) Pids() []int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var pids []int
	for _, p := range cp.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	return pids
}

// Dir is the folder holding the control plane's certificates, data and
// logs (one NAME.log per process); Stop removes it.
func (cp *ControlPlane) Dir() string { return cp.dir }
