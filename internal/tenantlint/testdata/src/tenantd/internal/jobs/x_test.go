package jobs_test

import (
	"testing"

	_ "github.com/jackc/pgx/v5"
)

func TestExternal(t *testing.T) {}
