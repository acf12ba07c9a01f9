package ceph_test

import (
	"fmt"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/ceph"
)

// A Ceph role for one cluster (a sub-environment), and the command it runs
// with the sample configuration repository of package ansible. Nothing
// runs.
func ExampleRun() {
	r := ceph.Run("ceph-osds", []string{"-e", "x=y"})
	r.Sub = "cluster2"
	fmt.Println(r.Environment, r.Role, r.Args)

	cfg := ansible.Config{ConfigurationDir: "../ansible/testdata/configuration", PlaybooksDir: "../ansible/testdata/playbooks"}
	cmd, err := cfg.Command(r)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("cd", cmd.Dir)
	fmt.Println(cmd)
	// Output:
	// ceph osds [-e x=y]
	// cd ../ansible/testdata/configuration/environments/ceph
	// ENVIRONMENT=ceph SUB=cluster2 ansible-playbook -i ../ansible/testdata/configuration/inventory -e @../ansible/testdata/configuration/environments/configuration.yml ../ansible/testdata/playbooks/ceph/osds.yml -e x=y
}
