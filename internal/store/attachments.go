package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Attachment is a stored file's metadata. The bytes live under the storage directory at
// StorageKey, a name the server made; it is never derived from the client's file name and is
// never shown to clients.
type Attachment struct {
	ID               uuid.UUID  `json:"id"`
	FileName         string     `json:"file_name"`
	ContentType      string     `json:"content_type"`
	SizeBytes        int64      `json:"size_bytes"`
	SHA256           string     `json:"sha256"`
	UploadedBy       uuid.UUID  `json:"uploaded_by"`
	ClientID         *uuid.UUID `json:"client_id"`
	ServiceRequestID *uuid.UUID `json:"service_request_id"`
	CreatedAt        time.Time  `json:"created_at"`
	StorageKey       string     `json:"-"`
}

const contAttachmentColumns = `id, file_name, content_type, size_bytes, sha256, uploaded_by, client_id, service_request_id, created_at, storage_key`

func contScanAttachment(r pgx.Rows) (Attachment, error) {
	var a Attachment
	err := r.Scan(&a.ID, &a.FileName, &a.ContentType, &a.SizeBytes, &a.SHA256, &a.UploadedBy, &a.ClientID,
		&a.ServiceRequestID, &a.CreatedAt, &a.StorageKey)
	return a, err
}

func (sc *Scope) oneAttachment(ctx context.Context, sql string, args ...any) (Attachment, error) {
	items, err := collect(ctx, sc, sql, args, contScanAttachment)
	if err != nil {
		return Attachment{}, err
	}
	if len(items) == 0 {
		return Attachment{}, ErrNotFound
	}
	return items[0], nil
}

// AttachmentKey makes the storage key of attachment id of tenant, uploaded at at:
// "<tenant>/<yyyy>/<mm>/<id>". Keys are made only here, from values the server chose, so that
// no client input ever reaches a path, and every file sits under its tenant's prefix.
func AttachmentKey(tenant, id uuid.UUID, at time.Time) string {
	at = at.UTC()
	return fmt.Sprintf("%s/%04d/%02d/%s", tenant, at.Year(), int(at.Month()), id)
}

var contKeyPattern = regexp.MustCompile(`^([0-9a-f-]{36})/[0-9]{4}/[0-9]{2}/([0-9a-f-]{36})$`)

// AttachmentPath resolves a storage key of tenant to a file under dir. It refuses any key that
// is not exactly of the form AttachmentKey makes for that tenant, so that even a corrupted row
// cannot point outside the tenant's prefix.
func AttachmentPath(dir string, tenant uuid.UUID, key string) (string, error) {
	if dir == "" {
		return "", errors.New("attachments: no storage directory configured")
	}
	m := contKeyPattern.FindStringSubmatch(key)
	if m == nil || m[1] != tenant.String() {
		return "", fmt.Errorf("attachments: storage key %q is not under tenant %s", key, tenant)
	}
	if _, err := uuid.Parse(m[2]); err != nil {
		return "", fmt.Errorf("attachments: storage key %q: %w", key, err)
	}
	p := filepath.Join(dir, filepath.FromSlash(key))
	if !strings.HasPrefix(p, filepath.Join(dir, tenant.String())+string(filepath.Separator)) {
		return "", fmt.Errorf("attachments: storage key %q escapes the tenant's prefix", key)
	}
	return p, nil
}

// AttachmentFilter narrows an attachment list.
type AttachmentFilter struct {
	ClientID         *uuid.UUID
	ServiceRequestID *uuid.UUID
}

// ListAttachments lists the tenant's attachments, newest first.
func (sc *Scope) ListAttachments(ctx context.Context, f AttachmentFilter, p Page) ([]Attachment, error) {
	return collect(ctx, sc, `SELECT `+contAttachmentColumns+` FROM attachments
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) AND ($3::uuid IS NULL OR client_id = $3)
		  AND ($4::uuid IS NULL OR service_request_id = $4)
		ORDER BY id DESC LIMIT $5`, []any{sc.TenantID(), p.Before, f.ClientID, f.ServiceRequestID, p.limitPlusOne()}, contScanAttachment)
}

// GetAttachment returns one attachment of this tenant. Who may see it is the caller's rule.
func (sc *Scope) GetAttachment(ctx context.Context, id uuid.UUID) (Attachment, error) {
	return sc.oneAttachment(ctx, `SELECT `+contAttachmentColumns+` FROM attachments WHERE tenant_id = $1 AND id = $2`,
		sc.TenantID(), id)
}

// AttachmentInput is a new attachment whose bytes the caller has already stored at
// StorageKey (made by AttachmentKey).
type AttachmentInput struct {
	ID          uuid.UUID
	StorageKey  string
	FileName    string
	ContentType string
	SizeBytes   int64
	SHA256      string
	UploadedBy  uuid.UUID
	// ClientID owns the attachment (nil: the firm's own file). Ignored when ServiceRequestID
	// is set: the attachment then belongs to the request's client.
	ClientID *uuid.UUID
	// ServiceRequestID links the attachment to a request of this tenant. When
	// RequestOwner is set the request must belong to that client.
	ServiceRequestID *uuid.UUID
	RequestOwner     *uuid.UUID
}

// CreateAttachment records an attachment. With a service request, the request must exist in
// this tenant (and belong to RequestOwner when set), else ErrNotFound; the attachment's client
// is then the request's client.
func (sc *Scope) CreateAttachment(ctx context.Context, in AttachmentInput) (Attachment, error) {
	if in.ServiceRequestID != nil {
		return sc.oneAttachment(ctx, `INSERT INTO attachments (tenant_id, id, storage_key, file_name, content_type, size_bytes, sha256,
			    uploaded_by, client_id, service_request_id)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, r.client_id, r.id
			FROM service_requests r WHERE r.tenant_id = $1 AND r.id = $9 AND ($10::uuid IS NULL OR r.client_id = $10)
			RETURNING `+contAttachmentColumns,
			sc.TenantID(), in.ID, in.StorageKey, in.FileName, in.ContentType, in.SizeBytes, in.SHA256, in.UploadedBy,
			*in.ServiceRequestID, in.RequestOwner)
	}
	return sc.oneAttachment(ctx, `INSERT INTO attachments (tenant_id, id, storage_key, file_name, content_type, size_bytes, sha256,
		    uploaded_by, client_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+contAttachmentColumns,
		sc.TenantID(), in.ID, in.StorageKey, in.FileName, in.ContentType, in.SizeBytes, in.SHA256, in.UploadedBy, in.ClientID)
}
