package lab

import (
	"strings"
	"testing"
)

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		o     Options
		field string
	}{
		{Options{Hosts: 1, Tenants: 1, VMsPerHost: 1, Encap: "vxlan"}, "hosts"},
		{Options{Hosts: 2, Tenants: 0, VMsPerHost: 1, Encap: "vxlan"}, "tenants"},
		{Options{Hosts: 2, Tenants: 1, VMsPerHost: 9, Encap: "vxlan"}, "vms-per-host"},
		{Options{Hosts: 2, Tenants: 1, VMsPerHost: 1, Encap: "ipip"}, "encap"},
	}
	for _, c := range cases {
		err := c.o.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.field) || !strings.Contains(err.Error(), "allowed") {
			t.Errorf("%+v: error %v, want one naming %q and the allowed values", c.o, err, c.field)
		}
	}
	if err := (&Options{Hosts: 3, Tenants: 2, VMsPerHost: 2, Encap: "geneve"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPlanAddressesOverlapAcrossTenantsOnly(t *testing.T) {
	r := plan(&Options{Hosts: 3, Tenants: 4, VMsPerHost: 4, StateDir: "/x"})
	if len(r.VMs) != 48 || len(r.Hosts) != 3 || len(r.Namespaces) != 1+3+48 {
		t.Fatalf("plan: %d VMs %d hosts %d namespaces", len(r.VMs), len(r.Hosts), len(r.Namespaces))
	}
	probes := map[string]bool{}
	perTenant := map[int]map[string]bool{}
	for _, vm := range r.VMs {
		if len(vm.Name) > 255 || len(tapName(vm)) > 15 {
			t.Fatalf("name too long: %s / %s", vm.Name, tapName(vm))
		}
		if probes[vm.ProbeIP] {
			t.Fatalf("probe address %s is not unique", vm.ProbeIP)
		}
		probes[vm.ProbeIP] = true
		if perTenant[vm.Tenant] == nil {
			perTenant[vm.Tenant] = map[string]bool{}
		}
		if perTenant[vm.Tenant][vm.IP] {
			t.Fatalf("address %s twice in tenant %d", vm.IP, vm.Tenant)
		}
		perTenant[vm.Tenant][vm.IP] = true
	}
	for tn := 2; tn <= 4; tn++ {
		for ip := range perTenant[1] {
			if !perTenant[tn][ip] {
				t.Fatalf("tenant %d does not reuse address %s", tn, ip)
			}
		}
	}
}
