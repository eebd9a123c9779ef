package httpapi

import (
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones validate the same on every machine
	"unicode"
	"unicode/utf8"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

// Settings singletons: booking settings, communication settings (with export and import) and
// thresholds. Each tenant has exactly one row of each, made with the tenant; PUT replaces it.

func (s *Server) settingsRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/admin/booking-settings", Kind: KindTenant, Permission: auth.PermSettingsRead, Summary: "Booking settings", Handler: s.getBookingSettings},
		{Method: "PUT", Pattern: "/api/admin/booking-settings", Kind: KindTenant, Permission: auth.PermSettingsManage, Summary: "Replace booking settings", Handler: s.putBookingSettings},
		{Method: "GET", Pattern: "/api/admin/communication-settings", Kind: KindTenant, Permission: auth.PermSettingsRead, Summary: "Communication settings (never the SMTP password)", Handler: s.getCommunicationSettings},
		{Method: "PUT", Pattern: "/api/admin/communication-settings", Kind: KindTenant, Permission: auth.PermSettingsManage, Summary: "Replace communication settings", Handler: s.putCommunicationSettings},
		{Method: "GET", Pattern: "/api/admin/communication-settings/export", Kind: KindTenant, Permission: auth.PermCommunicationsIO, Summary: "Export communication settings (without the SMTP password)", Handler: s.exportCommunicationSettings},
		{Method: "POST", Pattern: "/api/admin/communication-settings/import", Kind: KindTenant, Permission: auth.PermCommunicationsIO, Summary: "Import communication settings from an export", Handler: s.importCommunicationSettings},
		{Method: "GET", Pattern: "/api/admin/thresholds", Kind: KindTenant, Permission: auth.PermSettingsRead, Summary: "Thresholds", Handler: s.getThresholds},
		{Method: "PUT", Pattern: "/api/admin/thresholds", Kind: KindTenant, Permission: auth.PermSettingsManage, Summary: "Replace thresholds", Handler: s.putThresholds},
	}
}

// contRequire records a missing field of a full replacement.
func contRequire[T any](f *fields, name string, v *T) T {
	if v == nil {
		f.add(name, "is required")
		var zero T
		return zero
	}
	return *v
}

func contRange(f *fields, name string, v, lo, hi int64) {
	if v < lo || v > hi {
		f.add(name, "must be from "+strconv.FormatInt(lo, 10)+" to "+strconv.FormatInt(hi, 10))
	}
}

// Booking settings --------------------------------------------------------------------------

// contBookingSettingsBody is a full replacement; updated_at is accepted (so that a GET body
// can be sent back) and ignored.
type contBookingSettingsBody struct {
	AllowOnlineBooking  *bool      `json:"allow_online_booking"`
	RequireConfirmation *bool      `json:"require_confirmation"`
	SlotMinutes         *int       `json:"slot_minutes"`
	MinNoticeMinutes    *int       `json:"min_notice_minutes"`
	MaxAdvanceDays      *int       `json:"max_advance_days"`
	DayStartMinute      *int       `json:"day_start_minute"`
	DayEndMinute        *int       `json:"day_end_minute"`
	WorkingDays         *[]int32   `json:"working_days"`
	Timezone            *string    `json:"timezone"`
	UpdatedAt           *time.Time `json:"updated_at"`
}

func (s *Server) getBookingSettings(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	v, err := sc.GetBookingSettings(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) putBookingSettings(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	var b contBookingSettingsBody
	if err := decode(r, &b); err != nil {
		return err
	}
	var f fields
	in := store.BookingSettings{
		AllowOnlineBooking:  contRequire(&f, "allow_online_booking", b.AllowOnlineBooking),
		RequireConfirmation: contRequire(&f, "require_confirmation", b.RequireConfirmation),
		SlotMinutes:         contRequire(&f, "slot_minutes", b.SlotMinutes),
		MinNoticeMinutes:    contRequire(&f, "min_notice_minutes", b.MinNoticeMinutes),
		MaxAdvanceDays:      contRequire(&f, "max_advance_days", b.MaxAdvanceDays),
		DayStartMinute:      contRequire(&f, "day_start_minute", b.DayStartMinute),
		DayEndMinute:        contRequire(&f, "day_end_minute", b.DayEndMinute),
		WorkingDays:         contRequire(&f, "working_days", b.WorkingDays),
		Timezone:            strings.TrimSpace(contRequire(&f, "timezone", b.Timezone)),
	}
	if b.SlotMinutes != nil {
		contRange(&f, "slot_minutes", int64(in.SlotMinutes), 5, 480)
	}
	if b.MinNoticeMinutes != nil {
		contRange(&f, "min_notice_minutes", int64(in.MinNoticeMinutes), 0, 525600)
	}
	if b.MaxAdvanceDays != nil {
		contRange(&f, "max_advance_days", int64(in.MaxAdvanceDays), 1, 730)
	}
	if b.DayStartMinute != nil {
		contRange(&f, "day_start_minute", int64(in.DayStartMinute), 0, 1439)
	}
	if b.DayEndMinute != nil {
		contRange(&f, "day_end_minute", int64(in.DayEndMinute), 1, 1440)
	}
	if b.DayStartMinute != nil && b.DayEndMinute != nil && in.DayEndMinute <= in.DayStartMinute {
		f.add("day_end_minute", "must be after day_start_minute")
	}
	if b.WorkingDays != nil {
		days := slices.Clone(in.WorkingDays)
		slices.Sort(days)
		if len(days) > 0 && (days[0] < 1 || days[len(days)-1] > 7) || len(slices.Compact(slices.Clone(days))) != len(days) {
			f.add("working_days", "must be distinct ISO weekdays (1 = Monday to 7 = Sunday)")
		}
		in.WorkingDays = days
		if in.WorkingDays == nil {
			in.WorkingDays = []int32{}
		}
	}
	if b.Timezone != nil {
		if _, err := time.LoadLocation(in.Timezone); err != nil || in.Timezone == "" || in.Timezone == "Local" {
			f.add("timezone", "must be an IANA time zone such as Europe/Berlin or UTC")
		}
	}
	if err := f.err(); err != nil {
		return err
	}
	v, err := sc.PutBookingSettings(r.Context(), in)
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "settings.booking.update", "booking_settings", "", nil); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// Communication settings --------------------------------------------------------------------

// contPortableComm is the part of the communication settings that travels in an export: no
// SMTP password, no bookkeeping fields. Pointers tell a missing field from an empty one.
type contPortableComm struct {
	FromName        *string `json:"from_name"`
	FromEmail       *string `json:"from_email"`
	ReplyTo         *string `json:"reply_to"`
	SMTPHost        *string `json:"smtp_host"`
	SMTPPort        *int    `json:"smtp_port"`
	SMTPUsername    *string `json:"smtp_username"`
	EmailSignature  *string `json:"email_signature"`
	NotifyOnBooking *bool   `json:"notify_on_booking"`
	NotifyOnInvoice *bool   `json:"notify_on_invoice"`
}

// contCommBody is a PUT: the portable fields, all required; smtp_password optional (absent
// keeps the stored one while the host and user stay the same; "" clears it); the read-only
// fields of a GET body are accepted and ignored. (The fields are spelled out rather than
// embedded so that type errors name the JSON field alone.)
type contCommBody struct {
	FromName        *string    `json:"from_name"`
	FromEmail       *string    `json:"from_email"`
	ReplyTo         *string    `json:"reply_to"`
	SMTPHost        *string    `json:"smtp_host"`
	SMTPPort        *int       `json:"smtp_port"`
	SMTPUsername    *string    `json:"smtp_username"`
	EmailSignature  *string    `json:"email_signature"`
	NotifyOnBooking *bool      `json:"notify_on_booking"`
	NotifyOnInvoice *bool      `json:"notify_on_invoice"`
	SMTPPassword    *string    `json:"smtp_password"`
	SMTPPasswordSet *bool      `json:"smtp_password_set"`
	UpdatedAt       *time.Time `json:"updated_at"`
}

func (b contCommBody) portable() contPortableComm {
	return contPortableComm{FromName: b.FromName, FromEmail: b.FromEmail, ReplyTo: b.ReplyTo, SMTPHost: b.SMTPHost,
		SMTPPort: b.SMTPPort, SMTPUsername: b.SMTPUsername, EmailSignature: b.EmailSignature,
		NotifyOnBooking: b.NotifyOnBooking, NotifyOnInvoice: b.NotifyOnInvoice}
}

// contCommDocument is the export/import format.
type contCommDocument struct {
	Version    int               `json:"version"`
	ExportedAt *time.Time        `json:"exported_at,omitempty"`
	Settings   *contPortableComm `json:"settings"`
}

// contCommVersion is the export format's version.
const contCommVersion = 1

var contHostPattern = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)

// contHeaderSafe reports whether v may go into a mail header: no line breaks or other
// control characters (header injection), at most max characters.
func contHeaderSafe(v string, max int) bool {
	return utf8.RuneCountInString(v) <= max && !strings.ContainsFunc(v, unicode.IsControl)
}

func contAddress(f *fields, name, v string) {
	if v == "" {
		return
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" || len(v) > 320 {
		f.add(name, "must be an e-mail address (or empty)")
	}
}

// settings validates the portable fields and returns them as settings (password unset).
func (p contPortableComm) settings(f *fields) store.CommunicationSettings {
	c := store.CommunicationSettings{
		FromName:        strings.TrimSpace(contRequire(f, "from_name", p.FromName)),
		FromEmail:       strings.TrimSpace(contRequire(f, "from_email", p.FromEmail)),
		ReplyTo:         strings.TrimSpace(contRequire(f, "reply_to", p.ReplyTo)),
		SMTPHost:        strings.ToLower(strings.TrimSpace(contRequire(f, "smtp_host", p.SMTPHost))),
		SMTPPort:        contRequire(f, "smtp_port", p.SMTPPort),
		SMTPUsername:    contRequire(f, "smtp_username", p.SMTPUsername),
		EmailSignature:  contRequire(f, "email_signature", p.EmailSignature),
		NotifyOnBooking: contRequire(f, "notify_on_booking", p.NotifyOnBooking),
		NotifyOnInvoice: contRequire(f, "notify_on_invoice", p.NotifyOnInvoice),
	}
	if !contHeaderSafe(c.FromName, 200) {
		f.add("from_name", "is at most 200 characters, without line breaks")
	}
	contAddress(f, "from_email", c.FromEmail)
	contAddress(f, "reply_to", c.ReplyTo)
	if c.SMTPHost != "" && !contHostPattern.MatchString(c.SMTPHost) && net.ParseIP(c.SMTPHost) == nil {
		f.add("smtp_host", "must be a host name or IP address (or empty)")
	}
	if p.SMTPPort != nil {
		contRange(f, "smtp_port", int64(c.SMTPPort), 1, 65535)
	}
	if !contHeaderSafe(c.SMTPUsername, 200) {
		f.add("smtp_username", "is at most 200 characters, without control characters")
	}
	if utf8.RuneCountInString(c.EmailSignature) > 2000 {
		f.add("email_signature", "is at most 2000 characters")
	}
	return c
}

// contPassword decides the stored SMTP password of next: the given one, else the current one
// as long as it still goes to the same host and user. A password is never carried over to a
// different server, where it would be disclosed to whoever runs that server.
func contPassword(cur store.CommunicationSettings, next *store.CommunicationSettings, given *string) {
	switch {
	case given != nil:
		next.SMTPPassword = *given
	case next.SMTPHost == cur.SMTPHost && next.SMTPUsername == cur.SMTPUsername:
		next.SMTPPassword = cur.SMTPPassword
	default:
		next.SMTPPassword = ""
	}
}

func (s *Server) getCommunicationSettings(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	v, err := sc.GetCommunicationSettings(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) putCommunicationSettings(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	var b contCommBody
	if err := decode(r, &b); err != nil {
		return err
	}
	var f fields
	next := b.portable().settings(&f)
	if b.SMTPPassword != nil && (charCount(*b.SMTPPassword) > 500 || strings.ContainsFunc(*b.SMTPPassword, unicode.IsControl)) {
		f.add("smtp_password", "is at most 500 characters, without control characters")
	}
	if err := f.err(); err != nil {
		return err
	}
	return s.contReplaceComm(w, r, sc, next, b.SMTPPassword, "settings.communication.update")
}

// contReplaceComm stores next, with the password contPassword decides on the stored settings,
// read locked so that the decision is on what is stored now.
func (s *Server) contReplaceComm(w http.ResponseWriter, r *http.Request, sc *store.Scope, next store.CommunicationSettings, password *string, action string) error {
	cur, err := sc.GetCommunicationSettingsForUpdate(r.Context())
	if err != nil {
		return err
	}
	contPassword(cur, &next, password)
	v, err := sc.PutCommunicationSettings(r.Context(), next)
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), action, "communication_settings", "",
		map[string]any{"smtp_password_set": v.SMTPPasswordSet}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) exportCommunicationSettings(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	v, err := sc.GetCommunicationSettings(r.Context())
	if err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Second)
	doc := contCommDocument{Version: contCommVersion, ExportedAt: &now, Settings: &contPortableComm{
		FromName: &v.FromName, FromEmail: &v.FromEmail, ReplyTo: &v.ReplyTo, SMTPHost: &v.SMTPHost, SMTPPort: &v.SMTPPort,
		SMTPUsername: &v.SMTPUsername, EmailSignature: &v.EmailSignature, NotifyOnBooking: &v.NotifyOnBooking,
		NotifyOnInvoice: &v.NotifyOnInvoice,
	}}
	w.Header().Set("Content-Disposition", `attachment; filename="communication-settings.json"`)
	return writeJSON(w, http.StatusOK, doc)
}

// importCommunicationSettings replaces the settings with an exported document's. The
// document never holds the SMTP password: the stored one is kept only while the host and user
// stay the same.
func (s *Server) importCommunicationSettings(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	var doc contCommDocument
	if err := decode(r, &doc); err != nil {
		return err
	}
	var f fields
	if doc.Version != contCommVersion {
		f.add("version", "must be 1")
	}
	if doc.Settings == nil {
		f.add("settings", "is required")
		return f.err()
	}
	next := doc.Settings.settings(&f)
	if err := f.err(); err != nil {
		return err
	}
	return s.contReplaceComm(w, r, sc, next, nil, "settings.communication.import")
}

// Thresholds --------------------------------------------------------------------------------

type contThresholdsBody struct {
	OverdueInvoiceDays       *int       `json:"overdue_invoice_days"`
	MaxOpenRequestsPerMember *int       `json:"max_open_requests_per_member"`
	ExpenseApprovalCents     *int64     `json:"expense_approval_cents"`
	RequestsPerMinute        *int       `json:"requests_per_minute"`
	UpdatedAt                *time.Time `json:"updated_at"`
}

func (s *Server) getThresholds(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	v, err := sc.GetThresholds(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) putThresholds(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	var b contThresholdsBody
	if err := decode(r, &b); err != nil {
		return err
	}
	var f fields
	in := store.Thresholds{
		OverdueInvoiceDays:       contRequire(&f, "overdue_invoice_days", b.OverdueInvoiceDays),
		MaxOpenRequestsPerMember: contRequire(&f, "max_open_requests_per_member", b.MaxOpenRequestsPerMember),
		ExpenseApprovalCents:     contRequire(&f, "expense_approval_cents", b.ExpenseApprovalCents),
		RequestsPerMinute:        contRequire(&f, "requests_per_minute", b.RequestsPerMinute),
	}
	if b.OverdueInvoiceDays != nil {
		contRange(&f, "overdue_invoice_days", int64(in.OverdueInvoiceDays), 0, 3650)
	}
	if b.MaxOpenRequestsPerMember != nil {
		contRange(&f, "max_open_requests_per_member", int64(in.MaxOpenRequestsPerMember), 0, 10000)
	}
	if b.ExpenseApprovalCents != nil {
		contRange(&f, "expense_approval_cents", in.ExpenseApprovalCents, 0, 10_000_000_000_000)
	}
	if b.RequestsPerMinute != nil {
		contRange(&f, "requests_per_minute", int64(in.RequestsPerMinute), 1, 1_000_000)
	}
	if err := f.err(); err != nil {
		return err
	}
	v, err := sc.PutThresholds(r.Context(), in)
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "settings.thresholds.update", "thresholds", "", nil); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}
