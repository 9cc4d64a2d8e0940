package controller

import "net/http"

// dashboard returns the embedded web UI handler.
func dashboard() http.Handler { return nil }
