package cdr

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The spool is a directory of append-only segment files, seg-<n>.log. Each
// record is framed as
//
//	"VGR1" | length uint32 BE | CRC-32C of the payload uint32 BE | payload
//
// so that a torn write (a crash in the middle of an append) or a damaged
// record is detected by its length or checksum, logged and skipped, and the
// next record is found again by its magic: one bad record never takes its
// neighbours with it. Appends are group-committed: every record waiting is
// written with one write and one fdatasync, and Append returns only after
// that. Each exporter has its own acknowledged position, kept in
// offsets/<exporter>; a segment is deleted once every exporter is past it.

const (
	recMagic     = "VGR1"
	recHeaderLen = 12
	// MaxRecordBytes bounds one record; a CDR is a few KiB.
	MaxRecordBytes = 1 << 20
	segPrefix      = "seg-"
	segSuffix      = ".log"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("cdr spool closed")

// Pos is a position in the spool: a segment and a byte offset in it.
type Pos struct {
	Seg uint64
	Off int64
}

func (p Pos) less(q Pos) bool { return p.Seg < q.Seg || (p.Seg == q.Seg && p.Off < q.Off) }

// Entry is one record read from the spool.
type Entry struct {
	Payload []byte
	End     Pos // the position just after this record
}

// SpoolOptions configures a spool.
type SpoolOptions struct {
	SegmentBytes int64
	MaxBytes     int64
	DropOldest   bool // at MaxBytes: drop the oldest segment (else: report Full)
	// OnDrop is called for every record deleted by DropOldest, so the
	// caller can log each one.
	OnDrop func(payload []byte)
}

type segment struct {
	num  uint64
	size int64 // durable size
}

type appendReq struct {
	payload []byte
	done    chan error
}

// Spool is the durable CDR spool.
type Spool struct {
	dir  string
	opts SpoolOptions
	log  *slog.Logger

	mu       sync.Mutex
	segs     []segment // ascending; the last one is the active segment
	active   *os.File
	cursors  map[string]Pos
	kicks    map[string]chan struct{}
	full     bool
	closed   bool
	readers  map[string]*segReader
	lastLag  map[string]bool
	appendCh chan appendReq
	stop     chan struct{}
	done     chan struct{}
}

// OpenSpool opens (or creates) the spool in dir for the named exporters,
// repairing a torn tail left by a crash.
func OpenSpool(dir string, exporters []string, opts SpoolOptions, log *slog.Logger) (*Spool, error) {
	if err := os.MkdirAll(filepath.Join(dir, "offsets"), 0o750); err != nil {
		return nil, fmt.Errorf("cdr spool: %w", err)
	}
	s := &Spool{dir: dir, opts: opts, log: log, cursors: map[string]Pos{}, kicks: map[string]chan struct{}{},
		readers: map[string]*segReader{}, lastLag: map[string]bool{},
		appendCh: make(chan appendReq, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cdr spool: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("cdr spool: %w", err)
		}
		s.segs = append(s.segs, segment{num: n, size: info.Size()})
	}
	slices.SortFunc(s.segs, func(a, b segment) int { return cmpU64(a.num, b.num) })
	if len(s.segs) == 0 {
		s.segs = []segment{{num: 1}}
	}
	if err := s.repairTail(); err != nil {
		return nil, err
	}
	last := &s.segs[len(s.segs)-1]
	f, err := os.OpenFile(s.segPath(last.num), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("cdr spool: open segment: %w", err)
	}
	s.active = f
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	for _, name := range exporters {
		pos, err := s.loadOffset(name)
		if err != nil {
			return nil, err
		}
		if pos.less(Pos{Seg: s.segs[0].num}) {
			pos = Pos{Seg: s.segs[0].num}
		}
		s.cursors[name] = pos
		s.kicks[name] = make(chan struct{}, 1)
	}
	s.updateFull()
	go s.writer()
	return s, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Spool) segPath(n uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s%016d%s", segPrefix, n, segSuffix))
}

// repairTail scans the last segment and cuts off a torn record at its end,
// logging it. Damage before the tail is left for readers to skip.
func (s *Spool) repairTail() error {
	last := &s.segs[len(s.segs)-1]
	f, err := os.OpenFile(s.segPath(last.num), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("cdr spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256<<10)
	var off, good int64
	for {
		_, n, err := readRecord(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			// Skip forward to the next magic if there is one; if none, the
			// rest is a torn tail.
			next, found := scanMagic(s.segPath(last.num), off+1)
			s.log.Error("cdr spool: damaged or torn record skipped", "segment", last.num, "offset", off, "err", err)
			if !found {
				break
			}
			if _, err := f.Seek(next, io.SeekStart); err != nil {
				return fmt.Errorf("cdr spool: %w", err)
			}
			r.Reset(f)
			off = next
			continue
		}
		off += n
		good = off
	}
	if good < last.size {
		s.log.Error("cdr spool: cutting a torn record off the end of the last segment", "segment", last.num,
			"offset", good, "bytes", last.size-good)
		if err := f.Truncate(good); err != nil {
			return fmt.Errorf("cdr spool: truncate torn tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("cdr spool: %w", err)
		}
		last.size = good
	}
	return nil
}

// readRecord reads one framed record; n is its size on disk.
func readRecord(r *bufio.Reader) ([]byte, int64, error) {
	var hdr [recHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		return nil, 0, fmt.Errorf("short header: %w", err)
	}
	if string(hdr[:4]) != recMagic {
		return nil, 0, fmt.Errorf("bad magic %q", hdr[:4])
	}
	n := binary.BigEndian.Uint32(hdr[4:8])
	if n > MaxRecordBytes {
		return nil, 0, fmt.Errorf("record length %d over the limit", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, 0, fmt.Errorf("short record (%d bytes expected): %w", n, err)
	}
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(hdr[8:12]) {
		return nil, 0, errors.New("checksum mismatch")
	}
	return payload, int64(recHeaderLen) + int64(n), nil
}

// scanMagic finds the next record magic at or after off in a file.
func scanMagic(path string, off int64) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := f.ReadAt(buf, off)
		if n >= len(recMagic) {
			if i := bytes.Index(buf[:n], []byte(recMagic)); i >= 0 {
				return off + int64(i), true
			}
			off += int64(n - len(recMagic) + 1)
		}
		if err != nil {
			return 0, false
		}
	}
}

func encodeRecord(dst, payload []byte) []byte {
	var hdr [recHeaderLen]byte
	copy(hdr[:4], recMagic)
	binary.BigEndian.PutUint32(hdr[4:8], uint32(len(payload)))
	binary.BigEndian.PutUint32(hdr[8:12], crc32.Checksum(payload, castagnoli))
	return append(append(dst, hdr[:]...), payload...)
}

// Append stores a record durably: it returns after the record is written and
// fdatasync'ed, or with an error.
func (s *Spool) Append(ctx context.Context, payload []byte) error {
	if len(payload) > MaxRecordBytes {
		return fmt.Errorf("cdr spool: record of %d bytes over the %d limit", len(payload), MaxRecordBytes)
	}
	req := appendReq{payload: payload, done: make(chan error, 1)}
	select {
	case s.appendCh <- req:
	case <-s.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The writer still stores it; the caller just stops waiting.
		return ctx.Err()
	}
}

// writer group-commits appends: one write and one fdatasync for everything
// that is waiting.
func (s *Spool) writer() {
	defer close(s.done)
	var buf []byte
	batch := make([]appendReq, 0, 256)
	for {
		batch = batch[:0]
		select {
		case <-s.stop:
			// Store what was queued before Close.
			for {
				batch = drain(s.appendCh, batch[:0])
				if len(batch) == 0 {
					return
				}
				s.commit(batch, &buf)
			}
		case r := <-s.appendCh:
			batch = append(batch, r)
		}
		s.commit(drain(s.appendCh, batch), &buf)
	}
}

// drain appends what ch holds right now to batch, up to batch's capacity:
// everything waiting goes into one group commit.
func drain[T any](ch <-chan T, batch []T) []T {
	for len(batch) < cap(batch) {
		select {
		case r := <-ch:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

func (s *Spool) commit(batch []appendReq, buf *[]byte) {
	*buf = (*buf)[:0]
	for _, r := range batch {
		*buf = encodeRecord(*buf, r.payload)
	}
	s.mu.Lock()
	f := s.active
	s.mu.Unlock()
	_, err := f.Write(*buf)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		err = fmt.Errorf("cdr spool: write: %w", err)
		s.log.Error("cdr spool: cannot store records", "records", len(batch), "err", err)
	} else {
		s.mu.Lock()
		s.segs[len(s.segs)-1].size += int64(len(*buf))
		if s.segs[len(s.segs)-1].size >= s.opts.SegmentBytes {
			if rerr := s.rotateLocked(); rerr != nil {
				s.log.Error("cdr spool: cannot start a new segment", "err", rerr)
			}
		}
		s.enforceBoundLocked()
		s.updateFull()
		s.mu.Unlock()
		for _, k := range s.kicks {
			select {
			case k <- struct{}{}:
			default:
			}
		}
	}
	for _, r := range batch {
		r.done <- err
	}
}

func (s *Spool) rotateLocked() error {
	next := s.segs[len(s.segs)-1].num + 1
	f, err := os.OpenFile(s.segPath(next), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.active.Close()
	s.active = f
	s.segs = append(s.segs, segment{num: next})
	return nil
}

func (s *Spool) totalLocked() int64 {
	var t int64
	for _, sg := range s.segs {
		t += sg.size
	}
	return t
}

// enforceBoundLocked drops the oldest closed segments while over the bound,
// if so configured.
func (s *Spool) enforceBoundLocked() {
	if !s.opts.DropOldest {
		return
	}
	for s.totalLocked() > s.opts.MaxBytes && len(s.segs) > 1 {
		old := s.segs[0]
		s.dropSegmentLocked(old)
	}
}

func (s *Spool) dropSegmentLocked(old segment) {
	path := s.segPath(old.num)
	if f, err := os.Open(path); err == nil {
		r := bufio.NewReader(f)
		for {
			payload, _, err := readRecord(r)
			if err != nil {
				break
			}
			if s.opts.OnDrop != nil {
				s.opts.OnDrop(payload)
			}
		}
		f.Close()
	}
	os.Remove(path)
	s.segs = s.segs[1:]
	for name, pos := range s.cursors {
		if pos.Seg <= old.num {
			s.cursors[name] = Pos{Seg: s.segs[0].num}
			if rd := s.readers[name]; rd != nil {
				rd.close()
				delete(s.readers, name)
			}
			s.saveOffset(name, s.cursors[name])
		}
	}
	s.log.Error("cdr spool full: dropped the oldest segment", "segment", old.num, "bytes", old.size)
}

func (s *Spool) updateFull() {
	full := !s.opts.DropOldest && s.totalLocked() >= s.opts.MaxBytes
	if full != s.full {
		if full {
			s.log.Error("cdr spool is full: new calls are refused until exporters catch up",
				"bytes", s.totalLocked(), "max_spool_bytes", s.opts.MaxBytes)
		} else {
			s.log.Warn("cdr spool below its bound again: accepting calls")
		}
	}
	s.full = full
	// An exporter more than half the bound behind is worth a loud line.
	for name, pos := range s.cursors {
		lag := s.lagLocked(pos)
		behind := lag > s.opts.MaxBytes/2
		if behind && !s.lastLag[name] {
			s.log.Error("exporter is falling behind", "exporter", name, "bytes_behind", lag)
		}
		s.lastLag[name] = behind
	}
}

func (s *Spool) lagLocked(pos Pos) int64 {
	var lag int64
	for _, sg := range s.segs {
		switch {
		case sg.num > pos.Seg:
			lag += sg.size
		case sg.num == pos.Seg:
			lag += sg.size - pos.Off
		}
	}
	return lag
}

// Full reports whether the spool is at its bound in reject-calls mode: the
// daemon then refuses new calls.
func (s *Spool) Full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full
}

// Lag reports, per exporter, how many bytes of records it has not acked.
func (s *Spool) Lag() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for name, pos := range s.cursors {
		out[name] = s.lagLocked(pos)
	}
	return out
}

// Size is the spool's size on disk in bytes.
func (s *Spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totalLocked()
}

// Kick returns the channel that is signalled when records are appended.
func (s *Spool) Kick(name string) <-chan struct{} { return s.kicks[name] }

// segReader keeps one exporter's open segment.
type segReader struct {
	seg uint64
	f   *os.File
	r   *bufio.Reader
	off int64
}

func (r *segReader) close() {
	if r.f != nil {
		r.f.Close()
	}
}

// Read returns up to max records the exporter has not acknowledged yet,
// starting at its acknowledged position plus skip (records already handed
// out and not yet committed).
func (s *Spool) Read(name string, from Pos, max int) ([]Entry, error) {
	var out []Entry
	for len(out) < max {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return out, ErrClosed
		}
		// Where the readable data ends in from.Seg.
		var end int64 = -1
		var nextSeg uint64
		for i, sg := range s.segs {
			if sg.num == from.Seg {
				end = sg.size
				if i+1 < len(s.segs) {
					nextSeg = s.segs[i+1].num
				}
			}
		}
		if end < 0 && len(s.segs) > 0 && from.Seg < s.segs[0].num {
			from = Pos{Seg: s.segs[0].num}
			s.mu.Unlock()
			continue
		}
		rd := s.readers[name]
		s.mu.Unlock()
		if end < 0 {
			return out, nil
		}
		if from.Off >= end {
			if nextSeg == 0 {
				return out, nil // caught up with the active segment
			}
			from = Pos{Seg: nextSeg}
			continue
		}
		if rd == nil || rd.seg != from.Seg || rd.off != from.Off {
			if rd != nil {
				rd.close()
			}
			f, err := os.Open(s.segPath(from.Seg))
			if err != nil {
				return out, fmt.Errorf("cdr spool: %w", err)
			}
			if _, err := f.Seek(from.Off, io.SeekStart); err != nil {
				f.Close()
				return out, fmt.Errorf("cdr spool: %w", err)
			}
			rd = &segReader{seg: from.Seg, f: f, r: bufio.NewReaderSize(f, 256<<10), off: from.Off}
			s.mu.Lock()
			s.readers[name] = rd
			s.mu.Unlock()
		}
		for len(out) < max && rd.off < end {
			payload, n, err := readRecord(rd.r)
			if err != nil {
				next, found := scanMagic(s.segPath(rd.seg), rd.off+1)
				if !found || next >= end {
					next = end
				}
				s.log.Error("cdr spool: damaged record skipped", "segment", rd.seg, "offset", rd.off,
					"bytes", next-rd.off, "err", err)
				rd.off = next
				rd.f.Seek(next, io.SeekStart)
				rd.r.Reset(rd.f)
				out = append(out, Entry{End: Pos{Seg: rd.seg, Off: next}})
				continue
			}
			rd.off += n
			out = append(out, Entry{Payload: payload, End: Pos{Seg: rd.seg, Off: rd.off}})
		}
		from = Pos{Seg: rd.seg, Off: rd.off}
	}
	return out, nil
}

// Position is an exporter's acknowledged position.
func (s *Spool) Position(name string) Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursors[name]
}

// Commit records that an exporter has acknowledged everything before pos,
// durably, and deletes the segments no exporter needs any more.
func (s *Spool) Commit(name string, pos Pos) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.cursors[name]; !ok || !cur.less(pos) {
		return nil
	}
	if err := s.saveOffset(name, pos); err != nil {
		return err
	}
	s.cursors[name] = pos
	s.gcLocked()
	s.updateFull()
	return nil
}

// gcLocked deletes closed segments every exporter has moved past.
func (s *Spool) gcLocked() {
	for len(s.segs) > 1 {
		old := s.segs[0]
		for _, pos := range s.cursors {
			if pos.Seg <= old.num {
				return
			}
		}
		if err := os.Remove(s.segPath(old.num)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Error("cdr spool: cannot delete an exported segment", "segment", old.num, "err", err)
			return
		}
		s.segs = s.segs[1:]
	}
}

func (s *Spool) offsetPath(name string) string { return filepath.Join(s.dir, "offsets", name) }

func (s *Spool) loadOffset(name string) (Pos, error) {
	b, err := os.ReadFile(s.offsetPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return Pos{}, nil
	}
	if err != nil {
		return Pos{}, fmt.Errorf("cdr spool: %w", err)
	}
	var p Pos
	if _, err := fmt.Sscanf(string(b), "%d %d", &p.Seg, &p.Off); err != nil {
		s.log.Error("cdr spool: unreadable offset file; exporting its records again from the start",
			"exporter", name, "content", string(b))
		return Pos{}, nil
	}
	return p, nil
}

// saveOffset writes an exporter's position atomically: temp file, fsync,
// rename, fsync of the directory.
func (s *Spool) saveOffset(name string, p Pos) error {
	path := s.offsetPath(name)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("cdr spool: save offset: %w", err)
	}
	_, err = fmt.Fprintf(f, "%d %d\n", p.Seg, p.Off)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("cdr spool: save offset of %s: %w", name, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cdr spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cdr spool: sync %s: %w", dir, err)
	}
	return nil
}

// Close stores what is queued and closes the spool.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	close(s.stop)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, r := range s.readers {
		r.close()
	}
	return s.active.Close()
}

// Scan calls fn for every readable record in the spool, oldest first. It is
// used at start-up, before calls, so it takes no care of concurrent appends
// beyond reading each segment up to its durable size.
func (s *Spool) Scan(fn func(payload []byte)) error {
	s.mu.Lock()
	segs := slices.Clone(s.segs)
	s.mu.Unlock()
	for _, sg := range segs {
		f, err := os.Open(s.segPath(sg.num))
		if err != nil {
			return fmt.Errorf("cdr spool: %w", err)
		}
		r := bufio.NewReader(io.LimitReader(f, sg.size))
		for {
			payload, _, err := readRecord(r)
			if err == io.EOF {
				break
			}
			if err != nil {
				break // damaged: the feeders log and skip it
			}
			fn(payload)
		}
		f.Close()
	}
	return nil
}
