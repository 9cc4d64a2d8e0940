// Package web is Portcullis's live dashboard: one page of HTML, CSS and
// vanilla JavaScript embedded in the binary (no CDN, no build step). The page
// uses only the public REST API of internal/api, so the API listener serves it
// with api.Options{Dashboard: web.Handler()}.
//
// The page draws the switches and hosts as a picture of the network (blocked
// hosts in red), follows the event stream, lists active blocks with a
// one-click unblock (asking for the API token once and keeping it in
// sessionStorage), shows suspects with their score, and charts packet-ins,
// probes and blocks per minute.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// csp allows nothing but our own files and API: no inline script, no
// third-party origin.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the dashboard's files. It is safe for concurrent use.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic("web: " + err.Error()) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
