package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

// Attachments: uploads stored under a server-made, tenant-prefixed key; downloads for staff
// and the owning client; the staff list.

func (s *Server) attachmentRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/uploads", Kind: KindTenant, Permission: auth.PermSession, Creates: true,
			Summary: "Upload a file (multipart/form-data: file, optional service_request_id)", Handler: s.uploadAttachment},
		{Method: "GET", Pattern: "/api/attachments/{id}", Kind: KindTenant, Permission: auth.PermSession,
			Summary: "Download an attachment (staff, or the owning client)", Handler: s.downloadAttachment,
			MediaType: "*/*", Responses: map[int]string{
				http.StatusOK:             "The file, with the media type it was stored with",
				http.StatusPartialContent: "The requested part of the file (Range)",
				http.StatusNotModified:    "Unchanged since If-Modified-Since",
			}},
		{Method: "GET", Pattern: "/api/admin/attachments", Kind: KindTenant, Permission: auth.PermAttachmentsAll,
			Summary: "List attachments", Handler: s.listAttachments},
	}
}

// contMaxUpload is the largest file accepted. The edge limits the whole request body to the
// same size, so this is only reached by a caller that bypasses the edge.
const contMaxUpload = 10 << 20

// contMaxNameBytes bounds the sanitised display name.
const contMaxNameBytes = 200

// contOLEMagic starts a legacy (OLE2 compound file) Office document.
var contOLEMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// contZipOffice and contOLEOffice name the Office formats that sniff as a ZIP archive or an
// OLE2 compound file; the extension only refines a type the bytes already showed.
var contZipOffice = map[string]string{
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".odt":  "application/vnd.oasis.opendocument.text",
	".ods":  "application/vnd.oasis.opendocument.spreadsheet",
	".odp":  "application/vnd.oasis.opendocument.presentation",
}

var contOLEOffice = map[string]string{
	".doc": "application/msword",
	".xls": "application/vnd.ms-excel",
	".ppt": "application/vnd.ms-powerpoint",
}

// contContentType decides from the file's first bytes (never from what the client declared)
// whether it is of an accepted kind, and the type it is then served with.
func contContentType(head []byte, name string) (string, bool) {
	sniffed := http.DetectContentType(head)
	mt, _, err := mime.ParseMediaType(sniffed)
	if err != nil {
		return "", false
	}
	ext := strings.ToLower(filepath.Ext(name))
	switch mt {
	case "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp":
		return mt, true
	case "text/plain":
		if ext == ".csv" {
			return "text/csv; charset=utf-8", true
		}
		return sniffed, true
	case "application/zip":
		if t, ok := contZipOffice[ext]; ok {
			return t, true
		}
		return mt, true
	case "application/octet-stream":
		if bytes.HasPrefix(head, contOLEMagic) {
			if t, ok := contOLEOffice[ext]; ok {
				return t, true
			}
		}
	}
	return "", false
}

// contSanitizeName turns a client's file name into a display name: the last path segment
// (either separator), without NUL, control or invisible formatting characters, without "..",
// leading or trailing dots and spaces, at most contMaxNameBytes long (keeping a short
// extension), and "file" when nothing is left. It is only ever shown, never used as a path.
func contSanitizeName(raw string) string {
	s := strings.ToValidUTF8(raw, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	for strings.Contains(s, "..") {
		s = strings.ReplaceAll(s, "..", ".")
	}
	s = strings.Trim(s, " .")
	if len(s) > contMaxNameBytes {
		ext := filepath.Ext(s)
		if len(ext) > 16 {
			ext = ""
		}
		base := s[:contMaxNameBytes-len(ext)]
		for !utf8.ValidString(base) {
			base = base[:len(base)-1]
		}
		s = strings.TrimRight(base, " .") + ext
	}
	if s == "" {
		return "file"
	}
	return s
}

// contDisposition is a Content-Disposition that makes browsers save the file under its
// display name: a plain-ASCII fallback and the exact name in RFC 5987 form.
func contDisposition(name string) string {
	fallback := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' || r == ';' {
			return '_'
		}
		return r
	}, name)
	var enc strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x80 && (c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0) {
			enc.WriteByte(c)
		} else {
			fmt.Fprintf(&enc, "%%%02X", c)
		}
	}
	return `attachment; filename="` + fallback + `"; filename*=UTF-8''` + enc.String()
}

// contReceived is a file part written to a temporary file next to its final place.
type contReceived struct {
	tmp         string
	name        string
	contentType string
	size        int64
	sum         string
}

// contReceive checks the part's kind from its first bytes and streams it into a temporary
// file in dir, hashing as it goes. On error nothing is left in dir.
func contReceive(part *multipart.Part, dir string) (*contReceived, error) {
	raw := ""
	if _, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition")); err == nil {
		raw = params["filename"]
	}
	if raw == "" {
		raw = part.FileName()
	}
	rc := &contReceived{name: contSanitizeName(raw)}
	head := make([]byte, 512)
	n, err := io.ReadFull(part, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, contBodyError(err)
	}
	head = head[:n]
	if n == 0 {
		return nil, errField("file", "must not be empty")
	}
	typ, ok := contContentType(head, rc.name)
	if !ok {
		return nil, errField("file", "this kind of file is not accepted (PDF, PNG, JPEG, GIF, WebP, plain text, CSV, ZIP and Office documents are)")
	}
	rc.contentType = typ
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("attachments: create directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return nil, fmt.Errorf("attachments: create temporary file: %w", err)
	}
	rc.tmp = f.Name()
	fail := func(err error) (*contReceived, error) {
		f.Close()
		os.Remove(rc.tmp)
		return nil, err
	}
	h := sha256.New()
	dst := io.MultiWriter(contFileWriter{f}, h)
	if _, err := dst.Write(head); err != nil {
		return fail(fmt.Errorf("attachments: write: %w", err))
	}
	copied, err := io.Copy(dst, io.LimitReader(part, contMaxUpload-int64(n)+1))
	if err != nil {
		var we *contWriteError
		if errors.As(err, &we) {
			return fail(we)
		}
		return fail(contBodyError(err))
	}
	rc.size = int64(n) + copied
	if rc.size > contMaxUpload {
		return fail(problem(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, fmt.Sprintf("The file exceeds %d bytes.", contMaxUpload)))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("attachments: sync: %w", err))
	}
	if err := f.Close(); err != nil {
		os.Remove(rc.tmp)
		return nil, fmt.Errorf("attachments: close: %w", err)
	}
	rc.sum = hex.EncodeToString(h.Sum(nil))
	return rc, nil
}

// contWriteError marks a failure of the storage (not of the request body) during a copy.
type contWriteError struct{ err error }

func (e *contWriteError) Error() string { return "attachments: write: " + e.err.Error() }

func (e *contWriteError) Unwrap() error { return e.err }

// contFileWriter tells storage failures apart from request-body failures in io.Copy.
type contFileWriter struct{ f *os.File }

func (w contFileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		return n, &contWriteError{err: err}
	}
	return n, nil
}

// contBodyError maps a failure to read the request body: over the edge's limit is 413, a
// malformed multipart body is 422.
func contBodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return errValidation("The multipart body could not be read: " + err.Error())
}

// uploadAttachment stores one uploaded file and records it. The file is written to a
// temporary name in its final directory and renamed into place only after its row was
// inserted; any failure removes it, so a rolled-back request leaves nothing behind.
func (s *Server) uploadAttachment(w http.ResponseWriter, r *http.Request, sc *store.Scope) (err error) {
	a := sc.Verified()
	if s.cfg.StorageDir == "" {
		return problem(http.StatusServiceUnavailable, CodeUnavailable, "File storage is not configured on this server.")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return errField("file", "the request must be multipart/form-data with a file field")
	}
	id := store.NewID()
	key := store.AttachmentKey(a.TenantID, id, s.now())
	final, err := store.AttachmentPath(s.cfg.StorageDir, a.TenantID, key)
	if err != nil {
		return err
	}
	var (
		rc     *contReceived
		reqID  *uuid.UUID
		f      fields
		placed bool
	)
	defer func() {
		if err != nil {
			if rc != nil {
				os.Remove(rc.tmp)
			}
			if placed {
				os.Remove(final)
			}
		}
	}()
	for {
		part, perr := mr.NextPart()
		if errors.Is(perr, io.EOF) {
			break
		}
		if perr != nil {
			return contBodyError(perr)
		}
		switch name := part.FormName(); name {
		case "file":
			if rc != nil {
				f.add("file", "only one file per upload")
				continue
			}
			if rc, err = contReceive(part, filepath.Dir(final)); err != nil {
				return err
			}
		case "service_request_id":
			v, rerr := io.ReadAll(io.LimitReader(part, 128))
			if rerr != nil {
				return contBodyError(rerr)
			}
			if u, perr := uuid.Parse(strings.TrimSpace(string(v))); perr != nil {
				f.add("service_request_id", "must be a service request id")
			} else {
				reqID = &u
			}
		default:
			f.add(contSanitizeName(name), "is not a known field")
		}
		part.Close()
	}
	if rc == nil {
		f.add("file", "is required")
	}
	if err = f.err(); err != nil {
		return err
	}
	in := store.AttachmentInput{ID: id, StorageKey: key, FileName: rc.name, ContentType: rc.contentType,
		SizeBytes: rc.size, SHA256: rc.sum, UploadedBy: a.UserID, ServiceRequestID: reqID}
	if !auth.Role(a.Role).IsStaff() {
		// A client's upload is theirs, and may only go with a request of their own.
		in.ClientID, in.RequestOwner = &a.UserID, &a.UserID
	}
	att, err := sc.CreateAttachment(r.Context(), in)
	if errors.Is(err, store.ErrNotFound) {
		return errField("service_request_id", "no such service request")
	}
	if err != nil {
		return err
	}
	if err = os.Rename(rc.tmp, final); err != nil {
		return fmt.Errorf("attachments: place file: %w", err)
	}
	placed = true
	// The file belongs to the transaction: if it does not commit (a later failure, a failed
	// COMMIT), the file goes too.
	sc.AfterEnd(func(committed bool) {
		if !committed {
			os.Remove(final)
		}
	})
	if err = sc.AuditEvent(r.Context(), "attachment.upload", "attachment", att.ID.String(),
		map[string]any{"size_bytes": att.SizeBytes, "content_type": att.ContentType}); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/attachments/"+att.ID.String())
	return writeJSON(w, http.StatusCreated, att)
}

// downloadAttachment streams a file to staff, or to the client who owns it. Anyone else gets
// the same 404 as for a missing id.
func (s *Server) downloadAttachment(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	att, err := sc.GetAttachment(r.Context(), id)
	if err != nil {
		return err
	}
	a := sc.Verified()
	if a == nil {
		return errNotFound()
	}
	if !auth.Role(a.Role).Allows(auth.PermAttachmentsAll) && (att.ClientID == nil || *att.ClientID != a.UserID) {
		return errNotFound()
	}
	path, err := store.AttachmentPath(s.cfg.StorageDir, a.TenantID, att.StorageKey)
	if err != nil {
		return err
	}
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("attachments: open %s: %w", att.ID, err)
	}
	defer file.Close()
	h := w.Header()
	h.Set("Content-Type", att.ContentType)
	h.Set("Content-Disposition", contDisposition(att.FileName))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-cache")
	h.Set("ETag", `"`+att.SHA256+`"`)
	http.ServeContent(w, r, "", att.CreatedAt, file)
	return nil
}

func (s *Server) listAttachments(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	var f store.AttachmentFilter
	var bad fields
	q := r.URL.Query()
	if v := q.Get("client"); v != "" {
		if id, err := uuid.Parse(v); err != nil {
			bad.add("client", "must be a user id")
		} else {
			f.ClientID = &id
		}
	}
	if v := q.Get("service_request_id"); v != "" {
		if id, err := uuid.Parse(v); err != nil {
			bad.add("service_request_id", "must be a service request id")
		} else {
			f.ServiceRequestID = &id
		}
	}
	if err := bad.err(); err != nil {
		return err
	}
	items, err := sc.ListAttachments(r.Context(), f, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, func(a store.Attachment) uuid.UUID { return a.ID })
}
