package kolla_test

import (
	"fmt"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/kolla"
)

// A Kolla role with an action, and the command it runs with the sample
// configuration repository of package ansible. Nothing runs.
func ExampleRun() {
	r, err := kolla.Run("kolla-nova", "reconfigure", []string{"-l", "node-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Environment, r.Role, r.Args)

	cfg := ansible.Config{ConfigurationDir: "../ansible/testdata/configuration", PlaybooksDir: "../ansible/testdata/playbooks"}
	cmd, err := cfg.Command(r)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cmd)

	_, err = kolla.Run("nova", "explode", nil)
	fmt.Println(err)
	// Output:
	// kolla nova [-e kolla_action=reconfigure -l node-1]
	// ENVIRONMENT=kolla ansible-playbook -i ../ansible/testdata/configuration/inventory -e @../ansible/testdata/configuration/environments/configuration.yml ../ansible/testdata/playbooks/kolla/nova.yml -e kolla_action=reconfigure -l node-1
	// kolla action "explode": expected one of bootstrap, bootstrap-servers, check, config, deploy, deploy-containers, destroy, precheck, prune-images, pull, reconfigure, refresh-containers, stop, upgrade, upgrade-bifrost, validate-config
}

// The action each role of an apply gets: a sequence's Kolla roles take it,
// its other roles run without it, and a role outside kolla applied alone
// refuses it.
func ExampleActionFor() {
	roles, _ := ansible.ParseSequence("ceph-osds//nova")
	steps := ansible.DefaultRoleMap().Resolve(roles, "")
	for _, st := range steps {
		action, err := kolla.ActionFor(st.Environment, st.Role, "upgrade", &kolla.ActionOpts{InSequence: len(steps) > 1})
		fmt.Printf("%s in %s: action %q, error %v\n", st.Role, st.Environment, action, err)
	}

	_, err := kolla.ActionFor("ceph", "ceph-osds", "upgrade", nil)
	fmt.Println(err)
	_, err = kolla.ActionFor("kolla", "nova", "explode", nil)
	fmt.Println(err)
	// Output:
	// ceph-osds in ceph: action "", error <nil>
	// nova in kolla: action "upgrade", error <nil>
	// apply ceph-osds --action upgrade: actions apply to the kolla environment only, and ceph-osds runs in ceph
	// apply --action "explode": expected one of bootstrap, bootstrap-servers, check, config, deploy, deploy-containers, destroy, precheck, prune-images, pull, reconfigure, refresh-containers, stop, upgrade, upgrade-bifrost, validate-config
}
