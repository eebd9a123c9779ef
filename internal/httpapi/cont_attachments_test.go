package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

type contAttachment struct {
	ID               uuid.UUID  `json:"id"`
	FileName         string     `json:"file_name"`
	ContentType      string     `json:"content_type"`
	SizeBytes        int64      `json:"size_bytes"`
	SHA256           string     `json:"sha256"`
	UploadedBy       uuid.UUID  `json:"uploaded_by"`
	ClientID         *uuid.UUID `json:"client_id"`
	ServiceRequestID *uuid.UUID `json:"service_request_id"`
}

func contAttachments(t *testing.T, c *client) []contAttachment {
	t.Helper()
	r := c.do("GET", "/api/admin/attachments?limit=200", nil)
	mustStatus(t, r, 200)
	var l struct{ Items []contAttachment }
	r.decode(t, &l)
	return l.Items
}

func contStorageKey(t *testing.T, e *env, id uuid.UUID) (tenant uuid.UUID, key string) {
	t.Helper()
	contSQL(t, e, `SELECT tenant_id, storage_key FROM attachments WHERE id = $1`, []any{id}, &tenant, &key)
	return tenant, key
}

func TestContentAttachments(t *testing.T) {
	e, dir := contEnv(t)
	acme, globex := e.demo.Acme, e.demo.Globex
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	cli := e.login("client@acme.test", "")
	cli2 := e.login("client2@acme.test", "")
	gOwner := e.login("owner@globex.test", "")
	consultantGlobex := e.login("consultant@demo.test", "globex")

	// Service requests to attach to, made directly as fixtures.
	reqOf := func(tenant, client uuid.UUID) uuid.UUID {
		id := uuid.Must(uuid.NewV7())
		contSQL(t, e, `INSERT INTO service_requests (tenant_id, id, client_id, title) VALUES ($1, $2, $3, 'Fixture')`,
			[]any{tenant, id, client})
		return id
	}
	reqCli, reqCli2, reqGlobex := reqOf(acme.ID, acme.Client), reqOf(acme.ID, acme.Client2), reqOf(globex.ID, globex.Client)

	t.Run("seeded attachments download", func(t *testing.T) {
		items := contAttachments(t, owner)
		if len(items) < 2 {
			t.Fatalf("want at least 2 seeded attachments, got %d", len(items))
		}
		for _, a := range items {
			r := owner.do("GET", "/api/attachments/"+a.ID.String(), nil)
			mustStatus(t, r, 200)
			sum := sha256.Sum256(r.Body)
			if hex.EncodeToString(sum[:]) != a.SHA256 || int64(len(r.Body)) != a.SizeBytes {
				t.Errorf("%s: body does not match its recorded hash and size", a.FileName)
			}
		}
		for _, f := range contFiles(t, dir) {
			if !strings.HasPrefix(f, acme.ID.String()+"/") && !strings.HasPrefix(f, globex.ID.String()+"/") {
				t.Errorf("file %s is outside every tenant prefix", f)
			}
		}
	})

	t.Run("list needs attachments.all", func(t *testing.T) {
		mustStatus(t, cli.do("GET", "/api/admin/attachments", nil), 403, "forbidden")
		mustStatus(t, owner.do("GET", "/api/admin/attachments?client=nope", nil), 422, "validation_failed")
		for _, a := range contAttachments(t, gOwner) {
			for _, b := range contAttachments(t, owner) {
				if a.ID == b.ID {
					t.Fatal("globex and acme lists share an attachment")
				}
			}
		}
		mine := owner.do("GET", "/api/admin/attachments?client="+acme.Client.String(), nil)
		mustStatus(t, mine, 200)
		var l struct{ Items []contAttachment }
		mine.decode(t, &l)
		for _, a := range l.Items {
			if a.ClientID == nil || *a.ClientID != acme.Client {
				t.Errorf("client filter let %v through", a.ClientID)
			}
		}
	})

	var clientFile contAttachment
	t.Run("client upload and who may download it", func(t *testing.T) {
		data := []byte("hello, this is my statement\n")
		r := cli.contUpload(contPart{name: "file", filename: "statement.txt", data: data})
		mustStatus(t, r, 201)
		r.decode(t, &clientFile)
		if clientFile.ClientID == nil || *clientFile.ClientID != acme.Client || clientFile.UploadedBy != acme.Client {
			t.Fatalf("client upload not owned by the client: %+v", clientFile)
		}
		if clientFile.FileName != "statement.txt" || clientFile.ContentType != "text/plain; charset=utf-8" || clientFile.SizeBytes != int64(len(data)) {
			t.Fatalf("unexpected metadata %+v", clientFile)
		}
		sum := sha256.Sum256(data)
		if clientFile.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatal("wrong sha256")
		}
		if strings.Contains(string(r.Body), "storage_key") || strings.Contains(string(r.Body), acme.ID.String()+"/") {
			t.Fatal("the storage key leaked into the response")
		}
		tenant, key := contStorageKey(t, e, clientFile.ID)
		if tenant != acme.ID || !regexp.MustCompile(`^`+acme.ID.String()+`/\d{4}/\d{2}/`+clientFile.ID.String()+`$`).MatchString(key) {
			t.Fatalf("storage key %q is not server-made under the tenant prefix", key)
		}
		if got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key))); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("stored file: %v", err)
		}
		for _, c := range []struct {
			name   string
			c      *client
			status int
		}{
			{"owning client", cli, 200}, {"staff", staff, 200}, {"owner", owner, 200},
			{"other client", cli2, 404}, {"other tenant's owner", gOwner, 404},
			{"same user as a client elsewhere", consultantGlobex, 404},
		} {
			r := c.c.do("GET", "/api/attachments/"+clientFile.ID.String(), nil)
			if r.Status != c.status {
				t.Errorf("%s: got %d, want %d", c.name, r.Status, c.status)
				continue
			}
			if c.status == 404 {
				missing := c.c.do("GET", "/api/attachments/"+uuid.New().String(), nil)
				if withoutRequestID(r.Body) != withoutRequestID(missing.Body) {
					t.Errorf("%s: 404 differs from a missing id's", c.name)
				}
				continue
			}
			if !bytes.Equal(r.Body, data) {
				t.Errorf("%s: wrong bytes", c.name)
			}
			if r.Header.Get("Content-Type") != "text/plain; charset=utf-8" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: headers %v", c.name, r.Header)
			}
			if d := r.Header.Get("Content-Disposition"); d != `attachment; filename="statement.txt"; filename*=UTF-8''statement.txt` {
				t.Errorf("%s: Content-Disposition %q", c.name, d)
			}
		}
		mustStatus(t, cli.do("GET", "/api/attachments/not-a-uuid", nil), 404, "not_found")
		mustStatus(t, e.anon().do("GET", "/api/attachments/"+clientFile.ID.String(), nil), 401)
	})

	t.Run("firm files are staff only", func(t *testing.T) {
		r := staff.contUpload(contPart{name: "file", filename: "internal.txt", data: []byte("firm notes")})
		mustStatus(t, r, 201)
		var a contAttachment
		r.decode(t, &a)
		if a.ClientID != nil {
			t.Fatalf("staff upload without a request got client %v", a.ClientID)
		}
		mustStatus(t, cli.do("GET", "/api/attachments/"+a.ID.String(), nil), 404, "not_found")
		mustStatus(t, staff.do("GET", "/api/attachments/"+a.ID.String(), nil), 200)
	})

	t.Run("service requests", func(t *testing.T) {
		txt := []byte("request document")
		r := cli.contUpload(contPart{name: "service_request_id", data: []byte(reqCli.String())},
			contPart{name: "file", filename: "doc.txt", data: txt})
		mustStatus(t, r, 201)
		var a contAttachment
		r.decode(t, &a)
		if a.ServiceRequestID == nil || *a.ServiceRequestID != reqCli || *a.ClientID != acme.Client {
			t.Fatalf("client upload to own request: %+v", a)
		}
		// File before the field works too; staff uploads belong to the request's client.
		r = staff.contUpload(contPart{name: "file", filename: "doc.txt", data: txt},
			contPart{name: "service_request_id", data: []byte(reqCli2.String())})
		mustStatus(t, r, 201)
		r.decode(t, &a)
		if a.ClientID == nil || *a.ClientID != acme.Client2 {
			t.Fatalf("staff upload to client2's request owned by %v", a.ClientID)
		}
		mustStatus(t, cli2.do("GET", "/api/attachments/"+a.ID.String(), nil), 200)
		mustStatus(t, cli.do("GET", "/api/attachments/"+a.ID.String(), nil), 404)

		before, files := contSnapshot(t, e), len(contFiles(t, dir))
		for _, c := range []struct {
			name string
			c    *client
			req  string
		}{
			{"client, another client's request", cli, reqCli2.String()},
			{"client, another tenant's request", cli, reqGlobex.String()},
			{"staff, another tenant's request", staff, reqGlobex.String()},
			{"staff, missing request", staff, uuid.New().String()},
			{"not an id", staff, "../../etc"},
		} {
			r := c.c.contUpload(contPart{name: "file", filename: "doc.txt", data: txt},
				contPart{name: "service_request_id", data: []byte(c.req)})
			if r.Status != 422 || r.code() != "validation_failed" {
				t.Errorf("%s: got %d %s", c.name, r.Status, r.Body)
			}
		}
		if contSnapshot(t, e) != before || len(contFiles(t, dir)) != files {
			t.Fatal("a refused upload left a row or a file behind")
		}
	})

	t.Run("hostile file names never reach a path", func(t *testing.T) {
		for _, c := range []struct {
			name, disposition, want string
		}{
			{"parent dirs", `form-data; name="file"; filename="../../../../etc/passwd"`, "passwd"},
			{"absolute", `form-data; name="file"; filename="/etc/cron.d/evil"`, "evil"},
			{"windows", `form-data; name="file"; filename="..\\..\\windows\\win.ini"`, "win.ini"},
			{"nul byte", `form-data; name="file"; filename*=UTF-8''a%00b.txt`, "ab.txt"},
			{"nul then dirs", `form-data; name="file"; filename*=UTF-8''x.txt%00%2F..%2F..%2Fy`, "y"},
			{"only dots", `form-data; name="file"; filename=".."`, "file"},
			{"dot dot inside", `form-data; name="file"; filename="a..b....txt"`, "a.b.txt"},
			{"control chars", `form-data; name="file"; filename*=UTF-8''r%0D%0Aeport%E2%80%AE.txt`, "report.txt"},
			{"long", `form-data; name="file"; filename="` + strings.Repeat("x", 400) + `.txt"`, strings.Repeat("x", 196) + ".txt"},
			{"blank", `form-data; name="file"; filename="   "`, "file"},
			{"unicode", `form-data; name="file"; filename*=UTF-8''%C3%BCbersicht%20%E2%82%AC.txt`, "übersicht €.txt"},
		} {
			r := cli.contUpload(contPart{disposition: c.disposition, data: []byte("plain text")})
			if r.Status != 201 {
				t.Errorf("%s: got %d %s", c.name, r.Status, r.Body)
				continue
			}
			var a contAttachment
			r.decode(t, &a)
			if a.FileName != c.want {
				t.Errorf("%s: file name %q, want %q", c.name, a.FileName, c.want)
			}
			_, key := contStorageKey(t, e, a.ID)
			if !strings.HasPrefix(key, acme.ID.String()+"/") || !strings.HasSuffix(key, "/"+a.ID.String()) {
				t.Errorf("%s: key %q", c.name, key)
			}
			d := cli.do("GET", "/api/attachments/"+a.ID.String(), nil)
			mustStatus(t, d, 200)
			disp := d.Header.Get("Content-Disposition")
			if strings.ContainsAny(disp, "\r\n\x00/\\") {
				t.Errorf("%s: unsafe Content-Disposition %q", c.name, disp)
			}
		}
		for _, f := range contFiles(t, dir) {
			if !regexp.MustCompile(`^[0-9a-f-]{36}/\d{4}/\d{2}/[0-9a-f-]{36}$`).MatchString(f) {
				t.Errorf("unexpected file %q in the storage directory", f)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "..", "etc")); err == nil {
			t.Error("something was written next to the storage directory")
		}
	})

	t.Run("refused uploads", func(t *testing.T) {
		pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 100)...)
		r := cli.contUpload(contPart{name: "file", filename: "scan.pdf", data: pdf})
		mustStatus(t, r, 201)
		var a contAttachment
		r.decode(t, &a)
		if a.ContentType != "application/pdf" {
			t.Fatalf("pdf sniffed as %q", a.ContentType)
		}
		r = cli.contUpload(contPart{name: "file", filename: "data.csv", data: []byte("a,b\n1,2\n")})
		mustStatus(t, r, 201)
		r.decode(t, &a)
		if a.ContentType != "text/csv; charset=utf-8" {
			t.Fatalf("csv typed %q", a.ContentType)
		}

		before, files := contSnapshot(t, e), len(contFiles(t, dir))
		ct, twoFiles := contMultipart(contPart{name: "file", filename: "a.txt", data: []byte("a")},
			contPart{name: "file", filename: "b.txt", data: []byte("b")})
		for _, c := range []struct {
			name string
			r    *resp
		}{
			{"json body", cli.do("POST", "/api/uploads", map[string]string{"file": "x"})},
			{"no file", cli.contUpload(contPart{name: "service_request_id", data: []byte(reqCli.String())})},
			{"empty file", cli.contUpload(contPart{name: "file", filename: "empty.txt", data: nil})},
			{"html", cli.contUpload(contPart{name: "file", filename: "page.txt", data: []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")})},
			{"svg", cli.contUpload(contPart{name: "file", filename: "x.png", data: []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>`)})},
			{"executable", cli.contUpload(contPart{name: "file", filename: "report.pdf", data: append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 64)...)})},
			{"unknown field", cli.contUpload(contPart{name: "file", filename: "a.txt", data: []byte("a")}, contPart{name: "client_id", data: []byte(acme.Client2.String())})},
			{"two files", cli.do("POST", "/api/uploads", twoFiles, "Content-Type", ct)},
			{"broken multipart", cli.do("POST", "/api/uploads", []byte("--"+contBoundary+"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nabc"), "Content-Type", ct)},
		} {
			if c.r.Status != 422 || c.r.code() != "validation_failed" {
				t.Errorf("%s: got %d %s", c.name, c.r.Status, c.r.Body)
			}
		}
		big := cli.contUpload(contPart{name: "file", filename: "big.txt", data: bytes.Repeat([]byte("a"), 10<<20+1)})
		mustStatus(t, big, http.StatusRequestEntityTooLarge, "payload_too_large")
		if contSnapshot(t, e) != before || len(contFiles(t, dir)) != files {
			t.Fatal("a refused upload left a row or a file behind")
		}
	})

	t.Run("idempotent upload", func(t *testing.T) {
		ct, body := contMultipart(contPart{name: "file", filename: "once.txt", data: []byte("only once")})
		first := cli.do("POST", "/api/uploads", body, "Content-Type", ct, "Idempotency-Key", "upload-1")
		mustStatus(t, first, 201)
		files := len(contFiles(t, dir))
		again := cli.do("POST", "/api/uploads", body, "Content-Type", ct, "Idempotency-Key", "upload-1")
		mustStatus(t, again, 201)
		if !bytes.Equal(first.Body, again.Body) || len(contFiles(t, dir)) != files {
			t.Fatal("a replayed upload stored a second file")
		}
	})

	t.Run("cross-tenant ids", func(t *testing.T) {
		g := contAttachments(t, gOwner)
		if len(g) < 2 {
			t.Fatalf("globex has %d seeded attachments", len(g))
		}
		before := contSnapshot(t, e)
		for _, a := range g {
			for _, c := range []*client{owner, staff, cli, cli.onHost("acme.localhost")} {
				mustStatus(t, c.do("GET", "/api/attachments/"+a.ID.String(), nil), 404, "not_found")
			}
			// On globex's host, acme's credentials are refused outright.
			mustStatus(t, owner.onHost("globex.localhost").do("GET", "/api/attachments/"+a.ID.String(), nil), 403, "tenant_mismatch")
		}
		if contSnapshot(t, e) != before {
			t.Fatal("cross-tenant downloads changed data")
		}
	})
}
