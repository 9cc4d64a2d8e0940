// Package api is Portcullis's REST API (/api/v1, JSON) over a Backend
// interface that the controller implements. It imports nothing of ours but
// internal/dpid (the one datapath-id grammar): the
// DTO types here are the stable wire schema, and the controller converts its
// own state into them.
//
// Routes (see New):
//
//	GET    /healthz                  200 "ok"
//	GET    /api/v1/status            Status
//	GET    /api/v1/switches          {"switches":[Switch]}
//	GET    /api/v1/hosts             {"hosts":[Host]}; ?dpid=&limit= add "total" and "more"
//	GET    /api/v1/suspects          {"suspects":[Suspect]}
//	GET    /api/v1/blocks            {"blocks":[Block]}
//	POST   /api/v1/blocks            BlockRequest -> 201 Block            (token)
//	DELETE /api/v1/blocks/{id}       204                                   (token)
//	GET    /api/v1/allowlist         {"allowlist":[AllowEntry]}
//	POST   /api/v1/allowlist         AllowEntry -> 201 AllowEntry          (token)
//	DELETE /api/v1/allowlist/{id}    204                                   (token)
//	GET    /api/v1/events            EventPage; ?limit=&after_id=&type=&since=&until=&newest=
//	GET    /api/v1/events/stream     text/event-stream of Event; ?type=, Last-Event-ID
//	GET    /api/v1/stats             Stats
//	GET    /metrics                  Options.MetricsHandler, if set
//	GET    /                         Options.Dashboard, if set
//
// Large networks (scale.go): GET /api/v1/status asks a Backend that
// implements Counter for its counts instead of building every list to
// count it, and GET /api/v1/hosts?dpid=&limit= asks one that implements
// HostQuerier for a switch's hosts and a page; a Backend without them is
// served from its lists (FilterHosts), so the answers are the same. With
// dpid or limit the host list also carries "total" (hosts that match) and
// "more" (the limit left some out); without them the answer is as before.
//
// An AllowEntry's "ports" list single ports as numbers and ranges as "LO-HI"
// strings ([22, "8000-8100"], PortRanges): GET shows a configured range as
// configured, and POST takes the same.
//
// Every error is {"error":{"code":"...","message":"..."}} with a 4xx or 5xx
// status; bad input changes nothing.
//
// Safe by default (safety.go):
//   - Host: a request must name an IP address, localhost (or a name under
//     it) or one of Options.AllowedHosts; any other Host gets 403, whatever
//     the path. A page whose DNS name was rebound to 127.0.0.1 sends its own
//     name, so it cannot read the API from a browser on this host.
//   - Authorization: every change needs "Authorization: Bearer TOKEN" with
//     one of Options.Tokens (compared in constant time); with no tokens
//     configured, changes are refused. Reads need a token too, unless
//     OpenReadsOnLoopback is set, the peer is a loopback address, the Host
//     is a loopback name or address, and no proxy header (Forwarded,
//     X-Forwarded-For, X-Forwarded-Host, X-Real-IP) is present: a reverse
//     proxy on the same host does not make reads public. /healthz and the
//     dashboard's static files need no token; the dashboard then uses the
//     API like any other client.
//   - Streams: at most Options.Streams event streams at once (503 with
//     Retry-After beyond).
//   - NewServer: read-header, read, write and idle timeouts.
//
// The handler returned by New is safe for concurrent use. The SSE stream
// clears the connection's read deadline and gives each write its own
// deadline (StreamWriteTimeout), so the server's ReadTimeout and
// WriteTimeout do not cut it off while a client that stops reading is
// dropped; it ends when the request's context ends (the client goes away)
// or the backend closes the subscription. http.Server.Shutdown waits for
// active requests, so give the server a BaseContext that is cancelled at
// shutdown (NewServer's base) to end open streams.
package api
