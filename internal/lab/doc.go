// Package lab builds and tears down a small Open vSwitch network on this
// machine: the demo network of `portcullis lab` and the test bed of the e2e
// tests (the same code).
//
// A lab named NAME consists of
//
//	pc-NAME-sw            a network namespace holding the switch: its own
//	                      ovsdb-server and ovs-vswitchd (userspace datapath,
//	                      datapath_type=netdev), one bridge, one port per host
//	pc-NAME-h1..hN        one network namespace per host, each with eth0
//	                      (10.0.0.i/24, fd00::i/64, MAC 02:00:00:00:00:i)
//	                      joined by a veth pair to port hI (ofport i)
//	RUNDIR                /run/portcullis-lab/NAME by default: conf.db, pid
//	                      files, logs, db.sock, BRIDGE.mgmt
//
// The switch lives in its own network namespace because the userspace datapath
// creates a tap device named "ovs-netdev" (and one per bridge) in the namespace
// of ovs-vswitchd: two netdev switches in one namespace collide. Since the
// switch's loopback is not the host's, a small relay process (this same
// binary, re-executed; see [RelayMain]) listens inside pc-NAME-sw on
// 127.0.0.1:PORT and connects to the real controller target from the
// host's namespace, so `tcp:127.0.0.1:6653` and `ssl:...` targets work as
// given (TLS passes through the relay untouched).
//
// Nothing is created in the host's network namespace, so [Down] finds
// everything by name: the namespaces by prefix, the daemons by pid file, by
// their run directory on the command line, and by living in a lab namespace.
// It works after a crash too.
//
// Concurrency: a *Lab is safe for concurrent use (each method runs external
// commands); Up and Down for the same name must not run concurrently.
package lab
