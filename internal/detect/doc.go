// Package detect decides which ingress points are scanning the network.
//
// It is a pure state machine: the caller feeds it parsed packets (Observe)
// with the time they were seen and where they entered the network, drives
// its clock (Tick), and receives Verdicts. It does no IO, imports no `net`,
// and never reads the clock. A Detector is not safe for concurrent use:
// callers serialize Observe, Tick, Forget, Suspects and Stats (one goroutine,
// or one mutex).
//
// # Who is judged
//
// Evidence is attributed to an actor: the Source (switch, port, MAC) where
// the packet entered plus the source address it carried. A host on its own
// port is one actor. A router port carries many addresses, each its own
// actor, so one Internet scanner behind the gateway is told apart from the
// rest. Each Source owns at most Config.MaxIPsPerSource address actors;
// packets from further addresses (a spoofed-source flood, nmap decoys past the
// cap) are pooled in the Source's overflow actor, so spoofing cannot grow
// memory and cannot dilute evidence below a threshold either. Every Verdict
// names the Source; the policy decides whether the address may be trusted
// (spoofed addresses, idle-scan zombies and decoys appear in IPs, but the
// Source is always where the probes came in).
//
// A verdict comes at most once per actor until Forget. A Source therefore
// yields one verdict per address it is decided for: several for a router
// with several scanners behind it, and also several for an nmap -D scan,
// whose decoy addresses are decided like the real one (all naming the
// attacker's Source). Consumers must treat a second verdict for a Source
// they already block as a no-op.
//
// # Threshold Random Walk
//
// Jung, Paxson, Berger and Balakrishnan, "Fast Portscan Detection Using
// Sequential Hypothesis Testing", IEEE S&P 2004: "a remote source r ...
// we test the hypothesis H1 (scanner) against H0 (benign) using the outcomes
// of its first-contact connection attempts", updating the likelihood ratio by
// theta1/theta0 for a success and (1-theta1)/(1-theta0) for a failure, and
// deciding H1 when it reaches eta1 = beta/alpha. Defaults alpha 0.01, beta
// 0.99, theta0 0.8, theta1 0.2: a failure multiplies by 4, a success by 1/4,
// eta1 = 99, so four failed first contacts in a row decide.
//
// A first contact is a target the actor has not tried before (a benign client
// retrying a dead service counts once). Outcomes: SYN-ACK, SCTP INIT-ACK or
// any UDP/ICMP answer is a success; RST, SCTP ABORT, ICMP unreachable, or
// (TCP, SCTP, ICMP echo, ARP, ND) no answer within Config.NoAnswerTimeout is
// a failure. UDP and IP-protocol silence is weaker evidence: an open UDP port
// is usually silent, one-way protocols such as syslog exist, and a P2P client
// punching through NAT sends to several guessed ports of one peer
// (ndpi_gnutella: five ports of 118.168.15.71 in 160 ms, one answers). It
// counts as a failure only on the host walk, and only once that host has
// rejected one of the actor's probes with ICMP unreachable: a host that
// rejects closed ports and stays silent on others is rate-limiting its
// rejections, as Linux does (about one port unreachable a second), which is
// why nmap -sU against Linux sees most closed ports as "open|filtered". An answer is matched to the attempt by initiator,
// target, protocol and target port, not by the initiator's source port, so
// an application's retry from a new port that is answered makes the first
// try a success.
//
// Refusals decide a vertical UDP or IP-protocol scan on their own: a host
// that refused Config.RefusedPorts (3) distinct ports (protocols) of one
// actor with its own ICMP port (protocol) unreachable within a minute
// decides, whatever the ports that answered. The walk alone lets each answered port buy one more
// refusal, and each refusal is a closed port the scanner learned (nmap's
// top UDP ports include the DNS and NTP a scanner knows are open). For UDP
// the refusals decide once the actor has tried more than 5 distinct ports of
// that host within the minute: a poller checking five services, three of
// them down, is refused as often in its first round and then repeats the
// same ports (no first contacts); a scan goes on to new ports and is decided
// at the next one, having learned at most 5.
//
// Fan-out (fanout.go): first contacts to Config.FanoutPorts (6) distinct TCP
// ports of one host within 10 s decide port-scan whatever their outcomes,
// and 4 do once one of them was refused or unanswered by a live host. The
// walk lets every open port a connect scan tries first buy it one more
// failure; clients reach a few ports of a server (a browser: 80 and 443).
//
// The walk runs per dimension, not per actor: one walk per target host
// (vertical: new ports on that host) and one per service (horizontal: new
// hosts on that port, or on ICMP echo, ARP, ND). A scan enumerates one
// coordinate while holding the other; a peer-to-peer client dials (host,
// port) pairs it learned from peers, where both coordinates change together,
// so no single walk sees its failures pile up (ndpi_gnutella: 136 pairs, 130
// hosts, 127 ports, 56% failures, and no verdict). A scanner that draws both
// the host and the port at random for every probe is not caught by the walk;
// the nmap probe signatures below still catch nmap doing it.
//
// On the host walk, silence counts as a failure only when the host has sent
// anything (to anyone) in the last ten minutes: a host that answers nobody is
// down, a monitoring poller checking its services is not scanning, and a
// scanner learns nothing from it; an ICMP unreachable sent by a router for
// the target (host unreachable, prohibited) is taken like silence. RST and
// the target's own port or protocol unreachable always count, and so does
// silence on the service walk (sweeping dead addresses is what a
// horizontal scan does; the LBNL traces have no answers at all).
//
// The walk is floored at eta0 = (1-beta)/(1-alpha) instead of stopping at a
// benign decision, so a scanner cannot buy innocence with a few successful
// connections: from the floor it takes 7 net failures to decide. There is no
// time window: state persists until Config.IdleExpiry of silence (hours), so a
// scan at one probe a minute still accumulates.
//
// A first contact's life:
//
//	probe (SYN, INIT, UDP, echo, who-has, NS) to a target new for the actor
//	  |
//	  v
//	pending --answer (SYN-ACK, INIT-ACK, UDP reply, echo reply, is-at, NA)--> success: walks x 1/4
//	  |  \--RST, ABORT, ICMP unreachable-------------------------------------> failure: walks x 4
//	  |
//	  +--Tick past NoAnswerTimeout: TCP, SCTP, echo, ARP, ND -> failure (host walk: live hosts only)
//	                                UDP, IP protocol         -> failure on a rejecting host's walk, else nothing
//
//	any walk >= eta1 (99) -> Verdict (once per actor); walks never go below eta0
//
// # Single-packet and shape evidence
//
//   - Impossible TCP flags decide at once (stealth-scan): SYN with FIN or RST,
//     FIN with RST, and every segment without SYN, ACK and RST: FIN alone,
//     NULL (no flags), PSH/URG (Xmas and variants). RFC 9293 section 3.1 on
//     the acknowledgment number: "Once a connection is established, this is
//     always sent", so apart from the first SYN and a RST no conforming stack
//     sends a segment without ACK. The switch drops these (the watch table's
//     drop rules), so no answer ever follows them.
//   - Fragments (fragment.go): a tiny first fragment (too short for its
//     transport header, RFC 1858 section 3.1: nmap -f) or a fragment that
//     overlaps an earlier one of the same datagram (section 4) decides
//     stealth-scan at once; a first fragment with its whole header counts as
//     the whole datagram would.
//   - Stray segments, ACK alone, FIN|ACK (Maimon), PSH|ACK, URG|ACK, with or
//     without payload, to a flow the detector has not seen start, are normal after a
//     controller restart or flow expiry. Each one the target answers with RST
//     (it has no such connection: a closed port for FIN and Maimon, any
//     unfiltered port for ACK and window probes) counts once per target; any
//     other answer (the conversation is real) cancels it, and silence counts
//     for nothing, since the pipeline may not copy a conversation's answers
//     to the controller. Config.StealthMinProbes (3) distinct targets decide
//     stealth-scan.
//   - nmap's raw SYN scan: window 1024/2048/3072/4096 with an MSS option only,
//     from one source port. Config.SignatureProbes (3) such first contacts
//     decide port-scan (one host) or host-sweep, before any answer arrives.
//   - SYNs without any TCP option (RFC 9293 section 3.7.1: stacks offer their
//     MSS): masscan, zmap, hping3, scapy's TCP(), and Mirai-style bots in
//     scanng_23-tcp.pcap. Config.SignatureProbes of them decide the same way,
//     whatever their source ports.
//   - UDP or another IP protocol to an Ethernet group address carrying the
//     unicast address of a host heard from (no stack sends it; the owner
//     answers from its open ports and refuses nothing): Config.RefusedPorts
//     such ports (protocols) decide udp-scan (ip-proto-scan).
//   - nmap OS detection: the SEQ probes (windows 1, 63, 4, 16, 512 with
//     TSval 0xFFFFFFFF), ECN (SYN|ECE|CWR, window 3, urgent 0xF7F5), T2-T7
//     (windows 128, 256, 1024, 31337, 32768, 65535 with TSval 0xFFFFFFFF),
//     U1 (UDP with 300 'C' bytes), IE (echo with code 9, or TOS 4 and 150
//     bytes). Config.OSProbeMin (2) distinct shapes decide os-fingerprint.
//
// # What never counts
//
// Noisy services' own exchanges (Config.NoisyPorts: UDP between one listed
// port and itself, as NetBIOS, mDNS, LLMNR and SSDP peers talk, and DHCP's
// client/server pairs 68<->67 and 546<->547), multicast and broadcast
// destinations, DAD and gratuitous ARP, non-first fragments, and packets
// that answer an exchange the other side started (a DNS server answering
// many client ports is answering, not probing). A source port buys nothing:
// TCP first contacts always count, and so does UDP to any port but the
// service's own (nmap -g 53/67/137/5353 is judged like any scan). UDP to
// ports 33434-33534 is traceroute, whose probes reaching the destination are
// answered by port unreachable by design.
//
// # Evidence counts only where it entered
//
// The controller asks its switch's station table (forward.Switch.Attribute)
// whether a packet's source address and MAC live behind the port it entered
// at. A packet that contradicts it goes to ObserveSpoofed: it may still be a
// probe of the Source that sent it, but it answers nobody's attempt (a
// forged SYN-ACK, RST, UDP answer or ICMP error resolves nothing, marks no
// conversation as established, and makes no address look alive). A packet
// from an attempt's own Source never answers it either: no station answers
// itself through the switch. Nor does one that entered at another port of
// its switch than the station its probe was sent to (station.go): a probe to
// h2's MAC reaches h2's port only, whatever address the "answer" claims.
//
// # MAC rotation
//
// A MAC new at the port of a scanner decided within 10 minutes, whose first
// TCP first contact goes to a host that scanner probed, is the scanner again
// and is decided at once (rotation.go).
//
// # Meter-aware silence
//
// Answers reach the detector through meters. ReplyLoss reports that a meter
// dropped answer copies (per switch port, or the UDP meter shared by probes
// and answers); an attempt whose wait overlaps a loss on the path of its
// answer expires as unknown (Stats.Unknown), not as a failure. See loss.go.
// Probes a port's budget dropped were never copied nor answered; a reading
// of many dropped by the ICMP or other-protocol budget of a port with one
// station is evidence against that station (BudgetDropped, budgetdrop.go).
//
// ARP and ND lookups from a router are not sweeps: a router resolves next
// hops for the traffic it forwards (zeek_wikipedia.pcap's gateway asks for
// four silent addresses in ten seconds). A Source counts as a router for a
// family once its frames carried a third distinct IPv4 address, or a third
// distinct IPv6 /64 (a host has one IPv4 address, two across a DHCP change,
// and one or two /64s; link-local, unspecified and spoofed sources are
// ignored), and packets to two distinct addresses were sent to its MAC from
// elsewhere, before or after its frames carried them (answers routed back
// through it, or the requests they answer): a host that makes up source
// addresses gets no answers for them through its MAC.
//
// # Sweeps
//
// ARP requests and neighbour solicitations (lookups) fail after 0.5 s
// unanswered (0.25 s for the lookups of a burst: more than four first
// contacts within half a second), echo, timestamp and mask requests after
// 1 s, not after
// Config.NoAnswerTimeout: a neighbour answers within milliseconds and a
// stack asks again after 1 s (RFC 4861 RETRANS_TIMER). Lookups have a walk of their own with
// theta0 0.9 and theta1 0.6 (a benign host's lookups are nearly all
// answered; a sweeper's success rate is the share of live addresses, and
// the switch's lookup budget lets more live first contacts through than
// that share, since a sweeper retries its dead addresses into it): a
// failure multiplies by 4 as elsewhere, a success by 2/3. Anonymous lookups
// (ARP probes from 0.0.0.0, duplicate address detection from ::) count only
// when answered: a host checking its new address meets no answer, a sweeper
// without an address of its own meets one at every live address; three
// decide. See discover.go and ../../docs/pipeline.md for the switch's
// per-port lookup budgets.
//
// # Bounds
//
// Actors (Config.MaxActors), addresses per Source (Config.MaxIPsPerSource)
// and pending attempts (Config.MaxPending) are capped; the least recently
// seen actor and the oldest pending attempt are evicted and counted in Stats.
// Per-actor state is fixed-size (about 4 KiB: walk slots, a two-generation
// set of recent targets, evidence, per-host fan-out counts), and released actors are reused, so
// Observe does not allocate in steady state (BenchmarkObserve). With the
// defaults, a flood of 1e6 distinct Sources keeps the heap under 50 MiB
// (TestMemoryBoundedUnderMillionSources).
//
// # SYN floods
//
// A flood at one port (hping3 --flood -S) is not a scan: one target, and an
// open port answers every SYN. It is seen in the switch instead: each port's
// SYNs pass a counter flow that the controller reads every second, and Flood
// (flood.go), fed those readings with their time, decides once per episode
// when a port's rate holds at FloodConfig.SYNRate for FloodConfig.Sustain.
// Benign clients open hundreds of connections a second at most, in bursts;
// hping3 --flood sends 80 000-200 000 a second here. The caller attributes
// the port to its station; on a port shared by several stations it counts
// each station's SYNs for a while (its own Flood) to find the sender.
//
// # Tests
//
// testdata/*.txt are scenario scripts (see scenario_test.go for the
// language), each citing the rule it checks; testdata/nmap holds captures of
// real nmap scans made for this package; the shared captures in
// ../../../shared/pcaps (or $PORTCULLIS_PCAPS) are replayed against their
// manifest.
package detect
