// Package testenv is how go-osism's tests reach the real services they run
// against: RabbitMQ, Ironic, ansible-playbook and the FRR switches behind
// sshd that scripts/services installs and starts on this machine.
//
// Start the services and load their settings into the shell, then test:
//
//	scripts/services start
//	eval "$(scripts/services env)"
//	go test ./switchcfg/ ./services/
//
// A test asks for what it needs; each helper reads the OSISM_TEST_*
// variables that `scripts/services env` prints and checks that the service
// answers (an AMQP handshake, GET /v1/drivers listing fake-hardware, an SSH
// banner, an executable file):
//
//	func TestListenerUpdatesNetBox(t *testing.T) {
//		amqpURL := testenv.RabbitMQ(t)  // amqp://ironic:...@127.0.0.1:5672/ironic
//		ironicURL := testenv.Ironic(t)  // http://127.0.0.1:6385, noauth, fake-hardware
//		...
//	}
//
//	func TestDeploySwitch(t *testing.T) {
//		sw := testenv.Switch(t, "leaf-1")
//		// sw.Host, sw.Port, sw.User, sw.KeyFile, sw.KnownHosts for the SSH
//		// client under test (strict host key checking works with KnownHosts);
//		// then assert on what the switch runs, read locally:
//		cfg := sw.Vtysh(t, "show running-config")
//		...
//	}
//
//	func TestApply(t *testing.T) {
//		playbook := testenv.AnsiblePlaybook(t) // /usr/bin/ansible-playbook
//		...
//	}
//
// When a variable is missing or the service does not answer, the helper
// skips the test with a message that names the variable or the address and
// the command that starts the services. With OSISM_REQUIRE_INTEGRATION=1
// (CI sets it) the same condition fails the test instead, so a CI run can
// never pass by skipping everything.
//
// The services are shared by all tests of a run: create uniquely named
// objects (nodes, queues, interface descriptions) and clean up after them.
// A switch has no configuration lock, so tests that change one switch must
// not run in parallel with each other.
//
// The package imports only the standard library; it is meant for _test.go
// files.
package testenv
