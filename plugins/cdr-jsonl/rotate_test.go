package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voxgate/voxgate/sdk"
	"github.com/voxgate/voxgate/sdk/sdktest"
)

// clock is a settable clock. Export runs on the gRPC server's goroutines,
// so it is guarded.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(s string) *clock {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &clock{t: t}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(s string) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// withClock serves an exporter whose rotation uses clk, configured with cfg.
func withClock(t *testing.T, clk *clock, cfg map[string]any) *sdktest.Conn {
	t.Helper()
	e := newExporter()
	e.now = clk.Now
	conn := sdktest.InProcess(t, e)
	if err := conn.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	return conn
}

func export(t *testing.T, conn *sdktest.Conn, ids ...string) {
	t.Helper()
	var recs []*sdk.CallRecord
	for _, id := range ids {
		recs = append(recs, record(id))
	}
	acked, err := conn.Export(recs...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acked, ids) {
		t.Fatalf("acked %v, want %v", acked, ids)
	}
}

func idsIn(t *testing.T, path string) []string {
	t.Helper()
	var ids []string
	for _, r := range readLines(t, path) {
		ids = append(ids, r.ID)
	}
	return ids
}

// rotatedNames lists the rotated files of path, oldest first, by base name.
func rotatedNames(t *testing.T, path string) []string {
	t.Helper()
	files, err := rotatedFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f.name))
	}
	return names
}

var rotatedName = regexp.MustCompile(`^cdr\.jsonl\.[0-9]{8}T[0-9]{6}Z(\.[0-9]+)?$`)

// Rotation by size across many batches: every record is in exactly one
// file, no batch is split between files, no file is over max_bytes unless a
// single batch is, and the names follow <path>.<UTC timestamp>[.<n>].
func TestRotateBySize(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cdr.jsonl")
	line := int64(len(mustMarshal(t, record("r000"))) + 1) // every id has 4 characters
	maxBytes := 3*line + line/2                            // room for 3 records
	clk := newClock("2026-11-25T10:15:00Z")                // every rotation in the same second
	conn := withClock(t, clk, map[string]any{"path": path, "max_bytes": maxBytes})

	batchOf := map[string]int{}
	var all []string
	for b := range 25 {
		var ids []string
		for range b%5 + 1 { // 1 to 5 records: some batches are bigger than max_bytes
			id := fmt.Sprintf("r%03d", len(all))
			ids = append(ids, id)
			all = append(all, id)
			batchOf[id] = b
		}
		export(t, conn, ids...)
	}

	names := rotatedNames(t, path)
	if len(names) < 10 {
		t.Fatalf("%d rotated files, want many: %v", len(names), names)
	}
	if names[0] != "cdr.jsonl.20261125T101500Z" || names[1] != "cdr.jsonl.20261125T101500Z.1" {
		t.Fatalf("rotated names %v, want cdr.jsonl.20261125T101500Z, then .1, .2, …", names)
	}
	files := append(names, "cdr.jsonl") // oldest first, the current file last
	var seen []string
	prevBatch := -1
	for _, name := range files {
		if name != "cdr.jsonl" && !rotatedName.MatchString(name) {
			t.Errorf("rotated file %q is not named <path>.<YYYYMMDDTHHMMSSZ>[.<n>]", name)
		}
		file := filepath.Join(dir, name)
		ids := idsIn(t, file)
		if len(ids) == 0 {
			t.Fatalf("%s is empty", name)
		}
		if b := batchOf[ids[0]]; b == prevBatch {
			t.Errorf("batch %d is split: it ends the previous file and starts %s", b, name)
		}
		prevBatch = batchOf[ids[len(ids)-1]]
		batches := map[int]bool{}
		for _, id := range ids {
			batches[batchOf[id]] = true
		}
		if st, _ := os.Stat(file); st.Size() > maxBytes && len(batches) > 1 {
			t.Errorf("%s has %d bytes (max_bytes %d) from %d batches", name, st.Size(), maxBytes, len(batches))
		}
		seen = append(seen, ids...)
	}
	// Every record exactly once across the files, in order.
	if !slices.Equal(seen, all) {
		t.Fatalf("records across the files\n%v\nwant each exactly once\n%v", seen, all)
	}
}

func mustMarshal(t *testing.T, r *sdk.CallRecord) []byte {
	t.Helper()
	b, err := newExporter().marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Daily rotation happens before the first batch after UTC midnight, and
// only then; the rotated file is named after the moment of rotation.
func TestRotateDaily(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cdr.jsonl")
	clk := newClock("2026-11-25T23:59:58Z")
	conn := withClock(t, clk, map[string]any{"path": path, "rotate_daily": true})
	export(t, conn, "a")
	clk.Set("2026-11-25T23:59:59Z")
	export(t, conn, "b")
	if names := rotatedNames(t, path); len(names) != 0 {
		t.Fatalf("rotated within the day: %v", names)
	}

	clk.Set("2026-11-26T00:00:03Z")
	export(t, conn, "c")
	clk.Set("2026-11-26T23:00:00Z")
	export(t, conn, "d")
	if names := rotatedNames(t, path); !slices.Equal(names, []string{"cdr.jsonl.20261126T000003Z"}) {
		t.Fatalf("rotated files %v, want [cdr.jsonl.20261126T000003Z]", names)
	}
	if got := idsIn(t, path+".20261126T000003Z"); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("the 25th's file holds %v, want [a b]", got)
	}
	if got := idsIn(t, path); !slices.Equal(got, []string{"c", "d"}) {
		t.Fatalf("the current file holds %v, want [c d]", got)
	}

	// A clock stepping back across midnight does not rotate.
	clk.Set("2026-11-25T23:00:00Z")
	export(t, conn, "e")
	if names := rotatedNames(t, path); len(names) != 1 {
		t.Fatalf("rotated when the clock stepped back: %v", names)
	}

	// Days without calls make no empty files: two days later, one rotation.
	clk.Set("2026-11-28T08:00:00Z")
	export(t, conn, "f")
	if names := rotatedNames(t, path); !slices.Equal(names, []string{"cdr.jsonl.20261126T000003Z", "cdr.jsonl.20261128T080000Z"}) {
		t.Fatalf("rotated files %v", names)
	}
	if got := idsIn(t, path+".20261128T080000Z"); !slices.Equal(got, []string{"c", "d", "e"}) {
		t.Fatalf("the 26th's file holds %v, want [c d e]", got)
	}
}

// After a restart, a file last written on an earlier day is rotated before
// the first batch; an empty one is not.
func TestRotateDailyAfterRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cdr.jsonl")
	if err := os.WriteFile(path, append(mustMarshal(t, record("old")), '\n'), 0o640); err != nil {
		t.Fatal(err)
	}
	yesterday := time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, yesterday, yesterday); err != nil {
		t.Fatal(err)
	}
	clk := newClock("2026-11-25T09:00:00Z")
	conn := withClock(t, clk, map[string]any{"path": path, "rotate_daily": true})
	export(t, conn, "new")
	if got := idsIn(t, path+".20261125T090000Z"); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("rotated file holds %v, want [old]", got)
	}
	if got := idsIn(t, path); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("current file holds %v, want [new]", got)
	}

	// An empty file from an earlier day is just used.
	path2 := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(path2, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path2, yesterday, yesterday)
	conn2 := withClock(t, clk, map[string]any{"path": path2, "rotate_daily": true})
	export(t, conn2, "x")
	if files, _ := filepath.Glob(path2 + ".*"); len(files) != 0 {
		t.Fatalf("an empty file was rotated: %v", files)
	}
}

// keep deletes the oldest rotated files beyond the count, ordering by the
// timestamp and then the numeric suffix (.10 is newer than .9), and leaves
// files that are not its rotations alone.
func TestKeep(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cdr.jsonl")
	others := []string{"cdr.jsonl.old", "cdr.jsonl.20200101T000000Z.gz", "other.jsonl.20200101T000000Z",
		"cdr.jsonl.20200101T000000Z.x", "cdr.jsonl.2020"}
	for _, name := range append(others, "cdr.jsonl.20200101T000000Z") {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{}\n"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	clk := newClock("2026-11-25T10:15:00Z")
	conn := withClock(t, clk, map[string]any{"path": path, "max_bytes": 1, "keep": 2})
	// keep applies at Configure too: the single old rotation is within it.
	if names := rotatedNames(t, path); !slices.Equal(names, []string{"cdr.jsonl.20200101T000000Z"}) {
		t.Fatalf("after Configure: %v", names)
	}
	// With max_bytes = 1 every batch after the first rotates: 14 batches, 13
	// rotations in the same second, suffixes up to .12.
	for i := range 14 {
		export(t, conn, fmt.Sprintf("r%02d", i))
	}
	names := rotatedNames(t, path)
	if !slices.Equal(names, []string{"cdr.jsonl.20261125T101500Z.11", "cdr.jsonl.20261125T101500Z.12"}) {
		t.Fatalf("kept %v, want the two newest (.11 and .12)", names)
	}
	if got := idsIn(t, filepath.Join(dir, names[0])); !slices.Equal(got, []string{"r11"}) {
		t.Fatalf("%s holds %v, want [r11]", names[0], got)
	}
	if got := idsIn(t, filepath.Join(dir, names[1])); !slices.Equal(got, []string{"r12"}) {
		t.Fatalf("%s holds %v, want [r12]", names[1], got)
	}
	if got := idsIn(t, path); !slices.Equal(got, []string{"r13"}) {
		t.Fatalf("current file holds %v, want [r13]", got)
	}
	for _, name := range others {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s, not a rotation of the file, was touched: %v", name, err)
		}
	}
}

// keep = 0 keeps every rotated file.
func TestKeepAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdr.jsonl")
	conn := withClock(t, newClock("2026-11-25T10:15:00Z"), map[string]any{"path": path, "max_bytes": 1})
	for i := range 12 {
		export(t, conn, fmt.Sprintf("r%02d", i))
	}
	if names := rotatedNames(t, path); len(names) != 11 {
		t.Fatalf("%d rotated files, want 11: %v", len(names), names)
	}
}

// A taken name gets the next numeric suffix: nothing is overwritten.
func TestRotateNameTaken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cdr.jsonl")
	taken := path + ".20261125T101500Z"
	if err := os.WriteFile(taken, []byte("precious\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	conn := withClock(t, newClock("2026-11-25T10:15:00Z"), map[string]any{"path": path, "max_bytes": 1})
	export(t, conn, "a")
	export(t, conn, "b")
	if b, _ := os.ReadFile(taken); string(b) != "precious\n" {
		t.Fatalf("%s was overwritten: %q", taken, b)
	}
	if got := idsIn(t, taken+".1"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("%s.1 holds %v, want [a]", taken, got)
	}
}

// fsync = "batch" (the default) syncs once per batch before acking; a sync
// failure acks nothing and leaves the file as it was; "none" never syncs.
func TestFsyncPolicy(t *testing.T) {
	for _, tt := range []struct {
		fsync string // "" leaves the default
		syncs int64
	}{{"", 2}, {"batch", 2}, {"none", 0}} {
		t.Run("fsync="+tt.fsync, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cdr.jsonl")
			var syncs atomic.Int64
			e := newExporter()
			e.sync = func(f *os.File) error { syncs.Add(1); return f.Sync() }
			conn := sdktest.InProcess(t, e)
			cfg := map[string]any{"path": path}
			if tt.fsync != "" {
				cfg["fsync"] = tt.fsync
			}
			if err := conn.Configure(cfg); err != nil {
				t.Fatal(err)
			}
			export(t, conn, "a", "b")
			export(t, conn, "c")
			if n := syncs.Load(); n != tt.syncs {
				t.Fatalf("%d syncs, want %d", n, tt.syncs)
			}
			if got := idsIn(t, path); !slices.Equal(got, []string{"a", "b", "c"}) {
				t.Fatalf("file holds %v", got)
			}
		})
	}

	t.Run("sync fails", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cdr.jsonl")
		var fail atomic.Bool
		e := newExporter()
		e.sync = func(f *os.File) error {
			if fail.Load() {
				return errors.New("disk on fire")
			}
			return f.Sync()
		}
		conn := sdktest.InProcess(t, e)
		if err := conn.Configure(map[string]any{"path": path}); err != nil {
			t.Fatal(err)
		}
		export(t, conn, "a")
		fail.Store(true)
		acked, err := conn.Export(record("b"), record("c"))
		if err == nil || !strings.Contains(err.Error(), "disk on fire") || len(acked) != 0 {
			t.Fatalf("acked %v, err %v; want nothing acked and the sync error", acked, err)
		}
		if got := idsIn(t, path); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("file holds %v after a failed sync, want [a]", got)
		}
		fail.Store(false)
		export(t, conn, "b", "c")
		if got := idsIn(t, path); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("file holds %v", got)
		}
	})
}

func TestRotationConfigErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdr.jsonl")
	tests := []struct {
		name string
		cfg  map[string]any
		want []string
	}{
		{"fsync unknown", map[string]any{"path": path, "fsync": "always"}, []string{`"fsync" is "always"`, `"batch"`, `"none"`}},
		{"fsync empty", map[string]any{"path": path, "fsync": ""}, []string{`"fsync" is ""`, `"batch"`, `"none"`}},
		{"fsync not a string", map[string]any{"path": path, "fsync": true}, []string{"fsync"}},
		{"max_bytes negative", map[string]any{"path": path, "max_bytes": -1}, []string{`"max_bytes" is -1`}},
		{"max_bytes not a number", map[string]any{"path": path, "max_bytes": "10MB"}, []string{"max_bytes"}},
		{"keep negative", map[string]any{"path": path, "keep": -2, "max_bytes": 10}, []string{`"keep" is -2`}},
		{"keep without rotation", map[string]any{"path": path, "keep": 3}, []string{`"keep" is set but nothing rotates`}},
		{"rotate_daily not a bool", map[string]any{"path": path, "rotate_daily": "yes"}, []string{"rotate_daily"}},
		{"misspelt key", map[string]any{"path": path, "max_size": 10}, []string{`unknown field "max_size"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sdktest.InProcess(t, newExporter()).Configure(tt.cfg)
			for _, want := range tt.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want it to contain %q", err, want)
				}
			}
		})
	}
	// The valid combinations are accepted.
	for _, cfg := range []map[string]any{
		{"path": path, "fsync": "none"},
		{"path": path, "max_bytes": 1 << 30, "keep": 10},
		{"path": path, "rotate_daily": true, "keep": 90},
		{"path": path, "rotate_daily": true, "max_bytes": 1 << 20, "keep": 0, "fsync": "batch"},
	} {
		if err := sdktest.InProcess(t, newExporter()).Configure(cfg); err != nil {
			t.Errorf("%v refused: %v", cfg, err)
		}
	}
}
