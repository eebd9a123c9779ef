// Package storefront only shares a prefix with the store.
package storefront

import _ "github.com/jackc/pgx/v5/pgxpool" // want `tenantd/internal/storefront imports database driver "github.com/jackc/pgx/v5/pgxpool"`
