package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/google/uuid"
)

// NewSessionToken returns an opaque random session token and the hash under which it is
// stored; the token itself is never stored.
func NewSessionToken() (token string, hash []byte) {
	return newSecret("tds_")
}

func newSecret(prefix string) (string, []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // the system's random source failed; nothing safe can continue
	}
	tok := prefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, HashToken(tok)
}

// HashToken is the stored form of a session or API token.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ErrBadToken means a bearer token is not of tenantd's shape.
var ErrBadToken = errors.New("malformed API token")

const apiTokenPrefix = "tdt_"

// NewAPIToken returns a bearer token bound to tenant, its hash and a short display prefix.
// The token names its tenant so that it can be verified inside that tenant's scope without a
// cross-tenant lookup; the name is only a hint: the hash must match in that tenant.
func NewAPIToken(tenant uuid.UUID) (token string, hash []byte, prefix string) {
	tok, h := newSecret(apiTokenPrefix + hex.EncodeToString(tenant[:]) + "_")
	return tok, h, tok[:len(apiTokenPrefix)+32+1+6]
}

// ParseAPIToken returns the tenant a bearer token names and the token's hash.
func ParseAPIToken(token string) (uuid.UUID, []byte, error) {
	rest, ok := strings.CutPrefix(token, apiTokenPrefix)
	if !ok || len(rest) != 32+1+43 || rest[32] != '_' {
		return uuid.Nil, nil, ErrBadToken
	}
	raw, err := hex.DecodeString(rest[:32])
	if err != nil {
		return uuid.Nil, nil, ErrBadToken
	}
	if _, err := base64.RawURLEncoding.DecodeString(rest[33:]); err != nil {
		return uuid.Nil, nil, ErrBadToken
	}
	id, err := uuid.FromBytes(raw)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, nil, ErrBadToken
	}
	return id, HashToken(token), nil
}
