package jobs

import (
	"database/sql"
	"testing"
)

func TestRaw(t *testing.T) { _ = sql.ErrNoRows }
