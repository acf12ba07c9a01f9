package switchsim_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/switchcfg/switchsim"
)

func TestConfigApply(t *testing.T) {
	base := "frr defaults traditional\nhostname leaf-1\nrouter bgp 65101\n neighbor fabric peer-group\n address-family ipv4 unicast\n  redistribute connected\n exit-address-family\nexit\n"
	cases := []struct {
		name    string
		strict  bool
		cmds    []string
		refused string // the refused command's error, empty when all apply
		mode    string // Mode after the commands
		show    []string
		hidden  []string
	}{
		{name: "lines in blocks", strict: true,
			cmds: []string{"interface swp1", "description node-1:eth0", "exit", "router bgp 65101", "address-family ipv6 unicast", "redistribute static", "exit-address-family", "exit"},
			mode: "config", show: []string{"interface swp1\n description node-1:eth0\nexit\n", " address-family ipv6 unicast\n  redistribute static\n exit-address-family\n"}},
		{name: "no removes a line", strict: true, cmds: []string{"router bgp 65101", "no neighbor fabric peer-group", "exit"},
			mode: "config", hidden: []string{"neighbor fabric peer-group"}},
		{name: "negated setting and its undo", strict: true, cmds: []string{"no ipv6 forwarding", "ipv6 forwarding"},
			mode: "config", hidden: []string{"ipv6 forwarding"}},
		{name: "frr defaults replaced", strict: true, cmds: []string{"frr defaults datacenter"},
			mode: "config", show: []string{"frr defaults datacenter\n"}, hidden: []string{"traditional"}},
		{name: "a description replaces the one before", strict: true,
			cmds: []string{"interface swp1", "description first", "description second", "exit"},
			mode: "config", show: []string{"interface swp1\n description second\nexit\n"}, hidden: []string{"first"}},
		{name: "interfaces in FRR's order", strict: true,
			cmds: []string{"route-map RM permit 10", "exit", "interface swp10", "shutdown", "exit", "interface swp2", "shutdown", "exit", "interface Port-Channel1", "shutdown", "exit", "ip router-id 10.0.0.1"},
			mode: "config", show: []string{"hostname leaf-1\nip router-id 10.0.0.1\n!\ninterface Port-Channel1\n shutdown\nexit\n!\ninterface swp2\n shutdown\nexit\n!\ninterface swp10\n shutdown\nexit\n!\nrouter bgp 65101\n", "exit\n!\nroute-map RM permit 10\nexit\n!\nend\n"}},
		{name: "modes", cmds: []string{"router bgp 65101", "address-family ipv4 unicast"}, mode: "config-router-af"},
		{name: "interface mode", cmds: []string{"interface swp2"}, mode: "config-if"},
		{name: "exit leaves an address-family when typed", cmds: []string{"router bgp 65101", "address-family ipv4 unicast", "exit"}, mode: "config-router"},
		{name: "end leaves every block when typed", cmds: []string{"router bgp 65101", "address-family ipv4 unicast", "end"}, mode: "config"},
		{name: "strict: wrong exit", strict: true, cmds: []string{"router bgp 65101", "address-family ipv4 unicast", "exit"}, refused: "% Unknown command: exit"},
		{name: "strict: exit at the top level", strict: true, cmds: []string{"exit"}, refused: `not in a block`},
		{name: "strict: end", strict: true, cmds: []string{"interface swp1", "end"}, refused: `"end"`},
		{name: "no interface", strict: true, cmds: []string{"interface swp1", "exit", "no interface swp1"}, refused: "Only inactive interfaces can be deleted"},
		{name: "no address-family", cmds: []string{"router bgp 65101", "no address-family ipv4 unicast"}, refused: "Only inactive address-familys"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := switchsim.ParseConfig([]byte(base))
			c.Strict = tc.strict
			var err error
			for _, cmd := range tc.cmds {
				if err = c.Apply(cmd); err != nil {
					break
				}
			}
			if tc.refused != "" {
				require.ErrorIs(t, err, switchsim.ErrRefused)
				require.ErrorContains(t, err, tc.refused)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.mode, c.Mode())
			c.End()
			shown := string(c.Show())
			require.Contains(t, shown, "Current configuration:\n")
			require.Regexp(t, "\nend\n$", shown)
			for _, s := range tc.show {
				require.Contains(t, shown, s)
			}
			for _, s := range tc.hidden {
				require.NotContains(t, shown, s)
			}
			require.Equal(t, shown, string(switchsim.ParseConfig([]byte(shown)).Show()), "what it shows reads back the same")
		})
	}
}
