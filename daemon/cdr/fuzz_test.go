package cdr

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// FuzzSpoolSegment opens a spool whose segment holds arbitrary bytes (a
// crash, a bad disk, a hand-edited file) and reads it: never a panic, and
// what is read is whole records.
func FuzzSpoolSegment(f *testing.F) {
	good := encodeRecord(nil, rec(1))
	f.Add(good)
	f.Add(append(encodeRecord(nil, rec(1)), encodeRecord(nil, rec(2))[:7]...))
	f.Add([]byte("VGR1\xff\xff\xff\xffxxxx"))
	f.Add(append([]byte("garbage"), good...))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "seg-0000000000000001.log"), data, 0o640); err != nil {
			t.Fatal(err)
		}
		s, err := OpenSpool(dir, []string{"a"}, SpoolOptions{SegmentBytes: 1 << 20, MaxBytes: 1 << 30}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		es, _ := s.Read("a", s.Position("a"), 1000)
		for _, e := range es {
			if len(e.Payload) > MaxRecordBytes {
				t.Fatalf("record of %d bytes", len(e.Payload))
			}
		}
	})
}

// FuzzJournal recovers calls from an arbitrary journal file without panics.
func FuzzJournal(f *testing.F) {
	f.Add(encodeRecord(nil, append([]byte{jStart}, rec(1)...)))
	f.Add([]byte{})
	f.Add([]byte("VGR1\x00\x00\x00\x01\x00\x00\x00\x00S"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "live.journal")
		if err := os.WriteFile(path, data, 0o640); err != nil {
			t.Fatal(err)
		}
		recs, err := RecoverJournal(path, "h")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.GetId() == "" || r.GetDisposition() != Interrupted {
				t.Fatalf("bad recovered record %v", r)
			}
		}
	})
}
