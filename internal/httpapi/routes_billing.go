package httpapi

import (
	"encoding/json"
	"reflect"

	"tenantd/internal/auth"
)

// Invoices, expenses, payments, email and audit.

func (s *Server) invoiceRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/admin/invoices", Kind: KindTenant, Permission: auth.PermInvoicesRead, Summary: "List invoices", Handler: s.listInvoices},
		{Method: "POST", Pattern: "/api/admin/invoices", Kind: KindTenant, Permission: auth.PermInvoicesManage, Creates: true, Summary: "Create an invoice with its items", Handler: s.createInvoice},
		{Method: "GET", Pattern: "/api/admin/invoices/{id}", Kind: KindTenant, Permission: auth.PermInvoicesRead, Summary: "Get an invoice with its items and payment sessions", Handler: s.getInvoice},
		{Method: "PATCH", Pattern: "/api/admin/invoices/{id}", Kind: KindTenant, Permission: auth.PermInvoicesManage, Summary: "Change an invoice (items only while draft) or its status", Handler: s.patchInvoice},
		{Method: "DELETE", Pattern: "/api/admin/invoices/{id}", Kind: KindTenant, Permission: auth.PermInvoicesManage, Summary: "Delete a draft invoice", Handler: s.deleteInvoice},
		{Method: "POST", Pattern: "/api/admin/invoices/{id}/pay", Kind: KindTenant, Permission: auth.PermInvoicesManage, Summary: "Record payment of a sent invoice", Handler: s.payInvoice},
		{Method: "GET", Pattern: "/api/portal/invoices", Kind: KindTenant, Permission: auth.PermInvoicesOwn, Summary: "The caller's own issued invoices", Handler: s.portalInvoices},
	}
}

func (s *Server) expenseRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/admin/expenses", Kind: KindTenant, Permission: auth.PermExpenses, Summary: "List expenses", Handler: s.listExpenses},
		{Method: "POST", Pattern: "/api/admin/expenses", Kind: KindTenant, Permission: auth.PermExpenses, Creates: true, Summary: "Record an expense", Handler: s.createExpense},
		{Method: "GET", Pattern: "/api/admin/expenses/{id}", Kind: KindTenant, Permission: auth.PermExpenses, Summary: "Get an expense", Handler: s.getExpense},
		{Method: "PATCH", Pattern: "/api/admin/expenses/{id}", Kind: KindTenant, Permission: auth.PermExpenses, Summary: "Change an expense", Handler: s.patchExpense},
		{Method: "DELETE", Pattern: "/api/admin/expenses/{id}", Kind: KindTenant, Permission: auth.PermExpenses, Summary: "Delete an expense", Handler: s.deleteExpense},
	}
}

func (s *Server) paymentRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/payments/checkout", Kind: KindTenant, Permission: auth.PermPayments, Creates: true, Summary: "Start a card payment for an invoice (clients: their own)", Handler: s.paymentCheckout},
		{Method: "POST", Pattern: "/api/payments/cod", Kind: KindTenant, Permission: auth.PermPayments, Creates: true, Summary: "Choose cash on delivery for an invoice (clients: their own)", Handler: s.paymentCOD},
		{Method: "POST", Pattern: "/api/payments/webhook", Kind: KindPublic, Summary: "Payment provider callback, signed; the tenant comes from the stored session", Handler: s.paymentWebhook},
	}
}

func (s *Server) emailRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/email/test", Kind: KindTenant, Permission: auth.PermEmail, Creates: true, Summary: "Queue a test message using the communication settings", Handler: s.sendTestEmail},
		{Method: "GET", Pattern: "/api/admin/outbox", Kind: KindTenant, Permission: auth.PermEmail, Summary: "The tenant's outgoing messages", Handler: s.listOutbox},
	}
}

func (s *Server) auditRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/admin/audit-logs", Kind: KindTenant, Permission: auth.PermAuditRead, Summary: "This tenant's audit log, newest first", Handler: s.listAuditLogs},
	}
}

// billOpt is a JSON field that tells "absent" (Set false) from "null" (Set, Value nil), so
// that PATCH can clear a nullable field.
type billOpt[T any] struct {
	Set   bool
	Value *T
}

func (*billOpt[T]) valueType() reflect.Type { return reflect.TypeFor[T]() }

// UnmarshalJSON records that the field was present, and its value unless it was null.
func (o *billOpt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Value = nil
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	o.Value = &v
	return nil
}
