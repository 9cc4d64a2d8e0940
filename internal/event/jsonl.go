package event

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// JSONLines writes one JSON object per line (the schema of docs/events.md).
type JSONLines struct {
	w     io.Writer
	close func() error
	buf   []byte
}

var _ Sink = (*JSONLines)(nil)

// NewJSONLines writes to w; Close does not close w.
func NewJSONLines(w io.Writer) *JSONLines {
	return &JSONLines{w: w, close: func() error { return nil }}
}

// OpenJSONLines appends to the file at path (created with mode 0600), or
// writes to standard output when path is "-".
func OpenJSONLines(path string) (*JSONLines, error) {
	if path == "-" {
		return NewJSONLines(os.Stdout), nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("event: open JSON lines file: %w", err)
	}
	return &JSONLines{w: f, close: f.Close}, nil
}

// Write writes e as one line with a single Write call, so concurrent
// appenders to the same file never interleave within a line.
func (j *JSONLines) Write(_ context.Context, e Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("event: encode: %w", err)
	}
	j.buf = append(append(j.buf[:0], b...), '\n')
	if _, err := j.w.Write(j.buf); err != nil {
		return fmt.Errorf("event: write JSON line: %w", err)
	}
	return nil
}

// Close closes the file opened by OpenJSONLines.
func (j *JSONLines) Close() error { return j.close() }
