package queue

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"tenantd/internal/store"
)

// smtpError classifies a failed delivery. A permanent error (a refused address, a 5xx reply,
// missing settings) fails the message at once; any other is retried. A session error (the
// server could not be reached, TLS or authentication failed) would hit every message of the
// batch alike.
type smtpError struct {
	err       error
	permanent bool
	session   bool
}

func (e *smtpError) Error() string { return e.err.Error() }
func (e *smtpError) Unwrap() error { return e.err }

// jobSMTPReply classifies an error from the SMTP conversation: a 5xx reply is permanent, a 4xx
// reply or a broken connection is worth retrying.
func jobSMTPReply(step string, err error, session bool) error {
	var te *textproto.Error
	permanent := errors.As(err, &te) && te.Code >= 500
	return &smtpError{err: fmt.Errorf("SMTP %s: %w", step, err), permanent: permanent, session: session}
}

// sendMail delivers one outbox message through the tenant's SMTP server: implicit TLS on port
// 465, otherwise STARTTLS whenever the server offers it; PLAIN authentication only when a
// username is set, and then only over TLS (or to a server on this machine).
func sendMail(ctx context.Context, cs store.CommunicationSettings, m store.OutboxMessage, timeout time.Duration) error {
	from := m.FromAddress
	if from == "" {
		from = cs.FromEmail
	}
	if from == "" {
		return &smtpError{err: errors.New("no sender address: set from_email in the communication settings"), permanent: true}
	}
	sender, err := mail.ParseAddress(from)
	if err != nil {
		return &smtpError{err: fmt.Errorf("invalid sender address %q: %w", from, err), permanent: true}
	}
	if sender.Name == "" {
		sender.Name = cs.FromName
	}
	rcpt, err := mail.ParseAddress(m.ToAddress)
	if err != nil {
		return &smtpError{err: fmt.Errorf("invalid recipient address %q: %w", m.ToAddress, err), permanent: true}
	}
	msg := jobMessage(sender, rcpt, cs.ReplyTo, m, time.Now())

	host := cs.SMTPHost
	port := cs.SMTPPort
	if port == 0 {
		port = 587
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	tlsConfig := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	dialer := &net.Dialer{}
	var conn net.Conn
	if port == 465 {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConfig}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return &smtpError{err: fmt.Errorf("connect to SMTP server %s: %w", addr, err), session: true}
	}
	// The conversation ends at the deadline or when the job is cancelled, whichever is first.
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return jobSMTPReply("greeting from "+addr, err, true)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return jobSMTPReply("EHLO", err, true)
	}
	_, secure := c.TLSConnectionState()
	if !secure {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConfig); err != nil {
				return jobSMTPReply("STARTTLS", err, true)
			}
			secure = true
		}
	}
	if cs.SMTPUsername != "" {
		if !secure && !jobLoopback(host) {
			return &smtpError{err: fmt.Errorf("SMTP server %s offers no TLS: refusing to send the password unencrypted", addr),
				permanent: true, session: true}
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return &smtpError{err: fmt.Errorf("SMTP server %s does not offer authentication, but a username is configured", addr),
				permanent: true, session: true}
		}
		if err := c.Auth(smtp.PlainAuth("", cs.SMTPUsername, cs.SMTPPassword, host)); err != nil {
			return jobSMTPReply("authentication", err, true)
		}
	}
	if err := c.Mail(sender.Address); err != nil {
		return jobSMTPReply("MAIL FROM", err, false)
	}
	if err := c.Rcpt(rcpt.Address); err != nil {
		return jobSMTPReply("RCPT TO", err, false)
	}
	w, err := c.Data()
	if err != nil {
		return jobSMTPReply("DATA", err, false)
	}
	if _, err := w.Write(msg); err != nil {
		return jobSMTPReply("DATA", err, false)
	}
	if err := w.Close(); err != nil {
		return jobSMTPReply("end of DATA", err, false)
	}
	// The message is accepted; a failed goodbye changes nothing.
	_ = c.Quit()
	return nil
}

// jobLoopback reports whether host is this machine, where net/smtp allows PLAIN without TLS.
func jobLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// jobMessage formats an outbox message as a plain-text RFC 5322 message. Every header value is
// either an address formatted by net/mail or MIME-encoded, so no stored text can inject a
// header line.
func jobMessage(from, to *mail.Address, replyTo string, m store.OutboxMessage, now time.Time) []byte {
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", from.String())
	header("To", to.String())
	if replyTo != "" {
		if a, err := mail.ParseAddress(replyTo); err == nil {
			header("Reply-To", a.String())
		}
	}
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.UTC().Format(time.RFC1123Z))
	domain := "localhost"
	if i := strings.LastIndexByte(from.Address, '@'); i >= 0 {
		domain = from.Address[i+1:]
	}
	header("Message-ID", "<"+m.ID.String()+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(m.Body))
	_ = qp.Close()
	return b.Bytes()
}
