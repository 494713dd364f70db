package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// store is one configured database and table.
type store struct {
	pool  *pgxpool.Pool
	table string // validated: a plain identifier
	where string // the server, database and user, for messages; never the password
	stmt  string // the INSERT statement
	log   *slog.Logger

	mu       sync.Mutex // one migration at a time
	migrated bool
	version  int // the table's schema version, once migrated
}

func newStore(cfg *pgxpool.Config, table string, log *slog.Logger) (*store, error) {
	where := describe(&cfg.ConnConfig.Config)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg) // connects lazily
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %w", where, err)
	}
	return &store{pool: pool, table: table, where: where, stmt: insertSQL(table), log: log}, nil
}

func (s *store) close() { s.pool.Close() }

// describe names the server(s), database and user of a connection config.
func describe(c *pgconn.Config) string {
	addr := func(host string, port uint16) string {
		if strings.HasPrefix(host, "/") {
			return filepath.Join(host, fmt.Sprintf(".s.PGSQL.%d", port))
		}
		return net.JoinHostPort(host, fmt.Sprint(port))
	}
	hosts := []string{addr(c.Host, c.Port)}
	for _, f := range c.Fallbacks {
		if a := addr(f.Host, f.Port); !slices.Contains(hosts, a) {
			hosts = append(hosts, a)
		}
	}
	return fmt.Sprintf("%s (database %q, user %q)", strings.Join(hosts, ","), c.Database, c.User)
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// migrations[i] takes the table from schema version i to i+1. Never change
// one that has been released; add the next.
var migrations = []func(table string) []string{
	migrateV1,
}

// migrateV1 creates the table. Text columns hold "" for an empty field;
// times are NULL when the event did not happen.
func migrateV1(table string) []string {
	t := ident(table)
	return []string{
		`CREATE TABLE ` + t + ` (
	id                   text PRIMARY KEY,
	schema_version       bigint NOT NULL,
	sip_call_id          text NOT NULL,
	trunk                text NOT NULL,
	direction            text NOT NULL,
	mode                 text NOT NULL,
	from_user            text NOT NULL,
	from_uri             text NOT NULL,
	from_display         text NOT NULL,
	to_user              text NOT NULL,
	to_uri               text NOT NULL,
	from_e164            text NOT NULL,
	to_e164              text NOT NULL,
	caller_id            text NOT NULL,
	start_time           timestamptz,
	ring_time            timestamptz,
	answer_time          timestamptz,
	end_time             timestamptz,
	duration_ms          bigint NOT NULL,
	billable_ms          bigint NOT NULL,
	billable_seconds     bigint NOT NULL,
	disposition          text NOT NULL,
	sip_status           integer,
	hangup_side          text NOT NULL,
	hangup_cause         text NOT NULL,
	codec                text NOT NULL,
	route_action         text NOT NULL,
	route_rule           text NOT NULL,
	connector            text NOT NULL,
	connector_session_id text NOT NULL,
	transfer_target      text NOT NULL,
	transfer_result      text NOT NULL,
	hostname             text NOT NULL,
	source_addr          text NOT NULL,
	dtmf_count           bigint NOT NULL,
	rtp_packets_in       bigint NOT NULL,
	rtp_packets_out      bigint NOT NULL,
	variables            jsonb,
	legs                 jsonb,
	record               jsonb NOT NULL,
	inserted_at          timestamptz NOT NULL DEFAULT now()
)`,
		`CREATE INDEX ` + ident(table+"_start_time_idx") + ` ON ` + t + ` (start_time)`,
		`CREATE INDEX ` + ident(table+"_sip_call_id_idx") + ` ON ` + t + ` (sip_call_id)`,
		`COMMENT ON TABLE ` + t + ` IS 'voxgate call records (CDR schema v1), written by the cdr-postgres plugin'`,
	}
}

// columns are the columns Export writes, in the order of row.vals.
var columns = []string{
	"id", "schema_version", "sip_call_id", "trunk", "direction", "mode",
	"from_user", "from_uri", "from_display", "to_user", "to_uri",
	"from_e164", "to_e164", "caller_id",
	"start_time", "ring_time", "answer_time", "end_time",
	"duration_ms", "billable_ms", "billable_seconds",
	"disposition", "sip_status", "hangup_side", "hangup_cause", "codec",
	"route_action", "route_rule", "connector", "connector_session_id",
	"transfer_target", "transfer_result", "hostname", "source_addr",
	"dtmf_count", "rtp_packets_in", "rtp_packets_out",
	"variables", "legs", "record",
}

func insertSQL(table string) string {
	params := make([]string, len(columns))
	for i := range columns {
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	return `INSERT INTO ` + ident(table) + ` (` + strings.Join(columns, ", ") + `) VALUES (` +
		strings.Join(params, ", ") + `) ON CONFLICT (id) DO NOTHING`
}

// lockKey is the advisory lock that serializes migrations of one table
// name, so two daemons starting together do not both create it.
func lockKey(table string) int64 {
	h := fnv.New64a()
	io.WriteString(h, "voxgate cdr-postgres migrate "+table)
	return int64(h.Sum64())
}

// migrate brings the table to the latest schema version, once per store.
func (s *store) migrate(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.migrated {
		return nil
	}
	v, err := s.runMigrations(ctx)
	if err != nil {
		return s.explain(err)
	}
	s.migrated, s.version = true, v
	return nil
}

// tableError says why the table cannot be used as it is.
type tableError struct{ msg string }

func (e *tableError) Error() string { return e.msg }

// runMigrations runs the missing migrations in one transaction under the
// table's advisory lock. The <table>_schema table has a row per applied
// version. It returns the version the table is at.
func (s *store) runMigrations(ctx context.Context) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) // after Commit, a no-op
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(s.table)); err != nil {
		return 0, err
	}
	// Looked up first: CREATE TABLE IF NOT EXISTS needs CREATE on the
	// schema even when the table exists, and a user that only writes
	// records (README.md) does not have it.
	schema := ident(s.table + "_schema")
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, schema).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		if _, err := tx.Exec(ctx, `CREATE TABLE `+schema+` (
	version    integer PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
			return 0, err
		}
	}
	var cur int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+schema).Scan(&cur); err != nil {
		return 0, err
	}
	if cur > len(migrations) {
		return 0, &tableError{fmt.Sprintf("table %s is at schema version %d (see %s_schema); this cdr-postgres %s knows versions up to %d: upgrade the plugin",
			s.table, cur, s.table, version, len(migrations))}
	}
	for v := cur; v < len(migrations); v++ {
		for _, stmt := range migrations[v](s.table) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				var pgErr *pgconn.PgError
				if v == 0 && errors.As(err, &pgErr) && pgErr.Code == "42P07" { // duplicate_table
					return 0, &tableError{fmt.Sprintf("a table %s exists but %s_schema does not record it: it was not created by cdr-postgres; choose another \"table\" or drop it",
						s.table, s.table)}
				}
				return 0, fmt.Errorf("migration to schema version %d: %w", v+1, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+schema+` (version) VALUES ($1)`, v+1); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	if cur < len(migrations) {
		s.log.Info("cdr-postgres: table migrated", "table", s.table, "from_version", cur, "to_version", len(migrations))
	}
	return len(migrations), nil
}

// insert stores the rows in one transaction and returns their ids. A
// connection that broke while idle in the pool (the server restarted) is
// retried once on a new one; that is safe because the insert is idempotent.
func (s *store) insert(ctx context.Context, rows []row) ([]string, error) {
	err := s.insertBatch(ctx, rows)
	if err != nil && unreachable(err) && !isConnectError(err) && ctx.Err() == nil {
		err = s.insertBatch(ctx, rows)
	}
	if err == nil {
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.id
		}
		return ids, nil
	}
	if isDataError(err) {
		s.log.Warn("cdr-postgres: PostgreSQL refused the batch; storing its records one by one",
			"records", len(rows), "err", err)
		return s.insertEach(ctx, rows)
	}
	return nil, s.explain(err)
}

// insertBatch sends all the INSERTs in one round trip (a pgx batch) inside
// a transaction.
func (s *store) insertBatch(ctx context.Context, rows []row) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	b := &pgx.Batch{}
	for _, r := range rows {
		b.Queue(s.stmt, r.vals...)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// insertEach stores the rows one by one, each under a savepoint of one
// transaction, and returns the ids of those stored. The rows PostgreSQL
// refuses are logged and left out.
func (s *store) insertEach(ctx context.Context, rows []row) ([]string, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, s.explain(err)
	}
	defer tx.Rollback(ctx)
	var acked []string
	var refused error
	for _, r := range rows {
		sp, err := tx.Begin(ctx) // SAVEPOINT
		if err != nil {
			return nil, s.explain(err)
		}
		if _, err := sp.Exec(ctx, s.stmt, r.vals...); err != nil {
			if !isDataError(err) {
				return nil, s.explain(err)
			}
			s.log.Error("cdr-postgres: PostgreSQL refused the record; not acknowledged", "id", r.id, "err", err)
			if refused == nil {
				refused = err
			}
			if err := sp.Rollback(ctx); err != nil {
				return nil, s.explain(err)
			}
			continue
		}
		if err := sp.Commit(ctx); err != nil { // RELEASE SAVEPOINT
			return nil, s.explain(err)
		}
		acked = append(acked, r.id)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, s.explain(err)
	}
	if len(acked) == 0 {
		return nil, s.explain(fmt.Errorf("all %d records refused: %w", len(rows), refused))
	}
	return acked, nil
}

// unreachable reports whether err means that the server cannot be reached
// or is not accepting work now, as opposed to a setting that is wrong.
func unreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources: too many connections, disk full
			"57", // operator intervention: shutting down, starting up
			"58": // system error: I/O error
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// isDataError reports whether PostgreSQL refused a row for its data: a
// value it cannot take (22), a constraint (23) or a limit such as the size
// of an index entry (54). Other rows of the batch may be fine.
func isDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}

// explain puts the server in front of err and adds a hint for the usual
// mistakes.
func (s *store) explain(err error) error {
	hint := ""
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "3D000": // invalid_catalog_name
			hint = "; create the database or fix dbname in \"dsn\""
		case "28000", "28P01": // invalid_authorization_specification, invalid_password
			hint = "; check the user and password in \"dsn\" and the server's pg_hba.conf"
		case "42501": // insufficient_privilege
			hint = fmt.Sprintf("; the user needs CREATE on the schema to create %s (PostgreSQL 15 no longer grants it on public), and INSERT and SELECT on %s and %s_schema",
				s.table, s.table, s.table)
		}
	}
	return fmt.Errorf("PostgreSQL at %s: %w%s", s.where, err, hint)
}
