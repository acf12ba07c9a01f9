package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/osism/go-osism/netbox"
)

// Reconciler builds the Ansible inventory from NetBox and the
// configuration repository's static inventory, and writes it to the
// reconciler's output directory.
//
// Hosts are the NetBox devices the section's filters select, named by the
// custom field inventory_hostname, else the config-context key
// inventory_hostname, else the device name. Each is put in the groups
// netbox_role_<role>, netbox_site_<site> and netbox_tag_<tag> (slugs, with
// - and . written as _), and in the groups the configured custom field
// names. Its variables are the config context's ansible_* keys and the
// keys the section lists, and ansible_host from the primary IP address
// (IPv4, else IPv6) unless the config context sets it.
//
// The static inventory (every file directly under
// <configuration_dir>/inventory, INI or YAML) adds its hosts, groups,
// children and group variables. Group memberships are the union of both.
// A host variable both set differently is a conflict: by default the
// static inventory wins (precedence static), or NetBox does (precedence
// netbox); each conflict is logged once per process.
//
// Nothing is written unless every host name, group name and variable name
// is one Ansible accepts; the error names the device or the file and line.
type Reconciler struct {
	cfg       ReconcilerConfig
	staticDir string
	nb        *netbox.Client
	log       *slog.Logger
	secret    *regexp.Regexp

	mu     sync.Mutex // one run at a time; guards logged
	logged map[string]bool

	// beforeRename, when set, runs before each file's rename into place;
	// an error stops the run there (tests simulate a crash with it).
	beforeRename func(path string) error
}

// ReconcilerOpts are the optional parts of a Reconciler.
type ReconcilerOpts struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// NewReconciler returns the reconciler of cfg's reconciler and ansible
// sections that reads NetBox through nb.
func NewReconciler(cfg Config, nb *netbox.Client, opts *ReconcilerOpts) (*Reconciler, error) {
	if nb == nil {
		return nil, errors.New("reconciler: nil NetBox client")
	}
	if err := cfg.Reconciler.Validate(); err != nil {
		return nil, err
	}
	re, err := cfg.Ansible.SecretRegexp()
	if err != nil {
		return nil, err
	}
	r := &Reconciler{cfg: cfg.Reconciler, nb: nb, secret: re, logged: map[string]bool{}, log: slog.Default()}
	if cfg.Ansible.ConfigurationDir != "" {
		r.staticDir = cfg.Ansible.ConfigurationDir + "/inventory"
	}
	if opts != nil && opts.Logger != nil {
		r.log = opts.Logger
	}
	return r, nil
}

// OutputDir is where the inventory is written.
func (r *Reconciler) OutputDir() string { return r.cfg.outputDir() }

// ReconcileReport says what a run changed (or, dry, would change).
type ReconcileReport struct {
	DryRun bool `json:"dry_run,omitempty"`
	// Hosts is how many hosts the inventory has.
	Hosts int `json:"hosts"`
	// Added, Removed and Changed name hosts, sorted.
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Changed []string `json:"changed,omitempty"`
	// Written and Deleted are files relative to the output directory.
	// A task's result lists the first 100 of each; WrittenFiles and
	// DeletedFiles count them all there.
	Written      []string `json:"written,omitempty"`
	Deleted      []string `json:"deleted,omitempty"`
	WrittenFiles int      `json:"written_files,omitempty"`
	DeletedFiles int      `json:"deleted_files,omitempty"`
	// Conflicts is how many host variables NetBox and the static
	// inventory both set differently.
	Conflicts int `json:"conflicts,omitempty"`
}

// Reconcile builds the inventory and writes what differs from the output
// directory's files. With dryRun it writes nothing and prints a unified
// diff per file to diff (secret values masked); diff may be nil.
func (r *Reconciler) Reconcile(ctx context.Context, dryRun bool, diff io.Writer) (ReconcileReport, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	filters, err := r.cfg.deviceFilters()
	if err != nil {
		return ReconcileReport{}, err
	}
	devs, err := r.nb.InventoryDevices(ctx, filters)
	if err != nil {
		return ReconcileReport{}, fmt.Errorf("reconciler: %w", err)
	}
	static, err := loadStatic(r.staticDir)
	if err != nil {
		return ReconcileReport{}, fmt.Errorf("reconciler: %w", err)
	}
	inv, conflicts, err := r.build(devs, static)
	if err != nil {
		return ReconcileReport{}, fmt.Errorf("reconciler: %w", err)
	}
	if err := inv.validate(); err != nil {
		return ReconcileReport{}, fmt.Errorf("reconciler: %w (the inventory in %s is left as it was)", err, r.cfg.outputDir())
	}
	files, err := inv.render(nil)
	if err != nil {
		return ReconcileReport{}, fmt.Errorf("reconciler: %w", err)
	}
	rep, err := r.apply(inv, files, dryRun, diff)
	rep.Conflicts = conflicts
	return rep, err
}

// build turns the devices into hosts and merges the static inventory.
func (r *Reconciler) build(devs []netbox.InventoryDevice, static *inventory) (*inventory, int, error) {
	inv := newInventory()
	byName := map[string]string{} // host -> device
	for _, d := range devs {
		where := fmt.Sprintf("device %q (id %d)", d.Name, d.ID)
		name := d.Name
		if v, ok := d.CustomFields["inventory_hostname"].(string); ok && v != "" {
			name = v
		} else if v, ok := d.ConfigContext["inventory_hostname"].(string); ok && v != "" {
			name = v
		}
		if prev, dup := byName[name]; dup {
			return nil, 0, fmt.Errorf("%s: inventory host name %q is also the name of device %q: expected one device per host", where, name, prev)
		}
		byName[name] = d.Name
		h := inv.host(name, where)
		if a := d.PrimaryAddress(); a != "" {
			h.vars["ansible_host"] = a
		}
		for k, v := range d.ConfigContext {
			if strings.HasPrefix(k, "ansible_") || slices.Contains(r.cfg.HostVars, k) {
				h.vars[k] = v
			}
		}
		var groups []string
		if d.Role.Slug != "" {
			groups = append(groups, "netbox_role_"+groupSlug(d.Role.Slug))
		}
		if d.Site.Slug != "" {
			groups = append(groups, "netbox_site_"+groupSlug(d.Site.Slug))
		}
		for _, t := range d.Tags {
			groups = append(groups, "netbox_tag_"+groupSlug(t.Slug))
		}
		if f := r.cfg.GroupCustomField; f != "" {
			gs, err := customFieldGroups(d.CustomFields[f])
			if err != nil {
				return nil, 0, fmt.Errorf("%s: custom field %s: %w", where, f, err)
			}
			groups = append(groups, gs...)
		}
		for _, g := range groups {
			inv.group(g, where).hosts[name] = true
		}
	}
	conflicts := 0
	for gname, sg := range static.groups {
		g := inv.group(gname, sg.where)
		for h := range sg.hosts {
			g.hosts[h] = true
		}
		for c := range sg.children {
			g.children[c] = true
		}
		for k, v := range sg.vars {
			g.vars[k] = v
		}
	}
	names := make([]string, 0, len(static.hosts))
	for n := range static.hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sh := static.hosts[n]
		h, fromNetBox := inv.hosts[n]
		if !fromNetBox {
			h = inv.host(n, sh.where)
		}
		keys := make([]string, 0, len(sh.vars))
		for k := range sh.vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sv := sh.vars[k]
			nv, set := h.vars[k]
			if fromNetBox && set && !sameVarValue(nv, sv) {
				conflicts++
				winner := PrecedenceStatic
				if r.cfg.Precedence == PrecedenceNetBox {
					winner = PrecedenceNetBox
				}
				key := n + "\x00" + k
				if !r.logged[key] {
					r.logged[key] = true
					r.log.Warn("reconciler: host variable set differently in NetBox and the static inventory",
						"host", n, "variable", k, "netbox", h.where, "static", sh.where, "kept", winner)
				}
				if winner == PrecedenceNetBox {
					continue
				}
			}
			h.vars[k] = sv
			h.varWhere[k] = sh.varWhere[k]
		}
	}
	return inv, conflicts, nil
}

// sameVarValue compares two variable values as JSON would carry them, so
// that 1 from YAML and 1.0 from NetBox's JSON are the same.
func sameVarValue(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return reflect.DeepEqual(a, b)
	}
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	return reflect.DeepEqual(va, vb)
}

// groupSlug writes a NetBox slug as a group-name part: - and . become _.
func groupSlug(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '.' {
			return '_'
		}
		return r
	}, s)
}

// customFieldGroups reads the group custom field: null, a group name, a
// comma-separated list or a list of names.
func customFieldGroups(v any) ([]string, error) {
	var out []string
	switch x := v.(type) {
	case nil:
	case string:
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("expected group names, got %v", e)
			}
			out = append(out, s)
		}
	default:
		return nil, fmt.Errorf("expected a group name or a list of them, got %v", v)
	}
	return out, nil
}

var (
	varNameRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	hostNameRe  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	groupNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
)

// pythonKeywords are not identifiers, so not variable names, for Ansible.
var pythonKeywords = map[string]bool{
	"False": true, "None": true, "True": true, "and": true, "as": true, "assert": true, "async": true,
	"await": true, "break": true, "class": true, "continue": true, "def": true, "del": true, "elif": true,
	"else": true, "except": true, "finally": true, "for": true, "from": true, "global": true, "if": true,
	"import": true, "in": true, "is": true, "lambda": true, "nonlocal": true, "not": true, "or": true,
	"pass": true, "raise": true, "return": true, "try": true, "while": true, "with": true, "yield": true,
}

// validVarName is Ansible's rule: a Python identifier (ASCII here) that
// is not a keyword.
func validVarName(s string) bool { return varNameRe.MatchString(s) && !pythonKeywords[s] }

// validHostName accepts what Ansible reads back as one host: letters,
// digits, _, . and -, not starting with . or -, at most 253 characters;
// all and ungrouped are groups.
func validHostName(s string) bool {
	return len(s) <= 253 && hostNameRe.MatchString(s) && s != "all" && s != "ungrouped"
}

// validate checks every name before anything is written.
func (inv *inventory) validate() error {
	var errs []error
	for _, n := range sortedKeysOf(inv.hosts) {
		h := inv.hosts[n]
		if !validHostName(n) {
			errs = append(errs, fmt.Errorf("%s: host name %q: expected letters, digits, _, . and - (not first), as Ansible accepts", h.where, n))
		}
		for _, k := range sortedKeysOf(h.vars) {
			if !validVarName(k) {
				where := h.where
				if w := h.varWhere[k]; w != "" {
					where = w
				}
				errs = append(errs, fmt.Errorf("%s: host %q: variable name %q: expected letters, digits and _, not starting with a digit, and no Python keyword, as Ansible accepts", where, n, k))
			}
		}
	}
	for _, n := range sortedKeysOf(inv.groups) {
		g := inv.groups[n]
		if !groupNameRe.MatchString(n) {
			errs = append(errs, fmt.Errorf("%s: group name %q: expected letters, digits, _ and -, not starting with a digit or -", g.where, n))
		}
		for _, k := range sortedKeysOf(g.vars) {
			if !validVarName(k) {
				errs = append(errs, fmt.Errorf("%s: group %q: variable name %q: expected letters, digits and _, not starting with a digit, and no Python keyword", g.where, n, k))
			}
		}
		for c := range g.children {
			if c == n {
				errs = append(errs, fmt.Errorf("%s: group %q is its own child", g.where, n))
			}
		}
	}
	if len(errs) > 10 {
		errs = append(errs[:10], fmt.Errorf("and %d more", len(errs)-10))
	}
	return errors.Join(errs...)
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
