package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/hypervisor"
)

// pveFlags are --mapping and --node: the Proxmox VE cluster resource
// mappings that resolve a VM config's mapping=NAME, and the node whose
// entries count.
type pveFlags struct {
	files []string
	node  string
}

func (f *pveFlags) register(c *cobra.Command) {
	c.Flags().StringArrayVar(&f.files, "mapping", nil, "resolve a Proxmox VE mapping=NAME with the cluster's mapping `FILE` (/etc/pve/mapping/usb.cfg, pci.cfg; repeat for both)")
	c.Flags().StringVar(&f.node, "node", "", "the Proxmox VE node `NAME` whose mapping entries count (default: this host's name up to its first dot)")
}

// load reads the mapping files; nil when none was given.
func (f *pveFlags) load() (*hypervisor.ProxmoxMappings, error) {
	if len(f.files) == 0 {
		if f.node != "" {
			return nil, usageError{fmt.Errorf("--node names whose Proxmox mappings count; give them with --mapping")}
		}
		return nil, nil
	}
	ms := &hypervisor.ProxmoxMappings{Node: f.node}
	if ms.Node == "" {
		n, err := hypervisor.ProxmoxNodeName()
		if err != nil {
			return nil, fmt.Errorf("--node: %w", err)
		}
		ms.Node = n
	}
	for _, file := range f.files {
		doc, err := readConfig(file)
		if err != nil {
			return nil, err
		}
		if err := ms.Add(file, doc); err != nil {
			return nil, usageError{fmt.Errorf("%s: %w", file, err)}
		}
	}
	return ms, nil
}

// apply binds the mappings to refs.
func (f *pveFlags) apply(refs []named) ([]named, error) {
	ms, err := f.load()
	if err != nil || ms == nil {
		return refs, err
	}
	rs := make([]hypervisor.Ref, len(refs))
	for i, r := range refs {
		rs[i] = r.Ref
	}
	rs = ms.Apply(rs)
	out := make([]named, len(refs))
	for i, r := range refs {
		out[i] = named{Ref: rs[i], file: r.file}
	}
	return out, nil
}

// fill is hypervisor.Fill, with the mappings for a Proxmox config.
func (f *pveFlags) fill(doc []byte, devs []discover.Device) ([]byte, []hypervisor.Filled, error) {
	ms, err := f.load()
	if err != nil {
		return nil, nil, err
	}
	if _, d, _ := hypervisor.Refs(doc); ms != nil && d == hypervisor.DialectProxmox {
		return hypervisor.FillProxmox(doc, devs, ms)
	}
	out, filled, _, err := hypervisor.Fill(doc, devs)
	return out, filled, err
}
