// Package openstack is the bare-metal side of OpenStack for go-osism: a
// client of Ironic over gophercloud/v2 that the conductor, the listener
// and the CLI share.
//
// A [Config] says how to reach Ironic: a noauth endpoint (Bifrost and a
// standalone Ironic), a cloud of clouds.yaml, or the OS_* variables of
// the OpenStack clients, which [Config.ApplyEnv] reads through a lookup
// function (the package never reads the process environment itself).
// Passwords are a [Secret], which never prints.
//
// [NewBareMetal] authenticates, finds the bare-metal endpoint and
// negotiates the microversion once: the lower of the server's maximum and
// [LatestMicroversion]. Calls that need a newer API ([Feature]) are
// refused with [ErrUnsupported] before any request.
//
// Nodes and ports are plain structs with typed states ([ProvisionState],
// [PowerState]). Lists follow every page with a marker and keep their
// filters on every page: Ironic's own "next" link drops them, so the
// package does not follow it. State changes come in two forms: the
// request alone ([BareMetal.SetProvisionState], [BareMetal.SetPower]) and
// the request with a wait until the node rests ([BareMetal.Provision],
// [BareMetal.Power]). [BareMetal.WaitFor] polls with backoff until a
// condition holds or the context ends; a node that enters a failed state
// ends a [BareMetal.WaitProvisionState] with a [*NodeStateError] naming
// the node, the state and Ironic's last_error.
//
// Errors of the API are [*Error] values with the operation, the node and
// Ironic's message; [ErrNotFound] matches a 404 with errors.Is and
// [StatusIs] any status.
package openstack
