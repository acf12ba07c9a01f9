package switchcfg_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/osism/go-osism/switchcfg"
)

// The test binary doubles as a child process of the tests that need two
// processes: with OSISM_SWITCHCFG_CHILD set it runs that child's job and
// exits instead of running tests.
const childEnv = "OSISM_SWITCHCFG_CHILD"

var children = map[string]func() error{
	"commit": childCommit,
	"open":   childOpen,
}

func TestMain(m *testing.M) {
	if job := os.Getenv(childEnv); job != "" {
		f, ok := children[job]
		if !ok {
			fmt.Fprintf(os.Stderr, "%s=%q: no such child job\n", childEnv, job)
			os.Exit(2)
		}
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childCommit makes OSISM_REPO_COMMITS commits of switch OSISM_REPO_SWITCH
// into the repository OSISM_REPO_DIR, tagging each deployed; the content
// of commit i is "hostname <switch>\n! <OSISM_REPO_TAG><i>\n".
func childCommit() error {
	dir, sw := os.Getenv("OSISM_REPO_DIR"), os.Getenv("OSISM_REPO_SWITCH")
	n, err := strconv.Atoi(os.Getenv("OSISM_REPO_COMMITS"))
	if err != nil {
		return fmt.Errorf("OSISM_REPO_COMMITS: %w", err)
	}
	r, err := switchcfg.OpenRepo(dir)
	if err != nil {
		return err
	}
	for i := range n {
		rev, changed, err := r.Commit(sw, fmt.Appendf(nil, "hostname %s\n! %s%d\n", sw, os.Getenv("OSISM_REPO_TAG"), i), fmt.Sprintf("%s %d", sw, i))
		if err != nil {
			return err
		}
		if !changed {
			return fmt.Errorf("commit %d of %s: unchanged", i, sw)
		}
		if err := r.MarkDeployed(sw, rev); err != nil {
			return err
		}
	}
	return nil
}

// childOpen opens (or creates) the repository OSISM_REPO_DIR, once the
// file OSISM_REPO_GO exists, so that the children start together, and
// lists its switches.
func childOpen() error {
	dir, start := os.Getenv("OSISM_REPO_DIR"), os.Getenv("OSISM_REPO_GO")
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := os.Stat(start); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no start signal %s within 30s", start)
		}
		runtime.Gosched()
	}
	r, err := switchcfg.OpenRepo(dir)
	if err != nil {
		return err
	}
	_, err = r.Switches()
	return err
}
