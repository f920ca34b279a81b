package kubetest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// AddNode creates a Node the scheduler can place Pods on, as a kubelet
// would register it: Ready, with allocatable cpu (8), memory (16Gi) and
// pods (110), and without taints. The TaintNodesByCondition admission
// plugin gives every new Node node.kubernetes.io/not-ready:NoSchedule, and
// no node lifecycle controller runs here to lift it, so AddNode clears the
// taints itself. It fails the test on an error.
func (cp *ControlPlane) AddNode(tb testing.TB, name string) *corev1.Node {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := cp.Client.CoreV1().Nodes()
	node, err := nodes.Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kubetest: create Node %s: %v", name, err)
	}

	now := metav1.Now()
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("8"),
		corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node.Status = corev1.NodeStatus{
		Capacity:    resources,
		Allocatable: resources,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{{
			Type:               corev1.NodeReady,
			Status:             corev1.ConditionTrue,
			Reason:             "KubeletReady",
			Message:            "played by kubetest",
			LastHeartbeatTime:  now,
			LastTransitionTime: now,
		}},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			{Type: corev1.NodeHostName, Address: name},
		},
	}
	if node, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		tb.Fatalf("kubetest: status of Node %s: %v", name, err)
	}

	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(n.Spec.Taints) == 0 {
			node = n
			return nil
		}
		n.Spec.Taints = nil
		node, err = nodes.Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		tb.Fatalf("kubetest: clear the taints of Node %s: %v", name, err)
	}
	return node
}
