package main

import (
	"context"
	"testing"
	"time"

	resourceapi "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/hostdev/hostdev/dra"
)

// sliceWatch follows this driver's ResourceSlices of one node through a
// watch on the API server, as a scheduler's informer does, so that a
// benchmark sees a change when the API server sends it, without loading
// the API server and the machine with lists of a thousand devices.
type sliceWatch struct {
	tb     testing.TB
	w      watch.Interface
	slices map[string]*resourceapi.ResourceSlice
}

func watchSlices(ctx context.Context, tb testing.TB, c kubernetes.Interface, node string) *sliceWatch {
	tb.Helper()
	opts := metav1.ListOptions{FieldSelector: resourceapi.ResourceSliceSelectorDriver + "=" + dra.DriverName + "," +
		resourceapi.ResourceSliceSelectorNodeName + "=" + node}
	l, err := c.ResourceV1().ResourceSlices().List(ctx, opts)
	if err != nil {
		tb.Fatal(err)
	}
	sw := &sliceWatch{tb: tb, slices: map[string]*resourceapi.ResourceSlice{}}
	for i := range l.Items {
		sw.slices[l.Items[i].Name] = &l.Items[i]
	}
	opts.ResourceVersion = l.ResourceVersion
	if sw.w, err = c.ResourceV1().ResourceSlices().Watch(ctx, opts); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(sw.w.Stop)
	return sw
}

// devices gives the names of the devices in the newest generation of the
// pool: while the driver replaces slices, the old generation's are still
// there.
func (sw *sliceWatch) devices() map[string]bool {
	gen := int64(-1)
	for _, s := range sw.slices {
		gen = max(gen, s.Spec.Pool.Generation)
	}
	m := map[string]bool{}
	for _, s := range sw.slices {
		if s.Spec.Pool.Generation == gen {
			for _, d := range s.Spec.Devices {
				m[d.Name] = true
			}
		}
	}
	return m
}

// wait applies the watch's events until ok holds for the devices, and
// fails the benchmark after timeout.
func (sw *sliceWatch) wait(what string, timeout time.Duration, ok func(devices map[string]bool) bool) {
	sw.tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !ok(sw.devices()) {
		select {
		case ev, open := <-sw.w.ResultChan():
			if !open {
				sw.tb.Fatalf("%s: the watch of ResourceSlices ended", what)
			}
			s, isSlice := ev.Object.(*resourceapi.ResourceSlice)
			switch {
			case !isSlice:
				sw.tb.Fatalf("%s: watch event %s of %T", what, ev.Type, ev.Object)
			case ev.Type == watch.Deleted:
				delete(sw.slices, s.Name)
			default:
				sw.slices[s.Name] = s
			}
		case <-deadline.C:
			sw.tb.Fatalf("%s: not in %s (%d devices published)", what, timeout, len(sw.devices()))
		}
	}
}
