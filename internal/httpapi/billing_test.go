package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/httpapi"
	"tenantd/internal/tenancy"
)

// billTItem, billTInvoice and billTSession are the shapes the billing routes answer with.
type billTItem struct {
	ID             string `json:"id"`
	Description    string `json:"description"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	AmountCents    int64  `json:"amount_cents"`
}

type billTSession struct {
	ID          string `json:"id"`
	InvoiceID   string `json:"invoice_id"`
	Method      string `json:"method"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	Status      string `json:"status"`
	CreatedBy   string `json:"created_by"`
	CheckoutURL string `json:"checkout_url"`
}

type billTInvoice struct {
	ID               string         `json:"id"`
	Number           int64          `json:"number"`
	ClientID         string         `json:"client_id"`
	ServiceRequestID *string        `json:"service_request_id"`
	Status           string         `json:"status"`
	Currency         string         `json:"currency"`
	TotalCents       int64          `json:"total_cents"`
	DueOn            *string        `json:"due_on"`
	PaidAt           *string        `json:"paid_at"`
	PaymentMethod    *string        `json:"payment_method"`
	Notes            string         `json:"notes"`
	Items            []billTItem    `json:"items"`
	PaymentSessions  []billTSession `json:"payment_sessions"`
	UpdatedAt        string         `json:"updated_at"`
}

// billFields lists the fields a 422 problem names.
func billFields(t testing.TB, r *resp) []string {
	t.Helper()
	var p struct {
		Errors []struct {
			Field string `json:"field"`
		} `json:"errors"`
	}
	r.decode(t, &p)
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// billMust422 checks a validation failure that names field.
func billMust422(t testing.TB, r *resp, field string) {
	t.Helper()
	mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
	if field != "" && !slices.Contains(billFields(t, r), field) {
		t.Fatalf("422 does not name %q: %s", field, r.Body)
	}
}

func billInvoices(t testing.TB, c *client, path string) []billTInvoice {
	t.Helper()
	r := c.do("GET", path, nil)
	mustStatus(t, r, http.StatusOK)
	var out struct {
		Items []billTInvoice `json:"items"`
	}
	r.decode(t, &out)
	return out.Items
}

func billInvoice(t testing.TB, c *client, id string) billTInvoice {
	t.Helper()
	r := c.do("GET", "/api/admin/invoices/"+id, nil)
	mustStatus(t, r, http.StatusOK)
	var v billTInvoice
	r.decode(t, &v)
	return v
}

// billCreate creates an invoice as c and returns it.
func billCreate(t testing.TB, c *client, body map[string]any) billTInvoice {
	t.Helper()
	r := c.do("POST", "/api/admin/invoices", body)
	mustStatus(t, r, http.StatusCreated)
	var v billTInvoice
	r.decode(t, &v)
	return v
}

func billItem(desc string, qty int, price int64) map[string]any {
	return map[string]any{"description": desc, "quantity": qty, "unit_price_cents": price}
}

// billFind returns the first invoice matching keep.
func billFind(t testing.TB, items []billTInvoice, keep func(billTInvoice) bool) billTInvoice {
	t.Helper()
	for _, v := range items {
		if keep(v) {
			return v
		}
	}
	t.Fatalf("no matching invoice among %d", len(items))
	return billTInvoice{}
}

func TestBillingInvoices(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	cli := e.login("client@acme.test", "")
	gOwner := e.login("owner@globex.test", "")
	acme := e.demo.Acme
	clientID := acme.Client.String()

	t.Run("seeded invoices cover both clients", func(t *testing.T) {
		items := billInvoices(t, owner, "/api/admin/invoices")
		seen := map[string]bool{}
		for _, v := range items {
			seen[v.ClientID] = true
			var sum int64
			for _, it := range v.Items {
				sum += it.AmountCents
			}
			if sum != v.TotalCents || len(v.Items) == 0 {
				t.Fatalf("invoice %d: total %d, items sum %d (%d items)", v.Number, v.TotalCents, sum, len(v.Items))
			}
		}
		if len(items) < 2 || !seen[clientID] || !seen[acme.Client2.String()] {
			t.Fatalf("seeded invoices: %d, clients %v", len(items), seen)
		}
	})

	t.Run("create computes the total from the items", func(t *testing.T) {
		v := billCreate(t, owner, map[string]any{"client_id": clientID, "due_on": "2030-01-31", "notes": "n",
			"items": []any{billItem("Advice", 3, 1250), map[string]any{"description": "Filing", "unit_price_cents": 500}}})
		if v.Status != "draft" || v.TotalCents != 3*1250+500 || len(v.Items) != 2 || v.Items[0].AmountCents != 3750 ||
			v.Items[1].Quantity != 1 || v.Currency != "USD" || v.DueOn == nil || *v.DueOn != "2030-01-31" || v.Number < 1 {
			t.Fatalf("created %+v", v)
		}
		got := billInvoice(t, owner, v.ID)
		if got.TotalCents != v.TotalCents || got.Number != v.Number || got.PaymentSessions == nil {
			t.Fatalf("read back %+v", got)
		}
	})

	t.Run("create validation", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			body  any
			field string
		}{
			{"no body", "", ""},
			{"client missing", map[string]any{"items": []any{billItem("A", 1, 1)}}, "client_id"},
			{"client not a uuid", map[string]any{"client_id": "nope"}, ""},
			{"empty description", map[string]any{"client_id": clientID, "items": []any{billItem(" ", 1, 1)}}, "items[0].description"},
			{"zero quantity", map[string]any{"client_id": clientID, "items": []any{billItem("A", 0, 1)}}, "items[0].quantity"},
			{"negative price", map[string]any{"client_id": clientID, "items": []any{billItem("A", 1, -5)}}, "items[0].unit_price_cents"},
			{"missing price", map[string]any{"client_id": clientID, "items": []any{map[string]any{"description": "A"}}}, "items[0].unit_price_cents"},
			{"huge price", map[string]any{"client_id": clientID, "items": []any{billItem("A", 1, 1e12)}}, "items[0].unit_price_cents"},
			{"bad currency", map[string]any{"client_id": clientID, "currency": "dollars"}, "currency"},
			{"bad due date", map[string]any{"client_id": clientID, "due_on": "31/12/2030"}, "due_on"},
			{"created paid", map[string]any{"client_id": clientID, "status": "paid", "items": []any{billItem("A", 1, 1)}}, "status"},
			{"unknown status", map[string]any{"client_id": clientID, "status": "open"}, "status"},
			{"sent without items", map[string]any{"client_id": clientID, "status": "sent"}, "items"},
			{"client-given total", map[string]any{"client_id": clientID, "total_cents": 1}, "total_cents"},
			{"client-given amount", map[string]any{"client_id": clientID, "items": []any{map[string]any{"description": "A", "unit_price_cents": 1, "amount_cents": 9}}}, "items.amount_cents"},
			{"staff member as client", map[string]any{"client_id": acme.Staff.String()}, "client_id"},
			{"globex client", map[string]any{"client_id": e.demo.Globex.Client.String()}, "client_id"},
			{"unknown client", map[string]any{"client_id": uuid.NewString()}, "client_id"},
			{"unknown service request", map[string]any{"client_id": clientID, "service_request_id": uuid.NewString()}, "service_request_id"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(billInvoices(t, owner, "/api/admin/invoices?limit=200"))
				billMust422(t, owner.do("POST", "/api/admin/invoices", tc.body), tc.field)
				if after := len(billInvoices(t, owner, "/api/admin/invoices?limit=200")); after != before {
					t.Fatalf("a refused create changed the invoice count %d → %d", before, after)
				}
			})
		}
	})

	t.Run("life cycle", func(t *testing.T) {
		v := billCreate(t, owner, map[string]any{"client_id": clientID, "items": []any{billItem("A", 2, 1500)}})
		path := "/api/admin/invoices/" + v.ID
		r := owner.do("PATCH", path, map[string]any{"items": []any{billItem("B", 3, 1000), billItem("C", 1, 250)}})
		mustStatus(t, r, http.StatusOK)
		var got billTInvoice
		r.decode(t, &got)
		if got.TotalCents != 3250 || len(got.Items) != 2 || got.Number != v.Number {
			t.Fatalf("after item change %+v", got)
		}
		billMust422(t, owner.do("PATCH", path, map[string]any{"status": "paid"}), "status")
		billMust422(t, owner.do("PATCH", path, map[string]any{"items": []any{billItem("B", -1, 1)}}), "items[0].quantity")
		billMust422(t, owner.do("PATCH", path, map[string]any{"due_on": "tomorrow"}), "due_on")
		billMust422(t, owner.do("PATCH", path, map[string]any{"client_id": acme.Staff.String()}), "client_id")
		billMust422(t, owner.do("PATCH", path, map[string]any{"total_cents": 1}), "total_cents")
		billMust422(t, owner.do("POST", path+"/pay", map[string]any{"payment_method": "Bad Method!"}), "payment_method")
		mustStatus(t, owner.do("POST", path+"/pay", nil), http.StatusConflict, "conflict") // draft
		mustStatus(t, owner.do("PATCH", path, map[string]any{"client_id": acme.Client2.String()}), http.StatusOK)
		mustStatus(t, owner.do("PATCH", path, map[string]any{"status": "sent"}), http.StatusOK)
		for name, body := range map[string]map[string]any{
			"items":    {"items": []any{billItem("X", 1, 1)}},
			"client":   {"client_id": clientID},
			"currency": {"currency": "EUR"},
			"to draft": {"status": "draft"},
		} {
			if r := owner.do("PATCH", path, body); r.Status != http.StatusConflict {
				t.Fatalf("sent invoice, change %s: %d %s", name, r.Status, r.Body)
			}
		}
		r = owner.do("PATCH", path, map[string]any{"due_on": "2031-02-03", "notes": "please pay"})
		mustStatus(t, r, http.StatusOK)
		r = owner.do("PATCH", path, map[string]any{"due_on": nil})
		mustStatus(t, r, http.StatusOK)
		r.decode(t, &got)
		if got.DueOn != nil || got.Notes != "please pay" || got.Status != "sent" || got.TotalCents != 3250 {
			t.Fatalf("after due date clear %+v", got)
		}
		r = owner.do("POST", path+"/pay", nil)
		mustStatus(t, r, http.StatusOK)
		r.decode(t, &got)
		if got.Status != "paid" || got.PaymentMethod == nil || *got.PaymentMethod != "manual" || got.PaidAt == nil {
			t.Fatalf("paid %+v", got)
		}
		mustStatus(t, owner.do("POST", path+"/pay", map[string]any{}), http.StatusConflict, "conflict")
		mustStatus(t, owner.do("PATCH", path, map[string]any{"status": "void"}), http.StatusConflict, "conflict")
		mustStatus(t, owner.do("PATCH", path, map[string]any{"due_on": "2032-01-01"}), http.StatusConflict, "conflict")
		mustStatus(t, owner.do("PATCH", path, map[string]any{"notes": "thanks"}), http.StatusOK)

		w := billCreate(t, owner, map[string]any{"client_id": clientID, "status": "sent", "items": []any{billItem("A", 1, 100)}})
		r = owner.do("PATCH", "/api/admin/invoices/"+w.ID, map[string]any{"status": "void"})
		mustStatus(t, r, http.StatusOK)
		mustStatus(t, owner.do("POST", "/api/admin/invoices/"+w.ID+"/pay", map[string]any{"payment_method": "cash"}), http.StatusConflict, "conflict")
		mustStatus(t, owner.do("PATCH", "/api/admin/invoices/"+w.ID, map[string]any{"status": "sent"}), http.StatusConflict, "conflict")

		empty := billCreate(t, owner, map[string]any{"client_id": clientID})
		mustStatus(t, owner.do("PATCH", "/api/admin/invoices/"+empty.ID, map[string]any{"status": "sent"}), http.StatusConflict, "conflict")
		r = owner.do("PATCH", "/api/admin/invoices/"+empty.ID, map[string]any{"status": "sent", "items": []any{billItem("A", 1, 100)}})
		mustStatus(t, r, http.StatusOK)
		r = owner.do("POST", "/api/admin/invoices/"+empty.ID+"/pay", map[string]any{"payment_method": "bank_transfer"})
		mustStatus(t, r, http.StatusOK)
		r.decode(t, &got)
		if *got.PaymentMethod != "bank_transfer" {
			t.Fatalf("payment method %+v", got)
		}
	})

	t.Run("delete only drafts", func(t *testing.T) {
		sent := billCreate(t, owner, map[string]any{"client_id": clientID, "status": "sent", "items": []any{billItem("A", 1, 100)}})
		mustStatus(t, owner.do("DELETE", "/api/admin/invoices/"+sent.ID, nil), http.StatusConflict, "conflict")
		billInvoice(t, owner, sent.ID)
		draft := billCreate(t, owner, map[string]any{"client_id": clientID, "items": []any{billItem("A", 1, 100)}})
		mustStatus(t, owner.do("DELETE", "/api/admin/invoices/"+draft.ID, nil), http.StatusNoContent)
		mustStatus(t, owner.do("GET", "/api/admin/invoices/"+draft.ID, nil), http.StatusNotFound, "not_found")
		mustStatus(t, owner.do("DELETE", "/api/admin/invoices/"+draft.ID, nil), http.StatusNotFound, "not_found")
	})

	t.Run("permissions", func(t *testing.T) {
		mustStatus(t, staff.do("GET", "/api/admin/invoices", nil), http.StatusOK)
		mustStatus(t, staff.do("POST", "/api/admin/invoices", map[string]any{"client_id": clientID}), http.StatusForbidden, "forbidden")
		mustStatus(t, cli.do("GET", "/api/admin/invoices", nil), http.StatusForbidden, "forbidden")
		mustStatus(t, staff.do("GET", "/api/portal/invoices", nil), http.StatusForbidden, "forbidden")
		mustStatus(t, e.anon().do("GET", "/api/portal/invoices", nil), http.StatusUnauthorized, "unauthenticated")
	})

	t.Run("list filters", func(t *testing.T) {
		for _, v := range billInvoices(t, owner, "/api/admin/invoices?status=paid&client="+clientID) {
			if v.Status != "paid" || v.ClientID != clientID {
				t.Fatalf("filtered list holds %+v", v)
			}
		}
		billMust422(t, owner.do("GET", "/api/admin/invoices?status=late", nil), "status")
		billMust422(t, owner.do("GET", "/api/admin/invoices?client=x", nil), "client")
		page1 := owner.do("GET", "/api/admin/invoices?limit=2", nil)
		mustStatus(t, page1, http.StatusOK)
		var p struct {
			Items      []billTInvoice `json:"items"`
			NextCursor *string        `json:"next_cursor"`
		}
		page1.decode(t, &p)
		if len(p.Items) != 2 || p.NextCursor == nil {
			t.Fatalf("first page %s", page1.Body)
		}
		next := billInvoices(t, owner, "/api/admin/invoices?limit=2&cursor="+*p.NextCursor)
		if len(next) == 0 || next[0].ID == p.Items[1].ID {
			t.Fatalf("second page %+v", next)
		}
	})

	t.Run("portal shows the client's own issued invoices", func(t *testing.T) {
		draft := billCreate(t, owner, map[string]any{"client_id": clientID, "items": []any{billItem("A", 1, 100)}})
		items := billInvoices(t, cli, "/api/portal/invoices?limit=200")
		if len(items) == 0 {
			t.Fatal("client sees no invoices")
		}
		for _, v := range items {
			if v.ClientID != clientID || v.Status == "draft" || v.ID == draft.ID {
				t.Fatalf("client sees %+v", v)
			}
		}
		other := billInvoices(t, e.login("client2@acme.test", ""), "/api/portal/invoices?limit=200")
		for _, v := range other {
			if v.ClientID != acme.Client2.String() {
				t.Fatalf("client2 sees %+v", v)
			}
		}
	})

	t.Run("globex ids are not found from acme and change nothing", func(t *testing.T) {
		g := billInvoices(t, gOwner, "/api/admin/invoices")
		foreign := billFind(t, g, func(v billTInvoice) bool { return v.Status == "sent" })
		draft := billFind(t, g, func(v billTInvoice) bool { return v.Status == "draft" })
		before := billInvoice(t, gOwner, foreign.ID)
		beforeDraft := billInvoice(t, gOwner, draft.ID)
		for _, id := range []string{foreign.ID, draft.ID, uuid.NewString(), "not-a-uuid"} {
			for _, req := range []struct {
				method, suffix string
				body           any
			}{
				{"GET", "", nil},
				{"PATCH", "", map[string]any{}},
				{"PATCH", "", map[string]any{"status": "void", "items": []any{}}},
				{"DELETE", "", nil},
				{"POST", "/pay", map[string]any{}},
				{"POST", "/pay", nil},
			} {
				r := owner.do(req.method, "/api/admin/invoices/"+id+req.suffix, req.body)
				mustStatus(t, r, http.StatusNotFound, "not_found")
			}
		}
		after := billInvoice(t, gOwner, foreign.ID)
		afterDraft := billInvoice(t, gOwner, draft.ID)
		if after.UpdatedAt != before.UpdatedAt || after.Status != "sent" || afterDraft.UpdatedAt != beforeDraft.UpdatedAt {
			t.Fatalf("globex invoice changed: %+v → %+v", before, after)
		}
		for _, v := range billInvoices(t, owner, "/api/admin/invoices?limit=200") {
			if v.ID == foreign.ID || v.ID == draft.ID {
				t.Fatal("acme list shows a globex invoice")
			}
		}
	})
}

func TestBillingInvoiceNumbersPerTenant(t *testing.T) {
	e := newEnv(t)
	acmeOwner := e.login("owner@acme.test", "")
	globexOwner := e.login("owner@globex.test", "")
	numbers := func(c *client) []int64 {
		var out []int64
		for _, v := range billInvoices(t, c, "/api/admin/invoices?limit=200") {
			out = append(out, v.Number)
		}
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		return out
	}
	a, g := numbers(acmeOwner), numbers(globexOwner)
	if len(a) == 0 || len(g) == 0 || a[0] != 1 || g[0] != 1 {
		t.Fatalf("both tenants start at number 1: acme %v, globex %v", a, g)
	}
	na := billCreate(t, acmeOwner, map[string]any{"client_id": e.demo.Acme.Client.String()})
	ng := billCreate(t, globexOwner, map[string]any{"client_id": e.demo.Globex.Client.String()})
	if na.Number != a[len(a)-1]+1 || ng.Number != g[len(g)-1]+1 || na.Number != ng.Number {
		t.Fatalf("next numbers: acme %d after %v, globex %d after %v", na.Number, a, ng.Number, g)
	}

	// An idempotent replay returns the first invoice and consumes no number.
	key := "bill-" + uuid.NewString()
	body := map[string]any{"client_id": e.demo.Acme.Client2.String(), "items": []any{billItem("A", 1, 100)}}
	r1 := acmeOwner.do("POST", "/api/admin/invoices", body, "Idempotency-Key", key)
	r2 := acmeOwner.do("POST", "/api/admin/invoices", body, "Idempotency-Key", key)
	mustStatus(t, r1, http.StatusCreated)
	mustStatus(t, r2, http.StatusCreated)
	var i1, i2 billTInvoice
	r1.decode(t, &i1)
	r2.decode(t, &i2)
	if i1.ID != i2.ID || i1.Number != na.Number+1 {
		t.Fatalf("replay: %+v vs %+v", i1, i2)
	}

	// Concurrent creations in one tenant never share a number and leave no gap.
	const n = 16
	var wg sync.WaitGroup
	got := make([]int64, n)
	status := make([]int, n)
	for i := range n {
		c := acmeOwner.onHost("")
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.do("POST", "/api/admin/invoices", map[string]any{"client_id": e.demo.Acme.Client.String(),
				"items": []any{billItem("Concurrent", 1, int64(100+i))}})
			status[i] = r.Status
			var v billTInvoice
			_ = json.Unmarshal(r.Body, &v)
			got[i] = v.Number
		}()
	}
	wg.Wait()
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	for i := range n {
		if status[i] != http.StatusCreated {
			t.Fatalf("concurrent create %d: status %d", i, status[i])
		}
		if got[i] != i1.Number+1+int64(i) {
			t.Fatalf("concurrent numbers %v, want %d.. without duplicates or gaps", got, i1.Number+1)
		}
	}
	if ng2 := billCreate(t, globexOwner, map[string]any{"client_id": e.demo.Globex.Client.String()}); ng2.Number != ng.Number+1 {
		t.Fatalf("globex's sequence moved with acme's: %d", ng2.Number)
	}
}

// billSign signs a webhook body the way the payment provider does.
func billSign(e *env, body []byte) string {
	m := hmac.New(sha256.New, e.keyring.Derive("payment-webhook"))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func billWebhook(e *env, body []byte, sig string) *resp {
	headers := []string{}
	if sig != "" {
		headers = append(headers, "X-Payment-Signature", sig)
	}
	return e.anon().do("POST", "/api/payments/webhook", body, headers...)
}

func billCheckout(t testing.TB, c *client, path, invoiceID string) billTSession {
	t.Helper()
	r := c.do("POST", path, map[string]any{"invoice_id": invoiceID})
	mustStatus(t, r, http.StatusCreated)
	var s billTSession
	r.decode(t, &s)
	return s
}

func billSessionOf(t testing.TB, v billTInvoice, id string) billTSession {
	t.Helper()
	for _, s := range v.PaymentSessions {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("invoice %s has no session %s", v.ID, id)
	return billTSession{}
}

func TestBillingPayments(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	cli := e.login("client@acme.test", "")
	cli2 := e.login("client2@acme.test", "")
	gOwner := e.login("owner@globex.test", "")
	acme := e.demo.Acme
	newSent := func(client uuid.UUID, cents int64) billTInvoice {
		return billCreate(t, owner, map[string]any{"client_id": client.String(), "status": "sent", "items": []any{billItem("A", 2, cents)}})
	}

	t.Run("checkout by the client for their own invoice", func(t *testing.T) {
		v := newSent(acme.Client, 1234)
		s := billCheckout(t, cli, "/api/payments/checkout", v.ID)
		if s.Method != "card" || s.Status != "open" || s.AmountCents != 2468 || s.InvoiceID != v.ID ||
			s.CheckoutURL != "/pay/"+s.ID || s.CreatedBy != acme.Client.String() || s.Currency != "USD" {
			t.Fatalf("session %+v", s)
		}
		if got := billInvoice(t, owner, v.ID); got.Status != "sent" || billSessionOf(t, got, s.ID).Status != "open" {
			t.Fatalf("checkout changed the invoice: %+v", got)
		}
	})

	t.Run("checkout refusals", func(t *testing.T) {
		other := newSent(acme.Client2, 100)
		draft := billCreate(t, owner, map[string]any{"client_id": acme.Client.String(), "items": []any{billItem("A", 1, 100)}})
		paid := newSent(acme.Client, 100)
		mustStatus(t, owner.do("POST", "/api/admin/invoices/"+paid.ID+"/pay", nil), http.StatusOK)
		void := newSent(acme.Client, 100)
		mustStatus(t, owner.do("PATCH", "/api/admin/invoices/"+void.ID, map[string]any{"status": "void"}), http.StatusOK)
		zero := billCreate(t, owner, map[string]any{"client_id": acme.Client.String(), "status": "sent", "items": []any{billItem("Free", 1, 0)}})
		gInv := billFind(t, billInvoices(t, gOwner, "/api/admin/invoices"), func(v billTInvoice) bool { return v.Status == "sent" })
		for _, path := range []string{"/api/payments/checkout", "/api/payments/cod"} {
			for _, tc := range []struct {
				name   string
				c      *client
				body   any
				status int
			}{
				{"another client's invoice", cli, map[string]any{"invoice_id": other.ID}, 404},
				{"a draft, for the client", cli, map[string]any{"invoice_id": draft.ID}, 404},
				{"a globex invoice", cli, map[string]any{"invoice_id": gInv.ID}, 404},
				{"a globex invoice, as owner", owner, map[string]any{"invoice_id": gInv.ID}, 404},
				{"a random id", owner, map[string]any{"invoice_id": uuid.NewString()}, 404},
				{"a draft, for staff", owner, map[string]any{"invoice_id": draft.ID}, 409},
				{"a paid invoice", cli, map[string]any{"invoice_id": paid.ID}, 409},
				{"a void invoice", owner, map[string]any{"invoice_id": void.ID}, 409},
				{"nothing to pay", cli, map[string]any{"invoice_id": zero.ID}, 409},
				{"no invoice id", cli, map[string]any{}, 422},
				{"bad invoice id", cli, map[string]any{"invoice_id": "x"}, 422},
				{"unknown field", cli, map[string]any{"invoice_id": other.ID, "amount_cents": 1}, 422},
				{"staff role lacks payments.create", staff, map[string]any{"invoice_id": other.ID}, 403},
			} {
				t.Run(path+" "+tc.name, func(t *testing.T) {
					r := tc.c.do("POST", path, tc.body)
					if r.Status != tc.status {
						t.Fatalf("got %d %s, want %d", r.Status, r.Body, tc.status)
					}
				})
			}
		}
		if g := billInvoice(t, gOwner, gInv.ID); g.Status != "sent" {
			t.Fatalf("globex invoice changed: %+v", g)
		}
		for _, v := range []billTInvoice{other, draft, paid, void, zero} {
			if got := billInvoice(t, owner, v.ID); len(got.PaymentSessions) != 0 {
				t.Fatalf("refused payment left a session on %s: %+v", v.ID, got.PaymentSessions)
			}
		}
	})

	t.Run("staff may start a payment for any client", func(t *testing.T) {
		v := newSent(acme.Client2, 500)
		s := billCheckout(t, owner, "/api/payments/checkout", v.ID)
		if s.CreatedBy != acme.Owner.String() || s.AmountCents != 1000 {
			t.Fatalf("session %+v", s)
		}
	})

	t.Run("cash on delivery", func(t *testing.T) {
		v := newSent(acme.Client2, 700)
		card := billCheckout(t, cli2, "/api/payments/checkout", v.ID)
		cod := billCheckout(t, cli2, "/api/payments/cod", v.ID)
		if cod.Method != "cod" || cod.Status != "pending_collection" || cod.AmountCents != 1400 || cod.CheckoutURL != "" {
			t.Fatalf("cod session %+v", cod)
		}
		mustStatus(t, cli2.do("POST", "/api/payments/cod", map[string]any{"invoice_id": v.ID}), http.StatusConflict, "conflict")
		if got := billInvoice(t, owner, v.ID); got.Status != "sent" {
			t.Fatalf("cod paid the invoice by itself: %+v", got)
		}
		// The provider has no say over cash: a webhook naming the cod session is unknown.
		body := []byte(`{"session_id":"` + cod.ID + `","status":"paid"}`)
		mustStatus(t, billWebhook(e, body, billSign(e, body)), http.StatusNotFound, "not_found")
		r := owner.do("POST", "/api/admin/invoices/"+v.ID+"/pay", map[string]any{"payment_method": "cod"})
		mustStatus(t, r, http.StatusOK)
		got := billInvoice(t, owner, v.ID)
		if got.Status != "paid" || *got.PaymentMethod != "cod" || billSessionOf(t, got, cod.ID).Status != "paid" ||
			billSessionOf(t, got, card.ID).Status != "expired" {
			t.Fatalf("after collection %+v", got)
		}
	})

	t.Run("idempotent checkout", func(t *testing.T) {
		v := newSent(acme.Client, 300)
		key := "bill-" + uuid.NewString()
		r1 := cli.do("POST", "/api/payments/checkout", map[string]any{"invoice_id": v.ID}, "Idempotency-Key", key)
		r2 := cli.do("POST", "/api/payments/checkout", map[string]any{"invoice_id": v.ID}, "Idempotency-Key", key)
		mustStatus(t, r1, http.StatusCreated)
		mustStatus(t, r2, http.StatusCreated)
		if string(r1.Body) != string(r2.Body) || len(billInvoice(t, owner, v.ID).PaymentSessions) != 1 {
			t.Fatalf("replayed checkout made another session: %s / %s", r1.Body, r2.Body)
		}
	})
}

func TestBillingWebhook(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	cli := e.login("client@acme.test", "")
	gOwner := e.login("owner@globex.test", "")
	gCli := e.login("client@globex.test", "")
	acme, globex := e.demo.Acme, e.demo.Globex

	sent := func(c *client, clientID uuid.UUID) billTInvoice {
		return billCreate(t, c, map[string]any{"client_id": clientID.String(), "status": "sent", "items": []any{billItem("A", 1, 9900)}})
	}
	send := func(body any) *resp {
		raw, _ := json.Marshal(body)
		return billWebhook(e, raw, billSign(e, raw))
	}

	t.Run("paid marks the session and the invoice, once", func(t *testing.T) {
		v := sent(owner, acme.Client)
		s := billCheckout(t, cli, "/api/payments/checkout", v.ID)
		r := send(map[string]any{"session_id": s.ID, "status": "paid", "provider_event": "evt_1", "amount": 9900})
		mustStatus(t, r, http.StatusOK)
		got := billInvoice(t, owner, v.ID)
		if got.Status != "paid" || got.PaymentMethod == nil || *got.PaymentMethod != "card" || billSessionOf(t, got, s.ID).Status != "paid" {
			t.Fatalf("after webhook %+v", got)
		}
		for _, status := range []string{"paid", "failed"} {
			r := send(map[string]any{"session_id": s.ID, "status": status})
			mustStatus(t, r, http.StatusOK)
			var out struct {
				Status  string `json:"status"`
				Changed bool   `json:"changed"`
			}
			r.decode(t, &out)
			if out.Status != "paid" || out.Changed {
				t.Fatalf("repeat %s: %s", status, r.Body)
			}
		}
		again := billInvoice(t, owner, v.ID)
		if again.UpdatedAt != got.UpdatedAt || again.PaidAt == nil || *again.PaidAt != *got.PaidAt {
			t.Fatalf("a repeated webhook changed the invoice: %+v → %+v", got, again)
		}
		n := 0
		for _, a := range billAudit(t, owner, "payment.webhook") {
			if a.TargetID == v.ID {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d payment.webhook audit events for one payment", n)
		}
	})

	t.Run("failed leaves the invoice awaiting payment", func(t *testing.T) {
		v := sent(owner, acme.Client)
		s := billCheckout(t, cli, "/api/payments/checkout", v.ID)
		mustStatus(t, send(map[string]any{"session_id": s.ID, "status": "failed"}), http.StatusOK)
		got := billInvoice(t, owner, v.ID)
		if got.Status != "sent" || billSessionOf(t, got, s.ID).Status != "failed" {
			t.Fatalf("after failure %+v", got)
		}
		// A later success from the provider still counts: money was taken.
		mustStatus(t, send(map[string]any{"session_id": s.ID, "status": "paid"}), http.StatusOK)
		if got := billInvoice(t, owner, v.ID); got.Status != "paid" {
			t.Fatalf("after late success %+v", got)
		}
	})

	t.Run("the tenant comes from the session, never from the payload", func(t *testing.T) {
		av := sent(owner, acme.Client)
		gv := sent(gOwner, globex.Client)
		as := billCheckout(t, cli, "/api/payments/checkout", av.ID)
		gs := billCheckout(t, gCli, "/api/payments/checkout", gv.ID)
		gBefore := billInvoice(t, gOwner, gv.ID)
		body, _ := json.Marshal(map[string]any{"session_id": as.ID, "status": "paid",
			"invoice_id": gv.ID, "tenant_id": globex.ID.String(), "tenant": "globex", "metadata": map[string]any{"tenant_id": globex.ID.String(), "session_id": gs.ID}})
		r := e.anon().onHost("globex.localhost").do("POST", "/api/payments/webhook", body,
			"X-Payment-Signature", billSign(e, body), "X-Tenant-Id", globex.ID.String(), "X-Tenant-Slug", "globex")
		mustStatus(t, r, http.StatusOK)
		if got := billInvoice(t, owner, av.ID); got.Status != "paid" || billSessionOf(t, got, as.ID).Status != "paid" {
			t.Fatalf("acme invoice not paid: %+v", got)
		}
		gAfter := billInvoice(t, gOwner, gv.ID)
		if gAfter.Status != "sent" || gAfter.UpdatedAt != gBefore.UpdatedAt || billSessionOf(t, gAfter, gs.ID).Status != "open" {
			t.Fatalf("globex invoice changed by acme's webhook: %+v", gAfter)
		}
		for _, a := range billAudit(t, gOwner, "payment.webhook") {
			if a.TargetID == gv.ID || a.TargetID == av.ID {
				t.Fatalf("globex audit log records acme's payment: %+v", a)
			}
		}
		// And globex's own session pays globex's invoice only.
		mustStatus(t, send(map[string]any{"session_id": gs.ID, "status": "paid", "tenant_id": acme.ID.String(), "invoice_id": av.ID}), http.StatusOK)
		if got := billInvoice(t, gOwner, gv.ID); got.Status != "paid" {
			t.Fatalf("globex invoice not paid by its own session: %+v", got)
		}
	})

	t.Run("voiding closes open sessions and a late payment does not revive the invoice", func(t *testing.T) {
		v := sent(owner, acme.Client)
		s := billCheckout(t, cli, "/api/payments/checkout", v.ID)
		mustStatus(t, owner.do("PATCH", "/api/admin/invoices/"+v.ID, map[string]any{"status": "void"}), http.StatusOK)
		if got := billInvoice(t, owner, v.ID); billSessionOf(t, got, s.ID).Status != "expired" {
			t.Fatalf("session after void: %+v", got.PaymentSessions)
		}
		mustStatus(t, send(map[string]any{"session_id": s.ID, "status": "paid"}), http.StatusOK)
		got := billInvoice(t, owner, v.ID)
		if got.Status != "void" || billSessionOf(t, got, s.ID).Status != "paid" {
			t.Fatalf("after late payment %+v", got)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		v := sent(owner, acme.Client)
		s := billCheckout(t, cli, "/api/payments/checkout", v.ID)
		good, _ := json.Marshal(map[string]any{"session_id": s.ID, "status": "paid"})
		other, _ := json.Marshal(map[string]any{"session_id": s.ID, "status": "failed"})
		wrongKey := hmac.New(sha256.New, []byte("not-the-key"))
		wrongKey.Write(good)
		for _, tc := range []struct {
			name   string
			body   []byte
			sig    string
			status int
			code   string
		}{
			{"no signature", good, "", 401, "unauthenticated"},
			{"signature of another body", good, billSign(e, other), 401, "unauthenticated"},
			{"another key", good, "sha256=" + hex.EncodeToString(wrongKey.Sum(nil)), 401, "unauthenticated"},
			{"no scheme", good, billSign(e, good)[len("sha256="):], 401, "unauthenticated"},
			{"not hex", good, "sha256=zz", 401, "unauthenticated"},
			{"unknown session", []byte(`{"session_id":"` + uuid.NewString() + `","status":"paid"}`), "", 404, "not_found"},
			{"session id not a uuid", []byte(`{"session_id":"x","status":"paid"}`), "", 422, "validation_failed"},
			{"unknown status", []byte(`{"session_id":"` + s.ID + `","status":"refunded"}`), "", 422, "validation_failed"},
			{"not json", []byte(`paid`), "", 422, "validation_failed"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				sig := tc.sig
				if sig == "" && tc.status != 401 {
					sig = billSign(e, tc.body)
				}
				mustStatus(t, billWebhook(e, tc.body, sig), tc.status, tc.code)
			})
		}
		if got := billInvoice(t, owner, v.ID); got.Status != "sent" || billSessionOf(t, got, s.ID).Status != "open" {
			t.Fatalf("a refused webhook changed the invoice: %+v", got)
		}
	})
}

func TestBillingExpenses(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	cli := e.login("client@acme.test", "")
	gOwner := e.login("owner@globex.test", "")
	type expense struct {
		ID          string `json:"id"`
		Description string `json:"description"`
		Category    string `json:"category"`
		AmountCents int64  `json:"amount_cents"`
		Currency    string `json:"currency"`
		IncurredOn  string `json:"incurred_on"`
		CreatedBy   string `json:"created_by"`
		UpdatedAt   string `json:"updated_at"`
	}
	list := func(c *client, q string) []expense {
		r := c.do("GET", "/api/admin/expenses"+q, nil)
		mustStatus(t, r, http.StatusOK)
		var out struct {
			Items []expense `json:"items"`
		}
		r.decode(t, &out)
		return out.Items
	}
	if n := len(list(owner, "")); n < 2 {
		t.Fatalf("seeded expenses: %d", n)
	}

	var created expense
	t.Run("create records the caller", func(t *testing.T) {
		r := staff.do("POST", "/api/admin/expenses", map[string]any{"description": "Taxi", "category": "Travel", "amount_cents": 3150, "incurred_on": "2030-03-04"})
		mustStatus(t, r, http.StatusCreated)
		r.decode(t, &created)
		if created.CreatedBy != e.demo.Acme.Staff.String() || created.Category != "travel" || created.Currency != "USD" ||
			created.IncurredOn != "2030-03-04" || created.AmountCents != 3150 {
			t.Fatalf("created %+v", created)
		}
		r = owner.do("POST", "/api/admin/expenses", map[string]any{"description": "Paper", "amount_cents": 0})
		mustStatus(t, r, http.StatusCreated)
		var d expense
		r.decode(t, &d)
		if d.Category != "general" || d.IncurredOn == "" || d.CreatedBy != e.demo.Acme.Owner.String() {
			t.Fatalf("defaults %+v", d)
		}
	})

	t.Run("create validation", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			body  any
			field string
		}{
			{"no description", map[string]any{"amount_cents": 1}, "description"},
			{"no amount", map[string]any{"description": "A"}, "amount_cents"},
			{"negative amount", map[string]any{"description": "A", "amount_cents": -1}, "amount_cents"},
			{"bad currency", map[string]any{"description": "A", "amount_cents": 1, "currency": "EURO"}, "currency"},
			{"bad date", map[string]any{"description": "A", "amount_cents": 1, "incurred_on": "2030-13-01"}, "incurred_on"},
			{"empty category", map[string]any{"description": "A", "amount_cents": 1, "category": " "}, "category"},
			{"creator from the body", map[string]any{"description": "A", "amount_cents": 1, "created_by": e.demo.Acme.Owner.String()}, "created_by"},
			{"wrong type", map[string]any{"description": "A", "amount_cents": "1"}, "amount_cents"},
		} {
			t.Run(tc.name, func(t *testing.T) { billMust422(t, owner.do("POST", "/api/admin/expenses", tc.body), tc.field) })
		}
	})

	t.Run("get, patch, delete", func(t *testing.T) {
		path := "/api/admin/expenses/" + created.ID
		mustStatus(t, owner.do("GET", path, nil), http.StatusOK)
		r := owner.do("PATCH", path, map[string]any{"amount_cents": 4000, "currency": "eur"})
		mustStatus(t, r, http.StatusOK)
		var got expense
		r.decode(t, &got)
		if got.AmountCents != 4000 || got.Currency != "EUR" || got.Description != "Taxi" || got.CreatedBy != created.CreatedBy {
			t.Fatalf("patched %+v", got)
		}
		billMust422(t, owner.do("PATCH", path, map[string]any{"amount_cents": -4}), "amount_cents")
		billMust422(t, owner.do("PATCH", path, map[string]any{"description": ""}), "description")
		billMust422(t, owner.do("PATCH", path, map[string]any{"created_by": e.demo.Acme.Owner.String()}), "created_by")
		if n := len(list(owner, "?category=travel&from=2030-03-01&to=2030-04-01")); n != 1 {
			t.Fatalf("filtered list: %d", n)
		}
		billMust422(t, owner.do("GET", "/api/admin/expenses?from=March", nil), "from")
		mustStatus(t, owner.do("DELETE", path, nil), http.StatusNoContent)
		mustStatus(t, owner.do("GET", path, nil), http.StatusNotFound, "not_found")
		mustStatus(t, owner.do("DELETE", path, nil), http.StatusNotFound, "not_found")
	})

	t.Run("clients have no access", func(t *testing.T) {
		mustStatus(t, cli.do("GET", "/api/admin/expenses", nil), http.StatusForbidden, "forbidden")
		mustStatus(t, cli.do("POST", "/api/admin/expenses", map[string]any{"description": "A", "amount_cents": 1}), http.StatusForbidden, "forbidden")
	})

	t.Run("globex ids are not found from acme and change nothing", func(t *testing.T) {
		g := list(gOwner, "")
		foreign := g[0]
		for _, id := range []string{foreign.ID, uuid.NewString()} {
			path := "/api/admin/expenses/" + id
			mustStatus(t, owner.do("GET", path, nil), http.StatusNotFound, "not_found")
			mustStatus(t, owner.do("PATCH", path, map[string]any{}), http.StatusNotFound, "not_found")
			mustStatus(t, owner.do("PATCH", path, map[string]any{"amount_cents": -1}), http.StatusNotFound, "not_found")
			mustStatus(t, owner.do("DELETE", path, nil), http.StatusNotFound, "not_found")
		}
		r := gOwner.do("GET", "/api/admin/expenses/"+foreign.ID, nil)
		mustStatus(t, r, http.StatusOK)
		var after expense
		r.decode(t, &after)
		if after != foreign {
			t.Fatalf("globex expense changed: %+v → %+v", foreign, after)
		}
	})
}

type billTAudit struct {
	ID         string         `json:"id"`
	Action     string         `json:"action"`
	TargetType string         `json:"target_type"`
	TargetID   string         `json:"target_id"`
	Actor      string         `json:"actor"`
	ActorUser  *string        `json:"actor_user_id"`
	Detail     map[string]any `json:"detail"`
	CreatedAt  string         `json:"created_at"`
}

func billAudit(t testing.TB, c *client, action string) []billTAudit {
	t.Helper()
	r := c.do("GET", "/api/admin/audit-logs?limit=200&action="+action, nil)
	mustStatus(t, r, http.StatusOK)
	var out struct {
		Items []billTAudit `json:"items"`
	}
	r.decode(t, &out)
	return out.Items
}

func TestBillingEmailAndAudit(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	cli := e.login("client@acme.test", "")
	gOwner := e.login("owner@globex.test", "")
	type message struct {
		ID          string `json:"id"`
		ToAddress   string `json:"to_address"`
		FromAddress string `json:"from_address"`
		Subject     string `json:"subject"`
		Body        string `json:"body"`
		Status      string `json:"status"`
	}
	outbox := func(c *client, q string) []message {
		r := c.do("GET", "/api/admin/outbox"+q, nil)
		mustStatus(t, r, http.StatusOK)
		var out struct {
			Items []message `json:"items"`
		}
		r.decode(t, &out)
		return out.Items
	}

	t.Run("seeded outbox", func(t *testing.T) {
		if n := len(outbox(owner, "")); n < 2 {
			t.Fatalf("seeded outbox: %d", n)
		}
		for _, m := range outbox(owner, "?status=sent") {
			if m.Status != "sent" {
				t.Fatalf("status filter: %+v", m)
			}
		}
		billMust422(t, owner.do("GET", "/api/admin/outbox?status=lost", nil), "status")
	})

	var sent message
	t.Run("test message uses the communication settings", func(t *testing.T) {
		r := owner.do("POST", "/api/email/test", map[string]any{"to": "someone@example.com"})
		mustStatus(t, r, http.StatusCreated)
		r.decode(t, &sent)
		if sent.ToAddress != "someone@example.com" || sent.Status != "pending" || sent.FromAddress == "" || sent.Subject == "" {
			t.Fatalf("message %+v", sent)
		}
		// Change the sender through the settings API: read, adjust, replace.
		cur := owner.do("GET", "/api/admin/communication-settings", nil)
		var cs map[string]any
		if cur.Status == http.StatusOK {
			cur.decode(t, &cs)
		} else {
			cs = map[string]any{}
		}
		cs["from_name"], cs["from_email"], cs["email_signature"] = "Acme Billing", "billing@acme.test", "Acme Advisory, 1 Main St"
		settings := owner.do("PUT", "/api/admin/communication-settings", cs)
		if settings.Status != http.StatusOK {
			t.Skipf("communication settings cannot be changed here (%d); the configured sender is not tested", settings.Status)
		}
		r = owner.do("POST", "/api/email/test", map[string]any{"to": "someone@example.com"})
		mustStatus(t, r, http.StatusCreated)
		var m message
		r.decode(t, &m)
		if m.FromAddress != `"Acme Billing" <billing@acme.test>` || !strings.Contains(m.Body, "Acme Advisory, 1 Main St") || !strings.Contains(m.Subject, "Acme Billing") {
			t.Fatalf("message from settings %+v", m)
		}
	})

	t.Run("test message validation and permissions", func(t *testing.T) {
		for _, body := range []any{map[string]any{}, map[string]any{"to": "not an address"}, map[string]any{"to": "Name <a@b.c>"},
			map[string]any{"to": "a@b.c", "from": "x@y.z"}, "[]"} {
			r := owner.do("POST", "/api/email/test", body)
			mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
		}
		mustStatus(t, staff.do("POST", "/api/email/test", map[string]any{"to": "a@b.c"}), http.StatusForbidden, "forbidden")
		mustStatus(t, cli.do("GET", "/api/admin/outbox", nil), http.StatusForbidden, "forbidden")
	})

	t.Run("outboxes are per tenant", func(t *testing.T) {
		for _, m := range outbox(gOwner, "?limit=200") {
			if m.ID == sent.ID {
				t.Fatal("globex outbox shows acme's message")
			}
		}
		if !slices.ContainsFunc(outbox(owner, "?limit=200"), func(m message) bool { return m.ID == sent.ID }) {
			t.Fatal("acme outbox lacks its message")
		}
	})

	t.Run("audit log", func(t *testing.T) {
		v := billCreate(t, owner, map[string]any{"client_id": e.demo.Acme.Client.String()})
		items := billAudit(t, owner, "invoice.create")
		if len(items) == 0 || items[0].TargetID != v.ID || items[0].ActorUser == nil || *items[0].ActorUser != e.demo.Acme.Owner.String() {
			t.Fatalf("newest invoice.create: %+v", items)
		}
		for _, a := range items {
			if a.Action != "invoice.create" {
				t.Fatalf("action filter: %+v", a)
			}
		}
		if len(billAudit(t, owner, "email.test")) == 0 {
			t.Fatal("no email.test audit event")
		}
		all := owner.do("GET", "/api/admin/audit-logs?limit=200", nil)
		mustStatus(t, all, http.StatusOK)
		var out struct {
			Items []billTAudit `json:"items"`
		}
		all.decode(t, &out)
		for i := 1; i < len(out.Items); i++ {
			prev, err1 := time.Parse(time.RFC3339Nano, out.Items[i-1].CreatedAt)
			cur, err2 := time.Parse(time.RFC3339Nano, out.Items[i].CreatedAt)
			if err1 != nil || err2 != nil || cur.After(prev) {
				t.Fatalf("audit log not newest first at %d: %s after %s", i, out.Items[i].CreatedAt, out.Items[i-1].CreatedAt)
			}
		}
		for _, a := range billAudit(t, gOwner, "invoice.create") {
			if a.TargetID == v.ID {
				t.Fatal("globex audit log shows acme's event")
			}
		}
		billMust422(t, owner.do("GET", "/api/admin/audit-logs?actor=x", nil), "actor")
		mustStatus(t, staff.do("GET", "/api/admin/audit-logs", nil), http.StatusForbidden, "forbidden")
		mustStatus(t, cli.do("GET", "/api/admin/audit-logs", nil), http.StatusForbidden, "forbidden")
	})
}

// The webhook key follows the secret: after a rotation (new TENANTD_SECRET, the old one in
// TENANTD_SECRET_PREVIOUS) a provider still signing with the old key is accepted, as is one
// signing with the new key, while a key of a secret the server never had is refused.
func TestBillingWebhookKeyRotation(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	cli := e.login("client@acme.test", "")
	const newSecret = "a-new-secret-of-at-least-thirty-two-bytes"
	rotated, err := tenancy.NewKeyring(newSecret, []string{testSecret})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := tenancy.NewKeyring("a-secret-this-server-never-had-in-its-life", nil)
	if err != nil {
		t.Fatal(err)
	}
	oldKeyring := e.keyring
	e.keyring = rotated
	e.serve(t, httpapi.Config{})
	sign := func(kr *tenancy.Keyring, body []byte) string {
		m := hmac.New(sha256.New, kr.Derive(httpapi.WebhookPurpose))
		m.Write(body)
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
	cases := []struct {
		name   string
		signer *tenancy.Keyring
		status int
	}{
		{"signed with the previous secret's key", oldKeyring, http.StatusOK},
		{"signed with the current secret's key", rotated, http.StatusOK},
		{"signed with a key the server never had", stranger, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := billCreate(t, owner, map[string]any{"client_id": e.demo.Acme.Client.String(), "status": "sent", "items": []any{billItem("A", 1, 9900)}})
			s := billCheckout(t, cli, "/api/payments/checkout", v.ID)
			body, _ := json.Marshal(map[string]any{"session_id": s.ID, "status": "paid"})
			mustStatus(t, billWebhook(e, body, sign(tc.signer, body)), tc.status)
			want := "paid"
			if tc.status != http.StatusOK {
				want = "sent"
			}
			if got := billInvoice(t, owner, v.ID); got.Status != want {
				t.Fatalf("invoice %s, want %s", got.Status, want)
			}
		})
	}
}
