// Package netboxtest is an in-memory NetBox 4.3 REST API for tests, benchmarks and
// `osism manager --dev`.
//
// go-osism keeps NetBox the source of truth for every device, and NetBox 4 cannot be installed where
// the project's tests run. So every package that talks to NetBox tests against this double instead,
// and the double is only worth that trust if it answers like NetBox: same nesting, same nulls, same
// error bodies, same paging. Its answers are checked against the OpenAPI schema NetBox 4.3 publishes
// (the api/openapi.yaml that ships in the go-netbox v4.3.0 module), so a drift from NetBox shows up
// as a failing test rather than as a surprise against a real installation.
//
// # Starting one
//
// In a test, New starts a server on 127.0.0.1 and closes it at cleanup:
//
//	import "github.com/osism/go-osism/netbox/netboxtest/conformance"
//
//	s := netboxtest.New(t, netboxtest.WithSampleFabric(), netboxtest.WithChecker(conformance.New()))
//	client, err := netbox.New(netbox.Config{URL: s.URL(), Token: s.Token()})
//
// Outside tests (the dev mode, benchmark programs, the README's demo) use Start and Close. The
// server starts empty, from the embedded sample fabric (SampleFabric: site dc1, leaf-1 and leaf-2
// tagged managed-by-osism, node-1..node-4 tagged managed-by-ironic and cabled to both leaves, VLANs
// 100/200/300, IP addresses, and every custom field and tag the project relies on), from YAML
// fixtures (LoadFixture, WithFixtureFile), and WithDevices adds thousands of generated devices for
// benchmarks. Fixture objects get ids in the order they appear, starting at 1 per type. The
// sample fabric's desired states (dc1: every node in a, node-1 in b, node-2 in c, leaf-1's MLAG in
// a) are embedded too: SampleDesiredStates returns them and WriteSampleDesiredStates writes them
// into an empty directory, so the dev mode and the demo need no checkout.
//
// # What it serves
//
// /api/status/ and, each with list, get, brief, filters, pagination, POST (one object or a list),
// PUT and PATCH on /{id}/, DELETE, and bulk PUT, PATCH and DELETE on the list endpoint:
// dcim sites, racks, manufacturers, device-types, device-roles, platforms, devices, interfaces,
// cables and mac-addresses; ipam vlans and ip-addresses; extras tags and custom-fields.
//
// Behaviour follows NetBox's code, not only its schema:
//
//   - Authentication as NetBox 4.5+: "Token <v1>" and "Bearer nbt_<key>.<secret>". Every failure is
//     403 with {"detail": ...}, never 401: NetBox lists SessionAuthentication first, which has no
//     WWW-Authenticate challenge, so Django REST framework turns 401 into 403 (NetBox answers 401
//     only on its token-provisioning endpoint, which the double does not serve). LOGIN_REQUIRED is
//     on, as by default. A read-only token gets 403 on writes.
//   - Filters: repeated parameters are OR and different ones AND, except tag, which NetBox's
//     TagFilter conjoins (?tag=a&tag=b needs both). cf_<name> follows the field's filter logic
//     ("loose" text is a case-insensitive substring). An unknown related value (tag, role, site slug)
//     is a 400 as in NetBox. Unlike NetBox, an unknown query parameter is a 400 naming it: NetBox
//     ignores it, which in a test would turn a typo into "every object".
//   - Pagination as NetBox 4.3: limit defaults to 50, is capped at MAX_PAGE_SIZE (1000, or
//     WithMaxPageSize), 0 means MAX_PAGE_SIZE, and a bad limit or offset falls back to the default; next and previous are absolute URLs with sorted
//     keys, as Django REST framework builds them. Objects are ordered by id.
//   - ?brief (any non-empty value, as in NetBox) and ?fields=a,b select fields; nested objects are
//     the related model's brief fields without its counts, lag/parent/bridge use NestedInterface.
//   - Writes: related objects by id, {"id": n} or a dictionary of attributes; PATCH and PUT merge
//     custom_fields key by key; defaults fill new objects; interface mode rules (no VLANs without a
//     mode, tagged VLANs only in tagged mode) and Interface.save()'s clean-up; a cable sets cable,
//     cable_end, link_peers and connected_endpoints on both interfaces, and deleting it frees them;
//     deleting a device removes its interfaces, their cables and addresses; deleting what is still
//     referenced through a protected relation is a 409.
//   - Errors: {"field": ["message"]} with NetBox's messages, a list of those for list POSTs (all or
//     nothing), and for bulk updates the errors of the first invalid object (everything rolled back).
//     Custom-field errors are reported under "custom_fields"; model-wide errors (uniqueness, cable
//     terminations) under "__all__", as Django reports them. A malformed body is a 400, never a crash.
//
// # Faults and counters
//
// Requests counts served requests per method and endpoint, SetLatency delays every request,
// SetFailureRate (seeded by WithSeed, so a failing run replays) and FailNext make requests fail with
// a status before they touch any state, or hang until the client gives up when the status is 0.
//
// # Conformance
//
// WithChecker(conformance.New()) validates every answer: the status must be one the operation
// declares (errors are checked against NetBox's error shapes, which the schema does not describe),
// and the body must match the operation's response schema. Brief answers are checked against the
// model's Brief* component, list POSTs item by item. The checker lives in package
// github.com/osism/go-osism/netbox/netboxtest/conformance, a package of its own so that programs
// which start the double (osism demo) do not link the OpenAPI and JSON Schema libraries; Checker,
// Answer and KindSchema are the interface between the two, and any Checker may be passed. The
// schema is loaded once per process (conformance.SchemaLoadTime says how long that took;
// conformance.NewWithSchema(path) checks against another file, and conformance.NewFromEnv against
// the one NETBOXTEST_OPENAPI, conformance.SchemaEnv, names) and loosened by
// exactly the ways real NetBox departs from it: an unset choice field is null, cable_end is null on
// an uncabled interface, a blank optional string is "" even where a pattern is given, and unset
// custom fields are null. It is also tightened: a field the schema does not know is a violation.
// SchemaViolations lists what the checker reported, and New fails the test at cleanup if there is
// anything.
//
// # Files
//
//   - server.go: Server, its options (With...), New, Start, Close, URL and the tokens.
//   - faults.go: fault injection (FailNext, SetFailureRate, SetLatency) and request counters.
//   - serve.go: routing of a request to its endpoint, authentication, error answers.
//   - serve_list.go: lists: filters, ordering, paging, field selection.
//   - serve_write.go: POST, PUT, PATCH and DELETE, one object and in bulk.
//   - write.go: decoding and validating written bodies as NetBox's serializers and models do.
//   - store.go: the in-memory tables and transactions; kinds.go: the object types served;
//     filter.go: NetBox's filters; render.go: answers as NetBox renders them;
//     choices_gen.go: NetBox's choice sets.
//   - fixture.go and sample_fabric.yaml: fixtures and the sample fabric; sample.go and
//     sample/desired: the sample fabric's desired states; generate.go: WithDevices;
//     inspect.go: reading and changing the state from a test (Get, Find, Create, ...).
//   - conformance.go: Checker, Answer, KindSchema and Violation, the interface to a schema checker.
package netboxtest
