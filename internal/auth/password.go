// Package auth holds credentials and authority: password hashing, session and API token
// formats, and the role → permission matrix. It does no I/O.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: the OWASP minimum (19 MiB, two passes, one lane).
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	saltLen        = 16
)

// hashSlots bounds concurrent hashing so that a burst of logins cannot exhaust memory
// (each hash holds 19 MiB) or starve request handling of CPU.
var hashSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// ErrPasswordMismatch means the password does not match the hash.
var ErrPasswordMismatch = errors.New("password mismatch")

// HashPassword returns an encoded argon2id hash (PHC string format).
func HashPassword(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if err := acquire(ctx); err != nil {
		return "", err
	}
	defer release()
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var b64 = base64.RawStdEncoding

// dummyHash is verified against when the user does not exist, so that an unknown email costs
// the same time as a wrong password and timing does not reveal which accounts exist.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0gQ1Y3Hq6lYpDq2o8cD0Wc7m7u8qVxJq2Hf1v3oB0aU"

// VerifyPassword checks password against encoded; an empty encoded hash is checked against a
// dummy and always fails.
func VerifyPassword(ctx context.Context, password, encoded string) error {
	if encoded == "" {
		encoded = dummyHash
		_ = verify(ctx, password, encoded)
		return ErrPasswordMismatch
	}
	return verify(ctx, password, encoded)
}

func verify(ctx context.Context, password, encoded string) error {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return errors.New("unsupported password hash")
	}
	var version int
	var mem uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return errors.New("unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil || mem > 256*1024 || t > 10 || p == 0 {
		return errors.New("bad argon2 parameters")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return errors.New("bad salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return errors.New("bad hash")
	}
	if err := acquire(ctx); err != nil {
		return err
	}
	defer release()
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrPasswordMismatch
	}
	return nil
}

func acquire(ctx context.Context) error {
	select {
	case hashSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func release() { <-hashSlots }
