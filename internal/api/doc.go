// Package api is Portcullis's REST API (/api/v1, JSON) over a Backend
// interface that the controller implements. It imports nothing of ours: the
// DTO types here are the stable wire schema, and the controller converts its
// own state into them.
//
// Routes (see New):
//
//	GET    /healthz                  200 "ok"
//	GET    /api/v1/status            Status
//	GET    /api/v1/switches          {"switches":[Switch]}
//	GET    /api/v1/hosts             {"hosts":[Host]}
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
// Every error is {"error":{"code":"...","message":"..."}} with a 4xx or 5xx
// status; bad input changes nothing.
//
// Authorization: every change needs "Authorization: Bearer TOKEN" with one of
// Options.Tokens (compared in constant time). With no tokens configured,
// changes are refused. Reads need a token too, unless OpenReadsOnLoopback is
// set and the client connects from a loopback address. /healthz and the
// dashboard's static files are always open; the dashboard then uses the API
// like any other client.
//
// The handler returned by New is safe for concurrent use. The SSE stream
// clears the connection's write deadline, so a server WriteTimeout does not
// cut it off; it ends when the request's context ends (the client goes away)
// or the backend closes the subscription. http.Server.Shutdown waits for
// active requests, so give the server a BaseContext that is cancelled at
// shutdown (or close the subscriptions) to end open streams.
package api
