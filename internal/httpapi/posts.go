package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
	"tenantd/internal/tenancy"
)

// Posts: the tenant's public articles. Anyone on the tenant's host reads the published ones;
// staff of that tenant also see drafts and write posts.

func (s *Server) postRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/posts", Kind: KindPublic, HostTenant: true, Summary: "Published posts (staff: drafts too)", Handler: s.listPosts},
		{Method: "GET", Pattern: "/api/posts/{slug}", Kind: KindPublic, HostTenant: true, Summary: "One post by slug (drafts for staff only)", Handler: s.getPost},
		{Method: "POST", Pattern: "/api/posts", Kind: KindTenant, Permission: auth.PermPostsManage, Creates: true, Summary: "Write a post", Handler: s.createPost},
		{Method: "PUT", Pattern: "/api/posts/{slug}", Kind: KindTenant, Permission: auth.PermPostsManage, Summary: "Replace a post", Handler: s.putPost},
		{Method: "DELETE", Pattern: "/api/posts/{slug}", Kind: KindTenant, Permission: auth.PermPostsManage, Summary: "Delete a post", Handler: s.deletePost},
	}
}

// contSeesDrafts reports whether the public routes' caller is a verified member of this
// tenant who may manage posts; the wrapper gives such a caller their own scope.
func contSeesDrafts(sc *store.Scope) bool {
	a := sc.Verified()
	return a != nil && auth.Role(a.Role).Allows(auth.PermPostsManage)
}

func (s *Server) listPosts(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	staff := contSeesDrafts(sc)
	items, err := sc.ListPosts(r.Context(), !staff, p)
	if err != nil {
		return err
	}
	if !staff {
		for i := range items {
			items[i] = publicPost(items[i])
		}
	}
	return writeList(w, items, p, func(v store.Post) uuid.UUID { return v.ID })
}

// publicPost is a post as anyone may see it: without its author's user id, which is global
// (one person has one id in every tenant) and so would tie a firm's author to their work for
// other firms.
func publicPost(p store.Post) store.Post {
	p.AuthorID = nil
	return p
}

func (s *Server) getPost(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	slug := r.PathValue("slug")
	if !tenancy.SlugPattern.MatchString(slug) {
		return errNotFound()
	}
	staff := contSeesDrafts(sc)
	v, err := sc.GetPostBySlug(r.Context(), slug, !staff)
	if err != nil {
		return err
	}
	if !staff {
		v = publicPost(v)
	}
	return writeJSON(w, http.StatusOK, v)
}

// contPostBody is a post as clients send it; on PUT, absent fields keep their value.
type contPostBody struct {
	Slug   *string `json:"slug"`
	Title  *string `json:"title"`
	Body   *string `json:"body"`
	Status *string `json:"status"`
}

var contPostStatuses = []string{"draft", "published"}

func (b contPostBody) apply(in store.PostInput) (store.PostInput, error) {
	if b.Slug != nil {
		in.Slug = strings.TrimSpace(*b.Slug)
	}
	if b.Title != nil {
		in.Title = strings.TrimSpace(*b.Title)
	}
	if b.Body != nil {
		in.Body = *b.Body
	}
	if b.Status != nil {
		in.Status = *b.Status
	}
	var f fields
	if !tenancy.SlugPattern.MatchString(in.Slug) {
		f.add("slug", "must be lowercase letters, digits and inner hyphens (1 to 63)")
	}
	if in.Title == "" || utf8.RuneCountInString(in.Title) > 200 {
		f.add("title", "is required (at most 200 characters)")
	}
	if utf8.RuneCountInString(in.Body) > 100000 {
		f.add("body", "is at most 100000 characters")
	}
	if !slices.Contains(contPostStatuses, in.Status) {
		f.add("status", "must be draft or published")
	}
	return in, f.err()
}

const contSlugTaken = "A post with this slug already exists in this tenant."

func (s *Server) createPost(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	a := sc.Verified()
	var b contPostBody
	if err := decode(r, &b); err != nil {
		return err
	}
	in, err := b.apply(store.PostInput{Status: "draft"})
	if err != nil {
		return err
	}
	v, err := sc.CreatePost(r.Context(), &a.UserID, in)
	if err != nil {
		return slugConflict(err, contSlugTaken)
	}
	if err := sc.AuditEvent(r.Context(), "post.create", "post", v.ID.String(), map[string]any{"slug": v.Slug}); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/posts/"+v.Slug)
	return writeJSON(w, http.StatusCreated, v)
}

// contPostBySlug finds the post a {slug} path names, as the standard 404 when it names none
// in this tenant, and locks it for the change that follows (PUT and DELETE): the fields a PUT
// does not send are written back as they are, and a post that a concurrent PUT has just
// renamed is no longer found by its old slug.
func contPostBySlug(r *http.Request, sc *store.Scope) (store.Post, error) {
	slug := r.PathValue("slug")
	if !tenancy.SlugPattern.MatchString(slug) {
		return store.Post{}, errNotFound()
	}
	return sc.GetPostBySlugForUpdate(r.Context(), slug)
}

func (s *Server) putPost(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	var b contPostBody
	if err := decode(r, &b); err != nil {
		return err
	}
	cur, err := contPostBySlug(r, sc)
	if err != nil {
		return err
	}
	in, err := b.apply(store.PostInput{Slug: cur.Slug, Title: cur.Title, Body: cur.Body, Status: cur.Status})
	if err != nil {
		return err
	}
	v, err := sc.UpdatePost(r.Context(), cur.ID, in)
	if err != nil {
		return slugConflict(err, contSlugTaken)
	}
	if err := sc.AuditEvent(r.Context(), "post.update", "post", v.ID.String(), map[string]any{"slug": v.Slug}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) deletePost(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	cur, err := contPostBySlug(r, sc)
	if err != nil {
		return err
	}
	if err := sc.DeletePost(r.Context(), cur.ID); err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "post.delete", "post", cur.ID.String(), map[string]any{"slug": cur.Slug}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
