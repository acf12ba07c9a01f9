package osism

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// FuzzLockKey: for every name NetBox accepts (at most 64 characters),
// LockKey gives a valid lock key, and two different names never share
// one (for any names at all).
func FuzzLockKey(f *testing.F) {
	for _, s := range [][2]string{
		{"leaf-1", "leaf 1"}, {"", "\x00"}, {"=", "=3D"}, {"a.b", "a..b"}, {".a", "=2Ea"}, {"a=2E", "a."},
		{"node/1", "node=2F1"}, {"größe", "gr=C3=B6=C3=9Fe"}, {"a b", "a_b"}, {"€€€", "..."},
	} {
		f.Add(s[0], s[1])
	}
	f.Add(strings.Repeat("𝔸", 64), strings.Repeat("\xff", 64)) // the longest names, every byte escaped
	valid := func(name string) bool { return utf8.RuneCountInString(name) <= 64 }
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, n := range []string{a, b} {
			if !valid(n) {
				continue
			}
			if err := checkLockKey(LockKey(n)); err != nil {
				t.Fatalf("LockKey(%q) = %q: %v", n, LockKey(n), err)
			}
		}
		if a != b && LockKey(a) == LockKey(b) {
			t.Fatalf("LockKey(%q) == LockKey(%q) == %q", a, b, LockKey(a))
		}
	})
}

// fuzzMsg is a delivered message as the runner sees it.
type fuzzMsg struct {
	jetstream.Msg
	data []byte
	h    nats.Header
}

func (m fuzzMsg) Data() []byte                              { return m.data }
func (m fuzzMsg) Headers() nats.Header                      { return m.h }
func (m fuzzMsg) Metadata() (*jetstream.MsgMetadata, error) { return nil, errors.New("no metadata") }

// FuzzTaskMessage: whatever a stream message holds, the runner decodes it
// without panicking into a task it can run or an error; what it accepts
// is a valid task; and a task Submit encodes decodes to itself.
func FuzzTaskMessage(f *testing.F) {
	f.Add([]byte(`{"role":"nova","args":["-e","x=y"]}`), "kolla.run", "1700000000000000000", "1m30s", "_INBOX.x.1", "key")
	f.Add([]byte(`{not json`), "test.echo", "", "", "", "")
	f.Add([]byte(`null`), "", "x", "-1s", "", "")
	f.Add([]byte(`{"device":"node-1","state":"b"}`), "netbox.connect", "-9223372036854775808", "0s", "", "")
	f.Fuzz(func(t *testing.T, data []byte, kind, created, timeout, reply, dedup string) {
		h := nats.Header{}
		for k, v := range map[string]string{hdrKind: kind, hdrCreated: created, hdrTimeout: timeout, hdrReply: reply, hdrDedup: dedup} {
			if v != "" {
				h.Set(k, v)
			}
		}
		const id = "01hzzzzzzzzzzzzzzzzzzzzzzz"
		task, err := taskFromMsg(id, "test", fuzzMsg{data: data, h: h})
		if task == nil {
			t.Fatal("no task")
		}
		if err == nil {
			if validKind(task.Kind) != nil || !json.Valid(task.Args) || task.Timeout < 0 {
				t.Fatalf("accepted an invalid task: %+v", task)
			}
			// What the runner accepts, Submit encodes to the same task.
			back, err := taskFromMsg(id, "test", fuzzMsg{data: task.Args, h: taskMsg(task).Header})
			if err != nil {
				t.Fatalf("re-decoding %+v: %v", task, err)
			}
			if !reflect.DeepEqual(back, task) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", back, task)
			}
		}
		// The arguments of the built-in kinds: what decodes, encodes and
		// decodes to itself.
		for _, args := range []any{&AnsibleRunArgs{}, &KollaRunArgs{}, &CephRunArgs{}, &NetBoxConnectArgs{}, &NoopArgs{}} {
			if json.Unmarshal(data, args) != nil {
				continue
			}
			b, err := json.Marshal(args)
			if err != nil {
				t.Fatalf("encode %T: %v", args, err)
			}
			again := reflect.New(reflect.TypeOf(args).Elem()).Interface()
			if err := json.Unmarshal(b, again); err != nil || !reflect.DeepEqual(again, args) {
				t.Fatalf("%T round trip of %s: %v, %+v", args, b, err, again)
			}
		}
	})
}

// FuzzTaskRecord: a task record (the KV value, the reply to a submitter)
// that decodes encodes to a fixed point: encoding what it decodes to
// gives the same bytes again.
func FuzzTaskRecord(f *testing.F) {
	rec := Task{ID: "01hzzzzzzzzzzzzzzzzzzzzzzz", Kind: "ansible.run", Queue: "osism-ansible", State: StateSucceeded,
		Args: json.RawMessage(`{"role":"x"}`), Result: json.RawMessage(`"ok"`), Timeout: time.Minute,
		CreatedAt: time.Unix(1700000000, 5).UTC(), ExitStatus: 2, Error: "exit status 2", Reply: "_INBOX.a.b"}
	b, _ := json.Marshal(rec)
	f.Add(b)
	f.Add([]byte(`{"id":"x","state":"bogus","created_at":"2024-01-01T00:00:00+01:00","args":[1, 2]}`))
	f.Add([]byte(`{"timeout":-5,"exit_status":` + strconv.Itoa(1<<40) + `}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var t1 Task
		if json.Unmarshal(data, &t1) != nil {
			return
		}
		b1, err := json.Marshal(&t1)
		if err != nil {
			// A time outside years 0-9999 decodes from RFC 3339 text only
			// within that range, so encoding cannot fail on a decoded one.
			t.Fatalf("encode a decoded record: %v", err)
		}
		var t2 Task
		if err := json.Unmarshal(b1, &t2); err != nil {
			t.Fatalf("decode an encoded record %s: %v", b1, err)
		}
		b2, err := json.Marshal(&t2)
		if err != nil || string(b1) != string(b2) {
			t.Fatalf("not a fixed point:\n%s\n%s (%v)", b1, b2, err)
		}
	})
}
