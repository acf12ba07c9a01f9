package netbox_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/statemachine"
)

// The fuzz targets of the package. Each runs its seed corpus (f.Add and
// testdata/fuzz/<target>) as a test; go test -fuzz '^FuzzX$' ./netbox/
// searches further.

// desiredFiles are the desired-state files of the sample fabric.
func desiredFiles(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	sample := netboxtest.SampleDesiredStates()
	err := fs.WalkDir(sample, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		b, err := fs.ReadFile(sample, path)
		out = append(out, b)
		return err
	})
	require.NoError(f, err)
	require.NotEmpty(f, out)
	return out
}

// FuzzParseDesiredState: every document is either refused with a
// *FileError naming the file, or parsed into a desired state that holds
// what the parser promises (canonical addresses and MACs, VLAN ids in
// range, at most one untagged VLAN, the far end of every cable, the members
// of every LAG) and that reads back the same when written out again.
func FuzzParseDesiredState(f *testing.F) {
	for _, b := range desiredFiles(f) {
		f.Add(b)
	}
	f.Add([]byte(""))
	f.Add([]byte("node-1:\n"))
	f.Add([]byte("node-1:\n  eth0: {type: virtual, addresses: [{address: 10.0.0.1/24, primary: true}], vlans: {5: untagged, 6: tagged}}\n"))
	f.Add([]byte("a: &x {e: {type: virtual}}\nb: *x\n"))
	f.Add([]byte("n:\n  bond0: {type: port-channel, interfaces: [eth0, eth1], channel: 2, data: {description: ~, mtu: 9000, enabled: no}}\n"))
	f.Add([]byte("n:\n  po1: {type: mlag, interfaces: [swp1], mlag: {channel: 1, vlan: 4094, address: 10.0.0.1/30}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := netbox.ParseDesiredState("fuzz.yaml", data)
		if err != nil {
			var fe *netbox.FileError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, "fuzz.yaml", fe.File)
			require.True(t, strings.HasPrefix(err.Error(), "desired state fuzz.yaml"), err.Error())
			return
		}
		checkDesiredState(t, ds)
		out, err := yaml.Marshal(desiredDoc(ds))
		require.NoError(t, err)
		again, err := netbox.ParseDesiredState("again.yaml", out)
		require.NoError(t, err, "written out:\n%s", out)
		require.Equal(t, ds, again, "written out:\n%s", out)
	})
}

func checkDesiredState(t *testing.T, ds netbox.DesiredState) {
	t.Helper()
	for dev, ifaces := range ds {
		require.NotEmpty(t, dev)
		for name, s := range ifaces {
			require.NotEmpty(t, name)
			require.NotEmpty(t, s.Type)
			switch s.Type {
			case netbox.TypePortChannel:
				require.NotEmpty(t, s.Interfaces, "%s.%s", dev, name)
				require.NotZero(t, s.Channel)
			case netbox.TypeMLAG:
				require.NotEmpty(t, s.Interfaces)
				require.NotNil(t, s.MLAG)
			case netbox.TypeVirtual:
				require.Empty(t, s.Interfaces)
			default:
				require.NotEmpty(t, s.Device)
				require.NotEmpty(t, s.Interface)
				require.Empty(t, s.Interfaces)
			}
			if s.MACAddress != "" {
				require.Regexp(t, `^([0-9A-F]{2}:){5}[0-9A-F]{2}$`, s.MACAddress)
			}
			for _, a := range s.Addresses {
				p, err := netip.ParsePrefix(a.Address)
				require.NoError(t, err)
				require.Equal(t, p.String(), a.Address, "canonical")
				if a.Primary {
					require.True(t, p.Addr().Is4())
				}
			}
			untagged := 0
			for vid, mode := range s.VLANs {
				require.True(t, vid >= 1 && vid <= 4094, "vid %d", vid)
				require.Contains(t, []string{netbox.VLANUntagged, netbox.VLANTagged}, mode)
				if mode == netbox.VLANUntagged {
					untagged++
				}
			}
			require.LessOrEqual(t, untagged, 1)
			seen := map[string]bool{}
			for _, m := range s.Interfaces {
				require.NotEmpty(t, m)
				require.False(t, seen[m], "member %q twice", m)
				seen[m] = true
			}
		}
	}
}

// desiredDoc writes a desired state in the file format.
func desiredDoc(ds netbox.DesiredState) map[string]any {
	out := map[string]any{}
	for dev, ifaces := range ds {
		m := map[string]any{}
		for name, s := range ifaces {
			im := map[string]any{"type": s.Type}
			if s.Device != "" {
				im["device"] = s.Device
			}
			if s.Interface != "" {
				im["interface"] = s.Interface
			}
			data := map[string]any{}
			if s.Data.Enabled != nil {
				data["enabled"] = *s.Data.Enabled
			}
			if s.Data.MTU != nil {
				data["mtu"] = *s.Data.MTU
			}
			if s.Data.Description != nil {
				data["description"] = *s.Data.Description
			}
			if s.Data.MgmtOnly != nil {
				data["mgmt_only"] = *s.Data.MgmtOnly
			}
			if len(data) > 0 {
				im["data"] = data
			}
			if s.MACAddress != "" {
				im["mac_address"] = s.MACAddress
			}
			if len(s.Addresses) > 0 {
				var as []any
				for _, a := range s.Addresses {
					am := map[string]any{"address": a.Address}
					if a.Primary {
						am["primary"] = true
					}
					if a.Status != "" {
						am["status"] = a.Status
					}
					if a.DNSName != "" {
						am["dns_name"] = a.DNSName
					}
					if a.Description != "" {
						am["description"] = a.Description
					}
					as = append(as, am)
				}
				im["addresses"] = as
			}
			if s.VLANs != nil {
				im["vlans"] = s.VLANs
			}
			if len(s.Interfaces) > 0 {
				im["interfaces"] = s.Interfaces
			}
			if s.Channel != 0 {
				im["channel"] = s.Channel
			}
			if s.MLAG != nil {
				im["mlag"] = map[string]any{"channel": s.MLAG.Channel, "vlan": s.MLAG.VLAN, "address": s.MLAG.Address}
			}
			m[name] = im
		}
		out[dev] = m
	}
	return out
}

// FuzzLoadDesiredState: whatever the names, LoadDesiredState looks only
// at files inside its directory, and says which.
func FuzzLoadDesiredState(f *testing.F) {
	f.Add("dc1", "node-3", "b")
	f.Add("dc1", "node-1", "")
	f.Add("..", "x", "b")
	f.Add("dc1", "../../etc", "passwd")
	f.Add("dc1", "n", "..")
	f.Add("c", "d\x00", "s")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, collection, device, state string) {
		_, err := netbox.LoadDesiredState(dir, collection, device, state)
		require.Error(t, err)
		var missing *netbox.MissingDesiredStateError
		if !errors.As(err, &missing) {
			require.ErrorContains(t, err, "want a plain name")
			return
		}
		require.ErrorIs(t, err, netbox.ErrNoDesiredState)
		require.Equal(t, device, missing.Device)
		require.Equal(t, netbox.NormalizeState(state), missing.State)
		require.Len(t, missing.Files, 2)
		for _, file := range missing.Files {
			rel, err := filepath.Rel(dir, file)
			require.NoError(t, err)
			require.False(t, rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)), "%s lies outside %s", file, dir)
			require.Contains(t, missing.Error(), file)
		}
	})
}

// doubleAnswers are real answers of the NetBox double: lists of every
// kind the package decodes, full and brief, and error bodies.
func doubleAnswers(f *testing.F) (lists, errs [][]byte) {
	f.Helper()
	srv := netboxtest.New(f, netboxtest.WithSampleFabric())
	get := func(path string) []byte {
		req, err := http.NewRequest(http.MethodGet, srv.URL()+path, nil)
		require.NoError(f, err)
		req.Header.Set("Authorization", "Token "+srv.Token())
		resp, err := http.DefaultClient.Do(req)
		require.NoError(f, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(f, err)
		return b
	}
	for _, p := range []string{"/api/dcim/devices/?limit=3", "/api/dcim/devices/?brief=1", "/api/dcim/interfaces/?limit=4",
		"/api/dcim/cables/?limit=2", "/api/ipam/ip-addresses/", "/api/ipam/vlans/", "/api/extras/tags/", "/api/dcim/device-types/?brief=1"} {
		lists = append(lists, get(p))
	}
	for _, p := range []string{"/api/dcim/devices/999999/", "/api/dcim/devices/?site=nowhere", "/api/dcim/nothing/"} {
		errs = append(errs, get(p))
	}
	return lists, errs
}

// FuzzDecodeList: a list answer is read leniently, each object on its own:
// every object is either decoded or reported with the id it has, never
// both and never neither, and a decoded object reads back the same after
// it is written out.
func FuzzDecodeList(f *testing.F) {
	lists, _ := doubleAnswers(f)
	for _, b := range lists {
		f.Add(b)
	}
	f.Add([]byte(`{"count":2,"next":null,"results":[{"id":1,"name":"a","status":"x"},{"id":2,"name":42}]}`))
	f.Add([]byte(`{"count":1000000000000,"results":[{"id":3,"custom_fields":{"device_state":null,"n":1.5,"l":[1,{"a":null}]},"config_context":{"a" : [ 1 ]}}]}`))
	f.Add([]byte(`{"results":[{"id":10,"type":{"value":7,"label":"seven"},"mode":null,"cable_end":null,"link_peers":[{"id":1}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := netbox.ParsePageForTest(data)
		if err != nil {
			return
		}
		if len(p.Results) == 0 {
			require.False(t, p.More, "an empty page ends the list")
		}
		checkDecoded[netbox.Device](t, p.Results)
		checkDecoded[netbox.Interface](t, p.Results)
		checkDecoded[netbox.Cable](t, p.Results)
		checkDecoded[netbox.IPAddress](t, p.Results)
		checkDecoded[netbox.VLAN](t, p.Results)
		checkDecoded[netbox.Tag](t, p.Results)
		checkDecoded[netbox.DeviceType](t, p.Results)
	})
}

func checkDecoded[T any](t *testing.T, raws []json.RawMessage) {
	t.Helper()
	items, ids, bad := netbox.DecodePageForTest[T](raws)
	require.Equal(t, len(raws), len(items)+len(bad), "every object decoded or reported")
	require.Len(t, ids, len(items))
	for _, e := range bad {
		require.Error(t, e.Err)
		require.Equal(t, "/api/test/", e.Path)
		if e.ID != 0 {
			require.Contains(t, e.Error(), fmt.Sprintf("decode object %d from /api/test/", e.ID))
		}
	}
	for i, v := range items {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		var again T
		require.NoError(t, json.Unmarshal(b, &again), "%s", b)
		require.Equal(t, normalize(t, v), normalize(t, again), "%T round trip of %s", v, b)
		if ids[i] != 0 {
			require.Equal(t, ids[i], reflect.ValueOf(v).FieldByName("ID").Interface())
		}
	}
}

// normalize compacts the raw JSON a Device keeps, which encoding/json
// writes compacted, and reads an absent one as null, which is how it is
// written.
func normalize(t *testing.T, v any) any {
	t.Helper()
	if d, ok := v.(netbox.Device); ok {
		if len(d.ConfigContextJSON) == 0 {
			d.ConfigContextJSON = json.RawMessage("null")
		}
		var b bytes.Buffer
		require.NoError(t, json.Compact(&b, d.ConfigContextJSON))
		d.ConfigContextJSON = b.Bytes()
		return d
	}
	return v
}

// FuzzAPIError: whatever NetBox (or a proxy before it) answers, the error
// says the method, the path and the status in one line of bounded, valid
// UTF-8 text without control characters, and matches the sentinels by
// status alone.
func FuzzAPIError(f *testing.F) {
	_, errs := doubleAnswers(f)
	for _, b := range errs {
		f.Add(404, b)
	}
	f.Add(400, []byte(`{"name":["This field is required."],"vid":["Ensure this value is less than or equal to 4094."]}`))
	f.Add(400, []byte(`[{}, {"custom_fields":{"device_state":["bad"]}}]`))
	f.Add(502, []byte("<html>\n<body>Bad Gateway</body>\n</html>"))
	f.Add(403, []byte(`{"detail":"Invalid token\r\nX-Injected: yes"}`))
	f.Add(500, []byte("a"+strings.Repeat("ü", 150)))
	f.Add(400, []byte(`{"detail":"`+strings.Repeat("x", 10000)+`"}`))
	f.Add(0, []byte(nil))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := netbox.NewAPIErrorForTest("GET", "/api/dcim/devices/", status, body)
		msg := e.Error()
		require.Equal(t, status, e.StatusCode)
		require.True(t, strings.HasPrefix(msg, fmt.Sprintf("GET /api/dcim/devices/: %d", status)), msg)
		require.True(t, utf8.ValidString(msg), "valid UTF-8: %q", msg)
		require.Equal(t, -1, strings.IndexFunc(msg, unicode.IsControl), "no control characters: %q", msg)
		require.LessOrEqual(t, len(msg), 8<<10, "bounded")
		require.Equal(t, status == 404, errors.Is(e, netbox.ErrNotFound))
		require.Equal(t, status == 401 || status == 403, errors.Is(e, netbox.ErrUnauthorized))
	})
}

// FuzzParseToken: a token that parses is sent in a header that cannot
// break the request, parses again to itself, and is never shown; one that
// does not parse is refused without being repeated.
func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"0123456789abcdef0123456789abcdef01234567", "nbt_abcdef123456.s3cr3tS3cr3tS3cr3t",
		"Token abc", "Bearer nbt_a.b", "Bearer plain", " padded\n", "nbt_nodot", "two words", "Token ", "tab\there", "ünïcode", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := netbox.ParseToken(s)
		if err != nil {
			secret := strings.TrimSpace(s)
			if len(secret) >= 8 {
				require.NotContains(t, err.Error(), secret, "the error repeats the token")
			}
			return
		}
		h := tok.Header()
		prefix, secret, ok := strings.Cut(h, " ")
		require.True(t, ok, h)
		require.Contains(t, []string{"Token", "Bearer"}, prefix)
		require.Equal(t, prefix == "Bearer", tok.Kind() == netbox.TokenV2)
		require.NotEmpty(t, secret)
		for i := 0; i < len(secret); i++ {
			require.True(t, secret[i] > ' ' && secret[i] < 0x7f, "byte %d of the secret: %q", i, secret[i])
		}
		again, err := netbox.ParseToken(h)
		require.NoError(t, err)
		require.Equal(t, h, again.Header())
		require.Equal(t, tok.Kind(), again.Kind())
		shown := "netbox token (" + tok.Kind().String() + ", redacted)"
		require.Equal(t, shown, tok.String())
		require.Equal(t, shown, fmt.Sprintf("%v %s %#v", tok, tok, tok)[:len(shown)])
	})
}

// FuzzVerifySignature: what Sign makes, VerifySignature accepts, and any
// one-byte change of the body or of the signature is refused.
func FuzzVerifySignature(f *testing.F) {
	f.Add("secret", []byte(`{"event":"updated","model":"device"}`), uint(0), byte(1))
	f.Add("s", []byte{}, uint(5), byte(0x20))
	f.Add("ünï", []byte("x"), uint(127), byte(0xff))
	f.Fuzz(func(t *testing.T, secret string, body []byte, at uint, flip byte) {
		if secret == "" {
			require.ErrorIs(t, netbox.VerifySignature(secret, body, netbox.Sign(secret, body)), netbox.ErrNoSecret)
			return
		}
		sig := netbox.Sign(secret, body)
		require.NoError(t, netbox.VerifySignature(secret, body, sig))
		if flip == 0 {
			flip = 1
		}
		if len(body) > 0 {
			changed := bytes.Clone(body)
			changed[at%uint(len(body))] ^= flip
			require.ErrorIs(t, netbox.VerifySignature(secret, changed, sig), netbox.ErrSignatureMismatch)
		}
		for _, spelled := range []string{sig, strings.ToUpper(sig)} {
			require.NoError(t, netbox.VerifySignature(secret, body, spelled))
			b := []byte(spelled)
			b[at%uint(len(b))] ^= flip
			require.ErrorIs(t, netbox.VerifySignature(secret, body, string(b)), netbox.ErrSignature, "signature %q", b)
		}
	})
}

// FuzzStateRecord: a record the store writes reads back the same from the
// custom fields NetBox returns, or the store refuses to write it; and what
// it reads from any custom fields it writes back unchanged.
func FuzzStateRecord(f *testing.F) {
	f.Add("b", "", []byte(`{"device_state":"b","device_transition":""}`))
	f.Add("b-phase_2", "from_a-to_b-phase_2", []byte(`{"device_state":null,"device_transition":null}`))
	f.Add("0", "0", []byte(`{"device_state":0,"device_transition":true}`))
	f.Add("a\n", "\xff", []byte(`{"device_state":{"x":[1]},"device_transition":"\u0000"}`))
	f.Add("ä", "", []byte(`{}`))
	f.Fuzz(func(t *testing.T, state, transition string, stored []byte) {
		rec := statemachine.Record{State: state, Transition: transition}
		if fields, err := netbox.RecordFieldsForTest(rec); err == nil {
			require.Equal(t, rec, readBack(t, fields), "record -> fields -> record")
		} else {
			bad := func(v string) bool {
				return len(v) > 256 || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0
			}
			require.True(t, bad(state) || bad(transition), "refused %q: %v", rec, err)
		}
		var cf netbox.CustomFields
		if json.Unmarshal(stored, &cf) != nil {
			return
		}
		read := netbox.RecordFromFieldsForTest(cf)
		if fields, err := netbox.RecordFieldsForTest(read); err == nil {
			require.Equal(t, read, readBack(t, fields), "fields -> record -> fields -> record")
		}
	})
}

// readBack sends fields through JSON as a PATCH body and a device's
// custom_fields would carry them, and reads the record.
func readBack(t *testing.T, fields map[string]any) statemachine.Record {
	t.Helper()
	b, err := json.Marshal(fields)
	require.NoError(t, err)
	var cf netbox.CustomFields
	require.NoError(t, json.Unmarshal(b, &cf))
	return netbox.RecordFromFieldsForTest(cf)
}
