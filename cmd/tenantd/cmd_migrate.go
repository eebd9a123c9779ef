package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"tenantd/internal/store"
)

func init() {
	register(command{name: "migrate", summary: "up|down|status: schema migrations (MIGRATE_DATABASE_URL, the owner role)", run: runMigrate})
}

func runMigrate(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: tenantd migrate up|down|status")
	}
	url := os.Getenv("MIGRATE_DATABASE_URL")
	if url == "" {
		return errors.New("MIGRATE_DATABASE_URL is required (the schema owner's connection URL)")
	}
	m, err := store.NewMigrator(url, os.Stdout)
	if err != nil {
		return err
	}
	defer m.Close()
	switch args[0] {
	case "up":
		return m.Up(ctx)
	case "down":
		return m.Down(ctx)
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			state := "pending"
			if s.Applied {
				state = "applied"
			}
			fmt.Printf("%05d  %-8s %s\n", s.Version, state, s.Name)
		}
		return nil
	}
	return fmt.Errorf("unknown migrate action %q (want up, down or status)", args[0])
}
