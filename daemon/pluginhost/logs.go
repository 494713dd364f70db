package pluginhost

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
)

// logWriter turns a plugin's stderr lines into the daemon's log records,
// tagged with the plugin name. Lines in the SDK's JSON form keep their level,
// message and attributes; anything else is logged as it is.
type logWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64*1024 { // a plugin writing one endless line
		w.line(w.buf)
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *logWriter) line(b []byte) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return
	}
	var m map[string]any
	if b[0] != '{' || json.Unmarshal(b, &m) != nil {
		w.log.Info(string(b))
		return
	}
	level := slog.LevelInfo
	switch m["@level"] {
	case "trace", "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	msg, _ := m["@message"].(string)
	attrs := make([]slog.Attr, 0, len(m))
	for k, v := range m {
		if len(k) > 0 && k[0] == '@' {
			continue
		}
		attrs = append(attrs, slog.Any(k, v))
	}
	w.log.LogAttrs(context.Background(), level, msg, attrs...)
}
