// Package switchsim simulates FRR switches: an SSH server per switch whose
// shell is vtysh, well enough for switchcfg's FRR driver (scrapligo with
// the project's platform definition) to deploy to it and read it back as
// it does a real FRR switch, and for a person to log in with ssh and
// change it by hand.
//
// A simulated switch listens on 127.0.0.1 on a random port with a
// generated Ed25519 host key; Start writes a known_hosts file for its
// address and a client key it accepts into Options.Dir, and accepts
// Options.Password as well. Its running configuration ([Config]) lives
// as long as the Server: vtysh's exec level (leaf-1#) knows "terminal
// length 0", "show running-config" (ending with "end"), "configure
// terminal", "write memory" and "copy running-config startup-config";
// configuration mode (leaf-1(config)#, leaf-1(config-if)#,
// leaf-1(config-router)#, leaf-1(config-router-af)#, ...) applies lines and
// "no" lines to FRR's block structure, and "end" and "exit" leave it.
// What it does not know it answers as FRR does ("% Unknown command:
// ..."), so the FRR driver's error detection sees it.
//
//	leaf, err := switchsim.Start(switchsim.Options{Hostname: "leaf-1", Dir: dir, User: "osism", Password: pw})
//	// ssh -p leaf.Port osism@127.0.0.1, or switchcfg.TargetSpec{Host: leaf.Host, Port: leaf.Port,
//	//   User: leaf.User, KeyFile: leaf.KeyFile, KnownHosts: leaf.KnownHosts}
//	defer leaf.Close()
//	leaf.Running()  // "show running-config"
//	leaf.Commands() // every configuration command applied
//
// [Config] is the model alone; switchcfg's tests of the FRR dialect apply
// generated commands to it with Strict set.
package switchsim
