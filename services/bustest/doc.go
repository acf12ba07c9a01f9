// Package bustest gives tests an embedded task bus: a broker in process on
// a random loopback port, in memory, with clients and workers that stop
// when the test ends. Programs that define their own task kinds use it to
// test their handlers against the real bus, the way go-osism tests itself.
package bustest
