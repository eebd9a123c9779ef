// Package tenancy holds the pure (database-free) parts of tenant identity: the signed
// tenant_sig cookie and the resolution of a request host to a tenant reference.
package tenancy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
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
	Version   int
	KeyID     string
	TenantID  uuid.UUID
	UserID    uuid.UUID
	SessionID uuid.UUID
	IssuedAt  int64 // Unix seconds
	ExpiresAt int64 // Unix seconds
}

type key struct {
	id  string // hex of kid
	kid []byte // 4-byte fingerprint
	mac []byte
	// hashers holds HMAC states keyed with mac, reset between uses: every request verifies a
	// signature, and a fresh HMAC would hash the key's padding blocks each time.
	hashers *sync.Pool
}

// sign appends the HMAC-SHA256 of payload under the key to dst.
func (k *key) sign(dst, payload []byte) []byte {
	h := k.hashers.Get().(hash.Hash)
	h.Reset()
	h.Write(payload)
	dst = h.Sum(dst)
	k.hashers.Put(h)
	return dst
}

// Keyring signs with the current secret and verifies with the current and the previous ones,
// so that the secret can be rotated without logging anyone out.
type Keyring struct {
	current  key
	previous []key
}

// NewKeyring builds a keyring from the current secret and any number of previous secrets.
func NewKeyring(current string, previous []string) (*Keyring, error) {
	// Blanks do not count: a secret of spaces (an unfilled template, say) is no secret.
	if n := len(strings.TrimSpace(current)); n < MinSecretLen {
		return nil, fmt.Errorf("secret must be at least %d bytes besides leading and trailing blanks, got %d", MinSecretLen, n)
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
	return key{id: hex.EncodeToString(fp[:4]), kid: fp[:4], mac: mac,
		hashers: &sync.Pool{New: func() any { return hmac.New(sha256.New, mac) }}}
}

// Derive returns a key for another purpose (e.g. payment webhooks, idempotency hashing),
// derived from the current secret.
func (k *Keyring) Derive(purpose string) []byte { return k.current.derive(purpose) }

// DeriveAll returns purpose's key under the current secret, then under each previous one: what
// a signature made before a rotation (a payment provider still holding the old key) is
// checked against, as tenant_sig is.
func (k *Keyring) DeriveAll(purpose string) [][]byte {
	keys := [][]byte{k.current.derive(purpose)}
	for _, p := range k.previous {
		keys = append(keys, p.derive(purpose))
	}
	return keys
}

func (k key) derive(purpose string) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// b64Strict refuses non-canonical encodings (stray bits in the last character), so that each
// signature has exactly one accepted spelling.
var b64Strict = base64.RawURLEncoding.Strict()

// The payload is a fixed binary layout, so that verifying it on every request costs a few
// hundred nanoseconds rather than a JSON decode:
//
//	version(1) keyID(4) tenant(16) user(16) session(16) issuedAt(8) expiresAt(8)
const payloadLen = 1 + 4 + 16 + 16 + 16 + 8 + 8

var (
	encodedPayloadLen = b64.EncodedLen(payloadLen)
	encodedMACLen     = b64.EncodedLen(sha256.Size)
)

func (c Claims) marshal(kid []byte) []byte {
	p := make([]byte, 0, payloadLen)
	p = append(p, byte(c.Version))
	p = append(p, kid...)
	p = append(p, c.TenantID[:]...)
	p = append(p, c.UserID[:]...)
	p = append(p, c.SessionID[:]...)
	p = binary.BigEndian.AppendUint64(p, uint64(c.IssuedAt))
	p = binary.BigEndian.AppendUint64(p, uint64(c.ExpiresAt))
	return p
}

func unmarshalClaims(p []byte) (Claims, bool) {
	var c Claims
	if len(p) != payloadLen || p[0] != SignatureVersion {
		return c, false
	}
	c.Version = int(p[0])
	c.KeyID = hex.EncodeToString(p[1:5])
	copy(c.TenantID[:], p[5:21])
	copy(c.UserID[:], p[21:37])
	copy(c.SessionID[:], p[37:53])
	c.IssuedAt = int64(binary.BigEndian.Uint64(p[53:61]))
	c.ExpiresAt = int64(binary.BigEndian.Uint64(p[61:69]))
	return c, true
}

// ReplacePayload returns value with its payload replaced by c's and its old MAC kept: a
// forgery that any verifier must refuse. The scope probe uses it to send expired and
// re-targeted signatures without knowing the key.
func ReplacePayload(value string, c Claims) (string, bool) {
	old, ok := DecodeClaims(value)
	if !ok {
		return "", false
	}
	kid, err := hex.DecodeString(old.KeyID)
	if err != nil || len(kid) != 4 {
		return "", false
	}
	c.Version = SignatureVersion
	_, mac, _ := strings.Cut(value, ".")
	return b64.EncodeToString(c.marshal(kid)) + "." + mac, true
}

// DecodeClaims reads a cookie value's claims without verifying them (for tests and tooling
// that need to look inside; never for deciding anything).
func DecodeClaims(value string) (Claims, bool) {
	p, _, ok := strings.Cut(value, ".")
	if !ok {
		return Claims{}, false
	}
	raw, err := b64.DecodeString(p)
	if err != nil {
		return Claims{}, false
	}
	return unmarshalClaims(raw)
}

// Sign returns the cookie value for c, signed with the current key.
func (k *Keyring) Sign(c Claims) string {
	c.Version = SignatureVersion
	c.KeyID = k.current.id
	payload := c.marshal(k.current.kid)
	return b64.EncodeToString(payload) + "." + b64.EncodeToString(k.current.sign(nil, payload))
}

// Verify checks value's signature in constant time and its expiry, and returns its claims.
func (k *Keyring) Verify(value string, now time.Time) (Claims, error) {
	if len(value) > 256 {
		return Claims{}, ErrMalformed
	}
	p, s, ok := strings.Cut(value, ".")
	if !ok {
		return Claims{}, ErrMalformed
	}
	if len(p) != encodedPayloadLen || len(s) != encodedMACLen {
		return Claims{}, ErrMalformed
	}
	var payload [payloadLen]byte
	var sig [sha256.Size]byte
	pn, err1 := b64Strict.Decode(payload[:], []byte(p))
	sn, err2 := b64Strict.Decode(sig[:], []byte(s))
	if err1 != nil || err2 != nil || pn != payloadLen || sn != sha256.Size {
		return Claims{}, ErrMalformed
	}
	c, ok := unmarshalClaims(payload[:pn])
	if !ok {
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
	var want [sha256.Size]byte
	if !hmac.Equal(kk.sign(want[:0], payload[:pn]), sig[:sn]) {
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
