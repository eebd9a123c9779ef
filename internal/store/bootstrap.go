package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Role names used by the zero-setup paths (tenantd dev and the tests). A production database
// may use other login roles as long as the application role is a member of tenantd_app and
// owns nothing.
const (
	OwnerRole = "tenantd_owner"
	AppRole   = "tenantd_app"
)

// Bootstrap creates the owner and application roles and an empty database owned by the owner,
// connecting with a superuser URL. Everything it does is idempotent. The application role is
// created without SUPERUSER, BYPASSRLS, CREATEDB or CREATEROLE, so row level security binds it.
func Bootstrap(ctx context.Context, superURL, database string) error {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return fmt.Errorf("connect as superuser: %w", err)
	}
	defer conn.Close(ctx)
	stmts := []string{
		fmt.Sprintf(`DO $$ BEGIN
		  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%[1]s') THEN
		    CREATE ROLE %[1]s LOGIN NOSUPERUSER NOBYPASSRLS CREATEDB NOCREATEROLE;
		  END IF;
		  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%[2]s') THEN
		    CREATE ROLE %[2]s LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
		  ELSE
		    ALTER ROLE %[2]s LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
		  END IF;
		END $$`, OwnerRole, AppRole),
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("bootstrap roles: %w", err)
		}
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, database).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, pgx.Identifier{database}.Sanitize(), OwnerRole)); err != nil {
			return fmt.Errorf("create database: %w", err)
		}
	}
	return nil
}

// CloneDatabase creates database name as a copy of template (a migrated database no one is
// connected to). Tests use it to get a fresh, migrated database in milliseconds.
func CloneDatabase(ctx context.Context, superURL, template, name string) error {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err = conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s OWNER %s STRATEGY FILE_COPY`,
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize(), OwnerRole)); err != nil {
		return err
	}
	// A database's own privileges are not copied from its template: take TEMPORARY from
	// PUBLIC again, as the migration did on the template.
	_, err = conn.Exec(ctx, fmt.Sprintf(`REVOKE TEMPORARY ON DATABASE %s FROM PUBLIC`, pgx.Identifier{name}.Sanitize()))
	return err
}

// DropDatabase removes database name, disconnecting its sessions.
func DropDatabase(ctx context.Context, superURL, name string) error {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, pgx.Identifier{name}.Sanitize()))
	return err
}
