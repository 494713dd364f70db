//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pg is a throw-away PostgreSQL from Debian's package (test/pg/pg.sh).
type pg struct {
	t   *testing.T
	dir string
	dsn string
}

func startPG(t *testing.T) *pg {
	t.Helper()
	need(t, "psql")
	dir, err := os.MkdirTemp("/tmp", "vxpg")
	if err != nil {
		t.Fatal(err)
	}
	p := &pg{t: t, dir: dir}
	p.dsn = p.run("start")
	t.Cleanup(func() {
		p.run("stop")
		os.RemoveAll(dir)
	})
	return p
}

func (p *pg) run(cmd string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(p.t), "test/pg/pg.sh"), cmd, p.dir)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil && cmd != "stop" {
		p.t.Fatalf("test/pg/pg.sh %s: %v\n%s", cmd, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func (p *pg) query(q string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "psql", p.dsn, "-At", "-c", q).CombinedOutput()
	if err != nil {
		p.t.Fatalf("psql %q: %v\n%s", q, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (p *pg) count(where string) int {
	p.t.Helper()
	q := "SELECT count(*) FROM voxgate_cdr"
	if where != "" {
		q += " WHERE " + where
	}
	n, err := strconv.Atoi(p.query(q))
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

// waitRows waits until the table holds n rows (the exporter retries with
// backoff up to 30 s).
func (p *pg) waitRows(n int, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	got := -1
	for time.Now().Before(deadline) {
		out, err := exec.Command("psql", p.dsn, "-At", "-c", "SELECT count(*) FROM voxgate_cdr").Output()
		if err == nil {
			got, _ = strconv.Atoi(strings.TrimSpace(string(out)))
			if got >= n {
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	p.t.Fatalf("PostgreSQL has %d rows after %v, want %d", got, timeout, n)
}

func countBy(recs []record, f func(record) bool) int {
	n := 0
	for _, r := range recs {
		if f(r) {
			n++
		}
	}
	return n
}

// 200 calls of four kinds → exactly 200 rows and 200 lines, right fields.
func TestCDR200CallsPostgresAndJSONL(t *testing.T) {
	need(t, "sipp")
	db := startPG(t)
	d := startDaemon(t, daemonOpts{rules: testRules, pgDSN: db.dsn, mediaTimeout: "2s"})
	runs := []struct {
		scenario, service string
		calls, rate       int
	}{
		{"uac_short.xml", "echo", 80, 40},
		{"uac_rejected.xml", "busy", 40, 40},
		{"uac_cancel.xml", "slow", 40, 20},
		{"uac_silent.xml", "echo", 40, 20},
	}
	for _, r := range runs {
		if code, out := sippN(t, 60*time.Second, r.scenario, r.service, r.calls, r.rate); code != 0 {
			t.Fatalf("%s: sipp exit %d:\n%s", r.scenario, code, out)
		}
	}
	recs := d.records(200, 30*time.Second)
	db.waitRows(200, 30*time.Second)
	if len(recs) != 200 {
		t.Fatalf("cdr.jsonl has %d lines, want 200", len(recs))
	}
	if n := db.count(""); n != 200 {
		t.Fatalf("PostgreSQL has %d rows, want exactly 200", n)
	}
	want := map[string]int{"answered": 80, "rejected": 40, "cancelled": 40, "media-timeout": 40}
	for disp, n := range want {
		if got := countBy(recs, func(r record) bool { return r.Disposition == disp }); got != n {
			t.Errorf("cdr.jsonl: %d %s, want %d", got, disp, n)
		}
		if got := db.count(fmt.Sprintf("disposition = '%s'", disp)); got != n {
			t.Errorf("PostgreSQL: %d %s, want %d", got, disp, n)
		}
	}
	checks := []struct {
		what string
		ok   func(record) bool
	}{
		{"answered: 200, answer time, billable, caller hung up", func(r record) bool {
			return r.Disposition != "answered" || (r.SIPStatus == 200 && r.AnswerTime != "" && r.BillableMS >= 400 && r.HangupSide == "caller")
		}},
		{"rejected: 486 by rule busy, no answer", func(r record) bool {
			return r.Disposition != "rejected" || (r.SIPStatus == 486 && r.RouteRule == "busy" && r.AnswerTime == "")
		}},
		{"cancelled: 487 by the caller, no answer", func(r record) bool {
			return r.Disposition != "cancelled" || (r.SIPStatus == 487 && r.HangupSide == "caller" && r.AnswerTime == "")
		}},
		{"media-timeout: answered, hung up by the system after ≥ 2 s", func(r record) bool {
			return r.Disposition != "media-timeout" || (r.AnswerTime != "" && r.HangupSide == "system" && r.BillableMS >= 1900)
		}},
	}
	for _, c := range checks {
		for _, r := range recs {
			if !c.ok(r) {
				t.Fatalf("%s: record %+v", c.what, r.Raw)
			}
		}
	}
	// The database holds the same calls with typed columns.
	if got := db.query("SELECT count(*) FROM voxgate_cdr WHERE disposition = 'answered' AND answer_time IS NOT NULL AND billable_ms > 0 AND from_e164 LIKE '+4930555%'"); got != "80" {
		t.Fatalf("answered rows with answer_time, billable_ms and from_e164: %s, want 80", got)
	}
	ids := map[string]bool{}
	for _, r := range recs {
		ids[r.ID] = true
	}
	if len(ids) != 200 {
		t.Fatalf("%d distinct call ids in cdr.jsonl, want 200", len(ids))
	}
}

// PostgreSQL is down during 100 calls and comes back later: all 100 arrive,
// none twice; the file exporter is not held back meanwhile.
func TestCDRPostgresDownThenBack(t *testing.T) {
	need(t, "sipp")
	db := startPG(t)
	d := startDaemon(t, daemonOpts{pgDSN: db.dsn})
	db.run("stop")
	if code, out := sippN(t, 60*time.Second, "uac_short.xml", "echo", 100, 50); code != 0 {
		t.Fatalf("sipp exit %d:\n%s", code, out)
	}
	d.records(100, 30*time.Second) // cdr-jsonl keeps going
	time.Sleep(3 * time.Second)    // the postgres exporter fails and backs off meanwhile
	if !strings.Contains(d.log(), "export failed; will retry") {
		t.Fatalf("no failed export logged while PostgreSQL was down:\n%s", d.log())
	}
	db.dsn = db.run("start-again")
	db.waitRows(100, 60*time.Second)
	time.Sleep(time.Second)
	if n := db.count(""); n != 100 {
		t.Fatalf("PostgreSQL has %d rows, want exactly 100", n)
	}
}

// kill -9 with 20 calls live and 50 records not yet exported to PostgreSQL:
// after the restart, 50 exported plus 20 interrupted, no duplicates.
func TestCDRKill9WithLiveCallsAndBacklog(t *testing.T) {
	need(t, "sipp")
	db := startPG(t)
	dir := t.TempDir()
	d := startDaemon(t, daemonOpts{dir: dir, pgDSN: db.dsn, mediaTimeout: "60s"})
	db.run("stop")
	if code, out := sippN(t, 60*time.Second, "uac_short.xml", "echo", 50, 50); code != 0 {
		t.Fatalf("sipp exit %d:\n%s", code, out)
	}
	d.records(50, 30*time.Second)

	// 20 calls that stay up (they send no RTP and wait for a BYE that never comes).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live := exec.CommandContext(ctx, "sipp", "-sf", filepath.Join(repoRoot(t), "test/e2e/scenarios/uac_silent.xml"),
		fmt.Sprintf("127.0.0.1:%d", sipPort), "-s", "echo", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "15081",
		"-mp", "17000", "-m", "20", "-r", "20", "-l", "20", "-cp", "18872", "-nostdin", "-timeout", "60s")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	d.waitLog(`(?s)(call answered.*){70}`, 30*time.Second)
	d.cmd.Process.Kill()
	<-d.done
	cancel()
	live.Wait()

	db.dsn = db.run("start-again")
	d2 := startDaemon(t, daemonOpts{dir: dir, pgDSN: db.dsn, mediaTimeout: "60s"})
	db.waitRows(70, 60*time.Second)
	time.Sleep(time.Second)
	if n := db.count(""); n != 70 {
		t.Fatalf("PostgreSQL has %d rows, want 70 (50 + 20 interrupted)", n)
	}
	if n := db.count("disposition = 'interrupted'"); n != 20 {
		t.Fatalf("%d interrupted rows, want 20", n)
	}
	if n := db.count("disposition = 'answered'"); n != 50 {
		t.Fatalf("%d answered rows, want 50", n)
	}
	if got := db.query("SELECT count(*) FROM voxgate_cdr WHERE disposition = 'interrupted' AND answer_time IS NOT NULL AND end_time IS NOT NULL"); got != "20" {
		t.Fatalf("interrupted rows with answer and end time: %s, want 20", got)
	}
	if !strings.Contains(d2.log(), "recorded as interrupted") {
		t.Fatalf("restart did not log the interrupted calls:\n%s", d2.log())
	}
}

// A torn last record in a spool segment is skipped with a log line and
// everything else is exported.
func TestCDRTornRecordSkipped(t *testing.T) {
	need(t, "sipp")
	db := startPG(t)
	dir := t.TempDir()
	d := startDaemon(t, daemonOpts{dir: dir, pgDSN: db.dsn})
	db.run("stop")
	if code, out := sippN(t, 60*time.Second, "uac_short.xml", "echo", 10, 10); code != 0 {
		t.Fatalf("sipp exit %d:\n%s", code, out)
	}
	d.records(10, 30*time.Second)
	d.stop()

	segs, _ := filepath.Glob(filepath.Join(dir, "state", "spool", "seg-*.log"))
	if len(segs) == 0 {
		t.Fatalf("no spool segment in %s", filepath.Join(dir, "state", "spool"))
	}
	last := segs[len(segs)-1]
	info, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(last, info.Size()-7); err != nil {
		t.Fatal(err)
	}

	db.dsn = db.run("start-again")
	d2 := startDaemon(t, daemonOpts{dir: dir, pgDSN: db.dsn})
	db.waitRows(9, 60*time.Second)
	time.Sleep(2 * time.Second)
	if n := db.count(""); n != 9 {
		t.Fatalf("PostgreSQL has %d rows, want the 9 intact records", n)
	}
	if !strings.Contains(d2.log(), "torn record") {
		t.Fatalf("no log line about the torn record:\n%s", d2.log())
	}
}
