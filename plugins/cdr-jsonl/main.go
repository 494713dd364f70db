// Command cdr-jsonl is a voxgate CDR exporter plugin that appends each call
// record as one JSON object per line to a file. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/voxgate/voxgate/sdk"
)

// version is overridden at build time with -ldflags "-X main.version=...".
var version = "1.0.0"

const (
	dirMode  = 0o750
	fileMode = 0o640
)

// Values of "fsync".
const (
	fsyncBatch = "batch" // fsync after each batch, before acknowledging it
	fsyncNone  = "none"  // never fsync: a crash can lose acknowledged records
)

// config is the plugin's table from voxgate.toml.
type config struct {
	// Path of the file; a relative path is relative to the plugin's working
	// directory (the daemon's).
	Path string `json:"path"`
	// MaxBytes rotates the file before a batch that would make it larger
	// than this; 0 turns rotation by size off.
	MaxBytes int64 `json:"max_bytes"`
	// RotateDaily rotates the file before the first batch of a new UTC day.
	RotateDaily bool `json:"rotate_daily"`
	// Keep is how many rotated files to keep (the newest); 0 keeps all.
	Keep int `json:"keep"`
	// Fsync is fsyncBatch or fsyncNone.
	Fsync string `json:"fsync"`
}

// options is a checked config, less the path.
type options struct {
	maxBytes    int64
	rotateDaily bool
	keep        int
	fsync       bool
}

type exporter struct {
	mu   sync.Mutex // one batch at a time: lines of two batches never mix
	path string     // absolute
	f    *os.File
	opts options
	// day is the UTC day ("2006-01-02") the records in f were written on,
	// for rotate_daily. It is set when the first batch goes into an empty
	// file, and from the modification time when a non-empty file is opened.
	day string

	// marshal is json.Marshal; tests replace it to make records fail.
	marshal func(any) ([]byte, error)
	// now is the clock for rotation; tests replace it.
	now func() time.Time
	// sync is (*os.File).Sync; tests replace it to count or fail syncs.
	sync func(*os.File) error
}

func newExporter() *exporter {
	return &exporter{marshal: json.Marshal, now: time.Now, sync: (*os.File).Sync}
}

func (e *exporter) Info() sdk.Info { return sdk.Info{Name: "cdr-jsonl", Version: version} }

// Configure opens (creating if needed) the file, which proves it writable.
// On an error the file in use, if any, stays in use.
func (e *exporter) Configure(_ context.Context, cfg sdk.Config) error {
	c := config{Fsync: fsyncBatch}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	opts, err := c.check()
	if err != nil {
		return err
	}
	path, err := filepath.Abs(c.Path)
	if err != nil {
		return fmt.Errorf("path %q: %w", c.Path, err)
	}
	f, err := openAppend(path)
	if err != nil {
		return err
	}
	e.mu.Lock()
	old := e.f
	e.f, e.path, e.opts, e.day = f, path, opts, fileDay(f)
	e.prune()
	e.mu.Unlock()
	if old != nil {
		old.Close()
	}
	sdk.Log.Info("cdr-jsonl configured", "path", path, "max_bytes", opts.maxBytes,
		"rotate_daily", opts.rotateDaily, "keep", opts.keep, "fsync", c.Fsync)
	if !opts.fsync {
		sdk.Log.Warn(`cdr-jsonl: fsync = "none": records are acknowledged before they reach the disk, ` +
			`so a crash or power loss can lose acknowledged records; use it only for tests and throwaway data`)
	}
	return nil
}

// check validates the config and returns its options.
func (c config) check() (options, error) {
	if c.Path == "" {
		return options{}, errors.New(`"path" is required: the file to append records to, e.g. "/var/lib/voxgate/cdr.jsonl"`)
	}
	if c.MaxBytes < 0 {
		return options{}, fmt.Errorf(`"max_bytes" is %d: use a size in bytes, or 0 (the default) for no rotation by size`, c.MaxBytes)
	}
	if c.Keep < 0 {
		return options{}, fmt.Errorf(`"keep" is %d: use how many rotated files to keep, or 0 (the default) to keep them all`, c.Keep)
	}
	if c.Keep > 0 && c.MaxBytes == 0 && !c.RotateDaily {
		return options{}, errors.New(`"keep" is set but nothing rotates the file: set "max_bytes" or "rotate_daily" too, or remove "keep"`)
	}
	var fsync bool
	switch c.Fsync {
	case fsyncBatch:
		fsync = true
	case fsyncNone:
	default:
		return options{}, fmt.Errorf(`"fsync" is %q: use %q (the default: fsync each batch before acknowledging it) or %q (never fsync; a crash can lose acknowledged records)`,
			c.Fsync, fsyncBatch, fsyncNone)
	}
	return options{maxBytes: c.MaxBytes, rotateDaily: c.RotateDaily, keep: c.Keep, fsync: fsync}, nil
}

// openAppend opens path for appending, creating its directories (0750) and
// the file (0640). A new file's directory entry is synced too, so the file
// itself survives a crash.
func openAppend(path string) (*os.File, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("path %q: create its directory: %w", path, err)
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("path %q: cannot open it for appending: %w", path, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("path %q: not a regular file", path)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if d, err := os.Open(dir); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return f, nil
}

// Export appends the batch with one write, syncs it to disk (unless fsync is
// "none") and only then acknowledges it. Rotation, when due, happens before
// the batch is written, so a batch never spans two files. A record that
// cannot be marshalled is logged and left unacknowledged; the others are
// written.
func (e *exporter) Export(_ context.Context, recs []*sdk.CallRecord) ([]string, error) {
	var buf []byte
	var ids []string
	for i, r := range recs {
		if r == nil {
			sdk.Log.Error("cdr-jsonl: empty record in batch, not acknowledged", "index", i)
			continue
		}
		b, err := e.marshal(r)
		if err != nil {
			sdk.Log.Error("cdr-jsonl: cannot marshal record, not acknowledged", "id", r.ID, "err", err)
			continue
		}
		buf = append(append(buf, b...), '\n')
		ids = append(ids, r.ID)
	}
	if len(ids) == 0 {
		if len(recs) == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("none of the %d records could be marshalled", len(recs))
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f == nil {
		return nil, errors.New("cdr-jsonl is not configured")
	}
	if err := e.reopenIfMoved(); err != nil {
		return nil, err
	}
	if err := e.rotateIfDue(len(buf)); err != nil {
		return nil, err
	}
	if err := e.appendBatch(buf); err != nil {
		return nil, err
	}
	return ids, nil
}

// appendBatch writes buf at the end of the file and, with fsync = "batch",
// syncs it. On failure it cuts the file back to where it was, so that a torn
// batch does not glue a half line to the next batch's first line: the
// records are not acked and will be offered again.
func (e *exporter) appendBatch(buf []byte) error {
	st, err := e.f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", e.path, err)
	}
	if _, err := e.f.Write(buf); err != nil {
		if terr := e.f.Truncate(st.Size()); terr != nil {
			sdk.Log.Error("cdr-jsonl: cannot remove a partly written batch", "path", e.path, "err", terr)
		}
		return fmt.Errorf("%s: write: %w", e.path, err)
	}
	if !e.opts.fsync {
		return nil
	}
	if err := e.sync(e.f); err != nil {
		if terr := e.f.Truncate(st.Size()); terr != nil {
			sdk.Log.Error("cdr-jsonl: cannot remove a batch that failed to sync", "path", e.path, "err", terr)
		}
		return fmt.Errorf("%s: sync: %w", e.path, err)
	}
	return nil
}

// reopenIfMoved reopens the path when the open file is no longer the file
// there (rotated away by logrotate, say), so records follow the path.
func (e *exporter) reopenIfMoved() error {
	cur, err := e.f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", e.path, err)
	}
	if st, err := os.Stat(e.path); err == nil && os.SameFile(cur, st) {
		return nil
	}
	f, err := openAppend(e.path)
	if err != nil {
		return err
	}
	sdk.Log.Info("cdr-jsonl: file was moved or removed, reopened", "path", e.path)
	e.f.Close()
	e.f, e.day = f, fileDay(f)
	return nil
}

func main() { sdk.ServeExporter(newExporter()) }
