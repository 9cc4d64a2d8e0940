package controller

import (
	"bytes"

	"portcullis/internal/config"
	"portcullis/internal/notice"
)

// noticeSettings is what notifyVictims seals and sends notices with
// (notify.notice). Reload replaces it whole (c.notice), so a notice is
// sealed with one key and sent to one port, the old ones or the new.
type noticeSettings struct {
	key  []byte // nil: notices are off
	port uint16 // UDP port, source and destination
}

// loadNotice reads notify.notice: the key (from key_file, read again on
// every call, or inline) and the port.
func loadNotice(n config.Notice) (*noticeSettings, error) {
	s := &noticeSettings{port: n.Port}
	if s.port == 0 {
		s.port = notice.DefaultPort
	}
	if !n.Enabled() {
		return s, nil
	}
	k, err := loadNoticeKey(n)
	if err != nil {
		return nil, err
	}
	s.key = k
	return s, nil
}

// sameKey reports whether a and b seal notices with the same key.
func (s *noticeSettings) sameKey(o *noticeSettings) bool {
	return s != nil && o != nil && bytes.Equal(s.key, o.key)
}
