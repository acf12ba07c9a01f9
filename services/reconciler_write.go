package services

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/pmezard/go-difflib/difflib"
	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/ansible"
)

// The reconciler's files in its output directory.
const (
	ReconcilerHostsFile   = "hosts.yml"
	ReconcilerHostVarsDir = "host_vars"
)

const reconcilerHeader = "# Written by the osism reconciler from NetBox and the static inventory; edits are overwritten.\n"

// render returns the inventory's files by path relative to the output
// directory: hosts.yml and host_vars/<host>.yml for each host with
// variables. Values of variables whose name matches mask are masked
// (mask nil: none).
func (inv *inventory) render(mask *regexp.Regexp) (map[string][]byte, error) {
	files := map[string][]byte{}
	inGroup := map[string]bool{}
	children := map[string]any{}
	for _, n := range sortedKeysOf(inv.groups) {
		if n == "all" || n == "ungrouped" {
			continue
		}
		g := inv.groups[n]
		body := map[string]any{}
		if len(g.hosts) > 0 {
			hs := map[string]any{}
			for h := range g.hosts {
				hs[h] = nil
				inGroup[h] = true
			}
			body["hosts"] = hs
		}
		if len(g.children) > 0 {
			cs := map[string]any{}
			for c := range g.children {
				cs[c] = nil
			}
			body["children"] = cs
		}
		if len(g.vars) > 0 {
			body["vars"] = maskVars(g.vars, mask)
		}
		if len(body) == 0 {
			children[n] = nil
		} else {
			children[n] = body
		}
	}
	all := map[string]any{}
	if len(children) > 0 {
		all["children"] = children
	}
	ungrouped := map[string]any{}
	for h := range inv.hosts {
		if !inGroup[h] {
			ungrouped[h] = nil
		}
	}
	if len(ungrouped) > 0 {
		all["hosts"] = ungrouped
	}
	if g := inv.groups["all"]; g != nil && len(g.vars) > 0 {
		all["vars"] = maskVars(g.vars, mask)
	}
	b, err := marshalYAML(map[string]any{"all": all})
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", ReconcilerHostsFile, err)
	}
	files[ReconcilerHostsFile] = append([]byte(reconcilerHeader), b...)
	for n, h := range inv.hosts {
		if len(h.vars) == 0 {
			continue
		}
		b, err := marshalYAML(maskVars(h.vars, mask))
		if err != nil {
			return nil, fmt.Errorf("render host_vars of %s (%s): %w", n, h.where, err)
		}
		files[ReconcilerHostVarsDir+"/"+n+".yml"] = append([]byte(reconcilerHeader), b...)
	}
	return files, nil
}

// marshalYAML writes v as YAML indented by two spaces, mapping keys
// sorted.
func marshalYAML(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// maskVars returns vars with the values of matching keys, at any depth,
// masked; vars itself when mask is nil.
func maskVars(vars map[string]any, mask *regexp.Regexp) map[string]any {
	if mask == nil {
		return vars
	}
	m, _ := maskValue(vars, mask).(map[string]any)
	return m
}

func maskValue(v any, mask *regexp.Regexp) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if mask.MatchString(k) {
				out[k] = ansible.Masked
			} else {
				out[k] = maskValue(e, mask)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = maskValue(e, mask)
		}
		return out
	}
	return v
}

// existing reads the reconciler's files in dir: hosts.yml and every
// host_vars/*.yml.
func existingInventory(dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	b, err := os.ReadFile(filepath.Join(dir, ReconcilerHostsFile))
	switch {
	case err == nil:
		out[ReconcilerHostsFile] = b
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(dir, ReconcilerHostVarsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".yml") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		rel := ReconcilerHostVarsDir + "/" + e.Name()
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return nil, err
		}
		out[rel] = b
	}
	return out, nil
}

// hostGroups maps each host of the inventory to the groups that list it,
// sorted ("" for none).
func (inv *inventory) hostGroups() map[string]string {
	gs := make(map[string][]string, len(inv.hosts))
	for h := range inv.hosts {
		gs[h] = nil
	}
	for n, g := range inv.groups {
		if n == "all" || n == "ungrouped" {
			continue
		}
		for h := range g.hosts {
			gs[h] = append(gs[h], n)
		}
	}
	out := make(map[string]string, len(gs))
	for h, l := range gs {
		sort.Strings(l)
		out[h] = strings.Join(l, ",")
	}
	return out
}

// fileHostGroups reads the same map from a hosts.yml this reconciler
// wrote.
func fileHostGroups(b []byte) map[string]string {
	var doc struct {
		All struct {
			Hosts    map[string]any `yaml:"hosts"`
			Children map[string]struct {
				Hosts map[string]any `yaml:"hosts"`
			} `yaml:"children"`
		} `yaml:"all"`
	}
	_ = yaml.Unmarshal(b, &doc)
	gs := map[string][]string{}
	for h := range doc.All.Hosts {
		gs[h] = nil
	}
	for g, body := range doc.All.Children {
		for h := range body.Hosts {
			gs[h] = append(gs[h], g)
		}
	}
	out := make(map[string]string, len(gs))
	for h, l := range gs {
		sort.Strings(l)
		out[h] = strings.Join(l, ",")
	}
	return out
}

// hostSignatures maps each host to what describes it, its groups and
// its host_vars file, so that two runs compare host by host.
func hostSignatures(groups map[string]string, files map[string][]byte) map[string]string {
	sig := make(map[string]string, len(groups))
	for h, g := range groups {
		sig[h] = g + "\x00" + string(files[ReconcilerHostVarsDir+"/"+h+".yml"])
	}
	return sig
}

// apply compares files with the output directory and writes what differs
// (or, dry, prints the diff), then reports and logs the hosts added,
// removed and changed.
func (r *Reconciler) apply(inv *inventory, files map[string][]byte, dryRun bool, diff io.Writer) (ReconcileReport, error) {
	dir := r.cfg.outputDir()
	rep := ReconcileReport{DryRun: dryRun, Hosts: len(inv.hosts)}
	old, err := existingInventory(dir)
	if err != nil {
		return rep, fmt.Errorf("reconciler: read %s: %w", dir, err)
	}
	newGroups := inv.hostGroups()
	oldGroups := newGroups
	if ob, ok := old[ReconcilerHostsFile]; !ok || !bytes.Equal(ob, files[ReconcilerHostsFile]) {
		// Parsing is needed only when hosts.yml changed.
		oldGroups = fileHostGroups(ob)
	}
	oldSig, newSig := hostSignatures(oldGroups, old), hostSignatures(newGroups, files)
	for h, s := range newSig {
		o, was := oldSig[h]
		switch {
		case !was:
			rep.Added = append(rep.Added, h)
		case o != s:
			rep.Changed = append(rep.Changed, h)
		}
	}
	for h := range oldSig {
		if _, is := newSig[h]; !is {
			rep.Removed = append(rep.Removed, h)
		}
	}
	sort.Strings(rep.Added)
	sort.Strings(rep.Removed)
	sort.Strings(rep.Changed)
	// host_vars first and hosts.yml last: a reader never finds a host in
	// hosts.yml whose new variables are not in place yet.
	var write []string
	for p, b := range files {
		if ob, ok := old[p]; !ok || !bytes.Equal(ob, b) {
			write = append(write, p)
		}
	}
	sort.Slice(write, func(i, j int) bool {
		if (write[i] == ReconcilerHostsFile) != (write[j] == ReconcilerHostsFile) {
			return write[j] == ReconcilerHostsFile
		}
		return write[i] < write[j]
	})
	var del []string
	for p := range old {
		if _, keep := files[p]; !keep {
			del = append(del, p)
		}
	}
	sort.Strings(del)
	if dryRun {
		rep.Written, rep.Deleted = write, del
		if diff != nil {
			if err := r.printDiff(diff, inv, old, write, del); err != nil {
				return rep, err
			}
		}
		return rep, nil
	}
	if len(write) > 0 {
		if err := os.MkdirAll(filepath.Join(dir, ReconcilerHostVarsDir), 0o755); err != nil {
			return rep, fmt.Errorf("reconciler: %w", err)
		}
	}
	if err := r.writeAll(dir, write, files); err != nil {
		return rep, fmt.Errorf("reconciler: %w", err)
	}
	rep.Written = write
	for _, p := range del {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(p))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rep, fmt.Errorf("reconciler: delete %s: %w", p, err)
		}
		rep.Deleted = append(rep.Deleted, p)
	}
	for _, h := range rep.Added {
		r.log.Info("reconciler: host added", "host", h)
	}
	for _, h := range rep.Removed {
		r.log.Info("reconciler: host removed", "host", h)
	}
	for _, h := range rep.Changed {
		r.log.Info("reconciler: host changed", "host", h)
	}
	r.log.Info("reconciler: inventory written", "dir", dir, "hosts", rep.Hosts, "written", len(rep.Written), "deleted", len(rep.Deleted))
	return rep, nil
}

// writeAll writes the files of paths (relative to dir) atomically: each
// to a temporary file in its own directory first, then, after one sync
// of the file system, each renamed over its path in order, so that a
// reader sees the old file or the new one, whole, and a crash leaves at
// worst hidden temporary files, which the next run removes.
func (r *Reconciler) writeAll(dir string, paths []string, files map[string][]byte) error {
	removeStaleTemps(dir)
	removeStaleTemps(filepath.Join(dir, ReconcilerHostVarsDir))
	var tmps []string
	renamed := 0
	defer func() {
		for _, t := range tmps[renamed:] {
			_ = os.Remove(t)
		}
	}()
	// Creating thousands of files is the kernel's work: a few writers
	// at once halve it.
	tmps = make([]string, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				tmps[i], errs[i] = writeTemp(filepath.Join(dir, filepath.FromSlash(paths[i])), files[paths[i]])
			}
		})
	}
	for i := range paths {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, t := range tmps {
				if t != "" {
					_ = os.Remove(t)
				}
			}
			tmps = nil
			return fmt.Errorf("write %s: %w", paths[i], err)
		}
	}
	if len(tmps) > 0 {
		if err := syncFS(dir, tmps); err != nil {
			return fmt.Errorf("sync %s: %w", dir, err)
		}
	}
	for i, p := range paths {
		path := filepath.Join(dir, filepath.FromSlash(p))
		if r.beforeRename != nil {
			if err := r.beforeRename(path); err != nil {
				return fmt.Errorf("write %s: %w", p, err)
			}
		}
		if err := os.Rename(tmps[i], path); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		renamed++
	}
	return nil
}

const tempMark = ".tmp-"

// writeTemp writes b to a new hidden temporary file beside path and
// returns its name.
func writeTemp(path string, b []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+tempMark+"*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// removeStaleTemps removes the temporary files a crashed run left in dir.
func removeStaleTemps(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, ".") && strings.Contains(n, tempMark) && e.Type().IsRegular() {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
}

// printDiff prints a unified diff per file that would change, with the
// values of secret variables masked on both sides.
func (r *Reconciler) printDiff(w io.Writer, inv *inventory, old map[string][]byte, write, del []string) error {
	masked, err := inv.render(r.secret)
	if err != nil {
		return err
	}
	for _, p := range append(append([]string(nil), write...), del...) {
		a, b := "", string(masked[p])
		if ob, ok := old[p]; ok {
			a = string(maskFile(ob, r.secret))
		}
		from, to := "a/"+p, "b/"+p
		if _, ok := old[p]; !ok {
			from = "/dev/null"
		}
		if _, ok := masked[p]; !ok {
			to = "/dev/null"
		}
		text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(a), B: difflib.SplitLines(b), FromFile: from, ToFile: to, Context: 3})
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, text); err != nil {
			return err
		}
	}
	return nil
}

// maskFile masks the secret values of an existing YAML file, keeping its
// header; a file that is not YAML is shown as it is.
func maskFile(b []byte, mask *regexp.Regexp) []byte {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return b
	}
	out, err := marshalYAML(maskValue(v, mask))
	if err != nil {
		return b
	}
	if bytes.HasPrefix(b, []byte(reconcilerHeader)) {
		out = append([]byte(reconcilerHeader), out...)
	}
	return out
}
