package openstack_test

import (
	"errors"
	"fmt"

	"github.com/osism/go-osism/openstack"
)

// A configuration comes from the OS_* variables (here a map standing in
// for the environment); secrets never print.
func ExampleConfig_ApplyEnv() {
	vars := map[string]string{"OS_AUTH_URL": "https://keystone:5000/v3", "OS_USERNAME": "admin", "OS_PASSWORD": "hunter2"}
	var cfg openstack.Config
	if err := cfg.ApplyEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }); err != nil {
		fmt.Println(err)
	}
	fmt.Println(cfg.AuthURL, cfg.Username, cfg.Password)
	fmt.Println(cfg.Validate())
	// Output:
	// https://keystone:5000/v3 admin ******
	// <nil>
}

// A configuration that names no way to reach Ironic says what to set.
func ExampleConfig_Validate() {
	err := openstack.Config{}.Validate()
	fmt.Println(errors.Is(err, openstack.ErrNoCredentials))
	fmt.Println(err)
	// Output:
	// true
	// openstack: no credentials: set OS_CLOUD (a cloud of clouds.yaml), OS_AUTH_URL with OS_USERNAME and OS_PASSWORD or an application credential, or openstack.endpoint (OS_ENDPOINT) for a noauth Ironic
}

// Provision states tell a resting node from a moving or failed one.
func ExampleProvisionState() {
	for _, s := range []openstack.ProvisionState{openstack.StateAvailable, openstack.StateDeploying, openstack.StateDeployFailed} {
		fmt.Printf("%-14s stable=%-5v transient=%-5v failed=%v\n", s, s.Stable(), s.Transient(), s.Failed())
	}
	_, err := openstack.ParseProvisionState("gone")
	fmt.Println(err)
	// Output:
	// available      stable=true  transient=false failed=false
	// deploying      stable=false transient=true  failed=false
	// deploy failed  stable=false transient=false failed=true
	// openstack: provision state "gone": expected an Ironic provision state such as enroll, manageable, available, active, deploy failed
}

// Settled is where a provision verb leaves a node when it succeeds.
func ExampleSettled() {
	for _, t := range []openstack.Target{openstack.TargetManage, openstack.TargetProvide, openstack.TargetDeploy, openstack.TargetUndeploy} {
		fmt.Println(t, "->", openstack.Settled(t))
	}
	// Output:
	// manage -> [manageable]
	// provide -> [available]
	// active -> [active]
	// deleted -> [available]
}

// A node is safe to delete when nothing runs on it.
func ExampleNode_SafeToDelete() {
	n := openstack.Node{Name: "node-1", ProvisionState: openstack.StateAvailable, PowerState: openstack.PowerOff}
	fmt.Println(n.SafeToDelete())
	n.ProvisionState = openstack.StateActive
	fmt.Println(n.SafeToDelete())
	// Output:
	// true
	// false
}
