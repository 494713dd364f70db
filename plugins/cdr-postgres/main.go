// Command cdr-postgres is a voxgate CDR exporter plugin that stores each call
// record as a row of a PostgreSQL table. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voxgate/voxgate/sdk"
)

// version is overridden at build time with -ldflags "-X main.version=...".
var version = "1.0.0"

const (
	defaultTable            = "voxgate_cdr"
	defaultConnectTimeoutMS = 5000
	maxConnectTimeoutMS     = 60000
	// maxTableLen keeps the names derived from the table name (the longest is
	// <table>_sip_call_id_idx) within PostgreSQL's 63-byte identifiers, which
	// it would otherwise truncate silently: <table>_schema cut back to
	// <table> would be the CDR table itself.
	maxTableLen = 63 - len("_sip_call_id_idx")
	// callTimeout bounds Configure and Export when the caller's context has
	// no deadline (the daemon always gives one).
	callTimeout = 60 * time.Second
)

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// config is the plugin's table from voxgate.toml.
type config struct {
	// DSN is a libpq connection string, key=value pairs or a postgres:// URL.
	DSN string `json:"dsn"`
	// Table is the CDR table's name, unqualified: it is created in the
	// first schema of the connection's search_path.
	Table string `json:"table"`
	// ConnectTimeoutMS bounds each attempt to open a connection.
	ConnectTimeoutMS int `json:"connect_timeout_ms"`
}

func (c *config) validate() error {
	if strings.TrimSpace(c.DSN) == "" {
		return errors.New(`"dsn" is required: a libpq connection string, e.g. "host=db.example.com dbname=voxgate user=voxgate password=…" or "postgres://voxgate:…@db.example.com/voxgate"`)
	}
	if !tableName.MatchString(c.Table) {
		return fmt.Errorf(`"table" %q is not a plain identifier: use lower-case letters, digits and _, starting with a letter or _`, c.Table)
	}
	if len(c.Table) > maxTableLen {
		return fmt.Errorf(`"table" %q is %d characters long; at most %d are allowed, so that %s_schema and the index names fit PostgreSQL's 63-character names`,
			c.Table, len(c.Table), maxTableLen, c.Table)
	}
	if c.ConnectTimeoutMS < 1 || c.ConnectTimeoutMS > maxConnectTimeoutMS {
		return fmt.Errorf(`"connect_timeout_ms" %d is out of range: use 1 to %d`, c.ConnectTimeoutMS, maxConnectTimeoutMS)
	}
	return nil
}

type exporter struct {
	log *slog.Logger // sdk.Log; tests replace it to read what is logged

	mu sync.Mutex
	st *store // nil until configured
}

func newExporter() *exporter { return &exporter{log: sdk.Log} }

func (e *exporter) Info() sdk.Info { return sdk.Info{Name: "cdr-postgres", Version: version} }

// Configure checks the config, connects and creates or migrates the table.
//
// A database that cannot be reached (connection refused, timeout, server
// starting or shutting down) is not an error here: the daemon would refuse
// to start, and it would stay down for as long as the database is. The
// plugin logs a warning and returns nil; every Export then fails, leaving
// its records unacknowledged in the daemon, until the database answers, and
// the first Export that reaches it creates the table. Everything that stays
// wrong until the config is fixed is an error: a bad setting or DSN, a
// database that refuses the login or does not exist, a table the user may
// not create, a table of the same name not made by this plugin.
//
// On an error the store in use, if any, stays in use.
func (e *exporter) Configure(ctx context.Context, cfg sdk.Config) error {
	c := config{Table: defaultTable, ConnectTimeoutMS: defaultConnectTimeoutMS}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	pcfg, err := parseDSN(c.DSN)
	if err != nil {
		return err
	}
	pcfg.ConnConfig.ConnectTimeout = time.Duration(c.ConnectTimeoutMS) * time.Millisecond
	if _, ok := pcfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		pcfg.ConnConfig.RuntimeParams["application_name"] = "voxgate-cdr-postgres"
	}
	st, err := newStore(pcfg, c.Table, e.log)
	if err != nil {
		return err
	}

	ctx, cancel := bounded(ctx)
	defer cancel()
	switch err := st.migrate(ctx); {
	case err == nil:
		e.log.Info("cdr-postgres configured", "database", st.where, "table", st.table, "schema_version", st.version)
	case unreachable(err):
		e.log.Warn("cdr-postgres: PostgreSQL cannot be reached; records wait in the daemon until it can",
			"database", st.where, "table", st.table, "err", err)
	default:
		st.close()
		return err
	}

	e.mu.Lock()
	old := e.st
	e.st = st
	e.mu.Unlock()
	if old != nil {
		old.close() // waits for an Export still using it
	}
	return nil
}

// Export stores the batch in one transaction and acknowledges the records
// once it has committed. A record already in the table (the same id, sent
// again after a lost acknowledgement) is left as it is and acknowledged:
// storing it twice is harmless. Fields that cannot be stored as they are
// are stored as NULL or repaired (see row.go) and logged; the record is
// stored. When PostgreSQL refuses the batch because of one record's data,
// the records are stored one by one and only the refused ones are left
// unacknowledged.
func (e *exporter) Export(ctx context.Context, recs []*sdk.CallRecord) ([]string, error) {
	e.mu.Lock()
	st := e.st
	e.mu.Unlock()
	if st == nil {
		return nil, errors.New("cdr-postgres is not configured")
	}

	rows := make([]row, 0, len(recs))
	for i, r := range recs {
		switch {
		case r == nil:
			e.log.Error("cdr-postgres: empty record in batch, not acknowledged", "index", i)
			continue
		case r.ID == "":
			e.log.Error("cdr-postgres: record without an id, not acknowledged: the id is its key",
				"index", i, "sip_call_id", r.SIPCallID, "start_time", r.StartTime)
			continue
		}
		rw, problems := makeRow(r)
		if len(problems) > 0 {
			e.log.Warn("cdr-postgres: record stored with repaired fields; its record column keeps the rest as sent",
				"id", r.ID, "problems", strings.Join(problems, "; "))
		}
		rows = append(rows, rw)
	}
	if len(rows) == 0 {
		if len(recs) == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("none of the %d records can be stored (see the log)", len(recs))
	}

	ctx, cancel := bounded(ctx)
	defer cancel()
	if err := st.migrate(ctx); err != nil {
		return nil, err
	}
	return st.insert(ctx, rows)
}

// bounded gives ctx a deadline if it has none.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, callTimeout)
}

// parseDSN parses a libpq connection string. Its error never holds the
// password: pgx's own message quotes the string (redacted, best effort) and
// a URL's parse error quotes it whole, so only the reason is kept.
func parseDSN(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err == nil {
		return cfg, nil
	}
	const prefix = `"dsn" is not a valid libpq connection string (key=value pairs or a postgres:// URL)`
	var pce *pgconn.ParseConfigError
	if !errors.As(err, &pce) {
		return nil, errors.New(prefix)
	}
	// pce reads "cannot parse `<dsn>`: <reason>[ (<cause>)]".
	msg := pce.Error()
	cause := pce.Unwrap()
	if cause != nil {
		msg = strings.TrimSuffix(msg, " ("+cause.Error()+")")
	}
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		msg = msg[i+len("`: "):]
	} else {
		msg = ""
	}
	var uerr *url.Error
	if errors.As(cause, &uerr) {
		cause = uerr.Err // without the URL
	}
	if cause != nil {
		msg = strings.TrimPrefix(msg+": "+cause.Error(), ": ")
	}
	if msg == "" {
		return nil, errors.New(prefix)
	}
	return nil, fmt.Errorf("%s: %s", prefix, msg)
}

func main() { sdk.ServeExporter(newExporter()) }
