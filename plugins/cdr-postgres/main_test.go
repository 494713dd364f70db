package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/voxgate/voxgate/sdk"
	"github.com/voxgate/voxgate/sdk/sdktest"
)

// The tests run against a real PostgreSQL that TestMain starts with
// test/pg/pg.sh in a temporary directory and stops at the end. When it
// cannot start, every test fails: none is skipped.
var (
	pgDir string // the cluster's directory, also its socket directory
	dsn   string // its connection string
)

const pgScript = "../../test/pg/pg.sh"

// pgCtl runs pg.sh; every call is bounded.
func pgCtl(cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, pgScript, cmd, pgDir)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	c.WaitDelay = 10 * time.Second
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("%s %s %s: %v\n%s%s", pgScript, cmd, pgDir, err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	// Not t.TempDir: the socket's path must stay short, and under /tmp the
	// postgres user can reach it.
	dir, err := os.MkdirTemp("", "vxpg")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: cdr-postgres tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	pgDir = dir
	start := time.Now()
	out, err := pgCtl("start")
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: cdr-postgres tests need a PostgreSQL server and could not start one:\n%v\n", err)
		return 1
	}
	dsn = out
	fmt.Fprintf(os.Stderr, "cdr-postgres tests: PostgreSQL started in %v (initdb included): %s\n",
		time.Since(start).Round(time.Millisecond), dsn)
	code := m.Run()
	if _, err := pgCtl("stop"); err != nil {
		fmt.Fprintln(os.Stderr, "cdr-postgres tests: stopping PostgreSQL:", err)
	}
	return code
}

// stopDB stops the server; it is started again at the end of the test in
// any case, so that a failure does not take the server from later tests.
func stopDB(t *testing.T) {
	t.Helper()
	if _, err := pgCtl("stop"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pgCtl("start-again"); err != nil {
			t.Error(err)
		}
	})
}

func startDB(t *testing.T) {
	t.Helper()
	if _, err := pgCtl("start-again"); err != nil {
		t.Fatal(err)
	}
}

// db is a connection for looking at what the plugin stored.
func db(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec1(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := db(t).Exec(ctx(t), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// freshTable drops what an earlier run (go test -count=2) left behind.
func freshTable(t testing.TB, name string) string {
	t.Helper()
	exec1(t, fmt.Sprintf("DROP TABLE IF EXISTS %s, %s", ident(name), ident(name+"_schema")))
	return name
}

func cfg(table string) map[string]any { return map[string]any{"dsn": dsn, "table": table} }

func cfgJSON(t testing.TB, v any) sdk.Config {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return sdk.Config{JSON: b}
}

func count(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := db(t).QueryRow(ctx(t), "SELECT count(*) FROM "+ident(table)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func schemaVersions(t testing.TB, table string) []int {
	t.Helper()
	rows, err := db(t).Query(ctx(t), "SELECT version FROM "+ident(table+"_schema")+" ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// logBuffer collects what an exporter logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// direct is an exporter called directly (not over gRPC), so that a test
// sees both acked and err, and reads its log.
func direct(t testing.TB) (*exporter, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	e := newExporter()
	e.log = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.st != nil {
			e.st.close()
		}
	})
	return e, lb
}

func configured(t testing.TB, table string) *sdktest.Conn {
	t.Helper()
	conn := sdktest.InProcess(t, newExporter())
	if err := conn.Configure(cfg(table)); err != nil {
		t.Fatal(err)
	}
	return conn
}

func record(id string) *sdk.CallRecord { return sdktest.SampleRecord(id) }

// rejected is a call the route rejected: no answer, codec, connector,
// variables or legs.
func rejected(id string) *sdk.CallRecord {
	r := record(id)
	r.AnswerTime, r.RingTime, r.Disposition, r.SIPStatus, r.HangupSide = "", "", "rejected", 486, "system"
	r.BillableMS, r.BillableSeconds, r.DurationMS, r.Codec, r.Connector = 0, 0, 20, "", ""
	r.Variables, r.Legs, r.RTPPacketsIn, r.RTPPacketsOut, r.DTMFCount = nil, nil, 0, 0, 0
	r.TransferTarget, r.TransferResult, r.ConnectorSessionID, r.RouteAction = "", "", "", "reject"
	r.EndTime = "2026-11-25T10:00:00.020Z"
	return r
}

// stored is a row read back with its typed columns.
type stored struct {
	SchemaVersion                                          int64
	SIPCallID, Trunk, Direction, Mode                      string
	FromUser, FromURI, FromDisplay, ToUser, ToURI          string
	FromE164, ToE164, CallerID                             string
	StartTime, RingTime, AnswerTime, EndTime               *time.Time
	DurationMS, BillableMS, BillableSeconds                int64
	Disposition                                            string
	SIPStatus                                              *int32
	HangupSide, HangupCause, Codec, RouteAction, RouteRule string
	Connector, ConnectorSessionID                          string
	TransferTarget, TransferResult, Hostname, SourceAddr   string
	DTMFCount, RTPPacketsIn, RTPPacketsOut                 int64
	Variables                                              map[string]string
	Legs                                                   []sdk.LegQuality
	Record                                                 sdk.CallRecord
}

func readRow(t testing.TB, table, id string) stored {
	t.Helper()
	var s stored
	err := db(t).QueryRow(ctx(t), `SELECT schema_version, sip_call_id, trunk, direction, mode,
		from_user, from_uri, from_display, to_user, to_uri, from_e164, to_e164, caller_id,
		start_time, ring_time, answer_time, end_time, duration_ms, billable_ms, billable_seconds,
		disposition, sip_status, hangup_side, hangup_cause, codec, route_action, route_rule,
		connector, connector_session_id, transfer_target, transfer_result, hostname, source_addr,
		dtmf_count, rtp_packets_in, rtp_packets_out, variables, legs, record
		FROM `+ident(table)+` WHERE id = $1`, id).Scan(
		&s.SchemaVersion, &s.SIPCallID, &s.Trunk, &s.Direction, &s.Mode,
		&s.FromUser, &s.FromURI, &s.FromDisplay, &s.ToUser, &s.ToURI, &s.FromE164, &s.ToE164, &s.CallerID,
		&s.StartTime, &s.RingTime, &s.AnswerTime, &s.EndTime, &s.DurationMS, &s.BillableMS, &s.BillableSeconds,
		&s.Disposition, &s.SIPStatus, &s.HangupSide, &s.HangupCause, &s.Codec, &s.RouteAction, &s.RouteRule,
		&s.Connector, &s.ConnectorSessionID, &s.TransferTarget, &s.TransferResult, &s.Hostname, &s.SourceAddr,
		&s.DTMFCount, &s.RTPPacketsIn, &s.RTPPacketsOut, &s.Variables, &s.Legs, &s.Record)
	if err != nil {
		t.Fatalf("row %q: %v", id, err)
	}
	for _, p := range []**time.Time{&s.StartTime, &s.RingTime, &s.AnswerTime, &s.EndTime} {
		if *p != nil {
			u := (*p).UTC()
			*p = &u
		}
	}
	return s
}

// want is what the typed columns should hold for r.
func want(t testing.TB, r *sdk.CallRecord) stored {
	tm := func(s string) *time.Time {
		if s == "" {
			return nil
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		v = v.UTC()
		return &v
	}
	status := int32(r.SIPStatus)
	return stored{
		SchemaVersion: int64(r.SchemaVersion), SIPCallID: r.SIPCallID, Trunk: r.Trunk, Direction: r.Direction,
		Mode: r.Mode, FromUser: r.From.User, FromURI: r.From.URI, FromDisplay: r.From.Display,
		ToUser: r.To.User, ToURI: r.To.URI, FromE164: r.FromE164, ToE164: r.ToE164, CallerID: r.CallerID,
		StartTime: tm(r.StartTime), RingTime: tm(r.RingTime), AnswerTime: tm(r.AnswerTime), EndTime: tm(r.EndTime),
		DurationMS: r.DurationMS, BillableMS: r.BillableMS, BillableSeconds: r.BillableSeconds,
		Disposition: r.Disposition, SIPStatus: &status, HangupSide: r.HangupSide, HangupCause: r.HangupCause,
		Codec: r.Codec, RouteAction: r.RouteAction, RouteRule: r.RouteRule, Connector: r.Connector,
		ConnectorSessionID: r.ConnectorSessionID, TransferTarget: r.TransferTarget,
		TransferResult: r.TransferResult, Hostname: r.Hostname, SourceAddr: r.SourceAddr,
		DTMFCount: int64(r.DTMFCount), RTPPacketsIn: r.RTPPacketsIn, RTPPacketsOut: r.RTPPacketsOut,
		Variables: r.Variables, Legs: r.Legs, Record: *r,
	}
}

func TestMigrateOnce(t *testing.T) {
	table := freshTable(t, "cdr_migrate")
	conn := configured(t, table)
	if got := schemaVersions(t, table); !slices.Equal(got, []int{1}) {
		t.Fatalf("schema versions %v, want [1]", got)
	}

	types := map[string]string{}
	rows, err := db(t).Query(ctx(t), `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_name = $1`, table)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c, ty string
		if err := rows.Scan(&c, &ty); err != nil {
			t.Fatal(err)
		}
		types[c] = ty
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for c, ty := range map[string]string{
		"id": "text", "sip_call_id": "text", "from_e164": "text",
		"start_time": "timestamp with time zone", "ring_time": "timestamp with time zone",
		"answer_time": "timestamp with time zone", "end_time": "timestamp with time zone",
		"duration_ms": "bigint", "billable_ms": "bigint", "billable_seconds": "bigint",
		"sip_status": "integer", "dtmf_count": "bigint", "rtp_packets_in": "bigint",
		"variables": "jsonb", "legs": "jsonb", "record": "jsonb", "inserted_at": "timestamp with time zone",
	} {
		if types[c] != ty {
			t.Errorf("column %s is %q, want %q", c, types[c], ty)
		}
	}
	if len(types) != len(columns)+1 { // + inserted_at
		t.Errorf("%d columns, want %d: %v", len(types), len(columns)+1, types)
	}
	idx, err := db(t).Query(ctx(t), `SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY indexname`, table)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(idx, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if w := []string{table + "_pkey", table + "_sip_call_id_idx", table + "_start_time_idx"}; !slices.Equal(names, w) {
		t.Fatalf("indexes %v, want %v", names, w)
	}

	// Configuring again, in the same process or a new one, changes nothing.
	if _, err := conn.Export(record("a")); err != nil {
		t.Fatal(err)
	}
	if err := conn.Configure(cfg(table)); err != nil {
		t.Fatal(err)
	}
	configured(t, table)
	if got := schemaVersions(t, table); !slices.Equal(got, []int{1}) {
		t.Fatalf("after configuring again: schema versions %v, want [1]", got)
	}
	if n := count(t, table); n != 1 {
		t.Fatalf("after configuring again: %d rows, want the 1 stored before", n)
	}
}

// Daemons starting together migrate the table once: the advisory lock
// serializes them.
func TestMigrateConcurrently(t *testing.T) {
	table := freshTable(t, "cdr_race")
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		e, _ := direct(t)
		wg.Go(func() { errs[i] = e.Configure(ctx(t), cfgJSON(t, cfg(table))) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("exporter %d: %v", i, err)
		}
	}
	if got := schemaVersions(t, table); !slices.Equal(got, []int{1}) {
		t.Fatalf("schema versions %v, want [1]", got)
	}
}

func TestExport(t *testing.T) {
	table := freshTable(t, "cdr_export")
	conn := configured(t, table)
	recs := []*sdk.CallRecord{record("a"), rejected("b"), record("c")}
	recs[2].Variables = map[string]string{"x": `quote " and \ backslash`}
	acked, err := conn.Export(recs...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acked, []string{"a", "b", "c"}) {
		t.Fatalf("acked %v, want [a b c]", acked)
	}
	if n := count(t, table); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
	for _, r := range recs {
		got, w := readRow(t, table, r.ID), want(t, r)
		if !reflect.DeepEqual(got, w) {
			t.Errorf("row %s:\n got %+v\nwant %+v", r.ID, got, w)
		}
	}
	// An answered call's times, as PostgreSQL sees them.
	var billable float64
	var answered time.Time
	if err := db(t).QueryRow(ctx(t), `SELECT extract(epoch FROM end_time - answer_time), answer_time
		FROM `+ident(table)+` WHERE id = 'a'`).Scan(&billable, &answered); err != nil {
		t.Fatal(err)
	}
	if billable != 120 || !answered.Equal(time.Date(2026, 11, 25, 10, 0, 1, 250e6, time.UTC)) {
		t.Fatalf("end_time - answer_time = %vs, answer_time %v", billable, answered)
	}
	// The empty fields of the rejected call: NULL times and JSON, "" text.
	var nulls int
	if err := db(t).QueryRow(ctx(t), `SELECT num_nulls(answer_time, ring_time, variables, legs)
		+ (codec <> '')::int + (connector <> '')::int FROM `+ident(table)+` WHERE id = 'b'`).Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != 4 {
		t.Fatalf("rejected call: %d of answer_time, ring_time, variables, legs NULL (and codec, connector empty), want all", nulls)
	}

	// The same batch again (the daemon lost the acknowledgement): all acked,
	// no row added or changed.
	var before time.Time
	db(t).QueryRow(ctx(t), `SELECT max(inserted_at) FROM `+ident(table)).Scan(&before)
	changed := record("a")
	changed.HangupCause = "changed"
	acked, err = conn.Export(changed, recs[1], recs[2])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acked, []string{"a", "b", "c"}) {
		t.Fatalf("redelivered batch: acked %v, want [a b c]", acked)
	}
	if n := count(t, table); n != 3 {
		t.Fatalf("after redelivery: %d rows, want 3", n)
	}
	if got := readRow(t, table, "a"); got.HangupCause != "bye" {
		t.Fatalf("redelivery changed the stored row: hangup_cause %q", got.HangupCause)
	}
	var after time.Time
	db(t).QueryRow(ctx(t), `SELECT max(inserted_at) FROM `+ident(table)).Scan(&after)
	if !after.Equal(before) {
		t.Fatalf("inserted_at changed on redelivery: %v then %v", before, after)
	}

	// Old and new records mixed: all acked, the new one stored.
	acked, err = conn.Export(record("c"), record("d"))
	if err != nil || !slices.Equal(acked, []string{"c", "d"}) {
		t.Fatalf("mixed batch: acked %v, %v", acked, err)
	}
	if n := count(t, table); n != 4 {
		t.Fatalf("%d rows, want 4", n)
	}
	if acked, err := conn.Export(); err != nil || len(acked) != 0 {
		t.Fatalf("empty batch: %v, %v", acked, err)
	}
}

// Fields PostgreSQL cannot take as they are are stored as NULL or repaired,
// logged, and the record is stored and acknowledged.
func TestUnstorableFields(t *testing.T) {
	table := freshTable(t, "cdr_unstorable")
	e, logs := direct(t)
	if err := e.Configure(ctx(t), cfgJSON(t, cfg(table))); err != nil {
		t.Fatal(err)
	}
	long := make([]byte, 2500) // 5000 hex digits, beyond what a b-tree entry holds
	rand.Read(long)
	r := record("odd")
	r.StartTime = "yesterday"
	r.EndTime = "2026-13-45T99:00:00Z"
	r.AnswerTime = "2026-11-25T11:00:01.250+01:00" // valid, with an offset
	r.SIPStatus = 3_000_000_000
	r.From.Display = "Ada\x00Lovelace"
	r.Trunk = "bad \xff utf-8"
	r.SIPCallID = hex.EncodeToString(long)
	r.Legs[0].MOS = math.NaN()
	r.Legs[0].RTTMS = math.Inf(1)
	r.Variables = map[string]string{"k\x00": "v\x00", "tier": "gold"}

	acked, err := e.Export(ctx(t), []*sdk.CallRecord{r, record("fine")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acked, []string{"odd", "fine"}) {
		t.Fatalf("acked %v, want [odd fine]", acked)
	}
	got := readRow(t, table, "odd")
	if got.StartTime != nil || got.EndTime != nil || got.SIPStatus != nil {
		t.Errorf("start_time %v, end_time %v, sip_status %v: want NULL", got.StartTime, got.EndTime, got.SIPStatus)
	}
	if got.AnswerTime == nil || !got.AnswerTime.Equal(time.Date(2026, 11, 25, 10, 0, 1, 250e6, time.UTC)) {
		t.Errorf("answer_time %v", got.AnswerTime)
	}
	if got.FromDisplay != "Ada\uFFFDLovelace" || got.Trunk != "bad \uFFFD utf-8" {
		t.Errorf("from_display %q, trunk %q", got.FromDisplay, got.Trunk)
	}
	if len(got.SIPCallID) != maxSIPCallID || !strings.HasPrefix(r.SIPCallID, got.SIPCallID) {
		t.Errorf("sip_call_id column holds %d bytes, want the first %d", len(got.SIPCallID), maxSIPCallID)
	}
	if l := got.Legs[0]; l.MOS != 0 || l.RTTMS != 0 || l.JitterMS != 1.5 {
		t.Errorf("legs %+v", got.Legs)
	}
	if !reflect.DeepEqual(got.Variables, map[string]string{"k\uFFFD": "v\uFFFD", "tier": "gold"}) {
		t.Errorf("variables %q", got.Variables)
	}
	// The record column keeps what was sent, but for NULs and non-finite
	// floats.
	rec := got.Record
	if rec.StartTime != "yesterday" || rec.EndTime != r.EndTime || rec.SIPStatus != r.SIPStatus ||
		rec.SIPCallID != r.SIPCallID || rec.From.Display != "Ada\uFFFDLovelace" || rec.Legs[0].MOS != 0 {
		t.Errorf("record column: %+v", rec)
	}
	if readRow(t, table, "fine").Record.ID != "fine" {
		t.Error("the other record of the batch was not stored")
	}
	l := logs.String()
	for _, w := range []string{"id=odd", "start_time", "end_time", "sip_status", "from_display", "trunk", "sip_call_id", "legs", "variables"} {
		if !strings.Contains(l, w) {
			t.Errorf("the log does not mention %q:\n%s", w, l)
		}
	}
	if strings.Contains(l, "id=fine") {
		t.Errorf("the log mentions a record without problems:\n%s", l)
	}
}

// A record PostgreSQL refuses (here by a CHECK constraint an admin added)
// does not hold up the others: they are stored one by one and acknowledged.
func TestRefusedRecord(t *testing.T) {
	table := freshTable(t, "cdr_refused")
	e, logs := direct(t)
	if err := e.Configure(ctx(t), cfgJSON(t, cfg(table))); err != nil {
		t.Fatal(err)
	}
	exec1(t, `ALTER TABLE `+ident(table)+` ADD CONSTRAINT no_poison CHECK (hangup_cause <> 'poison')`)
	poison := record("p")
	poison.HangupCause = "poison"

	acked, err := e.Export(ctx(t), []*sdk.CallRecord{record("a"), poison, record("c")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acked, []string{"a", "c"}) {
		t.Fatalf("acked %v, want [a c]", acked)
	}
	if n := count(t, table); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
	if l := logs.String(); !strings.Contains(l, "id=p") || !strings.Contains(l, "no_poison") {
		t.Fatalf("the refused record is not logged:\n%s", l)
	}
	// Offered again with one already stored: that one is acked.
	acked, err = e.Export(ctx(t), []*sdk.CallRecord{record("a"), poison})
	if err != nil || !slices.Equal(acked, []string{"a"}) {
		t.Fatalf("acked %v, %v; want [a]", acked, err)
	}
	// Alone, it is an error and nothing is acked.
	acked, err = e.Export(ctx(t), []*sdk.CallRecord{poison})
	if err == nil || len(acked) != 0 || !strings.Contains(err.Error(), "no_poison") {
		t.Fatalf("acked %v, err %v; want an error naming the constraint", acked, err)
	}
}

// Records that cannot be stored at all (nil, no id) are not acknowledged;
// the rest of the batch is.
func TestRecordsWithoutID(t *testing.T) {
	table := freshTable(t, "cdr_noid")
	e, logs := direct(t)
	if err := e.Configure(ctx(t), cfgJSON(t, cfg(table))); err != nil {
		t.Fatal(err)
	}
	acked, err := e.Export(ctx(t), []*sdk.CallRecord{nil, record(""), record("a")})
	if err != nil || !slices.Equal(acked, []string{"a"}) {
		t.Fatalf("acked %v, %v; want [a]", acked, err)
	}
	if !strings.Contains(logs.String(), "without an id") {
		t.Fatalf("log:\n%s", logs)
	}
	if acked, err := e.Export(ctx(t), []*sdk.CallRecord{record("")}); err == nil || len(acked) != 0 {
		t.Fatalf("acked %v, %v; want an error", acked, err)
	}
}

// PostgreSQL stopped: Export fails and acknowledges nothing, a Configure
// meanwhile succeeds with a warning; started again: both export.
func TestDatabaseDown(t *testing.T) {
	table := freshTable(t, "cdr_down")
	lateTable := freshTable(t, "cdr_down_late")
	live, _ := direct(t)
	if err := live.Configure(ctx(t), cfgJSON(t, cfg(table))); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Export(ctx(t), []*sdk.CallRecord{record("a")}); err != nil {
		t.Fatal(err)
	}

	stopDB(t)
	acked, err := live.Export(ctx(t), []*sdk.CallRecord{record("b"), record("c")})
	if err == nil || len(acked) != 0 {
		t.Fatalf("database down: acked %v, err %v; want an error and nothing acked", acked, err)
	}
	t.Logf("database down: %v", err)
	if !strings.Contains(err.Error(), pgDir) {
		t.Errorf("the error does not name the server %s: %v", pgDir, err)
	}
	late, logs := direct(t)
	if err := late.Configure(ctx(t), cfgJSON(t, cfg(lateTable))); err != nil {
		t.Fatalf("Configure with the database down: %v; want a warning only", err)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "cannot be reached") || !strings.Contains(l, pgDir) {
		t.Errorf("no warning naming the server:\n%s", l)
	}
	if acked, err := late.Export(ctx(t), []*sdk.CallRecord{record("b")}); err == nil || len(acked) != 0 {
		t.Fatalf("database down, never reached: acked %v, err %v", acked, err)
	}

	startDB(t)
	acked, err = live.Export(ctx(t), []*sdk.CallRecord{record("b"), record("c")})
	if err != nil || !slices.Equal(acked, []string{"b", "c"}) {
		t.Fatalf("database back: acked %v, %v", acked, err)
	}
	acked, err = late.Export(ctx(t), []*sdk.CallRecord{record("b")})
	if err != nil || !slices.Equal(acked, []string{"b"}) {
		t.Fatalf("database back, first contact: acked %v, %v", acked, err)
	}
	if n := count(t, table); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
	if n := count(t, lateTable); n != 1 {
		t.Fatalf("table created late: %d rows, want 1", n)
	}
	if got := schemaVersions(t, lateTable); !slices.Equal(got, []int{1}) {
		t.Fatalf("table created late: schema versions %v", got)
	}
}

func TestConfigureErrors(t *testing.T) {
	foreign := freshTable(t, "cdr_foreign")
	exec1(t, `CREATE TABLE `+ident(foreign)+` (id text)`)
	newer := freshTable(t, "cdr_newer")
	configured(t, newer)
	exec1(t, `INSERT INTO `+ident(newer+"_schema")+` (version) VALUES (2)`)

	// A role that may log in but not create tables in public (PostgreSQL 15).
	exec1(t, `DO $$ BEGIN CREATE ROLE cdr_noperm LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`)
	noperm := freshTable(t, "cdr_noperm")

	long := strings.Repeat("x", maxTableLen+1)
	sock := "host=" + pgDir + " sslmode=disable "
	tests := []struct {
		name string
		cfg  any
		want []string
	}{
		{"no dsn", map[string]any{}, []string{`"dsn" is required`}},
		{"empty dsn", map[string]any{"dsn": " "}, []string{`"dsn" is required`}},
		{"unknown key", map[string]any{"dsn": dsn, "tabel": "x"}, []string{`unknown field "tabel"`}},
		{"upper case table", map[string]any{"dsn": dsn, "table": "Cdr"}, []string{`"table" "Cdr" is not a plain identifier`}},
		{"table with digit first", map[string]any{"dsn": dsn, "table": "1cdr"}, []string{"not a plain identifier"}},
		{"table with dash", map[string]any{"dsn": dsn, "table": "cdr-x"}, []string{"not a plain identifier"}},
		{"table with SQL", map[string]any{"dsn": dsn, "table": "cdr; drop table x"}, []string{"not a plain identifier"}},
		{"qualified table", map[string]any{"dsn": dsn, "table": "public.cdr"}, []string{"not a plain identifier"}},
		{"empty table", map[string]any{"dsn": dsn, "table": ""}, []string{"not a plain identifier"}},
		{"long table", map[string]any{"dsn": dsn, "table": long}, []string{fmt.Sprintf("at most %d", maxTableLen)}},
		{"zero timeout", map[string]any{"dsn": dsn, "connect_timeout_ms": 0}, []string{`"connect_timeout_ms" 0 is out of range`}},
		{"huge timeout", map[string]any{"dsn": dsn, "connect_timeout_ms": 3600000}, []string{"out of range"}},
		{"bad URL", map[string]any{"dsn": "postgres://voxgate:s3cret@db.example.com:port/voxgate"},
			[]string{`"dsn" is not a valid`, "invalid port"}},
		{"bad key=value", map[string]any{"dsn": "host=db.example.com password=s3cret port=x"},
			[]string{`"dsn" is not a valid`, "invalid port"}},
		{"unterminated quote", map[string]any{"dsn": "host='db.example.com password=s3cret"},
			[]string{`"dsn" is not a valid`}},
		{"no such database", map[string]any{"dsn": sock + "dbname=nope user=postgres password=s3cret"},
			[]string{pgDir, `database "nope" does not exist`, "create the database"}},
		{"no such user", map[string]any{"dsn": sock + "dbname=voxgate user=ghost password=s3cret"},
			[]string{pgDir, `"ghost"`, "check the user"}},
		{"no CREATE on the schema", map[string]any{"dsn": sock + "dbname=voxgate user=cdr_noperm", "table": noperm},
			[]string{pgDir, "permission denied for schema public", "needs CREATE on the schema"}},
		{"not our table", cfg(foreign), []string{pgDir, "cdr_foreign exists", "not created by cdr-postgres"}},
		{"newer schema", cfg(newer), []string{"schema version 2", "upgrade the plugin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := sdktest.InProcess(t, newExporter())
			err := conn.Configure(tt.cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			t.Logf("error: %v", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// A user that may only write records (README.md) uses a table created
// before by its owner.
func TestLeastPrivilege(t *testing.T) {
	table := freshTable(t, "cdr_writer_only")
	configured(t, table) // as postgres, the owner
	exec1(t, `DO $$ BEGIN CREATE ROLE cdr_writer LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`)
	exec1(t, fmt.Sprintf(`GRANT SELECT ON %s TO cdr_writer`, ident(table+"_schema")))
	exec1(t, fmt.Sprintf(`GRANT SELECT, INSERT ON %s TO cdr_writer`, ident(table))) // SELECT: for ON CONFLICT (id)

	conn := sdktest.InProcess(t, newExporter())
	if err := conn.Configure(map[string]any{"dsn": "host=" + pgDir + " dbname=voxgate user=cdr_writer sslmode=disable", "table": table}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time, every row conflicts
		acked, err := conn.Export(record("a"), record("b"))
		if err != nil || !slices.Equal(acked, []string{"a", "b"}) {
			t.Fatalf("acked %v, %v", acked, err)
		}
	}
	if n := count(t, table); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
}

// A refused config keeps the database and table in use.
func TestConfigureErrorKeepsStore(t *testing.T) {
	table := freshTable(t, "cdr_keep")
	conn := configured(t, table)
	if err := conn.Configure(map[string]any{"dsn": dsn, "table": "Bad"}); err == nil {
		t.Fatal("bad table accepted")
	}
	if _, err := conn.Export(record("a")); err != nil {
		t.Fatal(err)
	}
	if n := count(t, table); n != 1 {
		t.Fatalf("%d rows", n)
	}
}

func TestExportBeforeConfigure(t *testing.T) {
	conn := sdktest.InProcess(t, newExporter())
	if _, err := conn.Export(record("a")); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseDSNHidesPassword(t *testing.T) {
	for _, d := range []string{
		"postgres://u:s3cret@h:99999/db",
		"postgresql://u:s3cret@[::1/db",
		"postgres://u:s3cret@h/db?sslmode=bogus",
		"user=u password=s3cret connect_timeout=soon",
		"password='s3cret",
		"host=h password=s3cret target_session_attrs=whatever",
	} {
		_, err := parseDSN(d)
		if err == nil {
			t.Errorf("%s: accepted", d)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the password: %v", d, err)
		}
	}
	if _, err := parseDSN(dsn); err != nil {
		t.Fatal(err)
	}
}

func TestUnreachable(t *testing.T) {
	e, _ := direct(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := e.Configure(ctx, cfgJSON(t, map[string]any{"dsn": "host=/nonexistent/vxpg dbname=voxgate user=postgres", "connect_timeout_ms": 2000}))
	if err != nil {
		t.Fatalf("no server: %v; want a warning only", err)
	}
	_, err = e.Export(ctx, []*sdk.CallRecord{record("a")})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/vxpg/.s.PGSQL.5432") {
		t.Fatalf("err = %v; want one naming the socket", err)
	}
	if !unreachable(err) || unreachable(errors.New("x")) {
		t.Fatal("unreachable() misjudges")
	}
}

func buildPlugin(t *testing.T) string {
	t.Helper()
	bin := sdktest.Build(t, ".")
	return bin
}

// The built binary over a real go-plugin connection, restarted once: the
// second process finds the table, and the batch sent again adds no rows.
func TestBinary(t *testing.T) {
	bin := buildPlugin(t)
	table := freshTable(t, "cdr_binary")
	batch := []*sdk.CallRecord{record("a"), rejected("b"), record("c")}
	for i := range 2 {
		conn := sdktest.Binary(t, bin, sdk.KindExporter)
		if info := conn.Info(); info.GetName() != "cdr-postgres" || info.GetKind() != sdk.KindExporter {
			t.Fatalf("Info() = %v", info)
		}
		if i == 0 {
			if err := conn.Configure(map[string]any{"dsn": dsn, "table": "Bad"}); err == nil || !strings.Contains(err.Error(), "not a plain identifier") {
				t.Fatalf("bad table over the wire: %v", err)
			}
		}
		if err := conn.Configure(cfg(table)); err != nil {
			t.Fatal(err)
		}
		acked, err := conn.Export(batch...)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(acked, []string{"a", "b", "c"}) {
			t.Fatalf("run %d: acked %v", i, acked)
		}
	}
	if n := count(t, table); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
	if got, w := readRow(t, table, "b"), want(t, batch[1]); !reflect.DeepEqual(got, w) {
		t.Fatalf("row b:\n got %+v\nwant %+v", got, w)
	}
	if got := schemaVersions(t, table); !slices.Equal(got, []int{1}) {
		t.Fatalf("schema versions %v", got)
	}
}

// BenchmarkExport100 stores batches of 100 new records, as the daemon sends
// them (MaxBatch), each batch one committed transaction.
func BenchmarkExport100(b *testing.B) {
	table := freshTable(b, "cdr_bench")
	e, _ := direct(b)
	if err := e.Configure(ctx(b), cfgJSON(b, cfg(table))); err != nil {
		b.Fatal(err)
	}
	tmpl := record("x")
	batch := make([]*sdk.CallRecord, 100)
	n := 0
	for b.Loop() {
		for i := range batch {
			r := *tmpl
			r.ID = fmt.Sprintf("vg-%016x", n)
			n++
			batch[i] = &r
		}
		acked, err := e.Export(context.Background(), batch)
		if err != nil || len(acked) != len(batch) {
			b.Fatalf("acked %d, %v", len(acked), err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
}
