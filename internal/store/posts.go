package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Post is an article on the tenant's public site; drafts are visible to staff only.
type Post struct {
	ID          uuid.UUID  `json:"id"`
	Slug        string     `json:"slug"`
	Title       string     `json:"title"`
	Body        string     `json:"body"`
	Status      string     `json:"status"`
	AuthorID    *uuid.UUID `json:"author_id"`
	PublishedAt *time.Time `json:"published_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

const contPostColumns = `id, slug, title, body, status, author_id, published_at, created_at, updated_at`

func contScanPost(r pgx.Rows) (Post, error) {
	var p Post
	err := r.Scan(&p.ID, &p.Slug, &p.Title, &p.Body, &p.Status, &p.AuthorID, &p.PublishedAt, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

func (sc *Scope) onePost(ctx context.Context, sql string, args ...any) (Post, error) {
	items, err := collect(ctx, sc, sql, args, contScanPost)
	if err != nil {
		return Post{}, err
	}
	if len(items) == 0 {
		return Post{}, ErrNotFound
	}
	return items[0], nil
}

// ListPosts lists the tenant's posts, newest first; publishedOnly for the public view.
func (sc *Scope) ListPosts(ctx context.Context, publishedOnly bool, p Page) ([]Post, error) {
	return collect(ctx, sc, `SELECT `+contPostColumns+` FROM posts
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) AND (status = 'published' OR NOT $3)
		ORDER BY id DESC LIMIT $4`, []any{sc.TenantID(), p.Before, publishedOnly, p.limitPlusOne()}, contScanPost)
}

// GetPostBySlug returns one post by its per-tenant slug; publishedOnly hides drafts.
func (sc *Scope) GetPostBySlug(ctx context.Context, slug string, publishedOnly bool) (Post, error) {
	return sc.onePost(ctx, `SELECT `+contPostColumns+` FROM posts
		WHERE tenant_id = $1 AND slug = $2 AND (status = 'published' OR NOT $3)`, sc.TenantID(), slug, publishedOnly)
}

// GetPostBySlugForUpdate is GetPostBySlug (drafts included) inside a write transaction, with the
// row locked until the transaction ends: a PUT writes back the fields it was not sent as they
// are, so an edit that waited for a concurrent unpublication keeps the post a draft. A post
// whose slug a concurrent PUT changed is no longer found by the old slug.
func (sc *Scope) GetPostBySlugForUpdate(ctx context.Context, slug string) (Post, error) {
	return sc.onePost(ctx, `SELECT `+contPostColumns+` FROM posts WHERE tenant_id = $1 AND slug = $2 FOR UPDATE`, sc.TenantID(), slug)
}

// PostInput is the writable part of a post.
type PostInput struct {
	Slug   string
	Title  string
	Body   string
	Status string
}

// CreatePost adds a post by author; a duplicate slug in this tenant is a ConflictError.
func (sc *Scope) CreatePost(ctx context.Context, author *uuid.UUID, in PostInput) (Post, error) {
	return sc.onePost(ctx, `INSERT INTO posts (tenant_id, id, slug, title, body, status, author_id, published_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $6 = 'published' THEN now() END)
		RETURNING `+contPostColumns, sc.TenantID(), NewID(), in.Slug, in.Title, in.Body, in.Status, author)
}

// UpdatePost replaces the post with id. Publishing stamps published_at the first time; going
// back to draft clears it.
func (sc *Scope) UpdatePost(ctx context.Context, id uuid.UUID, in PostInput) (Post, error) {
	return sc.onePost(ctx, `UPDATE posts SET slug = $3, title = $4, body = $5, status = $6,
		    published_at = CASE WHEN $6 = 'published' THEN coalesce(published_at, now()) END, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 RETURNING `+contPostColumns,
		sc.TenantID(), id, in.Slug, in.Title, in.Body, in.Status)
}

// DeletePost removes a post of this tenant.
func (sc *Scope) DeletePost(ctx context.Context, id uuid.UUID) error {
	tag, err := sc.exec(ctx, `DELETE FROM posts WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
