package sdk

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// go-plugin's host parses a plugin's stderr lines as hclog JSON: @message,
// @level and @timestamp in exactly hclogTimeFormat. A line it cannot parse
// is logged as raw text at debug level, so the daemon would lose every
// plugin's warnings and errors below its default level.
func TestLogLinesAreWhatGoPluginParses(t *testing.T) {
	var buf bytes.Buffer
	l := newLogger(&buf)
	l.Debug("d")
	l.Info("i", "call_id", "c1")
	l.Warn("w")
	l.Error("e", "n", 3)

	want := []struct{ msg, level string }{{"d", "debug"}, {"i", "info"}, {"w", "warn"}, {"e", "error"}}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), buf.Bytes())
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i, err, line)
		}
		if m["@message"] != want[i].msg || m["@level"] != want[i].level {
			t.Errorf("line %d: @message %v @level %v, want %q %q", i, m["@message"], m["@level"], want[i].msg, want[i].level)
		}
		ts, ok := m["@timestamp"].(string)
		if !ok {
			t.Fatalf("line %d: no @timestamp string: %s", i, line)
		}
		// The layout go-plugin v1.8 uses in parseJSON (log_entry.go).
		if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", ts); err != nil {
			t.Errorf("line %d: go-plugin cannot parse @timestamp: %v", i, err)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; ok {
				t.Errorf("line %d has slog's %q key: %s", i, k, line)
			}
		}
	}
	var m map[string]any
	json.Unmarshal(lines[1], &m)
	if m["call_id"] != "c1" {
		t.Errorf("attribute lost: %s", lines[1])
	}
}
