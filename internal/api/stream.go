package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// MaxReplay bounds the events replayed to an SSE client that reconnects with
// Last-Event-ID (or ?after_id).
const MaxReplay = 1000

// stream serves GET /api/v1/events/stream as server-sent events:
//
//	id: 42
//	data: {"id":42,"time":"...","type":"blocked",...}
//
// One "message" event per Event (the type is inside the data, so a browser
// needs only onmessage). A client that reconnects with Last-Event-ID (or
// passes ?after_id) first gets the recorded events after that id. Comment
// lines keep idle connections open.
func (s *server) stream(w http.ResponseWriter, r *http.Request) {
	f, err := parseEventQuery(r.URL.Query(), false)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	replay := r.URL.Query().Has("after_id")
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			f.AfterID = n
			replay = true
		}
	}
	if !s.opts.Streams.acquire() {
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable,
			"too many event streams are open (api.max_streams); try again later")
		return
	}
	defer s.opts.Streams.release()
	rc := http.NewResponseController(w)
	// The server's ReadTimeout must not end the stream (a read deadline
	// that passes cancels the request), nor its WriteTimeout: each write
	// gets StreamWriteTimeout instead.
	_ = rc.SetReadDeadline(time.Time{})
	extend := func() { _ = rc.SetWriteDeadline(time.Now().Add(StreamWriteTimeout)) }
	extend()

	// Subscribe before reading the backlog so nothing falls between them;
	// duplicates are skipped by id.
	ch, cancel := s.b.SubscribeEvents()
	defer cancel()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	var buf bytes.Buffer
	last := f.AfterID
	mf := f
	mf.AfterID = 0 // ids are checked against last
	send := func(e Event) bool {
		if e.ID != 0 && e.ID <= last {
			return true
		}
		if !mf.Match(e) {
			return true
		}
		buf.Reset()
		data, err := json.Marshal(e)
		if err != nil {
			return true
		}
		buf.WriteString("id: ")
		buf.WriteString(strconv.FormatUint(e.ID, 10))
		buf.WriteString("\ndata: ")
		buf.Write(data)
		buf.WriteString("\n\n")
		extend()
		if _, err := w.Write(buf.Bytes()); err != nil {
			return false
		}
		if e.ID > last {
			last = e.ID
		}
		return true
	}
	// Tell the browser how long to wait before reconnecting.
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return
	}
	if replay {
		bf := f
		bf.Limit = MaxReplay
		for _, e := range s.b.Events(bf) {
			if !send(e) {
				return
			}
		}
	}
	if err := rc.Flush(); err != nil {
		return
	}
	tick := time.NewTicker(s.keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-ch:
			if !ok {
				return
			}
			if !send(e) {
				return
			}
			// Send what else is queued with the same flush.
			for n := 0; n < 64; n++ {
				select {
				case e, ok := <-ch:
					if !ok {
						rc.Flush()
						return
					}
					if !send(e) {
						return
					}
					continue
				default:
				}
				break
			}
			if err := rc.Flush(); err != nil {
				return
			}
		case <-tick.C:
			extend()
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}
