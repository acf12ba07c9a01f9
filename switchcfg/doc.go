// Package switchcfg is the configuration of the switches OSISM manages:
// it renders it from NetBox and Jinja2 templates, keeps every rendered
// file in a git state repository, deploys it over SSH and reads it back
// to compare. These are phases 2 to 4 of a device transition ("generate
// the configuration of every managed switch the device is wired to",
// "deploy it", "compare what each switch runs with what NetBox says"), and
// the package provides their hooks.
//
// # The phase hooks
//
// A [Deployer] ([NewDeployer] builds one from a [Config] and a NetBox
// client) does the work; [GenerateHook], [DeployHook] and [CompareHook]
// run it for a transition's device, and [Hooks] returns the three for a
// statemachine.Config. Phase 2 asks NetBox for the managed switches the
// device's cables reach and renders and commits them; phase 3 deploys
// them; phase 4 checks that each runs the revision deployed to it (a
// resumed phase 4 reads every switch anew) and fails with the report of
// those that do not. The Deployer remembers a transition's switches from
// phase 2 to phase 4, and asks NetBox again after a resume in another
// process.
//
// # Deploying
//
// [Deployer.Deploy] brings each switch to its newest committed
// configuration: it opens a session, reads what the switch runs, sends only
// the difference, saves, reads back and moves the tag deployed/<switch>.
// With DeployOpts.DryRun it reports the commands it would send.
// [Deployer.Compare] compares what a switch runs with its newest render,
// [Deployer.Verify] with the revision deployed to it, and
// [Deployer.Rollback] commits an old revision anew and deploys it.
// Requests for one switch that come while it is busy share its next render
// and its next session, at most MaxSessions sessions run at once, and with
// a Locker every session holds the lock switch/<name> ([SwitchLockKey]),
// waited for with backoff, so that two processes never reach one switch at
// once.
//
// A deploy sends what the state repository holds for the switch once the
// lock is held ([Repo.Latest]), not what this process rendered last: a
// newer render another worker or the CLI committed is never undone.
// [Deployer.Verify] trusts what this process read back after its own
// deploy only while the revision marked deployed is the one it deployed;
// otherwise it reads the switch anew. A lock lost while held (its lease's
// Lost channel closes: it expired, or an operator broke it) cancels the
// session's context: nothing more is sent, nothing is marked deployed, and
// the error is a *LockLostError naming the switch (it matches
// statemachine.ErrLockLost). A render holds the locks of its switches
// from before it reads NetBox to after its commit, so a render that read
// NetBox earlier is never committed over one that read it later.
//
// A dialect that can tell a complete running configuration from one cut
// short implements [Completer] (FRR's ends with "end"): a read cut short
// is read again, up to three times, then the deploy fails with
// [ErrShortRead]. When the read-back after a deploy still lacks commands,
// they are sent again, up to twice, with a warning; then the deploy fails
// with [ErrNotApplied] and nothing is marked deployed.
//
// A panic in a render (the template engine), a deploy, a driver or a
// session is a *PanicError of the switch that asked; the process lives
// on.
//
// Dialects that know which lines hold secrets implement [Masker]: the FRR
// dialect masks the word after password, secret, key-string,
// authentication-key, community, md5 (of message-digest-key), key,
// "authentication string" (RIP) and "nhrp authentication" (neighbor X
// password S, enable secret 5 S, snmp-server community S), the SONiC
// dialect the values of fields named like pass, secret, key, token or
// community and the keys of SNMP_COMMUNITY (the community is the key).
// DeployResult.Sent, every Report a Deployer returns (its String and its
// JSON), the progress lines of the hooks and the errors that quote what a
// switch printed (a failed read, save or load) show [Masked] in their
// place; only the switch gets the secret. Errors of the secrets file give
// the line and an unknown key's name, never a value.
//
// # Dialects and drivers
//
// The device's custom field deployment_type picks the [Driver] (how to
// open a [Session]) and the [Dialect] (how to compare two configurations
// and which commands turn one into the other), in [DriverFor]: frr (vtysh
// through scrapligo with the project's own platform definition, the [FRR]
// dialect), sonic ([SONiC]: config_db.json uploaded whole, config load,
// config save; the [SONiCDialect] compares the JSON), or a platform
// scrapligo ships (arista_eos, cisco_iosxe, ...) compared with the FRR
// dialect, which fits indentation-based configurations.
//
// # Credentials
//
// How to reach a switch is a [Target]: the secrets file's entry for it
// ([Credentials], [LoadCredentials]), then its defaults; the host defaults
// to the primary IPv4 address. Host keys are checked against a known_hosts
// file unless the secrets file's insecure_ignore_host_key says otherwise.
// Everything that guards access (password, key file, known_hosts, the
// host-key switch) and the user come from the secrets file only. The
// device's config context key osism_ssh ([ConfigContextKey]) may set host
// and port, and only where the secrets file allows it:
// allow_config_context_host: true in the switch's entry or in the
// defaults (the entry wins); they are then taken after the entry's own
// host and port and before the defaults'. Every field of osism_ssh that is
// not taken is logged at warning level with the switch and the field; a
// host or port that is taken but invalid is an error. A Target's password
// reaches no log, format verb or JSON.
//
// # Which switches
//
// A managed switch is a NetBox device with the custom field
// device_type=switch and the tag managed-by-osism (IsManaged). Switches
// lists them; Renderer.Render renders the ones named, or all of them.
//
// # Rendering
//
// A Renderer reads what a switch's configuration depends on and builds a
// Context, the data its template sees. Reading costs three rounds of NetBox
// list requests, one request each for up to 40 switches named (100 when
// rendering all) and 1000 objects listed:
//
//  1. the switches, with their config contexts;
//  2. their interfaces (with each cable's far end), and at the same time
//     the manufacturer and model of their device types (one request the
//     Renderer caches for its lifetime: netbox.Device carries only the
//     device type's id);
//  3. the devices at the far ends of their cables (role, and whether they
//     are switches), and at the same time the IP addresses of the switches
//     and of their MLAG peers.
//
// So rendering one switch, or both leaves a node is cabled to, costs five
// requests, four with the device types cached.
//
// The template of a switch is the first that exists of
// <templates>/<device-name>.cfg.j2, <templates>/<manufacturer-slug>.cfg.j2
// and <templates>/default.cfg.j2; none existing is a *NoTemplateError that
// names the directory and the three names. Without WithTemplateDir (or
// WithTemplateFS) the templates built into the package are used
// (BuiltinTemplates); with it, they are not a fallback. Templates may
// include and import other files of the same directory.
//
// Templates are Jinja2, run by github.com/nikolalohinski/gonja/v2 with
// trim_blocks on (the newline after a block tag is dropped) and
// lstrip_blocks off (put block tags at the start of a line), as Ansible's
// template module has them; undefined names and attributes are errors (use
// "is defined" or "default" for optional config context keys); the
// template's final newline is kept. A template that cannot be parsed or run is a *TemplateError
// naming the file and the line.
//
// No string of the context may hold a control character (U+0000 to
// U+001F, or DEL): NetBox names, descriptions, labels, custom fields and
// config context values and keys never need one, and a newline in a
// description would become a command of its own. [Context.Check] refuses
// one with a *ContextStringError (matching [ErrControlCharacter]) that
// names the switch, the object (device, interface swp1, vlan 10, mlag,
// bgp) and the field as the template sees it, without quoting the value;
// Renderer.Contexts and RenderContext check every context, so such a
// switch is neither committed nor deployed.
//
// Rendering is deterministic: interfaces are in natural order (swp2 before
// swp10), VLANs by VID, addresses, tags, members and peers sorted, and
// gonja iterates dictionaries by sorted key; so the same NetBox data
// renders the same bytes whatever order NetBox lists it in, and a switch
// renders the same alone or with others.
//
// # The template context
//
// Templates see Context by its JSON names. Every name is always present:
// lists are empty rather than missing, mlag is none without an MLAG.
//
//	device          id, name, site{name,slug}, rack, role{name,slug},
//	                platform{name,slug}, manufacturer{name,slug}, model,
//	                serial, status, primary_ip4, primary_ip6 (CIDR or ""),
//	                deployment_type (custom field), tags (slugs),
//	                custom_fields{...}, config_context{...}
//	interfaces[]    name, kind ("ethernet", "lag", "virtual"), type, label,
//	                description, enabled, mgmt_only, mtu (0: unset),
//	                mac_address, mode ("", "access", "tagged",
//	                "tagged-all"), untagged_vlan{vid,name} or none,
//	                tagged_vlans[]{vid,name}, addresses[] (CIDR),
//	                peer{device, interface, kind ("switch", "node",
//	                "other"), role, cable} or none, lag (the LAG it is a
//	                member of), parent, members[] and peer_devices[] (of a
//	                LAG), custom_fields{...}
//	vlans[]         vid, name, untagged[] and tagged[] (interface names)
//	mlag            peer, peer_link, members[], interface, vlan, address,
//	                peer_address, peer_ip, domain_id; or none
//	bgp             asn (0: unknown), router_id ("" : unknown)
//
// The MLAG is what the netbox package's desired state writes for one: a
// virtual interface (Vlan<vlan>) whose parent is a LAG (Port-Channel<n>)
// whose members are all cabled to one other device, the peer. The peer's
// address is its address on its interface of the same name. NetBox has no
// MLAG domain id: domain_id is the config context's mlag_domain_id, else
// the number the peer link's name ends in.
//
// bgp.asn is the config context's frr_asn, else the device's custom field
// frr_asn; bgp.router_id is the config context's frr_router_id, else its
// loopback, else the primary IPv4 address (without prefix length).
//
// # The built-in template
//
// default.cfg.j2 renders FRR configuration for a leaf in vtysh syntax
// (FRR 8.4): "frr defaults datacenter"; an interface stanza with
// "description <peer-device>:<peer-interface>" for every cabled port (and
// the description, addresses and shutdown of LAGs, virtual interfaces and
// ports that have them; management ports are left out); and, when the ASN
// is known, "router bgp <asn>" with BGP unnumbered through the peer group
// "fabric" ("neighbor swp1 interface peer-group fabric") to every routed port (no 802.1Q mode, not
// a LAG member) cabled to a switch or a node, to every routed LAG with a
// peer, and the MLAG peer's address. It renders no hostname command: FRR
// 8.4 applies one to vtysh only, not to its daemons.
//
// # The state repository
//
// Repo keeps the rendered files in a git repository (branch main, plain
// go-git, no git binary): <switch>.cfg per switch in the work tree, one
// commit per change by "osism <osism@localhost>" at the time given (UTC),
// so the same input gives the same revision. Commit does nothing when the
// file already holds the content. MarkDeployed moves the tag
// deployed/<switch> to the revision a switch received, Deployed reads it.
// History lists the revisions that changed a switch's file, newest first;
// Show returns the file at a revision, Diff a unified diff between two,
// and Rollback commits an old revision's content as a new one. Revisions
// are anything git resolves: a hash or a unique prefix, HEAD~1,
// deployed/leaf-1.
//
// Switch names become file and tag names, so CheckName refuses what could
// leave the repository or break a ref ("a/b", "..", " "). A Repo is safe
// for concurrent use by the goroutines of one process and by several
// processes: every write (commit, rollback, tag) holds the file lock
// .git/osism.lock (github.com/gofrs/flock) and reads HEAD anew under it;
// OpenRepo opens or creates the repository under that lock too, so
// processes that open a new one at once never see it half made. The
// index, refs and config are written to a temporary file renamed into
// place, so a process killed meanwhile leaves the old file, and an index
// that cannot be read is rebuilt from HEAD. Rendered configurations hold
// secrets, so the repository's directories are 0700 and its files 0600;
// OpenRepo fixes the modes of an existing repository.
package switchcfg
