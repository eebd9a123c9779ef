// Package store is the only holder of the database pool. Everything that reads or writes
// tenant data goes through a Scope, which binds one tenant to the transaction with
// set_config(..., true) and filters every query on that tenant as well; cross-tenant work goes
// through the explicitly named Platform and Identity paths.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors translated at the boundary so that no caller needs to know pgx.
var (
	// ErrNotFound: no such row in this tenant (also for rows of other tenants).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a per-tenant uniqueness rule or a state rule was violated.
	ErrConflict = errors.New("conflict")
	// ErrInvalidReference: a referenced id does not exist in this tenant.
	ErrInvalidReference = errors.New("invalid reference")
	// ErrRolledBack: a write transaction was asked to commit after one of its statements had
	// failed, so PostgreSQL rolled it back instead; nothing of it was kept.
	ErrRolledBack = errors.New("store: the transaction had failed and was rolled back, not committed")
	// ErrTimeout: PostgreSQL stopped a statement that ran longer than statement_timeout (or
	// was cancelled), or a transaction left idle longer than idle_in_transaction_session_timeout
	// (see connectionTimeouts). Nothing of the transaction was kept.
	ErrTimeout = errors.New("store: the database stopped a statement or transaction that took too long")
)

// ConflictError names the constraint that was violated.
type ConflictError struct{ Constraint string }

func (e *ConflictError) Error() string { return "conflict on " + e.Constraint }

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// ReferenceError names the foreign key that refused a reference.
type ReferenceError struct{ Constraint string }

func (e *ReferenceError) Error() string { return "invalid reference " + e.Constraint }

// Unwrap makes errors.Is(err, ErrInvalidReference) true.
func (e *ReferenceError) Unwrap() error { return ErrInvalidReference }

// Store holds the pool of connections made as the application role.
type Store struct {
	pool    *pgxpool.Pool
	observe ScopeObserver
	auth    *authCache
}

// connectionTimeouts bound what one statement, and one transaction left waiting between
// statements, may hold on the application role's connections: a runaway query or a transaction
// stuck in Go cannot keep a pooled connection, row locks or a snapshot for ever, for every
// tenant. Requests and jobs finish far sooner. The whole-tenant paths that legitimately take
// longer (export, offboarding: platBegin) lift both for their own transaction. A DATABASE_URL
// that names either setting (?statement_timeout=...) wins.
var connectionTimeouts = map[string]string{
	"statement_timeout":                   "30s",
	"idle_in_transaction_session_timeout": "60s",
}

// Open connects to url (the application role) and checks that the role cannot bypass row
// level security: a server connected as a superuser or a BYPASSRLS role would silently void
// every policy, so it refuses to start instead.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := poolConfig(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{pool: pool, auth: newAuthCache()}
	if err := s.checkRole(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// poolConfig is the pool configuration for url: at least 16 connections, tenantd's uuid codec
// and connectionTimeouts unless url sets them.
func poolConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "tenantd"
	for name, value := range connectionTimeouts {
		if _, set := cfg.ConnConfig.RuntimeParams[name]; !set {
			cfg.ConnConfig.RuntimeParams[name] = value
		}
	}
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		registerUUID(conn.TypeMap())
		return nil
	}
	return cfg, nil
}

func (s *Store) checkRole(ctx context.Context) error {
	var super, bypass bool
	var name string
	err := s.pool.QueryRow(ctx, `SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&name, &super, &bypass)
	if err != nil {
		return fmt.Errorf("check database role: %w", err)
	}
	if super || bypass {
		return fmt.Errorf("database role %q is superuser or has BYPASSRLS: row level security would not apply; connect as the application role", name)
	}
	var owns int
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('public', 'app') AND pg_get_userbyid(c.relowner) = current_user`).Scan(&owns)
	if err != nil {
		return fmt.Errorf("check database role: %w", err)
	}
	if owns > 0 {
		return fmt.Errorf("database role %q owns %d tables: an owner can disable row level security; connect as the application role", name, owns)
	}
	var temp bool
	if err := s.pool.QueryRow(ctx, `SELECT has_database_privilege(current_database(), 'TEMPORARY')`).Scan(&temp); err != nil {
		return fmt.Errorf("check database role: %w", err)
	}
	if temp {
		return fmt.Errorf("database role %q may create temporary tables, which would hide tenantd's tables from later statements on the same connection; run REVOKE TEMPORARY ON DATABASE <name> FROM PUBLIC (the migrations do, when their role owns the database) and grant it to no role the application role belongs to", name)
	}
	return nil
}

// MaxConns is the most connections the pool opens.
func (s *Store) MaxConns() int { return int(s.pool.Config().MaxConns) }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.pool.Ping(ctx)
}

// NewID returns a new time-ordered id (UUIDv7), so that keyset pagination by id follows
// creation order and inserts stay at the right edge of indexes.
func NewID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// translate maps database errors onto the store's errors.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return &ConflictError{Constraint: pgErr.ConstraintName}
		case "23503": // foreign_key_violation
			return &ReferenceError{Constraint: pgErr.ConstraintName}
		case "23514": // check_violation
			return &CheckError{Constraint: pgErr.ConstraintName}
		case "22P02", "22007", "22008", "22003": // bad text representation, datetime, range
			return &CheckError{Constraint: strings.TrimSpace(pgErr.Message)}
		case "22021", "22P05": // text PostgreSQL cannot store (a NUL, invalid UTF-8)
			return &CheckError{Constraint: strings.TrimSpace(pgErr.Message)}
		case "57014", "25P03": // statement timeout (or cancelled), idle-in-transaction timeout
			return fmt.Errorf("%w: %w", ErrTimeout, err)
		}
	}
	return err
}

// CheckError reports a value the database's CHECK constraints refused.
type CheckError struct{ Constraint string }

func (e *CheckError) Error() string { return "value refused by " + e.Constraint }
