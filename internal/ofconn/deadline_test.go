package ofconn_test

import (
	"testing"
	"time"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

// The writer goroutine's write deadline does not outlive its batch: the
// reader's answers (raw writes, which honour the socket's deadline) to a
// switch that spoke only after WriteTimeout of quiet still go out. A
// deadline left set closed every quiet session (a cluster's follower, whose
// switch sends it no packet-ins) with "write: i/o timeout" at the first echo
// reply WriteTimeout after the last batch: every 10 to 15 s.
func TestQuietSessionAnswersAfterWriteTimeout(t *testing.T) {
	ts := startServer(t, ofconn.Config{WriteTimeout: 100 * time.Millisecond, EchoInterval: time.Minute}, nil)
	sw, s := connect(t, ts, ofconntest.Config{DPID: 1})
	if err := s.Barrier(ctxWait(t)); err != nil { // a batch through the writer goroutine
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	for i := range 2 {
		if err := sw.Send(uint32(80+i), &ofp.EchoRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := sw.WaitFor(ctxWait(t), ofp.TypeEchoReply); err != nil {
			t.Fatalf("echo %d after a quiet spell: %v (session: %v)", i, err, s.Err())
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("session closed: %v", err)
	}
}
