package store_test

import (
	"context"
	"os"
	"testing"

	"tenantd/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestSmoke(t *testing.T) {
	s, _ := pgtest.Store(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	ok, err := s.SchemaCurrent(context.Background())
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
}
