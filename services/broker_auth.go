package services

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/osism"
)

// Role is what a broker credential may do. The broker enforces it with
// subject permissions.
type Role string

// The roles of broker credentials.
const (
	// RoleAdmin may do everything: the generated token, and the single
	// user/password or token of BrokerConfig.
	RoleAdmin Role = "admin"
	// RoleOperator submits tasks, follows their output, cancels them and
	// sets or releases the hold (osism apply, osism lock, the API, beat,
	// listener, watchdog).
	RoleOperator Role = "operator"
	// RoleWorker consumes the task queues, writes task records, output,
	// its announcements and locks, and answers submitters; it cannot
	// submit tasks or touch the hold.
	RoleWorker Role = "worker"
	// RoleReader lists tasks, workers and locks and follows output.
	RoleReader Role = "reader"
)

// Validate checks that r is one of the roles.
func (r Role) Validate() error {
	switch r {
	case RoleAdmin, RoleOperator, RoleWorker, RoleReader:
		return nil
	}
	return fmt.Errorf("role %q: expected admin, operator, worker or reader", string(r))
}

// BrokerUser is one credential of the broker: a name with a password, or
// a token (then the name only labels it), and its role.
type BrokerUser struct {
	Name     string       `yaml:"name"`
	Role     Role         `yaml:"role"`
	Password osism.Secret `yaml:"password"`
	Token    osism.Secret `yaml:"token"`
	// Queues limits a worker to the task queues named; empty means every
	// queue.
	Queues []osism.Queue `yaml:"queues"`
}

// RouteAuth is the user and password that cluster nodes present to each
// other; every node has the same.
type RouteAuth struct {
	User     string       `yaml:"user"`
	Password osism.Secret `yaml:"password"`
}

// BrokerCredentials is the broker's credentials file:
//
//	users:
//	  - {name: ops, role: operator, password: ...}
//	  - {name: worker-1, role: worker, token: ...}
//	  - {name: dashboard, role: reader, password: ...}
//	routes: {user: cluster, password: ...}
//
// The file must not be readable by group or others (mode 0600).
type BrokerCredentials struct {
	Users  []BrokerUser `yaml:"users"`
	Routes RouteAuth    `yaml:"routes"`
}

// LoadBrokerCredentials reads and checks a broker credentials file.
func LoadBrokerCredentials(path string) (BrokerCredentials, error) {
	var bc BrokerCredentials
	if err := checkPrivate(path); err != nil {
		return bc, fmt.Errorf("broker credentials file: %w", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return bc, fmt.Errorf("broker credentials file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&bc); err != nil && !errors.Is(err, io.EOF) {
		// yaml errors quote lines of the file: keep them out, they may
		// hold a secret.
		return BrokerCredentials{}, fmt.Errorf("broker credentials file %s: expected users: [{name, role, password or token}] and routes: {user, password}: %w",
			path, errBadYAML)
	}
	if err := checkUsers(bc.Users); err != nil {
		return BrokerCredentials{}, fmt.Errorf("broker credentials file %s: %w", path, err)
	}
	if (bc.Routes.User == "") != (bc.Routes.Password == "") {
		return BrokerCredentials{}, fmt.Errorf("broker credentials file %s: routes: user and password must be given together", path)
	}
	return bc, nil
}

var errBadYAML = errors.New("not valid YAML of that form")

func checkUsers(users []BrokerUser) error {
	names := map[string]bool{}
	tokens := map[osism.Secret]bool{}
	for i, u := range users {
		if u.Name == "" {
			return fmt.Errorf("users[%d]: expected a name", i)
		}
		if names[u.Name] {
			return fmt.Errorf("users[%d] %q: name given twice", i, u.Name)
		}
		names[u.Name] = true
		if err := u.Role.Validate(); err != nil {
			return fmt.Errorf("users[%d] %q: %w", i, u.Name, err)
		}
		if (u.Password == "") == (u.Token == "") {
			return fmt.Errorf("users[%d] %q: expected a password or a token, one of them", i, u.Name)
		}
		if len(u.Queues) > 0 && u.Role != RoleWorker {
			return fmt.Errorf("users[%d] %q: queues are for role worker, not %s", i, u.Name, u.Role)
		}
		for _, q := range u.Queues {
			if err := q.Validate(); err != nil {
				return fmt.Errorf("users[%d] %q: %w", i, u.Name, err)
			}
		}
		if u.Token != "" {
			if tokens[u.Token] {
				return fmt.Errorf("users[%d] %q: token of another user", i, u.Name)
			}
			tokens[u.Token] = true
		}
	}
	return nil
}

// checkPrivate refuses a secret file that group or others may read.
func checkPrivate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: expected a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s: mode %04o: expected 0600 (it holds secrets)", path, st.Mode().Perm())
	}
	return nil
}

// DefaultTokenFile is where a broker storing in DefaultStoreDir keeps its
// generated token; osism.DefaultBrokerTokenFile names the same file for
// clients.
const DefaultTokenFile = osism.DefaultBrokerTokenFile

// loadOrCreateToken returns the token kept in path, generating it (mode
// 0600) when the file does not exist. created says it was generated now;
// what names the token in errors ("broker token").
func loadOrCreateToken(path, what string) (tok string, created bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", false, fmt.Errorf("%s file: %w", what, err)
	}
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := checkPrivate(path); err != nil {
			return "", false, fmt.Errorf("%s file: %w", what, err)
		}
		tok = strings.TrimSpace(string(raw))
		if tok == "" {
			return "", false, fmt.Errorf("%s file %s: empty; remove it to have a new token generated", what, path)
		}
		return tok, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("%s file: %w", what, err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", false, fmt.Errorf("%s: %w", what, err)
	}
	tok = base64.RawURLEncoding.EncodeToString(b)
	// Write a temporary file and link it in place: a concurrent start
	// finds either no file or the whole token, and only one wins.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".token-*")
	if err != nil {
		return "", false, fmt.Errorf("%s file: %w", what, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.WriteString(tok + "\n")
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Link(tmp.Name(), path)
		}
		if errors.Is(err, fs.ErrExist) {
			return loadOrCreateToken(path, what)
		}
	} else {
		_ = tmp.Close()
	}
	if err != nil {
		return "", false, fmt.Errorf("%s file: %w", what, err)
	}
	return tok, true, nil
}

// isLoopback reports whether host is a loopback address or localhost.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// authenticator checks the credentials of client connections and gives
// each the permissions of its role. Route connections do not pass here:
// they authenticate with the cluster's user and password.
type authenticator struct {
	users []BrokerUser
}

// Check implements server.Authentication.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	if o == nil {
		return false
	}
	var match *BrokerUser
	for i := range a.users {
		u := &a.users[i]
		// Compare every credential, so that the time taken does not tell
		// which one nearly matched.
		ok := false
		if u.Token != "" {
			ok = o.Token != "" && eq(o.Token, string(u.Token))
		} else {
			ok = o.Username != "" && eq(o.Username, u.Name) && eq(o.Password, string(u.Password))
		}
		if ok && match == nil {
			match = u
		}
	}
	if match == nil {
		return false
	}
	c.RegisterUser(&server.User{Username: match.Name, Permissions: rolePermissions(match.Role, match.Queues...)})
	return true
}

func eq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// The JetStream names of the bus, as the permissions need them.
var (
	// readStreams are the streams every role may read and open ordered
	// consumers on (watching a bucket, following output): not the task
	// stream, whose messages carry the arguments unmasked (the records
	// mask them) and whose durable consumers are the workers'.
	readStreams = []string{osism.OutputStream,
		"KV_" + osism.TaskBucket, "KV_" + osism.LockBucket, "KV_" + osism.WorkerBucket}
)

// rolePermissions are the subject permissions of a role, for a worker
// limited to queues when any are given; nil means all. Only an admin may
// create or change streams and buckets: the others bind to them as they
// are (a broker creates them when it starts).
func rolePermissions(r Role, queues ...osism.Queue) *server.Permissions {
	if r == RoleAdmin {
		return nil
	}
	pub := []string{"$JS.API.INFO", "$JS.FC.>", "$JS.API.STREAM.INFO." + osism.TaskStream}
	for _, s := range readStreams {
		pub = append(pub, "$JS.API.STREAM.INFO."+s, "$JS.API.STREAM.MSG.GET."+s, "$JS.API.DIRECT.GET."+s, "$JS.API.DIRECT.GET."+s+".>",
			"$JS.API.CONSUMER.CREATE."+s+".>", "$JS.API.CONSUMER.INFO."+s+".>",
			"$JS.API.CONSUMER.DELETE."+s+".>", "$JS.API.CONSUMER.MSG.NEXT."+s+".>")
	}
	sub := []string{"_INBOX.>"}
	t := osism.TaskStream
	switch r {
	case RoleOperator:
		pub = append(pub,
			"osism.tasks.>", // submit
			// cancel a queued task: find it (operators submit tasks, so
			// they may read them) and remove it
			"$JS.API.STREAM.MSG.GET."+t, "$JS.API.STREAM.MSG.DELETE."+t,
			"osism.cancel.>",             // cancel
			"osism.events.>",             // events (the listener)
			"$KV."+osism.TaskBucket+".>", // task records, de-duplication keys
			"$KV."+osism.LockBucket+".>", // the hold, and releasing locks
			"_INBOX.>",                   // a cancelled task's record to its submitter
		)
	case RoleWorker:
		// A queue's workers share its durable consumer osism-<queue>,
		// filtered on the queue's subjects: a worker reads tasks through
		// it only, never the stream's stored messages. A worker of every
		// queue gets the built-in queues; a user-defined queue is named
		// in the credential's queues.
		if len(queues) == 0 {
			queues = osism.Queues()
		}
		for _, q := range queues {
			c := "osism-" + string(q)
			pub = append(pub,
				"$JS.API.CONSUMER.CREATE."+t+"."+c+"."+osism.TaskSubject(q, ">"),
				"$JS.API.CONSUMER.INFO."+t+"."+c,
				"$JS.API.CONSUMER.MSG.NEXT."+t+"."+c, "$JS.ACK."+t+"."+c+".>")
		}
		pub = append(pub,
			"osism.output.>",                  // output lines
			"osism.events.>",                  // events
			"$KV."+osism.TaskBucket+".task.>", // task records
			"$KV."+osism.LockBucket+".lock.>", // role and device locks, not the hold
			"$KV."+osism.WorkerBucket+".>",    // announcements
			"_INBOX.>",                        // results to submitters
		)
		sub = append(sub, "osism.cancel.>")
	}
	if r == RoleOperator || r == RoleReader {
		// The API's stream of events (GET /v1/events) and other watchers.
		sub = append(sub, "osism.events.>")
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: sub},
	}
}
