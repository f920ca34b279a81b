package kubetest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/hostdev/hostdev/internal/kubetest"
)

const driver = "hostdev.io"

// TestSchedulerAllocatesBySerial is what the harness is for: the real
// kube-scheduler, given a ResourceSlice with two devices that differ only
// in their serial, allocates the one a ResourceClaim's CEL selector names
// and binds the Pod to the Node; a second Pod, whose claim comes from a
// ResourceClaimTemplate (made into a claim by kube-controller-manager's
// resourceclaim controller), gets the other device.
func TestSchedulerAllocatesBySerial(t *testing.T) {
	cp := kubetest.Start(t, kubetest.Options{
		Scheduler:   true,
		Controllers: []string{"resourceclaim-controller"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := cp.Client

	// What a hostdev driver on the node publishes: two identical USB
	// devices, told apart by their serial.
	device := func(name, serial string) resourcev1.Device {
		str := func(s string) resourcev1.DeviceAttribute { return resourcev1.DeviceAttribute{StringValue: &s} }
		return resourcev1.Device{
			Name: name,
			Attributes: map[resourcev1.QualifiedName]resourcev1.DeviceAttribute{
				"bus":     str("usb"),
				"vendor":  str("1050"),
				"product": str("0407"),
				"serial":  str(serial),
			},
		}
	}
	node := cp.Node
	create(t, "ResourceSlice", func() error {
		_, err := c.ResourceV1().ResourceSlices().Create(ctx, &resourcev1.ResourceSlice{
			ObjectMeta: metav1.ObjectMeta{Name: node + "-" + driver},
			Spec: resourcev1.ResourceSliceSpec{
				Driver:   driver,
				NodeName: &node,
				Pool:     resourcev1.ResourcePool{Name: node, Generation: 1, ResourceSliceCount: 1},
				Devices:  []resourcev1.Device{device("usb-a", "A"), device("usb-b", "B")},
			},
		}, metav1.CreateOptions{})
		return err
	})
	create(t, "DeviceClass", func() error {
		_, err := c.ResourceV1().DeviceClasses().Create(ctx, &resourcev1.DeviceClass{
			ObjectMeta: metav1.ObjectMeta{Name: driver},
			Spec: resourcev1.DeviceClassSpec{Selectors: []resourcev1.DeviceSelector{{
				CEL: &resourcev1.CELDeviceSelector{Expression: `device.driver == "` + driver + `"`},
			}}},
		}, metav1.CreateOptions{})
		return err
	})

	bySerial := func(serial string) resourcev1.ResourceClaimSpec {
		return resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{
			Requests: []resourcev1.DeviceRequest{{
				Name: "key",
				Exactly: &resourcev1.ExactDeviceRequest{
					DeviceClassName: driver,
					Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{
						Expression: fmt.Sprintf(`device.attributes[%q].serial == %q`, driver, serial),
					}}},
				},
			}},
		}}
	}
	ns := metav1.NamespaceDefault
	claimName := "key-b"
	create(t, "ResourceClaim", func() error {
		_, err := c.ResourceV1().ResourceClaims(ns).Create(ctx, &resourcev1.ResourceClaim{
			ObjectMeta: metav1.ObjectMeta{Name: claimName},
			Spec:       bySerial("B"),
		}, metav1.CreateOptions{})
		return err
	})
	create(t, "Pod", func() error {
		_, err := c.CoreV1().Pods(ns).Create(ctx, pod("uses-b", corev1.PodResourceClaim{Name: "key", ResourceClaimName: &claimName}), metav1.CreateOptions{})
		return err
	})

	start := time.Now()
	p := waitScheduled(t, ctx, c, ns, "uses-b")
	t.Logf("Pod uses-b bound to %s %v after it was created", p.Spec.NodeName, time.Since(start).Round(time.Millisecond))
	checkAllocation(t, ctx, c, ns, claimName, p, "usb-b")

	// The same through a ResourceClaimTemplate: the resourceclaim
	// controller makes the claim, the scheduler allocates the device left.
	template := "key-a"
	create(t, "ResourceClaimTemplate", func() error {
		_, err := c.ResourceV1().ResourceClaimTemplates(ns).Create(ctx, &resourcev1.ResourceClaimTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: template},
			Spec:       resourcev1.ResourceClaimTemplateSpec{Spec: bySerial("A")},
		}, metav1.CreateOptions{})
		return err
	})
	create(t, "Pod", func() error {
		_, err := c.CoreV1().Pods(ns).Create(ctx, pod("uses-a", corev1.PodResourceClaim{Name: "key", ResourceClaimTemplateName: &template}), metav1.CreateOptions{})
		return err
	})
	p = waitScheduled(t, ctx, c, ns, "uses-a")
	if len(p.Status.ResourceClaimStatuses) != 1 || p.Status.ResourceClaimStatuses[0].ResourceClaimName == nil {
		t.Fatalf("Pod uses-a was bound, but its status names no generated claim: %+v", p.Status.ResourceClaimStatuses)
	}
	checkAllocation(t, ctx, c, ns, *p.Status.ResourceClaimStatuses[0].ResourceClaimName, p, "usb-a")
}

// TestStopLeavesNothing checks that Stop ends every process and removes
// the control plane's folder (Cleanup calls the same Stop).
func TestStopLeavesNothing(t *testing.T) {
	cp := kubetest.Start(t, kubetest.Options{Scheduler: true, NoNode: true})
	pids, dir := cp.Pids(), cp.Dir()
	if len(pids) != 3 {
		t.Fatalf("Pids() = %v, want etcd, kube-apiserver and kube-scheduler", pids)
	}
	cp.Stop()
	for _, pid := range pids {
		// Stop has reaped them, so the pid names no process (or, if it
		// was reused already, not one in our control plane's group).
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmdline), dir) {
				t.Errorf("process %d (%s) still runs after Stop", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there after Stop (%v)", dir, err)
	}
}

func create(t *testing.T, kind string, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatalf("create %s: %v", kind, err)
	}
}

func pod(name string, claim corev1.PodResourceClaim) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			ResourceClaims: []corev1.PodResourceClaim{claim},
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "registry.invalid/never-pulled", // no kubelet runs
				Resources: corev1.ResourceRequirements{
					Claims: []corev1.ResourceClaim{{Name: claim.Name}},
				},
			}},
		},
	}
}

// waitScheduled waits for the Pod to be bound to a Node; on a timeout the
// failure says why the scheduler did not place it.
func waitScheduled(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name string) *corev1.Pod {
	t.Helper()
	var p *corev1.Pod
	err := wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var err error
		p, err = c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Spec.NodeName != "", nil
	})
	if err != nil {
		why := "no PodScheduled condition yet"
		if p != nil {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodScheduled {
					why = fmt.Sprintf("PodScheduled=%s %s: %s", cond.Status, cond.Reason, cond.Message)
				}
			}
		}
		t.Fatalf("Pod %s was not bound to a Node: %v; %s", name, err, why)
	}
	return p
}

// checkAllocation wants the claim allocated to exactly the device on the
// Pod's Node, and reserved for the Pod.
func checkAllocation(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name string, p *corev1.Pod, device string) {
	t.Helper()
	claim, err := c.ResourceV1().ResourceClaims(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get ResourceClaim %s: %v", name, err)
	}
	alloc := claim.Status.Allocation
	if alloc == nil {
		t.Fatalf("ResourceClaim %s has no allocation though Pod %s was bound to %s", name, p.Name, p.Spec.NodeName)
	}
	var got []string
	for _, r := range alloc.Devices.Results {
		got = append(got, fmt.Sprintf("%s/%s/%s (request %s)", r.Driver, r.Pool, r.Device, r.Request))
	}
	want := fmt.Sprintf("%s/%s/%s (request key)", driver, p.Spec.NodeName, device)
	if len(got) != 1 || got[0] != want {
		t.Errorf("ResourceClaim %s allocated %v, want [%s]", name, got, want)
	}
	if p.Spec.NodeName != kubetest.DefaultNode {
		t.Errorf("Pod %s bound to %q, want %q", p.Name, p.Spec.NodeName, kubetest.DefaultNode)
	}
	reserved := false
	for _, r := range claim.Status.ReservedFor {
		reserved = reserved || (r.Resource == "pods" && r.Name == p.Name && r.UID == p.UID)
	}
	if !reserved {
		t.Errorf("ResourceClaim %s is not reserved for Pod %s: reservedFor %+v", name, p.Name, claim.Status.ReservedFor)
	}
}
