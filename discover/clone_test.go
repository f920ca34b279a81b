package discover

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// fill sets every field reachable from v to a non-zero value: pointers
// point somewhere, slices and maps hold one element. A field added to
// Device later is filled as well, without this test knowing it.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	}
}

// shared names the first pointer, slice or map that a and b share.
func shared(path string, a, b reflect.Value) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return shared("(*"+path+")", a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				if s := shared(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i)); s != "" {
					return s
				}
			}
		}
	case reflect.Slice:
		if a.Len() == 0 {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		for i := range a.Len() {
			if s := shared(path+"[i]", a.Index(i), b.Index(i)); s != "" {
				return s
			}
		}
	case reflect.Array:
		for i := range a.Len() {
			if s := shared(path+"[i]", a.Index(i), b.Index(i)); s != "" {
				return s
			}
		}
	case reflect.Map:
		if a.Len() == 0 {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		for _, k := range a.MapKeys() {
			if s := shared(path+"[k]", a.MapIndex(k), b.MapIndex(k)); s != "" {
				return s
			}
		}
	}
	return ""
}

// Clone copies every pointer, slice and map of a Device, those of fields
// added after this test included.
func TestDeviceClone(t *testing.T) {
	var d Device
	fill(reflect.ValueOf(&d).Elem())
	c := d.Clone()
	if !reflect.DeepEqual(c, d) {
		t.Errorf("the clone differs:\n%+v\n%+v", c, d)
	}
	if s := shared("Device", reflect.ValueOf(d), reflect.ValueOf(c)); s != "" {
		t.Errorf("the clone shares %s with the original", s)
	}
	// What is nil or empty stays so, so that a clone is DeepEqual to a
	// scan's device.
	for _, d := range []Device{{}, {USB: &USB{}}, {PCI: &PCI{}}, {USB: &USB{Interfaces: []Interface{}}}} {
		if c := d.Clone(); !reflect.DeepEqual(c, d) {
			t.Errorf("Clone(%+v) = %+v", d, c)
		}
	}
}

// What the watcher hands out is the caller's own: changing it while the
// watcher works races with nothing (under -race) and makes no change
// event.
func TestWatchHandsOutCopies(t *testing.T) {
	h := newHost(t, false, []int{1, 2}, WatchOptions{})
	mutate := func(d *Device) {
		d.Name += "!"
		if d.USB != nil {
			if d.USB.Serial != nil {
				*d.USB.Serial += "!"
			}
			d.USB.Devnum++
			for i := range d.USB.Interfaces {
				d.USB.Interfaces[i].Driver += "!"
			}
		}
		if d.PCI != nil {
			d.PCI.Driver += "!"
			for i := range d.PCI.VirtFns {
				d.PCI.VirtFns[i] += "!"
			}
		}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			devs := h.w.Devices()
			for i := range devs {
				mutate(&devs[i])
			}
		}
	}()
	for i := range 3 {
		n := h.tree.Plug(key(1+i%2, "1", "K")).Devnum
		h.check()
		evs := h.next(1)
		want(t, evs, fmt.Sprintf("add %d-1@%d", 1+i%2, n))
		mutate(&evs[0].Device)
		h.tree.Unplug(fmt.Sprintf("%d-1", 1+i%2))
		h.check()
		evs = h.next(1)
		want(t, evs, fmt.Sprintf("remove %d-1@%d", 1+i%2, n))
		mutate(&evs[0].Device)
	}
	h.tree.Plug(key(1, "2", "K"))
	h.check()
	mutate(&h.next(1)[0].Device)
	close(stop)
	<-done
	for _, d := range h.w.Devices() {
		mutate(&d)
	}
	// Two full rescans, one after the other: the first one's events, if
	// it made any, are sent before the second one reads. The settle looks
	// at the last device plugged are done first, so that what is seen
	// comes from the rescans alone.
	h.idle()
	for range 2 {
		fulls := h.w.stats().full
		h.w.w.inject <- fsnotify.ErrEventOverflow
		for deadline := time.Now().Add(10 * time.Second); h.w.stats().full == fulls; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no full rescan")
			}
		}
	}
	select {
	case ev := <-h.w.Events:
		t.Fatalf("the watcher saw %s", brief([]Event{ev}))
	default:
	}
	h.same()
}
