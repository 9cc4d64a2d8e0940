package controller

import (
	"net/http"

	"portcullis/internal/web"
)

// dashboard returns the embedded web UI handler.
func dashboard() http.Handler { return web.Handler() }
