// Command vfiotool runs package vfio in the e2e guest, on the guest's real
// PCI functions, and prints what it did as JSON for the test to check:
//
//	vfiotool plan ADDR      the plan, or the error that refuses it
//	vfiotool take ADDR      take the plan's functions; what they had goes to /tmp/vfio-held.json
//	vfiotool release        give them back
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/vfio"
)

const heldFile = "/tmp/vfio-held.json"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vfiotool:", err)
		os.Exit(1)
	}
}

type planJSON struct {
	Group    int      `json:"group"`
	Take     []string `json:"take"`
	Others   []string `json:"others"`
	DevNodes []string `json:"devnodes"`
	Error    string   `json:"error,omitempty"`
}

func run(args []string) error {
	ctx := context.Background()
	b := vfio.Binder{Root: "/"}
	enc := json.NewEncoder(os.Stdout)
	switch {
	case len(args) == 2 && (args[0] == "plan" || args[0] == "take"):
		res, err := discover.Scan(ctx, discover.Options{Root: "/", Numeric: true})
		if err != nil {
			return err
		}
		p, err := vfio.NewPlan(res.Devices, args[1])
		j := planJSON{Group: p.Group, DevNodes: p.DevNodes()}
		for _, d := range p.Take {
			j.Take = append(j.Take, d.Name)
		}
		for _, d := range p.Others {
			j.Others = append(j.Others, d.Name)
		}
		if err != nil {
			j.Error = err.Error()
		}
		if args[0] == "plan" || err != nil {
			return enc.Encode(j)
		}
		held, err := b.Take(ctx, p)
		if err != nil {
			return err
		}
		data, _ := json.Marshal(held)
		if err := os.WriteFile(heldFile, data, 0o600); err != nil {
			return err
		}
		return enc.Encode(held)
	case len(args) == 1 && args[0] == "release":
		data, err := os.ReadFile(heldFile)
		if err != nil {
			return err
		}
		var held []vfio.Held
		if err := json.Unmarshal(data, &held); err != nil {
			return err
		}
		return b.Release(ctx, held)
	}
	return fmt.Errorf("usage: vfiotool plan ADDR | take ADDR | release")
}
