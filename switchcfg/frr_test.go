package switchcfg

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/switchcfg/switchsim"
)

// frrSample is "show running-config" of FRR 8.4.
const frrSample = `Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults datacenter
hostname leaf-1
no ip forwarding
no ipv6 forwarding
service integrated-vtysh-config
!
interface swp1
 description node-1:eth0
exit
!
router bgp 65101
 bgp router-id 10.10.0.1
 bgp bestpath as-path multipath-relax
 neighbor fabric peer-group
 neighbor fabric remote-as external
 neighbor swp1 interface peer-group fabric
 !
 address-family ipv4 unicast
  redistribute connected
 exit-address-family
exit
!
end
`

// frrPreamble is how vtysh starts "show running-config", with the lines
// FRR shows that OSISM does not manage.
const frrPreamble = `Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults datacenter
hostname leaf-1
log syslog informational
no ip forwarding
no ipv6 forwarding
service integrated-vtysh-config
!
`

// frrTrailer is how vtysh ends "show running-config".
const frrTrailer = `line vty
 exec-timeout 0 0
exit
!
end
`

// frrMixed is leaf-1's running configuration with an extra interface
// block, an extra neighbor in router bgp, a missing neighbor, a changed
// description and an extra address-family line.
const frrMixed = frrPreamble + `interface peerlink
 description MLAG peer link
exit
!
interface swp1
 description node-1:eth0
exit
!
interface swp2
 description node-2:eth9
exit
!
interface swp3
 description node-3:eth0
exit
!
interface swp4
 description node-4:eth0
exit
!
interface swp31
 description leaf-2:swp31
exit
!
interface swp32
 description leaf-2:swp32
exit
!
interface swp9
 description old-node:eth0
 ip address 10.1.0.1/31
exit
!
router bgp 65101
 bgp router-id 10.10.0.1
 bgp bestpath as-path multipath-relax
 neighbor fabric peer-group
 neighbor fabric remote-as external
 neighbor peerlink interface peer-group fabric
 neighbor swp1 interface peer-group fabric
 neighbor swp2 interface peer-group fabric
 neighbor swp3 interface peer-group fabric
 neighbor swp9 interface peer-group fabric
 !
 address-family ipv4 unicast
  redistribute connected
  redistribute static
 exit-address-family
exit
!
` + frrTrailer

// frrStale is a switch configured by hand before OSISM: another AS, other
// ports, settings OSISM does not render.
const frrStale = frrPreamble + `interface swp1
 description uplink
 ip address 192.0.2.1/31
exit
!
interface swp7
 description spare
 shutdown
exit
!
router bgp 65001
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 neighbor uplink peer-group
 neighbor uplink remote-as external
 neighbor swp1 interface peer-group uplink
 neighbor swp7 interface remote-as external
 !
 address-family ipv4 unicast
  network 192.0.2.0/24
  neighbor uplink route-map RM-IN in
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor uplink activate
 exit-address-family
exit
!
route-map RM-IN permit 10
 set local-preference 200
exit
!
vrf mgmt
 ip route 0.0.0.0/0 192.0.2.254
exit-vrf
!
` + frrTrailer

func frrGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/golden/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// frrShown is the rendered configuration cfg as vtysh shows it: the
// preamble and trailer around it, its comments and "frr defaults" left
// out (the preamble has one).
func frrShown(cfg []byte) []byte {
	var b strings.Builder
	b.WriteString(frrPreamble)
	for line := range strings.Lines(string(cfg)) {
		if strings.HasPrefix(line, "! ") || strings.HasPrefix(line, "frr defaults ") {
			continue
		}
		b.WriteString(line)
	}
	b.WriteString(frrTrailer)
	return []byte(b.String())
}

// frrPaths lists a tree's lines as paths, a block header marked with {}.
func frrPaths(n *frrNode) []string {
	var out []string
	var walk func(n *frrNode, path string, depth int)
	walk = func(n *frrNode, path string, depth int) {
		for _, c := range n.children {
			p := c.line
			if path != "" {
				p = path + " / " + c.line
			}
			if c.isBlock(depth) {
				out = append(out, p+" {}")
			} else {
				out = append(out, p)
			}
			walk(c, p, depth+1)
		}
	}
	walk(n, "", 0)
	return out
}

func TestFRRParse(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{
			name: "show running-config",
			text: frrSample,
			want: []string{
				"frr version 8.4.4",
				"frr defaults datacenter",
				"hostname leaf-1",
				"no ip forwarding",
				"no ipv6 forwarding",
				"service integrated-vtysh-config",
				"interface swp1 {}",
				"interface swp1 / description node-1:eth0",
				"router bgp 65101 {}",
				"router bgp 65101 / bgp router-id 10.10.0.1",
				"router bgp 65101 / bgp bestpath as-path multipath-relax",
				"router bgp 65101 / neighbor fabric peer-group",
				"router bgp 65101 / neighbor fabric remote-as external",
				"router bgp 65101 / neighbor swp1 interface peer-group fabric",
				"router bgp 65101 / address-family ipv4 unicast {}",
				"router bgp 65101 / address-family ipv4 unicast / redistribute connected",
			},
		},
		{
			name: "whitespace, comments, CRLF, tabs",
			text: "! leaf-1: a comment\r\n" +
				"frr   defaults\tdatacenter   \r\n" +
				"   !   indented comment\n" +
				"\n" +
				"interface swp1\r\n" +
				"\tdescription   node-1:eth0  \r\n" +
				"exit\r\n",
			want: []string{
				"frr defaults datacenter",
				"interface swp1 {}",
				"interface swp1 / description node-1:eth0",
			},
		},
		{
			name: "repeated blocks and lines merge",
			text: "router bgp 1\n neighbor a peer-group\n address-family ipv4 unicast\n  redistribute connected\n exit-address-family\nexit\n" +
				"interface swp1\n description x\nexit\n" +
				"router bgp 1\n neighbor a peer-group\n neighbor b peer-group\n address-family ipv4 unicast\n  redistribute static\n exit-address-family\nexit\n" +
				"ip router-id 1.2.3.4\nip router-id 1.2.3.4\n",
			want: []string{
				"router bgp 1 {}",
				"router bgp 1 / neighbor a peer-group",
				"router bgp 1 / address-family ipv4 unicast {}",
				"router bgp 1 / address-family ipv4 unicast / redistribute connected",
				"router bgp 1 / address-family ipv4 unicast / redistribute static",
				"router bgp 1 / neighbor b peer-group",
				"interface swp1 {}",
				"interface swp1 / description x",
				"ip router-id 1.2.3.4",
			},
		},
		{
			name: "blocks closed at once, empty blocks FRR hides",
			text: "interface swp1\nexit\n!\n" +
				"vrf red\nexit-vrf\n!\n" +
				"router bgp 1\n address-family ipv6 unicast\n exit-address-family\nexit\n" +
				"route-map RM permit 10\nexit\n" +
				"key chain k\n key 1\n  key-string s\n exit\nexit\n" +
				"mpls label dynamic-block 100 200\n",
			want: []string{
				"router bgp 1 {}",
				"route-map RM permit 10 {}",
				"key chain k {}",
				"key chain k / key 1 {}",
				"key chain k / key 1 / key-string s",
				"mpls label dynamic-block 100 200",
			},
		},
		{
			name: "end and preamble only",
			text: "Building configuration...\n\nCurrent configuration:\n!\nend\n",
		},
		{
			name: "end leaves every block",
			text: "router bgp 1\n neighbor a peer-group\nend\n neighbor b peer-group\n",
			want: []string{
				"router bgp 1 {}",
				"router bgp 1 / neighbor a peer-group",
				"neighbor b peer-group",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := frrPaths(parseFRR([]byte(tt.text)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("parse:\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestFRRCompare(t *testing.T) {
	leaf1 := frrGolden(t, "leaf-1.cfg")
	tests := []struct {
		name           string
		rendered       []byte
		running        []byte
		missing, extra []string
	}{
		{
			name:     "running equals rendered",
			rendered: leaf1,
			running:  frrShown(leaf1),
		},
		{
			name:     "running equals rendered, MLAG",
			rendered: frrGolden(t, "leaf-1-mlag.cfg"),
			running:  frrShown(frrGolden(t, "leaf-1-mlag.cfg")),
		},
		{
			name:     "rendered against itself",
			rendered: leaf1,
			running:  leaf1,
		},
		{
			name:     "mixed differences",
			rendered: leaf1,
			running:  []byte(frrMixed),
			missing: []string{
				"interface swp2 / description node-2:eth0",
				"router bgp 65101 / neighbor swp4 interface peer-group fabric",
			},
			extra: []string{
				"interface swp2 / description node-2:eth9",
				"interface swp9",
				"router bgp 65101 / neighbor swp9 interface peer-group fabric",
				"router bgp 65101 / address-family ipv4 unicast / redistribute static",
			},
		},
		{
			name:     "empty running",
			rendered: leaf1,
			running:  nil,
			missing: []string{
				"frr defaults datacenter",
				"interface peerlink",
				"interface swp1",
				"interface swp2",
				"interface swp3",
				"interface swp4",
				"interface swp31",
				"interface swp32",
				"router bgp 65101",
			},
		},
		{
			name:     "frr defaults differ",
			rendered: []byte("frr defaults datacenter\n"),
			running:  []byte("frr version 8.4.4\nfrr defaults traditional\n"),
			missing:  []string{"frr defaults datacenter"},
			extra:    []string{"frr defaults traditional"},
		},
		{
			name:     "other switch",
			rendered: leaf1,
			running:  frrShown(frrGolden(t, "leaf-2.cfg")),
			missing: []string{
				"interface swp1 / description node-1:eth0",
				"interface swp2 / description node-2:eth0",
				"interface swp3 / description node-3:eth0",
				"interface swp4 / description node-4:eth0",
				"interface swp31 / description leaf-2:swp31",
				"interface swp32 / description leaf-2:swp32",
				"router bgp 65101",
			},
			extra: []string{
				"interface swp1 / description node-1:eth1",
				"interface swp2 / description node-2:eth1",
				"interface swp3 / description node-3:eth1",
				"interface swp4 / description node-4:eth1",
				"interface swp31 / description leaf-1:swp31",
				"interface swp32 / description leaf-1:swp32",
				"router bgp 65102",
			},
		},
	}
	f := NewFRR()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.Compare(tt.rendered, tt.running)
			if r.Missing == nil || r.Extra == nil {
				t.Errorf("nil Missing or Extra: %#v", r)
			}
			if !slices.Equal(r.Missing, tt.missing) {
				t.Errorf("missing:\ngot  %q\nwant %q", r.Missing, tt.missing)
			}
			if !slices.Equal(r.Extra, tt.extra) {
				t.Errorf("extra:\ngot  %q\nwant %q", r.Extra, tt.extra)
			}
			if want := len(tt.missing) == 0 && len(tt.extra) == 0; r.OK() != want {
				t.Errorf("OK() = %v, want %v", r.OK(), want)
			}
		})
	}
}

func TestFRRCommands(t *testing.T) {
	leaf1 := frrGolden(t, "leaf-1.cfg")
	tests := []struct {
		name     string
		rendered []byte
		running  []byte
		want     []string
	}{
		{
			name:     "nothing differs",
			rendered: leaf1,
			running:  frrShown(leaf1),
		},
		{
			name:     "mixed differences",
			rendered: leaf1,
			running:  []byte(frrMixed),
			want: []string{
				// removals, last running line first
				"router bgp 65101",
				"address-family ipv4 unicast",
				"no redistribute static",
				"exit-address-family",
				"no neighbor swp9 interface peer-group fabric",
				"exit",
				"interface swp9", // FRR cannot delete an existing interface: empty it
				"no ip address 10.1.0.1/31",
				"no description", // vtysh knows no "no description old-node:eth0"
				"exit",
				"interface swp2",
				"no description",
				"exit",
				// additions, in rendered order
				"interface swp2",
				"description node-2:eth0",
				"exit",
				"router bgp 65101",
				"neighbor swp4 interface peer-group fabric",
				"exit",
			},
		},
		{
			name:     "stale router bgp",
			rendered: []byte("router bgp 65101\n neighbor fabric peer-group\nexit\n"),
			running:  []byte("router bgp 65001\n neighbor uplink peer-group\n neighbor swp1 interface peer-group uplink\nexit\n"),
			want: []string{
				"no router bgp 65001",
				"router bgp 65101",
				"neighbor fabric peer-group",
				"exit",
			},
		},
		{
			name:     "empty running",
			rendered: []byte("frr defaults datacenter\ninterface swp1\n description a\nexit\nrouter bgp 1\n address-family ipv4 unicast\n  redistribute connected\n exit-address-family\nexit\nvrf red\n vni 100\nexit-vrf\n"),
			want: []string{
				"frr defaults datacenter",
				"interface swp1", "description a", "exit",
				"router bgp 1", "address-family ipv4 unicast", "redistribute connected", "exit-address-family", "exit",
				"vrf red", "vni 100", "exit-vrf",
			},
		},
		{
			name:     "frr defaults differ",
			rendered: []byte("frr defaults datacenter\n"),
			running:  []byte("frr defaults traditional\n"),
			want:     []string{"frr defaults datacenter"},
		},
		{
			name:     "negated line extra",
			rendered: []byte("router bgp 1\n neighbor a peer-group\nexit\n"),
			running:  []byte("router bgp 1\n no bgp ebgp-requires-policy\n neighbor a peer-group\nexit\n"),
			want:     []string{"router bgp 1", "bgp ebgp-requires-policy", "exit"},
		},
		{
			name:     "negated line missing",
			rendered: []byte("router bgp 1\n no bgp ebgp-requires-policy\nexit\n"),
			running:  []byte("router bgp 1\nexit\n"),
			want:     []string{"router bgp 1", "no bgp ebgp-requires-policy", "exit"},
		},
		{
			name:     "descriptions removed",
			rendered: []byte("interface swp1\n shutdown\nexit\nroute-map RM permit 10\n set metric 1\nexit\nrouter bgp 1\n neighbor a peer-group\nexit\n"),
			running:  []byte("interface swp1\n description a b  c\n shutdown\nexit\nroute-map RM permit 10\n description x\n set metric 1\nexit\nrouter bgp 1\n neighbor a peer-group\n neighbor a description y z\nexit\n"),
			want: []string{
				"router bgp 1", "no neighbor a description y z", "exit",
				"route-map RM permit 10", "no description", "exit",
				"interface swp1", "no description", "exit",
			},
		},
		{
			name:     "top-level line extra",
			rendered: nil,
			running:  []byte("ip router-id 10.0.0.1\nno ipv6 nht resolve-via-default\n"),
			want:     []string{"ipv6 nht resolve-via-default", "no ip router-id 10.0.0.1"},
		},
		{
			name:     "peer group removed after its members",
			rendered: []byte("router bgp 1\n bgp router-id 10.0.0.1\nexit\n"),
			running:  []byte("router bgp 1\n bgp router-id 10.0.0.1\n neighbor fabric peer-group\n neighbor fabric remote-as external\n neighbor swp1 interface peer-group fabric\nexit\n"),
			want: []string{
				"router bgp 1",
				"no neighbor swp1 interface peer-group fabric",
				"no neighbor fabric remote-as external",
				"no neighbor fabric peer-group",
				"exit",
			},
		},
		{
			name:     "extra blocks",
			rendered: []byte("router bgp 1\n address-family ipv4 unicast\n  redistribute connected\n exit-address-family\nexit\n"),
			running: []byte("router bgp 1\n address-family ipv4 unicast\n  redistribute connected\n exit-address-family\n" +
				" address-family ipv6 unicast\n  redistribute connected\n  neighbor a activate\n exit-address-family\nexit\n" +
				"route-map RM permit 10\n set metric 1\nexit\n" +
				"route-map EMPTY deny 20\nexit\n" +
				"vrf red\n vni 100\n ip route 0.0.0.0/0 10.0.0.1\nexit-vrf\n"),
			want: []string{
				"vrf red", "no ip route 0.0.0.0/0 10.0.0.1", "no vni 100", "exit-vrf",
				"no route-map EMPTY deny 20",
				"no route-map RM permit 10",
				"router bgp 1", "address-family ipv6 unicast", "no neighbor a activate", "no redistribute connected", "exit-address-family", "exit",
			},
		},
		{
			name:     "missing nested lines and blocks",
			rendered: []byte("router bgp 1\n neighbor a peer-group\n address-family ipv4 unicast\n  redistribute connected\n  redistribute static\n exit-address-family\n address-family l2vpn evpn\n  advertise-all-vni\n exit-address-family\nexit\n"),
			running:  []byte("router bgp 1\n neighbor a peer-group\n address-family ipv4 unicast\n  redistribute connected\n exit-address-family\nexit\n"),
			want: []string{
				"router bgp 1",
				"address-family ipv4 unicast", "redistribute static", "exit-address-family",
				"address-family l2vpn evpn", "advertise-all-vni", "exit-address-family",
				"exit",
			},
		},
		{
			name:     "vni blocks",
			rendered: []byte("router bgp 1\n address-family l2vpn evpn\n  advertise-all-vni\n  vni 100\n   rd 1:100\n  exit-vni\n  vni 200\n   rd 1:200\n  exit-vni\n exit-address-family\nexit\n"),
			running:  []byte("router bgp 1\n address-family l2vpn evpn\n  vni 100\n   rd 1:1\n  exit-vni\n exit-address-family\nexit\n"),
			want: []string{
				"router bgp 1", "address-family l2vpn evpn", "vni 100", "no rd 1:1", "exit-vni", "exit-address-family", "exit",
				"router bgp 1", "address-family l2vpn evpn",
				"advertise-all-vni",
				"vni 100", "rd 1:100", "exit-vni",
				"vni 200", "rd 1:200", "exit-vni",
				"exit-address-family", "exit",
			},
		},
		{
			name:     "missing empty blocks get their terminator",
			rendered: []byte("router bgp 1\nexit\nroute-map RM permit 10\nexit\n"),
			running:  nil,
			want:     []string{"router bgp 1", "exit", "route-map RM permit 10", "exit"},
		},
		{
			name:     "ignored lines on both sides",
			rendered: []byte("hostname leaf-9\nfrr defaults datacenter\n"),
			running:  []byte(frrPreamble + "ip forwarding\nipv6 forwarding\n" + frrTrailer),
		},
	}
	f := NewFRR()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := f.Commands(tt.rendered, tt.running)
			if !slices.Equal(got, tt.want) || (tt.want == nil) != (got == nil) {
				t.Errorf("commands:\ngot  %q\nwant %q", got, tt.want)
			}
			frrVtyshSyntax(t, got)
			// They bring running to rendered.
			after := frrVtysh(t, tt.running, got)
			if r := f.Compare(tt.rendered, after); !r.OK() {
				t.Errorf("after the commands: missing %q, extra %q\n%s", r.Missing, r.Extra, after)
			}
		})
	}
}

func TestFRRExit(t *testing.T) {
	tests := []struct {
		header string
		depth  int
		want   string
	}{
		{"interface swp1", 0, "exit"},
		{"router bgp 65101", 0, "exit"},
		{"route-map RM permit 10", 0, "exit"},
		{"address-family ipv4 unicast", 1, "exit-address-family"},
		{"vrf red", 0, "exit-vrf"},
		{"router bgp 65101 vrf red", 0, "exit"},
		{"vni 100", 2, "exit-vni"},
		{"link-params", 1, "exit-link-params"},
		{"key 1", 1, "exit"},
		{"", 0, "exit"},
	}
	for _, tt := range tests {
		if got := frrExit(tt.header, tt.depth); got != tt.want {
			t.Errorf("frrExit(%q, %d) = %q, want %q", tt.header, tt.depth, got, tt.want)
		}
	}
}

func TestFRRIgnore(t *testing.T) {
	running := []byte(frrPreamble +
		"ip forwarding\nipv6 forwarding\nlog file /var/log/frr.log\nhostname other\n" +
		"ip route 10.0.0.0/8 192.0.2.1\n" +
		"interface swp1\n description x\nexit\n" +
		frrTrailer)
	rendered := []byte("frr defaults datacenter\nhostname leaf-1\ninterface swp1\n description x\nexit\n")

	t.Run("default", func(t *testing.T) {
		f := NewFRR()
		r := f.Compare(rendered, running)
		if len(r.Missing) != 0 || !slices.Equal(r.Extra, []string{"ip route 10.0.0.0/8 192.0.2.1"}) {
			t.Errorf("got missing %q, extra %q", r.Missing, r.Extra)
		}
		want := []string{"no ip route 10.0.0.0/8 192.0.2.1"}
		if got := f.Commands(rendered, running); !slices.Equal(got, want) {
			t.Errorf("commands %q, want %q", got, want)
		}
	})
	t.Run("extended", func(t *testing.T) {
		f := NewFRR()
		f.Ignore = append(f.Ignore, regexp.MustCompile(`^ip route `), regexp.MustCompile(`^description `))
		r := f.Compare(rendered, running)
		if !r.OK() {
			t.Errorf("got missing %q, extra %q", r.Missing, r.Extra)
		}
		if got := f.Commands(rendered, running); got != nil {
			t.Errorf("commands %q, want none", got)
		}
		// The list applies to top-level lines only.
		r = f.Compare(rendered, []byte("interface swp1\n description y\nexit\n"))
		want := Report{
			Missing: []string{"frr defaults datacenter", "interface swp1 / description x"},
			Extra:   []string{"interface swp1 / description y"},
		}
		if !slices.Equal(r.Missing, want.Missing) || !slices.Equal(r.Extra, want.Extra) {
			t.Errorf("got %#v, want %#v", r, want)
		}
	})
	t.Run("ignored block", func(t *testing.T) {
		f := NewFRR()
		r := f.Compare(nil, []byte("line vty\n exec-timeout 0 0\n access-class ssh\nexit\n"))
		if !r.OK() {
			t.Errorf("got missing %q, extra %q", r.Missing, r.Extra)
		}
	})
	t.Run("none", func(t *testing.T) {
		for _, f := range []*FRR{{}, nil} {
			r := f.Compare(rendered, running)
			if !slices.Contains(r.Extra, "hostname other") || !slices.Contains(r.Extra, "line vty") ||
				!slices.Contains(r.Extra, "log file /var/log/frr.log") {
				t.Errorf("%#v: got missing %q, extra %q", f, r.Missing, r.Extra)
			}
		}
	})
	t.Run("default list", func(t *testing.T) {
		for _, line := range []string{
			"frr version 8.4.4", "hostname leaf-1", "service integrated-vtysh-config",
			"no ip forwarding", "no ipv6 forwarding", "ip forwarding", "ipv6 forwarding",
			"log syslog informational", "line vty", "end",
		} {
			if !NewFRR().ignored(line) {
				t.Errorf("%q not ignored", line)
			}
		}
		for _, line := range []string{
			"frr defaults datacenter", "service password-encryption", "ip forwarding x",
			"interface swp1", "router bgp 65101", "no ipv6 nht resolve-via-default",
		} {
			if NewFRR().ignored(line) {
				t.Errorf("%q ignored", line)
			}
		}
		a, b := DefaultFRRIgnore(), DefaultFRRIgnore()
		a[0] = nil
		if b[0] == nil {
			t.Error("DefaultFRRIgnore shares its slice")
		}
	})
}

// TestFRRConverges applies the commands to the running configuration with
// a vtysh simulator and checks that the result compares equal with the
// rendered configuration and needs no further commands.
func TestFRRConverges(t *testing.T) {
	leaf1, leaf1m := frrGolden(t, "leaf-1.cfg"), frrGolden(t, "leaf-1-mlag.cfg")
	leaf2, leaf2m := frrGolden(t, "leaf-2.cfg"), frrGolden(t, "leaf-2-mlag.cfg")
	tests := []struct {
		name              string
		rendered, running []byte
	}{
		{"equal", leaf1, frrShown(leaf1)},
		{"empty running", leaf1, nil},
		{"preamble only", leaf1, []byte(frrPreamble + frrTrailer)},
		{"mixed", leaf1, []byte(frrMixed)},
		{"stale router bgp 65001", leaf1, []byte(frrStale)},
		{"stale router bgp 65001, MLAG", leaf1m, []byte(frrStale)},
		{"other switch", leaf1, frrShown(leaf2)},
		{"to MLAG", leaf1m, frrShown(leaf1)},
		{"from MLAG", leaf2, frrShown(leaf2m)},
		{"only frr defaults rendered", []byte("frr defaults datacenter\n"), []byte(frrStale)},
		{"sample", leaf1, []byte(frrSample)},
	}
	f := NewFRR()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frrConverges(t, f, tt.rendered, tt.running, true)
		})
	}
}

// frrConverges checks that the commands from running to rendered bring
// the simulated switch to rendered, and when syntax is set that vtysh
// knows them.
func frrConverges(t *testing.T, f *FRR, rendered, running []byte, syntax bool) {
	t.Helper()
	cmds := f.Commands(rendered, running)
	if syntax {
		frrVtyshSyntax(t, cmds)
	}
	after := frrVtysh(t, running, cmds)
	if r := f.Compare(rendered, after); !r.OK() {
		t.Fatalf("after %q: missing %q, extra %q\nrendered:\n%s\nrunning:\n%s\nafter:\n%s",
			cmds, r.Missing, r.Extra, rendered, running, after)
	}
	if again := f.Commands(rendered, after); again != nil {
		t.Fatalf("after %q, still %q", cmds, again)
	}
}

// TestFRRConvergesRandom checks convergence on random configurations made
// of FRR's usual lines.
func TestFRRConvergesRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	f := NewFRR()
	for i := range 500 {
		rendered, running := randomFRR(r, true), randomFRR(r, false)
		t.Run(fmt.Sprint(i), func(t *testing.T) { frrConverges(t, f, rendered, running, i%25 == 0) })
		if t.Failed() {
			return
		}
	}
}

// randomFRR returns a configuration of random lines; a rendered one
// always sets frr defaults, the one line that cannot be removed.
func randomFRR(r *rand.Rand, rendered bool) []byte {
	var b strings.Builder
	maybe := func(p float64) bool { return r.Float64() < p }
	line := func(indent int, s string) { b.WriteString(strings.Repeat(" ", indent) + s + "\n") }
	if !rendered {
		b.WriteString(frrPreamble[:strings.Index(frrPreamble, "frr defaults")])
	}
	if rendered || maybe(0.5) {
		line(0, "frr defaults "+[]string{"datacenter", "traditional"}[r.IntN(2)])
	}
	if maybe(0.3) {
		line(0, "hostname leaf-"+fmt.Sprint(r.IntN(3)))
	}
	if maybe(0.3) {
		line(0, "no ipv6 forwarding")
	}
	if maybe(0.3) {
		line(0, "ip router-id 10.0.0."+fmt.Sprint(r.IntN(2)))
	}
	line(0, "!")
	for i := range 6 {
		if !maybe(0.6) {
			continue
		}
		line(0, fmt.Sprintf("interface swp%d", i+1))
		if maybe(0.7) {
			line(1, fmt.Sprintf("description node-%d:eth%d", i+1, r.IntN(2)))
		}
		if maybe(0.3) {
			line(1, fmt.Sprintf("ip address 10.0.%d.%d/31", i, r.IntN(2)))
		}
		if maybe(0.2) {
			line(1, "shutdown")
		}
		line(0, "exit")
		line(0, "!")
	}
	if maybe(0.8) {
		line(0, "router bgp "+[]string{"65101", "65001"}[r.IntN(2)])
		for _, s := range []string{
			"bgp router-id 10.10.0." + fmt.Sprint(1+r.IntN(2)),
			"no bgp ebgp-requires-policy",
			"bgp bestpath as-path multipath-relax",
			"neighbor fabric peer-group",
			"neighbor fabric remote-as external",
		} {
			if maybe(0.6) {
				line(1, s)
			}
		}
		for i := range 6 {
			if maybe(0.5) {
				line(1, fmt.Sprintf("neighbor swp%d interface peer-group fabric", i+1))
			}
		}
		for _, af := range []string{"ipv4 unicast", "ipv6 unicast"} {
			if !maybe(0.6) {
				continue
			}
			line(1, "!")
			line(1, "address-family "+af)
			for _, s := range []string{"redistribute connected", "redistribute static", "neighbor fabric activate"} {
				if maybe(0.5) {
					line(2, s)
				}
			}
			line(1, "exit-address-family")
		}
		line(0, "exit")
		line(0, "!")
	}
	for i := range 2 {
		if !maybe(0.3) {
			continue
		}
		line(0, fmt.Sprintf("route-map RM-%d permit 10", i))
		if maybe(0.5) {
			line(1, "set metric "+fmt.Sprint(r.IntN(2)))
		}
		line(0, "exit")
	}
	if maybe(0.3) {
		line(0, "vrf red")
		if maybe(0.7) {
			line(1, "vni "+fmt.Sprint(100+r.IntN(2)))
		}
		line(0, "exit-vrf")
	}
	if !rendered {
		b.WriteString(frrTrailer)
	}
	return []byte(b.String())
}

func TestFRRDeterministic(t *testing.T) {
	f := NewFRR()
	leaf1 := frrGolden(t, "leaf-1.cfg")
	report, cmds := f.Compare(leaf1, []byte(frrStale)), f.Commands(leaf1, []byte(frrStale))
	for range 50 {
		r, c := f.Compare(leaf1, []byte(frrStale)), f.Commands(leaf1, []byte(frrStale))
		if !slices.Equal(r.Missing, report.Missing) || !slices.Equal(r.Extra, report.Extra) || !slices.Equal(c, cmds) {
			t.Fatalf("differs between runs: %#v %q, then %#v %q", report, cmds, r, c)
		}
	}
}

// TestFRRGarbage feeds random text: nothing panics, a configuration
// equals itself.
func TestFRRGarbage(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tokens := []string{
		"", " ", "  ", "\t", "\r", "\n", "\n", "\n", "!", "exit", "exit-address-family", "exit-vrf",
		"end", "interface swp1", "router bgp 1", "address-family ipv4 unicast", "vrf red",
		"no ", "no", "description x", "frr defaults datacenter", "line vty", "hostname h",
		"Building configuration...", "Current configuration:", "\x00", "\xff\xfe", "é", "/",
	}
	random := func() []byte {
		var b []byte
		for range r.IntN(60) {
			if r.IntN(10) == 0 {
				for range r.IntN(8) {
					b = append(b, byte(r.IntN(256)))
				}
				continue
			}
			b = append(b, tokens[r.IntN(len(tokens))]...)
		}
		return b
	}
	f := NewFRR()
	for range 3000 {
		a, b := random(), random()
		frrNoPanic(t, f, a, b)
	}
}

func frrNoPanic(t *testing.T, f *FRR, a, b []byte) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("panic on %q, %q: %v", a, b, p)
		}
	}()
	f.Compare(a, b)
	f.Commands(a, b)
	if r := f.Compare(a, a); !r.OK() {
		t.Fatalf("%q differs from itself: %#v", a, r)
	}
	if c := f.Commands(b, b); c != nil {
		t.Fatalf("%q needs %q to become itself", b, c)
	}
}

func FuzzFRR(f *testing.F) {
	f.Add([]byte(frrSample), []byte(frrMixed))
	f.Add([]byte(frrStale), []byte(""))
	f.Add([]byte("  exit\nrouter bgp 1\n   x\n  exit\n exit-vrf\n"), []byte("no \n!\n\tend"))
	d := NewFRR()
	f.Fuzz(func(t *testing.T, a, b []byte) { frrNoPanic(t, d, a, b) })
}

// frrVtyshSyntax has FRR's vtysh parse the commands as a configuration
// file (vtysh -C, no daemons needed), so that each is a command vtysh
// knows in the block it is sent in.
func frrVtyshSyntax(t *testing.T, cmds []string) {
	t.Helper()
	if len(cmds) == 0 {
		return
	}
	vtysh, err := exec.LookPath("vtysh")
	if err != nil {
		if testenv.RequireIntegration() {
			t.Fatalf("vtysh not found (install frr): %v", err)
		}
		t.Logf("vtysh not found, commands not checked by FRR (install frr)")
		return
	}
	file := filepath.Join(t.TempDir(), "commands.conf")
	if err := os.WriteFile(file, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(vtysh, "-C", "-f", file).CombinedOutput(); err != nil {
		t.Errorf("vtysh -C rejects the commands: %v\n%s\ncommands:\n%s", err, out, strings.Join(cmds, "\n"))
	}
}

// frrVtysh simulates vtysh's configuration mode with switchsim's model,
// the one the simulated switches run: it applies cmds to the running
// configuration and returns what "show running-config" would print then.
// It fails the test on what FRR refuses: leaving a block with the wrong
// command or at the top level, deleting an interface, a vrf, an
// address-family or the line block, and ending inside a block.
func frrVtysh(t *testing.T, running []byte, cmds []string) []byte {
	t.Helper()
	sim := switchsim.ParseConfig(running)
	sim.Strict = true
	for i, c := range cmds {
		if err := sim.Apply(c); err != nil {
			t.Fatalf("command %d %q: FRR refuses it: %v", i, c, err)
		}
	}
	if sim.Depth() != 0 {
		t.Fatalf("commands end inside a block (%s)", sim.Mode())
	}
	return sim.Show()
}
