// Package httpstatus records the status code an HTTP handler writes, for
// request logs and metrics. It imports nothing of ours.
package httpstatus

import "net/http"

// Recorder wraps a ResponseWriter and remembers the first status written
// (200 if the handler wrote a body without one). Flush and Unwrap pass
// through, so server-sent event streams and http.ResponseController work.
type Recorder struct {
	http.ResponseWriter
	Status int // 0 until the handler writes
}

// WriteHeader records code and passes it on.
func (r *Recorder) WriteHeader(code int) {
	if r.Status == 0 {
		r.Status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and passes b on.
func (r *Recorder) Write(b []byte) (int, error) {
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush flushes the underlying writer if it can.
func (r *Recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the underlying writer.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
