package cdr

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

type logBuf struct {
	mu sync.Mutex
	sb strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.Write(p)
}
func (l *logBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.sb.String() }

func testLog() (*slog.Logger, *logBuf) {
	b := &logBuf{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

func open(t *testing.T, dir string, opts SpoolOptions, names ...string) *Spool {
	t.Helper()
	if opts.SegmentBytes == 0 {
		opts.SegmentBytes = 1 << 20
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = 64 << 20
	}
	log, _ := testLog()
	s, err := OpenSpool(dir, names, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rec(i int) []byte {
	b, _ := proto.Marshal(&pluginv1.CallRecord{Id: fmt.Sprintf("vg-%04d", i), Disposition: "answered"})
	return b
}

func ids(t *testing.T, es []Entry) []string {
	var out []string
	for _, e := range es {
		if e.Payload == nil {
			out = append(out, "<skipped>")
			continue
		}
		r := &pluginv1.CallRecord{}
		if err := proto.Unmarshal(e.Payload, r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.GetId())
	}
	return out
}

func readAll(t *testing.T, s *Spool, name string) []Entry {
	es, err := s.Read(name, s.Position(name), 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// Records survive a reopen; each exporter has its own position, kept across
// reopen; segments go once every exporter is past them.
func TestSpoolAppendReadCommitReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, SpoolOptions{SegmentBytes: 8 << 10}, "a", "b")
	for i := 0; i < 2000; i++ {
		if err := s.Append(context.Background(), rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if len(segs) < 3 {
		t.Fatalf("want several segments, have %d", len(segs))
	}
	es := readAll(t, s, "a")
	if len(es) != 2000 || ids(t, es)[1999] != "vg-1999" {
		t.Fatalf("read %d records", len(es))
	}
	if err := s.Commit("a", es[1499].End); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, dir, SpoolOptions{SegmentBytes: 8 << 10}, "a", "b")
	defer s.Close()
	if got := ids(t, readAll(t, s, "a")); len(got) != 500 || got[0] != "vg-1500" {
		t.Fatalf("after reopen a reads %d records from %v", len(got), got[:1])
	}
	if got := readAll(t, s, "b"); len(got) != 2000 {
		t.Fatalf("b should still have all 2000, has %d", len(got))
	}
	all := readAll(t, s, "b")
	if err := s.Commit("b", all[1999].End); err != nil {
		t.Fatal(err)
	}
	es = readAll(t, s, "a")
	s.Commit("a", es[len(es)-1].End)
	left, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if len(left) != 1 {
		t.Fatalf("%d segments left after both exporters caught up, want only the active one", len(left))
	}
}

// A torn last record (a crash mid-append) is cut off with a log line and
// everything before it is kept.
func TestSpoolTornTail(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, SpoolOptions{}, "a")
	for i := 0; i < 10; i++ {
		s.Append(context.Background(), rec(i))
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	info, _ := os.Stat(segs[0])
	if err := os.Truncate(segs[0], info.Size()-5); err != nil {
		t.Fatal(err)
	}
	log, buf := testLog()
	s, err := OpenSpool(dir, []string{"a"}, SpoolOptions{SegmentBytes: 1 << 20, MaxBytes: 64 << 20}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := ids(t, readAll(t, s, "a"))
	if len(got) != 9 || got[8] != "vg-0008" {
		t.Fatalf("after a torn tail read %v", got)
	}
	if !strings.Contains(buf.String(), "torn") {
		t.Fatalf("no log line about the torn record:\n%s", buf.String())
	}
	// Appending after the repair works and reads back in order.
	s.Append(context.Background(), rec(99))
	if got := ids(t, readAll(t, s, "a")); got[9] != "vg-0099" {
		t.Fatalf("after repair %v", got)
	}
}

// A damaged record in the middle is skipped with a log line; its neighbours
// are read intact.
func TestSpoolDamagedRecordSkipped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, SpoolOptions{}, "a")
	for i := 0; i < 5; i++ {
		s.Append(context.Background(), rec(i))
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	b, _ := os.ReadFile(segs[0])
	one := len(b) / 5
	b[2*one+recHeaderLen+3] ^= 0xff // flip a byte in the third record's payload
	os.WriteFile(segs[0], b, 0o640)
	log, buf := testLog()
	s, err := OpenSpool(dir, []string{"a"}, SpoolOptions{SegmentBytes: 1 << 20, MaxBytes: 64 << 20}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := ids(t, readAll(t, s, "a"))
	want := []string{"vg-0000", "vg-0001", "<skipped>", "vg-0003", "vg-0004"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("read %v, want %v", got, want)
	}
	if !strings.Contains(buf.String(), "damaged") {
		t.Fatalf("no log line about the damaged record:\n%s", buf.String())
	}
}

// At the bound: reject-calls reports Full; drop-oldest deletes the oldest
// segment and reports every dropped record.
func TestSpoolBound(t *testing.T) {
	s := open(t, t.TempDir(), SpoolOptions{SegmentBytes: 64 << 10, MaxBytes: 128 << 10}, "slow")
	for i := 0; s.Size() < 128<<10 && i < 100000; i++ {
		s.Append(context.Background(), rec(i))
	}
	if !s.Full() {
		t.Fatal("spool over its bound does not report Full")
	}
	s.Close()

	var dropped []string
	var mu sync.Mutex
	s2 := open(t, t.TempDir(), SpoolOptions{SegmentBytes: 64 << 10, MaxBytes: 128 << 10, DropOldest: true,
		OnDrop: func(p []byte) {
			r := &pluginv1.CallRecord{}
			proto.Unmarshal(p, r)
			mu.Lock()
			dropped = append(dropped, r.GetId())
			mu.Unlock()
		}}, "slow")
	defer s2.Close()
	n := 0
	for ; n < 6000; n++ {
		s2.Append(context.Background(), rec(n))
	}
	if s2.Full() {
		t.Fatal("drop-oldest spool reports Full")
	}
	if s2.Size() > 128<<10+64<<10 {
		t.Fatalf("drop-oldest spool is %d bytes", s2.Size())
	}
	kept := ids(t, readAll(t, s2, "slow"))
	mu.Lock()
	defer mu.Unlock()
	if len(dropped)+len(kept) != n || dropped[0] != "vg-0000" || kept[len(kept)-1] != fmt.Sprintf("vg-%04d", n-1) {
		t.Fatalf("dropped %d + kept %d != %d written", len(dropped), len(kept), n)
	}
}

// Calls in progress when the daemon died come back as interrupted records.
func TestJournalRecovery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.journal")
	log, _ := testLog()
	j, err := OpenJournal(path, log)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		r := &pluginv1.CallRecord{Id: fmt.Sprintf("vg-%d", i), StartTime: "2026-11-25T07:00:00.000Z"}
		if err := Wait(context.Background(), j.Begin(r)); err != nil {
			t.Fatal(err)
		}
	}
	j.Answer(&pluginv1.CallRecord{Id: "vg-1", AnswerTime: "2026-11-25T07:00:01.000Z", Codec: "PCMA"})
	j.End("vg-0")
	j.End("vg-3")
	if err := Wait(context.Background(), j.Begin(&pluginv1.CallRecord{Id: "sync"})); err != nil {
		t.Fatal(err)
	}
	j.End("sync")
	// No Close: as after kill -9.
	time.Sleep(50 * time.Millisecond)
	recs, err := RecoverJournal(path, "box")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.GetId())
		if r.GetDisposition() != Interrupted || r.GetEndTime() == "" || r.GetHostname() != "box" {
			t.Fatalf("record %v", r)
		}
		if r.GetId() == "vg-1" && (r.GetAnswerTime() == "" || r.GetBillableMs() <= 0 || r.GetCodec() != "PCMA") {
			t.Fatalf("answered call lost its answer: %v", r)
		}
	}
	if strings.Join(got, ",") != "vg-1,vg-2,vg-4" {
		t.Fatalf("interrupted %v, want vg-1,vg-2,vg-4", got)
	}
	j.Close()
	j2, _ := OpenJournal(path, log)
	j2.Close()
	if recs, _ := RecoverJournal(path, ""); len(recs) != 0 {
		t.Fatalf("a fresh journal still holds %d calls", len(recs))
	}
}
