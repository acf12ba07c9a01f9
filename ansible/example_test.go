package ansible_test

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/ansible"
)

// The command of a role, built from a Config that points at the sample
// configuration repository in testdata. Nothing runs.
func ExampleConfig_Command() {
	cfg := ansible.Config{
		ConfigurationDir:  "testdata/configuration",
		PlaybooksDir:      "testdata/playbooks",
		VaultPasswordFile: "/run/secrets/vault",
	}
	cmd, err := cfg.Command(ansible.Run{Environment: "generic", Role: "hello", Args: []string{"-e", "greeting=hi", "-l", "node-1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("cd", cmd.Dir)
	fmt.Println(cmd)

	_, err = cfg.Command(ansible.Run{Environment: "generic", Role: "no-such-role"})
	fmt.Println(err)
	// Output:
	// cd testdata/configuration/environments/generic
	// ENVIRONMENT=generic ansible-playbook -i testdata/configuration/inventory -e @testdata/configuration/environments/configuration.yml -e @testdata/configuration/environments/generic/configuration.yml --vault-password-file /run/secrets/vault testdata/configuration/environments/generic/playbook-hello.yml -e greeting=hi -l node-1
	// role "no-such-role" in environment "generic": no playbook: looked for testdata/configuration/environments/generic/playbook-no-such-role.yml and testdata/playbooks/generic/no-such-role.yml
}

// The ansible section of a configuration file, its role map and the
// command of a role in the environment the map gives it.
func ExampleConfig_RoleMap() {
	section := `
configuration_dir: testdata/configuration
playbooks_dir: testdata/playbooks
role_map_dir: testdata/rolemap
`
	var cfg ansible.Config
	if err := yaml.Unmarshal([]byte(section), &cfg); err != nil {
		fmt.Println(err)
		return
	}
	roles, err := cfg.RoleMap()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("bifrost runs in", roles.Environment("bifrost"))
	env := roles.Environment("hello")
	fmt.Println("hello runs in", env)
	cmd, err := cfg.Command(ansible.Run{Environment: env, Role: "hello"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cmd.Args[len(cmd.Args)-1])
	// Output:
	// bifrost runs in manager
	// hello runs in generic
	// testdata/configuration/environments/generic/playbook-hello.yml
}

// The built-in role map: upstream's, with custom for the roles it does not
// name.
func ExampleRoleMap_Environment() {
	roles := ansible.DefaultRoleMap()
	for _, role := range []string{"nova", "ceph-osds", "configuration", "netdata", "my-role"} {
		fmt.Printf("%s: %s (known: %t)\n", role, roles.Environment(role), roles.Known(role))
	}
	// Output:
	// nova: kolla (known: true)
	// ceph-osds: ceph (known: true)
	// configuration: manager (known: true)
	// netdata: monitoring (known: true)
	// my-role: custom (known: false)
}

// A sequence split into its roles, and a refused one.
func ExampleParseSequence() {
	roles, err := ansible.ParseSequence("ceph-osds//nova//my-role")
	fmt.Println(strings.Join(roles, " then "), err)

	_, err = ansible.ParseSequence("nova////keystone")
	fmt.Println(err)
	// Output:
	// ceph-osds then nova then my-role <nil>
	// apply "nova////keystone": expected ROLE or ROLE//ROLE..., with no empty role
}

// Every role of a sequence with its environment: from the map, or the one
// the caller gives for all of them.
func ExampleRoleMap_Resolve() {
	roles, err := ansible.ParseSequence("ceph-osds//nova//my-role")
	if err != nil {
		fmt.Println(err)
		return
	}
	m := ansible.DefaultRoleMap()
	for _, st := range m.Resolve(roles, "") {
		fmt.Println(st.Role, "in", st.Environment)
	}
	for _, st := range m.Resolve([]string{"hello", "lines"}, "generic") {
		fmt.Println(st.Role, "in", st.Environment)
	}
	// Output:
	// ceph-osds in ceph
	// nova in kolla
	// my-role in custom
	// hello in generic
	// lines in generic
}

// Secret extra-vars are masked wherever a run is shown; the playbook gets
// the real values.
func ExampleMaskArgs() {
	args := []string{"-e", "db_password=hunter2", "-e", `{"api_token": "t0k3n", "region": "r1"}`, "-e", "x=1", "-l", "node-1"}
	fmt.Println(strings.Join(ansible.MaskArgs(args, nil), " "))
	// Output:
	// -e db_password=****** -e {"api_token":"******","region":"r1"} -e x=1 -l node-1
}
