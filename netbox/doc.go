// Package netbox is the OSISM domain client for NetBox, the source of truth
// for every device: it reads devices, interfaces, cables and their peers,
// VLANs, IP addresses, LAGs, config contexts and tags; writes custom fields
// (one device or thousands in one request), cables, interfaces, VLANs and IP
// addresses; keeps the device state machine's record (Store); makes NetBox
// match a device's desired state (Plan, Apply: phase 1 of a transition);
// reads and verifies NetBox webhooks; and sets up the custom fields and tags
// OSISM relies on (Setup, Check).
//
// # Why not go-netbox alone
//
// The client is built over github.com/netbox-community/go-netbox/v4 at
// v4.3.0, the only version served, which has faults an operator would meet
// on the first real NetBox:
//
//   - Its decoding is strict. A custom status choice, an interface type
//     newer than NetBox 4.3 or a field added by a later NetBox fails a whole
//     list call. This package decodes reads itself: choice fields are
//     strings (Choice), unknown fields are ignored, and each object of a
//     list is decoded on its own, so one that cannot be read is handed to
//     Config.OnDecodeError (by default a warning with the object's id to
//     Config.Logger, slog.Default() without one), counted
//     (Client.DecodeErrors) and skipped while the others are returned.
//   - It cannot filter by custom field (cf_<name>); DeviceFilter can.
//   - It has no usable bulk PATCH; UpdateDevicesCustomFields and
//     UpdateInterfaces send NetBox's list PATCH [{id, ...}], one request per
//     1000 objects.
//   - It always sends "Token <v1>"; NetBox 4.5+ v2 tokens need
//     "Bearer nbt_<key>.<secret>". The token's form decides (ParseToken).
//
// What go-netbox does well is used: its Configuration carries this
// package's HTTP client, so its generated calls share the transport
// (authentication, retries, the concurrency cap); its typed request bodies
// (WritableCableRequest, PatchedWritableInterfaceRequest, ...) build every
// write, so the bodies match NetBox's schema; and its generated call is
// used for /api/status/, whose free-form answer strict decoding cannot
// break. Client.API exposes it for anything else, with its strictness.
//
// # Transport
//
// Every request passes one transport that sets the Authorization header,
// bounds each attempt (Config.Timeout), caps requests in flight
// (Config.MaxConcurrent) and retries on 429, 5xx and connection errors with
// exponential backoff and jitter, honouring Retry-After. POST is never
// retried: a lost answer to a create would otherwise create a duplicate.
// PATCH is, because this package's PATCH bodies set absolute values. TLS
// is verified unless Config.InsecureSkipVerify says otherwise; Config.CAFile
// adds an internal CA. Tokens never reach logs or fmt output, and never
// leave NetBox: the Authorization header goes only to the scheme, host
// and port of Config.URL, so a redirect elsewhere is followed without it.
// The transport is the client's own *http.Transport (a copy of
// http.DefaultTransport when that still is one, whatever an embedding
// program put there otherwise); Config.Transport replaces it.
//
// Lists ask for pages of 1000 (NetBox's default maximum). NetBox cuts a
// limit above its MAX_PAGE_SIZE, so the pages after the first step by the
// length the first page actually had and nothing is lost on a NetBox
// configured lower; they are fetched in parallel by offset, so 10,000
// devices cost 10 requests and little more than two round trips of wall
// time, and further while the pages say that more follow. The count of an
// answer only decides how far to read ahead and sizes no allocation.
// Non-2xx answers become errors of one bounded line however large or odd
// the body.
//
// # Configuration
//
// New takes a Config: the URL and the token (a value, or a file such as
// /run/secrets/NETBOX_TOKEN) and settings with working defaults. It can
// be a section of a YAML or JSON configuration file (url, token_file,
// insecure, timeout: 30s, ...); marshalling it never writes the token.
// ConfigFromEnviron reads upstream OSISM's variables from a given
// environment (NETBOX_URL, or its alias NETBOX_API; NETBOX_TOKEN,
// NETBOX_TOKEN_FILE, NETBOX_INSECURE) and ConfigFromEnv from the process's.
//
// # Errors
//
// Errors name the operation and its input ("get device \"node-1\": ...").
// NetBox's answers are *APIError with the status and NetBox's field
// errors; errors.Is(err, ErrNotFound) and errors.Is(err, ErrUnauthorized)
// match them, and StatusIs(err, 503) any status. Desired-state files fail
// with *FileError naming the file, line, key and what was expected.
//
// # Desired state
//
// LoadDesiredState reads <dir>/<collection>/<state>.yaml and
// <dir>/<collection>/<device>/<state>.yaml (the device's interfaces replace
// the collection's of the same name; a missing or "0" state means "a");
// when neither exists it returns a *MissingDesiredStateError naming the
// files it looked for. DesiredStateHook (DesiredStateConfig.Hook) is phase
// 1: a state without a file fails the phase when DesiredStateConfig.Require
// is set and is otherwise skipped with a line in the transition's output
// saying so, never silently. CollectionDevices lists the devices a collection names. Apply follows upstream python-osism's manage_device.py (v0.3.0): it
// creates missing cables and labels both ends "<pos>:<port> /
// [<rack>-]<pos>:<port>", sets MAC addresses (as NetBox 4.2+ MAC address
// objects made primary), IP addresses and primary_ip4, VLANs and their
// mode on both ends (only the near end for LAG members, whose far ends join
// Port-Channel<channel>), LAGs, virtual interfaces and MLAGs, and removes
// addresses, LAGs and virtual interfaces the state no longer declares.
// Unlike upstream it is idempotent: it reads first (about ten list
// requests), compares, and writes only the difference, with all interface
// changes in one bulk PATCH, so a second Apply writes nothing. Plan returns
// the same list of changes without writing. Where upstream was not
// idempotent this package deviates: an MLAG's Vlan<n> interface gets mode
// access (NetBox drops the untagged VLAN of an interface without a mode)
// and is not removed as an undeclared virtual interface; an interface
// already cabled elsewhere is an error rather than a logged failure; a MAC
// address the state does not name is left alone (upstream's clearing was a
// no-op on NetBox 4.2+); and primary_ip4 is cleared only when it lies on an
// interface the state manages, so a primary on the IPMI port survives.
//
// # State machine
//
// Store implements statemachine.Store on the custom fields device_state and
// device_transition, written together in one PATCH. It caches device ids,
// so a Save after a Load costs one request. A record that would not read
// back as written (invalid UTF-8, control characters, more than 256 bytes)
// is refused.
//
// # Files
//
//   - config.go: Config, ConfigFromEnv and ConfigFromEnviron, tokens
//     (ParseToken) and the HTTP transport's TLS settings.
//   - client.go: New, Client, one request (do) and paged, lenient lists.
//   - transport.go: authentication, retries, timeouts, the concurrency cap.
//   - errors.go: APIError, StatusIs, the sentinels, DecodeError.
//   - types.go: what the package reads of NetBox's objects (Device,
//     DeviceType, Interface, VLAN, IPAddress, Cable, ...).
//   - dcim.go, ipam.go, extras.go: reads and writes per NetBox app.
//   - schema.go: RequiredFields and RequiredTags, Check and Setup.
//   - store.go: Store, the state machine's record.
//   - desired.go: desired-state files (LoadDesiredState, ParseDesiredState,
//     CollectionDevices); hook.go: DesiredStateHook, phase 1.
//   - plan.go: Plan, Apply and Change, and the planner that computes them:
//     plan_load.go reads what NetBox holds, plan_build.go plans cables,
//     LAGs, MLAGs, addresses and removals from the desired state,
//     plan_diff.go compares interfaces and plans their one bulk PATCH, and
//     plan_labels.go builds upstream's cable labels.
//   - webhook.go: webhook payloads and their signature.
package netbox
