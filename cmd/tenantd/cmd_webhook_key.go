package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"tenantd/internal/httpapi"
	"tenantd/internal/tenancy"
)

func init() {
	register(command{name: "webhook-key", summary: "print the key payment webhooks must be signed with (TENANTD_SECRET, or dev's kept secret)", run: runWebhookKey})
}

// runWebhookKey prints, in hex, the 32-byte key a payment provider signs webhooks with
// (X-Payment-Signature: sha256=<hex HMAC-SHA256 of the raw body under this key>). It is
// derived from TENANTD_SECRET, or, when that is unset, from the secret `tenantd dev` keeps in
// its data directory, so it changes when the secret is rotated: give the provider the new key
// while the old secret is still in TENANTD_SECRET_PREVIOUS.
func runWebhookKey(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("webhook-key", flag.ContinueOnError)
	dataDir := fs.String("data", "./.tenantd", "dev's data directory, read when TENANTD_SECRET is unset")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("webhook-key takes no arguments, got %q", fs.Args())
	}
	secret := os.Getenv("TENANTD_SECRET")
	if secret == "" {
		kept, err := os.ReadFile(filepath.Join(*dataDir, "secret"))
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("TENANTD_SECRET is unset and %s holds no secret of tenantd dev", *dataDir)
		}
		if err != nil {
			return err
		}
		secret = strings.TrimSpace(string(kept))
	}
	kr, err := tenancy.NewKeyring(secret, nil)
	if err != nil {
		return fmt.Errorf("TENANTD_SECRET: %w", err)
	}
	fmt.Println(hex.EncodeToString(kr.Derive(httpapi.WebhookPurpose)))
	return nil
}
