// Package notice is the signed scan notice that Portcullis delivers to a
// protected host, the Ethernet frame that carries it into the host's switch
// port, and the verifier that the host agent (`portcullis agent`) runs.
//
// The source system told its guest OS when it saw a scan; Portcullis tells
// the victim the same way, over the network, with a notice that only a holder
// of the per-deployment key can produce.
//
// # Wire format (PCN1)
//
// A notice is the payload of one UDP datagram (port DefaultPort, 6686). All
// integers are big-endian; times are Unix nanoseconds (0 = none).
//
//	off  size  field
//	  0     4  magic "PCN1" (the 1 is the format version)
//	  4     4  key id: KeyID(key), first 4 bytes of HMAC-SHA256(key, "portcullis notice key id v1")
//	  8     8  timestamp (int64, when the controller sealed it)
//	 16    16  nonce (random, for replay detection)
//	 32     1  event: 1 scan_detected, 2 blocked, 3 unblocked
//	 33     6  scanner MAC
//	 39     4  probes seen (uint32)
//	 43     8  block expiry (int64, 0 = none)
//	 51   1+a  victim IP: length a (0, 4 or 16), then the address
//	      1    number of scanner IPs n (<= MaxScanners), then n times: length (0, 4 or 16), address
//	      1+k  scan kind: length k (<= MaxKind), then UTF-8 text
//	      2+m  message: length m (uint16, <= MaxMessage), then UTF-8 text
//	     32    HMAC-SHA256(key, every byte before it)
//
// Nothing may follow the MAC. A notice is at most MaxSize bytes, so that with
// its Ethernet, IPv6 and UDP headers it fits a 1500-byte MTU.
//
// # Verification
//
// Open (and Verifier.Open) checks, in this order: length and magic, key id,
// the MAC (constant-time), the field layout, the timestamp against now
// (at most MaxSkew either way, default 5 minutes) and the nonce against a
// bounded replay cache. Only notices with a valid MAC reach the replay cache,
// so an attacker without the key cannot fill it. When the cache is full the
// oldest nonce is evicted and every notice not newer than it is refused from
// then on, so an evicted nonce can never be replayed.
//
// # Purity and concurrency
//
// Seal, Open, Frame and Verifier are pure apart from Seal drawing a random
// nonce; time is passed in. Verifier and the package-level Open (which uses
// one process-wide replay cache) are safe for concurrent use. The Listener is
// the IO edge: one goroutine reads a UDP socket and verifies each datagram.
package notice
