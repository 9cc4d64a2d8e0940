// Package ofconn runs the OpenFlow 1.3 channel between Portcullis and its
// switches: a listener (plain TCP or mutual TLS), one Session per switch,
// the handshake, echo keepalive in both directions, xid -> reply matching
// with multipart reassembly, barriers, and a bounded write queue.
//
// # Usage
//
//	srv := ofconn.NewServer(ofconn.Config{Listen: ":6653"}, handler, logger)
//	err := srv.ListenAndServe(ctx) // returns when ctx is done; all sessions closed
//
// Listen binds first when the address must be known early (Addr, tests on
// ":0"); ServeConn runs a session on any net.Conn (net.Pipe in fuzzing).
// With Config.TLS (see ServerTLSConfig) every switch must present a client
// certificate from the configured CA.
//
// The Handler sees each switch once its handshake is done (Connected), then
// every asynchronous message it sends (Message), then its end (Disconnected).
// Sessions send with Send (queue, never blocks), Request (wait for the reply
// with the same xid) and Barrier.
//
// Malformed input from a switch (garbage, a wrong version, a length below 8
// or above Config.MaxMessageLen, a body the codec rejects) is answered with
// the OFPT_ERROR the spec asks for, carrying the first 64 bytes of the
// offending message, logged with the switch's dpid and address, and closes
// that session only (the Disconnected error is a *ProtocolError). A
// truncated or stalled message ends the session by the handshake timeout or
// the echo keepalive.
//
// # Session life cycle
//
//	accept --(TLS handshake)--> hello --HELLO with 1.3--> features --FEATURES_REPLY-->
//	  ports --last PORT_DESC part--> claim --identity ok, DPID free--> Connected
//	  --(messages)--> closing --> Disconnected
//	hello --HELLO without 1.3--> OFPT_ERROR HELLO_FAILED/INCOMPATIBLE, closed
//	claim --certificate lacks the DPID's identity / DPID held by a session
//	  that answers echo--> OFPT_ERROR HELLO_FAILED/EPERM, closed (RefusedError)
//	any state --malformed message--> OFPT_ERROR (type/code from the spec), closed
//	any state --timeout / echo unanswered / Close / replaced by same DPID--> closed
//
// A session whose handshake never finished, or that was refused, is closed
// without Connected or Disconnected calls (a Handler that implements
// RefusalHandler hears of refusals). Disconnected is called exactly once for
// every session that got Connected, after its reader and writer have stopped.
//
// # Claiming a datapath id
//
// A switch names its datapath id in FEATURES_REPLY, and any client that
// reaches the listener can name any id. A new connection that claims the id
// of a connected session does not replace it outright: the server sends the
// old session an ECHO_REQUEST and waits up to Config.ProbeTimeout. If the old
// switch answers, or sends anything meanwhile, it is alive and the newcomer
// is refused (ErrDPIDInUse). If it does not (a switch that reconnected after a network break, whose old TCP
// connection we have not seen die), the old session is closed (ErrReplaced)
// and its Disconnected returns before Connected is called for the new one, so
// a Handler sees each datapath's sessions strictly one after another. Claims
// on one id are settled one at a time. With TLS, Config.Identities binds
// datapath ids to certificate identities, checked before the echo probe:
// without it, any certificate of the CA can claim any id.
//
// # Concurrency contract
//
// Each session has exactly two goroutines: a reader and a writer. The reader
// reads what the socket holds into its buffer (plain TCP after the handshake:
// one recvmsg per batch, waiting when TCP_INQ says the socket is empty,
// rawio.go), takes the whole messages from it one at a time, answers
// ECHO_REQUEST itself, completes pending requests and calls Handler.Message in
// the order the switch sent the messages. Session.Close may be called from a
// handler. A message passed
// to Handler.Message aliases the read buffer: it is valid only during the
// call (a packet-in is the session's own ofp.PacketIn, decoded anew for the
// next one with ofp.UnmarshalPacketIn). Never fan messages of one switch out to workers: barrier and echo
// semantics depend on order.
//
// Session.Send never blocks: it encodes the messages at once (so they may
// alias buffers that change after Send returns, such as a packet-in being
// answered) into the session's bounded queue, and the writer drains
// everything queued with one Write. While the reader handles messages it
// holds the writer back; when no whole message is left buffered it writes
// the queue itself (plain TCP: raw non-blocking system calls, rawio.go),
// and what the socket does not take goes back to the writer. A full queue returns ErrQueueFull: a
// switch that does not read its socket loses messages, the process does not
// stall. Request and Barrier block until the reply, the context's end or the
// session's end; they must not be called from Handler.Connected or
// Handler.Message (the reply is read by the goroutine that runs the
// handler): start a goroutine for them. All Session and Server methods are
// safe for concurrent use.
//
// A panic on a session's goroutine (a decoder bug, a handler bug) is
// recovered, logged with its stack, counted in ServerStats.Panics and
// closes that session only.
package ofconn
