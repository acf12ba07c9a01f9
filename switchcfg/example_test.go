package switchcfg_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/switchcfg"
)

// Phase 2 of a transition: render the leaves a node is cabled to and keep
// each configuration in the state repository.
func ExampleRenderer_Render() {
	srv, err := netboxtest.Start(netboxtest.WithSampleFabric())
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	c, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	if err != nil {
		panic(err)
	}
	r, err := switchcfg.NewRenderer(c) // the built-in templates
	if err != nil {
		panic(err)
	}
	rs, err := r.Render(context.Background(), "leaf-1", "leaf-2")
	if err != nil {
		panic(err)
	}

	dir, err := os.MkdirTemp("", "switch-state")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	repo, err := switchcfg.OpenRepo(dir)
	if err != nil {
		panic(err)
	}
	for _, res := range rs {
		_, changed, err := repo.Commit(res.Switch, res.Config, "render "+res.Switch)
		if err != nil {
			panic(err)
		}
		fmt.Println(res.Switch, res.Template, changed)
	}
	cfg, _ := repo.Show("leaf-1", "HEAD")
	fmt.Println(strings.Join(strings.Split(string(cfg), "\n")[2:11], "\n"))
	// Output:
	// leaf-1 default.cfg.j2 true
	// leaf-2 default.cfg.j2 true
	// frr defaults datacenter
	// !
	// interface peerlink
	//  description MLAG peer link
	// exit
	// !
	// interface swp1
	//  description node-1:eth0
	// exit
}

// The state repository: a commit per change, a tag for what a switch runs,
// and a diff between any two revisions.
func ExampleRepo() {
	dir, err := os.MkdirTemp("", "switch-state")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	repo, err := switchcfg.OpenRepo(dir)
	if err != nil {
		panic(err)
	}
	when := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	a := []byte("interface swp1\n description node-1:eth0\nexit\n")
	b := []byte("interface swp1\n description node-1:eth0\n shutdown\nexit\n")

	rev1, _, _ := repo.CommitAt("leaf-1", a, "node-1 to a", when)
	rev2, _, _ := repo.CommitAt("leaf-1", b, "node-1 to b", when.Add(time.Minute))
	_, changed, _ := repo.CommitAt("leaf-1", b, "node-1 to b again", when.Add(2*time.Minute))
	fmt.Println("unchanged commit:", changed)

	_ = repo.MarkDeployed("leaf-1", rev2)
	deployed, _ := repo.Deployed("leaf-1")
	fmt.Println("deployed is rev2:", deployed == rev2)

	history, _ := repo.History("leaf-1")
	for _, h := range history {
		fmt.Println(h.Time.UTC().Format(time.RFC3339), h.Message)
	}
	diff, _ := repo.Diff("leaf-1", rev1, rev2)
	fmt.Print(strings.SplitN(diff, "\n", 3)[2]) // without the ---/+++ lines
	// Output:
	// unchanged commit: false
	// deployed is rev2: true
	// 2025-06-01T12:01:00Z node-1 to b
	// 2025-06-01T12:00:00Z node-1 to a
	// @@ -1,3 +1,4 @@
	//  interface swp1
	//   description node-1:eth0
	// + shutdown
	//  exit
}
