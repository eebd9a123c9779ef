// Package tenancy holds the pure (database-free) parts of tenant identity: the signed
// tenant_sig cookie and the resolution of a request host to a tenant reference.
package tenancy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// SignatureVersion is the payload format version of tenant_sig.
const SignatureVersion = 1

// MinSecretLen is the shortest secret accepted for signing.
const MinSecretLen = 32

// Signature errors. All of them mean 403 invalid_tenant_signature to the client; they are
// distinct so that the security event says what was wrong.
var (
	ErrMalformed  = errors.New("tenant_sig malformed")
	ErrUnknownKey = errors.New("tenant_sig signed by an unknown key")
	ErrBadMAC     = errors.New("tenant_sig signature mismatch")
	ErrExpired    = errors.New("tenant_sig expired")
)

// Claims is the payload of a tenant_sig cookie: it binds a tenant to one user's one session for
// a bounded time.
type Claims struct {
	Version   int       `json:"v"`
	KeyID     string    `json:"kid"`
	TenantID  uuid.UUID `json:"tid"`
	UserID    uuid.UUID `json:"uid"`
	SessionID uuid.UUID `json:"sid"`
	IssuedAt  int64     `json:"iat"`
	ExpiresAt int64     `json:"exp"`
}

type key struct {
	id  string
	mac []byte
}

// Keyring signs with the current secret and verifies with the current and the previous ones,
// so that the secret can be rotated without logging anyone out.
type Keyring struct {
	current  key
	previous []key
}

// NewKeyring builds a keyring from the current secret and any number of previous secrets.
func NewKeyring(current string, previous []string) (*Keyring, error) {
	if len(current) < MinSecretLen {
		return nil, fmt.Errorf("secret must be at least %d bytes, got %d", MinSecretLen, len(current))
	}
	k := &Keyring{current: deriveKey(current)}
	for _, p := range previous {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if len(p) < MinSecretLen {
			return nil, fmt.Errorf("previous secret must be at least %d bytes, got %d", MinSecretLen, len(p))
		}
		k.previous = append(k.previous, deriveKey(p))
	}
	return k, nil
}

// deriveKey separates the cookie-signing key from any other use of the same secret, and names
// it by a short fingerprint that reveals nothing about it.
func deriveKey(secret string) key {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("tenantd tenant_sig v1"))
	mac := m.Sum(nil)
	fp := sha256.Sum256(mac)
	return key{id: hex.EncodeToString(fp[:4]), mac: mac}
}

// Derive returns a key for another purpose (e.g. payment webhooks, idempotency hashing),
// derived from the current secret.
func (k *Keyring) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, k.current.mac)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// Sign returns the cookie value for c, signed with the current key.
func (k *Keyring) Sign(c Claims) string {
	c.Version = SignatureVersion
	c.KeyID = k.current.id
	payload, _ := json.Marshal(c)
	m := hmac.New(sha256.New, k.current.mac)
	m.Write(payload)
	return b64.EncodeToString(payload) + "." + b64.EncodeToString(m.Sum(nil))
}

// Verify checks value's signature in constant time and its expiry, and returns its claims.
func (k *Keyring) Verify(value string, now time.Time) (Claims, error) {
	var c Claims
	if len(value) > 1024 {
		return c, ErrMalformed
	}
	p, s, ok := strings.Cut(value, ".")
	if !ok {
		return c, ErrMalformed
	}
	payload, err1 := b64.DecodeString(p)
	sig, err2 := b64.DecodeString(s)
	if err1 != nil || err2 != nil || len(sig) != sha256.Size {
		return c, ErrMalformed
	}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.Version != SignatureVersion {
		return Claims{}, ErrMalformed
	}
	var kk *key
	if c.KeyID == k.current.id {
		kk = &k.current
	} else {
		for i := range k.previous {
			if k.previous[i].id == c.KeyID {
				kk = &k.previous[i]
				break
			}
		}
	}
	if kk == nil {
		return Claims{}, ErrUnknownKey
	}
	m := hmac.New(sha256.New, kk.mac)
	m.Write(payload)
	if !hmac.Equal(m.Sum(nil), sig) {
		return Claims{}, ErrBadMAC
	}
	if c.TenantID == uuid.Nil || c.UserID == uuid.Nil || c.SessionID == uuid.Nil {
		return Claims{}, ErrMalformed
	}
	if now.Unix() >= c.ExpiresAt {
		return Claims{}, ErrExpired
	}
	return c, nil
}
