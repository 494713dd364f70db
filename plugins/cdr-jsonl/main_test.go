package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/voxgate/voxgate/sdk"
	"github.com/voxgate/voxgate/sdk/sdktest"
)

func record(id string) *sdk.CallRecord { return sdktest.SampleRecord(id) }

// readLines parses the file back into records, failing on any bad line.
func readLines(t *testing.T, path string) []*sdk.CallRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*sdk.CallRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r sdk.CallRecord
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %d: %v: %s", len(out)+1, err, sc.Text())
		}
		out = append(out, &r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func configured(t *testing.T, path string) *sdktest.Conn {
	t.Helper()
	conn := sdktest.InProcess(t, newExporter())
	if err := conn.Configure(map[string]string{"path": path}); err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestExport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dirs", "cdr.jsonl")
	conn := configured(t, path)
	recs := []*sdk.CallRecord{record("a"), record("b"), record("c")}
	recs[1].AnswerTime, recs[1].Disposition, recs[1].BillableMS, recs[1].Variables = "", "rejected", 0, nil
	recs[1].BillableSeconds, recs[1].Legs, recs[1].RingTime = 0, nil, ""
	acked, err := conn.Export(recs...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acked, []string{"a", "b", "c"}) {
		t.Fatalf("acked %v, want [a b c]", acked)
	}
	got := readLines(t, path)
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("lines parse back to\n%+v\nwant\n%+v", got, recs)
	}
	// Each line is exactly what json.Marshal gives.
	raw, _ := os.ReadFile(path)
	want, _ := json.Marshal(recs[0])
	if first, _, _ := strings.Cut(string(raw), "\n"); first != string(want) {
		t.Fatalf("line 1 = %s\nwant     %s", first, want)
	}

	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if p := st.Mode().Perm(); p&0o027 != 0 || p&0o600 != 0o600 {
		t.Errorf("file mode %v, want 0640 (less what the umask removes)", p)
	}
	dst, _ := os.Stat(filepath.Dir(path))
	if p := dst.Mode().Perm(); p&0o027 != 0 || p&0o700 != 0o700 {
		t.Errorf("directory mode %v, want 0750 (less what the umask removes)", p)
	}

	// An empty batch writes nothing.
	if acked, err := conn.Export(); err != nil || len(acked) != 0 {
		t.Fatalf("empty batch: %v, %v", acked, err)
	}
}

// After a restart (a new plugin process, configured again) records are
// appended, never overwritten.
func TestRestartAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdr.jsonl")
	if _, err := configured(t, path).Export(record("a"), record("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := configured(t, path).Export(record("c")); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range readLines(t, path) {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Fatalf("ids in the file %v, want [a b c]", ids)
	}
}

// A relative path is relative to the working directory.
func TestRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	conn := configured(t, "var/cdr.jsonl")
	if _, err := conn.Export(record("a")); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, "var/cdr.jsonl"); len(got) != 1 {
		t.Fatalf("%d lines", len(got))
	}
}

// When logrotate moves the file away, the next batch goes to a new file at
// the path.
func TestFollowsRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cdr.jsonl")
	conn := configured(t, path)
	conn.Export(record("a"))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Export(record("b")); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, path); len(got) != 1 || got[0].ID != "b" {
		t.Fatalf("new file: %+v", got)
	}
	if got := readLines(t, path+".1"); len(got) != 1 || got[0].ID != "a" {
		t.Fatalf("rotated file: %+v", got)
	}
}

// A record that cannot be marshalled is not acked, and the rest are stored.
func TestMarshalFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdr.jsonl")
	e := newExporter()
	e.marshal = func(v any) ([]byte, error) {
		if v.(*sdk.CallRecord).ID == "bad" {
			return nil, errors.New("cannot marshal")
		}
		return json.Marshal(v)
	}
	conn := sdktest.InProcess(t, e)
	if err := conn.Configure(map[string]string{"path": path}); err != nil {
		t.Fatal(err)
	}
	acked, err := conn.Export(record("a"), record("bad"), record("c"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acked, []string{"a", "c"}) {
		t.Fatalf("acked %v, want [a c]", acked)
	}
	if got := readLines(t, path); len(got) != 2 {
		t.Fatalf("%d lines, want 2", len(got))
	}
	// Nothing storable: an error, so the daemon keeps the batch.
	if _, err := conn.Export(record("bad")); err == nil {
		t.Fatal("no error when no record could be stored")
	}
}

func TestConfigureErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  any
		want string
	}{
		{"no path", map[string]string{}, `"path" is required`},
		{"empty path", map[string]string{"path": ""}, `"path" is required`},
		{"unknown key", map[string]string{"path": "x", "file": "y"}, `unknown field "file"`},
		{"parent is a file", map[string]string{"path": filepath.Join(file, "cdr.jsonl")}, filepath.Join(file, "cdr.jsonl")},
		{"path is a directory", map[string]string{"path": dir}, dir},
	}
	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "read-only")
		os.Mkdir(ro, 0o500)
		tests = append(tests, struct {
			name string
			cfg  any
			want string
		}{"not writable", map[string]string{"path": filepath.Join(ro, "cdr.jsonl")}, filepath.Join(ro, "cdr.jsonl")})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := sdktest.InProcess(t, newExporter())
			err := conn.Configure(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// A refused config keeps the file in use.
func TestConfigureErrorKeepsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdr.jsonl")
	conn := configured(t, path)
	if err := conn.Configure(map[string]string{"path": ""}); err == nil {
		t.Fatal("empty path accepted")
	}
	if _, err := conn.Export(record("a")); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, path); len(got) != 1 {
		t.Fatalf("%d lines", len(got))
	}
}

func TestExportBeforeConfigure(t *testing.T) {
	conn := sdktest.InProcess(t, newExporter())
	if _, err := conn.Export(record("a")); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("err = %v", err)
	}
}

func buildPlugin(t *testing.T) string {
	t.Helper()
	bin := sdktest.Build(t, ".")
	return bin
}

// The built binary over a real go-plugin connection, restarted once.
func TestBinary(t *testing.T) {
	bin := buildPlugin(t)
	path := filepath.Join(t.TempDir(), "spool", "cdr.jsonl")
	for i, batch := range [][]string{{"a", "b", "c"}, {"d"}} {
		conn := sdktest.Binary(t, bin, sdk.KindExporter)
		if info := conn.Info(); info.GetName() != "cdr-jsonl" || info.GetKind() != sdk.KindExporter {
			t.Fatalf("Info() = %v", info)
		}
		if i == 0 {
			bad := filepath.Join(bin, "cdr.jsonl") // under a file
			if err := conn.Configure(map[string]string{"path": bad}); err == nil || !strings.Contains(err.Error(), bad) {
				t.Fatalf("bad path over the wire: %v", err)
			}
		}
		if err := conn.Configure(map[string]string{"path": path}); err != nil {
			t.Fatal(err)
		}
		var recs []*sdk.CallRecord
		for _, id := range batch {
			recs = append(recs, record(id))
		}
		acked, err := conn.Export(recs...)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(acked, batch) {
			t.Fatalf("acked %v, want %v", acked, batch)
		}
	}
	got := readLines(t, path)
	want := []*sdk.CallRecord{record("a"), record("b"), record("c"), record("d")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("file holds\n%+v\nwant\n%+v", got, want)
	}
}
