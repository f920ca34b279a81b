package dra

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourceapi "k8s.io/api/resource/v1"
	"sigs.k8s.io/yaml"

	"github.com/hostdev/hostdev/dra/draattr"
)

// The DeviceClasses in deploy/ read strictly as the API's types, carry the
// names hostdev-discover's claims use, and select as the allocator tests'
// classes do, which those tests run through the real allocator.
func TestDeployedDeviceClasses(t *testing.T) {
	data, err := os.ReadFile("../deploy/deviceclasses.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var dc resourceapi.DeviceClass
		if err := yaml.UnmarshalStrict(doc, &dc); err != nil {
			t.Fatalf("%v:\n%s", err, doc)
		}
		if dc.Kind != "DeviceClass" || dc.APIVersion != "resource.k8s.io/v1" || len(dc.Spec.Selectors) != 1 || dc.Spec.Selectors[0].CEL == nil {
			t.Fatalf("%+v", dc)
		}
		expr, ok := strings.CutPrefix(dc.Spec.Selectors[0].CEL.Expression, `device.driver == "hostdev.io" && `)
		if !ok {
			t.Errorf("%s: %q does not pick the driver first", dc.Name, dc.Spec.Selectors[0].CEL.Expression)
		}
		got[dc.Name] = expr
	}
	for _, name := range []string{draattr.ClassUSB, draattr.ClassPCI, "viable-pci.hostdev.io"} {
		if got[name] == "" || got[name] != testClasses[name] {
			t.Errorf("%s: deployed %q, tested %q", name, got[name], testClasses[name])
		}
	}
}

// The DaemonSet and RBAC in deploy/ read strictly as the API's types, and
// hold what the driver needs: privileged, the host's /sys, the kubelet's
// plugin folders, NODE_NAME, and the rights on ResourceSlices.
func TestDeployedDriver(t *testing.T) {
	docs := func(file string) [][]byte {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Split(data, []byte("\n---\n"))
	}
	ds := docs("../deploy/daemonset.yaml")
	var d appsv1.DaemonSet
	if len(ds) != 2 || yaml.UnmarshalStrict(ds[1], &d) != nil || d.Kind != "DaemonSet" {
		t.Fatalf("deploy/daemonset.yaml: want a Namespace and a DaemonSet")
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
		t.Error("the driver writes sysfs: it must be privileged")
	}
	mounts := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = true
	}
	for _, p := range []string{"/sys", "/dev", "/var/lib/kubelet/plugins_registry", "/var/lib/kubelet/plugins", "/var/run/cdi"} {
		if !mounts[p] {
			t.Errorf("no mount at %s", p)
		}
	}
	if len(c.Env) == 0 || c.Env[0].Name != "NODE_NAME" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_NAME is not the node's name: %+v", c.Env)
	}
	rb := docs("../deploy/rbac.yaml")
	var role rbacv1.ClusterRole
	if len(rb) != 3 || yaml.UnmarshalStrict(rb[1], &role) != nil || role.Kind != "ClusterRole" {
		t.Fatalf("deploy/rbac.yaml: want a ServiceAccount, a ClusterRole and a binding")
	}
	var sa corev1.ServiceAccount
	var bind rbacv1.ClusterRoleBinding
	if yaml.UnmarshalStrict(rb[0], &sa) != nil || yaml.UnmarshalStrict(rb[2], &bind) != nil ||
		sa.Name != d.Spec.Template.Spec.ServiceAccountName || sa.Namespace != d.Namespace ||
		bind.RoleRef.Name != role.Name || bind.Subjects[0].Name != sa.Name {
		t.Errorf("the service account, binding and DaemonSet do not name each other")
	}
	canPublish := false
	for _, r := range role.Rules {
		if slicesContain(r.Resources, "resourceslices") && slicesContain(r.Verbs, "create") && slicesContain(r.Verbs, "delete") {
			canPublish = true
		}
	}
	if !canPublish {
		t.Error("the role cannot create and delete ResourceSlices")
	}
}

func slicesContain(ss []string, s string) bool { return slices.Contains(ss, s) }
