package switchcfg_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/switchcfg"
)

// FuzzSONiC: a configuration compares equal to itself and needs no
// commands to become itself; one that is not config_db JSON gives one
// Missing entry that says so. Masking a report entry is idempotent and
// leaves no value of a secret field.
func FuzzSONiC(f *testing.F) {
	leaf3, err := os.ReadFile("testdata/sonic/leaf-3.json")
	require.NoError(f, err)
	f.Add(leaf3, []byte(`{}`))
	f.Add([]byte(`{"TACPLUS_SERVER":{"192.0.2.9":{"passkey":"s3cret","priority":1}}}`), leaf3)
	f.Add([]byte(`{"PORT":{"Ethernet0":{"mtu":"9100","speed":[1,2]}}}`), []byte(`{"PORT":{"Ethernet0":{"mtu":9100}}}`))
	f.Add([]byte(`[]`), []byte(`null`))
	f.Add([]byte(`{"A":{"k":{"f":{"x":1}}}}`), []byte(`{"A":1}`))
	f.Add([]byte(`{"SNMP_COMMUNITY":{"s3cret":{"TYPE":"RO"}},"RADIUS":{"a=b|c":{"passkey":"s3cret"}}}`), []byte(`{"SNMP_COMMUNITY":{}}`))
	var d switchcfg.SONiCDialect
	f.Fuzz(func(t *testing.T, a, b []byte) {
		d.Compare(a, b)
		for _, x := range [][]byte{a, b} {
			r := d.Compare(x, x)
			var obj map[string]json.RawMessage
			if json.Unmarshal(x, &obj) == nil && obj != nil && r.OK() {
				require.Empty(t, d.Commands(x, x))
			} else if !r.OK() {
				require.Len(t, r.Missing, 1, "a configuration that differs from itself is one that cannot be read: %q", x)
				require.Contains(t, r.Missing[0], "not config_db JSON")
				require.Empty(t, r.Extra)
			}
			require.Empty(t, d.Commands(x, x))
		}
		r := d.Compare(a, b)
		for _, e := range append(r.Missing, r.Extra...) {
			m := d.Mask(e)
			require.Equal(t, m, d.Mask(m), "masking twice is masking once")
			head, value, ok := strings.Cut(m, "=")
			field := head[strings.LastIndexByte(head, '|')+1:]
			if ok && strings.Contains(strings.ToLower(field), "pass") {
				require.Equal(t, switchcfg.Masked, value)
			}
			if strings.HasPrefix(e, "SNMP_COMMUNITY|") {
				require.True(t, strings.HasPrefix(m, "SNMP_COMMUNITY|"+switchcfg.Masked), "the community is the key: %q masked as %q", e, m)
			}
		}
	})
}

// FuzzFRRMask: masking is idempotent, keeps a line without a secret word
// as it is, and leaves nothing after "password".
func FuzzFRRMask(f *testing.F) {
	for _, s := range []string{" neighbor 192.0.2.1 password s3cret", "router bgp 1 / neighbor x password y", "key 1",
		"snmp-server community c ro", "enable secret 5 x", "password", "ip ospf message-digest-key 1 md5 k", "interface swp1",
		" ip rip authentication string s3cret", "interface gre1 / ip nhrp authentication s3cret", "key chain k / key 1 / key-string s"} {
		f.Add(s)
	}
	frr := switchcfg.NewFRR()
	f.Fuzz(func(t *testing.T, line string) {
		m := frr.Mask(line)
		require.Equal(t, m, frr.Mask(m), "masking twice is masking once: %q", line)
		secretWord := false
		for _, w := range strings.Fields(line) {
			switch w {
			case "password", "secret", "key-string", "authentication-key", "community", "area-password", "domain-password", "md5", "key",
				"string", "authentication": // "ip rip authentication string S", "ip nhrp authentication S"
				secretWord = true
			}
		}
		if !secretWord {
			require.Equal(t, line, m)
		}
		for part := range strings.SplitSeq(m, " / ") {
			ws := strings.Fields(part)
			for i, w := range ws {
				if i > 0 && i+1 < len(ws) && (ws[i-1]+" "+w == "authentication string" || ws[i-1]+" "+w == "nhrp authentication") {
					require.Equal(t, switchcfg.Masked, ws[i+1], "%q masked as %q", line, m)
				}
				if w == "password" && i+1 < len(ws) {
					next := ws[i+1]
					if i+2 < len(ws) && (next == "md5" || next == "clear" || next == "7" || next == "0") {
						next = ws[i+2]
					}
					require.Equal(t, switchcfg.Masked, next, "%q masked as %q", line, m)
				}
			}
		}
	})
}
